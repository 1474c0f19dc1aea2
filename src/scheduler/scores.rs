//! Score plugins with upstream weights, integer math and normalization: TaintToleration (3),
//! NodeAffinity preferred (2), PodTopologySpread system defaults (2), NodeResourcesFit LeastAllocated (1),
//! NodeResourcesBalancedAllocation (1). Each returns normalized scores for the feasible nodes, or `None`
//! when the plugin skips this pod (contributes 0). Pure.

use super::filters::{term_matches, tolerates};
use super::snapshot::{Effect, HOSTNAME_LABEL, PodInfo, Snapshot};

pub const MAX_NODE_SCORE: i64 = 100;

pub trait Score: Send + Sync {
    fn name(&self) -> &'static str;
    fn weight(&self) -> i64;
    /// Normalized scores in [0, 100], one per entry of `feasible` (indices into `snap.nodes`).
    fn score(&self, pod: &PodInfo, snap: &Snapshot, feasible: &[usize]) -> Option<Vec<i64>>;
}

pub fn default_scores() -> Vec<Box<dyn Score>> {
    vec![
        Box::new(TaintTolerationScore),
        Box::new(NodeAffinityScore),
        Box::new(DefaultPodTopologySpread),
        Box::new(LeastAllocated),
        Box::new(BalancedAllocation),
    ]
}

/// `DefaultNormalizeScore(100, reverse, scores)`.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

pub struct TaintTolerationScore;
impl Score for TaintTolerationScore {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
    fn weight(&self) -> i64 {
        3
    }
    fn score(&self, pod: &PodInfo, snap: &Snapshot, feasible: &[usize]) -> Option<Vec<i64>> {
        let tols: Vec<_> = pod
            .tolerations
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some("PreferNoSchedule")
                )
            })
            .collect();
        let mut s: Vec<i64> = feasible
            .iter()
            .map(|&i| {
                snap.nodes[i]
                    .taints
                    .iter()
                    .filter(|t| {
                        t.effect == Effect::PreferNoSchedule
                            && !tols.iter().any(|tol| tolerates(tol, t))
                    })
                    .count() as i64
            })
            .collect();
        default_normalize(&mut s, true);
        Some(s)
    }
}

pub struct NodeAffinityScore;
impl Score for NodeAffinityScore {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
    fn weight(&self) -> i64 {
        2
    }
    fn score(&self, pod: &PodInfo, snap: &Snapshot, feasible: &[usize]) -> Option<Vec<i64>> {
        let preferred = pod
            .affinity
            .as_ref()?
            .preferred_during_scheduling_ignored_during_execution
            .as_ref()
            .filter(|p| !p.is_empty())?;
        let mut s: Vec<i64> = feasible
            .iter()
            .map(|&i| {
                preferred
                    .iter()
                    .filter(|p| term_matches(&p.preference, &snap.nodes[i]))
                    .map(|p| i64::from(p.weight))
                    .sum()
            })
            .collect();
        default_normalize(&mut s, false);
        Some(s)
    }
}

/// PodTopologySpread with the system default constraints (hostname maxSkew 3, zone maxSkew 5, both
/// ScheduleAnyway), selecting the pods of the same controller owner (what the owner's selector selects).
pub struct DefaultPodTopologySpread;
impl Score for DefaultPodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }
    fn weight(&self) -> i64 {
        2
    }
    fn score(&self, pod: &PodInfo, snap: &Snapshot, feasible: &[usize]) -> Option<Vec<i64>> {
        let owner = pod.owner.as_ref()?;
        let counts = snap.owner_counts.get(owner);
        let count = |i: usize| counts.map_or(0, |c| i64::from(c[i]));
        // Domains among feasible nodes: hostname → one per node; zone → distinct values ("" for nodes
        // without the label counts as one domain, as upstream's pair map does).
        let host_weight = ((feasible.len() + 2) as f64).ln();
        let mut zone_seen = vec![false; snap.zones.len() + 1];
        for &i in feasible {
            zone_seen[snap.nodes[i].zone.unwrap_or(snap.zones.len())] = true;
        }
        let zone_weight = ((zone_seen.iter().filter(|s| **s).count() + 2) as f64).ln();
        let mut zone_counts = vec![0i64; snap.zones.len()];
        if !snap.zones.is_empty() {
            for (i, n) in snap.nodes.iter().enumerate() {
                if let Some(z) = n.zone {
                    zone_counts[z] += count(i);
                }
            }
        }
        let raw: Vec<i64> = feasible
            .iter()
            .map(|&i| {
                let n = &snap.nodes[i];
                let mut s = 0.0;
                if n.labels.contains_key(HOSTNAME_LABEL) {
                    s += count(i) as f64 * host_weight + (3 - 1) as f64;
                }
                if let Some(z) = n.zone {
                    s += zone_counts[z] as f64 * zone_weight + (5 - 1) as f64;
                }
                s.round() as i64
            })
            .collect();
        let (min, max) = (
            raw.iter().copied().min().unwrap_or(0),
            raw.iter().copied().max().unwrap_or(0),
        );
        Some(
            raw.iter()
                .map(|&r| {
                    if max == 0 {
                        MAX_NODE_SCORE
                    } else {
                        MAX_NODE_SCORE * (max + min - r) / max
                    }
                })
                .collect(),
        )
    }
}

pub struct LeastAllocated;
impl Score for LeastAllocated {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
    fn weight(&self) -> i64 {
        1
    }
    fn score(&self, pod: &PodInfo, snap: &Snapshot, feasible: &[usize]) -> Option<Vec<i64>> {
        let least = |requested: i64, alloc: i64| -> Option<i64> {
            if alloc == 0 {
                return None;
            }
            Some(if requested > alloc {
                0
            } else {
                (alloc - requested) * MAX_NODE_SCORE / alloc
            })
        };
        Some(
            feasible
                .iter()
                .map(|&i| {
                    let n = &snap.nodes[i];
                    let parts = [
                        least(
                            n.non_zero_requested.0 + pod.non_zero.0,
                            n.allocatable.milli_cpu,
                        ),
                        least(
                            n.non_zero_requested.1 + pod.non_zero.1,
                            n.allocatable.memory,
                        ),
                    ];
                    let (sum, w) = parts
                        .iter()
                        .flatten()
                        .fold((0, 0), |(s, w), v| (s + v, w + 1));
                    if w == 0 { 0 } else { sum / w }
                })
                .collect(),
        )
    }
}

pub struct BalancedAllocation;
impl Score for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }
    fn weight(&self) -> i64 {
        1
    }
    fn score(&self, pod: &PodInfo, snap: &Snapshot, feasible: &[usize]) -> Option<Vec<i64>> {
        if pod.requests.milli_cpu == 0 && pod.requests.memory == 0 {
            return None;
        }
        let frac = |req: i64, alloc: i64| -> Option<f64> {
            (alloc > 0).then(|| (req as f64 / alloc as f64).min(1.0))
        };
        Some(
            feasible
                .iter()
                .map(|&i| {
                    let n = &snap.nodes[i];
                    let f: Vec<f64> = [
                        frac(
                            n.requested.milli_cpu + pod.requests.milli_cpu,
                            n.allocatable.milli_cpu,
                        ),
                        frac(
                            n.requested.memory + pod.requests.memory,
                            n.allocatable.memory,
                        ),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    let std = if f.len() == 2 {
                        (f[0] - f[1]).abs() / 2.0
                    } else {
                        0.0
                    };
                    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
                })
                .collect(),
        )
    }
}
