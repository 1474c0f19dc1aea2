//! The pod start sequence the supervisor takes over from `apply` once an init container failed: apply runs
//! the init containers in order and stops at the first failure (its steps for the pod end there), so from
//! then on nobody but the supervisor can start the rest. The kubelet's rule (`computeInitContainerActions`):
//! init containers one at a time, in order, each to completion (a sidecar only until it runs), and the app
//! containers only once all of them have. Pure: [`starts`] says which never-started containers to start now.

use std::collections::BTreeMap;

use super::decide::{PodInfo, Seen};
use crate::model::NodeRecords;

/// The restartPolicy an init container (not a sidecar) runs under: it is done once it exits 0, so the pod's
/// `Always` and `OnFailure` both restart it only after a failure; `Never` never (the pod is then Failed).
pub fn init_policy(pod_policy: &str) -> &'static str {
    if pod_policy == "Never" {
        "Never"
    } else {
        "OnFailure"
    }
}

fn never_started(s: &Seen) -> bool {
    s.status == "created" && super::backoff::parse(&s.started_at).is_none()
}

/// Whether the supervisor drives this pod's start: it restarted one of its init containers (a record with
/// a restart; a sidecar's restarts do not count), which happens only after apply's init step failed and
/// ended apply's steps for the pod.
fn taken_over(pod: &PodInfo, seen: &[&Seen], records: &NodeRecords) -> bool {
    seen.iter().any(|s| {
        pod.init_order
            .iter()
            .any(|(n, sidecar)| !sidecar && *n == s.container)
            && records
                .containers
                .get(&s.name)
                .is_some_and(|r| r.id == s.id && r.restart_count > 0)
    })
}

/// The never-started containers to start now, by runtime name, for every pod the supervisor took over:
/// the first init container not done yet if it was never started (one per poll, in order; a sidecar is
/// done once it runs), else — all done — every app container never started. `records` are this poll's.
pub fn starts(
    seen: &[Seen],
    pods: &BTreeMap<(String, String), PodInfo>,
    records: &NodeRecords,
) -> Vec<String> {
    let mut out = Vec::new();
    for ((ns, name), pod) in pods {
        if pod.init_order.is_empty() || !pod.sandbox_running {
            continue;
        }
        let members: Vec<&Seen> = seen
            .iter()
            .filter(|s| &s.namespace == ns && &s.pod == name)
            .collect();
        if !taken_over(pod, &members, records) {
            continue;
        }
        let mut all_done = true;
        for (init, sidecar) in &pod.init_order {
            let Some(s) = members.iter().find(|s| &s.container == init) else {
                all_done = false; // not created (yet): nothing to start in order after it
                break;
            };
            let done = if *sidecar {
                s.status == "running"
            } else {
                matches!(s.status.as_str(), "exited" | "dead") && s.exit_code == 0
            };
            if done {
                continue;
            }
            if never_started(s) {
                out.push(s.name.clone());
            }
            // Running, failed (its restart is decide's, by the back-off) or just started: wait for it.
            all_done = false;
            break;
        }
        if all_done {
            out.extend(
                members
                    .iter()
                    .filter(|s| !pod.init_order.iter().any(|(n, _)| *n == s.container))
                    .filter(|s| never_started(s))
                    .map(|s| s.name.clone()),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ContainerRecord;

    fn seen(c: &str, status: &str, exit: i32, started: bool) -> Seen {
        Seen {
            id: format!("id-{c}"),
            name: format!("k8s_{c}_p_default"),
            container: c.into(),
            namespace: "default".into(),
            pod: "p".into(),
            status: status.into(),
            exit_code: exit,
            started_at: if started {
                "2026-12-01T12:00:00Z".into()
            } else {
                "0001-01-01T00:00:00Z".into()
            },
            ..Default::default()
        }
    }

    fn pods(order: &[(&str, bool)]) -> BTreeMap<(String, String), PodInfo> {
        BTreeMap::from([(
            ("default".to_string(), "p".to_string()),
            PodInfo {
                restart_policy: "Always".into(),
                sandbox_running: true,
                init_order: order.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
                ..Default::default()
            },
        )])
    }

    fn restarted(names: &[&str]) -> NodeRecords {
        NodeRecords {
            containers: names
                .iter()
                .map(|c| {
                    (
                        format!("k8s_{c}_p_default"),
                        ContainerRecord {
                            id: format!("id-{c}"),
                            restart_count: 1,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn after_a_restarted_init_completes_the_next_init_then_the_apps_start_in_order() {
        let p = pods(&[("i0", false), ("i1", false)]);
        let recs = restarted(&["i0"]);
        // i0 restarted by the supervisor and still running: nothing else yet.
        let mut s = vec![
            seen("i0", "running", 0, true),
            seen("i1", "created", 0, false),
            seen("app", "created", 0, false),
        ];
        assert!(starts(&s, &p, &recs).is_empty());
        // i0 completed: i1, and only i1.
        s[0] = seen("i0", "exited", 0, true);
        assert_eq!(starts(&s, &p, &recs), ["k8s_i1_p_default"]);
        // i1 failed: its restart is the back-off's business, the app still waits.
        s[1] = seen("i1", "exited", 1, true);
        assert!(starts(&s, &p, &recs).is_empty());
        // Both done: the app.
        s[1] = seen("i1", "exited", 0, true);
        assert_eq!(starts(&s, &p, &recs), ["k8s_app_p_default"]);
        // An app that already ran (exited) is decide's, not a first start.
        s[2] = seen("app", "exited", 1, true);
        assert!(starts(&s, &p, &recs).is_empty());
    }

    #[test]
    fn a_pod_apply_still_drives_is_left_alone() {
        // No init container was restarted by the supervisor: apply's steps start the rest.
        let p = pods(&[("i0", false)]);
        let s = vec![
            seen("i0", "exited", 0, true),
            seen("app", "created", 0, false),
        ];
        assert!(starts(&s, &p, &NodeRecords::default()).is_empty());
        // A record of another container id (apply recreated it) is no takeover either.
        let mut recs = restarted(&["i0"]);
        recs.containers.get_mut("k8s_i0_p_default").unwrap().id = "old".into();
        assert!(starts(&s, &p, &recs).is_empty());
        assert_eq!(starts(&s, &p, &restarted(&["i0"])), ["k8s_app_p_default"]);
    }

    #[test]
    fn a_sidecar_is_done_once_it_runs_and_nothing_starts_without_the_sandbox() {
        let mut p = pods(&[("i0", false), ("side", true)]);
        let recs = restarted(&["i0"]);
        let mut s = vec![
            seen("i0", "exited", 0, true),
            seen("side", "created", 0, false),
            seen("app", "created", 0, false),
        ];
        assert_eq!(starts(&s, &p, &recs), ["k8s_side_p_default"]);
        s[1] = seen("side", "running", 0, true);
        assert_eq!(starts(&s, &p, &recs), ["k8s_app_p_default"]);
        p.values_mut().next().unwrap().sandbox_running = false;
        assert!(starts(&s, &p, &recs).is_empty());
    }

    #[test]
    fn init_containers_restart_after_failures_only_and_never_under_never() {
        assert_eq!(init_policy("Always"), "OnFailure");
        assert_eq!(init_policy("OnFailure"), "OnFailure");
        assert_eq!(init_policy("Never"), "Never");
    }
}
