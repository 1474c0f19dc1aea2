//! The plan: a pure diff of desired pods (bound to nodes by the scheduler) against observed state.
//! A plan is a serializable value — every change carries its reason and the exact remote commands
//! (`steps`) that apply will run, so what is shown is what is done. Sorted: same inputs, same bytes.

use serde::{Deserialize, Serialize};

use crate::transport::Cmd;

/// Version of the plan JSON schema (docs/plan-format.md).
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub format_version: u32,
    /// Git commit the desired state was read from.
    pub commit: String,
    pub changes: Vec<Change>,
    /// Desired pods that fit on no node, with kube-scheduler's message.
    pub pending: Vec<PendingPod>,
    /// Hosts that could not be reached; their pods are left alone.
    pub unreachable_nodes: Vec<String>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `+` a pod is created on a node.
    Create,
    /// `~` stopped containers of a pod are started again.
    Start,
    /// `-/+` a pod is destroyed and created again (its spec changed).
    Replace,
    /// `-` a pod is removed.
    Delete,
    /// `~` a host's network or service rules are brought in line.
    Update,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub action: Action,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub node: String,
    /// Why this change is needed, in words.
    pub reason: String,
    /// Attribute-level detail lines (`image: "nginx:1.14.2" → "nginx"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Commands run on `node`, in order.
    pub steps: Vec<Cmd>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingPod {
    pub namespace: String,
    pub name: String,
    /// `0/4 nodes are available: …` as kube-scheduler words it.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

/// Why a pod must go, or what is wrong with one that stays.
mod reasons {
    pub const NOT_DESIRED: &str = "no longer desired: its owner is gone from the repository";
    pub const EXTRA_REPLICA: &str = "extra replica: more pods than the desired replica count";
}

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::controllers::{self, PodNaming, PodSet};
use crate::model::{self, ObservedPod, ObservedState, OwnerRef};
use crate::runtime::{PodRun, Runtime};
use crate::scheduler::Scheduler;

/// Everything the planner needs. All pure data; runtimes only build commands.
pub struct PlanInput<'a> {
    pub commit: &'a str,
    pub pod_sets: &'a [PodSet],
    pub observed: &'a ObservedState,
    pub nodes: &'a [Node],
    /// The runtime (command builder) of each host, by node name.
    pub runtimes: &'a BTreeMap<String, Arc<dyn Runtime>>,
    /// The pod network and services; `None` plans pods on the runtime's default network only.
    pub network: Option<&'a NetworkInput<'a>>,
}

/// The pods the plan creates, bound to their nodes.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    /// New pods (spec.nodeName set), in plan order.
    pub created: Vec<BoundPod>,
    /// Services with their allocations and endpoints after the plan (empty without a network input).
    pub services: ServicesAfter,
}

#[derive(Debug, Clone)]
pub struct BoundPod {
    pub pod: Pod,
    pub owner: Option<OwnerRef>,
    pub template_hash: String,
    /// Planned address in the pod network.
    pub ip: Option<String>,
}

/// Computes the plan. Pure and deterministic: the same input gives the same plan, byte for byte.
pub fn compute(input: &PlanInput<'_>) -> Plan {
    compute_with_binding(input).0
}

