//! `clusterctl plan --observed` on a large snapshot: 1,000 hosts × 30 containers (15 pods each), 50
//! Deployments. Measures the whole offline path: snapshot JSON → manifests → controllers → nodes →
//! scheduler → plan. Two cases: converged (the usual CI run, no changes) and one Deployment's image changed.
//! Results and how to reproduce: docs/performance.md.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "fixture.rs"]
mod fixture;

const HOSTS: usize = 1_000;
const PODS_PER_HOST: usize = 15;
const DEPLOYMENTS: usize = 50;

fn bench(c: &mut Criterion) {
    let fx = fixture::build(HOSTS, PODS_PER_HOST, DEPLOYMENTS);
    let inv =
        clusterctl::inventory::parse(&fx.cluster_yaml, Path::new("/bench/cluster.yaml")).unwrap();

    let mut group = c.benchmark_group("plan_observed_1000x30");
    group.sample_size(10);
    group.bench_function("converged", |b| {
        b.iter(|| {
            let state: clusterctl::model::ObservedState =
                serde_json::from_str(&fx.snapshot_json).unwrap();
            let plan = fixture::plan(&inv, &fx.files, &state);
            assert!(plan.changes.is_empty());
            plan
        })
    });
    let mut changed = fx.files.clone();
    changed[0].bytes =
        fixture::deployment(0, HOSTS * PODS_PER_HOST / DEPLOYMENTS, "nginx:latest").into_bytes();
    group.bench_function("one_deployment_changed", |b| {
        b.iter(|| {
            let state: clusterctl::model::ObservedState =
                serde_json::from_str(&fx.snapshot_json).unwrap();
            let plan = fixture::plan(&inv, &changed, &state);
            assert_eq!(plan.summary.add, HOSTS * PODS_PER_HOST / DEPLOYMENTS);
            plan
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
