//! Filter plugins in kube-scheduler's default order: NodeUnschedulable, NodeName, TaintToleration,
//! NodeAffinity (nodeSelector + required terms), NodePorts, NodeResourcesFit, PodTopologySpread,
//! InterPodAffinity. On the hot path a rejection is a compact `Fail` (a code plus the numbers at that
//! moment); strings are rendered only when someone reads them (FitError, `plan --explain`).
//! Pure functions over the snapshot and the pod's cycle state.

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm, Toleration};

use super::cycle::Cycle;
use super::snapshot::{CTaint, Effect, NodeInfo, PodInfo, Resources, Snapshot};
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

pub const MSG_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const MSG_NODE_NAME: &str = "node(s) didn't match the requested node name";
pub const MSG_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
pub const MSG_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
pub const MSG_POD_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const MSG_POD_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const MSG_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
pub const MSG_SPREAD: &str = "node(s) didn't match pod topology spread constraints";
pub const MSG_SPREAD_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// Bits of `Fail::Resources::mask`, in upstream's reason order.
pub const TOO_MANY_PODS: u8 = 1;
pub const NO_CPU: u8 = 2;
pub const NO_MEMORY: u8 = 4;
pub const NO_EPHEMERAL: u8 = 8;

/// Why a node was rejected, compactly; `render` turns it into reason strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    Unschedulable,
    NodeName,
    /// Index of the first untolerated taint in `NodeInfo::taints`.
    Taint(u16),
    NodeAffinity,
    /// Index of the conflicting port in `PodInfo::host_ports`.
    Ports(u16),
    /// Which checks failed, with the node's pods running and free cpu/memory/ephemeral-storage at that
    /// moment; extended resources that did not fit as (name, free).
    Resources {
        mask: u8,
        running: i64,
        free: [i64; 3],
        scalars: Option<Box<Vec<(String, i64)>>>,
    },
    SpreadLabel,
    Spread,
    PodAffinity,
    PodAntiAffinity,
    ExistingAntiAffinity,
    /// VolumeBinding: a bound volume of the pod is on another node (index into the cycle's volume nodes).
    VolumeNodeConflict(Box<str>),
}

fn cpu(m: i64) -> String {
    Quantity::from_scaled(m, 3, Format::DecimalSI).to_string()
}
fn bytes(b: i64) -> String {
    Quantity::from_scaled(b, 0, Format::BinarySI).to_string()
}

/// The pod facts rendering needs (what it requested, which host ports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    pub requests: Resources,
    pub host_ports: Vec<(String, String, i32)>,
}

impl Fail {
    /// Upstream reason(s) and detailed explanation(s), in upstream order.
    pub fn render(&self, node: &NodeInfo, pod: &Wanted) -> Vec<Reason> {
        match self {
            Fail::Unschedulable => vec![Reason::plain(MSG_UNSCHEDULABLE)],
            Fail::NodeName => vec![Reason::plain(MSG_NODE_NAME)],
            Fail::Taint(i) => {
                let t = &node.taints[*i as usize];
                vec![Reason::plain(&format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    t.key, t.value
                ))]
            }
            Fail::NodeAffinity => vec![Reason::plain(MSG_NODE_AFFINITY)],
            Fail::Ports(i) => {
                let (ip, proto, port) = &pod.host_ports[*i as usize];
                vec![Reason {
                    upstream: MSG_PORTS.into(),
                    detail: format!("{MSG_PORTS} ({ip}:{port}/{proto} in use)"),
                }]
            }
            Fail::Resources {
                mask,
                running,
                free,
                scalars,
            } => {
                let mut out = vec![];
                if mask & TOO_MANY_PODS != 0 {
                    out.push(Reason {
                        upstream: "Too many pods".into(),
                        detail: format!(
                            "Too many pods (allowed {}, running {running})",
                            node.allowed_pods
                        ),
                    });
                }
                let r = &pod.requests;
                let rows: [ResourceRow; 3] = [
                    (NO_CPU, "cpu", r.milli_cpu, free[0], cpu),
                    (NO_MEMORY, "memory", r.memory, free[1], bytes),
                    (
                        NO_EPHEMERAL,
                        "ephemeral-storage",
                        r.ephemeral_storage,
                        free[2],
                        bytes,
                    ),
                ];
                for (bit, name, want, free, fmt) in rows {
                    if mask & bit != 0 {
                        out.push(insufficient(name, &fmt(want), &fmt(free)));
                    }
                }
                for (name, free) in scalars.iter().flat_map(|s| s.iter()) {
                    let want = r.scalar.get(name).copied().unwrap_or(0);
                    out.push(insufficient(name, &want.to_string(), &free.to_string()));
                }
                out
            }
            Fail::SpreadLabel => vec![Reason::plain(MSG_SPREAD_LABEL)],
            Fail::Spread => vec![Reason::plain(MSG_SPREAD)],
            Fail::PodAffinity => vec![Reason::plain(MSG_POD_AFFINITY)],
            Fail::PodAntiAffinity => vec![Reason::plain(MSG_POD_ANTI_AFFINITY)],
            Fail::ExistingAntiAffinity => vec![Reason::plain(MSG_EXISTING_ANTI_AFFINITY)],
            Fail::VolumeNodeConflict(on) => vec![Reason {
                upstream: super::volumes::MSG_VOLUME_NODE_CONFLICT.to_string(),
                detail: format!(
                    "{} (the pod's volume is on node {on})",
                    super::volumes::MSG_VOLUME_NODE_CONFLICT
                ),
            }],
        }
    }
}

