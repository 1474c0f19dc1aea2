//! Volumes and persistent storage on the testbed (issue 12's acceptance 1 — storage part —, 3 and 5): a
//! StatefulSet's claim keeps its data across a hand-removed pod, a template update and a scale to zero,
//! and its pod always returns to the node holding the volume — Pending, naming that node, while it is
//! stopped; OrderedReady starts ordinals one apply at a time and each keeps its own claim; an emptyDir
//! survives a container restart and goes with its pod; `medium: Memory` is a tmpfs; hostPath types are
//! checked on the host before any container is created; a ReadWriteOncePod claim runs one pod, the second
//! Pending with the scheduler's message until the first is gone.

use std::process::Command;

use crate::common::*;

/// Removes what clusterctl's storage left on every host (volumes and their directories).
fn reset_storage(tb: &Testbed) {
    reset(tb);
    for (host, _) in &tb.hosts {
        let _ = tb.ssh(
            host,
            "vs=$(docker volume ls -q --filter label=clusterctl.io/managed=true); [ -z \"$vs\" ] || docker volume rm -f $vs >/dev/null; rm -rf /var/lib/clusterctl/storage /var/lib/clusterctl/pods /var/lib/clusterctl/roster.json",
        );
    }
}

/// A StatefulSet of busybox pods, each recording its hostname and every start in its claim.
fn stateful_set(name: &str, replicas: u32, env: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {name}
spec:
  serviceName: {name}
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: busybox
        env:
        - name: VERSION
          value: \"{env}\"
        command: [sh, -c, '[ -f /data/id ] || hostname > /data/id; echo start >> /data/starts; exec sleep 100000']
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
    )
}

/// `get pods -o wide` → the node of `pod`, if listed.
fn node_of(tb: &Testbed, repo: &Repo, pod: &str) -> Option<String> {
    pod_rows(tb, repo)
        .into_iter()
        .find(|r| r[0] == pod)
        .map(|r| r[6].clone())
}

/// Runs `sh -c script` in the pod's app container on `node`.
fn in_pod(tb: &Testbed, node: &str, pod: &str, script: &str) -> String {
    let c = format!("k8s_app_{pod}_default");
    stdout_ok(
        &format!("{script} in {pod}"),
        tb.exec(node, &["docker", "exec", &c, "sh", "-c", script]),
    )
}

fn testbed(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testbed");
    stdout_ok(
        &format!("testbed {args:?}"),
        Command::new("bash")
            .arg(script)
            .args(args)
            .output()
            .unwrap(),
    );
}

