//! The supervisor's decision for each container on its host, one poll at a time: record every new exit
//! (exit code, reason, times), and restart what the pod's `restartPolicy` restarts once the crash back-off
//! allows it — the kubelet's rules (reference §7.1, §11.1). Pure: the caller lists the containers, passes
//! the clock, runs the starts and writes the records.

use std::collections::BTreeMap;

use super::backoff::{self, format_secs, go_duration, parse};
use crate::model::{BackOffWait, ContainerRecord, NodeRecords, RecordedEvent, Termination};

/// How many events a record keeps (the newest; repeats are aggregated, so this is many restarts).
pub const MAX_EVENTS: usize = 16;

/// One managed app container as the supervisor finds it (docker's inspect, reduced).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub id: String,
    /// Runtime name `k8s_<c>_<pod>_<ns>`.
    pub name: String,
    /// The container's name in the pod.
    pub container: String,
    pub namespace: String,
    pub pod: String,
    pub image: String,
    /// docker's `State.Status`: `created`, `running`, `exited`, …
    pub status: String,
    pub exit_code: i32,
    pub oom_killed: bool,
    /// RFC 3339, empty when never.
    pub created_at: String,
    pub started_at: String,
    pub finished_at: String,
}

/// What the supervisor needs to know about a container's pod (from its sandbox).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodInfo {
    /// `Always` (default), `OnFailure`, `Never`.
    pub restart_policy: String,
    /// metadata.uid if the manifest has one (for the kubelet's message `pod=<pod>_<ns>(<uid>)`).
    pub uid: String,
    pub sandbox_running: bool,
    /// After how many seconds of its host being unreachable the pod is evicted and replaced elsewhere
    /// (`hold::unreachable_toleration_secs` of a ReplicaSet's or Job's pod); `None`: never.
    pub evicted_after: Option<u64>,
    /// The pod's init containers that run to completion (not sidecars): apply runs them in order before the
    /// app containers; the supervisor restarts a failed one with the crash back-off unless the pod's policy
    /// is Never (`init_seq::init_policy`), and never one that completed.
    pub init_containers: std::collections::BTreeSet<String>,
    /// Every init container in order, with whether it is a sidecar (`restartPolicy: Always`): the order
    /// `init_seq` starts them in once the supervisor drives the pod's start.
    pub init_order: Vec<(String, bool)>,
}

/// Whether `policy` restarts a container that exited with `exit_code` (kubelet `ShouldContainerBeRestarted`).
pub fn policy_restarts(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// The runtime's terminated reason (reference §11.3): `OOMKilled`, else `Completed` for exit 0, else `Error`.
pub fn exit_reason(exit_code: i32, oom_killed: bool) -> &'static str {
    if oom_killed {
        "OOMKilled"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    }
}

fn exited(s: &Seen) -> bool {
    matches!(s.status.as_str(), "exited" | "dead") && parse(&s.finished_at).is_some()
}

/// Adds an event the way the kubelet's event correlator aggregates: the same type, reason and message
/// raise the count and move the last timestamp. The list stays sorted by last timestamp, bounded.
pub fn push_event(r: &mut ContainerRecord, type_: &str, reason: &str, message: String, at: &str) {
    if let Some(i) = r
        .events
        .iter()
        .position(|e| e.type_ == type_ && e.reason == reason && e.message == message)
    {
        let mut e = r.events.remove(i);
        e.count += 1;
        e.last_timestamp = at.to_string();
        r.events.push(e);
    } else {
        r.events.push(RecordedEvent {
            type_: type_.to_string(),
            reason: reason.to_string(),
            message,
            first_timestamp: at.to_string(),
            last_timestamp: at.to_string(),
            count: 1,
        });
    }
    // Stable: events of one instant keep their order (Pulled, Created, Started).
    r.events
        .sort_by_key(|e| parse(&e.last_timestamp).unwrap_or(0));
    let excess = r.events.len().saturating_sub(MAX_EVENTS);
    r.events.drain(..excess);
}

/// The kubelet's events for one start of a container: Pulled, Created, Started.
fn start_events(r: &mut ContainerRecord, s: &Seen, created_at: &str, started_at: &str) {
    push_event(
        r,
        "Normal",
        "Pulled",
        format!("Container image \"{}\" already present on machine", s.image),
        created_at,
    );
    push_event(
        r,
        "Normal",
        "Created",
        format!("Created container: {}", s.container),
        created_at,
    );
    push_event(
        r,
        "Normal",
        "Started",
        format!("Started container {}", s.container),
        started_at,
    );
}