/// (mask bit, resource name, requested, free, formatter).
type ResourceRow<'a> = (u8, &'a str, i64, i64, fn(i64) -> String);

fn insufficient(name: &str, want: &str, free: &str) -> Reason {
    Reason {
        upstream: format!("Insufficient {name}"),
        detail: format!("Insufficient {name} (requested {want}, free {free})"),
    }
}

/// A filter plugin. `check` is per node; `run` applies it to the still-feasible nodes in one call, so the
/// per-node check is statically dispatched.
pub trait Filter: Send + Sync {
    fn name(&self) -> &'static str;
    /// PreFilter `Skip`: the plugin cannot reject any node for this pod.
    fn skip(&self, _cx: &Cycle, _snap: &Snapshot) -> bool {
        false
    }
    /// `None` = node `i` passes.
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail>;
    /// Removes failing nodes from `nodes`, recording why in `rejected`.
    fn run(
        &self,
        cx: &Cycle,
        snap: &Snapshot,
        nodes: &mut Vec<u32>,
        rejected: &mut Vec<(u32, Fail)>,
    ) {
        if self.skip(cx, snap) {
            return;
        }
        nodes.retain(|&i| match self.check(cx, snap, i as usize) {
            None => true,
            Some(f) => {
                rejected.push((i, f));
                false
            }
        });
    }
}

pub fn default_filters() -> Vec<Box<dyn Filter>> {
    vec![
        Box::new(NodeUnschedulable),
        Box::new(NodeName),
        Box::new(TaintToleration),
        Box::new(NodeAffinity),
        Box::new(NodePorts),
        Box::new(NodeResourcesFit),
        Box::new(super::volumes::VolumeBinding),
        Box::new(PodTopologySpread),
        Box::new(InterPodAffinity),
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

/// Index of the first NoSchedule/NoExecute taint of `node` that no toleration tolerates.
pub fn first_untolerated(tolerations: &[Toleration], node: &NodeInfo) -> Option<usize> {
    if !node.has_hard_taint {
        return None;
    }
    node.taints.iter().position(|taint| {
        matches!(taint.effect, Effect::NoSchedule | Effect::NoExecute)
            && !tolerations.iter().any(|t| tolerates(t, taint))
    })
}

pub struct NodeUnschedulable;
impl Filter for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }
    fn skip(&self, cx: &Cycle, snap: &Snapshot) -> bool {
        !snap.any_unschedulable || cx.tolerates_unschedulable
    }
    #[inline]
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail> {
        (snap.nodes[i].unschedulable && !cx.tolerates_unschedulable).then_some(Fail::Unschedulable)
    }
}

pub struct NodeName;
impl Filter for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }
    fn skip(&self, cx: &Cycle, _snap: &Snapshot) -> bool {
        cx.pod.node_name.is_empty()
    }
    #[inline]
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail> {
        (!cx.pod.node_name.is_empty() && cx.pod.node_name != snap.nodes[i].name)
            .then_some(Fail::NodeName)
    }
}

pub struct TaintToleration;
impl Filter for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
    fn skip(&self, _cx: &Cycle, snap: &Snapshot) -> bool {
        !snap.any_hard_taint
    }
    #[inline]
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail> {
        first_untolerated(&cx.pod.tolerations, &snap.nodes[i]).map(|t| Fail::Taint(t as u16))
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

/// Whether upstream can parse the requirement (`labels.NewRequirement` / the field selector of
/// `nodeaffinity.NewNodeSelector`): a term with one it cannot parse never matches, whatever the node.
fn requirement_parses(r: &NodeSelectorRequirement, field: bool) -> bool {
    use crate::rules;
    let values = r.values.as_deref().unwrap_or(&[]);
    if field {
        return r.key == "metadata.name"
            && matches!(r.operator.as_str(), "In" | "NotIn")
            && values.len() == 1;
    }
    rules::is_qualified_name(&r.key).is_empty()
        && match r.operator.as_str() {
            "In" | "NotIn" => {
                !values.is_empty()
                    && values
                        .iter()
                        .all(|v| rules::is_valid_label_value(v).is_empty())
            }
            "Exists" | "DoesNotExist" => values.is_empty(),
            "Gt" | "Lt" => values.len() == 1 && values[0].parse::<i64>().is_ok(),
            _ => false,
        }
}

/// A term matches iff it has at least one requirement, all of them parse and all of them match.
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    if !exprs.iter().all(|r| requirement_parses(r, false))
        || !fields.iter().all(|r| requirement_parses(r, true))
    {
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

/// nodeSelector AND (required terms ORed).
pub fn node_affinity_matches(pod: &PodInfo, node: &NodeInfo) -> bool {
    let selector_ok = pod
        .node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k) == Some(v));
    let required = pod.affinity.as_ref().and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    });
    selector_ok
        && required.is_none_or(|sel| {
            sel.node_selector_terms
                .iter()
                .any(|t| term_matches(t, node))
        })
}

