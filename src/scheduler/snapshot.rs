//! The scheduler's compiled view of nodes and pods: immutable node facts (shared), per-node aggregates
//! (requested resources, pod counts, host ports) and incremental label counters (pods per owner, per
//! selector, per topology domain) kept up to date on reserve, so every plugin is O(1)-ish per node.
//! Pure data; no policy beyond Kubernetes' request arithmetic.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Node, Pod, Toleration};

use super::terms::{Matcher, NsMatch, Term};
use crate::quantity::Quantity;
use crate::selector::Selector;

pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Scoring-only defaults for containers without a request (upstream `non_zero.go`).
pub const DEFAULT_MILLI_CPU: i64 = 100;
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;
/// InterPodAffinity `hardPodAffinityWeight` default: what an existing pod's required affinity term adds
/// to the score of nodes in its domain for incoming pods it matches.
pub const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
    Other,
}

impl Effect {
    pub fn parse(s: &str) -> Effect {
        match s {
            "NoSchedule" => Effect::NoSchedule,
            "PreferNoSchedule" => Effect::PreferNoSchedule,
            "NoExecute" => Effect::NoExecute,
            _ => Effect::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CTaint {
    pub key: String,
    pub value: String,
    pub effect: Effect,
}

/// Resource amounts: cpu in millicores, the rest in whole units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended resources (`example.com/gpu`), sorted.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    pub fn add(&mut self, o: &Resources) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }
    fn max(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (k, v) in &o.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

/// A node as the scheduler sees it; immutable for the lifetime of a snapshot (shared with placements so
/// rejection reasons can be rendered later without copying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<CTaint>,
    /// Any NoSchedule/NoExecute taint (the only ones the filter looks at).
    pub has_hard_taint: bool,
    /// Any PreferNoSchedule taint (the only ones the score looks at).
    pub has_soft_taint: bool,
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub allowed_pods: i64,
}

/// The numbers every pod reads for every node, packed together (allocatable next to requested) so the
/// resource filter and scores touch one small record per node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hot {
    pub alloc_cpu: i64,
    pub alloc_mem: i64,
    pub alloc_eph: i64,
    pub allowed_pods: i64,
    pub req_cpu: i64,
    pub req_mem: i64,
    pub req_eph: i64,
    pub pods: i64,
    pub nz_cpu: i64,
    pub nz_mem: i64,
}

/// What reserving pods changes on a node.
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    /// Σ effective requests of pods on the node.
    pub requested: Resources,
    /// Σ requests with the scoring defaults for missing cpu/memory (cpu, memory).
    pub non_zero: (i64, i64),
    pub pod_count: i64,
    /// (hostIP, protocol, hostPort) in use.
    pub used_ports: Vec<(String, String, i32)>,
}

/// A topology spread constraint, compiled for the pod that declares it.
#[derive(Debug, Clone)]
pub struct Spread {
    pub topology_key: String,
    pub max_skew: i64,
    /// `whenUnsatisfiable: DoNotSchedule` (filter) vs `ScheduleAnyway` (score).
    pub hard: bool,
    pub min_domains: Option<i64>,
    /// Pods in the pod's namespace matching the selector, not terminating.
    pub matcher: Matcher,
    /// The incoming pod matches its own selector.
    pub self_match: bool,
    /// nodeAffinityPolicy (default Honor): only nodes matching the pod's node affinity count.
    pub honor_affinity: bool,
    /// nodeTaintsPolicy (default Ignore): with Honor, only nodes whose taints the pod tolerates count.
    pub honor_taints: bool,
}

/// Pod facts the plugins need, computed once per pod.
#[derive(Debug, Clone, Default)]
pub struct PodInfo {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub node_name: String,
    pub node_selector: BTreeMap<String, String>,
    pub affinity: Option<k8s_openapi::api::core::v1::NodeAffinity>,
    pub tolerations: Vec<Toleration>,
    pub requests: Resources,
    pub non_zero: (i64, i64),
    pub host_ports: Vec<(String, String, i32)>,
    /// `(namespace, kind, name)` of the controller owner: the default spreading selector.
    pub owner: Option<(String, String, String)>,
    pub terminating: bool,
    pub required_affinity: Vec<Term>,
    pub required_anti_affinity: Vec<Term>,
    pub preferred_affinity: Vec<(i64, Term)>,
    pub preferred_anti_affinity: Vec<(i64, Term)>,
    pub spread: Vec<Spread>,
}

fn qty(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    key: &str,
) -> Option<Quantity> {
    map.and_then(|m| m.get(key))
        .and_then(|q| Quantity::parse(&q.0).ok())
}

/// A container's requests; a resource with only a limit requests the limit (API defaulting).
/// With `non_zero`, missing cpu/memory requests count as the scoring defaults.
fn container_requests(c: &Container, non_zero: bool) -> Resources {
    let res = c.resources.as_ref();
    let req = res.and_then(|r| r.requests.as_ref());
    let lim = res.and_then(|r| r.limits.as_ref());
    let get = |k: &str| qty(req, k).or_else(|| qty(lim, k));
    let mut r = Resources {
        milli_cpu: get("cpu").map(|q| q.milli_value()).unwrap_or(if non_zero {
            DEFAULT_MILLI_CPU
        } else {
            0
        }),
        memory: get("memory").map(|q| q.value()).unwrap_or(if non_zero {
            DEFAULT_MEMORY
        } else {
            0
        }),
        ephemeral_storage: get("ephemeral-storage").map(|q| q.value()).unwrap_or(0),
        scalar: BTreeMap::new(),
    };
    for m in [req, lim].into_iter().flatten() {
        for k in m.keys() {
            if k.contains('/') && !k.starts_with("kubernetes.io/") && !r.scalar.contains_key(k) {
                r.scalar
                    .insert(k.clone(), get(k).map(|q| q.value()).unwrap_or(0));
            }
        }
    }
    r
}

/// Effective pod request: max(Σ containers + Σ sidecars, max over init i of (init_i + sidecars before i))
/// + overhead.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::default();
    };
    let mut sum = Resources::default();
    for c in &spec.containers {
        sum.add(&container_requests(c, non_zero));
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c, non_zero);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            init_max.max(&sidecars);
        } else {
            let mut with = r;
            with.add(&sidecars);
            init_max.max(&with);
        }
    }
    sum.add(&sidecars);
    sum.max(&init_max);
    if let Some(oh) = spec.overhead.as_ref() {
        let mut o = Resources {
            milli_cpu: qty(Some(oh), "cpu").map(|q| q.milli_value()).unwrap_or(0),
            memory: qty(Some(oh), "memory").map(|q| q.value()).unwrap_or(0),
            ..Default::default()
        };
        o.ephemeral_storage = qty(Some(oh), "ephemeral-storage")
            .map(|q| q.value())
            .unwrap_or(0);
        sum.add(&o);
    }
    sum
}

