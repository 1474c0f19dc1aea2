//! Filter plugins (kube-scheduler's default order): NodeUnschedulable, NodeName, TaintToleration,
//! NodeAffinity (nodeSelector + required terms), NodePorts, NodeResourcesFit. Each returns the upstream
//! reason strings plus a detailed explanation. Pure functions over the snapshot.

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Toleration};

use super::snapshot::{CTaint, Effect, NodeInfo, PodInfo};
use crate::quantity::{Format, Quantity};

/// One failure: the upstream reason (aggregated into the FitError message) and a detailed explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub upstream: String,
    pub detail: String,
}

impl Reason {
    fn plain(s: &str) -> Reason {
        Reason {
            upstream: s.to_string(),
            detail: s.to_string(),
        }
    }
}

pub trait Filter: Send + Sync {
    fn name(&self) -> &'static str;
    /// Empty = the node passes.
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Vec<Reason>;
}

pub fn default_filters() -> Vec<Box<dyn Filter>> {
    vec![
        Box::new(NodeUnschedulable),
        Box::new(NodeName),
        Box::new(TaintToleration),
        Box::new(NodeAffinity),
        Box::new(NodePorts),
        Box::new(NodeResourcesFit),
    ]
}

/// `ToleratesTaint`: effect empty or equal, key empty or equal, Exists or equal values.
pub fn tolerates(t: &Toleration, taint: &CTaint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && Effect::parse(effect) != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value,
        _ => false,
    }
}

pub struct NodeUnschedulable;
impl Filter for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Vec<Reason> {
        let taint = CTaint {
            key: crate::nodes::TAINT_UNSCHEDULABLE.into(),
            value: String::new(),
            effect: Effect::NoSchedule,
        };
        if node.unschedulable && !pod.tolerations.iter().any(|t| tolerates(t, &taint)) {
            vec![Reason::plain("node(s) were unschedulable")]
        } else {
            vec![]
        }
    }
}

pub struct NodeName;
impl Filter for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Vec<Reason> {
        if pod.node_name.is_empty() || pod.node_name == node.name {
            vec![]
        } else {
            vec![Reason::plain(
                "node(s) didn't match the requested node name",
            )]
        }
    }
}

pub struct TaintToleration;
impl Filter for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Vec<Reason> {
        let untolerated = node.taints.iter().find(|taint| {
            matches!(taint.effect, Effect::NoSchedule | Effect::NoExecute)
                && !pod.tolerations.iter().any(|t| tolerates(t, taint))
        });
        match untolerated {
            Some(t) => {
                let s = format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value);
                vec![Reason {
                    upstream: s.clone(),
                    detail: s,
                }]
            }
            None => vec![],
        }
    }
}

/// One node selector requirement against a node (labels, or `metadata.name` for fields).
fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            match (v.parse::<i64>(), bound.parse::<i64>()) {
                (Ok(v), Ok(b)) => {
                    if r.operator == "Gt" {
                        v > b
                    } else {
                        v < b
                    }
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// A term matches iff it has at least one requirement and all of them match.
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs
        .iter()
        .all(|r| requirement_matches(r, node.labels.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            r.key == "metadata.name"
                && matches!(r.operator.as_str(), "In" | "NotIn")
                && requirement_matches(r, Some(&node.name))
        })
}

pub struct NodeAffinity;
impl Filter for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Vec<Reason> {
        let selector_ok = pod
            .node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v));
        let required = pod.affinity.as_ref().and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
        let affinity_ok = required.is_none_or(|sel| {
            sel.node_selector_terms
                .iter()
                .any(|t| term_matches(t, node))
        });
        if selector_ok && affinity_ok {
            vec![]
        } else {
            vec![Reason::plain(
                "node(s) didn't match Pod's node affinity/selector",
            )]
        }
    }
}

pub struct NodePorts;
impl Filter for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Vec<Reason> {
        let conflict = pod.host_ports.iter().find(|(ip, proto, port)| {
            node.used_ports.iter().any(|(uip, uproto, uport)| {
                uport == port
                    && uproto == proto
                    && (ip == "0.0.0.0" || uip == ip || uip == "0.0.0.0")
            })
        });
        match conflict {
            Some((ip, proto, port)) => vec![Reason {
                upstream: "node(s) didn't have free ports for the requested pod ports".into(),
                detail: format!(
                    "node(s) didn't have free ports for the requested pod ports ({ip}:{port}/{proto} in use)"
                ),
            }],
            None => vec![],
        }
    }
}

fn cpu(m: i64) -> String {
    Quantity::from_scaled(m, 3, Format::DecimalSI).to_string()
}
fn bytes(b: i64) -> String {
    Quantity::from_scaled(b, 0, Format::BinarySI).to_string()
}

pub struct NodeResourcesFit;
impl Filter for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Vec<Reason> {
        let mut out = vec![];
        if node.pod_count + 1 > node.allowed_pods {
            out.push(Reason {
                upstream: "Too many pods".into(),
                detail: format!(
                    "Too many pods (allowed {}, running {})",
                    node.allowed_pods, node.pod_count
                ),
            });
        }
        let req = &pod.requests;
        if req.is_zero() {
            return out;
        }
        let (a, r) = (&node.allocatable, &node.requested);
        let mut check = |name: &str, want: i64, alloc: i64, used: i64, fmt: fn(i64) -> String| {
            if want > 0 && want > alloc - used {
                out.push(Reason {
                    upstream: format!("Insufficient {name}"),
                    detail: format!(
                        "Insufficient {name} (requested {}, free {})",
                        fmt(want),
                        fmt(alloc - used)
                    ),
                });
            }
        };
        check("cpu", req.milli_cpu, a.milli_cpu, r.milli_cpu, cpu);
        check("memory", req.memory, a.memory, r.memory, bytes);
        check(
            "ephemeral-storage",
            req.ephemeral_storage,
            a.ephemeral_storage,
            r.ephemeral_storage,
            bytes,
        );
        for (k, want) in &req.scalar {
            let alloc = a.scalar.get(k).copied().unwrap_or(0);
            let used = r.scalar.get(k).copied().unwrap_or(0);
            check(k, *want, alloc, used, |v| v.to_string());
        }
        out
    }
}