pub struct NodeAffinity;
impl Filter for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
    fn skip(&self, cx: &Cycle, _snap: &Snapshot) -> bool {
        cx.eligible.is_none()
    }
    #[inline]
    fn check(&self, cx: &Cycle, _snap: &Snapshot, i: usize) -> Option<Fail> {
        cx.eligible
            .as_ref()
            .is_some_and(|e| !e[i])
            .then_some(Fail::NodeAffinity)
    }
}

pub struct NodePorts;
impl Filter for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }
    fn skip(&self, cx: &Cycle, _snap: &Snapshot) -> bool {
        cx.pod.host_ports.is_empty()
    }
    #[inline]
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail> {
        let used = &snap.state[i].used_ports;
        cx.pod
            .host_ports
            .iter()
            .position(|(ip, proto, port)| {
                used.iter().any(|(uip, uproto, uport)| {
                    uport == port
                        && uproto == proto
                        && (ip == "0.0.0.0" || uip == ip || uip == "0.0.0.0")
                })
            })
            .map(|p| Fail::Ports(p as u16))
    }
}

pub struct NodeResourcesFit;
impl Filter for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
    #[inline]
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail> {
        let h = &snap.hot[i];
        let mut mask = 0;
        if h.pods + 1 > h.allowed_pods {
            mask |= TOO_MANY_PODS;
        }
        let req = &cx.pod.requests;
        let free = [
            h.alloc_cpu - h.req_cpu,
            h.alloc_mem - h.req_mem,
            h.alloc_eph - h.req_eph,
        ];
        let mut scalars = None;
        if !cx.requests_zero {
            // Only positive requests are checked: a zero request fits even an overcommitted node.
            if req.milli_cpu > 0 && req.milli_cpu > free[0] {
                mask |= NO_CPU;
            }
            if req.memory > 0 && req.memory > free[1] {
                mask |= NO_MEMORY;
            }
            if req.ephemeral_storage > 0 && req.ephemeral_storage > free[2] {
                mask |= NO_EPHEMERAL;
            }
            for (k, want) in &req.scalar {
                let (a, r) = (&snap.nodes[i].allocatable, &snap.state[i].requested);
                let free =
                    a.scalar.get(k).copied().unwrap_or(0) - r.scalar.get(k).copied().unwrap_or(0);
                if *want > 0 && *want > free {
                    scalars
                        .get_or_insert_with(|| Box::new(vec![]))
                        .push((k.clone(), free));
                }
            }
        }
        if mask == 0 && scalars.is_none() {
            return None;
        }
        Some(Fail::Resources {
            mask,
            running: h.pods,
            free,
            scalars,
        })
    }
}

pub struct PodTopologySpread;
impl Filter for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }
    fn skip(&self, cx: &Cycle, _snap: &Snapshot) -> bool {
        cx.spread_hard.is_empty()
    }
    #[inline]
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail> {
        for c in &cx.spread_hard {
            let Some(d) = snap.domain(c.key, i) else {
                return Some(Fail::SpreadLabel);
            };
            // 'existing matching num' + 'self match (1 or 0)' - 'global minimum' <= 'maxSkew'.
            let skew = c.domain_counts[d] + i64::from(c.self_match) - c.min_match;
            if skew > c.max_skew {
                return Some(Fail::Spread);
            }
        }
        None
    }
}

pub struct InterPodAffinity;
impl Filter for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }
    fn skip(&self, cx: &Cycle, _snap: &Snapshot) -> bool {
        cx.affinity.is_empty() && cx.anti_affinity.is_empty() && cx.existing_anti.is_empty()
    }
    #[inline]
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail> {
        // Required affinity: the node must have every term's key, and each term's domain must hold a pod
        // matching all terms — unless no such pod exists anywhere and the pod matches its own terms.
        if !cx.affinity.is_empty() {
            let mut pods_exist = true;
            for &(key, counter) in &cx.affinity {
                let Some(d) = snap.domain(key, i) else {
                    return Some(Fail::PodAffinity);
                };
                if snap.counters[counter].domain_counts(key)[d] == 0 {
                    pods_exist = false;
                }
            }
            if !pods_exist && !cx.first_pod_ok {
                return Some(Fail::PodAffinity);
            }
        }
        for &(key, counter) in &cx.anti_affinity {
            if let Some(d) = snap.domain(key, i) {
                if snap.counters[counter].domain_counts(key)[d] > 0 {
                    return Some(Fail::PodAntiAffinity);
                }
            }
        }
        for &ix in &cx.existing_anti {
            let e = &snap.existing_terms[ix];
            if let Some(d) = snap.domain(e.key, i) {
                if e.per_domain[d] > 0 {
                    return Some(Fail::ExistingAntiAffinity);
                }
            }
        }
        None
    }
}
