//! Planner tests against a simulated docker host: the plan's own `docker create/start/rm` steps are
//! interpreted into observed containers, so "apply, then plan again" is exercised without SSH.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Taint;

use super::*;
use crate::controllers;
use crate::inventory::{Capacity, ClusterSettings, Host, Inventory, RuntimeKind, SshSettings};
use crate::manifest::Manifest;
use crate::model::{NodeFacts, OBSERVED_FORMAT_VERSION, ObservedNode};
use crate::runtime::docker::DockerRuntime;

fn host(name: &str, i: u8, master: bool) -> Host {
    Host {
        name: name.into(),
        address: format!("172.30.0.{}", 10 + i),
        port: 22,
        user: None,
        identity_file: None,
        labels: if master {
            BTreeMap::from([("node-role.kubernetes.io/master".to_string(), String::new())])
        } else {
            BTreeMap::new()
        },
        taints: if master {
            vec![Taint {
                key: "node-role.kubernetes.io/master".into(),
                effect: "NoSchedule".into(),
                ..Default::default()
            }]
        } else {
            vec![]
        },
        unschedulable: false,
        capacity: Capacity {
            cpu: Some("4".into()),
            memory: Some("2Gi".into()),
            pods: Some("110".into()),
        },
        runtime: RuntimeKind::Docker,
        pod_cidr: None,
    }
}

fn inventory() -> Inventory {
    Inventory {
        path: PathBuf::from("cluster.yaml"),
        ssh: SshSettings::default(),
        cluster: ClusterSettings::default(),
        hosts: vec![
            host("k8s-master", 0, true),
            host("k8s-node1", 1, false),
            host("k8s-node2", 2, false),
            host("k8s-node3", 3, false),
        ],
        lock: Default::default(),
    }
}

/// A simulated cluster: containers per node, driven by the plan's docker commands.
struct Sim {
    inv: Inventory,
    state: ObservedState,
    clock: u32,
    /// Node loss as planned (`None`: unreachable hosts' pods stay counted).
    node_loss: Option<NodeLoss>,
}

impl Sim {
    fn new() -> Sim {
        let inv = inventory();
        let nodes = inv
            .hosts
            .iter()
            .map(|h| ObservedNode {
                config_volumes: Default::default(),
                pull_failures: Vec::new(),
                volumes: Vec::new(),
                network: None,
                name: h.name.clone(),
                reachable: true,
                error: None,
                facts: Some(NodeFacts {
                    hostname: h.name.clone(),
                    kernel_version: "6.1.0".into(),
                    os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                    architecture: "amd64".into(),
                    container_runtime_version: "docker://20.10.24".into(),
                    cpu_cores: 2,
                    memory_bytes: 24 << 30,
                    boot_time: "2026-11-26T00:00:00Z".into(),
                }),
                containers: vec![],
                roster: None,
            })
            .collect();
        Sim {
            inv,
            state: ObservedState {
                format_version: OBSERVED_FORMAT_VERSION,
                observed_at: "2026-11-26T12:00:00Z".into(),
                nodes,
            },
            clock: 0,
            node_loss: None,
        }
    }

    fn plan(&self, manifests: &[Manifest]) -> Plan {
        self.plan_bound(manifests).0
    }

    fn plan_bound(&self, manifests: &[Manifest]) -> (Plan, Binding) {
        let names: Vec<String> = self.inv.hosts.iter().map(|h| h.name.clone()).collect();
        let expanded = controllers::expand_on(manifests, &names);
        // Plus the Jobs' sets for this observation, as the pipeline adds them (`with_job_sets`).
        let mut pod_sets = expanded.pod_sets.clone();
        pod_sets.extend(controllers::job::pod_sets(&expanded.jobs, &self.state));
        let nodes = crate::nodes::node_objects(&self.inv, &self.state);
        let rt: Arc<dyn Runtime> = Arc::new(DockerRuntime::default());
        let runtimes: BTreeMap<String, Arc<dyn Runtime>> = self
            .inv
            .hosts
            .iter()
            .map(|h| (h.name.clone(), rt.clone()))
            .collect();
        let config = super::ConfigStore::new(&expanded.config_maps, &expanded.secrets);
        compute_with_binding(&PlanInput {
            commit: "0123456789abcdef0123456789abcdef01234567",
            pod_sets: &pod_sets,
            observed: &self.state,
            nodes: &nodes,
            runtimes: &runtimes,
            network: None,
            config: Some(&config),
            node_loss: self.node_loss.as_ref(),
            storage: Some(&expanded.storage),
        })
    }

    /// A plan with the pod network and services of the default cluster settings.
    fn plan_with_network(&self, manifests: &[Manifest]) -> (Plan, Binding) {
        let expanded = controllers::expand(manifests);
        let nodes = crate::nodes::node_objects(&self.inv, &self.state);
        let rt: Arc<dyn Runtime> = Arc::new(DockerRuntime::default());
        let runtimes: BTreeMap<String, Arc<dyn Runtime>> = self
            .inv
            .hosts
            .iter()
            .map(|h| (h.name.clone(), rt.clone()))
            .collect();
        let hosts = self
            .inv
            .hosts
            .iter()
            .zip(&nodes)
            .map(|(h, n)| crate::network::HostNet {
                name: h.name.clone(),
                address: h.address.clone(),
                pod_cidr: n.spec.as_ref().unwrap().pod_cidr.clone().unwrap(),
            })
            .collect();
        let network = NetworkInput {
            hosts,
            cluster_cidr: &self.inv.cluster.pod_cidr,
            service_cidr: &self.inv.cluster.service_cidr,
            node_port_range: self.inv.cluster.node_port_range,
            services: &expanded.services,
        };
        compute_with_binding(&PlanInput {
            commit: "0123456789abcdef0123456789abcdef01234567",
            pod_sets: &expanded.pod_sets,
            observed: &self.state,
            nodes: &nodes,
            runtimes: &runtimes,
            network: Some(&network),
            config: None,
            node_loss: self.node_loss.as_ref(),
            storage: Some(&expanded.storage),
        })
    }

    fn node(&mut self, name: &str) -> &mut ObservedNode {
        self.state
            .nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("node")
    }

    /// Interprets the docker commands of every change, as the hosts' engines would.
    fn apply(&mut self, plan: &Plan) {
        let mut clock = u64::from(self.clock);
        for change in &plan.changes {
            let node = self
                .state
                .nodes
                .iter_mut()
                .find(|n| n.name == change.node)
                .expect("node");
            crate::runtime::sim::apply_steps(node, &change.steps, &mut clock);
        }
        self.clock = clock as u32;
    }
}

