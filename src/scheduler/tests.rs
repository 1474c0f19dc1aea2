use super::filters::{Filter, NodePorts, NodeResourcesFit, TaintToleration, tolerates};
use super::scores::default_normalize;
use super::snapshot::{CTaint, Effect};
use super::*;

/// Runs one filter plugin for `pod` against node `i`: the upstream reasons (empty = passes).
fn filter_reasons(f: &dyn Filter, snap: &mut Snapshot, pod: &PodInfo, i: usize) -> Vec<String> {
    let cx = Cycle::new(pod.clone(), snap);
    let wanted = Wanted {
        requests: pod.requests.clone(),
        host_ports: pod.host_ports.clone(),
    };
    f.check(&cx, snap, i)
        .map(|fail| {
            fail.render(&snap.nodes[i], &wanted)
                .into_iter()
                .map(|r| r.upstream)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one score plugin: normalized scores for `feasible`, `None` when it skips.
fn plugin_scores(
    s: &dyn Score,
    snap: &mut Snapshot,
    pod: &PodInfo,
    feasible: &[u32],
) -> Option<Vec<i64>> {
    let cx = Cycle::new(pod.clone(), snap);
    let mut out = vec![];
    s.score(&cx, snap, feasible, &mut out).then_some(out)
}
use proptest::prelude::*;
use serde_json::{Value, json};

fn node(name: &str, cpu: &str, mem: &str, labels: Value, taints: Value, ready: bool) -> Node {
    let mut l = labels;
    l.as_object_mut()
        .unwrap()
        .insert("kubernetes.io/hostname".into(), json!(name));
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": l},
        "spec": {"taints": taints},
        "status": {
            "allocatable": {"cpu": cpu, "memory": mem, "pods": "110"},
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" }}]
        }
    }))
    .unwrap()
}

fn worker(name: &str) -> Node {
    node(name, "2", "3973632Ki", json!({}), json!([]), true)
}

fn seed_nodes() -> Vec<Node> {
    let master = node(
        "k8s-master",
        "2",
        "3973632Ki",
        json!({"node-role.kubernetes.io/master": ""}),
        json!([{"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}]),
        true,
    );
    vec![
        master,
        worker("k8s-node1"),
        worker("k8s-node2"),
        worker("k8s-node3"),
    ]
}

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec}))
        .unwrap()
}

fn rs_pod(rs: &str, cpu: Option<&str>) -> Pod {
    let resources = match cpu {
        Some(c) => json!({"requests": {"cpu": c}}),
        None => json!({}),
    };
    serde_json::from_value(json!({
        "metadata": {"generateName": format!("{rs}-"), "namespace": "default",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": "", "controller": true}]},
        "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": resources}]}
    }))
    .unwrap()
}

#[test]
fn seed_three_replicas_spread_over_workers() {
    let mut s = Scheduler::new(&seed_nodes(), &[]);
    let placed: Vec<String> = (0..3)
        .map(|_| {
            s.schedule(&rs_pod("k8s-nginx-6d779d947c", None))
                .unwrap()
                .node
        })
        .collect();
    assert_eq!(placed, ["k8s-node1", "k8s-node2", "k8s-node3"]);
}

#[test]
fn seed_pod_too_big_stays_pending_with_upstream_message() {
    let mut s = Scheduler::new(&seed_nodes(), &[]);
    let err = s.schedule(&rs_pod("big", Some("3"))).unwrap_err();
    assert_eq!(
        err.message,
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 3 Insufficient cpu."
    );
    assert_eq!(
        err.reasons[1],
        (
            "k8s-node1".to_string(),
            "Insufficient cpu (requested 3, free 2)".to_string()
        )
    );
}

#[test]
fn not_ready_node_counts_as_unreachable_taint() {
    let nodes = vec![
        worker("a"),
        node("b", "2", "1Gi", json!({}), json!([]), false),
    ];
    let mut s = Scheduler::new(&nodes, &[]);
    let err = s.schedule(&rs_pod("x", Some("3"))).unwrap_err();
    assert_eq!(
        err.message,
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }."
    );
    // A small pod goes to the only ready node without scoring.
    let p = s.schedule(&rs_pod("x", Some("1"))).unwrap();
    assert_eq!((p.node.as_str(), p.total), ("a", 0));
}

