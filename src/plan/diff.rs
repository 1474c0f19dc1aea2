//! Stage 1, the diff: each desired pod set against the observed pods it owns. Drifted pods are replaced,
//! extra replicas removed, pods stopped by hand started, missing replicas named for creation; managed
//! pods no set owns are pruned. Pods on unreachable hosts still count and are left alone. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{
    Action, Change, ChangeKind, Detail, Drift, PendingPod, PlanInput, Reason, TemplateChange,
    pod_ip,
};
use crate::controllers::{self, PodNaming, PodSet};
use crate::model::{self, ObservedPod, OwnerRef};
use crate::runtime::Runtime;

/// A pod the plan creates, not yet on a node (see [`super::binding`]).
pub(super) struct NewPod<'s> {
    pub set: &'s PodSet,
    pub name: String,
    /// The observed pod it replaces, if any.
    pub replaces: Option<Replaced>,
    /// Why it is created, when not simply its owner's wish (it replaces an evicted pod of a lost host).
    pub reason: Option<Reason>,
}

/// A replacement: the observed pod (index into the observed pods) and its Replace change (index into
/// [`Diff::changes`]), into which the create steps are merged.
#[derive(Debug, Clone, Copy)]
pub(super) struct Replaced {
    pub pod: usize,
    pub change: usize,
}

#[derive(Default)]
pub(super) struct Diff<'s> {
    /// Replace, Delete and Start changes (Replace changes hold only the destroy steps so far).
    pub changes: Vec<Change>,
    pub to_create: Vec<NewPod<'s>>,
    /// Sets cut short: more pods missing than all nodes could ever hold.
    pub counted: Vec<Counted>,
}

/// The missing pods of a set beyond the cluster's pod capacity: only `capacity + 1` are named and
/// scheduled (the last one for the scheduler's message); `unplaceable` more are just counted.
pub(super) struct Counted {
    pub namespace: String,
    pub prefix: String,
    /// The named pods past the capacity, whose Pending entries fold into the count.
    pub names: BTreeSet<String>,
    pub unplaceable: usize,
}

/// Folds each cut-short set's Pending pods into one entry `<prefix>*` with the count.
pub(super) fn collapse_counted(counted: Vec<Counted>, pending: &mut Vec<PendingPod>) {
    for c in counted {
        let mut count = c.unplaceable;
        let mut last: Option<PendingPod> = None;
        pending.retain(|p| {
            let mine = p.namespace == c.namespace && c.names.contains(&p.name);
            if mine {
                count += 1;
                last = Some(p.clone());
            }
            !mine
        });
        if let Some(p) = last {
            pending.push(PendingPod {
                name: format!("{}*", c.prefix),
                count,
                ..p
            });
        }
    }
}

/// Diffs every pod set of `input`, then prunes what no set owns. A DaemonSet's candidate set for a node
/// the pod should not run on is left out (its pod, if any, is pruned); see [`daemon_keeps`].
pub(super) fn diff<'s>(
    input: &PlanInput<'s>,
    observed: &[ObservedPod],
    pod_cidrs: &BTreeMap<String, String>,
) -> Diff<'s> {
    let mut d = Diff::default();
    let capacity = crate::scheduler::pod_capacity(input.nodes);
    let mut claimed: BTreeSet<usize> = BTreeSet::new();
    let mut sets: Vec<(&'s PodSet, Vec<usize>)> = Vec::new();
    for set in input.pod_sets {
        let members: Vec<usize> = observed
            .iter()
            .enumerate()
            .filter(|(_, p)| belongs_to(p, set))
            .map(|(i, _)| i)
            .collect();
        if daemon_keeps(input, observed, set, &members) {
            sets.push((set, members));
        }
    }
    let mut budgets = rollout_budgets(&sets);
    let surges = super::daemon_surge::steps(input, observed, &sets);
    let gates = super::stateful::gates(&sets, observed);
    for (i, (set, members)) in sets.iter().enumerate() {
        if let Some(job) = &set.job {
            super::job::diff_job(input, observed, set, job, members, &mut d);
            claimed.extend(members.iter().copied());
            continue;
        }
        claimed.extend(members.iter().copied());
        if let Some(surge) = surges.get(&i) {
            // A surging DaemonSet's node: this plan's step there (maxUnavailable plays no part).
            let mut none = 0;
            let Some(members) =
                super::daemon_surge::apply(input, observed, set, members, surge, &mut d)
            else {
                continue;
            };
            diff_set(
                input,
                observed,
                pod_cidrs,
                set,
                &members,
                capacity,
                Some(&mut none),
                &gates,
                &mut d,
            );
            continue;
        }
        let budget = set
            .daemon
            .as_ref()
            .and_then(|ds| budgets.get_mut(&(set.namespace.as_str(), ds.daemon_set.as_str())));
        diff_set(
            input, observed, pod_cidrs, set, members, capacity, budget, &gates, &mut d,
        );
    }
    prune_unclaimed(input, observed, &claimed, &gates, &mut d.changes);
    d
}

