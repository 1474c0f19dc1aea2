//! One scheduling cycle's pre-computed state (upstream's PreFilter/PreScore): the pod's compiled facts,
//! its node-affinity result per node, and for the label-based plugins the counters and domain totals they
//! read. Built once per pod so each per-node check is a few array lookups.

use std::sync::Arc;

use super::filters::{first_untolerated, tolerates};
use super::snapshot::{CTaint, Effect, PodInfo, Snapshot, TermKind};
use super::terms::Matcher;

/// A DoNotSchedule constraint, with the matching-pod totals per domain over the eligible nodes.
#[derive(Debug, Clone)]
pub struct HardSpread {
    pub key: u32,
    pub max_skew: i64,
    pub self_match: bool,
    /// Global minimum over eligible domains (0 when fewer than minDomains; huge when there are none).
    pub min_match: i64,
    pub domain_counts: Vec<i64>,
}

/// Where a soft spread constraint's per-node pod counts come from.
#[derive(Debug, Clone, Copy)]
pub enum CountSource {
    Counter(usize),
    /// System default constraints select the pods of the same controller owner.
    Owner,
}

#[derive(Debug, Clone)]
pub struct SoftSpread {
    pub key: u32,
    pub max_skew: i64,
    pub source: CountSource,
    pub honor_affinity: bool,
    pub honor_taints: bool,
}

/// System default constraints (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway).
pub const DEFAULT_HOSTNAME_SKEW: i64 = 3;
pub const DEFAULT_ZONE_SKEW: i64 = 5;

#[derive(Debug, Clone)]
pub struct Cycle {
    pub pod: PodInfo,
    /// Node-affinity result per node; `None` = the pod has no node constraints.
    pub eligible: Option<Arc<Vec<bool>>>,
    pub tolerates_unschedulable: bool,
    pub requests_zero: bool,
    /// Required affinity: (key, counter of pods matching all terms) per term.
    pub affinity: Vec<(u32, usize)>,
    /// No pod anywhere matches all affinity terms and the pod matches them itself.
    pub first_pod_ok: bool,
    /// Required anti-affinity: (key, counter of pods matching the term) per term.
    pub anti_affinity: Vec<(u32, usize)>,
    /// Existing pods' required anti-affinity terms this pod matches (indices into existing_terms).
    pub existing_anti: Vec<usize>,
    /// Preferred terms: (key, counter, ±weight).
    pub preferred: Vec<(u32, usize, i64)>,
    /// Existing pods' weighted terms this pod matches: (index into existing_terms, weight).
    pub existing_weighted: Vec<(usize, i64)>,
    pub spread_hard: Vec<HardSpread>,
    pub spread_soft: Vec<SoftSpread>,
    /// Soft constraints come from the pod (nodes lacking a key are ignored) rather than system defaults.
    pub spread_require_all: bool,
    /// The nodes of the pod's bound volumes (VolumeBinding; empty = no constraint).
    pub volume_nodes: Vec<String>,
}

impl Cycle {
    pub fn new(pod: PodInfo, snap: &mut Snapshot) -> Cycle {
        let eligible = snap.eligible(&pod);
        let unsched = CTaint {
            key: crate::nodes::TAINT_UNSCHEDULABLE.into(),
            value: String::new(),
            effect: Effect::NoSchedule,
        };
        let tolerates_unschedulable = pod.tolerations.iter().any(|t| tolerates(t, &unsched));
        let mut cx = Cycle {
            tolerates_unschedulable,
            requests_zero: pod.requests.is_zero(),
            eligible,
            affinity: vec![],
            first_pod_ok: false,
            anti_affinity: vec![],
            existing_anti: vec![],
            preferred: vec![],
            existing_weighted: vec![],
            spread_hard: vec![],
            spread_soft: vec![],
            spread_require_all: true,
            volume_nodes: vec![],
            pod,
        };
        cx.inter_pod_affinity(snap);
        cx.topology_spread(snap);
        cx
    }

