//! `clusterctl reconcile` against the testbed (docs/reconcile.md): it heals what is removed by hand and
//! applies new commits within two rounds, waits while another holds the lock, stops on SIGTERM with the
//! lock released, and replaces the pods of a stopped host after the grace period, removing the stale
//! copies first when it returns — with the number of running replicas sampled every second; the returning
//! host's supervisor holds its stale copies (`supervisor::hold`), so none of them runs again. Rounds are
//! counted from the reconciler's own log lines, so nothing here depends on how fast the machine is.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testbed");

fn deployment(name: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

/// `cluster.yaml` text with `key: value` lines set in its top-level `section:` (replaced in place when the
/// file has the key there already, added otherwise), like `common::with_ssh_settings` for any section.
fn with_settings(yaml: &str, section: &str, settings: &[&str]) -> String {
    let key = |l: &str| l.split(':').next().unwrap_or("").trim().to_string();
    let mut out = String::new();
    let mut inside = false;
    let mut left: Vec<&str> = settings.to_vec();
    for line in yaml.lines() {
        let top = !line.starts_with(' ') && !line.is_empty();
        if top && inside {
            for s in left.drain(..) {
                out.push_str(&format!("  {s}\n"));
            }
        }
        if top {
            inside = line == format!("{section}:");
        }
        if inside && !top {
            if let Some(i) = left.iter().position(|s| key(s) == key(line)) {
                out.push_str(&format!("  {}\n", left.remove(i)));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if inside {
        for s in left.drain(..) {
            out.push_str(&format!("  {s}\n"));
        }
    }
    assert!(left.is_empty(), "no {section}: section in {yaml}");
    out
}

/// A copy of the testbed's inventory with `ssh:` and `cluster:` settings changed.
fn inventory(tb: &Testbed, ssh: &[&str], cluster: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["id_ed25519", "known_hosts"] {
        std::fs::copy(tb.dir.join(f), dir.path().join(f)).unwrap();
    }
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    let yaml = with_settings(&with_settings(&yaml, "ssh", ssh), "cluster", cluster);
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, yaml).unwrap();
    (dir, path)
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `clusterctl reconcile`, its stderr (the log) in a file.
struct Reconciler {
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
    port: u16,
    status_file: PathBuf,
}

impl Reconciler {
    fn start(cluster: &Path, repo: &Repo, extra: &[&str]) -> Reconciler {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("reconcile.log");
        let status_file = dir.path().join("status.json");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_clusterctl"))
            .arg("--cluster")
            .arg(cluster)
            .arg("--repo")
            .arg(repo.path())
            .args(["reconcile", "--interval", "2s", "--status-file"])
            .arg(&status_file)
            .args(["--status-addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("run clusterctl reconcile");
        Reconciler {
            child: Some(child),
            log,
            _dir: dir,
            port,
            status_file,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines (text format) that contain every one of `parts`.
    fn lines(&self, parts: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_string)
            .collect()
    }

    /// The number of the last round that finished (0 before the first).
    fn rounds(&self) -> u64 {
        self.lines(&["event=round "])
            .last()
            .and_then(|l| field(l, "round"))
            .and_then(|r| r.parse().ok())
            .unwrap_or(0)
    }

    /// Waits (polling; bounded by `rounds` more finished rounds, and a minute as a guard) until `cond`.
    fn within_rounds(&self, rounds: u64, what: &str, cond: impl Fn() -> bool) -> u64 {
        let start = self.rounds();
        let guard = Instant::now();
        loop {
            if cond() {
                return self.rounds() - start;
            }
            let done = self.rounds() - start;
            assert!(
                done <= rounds && guard.elapsed() < Duration::from_secs(120),
                "{what}: not within {rounds} round(s) ({done} done)\n--- log\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn get(&self, path: &str) -> String {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    }

    /// Sends SIGTERM; returns the exit code and how long it took to exit.
    fn terminate(&mut self) -> (i32, Duration) {
        let mut child = self.child.take().unwrap();
        let t0 = Instant::now();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return (st.code().unwrap_or(-1), t0.elapsed());
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("reconcile did not exit 30 s after SIGTERM\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `key=value` of a logfmt line.
fn field(line: &str, key: &str) -> Option<String> {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
}

/// Running app containers (`web`) on `host` whose owner's name starts with `prefix`; 0 for a stopped host.
fn prefix_running(tb: &Testbed, host: &str, prefix: &str) -> usize {
    let out = tb.exec(
        host,
        &[
            "docker",
            "ps",
            "--filter",
            "label=clusterctl.io/container=web",
            "--format",
            "{{.Label \"clusterctl.io/owner-name\"}}",
        ],
    );
    if !out.status.success() {
        return 0;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

fn total(tb: &Testbed, prefix: &str) -> usize {
    WORKERS.iter().map(|h| prefix_running(tb, h, prefix)).sum()
}

fn no_lock_anywhere(tb: &Testbed) -> bool {
    tb.hosts.iter().all(|(h, _)| {
        !tb.ssh(h, "test -e /var/lib/clusterctl/lock")
            .status
            .success()
    })
}

#[test]
fn reconcile_heals_follows_commits_waits_for_the_lock_and_stops_on_sigterm() {
    let tb = Testbed::get();
    let _g = serial();
    let _up = hosts_up();
    reset(&tb);
    let repo = Repo::new();
    repo.write("web.yaml", &deployment("rweb", 2, "nginx"))
        .commit("rweb 2");
    let mut rec = Reconciler::start(&tb.cluster_yaml(), &repo, &[]);
    rec.within_rounds(3, "first apply", || total(&tb, "rweb") == 2);
    assert!(
        rec.get("/healthz").starts_with("HTTP/1.1 200"),
        "{}",
        rec.log()
    );

    // Hand deletion: one app container, then both pods of the ReplicaSet (every container).
    let node = WORKERS
        .iter()
        .find(|h| prefix_running(&tb, h, "rweb") > 0)
        .unwrap();
    let hashes = |tb: &Testbed| -> Vec<String> {
        let mut v: Vec<String> = WORKERS
            .iter()
            .flat_map(|h| {
                tb.ssh_ok(h, "docker ps --filter label=clusterctl.io/container=web --format '{{.Label \"clusterctl.io/template-hash\"}}'")
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v
    };
    let before = hashes(&tb);
    tb.ssh_ok(
        node,
        "docker rm -f $(docker ps -q --filter label=clusterctl.io/container=web --filter label=clusterctl.io/owner-kind=ReplicaSet | head -1)",
    );
    let rounds = rec.within_rounds(2, "recreate a removed container", || {
        total(&tb, "rweb") == 2
    });
    assert!(rounds <= 2);
    assert_eq!(hashes(&tb), before, "the same template hash");
    assert!(
        !rec.lines(&["event=replace", "result=ok"]).is_empty(),
        "{}",
        rec.log()
    );
    for h in WORKERS {
        tb.ssh_ok(
            h,
            "ids=$(docker ps -aq --filter label=clusterctl.io/managed=true); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null",
        );
    }
    rec.within_rounds(2, "recreate a removed ReplicaSet", || {
        total(&tb, "rweb") == 2
    });
    assert_eq!(hashes(&tb), before, "the same template hash");

    // A new commit is applied within two rounds.
    repo.write("web.yaml", &deployment("rweb", 3, "nginx"))
        .commit("rweb 3");
    rec.within_rounds(2, "apply a new commit", || total(&tb, "rweb") == 3);

    // Another holder of the lock: the round is skipped (logged with the holder), nothing is applied; a
    // second reconcile (--once) waits too; once the lock is free, the first one heals.
    let holder = r#"{"user":"other","machine":"ci","commit":"0000000","started":"2026-01-01T00:00:00Z","pid":1}"#;
    let _unlock: Vec<OnDrop> = tb
        .hosts
        .iter()
        .map(|(h, _)| {
            tb.ssh_ok(
                h,
                &format!("mkdir -p /var/lib/clusterctl/lock && printf '%s' '{holder}' > /var/lib/clusterctl/lock/holder"),
            );
            tb.on_drop(h, "rm -rf /var/lib/clusterctl/lock")
        })
        .collect();
    tb.ssh_ok(
        node,
        "docker rm -f $(docker ps -q --filter label=clusterctl.io/container=web | head -1)",
    );
    let skipped = rec.lines(&["event=lock-held"]).len();
    rec.within_rounds(3, "skip a round for the lock", || {
        rec.lines(&["event=lock-held", "other@ci"]).len() > skipped
    });
    let second = clusterctl(&tb, &repo, &["reconcile", "--once"]);
    assert_eq!(second.code, 5, "{second:?}");
    assert!(second.stderr.contains("event=lock-held"), "{second:?}");
    assert_eq!(total(&tb, "rweb"), 2, "nothing applied while locked");
    for (h, _) in &tb.hosts {
        tb.ssh_ok(h, "rm -rf /var/lib/clusterctl/lock");
    }
    rec.within_rounds(2, "heal once the lock is free", || total(&tb, "rweb") == 3);

    // Removing the Deployment from Git removes its pods.
    repo.remove("web.yaml").commit("no rweb");
    rec.within_rounds(2, "prune a removed Deployment", || total(&tb, "rweb") == 0);

    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rec.status_file).unwrap()).unwrap();
    assert!(
        status["lastRound"]["round"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert!(rec.get("/status").contains("\"lastRound\""));

    let (code, took) = rec.terminate();
    assert_eq!(code, 143, "{}", rec.log());
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(no_lock_anywhere(&tb), "the lock is released");
    assert!(!rec.lines(&["event=stopped"]).is_empty(), "{}", rec.log());
}

#[test]
fn a_lost_host_s_pods_are_replaced_after_the_grace_period_and_its_stale_copies_go_first() {
    let tb = Testbed::get();
    let _g = serial();
    let _down = breaking_a_host();
    reset(&tb);
    let (_dir, cluster) = inventory(&tb, &["connectTimeout: 5"], &["nodeLostGracePeriod: 4s"]);
    let repo = Repo::new();
    repo.write("lost.yaml", &deployment("lweb", 3, "nginx"))
        .commit("lweb 3");
    let rec = Reconciler::start(&cluster, &repo, &[]);
    rec.within_rounds(3, "first apply", || total(&tb, "lweb") == 3);
    let on2 = prefix_running(&tb, "k8s-node2", "lweb");
    assert!(on2 >= 1, "a pod on k8s-node2 to lose");

    // The running replicas, every second, from the hosts' side: never more than desired + maxSurge (25%).
    let stop = Arc::new(AtomicBool::new(false));
    let max = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (tb, stop, max) = (tb.clone(), stop.clone(), max.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let n = total(&tb, "lweb");
                max.fetch_max(n, Ordering::SeqCst);
                samples.push(n);
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        })
    };
    struct Restart;
    impl Drop for Restart {
        fn drop(&mut self) {
            let _ = Command::new("bash")
                .args([SCRIPT, "start", "k8s-node2"])
                .output();
        }
    }
    let restart = Restart;
    stdout_ok(
        "testbed stop",
        Command::new("bash")
            .args([SCRIPT, "stop", "k8s-node2"])
            .output()
            .unwrap(),
    );
    let on_others =
        || prefix_running(&tb, "k8s-node1", "lweb") + prefix_running(&tb, "k8s-node3", "lweb");
    // Within the grace period the lost pods still count; after it they are replaced on the others.
    rec.within_rounds(8, "replace the pods of the lost host", || on_others() == 3);
    let lost = rec.lines(&["event=node-lost", "host=k8s-node2"]);
    assert!(!lost.is_empty(), "{}", rec.log());
    let created = rec.lines(&[
        "event=create",
        "result=ok",
        "unreachable since",
        "grace period",
    ]);
    assert_eq!(created.len(), on2, "{}", rec.log());

    stdout_ok(
        "testbed start",
        Command::new("bash")
            .args([SCRIPT, "start", "k8s-node2"])
            .output()
            .unwrap(),
    );
    drop(restart);
    rec.within_rounds(4, "remove the stale copies", || {
        prefix_running(&tb, "k8s-node2", "lweb") == 0
            && !rec
                .lines(&["event=delete", "host=k8s-node2", "stale copy"])
                .is_empty()
    });
    rec.within_rounds(2, "full count", || total(&tb, "lweb") == 3);
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();
    let desired = 3;
    let surge = 1; // 25% of 3, rounded up
    assert!(
        max.load(Ordering::SeqCst) <= desired + surge,
        "running replicas sampled every second: {samples:?}"
    );
    eprintln!("running replicas sampled every second: {samples:?}");
}

#[test]
fn apply_alone_remembers_the_outage_replaces_the_lost_pods_and_removes_the_stale_copies() {
    let tb = Testbed::get();
    let _g = serial();
    let _down = breaking_a_host();
    reset(&tb);
    let (_dir, cluster) = inventory(&tb, &["connectTimeout: 5"], &["nodeLostGracePeriod: 2s"]);
    let repo = Repo::new();
    repo.write("lost.yaml", &deployment("aweb", 3, "nginx"))
        .commit("aweb 3");
    let apply = || {
        clusterctl_with(
            &cluster,
            repo.path(),
            &["apply", "--yes", "--allow-unreachable"],
        )
    };
    ok(apply());
    let on3 = prefix_running(&tb, "k8s-node3", "aweb");
    assert!(on3 >= 1, "a pod on k8s-node3 to lose");
    struct Restart;
    impl Drop for Restart {
        fn drop(&mut self) {
            let _ = Command::new("bash")
                .args([SCRIPT, "start", "k8s-node3"])
                .output();
        }
    }
    let restart = Restart;
    stdout_ok(
        "testbed stop",
        Command::new("bash")
            .args([SCRIPT, "stop", "k8s-node3"])
            .output()
            .unwrap(),
    );
    // Nothing to plan yet, but the outage's start is written to the roster on the reachable hosts.
    let first = ok(apply());
    assert!(first.stdout.contains("No changes."), "{first:?}");
    let roster = tb.ssh_ok("k8s-node1", "cat /var/lib/clusterctl/roster.json");
    let roster: serde_json::Value = serde_json::from_str(&roster).unwrap();
    assert!(
        roster["hosts"]["k8s-node3"]["unreachableSince"].is_string(),
        "{roster}"
    );
    // Longer than the 2 s grace period later (the memory, not this process, knows when it started).
    std::thread::sleep(Duration::from_secs(3));
    let second = ok(apply());
    let replaced = second
        .stdout
        .matches("node k8s-node3 unreachable since")
        .count();
    assert_eq!(replaced, on3, "{second:?}");
    assert!(
        second.stdout.contains("longer than the 2s grace period"),
        "{second:?}"
    );
    assert_eq!(
        prefix_running(&tb, "k8s-node1", "aweb") + prefix_running(&tb, "k8s-node2", "aweb"),
        3
    );
    // From its return through the next apply, every second: the running replicas in total and on the
    // returning host. Its supervisor was away longer than the 2 s grace, so it holds the stale copies
    // (supervisor::hold) instead of restarting them: none of them ever runs again.
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (tb, stop) = (tb.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                samples.push((total(&tb, "aweb"), prefix_running(&tb, "k8s-node3", "aweb")));
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        })
    };
    stdout_ok(
        "testbed start",
        Command::new("bash")
            .args([SCRIPT, "start", "k8s-node3"])
            .output()
            .unwrap(),
    );
    drop(restart);
    let held = || {
        tb.ssh_ok(
            "k8s-node3",
            "cat /var/lib/clusterctl/node/records.json 2>/dev/null || true",
        )
        .matches("\"heldSince\"")
        .count()
    };
    // dockerd brings the supervisor back by itself (`--restart=always`): it is on the host's network, so it
    // does not depend on its sandbox starting first (dockerd starts those containers in parallel).
    let supervisor_up = || {
        tb.ssh_ok(
            "k8s-node3",
            "docker inspect -f '{{.State.Running}}' k8s_supervisor_clusterctl-node-k8s-node3_clusterctl-system 2>/dev/null || true",
        )
        .trim()
            == "true"
    };
    let start = Instant::now();
    while held() < on3 {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the supervisor holds the stale copies (supervisor running: {})",
            supervisor_up()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A few more polls: still held.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(prefix_running(&tb, "k8s-node3", "aweb"), 0);
    let third = ok(apply());
    assert_eq!(
        third.stdout.matches("stale copy: node k8s-node3").count(),
        on3,
        "{third:?}"
    );
    assert_eq!(prefix_running(&tb, "k8s-node3", "aweb"), 0);
    assert_eq!(total(&tb, "aweb"), 3);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.join().unwrap();
    eprintln!("running replicas (total, on k8s-node3) every second: {samples:?}");
    assert!(
        samples.iter().all(|&(all, on3)| all <= 3 + 1 && on3 == 0),
        "a stale copy ran, or more than desired + maxSurge: {samples:?}"
    );
    // The memory is cleared (a roster write only), then the cluster is quiet.
    ok(apply());
    let plan = ok(clusterctl_with(&cluster, repo.path(), &["plan"]));
    assert!(plan.stdout.contains("No changes."), "{plan:?}");
}