fn host_ports(pod: &Pod) -> Vec<(String, String, i32)> {
    let Some(spec) = pod.spec.as_ref() else {
        return vec![];
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    let mut out = vec![];
    for c in spec.containers.iter().chain(sidecars) {
        for p in c.ports.iter().flatten() {
            let port = p.host_port.unwrap_or(0);
            if port > 0 {
                let ip = p
                    .host_ip
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into());
                let proto = p
                    .protocol
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "TCP".into());
                out.push((ip, proto, port));
            }
        }
    }
    out
}

impl PodInfo {
    pub fn new(pod: &Pod) -> PodInfo {
        let empty = Default::default();
        let spec = pod.spec.as_ref().unwrap_or(&empty);
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| (namespace.clone(), o.kind.clone(), o.name.clone()));
        let nz = pod_requests(pod, true);
        let aff = spec.affinity.as_ref();
        let pa = aff.and_then(|a| a.pod_affinity.as_ref());
        let paa = aff.and_then(|a| a.pod_anti_affinity.as_ref());
        let compile =
            |t: &k8s_openapi::api::core::v1::PodAffinityTerm| Term::compile(t, &namespace, &labels);
        let required =
            |ts: Option<&Vec<k8s_openapi::api::core::v1::PodAffinityTerm>>| -> Vec<Term> {
                ts.into_iter().flatten().map(compile).collect()
            };
        let preferred =
            |ts: Option<&Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>| -> Vec<(i64, Term)> {
                ts.into_iter()
                    .flatten()
                    .map(|w| (i64::from(w.weight), compile(&w.pod_affinity_term)))
                    .collect()
            };
        let spread = spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(|c| {
                let sel = Selector::of(c.label_selector.as_ref()).with_label_keys(
                    &labels,
                    c.match_label_keys.as_deref().unwrap_or(&[]),
                    false,
                );
                Spread {
                    topology_key: c.topology_key.clone(),
                    max_skew: i64::from(c.max_skew),
                    hard: c.when_unsatisfiable != "ScheduleAnyway",
                    min_domains: c.min_domains.map(i64::from),
                    self_match: sel.matches(&labels),
                    matcher: Matcher {
                        all: vec![(NsMatch::only(&namespace), sel)],
                        live_only: true,
                    },
                    honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                    honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                }
            })
            .collect();
        PodInfo {
            node_name: spec.node_name.clone().unwrap_or_default(),
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            affinity: aff.and_then(|a| a.node_affinity.clone()),
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            requests: pod_requests(pod, false),
            non_zero: (nz.milli_cpu, nz.memory),
            host_ports: host_ports(pod),
            owner,
            terminating: pod.metadata.deletion_timestamp.is_some(),
            required_affinity: required(pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: required(paa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: preferred(paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            spread,
            namespace,
            labels,
        }
    }

    /// Has a nodeSelector or required node affinity (else NodeAffinity is skipped).
    pub fn has_node_constraints(&self) -> bool {
        !self.node_selector.is_empty()
            || self.affinity.as_ref().is_some_and(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .is_some()
            })
    }
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Marks "node has no value for this topology key".
pub const NO_DOMAIN: u32 = u32::MAX;

/// A topology key's domains: each node's domain id (or `NO_DOMAIN`), ids dense in value order.
#[derive(Debug, Clone)]
pub struct TopoKey {
    pub name: String,
    pub node_dom: Vec<u32>,
    pub domains: usize,
}

/// Pods matching a `Matcher`, per node and per domain of the keys asked for so far. Kept up to date on
/// every reserve, so per-pod work is a lookup instead of a scan over all pods.
#[derive(Debug, Clone)]
pub struct Counter {
    pub matcher: Matcher,
    pub per_node: Vec<u32>,
    pub total: u32,
    pub by_key: Vec<(u32, Vec<u32>)>,
}

impl Counter {
    pub fn domain_counts(&self, key: u32) -> &[u32] {
        self.by_key
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_slice())
            .expect("domain counts are registered by Snapshot::counter_for")
    }
}

/// How an existing pod's term acts on incoming pods it matches: required anti-affinity blocks the
/// domain (symmetry), the others add `weight` per pod to the domain's InterPodAffinity score (required
/// affinity with hardPodAffinityWeight 1, preferred affinity +w, preferred anti-affinity −w).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TermKind {
    RequiredAnti,
    Weighted(i64),
}

