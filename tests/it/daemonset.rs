//! DaemonSets on the testbed (issue 9's first acceptance): one pod per eligible host and none on the
//! tainted master; a toleration lets it onto the master, removing the toleration prunes that pod; a host
//! added to the inventory gets its pod on the next apply; `get ds` counts what runs.

use crate::common::*;

const DS: &str = "agent";

/// A DaemonSet on nginx; `extra` is spliced into the pod spec.
fn daemon_set(extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: {DS}\nspec:\n  selector:\n    matchLabels:\n      app: {DS}\n  template:\n    metadata:\n      labels:\n        app: {DS}\n    spec:\n{extra}      containers:\n      - name: web\n        image: nginx\n"
    )
}

const TOLERATE_MASTER: &str = "      tolerations:\n      - key: node-role.kubernetes.io/master\n        operator: Exists\n        effect: NoSchedule\n";

/// The hosts that run a container of the DaemonSet's pods, from the hosts' own `docker ps`.
fn hosts_running_it(tb: &Testbed) -> Vec<String> {
    tb.hosts
        .iter()
        .filter(|(h, _)| {
            managed_names(tb, h)
                .iter()
                .any(|n| n.starts_with(&format!("k8s_web_{DS}-")))
        })
        .map(|(h, _)| h.clone())
        .collect()
}

/// `get ds` → (DESIRED, CURRENT, READY, UP-TO-DATE).
fn ds_counts(cluster: &std::path::Path, repo: &Repo) -> (String, String, String, String) {
    let out = ok(clusterctl_with(cluster, repo.path(), &["get", "ds"])).stdout;
    let r = rows(&out, DS);
    assert_eq!(r.len(), 1, "{out}");
    (
        r[0][1].clone(),
        r[0][2].clone(),
        r[0][3].clone(),
        r[0][4].clone(),
    )
}

/// Applies until the plan has nothing left (a rolling update takes one apply per maxUnavailable).
fn converge(cluster: &std::path::Path, repo: &Repo) -> usize {
    for round in 1..=6 {
        let plan = clusterctl_with(cluster, repo.path(), &["plan", "--detailed-exitcode"]);
        if plan.code == 0 {
            return round - 1;
        }
        assert_eq!(plan.code, 2, "{plan:?}");
        ok(clusterctl_with(cluster, repo.path(), &["apply", "--yes"]));
    }
    panic!("no convergence in 6 applies");
}

#[test]
fn a_daemon_set_follows_hosts_taints_and_tolerations() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let full = tb.cluster_yaml();
    let last = tb.hosts.last().unwrap().0.clone();
    let workers: Vec<String> = tb.hosts[1..].iter().map(|(h, _)| h.clone()).collect();
    let (_d, small) = cluster_without(&tb, &[&last]);

    let repo = Repo::new();
    repo.write("ds.yaml", &daemon_set("")).commit("daemonset");
    // Without the last host: a pod on every other worker, none on the tainted master.
    ok(clusterctl_with(&small, repo.path(), &["apply", "--yes"]));
    assert_eq!(hosts_running_it(&tb), workers[..workers.len() - 1]);
    // Where it does not fit there is no pod at all: nothing Pending (upstream creates none there).
    let pods = ok(clusterctl_with(&small, repo.path(), &["get", "pods"])).stdout;
    assert!(!pods.contains("Pending"), "{pods}");
    let n = (workers.len() - 1).to_string();
    assert_eq!(
        ds_counts(&small, &repo),
        (n.clone(), n.clone(), n.clone(), n)
    );

    // The host is added to the inventory: it gets its pod on the next apply, the others are kept.
    let plan = ok(clusterctl_with(&full, repo.path(), &["plan"])).stdout;
    assert!(plan.contains(&last), "{plan}");
    ok(clusterctl_with(&full, repo.path(), &["apply", "--yes"]));
    assert_eq!(hosts_running_it(&tb), workers);
    let n = workers.len().to_string();
    assert_eq!(
        ds_counts(&full, &repo),
        (n.clone(), n.clone(), n.clone(), n)
    );
    assert_eq!(converge(&full, &repo), 0, "nothing left to do");

    // A toleration of the master's taint: its pod lands there too (the workers' pods are replaced for the
    // new template, one per apply: RollingUpdate's maxUnavailable 1).
    repo.write("ds.yaml", &daemon_set(TOLERATE_MASTER))
        .commit("tolerate the master");
    let rounds = converge(&full, &repo);
    // The first apply only creates the master's pod (a node without its pod counts as unavailable).
    assert_eq!(rounds, workers.len() + 1, "one worker replaced per apply");
    let all: Vec<String> = tb.hosts.iter().map(|(h, _)| h.clone()).collect();
    assert_eq!(hosts_running_it(&tb), all);
    let n = all.len().to_string();
    assert_eq!(
        ds_counts(&full, &repo),
        (n.clone(), n.clone(), n.clone(), n)
    );

    // The toleration is removed: the master's pod is pruned, and the plan says why.
    repo.write("ds.yaml", &daemon_set(""))
        .commit("no toleration");
    let plan = ok(clusterctl_with(&full, repo.path(), &["plan"])).stdout;
    assert!(
        plan.contains("DaemonSet agent does not run on node k8s-master"),
        "{plan}"
    );
    converge(&full, &repo);
    assert_eq!(hosts_running_it(&tb), workers);
    let n = workers.len().to_string();
    let (desired, current, _, _) = ds_counts(&full, &repo);
    assert_eq!((desired, current), (n.clone(), n.clone()));
    let describe = ok(clusterctl_with(&full, repo.path(), &["describe", "ds", DS])).stdout;
    assert!(
        describe.contains(&format!("Desired Number of Nodes Scheduled: {n}")),
        "{describe}"
    );

    // A host removed from the inventory is no longer observed: its pod is neither desired nor counted, and
    // no other pod of the DaemonSet changes (its containers stay on that machine; docs/daemonsets.md). The
    // other hosts' pod network forgets that host: those are network changes, not pod changes.
    let n = (workers.len() - 1).to_string();
    let (desired, current, _, _) = ds_counts(&small, &repo);
    assert_eq!((desired, current), (n.clone(), n));
    let plan = ok(clusterctl_with(&small, repo.path(), &["plan"])).stdout;
    assert!(!plan.contains(&format!("pod \"default/{DS}-")), "{plan}");

    // Out of Git: every pod goes.
    repo.remove("ds.yaml").commit("gone");
    ok(clusterctl_with(&full, repo.path(), &["apply", "--yes"]));
    assert!(hosts_running_it(&tb).is_empty());
}