/// Manifests through the real parser (API-server defaults included), as `plan` gets them.
fn parse(yaml: &str) -> Vec<Manifest> {
    let parsed = crate::manifest::parse(&[crate::manifest::RawFile {
        path: "apps/x.yaml".into(),
        bytes: yaml.into(),
    }]);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    parsed.manifests
}

fn manifest(yaml: &str) -> Manifest {
    parse(yaml).remove(0)
}

/// The seed's my_nginx.yaml with `replicas` and `image` substituted.
fn deployment(replicas: u32, image: &str) -> Manifest {
    manifest(&format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: my-nginx\nspec:\n  selector:\n    matchLabels:\n      run: my-nginx\n  replicas: {replicas}\n  template:\n    metadata:\n      labels:\n        run: my-nginx\n    spec:\n      containers:\n      - name: my-nginx\n        image: {image}\n        ports:\n        - containerPort: 80\n"
    ))
}

fn bare_pod_with(image: &str, cpu: &str) -> Manifest {
    manifest(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sc-nginx\nspec:\n  containers:\n  - name: nginx\n    image: {image}\n    resources:\n      requests:\n        cpu: \"{cpu}\"\n"
    ))
}

fn bare_pod(cpu: &str) -> Manifest {
    bare_pod_with("nginx:1.14.2", cpu)
}

/// A change's reason as the plan views word it.
fn why(c: &Change) -> String {
    crate::output::plan::reason(&c.reason)
}

fn lines(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| format!("{:?} {} {}", c.action, c.name, c.node))
        .collect()
}

#[test]
fn seed_deployment_spreads_over_workers_and_converges() {
    let mut sim = Sim::new();
    let apps = [deployment(3, "nginx")];
    let plan = sim.plan(&apps);
    assert_eq!(
        plan.summary,
        Summary {
            add: 3,
            change: 0,
            destroy: 0
        }
    );
    let mut nodes: Vec<&str> = plan.changes.iter().map(|c| c.node.as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, ["k8s-node1", "k8s-node2", "k8s-node3"]);
    assert!(
        plan.changes
            .iter()
            .all(|c| c.name.starts_with("my-nginx-cf54cdbf7-")),
        "{:?}",
        lines(&plan)
    );
    // Identical inputs, identical bytes.
    assert_eq!(
        serde_json::to_string(&plan).unwrap(),
        serde_json::to_string(&sim.plan(&apps)).unwrap()
    );

    sim.apply(&plan);
    let again = sim.plan(&apps);
    assert!(again.changes.is_empty(), "{:?}", lines(&again));
}

#[test]
fn scaling_down_and_up_keeps_names_stable() {
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[deployment(3, "nginx")]));
    let down = sim.plan(&[deployment(1, "nginx")]);
    assert_eq!(
        down.summary,
        Summary {
            add: 0,
            change: 0,
            destroy: 2
        }
    );
    assert!(
        down.changes
            .iter()
            .all(|c| c.action == Action::Delete && c.reason == Reason::ExtraReplica)
    );
    sim.apply(&down);
    let up = sim.plan(&[deployment(3, "nginx")]);
    assert_eq!(up.summary.add, 2);
    sim.apply(&up);
    assert!(sim.plan(&[deployment(3, "nginx")]).changes.is_empty());
}

#[test]
fn template_change_rolls_out_through_a_new_replica_set_step_by_step() {
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[deployment(3, "nginx")]));
    // 3 replicas, maxSurge 25% → 1 (rounded up), maxUnavailable 25% → 0 (rounded down): one new pod,
    // then one old pod once it is available, and so on; never more than 4 pods, never fewer than 3.
    let mut steps = Vec::new();
    // Observed well after every simulated start: the pods have been running long enough to be Ready.
    sim.state.observed_at = "2026-11-26T13:00:00Z".into();
    loop {
        let plan = sim.plan(&[deployment(3, "nginx:1.14.2")]);
        if plan.changes.is_empty() {
            break;
        }
        let pods: Vec<&Change> = plan
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Pod)
            .collect();
        let creates = pods.iter().filter(|c| c.action == Action::Create).count();
        let deletes: Vec<&&Change> = pods.iter().filter(|c| c.action == Action::Delete).collect();
        assert!(creates == 0 || deletes.is_empty(), "{:?}", lines(&plan));
        assert!(
            deletes
                .iter()
                .all(|c| why(c).starts_with("owner template changed")),
            "{deletes:?}"
        );
        assert!(
            pods.iter().all(|c| c
                .details
                .iter()
                .any(|d| matches!(d, Detail::Line(l) if l.starts_with("rollout of deployment my-nginx (RollingUpdate, maxSurge 1, maxUnavailable 0)")))),
            "{pods:?}"
        );
        steps.push((creates, deletes.len()));
        sim.apply(&plan);
        let running = sim
            .state
            .nodes
            .iter()
            .flat_map(|n| &n.containers)
            .filter(|c| c.label(crate::model::labels::CONTAINER) == Some("my-nginx"))
            .count();
        assert!((3..=4).contains(&running), "{running} pods");
        assert!(steps.len() < 20);
    }
    assert_eq!(steps, [(1, 0), (0, 1), (1, 0), (0, 1), (1, 0), (0, 1)]);
}

