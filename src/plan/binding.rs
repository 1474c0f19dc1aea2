//! Stage 2, binding: the pods the diff wants are scheduled one by one (in namespace/name order) against
//! the pods that stay, each given the lowest free address of its node's pod CIDR and its create steps.
//! A replacement keeps its node when it still fits there, and its create steps are appended to its
//! Replace change; one that moves becomes a Delete on the old node and a Create on the new; one that fits nowhere turns the Replace into a Delete and stays Pending. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, PodSpec};

use super::diff::NewPod;
use super::{
    Action, BoundPod, Change, ChangeKind, Detail, PendingPod, PlanInput, Reason, existing_pod, key,
    leaving, pod_ip,
};
use crate::cmd::Cmd;
use crate::controllers::{self, PodSet};
use crate::model::ObservedPod;
use crate::network::PodIps;
use crate::runtime::PodRun;
use crate::scheduler::{FitError, Placement, Scheduler};

/// Binds `to_create`: appends Create changes to `changes` (or completes their Replace change), and the
/// pods that fit nowhere to `pending`. Returns the created pods, in plan order.
pub(super) fn bind(
    input: &PlanInput<'_>,
    observed: &[ObservedPod],
    pod_cidrs: &BTreeMap<String, String>,
    mut to_create: Vec<NewPod<'_>>,
    changes: &mut Vec<Change>,
    pending: &mut Vec<PendingPod>,
) -> (Vec<BoundPod>, Vec<crate::runtime::mounts::ClaimVolume>) {
    let (mut scheduler, mut ips, mut claims) = {
        let leaving = leaving(changes);
        let staying: Vec<&ObservedPod> = observed
            .iter()
            .filter(|p| !leaving.contains(&key(p)))
            .collect();
        let existing: Vec<Pod> = staying.iter().map(|p| existing_pod(p)).collect();
        let ips = match input.network {
            Some(_) => pod_ips(pod_cidrs, &staying),
            None => BTreeMap::new(),
        };
        let claims = super::storage::Claims::new(input, &staying);
        (Scheduler::new(input.nodes, &existing), ips, claims)
    };
    let reachable: BTreeSet<&str> = input
        .observed
        .nodes
        .iter()
        .filter(|n| n.reachable)
        .map(|n| n.name.as_str())
        .collect();
    // Deterministic order: by set order (already sorted by namespace/name), then pod name.
    to_create.sort_by(|a, b| (&a.set.namespace, &a.name).cmp(&(&b.set.namespace, &b.name)));
    let mut created = Vec::new();
    for new in to_create {
        let pod = named(new.set, &new.name);
        // A replacement whose host is reachable tries its old node first.
        let keep = new
            .replaces
            .map(|r| observed[r.pod].node.as_str())
            .filter(|n| reachable.contains(n));
        let needs = match claims.needs(&pod) {
            Ok(n) => n,
            Err(msg) => {
                let fit = scheduler.pre_filter_error(msg);
                stay_pending(new, fit, changes, pending);
                continue;
            }
        };
        match schedule(&mut scheduler, &pod, keep, &needs.nodes) {
            Ok(placed) => {
                // A hostNetwork pod's IP is its node's address (as the kubelet reports it); it takes
                // none of the pod CIDR.
                let host_network = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
                let ip = if host_network {
                    super::config::Facts::of(&placed.node, input.nodes, None).host_ip
                } else {
                    ips.get_mut(&placed.node).and_then(|a| a.take_next())
                };
                let vols = claims.bind(&pod, &placed.node, &needs);
                let pre = super::storage::provision_steps(input, &placed.node, &vols);
                created.push(place(input, new, pod, placed, ip, pre, changes));
            }
            Err(fit) => {
                let fit = match needs.nodes.first() {
                    Some(n) => fit.with_note(format!("its bound volume is on node {n}")),
                    None => fit,
                };
                stay_pending(new, fit, changes, pending)
            }
        }
    }
    (created, claims.provisioned)
}

/// Per node with a pod CIDR: an allocator with the addresses of the pods that stay reserved.
fn pod_ips(
    pod_cidrs: &BTreeMap<String, String>,
    staying: &[&ObservedPod],
) -> BTreeMap<String, PodIps> {
    let mut ips = BTreeMap::new();
    for (node, cidr) in pod_cidrs {
        let Some(mut alloc) = PodIps::new(cidr) else {
            continue;
        };
        for ip in staying
            .iter()
            .filter(|p| &p.node == node)
            .filter_map(|p| pod_ip(p))
        {
            alloc.reserve(ip);
        }
        ips.insert(node.clone(), alloc);
    }
    ips
}

/// The set's template as pod `name` in the set's namespace.
fn named(set: &PodSet, name: &str) -> Pod {
    let mut pod = set.template.clone();
    pod.metadata.name = Some(name.to_string());
    pod.metadata.namespace = Some(set.namespace.clone());
    pod
}

fn spec_mut(pod: &mut Pod) -> &mut PodSpec {
    pod.spec.get_or_insert_with(Default::default)
}

/// Schedules `pod`, on node `keep` when given and it fits there, else wherever the scheduler picks.
fn schedule(
    scheduler: &mut Scheduler,
    pod: &Pod,
    keep: Option<&str>,
    volume_nodes: &[String],
) -> Result<Placement, FitError> {
    let Some(node) = keep else {
        return scheduler.schedule_with(pod, volume_nodes);
    };
    let mut pinned = pod.clone();
    spec_mut(&mut pinned).node_name = Some(node.to_string());
    scheduler
        .schedule_with(&pinned, volume_nodes)
        .or_else(|_| scheduler.schedule_with(pod, volume_nodes))
}

