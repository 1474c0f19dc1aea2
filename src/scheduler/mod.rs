//! Scheduler: kube-scheduler semantics as a small framework — `Filter` and `Score` plugins over a snapshot
//! of nodes and existing pods. Each placement is reserved into the working copy so the next pod sees it;
//! existing pods never move. Deterministic: ties go to the lowest node name (upstream picks at random).
//! Pure: no IO. Not implemented: ImageLocality (contributes 0), volume plugins, preemption.
//!
//! Speed: per pod, a `Cycle` pre-computes everything label-based (counters kept incrementally by the
//! snapshot); each filter runs once over the surviving node list; rejections are compact codes rendered
//! only when read. See docs/performance.md.

pub mod cycle;
pub mod filters;
pub mod scores;
pub mod snapshot;
pub mod terms;
pub mod volumes;
pub mod whatif;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use cycle::Cycle;
use filters::{Fail, Filter, Reason, Wanted};
use scores::Score;
use snapshot::{NodeInfo, PodInfo, Snapshot};
pub use snapshot::{Resources, pod_requests};

pub struct Scheduler {
    snap: Snapshot,
    filters: Vec<Box<dyn Filter>>,
    scores: Vec<Box<dyn Score>>,
    /// Reused per pod: the feasible node list, per-plugin scores, totals.
    feasible: Vec<u32>,
    score_bufs: Vec<Vec<i64>>,
    totals: Vec<i64>,
}

/// Where a pod went and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub node: String,
    /// Σ weight × score on the chosen node (0 when only one node was feasible: scoring is skipped).
    pub total: i64,
    /// Weighted score per plugin on the chosen node.
    pub scores: Vec<(String, i64)>,
    /// Nodes that failed a filter, with a detailed reason, sorted by node.
    pub rejected: Rejected,
}

/// The nodes a pod could not go to, kept as codes; `iter` renders `(node, detail)` sorted by node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    nodes: Arc<Vec<NodeInfo>>,
    pod: Wanted,
    items: Vec<(u32, Fail)>,
}

impl Rejected {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    fn sorted(&self) -> Vec<&(u32, Fail)> {
        let mut v: Vec<&(u32, Fail)> = self.items.iter().collect();
        v.sort_unstable_by_key(|(i, _)| *i);
        v
    }
    /// Per node (sorted by name): the upstream reason(s).
    pub fn reasons(&self) -> Vec<(&str, Vec<Reason>)> {
        self.sorted()
            .into_iter()
            .map(|(i, f)| {
                let n = &self.nodes[*i as usize];
                (n.name.as_str(), f.render(n, &self.pod))
            })
            .collect()
    }
    /// `(node, "Insufficient memory (requested 300Mi, free 120Mi)")`, sorted by node.
    pub fn iter(&self) -> impl Iterator<Item = (&str, String)> + '_ {
        self.reasons().into_iter().map(|(n, rs)| {
            let detail: Vec<String> = rs.into_iter().map(|r| r.detail).collect();
            (n, detail.join(", "))
        })
    }
}

/// A pod fits on no node: every node with the reason it was rejected, as codes. `Display` renders
/// kube-scheduler's message, `0/4 nodes are available: 1 node(s) had untolerated taint {…}, 3 Insufficient
/// cpu.`; [`FitError::reasons`] the detailed reason per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitError {
    /// Nodes in the snapshot (the `N` of `0/N nodes are available`).
    pub total_nodes: usize,
    /// Why each node was rejected.
    pub rejected: Rejected,
    /// A PreFilter failure or a note (boxed: a FitError travels in `Result`s).
    pub notes: Option<Box<FitNotes>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FitNotes {
    /// A PreFilter failure (no node was looked at), e.g. `persistentvolumeclaim "data" not found`:
    /// the message is `0/N nodes are available: <this>.`
    pub pre_filter: Option<String>,
    /// Said after the message, in parentheses: where a pod's bound volume is.
    pub note: Option<String>,
}

impl FitError {
    /// Adds a note said after the message.
    pub fn with_note(mut self, note: String) -> FitError {
        self.notes.get_or_insert_with(Default::default).note = Some(note);
        self
    }
}

