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
        err.to_string(),
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 3 Insufficient cpu."
    );
    assert_eq!(
        err.reasons()[1],
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
        err.to_string(),
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
        err.to_string(),
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    );
    // A term upstream cannot parse never matches: NotIn with a value that is no label value would
    // otherwise match every node, In with one would match none anyway; the other term still counts.
    for bad in [
        json!({"key": "disk", "operator": "NotIn", "values": ["not a label value!"]}),
        json!({"key": "disk", "operator": "NotIn", "values": []}),
        json!({"key": "bad key!", "operator": "DoesNotExist"}),
        json!({"key": "gen", "operator": "Gt", "values": ["x"]}),
        json!({"key": "disk", "operator": "Exists", "values": ["ssd"]}),
    ] {
        let err = s
            .schedule(&aff(json!([{"matchExpressions": [bad.clone()]}])))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("3 node(s) didn't match Pod's node affinity/selector"),
            "{bad}: {err}"
        );
        let ok = s
            .schedule(&aff(json!([{"matchExpressions": [bad.clone()]}, {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd"]}]}])))
            .unwrap();
        assert_eq!(ok.node, "b", "{bad}");
    }
    let err = s
        .schedule(&aff(json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["a", "b"]}]}])))
        .unwrap_err();
    assert!(err.to_string().contains("3 node(s) didn't match"), "{err}");
    assert_eq!(
        s.schedule(&aff(json!([{"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd", "hdd"]}]}])))
            .unwrap()
            .node,
        "c"
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
            .to_string(),
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
                .map(|(i, p)| s.schedule(&build_pod(i, *p)).map(|pl| pl.node).map_err(|e| e.to_string()))
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

// ---- PodTopologySpread and InterPodAffinity, restating upstream plugin test cases ----

/// Upstream's 4-node spread fixture: node-a, node-b in zone1; node-x, node-y in zone2; label `node` = name.
fn spread_nodes() -> Vec<Node> {
    ["node-a", "node-b", "node-x", "node-y"]
        .iter()
        .map(|n| {
            let zone = if *n < "node-x" { "zone1" } else { "zone2" };
            node(
                n,
                "4",
                "8Gi",
                json!({"zone": zone, "node": n}),
                json!([]),
                true,
            )
        })
        .collect()
}

fn labelled(name: &str, ns: &str, node: &str, labels: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": []}
    }))
    .unwrap()
}

/// `a/b/x/y` counts of `foo`-labelled pods in the default namespace.
fn foo_pods(counts: [usize; 4]) -> Vec<Pod> {
    let mut out = vec![];
    for (n, c) in ["node-a", "node-b", "node-x", "node-y"].iter().zip(counts) {
        for k in 0..c {
            out.push(labelled(
                &format!("p-{n}-{k}"),
                "default",
                n,
                json!({"foo": ""}),
            ));
        }
    }
    out
}

fn spread_pod(labels: Value, constraints: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "labels": labels},
        "spec": {"containers": [], "topologySpreadConstraints": constraints}
    }))
    .unwrap()
}

fn hard(skew: i32, key: &str, exists: &str) -> Value {
    json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchExpressions": [{"key": exists, "operator": "Exists"}]}})
}

/// Which of the nodes pass all filters for `pod` (upstream's `fits` map, in node order).
fn fits(nodes: &[Node], existing: &[Pod], pod: &Pod) -> Vec<bool> {
    let mut snap = Snapshot::new(nodes, existing);
    let cx = Cycle::new(PodInfo::new(pod), &mut snap);
    (0..snap.nodes.len())
        .map(|i| {
            filters::default_filters()
                .iter()
                .all(|f| f.skip(&cx, &snap) || f.check(&cx, &snap, i).is_none())
        })
        .collect()
}