/// One distinct term carried by existing pods, with the number of carriers per domain of its key.
#[derive(Debug, Clone)]
pub struct ExistingTerm {
    pub term: Term,
    pub kind: TermKind,
    pub key: u32,
    pub per_domain: Vec<u32>,
}

/// An existing (or reserved) pod, as far as label-based plugins need it.
#[derive(Debug, Clone)]
pub struct PodRec {
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub node: u32,
    pub terminating: bool,
}

/// Per-owner pod counts (the default spreading selector), per node and per zone.
#[derive(Debug, Clone)]
pub struct OwnerCount {
    pub per_node: Vec<u32>,
    pub per_zone: Vec<u32>,
}

/// The mutable working copy: nodes sorted by name, their reserved resources, and the incremental
/// counters the label-based plugins read.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub nodes: Arc<Vec<NodeInfo>>,
    pub state: Vec<NodeState>,
    pub hot: Vec<Hot>,
    pub pods: Vec<PodRec>,
    pub keys: Vec<TopoKey>,
    key_ix: HashMap<String, u32>,
    /// Key ids of `kubernetes.io/hostname` and `topology.kubernetes.io/zone`.
    pub hostname_key: u32,
    pub zone_key: u32,
    pub owner_counts: HashMap<(String, String, String), OwnerCount>,
    pub counters: Vec<Counter>,
    counter_ix: HashMap<Matcher, usize>,
    pub existing_terms: Vec<ExistingTerm>,
    existing_term_ix: HashMap<(Term, TermKind), usize>,
    pub any_unschedulable: bool,
    pub any_hard_taint: bool,
    pub any_soft_taint: bool,
    /// Node-affinity results per distinct (nodeSelector, required affinity): nodes never change, and the
    /// pods of one controller share them.
    eligible_cache: HashMap<String, Arc<Vec<bool>>>,
}