#[test]
fn drift_by_hand_is_detected() {
    let mut sim = Sim::new();
    let apps = [bare_pod("100m")];
    sim.apply(&sim.plan(&apps));
    let node = sim
        .state
        .nodes
        .iter()
        .find(|n| !n.containers.is_empty())
        .unwrap()
        .name
        .clone();

    // An app container that exited is the node supervisor's to restart: no change.
    sim.node(&node)
        .containers
        .iter_mut()
        .find(|c| c.name == "k8s_nginx_sc-nginx_default")
        .unwrap()
        .status = "exited".into();
    assert!(sim.plan(&apps).changes.is_empty());
    // The sandbox stopped by hand → start (docker restarts sandboxes only after a crash).
    sim.node(&node)
        .containers
        .iter_mut()
        .find(|c| c.name == "k8s_POD_sc-nginx_default")
        .unwrap()
        .status = "exited".into();
    let plan = sim.plan(&apps);
    assert_eq!(lines(&plan), [format!("Start sc-nginx {node}")]);
    assert_eq!(
        plan.summary,
        Summary {
            add: 0,
            change: 1,
            destroy: 0
        }
    );
    sim.apply(&plan);
    assert!(sim.plan(&apps).changes.is_empty());

    // An apply killed between `docker create` and `docker start` of the app container: it was never
    // started, so no supervisor restarts it → start (found by the fault suite, tests/it/faults.rs).
    sim.node(&node)
        .containers
        .iter_mut()
        .find(|c| c.name == "k8s_nginx_sc-nginx_default")
        .unwrap()
        .status = "created".into();
    let plan = sim.plan(&apps);
    assert_eq!(lines(&plan), [format!("Start sc-nginx {node}")]);
    sim.apply(&plan);
    assert!(sim.plan(&apps).changes.is_empty());

    // docker rm -f → replace on the same node
    sim.node(&node)
        .containers
        .retain(|c| c.name != "k8s_nginx_sc-nginx_default");
    let plan = sim.plan(&apps);
    assert_eq!(lines(&plan), [format!("Replace sc-nginx {node}")]);
    assert!(
        why(&plan.changes[0]).contains("removed by hand"),
        "{}",
        why(&plan.changes[0])
    );
    sim.apply(&plan);
    assert!(sim.plan(&apps).changes.is_empty());

    // image changed in Git → replace, with the image diff in words
    let changed = [bare_pod_with("nginx:latest", "100m")];
    let plan = sim.plan(&changed);
    assert_eq!(plan.changes[0].action, Action::Replace);
    assert!(
        why(&plan.changes[0]).contains("image \"nginx:1.14.2\" → \"nginx:latest\""),
        "{}",
        why(&plan.changes[0])
    );
    sim.apply(&plan);
    assert!(sim.plan(&changed).changes.is_empty());

    // removed from Git → destroyed
    let plan = sim.plan(&[]);
    assert_eq!(
        plan.summary,
        Summary {
            add: 0,
            change: 0,
            destroy: 1
        }
    );
    assert_eq!(plan.changes[0].reason, Reason::NotDesired);
    sim.apply(&plan);
    assert!(sim.state.nodes.iter().all(|n| n.containers.is_empty()));
}

/// A bare pod whose new spec no longer fits its node: the old pod is deleted there and the new one is
/// created where it fits, each change with its own node's commands (the create steps once went to the
/// old node, which then failed with the other node's pod IP).
#[test]
fn a_replacement_that_moves_is_a_delete_on_the_old_node_and_a_create_on_the_new() {
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[bare_pod("100m")]));
    let old = sim
        .state
        .nodes
        .iter()
        .find(|n| !n.containers.is_empty())
        .unwrap()
        .name
        .clone();
    let target = ["k8s-node1", "k8s-node2", "k8s-node3"]
        .into_iter()
        .find(|n| *n != old)
        .unwrap();
    let moved = manifest(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sc-nginx\nspec:\n  nodeSelector:\n    kubernetes.io/hostname: {target}\n  containers:\n  - name: nginx\n    image: nginx:1.14.2\n    resources:\n      requests:\n        cpu: \"100m\"\n"
    ));
    let plan = sim.plan(std::slice::from_ref(&moved));
    assert_eq!(
        lines(&plan),
        [
            format!("Delete sc-nginx {old}"),
            format!("Create sc-nginx {target}")
        ]
    );
    let creates = |c: &Change| {
        c.steps
            .iter()
            .filter(|s| s.args.first().is_some_and(|a| a == "create"))
            .count()
    };
    assert_eq!(creates(&plan.changes[0]), 0, "{:?}", plan.changes[0].steps);
    assert_eq!(creates(&plan.changes[1]), 2, "{:?}", plan.changes[1].steps);
    assert!(
        plan.changes[0]
            .details
            .contains(&Detail::MovesTo(target.to_string()))
    );
    assert_eq!(
        plan.summary,
        Summary {
            add: 1,
            change: 0,
            destroy: 1
        }
    );
    sim.apply(&plan);
    assert!(sim.node(&old).containers.is_empty());
    assert!(sim.plan(&[moved]).changes.is_empty());
}

#[test]
fn huge_replica_counts_are_counted_not_materialised() {
    // Valid Kubernetes: 2^31-1 replicas. The pods no node can hold are summarised in one line.
    let sim = Sim::new();
    let plan = sim.plan(&[deployment(i32::MAX as u32, "nginx")]);
    let placed = plan.summary.add;
    let nodes = crate::nodes::node_objects(&sim.inv, &sim.state);
    assert!(
        placed > 0 && placed <= crate::scheduler::pod_capacity(&nodes),
        "{placed}"
    );
    assert_eq!(plan.pending.len(), 1, "{:?}", plan.pending);
    let p = &plan.pending[0];
    assert!(p.name.ends_with('*'), "{}", p.name);
    assert_eq!(
        p.message(),
        format!(
            "{} pods Pending: 0/4 nodes are available: 1 node(s) had untolerated taint {{node-role.kubernetes.io/master: }}, 3 Too many pods.",
            i32::MAX as usize - placed
        )
    );
}

#[test]
fn unschedulable_pods_stay_pending_with_the_scheduler_message() {
    let sim = Sim::new();
    let plan = sim.plan(&[bare_pod("5")]);
    assert!(plan.changes.is_empty());
    assert_eq!(plan.pending.len(), 1);
    assert_eq!(
        plan.pending[0].message(),
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 3 Insufficient cpu."
    );
}

#[test]
fn unreachable_nodes_keep_their_pods_through_the_roster() {
    let mut sim = Sim::new();
    let apps = [deployment(3, "nginx")];
    let (plan, binding) = sim.plan_bound(&apps);
    let roster = roster_after(&sim.state, &plan, &binding, "2026-11-26T12:00:00Z");
    assert_eq!(roster.pods.len(), 3);
    sim.apply(&plan);
    for n in &mut sim.state.nodes {
        n.roster = Some(roster.clone());
    }
    let lost = sim.node("k8s-node3");
    lost.reachable = false;
    lost.facts = None;
    lost.containers.clear();
    lost.roster = None;
    let plan = sim.plan(&apps);
    assert_eq!(plan.unreachable_nodes, ["k8s-node3"]);
    // The lost host's replica is still counted (from the roster) and nothing is planned for it or instead of it.
    assert!(plan.changes.is_empty(), "{:?}", lines(&plan));
    let pods = model::observed_pods(&sim.state);
    let on3: Vec<&ObservedPod> = pods.iter().filter(|p| p.node == "k8s-node3").collect();
    assert_eq!(on3.len(), 1);
    assert!(!on3[0].node_reachable);

    // Without any roster the lost pod is unknown to clusterctl and a replacement is planned elsewhere.
    for n in &mut sim.state.nodes {
        n.roster = None;
    }
    let plan = sim.plan(&apps);
    assert_eq!(plan.summary.add, 1);
    assert!(
        plan.changes.iter().all(|c| c.node != "k8s-node3"),
        "{:?}",
        lines(&plan)
    );
}

