//! Every placement of the scheduler benchmark's cluster, at sizes a debug build runs in seconds, pinned by
//! a digest: an optimisation of the scheduler must not move a single pod, change a winning score or
//! reword a FitError. If a change of placement is intended (a semantics fix), say why in the commit and
//! update the digests, which the failure message prints.

use clusterctl::scheduler::Scheduler;
use sha2::{Digest, Sha256};

#[path = "../benches/scheduler_fixture.rs"]
mod fixture;

/// sha256 over one line per pod: `name node total per-plugin-scores` or `name ! FitError message`.
fn placements(nodes: usize, existing: usize, new: usize, constrained: bool) -> (String, usize) {
    let n = fixture::nodes(nodes);
    let (old, fresh) = fixture::pods(nodes, existing, new, constrained);
    let mut s = Scheduler::new(&n, &old);
    let mut h = Sha256::new();
    let mut failed = 0;
    for p in &fresh {
        let name = p.metadata.name.as_deref().unwrap_or_default();
        let line = match s.schedule(p) {
            Ok(pl) => format!("{name} {} {} {:?}\n", pl.node, pl.total, pl.scores),
            Err(e) => {
                failed += 1;
                format!("{name} ! {e}\n")
            }
        };
        h.update(line.as_bytes());
    }
    let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (digest, failed)
}

fn check(case: &str, got: (String, usize), want_digest: &str, want_failed: usize) {
    assert_eq!(
        (got.0.as_str(), got.1),
        (want_digest, want_failed),
        "{case}: the placements changed (digest, unplaceable pods)"
    );
}

#[test]
fn default_plugins_place_every_pod_as_before() {
    check(
        "300 nodes, 100 existing, 3000 new",
        placements(300, 100, 3000, false),
        "3d460b5221d4eed0ff8ee1ff1d5884651d0bc116ab14e5f4d140ceb8844ccc6f",
        0,
    );
}

#[test]
fn anti_affinity_and_spread_place_every_pod_as_before() {
    check(
        "300 nodes, 100 existing, 3000 new, constrained",
        placements(300, 100, 3000, true),
        "0b889260c92ee66ab7feabb7273e63deab545f97d909a728b654682b7b4acea1",
        0,
    );
}

#[test]
fn a_full_cluster_fails_the_same_pods_with_the_same_messages() {
    // 40 nodes hold 4,290 pods (every 50th node tainted): the rest fail, each with its FitError.
    check(
        "40 nodes, 0 existing, 5000 new",
        placements(40, 0, 5000, false),
        "1c74bf336974b086e61a14fdd073cf674e3ae8dd387023a4e14b0bd4ad50b1da",
        710,
    );
}