pub fn compute_with_binding(input: &PlanInput<'_>) -> (Plan, Binding) {
    let observed = model::observed_pods(input.observed);
    let pod_cidrs: BTreeMap<String, String> = input
        .nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.clone()?, n.spec.as_ref()?.pod_cidr.clone()?)))
        .collect();
    let reachable: BTreeSet<&str> = input
        .observed
        .nodes
        .iter()
        .filter(|n| n.reachable)
        .map(|n| n.name.as_str())
        .collect();
    let unreachable_nodes: Vec<String> = input
        .observed
        .nodes
        .iter()
        .filter(|n| !n.reachable)
        .map(|n| n.name.clone())
        .collect();

    let mut claimed: BTreeSet<usize> = BTreeSet::new();
    let mut changes: Vec<Change> = Vec::new();
    let mut to_create: Vec<(&PodSet, String, Option<usize>)> = Vec::new(); // (set, name, replaces)
    let mut pending: Vec<PendingPod> = Vec::new();

    // Missing pods beyond what the nodes could ever hold are counted, not materialised one by one.
    let capacity = crate::scheduler::pod_capacity(input.nodes);
    let mut counted: Vec<(String, BTreeSet<String>, usize)> = Vec::new();
    for set in input.pod_sets {
        let members: Vec<usize> = observed
            .iter()
            .enumerate()
            .filter(|(_, p)| belongs_to(p, set))
            .map(|(i, _)| i)
            .collect();
        claimed.extend(members.iter().copied());

        // Pods of this set whose template no longer matches (bare pods edited in Git) are replaced in place.
        let mut current: Vec<usize> = Vec::new();
        let spec_hashes: Vec<String> = set
            .template
            .spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .map(move |c| controllers::container_spec_hash(s, c))
            })
            .collect();
        for &i in &members {
            let pod = &observed[i];
            if !pod.node_reachable {
                // Its host cannot be read: it still counts, and is left alone until the host is back.
                current.push(i);
                continue;
            }
            let why = drift(pod, set, &spec_hashes).or_else(|| {
                input
                    .network
                    .and_then(|_| network_drift(pod, pod_cidrs.get(&pod.node)))
            });
            match why {
                Some(why) => {
                    let name = pod.name.clone();
                    to_create.push((set, name, Some(i)));
                    changes.push(delete_change(pod, &why, input.runtimes, Action::Replace));
                }
                None => current.push(i),
            }
        }
        let replaced_here = members.len() - current.len();
        let desired = set.replicas as usize;
        let have = current.len() + replaced_here;
        if have > desired {
            let extra = pick_extras(&observed, &current, have - desired);
            for i in extra {
                changes.push(delete_change(
                    &observed[i],
                    reasons::EXTRA_REPLICA,
                    input.runtimes,
                    Action::Delete,
                ));
                current.retain(|&c| c != i);
            }
        }
        for &i in &current {
            let pod = &observed[i];
            if pod.node_reachable {
                if let Some(change) = start_change(pod, set, input.runtimes) {
                    changes.push(change);
                }
            }
        }
        let mut missing = desired.saturating_sub(current.len() + replaced_here);
        if missing > 0 {
            match &set.naming {
                PodNaming::Fixed(name) => {
                    to_create.push((set, name.clone(), None));
                    missing = 0;
                }
                PodNaming::Generated { prefix } => {
                    let taken: BTreeSet<&str> =
                        members.iter().map(|&i| observed[i].name.as_str()).collect();
                    let unplaceable = missing.saturating_sub(capacity + 1);
                    missing -= unplaceable;
                    let mut names = BTreeSet::new();
                    let mut ordinal = 0u32;
                    while missing > 0 {
                        let name = controllers::pod_name(prefix, ordinal);
                        ordinal += 1;
                        if !taken.contains(name.as_str()) {
                            if unplaceable > 0 {
                                names.insert(name.clone());
                            }
                            to_create.push((set, name, None));
                            missing -= 1;
                        }
                    }
                    if unplaceable > 0 {
                        counted.push((prefix.clone(), names, unplaceable));
                    }
                }
            }
        }
        debug_assert_eq!(missing, 0);
    }

    // Everything managed that no set claims is pruned (on hosts we can reach).
    for (i, pod) in observed.iter().enumerate() {
        if claimed.contains(&i) || !pod.node_reachable {
            continue;
        }
        let why = orphan_reason(pod, input.pod_sets);
        changes.push(delete_change(pod, &why, input.runtimes, Action::Delete));
    }

    // Schedule the new pods against what stays. Replacements keep their node when it still fits.
    let leaving: BTreeSet<(String, String, String)> = changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .map(|c| (c.namespace.clone(), c.name.clone(), c.node.clone()))
        .collect();
    let staying: Vec<Pod> = observed
        .iter()
        .filter(|p| !leaving.contains(&(p.namespace.clone(), p.name.clone(), p.node.clone())))
        .map(existing_pod)
        .collect();
    let mut scheduler = Scheduler::new(input.nodes, &staying);
    let mut binding = Binding::default();
    // Pod IPs: per node, the lowest free address, skipping those of pods that stay.
    let mut ips: BTreeMap<String, crate::network::PodIps> = BTreeMap::new();
    if input.network.is_some() {
        for (node, cidr) in &pod_cidrs {
            if let Some(mut alloc) = crate::network::PodIps::new(cidr) {
                for p in observed.iter().filter(|p| &p.node == node) {
                    if leaving.contains(&(p.namespace.clone(), p.name.clone(), p.node.clone())) {
                        continue;
                    }
                    if let Some(ip) = net::pod_ip(p) {
                        alloc.reserve(ip);
                    }
                }
                ips.insert(node.clone(), alloc);
            }
        }
    }
    // Deterministic order: by set order (already sorted by namespace/name), then pod name.
    to_create.sort_by(|a, b| (&a.0.namespace, &a.1).cmp(&(&b.0.namespace, &b.1)));
    for (set, name, replaces) in to_create {
        let mut pod = set.template.clone();
        pod.metadata.name = Some(name.clone());
        pod.metadata.namespace = Some(set.namespace.clone());
        let placement = match replaces {
            Some(i) if reachable.contains(observed[i].node.as_str()) => {
                let mut pinned = pod.clone();
                pinned.spec.get_or_insert_with(Default::default).node_name =
                    Some(observed[i].node.clone());
                scheduler
                    .schedule(&pinned)
                    .or_else(|_| scheduler.schedule(&pod))
            }
            _ => scheduler.schedule(&pod),
        };
        match placement {
            Ok(placed) => {
                pod.spec.get_or_insert_with(Default::default).node_name = Some(placed.node.clone());
                let ip = ips.get_mut(&placed.node).and_then(|a| a.take_next());
                let steps = create_steps(&pod, set, input, ip.as_deref());
                match replaces {
                    Some(i) => {
                        // Merge into the Replace change created above: destroy steps, then create steps.
                        let old = &observed[i];
                        if let Some(change) = changes.iter_mut().find(|c| {
                            c.action == Action::Replace && c.name == old.name && c.node == old.node
                        }) {
                            if change.node != placed.node {
                                change
                                    .details
                                    .push(format!("moves to node {}", placed.node));
                            }
                            change.steps.extend(steps);
                        }
                    }
                    None => changes.push(Change {
                        action: Action::Create,
                        kind: "Pod".into(),
                        namespace: set.namespace.clone(),
                        name: name.clone(),
                        node: placed.node.clone(),
                        reason: create_reason(set),
                        details: placement_details(&placed),
                        steps,
                    }),
                }
                binding.created.push(BoundPod {
                    pod,
                    owner: set.owner.clone(),
                    template_hash: set.template_hash.clone(),
                    ip,
                });
            }
            Err(fit) => {
                if let Some(i) = replaces {
                    // The replacement fits nowhere: keep the destroy (the old spec is not desired) and say so.
                    let old = &observed[i];
                    if let Some(change) = changes
                        .iter_mut()
                        .find(|c| c.name == old.name && c.node == old.node)
                    {
                        change.action = Action::Delete;
                        change
                            .details
                            .push(format!("replacement stays Pending: {}", fit.message));
                    }
                }
                pending.push(PendingPod {
                    namespace: set.namespace.clone(),
                    name,
                    message: fit.message,
                });
            }
        }
    }

    // A set cut short above: its Pending pods become one line with the count.
    for (prefix, names, unplaceable) in counted {
        let mut count = unplaceable;
        let mut last: Option<PendingPod> = None;
        pending.retain(|p| {
            let mine = names.contains(&p.name);
            if mine {
                count += 1;
                last = Some(p.clone());
            }
            !mine
        });
        if let Some(p) = last {
            pending.push(PendingPod {
                name: format!("{prefix}*"),
                message: format!("{count} pods Pending: {}", p.message),
                ..p
            });
        }
    }

    if let Some(net) = input.network {
        binding.services = net::plan_network(input, net, &observed, &mut changes, &binding);
    }
    changes.sort_by(|a, b| {
        (&a.namespace, &a.name, &a.node, a.action).cmp(&(&b.namespace, &b.name, &b.node, b.action))
    });
    pending.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let summary = summarize(&changes);
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        commit: input.commit.to_string(),
        changes,
        pending,
        unreachable_nodes,
        summary,
    };
    (plan, binding)
}

