//! The StatefulSet controller's ordering, per plan (semantics doc §16.2–16.3): which ordinals may be
//! created, replaced for a new template, or removed now. There is no controller loop: each plan does what
//! upstream's controller would do in one sync, so an OrderedReady set of N pods takes N applies to start
//! (each starts the lowest missing ordinal once all below it run), and a rolling update replaces one pod
//! (the highest ordinal ≥ partition of an old revision) per apply, once every pod runs. Pure.

use std::collections::{BTreeMap, BTreeSet};

use crate::controllers::PodSet;
use crate::controllers::stateful::{Update, ordinal_of};
use crate::model::ObservedPod;

type PodId = (String, String);

/// What this plan may do to StatefulSet pods.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Gates {
    /// Missing pods the plan may create.
    pub create: BTreeSet<PodId>,
    /// Running pods of an old revision the plan may replace.
    pub update: BTreeSet<PodId>,
    /// Pods beyond `replicas` the plan removes (OrderedReady: the highest ordinal first, one per plan).
    pub scale_down: BTreeSet<PodId>,
    /// StatefulSets still desired, `(namespace, name)`: their extra pods go only through `scale_down`.
    pub desired: BTreeSet<PodId>,
}

/// Running (every container, on a reachable node): upstream's "Running and Ready" (readiness probes
/// are not run by clusterctl; a running container counts as ready).
pub fn healthy(p: &ObservedPod) -> bool {
    p.node_reachable && p.sandbox.is_some() && p.all_containers().all(|c| c.is_running())
}

/// One set's step: `members` are the indices of its observed pods (at most one for an ordinal's set).
pub fn gates(sets: &[(&PodSet, Vec<usize>)], observed: &[ObservedPod]) -> Gates {
    let mut g = Gates::default();
    // Per StatefulSet, its ordinals' sets in ordinal order.
    let mut per: BTreeMap<PodId, Vec<(&PodSet, Option<&ObservedPod>)>> = BTreeMap::new();
    for (set, members) in sets {
        let Some(st) = &set.stateful else { continue };
        let member = members.first().map(|&i| &observed[i]);
        per.entry((set.namespace.clone(), st.stateful_set.clone()))
            .or_default()
            .push((set, member));
    }
    for ((ns, sts), mut ords) in per {
        ords.sort_by_key(|(s, _)| s.stateful.as_ref().map(|st| st.ordinal));
        let first = ords[0].0.stateful.clone().expect("stateful set");
        let pod_id = |s: &PodSet| (ns.clone(), s.pod_name(0));
        // Creation.
        for (set, member) in &ords {
            match member {
                None => {
                    g.create.insert(pod_id(set));
                    if first.ordered {
                        break;
                    }
                }
                Some(p) if first.ordered && !healthy(p) => break,
                Some(_) => {}
            }
        }
        // Rolling update: only when every pod is there and running.
        let all_healthy = ords.iter().all(|(_, m)| m.is_some_and(healthy));
        if let (true, Update::RollingUpdate { partition }) = (all_healthy, &first.update) {
            if let Some((set, _)) = ords.iter().rev().find(|(s, m)| {
                let ord = s.stateful.as_ref().map_or(0, |st| st.ordinal);
                ord >= *partition
                    && m.is_some_and(|p| p.template_hash.as_deref() != Some(&s.template_hash))
            }) {
                g.update.insert(pod_id(set));
            }
        }
        // Scale down: the pods of this StatefulSet no ordinal set claims.
        let names: BTreeSet<String> = ords.iter().map(|(s, _)| s.pod_name(0)).collect();
        let mut extras: Vec<(u32, &ObservedPod)> = observed
            .iter()
            .filter(|p| {
                p.namespace == ns
                    && p.owner
                        .as_ref()
                        .is_some_and(|o| o.kind == "StatefulSet" && o.name == sts)
                    && !names.contains(&p.name)
            })
            .filter_map(|p| Some((ordinal_of(&sts, &p.name)?, p)))
            .collect();
        extras.sort_by_key(|(o, _)| std::cmp::Reverse(*o));
        let take = if first.ordered { 1 } else { extras.len() };
        for (_, p) in extras
            .into_iter()
            .filter(|(_, p)| p.node_reachable)
            .take(take)
        {
            g.scale_down.insert((ns.clone(), p.name.clone()));
        }
        g.desired.insert((ns, sts));
    }
    g
}

/// Whether the StatefulSet's pod at `ordinal` is below the partition (kept at its revision).
pub fn below_partition(set: &PodSet) -> bool {
    match &set.stateful {
        Some(st) => match st.update {
            Update::RollingUpdate { partition } => st.ordinal < partition,
            Update::OnDelete => true,
        },
        None => false,
    }
}