/// Whether a pod set is wanted: always, except a DaemonSet's set for a node its pod should not run on
/// (`scheduler::daemon_fit`). A pod of the current template already there stays while it should continue
/// running (a new NoSchedule taint does not evict); one of an old template goes and is not recreated.
fn daemon_keeps(
    input: &PlanInput<'_>,
    observed: &[ObservedPod],
    set: &PodSet,
    members: &[usize],
) -> bool {
    let Some(ds) = &set.daemon else {
        return true;
    };
    let Some(node) = input
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(ds.node.as_str()))
    else {
        return false;
    };
    let (run, keep_running) = crate::scheduler::daemon_fit(&ds.unpinned, node);
    run || (keep_running
        && members
            .iter()
            .any(|&i| observed[i].template_hash.as_deref() == Some(set.template_hash.as_str())))
}

/// Per DaemonSet `(namespace, name)`: how many pods of an old template this plan may replace —
/// RollingUpdate's maxUnavailable over the nodes that run it, less the nodes without a pod yet. OnDelete
/// DaemonSets get no entry-budget of their own: their old pods are never replaced ([`replace_drifted`]).
fn rollout_budgets<'s>(sets: &[(&'s PodSet, Vec<usize>)]) -> BTreeMap<(&'s str, &'s str), usize> {
    let mut per: BTreeMap<(&str, &str), (usize, usize, Option<usize>)> = BTreeMap::new();
    for (set, members) in sets {
        let Some(ds) = &set.daemon else { continue };
        let e = per
            .entry((set.namespace.as_str(), ds.daemon_set.as_str()))
            .or_insert((0, 0, None));
        e.0 += 1;
        if members.is_empty() {
            e.1 += 1;
        }
    }
    let mut out = BTreeMap::new();
    for (set, _) in sets {
        let Some(ds) = &set.daemon else { continue };
        let k = (set.namespace.as_str(), ds.daemon_set.as_str());
        if let Some(&(desired, missing, _)) = per.get(&k) {
            out.entry(k).or_insert_with(|| {
                ds.update
                    .budget(desired)
                    .map_or(0, |b| b.saturating_sub(missing))
            });
        }
    }
    out
}