fn summarize(changes: &[Change]) -> Summary {
    let mut s = Summary::default();
    for c in changes {
        match c.action {
            Action::Create => s.add += 1,
            Action::Start => s.change += 1,
            Action::Replace => {
                s.add += 1;
                s.destroy += 1;
            }
            Action::Delete => s.destroy += 1,
            Action::Update => s.change += 1,
        }
    }
    s
}

/// Why a pod must be recreated for the pod network: it is not on `clusterctl-pods` in its node's CIDR.
fn network_drift(pod: &ObservedPod, cidr: Option<&String>) -> Option<String> {
    let cidr = cidr?;
    let ok = net::pod_ip(pod)
        .is_some_and(|ip| crate::network::PodIps::new(cidr).is_some_and(|a| a.contains(ip)));
    (!ok).then(|| {
        format!(
            "pod network changed: the pod is not on {} ({cidr})",
            crate::network::POD_NETWORK
        )
    })
}

fn belongs_to(pod: &ObservedPod, set: &PodSet) -> bool {
    if pod.namespace != set.namespace {
        return false;
    }
    match (&set.naming, &set.owner) {
        (PodNaming::Fixed(name), None) => pod.owner.is_none() && &pod.name == name,
        (_, Some(owner)) => pod.owner.as_ref() == Some(owner),
        (PodNaming::Generated { .. }, None) => false,
    }
}