impl FitError {
    /// Per node (sorted by name): the detailed reason(s), `("k8s-node1", "Insufficient cpu (requested 3,
    /// free 2)")`.
    pub fn reasons(&self) -> Vec<(String, String)> {
        self.rejected
            .iter()
            .map(|(n, d)| (n.to_string(), d))
            .collect()
    }
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let notes = self.notes.as_deref();
        if let Some(m) = notes.and_then(|n| n.pre_filter.as_ref()) {
            write!(f, "0/{} nodes are available: {m}.", self.total_nodes)?;
        } else {
            let reasons = self.rejected.reasons();
            f.write_str(&fit_message(
                self.total_nodes,
                reasons.iter().flat_map(|(_, rs)| rs.iter()),
            ))?;
        }
        if let Some(n) = notes.and_then(|n| n.note.as_ref()) {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

impl std::error::Error for FitError {}

impl Scheduler {
    pub fn new(nodes: &[Node], existing: &[Pod]) -> Scheduler {
        let scores = scores::default_scores();
        Scheduler {
            snap: Snapshot::new(nodes, existing),
            filters: filters::default_filters(),
            score_bufs: vec![vec![]; scores.len()],
            scores,
            feasible: vec![],
            totals: vec![],
        }
    }

    /// Filters, scores and picks a node for `pod`, then reserves it there.
    pub fn schedule(&mut self, pod: &Pod) -> Result<Placement, FitError> {
        self.schedule_with(pod, &[])
    }

    /// A PreFilter failure for `pod`: no node is looked at (see [`FitError::pre_filter`]).
    pub fn pre_filter_error(&self, message: String) -> FitError {
        FitError {
            total_nodes: self.snap.nodes.len(),
            rejected: Rejected {
                nodes: self.snap.nodes.clone(),
                pod: Wanted::default(),
                items: vec![],
            },
            notes: Some(Box::new(FitNotes {
                pre_filter: Some(message),
                note: None,
            })),
        }
    }

    /// [`Scheduler::schedule`] for a pod whose bound volumes are on `volume_nodes` (the VolumeBinding
    /// filter: the pod may only go where all of them are; see [`volumes`]).
    pub fn schedule_with(
        &mut self,
        pod: &Pod,
        volume_nodes: &[String],
    ) -> Result<Placement, FitError> {
        let mut cx = Cycle::new(PodInfo::new(pod), &mut self.snap);
        cx.volume_nodes = volume_nodes.to_vec();
        let snap = &self.snap;
        let feasible = &mut self.feasible;
        feasible.clear();
        feasible.extend(0..snap.nodes.len() as u32);
        let mut rejected: Vec<(u32, Fail)> = vec![];
        // Per node the first failing plugin decides (upstream short-circuits): later plugins only see
        // the survivors.
        for f in &self.filters {
            if feasible.is_empty() {
                break;
            }
            f.run(&cx, snap, feasible, &mut rejected);
        }
        let rejected = Rejected {
            nodes: snap.nodes.clone(),
            pod: Wanted {
                requests: cx.pod.requests.clone(),
                host_ports: cx.pod.host_ports.clone(),
            },
            items: rejected,
        };
        if feasible.is_empty() {
            return Err(FitError {
                total_nodes: snap.nodes.len(),
                rejected,
                notes: None,
            });
        }
        let (chosen, total, per_plugin) = if feasible.len() == 1 {
            (feasible[0] as usize, 0, vec![])
        } else {
            let totals = &mut self.totals;
            totals.clear();
            totals.resize(feasible.len(), 0);
            let mut ran = Vec::with_capacity(self.scores.len());
            for (s, buf) in self.scores.iter().zip(&mut self.score_bufs) {
                let used = s.score(&cx, snap, feasible, buf);
                if used {
                    let w = s.weight();
                    for (t, v) in totals.iter_mut().zip(buf.iter()) {
                        *t += v * w;
                    }
                }
                ran.push(used);
            }
            // First maximum in name order: the lowest node name wins ties.
            let mut best = 0;
            for (k, t) in totals.iter().enumerate() {
                if *t > totals[best] {
                    best = k;
                }
            }
            let breakdown = self
                .scores
                .iter()
                .zip(&self.score_bufs)
                .zip(ran)
                .map(|((s, buf), used)| {
                    (
                        s.name().to_string(),
                        if used { buf[best] * s.weight() } else { 0 },
                    )
                })
                .collect();
            (feasible[best] as usize, totals[best], breakdown)
        };
        let placement = Placement {
            node: snap.nodes[chosen].name.clone(),
            total,
            scores: per_plugin,
            rejected,
        };
        self.snap.reserve(&cx.pod, chosen);
        Ok(placement)
    }

    /// Requested resources reserved so far on `node` (cpu millicores, memory bytes, pods).
    pub fn reserved(&self, node: &str) -> Option<(i64, i64, i64)> {
        let n = &self.snap.state[self.snap.index_of(node)?];
        Some((n.requested.milli_cpu, n.requested.memory, n.pod_count))
    }
}

/// How many pods all `nodes` together may ever hold (the sum of their `allocatable.pods`): of a set's
/// missing pods, more than this can never all be placed, so the planner schedules at most this many
/// (plus one, for the message) one by one and only counts the rest (`replicas: 2147483647` is valid).
pub fn pod_capacity(nodes: &[Node]) -> usize {
    Snapshot::new(nodes, &[])
        .nodes
        .iter()
        .map(|n| usize::try_from(n.allowed_pods).unwrap_or(0))
        .sum()
}

/// The DaemonSet controller's `NodeShouldRunDaemonPod` for the unpinned daemon pod on `node`:
/// `(should_run, should_continue_running)`. Should run: nodeSelector and required node affinity match and
/// every NoSchedule/NoExecute taint is tolerated. Should continue: the same, but only NoExecute taints
/// count (a new NoSchedule taint does not remove a running pod). Resources and ports are the scheduler's.
pub fn daemon_fit(pod: &Pod, node: &Node) -> (bool, bool) {
    let info = PodInfo::new(pod);
    let n = snapshot::node_info(node);
    if let Some(want) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        if want != n.name {
            return (false, false);
        }
    }
    if !filters::node_affinity_matches(&info, &n) {
        return (false, false);
    }
    let untolerated = |effects: &[snapshot::Effect]| {
        n.taints.iter().any(|taint| {
            effects.contains(&taint.effect)
                && !info
                    .tolerations
                    .iter()
                    .any(|t| filters::tolerates(t, taint))
        })
    };
    use snapshot::Effect::{NoExecute, NoSchedule};
    (
        !untolerated(&[NoSchedule, NoExecute]),
        !untolerated(&[NoExecute]),
    )
}

/// `0/N nodes are available: <count> <reason>, ….` — counts per reason string, sorted as strings.
pub fn fit_message<'a>(total_nodes: usize, reasons: impl Iterator<Item = &'a Reason>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r.upstream.as_str()).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, c)| format!("{c} {r}")).collect();
    parts.sort();
    format!("0/{total_nodes} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests;