#[test]
fn fit_message_counts_and_sorts_reasons() {
    let r = |s: &str| Reason {
        upstream: s.into(),
        detail: s.into(),
    };
    let reasons = [
        r("Insufficient cpu"),
        r("node(s) didn't match Pod's node affinity/selector"),
        r("Insufficient cpu"),
    ];
    assert_eq!(
        fit_message(3, reasons.iter()),
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
    );
    // Multiple reasons from one node are each counted (upstream's 0/1 example).
    let reasons = [r("Insufficient cpu"), r("Insufficient memory")];
    assert_eq!(
        fit_message(1, reasons.iter()),
        "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
    );
    // Plain string sort: "10 …" before "2 …".
    let mut many: Vec<Reason> = (0..10).map(|_| r("Insufficient cpu")).collect();
    many.extend((0..2).map(|_| r("Insufficient memory")));
    assert_eq!(
        fit_message(12, many.iter()),
        "0/12 nodes are available: 10 Insufficient cpu, 2 Insufficient memory."
    );
}

#[test]
fn toleration_matching_rules() {
    let taint = CTaint {
        key: "dedicated".into(),
        value: "user1".into(),
        effect: Effect::NoSchedule,
    };
    let tol =
        |v: Value| -> k8s_openapi::api::core::v1::Toleration { serde_json::from_value(v).unwrap() };
    assert!(tolerates(
        &tol(
            json!({"key": "dedicated", "operator": "Equal", "value": "user1", "effect": "NoSchedule"})
        ),
        &taint
    ));
    assert!(!tolerates(
        &tol(
            json!({"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"})
        ),
        &taint
    ));
    assert!(tolerates(
        &tol(json!({"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"})),
        &taint
    ));
    assert!(
        tolerates(&tol(json!({"key": "dedicated", "value": "user1"})), &taint),
        "empty effect matches all"
    );
    assert!(!tolerates(
        &tol(json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"})),
        &taint
    ));
    assert!(
        tolerates(&tol(json!({"operator": "Exists"})), &taint),
        "empty key + Exists tolerates everything"
    );
    assert!(!tolerates(
        &tol(json!({"key": "other", "operator": "Exists"})),
        &taint
    ));
}

#[test]
fn prefer_no_schedule_never_fails_filter_but_lowers_score() {
    let nodes = vec![
        node(
            "a",
            "4",
            "8Gi",
            json!({}),
            json!([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]),
            true,
        ),
        node("b", "4", "8Gi", json!({}), json!([]), true),
    ];
    let mut s = Scheduler::new(&nodes, &[]);
    let p = s
        .schedule(&pod(json!({"containers": [{"name": "c", "image": "i"}]})))
        .unwrap();
    assert_eq!(p.node, "b");
    assert!(p.rejected.is_empty());
    assert_eq!(p.scores[0], ("TaintToleration".to_string(), 300));
    let mut snap = Snapshot::new(&nodes, &[]);
    let info = PodInfo::new(&pod(json!({"containers": []})));
    assert!(filter_reasons(&TaintToleration, &mut snap, &info, 0).is_empty());
}

#[test]
fn node_selector_and_required_affinity() {
    let nodes = vec![
        node(
            "a",
            "4",
            "8Gi",
            json!({"disk": "ssd", "gen": "0204"}),
            json!([]),
            true,
        ),
        node(
            "b",
            "4",
            "8Gi",
            json!({"disk": "hdd", "gen": "7"}),
            json!([]),
            true,
        ),
        node("c", "4", "8Gi", json!({}), json!([]), true),
    ];
    let mut s = Scheduler::new(&nodes, &[]);
    let p = s
        .schedule(&pod(
            json!({"containers": [], "nodeSelector": {"disk": "ssd"}}),
        ))
        .unwrap();
    assert_eq!(p.node, "a");
    // Gt with leading zeros: 0204 > 100; terms are ORed, requirements ANDed.
    let aff = |terms: Value| {
        pod(
            json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}),
        )
    };
    assert_eq!(
        s.schedule(&aff(
            json!([{"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["100"]}]}])
        ))
        .unwrap()
        .node,
        "a"
    );
    assert_eq!(
        s.schedule(&aff(
            json!([{"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]}])
        ))
        .unwrap()
        .node,
        "c"
    );
    assert_eq!(
        s.schedule(&aff(
            json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}])
        ))
        .unwrap()
        .node,
        "b"
    );
    let err = s.schedule(&aff(json!([{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]}, {}]))).unwrap_err();
    assert_eq!(
        err.message,
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    );
}

#[test]
fn resources_fit_rules() {
    // Upstream fit_test fixture: allocatable cpu=10m, memory=20, pods=32.
    let n = node("n", "10m", "20", json!({}), json!([]), true);
    let mut existing = pod(
        json!({"nodeName": "n", "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "5m", "memory": "19"}}}]}),
    );
    existing.metadata.name = Some("e".into());
    let mut snap = Snapshot::new(&[n], &[existing]);
    let req = |cpu: &str, mem: &str| {
        PodInfo::new(&pod(
            json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}),
        ))
    };
    let mut reasons = |p: &PodInfo| filter_reasons(&NodeResourcesFit, &mut snap, p, 0);
    assert!(reasons(&req("5m", "1")).is_empty(), "equality fits");
    assert_eq!(reasons(&req("6m", "1")), ["Insufficient cpu"]);
    assert_eq!(
        reasons(&req("6m", "2")),
        ["Insufficient cpu", "Insufficient memory"]
    );
    // Init containers: max(sum(containers), max(init)) — an 8m init container does not fit.
    let init = PodInfo::new(&pod(json!({
        "initContainers": [{"name": "i", "image": "i", "resources": {"requests": {"cpu": "8m"}}}],
        "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "1m"}}}]
    })));
    assert_eq!(init.requests.milli_cpu, 8);
    assert_eq!(reasons(&init), ["Insufficient cpu"]);
    // Overhead is added; a limit-only container requests its limit.
    let oh = PodInfo::new(&pod(
        json!({"overhead": {"cpu": "2m"}, "containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "3m"}}}]}),
    ));
    assert_eq!(oh.requests.milli_cpu, 5);
    // Scoring defaults: missing requests count as 100m / 200Mi.
    let none = PodInfo::new(&pod(json!({"containers": [{"name": "c", "image": "i"}]})));
    assert_eq!(none.non_zero, (100, 209_715_200));
    assert!(none.requests.is_zero());
}

#[test]
fn too_many_pods_even_without_requests() {
    let n = node("n", "1", "1Gi", json!({}), json!([]), true);
    let mut n = n;
    n.status
        .as_mut()
        .unwrap()
        .allocatable
        .as_mut()
        .unwrap()
        .insert(
            "pods".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()),
        );
    let mut s = Scheduler::new(&[n], &[]);
    s.schedule(&pod(json!({"containers": []}))).unwrap();
    assert_eq!(
        s.schedule(&pod(json!({"containers": []})))
            .unwrap_err()
            .message,
        "0/1 nodes are available: 1 Too many pods."
    );
}

#[test]
fn host_port_conflicts() {
    let n = node("n", "1", "1Gi", json!({}), json!([]), true);
    let used = |ip: &str, port: i32| {
        let mut p = pod(
            json!({"nodeName": "n", "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip}]}]}),
        );
        p.metadata.name = Some("e".into());
        p
    };
    let want = |ip: &str, port: i32, proto: &str| {
        PodInfo::new(&pod(
            json!({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": port, "hostIP": ip, "protocol": proto}]}]}),
        ))
    };
    let mut snap = Snapshot::new(std::slice::from_ref(&n), &[used("127.0.0.1", 8080)]);
    let fails = |p: &PodInfo, s: &mut Snapshot| !filter_reasons(&NodePorts, s, p, 0).is_empty();
    assert!(fails(&want("127.0.0.1", 8080, "TCP"), &mut snap));
    assert!(!fails(&want("127.0.0.2", 8080, "TCP"), &mut snap));
    assert!(!fails(&want("127.0.0.1", 8080, "UDP"), &mut snap));
    assert!(
        fails(&want("0.0.0.0", 8080, "TCP"), &mut snap),
        "0.0.0.0 conflicts with any IP"
    );
    let mut snap = Snapshot::new(&[n], &[used("0.0.0.0", 8001)]);
    assert!(fails(&want("127.0.0.1", 8001, "TCP"), &mut snap));
    assert!(!fails(&want("127.0.0.1", 8002, "TCP"), &mut snap));
}

#[test]
fn resource_scores_match_upstream_worked_example() {
    // §2.3/2.4 vectors: pod cpu 3000m mem 5000; node1 4000m/10000 → 37 and 87; node2 6000m/10000 → 50 and 100.
    let nodes = vec![
        node("n1", "4", "10000", json!({}), json!([]), true),
        node("n2", "6", "10000", json!({}), json!([]), true),
    ];
    let mut snap = Snapshot::new(&nodes, &[]);
    let p = PodInfo::new(&pod(
        json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "3", "memory": "5000"}}}]}),
    ));
    assert_eq!(
        plugin_scores(&scores::LeastAllocated, &mut snap, &p, &[0, 1]),
        Some(vec![37, 50])
    );
    assert_eq!(
        plugin_scores(&scores::BalancedAllocation, &mut snap, &p, &[0, 1]),
        Some(vec![87, 100])
    );
    let mut s = Scheduler::new(&nodes, &[]);
    let placed = s.schedule(&pod(json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "3", "memory": "5000"}}}]}))).unwrap();
    assert_eq!(placed.node, "n2");
    // Taint 3×100, affinity skipped, spread skipped (bare pod), 50 + 100.
    assert_eq!(placed.total, 300 + 50 + 100);
}