#[test]
fn unmanaged_state_is_never_touched_and_orphans_are_pruned() {
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[bare_pod("100m")]));
    let plan = sim.plan(&[deployment(1, "nginx")]);
    let deleted: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(deleted, ["sc-nginx"]);
    let steps: Vec<String> = plan
        .changes
        .iter()
        .flat_map(|c| c.steps.iter())
        .map(|s| s.args.join(" "))
        .collect();
    assert!(
        steps
            .iter()
            .filter(|s| s.starts_with("rm "))
            .all(|s| s.contains("sc-nginx")),
        "{steps:?}"
    );
}

#[test]
fn seed_manifests_through_the_parser_give_kubernetes_replica_set_names() {
    let seed = |f: &str| {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/seed-apps/{f}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let expanded = controllers::expand(&parse(&seed("my_nginx.yaml")));
    assert_eq!(
        expanded.replica_sets[0].metadata.name.as_deref(),
        Some("my-nginx-cf54cdbf7")
    );
    let created = parse(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: k8s-nginx\n  labels:\n    app: k8s-nginx\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: k8s-nginx\n  template:\n    metadata:\n      labels:\n        app: k8s-nginx\n    spec:\n      containers:\n      - image: nginx\n        name: nginx\n",
    );
    let expanded = controllers::expand(&created);
    assert_eq!(
        expanded.replica_sets[0].metadata.name.as_deref(),
        Some("k8s-nginx-6d779d947c")
    );
    // Pods made from the template get the pod-only defaults.
    let pod_spec = expanded.pod_sets[0].template.spec.as_ref().unwrap();
    assert_eq!(pod_spec.enable_service_links, Some(true));
}

#[test]
fn plan_views_snapshot() {
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[bare_pod("100m"), deployment(2, "nginx")]));
    // Scale up, drop the bare pod, and ask for more cpu than any node has.
    let big = manifest(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\nspec:\n  containers:\n  - name: c\n    image: nginx\n    resources:\n      requests:\n        cpu: \"5\"\n",
    );
    let plan = sim.plan(&[deployment(3, "nginx"), big]);
    let opts = crate::output::plan::Options {
        color: false,
        explain: true,
        verbose: false,
    };
    insta::assert_snapshot!(
        "plan_human",
        crate::output::plan::render(&plan, "0123456", &opts)
    );
    insta::assert_snapshot!("plan_json", serde_json::to_string_pretty(&plan).unwrap());
    let empty = sim.plan(&[bare_pod("100m"), deployment(2, "nginx")]);
    insta::assert_snapshot!(
        "plan_no_changes",
        crate::output::plan::render(&empty, "0123456", &opts)
    );
}