/// Why an existing pod of this set no longer matches what Git wants, if it doesn't.
/// `spec_hashes` are the set's container spec hashes, computed once per set (in container order).
fn drift(pod: &ObservedPod, set: &PodSet, spec_hashes: &[String]) -> Option<String> {
    if pod.template_hash.as_deref() != Some(set.template_hash.as_str()) {
        return Some(template_diff(pod, set));
    }
    if pod.sandbox.is_none() {
        return Some("pod sandbox container is missing (removed by hand)".into());
    }
    let spec = set.template.spec.as_ref()?;
    for (c, want) in spec.containers.iter().zip(spec_hashes) {
        match pod.containers.get(&c.name) {
            None => {
                return Some(format!(
                    "container {:?} is missing (removed by hand)",
                    c.name
                ));
            }
            Some(obs) => {
                if obs.label(model::labels::SPEC_HASH) != Some(want.as_str()) {
                    return Some(format!(
                        "container {:?} differs from its spec (changed by hand)",
                        c.name
                    ));
                }
                if let Some(image) = &c.image {
                    if &obs.image != image {
                        return Some(format!(
                            "container {:?} runs image {:?}, spec says {:?} (changed by hand)",
                            c.name, obs.image, image
                        ));
                    }
                }
            }
        }
    }
    let wanted: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    if let Some(extra) = pod.containers.keys().find(|k| !wanted.contains(k.as_str())) {
        return Some(format!("container {extra:?} is not in the spec"));
    }
    None
}

/// Describes what changed between the observed pod's template and the desired one.
fn template_diff(pod: &ObservedPod, set: &PodSet) -> String {
    let (Some(old), Some(new)) = (
        pod.manifest.as_ref().and_then(|p| p.spec.as_ref()),
        set.template.spec.as_ref(),
    ) else {
        return "pod template changed".into();
    };
    let mut parts = Vec::new();
    for c in &new.containers {
        match old.containers.iter().find(|o| o.name == c.name) {
            None => parts.push(format!("container {:?} added", c.name)),
            Some(o) => {
                if o.image != c.image {
                    parts.push(format!(
                        "image {:?} → {:?}",
                        o.image.as_deref().unwrap_or(""),
                        c.image.as_deref().unwrap_or("")
                    ));
                }
                if o.env != c.env {
                    parts.push(format!("env of {:?} changed", c.name));
                }
                if o.command != c.command || o.args != c.args {
                    parts.push(format!("command of {:?} changed", c.name));
                }
                if o.ports != c.ports {
                    parts.push(format!("ports of {:?} changed", c.name));
                }
                if o.resources != c.resources {
                    parts.push(format!("resources of {:?} changed", c.name));
                }
            }
        }
    }
    for o in &old.containers {
        if !new.containers.iter().any(|c| c.name == o.name) {
            parts.push(format!("container {:?} removed", o.name));
        }
    }
    if parts.is_empty() {
        "pod template changed".into()
    } else {
        format!("pod template changed: {}", parts.join(", "))
    }
}

