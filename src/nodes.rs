//! Node objects: inventory hosts + observed facts → `v1.Node` as a kubelet (and the node lifecycle
//! controller) would publish them — labels, taints, capacity, conditions, addresses, nodeInfo, podCIDR.
//! Pure: never contacts a host; everything comes from the inventory and an [`ObservedState`].

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::inventory::{Host, Inventory};
use crate::model::{NodeFacts, ObservedNode, ObservedState};

pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// kubelet's default `--max-pods`.
const DEFAULT_MAX_PODS: &str = "110";

/// One Node per inventory host, sorted by name.
pub fn node_objects(inv: &Inventory, observed: &ObservedState) -> Vec<Node> {
    let by_name: BTreeMap<&str, &ObservedNode> = observed
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n))
        .collect();
    let mut hosts: Vec<&Host> = inv.hosts.iter().collect();
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    // What each host already has (its pod network's subnet) is kept: a new host never reshuffles others.
    let existing: BTreeMap<&str, &str> = observed
        .nodes
        .iter()
        .filter_map(|n| Some((n.name.as_str(), n.network.as_ref()?.pod_subnet.as_deref()?)))
        .collect();
    let cidrs = allocate_pod_cidrs(&inv.cluster.pod_cidr, &hosts, &existing);
    let now = observed.observed_at.parse().ok().map(Time);
    hosts
        .iter()
        .zip(cidrs)
        .map(|(host, cidr)| {
            node_object(
                host,
                by_name.get(host.name.as_str()).copied(),
                cidr,
                now.clone(),
            )
        })
        .collect()
}

