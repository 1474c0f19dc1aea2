//! The fingerprint of the observed state a plan was computed from (saved plans, docs/saved-plans.md): per
//! host its reachability, its managed containers (id, spec hash, coarse state), hashes of its pod network
//! and of clusterctl's iptables lines, and a hash of the Node object the scheduler saw (labels, taints,
//! capacity, pod CIDR, address), its managed docker volumes (claims' PersistentVolumes, Memory emptyDirs:
//! name → hash of labels and creation time) and the content sums of its configMap/secret volumes. The
//! node set is the set of hosts. Pure: built from an `ObservedState` and
//! the Node objects, compared with [`differences`], which words what changed per host.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{ObservedContainer, ObservedState, labels};

/// What a plan saw. Keys sorted; the same observation gives the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Fingerprint {
    /// One entry per inventory host (the node set), by name.
    pub hosts: BTreeMap<String, HostPrint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HostPrint {
    pub reachable: bool,
    /// Managed containers by runtime name.
    pub containers: BTreeMap<String, ContainerPrint>,
    /// sha256 of the pod network (docker network subnet, VXLAN device, routes, neighbours, fdb).
    pub network: String,
    /// sha256 of clusterctl's iptables lines (nat and filter).
    pub rules: String,
    /// sha256 of what the scheduler reads of the Node object (labels, taints, capacity, podCIDR, address).
    pub node: String,
    /// Managed docker volumes by name → sha256 of their labels and creation time (a PersistentVolume
    /// removed or remade by hand changes it). Absent in plans saved before it was fingerprinted.
    #[serde(default)]
    pub volumes: BTreeMap<String, String>,
    /// configMap/secret volume directories (`<namespace>_<pod>/<volume>`) → the content sum the host
    /// reports (files edited on the host change it).
    #[serde(default)]
    pub config_volumes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPrint {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    /// `up` (running, restarting or paused: docker keeps it alive) or docker's word for a stopped one.
    pub state: String,
}

fn sha256_json<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).expect("observed data serializes");
    hex::encode(Sha256::digest(&bytes))
}

/// The state a plan depends on: a crash-looping container flips between running and restarting, which
/// changes no plan, so both are `up`; a container stopped by hand (`exited`) is a change.
fn coarse_state(c: &ObservedContainer) -> String {
    match c.status.as_str() {
        "running" | "restarting" | "paused" => "up".into(),
        other => other.to_string(),
    }
}

/// The scheduler's inputs from a Node, without the timestamps of its conditions.
fn node_hash(node: Option<&Node>) -> String {
    let Some(node) = node else {
        return sha256_json(&());
    };
    let spec = node.spec.as_ref();
    let status = node.status.as_ref();
    sha256_json(&serde_json::json!({
        "labels": node.metadata.labels,
        "taints": spec.map(|s| &s.taints),
        "unschedulable": spec.map(|s| s.unschedulable),
        "podCIDR": spec.map(|s| &s.pod_cidr),
        "capacity": status.map(|s| &s.capacity),
        "allocatable": status.map(|s| &s.allocatable),
        "addresses": status.map(|s| &s.addresses),
    }))
}

/// Fingerprints `observed` with the Node objects built from it (`nodes::node_objects`).
pub fn fingerprint(observed: &ObservedState, nodes: &[Node]) -> Fingerprint {
    let hosts = observed
        .nodes
        .iter()
        .map(|n| {
            let node = nodes
                .iter()
                .find(|o| o.metadata.name.as_deref() == Some(n.name.as_str()));
            let containers = n
                .containers
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        ContainerPrint {
                            id: c.id.clone(),
                            spec_hash: c.label(labels::SPEC_HASH).map(str::to_string),
                            state: coarse_state(c),
                        },
                    )
                })
                .collect();
            let net = n.network.clone().unwrap_or_default();
            let print = HostPrint {
                reachable: n.reachable,
                containers,
                network: sha256_json(&(
                    &net.pod_subnet,
                    &net.vxlan,
                    &net.routes,
                    &net.neighbors,
                    &net.fdb,
                )),
                rules: sha256_json(&(&net.iptables_nat, &net.iptables_filter)),
                node: node_hash(node),
                volumes: n
                    .volumes
                    .iter()
                    .map(|v| (v.name.clone(), sha256_json(&(&v.labels, &v.created_at))))
                    .collect(),
                config_volumes: n.config_volumes.clone(),
            };
            (n.name.clone(), print)
        })
        .collect();
    Fingerprint { hosts }
}