/// One set: replace drifted members, scale down, start stopped pods, name the missing replicas.
#[allow(clippy::too_many_arguments)]
fn diff_set<'s>(
    input: &PlanInput<'s>,
    observed: &[ObservedPod],
    pod_cidrs: &BTreeMap<String, String>,
    set: &'s PodSet,
    members: &[usize],
    capacity: usize,
    budget: Option<&mut usize>,
    gates: &super::stateful::Gates,
    d: &mut Diff<'s>,
) {
    let (mut current, evicted) =
        replace_drifted(input, observed, pod_cidrs, set, members, budget, gates, d);
    // Evicted pods (of a lost host) are not counted: the missing replicas below replace them.
    let replaced = members.len() - current.len() - evicted.len();
    let desired = set.replicas as usize;
    let have = current.len() + replaced;
    if have > desired {
        for i in pick_extras(observed, &current, have - desired) {
            d.changes.push(delete_change(
                &observed[i],
                Reason::ExtraReplica,
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
                d.changes.push(change);
            }
        }
    }
    let mut missing = desired.saturating_sub(current.len() + replaced);
    // Missing pods beyond what the nodes could ever hold are counted, not materialised one by one.
    let unplaceable = missing.saturating_sub(capacity + 1);
    missing -= unplaceable;
    let taken: BTreeSet<&str> = members.iter().map(|&i| observed[i].name.as_str()).collect();
    let mut names = missing_names(set, &taken, missing);
    // A StatefulSet's ordinal is created only when its policy allows it now (OrderedReady: all below run).
    if set.stateful.is_some() {
        names.retain(|n| gates.create.contains(&(set.namespace.clone(), n.clone())));
    }
    if let (true, PodNaming::Generated { prefix }) = (unplaceable > 0, &set.naming) {
        d.counted.push(Counted {
            namespace: set.namespace.clone(),
            prefix: prefix.clone(),
            names: names.iter().cloned().collect(),
            unplaceable,
        });
    }
    let mut evicted = evicted.into_iter();
    for name in names {
        let reason = evicted.next().map(|(i, lost)| Reason::ReplacesLost {
            pod: observed[i].name.clone(),
            lost,
        });
        d.to_create.push(NewPod {
            set,
            name,
            replaces: None,
            reason,
        });
    }
}

#[allow(clippy::too_many_arguments)]
/// Members whose template or containers no longer match (edited in Git, changed by hand) get a Replace
/// change and a [`NewPod`]; returns the members that stay, and the evicted ones (of a lost host, see
/// `plan::node_loss`) with their host's loss: on an unreachable host they are left alone, uncounted; on a
/// host that is back they are stale copies and get a Delete. Other pods of unreachable hosts stay.
#[allow(clippy::type_complexity)]
fn replace_drifted<'s>(
    input: &PlanInput<'s>,
    observed: &[ObservedPod],
    pod_cidrs: &BTreeMap<String, String>,
    set: &'s PodSet,
    members: &[usize],
    mut budget: Option<&mut usize>,
    gates: &super::stateful::Gates,
    d: &mut Diff<'s>,
) -> (Vec<usize>, Vec<(usize, super::node_loss::Lost)>) {
    let spec_hashes: Vec<String> = set
        .template
        .spec
        .iter()
        .flat_map(|s| {
            s.containers
                .iter()
                .map(move |c| super::config::container_hash(s, c, &set.namespace, input.config))
        })
        .collect();
    let mut current = Vec::new();
    let mut evicted = Vec::new();
    for &i in members {
        let pod = &observed[i];
        if let Some(lost) = input.node_loss.and_then(|l| l.evicted(pod)) {
            if pod.node_reachable {
                d.changes.push(delete_change(
                    pod,
                    Reason::StaleAfterNodeLoss(lost.clone()),
                    input.runtimes,
                    Action::Delete,
                ));
            }
            evicted.push((i, lost));
            continue;
        }
        if !pod.node_reachable {
            // Its host cannot be read: it still counts, and is left alone until the host is back.
            current.push(i);
            continue;
        }
        let why = drift(pod, set, &spec_hashes).map(|d| env_source_drift(pod, set, d));
        let why = why.or_else(|| {
            input
                .network
                .and_then(|_| network_drift(pod, pod_cidrs.get(&pod.node)))
        });
        // A DaemonSet's running pod of an old template: OnDelete keeps it until removed by hand;
        // RollingUpdate replaces only within maxUnavailable per plan.
        let why = match (why, &set.daemon) {
            (Some(Drift::Template(t)), Some(ds))
                if pod.all_containers().all(|c| c.is_running()) =>
            {
                match (&ds.update, budget.as_deref_mut()) {
                    (crate::controllers::daemon::Update::RollingUpdate { .. }, Some(b))
                        if *b > 0 =>
                    {
                        *b -= 1;
                        Some(Drift::Template(t))
                    }
                    _ => None,
                }
            }
            (why, _) => why,
        };
        // A StatefulSet's pod of an old revision: replaced when the rolling update reaches it (one per
        // plan, highest ordinal first, every pod running); a broken one at once unless it is below the
        // partition or the set is OnDelete.
        let why = match (why, set.stateful.is_some()) {
            (Some(Drift::Template(t)), true) => {
                let id = (set.namespace.clone(), pod.name.clone());
                let broken = !super::stateful::healthy(pod);
                (gates.update.contains(&id) || (broken && !super::stateful::below_partition(set)))
                    .then_some(Drift::Template(t))
            }
            (why, _) => why,
        };
        match why {
            Some(why) => {
                d.to_create.push(NewPod {
                    set,
                    name: pod.name.clone(),
                    replaces: Some(Replaced {
                        pod: i,
                        change: d.changes.len(),
                    }),
                    reason: None,
                });
                d.changes.push(delete_change(
                    pod,
                    Reason::Drift(why),
                    input.runtimes,
                    Action::Replace,
                ));
            }
            None => {
                // Same pod; its configMap/secret volume files may still need rewriting in place.
                d.changes
                    .extend(super::config::volume_update(input, pod, set));
                current.push(i);
            }
        }
    }
    (current, evicted)
}

