//! Compiled pod-label matching for InterPodAffinity and PodTopologySpread: the namespace set of an
//! affinity term, compiled terms over [`crate::selector`]'s selectors, and the hashable "which pods
//! does this count" key the snapshot's incremental counters are interned by. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodAffinityTerm;

use crate::selector::Selector;

/// The label every namespace carries; the only namespace label the scheduler knows (it has no
/// Namespace objects), so a `namespaceSelector` is evaluated against it.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The namespaces an affinity term applies to: listed names, or a selector over namespace labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NsMatch {
    pub names: Vec<String>,
    pub selector: Option<Selector>,
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
    pub sel: Selector,
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
        let selector = t.namespace_selector.as_ref().map(|s| Selector::of(Some(s)));
        if names.is_empty() && selector.is_none() {
            names.push(owner_ns.to_string());
        }
        let sel = Selector::of(t.label_selector.as_ref())
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
    pub all: Vec<(NsMatch, Selector)>,
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