#[test]
fn spread_filter_single_constraint_upstream_cases() {
    let nodes = spread_nodes();
    let foo = json!({"foo": ""});
    // no existing pods
    let p = spread_pod(foo.clone(), json!([hard(1, "zone", "foo")]));
    assert_eq!(fits(&nodes, &[], &p), [true; 4]);
    // no existing pods, incoming pod doesn't match itself
    let p2 = spread_pod(foo.clone(), json!([hard(1, "zone", "bar")]));
    assert_eq!(fits(&nodes, &[], &p2), [true; 4]);
    // existing pods with mis-matched namespace don't count
    let ex = vec![
        labelled("p-a1", "ns1", "node-a", foo.clone()),
        labelled("p-b1", "ns2", "node-a", foo.clone()),
        labelled("p-x1", "default", "node-x", foo.clone()),
        labelled("p-y1", "default", "node-y", foo.clone()),
    ];
    assert_eq!(fits(&nodes, &ex, &p), [true, true, false, false]);
    // pods spread across zones as 3/3: all nodes fit
    assert_eq!(fits(&nodes, &foo_pods([2, 1, 0, 3]), &p), [true; 4]);
    // 2/1/0/3 on nodes, maxSkew 1: only node-x
    let per_node = spread_pod(foo.clone(), json!([hard(1, "node", "foo")]));
    assert_eq!(
        fits(&nodes, &foo_pods([2, 1, 0, 3]), &per_node),
        [false, false, true, false]
    );
    // maxSkew 2: node-b and node-x
    let skew2 = spread_pod(foo.clone(), json!([hard(2, "node", "foo")]));
    assert_eq!(
        fits(&nodes, &foo_pods([2, 1, 0, 3]), &skew2),
        [false, true, true, false]
    );
    // the pod doesn't match itself: node-b and node-x
    let not_self = spread_pod(json!({"bar": ""}), json!([hard(1, "node", "foo")]));
    assert_eq!(
        fits(&nodes, &foo_pods([2, 1, 0, 3]), &not_self),
        [false, true, true, false]
    );
    // absence of the zone label on node-b: 1/2 → only node-a; node-b fails as missing the label
    let mut typo = spread_nodes();
    let l = typo[1].metadata.labels.as_mut().unwrap();
    l.remove("zone");
    l.insert("zon".into(), "zone1".into());
    assert_eq!(
        fits(&typo, &foo_pods([1, 1, 1, 1]), &p),
        [true, false, false, false]
    );
    let mut s = Scheduler::new(&typo[1..2], &[]);
    assert_eq!(
        s.schedule(&p).unwrap_err().to_string(),
        "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label)."
    );
}

#[test]
fn spread_filter_multiple_constraints_and_node_affinity() {
    let nodes = spread_nodes();
    let foo = json!({"foo": ""});
    let both = spread_pod(
        foo.clone(),
        json!([hard(1, "zone", "foo"), hard(1, "node", "foo")]),
    );
    // spreads [3/3, 2/1/0/3]: node-x only
    assert_eq!(
        fits(&nodes, &foo_pods([2, 1, 0, 3]), &both),
        [false, false, true, false]
    );
    // spreads [3/4, 2/1/0/4]: nothing fits, with upstream's message
    let ex = foo_pods([2, 1, 0, 4]);
    assert_eq!(fits(&nodes, &ex, &both), [false; 4]);
    let mut s = Scheduler::new(&nodes, &ex);
    assert_eq!(
        s.schedule(&both).unwrap_err().to_string(),
        "0/4 nodes are available: 4 node(s) didn't match pod topology spread constraints."
    );
    // With node affinity to node-a/node-y only those count: 2/~1~/~0~/3, so node-a fits.
    let mut aff = spread_pod(foo.clone(), json!([hard(1, "node", "foo")]));
    aff.spec.as_mut().unwrap().affinity = Some(serde_json::from_value(json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "node", "operator": "In", "values": ["node-a", "node-y"]}]}]}}})).unwrap());
    assert_eq!(
        fits(&nodes, &foo_pods([2, 1, 0, 3]), &aff),
        [true, false, false, false]
    );
}

