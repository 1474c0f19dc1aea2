//! The view layer: observed containers and desired objects → Kubernetes-shaped objects carrying a `status`,
//! the way an API server + kubelet would report them, so `output` can print them like kubectl.
//!
//! Owns: pod status from docker state (phase per kubelet `getPhase`, conditions, container states),
//! Pending pods for unschedulable replicas, Deployment/ReplicaSet status from their pods, and kubectl's
//! pod READY / STATUS / RESTARTS cells. Pure: no IO, no clock (`now` is passed in where needed), no printing.
//!
//! There is no API server: a Deployment's or ReplicaSet's `creationTimestamp` (when the manifest has none) is
//! the creation time of its oldest pod, and `hostIP` is left to the caller (it knows the inventory).

pub mod job;

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet, ReplicaSetStatus,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Node, Pod, PodCondition, PodIP, PodSpec, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::age::human_duration;
use crate::model::ObservedPod;
use crate::quantity::Quantity;
use crate::selector::Selector;

/// Label the ReplicaSet controller puts on its pods and ReplicaSets.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// A docker timestamp (`2024-01-01T10:00:00.123456789Z`); empty and Go's zero time mean "never".
fn parse_time(s: &str) -> Option<Time> {
    if s.is_empty() || s.starts_with("0001-01-01") {
        return None;
    }
    s.parse::<Timestamp>().ok().map(Time)
}

fn api_version_for(kind: &str) -> &'static str {
    match kind {
        "ReplicaSet" | "Deployment" | "DaemonSet" | "StatefulSet" => "apps/v1",
        "Job" | "CronJob" => "batch/v1",
        _ => "v1",
    }
}

/// One container's status from what docker reports. `restart_policy` decides how an exited container looks:
/// one that the policy restarts is, between attempts, in kubelet's CrashLoopBackOff.
fn container_status(
    name: &str,
    image: &str,
    c: Option<&crate::model::ObservedContainer>,
    restart_policy: &str,
    node_reachable: bool,
    uid: &str,
) -> ContainerStatus {
    let Some(c) = c else {
        // Desired but not (yet) on the host — or on a host that cannot be read, where nothing is known
        // (no state, so kubectl's STATUS falls back to the phase: `Unknown`).
        return ContainerStatus {
            name: name.to_string(),
            image: image.to_string(),
            ready: false,
            restart_count: 0,
            started: Some(false),
            state: node_reachable.then(|| waiting("ContainerCreating", None)),
            ..Default::default()
        };
    };
    let started_at = parse_time(&c.started_at);
    let finished_at = parse_time(&c.finished_at);
    let terminated = |exit_code: i32| ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code,
            reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.to_string()),
            started_at: started_at.clone(),
            finished_at: finished_at.clone(),
            container_id: Some(format!("docker://{}", c.id)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let restarts = i32::try_from(c.restart_count).unwrap_or(i32::MAX);
    if let Some(r) = c.record.as_ref() {
        return recorded_status(name, c, r, restart_policy, node_reachable, uid);
    }
    // The previous run is known only when it finished at least once.
    let last_terminated = (restarts > 0 && finished_at.is_some()).then(|| terminated(c.exit_code));
    let policy_restarts = match restart_policy {
        "Never" => false,
        "OnFailure" => c.exit_code != 0,
        _ => true,
    };
    let (state, last_state, ready) = match c.status.as_str() {
        "running" => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: started_at.clone(),
                }),
                ..Default::default()
            },
            last_terminated,
            true,
        ),
        // docker has no pause in the CRI vocabulary: the process exists but serves nothing.
        "paused" => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: started_at.clone(),
                }),
                ..Default::default()
            },
            last_terminated,
            false,
        ),
        // Between two attempts of docker's restart policy: kubelet's back-off.
        "restarting" => (
            waiting("CrashLoopBackOff", None),
            Some(terminated(c.exit_code)),
            false,
        ),
        "exited" | "dead" if policy_restarts && restarts > 0 => (
            waiting("CrashLoopBackOff", None),
            Some(terminated(c.exit_code)),
            false,
        ),
        "exited" | "dead" => (terminated(c.exit_code), None, false),
        _ => {
            // `created` (or anything unknown): never started. A runtime error says why.
            let reason = if c.error.is_empty() {
                "ContainerCreating"
            } else if is_image_error(&c.error) {
                "ErrImagePull"
            } else {
                "RunContainerError"
            };
            let msg = (!c.error.is_empty()).then(|| c.error.clone());
            (waiting(reason, msg), last_terminated, false)
        }
    };
    let running = state.running.is_some();
    ContainerStatus {
        name: name.to_string(),
        image: c.image.clone(),
        image_id: String::new(),
        container_id: Some(format!("docker://{}", c.id)),
        ready: ready && node_reachable,
        restart_count: restarts,
        started: Some(running),
        state: Some(state),
        last_state,
        ..Default::default()
    }
}

