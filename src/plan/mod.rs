//! The plan: a pure diff of desired pods (bound to nodes by the scheduler) against observed state.
//! A plan is a value — every change carries its kind, its reason (as data, see [`reason`]) and the exact
//! remote commands (`steps`) that apply will run, so what is shown is what is done. Sorted: same inputs,
//! same bytes.
//!
//! [`compute_with_binding`] runs the stages in order, one module each: [`diff`] (pod sets against the
//! observed pods), [`binding`] (scheduling and pod IPs of new pods), then with a network input [`services`]
//! (allocations, endpoints, per host `ServiceRules`) and [`network`] (per host `Network`). [`roster`] is
//! the pod-to-node memory after the plan. The words of reasons and details, and the plan JSON of
//! docs/plan-format.md, are `output::plan`'s.

mod binding;
pub mod config;
mod daemon_surge;
pub use daemon_surge::surges_left;
mod diff;
pub mod dns;
pub mod fingerprint;
mod job;
mod network;
pub mod node_loss;
mod pulls;
pub mod reason;
pub mod rollout;
mod roster;
mod services;
pub mod stateful;
pub mod storage;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde::{Deserialize, Serialize};

use crate::cmd::Cmd;
use crate::controllers::PodSet;
use crate::model::{self, ObservedPod, ObservedState, OwnerRef};
use crate::runtime::Runtime;
use crate::scheduler::FitError;

pub use config::ConfigStore;
pub use node_loss::NodeLoss;
pub use reason::{Detail, Drift, Reason, TemplateChange};
pub use roster::roster_after;
pub use services::{NetworkInput, ServicesAfter};

/// Version of the plan JSON schema (docs/plan-format.md).
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// The plan. Its JSON/YAML form (docs/plan-format.md) is `output::plan`'s `Serialize` impl.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub format_version: u32,
    /// Git commit the desired state was read from.
    pub commit: String,
    pub changes: Vec<Change>,
    /// Desired pods that fit on no node, with kube-scheduler's reasons.
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

/// What a change is about. Serialized as the variant name (`"Pod"`, `"Network"`, `"ServiceRules"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChangeKind {
    /// A pod: its sandbox and containers.
    Pod,
    /// A host's pod network (docker network `clusterctl-pods`, VXLAN device, routes).
    Network,
    /// clusterctl's iptables chains on a host.
    ServiceRules,
    /// A claim's PersistentVolume (its data) on a host.
    Volume,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub action: Action,
    pub kind: ChangeKind,
    pub namespace: String,
    pub name: String,
    pub node: String,
    /// Why this change is needed.
    pub reason: Reason,
    /// Attribute-level details (`image: "nginx:1.14.2" → "nginx"`, the scheduler's placement).
    pub details: Vec<Detail>,
    /// Commands run on `node`, in order.
    pub steps: Vec<Cmd>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPod {
    pub namespace: String,
    /// The pod's name; `<prefix>*` for a group of a set's pods counted, not named (see `count`).
    pub name: String,
    /// Why no node fits; `Display` words it as kube-scheduler does (`0/4 nodes are available: …`).
    pub fit: FitError,
    /// How many pods this entry stands for: 1, or more for the missing pods of a set beyond what the
    /// nodes could ever hold (`replicas: 2147483647` is valid), which are counted, never materialised.
    pub count: usize,
}