#[test]
fn spread_min_domains_forces_global_minimum_zero() {
    let nodes = spread_nodes();
    let foo = json!({"foo": ""});
    let mut c = hard(1, "zone", "foo");
    // 1/1 across two zones: every node fits (skew 1)…
    let p = spread_pod(foo.clone(), json!([c.clone()]));
    assert_eq!(fits(&nodes, &foo_pods([1, 0, 1, 0]), &p), [true; 4]);
    // …but with minDomains 3 only 2 domains exist, so the minimum is 0 and skew becomes 2.
    c["minDomains"] = json!(3);
    let p = spread_pod(foo, json!([c]));
    assert_eq!(fits(&nodes, &foo_pods([1, 0, 1, 0]), &p), [false; 4]);
}

#[test]
fn spread_score_one_constraint_on_node_upstream_numbers() {
    // Upstream TestPodTopologySpreadScore "one constraint on node, all 4 nodes are candidates":
    // 2/1/0/3 pods → scores a 20, b 60, x 100, y 0.
    let nodes = spread_nodes();
    let mut snap = Snapshot::new(&nodes, &foo_pods([2, 1, 0, 3]));
    let p = spread_pod(
        json!({"foo": ""}),
        json!([{"maxSkew": 1, "topologyKey": "node", "whenUnsatisfiable": "ScheduleAnyway",
                 "labelSelector": {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}}]),
    );
    let info = PodInfo::new(&p);
    assert_eq!(
        plugin_scores(
            &scores::PodTopologySpreadScore,
            &mut snap,
            &info,
            &[0, 1, 2, 3]
        ),
        Some(vec![20, 60, 100, 0])
    );
    // A pod with only DoNotSchedule constraints skips scoring (no system defaults either).
    let hard_only = PodInfo::new(&spread_pod(
        json!({"foo": ""}),
        json!([hard(1, "node", "foo")]),
    ));
    assert_eq!(
        plugin_scores(
            &scores::PodTopologySpreadScore,
            &mut snap,
            &hard_only,
            &[0, 1]
        ),
        None
    );
}

fn affinity_pod(labels: Value, affinity: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "labels": labels},
        "spec": {"containers": [], "affinity": affinity}
    }))
    .unwrap()
}

fn term(key: &str, op: &str, values: &[&str], topo: &str) -> Value {
    json!({"labelSelector": {"matchExpressions": [{"key": key, "operator": op, "values": values}]},
           "topologyKey": topo})
}