fn node_object(
    host: &Host,
    obs: Option<&ObservedNode>,
    pod_cidr: Option<String>,
    now: Option<Time>,
) -> Node {
    let reachable = obs.is_some_and(|o| o.reachable);
    let facts: Option<&NodeFacts> = obs.and_then(|o| o.facts.as_ref());
    let arch = facts.map(|f| kube_arch(&f.architecture));

    let mut labels = host.labels.clone();
    if let Some(arch) = &arch {
        labels.insert("beta.kubernetes.io/arch".into(), arch.clone());
        labels.insert("kubernetes.io/arch".into(), arch.clone());
    }
    labels.insert("beta.kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/hostname".into(), host.name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());

    let mut taints = host.taints.clone();
    if host.unschedulable {
        // TaintNodeByCondition mirrors spec.unschedulable as a taint.
        push_taint(&mut taints, TAINT_UNSCHEDULABLE, "NoSchedule");
    }
    if !reachable {
        // The node lifecycle controller's taints for a node whose kubelet stopped reporting.
        push_taint(&mut taints, TAINT_UNREACHABLE, "NoSchedule");
        push_taint(&mut taints, TAINT_UNREACHABLE, "NoExecute");
    }

    let mut capacity = BTreeMap::new();
    let cpu = host
        .capacity
        .cpu
        .clone()
        .or_else(|| facts.map(|f| f.cpu_cores.to_string()));
    let memory = host
        .capacity
        .memory
        .clone()
        .or_else(|| facts.map(|f| format!("{}Ki", f.memory_bytes / 1024)));
    let pods = host
        .capacity
        .pods
        .clone()
        .or_else(|| Some(DEFAULT_MAX_PODS.to_string()));
    for (k, v) in [("cpu", cpu), ("memory", memory), ("pods", pods)] {
        if let Some(v) = v {
            capacity.insert(k.to_string(), K8sQuantity(v));
        }
    }

    let mut addresses = vec![NodeAddress {
        type_: "InternalIP".into(),
        address: host.address.clone(),
    }];
    addresses.push(NodeAddress {
        type_: "Hostname".into(),
        address: facts
            .map(|f| f.hostname.clone())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| host.name.clone()),
    });

    Node {
        metadata: ObjectMeta {
            name: Some(host.name.clone()),
            labels: Some(labels),
            creation_timestamp: facts.and_then(|f| f.boot_time.parse().ok()).map(Time),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: pod_cidr.clone(),
            pod_cidrs: pod_cidr.map(|c| vec![c]),
            taints: (!taints.is_empty()).then_some(taints),
            unschedulable: host.unschedulable.then_some(true),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            allocatable: Some(capacity.clone()),
            capacity: Some(capacity),
            conditions: Some(conditions(reachable, now)),
            addresses: Some(addresses),
            node_info: facts.map(|f| NodeSystemInfo {
                architecture: kube_arch(&f.architecture),
                container_runtime_version: f.container_runtime_version.clone(),
                kernel_version: f.kernel_version.clone(),
                operating_system: "linux".into(),
                os_image: f.os_image.clone(),
                // There is no kubelet: VERSION shows the agentless manager's version instead.
                kubelet_version: format!("clusterctl-v{}", env!("CARGO_PKG_VERSION")),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn push_taint(taints: &mut Vec<Taint>, key: &str, effect: &str) {
    if !taints.iter().any(|t| t.key == key && t.effect == effect) {
        taints.push(Taint {
            key: key.into(),
            effect: effect.into(),
            ..Default::default()
        });
    }
}

fn conditions(reachable: bool, now: Option<Time>) -> Vec<NodeCondition> {
    let kubelet = [
        (
            "MemoryPressure",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        (
            "DiskPressure",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        (
            "PIDPressure",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        ("Ready", "KubeletReady", "kubelet is posting ready status"),
    ];
    kubelet
        .iter()
        .map(|(ty, reason, message)| {
            let (status, reason, message) = match (reachable, *ty) {
                (true, "Ready") => ("True", *reason, *message),
                (true, _) => ("False", *reason, *message),
                (false, _) => (
                    "Unknown",
                    "NodeStatusUnknown",
                    "Kubelet stopped posting node status.",
                ),
            };
            NodeCondition {
                type_: (*ty).into(),
                status: status.into(),
                reason: Some(reason.into()),
                message: Some(message.into()),
                last_heartbeat_time: now.clone(),
                last_transition_time: now.clone(),
            }
        })
        .collect()
}

/// `uname -m` → GOARCH as kubelet reports it.
fn kube_arch(machine: &str) -> String {
    match machine {
        "x86_64" | "amd64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "armv7l" | "armv6l" | "arm" => "arm",
        "i386" | "i686" => "386",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
    .to_string()
}

/// Explicit CIDRs are kept; the others get the /24 at their index in the sorted host list (the seed:
/// master 10.244.0.0/24, node1 10.244.1.0/24, …), or the lowest free index if that one is taken.
fn allocate_pod_cidrs(
    cluster_cidr: &str,
    hosts: &[&Host],
    existing: &BTreeMap<&str, &str>,
) -> Vec<Option<String>> {
    let Some(cluster) = crate::cidr::parse_v4(cluster_cidr).filter(|c| c.prefix_len() <= 24) else {
        return hosts.iter().map(|h| h.pod_cidr.clone()).collect();
    };
    let base = u32::from(cluster.network());
    let subnet = |i: u32| -> String {
        let ip = base.wrapping_add(i << 8);
        format!("{}.{}.{}.0/24", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255)
    };
    let mut used: BTreeSet<String> = hosts.iter().filter_map(|h| h.pod_cidr.clone()).collect();
    let inside = |c: &str| {
        c.ends_with("/24") && crate::cidr::parse_v4(c).is_some_and(|n| cluster.contains(&n))
    };
    // Kept: the subnet a host's pod network already has, when valid and not claimed explicitly.
    let kept: Vec<Option<String>> = hosts
        .iter()
        .map(|h| {
            if h.pod_cidr.is_some() {
                return None;
            }
            let c = existing
                .get(h.name.as_str())
                .filter(|c| inside(c) && !used.contains(**c))?;
            used.insert(c.to_string());
            Some(c.to_string())
        })
        .collect();
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if let Some(c) = &h.pod_cidr {
                return Some(c.clone());
            }
            if let Some(c) = &kept[i] {
                return Some(c.clone());
            }
            let mut idx = i as u32;
            if used.contains(&subnet(idx)) {
                idx = (0..).find(|j| !used.contains(&subnet(*j))).unwrap_or(idx);
            }
            let c = subnet(idx);
            used.insert(c.clone());
            Some(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Capacity, ClusterSettings, RuntimeKind, SshSettings};
    use crate::model::OBSERVED_FORMAT_VERSION;

    fn host(name: &str, addr: &str) -> Host {
        Host {
            name: name.into(),
            address: addr.into(),
            port: 22,
            user: None,
            identity_file: None,
            labels: BTreeMap::new(),
            taints: vec![],
            unschedulable: false,
            capacity: Capacity::default(),
            runtime: RuntimeKind::Docker,
            pod_cidr: None,
        }
    }

    fn facts() -> NodeFacts {
        NodeFacts {
            hostname: "k8s-node1".into(),
            kernel_version: "3.10.0-1160.el7.x86_64".into(),
            os_image: "CentOS Linux 7 (Core)".into(),
            architecture: "x86_64".into(),
            container_runtime_version: "docker://20.10.18".into(),
            cpu_cores: 2,
            memory_bytes: 3_973_632 * 1024 + 512,
            boot_time: "2022-10-01T08:00:00Z".into(),
        }
    }

    fn seed_inventory() -> Inventory {
        let mut master = host("k8s-master", "192.168.1.10");
        master.labels.insert(
            "node-role.kubernetes.io/control-plane".into(),
            String::new(),
        );
        master
            .labels
            .insert("node-role.kubernetes.io/master".into(), String::new());
        master.taints.push(Taint {
            key: "node-role.kubernetes.io/master".into(),
            effect: "NoSchedule".into(),
            ..Default::default()
        });
        Inventory {
            path: "cluster.yaml".into(),
            ssh: SshSettings::default(),
            cluster: ClusterSettings::default(),
            hosts: vec![
                host("k8s-node2", "192.168.1.12"),
                master,
                host("k8s-node1", "192.168.1.11"),
                host("k8s-node3", "192.168.1.13"),
            ],
            lock: Default::default(),
        }
    }

    fn observed(unreachable: &[&str]) -> ObservedState {
        let names = ["k8s-master", "k8s-node1", "k8s-node2", "k8s-node3"];
        ObservedState {
            format_version: OBSERVED_FORMAT_VERSION,
            observed_at: "2022-10-02T08:00:00Z".into(),
            nodes: names
                .iter()
                .map(|n| {
                    let up = !unreachable.contains(n);
                    ObservedNode {
                        config_volumes: Default::default(),
                        pull_failures: Vec::new(),
                        volumes: Vec::new(),
                        network: None,
                        name: n.to_string(),
                        reachable: up,
                        error: None,
                        facts: up.then(facts),
                        containers: vec![],
                        roster: None,
                    }
                })
                .collect(),
        }
    }

    fn condition<'a>(n: &'a Node, ty: &str) -> &'a NodeCondition {
        n.status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == ty)
            .unwrap()
    }

    #[test]
    fn seed_cluster_nodes() {
        let nodes = node_objects(&seed_inventory(), &observed(&[]));
        let names: Vec<_> = nodes
            .iter()
            .map(|n| n.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["k8s-master", "k8s-node1", "k8s-node2", "k8s-node3"]);
        let cidrs: Vec<_> = nodes
            .iter()
            .map(|n| n.spec.as_ref().unwrap().pod_cidr.clone().unwrap())
            .collect();
        assert_eq!(
            cidrs,
            [
                "10.244.0.0/24",
                "10.244.1.0/24",
                "10.244.2.0/24",
                "10.244.3.0/24"
            ]
        );
        assert_eq!(
            crate::view::node_roles(&nodes[0]),
            ["control-plane", "master"]
        );
        assert!(crate::view::node_roles(&nodes[1]).is_empty());

        let n1 = &nodes[1];
        let labels = n1.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "k8s-node1");
        assert_eq!(labels["kubernetes.io/arch"], "amd64");
        assert_eq!(labels["beta.kubernetes.io/arch"], "amd64");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(labels["beta.kubernetes.io/os"], "linux");
        let st = n1.status.as_ref().unwrap();
        let cap = st.capacity.as_ref().unwrap();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "3973632Ki");
        assert_eq!(cap["pods"].0, "110");
        assert!(!cap.contains_key("ephemeral-storage"));
        assert_eq!(condition(n1, "Ready").status, "True");
        assert_eq!(condition(n1, "MemoryPressure").status, "False");
        assert_eq!(
            condition(n1, "DiskPressure").reason.as_deref(),
            Some("KubeletHasNoDiskPressure")
        );
        let info = st.node_info.as_ref().unwrap();
        assert_eq!(info.container_runtime_version, "docker://20.10.18");
        assert_eq!(info.architecture, "amd64");
        let addrs: Vec<_> = st
            .addresses
            .as_ref()
            .unwrap()
            .iter()
            .map(|a| (a.type_.as_str(), a.address.as_str()))
            .collect();
        assert_eq!(
            addrs,
            [("InternalIP", "192.168.1.11"), ("Hostname", "k8s-node1")]
        );
        assert!(n1.spec.as_ref().unwrap().taints.is_none());
    }

    #[test]
    fn unreachable_node_is_unknown_and_tainted() {
        let nodes = node_objects(&seed_inventory(), &observed(&["k8s-node2"]));
        let n2 = &nodes[2];
        for ty in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
            let c = condition(n2, ty);
            assert_eq!(c.status, "Unknown");
            assert_eq!(c.reason.as_deref(), Some("NodeStatusUnknown"));
            assert_eq!(
                c.message.as_deref(),
                Some("Kubelet stopped posting node status.")
            );
        }
        let taints: Vec<_> = n2
            .spec
            .as_ref()
            .unwrap()
            .taints
            .as_ref()
            .unwrap()
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            taints,
            [
                (TAINT_UNREACHABLE, "NoSchedule"),
                (TAINT_UNREACHABLE, "NoExecute")
            ]
        );
        // Capacity unknown except the pods default.
        let cap = n2.status.as_ref().unwrap().capacity.as_ref().unwrap();
        assert_eq!(cap.keys().collect::<Vec<_>>(), ["pods"]);
    }

    #[test]
    fn overrides_cordon_and_explicit_cidrs() {
        let mut inv = seed_inventory();
        let n1 = inv
            .hosts
            .iter_mut()
            .find(|h| h.name == "k8s-node1")
            .unwrap();
        n1.capacity.cpu = Some("1500m".into());
        n1.unschedulable = true;
        // node3 explicitly takes the /24 node2 would get by index: node2 moves to the lowest free one.
        inv.hosts
            .iter_mut()
            .find(|h| h.name == "k8s-node3")
            .unwrap()
            .pod_cidr = Some("10.244.2.0/24".into());
        let nodes = node_objects(&inv, &observed(&[]));
        let cap = nodes[1].status.as_ref().unwrap().capacity.as_ref().unwrap();
        assert_eq!(cap["cpu"].0, "1500m");
        let spec = nodes[1].spec.as_ref().unwrap();
        assert_eq!(spec.unschedulable, Some(true));
        assert_eq!(spec.taints.as_ref().unwrap()[0].key, TAINT_UNSCHEDULABLE);
        let cidrs: Vec<_> = nodes
            .iter()
            .map(|n| n.spec.as_ref().unwrap().pod_cidr.clone().unwrap())
            .collect();
        assert_eq!(
            cidrs,
            [
                "10.244.0.0/24",
                "10.244.1.0/24",
                "10.244.3.0/24",
                "10.244.2.0/24"
            ]
        );
    }
}
