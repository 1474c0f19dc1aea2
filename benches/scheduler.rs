//! Scheduler throughput: 5,000 nodes, 1,000 existing pods, 10,000 new pods (100 ReplicaSets of 100),
//! default plugins, every node evaluated (no sampling). Variant `affinity_spread`: every pod (existing and
//! new) also has required pod anti-affinity on `kubernetes.io/hostname` against its ReplicaSet and a
//! DoNotSchedule zone spread constraint (maxSkew 1) over it. Reproduce:
//! `CARGO_TARGET_DIR=/work/target cargo bench --bench scheduler -- --sample-size 10`
//! See docs/performance.md.

use std::hint::black_box;

use clusterctl::scheduler::Scheduler;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[path = "scheduler_fixture.rs"]
mod fixture;

const NODES: usize = 5_000;
const EXISTING: usize = 1_000;
const NEW: usize = 10_000;

fn run(c: &mut Criterion, name: &str, constrained: bool) {
    let nodes = fixture::nodes(NODES);
    let (existing, new) = fixture::pods(NODES, EXISTING, NEW, constrained);
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