/// A changed container whose spec (without the data its env reads) is unchanged: the ConfigMap/Secret
/// data changed, which says more than "container changed".
fn env_source_drift(pod: &ObservedPod, set: &PodSet, d: Drift) -> Drift {
    let Drift::ContainerChanged(name) = &d else {
        return d;
    };
    let Some(spec) = set.template.spec.as_ref() else {
        return d;
    };
    let Some(c) = spec.containers.iter().find(|c| &c.name == name) else {
        return d;
    };
    let plain = controllers::container_spec_hash(spec, c);
    let observed = pod
        .containers
        .get(name)
        .and_then(|o| o.label(model::labels::SPEC_HASH));
    let sources = super::config::env_sources(c);
    if sources.is_empty() || observed == Some(plain.as_str()) {
        // The label is the plain hash: this pod predates the data hash; or nothing is referenced.
        return d;
    }
    Drift::EnvSourceChanged {
        container: name.clone(),
        sources,
    }
}

/// Names for `missing` new pods of `set`: its fixed name, or the lowest free generated names.
pub(super) fn missing_names(set: &PodSet, taken: &BTreeSet<&str>, missing: usize) -> Vec<String> {
    if missing == 0 {
        return Vec::new();
    }
    match &set.naming {
        PodNaming::Fixed(name) => vec![name.clone()],
        PodNaming::Generated { prefix } => (0u32..)
            .map(|ordinal| controllers::pod_name(prefix, ordinal))
            .filter(|name| !taken.contains(name.as_str()))
            .take(missing)
            .collect(),
    }
}

/// Everything managed that no set claims is removed (on hosts we can reach).
fn prune_unclaimed(
    input: &PlanInput<'_>,
    observed: &[ObservedPod],
    claimed: &BTreeSet<usize>,
    gates: &super::stateful::Gates,
    changes: &mut Vec<Change>,
) {
    for (i, pod) in observed.iter().enumerate() {
        if claimed.contains(&i) || !pod.node_reachable {
            continue;
        }
        let id = (pod.namespace.clone(), pod.name.clone());
        let sts_extra = pod.owner.as_ref().is_some_and(|o| {
            o.kind == "StatefulSet"
                && gates
                    .desired
                    .contains(&(pod.namespace.clone(), o.name.clone()))
        });
        if sts_extra {
            // Scale-down of a StatefulSet that is still desired: its policy's pace (highest ordinal first).
            if gates.scale_down.contains(&id) {
                changes.push(delete_change(
                    pod,
                    Reason::ExtraReplica,
                    input.runtimes,
                    Action::Delete,
                ));
            }
            continue;
        }
        let why = orphan_reason(pod, input.pod_sets);
        changes.push(delete_change(pod, why, input.runtimes, Action::Delete));
    }
}

/// Why a pod must be recreated for the pod network: it is not on `clusterctl-pods` in its node's CIDR.
fn network_drift(pod: &ObservedPod, cidr: Option<&String>) -> Option<Drift> {
    let cidr = cidr?;
    // A hostNetwork pod is on the node's network by its manifest, never on the pod network.
    let host_network = pod
        .manifest
        .as_ref()
        .and_then(|m| m.spec.as_ref())
        .and_then(|s| s.host_network);
    if host_network == Some(true) {
        return None;
    }
    let ok = pod_ip(pod)
        .is_some_and(|ip| crate::network::PodIps::new(cidr).is_some_and(|a| a.contains(ip)));
    (!ok).then(|| Drift::PodNetwork {
        network: crate::network::POD_NETWORK.to_string(),
        cidr: cidr.clone(),
    })
}