#[test]
fn a_claims_data_survives_and_its_pod_returns_to_the_volumes_node() {
    let tb = Testbed::get();
    let _g = serial();
    let _down = breaking_a_host();
    reset_storage(&tb);
    let repo = Repo::new();
    repo.write("db.yaml", &stateful_set("db", 1, "1"))
        .commit("db");
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(plan.contains("StatefulSet db wants ordinal 0"), "{plan}");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let node = node_of(&tb, &repo, "db-0").expect("db-0 runs");
    in_pod(&tb, &node, "db-0", "echo precious > /data/value");
    // The binding is recorded on the host's docker volume, as labels.
    let labels = tb.ssh_ok(
        &node,
        "docker volume ls -q --filter label=clusterctl.io/claim-name=data-db-0 | xargs docker volume inspect --format '{{index .Labels \"clusterctl.io/node\"}} {{index .Labels \"clusterctl.io/capacity\"}} {{index .Labels \"clusterctl.io/reclaim-policy\"}}'",
    );
    assert_eq!(labels.trim(), format!("{node} 1Gi Delete"));

    // The pod's containers removed by hand: the next apply recreates it on the same node, data intact.
    tb.ssh_ok(
        &node,
        "docker rm -f k8s_app_db-0_default k8s_POD_db-0_default",
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(node_of(&tb, &repo, "db-0").as_deref(), Some(node.as_str()));
    assert_eq!(
        in_pod(&tb, &node, "db-0", "cat /data/value").trim(),
        "precious"
    );

    // A template update replaces the pod, on the volume's node, data intact.
    repo.write("db.yaml", &stateful_set("db", 1, "2"))
        .commit("db v2");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(node_of(&tb, &repo, "db-0").as_deref(), Some(node.as_str()));
    let starts = in_pod(&tb, &node, "db-0", "cat /data/value; wc -l < /data/starts");
    assert_eq!(
        starts.split_whitespace().collect::<Vec<_>>(),
        ["precious", "3"]
    );

    // Scaled to zero, the claim stays; with its node stopped, the pod of a scale-up stays Pending.
    repo.write("db.yaml", &stateful_set("db", 0, "2"))
        .commit("db 0");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(node_of(&tb, &repo, "db-0"), None);
    testbed(&["stop", &node]);
    struct Restart(String);
    impl Drop for Restart {
        fn drop(&mut self) {
            testbed(&["start", &self.0]);
        }
    }
    let _restart = Restart(node.clone());
    // Every command waits for the stopped host's connect timeout: 2 s here instead of the default 10 s.
    let fast = tempfile::tempdir().unwrap();
    for f in ["id_ed25519", "known_hosts"] {
        std::fs::copy(tb.dir.join(f), fast.path().join(f)).unwrap();
    }
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    let cluster = fast.path().join("cluster.yaml");
    std::fs::write(&cluster, with_ssh_settings(&yaml, &["connectTimeout: 5"])).unwrap();
    let run = |args: &[&str]| clusterctl_with(&cluster, repo.path(), args);
    repo.write("db.yaml", &stateful_set("db", 1, "2"))
        .commit("db 1");
    let plan = run(&["plan", "--allow-unreachable"]);
    assert!(
        plan.stdout
            .contains("2 node(s) had volume node affinity conflict.")
            && plan
                .stdout
                .contains(&format!("its bound volume is on node {node}")),
        "{plan:?}"
    );
    ok(run(&["apply", "--yes", "--allow-unreachable"]));
    // Nothing was created elsewhere: db-0 is Pending, and says why.
    let pods = ok(run(&["get", "pods"])).stdout;
    assert_eq!(rows(&pods, "db-0")[0][2], "Pending", "{pods}");
    let described = ok(run(&["describe", "pod", "db-0"])).stdout;
    assert!(
        described.contains(&format!("its bound volume is on node {node}")),
        "{described}"
    );
    drop(_restart);

    // Back: the pod is created on its volume's node with its data.
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(node_of(&tb, &repo, "db-0").as_deref(), Some(node.as_str()));
    assert_eq!(
        in_pod(&tb, &node, "db-0", "cat /data/value").trim(),
        "precious"
    );
    let pvc = ok(clusterctl(&tb, &repo, &["get", "pvc"])).stdout;
    let r = rows(&pvc, "data-db-0");
    assert_eq!(r.len(), 1, "{pvc}");
    assert_eq!(r[0][1], "Bound", "{pvc}");
}

#[test]
fn ordered_ready_starts_one_ordinal_per_apply_and_each_keeps_its_claim() {
    let tb = Testbed::get();
    let _g = serial();
    reset_storage(&tb);
    let repo = Repo::new();
    repo.write("web.yaml", &stateful_set("web", 3, "1"))
        .commit("web");
    // One apply starts what OrderedReady allows now: the lowest missing ordinal once all below run.
    for n in 1..=3 {
        let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
        let created: Vec<&str> = plan
            .lines()
            .filter(|l| l.trim_start().starts_with("+ pod"))
            .collect();
        assert_eq!(created.len(), 1, "apply {n}: {plan}");
        assert!(
            created[0].contains(&format!("default/web-{}", n - 1)),
            "apply {n}: {plan}"
        );
        ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    }
    let out = ok(clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]));
    assert_eq!(out.code, 0, "converged: {out:?}");
    let sts = ok(clusterctl(&tb, &repo, &["get", "sts"])).stdout;
    assert_eq!(rows(&sts, "web")[0][1], "3/3", "{sts}");

    // Each pod's claim holds its own identity; a replaced pod finds its own claim again.
    for i in 0..3 {
        let pod = format!("web-{i}");
        let node = node_of(&tb, &repo, &pod).unwrap();
        assert_eq!(in_pod(&tb, &node, &pod, "cat /data/id").trim(), pod);
    }
    let node = node_of(&tb, &repo, "web-1").unwrap();
    tb.ssh_ok(
        &node,
        "docker rm -f k8s_app_web-1_default k8s_POD_web-1_default",
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(node_of(&tb, &repo, "web-1").as_deref(), Some(node.as_str()));
    let back = in_pod(&tb, &node, "web-1", "cat /data/id; wc -l < /data/starts");
    assert_eq!(back.split_whitespace().collect::<Vec<_>>(), ["web-1", "2"]);
    let pvc = ok(clusterctl(&tb, &repo, &["get", "pvc"])).stdout;
    for i in 0..3 {
        assert_eq!(rows(&pvc, &format!("data-web-{i}")).len(), 1, "{pvc}");
    }
}

