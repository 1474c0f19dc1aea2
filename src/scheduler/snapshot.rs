//! The scheduler's compiled view of nodes and pods: per-node aggregates (requested resources, pod counts,
//! host ports, pods per owner) kept up to date on reserve, so every plugin is O(1)-ish per node.
//! Pure data; no policy beyond Kubernetes' request arithmetic.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Container, Node, Pod, Toleration};

use crate::quantity::Quantity;

pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Scoring-only defaults for containers without a request (upstream `non_zero.go`).
pub const DEFAULT_MILLI_CPU: i64 = 100;
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

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
    fn add(&mut self, o: &Resources) {
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

#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<CTaint>,
    pub unschedulable: bool,
    pub allocatable: Resources,
    pub allowed_pods: i64,
    /// Σ effective requests of pods on the node.
    pub requested: Resources,
    /// Σ requests with the scoring defaults for missing cpu/memory (cpu, memory).
    pub non_zero_requested: (i64, i64),
    pub pod_count: i64,
    /// (hostIP, protocol, hostPort) in use.
    pub used_ports: Vec<(String, String, i32)>,
    /// Index into the snapshot's zone values (`None` = no zone label).
    pub zone: Option<usize>,
}

/// Pod facts the plugins need, computed once per pod.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub namespace: String,
    pub node_name: String,
    pub node_selector: BTreeMap<String, String>,
    pub affinity: Option<k8s_openapi::api::core::v1::NodeAffinity>,
    pub tolerations: Vec<Toleration>,
    pub requests: Resources,
    pub non_zero: (i64, i64),
    pub host_ports: Vec<(String, String, i32)>,
    /// `(namespace, kind, name)` of the controller owner: the default spreading selector.
    pub owner: Option<(String, String, String)>,
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
        let spec = pod.spec.clone().unwrap_or_default();
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| (namespace.clone(), o.kind.clone(), o.name.clone()));
        let nz = pod_requests(pod, true);
        PodInfo {
            node_name: spec.node_name.clone().unwrap_or_default(),
            node_selector: spec.node_selector.clone().unwrap_or_default(),
            affinity: spec.affinity.as_ref().and_then(|a| a.node_affinity.clone()),
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            requests: pod_requests(pod, false),
            non_zero: (nz.milli_cpu, nz.memory),
            host_ports: host_ports(pod),
            owner,
            namespace,
        }
    }
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// The mutable working copy: nodes sorted by name plus per-owner pod counts per node.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub nodes: Vec<NodeInfo>,
    pub zones: Vec<String>,
    /// owner → pods of that owner per node index.
    pub owner_counts: HashMap<(String, String, String), Vec<u32>>,
}

impl Snapshot {
    pub fn new(nodes: &[Node], existing: &[Pod]) -> Snapshot {
        let mut sorted: Vec<&Node> = nodes.iter().collect();
        sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut zones: Vec<String> = sorted
            .iter()
            .filter_map(|n| n.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned())
            .collect();
        zones.sort();
        zones.dedup();
        let infos = sorted
            .iter()
            .map(|n| {
                let spec = n.spec.clone().unwrap_or_default();
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
                    && !taints.iter().any(|t| {
                        t.key == crate::nodes::TAINT_UNREACHABLE && t.effect == Effect::NoSchedule
                    })
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
                let labels = n.metadata.labels.clone().unwrap_or_default();
                let zone = labels
                    .get(ZONE_LABEL)
                    .and_then(|z| zones.binary_search(z).ok());
                NodeInfo {
                    name: n.metadata.name.clone().unwrap_or_default(),
                    labels,
                    taints,
                    unschedulable: spec.unschedulable.unwrap_or(false),
                    allocatable,
                    allowed_pods: qty(alloc, "pods").map(|q| q.value()).unwrap_or(0),
                    requested: Resources::default(),
                    non_zero_requested: (0, 0),
                    pod_count: 0,
                    used_ports: vec![],
                    zone,
                }
            })
            .collect();
        let mut snap = Snapshot {
            nodes: infos,
            zones,
            owner_counts: HashMap::new(),
        };
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

    /// Accounts `pod` on node `i`.
    pub fn reserve(&mut self, pod: &PodInfo, i: usize) {
        let n = &mut self.nodes[i];
        n.requested.add(&pod.requests);
        n.non_zero_requested.0 += pod.non_zero.0;
        n.non_zero_requested.1 += pod.non_zero.1;
        n.pod_count += 1;
        n.used_ports.extend(pod.host_ports.iter().cloned());
        if let Some(owner) = &pod.owner {
            let len = self.nodes.len();
            self.owner_counts
                .entry(owner.clone())
                .or_insert_with(|| vec![0; len])[i] += 1;
        }
    }
}
