//! The DaemonSet controller's pod creation (pkg/controller/daemon): one candidate pod per node, named
//! `<ds>-<5 chars>` deterministically from the node's name, labelled `controller-revision-hash`, pinned
//! to its node by the required node affinity upstream writes (`matchFields metadata.name In [node]`), with
//! the default tolerations upstream adds. Whether a candidate runs (nodeSelector, the template's own node
//! affinity, taints) is not decided here: the unpinned pod is kept in [`Daemon::unpinned`] for that check.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
    Toleration,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use super::{
    PodNaming, PodSet, controller_ref, name_of, namespace_of, pod_name, pod_template_hash,
};
use crate::model::OwnerRef;
use crate::yaml::SourceRef;

/// The label upstream puts on daemon pods (here: the template's `ComputeHash`, see docs/daemonsets.md).
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// A DaemonSet pod set's identity: which DaemonSet, which node, how it updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub daemon_set: String,
    pub node: String,
    pub update: Update,
    /// The pod before pinning (its own node affinity, plus the default tolerations): what
    /// `scheduler::daemon_fit` checks against the node.
    pub unpinned: Pod,
    /// The node's second pod name, for the new pod of a surge ([`surge_pod_name`]).
    pub surge_name: String,
    /// `spec.minReadySeconds`: how long a surge's new pod is Ready before the old one goes.
    pub min_ready_seconds: i64,
}

/// `spec.updateStrategy`.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Replace pods of an old template, at most `max_unavailable` (default 1; a percentage of the
    /// nodes that should run the pod, rounded up) at a time; with a non-zero `max_surge` (default 0)
    /// instead start the new pod next to the old one on at most that many nodes at a time.
    RollingUpdate {
        max_unavailable: IntOrString,
        max_surge: IntOrString,
    },
    /// A pod of an old template stays until it is removed by hand; its replacement has the new one.
    OnDelete,
}

impl Update {
    /// maxUnavailable as a number of pods, over `desired` nodes; never below 1.
    pub fn budget(&self, desired: usize) -> Option<usize> {
        let Update::RollingUpdate {
            max_unavailable, ..
        } = self
        else {
            return None;
        };
        Some(scaled(max_unavailable, desired).max(1))
    }

    /// maxSurge as a number of nodes, over `desired` nodes (`SurgeCount`: a percentage rounded up);
    /// 0 for OnDelete or no surge, which keeps the maxUnavailable path.
    pub fn surge(&self, desired: usize) -> usize {
        match self {
            Update::RollingUpdate { max_surge, .. } => scaled(max_surge, desired),
            Update::OnDelete => 0,
        }
    }
}

/// `GetScaledValueFromIntOrPercent(v, total, roundUp=true)`, negative as 0.
fn scaled(v: &IntOrString, total: usize) -> usize {
    match v {
        IntOrString::Int(n) => (*n).max(0) as usize,
        IntOrString::String(s) => {
            let p: usize = s.trim_end_matches('%').parse().unwrap_or(0);
            (p * total).div_ceil(100)
        }
    }
}

/// Tolerations the DaemonSet controller adds to every daemon pod (`AddOrUpdateDaemonPodTolerations`):
/// `(key, effect)`, operator Exists; network-unavailable only with hostNetwork.
const DEFAULT_TOLERATIONS: [(&str, &str); 6] = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];
const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The name of the DaemonSet's pod on `node`: the generated-name machinery with an ordinal taken from a
/// hash of the node's name, so each node's pod keeps its name across applies and template changes.
pub fn daemon_pod_name(daemon_set: &str, node: &str) -> String {
    let digest = Sha256::digest(node.as_bytes());
    let ordinal = u32::from_le_bytes(digest[0..4].try_into().unwrap_or_default());
    pod_name(&format!("{daemon_set}-"), ordinal)
}

/// The node's second pod name: a surge's new pod takes whichever of the two names is free, so the
/// names alternate across updates and stay deterministic (identical inputs, identical plans).
pub fn surge_pod_name(daemon_set: &str, node: &str) -> String {
    let first = daemon_pod_name(daemon_set, node);
    let digest = Sha256::digest(format!("{node}\0surge").as_bytes());
    let mut ordinal = u32::from_le_bytes(digest[0..4].try_into().unwrap_or_default());
    loop {
        let name = pod_name(&format!("{daemon_set}-"), ordinal);
        if name != first {
            return name;
        }
        ordinal = ordinal.wrapping_add(1);
    }
}