/// A fresh record for a container seen for the first time (or whose id changed: apply recreated it),
/// with the events of the start apply did.
fn first_record(s: &Seen) -> ContainerRecord {
    let mut r = ContainerRecord {
        id: s.id.clone(),
        ..Default::default()
    };
    if parse(&s.started_at).is_some() {
        let created = if parse(&s.created_at).is_some() {
            &s.created_at
        } else {
            &s.started_at
        };
        start_events(
            &mut r,
            s,
            &format_secs(parse(created).unwrap_or(0)),
            &format_secs(parse(&s.started_at).unwrap_or(0)),
        );
    }
    r
}

/// One container's record after this poll, and whether to start it now.
pub fn step(
    s: &Seen,
    pod: &PodInfo,
    prev: Option<&ContainerRecord>,
    now: i64,
) -> (ContainerRecord, bool) {
    let mut r = match prev {
        Some(p) if p.id == s.id => p.clone(),
        _ => first_record(s),
    };
    if !exited(s) {
        // Running (or never started: apply's business). A running container waits for nothing.
        if s.status == "running" {
            r.back_off = None;
            // Running again (an apply started it): the hold is over.
            r.held_since = None;
        }
        return (r, false);
    }
    let finished = parse(&s.finished_at).unwrap_or(now);
    let new_exit = r
        .last_termination
        .as_ref()
        .is_none_or(|t| parse(&t.finished_at) != Some(finished));
    if new_exit {
        r.previous_termination = r.last_termination.take();
        r.last_termination = Some(Termination {
            exit_code: s.exit_code,
            reason: exit_reason(s.exit_code, s.oom_killed).to_string(),
            started_at: format_secs(parse(&s.started_at).unwrap_or(finished)),
            finished_at: format_secs(finished),
        });
    }
    if !policy_restarts(&pod.restart_policy, s.exit_code) {
        r.back_off = None;
        return (r, false);
    }
    if !pod.sandbox_running {
        // Its network namespace is gone; the plan starts the sandbox (and with it the pod).
        return (r, false);
    }
    if backoff::in_back_off_since(r.back_off_entry.as_ref(), finished, now) {
        let delay = r.back_off_entry.as_ref().map_or(0, |e| e.delay_seconds);
        let until = format_secs(finished + delay as i64);
        if r.back_off.as_ref().is_none_or(|b| b.until != until) {
            r.back_off = Some(BackOffWait {
                delay_seconds: delay,
                until,
            });
            push_event(
                &mut r,
                "Warning",
                "BackOff",
                format!(
                    "Back-off restarting failed container {} in pod {}_{}({})",
                    s.container, s.pod, s.namespace, pod.uid
                ),
                &format_secs(now),
            );
        }
        return (r, false);
    }
    r.back_off_entry = Some(backoff::next(r.back_off_entry.as_ref(), finished, now));
    (r, true)
}

/// The record after the supervisor started the container again at `now`.
pub fn started(r: &mut ContainerRecord, s: &Seen, now: i64) {
    // A first start (`init_seq`: the next init or app container of a pod) is no restart.
    if parse(&s.started_at).is_some() {
        r.restart_count += 1;
    }
    r.back_off = None;
    let at = format_secs(now);
    start_events(r, s, &at, &at);
}

/// The kubelet's waiting message for a container in back-off.
pub fn back_off_message(
    delay_seconds: u64,
    container: &str,
    pod: &str,
    ns: &str,
    uid: &str,
) -> String {
    format!(
        "back-off {} restarting failed container={container} pod={pod}_{ns}({uid})",
        go_duration(delay_seconds)
    )
}

/// One poll over every supervised container of the host: the new records file (records of containers
/// that are gone are dropped, so the file stays bounded) and the containers to start, by name.
pub fn supervise(
    seen: &[Seen],
    pods: &BTreeMap<(String, String), PodInfo>,
    prev: &NodeRecords,
    now: i64,
) -> (NodeRecords, Vec<String>) {
    let mut out = NodeRecords {
        format_version: crate::model::NODE_RECORDS_VERSION,
        written_at: format_secs(now),
        containers: BTreeMap::new(),
    };
    let mut start = Vec::new();
    for s in seen {
        let Some(pod) = pods.get(&(s.namespace.clone(), s.pod.clone())) else {
            continue; // no sandbox (being removed, or not ours to supervise)
        };
        let (r, go) = if pod.init_containers.contains(&s.container) {
            let once = PodInfo {
                restart_policy: super::init_seq::init_policy(&pod.restart_policy).to_string(),
                ..pod.clone()
            };
            step(s, &once, prev.containers.get(&s.name), now)
        } else {
            step(s, pod, prev.containers.get(&s.name), now)
        };
        if go {
            start.push(s.name.clone());
        }
        out.containers.insert(s.name.clone(), r);
    }
    // The never-started rest of a pod whose start the supervisor took over (an init container failed).
    start.extend(super::init_seq::starts(seen, pods, &out));
    (out, start)
}