/// `<what> NAME removed / added / changed` for each key of two maps whose values differ.
fn words_for_map(
    d: &mut Vec<String>,
    what: &str,
    was: &BTreeMap<String, String>,
    is: &BTreeMap<String, String>,
) {
    for (name, v) in was {
        match is.get(name) {
            None => d.push(format!("{what} {name} removed")),
            Some(n) if n != v => d.push(format!("{what} {name} changed")),
            Some(_) => {}
        }
    }
    for name in is.keys().filter(|k| !was.contains_key(*k)) {
        d.push(format!("{what} {name} added"));
    }
}

/// What changed between `saved` and `now`, per host (sorted), in words; empty when nothing did.
pub fn differences(saved: &Fingerprint, now: &Fingerprint) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (host, was) in &saved.hosts {
        let Some(is) = now.hosts.get(host) else {
            out.entry(host.clone())
                .or_default()
                .push("host removed from the inventory".into());
            continue;
        };
        let mut d = Vec::new();
        match (was.reachable, is.reachable) {
            (true, false) => d.push("host is no longer reachable".into()),
            (false, true) => d.push("host is reachable again".into()),
            _ => {}
        }
        for (name, c) in &was.containers {
            match is.containers.get(name) {
                None => d.push(format!("container {name} removed")),
                Some(n) if n.id != c.id => d.push(format!("container {name} recreated")),
                Some(n) if n.spec_hash != c.spec_hash => {
                    d.push(format!("container {name} has another spec hash"))
                }
                Some(n) if n.state != c.state => {
                    d.push(format!("container {name} is {} (was {})", n.state, c.state))
                }
                Some(_) => {}
            }
        }
        for name in is.containers.keys() {
            if !was.containers.contains_key(name) {
                d.push(format!("container {name} added"));
            }
        }
        if was.network != is.network {
            d.push("pod network changed".into());
        }
        if was.rules != is.rules {
            d.push("iptables rules changed".into());
        }
        if was.node != is.node {
            d.push("node labels, taints, capacity or address changed".into());
        }
        words_for_map(&mut d, "volume", &was.volumes, &is.volumes);
        words_for_map(
            &mut d,
            "config volume",
            &was.config_volumes,
            &is.config_volumes,
        );
        if !d.is_empty() {
            out.insert(host.clone(), d);
        }
    }
    for host in now.hosts.keys() {
        if !saved.hosts.contains_key(host) {
            out.entry(host.clone())
                .or_default()
                .push("host added to the inventory".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObservedNetwork, ObservedNode, ObservedVolume};

    fn container(name: &str, id: &str, hash: &str, status: &str) -> ObservedContainer {
        ObservedContainer {
            id: id.into(),
            name: name.into(),
            image: "nginx".into(),
            labels: [(labels::SPEC_HASH.to_string(), hash.to_string())].into(),
            status: status.into(),
            ..Default::default()
        }
    }

    fn state() -> ObservedState {
        let host = |name: &str, containers: Vec<ObservedContainer>| ObservedNode {
            name: name.into(),
            reachable: true,
            error: None,
            facts: None,
            containers,
            roster: None,
            network: Some(ObservedNetwork {
                pod_subnet: Some("10.244.1.0/24".into()),
                routes: vec![("10.244.2.0/24".into(), "10.244.2.0".into())],
                iptables_nat: vec!["-A KUBE-SERVICES -j X".into()],
                ..Default::default()
            }),
            volumes: vec![ObservedVolume {
                name: "pvc-1".into(),
                node: name.into(),
                labels: [(labels::PV.to_string(), "pvc-1".to_string())].into(),
                created_at: "2026-01-01T00:00:00Z".into(),
            }],
            config_volumes: [("default_a/cfg".to_string(), "sum1".to_string())].into(),
            ..Default::default()
        };
        ObservedState {
            format_version: 1,
            observed_at: "2026-01-01T00:00:00Z".into(),
            nodes: vec![
                host(
                    "k8s-node1",
                    vec![container("k8s_nginx_a_default", "id1", "h1", "running")],
                ),
                host("k8s-node2", vec![]),
            ],
        }
    }

    fn node(name: &str, label: &str) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.metadata.labels = Some([("l".to_string(), label.to_string())].into());
        n
    }

    fn nodes() -> Vec<Node> {
        vec![node("k8s-node1", "a"), node("k8s-node2", "a")]
    }

    fn diff_after(change: impl FnOnce(&mut ObservedState, &mut Vec<Node>)) -> Vec<String> {
        let (mut s, mut n) = (state(), nodes());
        let before = fingerprint(&s, &n);
        change(&mut s, &mut n);
        differences(&before, &fingerprint(&s, &n))
            .into_iter()
            .flat_map(|(h, d)| d.into_iter().map(move |d| format!("{h}: {d}")))
            .collect()
    }

    #[test]
    fn stable_and_deterministic() {
        let a = fingerprint(&state(), &nodes());
        let b = fingerprint(&state(), &nodes());
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert!(differences(&a, &b).is_empty());
        // The observation time and a crash loop's running/restarting flip change nothing.
        assert!(
            diff_after(|s, _| {
                s.observed_at = "2027-01-01T00:00:00Z".into();
                s.nodes[0].containers[0].status = "restarting".into();
                s.nodes[0].containers[0].restart_count = 7;
            })
            .is_empty()
        );
    }

    #[test]
    fn sensitive_to_every_listed_element() {
        type Change = Box<dyn FnOnce(&mut ObservedState, &mut Vec<Node>)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|s, _| s.nodes[0].containers.clear()),
                "k8s-node1: container k8s_nginx_a_default removed",
            ),
            (
                Box::new(|s, _| s.nodes[0].containers[0].id = "id2".into()),
                "k8s-node1: container k8s_nginx_a_default recreated",
            ),
            (
                Box::new(|s, _| {
                    s.nodes[0].containers[0]
                        .labels
                        .insert(labels::SPEC_HASH.into(), "h2".into());
                }),
                "k8s-node1: container k8s_nginx_a_default has another spec hash",
            ),
            (
                Box::new(|s, _| s.nodes[0].containers[0].status = "exited".into()),
                "k8s-node1: container k8s_nginx_a_default is exited (was up)",
            ),
            (
                Box::new(|s, _| {
                    s.nodes[1].containers.push(container(
                        "k8s_POD_b_default",
                        "id9",
                        "h",
                        "running",
                    ))
                }),
                "k8s-node2: container k8s_POD_b_default added",
            ),
            (
                Box::new(|s, _| {
                    s.nodes[1].network.as_mut().unwrap().routes.clear();
                }),
                "k8s-node2: pod network changed",
            ),
            (
                Box::new(|s, _| {
                    s.nodes[1].network.as_mut().unwrap().iptables_nat.clear();
                }),
                "k8s-node2: iptables rules changed",
            ),
            (
                Box::new(|_, n| n[1] = node("k8s-node2", "b")),
                "k8s-node2: node labels, taints, capacity or address changed",
            ),
            (
                Box::new(|s, _| s.nodes[1].volumes.clear()),
                "k8s-node2: volume pvc-1 removed",
            ),
            (
                Box::new(|s, _| s.nodes[1].volumes[0].created_at = "2026-02-02T00:00:00Z".into()),
                "k8s-node2: volume pvc-1 changed",
            ),
            (
                Box::new(|s, _| {
                    let mut v = s.nodes[1].volumes[0].clone();
                    v.name = "pvc-2".into();
                    s.nodes[1].volumes.push(v);
                }),
                "k8s-node2: volume pvc-2 added",
            ),
            (
                Box::new(|s, _| {
                    s.nodes[0]
                        .config_volumes
                        .insert("default_a/cfg".into(), "sum2".into());
                }),
                "k8s-node1: config volume default_a/cfg changed",
            ),
            (
                Box::new(|s, _| s.nodes[0].config_volumes.clear()),
                "k8s-node1: config volume default_a/cfg removed",
            ),
            (
                Box::new(|s, _| s.nodes[1].reachable = false),
                "k8s-node2: host is no longer reachable",
            ),
            (
                Box::new(|s, _| {
                    s.nodes.pop();
                }),
                "k8s-node2: host removed from the inventory",
            ),
            (
                Box::new(|s, _| {
                    let mut extra = s.nodes[1].clone();
                    extra.name = "k8s-node3".into();
                    s.nodes.push(extra);
                }),
                "k8s-node3: host added to the inventory",
            ),
        ];
        for (change, want) in cases {
            assert_eq!(diff_after(change), vec![want.to_string()]);
        }
    }
}