fn belongs_to(pod: &ObservedPod, set: &PodSet) -> bool {
    if pod.namespace != set.namespace {
        return false;
    }
    if let Some(job) = &set.job {
        // A Job's primary set claims every pod of the Job; its index sets claim none.
        return job.primary && super::job::owned(pod, &job.job);
    }
    match (&set.naming, &set.owner) {
        (PodNaming::Fixed(name), None) => pod.owner.is_none() && &pod.name == name,
        // A DaemonSet's pod: its owner, on the set's node, with one of the node's two names.
        (PodNaming::Fixed(name), Some(owner)) => {
            pod.owner.as_ref() == Some(owner)
                && match &set.daemon {
                    Some(d) => {
                        d.node == pod.node && (&pod.name == name || pod.name == d.surge_name)
                    }
                    None => &pod.name == name,
                }
        }
        (_, Some(owner)) => pod.owner.as_ref() == Some(owner),
        (PodNaming::Generated { .. }, None) => false,
    }
}

/// How an existing pod of this set differs from what Git wants, if it does.
/// `spec_hashes` are the set's container spec hashes, computed once per set (in container order).
fn drift(pod: &ObservedPod, set: &PodSet, spec_hashes: &[String]) -> Option<Drift> {
    if pod.template_hash.as_deref() != Some(set.template_hash.as_str()) {
        return Some(Drift::Template(template_diff(pod, set)));
    }
    if pod.sandbox.is_none() {
        return Some(Drift::SandboxMissing);
    }
    let spec = set.template.spec.as_ref()?;
    for (c, want) in spec.containers.iter().zip(spec_hashes) {
        let Some(obs) = pod.containers.get(&c.name) else {
            return Some(Drift::ContainerMissing(c.name.clone()));
        };
        if obs.label(model::labels::SPEC_HASH) != Some(want.as_str()) {
            return Some(Drift::ContainerChanged(c.name.clone()));
        }
        if let Some(image) = &c.image {
            if &obs.image != image {
                return Some(Drift::Image {
                    container: c.name.clone(),
                    running: obs.image.clone(),
                    wanted: image.clone(),
                });
            }
        }
    }
    for c in spec.init_containers.iter().flatten() {
        if !pod.containers.contains_key(&c.name) {
            return Some(Drift::ContainerMissing(c.name.clone()));
        }
    }
    // Init containers are the pod's too (their spec is in the template hash).
    let wanted: BTreeSet<&str> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| c.name.as_str())
        .collect();
    pod.containers
        .keys()
        .find(|k| !wanted.contains(k.as_str()))
        .map(|extra| Drift::ExtraContainer(extra.clone()))
}

/// What changed between the observed pod's recorded template and the desired one (empty when the
/// recorded manifest is missing or nothing visible changed).
fn template_diff(pod: &ObservedPod, set: &PodSet) -> Vec<TemplateChange> {
    let (Some(old), Some(new)) = (
        pod.manifest.as_ref().and_then(|p| p.spec.as_ref()),
        set.template.spec.as_ref(),
    ) else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    for c in &new.containers {
        let Some(o) = old.containers.iter().find(|o| o.name == c.name) else {
            parts.push(TemplateChange::ContainerAdded(c.name.clone()));
            continue;
        };
        if o.image != c.image {
            parts.push(TemplateChange::Image {
                from: o.image.clone().unwrap_or_default(),
                to: c.image.clone().unwrap_or_default(),
            });
        }
        if o.env != c.env {
            parts.push(TemplateChange::Env(c.name.clone()));
        }
        if o.command != c.command || o.args != c.args {
            parts.push(TemplateChange::Command(c.name.clone()));
        }
        if o.ports != c.ports {
            parts.push(TemplateChange::Ports(c.name.clone()));
        }
        if o.resources != c.resources {
            parts.push(TemplateChange::Resources(c.name.clone()));
        }
    }
    for o in &old.containers {
        if !new.containers.iter().any(|c| c.name == o.name) {
            parts.push(TemplateChange::ContainerRemoved(o.name.clone()));
        }
    }
    parts
}