impl PendingPod {
    /// kube-scheduler's message: `0/4 nodes are available: …`, after `N pods Pending: ` for a group.
    pub fn message(&self) -> String {
        if self.count > 1 {
            format!("{} pods Pending: {}", self.count, self.fit)
        } else {
            self.fit.to_string()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

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
    /// The repository's ConfigMaps and Secrets (env and volumes of the pods); `None`: there are none.
    pub config: Option<&'a ConfigStore>,
    /// Which hosts are lost and for how long (`node_loss::assess`); `None`: no host is ever lost, the
    /// pods of unreachable hosts stay counted.
    pub node_loss: Option<&'a node_loss::NodeLoss>,
    /// Claims and storage classes; `None` = no claims (a pod mounting one stays Pending).
    pub storage: Option<&'a crate::controllers::storage::Desired>,
}

/// The pods the plan creates, bound to their nodes.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    /// New pods (spec.nodeName set), in plan order.
    pub created: Vec<BoundPod>,
    /// Services with their allocations and endpoints after the plan (empty without a network input).
    pub services: ServicesAfter,
    /// Claims' volumes the plan provisions (bound by their first consumer).
    pub provisioned: Vec<crate::runtime::mounts::ClaimVolume>,
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

/// Computes the plan and the pods it creates: diff, binding, then services and networks (see the module
/// doc), sorted and summed.
pub fn compute_with_binding(input: &PlanInput<'_>) -> (Plan, Binding) {
    let observed = model::observed_pods(input.observed);
    let pod_cidrs = pod_cidrs(input.nodes);

    // A rolling Deployment is cut to this step's sizes, its old ReplicaSets given pod sets of their own.
    let prepared = rollout::prepare(input, &observed);
    let stepped = PlanInput {
        pod_sets: &prepared.sets,
        ..*input
    };
    let input = &stepped;
    let diff = diff::diff(input, &observed, &pod_cidrs);
    let mut changes = diff.changes;
    let counted = diff.counted;
    let mut pending = Vec::new();
    let (created, provisioned) = binding::bind(
        input,
        &observed,
        &pod_cidrs,
        diff.to_create,
        &mut changes,
        &mut pending,
    );
    let created_users = created
        .iter()
        .flat_map(|b| {
            let ns = b.pod.metadata.namespace.clone().unwrap_or_default();
            b.pod
                .spec
                .iter()
                .flat_map(|s| crate::runtime::mounts::claims_of(s))
                .map(move |c| (ns.clone(), c.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let volume_changes = {
        let leaving = leaving(&changes);
        storage::claim_deletions(input, &observed, &leaving, &created_users)
    };
    changes.extend(volume_changes);
    let mut binding = Binding {
        created,
        services: ServicesAfter::default(),
        provisioned,
    };
    diff::collapse_counted(counted, &mut pending);

    if let Some(net) = input.network {
        let rules = services::plan_rules(
            input,
            net,
            &observed,
            &changes,
            &binding.created,
            &prepared.holding,
        );
        changes.extend(network::host_changes(input, net));
        changes.extend(rules.changes);
        binding.services = rules.after;
    }

    rollout::annotate(&prepared, &mut changes);
    changes.sort_by(|a, b| {
        (&a.namespace, &a.name, &a.node, a.action).cmp(&(&b.namespace, &b.name, &b.node, b.action))
    });
    pending.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        commit: input.commit.to_string(),
        summary: summarize(&changes),
        changes,
        pending,
        unreachable_nodes: unreachable_nodes(input.observed),
    };
    (plan, binding)
}

/// Each node's pod CIDR (`spec.podCIDR`), by node name.
fn pod_cidrs(nodes: &[Node]) -> BTreeMap<String, String> {
    nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.clone()?, n.spec.as_ref()?.pod_cidr.clone()?)))
        .collect()
}

fn unreachable_nodes(observed: &ObservedState) -> Vec<String> {
    observed
        .nodes
        .iter()
        .filter(|n| !n.reachable)
        .map(|n| n.name.clone())
        .collect()
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

/// A pod as `(namespace, name, node)`.
type PodKey<'a> = (&'a str, &'a str, &'a str);

fn key(p: &ObservedPod) -> PodKey<'_> {
    (p.namespace.as_str(), p.name.as_str(), p.node.as_str())
}

/// The pods the changes remove (Delete or Replace).
fn leaving(changes: &[Change]) -> BTreeSet<PodKey<'_>> {
    changes
        .iter()
        .filter(|c| {
            c.kind == ChangeKind::Pod && matches!(c.action, Action::Delete | Action::Replace)
        })
        .map(|c| (c.namespace.as_str(), c.name.as_str(), c.node.as_str()))
        .collect()
}

/// The pod's planned/recorded address in the pod network.
pub(crate) fn pod_ip(p: &ObservedPod) -> Option<&str> {
    p.sandbox.as_ref()?.label(model::labels::POD_IP)
}

/// An observed pod as the scheduler sees it: its recorded spec bound to its node.
pub fn existing_pod(p: &ObservedPod) -> Pod {
    let mut pod = p.manifest.clone().unwrap_or_default();
    pod.metadata.name = Some(p.name.clone());
    pod.metadata.namespace = Some(p.namespace.clone());
    pod.spec.get_or_insert_with(Default::default).node_name = Some(p.node.clone());
    pod
}

#[cfg(test)]
mod tests;
