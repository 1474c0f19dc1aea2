//! The scheduler benchmark's synthetic cluster, shared by `benches/scheduler.rs` (throughput) and
//! `tests/scheduler_placements.rs` (every placement must stay the same when the scheduler is optimised).
//! Nodes: 32 cpu / 128Gi / 110 pods, 3 zones, every 50th tainted, half `disk=ssd`. Pods: ReplicaSets of 100
//! with varying cpu requests, a quarter with `nodeSelector disk=ssd`; `constrained` adds required pod
//! anti-affinity on the hostname and a DoNotSchedule zone spread (maxSkew 1) against the ReplicaSet.

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

pub fn nodes(count: usize) -> Vec<Node> {
    (0..count)
        .map(|i| {
            let taints = if i % 50 == 0 {
                json!([{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}])
            } else {
                json!([])
            };
            serde_json::from_value(json!({
                "metadata": {"name": format!("node-{i:05}"), "labels": {
                    "kubernetes.io/hostname": format!("node-{i:05}"),
                    "topology.kubernetes.io/zone": format!("zone-{}", i % 3),
                    "disk": if i % 2 == 0 { "ssd" } else { "hdd" }
                }},
                "spec": {"taints": taints},
                "status": {
                    "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}]
                }
            }))
            .unwrap()
        })
        .collect()
}

pub fn pod(rs: usize, i: usize, node: Option<String>, constrained: bool) -> Pod {
    let mut spec = json!({"containers": [{"name": "app", "image": "nginx",
        "resources": {"requests": {"cpu": format!("{}m", 100 + (i % 5) * 50), "memory": "128Mi"}}}]});
    if rs % 4 == 0 {
        spec["nodeSelector"] = json!({"disk": "ssd"});
    }
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    let app = json!({"matchLabels": {"app": format!("rs{rs}")}});
    if constrained {
        spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": app, "topologyKey": "kubernetes.io/hostname"}]}});
        spec["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": app}]);
    }
    serde_json::from_value(json!({
        "metadata": {"name": format!("rs{rs}-{i}"), "namespace": "default", "labels": {"app": format!("rs{rs}")},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("rs{rs}"), "uid": "", "controller": true}]},
        "spec": spec
    }))
    .unwrap()
}

/// `existing` pods bound round the nodes (ReplicaSets 1000..1009), and `new` unbound pods in ReplicaSets
/// of 100.
pub fn pods(nodes: usize, existing: usize, new: usize, constrained: bool) -> (Vec<Pod>, Vec<Pod>) {
    let old = (0..existing)
        .map(|i| {
            pod(
                1000 + i % 10,
                i,
                Some(format!("node-{:05}", (i * 7) % nodes)),
                constrained,
            )
        })
        .collect();
    let fresh = (0..new)
        .map(|i| pod(i / 100, i, None, constrained))
        .collect();
    (old, fresh)
}