fn terminated_from(t: &crate::model::Termination, id: &str) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()).filter(|r| !r.is_empty()),
            started_at: parse_time(&t.started_at),
            finished_at: parse_time(&t.finished_at),
            container_id: Some(format!("docker://{id}")),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A container the node supervisor keeps a record of: restarts, last termination and back-off come from
/// the record (docs/node-supervisor.md), the current state from docker.
fn recorded_status(
    name: &str,
    c: &crate::model::ObservedContainer,
    r: &crate::model::ContainerRecord,
    restart_policy: &str,
    node_reachable: bool,
    uid: &str,
) -> ContainerStatus {
    let restarts = i32::try_from(r.restart_count).unwrap_or(i32::MAX);
    let last = r
        .last_termination
        .as_ref()
        .filter(|_| restarts > 0)
        .map(|t| terminated_from(t, &c.id));
    let (state, last_state, ready) = match c.status.as_str() {
        "running" | "paused" => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: parse_time(&c.started_at),
                }),
                ..Default::default()
            },
            last,
            c.status == "running",
        ),
        "exited" | "dead" => {
            let exit = r
                .last_termination
                .clone()
                .unwrap_or_else(|| crate::model::Termination {
                    exit_code: c.exit_code,
                    reason: crate::supervisor::decide::exit_reason(c.exit_code, false).to_string(),
                    started_at: c.started_at.clone(),
                    finished_at: c.finished_at.clone(),
                });
            match &r.back_off {
                // Waiting out the crash back-off: the kubelet's CrashLoopBackOff.
                Some(b)
                    if crate::supervisor::decide::policy_restarts(
                        restart_policy,
                        exit.exit_code,
                    ) =>
                {
                    let msg = crate::supervisor::decide::back_off_message(
                        b.delay_seconds,
                        name,
                        c.label(crate::model::labels::POD).unwrap_or(""),
                        c.label(crate::model::labels::NAMESPACE).unwrap_or(""),
                        uid,
                    );
                    (
                        waiting("CrashLoopBackOff", Some(msg)),
                        Some(terminated_from(&exit, &c.id)),
                        false,
                    )
                }
                // Done for good (Never, OnFailure after success), or about to be restarted.
                _ => (
                    terminated_from(&exit, &c.id),
                    r.previous_termination
                        .as_ref()
                        .filter(|_| restarts > 0)
                        .map(|t| terminated_from(t, &c.id)),
                    false,
                ),
            }
        }
        _ => (waiting("ContainerCreating", None), last, false),
    };
    let running = state.running.is_some();
    ContainerStatus {
        name: name.to_string(),
        image: c.image.clone(),
        image_id: String::new(),
        container_id: Some(format!("docker://{}", c.id)),
        ready: ready && node_reachable,
        restart_count: restarts,
        started: Some(running),
        state: Some(state),
        last_state,
        ..Default::default()
    }
}

fn is_image_error(e: &str) -> bool {
    let e = e.to_ascii_lowercase();
    e.contains("pull") || e.contains("no such image") || e.contains("manifest unknown")
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message,
        }),
        ..Default::default()
    }
}

/// kubelet's `getPhase` over regular containers (no init containers in clusterctl pods yet).
pub fn pod_phase(statuses: &[ContainerStatus], restart_policy: &str) -> &'static str {
    let (mut running, mut stopped, mut succeeded, mut waiting_n, mut unknown) = (0, 0, 0, 0, 0);
    for s in statuses {
        let state = s.state.as_ref();
        match state {
            Some(st) if st.running.is_some() => running += 1,
            Some(st) if st.terminated.is_some() => {
                stopped += 1;
                if st.terminated.as_ref().is_some_and(|t| t.exit_code == 0) {
                    succeeded += 1;
                }
            }
            Some(st) if st.waiting.is_some() => {
                if s.last_state
                    .as_ref()
                    .is_some_and(|l| l.terminated.is_some())
                {
                    stopped += 1;
                } else {
                    waiting_n += 1;
                }
            }
            _ => unknown += 1,
        }
    }
    if waiting_n > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        return match restart_policy {
            "Never" if succeeded == stopped => "Succeeded",
            "Never" => "Failed",
            "OnFailure" if succeeded == stopped => "Succeeded",
            "OnFailure" => "Running",
            _ => "Running",
        };
    }
    "Pending"
}

