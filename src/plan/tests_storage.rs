//! Storage in the plan, on the simulated hosts: claims bound by their first consumer and then pinning it,
//! the VolumeBinding and PreFilter messages, StatefulSet ordering (OrderedReady, partitions, scale-down)
//! and the deletion of a removed claim's data.

use super::*;

fn sts(replicas: u32, image: &str, extra: &str) -> Manifest {
    manifest(&format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: {replicas}
  serviceName: web
{extra}  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: c
        image: {image}
        volumeMounts:
        - name: data
          mountPath: /data
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"
    ))
}

fn created(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Pod && c.action == Action::Create)
        .map(|c| c.name.clone())
        .collect()
}

fn volume_node(sim: &Sim, claim: &str) -> Option<String> {
    sim.state.nodes.iter().find_map(|n| {
        n.volumes
            .iter()
            .any(|v| v.label(model::labels::CLAIM_NAME) == Some(claim))
            .then(|| n.name.clone())
    })
}

#[test]
fn ordered_ready_creates_one_ordinal_per_plan_and_binds_its_claim_where_it_runs() {
    let mut sim = Sim::new();
    let apps = [sts(3, "nginx", "")];
    for want in ["web-0", "web-1", "web-2"] {
        let plan = sim.plan(&apps);
        assert_eq!(created(&plan), [want], "{:?}", lines(&plan));
        let c = &plan.changes[0];
        // The claim is provisioned on the pod's node before its containers are created.
        let steps: Vec<String> = c.steps.iter().map(|s| s.args.join(" ")).collect();
        let provision = steps
            .iter()
            .position(|s| s.starts_with("volume create --driver=local --opt=type=none"));
        let sandbox = steps.iter().position(|s| s.contains("--name=k8s_POD_"));
        assert!(provision.unwrap() < sandbox.unwrap(), "{steps:?}");
        sim.apply(&plan);
        assert_eq!(
            volume_node(&sim, &format!("data-{want}")).as_deref(),
            Some(c.node.as_str())
        );
    }
    assert!(sim.plan(&apps).changes.is_empty());

    // Parallel creates every missing ordinal at once.
    let sim = Sim::new();
    let plan = sim.plan(&[sts(3, "nginx", "  podManagementPolicy: Parallel\n")]);
    assert_eq!(created(&plan), ["web-0", "web-1", "web-2"]);
}

#[test]
fn a_bound_claim_pins_its_pod_and_says_where_the_volume_is() {
    let mut sim = Sim::new();
    let apps = [sts(1, "nginx", "")];
    sim.apply(&sim.plan(&apps));
    let node = volume_node(&sim, "data-web-0").unwrap();
    // The pod removed by hand: its replacement goes back to the volume's node.
    sim.node(&node).containers.clear();
    let plan = sim.plan(&apps);
    assert_eq!(created(&plan), ["web-0"]);
    assert_eq!(plan.changes[0].node, node);

    // The volume's node cordoned: Pending, with VolumeBinding's reason for the others.
    let mut cordoned = Sim::new();
    cordoned.state = sim.state.clone();
    for h in &mut cordoned.inv.hosts {
        h.unschedulable = h.name == node;
    }
    let plan = cordoned.plan(&apps);
    assert!(created(&plan).is_empty());
    assert_eq!(
        plan.pending[0].message(),
        format!(
            "0/4 nodes are available: 1 node(s) had untolerated taint {{node-role.kubernetes.io/master: }}, 1 node(s) were unschedulable, 2 node(s) had volume node affinity conflict. (its bound volume is on node {node})"
        )
    );
}

#[test]
fn a_missing_claim_or_class_fails_before_any_node_is_looked_at() {
    let sim = Sim::new();
    let pod = |claim: &str| {
        manifest(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n  volumes:\n  - name: d\n    persistentVolumeClaim:\n      claimName: {claim}\n"
        ))
    };
    let plan = sim.plan(&[pod("nope")]);
    assert_eq!(
        plan.pending[0].message(),
        "0/4 nodes are available: persistentvolumeclaim \"nope\" not found."
    );
    let claim = manifest(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: c\nspec:\n  storageClassName: fast\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
    );
    let plan = sim.plan(&[pod("c"), claim]);
    assert_eq!(
        plan.pending[0].message(),
        "0/4 nodes are available: storageclass.storage.k8s.io \"fast\" not found."
    );
}

#[test]
fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
    let mut sim = Sim::new();
    let v1 = [sts(3, "nginx", "")];
    for _ in 0..3 {
        sim.apply(&sim.plan(&v1));
    }
    let part =
        "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      partition: 1\n";
    let v2 = [sts(3, "nginx:1.14.2", part)];
    let mut order = Vec::new();
    for _ in 0..4 {
        let plan = sim.plan(&v2);
        let replaced: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Replace)
            .map(|c| c.name.clone())
            .collect();
        assert!(replaced.len() <= 1, "one at a time: {replaced:?}");
        order.extend(replaced);
        sim.apply(&plan);
    }
    // web-0 is below the partition: it keeps the old revision.
    assert_eq!(order, ["web-2", "web-1"]);
    assert!(sim.plan(&v2).changes.is_empty());

    // OnDelete replaces nothing that runs.
    let ondelete = [sts(
        3,
        "nginx:1.15",
        "  updateStrategy:\n    type: OnDelete\n",
    )];
    assert!(sim.plan(&ondelete).changes.is_empty());
}