#[test]
fn normalize_score_rules() {
    let mut s = vec![0, 0];
    default_normalize(&mut s, true);
    assert_eq!(s, [100, 100]);
    let mut s = vec![0, 0];
    default_normalize(&mut s, false);
    assert_eq!(s, [0, 0]);
    let mut s = vec![1, 2, 3];
    default_normalize(&mut s, false);
    assert_eq!(s, [33, 66, 100]);
    let mut s = vec![1, 2, 3];
    default_normalize(&mut s, true);
    assert_eq!(s, [67, 34, 0]);
}

#[test]
fn preferred_node_affinity_wins() {
    let nodes = vec![
        worker("a"),
        node(
            "b",
            "2",
            "3973632Ki",
            json!({"zone": "z1"}),
            json!([]),
            true,
        ),
    ];
    let mut s = Scheduler::new(&nodes, &[]);
    let p = s
        .schedule(&pod(json!({"containers": [], "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1"]}]}}]}}})))
        .unwrap();
    assert_eq!(p.node, "b");
    assert!(p.scores.contains(&("NodeAffinity".to_string(), 200)));
}

#[test]
fn existing_pods_are_accounted() {
    let mut e = rs_pod("web", Some("1500m"));
    e.metadata.name = Some("web-1".into());
    e.spec.as_mut().unwrap().node_name = Some("k8s-node1".into());
    let mut s = Scheduler::new(&seed_nodes(), &[e]);
    assert_eq!(s.reserved("k8s-node1"), Some((1500, 0, 1)));
    let p = s.schedule(&rs_pod("web", Some("1"))).unwrap();
    assert_ne!(p.node, "k8s-node1");
    assert!(
        p.rejected
            .iter()
            .any(|(n, r)| n == "k8s-node1" && r == "Insufficient cpu (requested 1, free 500m)")
    );
}