fn condition(type_: &str, ok: bool, time: Option<Time>) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        last_transition_time: time,
        ..Default::default()
    }
}

/// The pod as an API server would show it, from the containers found on its node.
pub fn pod_from_observed(p: &ObservedPod) -> Pod {
    let manifest = p.manifest.clone().unwrap_or_default();
    let mut metadata = manifest.metadata.clone();
    metadata.name = Some(p.name.clone());
    metadata.namespace = Some(p.namespace.clone());
    let sandbox = p.sandbox.as_ref();
    let created = sandbox.and_then(|s| parse_time(&s.created_at)).or_else(|| {
        p.containers
            .values()
            .find_map(|c| parse_time(&c.created_at))
    });
    // A pod on an unreachable host has no containers to date it: the roster's record does.
    let created = created.or_else(|| manifest.metadata.creation_timestamp.clone());
    metadata.creation_timestamp = created.clone();
    if metadata.owner_references.is_none()
        && let Some(owner) = &p.owner
    {
        metadata.owner_references = Some(vec![OwnerReference {
            api_version: api_version_for(&owner.kind).to_string(),
            kind: owner.kind.clone(),
            name: owner.name.clone(),
            uid: String::new(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
    }
    if let (Some(hash), Some(owner)) = (&p.template_hash, &p.owner)
        && owner.kind == "ReplicaSet"
    {
        metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .entry(POD_TEMPLATE_HASH.to_string())
            .or_insert_with(|| hash.clone());
    }
    if let (Some(hash), Some(owner)) = (&p.template_hash, &p.owner)
        && owner.kind == "DaemonSet"
    {
        metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .entry(crate::controllers::daemon::REVISION_LABEL.to_string())
            .or_insert_with(|| hash.clone());
    }

    let mut spec = manifest.spec.clone().unwrap_or_else(|| PodSpec {
        containers: p
            .containers
            .iter()
            .map(|(name, c)| Container {
                name: name.clone(),
                image: Some(c.image.clone()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    spec.node_name = Some(p.node.clone());
    let restart_policy = spec
        .restart_policy
        .clone()
        .unwrap_or_else(|| "Always".to_string());

    let statuses: Vec<ContainerStatus> = spec
        .containers
        .iter()
        .map(|c| {
            container_status(
                &c.name,
                c.image.as_deref().unwrap_or(""),
                p.containers.get(&c.name),
                &restart_policy,
                p.node_reachable,
                manifest.metadata.uid.as_deref().unwrap_or(""),
            )
        })
        .collect();
    // Readiness and startup probes (docs/probes.md): the node supervisor's record decides `ready` and
    // `started` of a container that has them.
    let mut statuses = statuses;
    for (st, c) in statuses.iter_mut().zip(&spec.containers) {
        if !crate::controllers::rollout::gates_ready(c) {
            continue;
        }
        let rec_ready = p
            .containers
            .get(&c.name)
            .and_then(|o| crate::controllers::rollout::probe_ready(p, o))
            .unwrap_or(false);
        st.ready = st.ready && rec_ready;
        if crate::supervisor::probe::specs(c, 0)
            .iter()
            .any(|s| s.kind == crate::supervisor::probe::Kind::Startup)
        {
            let started = p
                .containers
                .get(&c.name)
                .and_then(|o| o.record.as_ref())
                .is_some_and(|r| {
                    r.probes
                        .get("startup")
                        .is_some_and(|s| s.result == crate::supervisor::probe::SUCCESS)
                });
            st.started = Some(st.started == Some(true) && started);
        }
    }

    // Init containers (docs/manifests.md): one that failed is restarted by the supervisor with the crash
    // back-off unless the pod's policy is Never (`supervisor::init_seq`), so between attempts it is in
    // CrashLoopBackOff (STATUS `Init:CrashLoopBackOff`); a sidecar as its pod's policy says.
    let init_specs = spec.init_containers.clone().unwrap_or_default();
    let init_statuses: Vec<ContainerStatus> = init_specs
        .iter()
        .map(|c| {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            container_status(
                &c.name,
                c.image.as_deref().unwrap_or(""),
                p.containers.get(&c.name),
                if sidecar {
                    "Always"
                } else {
                    crate::supervisor::init_seq::init_policy(&restart_policy)
                },
                p.node_reachable,
                manifest.metadata.uid.as_deref().unwrap_or(""),
            )
        })
        .collect();
    let exit_of = |s: &ContainerStatus| {
        s.state
            .as_ref()
            .and_then(|st| st.terminated.as_ref())
            .map(|t| t.exit_code)
    };
    let init_done = init_specs.iter().zip(&init_statuses).all(|(c, s)| {
        if c.restart_policy.as_deref() == Some("Always") {
            s.started == Some(true)
        } else {
            exit_of(s) == Some(0)
        }
    });
    let init_failed = init_specs.iter().zip(&init_statuses).any(|(c, s)| {
        c.restart_policy.as_deref() != Some("Always") && exit_of(s).is_some_and(|e| e != 0)
    });
    if !init_done {
        // The kubelet's waiting reason of app containers while the pod initializes.
        for st in statuses.iter_mut() {
            if st
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                == Some("ContainerCreating")
            {
                st.state = Some(waiting("PodInitializing", None));
            }
        }
    }
    let phase = if !p.node_reachable {
        "Unknown"
    } else if !init_done && init_failed && restart_policy == "Never" {
        "Failed"
    } else if !init_done {
        "Pending"
    } else {
        pod_phase(&statuses, &restart_policy)
    };
    let all_ready = !statuses.is_empty() && statuses.iter().all(|s| s.ready);
    let ready_time = statuses
        .iter()
        .filter_map(|s| s.state.as_ref()?.running.as_ref()?.started_at.clone())
        .max();
    let mut ready_cond = condition(
        "Ready",
        all_ready && phase == "Running",
        ready_time.clone().or(created.clone()),
    );
    let mut containers_ready =
        condition("ContainersReady", all_ready, ready_time.or(created.clone()));
    if !all_ready {
        let unready: Vec<&str> = statuses
            .iter()
            .filter(|s| !s.ready)
            .map(|s| s.name.as_str())
            .collect();
        let (reason, message) = if phase == "Succeeded" || phase == "Failed" {
            ("PodCompleted".to_string(), None)
        } else {
            (
                "ContainersNotReady".to_string(),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            )
        };
        for c in [&mut ready_cond, &mut containers_ready] {
            c.reason = Some(reason.clone());
            c.message = message.clone();
        }
    }
    let start_time = sandbox
        .and_then(|s| parse_time(&s.started_at))
        .or(created.clone());
    // A hostNetwork sandbox has no address of its own on docker: its label holds the node's.
    let pod_ip = sandbox
        .and_then(|s| s.ip.clone())
        .filter(|ip| !ip.is_empty())
        .or_else(|| {
            sandbox
                .filter(|_| spec.host_network == Some(true))
                .and_then(|s| s.label(crate::model::labels::POD_IP))
                .map(str::to_string)
        });

    let mut pod = Pod {
        metadata,
        spec: Some(spec),
        status: Some(PodStatus {
            phase: Some(phase.to_string()),
            conditions: Some(vec![
                condition("Initialized", init_done, created.clone()),
                ready_cond,
                containers_ready,
                condition("PodScheduled", true, created.clone()),
            ]),
            pod_ip: pod_ip.clone(),
            pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
            start_time,
            container_statuses: Some(statuses),
            init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
            ..Default::default()
        }),
    };
    let qos = qos_class(&pod);
    if let Some(st) = pod.status.as_mut() {
        st.qos_class = Some(qos.to_string());
    }
    pod
}

/// A pod evicted from a lost host (`plan::node_loss`): the taint manager deleted it at `lost_at`, so it
/// has a deletion timestamp and shows `Terminating` until the host is back and apply removes it (kubectl
/// shows the pods of an unreachable node that were evicted so).
pub fn mark_evicted(pod: &mut Pod, lost_at: &str) {
    if let Some(t) = parse_time(lost_at) {
        pod.metadata.deletion_timestamp = Some(t);
        pod.metadata.deletion_grace_period_seconds = Some(0);
    }
}

/// The events the node supervisor recorded about the pod's containers (Pulled, Created, Started,
/// BackOff, …), oldest first by their last occurrence, as `describe pod` lists them.
pub fn pod_events(p: &ObservedPod) -> Vec<crate::model::RecordedEvent> {
    let mut out: Vec<crate::model::RecordedEvent> = p
        .containers
        .values()
        .filter_map(|c| c.record.as_ref())
        .flat_map(|r| r.events.iter().cloned())
        .collect();
    out.sort_by(|a, b| {
        parse_time(&a.last_timestamp)
            .cmp(&parse_time(&b.last_timestamp))
            .then_with(|| a.first_timestamp.cmp(&b.first_timestamp))
    });
    out
}

/// A desired pod the scheduler could not place: Pending, `PodScheduled=False` with reason `Unschedulable` and
/// the scheduler's message (`0/3 nodes are available: …`).
pub fn pending_pod(template: &Pod, name: &str, message: &str) -> Pod {
    let mut pod = template.clone();
    pod.metadata.name = Some(name.to_string());
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = None;
    }
    pod.status = Some(PodStatus {
        phase: Some("Pending".to_string()),
        conditions: Some(vec![PodCondition {
            type_: "PodScheduled".to_string(),
            status: "False".to_string(),
            reason: Some("Unschedulable".to_string()),
            message: Some(message.to_string()),
            ..Default::default()
        }]),
        ..Default::default()
    });
    let qos = qos_class(&pod);
    if let Some(st) = pod.status.as_mut() {
        st.qos_class = Some(qos.to_string());
    }
    pod
}

/// kubectl's ROLES: the `<role>` of every `node-role.kubernetes.io/<role>` label key plus the legacy
/// `kubernetes.io/role` value, sorted and deduplicated (empty: kubectl prints `<none>`).
pub fn node_roles(node: &Node) -> Vec<String> {
    let mut roles: Vec<String> = Vec::new();
    for (k, v) in node.metadata.labels.iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role.to_string());
            }
        } else if k == "kubernetes.io/role" && !v.is_empty() {
            roles.push(v.clone());
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

fn pod_labels(p: &Pod) -> BTreeMap<String, String> {
    p.metadata.labels.clone().unwrap_or_default()
}

fn is_active(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    p.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// `Ready` condition is True.
pub fn is_pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

fn oldest(pods: &[&Pod]) -> Option<Time> {
    pods.iter()
        .filter_map(|p| p.metadata.creation_timestamp.clone())
        .min()
}

fn selected<'a>(
    ns: Option<&str>,
    selector: Option<&LabelSelector>,
    pods: &'a [Pod],
) -> Vec<&'a Pod> {
    let ns = ns.unwrap_or("default");
    let selector = Selector::of(selector);
    pods.iter()
        .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == ns)
        .filter(|p| selector.matches(&pod_labels(p)))
        .collect()
}

/// A ReplicaSet with `status` counted from the pods its selector matches (owned by it when they say so).
pub fn replica_set_with_status(rs: &ReplicaSet, pods: &[Pod]) -> ReplicaSet {
    let mut rs = rs.clone();
    let spec = rs.spec.clone().unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    let mine: Vec<&Pod> = selected(rs.metadata.namespace.as_deref(), Some(&spec.selector), pods)
        .into_iter()
        .filter(|p| {
            // A pod that names its controller must name this one.
            p.metadata
                .owner_references
                .as_ref()
                .and_then(|o| o.iter().find(|o| o.controller == Some(true)))
                .is_none_or(|o| o.kind == "ReplicaSet" && o.name == name)
        })
        .filter(|p| is_active(p))
        .collect();
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully_labeled = mine
        .iter()
        .filter(|p| {
            let l = pod_labels(p);
            template_labels.iter().all(|(k, v)| l.get(k) == Some(v))
        })
        .count() as i32;
    let ready = mine.iter().filter(|p| is_pod_ready(p)).count() as i32;
    if rs.metadata.creation_timestamp.is_none() {
        rs.metadata.creation_timestamp = oldest(&mine);
    }
    rs.status = Some(ReplicaSetStatus {
        replicas: mine.len() as i32,
        fully_labeled_replicas: nonzero(fully_labeled),
        ready_replicas: nonzero(ready),
        // minReadySeconds is not tracked (no clock here): a ready pod counts as available.
        available_replicas: nonzero(ready),
        observed_generation: rs.metadata.generation,
        ..Default::default()
    });
    rs
}

/// Resolves an int-or-percent against `total`; percentages round down for maxUnavailable.
fn resolve(v: Option<&IntOrString>, total: i32, default_percent: i32) -> i32 {
    match v {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i32>().ok())
            .map_or(0, |p| total * p / 100),
        None => total * default_percent / 100,
    }
}

/// A Deployment with `status` counted from its pods. The current ReplicaSet is the one among `rss` whose pod
/// template spec equals the Deployment's (else the first); pods carrying its `pod-template-hash` are
/// "updated".
pub fn deployment_with_status(d: &Deployment, rss: &[ReplicaSet], pods: &[Pod]) -> Deployment {
    let mut d = d.clone();
    let spec = d.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let current = rss
        .iter()
        .find(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.spec.as_ref())
                == spec.template.spec.as_ref()
        })
        .or_else(|| rss.first());
    let current_hash = current.and_then(|rs| {
        rs.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH).cloned())
            .or_else(|| {
                let name = rs.metadata.name.as_deref()?;
                let prefix = format!("{}-", d.metadata.name.as_deref()?);
                name.strip_prefix(&prefix).map(str::to_string)
            })
    });
    let current_name = current
        .and_then(|rs| rs.metadata.name.clone())
        .unwrap_or_default();
    let mine: Vec<&Pod> = selected(d.metadata.namespace.as_deref(), Some(&spec.selector), pods)
        .into_iter()
        .filter(|p| is_active(p))
        .collect();
    let updated = mine
        .iter()
        .filter(|p| {
            current_hash.is_some() && pod_labels(p).get(POD_TEMPLATE_HASH) == current_hash.as_ref()
        })
        .count() as i32;
    let ready = mine.iter().filter(|p| is_pod_ready(p)).count() as i32;
    let available = ready;
    let total = mine.len() as i32;
    let max_unavailable = match spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) {
        Some("Recreate") => 0,
        _ => resolve(
            spec.strategy
                .as_ref()
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.max_unavailable.as_ref()),
            desired,
            25,
        ),
    };
    if d.metadata.creation_timestamp.is_none() {
        d.metadata.creation_timestamp = oldest(&mine);
    }
    let time = oldest(&mine);
    let available_ok = available >= desired - max_unavailable;
    let available_cond = DeploymentCondition {
        type_: "Available".to_string(),
        status: if available_ok { "True" } else { "False" }.to_string(),
        reason: Some(
            if available_ok {
                "MinimumReplicasAvailable"
            } else {
                "MinimumReplicasUnavailable"
            }
            .to_string(),
        ),
        message: Some(
            if available_ok {
                "Deployment has minimum availability."
            } else {
                "Deployment does not have minimum availability."
            }
            .to_string(),
        ),
        last_transition_time: time.clone(),
        last_update_time: time.clone(),
    };
    let complete = updated == desired && total == desired && available == desired;
    let progressing_cond = DeploymentCondition {
        type_: "Progressing".to_string(),
        status: "True".to_string(),
        reason: Some(
            if complete {
                "NewReplicaSetAvailable"
            } else {
                "ReplicaSetUpdated"
            }
            .to_string(),
        ),
        message: Some(if complete {
            format!("ReplicaSet \"{current_name}\" has successfully progressed.")
        } else {
            format!("ReplicaSet \"{current_name}\" is progressing.")
        }),
        last_transition_time: time.clone(),
        last_update_time: time,
    };
    d.status = Some(DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nonzero(total),
        updated_replicas: nonzero(updated),
        ready_replicas: nonzero(ready),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero((desired - available).max(0)),
        conditions: Some(vec![available_cond, progressing_cond]),
        ..Default::default()
    });
    d
}