#[test]
fn the_roster_keeps_when_each_service_was_first_applied() {
    let mut sim = Sim::new();
    let svc = |name: &str| k8s_openapi::api::core::v1::Service {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let plan = sim.plan(&[]);
    let mut binding = Binding::default();
    binding.services.services = vec![svc("old")];
    let first = roster_after(&sim.state, &plan, &binding, "2026-11-26T10:00:00Z");
    assert_eq!(first.services["default/old"], "2026-11-26T10:00:00Z");
    for n in &mut sim.state.nodes {
        n.roster = Some(first.clone());
    }
    binding.services.services = vec![svc("old"), svc("new")];
    let second = roster_after(&sim.state, &plan, &binding, "2026-11-26T12:00:00Z");
    assert_eq!(
        second.services["default/old"], "2026-11-26T10:00:00Z",
        "kept"
    );
    assert_eq!(
        second.services["default/new"], "2026-11-26T12:00:00Z",
        "stamped when first applied"
    );
    binding.services.services = vec![svc("new")];
    let third = roster_after(&sim.state, &plan, &binding, "2026-11-26T13:00:00Z");
    assert!(
        !third.services.contains_key("default/old"),
        "a removed service is forgotten"
    );
}

/// Every reason and detail is worded exactly as the plan JSON and the human view have always worded it
/// (docs/plan-format.md); the snapshots above cover only some of them.
#[test]
fn every_reason_and_detail_keeps_its_words() {
    use crate::output::plan::{detail_lines, reason};
    let s = |v: &str| v.to_string();
    let reasons = [
        (
            Reason::DeploymentWants {
                deployment: s("web"),
                replica_set: s("web-5d8f"),
                replicas: 3,
            },
            "Deployment web wants 3 replica(s) of ReplicaSet web-5d8f",
        ),
        (
            Reason::OwnerWants {
                kind: s("ReplicaSet"),
                name: s("rs"),
                replicas: 1,
            },
            "ReplicaSet rs wants 1 replica(s)",
        ),
        (Reason::PodDefined, "Pod is defined in the repository"),
        (
            Reason::NodeSupervisor,
            "every host runs the node supervisor (cluster.yaml nodeSupervisorImage)",
        ),
        (
            Reason::Stopped {
                restart_policy: s("OnFailure"),
            },
            "stopped outside clusterctl; restartPolicy OnFailure wants it running",
        ),
        (
            Reason::Held {
                restart_policy: s("Always"),
                since: s("2026-12-01T12:00:07Z"),
            },
            "held by the node supervisor since 12:00:07 UTC (its host was away longer than the pod tolerates) and not replaced elsewhere; restartPolicy Always wants it running",
        ),
        (
            Reason::NotDesired,
            "no longer desired: its owner is gone from the repository",
        ),
        (
            Reason::DaemonNotEligible {
                daemon_set: s("agent"),
                node: s("k8s-master"),
            },
            "DaemonSet agent does not run on node k8s-master (nodeSelector, node affinity or an untolerated taint)",
        ),
        (
            Reason::ExtraReplica,
            "extra replica: more pods than the desired replica count",
        ),
        (
            Reason::Superseded {
                old: s("web-1"),
                new: Some(s("web-2")),
            },
            "owner template changed: ReplicaSet web-1 is superseded by web-2",
        ),
        (
            Reason::Superseded {
                old: s("web-1"),
                new: None,
            },
            "owner template changed: ReplicaSet web-1 is superseded by ?",
        ),
        (
            Reason::Drift(Drift::Template(vec![])),
            "pod template changed",
        ),
        (
            Reason::Drift(Drift::Template(vec![
                TemplateChange::ContainerAdded(s("a")),
                TemplateChange::Image {
                    from: s("nginx:1.14.2"),
                    to: s(""),
                },
                TemplateChange::Env(s("b")),
                TemplateChange::Command(s("b")),
                TemplateChange::Ports(s("b")),
                TemplateChange::Resources(s("b")),
                TemplateChange::ContainerRemoved(s("c")),
            ])),
            "pod template changed: container \"a\" added, image \"nginx:1.14.2\" → \"\", env of \"b\" changed, command of \"b\" changed, ports of \"b\" changed, resources of \"b\" changed, container \"c\" removed",
        ),
        (
            Reason::Drift(Drift::SandboxMissing),
            "pod sandbox container is missing (removed by hand)",
        ),
        (
            Reason::Drift(Drift::ContainerMissing(s("c"))),
            "container \"c\" is missing (removed by hand)",
        ),
        (
            Reason::Drift(Drift::ContainerChanged(s("c"))),
            "container \"c\" differs from its spec (changed by hand)",
        ),
        (
            Reason::Drift(Drift::Image {
                container: s("c"),
                running: s("nginx"),
                wanted: s("nginx:1.25"),
            }),
            "container \"c\" runs image \"nginx\", spec says \"nginx:1.25\" (changed by hand)",
        ),
        (
            Reason::Drift(Drift::ExtraContainer(s("x"))),
            "container \"x\" is not in the spec",
        ),
        (
            Reason::Drift(Drift::PodNetwork {
                network: s("clusterctl-pods"),
                cidr: s("10.244.1.0/24"),
            }),
            "pod network changed: the pod is not on clusterctl-pods (10.244.1.0/24)",
        ),
        (
            Reason::PodNetworkMissing,
            "the pod network is not set up on this host",
        ),
        (
            Reason::PodNetworkDiffers,
            "the pod network differs from the inventory",
        ),
        (
            Reason::RulesMissing,
            "clusterctl's service and pod-network chains are not on this host",
        ),
        (
            Reason::RulesDiffer,
            "service rules differ from the desired services and endpoints",
        ),
        (
            Reason::JumpsMissing,
            "jump rules into clusterctl's chains are missing",
        ),
    ];
    for (r, want) in reasons {
        assert_eq!(reason(&r), want, "{r:?}");
    }

    let sim = Sim::new();
    let fit = sim.plan(&[bare_pod("5")]).pending.remove(0).fit;
    let details = [
        (Detail::StartContainer(s("web")), "start container web"),
        (Detail::MovesTo(s("k8s-node2")), "moves to node k8s-node2"),
        (
            Detail::ReplacementPending(fit),
            "replacement stays Pending: 0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 3 Insufficient cpu.",
        ),
        (
            Detail::RuleCounts {
                nat_chains: 7,
                filter_chains: 2,
                service_ports: 1,
            },
            "7 nat and 2 filter chains, 1 service port(s)",
        ),
        (
            Detail::Line(s("route to 10.244.3.0/24")),
            "route to 10.244.3.0/24",
        ),
    ];
    for (d, want) in details {
        assert_eq!(detail_lines(&d), [want], "{d:?}");
    }
}

#[test]
fn peer_routes_are_listed_up_to_three_and_summarised_beyond_in_the_human_view() {
    use crate::network::PeerRoute;
    use crate::output::plan::{detail_lines, summary_lines};
    let peer = |i: u8| PeerRoute {
        name: format!("k8s-node{i}"),
        pod_cidr: format!("10.244.{i}.0/24"),
        address: format!("172.30.0.{}", 10 + i),
    };
    let three = Detail::PeerRoutes((1..=3).map(peer).collect());
    assert_eq!(summary_lines(&three), detail_lines(&three));
    assert_eq!(
        detail_lines(&three)[2],
        "route to 10.244.3.0/24 (k8s-node3) via 172.30.0.13"
    );
    let many = Detail::PeerRoutes((1..=200).map(peer).collect());
    assert_eq!(
        detail_lines(&many).len(),
        200,
        "the plan JSON keeps every entry"
    );
    assert_eq!(
        summary_lines(&many),
        ["routes to 200 peer pod CIDRs (k8s-node1 … k8s-node200)"]
    );
    let stale = Detail::StaleRoutes(
        (1..=4)
            .map(|i| (format!("10.244.{i}.0/24"), format!("10.244.{i}.0")))
            .collect(),
    );
    assert_eq!(
        detail_lines(&stale)[0],
        "stale route to 10.244.1.0/24 via 10.244.1.0 removed"
    );
    assert_eq!(
        summary_lines(&stale),
        ["4 stale routes removed (10.244.1.0/24 … 10.244.4.0/24)"]
    );
}

#[test]
fn the_scheduler_reasoning_is_shown_only_with_explain() {
    let sim = Sim::new();
    let plan = sim.plan(&[bare_pod("100m")]);
    let view = |explain| {
        crate::output::plan::render(
            &plan,
            "0123456",
            &crate::output::plan::Options {
                color: false,
                explain,
                verbose: false,
            },
        )
    };
    let (terse, explained) = (view(false), view(true));
    assert!(explained.contains("      scheduled: score "), "{explained}");
    assert!(explained.contains("      not k8s-master: "), "{explained}");
    assert!(!terse.contains("scheduled:"), "{terse}");
    assert!(!terse.contains("not k8s-master"), "{terse}");
    assert!(terse.contains("+ pod \"default/sc-nginx\""), "{terse}");
}

#[test]
fn a_fresh_cluster_gets_its_pod_network_and_service_rules_on_every_host() {
    let sim = Sim::new();
    let service = manifest(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/seed-apps/my_service.yaml"
        ))
        .unwrap(),
    );
    let (plan, binding) = sim.plan_with_network(&[deployment(3, "nginx"), service]);
    let hosts = ["k8s-master", "k8s-node1", "k8s-node2", "k8s-node3"];
    let of = |kind: ChangeKind| -> Vec<&Change> {
        plan.changes.iter().filter(|c| c.kind == kind).collect()
    };
    let networks = of(ChangeKind::Network);
    let rules = of(ChangeKind::ServiceRules);
    assert_eq!(
        networks.iter().map(|c| c.node.as_str()).collect::<Vec<_>>(),
        hosts
    );
    assert_eq!(
        rules.iter().map(|c| c.node.as_str()).collect::<Vec<_>>(),
        hosts
    );
    for c in &networks {
        assert_eq!(
            (c.action, &c.reason, c.name.as_str()),
            (
                Action::Create,
                &Reason::PodNetworkMissing,
                "clusterctl-pods"
            )
        );
        assert!(!c.steps.is_empty());
    }
    for c in &rules {
        assert_eq!(
            (c.action, &c.reason),
            (Action::Create, &Reason::RulesMissing)
        );
        assert!(
            matches!(
                c.details[0],
                Detail::RuleCounts {
                    service_ports: 1,
                    ..
                }
            ),
            "{:?}",
            c.details
        );
        assert_eq!(c.steps[0].program, "iptables-restore");
    }
    assert_eq!(
        plan.summary,
        Summary {
            add: 3 + 8,
            change: 0,
            destroy: 0
        }
    );
    // Each new pod has an address of its node's pod CIDR, and they are the service's endpoints.
    let mut ips: Vec<String> = binding
        .created
        .iter()
        .map(|b| {
            let node = b.pod.spec.as_ref().unwrap().node_name.clone().unwrap();
            let ip = b.ip.clone().expect("a planned pod IP");
            let n = crate::nodes::node_objects(&sim.inv, &sim.state)
                .into_iter()
                .find(|n| n.metadata.name.as_deref() == Some(node.as_str()))
                .unwrap();
            let pod_cidr = n.spec.unwrap().pod_cidr.unwrap();
            assert!(
                crate::network::PodIps::new(&pod_cidr)
                    .unwrap()
                    .contains(&ip),
                "{ip} in {pod_cidr}"
            );
            format!("{ip}:80")
        })
        .collect();
    ips.sort();
    assert_eq!(ips.len(), 3);
    assert_eq!(
        binding.services.endpoints[&("default".to_string(), "my-nginx".to_string())],
        ips
    );
}