pub(super) fn node_info(n: &Node) -> NodeInfo {
    let empty = Default::default();
    let spec = n.spec.as_ref().unwrap_or(&empty);
    let mut taints: Vec<CTaint> = spec
        .taints
        .iter()
        .flatten()
        .map(|t| CTaint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: Effect::parse(&t.effect),
        })
        .collect();
    if !is_ready(n)
        && !taints
            .iter()
            .any(|t| t.key == crate::nodes::TAINT_UNREACHABLE && t.effect == Effect::NoSchedule)
    {
        // What the node lifecycle controller does for a node that stopped reporting.
        taints.push(CTaint {
            key: crate::nodes::TAINT_UNREACHABLE.into(),
            value: String::new(),
            effect: Effect::NoSchedule,
        });
    }
    let alloc = n.status.as_ref().and_then(|s| s.allocatable.as_ref());
    let mut allocatable = Resources {
        milli_cpu: qty(alloc, "cpu").map(|q| q.milli_value()).unwrap_or(0),
        memory: qty(alloc, "memory").map(|q| q.value()).unwrap_or(0),
        ephemeral_storage: qty(alloc, "ephemeral-storage")
            .map(|q| q.value())
            .unwrap_or(0),
        scalar: BTreeMap::new(),
    };
    for (k, v) in alloc.into_iter().flatten() {
        if k.contains('/') {
            allocatable.scalar.insert(
                k.clone(),
                Quantity::parse(&v.0).map(|q| q.value()).unwrap_or(0),
            );
        }
    }
    NodeInfo {
        name: n.metadata.name.clone().unwrap_or_default(),
        labels: n.metadata.labels.clone().unwrap_or_default(),
        has_hard_taint: taints
            .iter()
            .any(|t| matches!(t.effect, Effect::NoSchedule | Effect::NoExecute)),
        has_soft_taint: taints.iter().any(|t| t.effect == Effect::PreferNoSchedule),
        taints,
        unschedulable: spec.unschedulable.unwrap_or(false),
        allocatable,
        allowed_pods: qty(alloc, "pods").map(|q| q.value()).unwrap_or(0),
    }
}

