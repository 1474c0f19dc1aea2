//! The CLI contract on real hosts: a changed host key fails `plan` and `apply` naming the host, and a
//! SIGTERM in the middle of an apply of 20 pods stops it gracefully (exit 143 within 15 s, the lock given
//! back on every host, the next plan lists exactly what was not done, the next apply converges).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

const EXIT_HOSTS_FAILED: i32 = 3;
const EXIT_SIGTERM: i32 = 143;

/// `Plan: N to add, …` of a plan's output.
fn to_add(plan: &str) -> usize {
    let line = plan
        .lines()
        .find(|l| l.starts_with("Plan: "))
        .unwrap_or_else(|| panic!("no Plan: line in {plan}"));
    line["Plan: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_changed_host_key_fails_plan_and_apply_naming_the_host() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), yaml).unwrap();
    std::fs::copy(tb.identity_file(), dir.path().join("id_ed25519")).unwrap();
    // k8s-node2's pinned key replaced by another one: what a man in the middle would look like.
    let other = dir.path().join("other");
    stdout_ok(
        "ssh-keygen",
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&other)
            .output()
            .unwrap(),
    );
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let other_key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let addr = tb.addr("k8s-node2").to_string();
    let known: String = std::fs::read_to_string(tb.known_hosts())
        .unwrap()
        .lines()
        .filter(|l| {
            !l.split_whitespace()
                .next()
                .unwrap_or("")
                .split(',')
                .any(|h| h == addr)
        })
        .map(|l| format!("{l}\n"))
        .chain(std::iter::once(format!("{addr} {}\n", other_key.join(" "))))
        .collect();
    std::fs::write(dir.path().join("known_hosts"), known).unwrap();

    let repo = Repo::new();
    repo.seed("nginx-pod.yaml").commit("sc-nginx");
    let cluster = dir.path().join("cluster.yaml");
    let plan = clusterctl_with(&cluster, repo.path(), &["plan"]);
    assert_eq!(plan.code, EXIT_HOSTS_FAILED, "{plan:?}");
    assert!(
        plan.stderr
            .contains("k8s-node2 is unreachable: HOST KEY CHANGED"),
        "{plan:?}"
    );
    assert!(
        plan.stderr.contains("could not be observed: k8s-node2"),
        "{plan:?}"
    );

    let apply = clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]);
    assert_eq!(apply.code, EXIT_HOSTS_FAILED, "{apply:?}");
    assert!(
        apply
            .stdout
            .contains("Apply finished with errors (hosts: k8s-node2)."),
        "{apply:?}"
    );
    assert!(!apply.stdout.contains("Apply complete!"), "{apply:?}");
    assert!(
        apply
            .stderr
            .contains("k8s-node2: not reached (HOST KEY CHANGED"),
        "{apply:?}"
    );
    assert!(
        managed_names(&tb, "k8s-node2").is_empty(),
        "the refused host was touched"
    );
    reset(&tb);
}

#[test]
fn sigterm_mid_apply_stops_gracefully_and_the_next_apply_converges() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 20\n  selector:\n    matchLabels:\n      run: web\n  template:\n    metadata:\n      labels:\n        run: web\n    spec:\n      containers:\n      - name: nginx\n        image: nginx\n",
    )
    .commit("web x20");
    let child = Command::new(env!("CARGO_BIN_EXE_clusterctl"))
        .arg("--cluster")
        .arg(tb.cluster_yaml())
        .arg("--repo")
        .arg(repo.path())
        .args(["apply", "--yes"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until pods are being created, then send SIGTERM in the middle.
    let started = Instant::now();
    loop {
        let made: usize = WORKERS.iter().map(|h| managed_names(&tb, h).len()).sum();
        if made >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "apply never created a pod"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    eprintln!("SIGTERM to exit: {took:?}");
    assert_eq!(run.code, EXIT_SIGTERM, "{run:?}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {run:?}");
    assert!(run.stdout.contains("Apply stopped by SIGTERM!"), "{run:?}");
    assert!(
        run.stderr.contains("the cluster lock was released"),
        "{run:?}"
    );
    for (h, _) in &tb.hosts {
        let lock = tb.ssh(h, "test -e /var/lib/clusterctl/lock");
        assert!(!lock.status.success(), "lock left on {h}: {run:?}");
    }
    // What the summary says was not started is exactly what the next plan adds.
    let not_started: usize = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Not started ("))
        .map(|rest| rest.trim_end_matches("):").parse().unwrap())
        .unwrap_or_else(|| panic!("no `Not started` list: {run:?}"));
    assert!(
        !run.stdout.contains("Cut off after the grace period"),
        "every running change finished within the grace period: {run:?}"
    );
    assert!(not_started > 0 && not_started < 20, "{run:?}");
    eprintln!(
        "SIGTERM after {} s: {} of 20 pods not started",
        started.elapsed().as_secs_f32(),
        not_started
    );
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert_eq!(to_add(&plan.stdout), not_started, "{plan:?}\n{run:?}");
    assert!(
        plan.stdout.contains(&format!(
            "Plan: {not_started} to add, 0 to change, 0 to destroy."
        )),
        "only the rest is left: {plan:?}"
    );
    let running = pod_rows(&tb, &repo)
        .iter()
        .filter(|r| r[2] == "Running")
        .count();
    assert_eq!(running + not_started, 20, "done + not started = all");

    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let pods = pod_rows(&tb, &repo);
    let mut names: Vec<&str> = pods.iter().map(|r| r[0].as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20, "{pods:?}");
    assert!(pods.iter().all(|r| r[2] == "Running"), "{pods:?}");
    let containers: usize = WORKERS.iter().map(|h| managed_names(&tb, h).len()).sum();
    assert_eq!(containers, 40, "20 pods × (sandbox + app), no duplicates");
    let again = ok(clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]));
    assert!(again.stdout.contains("No changes."), "{again:?}");
    reset(&tb);
}
