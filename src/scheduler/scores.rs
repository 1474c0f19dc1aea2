//! Score plugins with upstream weights, integer math and normalization: TaintToleration (3),
//! NodeAffinity preferred (2), PodTopologySpread (2), InterPodAffinity (2), NodeResourcesFit
//! LeastAllocated (1), NodeResourcesBalancedAllocation (1). Each writes normalized scores for the feasible
//! nodes into a reused buffer, or returns `false` when the plugin skips this pod (contributes 0). Pure.

use super::cycle::{CountSource, Cycle};
use super::filters::{term_matches, tolerates};
use super::snapshot::{Effect, NO_DOMAIN, Snapshot};

/// Go's `math.Round` (half away from zero) for the non-negative raw spread scores, without the libm
/// call: truncate, then look at the exact fractional part.
fn round_half_away(s: f64) -> i64 {
    debug_assert!(s >= 0.0);
    let t = s as i64;
    if s - t as f64 >= 0.5 { t + 1 } else { t }
}

pub const MAX_NODE_SCORE: i64 = 100;

pub trait Score: Send + Sync {
    fn name(&self) -> &'static str;
    fn weight(&self) -> i64;
    /// Normalized scores in [0, 100] into `out`, one per entry of `feasible` (indices into `snap.nodes`);
    /// `false` = PreScore Skip.
    fn score(&self, cx: &Cycle, snap: &Snapshot, feasible: &[u32], out: &mut Vec<i64>) -> bool;
}

pub fn default_scores() -> Vec<Box<dyn Score>> {
    vec![
        Box::new(TaintTolerationScore),
        Box::new(NodeAffinityScore),
        Box::new(PodTopologySpreadScore),
        Box::new(InterPodAffinityScore),
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
    fn score(&self, cx: &Cycle, snap: &Snapshot, feasible: &[u32], out: &mut Vec<i64>) -> bool {
        out.clear();
        if !snap.any_soft_taint {
            // Every count is 0; reverse normalization makes that 100 everywhere.
            out.resize(feasible.len(), MAX_NODE_SCORE);
            return true;
        }
        let tols: Vec<_> = cx
            .pod
            .tolerations
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some("PreferNoSchedule")
                )
            })
            .collect();
        out.extend(feasible.iter().map(|&i| {
            let n = &snap.nodes[i as usize];
            if !n.has_soft_taint {
                return 0;
            }
            n.taints
                .iter()
                .filter(|t| {
                    t.effect == Effect::PreferNoSchedule
                        && !tols.iter().any(|tol| tolerates(tol, t))
                })
                .count() as i64
        }));
        default_normalize(out, true);
        true
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
    fn score(&self, cx: &Cycle, snap: &Snapshot, feasible: &[u32], out: &mut Vec<i64>) -> bool {
        let Some(preferred) = cx
            .pod
            .affinity
            .as_ref()
            .and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .filter(|p| !p.is_empty())
        else {
            return false;
        };
        out.clear();
        out.extend(feasible.iter().map(|&i| {
            preferred
                .iter()
                .filter(|p| term_matches(&p.preference, &snap.nodes[i as usize]))
                .map(|p| i64::from(p.weight))
                .sum::<i64>()
        }));
        default_normalize(out, false);
        true
    }
}

/// Per soft constraint: node→domain map, per-node (Ok) or per-domain (Err) counts, weight, maxSkew − 1.
type SpreadColumn<'a> = (&'a [u32], Result<&'a [u32], &'a [i64]>, f64, f64);