#[test]
fn inter_pod_affinity_filter_upstream_single_node_cases() {
    // Fixture A: machine1 {region: r1, zone: z11}; existing pod {service: securityscan}.
    let m1 = node(
        "machine1",
        "4",
        "8Gi",
        json!({"region": "r1", "zone": "z11"}),
        json!([]),
        true,
    );
    let nodes = vec![m1];
    let e = labelled(
        "e",
        "default",
        "machine1",
        json!({"service": "securityscan"}),
    );
    let s1 = json!({"security": "S1"});
    let req =
        |t: Value| json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [t]}});
    let anti = |t: Value| json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [t]}});
    let one = |p: &Pod, ex: &[Pod]| fits(&nodes, ex, p)[0];
    // Affinity In matching the existing pod → fits.
    let p = affinity_pod(
        s1.clone(),
        req(term("service", "In", &["securityscan", "value2"], "region")),
    );
    assert!(one(&p, std::slice::from_ref(&e)));
    // A term matching neither the existing pod nor the incoming one → fails with the affinity message.
    let p = affinity_pod(
        s1.clone(),
        req(term("service", "In", &["antivirusscan"], "region")),
    );
    assert!(!one(&p, std::slice::from_ref(&e)));
    let mut s = Scheduler::new(&nodes, std::slice::from_ref(&e));
    assert_eq!(
        s.schedule(&p).unwrap_err().to_string(),
        "0/1 nodes are available: 1 node(s) didn't match pod affinity rules."
    );
    // NotIn excluding the existing pod: no pod matches, but the incoming pod (no `service` label)
    // matches its own term — the first-pod rule lets it in.
    let p = affinity_pod(
        s1.clone(),
        req(term("service", "NotIn", &["securityscan"], "region")),
    );
    assert!(one(&p, std::slice::from_ref(&e)));
    // Pod in another namespace than the term's default: no match.
    let other_ns = labelled(
        "e2",
        "other",
        "machine1",
        json!({"service": "securityscan"}),
    );
    let p = affinity_pod(
        s1.clone(),
        req(term("service", "In", &["securityscan"], "region")),
    );
    assert!(!one(&p, &[other_ns]));
    // First-pod rule: nothing matches anywhere, but the pod matches its own term → fits.
    let p = affinity_pod(s1.clone(), req(term("security", "In", &["S1"], "region")));
    assert!(one(&p, &[]));
    // …unless the node lacks the topology key.
    let p = affinity_pod(
        s1.clone(),
        req(term("security", "In", &["S1"], "no-such-key")),
    );
    assert!(!one(&p, &[]));
    // Anti-affinity against the existing pod in the same zone → fails.
    let p = affinity_pod(
        s1.clone(),
        anti(term("service", "In", &["securityscan"], "zone")),
    );
    assert!(!one(&p, std::slice::from_ref(&e)));
    let mut s = Scheduler::new(&nodes, std::slice::from_ref(&e));
    assert_eq!(
        s.schedule(&p).unwrap_err().to_string(),
        "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."
    );
    // Anti-affinity on a key the node lacks cannot be violated.
    let p = affinity_pod(
        s1.clone(),
        anti(term("service", "In", &["securityscan"], "rack")),
    );
    assert!(one(&p, std::slice::from_ref(&e)));
    // Symmetry: the existing pod's anti-affinity selects the incoming pod.
    let mut e_anti = e.clone();
    e_anti.spec.as_mut().unwrap().affinity =
        Some(serde_json::from_value(anti(term("security", "In", &["S1"], "zone"))).unwrap());
    let plain = affinity_pod(s1.clone(), json!({}));
    assert!(!one(&plain, std::slice::from_ref(&e_anti)));
    let mut s = Scheduler::new(&nodes, &[e_anti]);
    assert_eq!(
        s.schedule(&plain).unwrap_err().to_string(),
        "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."
    );
}

#[test]
fn inter_pod_affinity_multiple_nodes_by_region() {
    // Fixture B: affinity to pods `foo: bar` in the same region; only machine1 (r1) hosts one.
    let nodes = vec![
        node(
            "machine1",
            "4",
            "8Gi",
            json!({"region": "r1", "zone": "z11"}),
            json!([]),
            true,
        ),
        node(
            "machine2",
            "4",
            "8Gi",
            json!({"region": "r1", "zone": "z12"}),
            json!([]),
            true,
        ),
        node(
            "machine3",
            "4",
            "8Gi",
            json!({"region": "r2", "zone": "z21"}),
            json!([]),
            true,
        ),
    ];
    let ex = vec![labelled("e", "default", "machine1", json!({"foo": "bar"}))];
    let p = affinity_pod(
        json!({}),
        json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("foo", "In", &["bar"], "region")]}}),
    );
    assert_eq!(fits(&nodes, &ex, &p), [true, true, false]);
    let p = affinity_pod(
        json!({}),
        json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("foo", "In", &["bar"], "region")]}}),
    );
    assert_eq!(fits(&nodes, &ex, &p), [false, false, true]);
}

#[test]
fn required_anti_affinity_on_hostname_leaves_extra_replicas_pending() {
    // The testbed acceptance scenario: 4 replicas, 3 schedulable workers.
    let mut s = Scheduler::new(&seed_nodes(), &[]);
    let mut rep = rs_pod("web", None);
    rep.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
    rep.spec.as_mut().unwrap().affinity = Some(
        serde_json::from_value(json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}))
        .unwrap(),
    );
    let placed: Vec<String> = (0..3).map(|_| s.schedule(&rep).unwrap().node).collect();
    assert_eq!(placed, ["k8s-node1", "k8s-node2", "k8s-node3"]);
    assert_eq!(
        s.schedule(&rep).unwrap_err().to_string(),
        "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 3 node(s) didn't match pod anti-affinity rules."
    );
}