    fn inter_pod_affinity(&mut self, snap: &mut Snapshot) {
        let pod = &self.pod;
        if !pod.required_affinity.is_empty() {
            let all = Matcher {
                all: pod
                    .required_affinity
                    .iter()
                    .map(|t| (t.ns.clone(), t.sel.clone()))
                    .collect(),
                live_only: false,
            };
            let mut any_pair = false;
            for t in &pod.required_affinity {
                let key = snap.key_id(&t.topology_key);
                let c = snap.counter_for(&all, Some(key));
                any_pair |= snap.counters[c].domain_counts(key).iter().any(|n| *n > 0);
                self.affinity.push((key, c));
            }
            self.first_pod_ok = !any_pair
                && pod
                    .required_affinity
                    .iter()
                    .all(|t| t.matches(&pod.namespace, &pod.labels));
        }
        let single = |t: &super::terms::Term| Matcher {
            all: vec![(t.ns.clone(), t.sel.clone())],
            live_only: false,
        };
        for t in &pod.required_anti_affinity {
            let key = snap.key_id(&t.topology_key);
            let c = snap.counter_for(&single(t), Some(key));
            self.anti_affinity.push((key, c));
        }
        let preferred = pod
            .preferred_affinity
            .iter()
            .map(|(w, t)| (*w, t))
            .chain(pod.preferred_anti_affinity.iter().map(|(w, t)| (-*w, t)));
        for (w, t) in preferred {
            let key = snap.key_id(&t.topology_key);
            let c = snap.counter_for(&single(t), Some(key));
            self.preferred.push((key, c, w));
        }
        for (ix, e) in snap.existing_terms.iter().enumerate() {
            if e.term.matches(&pod.namespace, &pod.labels) {
                match e.kind {
                    TermKind::RequiredAnti => self.existing_anti.push(ix),
                    TermKind::Weighted(w) => self.existing_weighted.push((ix, w)),
                }
            }
        }
    }

    /// Is node `i` counted for a spread constraint with these inclusion policies?
    pub fn spread_includes(
        &self,
        snap: &Snapshot,
        i: usize,
        honor_affinity: bool,
        honor_taints: bool,
    ) -> bool {
        (!honor_affinity || self.eligible.as_ref().is_none_or(|e| e[i]))
            && (!honor_taints || first_untolerated(&self.pod.tolerations, &snap.nodes[i]).is_none())
    }

    fn topology_spread(&mut self, snap: &mut Snapshot) {
        if self.pod.spread.is_empty() {
            // System defaults: only for pods with a controller owner (the default selector).
            if self.pod.owner.is_some() {
                self.spread_require_all = false;
                self.spread_soft = vec![
                    SoftSpread {
                        key: snap.hostname_key,
                        max_skew: DEFAULT_HOSTNAME_SKEW,
                        source: CountSource::Owner,
                        honor_affinity: true,
                        honor_taints: false,
                    },
                    SoftSpread {
                        key: snap.zone_key,
                        max_skew: DEFAULT_ZONE_SKEW,
                        source: CountSource::Owner,
                        honor_affinity: true,
                        honor_taints: false,
                    },
                ];
            }
            return;
        }
        let spreads = std::mem::take(&mut self.pod.spread);
        let hard_keys: Vec<u32> = spreads
            .iter()
            .filter(|c| c.hard)
            .map(|c| snap.key_id(&c.topology_key))
            .collect();
        for c in &spreads {
            let key = snap.key_id(&c.topology_key);
            let counter = snap.counter_for(&c.matcher, None);
            if !c.hard {
                self.spread_soft.push(SoftSpread {
                    key,
                    max_skew: c.max_skew,
                    source: CountSource::Counter(counter),
                    honor_affinity: c.honor_affinity,
                    honor_taints: c.honor_taints,
                });
                continue;
            }
            // Eligible nodes: pass the inclusion policies and carry every hard constraint's key.
            let domains = snap.keys[key as usize].domains;
            let mut counts = vec![0i64; domains];
            let mut present = vec![false; domains];
            let per_node = &snap.counters[counter].per_node;
            for (i, pods) in per_node.iter().enumerate() {
                if !self.spread_includes(snap, i, c.honor_affinity, c.honor_taints)
                    || hard_keys.iter().any(|k| snap.domain(*k, i).is_none())
                {
                    continue;
                }
                let d = snap.domain(key, i).expect("eligible nodes carry every key");
                counts[d] += i64::from(*pods);
                present[d] = true;
            }
            let eligible_domains = present.iter().filter(|p| **p).count() as i64;
            let mut min_match = counts
                .iter()
                .zip(&present)
                .filter(|(_, p)| **p)
                .map(|(c, _)| *c)
                .min()
                .unwrap_or(i64::from(i32::MAX));
            if c.min_domains.is_some_and(|m| eligible_domains < m) {
                min_match = 0;
            }
            self.spread_hard.push(HardSpread {
                key,
                max_skew: c.max_skew,
                self_match: c.self_match,
                min_match,
                domain_counts: counts,
            });
        }
        self.pod.spread = spreads;
    }
}
