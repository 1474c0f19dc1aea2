//! Rollouts on the testbed (issue 10's acceptance 1, 2 and 4): a rolling update of 4 replicas behind the
//! seed's NodePort Service never has fewer than 4 running pods and fails no request sent through every
//! host's node port; an update to the crash image stops at its progress deadline with exit 4, names the
//! failing pod with its last log lines, and the old pods keep serving; Recreate runs no old pod once a
//! new one started.
//!
//! Traffic goes only to the testbed's host addresses.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crate::common::{Repo, Testbed, clusterctl, ok, reset, rows, serial};

fn deployment(image: &str, strategy: &str, extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: my-nginx\nspec:\n  selector:\n    matchLabels:\n      run: my-nginx\n  replicas: 4\n{extra}  strategy:\n{strategy}  template:\n    metadata:\n      labels:\n        run: my-nginx\n    spec:\n      terminationGracePeriodSeconds: 5\n      containers:\n      - name: my-nginx\n        image: {image}\n        ports:\n        - containerPort: 80\n"
    )
}

pub(crate) const SURGE_ONE: &str =
    "    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n";
const RECREATE: &str = "    type: Recreate\n";

fn http_ok(addr: &str, port: u16) -> bool {
    let Ok(sa) = format!("{addr}:{port}").parse::<SocketAddr>() else {
        return false;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&sa, Duration::from_secs(3)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(3))).ok();
    if s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    s.read_to_string(&mut out).is_ok() && out.starts_with("HTTP/1.") && out.contains(" 200 ")
}

pub(crate) fn node_port(tb: &Testbed, repo: &Repo) -> u16 {
    let out = ok(clusterctl(tb, repo, &["get", "svc"])).stdout;
    rows(&out, "my-nginx")[0][4]
        .split(':')
        .nth(1)
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no node port in {out}"))
}