/// A stopped pod whose restart policy wants it running gets a start.
fn start_change(
    pod: &ObservedPod,
    set: &PodSet,
    runtimes: &BTreeMap<String, Arc<dyn Runtime>>,
) -> Option<Change> {
    let policy = set
        .template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always");
    let stopped: Vec<&model::ObservedContainer> = pod
        .all_containers()
        .filter(|c| !c.is_running() && c.status != "paused")
        .collect();
    if stopped.is_empty() {
        return None;
    }
    let sandbox_down = pod.sandbox.as_ref().is_some_and(|s| !s.is_running());
    let wants_start = sandbox_down
        || stopped.iter().any(|c| match policy {
            "Always" => true,
            "OnFailure" => c.exit_code != 0,
            _ => false,
        });
    if !wants_start {
        return None;
    }
    let names: Vec<String> = stopped
        .iter()
        .map(|c| {
            c.label(model::labels::CONTAINER)
                .unwrap_or(&c.name)
                .to_string()
        })
        .collect();
    let runtime = runtimes.get(&pod.node)?;
    Some(Change {
        action: Action::Start,
        kind: "Pod".into(),
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        node: pod.node.clone(),
        reason: format!("stopped outside clusterctl; restartPolicy {policy} wants it running"),
        details: names
            .iter()
            .map(|n| format!("start container {n}"))
            .collect(),
        steps: runtime.start_pod(pod),
    })
}

fn delete_change(
    pod: &ObservedPod,
    why: &str,
    runtimes: &BTreeMap<String, Arc<dyn Runtime>>,
    action: Action,
) -> Change {
    Change {
        action,
        kind: "Pod".into(),
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        node: pod.node.clone(),
        reason: why.to_string(),
        details: Vec::new(),
        steps: runtimes
            .get(&pod.node)
            .map(|r| r.remove_pod(pod))
            .unwrap_or_default(),
    }
}

fn create_steps(pod: &Pod, set: &PodSet, input: &PlanInput<'_>, ip: Option<&str>) -> Vec<Cmd> {
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let Some(runtime) = input.runtimes.get(&node) else {
        return Vec::new();
    };
    let spec_hashes: BTreeMap<String, String> = pod
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .map(move |c| (c.name.clone(), controllers::container_spec_hash(s, c)))
        })
        .collect();
    runtime.create_pod(&PodRun {
        pod,
        owner: set.owner.as_ref(),
        template_hash: &set.template_hash,
        commit: input.commit,
        spec_hashes: &spec_hashes,
        ip,
    })
}

fn create_reason(set: &PodSet) -> String {
    match (&set.owner, &set.deployment) {
        (Some(rs), Some(d)) => format!(
            "Deployment {d} wants {} replica(s) of ReplicaSet {}",
            set.replicas, rs.name
        ),
        (Some(rs), None) => format!("{} {} wants {} replica(s)", rs.kind, rs.name, set.replicas),
        (None, _) => "Pod is defined in the repository".into(),
    }
}