const PAGE: &str = "apiVersion: v1
kind: Pod
metadata:
  name: scratch
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    env:
    - name: VERSION
      value: \"@V@\"
    command: [sleep, \"100000\"]
    volumeMounts:
    - name: cache
      mountPath: /cache
    - name: mem
      mountPath: /mem
  volumes:
  - name: cache
    emptyDir: {}
  - name: mem
    emptyDir:
      medium: Memory
      sizeLimit: 16Mi
";

#[test]
fn an_empty_dir_lives_as_long_as_its_pod_and_memory_is_a_tmpfs() {
    let tb = Testbed::get();
    let _g = serial();
    reset_storage(&tb);
    let repo = Repo::new();
    repo.write("p.yaml", &PAGE.replace("@V@", "1")).commit("p");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let node = node_of(&tb, &repo, "scratch").unwrap();
    in_pod(&tb, &node, "scratch", "echo a > /cache/f; echo b > /mem/f");
    let mounts = in_pod(&tb, &node, "scratch", "cat /proc/mounts");
    let mem: Vec<&str> = mounts.lines().filter(|l| l.contains(" /mem ")).collect();
    assert_eq!(mem.len(), 1, "{mounts}");
    assert!(mem[0].starts_with("tmpfs /mem tmpfs "), "{mounts}");
    assert!(mem[0].contains("size=16384k"), "{mounts}");

    // A container restart inside the pod keeps both.
    tb.ssh_ok(&node, "docker restart -t 1 k8s_app_scratch_default");
    assert_eq!(
        in_pod(&tb, &node, "scratch", "cat /cache/f /mem/f"),
        "a\nb\n"
    );

    // The pod replaced (its template changed): a fresh emptyDir.
    repo.write("p.yaml", &PAGE.replace("@V@", "2")).commit("p2");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let node = node_of(&tb, &repo, "scratch").unwrap();
    assert_eq!(
        in_pod(&tb, &node, "scratch", "ls -A /cache /mem"),
        "/cache:\n\n/mem:\n"
    );
}

#[test]
fn host_path_types_are_checked_before_the_containers_exist() {
    let tb = Testbed::get();
    let _g = serial();
    reset_storage(&tb);
    let pod = |ty: &str, path: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hp\nspec:\n  nodeName: k8s-node2\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, \"100000\"]\n    volumeMounts:\n    - name: h\n      mountPath: /h\n  volumes:\n  - name: h\n    hostPath:\n      path: {path}\n      type: {ty}\n"
        )
    };
    let _clean = tb.on_drop("k8s-node2", "rm -rf /tmp/clusterctl-hp");
    let repo = Repo::new();
    repo.write("hp.yaml", &pod("Directory", "/tmp/clusterctl-hp/missing"))
        .commit("missing");
    let run = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("MountVolume.SetUp failed for volume \"h\" : hostPath type check failed: /tmp/clusterctl-hp/missing is not a directory")
            || run.stderr.contains("MountVolume.SetUp failed for volume \"h\" : hostPath type check failed: /tmp/clusterctl-hp/missing is not a directory"),
        "{run:?}"
    );
    assert!(
        !managed_names(&tb, "k8s-node2")
            .iter()
            .any(|n| n.contains("_hp_")),
        "no container is created when the check fails"
    );

    // DirectoryOrCreate makes it; the container sees what the host has there.
    repo.write(
        "hp.yaml",
        &pod("DirectoryOrCreate", "/tmp/clusterctl-hp/dir"),
    )
    .commit("create");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    tb.ssh_ok("k8s-node2", "echo from-host > /tmp/clusterctl-hp/dir/f");
    assert_eq!(in_pod(&tb, "k8s-node2", "hp", "cat /h/f"), "from-host\n");

    // File on a directory is refused with the kubelet's words.
    repo.write("hp.yaml", &pod("File", "/tmp/clusterctl-hp/dir"))
        .commit("file");
    let run = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert!(
        format!("{}{}", run.stdout, run.stderr)
            .contains("hostPath type check failed: /tmp/clusterctl-hp/dir is not a file"),
        "{run:?}"
    );
}