/// A DaemonSet `agent` on the job image; `extra` is spliced into its pod spec (indented 6).
fn daemon_set(image: &str, extra: &str) -> Manifest {
    manifest(&format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n        app: agent\n    spec:\n{extra}      containers:\n      - name: agent\n        image: {image}\n"
    ))
}

const TOLERATE_MASTER: &str = "      tolerations:\n      - key: node-role.kubernetes.io/master\n        operator: Exists\n        effect: NoSchedule\n";

fn daemon_nodes(sim: &Sim) -> Vec<String> {
    let mut v: Vec<String> = model::observed_pods(&sim.state)
        .iter()
        .filter(|p| p.owner.as_ref().is_some_and(|o| o.kind == "DaemonSet"))
        .map(|p| p.node.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn a_daemon_set_runs_one_pod_per_worker_and_none_on_the_tainted_master() {
    let mut sim = Sim::new();
    let apps = [daemon_set("nginx", "")];
    let plan = sim.plan(&apps);
    assert!(plan.pending.is_empty(), "not Pending where it does not fit");
    let mut want: Vec<String> = ["k8s-node1", "k8s-node2", "k8s-node3"]
        .iter()
        .map(|n| {
            format!(
                "Create {} {n}",
                controllers::daemon::daemon_pod_name("agent", n)
            )
        })
        .collect();
    want.sort();
    assert_eq!(lines(&plan), want);
    assert!(
        plan.changes
            .iter()
            .all(|c| why(c) == "DaemonSet agent wants 1 replica(s)"),
        "{:?}",
        plan.changes.iter().map(why).collect::<Vec<_>>()
    );
    sim.apply(&plan);
    assert!(sim.plan(&apps).changes.is_empty(), "converged");
    // Names are per node: every node has a different one, and they stay across plans.
    let names: BTreeSet<String> = model::observed_pods(&sim.state)
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(names.len(), 3);
}

#[test]
fn a_toleration_lets_it_onto_the_master_and_removing_it_prunes_that_pod() {
    let mut sim = Sim::new();
    let tolerated = [daemon_set("nginx", TOLERATE_MASTER)];
    let plan = sim.plan(&tolerated);
    assert_eq!(plan.summary.add, 4, "{:?}", lines(&plan));
    sim.apply(&plan);
    assert_eq!(daemon_nodes(&sim).len(), 4);

    let plain = [daemon_set("nginx", "")];
    let plan = sim.plan(&plain);
    let master: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.node == "k8s-master")
        .collect();
    assert_eq!(master.len(), 1);
    assert_eq!(master[0].action, Action::Delete);
    assert_eq!(
        why(master[0]),
        "DaemonSet agent does not run on node k8s-master (nodeSelector, node affinity or an untolerated taint)"
    );
    // The template changed too: RollingUpdate replaces at most maxUnavailable (1) worker pod per plan.
    let replaces = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Replace)
        .count();
    assert_eq!(replaces, 1, "{:?} {:?}", lines(&plan), plan.pending);
    let mut rounds = 1;
    sim.apply(&plan);
    while !sim.plan(&plain).changes.is_empty() {
        let plan = sim.plan(&plain);
        assert!(plan.summary.destroy <= 1, "{:?}", lines(&plan));
        sim.apply(&plan);
        rounds += 1;
        assert!(rounds < 10);
    }
    assert_eq!(rounds, 3, "three workers, one at a time");
    assert_eq!(daemon_nodes(&sim), ["k8s-node1", "k8s-node2", "k8s-node3"]);
}

#[test]
fn max_unavailable_as_a_percentage_and_on_delete() {
    let mut sim = Sim::new();
    let all = "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 100%\n";
    let ds = |image: &str, strategy: &str| {
        manifest(&format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n{strategy}  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n        app: agent\n    spec:\n      containers:\n      - name: agent\n        image: {image}\n"
        ))
    };
    sim.apply(&sim.plan(&[ds("nginx:1", all)]));
    let plan = sim.plan(&[ds("nginx:2", all)]);
    assert_eq!(plan.summary.destroy, 3, "maxUnavailable 100%: all at once");

    let on_delete = "  updateStrategy:\n    type: OnDelete\n";
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[ds("nginx:1", on_delete)]));
    let v2 = [ds("nginx:2", on_delete)];
    assert!(sim.plan(&v2).changes.is_empty(), "OnDelete: no replacement");
    // The pod on node2 is removed by hand: its replacement has the new template.
    sim.node("k8s-node2").containers.clear();
    let plan = sim.plan(&v2);
    assert_eq!(lines(&plan).len(), 1, "{:?}", lines(&plan));
    assert_eq!(plan.changes[0].action, Action::Create);
    assert_eq!(plan.changes[0].node, "k8s-node2");
}