/// A pod whose sandbox was stopped gets a start (app containers are the node supervisor's to restart).
pub(super) fn start_change(
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
    // App containers that exited are the node supervisor's to restart, with the kubelet's back-off
    // (docs/node-supervisor.md): a crash loop is not drift. Only the supervisor's own pod, which docker
    // restarts, is started by the plan when it was stopped by hand.
    let supervisor = set
        .template
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(model::labels::NODE_SUPERVISOR))
        .is_some_and(|v| v == "true");
    // An app container that was created but never started (an apply cut off between its `docker create`
    // and `docker start`) is no crash the supervisor would restart: only the plan starts it.
    let never_started = stopped.iter().any(|c| c.status == "created");
    let restarts = |c: &model::ObservedContainer| match policy {
        "Always" => true,
        "OnFailure" => c.exit_code != 0,
        _ => false,
    };
    // Held by its host's supervisor after a long absence (docs/node-supervisor.md): this plan has not
    // found it a stale copy (it would be deleted above), so nobody replaced it and apply lets it run.
    let held = stopped
        .iter()
        .filter(|c| restarts(c))
        .find_map(|c| c.record.as_ref().and_then(|r| r.held_since.clone()));
    // A pod whose init container failed under restartPolicy Never is Failed, as the kubelet leaves it:
    // nothing is started again. Under Always/OnFailure the host's node supervisor restarts the failed init
    // container with the crash back-off and then starts the rest in order (`supervisor::init_seq`): when
    // it records that container, the start is its, not the plan's; without a supervisor each apply runs
    // the failed init container again.
    let failed_inits: Vec<&model::ObservedContainer> = set
        .template
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| !crate::runtime::docker::is_sidecar(c))
        .filter_map(|c| {
            pod.containers
                .get(&c.name)
                .filter(|o| o.status == "exited" && o.exit_code != 0)
        })
        .collect();
    let supervised_init = failed_inits.iter().any(|c| c.record.is_some());
    if !failed_inits.is_empty() && (policy == "Never" || (supervised_init && !sandbox_down)) {
        return None;
    }
    let wants_start = sandbox_down
        || never_started
        || held.is_some()
        || (supervisor && stopped.iter().any(|c| restarts(c)));
    if !wants_start {
        return None;
    }
    let reason = match held {
        Some(since) if !sandbox_down && !never_started => Reason::Held {
            restart_policy: policy.to_string(),
            since,
        },
        _ => Reason::Stopped {
            restart_policy: policy.to_string(),
        },
    };
    let runtime = runtimes.get(&pod.node)?;
    Some(Change {
        action: Action::Start,
        kind: ChangeKind::Pod,
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        node: pod.node.clone(),
        reason,
        details: stopped
            .iter()
            .map(|c| {
                let name = c.label(model::labels::CONTAINER).unwrap_or(&c.name);
                Detail::StartContainer(name.to_string())
            })
            .collect(),
        steps: runtime.start_pod(pod),
    })
}

/// Removes `pod` (a Delete, or the destroy half of a Replace).
pub(super) fn delete_change(
    pod: &ObservedPod,
    why: Reason,
    runtimes: &BTreeMap<String, Arc<dyn Runtime>>,
    action: Action,
) -> Change {
    Change {
        action,
        kind: ChangeKind::Pod,
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        node: pod.node.clone(),
        reason: why,
        details: Vec::new(),
        steps: runtimes
            .get(&pod.node)
            .map(|r| r.remove_pod(pod))
            .unwrap_or_default(),
    }
}

/// Why an unclaimed pod goes: its ReplicaSet was superseded within a Deployment that is still desired,
/// or nothing owns it any more.
fn orphan_reason(pod: &ObservedPod, sets: &[PodSet]) -> Reason {
    if let Some(OwnerRef { kind, name }) = &pod.owner {
        if kind == "DaemonSet"
            && sets
                .iter()
                .any(|s| s.namespace == pod.namespace && s.owner.as_ref() == pod.owner.as_ref())
        {
            return Reason::DaemonNotEligible {
                daemon_set: name.clone(),
                node: pod.node.clone(),
            };
        }
        if kind == "ReplicaSet" {
            if let Some(set) = sets.iter().find(|s| {
                s.namespace == pod.namespace
                    && s.deployment.as_ref().is_some_and(|d| {
                        name.strip_prefix(d.as_str())
                            .is_some_and(|r| r.starts_with('-'))
                    })
            }) {
                return Reason::Superseded {
                    old: name.clone(),
                    new: set.owner.as_ref().map(|o| o.name.clone()),
                };
            }
        }
    }
    Reason::NotDesired
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
