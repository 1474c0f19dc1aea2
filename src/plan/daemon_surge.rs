//! A DaemonSet RollingUpdate with a non-zero maxSurge (upstream `rollingUpdate`'s surge branch in
//! pkg/controller/daemon/update.go): on a node whose pod has an old template the new pod starts first,
//! under the node's free name, while the old one keeps running; the old pod goes once the new one is
//! available (Ready for `minReadySeconds`). At most maxSurge nodes wait on a new pod at a time; a node
//! whose old pod is not available gets its new pod at once, outside that count. Each plan takes one
//! step; apply re-plans until the update is done (`cli::drive`). [`step_math`] is the pure rule.

use std::collections::BTreeMap;

use super::Reason;
use super::diff::{Diff, NewPod, delete_change};
use super::{Action, PlanInput};
use crate::controllers::PodSet;
use crate::controllers::rollout::available;
use crate::model::ObservedPod;

/// One node's pods of the DaemonSet, as the step rule sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePods {
    /// Pods of an old template, and whether the (only) one is available.
    pub old: usize,
    pub old_available: bool,
    /// Pods of the current template, and whether the (only) one is available.
    pub new: usize,
    pub new_available: bool,
}

/// What one plan does on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing for the surge (the normal diff keeps, repairs or creates the node's pod).
    Keep,
    /// Start the new pod next to the old one.
    Surge,
    /// The new pod is available: delete the old one.
    DeleteOld,
}

/// Upstream's surge rule over all nodes (in a stable order) with `max_surge` resolved.
pub fn step_math(nodes: &[NodePods], max_surge: usize) -> Vec<Step> {
    let mut steps = vec![Step::Keep; nodes.len()];
    let mut surging = 0;
    let mut candidates = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.old > 1 || n.new > 1 {
            // Duplicates are the normal diff's to clean up; the node counts as surging meanwhile.
            surging += 1;
            continue;
        }
        match (n.old, n.new) {
            (0, _) => {}
            (_, 0) if !n.old_available => steps[i] = Step::Surge,
            (_, 0) => candidates.push(i),
            _ if !n.new_available => surging += 1,
            // Still surging for this plan: apply runs the hosts side by side, so another node's new pod
            // could start before this old one is gone. Upstream deletes and creates in one sync; we wait
            // one plan, so no moment ever has more than maxSurge nodes with two running pods.
            _ => {
                steps[i] = Step::DeleteOld;
                surging += 1;
            }
        }
    }
    for i in candidates
        .into_iter()
        .take(max_surge.saturating_sub(surging))
    {
        steps[i] = Step::Surge;
    }
    steps
}

/// A surging node's pods: the index into the observed pods of its one old and one new pod.
pub(super) struct NodeStep {
    step: Step,
    old: Option<usize>,
    new: Option<usize>,
}

/// A node set of a DaemonSet: its index into the sets, its pods, its old and new pod.
type NodeRow = (usize, NodePods, Option<usize>, Option<usize>);

/// For every node set (index into `sets`) of a DaemonSet that surges: this plan's step.
pub(super) fn steps(
    input: &PlanInput<'_>,
    observed: &[ObservedPod],
    sets: &[(&PodSet, Vec<usize>)],
) -> BTreeMap<usize, NodeStep> {
    let now = input.observed.observed_at.as_str();
    // Per DaemonSet, in the order of the sets: (set index, the node's pods).
    let mut per: BTreeMap<(&str, &str), Vec<NodeRow>> = BTreeMap::new();
    for (i, (set, members)) in sets.iter().enumerate() {
        let Some(ds) = &set.daemon else { continue };
        let mut n = NodePods {
            old: 0,
            old_available: false,
            new: 0,
            new_available: false,
        };
        let (mut old, mut new) = (None, None);
        for &m in members {
            let pod = &observed[m];
            let ok = available(pod, ds.min_ready_seconds, now);
            if pod.template_hash.as_deref() == Some(set.template_hash.as_str()) {
                n.new += 1;
                n.new_available = ok;
                new = Some(m);
            } else {
                n.old += 1;
                n.old_available = ok;
                old = Some(m);
            }
        }
        per.entry((set.namespace.as_str(), ds.daemon_set.as_str()))
            .or_default()
            .push((i, n, old, new));
    }
    let mut out = BTreeMap::new();
    for nodes in per.into_values() {
        let Some(ds) = sets[nodes[0].0].0.daemon.as_ref() else {
            continue;
        };
        let max_surge = ds.update.surge(nodes.len());
        if max_surge == 0 {
            continue;
        }
        let pods: Vec<NodePods> = nodes.iter().map(|n| n.1).collect();
        for (step, (i, _, old, new)) in step_math(&pods, max_surge).into_iter().zip(nodes) {
            out.insert(i, NodeStep { step, old, new });
        }
    }
    out
}