// ---- kubectl's pod cells (printers.go printPod) -------------------------------------------------------------

/// Everything printPod derives from a pod's status, computed in one pass as kubectl does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodCells {
    /// `ready/total`
    pub ready: String,
    pub status: String,
    /// `n` or `n (Xm ago)`
    pub restarts: String,
}

/// READY, STATUS and RESTARTS exactly as `kubectl get pods` computes them (init containers included).
pub fn pod_cells(pod: &Pod, now: Timestamp) -> PodCells {
    let empty = PodStatus::default();
    let status = pod.status.as_ref().unwrap_or(&empty);
    let spec = pod.spec.clone().unwrap_or_default();
    let init_specs = spec.init_containers.clone().unwrap_or_default();
    let restartable = |name: &str| {
        init_specs
            .iter()
            .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
    };
    let statuses = status.container_statuses.clone().unwrap_or_default();
    let mut total = if pod.spec.is_some() {
        spec.containers.len()
    } else {
        statuses.len()
    };
    total += init_specs
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .count();
    let mut ready = 0;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<Time> = None;
    let mut sidecar_last_restart: Option<Time> = None;
    let phase = status.phase.clone().unwrap_or_default();
    let mut reason = status
        .reason
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| phase.clone());
    let conditions = status.conditions.clone().unwrap_or_default();
    if conditions
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".to_string();
    }
    let later = |acc: &mut Option<Time>, s: &ContainerStatus| {
        if let Some(t) = s
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.finished_at.clone())
            && acc.as_ref().is_none_or(|a| *a < t)
        {
            *acc = Some(t);
        }
    };

    let init_statuses = status.init_container_statuses.clone().unwrap_or_default();
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += i64::from(c.restart_count);
        later(&mut last_restart, c);
        let sidecar = restartable(&c.name);
        if sidecar {
            sidecar_restarts += i64::from(c.restart_count);
            later(&mut sidecar_last_restart, c);
        }
        let state = c.state.clone().unwrap_or_default();
        if state.terminated.as_ref().is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if sidecar && c.started == Some(true) {
            if c.ready {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = &state.terminated {
            reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if t.signal.unwrap_or(0) != 0 => {
                    format!("Init:Signal:{}", t.signal.unwrap_or(0))
                }
                None => format!("Init:ExitCode:{}", t.exit_code),
            };
        } else if let Some(r) = state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.as_deref())
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    let initialized = conditions
        .iter()
        .any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for c in statuses.iter().rev() {
            restarts += i64::from(c.restart_count);
            later(&mut last_restart, c);
            let state = c.state.clone().unwrap_or_default();
            if let Some(r) = state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty())
            {
                reason = r;
            } else if let Some(t) = &state.terminated {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None if t.signal.unwrap_or(0) != 0 => {
                        format!("Signal:{}", t.signal.unwrap_or(0))
                    }
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if is_pod_ready(pod) {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        if status.reason.as_deref() == Some("NodeLost") {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_str = match (&last_restart, restarts) {
        (Some(t), n) if n != 0 => format!("{n} ({} ago)", human_duration(now.duration_since(t.0))),
        (_, n) => n.to_string(),
    };
    PodCells {
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts: restarts_str,
    }
}

// ---- QoS ---------------------------------------------------------------------------------------------------

/// Requests as the API server stores them: a limit without a request defaults the request to the limit.
pub fn effective_requests(c: &Container) -> BTreeMap<String, String> {
    let res = c.resources.clone().unwrap_or_default();
    let mut req: BTreeMap<String, String> = res
        .requests
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in res.limits.unwrap_or_default() {
        req.entry(k).or_insert(v.0);
    }
    req
}

fn limits(c: &Container) -> BTreeMap<String, String> {
    c.resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// The pod's QoS class (`Guaranteed`, `Burstable`, `BestEffort`), by kubectl's `qos.GetPodQOS` rules over cpu
/// and memory of all containers (init included).
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let mut requests: BTreeMap<&str, i128> = BTreeMap::new();
    let mut lims: BTreeMap<&str, i128> = BTreeMap::new();
    let mut guaranteed = true;
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in containers {
        for (name, v) in effective_requests(c) {
            let key = match name.as_str() {
                "cpu" => "cpu",
                "memory" => "memory",
                _ => continue,
            };
            let m = Quantity::parse(&v).map_or(0, |q| i128::from(q.milli_value()));
            if m > 0 {
                *requests.entry(key).or_default() += m;
            }
        }
        let mut found = (false, false);
        for (name, v) in limits(c) {
            let key = match name.as_str() {
                "cpu" => "cpu",
                "memory" => "memory",
                _ => continue,
            };
            let m = Quantity::parse(&v).map_or(0, |q| i128::from(q.milli_value()));
            if m > 0 {
                *lims.entry(key).or_default() += m;
                if key == "cpu" {
                    found.0 = true;
                } else {
                    found.1 = true;
                }
            }
        }
        if !(found.0 && found.1) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && lims.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests.iter().all(|(k, v)| lims.get(k) == Some(v))
        && requests.len() == lims.len()
    {
        return "Guaranteed";
    }
    "Burstable"
}

/// The first `ObjectMeta` label value, for callers that need a pod's label without cloning the map.
pub fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// A DaemonSet with `status` counted as the controller does (`updateDaemonSetStatus`) from the nodes it
/// should run on (`should_run`, decided by the planner's `scheduler::daemon_fit`) and its pods: per such
/// node its oldest pod counts as scheduled, ready, available (minReadySeconds is not tracked) and
/// up to date when it carries the current `revision` hash; pods on other nodes are misscheduled.
pub fn daemon_set_with_status(
    ds: &k8s_openapi::api::apps::v1::DaemonSet,
    should_run: &[String],
    revision: &str,
    pods: &[Pod],
) -> k8s_openapi::api::apps::v1::DaemonSet {
    let mut ds = ds.clone();
    let name = ds.metadata.name.clone().unwrap_or_default();
    let ns = ds
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let mine: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == ns)
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true) && o.kind == "DaemonSet" && o.name == name)
        })
        .filter(|p| is_active(p))
        .collect();
    let node_of = |p: &Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    let (mut current, mut ready, mut updated, mut misscheduled) = (0, 0, 0, 0);
    for p in &mine {
        if !should_run.contains(&node_of(p)) {
            misscheduled += 1;
        }
    }
    for node in should_run {
        let mut on: Vec<&&Pod> = mine.iter().filter(|p| &node_of(p) == node).collect();
        on.sort_by_key(|p| p.metadata.creation_timestamp.clone());
        let Some(p) = on.first() else { continue };
        current += 1;
        if is_pod_ready(p) {
            ready += 1;
        }
        if label(&p.metadata, crate::controllers::daemon::REVISION_LABEL) == Some(revision) {
            updated += 1;
        }
    }
    let desired = should_run.len() as i32;
    if ds.metadata.creation_timestamp.is_none() {
        ds.metadata.creation_timestamp = oldest(&mine);
    }
    ds.status = Some(k8s_openapi::api::apps::v1::DaemonSetStatus {
        desired_number_scheduled: desired,
        current_number_scheduled: current,
        number_ready: ready,
        number_available: nonzero(ready),
        number_unavailable: nonzero(desired - ready),
        number_misscheduled: misscheduled,
        updated_number_scheduled: nonzero(updated),
        observed_generation: ds.metadata.generation,
        ..Default::default()
    });
    ds
}