fn placement_details(p: &crate::scheduler::Placement) -> Vec<String> {
    let mut out = vec![format!(
        "scheduled: score {} ({})",
        p.total,
        p.scores
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    out.extend(
        p.rejected
            .iter()
            .map(|(node, why)| format!("not {node}: {why}")),
    );
    out
}

fn orphan_reason(pod: &ObservedPod, sets: &[PodSet]) -> String {
    if let Some(OwnerRef { kind, name }) = &pod.owner {
        if kind == "ReplicaSet" {
            if let Some(set) = sets.iter().find(|s| {
                s.namespace == pod.namespace
                    && s.deployment.as_ref().is_some_and(|d| {
                        name.strip_prefix(d.as_str())
                            .is_some_and(|r| r.starts_with('-'))
                    })
            }) {
                return format!(
                    "owner template changed: ReplicaSet {name} is superseded by {}",
                    set.owner.as_ref().map(|o| o.name.as_str()).unwrap_or("?")
                );
            }
        }
    }
    reasons::NOT_DESIRED.to_string()
}

/// Which `n` of the current pods go when scaling down, in the spirit of the ReplicaSet controller's ranking:
/// not running before running, then the node with more of this set's pods, then the newest, then by name.
fn pick_extras(observed: &[ObservedPod], current: &[usize], n: usize) -> Vec<usize> {
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in current {
        *per_node.entry(observed[i].node.as_str()).or_default() += 1;
    }
    let mut ranked: Vec<usize> = current
        .iter()
        .copied()
        .filter(|&i| observed[i].node_reachable)
        .collect();
    ranked.sort_by(|&a, &b| {
        let (pa, pb) = (&observed[a], &observed[b]);
        let running = |p: &ObservedPod| p.all_containers().all(|c| c.is_running());
        running(pa)
            .cmp(&running(pb))
            .then(per_node[pb.node.as_str()].cmp(&per_node[pa.node.as_str()]))
            .then(created(pb).cmp(created(pa)))
            .then(pb.name.cmp(&pa.name))
    });
    ranked.truncate(n);
    ranked
}

fn created(p: &ObservedPod) -> &str {
    p.sandbox
        .as_ref()
        .map(|s| s.created_at.as_str())
        .unwrap_or("")
}

/// The roster the cluster has once `plan` is applied: observed pods that stay (those of unreachable hosts
/// included, from the old roster) plus the pods the plan creates.
pub fn roster_after(
    observed: &ObservedState,
    plan: &Plan,
    binding: &Binding,
    written_at: &str,
) -> model::Roster {
    let leaving: BTreeSet<(&str, &str, &str)> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
        .map(|c| (c.namespace.as_str(), c.name.as_str(), c.node.as_str()))
        .collect();
    let mut pods: Vec<model::RosterPod> = model::observed_pods(observed)
        .into_iter()
        .filter(|p| !leaving.contains(&(p.namespace.as_str(), p.name.as_str(), p.node.as_str())))
        .map(|p| {
            let created = p
                .sandbox
                .as_ref()
                .map(|s| s.created_at.clone())
                .unwrap_or_default();
            model::RosterPod {
                manifest: p.manifest.map(|m| stamped(m, &created)),
                namespace: p.namespace,
                name: p.name,
                node: p.node,
                owner: p.owner,
                template_hash: p.template_hash,
            }
        })
        .collect();
    pods.extend(binding.created.iter().map(|b| {
        model::RosterPod {
            namespace: b.pod.metadata.namespace.clone().unwrap_or_default(),
            name: b.pod.metadata.name.clone().unwrap_or_default(),
            node: b
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
            owner: b.owner.clone(),
            template_hash: Some(b.template_hash.clone()),
            manifest: Some(b.pod.clone()),
        }
    }));
    pods.sort_by(|a, b| (&a.namespace, &a.name, &a.node).cmp(&(&b.namespace, &b.name, &b.node)));
    // A Service keeps the time it was first applied; new ones are stamped now.
    let known = observed.roster().map(|r| &r.services);
    let services = binding
        .services
        .services
        .iter()
        .map(|s| {
            let key = format!(
                "{}/{}",
                s.metadata.namespace.as_deref().unwrap_or_default(),
                s.metadata.name.as_deref().unwrap_or_default()
            );
            let created = known
                .and_then(|k| k.get(&key))
                .cloned()
                .unwrap_or_else(|| written_at.to_string());
            (key, created)
        })
        .collect();
    model::Roster {
        written_at: written_at.to_string(),
        commit: plan.commit.clone(),
        services,
        pods,
    }
}

/// Records when a pod was created (RFC 3339) in its metadata, unless it already says.
fn stamped(mut pod: Pod, created: &str) -> Pod {
    if pod.metadata.creation_timestamp.is_none() {
        if let Ok(t) = created.parse::<k8s_openapi::jiff::Timestamp>() {
            pod.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t));
        }
    }
    pod
}

/// An observed pod as the scheduler sees it: its recorded spec bound to its node.
pub fn existing_pod(p: &ObservedPod) -> Pod {
    let mut pod = p.manifest.clone().unwrap_or_default();
    pod.metadata.name = Some(p.name.clone());
    pod.metadata.namespace = Some(p.namespace.clone());
    pod.spec.get_or_insert_with(Default::default).node_name = Some(p.node.clone());
    pod
}

#[path = "plan_net.rs"]
mod net;
pub use net::{NetworkInput, ServicesAfter};

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
