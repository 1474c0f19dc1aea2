//! The leased quorum lock on the testbed (docs/locking.md): a holder killed with SIGKILL blocks the next
//! apply at once (exit 5, naming it) until its lease runs out, `--lock-wait` then takes it over;
//! `lock release --force` needs the right id and is audited; `history` lists the applies; a partition
//! that leaves each of two applies a different minority of the lock hosts lets neither proceed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    Repo, Testbed, breaking_a_host, clusterctl_with, managed_names, ok, reset, serial, stdout_ok,
};

/// The lock hosts by default: the first three hosts by name.
const LOCK_HOSTS: [&str; 3] = ["k8s-master", "k8s-node1", "k8s-node2"];

/// A copy of the testbed's inventory with a `lock:` section, ssh settings and host addresses replaced.
fn inventory(
    tb: &Testbed,
    lock: &str,
    ssh: &[&str],
    addresses: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["id_ed25519", "known_hosts"] {
        std::fs::copy(tb.dir.join(f), dir.path().join(f)).unwrap();
    }
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    let yaml = crate::common::with_ssh_settings(&yaml, ssh);
    let mut out = String::new();
    let mut host = String::new();
    for line in yaml.lines() {
        if let Some(name) = line.strip_prefix("  - name: ") {
            host = name.trim().to_string();
        }
        match addresses.iter().find(|(h, _)| *h == host) {
            Some((_, addr)) if line.trim_start().starts_with("address: ") => {
                out.push_str(&format!("    address: {addr}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(lock);
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, out).unwrap();
    (dir, path)
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: leased\nspec:\n  replicas: 1\n  progressDeadlineSeconds: 600\n  selector:\n    matchLabels:\n      app: leased\n  template:\n    metadata:\n      labels:\n        app: leased\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

fn testbed(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testbed");
    stdout_ok(
        &format!("testbed {args:?}"),
        Command::new("bash")
            .arg(script)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap(),
    );
}

/// Polls `probe` until it is true; panics with `what` after `limit`.
fn until(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let start = Instant::now();
    while !probe() {
        assert!(start.elapsed() < limit, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn no_lock_on(tb: &Testbed, hosts: &[&str]) -> bool {
    hosts.iter().all(|h| {
        !tb.ssh(h, "test -e /var/lib/clusterctl/lock")
            .status
            .success()
    })
}

fn history(cluster: &Path, repo: &Repo) -> Vec<serde_json::Value> {
    let run = ok(clusterctl_with(
        cluster,
        repo.path(),
        &["history", "-o", "json"],
    ));
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

#[test]
fn a_killed_holder_blocks_at_once_and_lock_wait_takes_over_after_the_ttl() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let (_dir, cluster) = inventory(&tb, "lock:\n  ttl: 5s\n", &[], &[]);
    let repo = Repo::new();
    repo.write("leased.yaml", &deployment("nginx"))
        .commit("nginx");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    // A rolling update to an image that never becomes available: apply waits (holding the lock) for
    // the progress deadline, ten minutes away.
    repo.write("leased.yaml", &deployment("clusterctl/crash"))
        .commit("crash");
    let mut holder = Command::new(env!("CARGO_BIN_EXE_clusterctl"))
        .arg("--cluster")
        .arg(&cluster)
        .arg("--repo")
        .arg(repo.path())
        .args(["apply", "--yes"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = holder.id();
    let mut record = serde_json::Value::Null;
    until(Duration::from_secs(60), "the apply holds the lock", || {
        let out = tb.ssh("k8s-master", "cat /var/lib/clusterctl/lock/holder");
        record = serde_json::from_slice(&out.stdout).unwrap_or_default();
        record["pid"] == pid
    });
    let id = record["id"].as_str().unwrap().to_string();
    // Every lock host (and only those) got the same lease.
    for h in LOCK_HOSTS {
        let lease = tb.ssh_ok(h, "cat /var/lib/clusterctl/lock/lease");
        assert!(lease.starts_with(&format!("{id} ")), "{h}: {lease}");
    }
    assert!(no_lock_on(&tb, &["k8s-node3"]), "not a lock host");
    // SIGKILL: no release, no audit entry; the lease stays until it runs out.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    holder.wait().unwrap();

    repo.write("leased.yaml", &deployment("nginx:1.14.2"))
        .commit("back to a good image");
    let blocked = clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]);
    assert_eq!(blocked.code, 5, "{blocked:?}");
    assert!(
        blocked.stderr.contains(&format!(
            "locked by another apply (on host k8s-master): held by {}@{} (pid {pid}) applying commit {}",
            record["user"].as_str().unwrap(),
            record["machine"].as_str().unwrap(),
            record["commit"].as_str().unwrap()
        )),
        "{blocked:?}"
    );
    assert!(
        blocked
            .stderr
            .contains(&format!("lock id {id}, its lease expires in "))
            && blocked
                .stderr
                .contains(&format!("clusterctl lock release --force --id {id}")),
        "{blocked:?}"
    );
    // (`plan` naming a live lease is gitops::plan_names_a_held_lock_and_its_holder: a 5 s lease may be over
    // by the time a plan has observed the hosts.)
    // A 5 s lease may already be over here, under load: so that `--lock-wait` provably queues, the dead
    // holder's lease gets 12 s more on every lock host (by each host's clock), as if its last renewal had
    // just landed before the SIGKILL.
    for h in LOCK_HOSTS {
        tb.ssh_ok(
            h,
            &format!(
                "echo \"{id} $(( $(date +%s%3N) + 12000 ))\" > /var/lib/clusterctl/lock/lease"
            ),
        );
    }
    let waited = clusterctl_with(
        &cluster,
        repo.path(),
        &["apply", "--yes", "--lock-wait", "60s"],
    );
    assert_eq!(waited.code, 0, "{waited:?}");
    assert!(
        waited
            .stderr
            .contains("waiting for the cluster lock (up to 60 s)"),
        "{waited:?}"
    );
    assert!(
        waited
            .stderr
            .contains(&format!("took over the expired cluster lock {id}")),
        "{waited:?}"
    );
    assert!(no_lock_on(&tb, &LOCK_HOSTS), "released after the apply");
    // The next plan shows nothing left.
    let again = ok(clusterctl_with(&cluster, repo.path(), &["plan"]));
    assert!(again.stdout.contains("No changes."), "{again:?}");

    // history: the applies that held the lock, with their results; not the killed one (it never finished).
    let entries = history(&cluster, &repo);
    let last = entries.last().unwrap();
    assert_eq!(last["action"], "apply", "{entries:?}");
    assert_eq!(last["result"], "applied", "{entries:?}");
    assert_ne!(last["lockId"], id.as_str());
    assert!(
        entries.iter().all(|e| e["lockId"] != id.as_str()),
        "{entries:?}"
    );
    let table = ok(clusterctl_with(&cluster, repo.path(), &["history"]));
    let header = table.stdout.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("TIME") && header.contains("LOCK ID") && header.contains("RESULT"),
        "{table:?}"
    );
}

#[test]
fn lock_release_force_needs_the_right_id_and_is_audited() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let (_dir, cluster) = inventory(&tb, "", &[], &[]);
    let repo = Repo::new();
    repo.commit("empty");
    // A live lease of ten minutes, as a running apply on another machine would hold it.
    let id = "c0ffee000001";
    let record = format!(
        r#"{{"user":"bob","machine":"ci-runner","commit":"1234567","started":"2026-01-01T00:00:00Z","pid":99,"id":"{id}"}}"#
    );
    for h in LOCK_HOSTS {
        tb.ssh_ok(
            h,
            &format!(
                "mkdir -p /var/lib/clusterctl/lock && printf '%s' '{record}' > /var/lib/clusterctl/lock/holder && echo \"{id} $(( $(date +%s%3N) + 600000 ))\" > /var/lib/clusterctl/lock/lease"
            ),
        );
    }
    let status = ok(clusterctl_with(&cluster, repo.path(), &["lock", "status"]));
    for h in LOCK_HOSTS {
        let row = status
            .stdout
            .lines()
            .find(|l| l.starts_with(h))
            .unwrap_or_else(|| panic!("{h}: {status:?}"));
        assert!(
            row.contains("Held") && row.contains(id) && row.contains("bob@ci-runner (pid 99)"),
            "{row}"
        );
    }
    assert!(
        status
            .stdout
            .contains("3 of 3 lock hosts hold a live lease"),
        "{status:?}"
    );

    let no_force = clusterctl_with(&cluster, repo.path(), &["lock", "release", "--id", id]);
    assert_eq!(no_force.code, 64, "{no_force:?}");
    let wrong = clusterctl_with(
        &cluster,
        repo.path(),
        &["lock", "release", "--force", "--id", "0000000000aa"],
    );
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(
        wrong
            .stderr
            .contains(&format!("the lease held there is {id}, not 0000000000aa")),
        "{wrong:?}"
    );
    for h in LOCK_HOSTS {
        tb.ssh_ok(h, "test -e /var/lib/clusterctl/lock/lease");
    }
    let released = ok(clusterctl_with(
        &cluster,
        repo.path(),
        &["lock", "release", "--force", "--id", id],
    ));
    assert!(
        released.stderr.contains(&format!(
            "k8s-master: released lock {id} held by bob@ci-runner (pid 99)"
        )),
        "{released:?}"
    );
    assert!(no_lock_on(&tb, &LOCK_HOSTS));

    let entries = history(&cluster, &repo);
    let about: Vec<&serde_json::Value> = entries.iter().filter(|e| e["lockId"] == id).collect();
    assert!(
        about.iter().any(|e| e["action"] == "release --force"
            && e["result"] == "released"
            && e["holder"] == "bob@ci-runner (pid 99)"),
        "{entries:?}"
    );
    let refused: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["lockId"] == "0000000000aa")
        .collect();
    assert!(
        refused
            .iter()
            .any(|e| e["result"].as_str().unwrap().starts_with("refused")),
        "{entries:?}"
    );
    // Every lock host has its own copy of the entry.
    for h in LOCK_HOSTS {
        let log = tb.ssh_ok(h, "cat /var/lib/clusterctl/audit.log");
        assert!(
            log.lines()
                .any(|l| l.contains(id) && l.contains("release --force")),
            "{h}: {log}"
        );
    }
}

#[test]
fn a_partition_into_minorities_lets_neither_apply_proceed() {
    let tb = Testbed::get();
    let _g = serial();
    let _down = breaking_a_host();
    reset(&tb);
    let repo = Repo::new();
    repo.write("leased.yaml", &deployment("nginx"))
        .commit("nginx");
    // k8s-node2 is cut off from everyone; each apply also misses one more lock host (an address nothing
    // answers on stands for its side of the partition): A reaches only k8s-master, B only k8s-node1.
    let nowhere = {
        let addr = tb.addr("k8s-master");
        let prefix = addr.rsplit_once('.').unwrap().0;
        format!("{prefix}.250")
    };
    let ssh = ["connectTimeout: 3"];
    let (_a, side_a) = inventory(&tb, "", &ssh, &[("k8s-node1", nowhere.as_str())]);
    let (_b, side_b) = inventory(&tb, "", &ssh, &[("k8s-master", nowhere.as_str())]);
    testbed(&["cut", "k8s-node2"]);
    let _heal = HealOnDrop;
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| clusterctl_with(&side_a, repo.path(), &["apply", "--yes"]));
        let b = s.spawn(|| clusterctl_with(&side_b, repo.path(), &["apply", "--yes"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    for (run, reached) in [(&a, "k8s-master"), (&b, "k8s-node1")] {
        assert_eq!(run.code, 3, "{run:?}");
        assert!(
            run.stderr.contains(
                "could not take the cluster lock: it needs 2 of the 3 lock hosts, 1 granted it"
            ),
            "{run:?}"
        );
        assert!(run.stderr.contains("k8s-node2: not reached"), "{run:?}");
        assert!(!run.stdout.contains("Apply complete"), "{run:?}");
        // What it took on its minority was given back.
        assert!(no_lock_on(&tb, &[reached]), "{reached}");
    }
    for h in ["k8s-master", "k8s-node1", "k8s-node3"] {
        assert!(
            managed_names(&tb, h).is_empty(),
            "an apply without the lock created pods on {h}"
        );
    }
}

/// Reconnects k8s-node2 however the partition test ends.
struct HealOnDrop;

impl Drop for HealOnDrop {
    fn drop(&mut self) {
        testbed(&["heal", "k8s-node2"]);
    }
}