/// One candidate pod set per node (in the order of `nodes`).
pub fn pod_sets(ds: &DaemonSet, nodes: &[String], source: &SourceRef) -> Vec<PodSet> {
    let spec = ds.spec.clone().unwrap_or_default();
    let name = name_of(&ds.metadata);
    let namespace = namespace_of(&ds.metadata);
    let collision = ds.status.as_ref().and_then(|s| s.collision_count);
    let hash = pod_template_hash(&spec.template, collision);
    let tmeta = spec.template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.clone().unwrap_or_default();
    labels.insert(REVISION_LABEL.to_string(), hash.clone());
    let update = match spec.update_strategy.as_ref() {
        Some(s) if s.type_.as_deref() == Some("OnDelete") => Update::OnDelete,
        s => {
            let ru = s.and_then(|s| s.rolling_update.as_ref());
            Update::RollingUpdate {
                max_unavailable: ru
                    .and_then(|r| r.max_unavailable.clone())
                    .unwrap_or(IntOrString::Int(1)),
                max_surge: ru
                    .and_then(|r| r.max_surge.clone())
                    .unwrap_or(IntOrString::Int(0)),
            }
        }
    };
    let min_ready_seconds = i64::from(spec.min_ready_seconds.unwrap_or(0));
    let mut pod_spec = spec.template.spec.clone().unwrap_or_default();
    crate::manifest::defaults::pod_only(&mut pod_spec);
    add_default_tolerations(&mut pod_spec);

    nodes
        .iter()
        .map(|node| {
            let pod_name = daemon_pod_name(&name, node);
            let unpinned = Pod {
                metadata: ObjectMeta {
                    name: Some(pod_name.clone()),
                    generate_name: Some(format!("{name}-")),
                    namespace: Some(namespace.clone()),
                    labels: Some(labels.clone()),
                    annotations: tmeta.annotations.clone(),
                    owner_references: Some(vec![controller_ref(
                        "apps/v1",
                        "DaemonSet",
                        &name,
                        &ds.metadata,
                    )]),
                    ..Default::default()
                },
                spec: Some(pod_spec.clone()),
                status: None,
            };
            let mut template = unpinned.clone();
            if let Some(s) = template.spec.as_mut() {
                pin_to_node(s, node);
            }
            PodSet {
                namespace: namespace.clone(),
                owner: Some(OwnerRef {
                    kind: "DaemonSet".to_string(),
                    name: name.clone(),
                }),
                deployment: None,
                template_hash: hash.clone(),
                replicas: 1,
                naming: PodNaming::Fixed(pod_name),
                template,
                source: source.clone(),
                job: None,
                rollout: None,
                stateful: None,
                daemon: Some(Daemon {
                    daemon_set: name.clone(),
                    node: node.clone(),
                    update: update.clone(),
                    unpinned,
                    surge_name: surge_pod_name(&name, node),
                    min_ready_seconds,
                }),
            }
        })
        .collect()
}

fn add_default_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    let wanted = DEFAULT_TOLERATIONS
        .iter()
        .copied()
        .chain(host_network.then_some((NETWORK_UNAVAILABLE, "NoSchedule")));
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let t = Toleration {
            key: Some(key.to_string()),
            operator: Some("Exists".to_string()),
            effect: Some(effect.to_string()),
            ..Default::default()
        };
        // AddOrUpdateTolerationInPodSpec: a toleration with the same key and effect is replaced.
        match tolerations
            .iter_mut()
            .find(|o| o.key == t.key && o.effect == t.effect)
        {
            Some(o) => *o = t,
            None => tolerations.push(t),
        }
    }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required node affinity becomes one term
/// `matchFields metadata.name In [node]`; preferred terms are kept.
fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let na = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_fields: Some(vec![NodeSelectorRequirement {
                key: "metadata.name".to_string(),
                operator: "In".to_string(),
                values: Some(vec![node.to_string()]),
            }]),
            match_expressions: None,
        }],
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_resolves_percentages_up_and_never_below_one() {
        let pct = |s: &str| Update::RollingUpdate {
            max_unavailable: IntOrString::String(s.into()),
            max_surge: IntOrString::Int(0),
        };
        assert_eq!(pct("10%").budget(4), Some(1));
        assert_eq!(pct("50%").budget(5), Some(3));
        assert_eq!(
            Update::RollingUpdate {
                max_unavailable: IntOrString::Int(0),
                max_surge: IntOrString::Int(0),
            }
            .budget(4),
            Some(1)
        );
        assert_eq!(Update::OnDelete.budget(4), None);
    }

    #[test]
    fn surge_resolves_percentages_up_and_zero_without_it() {
        let surge = |s: IntOrString| Update::RollingUpdate {
            max_unavailable: IntOrString::Int(0),
            max_surge: s,
        };
        assert_eq!(surge(IntOrString::String("10%".into())).surge(4), 1);
        assert_eq!(surge(IntOrString::String("50%".into())).surge(5), 3);
        assert_eq!(surge(IntOrString::String("0%".into())).surge(5), 0);
        assert_eq!(surge(IntOrString::Int(2)).surge(5), 2);
        assert_eq!(Update::OnDelete.surge(4), 0);
    }

    #[test]
    fn the_surge_name_differs_from_the_first_and_is_stable() {
        let a = surge_pod_name("agent", "n1");
        assert_eq!(a, surge_pod_name("agent", "n1"));
        assert_ne!(a, daemon_pod_name("agent", "n1"));
        assert!(a.starts_with("agent-"));
    }
}