#[cfg(test)]
mod status_tests;

/// A desired pod that is not on its node because its image could not be pulled there: Pending, each container
/// whose image the host's record names waiting in `ErrImagePull` (the round that tried failed, with the
/// registry's message) or `ImagePullBackOff` (a later round was held back by the image back-off), the others
/// in `ContainerCreating` — as the kubelet reports a pod whose pull failed.
pub fn image_pull_pod(
    template: &Pod,
    name: &str,
    node: &str,
    failures: &[crate::model::PullFailure],
) -> Pod {
    let mut pod = template.clone();
    pod.metadata.name = Some(name.to_string());
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node.to_string());
    }
    let statuses = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            let image = c.image.clone().unwrap_or_default();
            let state = match failures.iter().find(|f| f.image == image) {
                Some(f) if f.backing_off => waiting(
                    "ImagePullBackOff",
                    Some(format!("Back-off pulling image \"{image}\"")),
                ),
                Some(f) => waiting("ErrImagePull", Some(f.message.clone())),
                None => waiting("ContainerCreating", None),
            };
            ContainerStatus {
                name: c.name.clone(),
                image,
                ready: false,
                started: Some(false),
                state: Some(state),
                ..Default::default()
            }
        })
        .collect();
    pod.status = Some(PodStatus {
        phase: Some("Pending".to_string()),
        container_statuses: Some(statuses),
        ..Default::default()
    });
    let qos = qos_class(&pod);
    if let Some(st) = pod.status.as_mut() {
        st.qos_class = Some(qos.to_string());
    }
    pod
}