impl Snapshot {
    pub fn new(nodes: &[Node], existing: &[Pod]) -> Snapshot {
        let mut infos: Vec<NodeInfo> = nodes.iter().map(node_info).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        let n = infos.len();
        let mut snap = Snapshot {
            any_unschedulable: infos.iter().any(|i| i.unschedulable),
            any_hard_taint: infos.iter().any(|i| i.has_hard_taint),
            any_soft_taint: infos.iter().any(|i| i.has_soft_taint),
            hot: infos
                .iter()
                .map(|i| Hot {
                    alloc_cpu: i.allocatable.milli_cpu,
                    alloc_mem: i.allocatable.memory,
                    alloc_eph: i.allocatable.ephemeral_storage,
                    allowed_pods: i.allowed_pods,
                    ..Hot::default()
                })
                .collect(),
            nodes: Arc::new(infos),
            state: vec![NodeState::default(); n],
            pods: vec![],
            keys: vec![],
            key_ix: HashMap::new(),
            hostname_key: 0,
            zone_key: 0,
            owner_counts: HashMap::new(),
            counters: vec![],
            counter_ix: HashMap::new(),
            existing_terms: vec![],
            existing_term_ix: HashMap::new(),
            eligible_cache: HashMap::new(),
        };
        snap.hostname_key = snap.key_id(HOSTNAME_LABEL);
        snap.zone_key = snap.key_id(ZONE_LABEL);
        for p in existing {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            if matches!(phase, Some("Succeeded") | Some("Failed")) {
                continue;
            }
            let info = PodInfo::new(p);
            if let Some(i) = snap.index_of(&info.node_name) {
                snap.reserve(&info, i);
            }
        }
        snap
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
    }

    /// Interns a topology key: every node's domain for it.
    pub fn key_id(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.key_ix.get(name) {
            return k;
        }
        let mut values: Vec<&str> = self
            .nodes
            .iter()
            .filter_map(|n| n.labels.get(name).map(String::as_str))
            .collect();
        values.sort_unstable();
        values.dedup();
        let node_dom = self
            .nodes
            .iter()
            .map(|n| {
                n.labels.get(name).map_or(NO_DOMAIN, |v| {
                    values.binary_search(&v.as_str()).unwrap_or(0) as u32
                })
            })
            .collect();
        let id = self.keys.len() as u32;
        self.keys.push(TopoKey {
            name: name.to_string(),
            node_dom,
            domains: values.len(),
        });
        self.key_ix.insert(name.to_string(), id);
        id
    }

    pub fn domain(&self, key: u32, node: usize) -> Option<usize> {
        let d = self.keys[key as usize].node_dom[node];
        (d != NO_DOMAIN).then_some(d as usize)
    }

    /// The counter for `matcher` with per-domain counts for `key`, built from the pods so far on first use.
    pub fn counter_for(&mut self, matcher: &Matcher, key: Option<u32>) -> usize {
        let id = match self.counter_ix.get(matcher) {
            Some(&id) => id,
            None => {
                let mut per_node = vec![0u32; self.nodes.len()];
                let mut total = 0;
                for p in &self.pods {
                    if matcher.matches(&p.namespace, &p.labels, p.terminating) {
                        per_node[p.node as usize] += 1;
                        total += 1;
                    }
                }
                self.counters.push(Counter {
                    matcher: matcher.clone(),
                    per_node,
                    total,
                    by_key: vec![],
                });
                self.counter_ix
                    .insert(matcher.clone(), self.counters.len() - 1);
                self.counters.len() - 1
            }
        };
        if let Some(key) = key {
            if !self.counters[id].by_key.iter().any(|(k, _)| *k == key) {
                let tk = &self.keys[key as usize];
                let mut doms = vec![0u32; tk.domains];
                for (i, c) in self.counters[id].per_node.iter().enumerate() {
                    let d = tk.node_dom[i];
                    if d != NO_DOMAIN {
                        doms[d as usize] += c;
                    }
                }
                self.counters[id].by_key.push((key, doms));
            }
        }
        id
    }

