//! Scheduler: kube-scheduler semantics as a small framework — `Filter` and `Score` plugins over a snapshot
//! of nodes and existing pods. Each placement is reserved into the working copy so the next pod sees it;
//! existing pods never move. Deterministic: ties go to the lowest node name (upstream picks at random).
//! Pure: no IO. Not implemented yet: InterPodAffinity, explicit PodTopologySpread constraints,
//! ImageLocality (contributes 0), preemption.

pub mod filters;
pub mod scores;
pub mod snapshot;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};

use filters::{Filter, Reason};
use scores::Score;
use snapshot::{PodInfo, Snapshot};

pub struct Scheduler {
    snap: Snapshot,
    filters: Vec<Box<dyn Filter>>,
    scores: Vec<Box<dyn Score>>,
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
    pub rejected: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FitError {
    /// `0/4 nodes are available: 1 node(s) had untolerated taint {…}, 3 Insufficient cpu.`
    pub message: String,
    /// Per node (sorted): the detailed reason(s).
    pub reasons: Vec<(String, String)>,
}

impl Scheduler {
    pub fn new(nodes: &[Node], existing: &[Pod]) -> Scheduler {
        Scheduler {
            snap: Snapshot::new(nodes, existing),
            filters: filters::default_filters(),
            scores: scores::default_scores(),
        }
    }

    /// Filters, scores and picks a node for `pod`, then reserves it there.
    pub fn schedule(&mut self, pod: &Pod) -> Result<Placement, FitError> {
        let info = PodInfo::new(pod);
        let mut feasible = Vec::with_capacity(self.snap.nodes.len());
        let mut rejected: Vec<(usize, Vec<Reason>)> = vec![];
        for (i, node) in self.snap.nodes.iter().enumerate() {
            // Per node, the first failing plugin decides (upstream short-circuits).
            let failure = self
                .filters
                .iter()
                .map(|f| f.filter(&info, node))
                .find(|r| !r.is_empty());
            match failure {
                None => feasible.push(i),
                Some(reasons) => rejected.push((i, reasons)),
            }
        }
        let rejected_out = || -> Vec<(String, String)> {
            rejected
                .iter()
                .map(|(i, rs)| {
                    let detail: Vec<&str> = rs.iter().map(|r| r.detail.as_str()).collect();
                    (self.snap.nodes[*i].name.clone(), detail.join(", "))
                })
                .collect()
        };
        if feasible.is_empty() {
            return Err(FitError {
                message: fit_message(
                    self.snap.nodes.len(),
                    rejected.iter().flat_map(|(_, rs)| rs),
                ),
                reasons: rejected_out(),
            });
        }
        let (chosen, total, per_plugin) = if feasible.len() == 1 {
            (feasible[0], 0, vec![])
        } else {
            let mut totals = vec![0i64; feasible.len()];
            let mut per_plugin: Vec<(&'static str, i64, Option<Vec<i64>>)> = vec![];
            for s in &self.scores {
                let scores = s.score(&info, &self.snap, &feasible);
                if let Some(sc) = &scores {
                    for (t, v) in totals.iter_mut().zip(sc) {
                        *t += v * s.weight();
                    }
                }
                per_plugin.push((s.name(), s.weight(), scores));
            }
            // First maximum in name order: the lowest node name wins ties.
            let mut best = 0;
            for (k, t) in totals.iter().enumerate() {
                if *t > totals[best] {
                    best = k;
                }
            }
            let breakdown = per_plugin
                .into_iter()
                .map(|(name, w, sc)| (name.to_string(), sc.map_or(0, |v| v[best] * w)))
                .collect();
            (feasible[best], totals[best], breakdown)
        };
        let placement = Placement {
            node: self.snap.nodes[chosen].name.clone(),
            total,
            scores: per_plugin,
            rejected: rejected_out(),
        };
        self.snap.reserve(&info, chosen);
        Ok(placement)
    }

    /// Requested resources reserved so far on `node` (cpu millicores, memory bytes, pods).
    pub fn reserved(&self, node: &str) -> Option<(i64, i64, i64)> {
        let n = &self.snap.nodes[self.snap.index_of(node)?];
        Some((n.requested.milli_cpu, n.requested.memory, n.pod_count))
    }
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
