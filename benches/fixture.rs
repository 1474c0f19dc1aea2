//! A large synthetic cluster for benchmarks: `hosts` workers, `deployments` Deployments whose replicas fill
//! `pods_per_host` pods per host (2 containers each: sandbox + app), observed after a simulated apply.
//! Shared by `benches/plan.rs` and `examples/bench_fixture.rs` (which writes it to disk for `/usr/bin/time`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use clusterctl::manifest::RawFile;
use clusterctl::model::{NodeFacts, OBSERVED_FORMAT_VERSION, ObservedNode, ObservedState};
use clusterctl::runtime::{Runtime, docker::DockerRuntime};

pub struct Fixture {
    pub cluster_yaml: String,
    pub files: Vec<RawFile>,
    pub snapshot_json: String,
}

pub fn cluster_yaml(hosts: usize) -> String {
    let mut s = String::from("ssh:\n  user: root\nhosts:\n");
    for i in 0..hosts {
        // `.invalid` names: the benchmark never connects anywhere.
        s.push_str(&format!(
            "  - name: node-{i:04}\n    address: node-{i:04}.invalid\n    capacity: {{cpu: \"64\", memory: 256Gi, pods: \"110\"}}\n"
        ));
    }
    s
}

pub fn deployment(i: usize, replicas: usize, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i:03}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: app-{i:03}\n  template:\n    metadata:\n      labels:\n        app: app-{i:03}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n        ports:\n        - containerPort: 80\n        resources:\n          requests:\n            cpu: 100m\n            memory: 64Mi\n"
    )
}

/// Builds the cluster, plans it from empty, applies that plan to simulated hosts, and returns the manifests
/// with the observed state as a snapshot (JSON, as `clusterctl snapshot -o json` writes it).
pub fn build(hosts: usize, pods_per_host: usize, deployments: usize) -> Fixture {
    let cluster_yaml = cluster_yaml(hosts);
    let replicas = hosts * pods_per_host / deployments;
    let files: Vec<RawFile> = (0..deployments)
        .map(|i| RawFile {
            path: format!("apps/app-{i:03}.yaml"),
            bytes: deployment(i, replicas, "nginx:1.14.2").into_bytes(),
        })
        .collect();
    let inv = clusterctl::inventory::parse(&cluster_yaml, Path::new("/bench/cluster.yaml"))
        .expect("inventory");
    let mut state = ObservedState {
        format_version: OBSERVED_FORMAT_VERSION,
        observed_at: "2026-11-26T12:00:00Z".into(),
        nodes: inv
            .hosts
            .iter()
            .map(|h| ObservedNode {
                volumes: Vec::new(),
                network: None,
                config_volumes: Default::default(),
                name: h.name.clone(),
                reachable: true,
                error: None,
                facts: Some(NodeFacts {
                    hostname: h.name.clone(),
                    kernel_version: "6.1.0".into(),
                    os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                    architecture: "amd64".into(),
                    container_runtime_version: "docker://20.10.24".into(),
                    cpu_cores: 64,
                    memory_bytes: 256 << 30,
                    boot_time: "2026-11-26T00:00:00Z".into(),
                }),
                containers: vec![],
                roster: None,
                ..Default::default()
            })
            .collect(),
    };
    let plan = plan(&inv, &files, &state);
    let mut clock = 0;
    for change in &plan.changes {
        let node = state
            .nodes
            .iter_mut()
            .find(|n| n.name == change.node)
            .expect("node");
        clusterctl::runtime::sim::apply_steps(node, &change.steps, &mut clock);
    }
    let snapshot_json = serde_json::to_string(&state).expect("snapshot");
    Fixture {
        cluster_yaml,
        files,
        snapshot_json,
    }
}

/// What `clusterctl plan --observed` computes: manifests → pod sets → nodes → plan.
pub fn plan(
    inv: &clusterctl::inventory::Inventory,
    files: &[RawFile],
    state: &ObservedState,
) -> clusterctl::plan::Plan {
    let parsed = clusterctl::manifest::parse(files);
    assert!(
        parsed.diagnostics.is_empty(),
        "{:?}",
        parsed.diagnostics.first()
    );
    let expanded = clusterctl::controllers::expand(&parsed.manifests);
    let nodes = clusterctl::nodes::node_objects(inv, state);
    let rt: Arc<dyn Runtime> = Arc::new(DockerRuntime::default());
    let runtimes: BTreeMap<String, Arc<dyn Runtime>> = inv
        .hosts
        .iter()
        .map(|h| (h.name.clone(), rt.clone()))
        .collect();
    clusterctl::plan::compute(&clusterctl::plan::PlanInput {
        commit: "0123456789abcdef0123456789abcdef01234567",
        pod_sets: &expanded.pod_sets,
        observed: state,
        nodes: &nodes,
        runtimes: &runtimes,
        network: None,
        config: None,
        node_loss: None,
        storage: Some(&expanded.storage),
    })
}