#[test]
fn inter_pod_affinity_preferred_score_upstream_numbers() {
    let n = |name: &str, labels: Value| node(name, "4", "8Gi", labels, json!([]), true);
    // "different Label operators and values …": node1 (China) 20, node2 (India) 100, node3 (no region) 0.
    let nodes = vec![
        n("node1", json!({"region": "China"})),
        n("node2", json!({"region": "India"})),
        n("node3", json!({"az": "az1"})),
    ];
    let ex = vec![
        labelled("a", "default", "node1", json!({"security": "S1"})),
        labelled("b", "default", "node2", json!({"security": "S2"})),
        labelled("c", "default", "node3", json!({"security": "S1"})),
    ];
    let affinity3 = json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 8, "podAffinityTerm": {"labelSelector": {"matchExpressions": [
            {"key": "security", "operator": "NotIn", "values": ["S1"]},
            {"key": "security", "operator": "In", "values": ["S2"]}]}, "topologyKey": "region"}},
        {"weight": 2, "podAffinityTerm": {"labelSelector": {"matchExpressions": [
            {"key": "security", "operator": "Exists"},
            {"key": "wrongkey", "operator": "DoesNotExist"}]}, "topologyKey": "region"}}]}});
    let mut snap = Snapshot::new(&nodes, &ex);
    let p = PodInfo::new(&affinity_pod(json!({"security": "S1"}), affinity3));
    assert_eq!(
        plugin_scores(&scores::InterPodAffinityScore, &mut snap, &p, &[0, 1, 2]),
        Some(vec![20, 100, 0])
    );
    // "nodes in one region has more matching pods": China nodes 100, India nodes 0.
    let nodes: Vec<Node> = [
        ("node1", "China"),
        ("node2", "India"),
        ("node3", "China"),
        ("node4", "China"),
        ("node5", "India"),
    ]
    .iter()
    .map(|(nm, r)| n(nm, json!({"region": r})))
    .collect();
    let ex: Vec<Pod> = ["node1", "node1", "node2", "node3", "node4", "node5"]
        .iter()
        .enumerate()
        .map(|(k, nm)| labelled(&format!("s{k}"), "default", nm, json!({"security": "S2"})))
        .collect();
    let mut snap = Snapshot::new(&nodes, &ex);
    let p = PodInfo::new(&affinity_pod(
        json!({"security": "S1"}),
        json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 6, "podAffinityTerm": term("security", "In", &["S2"], "region")}]}}),
    ));
    assert_eq!(
        plugin_scores(
            &scores::InterPodAffinityScore,
            &mut snap,
            &p,
            &[0, 1, 2, 3, 4]
        ),
        Some(vec![100, 0, 100, 100, 0])
    );
    // Symmetry: an existing pod's preferred affinity for S1 in its region pulls an S1 pod there.
    let mut e = labelled("e", "default", "node1", json!({"security": "S2"}));
    e.spec.as_mut().unwrap().affinity = Some(
        serde_json::from_value(
            json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "podAffinityTerm": term("security", "In", &["S1"], "region")}]}}),
        )
        .unwrap(),
    );
    let mut snap = Snapshot::new(&nodes[..2], &[e]);
    let p = PodInfo::new(&affinity_pod(json!({"security": "S1"}), json!({})));
    assert_eq!(
        plugin_scores(&scores::InterPodAffinityScore, &mut snap, &p, &[0, 1]),
        Some(vec![100, 0])
    );
    // No preferred terms anywhere: the plugin skips.
    let mut snap = Snapshot::new(&nodes, &[]);
    assert_eq!(
        plugin_scores(&scores::InterPodAffinityScore, &mut snap, &p, &[0, 1]),
        None
    );
}

type AffSpec = (u32, u32, bool, bool, bool);