#[test]
fn node_selectors_choose_the_nodes_and_new_hosts_get_their_pod() {
    let mut sim = Sim::new();
    sim.inv.hosts[2].labels.insert("disk".into(), "ssd".into());
    let apps = [daemon_set(
        "nginx",
        "      nodeSelector:\n        disk: ssd\n",
    )];
    let plan = sim.plan(&apps);
    assert_eq!(
        lines(&plan),
        [format!(
            "Create {} k8s-node2",
            controllers::daemon::daemon_pod_name("agent", "k8s-node2")
        )]
    );

    // A host added to the inventory gets its pod on the next plan.
    let mut sim = Sim::new();
    let apps = [daemon_set("nginx", "")];
    sim.apply(&sim.plan(&apps));
    sim.inv.hosts.push(host("k8s-node4", 4, false));
    let mut n = sim.state.nodes[1].clone();
    n.name = "k8s-node4".into();
    n.containers.clear();
    sim.state.nodes.push(n);
    let plan = sim.plan(&apps);
    assert_eq!(
        lines(&plan),
        [format!(
            "Create {} k8s-node4",
            controllers::daemon::daemon_pod_name("agent", "k8s-node4")
        )]
    );
}

#[test]
fn a_new_no_schedule_taint_keeps_the_running_pod_a_no_execute_one_removes_it() {
    let mut sim = Sim::new();
    let apps = [daemon_set("nginx", "")];
    sim.apply(&sim.plan(&apps));
    let taint = |effect: &str| Taint {
        key: "dedicated".into(),
        value: Some("db".into()),
        effect: effect.into(),
        ..Default::default()
    };
    sim.inv.hosts[1].taints = vec![taint("NoSchedule")];
    assert!(sim.plan(&apps).changes.is_empty(), "shouldContinueRunning");
    sim.inv.hosts[1].taints = vec![taint("NoExecute")];
    let plan = sim.plan(&apps);
    assert_eq!(
        lines(&plan),
        [format!(
            "Delete {} k8s-node1",
            controllers::daemon::daemon_pod_name("agent", "k8s-node1")
        )]
    );
}

/// `(policy, image)` of a change's pull steps, and whether every pull comes before the first other step.
fn pulls(c: &Change) -> (Vec<(String, String)>, bool) {
    let is_pull = |s: &Cmd| crate::runtime::docker::pulled_image(s).is_some();
    let list = c
        .steps
        .iter()
        .filter(|s| is_pull(s))
        .map(|s| (s.args[3].clone(), s.args[4].clone()))
        .collect();
    let first_other = c.steps.iter().position(|s| !is_pull(s));
    let last_pull = c.steps.iter().rposition(is_pull);
    (
        list,
        matches!((last_pull, first_other), (Some(l), Some(o)) if l < o),
    )
}

#[test]
fn new_pods_pull_their_images_first_under_their_pull_policy() {
    let sim = Sim::new();
    let sandbox = (
        "IfNotPresent".to_string(),
        "registry.k8s.io/pause:3.9".to_string(),
    );
    // No tag: defaulted to Always (pulled each time a pod is created), the sandbox only when missing.
    let plan = sim.plan(&[deployment(2, "nginx")]);
    assert_eq!(plan.changes.len(), 2);
    for c in &plan.changes {
        let (list, first) = pulls(c);
        assert_eq!(
            list,
            vec![sandbox.clone(), ("Always".into(), "nginx".into())]
        );
        assert!(first, "pulls before the creates: {:?}", c.steps);
    }
    // A tag: IfNotPresent; an explicit policy wins; two containers with one image pull it once.
    let plan = sim.plan(&parse(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\nspec:\n  containers:\n  - name: a\n    image: nginx:1.14.2\n  - name: b\n    image: nginx:1.14.2\n  - name: c\n    image: busybox\n    imagePullPolicy: Never\n",
    ));
    let (list, first) = pulls(&plan.changes[0]);
    assert!(first);
    assert_eq!(
        list,
        vec![
            sandbox.clone(),
            ("IfNotPresent".into(), "nginx:1.14.2".into()),
            ("Never".into(), "busybox".into())
        ]
    );
}

#[test]
fn a_replaced_pod_pulls_its_new_image_and_deletes_pull_nothing() {
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[
        bare_pod_with("nginx:1.14.2", "100m"),
        deployment(3, "nginx"),
    ]));
    // The bare pod's image changes (Replace) and the Deployment's template changes (Delete + Create).
    let plan = sim.plan(&[
        bare_pod_with("busybox:1", "100m"),
        deployment(3, "nginx:1.14.2"),
    ]);
    let replace = plan
        .changes
        .iter()
        .find(|c| c.action == Action::Replace)
        .unwrap();
    let (list, _) = pulls(replace);
    assert_eq!(
        list.last().unwrap(),
        &("IfNotPresent".into(), "busybox:1".into())
    );
    assert!(
        plan.changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .all(|c| pulls(c).0.is_empty())
    );
    assert!(
        plan.changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .all(|c| pulls(c)
                .0
                .contains(&("IfNotPresent".into(), "nginx:1.14.2".into())))
    );
}

/// The web app of the config testbed test, pure: a ConfigMap read as env and as a file, a Secret as env.
fn config_app(greeting: &str, password: &str) -> Vec<Manifest> {
    parse(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  greeting: {greeting}\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {password}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: env-reader\nspec:\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: GREETING\n      valueFrom: {{configMapKeyRef: {{name: app, key: greeting}}}}\n    - name: PASSWORD\n      valueFrom: {{secretKeyRef: {{name: db, key: password}}}}\n    - name: POD\n      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: file-reader\nspec:\n  volumes:\n  - name: cfg\n    configMap: {{name: app}}\n  - name: creds\n    secret: {{secretName: db, defaultMode: 0400}}\n  containers:\n  - name: c\n    image: busybox\n    volumeMounts:\n    - {{name: cfg, mountPath: /etc/app}}\n    - {{name: creds, mountPath: /etc/creds}}\n"
    ))
}