/// Each host's running pods of the DaemonSet (the pod names of its running `web` containers).
fn running_pods(tb: &Testbed) -> Vec<(String, Vec<String>)> {
    // All hosts at once, so one sample is one moment: read one after another, a node's old pod could
    // go and the next node's new one start between two reads, showing two surging nodes that never were.
    std::thread::scope(|s| {
        let reads: Vec<_> = tb
            .hosts
            .iter()
            .map(|(h, _)| {
                s.spawn(move || {
                    let out = tb.ssh_ok(
                        h,
                        "docker ps --filter label=clusterctl.io/managed=true --filter status=running --format '{{.Names}}'",
                    );
                    let mut pods: Vec<String> = out
                        .lines()
                        .filter_map(|n| n.strip_prefix("k8s_web_"))
                        .filter_map(|n| n.split('_').next())
                        .filter(|p| p.starts_with(&format!("{DS}-")))
                        .map(str::to_string)
                        .collect();
                    pods.sort();
                    pods.dedup();
                    (h.clone(), pods)
                })
            })
            .collect();
        reads.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

/// maxSurge 1, maxUnavailable 0 on every host: one apply changes the image, starting each node's new pod
/// next to its old one and removing the old one once the new one is available, one node at a time.
/// Sampled through the apply: every node always runs a pod, at most one node runs two.
#[test]
fn a_daemon_set_surges_one_node_at_a_time_without_a_gap() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let surge = |image: &str| {
        daemon_set(TOLERATE_MASTER)
            .replace("image: nginx", &format!("image: {image}"))
            .replace(
                "  template:\n",
                "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n  template:\n",
            )
    };
    let repo = Repo::new();
    repo.write("ds.yaml", &surge("nginx")).commit("daemonset");
    let check = ok(clusterctl(&tb, &repo, &["validate"]));
    assert!(!check.stderr.contains("surge"), "{check:?}");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let before = running_pods(&tb);
    assert!(before.iter().all(|(_, p)| p.len() == 1), "{before:?}");

    // The same image under another tag: a new template, no pull from outside.
    let tag = "nginx:surge";
    for (h, _) in &tb.hosts {
        tb.ssh_ok(h, &format!("docker tag nginx {tag}"));
    }
    repo.write("ds.yaml", &surge(tag)).commit("new image");
    let cluster = tb.cluster_yaml();
    let path = repo.path().to_path_buf();
    let apply = std::thread::spawn(move || clusterctl_with(&cluster, &path, &["apply", "--yes"]));
    let mut samples = 0;
    let mut saw_two = false;
    while !apply.is_finished() {
        let now = running_pods(&tb);
        samples += 1;
        assert!(
            now.iter().all(|(_, p)| !p.is_empty()),
            "a node without a running pod: {now:?}"
        );
        let doubled = now.iter().filter(|(_, p)| p.len() > 1).count();
        assert!(
            doubled <= 1,
            "more than maxSurge nodes with two pods: {now:?}"
        );
        saw_two |= doubled == 1;
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let run = ok(apply.join().unwrap());
    assert!(
        samples > 1 && saw_two,
        "the surge was never seen: {samples} samples\n{run:?}"
    );
    let after = running_pods(&tb);
    assert!(after.iter().all(|(_, p)| p.len() == 1), "{after:?}");
    // Every node's pod is a new one, of the new image: nothing is left to do.
    for ((h, old), (_, new)) in before.iter().zip(&after) {
        assert_ne!(old, new, "{h} kept its old pod");
    }
    let plan = clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let n = tb.hosts.len().to_string();
    assert_eq!(
        ds_counts(&tb.cluster_yaml(), &repo),
        (n.clone(), n.clone(), n.clone(), n)
    );

    repo.remove("ds.yaml").commit("gone");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
}
