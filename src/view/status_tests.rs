//! kubectl's STATUS / READY / RESTARTS and the kubelet's phase for every case the node supervisor's
//! records and docker's states produce (reference §6.4, §7.1, §11), plus printPod's init-container rules.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Pod, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::{pending_pod, pod_cells, pod_from_observed};
use crate::model::{
    BackOffWait, ContainerRecord, ObservedContainer, ObservedPod, Termination, labels,
};
use crate::supervisor::backoff::format_secs;

const NOW: i64 = 1_800_000_000;

fn now() -> Timestamp {
    Timestamp::from_second(NOW).unwrap()
}
fn ago(s: i64) -> String {
    format_secs(NOW - s)
}

/// A one-container pod on a reachable node: sandbox running, app in `status`, with an optional record.
fn pod(policy: &str, status: &str, exit_code: i32, record: Option<ContainerRecord>) -> ObservedPod {
    let manifest = Pod {
        metadata: ObjectMeta {
            name: Some("p".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some(policy.into()),
            containers: vec![Container {
                name: "app".into(),
                image: Some("clusterctl/crash".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let l = |c: &str| {
        BTreeMap::from([
            (labels::NAMESPACE.to_string(), "default".to_string()),
            (labels::POD.to_string(), "p".to_string()),
            (labels::CONTAINER.to_string(), c.to_string()),
        ])
    };
    let sandbox = ObservedContainer {
        id: "s".into(),
        name: "k8s_POD_p_default".into(),
        labels: l("POD"),
        status: "running".into(),
        created_at: ago(600),
        started_at: ago(600),
        ..Default::default()
    };
    let app = ObservedContainer {
        id: "a".into(),
        name: "k8s_app_p_default".into(),
        image: "clusterctl/crash".into(),
        labels: l("app"),
        status: status.into(),
        exit_code,
        restart_count: record.as_ref().map_or(0, |r| r.restart_count),
        created_at: ago(600),
        started_at: ago(50),
        finished_at: if status == "running" {
            String::new()
        } else {
            ago(40)
        },
        record,
        ..Default::default()
    };
    ObservedPod {
        namespace: "default".into(),
        name: "p".into(),
        node: "n1".into(),
        node_reachable: true,
        sandbox: Some(sandbox),
        containers: BTreeMap::from([("app".to_string(), app)]),
        owner: None,
        template_hash: None,
        manifest: Some(manifest),
    }
}

fn term(code: i32, reason: &str, finished_ago: i64) -> Termination {
    Termination {
        exit_code: code,
        reason: reason.into(),
        started_at: ago(finished_ago + 1),
        finished_at: ago(finished_ago),
    }
}

fn record(restarts: u32, last: Option<Termination>, back_off: Option<u64>) -> ContainerRecord {
    ContainerRecord {
        id: "a".into(),
        restart_count: restarts,
        last_termination: last,
        back_off: back_off.map(|d| BackOffWait {
            delay_seconds: d,
            until: ago(-(d as i64)),
        }),
        ..Default::default()
    }
}

/// (READY, STATUS, RESTARTS, phase)
fn cells(p: &ObservedPod) -> (String, String, String, String) {
    let pod = pod_from_observed(p);
    let c = pod_cells(&pod, now());
    let phase = pod.status.unwrap().phase.unwrap();
    (c.ready, c.status, c.restarts, phase)
}

fn four(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
    (a.into(), b.into(), c.into(), d.into())
}

#[test]
fn crash_loop_back_off_from_the_record() {
    let p = pod(
        "Always",
        "exited",
        1,
        Some(record(3, Some(term(1, "Error", 40)), Some(40))),
    );
    assert_eq!(
        cells(&p),
        four("0/1", "CrashLoopBackOff", "3 (40s ago)", "Running")
    );
    let pod = pod_from_observed(&p);
    let s = &pod.status.unwrap().container_statuses.unwrap()[0];
    let w = s.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(
        w.message.as_deref(),
        Some("back-off 40s restarting failed container=app pod=p_default()")
    );
    let last = s.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert_eq!(s.restart_count, 3);
}

#[test]
fn running_after_restarts_shows_the_last_exit() {
    let p = pod(
        "Always",
        "running",
        0,
        Some(record(2, Some(term(137, "Error", 125)), None)),
    );
    assert_eq!(cells(&p), four("1/1", "Running", "2 (2m5s ago)", "Running"));
    // Never restarted: no "ago", no last state.
    let p = pod("Always", "running", 0, Some(record(0, None, None)));
    assert_eq!(cells(&p), four("1/1", "Running", "0", "Running"));
}

#[test]
fn never_error_and_oom_killed_are_failed() {
    let p = pod(
        "Never",
        "exited",
        1,
        Some(record(0, Some(term(1, "Error", 40)), None)),
    );
    assert_eq!(cells(&p), four("0/1", "Error", "0", "Failed"));
    let p = pod(
        "Never",
        "exited",
        137,
        Some(record(0, Some(term(137, "OOMKilled", 40)), None)),
    );
    assert_eq!(cells(&p), four("0/1", "OOMKilled", "0", "Failed"));
}

#[test]
fn on_failure_completes_after_a_failure() {
    let mut r = record(1, Some(term(0, "Completed", 40)), None);
    r.previous_termination = Some(term(2, "Error", 70));
    let p = pod("OnFailure", "exited", 0, Some(r));
    assert_eq!(
        cells(&p),
        four("0/1", "Completed", "1 (70s ago)", "Succeeded")
    );
    let shown = pod_from_observed(&p);
    let s = &shown.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(
        s.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        2
    );
    // OnFailure between a failure and its restart: still Running (kubelet getPhase).
    let p = pod(
        "OnFailure",
        "exited",
        2,
        Some(record(0, Some(term(2, "Error", 1)), Some(10))),
    );
    assert_eq!(cells(&p), four("0/1", "CrashLoopBackOff", "0", "Running"));
}

#[test]
fn always_with_the_supervisor_down_shows_the_exit() {
    // Exited, the record says no back-off (nobody restarts it): the termination reason shows.
    let p = pod(
        "Always",
        "exited",
        1,
        Some(record(0, Some(term(1, "Error", 40)), None)),
    );
    assert_eq!(cells(&p), four("0/1", "Error", "0", "Running"));
}

#[test]
fn container_creating_pending_unknown_and_terminating() {
    let mut p = pod("Always", "running", 0, None);
    p.containers.clear();
    assert_eq!(cells(&p), four("0/1", "ContainerCreating", "0", "Pending"));
    let template = pod_from_observed(&pod("Always", "running", 0, None));
    let pending = pending_pod(&template, "p", "0/3 nodes are available");
    assert_eq!(pod_cells(&pending, now()).status, "Pending");
    let mut p = pod("Always", "running", 0, None);
    p.node_reachable = false;
    assert_eq!(cells(&p).1, "Unknown");
    let mut t = pod_from_observed(&pod("Always", "running", 0, None));
    t.metadata.deletion_timestamp = Some(Time(now()));
    assert_eq!(pod_cells(&t, now()).status, "Terminating");
}

fn status(state: ContainerState, name: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: Some(state),
        ..Default::default()
    }
}
fn running() -> ContainerState {
    ContainerState {
        running: Some(ContainerStateRunning::default()),
        ..Default::default()
    }
}
fn waiting(r: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(r.into()),
            message: None,
        }),
        ..Default::default()
    }
}
fn exited(code: i32, reason: Option<&str>, signal: i32) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: code,
            reason: reason.map(str::to_string),
            signal: Some(signal).filter(|s| *s != 0),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A pod with two init containers and one app container, and the given statuses.
fn init_pod(init: Vec<ContainerStatus>, app: ContainerState) -> Pod {
    let c = |n: &str| Container {
        name: n.into(),
        ..Default::default()
    };
    Pod {
        metadata: ObjectMeta::default(),
        spec: Some(PodSpec {
            init_containers: Some(vec![c("i0"), c("i1")]),
            containers: vec![c("app")],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            init_container_statuses: Some(init),
            container_statuses: Some(vec![status(app, "app")]),
            ..Default::default()
        }),
    }
}

#[test]
fn init_container_statuses_as_print_pod() {
    let creating = waiting("PodInitializing");
    let done = exited(0, Some("Completed"), 0);
    let cases = [
        (
            vec![
                status(running(), "i0"),
                status(waiting("PodInitializing"), "i1"),
            ],
            "Init:0/2",
        ),
        (
            vec![status(done.clone(), "i0"), status(running(), "i1")],
            "Init:1/2",
        ),
        (
            vec![status(exited(1, Some("Error"), 0), "i0")],
            "Init:Error",
        ),
        (
            vec![status(exited(137, Some("OOMKilled"), 0), "i0")],
            "Init:OOMKilled",
        ),
        (vec![status(exited(3, None, 0), "i0")], "Init:ExitCode:3"),
        (vec![status(exited(143, None, 15), "i0")], "Init:Signal:15"),
        (
            vec![status(waiting("CrashLoopBackOff"), "i0")],
            "Init:CrashLoopBackOff",
        ),
        (
            vec![
                status(done.clone(), "i0"),
                status(waiting("ErrImagePull"), "i1"),
            ],
            "Init:ErrImagePull",
        ),
    ];
    for (init, want) in cases {
        let p = init_pod(init, creating.clone());
        assert_eq!(pod_cells(&p, now()).status, want);
    }
    // All init containers done: the regular containers decide.
    let mut p = init_pod(
        vec![status(done.clone(), "i0"), status(done.clone(), "i1")],
        waiting("PodInitializing"),
    );
    assert_eq!(pod_cells(&p, now()).status, "PodInitializing");
    p.status.as_mut().unwrap().container_statuses = Some(vec![status(exited(2, None, 0), "app")]);
    assert_eq!(pod_cells(&p, now()).status, "ExitCode:2");
}

#[test]
fn completed_with_a_container_still_running_is_running_or_not_ready() {
    let c = |n: &str| Container {
        name: n.into(),
        ..Default::default()
    };
    let mut p = Pod {
        metadata: ObjectMeta::default(),
        spec: Some(PodSpec {
            containers: vec![c("a"), c("b")],
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            container_statuses: Some(vec![
                status(exited(0, Some("Completed"), 0), "a"),
                ContainerStatus {
                    ready: true,
                    ..status(running(), "b")
                },
            ]),
            ..Default::default()
        }),
    };
    assert_eq!(pod_cells(&p, now()).status, "NotReady");
    p.status.as_mut().unwrap().conditions = Some(vec![k8s_openapi::api::core::v1::PodCondition {
        type_: "Ready".into(),
        status: "True".into(),
        ..Default::default()
    }]);
    let c = pod_cells(&p, now());
    assert_eq!((c.ready.as_str(), c.status.as_str()), ("1/2", "Running"));
}