/// A placed pod: bound to its node, with its create steps in a Create change or in its Replace change.
fn place(
    input: &PlanInput<'_>,
    new: NewPod<'_>,
    mut pod: Pod,
    placed: Placement,
    ip: Option<String>,
    pre: Vec<Cmd>,
    changes: &mut Vec<Change>,
) -> BoundPod {
    let set = new.set;
    let reason = new.reason.unwrap_or_else(|| create_reason(set));
    spec_mut(&mut pod).node_name = Some(placed.node.clone());
    let mut notes = Vec::new();
    let steps = create_steps(&pod, set, input, ip.as_deref(), pre, &mut notes);
    let notes = notes.into_iter().map(Detail::Line);
    match new.replaces {
        Some(r) if changes[r.change].node == placed.node => {
            changes[r.change].details.extend(notes);
            changes[r.change].steps.extend(steps);
        }
        // The replacement goes elsewhere: each host runs its own commands, so the old node's change only
        // deletes, and the new pod is a Create on its node that keeps the reason it is replaced for.
        Some(r) => {
            let change = &mut changes[r.change];
            change.action = Action::Delete;
            change.details.push(Detail::MovesTo(placed.node.clone()));
            let reason = change.reason.clone();
            let node = placed.node.clone();
            let mut details = vec![Detail::Placement(placed)];
            details.extend(notes);
            changes.push(Change {
                action: Action::Create,
                kind: ChangeKind::Pod,
                namespace: set.namespace.clone(),
                name: new.name,
                node,
                reason,
                details,
                steps,
            });
        }
        None => changes.push(Change {
            action: Action::Create,
            kind: ChangeKind::Pod,
            namespace: set.namespace.clone(),
            name: new.name,
            node: placed.node.clone(),
            reason,
            details: std::iter::once(Detail::Placement(placed))
                .chain(notes)
                .collect(),
            steps,
        }),
    }
    BoundPod {
        pod,
        owner: set.owner.clone(),
        template_hash: set.template_hash.clone(),
        ip,
    }
}

/// A pod that fits nowhere stays Pending. A replacement's old pod still goes (its spec is not desired):
/// its Replace becomes a Delete that says why.
fn stay_pending(
    new: NewPod<'_>,
    fit: FitError,
    changes: &mut [Change],
    pending: &mut Vec<PendingPod>,
) {
    if let Some(r) = new.replaces {
        let change = &mut changes[r.change];
        change.action = Action::Delete;
        change.details.push(Detail::ReplacementPending(fit.clone()));
    }
    pending.push(PendingPod {
        namespace: new.set.namespace.clone(),
        name: new.name,
        fit,
        count: 1,
    });
}

/// The runtime's commands that create `pod` (bound to its node) with its identity labels.
/// `notes` gets the kubelet's events of resolving the pod's env (skipped envFrom keys).
fn create_steps(
    pod: &Pod,
    set: &PodSet,
    input: &PlanInput<'_>,
    ip: Option<&str>,
    pre: Vec<Cmd>,
    notes: &mut Vec<String>,
) -> Vec<Cmd> {
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let Some(runtime) = input.runtimes.get(&node) else {
        return Vec::new();
    };
    let ns = controllers::namespace_of(&pod.metadata);
    let spec_hashes: BTreeMap<String, String> = pod
        .spec
        .iter()
        .flat_map(|s| {
            let ns = ns.clone();
            let inits = s.init_containers.iter().flatten();
            inits.chain(&s.containers).map(move |c| {
                (
                    c.name.clone(),
                    super::config::container_hash(s, c, &ns, input.config),
                )
            })
        })
        .collect();
    // Env and volume files from ConfigMaps, Secrets and the downward API, for this node and address.
    let facts = super::config::Facts::of(&node, input.nodes, ip);
    let config = input
        .config
        .and_then(|store| super::config::resolve(pod, store, &facts, notes));
    // The kubelet's resolv.conf and service links (docs/dns.md).
    let config = super::dns::pod_extras(input, pod, config);
    let mut steps = runtime.pull_images(pod);
    // imagePullSecrets: the pulls of a private registry's images carry its credential (on stdin only).
    super::pulls::authenticate(&mut steps, pod, input.config, notes);
    super::pulls::backoff_notes(&steps, &node, input.observed, notes);
    // A claim bound by this pod is provisioned before the pod's containers are created.
    steps.extend(pre);
    steps.extend(runtime.create_pod(&PodRun {
        pod,
        owner: set.owner.as_ref(),
        template_hash: &set.template_hash,
        commit: input.commit,
        spec_hashes: &spec_hashes,
        ip,
        config: config.as_ref(),
    }));
    steps
}

fn create_reason(set: &PodSet) -> Reason {
    if let Some(job) = &set.job {
        return Reason::JobWants {
            job: job.job.clone(),
            progress: job.progress.clone(),
            index: job.index,
        };
    }
    if let Some(st) = &set.stateful {
        return Reason::StatefulSetWants {
            stateful_set: st.stateful_set.clone(),
            ordinal: st.ordinal,
            ordered: st.ordered,
        };
    }
    match (&set.owner, &set.deployment) {
        (Some(rs), Some(d)) => Reason::DeploymentWants {
            deployment: d.clone(),
            replica_set: rs.name.clone(),
            replicas: set.replicas,
        },
        (Some(rs), None) => Reason::OwnerWants {
            kind: rs.kind.clone(),
            name: rs.name.clone(),
            replicas: set.replicas,
        },
        (None, _)
            if set.namespace == crate::controllers::node_supervisor::NAMESPACE
                && set.source.file == "cluster.yaml" =>
        {
            Reason::NodeSupervisor
        }
        (None, _) => Reason::PodDefined,
    }
}
