//! Scheduler throughput: 5,000 nodes, 1,000 existing pods, 10,000 new pods (100 ReplicaSets of 100),
//! default plugins, every node evaluated (no sampling). Variant `affinity_spread`: every pod (existing and
//! new) also has required pod anti-affinity on `kubernetes.io/hostname` against its ReplicaSet and a
//! DoNotSchedule zone spread constraint (maxSkew 1) over it. Reproduce:
//! `CARGO_TARGET_DIR=/work/target cargo bench --bench scheduler -- --sample-size 10`
//! See docs/performance.md.

use std::hint::black_box;

use clusterctl::scheduler::Scheduler;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

const NODES: usize = 5_000;
const EXISTING: usize = 1_000;
const NEW: usize = 10_000;

fn nodes() -> Vec<Node> {
    (0..NODES)
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

fn pod(rs: usize, i: usize, node: Option<String>, constrained: bool) -> Pod {
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

fn run(c: &mut Criterion, name: &str, constrained: bool) {
    let nodes = nodes();
    let existing: Vec<Pod> = (0..EXISTING)
        .map(|i| {
            pod(
                1000 + i % 10,
                i,
                Some(format!("node-{:05}", (i * 7) % NODES)),
                constrained,
            )
        })
        .collect();
    let new: Vec<Pod> = (0..NEW)
        .map(|i| pod(i / 100, i, None, constrained))
        .collect();
    let mut g = c.benchmark_group("scheduler");
    g.throughput(Throughput::Elements(NEW as u64));
    g.bench_function(name, |b| {
        b.iter_batched(
            || Scheduler::new(&nodes, &existing),
            |mut s| {
                for p in &new {
                    black_box(s.schedule(p).ok());
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    run(c, "default_plugins_5000n_1000e_10000p", false);
    run(c, "affinity_spread_5000n_1000e_10000p", true);
}

criterion_group!(benches, bench);
criterion_main!(benches);