/// The kubelet's events for a failed pull (`describe pod`): Pulling, Failed with the registry's message,
/// `Error: ErrImagePull`, and once the back-off holds a round back, BackOff and `Error: ImagePullBackOff`.
pub fn image_pull_events(f: &crate::model::PullFailure) -> Vec<crate::model::RecordedEvent> {
    let ev = |type_: &str, reason: &str, message: String, count: u32| crate::model::RecordedEvent {
        type_: type_.to_string(),
        reason: reason.to_string(),
        message,
        first_timestamp: f.last_failure.clone(),
        last_timestamp: f.last_failure.clone(),
        count,
    };
    let image = &f.image;
    let mut out = vec![
        ev(
            "Normal",
            "Pulling",
            format!("Pulling image \"{image}\""),
            f.failures,
        ),
        ev(
            "Warning",
            "Failed",
            format!("Failed to pull image \"{image}\": {}", f.message),
            f.failures,
        ),
        ev(
            "Warning",
            "Failed",
            "Error: ErrImagePull".to_string(),
            f.failures,
        ),
    ];
    if f.backing_off {
        out.push(ev(
            "Normal",
            "BackOff",
            format!("Back-off pulling image \"{image}\""),
            1,
        ));
        out.push(ev(
            "Warning",
            "Failed",
            "Error: ImagePullBackOff".to_string(),
            1,
        ));
    }
    out
}
