//! Compiled pod-label matching for InterPodAffinity and PodTopologySpread: label selectors, the
//! namespace set of an affinity term, and the hashable "which pods does this count" key the snapshot's
//! incremental counters are interned by. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodAffinityTerm;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The label every namespace carries; the only namespace label the scheduler knows (it has no
/// Namespace objects), so a `namespaceSelector` is evaluated against it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Req {
    pub key: String,
    pub op: Op,
    /// Sorted, so equal selectors intern to one counter.
    pub values: Vec<String>,
}

/// `metav1.LabelSelectorAsSelector`: a missing selector selects nothing, an empty one everything, an
/// invalid one (unknown operator, `In` without values) is an error that upstream turns into "nothing".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LSel {
    Nothing,
    /// ANDed requirements; empty = everything.
    All(Vec<Req>),
}

impl LSel {
    pub fn compile(sel: Option<&LabelSelector>) -> LSel {
        let Some(sel) = sel else {
            return LSel::Nothing;
        };
        let mut reqs = vec![];
        for (k, v) in sel.match_labels.iter().flatten() {
            reqs.push(Req {
                key: k.clone(),
                op: Op::In,
                values: vec![v.clone()],
            });
        }
        for e in sel.match_expressions.iter().flatten() {
            let mut values = e.values.clone().unwrap_or_default();
            values.sort();
            values.dedup();
            let op = match e.operator.as_str() {
                "In" if !values.is_empty() => Op::In,
                "NotIn" if !values.is_empty() => Op::NotIn,
                "Exists" if values.is_empty() => Op::Exists,
                "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
                _ => return LSel::Nothing,
            };
            reqs.push(Req {
                key: e.key.clone(),
                op,
                values,
            });
        }
        reqs.sort();
        reqs.dedup();
        LSel::All(reqs)
    }

    /// Adds `key in (v)` (`mismatch`: `key notin (v)`) for each key the pod has: matchLabelKeys /
    /// mismatchLabelKeys. Keys the pod lacks are ignored, as upstream does.
    pub fn with_label_keys(
        mut self,
        labels: &BTreeMap<String, String>,
        keys: &[String],
        mismatch: bool,
    ) -> LSel {
        if let LSel::All(reqs) = &mut self {
            for k in keys {
                if let Some(v) = labels.get(k) {
                    reqs.push(Req {
                        key: k.clone(),
                        op: if mismatch { Op::NotIn } else { Op::In },
                        values: vec![v.clone()],
                    });
                }
            }
            reqs.sort();
            reqs.dedup();
        }
        self
    }

    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            LSel::Nothing => false,
            LSel::All(reqs) => reqs.iter().all(|r| {
                let v = get(&r.key);
                match r.op {
                    Op::In => v.is_some_and(|v| r.values.iter().any(|x| x == v)),
                    Op::NotIn => v.is_none_or(|v| !r.values.iter().any(|x| x == v)),
                    Op::Exists => v.is_some(),
                    Op::DoesNotExist => v.is_none(),
                }
            }),
        }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }
}

/// The namespaces an affinity term applies to: listed names, or a selector over namespace labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NsMatch {
    pub names: Vec<String>,
    pub selector: Option<LSel>,
}

impl NsMatch {
    pub fn only(ns: &str) -> NsMatch {
        NsMatch {
            names: vec![ns.to_string()],
            selector: None,
        }
    }
    pub fn matches(&self, ns: &str) -> bool {
        self.names.iter().any(|n| n == ns)
            || self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches_with(|k| (k == NAMESPACE_NAME_LABEL).then_some(ns)))
    }
}

/// A compiled `PodAffinityTerm`, namespaces resolved against the pod that declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Term {
    pub ns: NsMatch,
    pub sel: LSel,
    pub topology_key: String,
}

impl Term {
    pub fn compile(
        t: &PodAffinityTerm,
        owner_ns: &str,
        owner_labels: &BTreeMap<String, String>,
    ) -> Term {
        let mut names = t.namespaces.clone().unwrap_or_default();
        names.sort();
        names.dedup();
        let selector = t
            .namespace_selector
            .as_ref()
            .map(|s| LSel::compile(Some(s)));
        if names.is_empty() && selector.is_none() {
            names.push(owner_ns.to_string());
        }
        let sel = LSel::compile(t.label_selector.as_ref())
            .with_label_keys(
                owner_labels,
                t.match_label_keys.as_deref().unwrap_or(&[]),
                false,
            )
            .with_label_keys(
                owner_labels,
                t.mismatch_label_keys.as_deref().unwrap_or(&[]),
                true,
            );
        Term {
            ns: NsMatch { names, selector },
            sel,
            topology_key: t.topology_key.clone(),
        }
    }

    pub fn matches(&self, ns: &str, labels: &BTreeMap<String, String>) -> bool {
        self.ns.matches(ns) && self.sel.matches(labels)
    }
}

/// Which pods a counter counts: those matching every (namespaces, selector) pair; `live_only` leaves out
/// terminating pods (PodTopologySpread does, InterPodAffinity does not).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher {
    pub all: Vec<(NsMatch, LSel)>,
    pub live_only: bool,
}

impl Matcher {
    pub fn matches(&self, ns: &str, labels: &BTreeMap<String, String>, terminating: bool) -> bool {
        !(self.live_only && terminating)
            && self
                .all
                .iter()
                .all(|(n, s)| n.matches(ns) && s.matches(labels))
    }
}