#[test]
fn scale_down_removes_the_highest_ordinal_first_and_keeps_the_claims() {
    let mut sim = Sim::new();
    for _ in 0..3 {
        sim.apply(&sim.plan(&[sts(3, "nginx", "")]));
    }
    let down = [sts(1, "nginx", "")];
    let plan = sim.plan(&down);
    let gone: Vec<&str> = plan.changes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(gone, ["web-2"], "{:?}", lines(&plan));
    assert_eq!(plan.changes[0].reason, Reason::ExtraReplica);
    sim.apply(&plan);
    let plan = sim.plan(&down);
    assert_eq!(
        lines(&plan),
        [format!("Delete web-1 {}", plan.changes[0].node)]
    );
    sim.apply(&plan);
    assert!(sim.plan(&down).changes.is_empty());
    // Template claims are retained (persistentVolumeClaimRetentionPolicy Retain).
    assert!(volume_node(&sim, "data-web-2").is_some());
}

#[test]
fn a_claim_removed_from_git_loses_its_data_only_with_delete_and_after_its_pods() {
    let claim = |class: &str| {
        manifest(&format!(
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: c\nspec:\n  storageClassName: {class}\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n"
        ))
    };
    let pod = manifest(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n  volumes:\n  - name: d\n    persistentVolumeClaim:\n      claimName: c\n",
    );
    let keep = manifest(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: keep\nprovisioner: clusterctl.io/local-path\nreclaimPolicy: Retain\nvolumeBindingMode: WaitForFirstConsumer\n",
    );
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[claim("local-path"), pod.clone()]));
    // The claim alone removed: its pod still uses it, nothing is deleted.
    assert!(sim.plan(std::slice::from_ref(&pod)).changes.is_empty());
    // Both removed: the pod goes, then (apply's last phase) the volume, said in red.
    let plan = sim.plan(&[]);
    let kinds: Vec<(ChangeKind, Action)> =
        plan.changes.iter().map(|c| (c.kind, c.action)).collect();
    assert_eq!(
        kinds,
        [
            (ChangeKind::Pod, Action::Delete),
            (ChangeKind::Volume, Action::Delete)
        ]
    );
    assert!(
        why(&plan.changes[1]).contains("ITS DATA IS DELETED"),
        "{}",
        why(&plan.changes[1])
    );
    let text = crate::output::plan::render(
        &plan,
        "0123456",
        &crate::output::plan::Options {
            color: true,
            explain: false,
            verbose: false,
        },
    );
    assert!(
        text.contains("\u{1b}[1m\u{1b}[31m") || text.contains("\u{1b}[31m\u{1b}[1m"),
        "{text}"
    );
    sim.apply(&plan);
    assert!(volume_node(&sim, "c").is_none());

    // With Retain the data stays (Released).
    let mut sim = Sim::new();
    sim.apply(&sim.plan(&[claim("keep"), pod, keep.clone()]));
    let plan = sim.plan(&[keep]);
    assert!(
        plan.changes.iter().all(|c| c.kind == ChangeKind::Pod),
        "{:?}",
        lines(&plan)
    );
}

#[test]
fn a_read_write_once_pod_claim_runs_one_pod_and_keeps_the_second_pending() {
    let mut sim = Sim::new();
    let pod = |name: &str| {
        manifest(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: nginx\n  volumes:\n  - name: d\n    persistentVolumeClaim:\n      claimName: solo\n"
        ))
    };
    let claim = manifest(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: solo\nspec:\n  accessModes: [ReadWriteOncePod]\n  resources:\n    requests:\n      storage: 1Gi\n",
    );
    let msg = "0/4 nodes are available: node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode.";
    // Both new in one plan: the first placed is the claim's user, the second waits.
    let apps = [pod("a"), pod("b"), claim.clone()];
    let plan = sim.plan(&apps);
    assert_eq!(created(&plan), ["a"], "{:?}", lines(&plan));
    assert_eq!(plan.pending.len(), 1);
    assert_eq!(plan.pending[0].message(), msg);
    sim.apply(&plan);
    // `a` running: `b` still waits.
    let plan = sim.plan(&apps);
    assert!(created(&plan).is_empty(), "{:?}", lines(&plan));
    assert_eq!(plan.pending[0].message(), msg);
    // `a` removed from Git: `b` takes the claim, on the claim's node.
    let node = volume_node(&sim, "solo").unwrap();
    let plan = sim.plan(&[pod("b"), claim.clone()]);
    assert_eq!(created(&plan), ["b"], "{:?}", lines(&plan));
    assert!(plan.pending.is_empty());
    let b = plan
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::Pod && c.action == Action::Create)
        .unwrap();
    assert_eq!(b.node, node);
    // ReadWriteOnce: both run (on the claim's node).
    let rwo = manifest(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: solo\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
    );
    let plan = Sim::new().plan(&[pod("a"), pod("b"), rwo]);
    assert_eq!(created(&plan), ["a", "b"], "{:?}", lines(&plan));
}