proptest! {
    /// Required hostname anti-affinity and a hard hostname spread constraint (maxSkew 1) are never
    /// violated, whatever the order and sizes; same input, same output.
    #[test]
    fn label_constraints_hold((ns, ps) in (
        prop::collection::vec((1u32..8, 1u32..16, any::<bool>(), any::<bool>()), 1..6),
        prop::collection::vec((0u32..1500, 0u32..2048, any::<bool>(), any::<bool>(), any::<bool>()), 1..30),
    )) {
        let nodes = build(&ns);
        let make = |i: usize, (cpu, mem, _, anti, spread): AffSpec| -> Pod {
            let app = format!("rs{}", i % 3);
            let sel = json!({"matchLabels": {"app": app}});
            let mut spec = json!({"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": format!("{cpu}m"), "memory": format!("{mem}Mi")}}}]});
            if anti {
                spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": sel, "topologyKey": "kubernetes.io/hostname"}]}});
            }
            if spread {
                spec["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel}]);
            }
            serde_json::from_value(json!({"metadata": {"name": format!("p{i}"), "namespace": "default", "labels": {"app": app}}, "spec": spec})).unwrap()
        };
        let run = || {
            let mut s = Scheduler::new(&nodes, &[]);
            ps.iter().enumerate().map(|(i, p)| s.schedule(&make(i, *p)).map(|pl| pl.node).map_err(|e| e.to_string())).collect::<Vec<_>>()
        };
        let out = run();
        prop_assert_eq!(&out, &run());
        // Replay: before each placement, check the constraints against the pods placed so far.
        let mut placed: Vec<(usize, String)> = vec![];
        for (i, r) in out.iter().enumerate() {
            let Ok(node) = r else { continue };
            let app = i % 3;
            let (_, _, _, anti, spread) = ps[i];
            let same_app_here = placed.iter().filter(|(j, n)| j % 3 == app && n == node).count();
            if anti {
                prop_assert_eq!(same_app_here, 0, "anti-affinity violated by pod {}", i);
            }
            // Symmetry: an earlier pod of this app with anti-affinity on this node forbids it.
            prop_assert!(!placed.iter().any(|(j, n)| n == node && j % 3 == app && ps[*j].3), "existing anti-affinity violated");
            if spread {
                let min = (0..ns.len()).map(|k| placed.iter().filter(|(j, n)| j % 3 == app && *n == format!("n{k}")).count()).min().unwrap();
                prop_assert!(same_app_here + 1 - min <= 1, "spread skew exceeded by pod {}", i);
            }
            placed.push((i, node.clone()));
        }
    }
}

#[test]
fn describe_node_allocated_resources_agree_with_scheduler_accounting() {
    // A sidecar (restartable init container) and pod overhead: both count toward what the node has
    // allocated, in the scheduler and in `describe node` alike.
    let n = node("n", "2", "4Gi", json!({}), json!([]), true);
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"nodeName": "n", "overhead": {"cpu": "50m", "memory": "16Mi"},
            "initContainers": [
                {"name": "proxy", "image": "i", "restartPolicy": "Always",
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                {"name": "setup", "image": "i", "resources": {"requests": {"cpu": "1", "memory": "32Mi"}}}],
            "containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}}]}
    }))
    .unwrap();
    let s = Scheduler::new(std::slice::from_ref(&n), std::slice::from_ref(&p));
    // max(250m + 100m, 1 + 100m) + 50m = 1150m; max(128Mi + 64Mi, 32Mi + 64Mi) + 16Mi = 208Mi.
    assert_eq!(s.reserved("n"), Some((1150, 208 << 20, 1)));
    let r = pod_requests(&p, false);
    assert_eq!((r.milli_cpu, r.memory), (1150, 208 << 20));
    let text = crate::output::describe::describe_node(&n, &[p], jiff::Timestamp::now());
    let line = |k: &str| {
        text.lines()
            .skip_while(|l| !l.starts_with("Allocated resources:"))
            .find(|l| l.trim_start().starts_with(k))
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap()
    };
    assert_eq!(line("cpu"), "cpu 1150m (57%)");
    assert_eq!(line("memory"), "memory 208Mi (5%)");
}