/// Carries out a node's step into `d`; returns the members the normal diff still handles, or `None`
/// when it must leave the node alone (it surges: the old pod keeps running as it is).
pub(super) fn apply<'s>(
    input: &PlanInput<'s>,
    observed: &[ObservedPod],
    set: &'s PodSet,
    members: &[usize],
    node: &NodeStep,
    d: &mut Diff<'s>,
) -> Option<Vec<usize>> {
    let (Some(ds), Some(old)) = (&set.daemon, node.old) else {
        return Some(members.to_vec());
    };
    let daemon_set = ds.daemon_set.clone();
    match (node.step, node.new) {
        (Step::Surge, None) => {
            let first = match &set.naming {
                crate::controllers::PodNaming::Fixed(n) => n.clone(),
                crate::controllers::PodNaming::Generated { prefix } => prefix.clone(),
            };
            let name = if observed[old].name == first {
                ds.surge_name.clone()
            } else {
                first
            };
            d.to_create.push(NewPod {
                set,
                name,
                replaces: None,
                reason: Some(Reason::DaemonSurge {
                    daemon_set,
                    old: observed[old].name.clone(),
                }),
            });
            None
        }
        (Step::DeleteOld, Some(new)) => {
            d.changes.push(delete_change(
                &observed[old],
                Reason::DaemonSurged {
                    daemon_set,
                    new: observed[new].name.clone(),
                },
                input.runtimes,
                Action::Delete,
            ));
            Some(vec![new])
        }
        // Waiting on the new pod: the normal diff looks after it alone.
        (_, Some(new)) => Some(vec![new]),
        (_, None) => Some(members.to_vec()),
    }
}

/// Per surging DaemonSet `(namespace, name)` with pods of an old template left: how many (what
/// `apply` waits on, see `cli::drive`). Pods of an unreachable host do not count: they are left as they
/// are until it is back, and apply would wait on them for nothing.
pub fn surges_left(
    pod_sets: &[PodSet],
    observed: &[ObservedPod],
) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for set in pod_sets {
        let Some(ds) = &set.daemon else { continue };
        let nodes = pod_sets
            .iter()
            .filter(|s| {
                s.namespace == set.namespace
                    && s.daemon
                        .as_ref()
                        .is_some_and(|o| o.daemon_set == ds.daemon_set)
            })
            .count();
        if ds.update.surge(nodes) == 0
            || out.contains_key(&(set.namespace.clone(), ds.daemon_set.clone()))
        {
            continue;
        }
        let old = observed
            .iter()
            .filter(|p| {
                p.node_reachable
                    && p.namespace == set.namespace
                    && p.owner
                        .as_ref()
                        .is_some_and(|o| o.kind == "DaemonSet" && o.name == ds.daemon_set)
                    && p.template_hash.as_deref() != Some(set.template_hash.as_str())
            })
            .count();
        if old > 0 {
            out.insert((set.namespace.clone(), ds.daemon_set.clone()), old);
        }
    }
    out
}

#[cfg(test)]
mod tests;
