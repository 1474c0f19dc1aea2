//! Scheduling on the testbed (issue 4's acceptance): the tainted control-plane host, nodeSelector on a
//! labelled host, required pod anti-affinity with more replicas than nodes, and the drain what-if.

use std::path::PathBuf;

use crate::common::*;

/// A copy of the testbed's inventory (with its key and known_hosts) after `edit`.
fn cluster_with(tb: &Testbed, edit: impl Fn(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, edit(&yaml)).unwrap();
    for f in ["id_ed25519", "known_hosts"] {
        std::fs::copy(tb.dir.join(f), dir.path().join(f)).unwrap();
    }
    (dir, path)
}

fn deployment(name: &str, replicas: u32, pod_spec_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n{pod_spec_extra}      containers:\n      - name: web\n        image: nginx\n"
    )
}

fn nodes_of(rows: &[Vec<String>], prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .filter(|r| r[0].starts_with(prefix))
        .map(|r| r[6].clone())
        .collect();
    v.sort();
    v
}

#[test]
fn the_tainted_master_takes_only_pods_that_tolerate_it_and_node_selectors_pin() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    // k8s-node2 gets a label in the inventory, as an operator would add one.
    let (_dir, cluster) = cluster_with(&tb, |y| {
        y.replace(
            "  - name: k8s-node2\n",
            "  - name: k8s-node2\n    labels:\n      disktype: ssd\n",
        )
    });
    let repo = Repo::new();
    repo.write("plain.yaml", &deployment("plain", 4, ""))
        .write(
            "pinned.yaml",
            &deployment("pinned", 2, "      nodeSelector:\n        disktype: ssd\n"),
        )
        .write(
            "tolerant.yaml",
            &deployment(
                "tolerant",
                1,
                "      nodeSelector:\n        node-role.kubernetes.io/master: \"\"\n      tolerations:\n      - key: node-role.kubernetes.io/master\n        operator: Exists\n        effect: NoSchedule\n",
            ),
        )
        .commit("placement");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    let out = ok(clusterctl_with(
        &cluster,
        repo.path(),
        &["get", "pods", "-o", "wide"],
    ))
    .stdout;
    let rows: Vec<Vec<String>> = table(&out).into_iter().skip(1).collect();
    assert!(rows.iter().all(|r| r[2] == "Running"), "{out}");
    assert!(
        !nodes_of(&rows, "plain-").contains(&"k8s-master".to_string()),
        "{out}"
    );
    assert_eq!(nodes_of(&rows, "plain-").len(), 4);
    assert_eq!(
        nodes_of(&rows, "pinned-"),
        ["k8s-node2", "k8s-node2"],
        "{out}"
    );
    assert_eq!(nodes_of(&rows, "tolerant-"), ["k8s-master"], "{out}");
}

#[test]
fn required_anti_affinity_leaves_extra_replicas_pending() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - labelSelector:\n              matchLabels:\n                app: spread\n            topologyKey: kubernetes.io/hostname\n";
    repo.write("spread.yaml", &deployment("spread", 5, anti))
        .commit("anti-affinity");
    let msg = "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 3 node(s) didn't match pod anti-affinity rules.";
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout
            .contains("Plan: 3 to add, 0 to change, 0 to destroy."),
        "{plan:?}"
    );
    assert_eq!(plan.stdout.matches(msg).count(), 2, "{plan:?}");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let rows = pod_rows(&tb, &repo);
    let running: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == "Running").collect();
    let pending: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == "Pending").collect();
    assert_eq!((running.len(), pending.len()), (3, 2), "{rows:?}");
    let mut nodes: Vec<&str> = running.iter().map(|r| r[6].as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, WORKERS);
    let describe = ok(clusterctl(&tb, &repo, &["describe", "pod", &pending[0][0]])).stdout;
    assert!(describe.contains(msg), "{describe}");

    // What-if: draining a worker has nowhere to put its replica.
    let drain = ok(clusterctl(&tb, &repo, &["plan", "--drain", "k8s-node1"]));
    assert!(drain.stdout.contains("k8s-node1"), "{drain:?}");
    assert!(drain.stdout.contains("Pending"), "{drain:?}");
}