/// A bare busybox pod `name` writing its name into the claim `solo`.
fn solo_user(name: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo {name} >> /data/users; exec sleep 3600']
    volumeMounts:
    - name: data
      mountPath: /data
  volumes:
  - name: data
    persistentVolumeClaim:
      claimName: solo
"
    )
}

const SOLO_CLAIM: &str = "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: solo
spec:
  accessModes: [ReadWriteOncePod]
  resources:
    requests:
      storage: 1Gi
";

#[test]
fn a_read_write_once_pod_claim_is_used_by_one_pod_and_the_second_waits() {
    let tb = Testbed::get();
    let _g = serial();
    reset_storage(&tb);
    let repo = Repo::new();
    repo.write("claim.yaml", SOLO_CLAIM)
        .write("a.yaml", &solo_user("solo-a"))
        .write("b.yaml", &solo_user("solo-b"))
        .commit("two users of one ReadWriteOncePod claim");
    let msg = "0/4 nodes are available: node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode.";
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(plan.stdout.contains(msg), "{plan:?}");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let pods = ok(clusterctl(&tb, &repo, &["get", "pods"])).stdout;
    assert_eq!(rows(&pods, "solo-a")[0][2], "Running", "{pods}");
    assert_eq!(rows(&pods, "solo-b")[0][2], "Pending", "{pods}");
    let described = ok(clusterctl(&tb, &repo, &["describe", "pod", "solo-b"])).stdout;
    assert!(described.contains(msg), "{described}");
    let node = node_of(&tb, &repo, "solo-a").unwrap();
    // Only solo-a's containers exist, and only it wrote to the claim.
    let on_hosts: Vec<String> = tb
        .hosts
        .iter()
        .flat_map(|(h, _)| managed_names(&tb, h))
        .filter(|n| n.contains("_solo-"))
        .collect();
    assert_eq!(
        on_hosts,
        ["k8s_POD_solo-a_default", "k8s_app_solo-a_default"],
        "{pods}"
    );
    assert_eq!(in_pod(&tb, &node, "solo-a", "cat /data/users"), "solo-a\n");

    // solo-a removed from Git: solo-b gets the claim, on its volume's node, and sees solo-a's data.
    repo.remove("a.yaml").commit("solo-a gone");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(
        node_of(&tb, &repo, "solo-b").as_deref(),
        Some(node.as_str())
    );
    assert_eq!(
        in_pod(&tb, &node, "solo-b", "cat /data/users"),
        "solo-a\nsolo-b\n"
    );
    ok(clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]));
}