/// The subdirectory of the supervisor's state directory where `apply` marks the containers it is about to
/// stop and remove (`runtime::terminate`): one empty file per container id.
pub const TERMINATING_DIR: &str = "terminating";

/// [`supervise`] when `apply` is deleting some containers (their ids in `terminating`): those are never
/// started again — their exit is recorded as for restartPolicy Never, no back-off, no BackOff event — and
/// their record gets the kubelet's `Killing` event once. Without this the first restart (immediate) would
/// race the graceful stop: a container that exits on SIGTERM would be running again before `docker rm`.
pub fn supervise_with_terminating(
    seen: &[Seen],
    pods: &BTreeMap<(String, String), PodInfo>,
    prev: &NodeRecords,
    now: i64,
    terminating: &std::collections::BTreeSet<String>,
) -> (NodeRecords, Vec<String>) {
    supervise_holding(seen, pods, prev, now, terminating, None)
}

/// [`supervise_with_terminating`], and the hold of a returning host (`hold`): `away` is how long the
/// supervisor was away, given on its first poll back only. Then every exited container whose pod may have
/// been replaced meanwhile ([`super::hold::holds`]) is held; a held container is never started by the
/// supervisor (its exits are recorded as for restartPolicy Never) until it runs again — apply started it —
/// or is gone — apply deleted the stale copy.
pub fn supervise_holding(
    seen: &[Seen],
    pods: &BTreeMap<(String, String), PodInfo>,
    prev: &NodeRecords,
    now: i64,
    terminating: &std::collections::BTreeSet<String>,
    away: Option<u64>,
) -> (NodeRecords, Vec<String>) {
    let held_now = |s: &Seen| {
        if s.status == "running" {
            return None;
        }
        let pod = pods.get(&(s.namespace.clone(), s.pod.clone()))?;
        if let Some(since) = prev
            .containers
            .get(&s.name)
            .filter(|r| r.id == s.id)
            .and_then(|r| r.held_since.clone())
        {
            return Some(since);
        }
        // Only what this poll would restart: an exit the policy keeps is no copy that could run.
        away.filter(|&a| {
            super::hold::holds(a, pod.evicted_after)
                && policy_restarts(&pod.restart_policy, s.exit_code)
        })
        .map(|_| format_secs(now))
    };
    let mut held = BTreeMap::new();
    let (killed, rest): (Vec<Seen>, Vec<Seen>) = seen
        .iter()
        .filter(|s| match held_now(s) {
            Some(since) if !terminating.contains(&s.id) => {
                held.insert(s.name.clone(), ((*s).clone(), since));
                false
            }
            _ => true,
        })
        .cloned()
        .partition(|s| terminating.contains(&s.id));
    let (mut out, start) = supervise(&rest, pods, prev, now);
    let never = |pod: &PodInfo| PodInfo {
        restart_policy: "Never".to_string(),
        ..pod.clone()
    };
    for s in &killed {
        let Some(pod) = pods.get(&(s.namespace.clone(), s.pod.clone())) else {
            continue;
        };
        let (mut r, _) = step(s, &never(pod), prev.containers.get(&s.name), now);
        r.back_off = None;
        if !r.events.iter().any(|e| e.reason == "Killing") {
            push_event(
                &mut r,
                "Normal",
                "Killing",
                format!("Stopping container {}", s.container),
                &format_secs(now),
            );
        }
        out.containers.insert(s.name.clone(), r);
    }
    for (name, (s, since)) in held {
        let Some(pod) = pods.get(&(s.namespace.clone(), s.pod.clone())) else {
            continue;
        };
        let (mut r, _) = step(&s, &never(pod), prev.containers.get(&name), now);
        r.back_off = None;
        r.held_since = Some(since);
        out.containers.insert(name, r);
    }
    (out, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash(status: &str, exit: i32, started: i64, finished: i64) -> Seen {
        Seen {
            id: "abc".into(),
            name: "k8s_app_p_default".into(),
            container: "app".into(),
            namespace: "default".into(),
            pod: "p".into(),
            image: "clusterctl/crash".into(),
            status: status.into(),
            exit_code: exit,
            oom_killed: false,
            created_at: format_secs(0),
            started_at: format_secs(started),
            finished_at: if finished > 0 {
                format_secs(finished)
            } else {
                String::new()
            },
        }
    }
    fn pod(policy: &str) -> PodInfo {
        PodInfo {
            restart_policy: policy.into(),
            uid: "u1".into(),
            sandbox_running: true,
            evicted_after: Some(60),
            ..Default::default()
        }
    }

    #[test]
    fn init_containers_restart_after_a_failure_unless_the_policy_is_never() {
        let mut p = pod("Always");
        p.init_containers.insert("app".to_string());
        for (policy, exit, restarts) in [
            ("Always", 0, false),
            ("Always", 1, true),
            ("OnFailure", 1, true),
            ("Never", 1, false),
        ] {
            p.restart_policy = policy.to_string();
            let s = crash("exited", exit, 10, 11);
            let pods = BTreeMap::from([(("default".to_string(), "p".to_string()), p.clone())]);
            let (_, start) = supervise(
                std::slice::from_ref(&s),
                &pods,
                &NodeRecords::default(),
                100,
            );
            assert_eq!(!start.is_empty(), restarts, "{policy} exit {exit}");
        }
        p.restart_policy = "Never".to_string();
        for exit in [0, 1] {
            let s = crash("exited", exit, 10, 11);
            let pods = BTreeMap::from([(("default".to_string(), "p".to_string()), p.clone())]);
            let (recs, start) = supervise(
                std::slice::from_ref(&s),
                &pods,
                &NodeRecords::default(),
                100,
            );
            assert!(start.is_empty(), "exit {exit}");
            assert_eq!(
                recs.containers[&s.name]
                    .last_termination
                    .as_ref()
                    .unwrap()
                    .exit_code,
                exit
            );
        }
    }

    /// A container that exits one second after every start, polled every second: the supervisor's starts
    /// follow the kubelet's gaps after each exit: 0, 10, 20, 40 s.
    #[test]
    fn always_restarts_with_the_kubelets_gaps() {
        let p = pod("Always");
        let mut rec: Option<ContainerRecord> = None;
        let (mut started_at, mut gaps, mut exit_at) = (1i64, Vec::new(), None::<i64>);
        for now in 1..200i64 {
            let s = match exit_at {
                Some(f) => crash("exited", 1, started_at, f),
                None if now > started_at => {
                    exit_at = Some(now);
                    crash("exited", 1, started_at, now)
                }
                None => crash("running", 0, started_at, 0),
            };
            let (mut r, go) = step(&s, &p, rec.as_ref(), now);
            if go {
                gaps.push(now - exit_at.unwrap());
                started(&mut r, &s, now);
                started_at = now;
                exit_at = None;
            }
            rec = Some(r);
        }
        assert_eq!(gaps[..4], [0, 10, 20, 40]);
        let r = rec.unwrap();
        assert_eq!(r.restart_count as usize, gaps.len());
        let t = r.last_termination.unwrap();
        assert_eq!((t.exit_code, t.reason.as_str()), (1, "Error"));
        // Events aggregated: one line per kind, counted. Restarts at 2, 13, 34, 75, 156 s; at 199 s
        // the fifth wait (160 s) is in progress, so one BackOff per restart after the first, plus that one.
        assert_eq!(gaps, [0, 10, 20, 40, 80]);
        let kinds: Vec<(&str, u32)> = r
            .events
            .iter()
            .map(|e| (e.reason.as_str(), e.count))
            .collect();
        assert!(kinds.contains(&("BackOff", gaps.len() as u32)), "{kinds:?}");
        assert!(
            kinds.contains(&("Started", gaps.len() as u32 + 1)),
            "{kinds:?}"
        );
    }

    #[test]
    fn in_back_off_the_record_says_until_when_and_emits_back_off_once() {
        let p = pod("Always");
        // First exit: restarted at once.
        let (mut r, go) = step(&crash("exited", 1, 1, 2), &p, None, 2);
        assert!(go);
        started(&mut r, &crash("running", 0, 2, 0), 2);
        // Second exit at 3: wait 10 s, until 13.
        let (r, go) = step(&crash("exited", 1, 2, 3), &p, Some(&r), 4);
        assert!(!go);
        let b = r.back_off.clone().unwrap();
        assert_eq!(
            (b.delay_seconds, b.until.as_str()),
            (10, format_secs(13).as_str())
        );
        let (r2, go) = step(&crash("exited", 1, 2, 3), &p, Some(&r), 12);
        assert!(!go);
        assert_eq!(
            r2.events, r.events,
            "no second BackOff event for the same wait"
        );
        let (r3, go) = step(&crash("exited", 1, 2, 3), &p, Some(&r2), 13);
        assert!(go);
        assert_eq!(r3.back_off_entry.unwrap().delay_seconds, 20);
        assert_eq!(
            back_off_message(10, "app", "p", "default", "u1"),
            "back-off 10s restarting failed container=app pod=p_default(u1)"
        );
    }

    #[test]
    fn never_and_on_failure() {
        // Never: recorded, never restarted.
        let (r, go) = step(&crash("exited", 1, 1, 2), &pod("Never"), None, 5);
        assert!(!go);
        assert_eq!(r.restart_count, 0);
        assert_eq!(r.last_termination.unwrap().reason, "Error");
        // OnFailure: a failure restarts, a success does not.
        assert!(step(&crash("exited", 2, 1, 2), &pod("OnFailure"), None, 5).1);
        let (r, go) = step(&crash("exited", 0, 1, 2), &pod("OnFailure"), None, 5);
        assert!(!go);
        assert_eq!(r.last_termination.unwrap().reason, "Completed");
        // Always restarts a success too.
        assert!(step(&crash("exited", 0, 1, 2), &pod("Always"), None, 5).1);
        // OOM kill.
        let mut s = crash("exited", 137, 1, 2);
        s.oom_killed = true;
        assert_eq!(
            step(&s, &pod("Never"), None, 5)
                .0
                .last_termination
                .unwrap()
                .reason,
            "OOMKilled"
        );
    }

    #[test]
    fn no_restart_without_a_sandbox_and_a_new_id_is_a_new_record() {
        let mut p = pod("Always");
        p.sandbox_running = false;
        assert!(!step(&crash("exited", 1, 1, 2), &p, None, 5).1);
        let (mut r, _) = step(&crash("exited", 1, 1, 2), &pod("Always"), None, 5);
        started(&mut r, &crash("running", 0, 5, 0), 5);
        let mut other = crash("running", 0, 9, 0);
        other.id = "def".into();
        let (r2, _) = step(&other, &pod("Always"), Some(&r), 10);
        assert_eq!((r2.id.as_str(), r2.restart_count), ("def", 0));
        let reasons: Vec<&str> = r2.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["Pulled", "Created", "Started"]);
    }

    #[test]
    fn records_of_vanished_containers_are_dropped_and_events_are_bounded() {
        let mut prev = NodeRecords::default();
        prev.containers
            .insert("gone".into(), ContainerRecord::default());
        let s = crash("running", 0, 1, 0);
        let mut pods = BTreeMap::new();
        pods.insert(("default".into(), "p".into()), pod("Always"));
        let (out, start) = supervise(std::slice::from_ref(&s), &pods, &prev, 5);
        assert!(start.is_empty());
        assert_eq!(
            out.containers.keys().collect::<Vec<_>>(),
            ["k8s_app_p_default"]
        );
        let mut r = ContainerRecord::default();
        for i in 0..100 {
            push_event(&mut r, "Normal", "X", format!("m{i}"), &format_secs(i));
        }
        assert_eq!(r.events.len(), MAX_EVENTS);
        assert_eq!(r.events.last().unwrap().message, "m99");
    }

    /// A container apply is stopping exits on SIGTERM: it is not started again, its exit is recorded, no
    /// back-off is counted, and `Killing` is recorded once however many polls see it.
    #[test]
    fn containers_apply_is_deleting_are_never_restarted() {
        let pods: BTreeMap<_, _> =
            [(("default".to_string(), "p".to_string()), pod("Always"))].into();
        let running = crash("running", 0, 10, 0);
        let terminating: std::collections::BTreeSet<String> = ["abc".to_string()].into();
        let (recs, starts) = supervise_with_terminating(
            &[running],
            &pods,
            &NodeRecords::default(),
            20,
            &terminating,
        );
        assert!(starts.is_empty());
        let killing = |r: &ContainerRecord| {
            r.events
                .iter()
                .filter(|e| e.reason == "Killing")
                .map(|e| e.count)
                .sum::<u32>()
        };
        assert_eq!(killing(&recs.containers["k8s_app_p_default"]), 1);
        let mut prev = recs;
        for now in 21..40 {
            let exited = crash("exited", 143, 10, 21);
            let (next, starts) =
                supervise_with_terminating(&[exited], &pods, &prev, now, &terminating);
            assert!(starts.is_empty(), "restarted at {now}");
            prev = next;
        }
        let r = &prev.containers["k8s_app_p_default"];
        assert_eq!((r.restart_count, killing(r)), (0, 1));
        assert_eq!(r.last_termination.as_ref().map(|t| t.exit_code), Some(143));
        assert!(r.back_off.is_none() && r.back_off_entry.is_none());
        assert!(!r.events.iter().any(|e| e.reason == "BackOff"));
        // The same exit of a container nobody is deleting is restarted at once (the race this closes).
        let (_, starts) = supervise_with_terminating(
            &[crash("exited", 143, 10, 21)],
            &pods,
            &NodeRecords::default(),
            22,
            &Default::default(),
        );
        assert_eq!(starts, ["k8s_app_p_default"]);
    }

    /// Back after an absence longer than the pod tolerates: its exited container is held (not started,
    /// no back-off) poll after poll, until it runs again (apply started it); a pod that tolerates the
    /// absence, or one nothing replaces, is restarted at once as before.
    #[test]
    fn a_returning_host_holds_what_may_have_been_replaced_until_apply_decides() {
        let mut tolerant = pod("Always");
        tolerant.evicted_after = Some(600);
        let mut daemon = pod("Always");
        daemon.evicted_after = None;
        let pods: BTreeMap<_, _> = [
            (("default".to_string(), "p".to_string()), pod("Always")),
            (("default".to_string(), "t".to_string()), tolerant),
            (("default".to_string(), "d".to_string()), daemon),
        ]
        .into();
        let exited = |p: &str| Seen {
            id: format!("id-{p}"),
            name: format!("k8s_app_{p}_default"),
            pod: p.into(),
            ..crash("exited", 255, 10, 20)
        };
        let seen = [exited("p"), exited("t"), exited("d")];
        let prev = NodeRecords {
            written_at: format_secs(20),
            ..Default::default()
        };
        let none = Default::default();
        // Away 100 s: more than p's 60 s, less than t's 600 s; d is never evicted.
        let (recs, starts) = supervise_holding(&seen, &pods, &prev, 120, &none, Some(100));
        assert_eq!(starts, ["k8s_app_t_default", "k8s_app_d_default"]);
        let held = &recs.containers["k8s_app_p_default"];
        assert_eq!(held.held_since.as_deref(), Some(format_secs(120).as_str()));
        assert!(held.back_off.is_none() && held.back_off_entry.is_none());
        assert_eq!(
            held.last_termination.as_ref().map(|t| t.exit_code),
            Some(255)
        );
        // Later polls (no absence to judge any more) keep holding it.
        let mut prev = recs;
        for now in 121..140 {
            let (next, starts) = supervise_holding(&[exited("p")], &pods, &prev, now, &none, None);
            assert!(starts.is_empty(), "started at {now}");
            prev = next;
        }
        assert_eq!(prev.containers["k8s_app_p_default"].restart_count, 0);
        // apply started it: the hold is over, and its next exit is restarted by the rules.
        let running = Seen {
            status: "running".into(),
            ..exited("p")
        };
        let (next, _) = supervise_holding(&[running], &pods, &prev, 141, &none, None);
        assert_eq!(next.containers["k8s_app_p_default"].held_since, None);
        let again = Seen {
            finished_at: format_secs(150),
            ..exited("p")
        };
        let (_, starts) = supervise_holding(&[again], &pods, &next, 151, &none, None);
        assert_eq!(starts, ["k8s_app_p_default"]);
        // Away no longer than the tolerance (a restart of the supervisor, a short outage): no hold.
        let (_, starts) = supervise_holding(&seen, &pods, &prev_at(20), 80, &none, Some(60));
        assert_eq!(starts.len(), 3);
    }

    fn prev_at(secs: i64) -> NodeRecords {
        NodeRecords {
            written_at: format_secs(secs),
            ..Default::default()
        }
    }
}