type Spec4 = (u32, u32, bool, bool);

fn arb_cluster() -> impl Strategy<Value = (Vec<Spec4>, Vec<Spec4>)> {
    // nodes: (cpu cores, memory GiB, tainted, label disk=ssd); pods: (cpu m, mem MiB, tolerates, wants ssd)
    (
        prop::collection::vec((1u32..8, 1u32..16, any::<bool>(), any::<bool>()), 1..8),
        prop::collection::vec(
            (0u32..3000, 0u32..4096, any::<bool>(), any::<bool>()),
            1..40,
        ),
    )
}

fn build(nodes: &[(u32, u32, bool, bool)]) -> Vec<Node> {
    nodes
        .iter()
        .enumerate()
        .map(|(i, (c, m, t, ssd))| {
            let taints = if *t {
                json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
            } else {
                json!([])
            };
            let labels = if *ssd {
                json!({"disk": "ssd"})
            } else {
                json!({})
            };
            node(
                &format!("n{i}"),
                &c.to_string(),
                &format!("{m}Gi"),
                labels,
                taints,
                true,
            )
        })
        .collect()
}

fn build_pod(i: usize, (cpu, mem, tol, ssd): (u32, u32, bool, bool)) -> Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": format!("{cpu}m"), "memory": format!("{mem}Mi")}}}]});
    if tol {
        spec["tolerations"] = json!([{"key": "dedicated", "operator": "Exists"}]);
    }
    if ssd {
        spec["nodeSelector"] = json!({"disk": "ssd"});
    }
    let mut p = rs_pod(&format!("rs{}", i % 3), None);
    p.spec = Some(serde_json::from_value(spec).unwrap());
    p
}

proptest! {
    #[test]
    fn placements_respect_filters_and_are_deterministic((ns, ps) in arb_cluster()) {
        let nodes = build(&ns);
        let run = || {
            let mut s = Scheduler::new(&nodes, &[]);
            let out: Vec<Result<String, String>> = ps.iter().enumerate()
                .map(|(i, p)| s.schedule(&build_pod(i, *p)).map(|pl| pl.node).map_err(|e| e.message))
                .collect();
            (out, s)
        };
        let (a, s) = run();
        let (b, _) = run();
        prop_assert_eq!(&a, &b);
        for (i, r) in a.iter().enumerate() {
            if let Ok(name) = r {
                let idx: usize = name[1..].parse().unwrap();
                let (_, _, tainted, ssd) = ns[idx];
                let (_, _, tol, wants) = ps[i];
                prop_assert!(!tainted || tol, "untolerated taint");
                prop_assert!(!wants || ssd, "selector violated");
            }
        }
        for (i, (c, m, _, _)) in ns.iter().enumerate() {
            let (cpu, mem, _) = s.reserved(&format!("n{i}")).unwrap();
            prop_assert!(cpu <= i64::from(*c) * 1000);
            prop_assert!(mem <= i64::from(*m) << 30);
        }
    }
}