/// PodTopologySpread scoring for the pod's ScheduleAnyway constraints, or the system defaults
/// (hostname maxSkew 3, zone maxSkew 5) selecting the pods of the same controller owner.
pub struct PodTopologySpreadScore;
impl Score for PodTopologySpreadScore {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }
    fn weight(&self) -> i64 {
        2
    }
    fn score(&self, cx: &Cycle, snap: &Snapshot, feasible: &[u32], out: &mut Vec<i64>) -> bool {
        let soft = &cx.spread_soft;
        if soft.is_empty() {
            return false;
        }
        let owner = cx.pod.owner.as_ref().and_then(|o| snap.owner_counts.get(o));
        let per_node = |src: CountSource, i: usize| -> i64 {
            match src {
                CountSource::Counter(c) => i64::from(snap.counters[c].per_node[i]),
                CountSource::Owner => owner.map_or(0, |o| i64::from(o.per_node[i])),
            }
        };
        // Pod-declared constraints ignore feasible nodes lacking any of their keys.
        let ignored = |i: usize| {
            cx.spread_require_all && soft.iter().any(|c| snap.domain(c.key, i).is_none())
        };
        let considered = feasible.iter().filter(|&&i| !ignored(i as usize)).count();
        // Per constraint: normalizing weight and, for non-hostname keys, matching pods per domain.
        let mut weights = Vec::with_capacity(soft.len());
        let mut domain_counts: Vec<Option<Vec<i64>>> = Vec::with_capacity(soft.len());
        for c in soft {
            if c.key == snap.hostname_key {
                weights.push(((considered + 2) as f64).ln());
                domain_counts.push(None);
                continue;
            }
            // Domains of the considered feasible nodes; a node without the label joins the "" domain
            // (only possible for system defaults), which counts toward the size.
            let domains = snap.keys[c.key as usize].domains;
            let mut present = vec![false; domains + 1];
            for &i in feasible {
                if !ignored(i as usize) {
                    present[snap.domain(c.key, i as usize).unwrap_or(domains)] = true;
                }
            }
            weights.push(((present.iter().filter(|p| **p).count() + 2) as f64).ln());
            let mut counts = vec![0i64; domains];
            let incremental = !c.honor_taints
                && (cx.eligible.is_none() || !c.honor_affinity)
                && (!cx.spread_require_all || soft.len() == 1);
            match (c.source, incremental) {
                (CountSource::Owner, true) if c.key == snap.zone_key => {
                    if let Some(o) = owner {
                        counts
                            .iter_mut()
                            .zip(&o.per_zone)
                            .for_each(|(a, b)| *a = i64::from(*b));
                    }
                }
                (CountSource::Counter(id), true) => {
                    let by = snap.counters[id]
                        .by_key
                        .iter()
                        .find(|(k, _)| *k == c.key)
                        .map(|(_, v)| v);
                    match by {
                        Some(v) => counts
                            .iter_mut()
                            .zip(v)
                            .for_each(|(a, b)| *a = i64::from(*b)),
                        None => {
                            for (i, n) in snap.counters[id].per_node.iter().enumerate() {
                                if let Some(d) = snap.domain(c.key, i) {
                                    counts[d] += i64::from(*n);
                                }
                            }
                        }
                    }
                }
                _ => {
                    for i in 0..snap.nodes.len() {
                        if !cx.spread_includes(snap, i, c.honor_affinity, c.honor_taints)
                            || (cx.spread_require_all
                                && soft.iter().any(|k| snap.domain(k.key, i).is_none()))
                        {
                            continue;
                        }
                        if let Some(d) = snap.domain(c.key, i) {
                            counts[d] += per_node(c.source, i);
                        }
                    }
                }
            }
            domain_counts.push(Some(counts));
        }
        // Per constraint, what the node loop reads: the key's node→domain map, and either the per-node
        // counts (hostname) or the per-domain counts.
        let cols: Vec<SpreadColumn> = soft
            .iter()
            .zip(&domain_counts)
            .zip(&weights)
            .map(|((c, dc), w)| {
                let dom = snap.keys[c.key as usize].node_dom.as_slice();
                let cnt = match dc {
                    Some(v) => Err(v.as_slice()),
                    None => Ok(match c.source {
                        CountSource::Counter(id) => snap.counters[id].per_node.as_slice(),
                        CountSource::Owner => owner.map_or(&[][..], |o| o.per_node.as_slice()),
                    }),
                };
                (dom, cnt, *w, (c.max_skew - 1) as f64)
            })
            .collect();
        out.clear();
        let mut min = i64::MAX;
        let mut max = 0;
        for &i in feasible {
            let i = i as usize;
            if cx.spread_require_all && ignored(i) {
                out.push(-1);
                continue;
            }
            let mut s = 0.0;
            for (dom, cnt, w, skew) in &cols {
                let d = dom[i];
                if d == NO_DOMAIN {
                    continue;
                }
                let n = match cnt {
                    Ok(per_node) => per_node.get(i).map_or(0, |v| i64::from(*v)),
                    Err(per_domain) => per_domain[d as usize],
                };
                s += n as f64 * w + skew;
            }
            let s = round_half_away(s);
            min = min.min(s);
            max = max.max(s);
            out.push(s);
        }
        let normalize = |s: i64| -> i64 {
            if s < 0 {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - s) / max
            }
        };
        // Raw scores take few distinct values (pod counts are small): a table saves a division per node.
        if min <= max && max - min <= 4096 {
            let table: Vec<i64> = (min..=max).map(normalize).collect();
            for s in out.iter_mut() {
                *s = if *s < 0 {
                    0
                } else {
                    table[(*s - min) as usize]
                };
            }
        } else {
            out.iter_mut().for_each(|s| *s = normalize(*s));
        }
        true
    }
}