#[cfg(test)]
mod expansion_tests {
    use super::*;

    fn ds(yaml_spec: serde_json::Value) -> DaemonSet {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": yaml_spec}
            }
        }))
        .unwrap()
    }

    fn source() -> SourceRef {
        crate::manifest::parse(&[crate::manifest::RawFile {
            path: "apps/x.yaml".into(),
            bytes: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n".into(),
        }])
        .manifests
        .remove(0)
        .source
    }

    #[test]
    fn one_pinned_pod_per_node_with_the_default_tolerations() {
        let d = ds(serde_json::json!({
            "containers": [{"name": "a", "image": "nginx"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]
            }}},
            "tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Equal", "value": "x", "effect": "NoSchedule"}]
        }));
        let nodes = ["n1".to_string(), "n2".to_string()];
        let sets = pod_sets(&d, &nodes, &source());
        assert_eq!(sets.len(), 2);
        let s = &sets[1];
        assert_eq!(s.namespace, "kube-system");
        assert_eq!(s.replicas, 1);
        assert_eq!(s.naming, PodNaming::Fixed(daemon_pod_name("agent", "n2")));
        assert_eq!(
            s.owner,
            Some(OwnerRef {
                kind: "DaemonSet".into(),
                name: "agent".into()
            })
        );
        let labels = s.template.metadata.labels.clone().unwrap();
        assert_eq!(labels.get(REVISION_LABEL), Some(&s.template_hash));
        let spec = s.template.spec.clone().unwrap();
        // Pinned: the required node affinity is replaced by the node's name.
        let req = spec
            .affinity
            .unwrap()
            .node_affinity
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .unwrap();
        assert_eq!(req.node_selector_terms.len(), 1);
        let f = &req.node_selector_terms[0].match_fields.as_ref().unwrap()[0];
        assert_eq!(
            (f.key.as_str(), f.operator.as_str(), f.values.clone()),
            ("metadata.name", "In", Some(vec!["n2".to_string()]))
        );
        // The unpinned pod keeps the template's own affinity, for the eligibility check.
        let daemon = s.daemon.as_ref().unwrap();
        assert_eq!(daemon.node, "n2");
        let own = daemon.unpinned.spec.clone().unwrap().affinity.unwrap();
        assert!(format!("{own:?}").contains("disk"));
        // The six default tolerations; the template's own unschedulable one is replaced, not doubled.
        let tol: Vec<(String, String, String)> = spec
            .tolerations
            .unwrap()
            .into_iter()
            .map(|t| (t.key.unwrap(), t.operator.unwrap(), t.effect.unwrap()))
            .collect();
        assert_eq!(tol.len(), 6, "{tol:?}");
        assert!(tol.iter().all(|(_, op, _)| op == "Exists"));
        assert!(!tol.iter().any(|(k, _, _)| k == NETWORK_UNAVAILABLE));
        for (k, e) in DEFAULT_TOLERATIONS {
            assert!(tol.iter().any(|(tk, _, te)| tk == k && te == e), "{k}");
        }
    }

    #[test]
    fn host_network_pods_also_tolerate_network_unavailable() {
        let d = ds(
            serde_json::json!({"hostNetwork": true, "containers": [{"name": "a", "image": "nginx"}]}),
        );
        let sets = pod_sets(&d, &["n1".to_string()], &source());
        let tol = sets[0].template.spec.clone().unwrap().tolerations.unwrap();
        assert_eq!(tol.len(), 7);
        assert!(
            tol.iter()
                .any(|t| t.key.as_deref() == Some(NETWORK_UNAVAILABLE)
                    && t.effect.as_deref() == Some("NoSchedule"))
        );
    }

    #[test]
    fn names_are_per_node_stable_and_generated_shape() {
        let a = daemon_pod_name("agent", "k8s-node1");
        assert_eq!(a, daemon_pod_name("agent", "k8s-node1"));
        assert_ne!(a, daemon_pod_name("agent", "k8s-node2"));
        assert_ne!(
            a,
            daemon_pod_name("other", "k8s-node1")[..].replace("other", "agent")
        );
        let suffix = a.strip_prefix("agent-").unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .bytes()
                .all(|b| super::super::gohash::SAFE_ALPHABET.contains(&b))
        );
        // Long names are cut to 58 characters before the suffix, as upstream's generator does.
        assert_eq!(daemon_pod_name(&"x".repeat(80), "n").len(), 63);
    }
}
