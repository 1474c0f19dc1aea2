//! Pod lifecycle on real hosts, with no clusterctl running between the steps: the node supervisor
//! restarts a failed init container with the crash back-off (STATUS `Init:CrashLoopBackOff`) and, once it
//! completes, starts the app containers itself (`supervisor::init_seq`, docs/node-supervisor.md).

use std::time::{Duration, Instant};

use crate::common::{Repo, Testbed, clusterctl, pod_rows, reset, serial};

const NODE: &str = "k8s-node1";

/// `flaky` counts its attempts in the pod's emptyDir and succeeds on the third; the app shows the count.
const FLAKY: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: initloop
spec:
  nodeName: k8s-node1
  volumes:
  - name: state
    emptyDir: {}
  initContainers:
  - name: flaky
    image: busybox
    command: ["sh", "-c", "n=$(cat /state/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /state/n; [ $n -ge 3 ]"]
    volumeMounts:
    - {name: state, mountPath: /state}
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: state, mountPath: /state}
"#;

#[test]
fn a_failing_init_container_is_restarted_with_back_off_then_the_app_starts_without_an_apply() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write("pod.yaml", FLAKY).commit("flaky init container");
    // The first attempt is apply's: it fails, and apply says so.
    let apply = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert!(
        apply.stderr.contains("init container flaky exited with 1"),
        "{apply:?}"
    );

    // From here on only the supervisor acts: `get pods` only reads.
    let mut statuses: Vec<String> = Vec::new();
    let mut plan_during_back_off: Option<String> = None;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(90) {
        let rows = pod_rows(&tb, &repo);
        if let Some(r) = rows.iter().find(|r| r[0] == "initloop") {
            if statuses.last() != Some(&r[2]) {
                statuses.push(r[2].clone());
                if r[2] == "Init:CrashLoopBackOff" && plan_during_back_off.is_none() {
                    // The restart is the supervisor's: the plan does not start the pod as well.
                    plan_during_back_off = Some(clusterctl(&tb, &repo, &["plan"]).stdout);
                }
            }
            if r[2] == "Running" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let back_off = statuses.iter().position(|s| s == "Init:CrashLoopBackOff");
    let running = statuses.iter().position(|s| s == "Running");
    assert!(
        back_off.is_some() && running.is_some() && back_off < running,
        "Init:CrashLoopBackOff, then Running: {statuses:?}"
    );
    let plan = plan_during_back_off.unwrap_or_default();
    assert!(plan.contains("No changes"), "{plan}");
    // Three attempts (apply's, the supervisor's immediate restart, one after the 10 s back-off), then the
    // app, started once and after the init container finished.
    assert_eq!(
        tb.ssh_ok(NODE, "docker exec k8s_app_initloop_default cat /state/n")
            .trim(),
        "3"
    );
    let times = tb.ssh_ok(
        NODE,
        "docker inspect --format '{{.State.FinishedAt}} {{.State.ExitCode}}' k8s_flaky_initloop_default; \
         docker inspect --format '{{.State.StartedAt}} {{.State.Status}}' k8s_app_initloop_default",
    );
    let lines: Vec<&str> = times.lines().collect();
    let (init_done, init_exit) = lines[0].split_once(' ').unwrap();
    let (app_started, app_status) = lines[1].split_once(' ').unwrap();
    assert_eq!((init_exit, app_status), ("0", "running"), "{times}");
    assert!(app_started > init_done, "{times}");
    // The restarts are the init container's (kubectl counts them only while initializing) and the
    // supervisor's events say so.
    let describe = clusterctl(&tb, &repo, &["describe", "pod", "initloop"]).stdout;
    assert!(
        describe.contains("Back-off restarting failed container flaky in pod initloop_default"),
        "{describe}"
    );
    let rows = pod_rows(&tb, &repo);
    let r = rows.iter().find(|r| r[0] == "initloop").unwrap();
    assert_eq!((r[1].as_str(), r[3].as_str()), ("1/1", "0"), "{rows:?}");
}