/// InterPodAffinity scoring: the pod's preferred (anti-)affinity terms against existing pods, and
/// existing pods' required affinity (weight 1) and preferred terms against the pod, summed per topology
/// domain, then min-max normalized.
pub struct InterPodAffinityScore;
impl Score for InterPodAffinityScore {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }
    fn weight(&self) -> i64 {
        2
    }
    fn score(&self, cx: &Cycle, snap: &Snapshot, feasible: &[u32], out: &mut Vec<i64>) -> bool {
        if cx.preferred.is_empty() && cx.existing_weighted.is_empty() {
            return false;
        }
        out.clear();
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for &i in feasible {
            let i = i as usize;
            let mut s = 0;
            for &(key, c, w) in &cx.preferred {
                if let Some(d) = snap.domain(key, i) {
                    s += w * i64::from(snap.counters[c].domain_counts(key)[d]);
                }
            }
            for &(ix, w) in &cx.existing_weighted {
                let e = &snap.existing_terms[ix];
                if let Some(d) = snap.domain(e.key, i) {
                    s += w * i64::from(e.per_domain[d]);
                }
            }
            min = min.min(s);
            max = max.max(s);
            out.push(s);
        }
        let diff = max - min;
        for s in out.iter_mut() {
            *s = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
        true
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
    fn score(&self, cx: &Cycle, snap: &Snapshot, feasible: &[u32], out: &mut Vec<i64>) -> bool {
        let least = |requested: i64, alloc: i64| -> i64 {
            if requested > alloc {
                0
            } else {
                (alloc - requested) * MAX_NODE_SCORE / alloc
            }
        };
        let (pc, pm) = cx.pod.non_zero;
        out.clear();
        out.extend(feasible.iter().map(|&i| {
            let h = &snap.hot[i as usize];
            let (ac, am) = (h.alloc_cpu, h.alloc_mem);
            // Resources with allocatable 0 are left out of the average.
            match (ac > 0, am > 0) {
                (true, true) => (least(h.nz_cpu + pc, ac) + least(h.nz_mem + pm, am)) / 2,
                (true, false) => least(h.nz_cpu + pc, ac),
                (false, true) => least(h.nz_mem + pm, am),
                (false, false) => 0,
            }
        }));
        true
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
    fn score(&self, cx: &Cycle, snap: &Snapshot, feasible: &[u32], out: &mut Vec<i64>) -> bool {
        let req = &cx.pod.requests;
        if req.milli_cpu == 0 && req.memory == 0 {
            return false;
        }
        out.clear();
        out.extend(feasible.iter().map(|&i| {
            let h = &snap.hot[i as usize];
            let (ac, am) = (h.alloc_cpu, h.alloc_mem);
            let frac = |r: i64, a: i64| (r as f64 / a as f64).min(1.0);
            // One resource (the other has allocatable 0): std 0.
            let std = if ac > 0 && am > 0 {
                let fc = frac(h.req_cpu + req.milli_cpu, ac);
                let fm = frac(h.req_mem + req.memory, am);
                (fc - fm).abs() / 2.0
            } else {
                0.0
            };
            ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
        }));
        true
    }
}