#[test]
fn config_env_consumers_are_replaced_and_volume_consumers_updated_in_place() {
    let mut sim = Sim::new();
    let plan = sim.plan(&config_app("hello", "sentinel-pw-1"));
    assert_eq!(plan.summary.add, 2);
    let json = serde_json::to_string(&plan).unwrap();
    assert!(!json.contains("sentinel-pw-1"), "secret in the plan JSON");
    assert!(json.contains("\"sensitive\":true"));
    let text = crate::output::plan::render(
        &plan,
        "0123456",
        &crate::output::plan::Options {
            color: false,
            explain: true,
            verbose: false,
        },
    );
    assert!(!text.contains("sentinel-pw-1"));
    // The env consumer's create goes through stdin and carries the resolved values there only.
    let env = plan
        .changes
        .iter()
        .find(|c| c.name == "env-reader")
        .unwrap();
    let create = env
        .steps
        .iter()
        .find(|s| s.sensitive)
        .expect("sensitive create");
    assert!(create.args.iter().all(|a| !a.contains("sentinel")));
    let stdin = create.stdin.as_deref().unwrap();
    assert!(
        stdin.contains("PASSWORD=sentinel-pw-1")
            && stdin.contains("GREETING=hello")
            && stdin.contains("POD=env-reader")
    );
    // Volumes are written before the containers are created; the secret one on a tmpfs, sensitive.
    let files = plan
        .changes
        .iter()
        .find(|c| c.name == "file-reader")
        .unwrap();
    let writes: Vec<&crate::cmd::Cmd> = files
        .steps
        .iter()
        .filter(|s| s.args.get(2).map(String::as_str) == Some(crate::runtime::config::WRITE_ARG0))
        .collect();
    assert_eq!(writes.len(), 2);
    assert_eq!(
        (writes[0].args[4].as_str(), writes[0].sensitive),
        ("cfg", false)
    );
    assert_eq!(
        (
            writes[1].args[4].as_str(),
            writes[1].args[5].as_str(),
            writes[1].sensitive
        ),
        ("creds", "tmpfs", true)
    );
    sim.apply(&plan);
    assert!(
        sim.plan(&config_app("hello", "sentinel-pw-1"))
            .changes
            .is_empty(),
        "converged"
    );

    // The ConfigMap changes: the env reader is replaced (reason says why), the file reader updated in place.
    let plan = sim.plan(&config_app("bonjour", "sentinel-pw-1"));
    let by_name = |n: &str| plan.changes.iter().find(|c| c.name == n).unwrap();
    assert_eq!(by_name("env-reader").action, Action::Replace);
    assert_eq!(
        crate::output::plan::reason(&by_name("env-reader").reason),
        "the data of ConfigMap app, Secret db changed and container \"c\" reads it as env (env is set only when a container starts)"
    );
    let upd = by_name("file-reader");
    assert_eq!(upd.action, Action::Update);
    assert_eq!(upd.reason, Reason::ConfigVolumesChanged(vec!["cfg".into()]));
    assert!(
        upd.steps.iter().all(|s| s.program == "sh"),
        "no container is touched"
    );
    sim.apply(&plan);
    assert!(
        sim.plan(&config_app("bonjour", "sentinel-pw-1"))
            .changes
            .is_empty()
    );

    // The Secret changes: both consumers follow, the password never shows.
    let plan = sim.plan(&config_app("bonjour", "sentinel-pw-2"));
    assert_eq!(plan.changes.len(), 2);
    let json = serde_json::to_string(&plan).unwrap();
    assert!(!json.contains("sentinel-pw-2") && !json.contains("sentinel-pw-1"));
}

#[test]
fn env_from_skips_invalid_keys_with_the_kubelets_note() {
    let sim = Sim::new();
    let plan = sim.plan(&parse(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  ok: \"1\"\n  1bad: \"2\"\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n    envFrom:\n    - configMapRef: {name: app}\n      prefix: P_\n    - configMapRef: {name: app}\n",
    ));
    let c = &plan.changes[0];
    let lines: Vec<String> = c
        .details
        .iter()
        .flat_map(crate::output::plan::detail_lines)
        .collect();
    assert_eq!(
        lines.last().map(String::as_str),
        Some(
            "InvalidEnvironmentVariableNames: container \"c\": Keys [1bad] from the EnvFrom configMap default/app were skipped since they are considered invalid environment variable names."
        )
    );
    let create = c
        .steps
        .iter()
        .find(|s| {
            s.args.get(2).map(String::as_str) == Some("clusterctl-create")
                || s.args.iter().any(|a| a.starts_with("--env="))
                    && s.args.iter().any(|a| a.contains("k8s_c_p_default"))
        })
        .unwrap();
    let text = format!("{:?}{:?}", create.args, create.stdin);
    assert!(
        text.contains("P_ok=1")
            && text.contains("P_1bad=2")
            && text.contains("ok=1")
            && !text.contains("=1bad"),
        "{text}"
    );
}
#[path = "node_loss_tests.rs"]
mod node_loss_tests;
#[path = "tests_storage.rs"]
mod storage_tests;

#[test]
fn max_surge_starts_each_new_pod_next_to_the_old_one_one_node_at_a_time() {
    let surge = "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n";
    let ds = |image: &str| {
        manifest(&format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n{surge}  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n        app: agent\n    spec:\n      containers:\n      - name: agent\n        image: {image}\n"
        ))
    };
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[ds("nginx:1")]));
    // Observed well after every simulated start: the pods have been running long enough to be Ready.
    sim.state.observed_at = "2026-11-26T13:00:00Z".into();
    let v2 = [ds("nginx:2")];
    let mut plans = 0;
    loop {
        let plan = sim.plan(&v2);
        assert_eq!(
            format!("{plan:?}"),
            format!("{:?}", sim.plan(&v2)),
            "identical inputs, identical plans"
        );
        if plan.changes.is_empty() {
            break;
        }
        plans += 1;
        assert!(plans < 10, "no end: {:?}", lines(&plan));
        let creates: Vec<&Change> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .collect();
        assert!(creates.len() <= 1, "{:?}", lines(&plan));
        assert!(
            plan.changes
                .iter()
                .all(|c| matches!(c.action, Action::Create | Action::Delete)),
            "no delete-then-create: {:?}",
            lines(&plan)
        );
        sim.apply(&plan);
        let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
        for p in model::observed_pods(&sim.state) {
            if p.owner.as_ref().is_some_and(|o| o.kind == "DaemonSet") {
                *per_node.entry(p.node.clone()).or_default() += 1;
            }
        }
        assert_eq!(per_node.len(), 3, "every worker runs a pod: {per_node:?}");
        assert!(
            per_node.values().filter(|&&n| n == 2).count() <= 1,
            "{per_node:?}"
        );
    }
    // Per node one plan creates the new pod and the next deletes the old one (never next to another
    // node's create: the hosts run side by side): 3 nodes, 6 plans.
    assert_eq!(plans, 6);
    for p in model::observed_pods(&sim.state) {
        assert_eq!(
            p.name,
            controllers::daemon::surge_pod_name("agent", &p.node),
            "the new pod took the node's second name"
        );
    }
}