    /// Node-affinity (nodeSelector + required terms) result for every node, shared by pods with the same
    /// constraints. `None` when the pod has none (every node matches).
    pub fn eligible(&mut self, pod: &PodInfo) -> Option<Arc<Vec<bool>>> {
        if !pod.has_node_constraints() {
            return None;
        }
        let required = pod.affinity.as_ref().and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
        let key = serde_json::to_string(&(&pod.node_selector, required)).unwrap_or_default();
        if let Some(e) = self.eligible_cache.get(&key) {
            return Some(e.clone());
        }
        let e = Arc::new(
            self.nodes
                .iter()
                .map(|n| super::filters::node_affinity_matches(pod, n))
                .collect::<Vec<bool>>(),
        );
        self.eligible_cache.insert(key, e.clone());
        Some(e)
    }

    /// Accounts `pod` on node `i`.
    pub fn reserve(&mut self, pod: &PodInfo, i: usize) {
        let n = &mut self.state[i];
        n.requested.add(&pod.requests);
        n.non_zero.0 += pod.non_zero.0;
        n.non_zero.1 += pod.non_zero.1;
        n.pod_count += 1;
        n.used_ports.extend(pod.host_ports.iter().cloned());
        let h = &mut self.hot[i];
        h.req_cpu += pod.requests.milli_cpu;
        h.req_mem += pod.requests.memory;
        h.req_eph += pod.requests.ephemeral_storage;
        h.pods += 1;
        h.nz_cpu += pod.non_zero.0;
        h.nz_mem += pod.non_zero.1;
        let zone = self.domain(self.zone_key, i);
        if let Some(owner) = &pod.owner {
            let (len, zones) = (self.nodes.len(), self.keys[self.zone_key as usize].domains);
            let oc = self
                .owner_counts
                .entry(owner.clone())
                .or_insert_with(|| OwnerCount {
                    per_node: vec![0; len],
                    per_zone: vec![0; zones],
                });
            oc.per_node[i] += 1;
            if let Some(z) = zone {
                oc.per_zone[z] += 1;
            }
        }
        for c in &mut self.counters {
            if c.matcher
                .matches(&pod.namespace, &pod.labels, pod.terminating)
            {
                c.per_node[i] += 1;
                c.total += 1;
                for (k, doms) in &mut c.by_key {
                    let d = self.keys[*k as usize].node_dom[i];
                    if d != NO_DOMAIN {
                        doms[d as usize] += 1;
                    }
                }
            }
        }
        let terms = pod
            .required_anti_affinity
            .iter()
            .map(|t| (t, TermKind::RequiredAnti))
            .chain(
                pod.required_affinity
                    .iter()
                    .map(|t| (t, TermKind::Weighted(HARD_POD_AFFINITY_WEIGHT))),
            )
            .chain(
                pod.preferred_affinity
                    .iter()
                    .map(|(w, t)| (t, TermKind::Weighted(*w))),
            )
            .chain(
                pod.preferred_anti_affinity
                    .iter()
                    .map(|(w, t)| (t, TermKind::Weighted(-*w))),
            );
        for (term, kind) in terms {
            let key = self.key_id(&term.topology_key);
            let Some(d) = self.domain(key, i) else {
                // A node without the key puts the pod in no domain: the term constrains nothing.
                continue;
            };
            let ix = match self.existing_term_ix.get(&(term.clone(), kind)) {
                Some(&ix) => ix,
                None => {
                    self.existing_terms.push(ExistingTerm {
                        term: term.clone(),
                        kind,
                        key,
                        per_domain: vec![0; self.keys[key as usize].domains],
                    });
                    self.existing_term_ix
                        .insert((term.clone(), kind), self.existing_terms.len() - 1);
                    self.existing_terms.len() - 1
                }
            };
            self.existing_terms[ix].per_domain[d] += 1;
        }
        self.pods.push(PodRec {
            namespace: pod.namespace.clone(),
            labels: pod.labels.clone(),
            node: i as u32,
            terminating: pod.terminating,
        });
    }
}