/// Running `my-nginx` containers per image, over every host (read with `docker ps` in the host).
pub(crate) fn running(tb: &Testbed) -> Vec<String> {
    let hosts: Vec<String> = tb.hosts.iter().map(|(h, _)| h.clone()).collect();
    let mut images: Vec<String> = thread::scope(|s| {
        let runs: Vec<_> = hosts
            .iter()
            .map(|h| {
                s.spawn(move || {
                    let out = tb.exec(
                        h,
                        &[
                            "docker",
                            "ps",
                            "--filter",
                            "label=clusterctl.io/container=my-nginx",
                            "--filter",
                            "status=running",
                            "--format",
                            "{{.Image}}",
                        ],
                    );
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter().flat_map(|r| r.join().unwrap()).collect()
    });
    images.sort();
    images
}

/// A client sending requests through every host's node port, and a sampler counting running pods
/// every 200 ms, while `during` runs.
pub(crate) struct Watch {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    client: thread::JoinHandle<()>,
    sampler: thread::JoinHandle<Vec<Vec<String>>>,
}

impl Watch {
    pub(crate) fn start(tb: &Testbed, port: u16) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let addrs: Vec<String> = tb.hosts.iter().map(|(_, a)| a.clone()).collect();
        let client = {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    for a in &addrs {
                        if http_ok(a, port) {
                            ok.fetch_add(1, Ordering::SeqCst);
                        } else {
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let sampler = {
            let (stop, tb) = (stop.clone(), tb.clone());
            thread::spawn(move || {
                let mut samples = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    samples.push(running(&tb));
                    thread::sleep(Duration::from_millis(200));
                }
                samples
            })
        };
        Watch {
            stop,
            ok,
            failed,
            client,
            sampler,
        }
    }

    /// (requests answered, requests failed, samples)
    pub(crate) fn finish(self) -> (usize, usize, Vec<Vec<String>>) {
        self.stop.store(true, Ordering::SeqCst);
        self.client.join().unwrap();
        let samples = self.sampler.join().unwrap();
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
            samples,
        )
    }
}

pub(crate) fn counts(samples: &[Vec<String>]) -> Vec<usize> {
    samples.iter().map(Vec::len).collect()
}

#[test]
fn rolling_update_keeps_four_pods_serving_and_a_crashing_update_stops_at_its_deadline() {
    let _g = serial();
    let tb = Testbed::get();
    reset(&tb);
    let repo = Repo::new();
    repo.write("web.yaml", &deployment("nginx", SURGE_ONE, ""))
        .seed("my_service.yaml")
        .commit("nginx x4");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(running(&tb), vec!["nginx"; 4]);
    let port = node_port(&tb, &repo);

    // 1. nginx → nginx:1.14.2, maxSurge 1, maxUnavailable 0.
    repo.write("web.yaml", &deployment("nginx:1.14.2", SURGE_ONE, ""))
        .commit("nginx:1.14.2");
    let watch = Watch::start(&tb, port);
    let run = clusterctl(&tb, &repo, &["apply", "--yes"]);
    let (answered, failed, samples) = watch.finish();
    eprintln!(
        "rolling update: {answered} requests answered, {failed} failed; running pods every 200 ms: {:?}",
        counts(&samples)
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("deployment \"my-nginx\" successfully rolled out"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("step 2: "),
        "one line per step: {run:?}"
    );
    assert_eq!(failed, 0, "failed requests during the rollout");
    assert!(answered > 0);
    assert!(
        samples.iter().all(|s| s.len() >= 4 && s.len() <= 5),
        "running pods left 4..=5: {:?}",
        counts(&samples)
    );
    assert_eq!(running(&tb), vec!["nginx:1.14.2"; 4]);
    let again = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(again.stdout.contains("No changes"), "{again:?}");
    let status = ok(clusterctl(
        &tb,
        &repo,
        &["rollout", "status", "deploy/my-nginx"],
    ));
    assert_eq!(
        status.stdout.trim(),
        "deployment \"my-nginx\" successfully rolled out",
        "{status:?}"
    );

    // 2. → clusterctl/crash with a 5 s deadline: stops, exit 4, names the pod and its logs; the old
    // pods keep serving.
    repo.write(
        "web.yaml",
        &deployment(
            "clusterctl/crash",
            SURGE_ONE,
            "  progressDeadlineSeconds: 5\n",
        ),
    )
    .commit("crash");
    let watch = Watch::start(&tb, port);
    let run = clusterctl(&tb, &repo, &["apply", "--yes"]);
    let (answered, failed, samples) = watch.finish();
    eprintln!(
        "crashing update: {answered} requests answered, {failed} failed; running pods: {:?}",
        counts(&samples)
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr
            .contains("deployment \"my-nginx\" exceeded its progress deadline"),
        "{run:?}"
    );
    assert!(run.stderr.contains("ProgressDeadlineExceeded"), "{run:?}");
    assert!(
        run.stderr
            .contains("clusterctl/crash: exiting with status 1"),
        "last log lines: {run:?}"
    );
    assert!(run.stderr.contains("exit code 1"), "{run:?}");
    assert_eq!(failed, 0, "failed requests during the failed rollout");
    let now = running(&tb);
    assert_eq!(
        now.iter().filter(|i| *i == "nginx:1.14.2").count(),
        4,
        "{now:?}"
    );
}

#[test]
fn recreate_runs_no_old_pod_once_a_new_one_started() {
    let _g = serial();
    let tb = Testbed::get();
    reset(&tb);
    let repo = Repo::new();
    repo.write("web.yaml", &deployment("nginx", RECREATE, ""))
        .seed("my_service.yaml")
        .commit("nginx x4, Recreate");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    repo.write("web.yaml", &deployment("nginx:1.14.2", RECREATE, ""))
        .commit("nginx:1.14.2");
    let watch = Watch::start(&tb, node_port(&tb, &repo));
    // --no-wait takes one safe step: every old pod goes, no new one starts yet.
    ok(clusterctl(&tb, &repo, &["apply", "--yes", "--no-wait"]));
    assert_eq!(running(&tb), Vec::<String>::new());
    let pending = ok(clusterctl(
        &tb,
        &repo,
        &["rollout", "status", "deploy/my-nginx", "--no-watch"],
    ));
    assert!(
        pending
            .stdout
            .contains("0 out of 4 new replicas have been updated"),
        "{pending:?}"
    );
    let run = ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let (_, _, samples) = watch.finish();
    eprintln!("recreate: running pods every 200 ms: {samples:?}");
    assert!(
        samples.iter().all(|s| !(s.contains(&"nginx".to_string())
            && s.contains(&"nginx:1.14.2".to_string()))),
        "old and new pods ran together: {samples:?}"
    );
    // No old pod is left, so this apply is an ordinary creation (it does not wait for availability).
    assert!(run.stdout.contains("4 added"), "{run:?}");
    assert_eq!(running(&tb), vec!["nginx:1.14.2"; 4]);
}

/// The ids of the running `my-nginx` containers over every host, sorted.
fn running_ids(tb: &Testbed) -> Vec<String> {
    let mut ids: Vec<String> = tb
        .hosts
        .iter()
        .flat_map(|(h, _)| {
            let out = tb.exec(
                h,
                &[
                    "docker",
                    "ps",
                    "--filter",
                    "label=clusterctl.io/container=my-nginx",
                    "--filter",
                    "status=running",
                    "--format",
                    "{{.ID}}",
                ],
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids
}

/// `rollout restart` (issue 10, "rollout restart as kubectl's"): the annotation committed to the
/// manifest changes the pod template, so the next apply replaces all 4 pods by a rolling update
/// (maxSurge 1, maxUnavailable 0) with no failed request through the node ports.
#[test]
fn rollout_restart_replaces_every_pod_by_a_rolling_update_with_no_failed_request() {
    let _g = serial();
    let tb = Testbed::get();
    reset(&tb);
    let repo = Repo::new();
    repo.write("web.yaml", &deployment("nginx", SURGE_ONE, ""))
        .seed("my_service.yaml")
        .commit("nginx x4");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let before = running_ids(&tb);
    assert_eq!(before.len(), 4, "{before:?}");
    let port = node_port(&tb, &repo);

    let restart = ok(clusterctl(
        &tb,
        &repo,
        &["rollout", "restart", "deploy/my-nginx", "--commit"],
    ));
    assert!(
        restart
            .stdout
            .starts_with("deployment.apps/my-nginx restarted (apps/web.yaml, commit "),
        "{restart:?}"
    );
    let log = repo.git(&["log", "-1", "--format=%s"]);
    assert_eq!(log.trim(), "clusterctl rollout restart deployment my-nginx");
    let watch = Watch::start(&tb, port);
    let run = clusterctl(&tb, &repo, &["apply", "--yes"]);
    let (answered, failed, samples) = watch.finish();
    eprintln!(
        "rollout restart: {answered} requests answered, {failed} failed; running pods every 200 ms: {:?}",
        counts(&samples)
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("deployment \"my-nginx\" successfully rolled out"),
        "{run:?}"
    );
    assert_eq!(failed, 0, "failed requests during the restart");
    assert!(answered > 0);
    assert!(
        samples.iter().all(|s| s.len() >= 4 && s.len() <= 5),
        "running pods left 4..=5: {:?}",
        counts(&samples)
    );
    let after = running_ids(&tb);
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(
        after.iter().all(|id| !before.contains(id)),
        "every pod replaced: {before:?} → {after:?}"
    );
    let describe = ok(clusterctl(&tb, &repo, &["describe", "deploy", "my-nginx"])).stdout;
    assert!(
        describe.contains("kubectl.kubernetes.io/restartedAt"),
        "{describe}"
    );
    assert!(
        ok(clusterctl(&tb, &repo, &["plan"]))
            .stdout
            .contains("No changes")
    );
}

const GRACEFUL: &str = "apiVersion: v1
kind: Pod
metadata:
  name: graceful
spec:
  nodeName: k8s-node1
  terminationGracePeriodSeconds: 4
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'trap \"echo term >> /h/log; t=1\" TERM; t=0; echo start >> /h/log; while true; do [ $t = 1 ] && echo tick >> /h/log; sleep 1; done']
    lifecycle:
      preStop:
        exec:
          command: [sh, -c, 'echo prestop >> /h/log']
    volumeMounts:
    - name: h
      mountPath: /h
  volumes:
  - name: h
    hostPath:
      path: /tmp/clusterctl-graceful
      type: DirectoryOrCreate
";

/// Graceful termination (issue 10 scope: \"preStop runs, then SIGTERM, then SIGKILL after
/// terminationGracePeriodSeconds\"): a container that ignores SIGTERM, with a preStop hook, is removed by
/// an apply that runs the hook first, then SIGTERM (the trap writes after the hook), and kills it only
/// once the 4 s grace period is over (it writes a tick a second until then).
#[test]
fn removing_a_pod_runs_prestop_then_sigterm_then_sigkill_after_the_grace_period() {
    let _g = serial();
    let tb = Testbed::get();
    reset(&tb);
    tb.ssh_ok("k8s-node1", "rm -rf /tmp/clusterctl-graceful");
    let repo = Repo::new();
    repo.write("graceful.yaml", GRACEFUL).commit("graceful");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let log = || {
        tb.ssh_ok(
            "k8s-node1",
            "cat /tmp/clusterctl-graceful/log 2>/dev/null || true",
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !log().contains("start") {
        assert!(
            std::time::Instant::now() < deadline,
            "graceful never started"
        );
        thread::sleep(Duration::from_millis(500));
    }
    repo.remove("graceful.yaml").commit("remove graceful");
    let t0 = std::time::Instant::now();
    let run = ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let took = t0.elapsed();
    let lines: Vec<String> = log().lines().map(str::to_string).collect();
    eprintln!("graceful removal: {lines:?} in {:.1} s", took.as_secs_f64());
    assert_eq!(
        lines.get(..3),
        Some(
            &[
                "start".to_string(),
                "prestop".to_string(),
                "term".to_string()
            ][..]
        ),
        "hook, then SIGTERM: {run:?}"
    );
    // The container ignores SIGTERM and writes a tick a second after it: it lived on through the grace
    // period (a SIGKILL at once leaves none) and was killed at its end (not left running).
    let ticks = lines.iter().filter(|l| *l == "tick").count();
    assert!(
        (2..=8).contains(&ticks),
        "{ticks} ticks after SIGTERM in a 4 s grace period: {lines:?} ({took:?})"
    );
    let left = tb.ssh_ok(
        "k8s-node1",
        "docker ps -a --filter name=k8s_app_graceful_default --format '{{.Names}}'",
    );
    assert!(left.trim().is_empty(), "removed: {left}");
}
