//! The core pipeline end to end on the testbed's real hosts (issue 3's acceptance): the seed's flows,
//! drift, idempotence, bad input touching no host, node loss, the cluster lock and hostile values.
//!
//! Every test that applies takes [`serial`] and starts from a cluster without managed containers (`reset`;
//! none cleans up after itself, the next one does): the repository is the whole desired state, so tests must
//! not see each other's pods.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{
    OnDrop, Repo, Testbed, WORKERS, assert_no_login, assert_writes_nothing, breaking_a_host,
    clusterctl, clusterctl_with, hosts_up, managed_names, ok, pod_rows, reset, rows, serial,
    stdout_ok, table,
};

#[test]
fn seed_deployment_is_planned_applied_and_serves() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.seed("my_nginx.yaml").commit("my-nginx");

    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    let creates: Vec<&str> = plan
        .stdout
        .lines()
        .filter(|l| l.starts_with("  + pod "))
        .collect();
    assert_eq!(creates.len(), 3, "{plan:?}");
    let mut nodes: Vec<&str> = creates
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(
        nodes, WORKERS,
        "one replica per worker, none on the tainted master: {plan:?}"
    );
    assert!(
        plan.stdout
            .contains("Plan: 3 to add, 0 to change, 0 to destroy."),
        "{plan:?}"
    );
    // plan changes nothing
    for (h, _) in &tb.hosts {
        assert!(managed_names(&tb, h).is_empty(), "plan must not touch {h}");
    }
    let detailed = clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]);
    assert_eq!(detailed.code, 2, "{detailed:?}");

    let apply = ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(
        apply
            .stdout
            .contains("Apply complete! Pods: 3 added, 0 changed, 0 destroyed."),
        "{apply:?}"
    );

    let pods = pod_rows(&tb, &repo);
    assert_eq!(pods.len(), 3, "{pods:?}");
    let mut seen_nodes = Vec::new();
    for p in &pods {
        assert!(p[0].starts_with("my-nginx-"), "{p:?}");
        assert_eq!(&p[1..4], ["1/1", "Running", "0"], "{p:?}");
        let (ip, node) = (&p[5], &p[6]);
        seen_nodes.push(node.clone());
        let page = tb.ssh_ok(
            node,
            &format!("wget -qO- http://{ip}/ || curl -fsS http://{ip}/"),
        );
        assert!(
            page.contains("Welcome to nginx!"),
            "pod {ip} on {node} served {page:?}"
        );
    }
    seen_nodes.sort();
    assert_eq!(seen_nodes, WORKERS);

    let deploy = ok(clusterctl(&tb, &repo, &["get", "deploy"])).stdout;
    let row = &rows(&deploy, "my-nginx")[0];
    assert_eq!(&row[..4], ["my-nginx", "3/3", "3", "3"], "{deploy}");

    // Converged: an empty plan, and a second apply that writes nothing on any host and takes no lock.
    let again = ok(clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]));
    assert!(again.stdout.contains("No changes."), "{again:?}");
    let second = assert_writes_nothing(&tb, || ok(clusterctl(&tb, &repo, &["apply", "--yes"])));
    assert!(second.stdout.contains("No changes."), "{second:?}");
}

#[test]
fn bare_pod_runs_and_is_deleted_when_removed_from_git() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.seed("nginx-pod.yaml").commit("sc-nginx");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let pods = pod_rows(&tb, &repo);
    assert_eq!(pods.len(), 1);
    assert_eq!(&pods[0][..3], ["sc-nginx", "1/1", "Running"], "{pods:?}");

    repo.remove("nginx-pod.yaml").commit("delete sc-nginx");
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout.contains("  - pod \"default/sc-nginx\""),
        "{plan:?}"
    );
    assert!(
        plan.stdout
            .contains("Plan: 0 to add, 0 to change, 1 to destroy."),
        "{plan:?}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let empty = ok(clusterctl(&tb, &repo, &["get", "pods"]));
    assert_eq!(empty.stdout.trim(), "", "{empty:?}");
    assert!(
        empty
            .stderr
            .contains("No resources found in default namespace."),
        "{empty:?}"
    );
    for (h, _) in &tb.hosts {
        assert!(managed_names(&tb, h).is_empty());
    }
}

#[test]
fn drift_is_repaired_and_image_changes_replace_pods() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.seed("nginx-pod.yaml").commit("sc-nginx");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let node = pod_rows(&tb, &repo)[0][6].clone();
    let app = "k8s_nginx_sc-nginx_default";

    // Removed by hand → recreated.
    tb.ssh_ok(&node, &format!("docker rm -f {app}"));
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout.contains("-/+ pod \"default/sc-nginx\""),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("removed by hand"), "{plan:?}");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(
        ok(clusterctl(&tb, &repo, &["plan"]))
            .stdout
            .contains("No changes.")
    );

    // Stopped by hand → the host's node supervisor starts it again (restartPolicy Always, the first
    // restart at once; docs/node-supervisor.md), with no clusterctl running; the plan has nothing to do.
    tb.ssh_ok(&node, &format!("docker stop -t 1 {app}"));
    let mut state = String::new();
    for _ in 0..20 {
        state = tb.ssh_ok(
            &node,
            &format!("docker inspect -f '{{{{.State.Status}}}}' {app}"),
        );
        if state.trim() == "running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(state.trim(), "running");
    assert!(
        ok(clusterctl(&tb, &repo, &["plan"]))
            .stdout
            .contains("No changes.")
    );
    let row = &pod_rows(&tb, &repo)[0];
    assert_eq!(row[2], "Running");
    assert!(row[3].starts_with("1 ("), "{row:?}");

    // Image changed in Git → replaced.
    let text = std::fs::read_to_string(repo.path().join("apps/nginx-pod.yaml")).unwrap();
    repo.write(
        "nginx-pod.yaml",
        &text.replace("nginx:1.14.2", "nginx:latest"),
    )
    .commit("new image");
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout.contains("-/+ pod \"default/sc-nginx\""),
        "{plan:?}"
    );
    assert!(
        plan.stdout.contains("\"nginx:1.14.2\" → \"nginx:latest\""),
        "{plan:?}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(
        ok(clusterctl(&tb, &repo, &["plan"]))
            .stdout
            .contains("No changes.")
    );
    let image = tb.ssh_ok(
        &node,
        &format!("docker inspect -f '{{{{.Config.Image}}}}' {app}"),
    );
    assert_eq!(image.trim(), "nginx:latest");

    // A Deployment's image change rolls its pods over to a new ReplicaSet: the plan shows the first step
    // (one surge pod, nothing destroyed yet), and apply drives the rollout to the end.
    repo.remove("nginx-pod.yaml")
        .seed("my_nginx.yaml")
        .commit("deployment");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let text = std::fs::read_to_string(repo.path().join("apps/my_nginx.yaml")).unwrap();
    repo.write(
        "my_nginx.yaml",
        &text.replace("image: nginx", "image: nginx:1.14.2"),
    )
    .commit("pin");
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout
            .contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{plan:?}"
    );
    assert!(
        plan.stdout
            .contains("rollout of deployment my-nginx (RollingUpdate"),
        "{plan:?}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let images: Vec<String> = tb
        .hosts
        .iter()
        .flat_map(|(h, _)| {
            tb.ssh_ok(
                h,
                "docker ps --filter label=clusterctl.io/managed=true --filter name=k8s_my-nginx --format '{{.Image}}'",
            )
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(images, ["nginx:1.14.2"; 3], "every pod rolled over");
    assert!(
        ok(clusterctl(&tb, &repo, &["plan"]))
            .stdout
            .contains("No changes.")
    );
    let deploy = ok(clusterctl(&tb, &repo, &["get", "deploy"])).stdout;
    assert_eq!(
        &rows(&deploy, "my-nginx")[0][..4],
        ["my-nginx", "3/3", "3", "3"],
        "{deploy}"
    );
}

#[test]
fn bad_input_is_reported_with_positions_and_touches_no_host() {
    let tb = Testbed::get();
    // No serial(): it counts only its own key's logins.
    let _up = hosts_up();
    let repo = Repo::new();
    repo.write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [oops\n")
        .write("dupkey.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\nspec:\n  containers:\n  - name: c\n    image: nginx\n")
        .write("kind.yaml", "apiVersion: v1\nkind: Gizmo\nmetadata:\n  name: g\n")
        .write(
            "selector.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: db\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
        )
        .write(
            "port.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n    ports:\n    - containerPort: 70000\n",
        )
        .commit("bad");
    // Run with a key of its own, so only these runs' logins are counted.
    assert_no_login(&tb, |cluster| {
        for cmd in [&["plan"][..], &["apply", "--yes"], &["validate"]] {
            let run = clusterctl_with(cluster, repo.path(), cmd);
            assert_ne!(run.code, 0, "{cmd:?} must fail: {run:?}");
            for needle in [
                "apps/broken.yaml:5:1: invalid YAML",
                "apps/dupkey.yaml:5:3: metadata.name: duplicate key",
                "apps/kind.yaml:2:7: kind: unsupported kind \"Gizmo\"",
                "apps/selector.yaml:12:9: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"db\"}: `selector` does not match template `labels`",
                "apps/port.yaml:10:22: spec.containers[0].ports[0].containerPort: Invalid value: 70000",
                "70000",
            ] {
                assert!(
                    run.stderr.contains(needle),
                    "{cmd:?}: missing {needle:?} in {run:?}"
                );
            }
        }
    });
}

#[test]
fn an_unreachable_host_is_not_ready_and_the_others_are_applied() {
    let tb = Testbed::get();
    let _g = serial();
    let _down = breaking_a_host();
    reset(&tb);
    let repo = Repo::new();
    repo.seed("my_nginx.yaml").commit("my-nginx");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testbed");
    stdout_ok(
        "testbed stop",
        Command::new("bash")
            .args([script, "stop", "k8s-node3"])
            .output()
            .unwrap(),
    );
    struct Restart(&'static str);
    impl Drop for Restart {
        fn drop(&mut self) {
            let _ = Command::new("bash")
                .args([self.0, "start", "k8s-node3"])
                .output();
        }
    }
    let _restart = Restart(script);
    // Every command waits for the stopped host's connect timeout: 2 s here instead of the default 10 s.
    let fast = tempfile::tempdir().unwrap();
    for f in ["id_ed25519", "known_hosts"] {
        std::fs::copy(tb.dir.join(f), fast.path().join(f)).unwrap();
    }
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    let cluster = fast.path().join("cluster.yaml");
    std::fs::write(
        &cluster,
        crate::common::with_ssh_settings(&yaml, &["connectTimeout: 5"]),
    )
    .unwrap();
    let run = |args: &[&str]| clusterctl_with(&cluster, repo.path(), args);

    let nodes = ok(run(&["get", "nodes"])).stdout;
    assert_eq!(rows(&nodes, "k8s-node3")[0][1], "NotReady", "{nodes}");
    assert_eq!(rows(&nodes, "k8s-node1")[0][1], "Ready", "{nodes}");
    let pods = ok(run(&["get", "pods", "-o", "wide"])).stdout;
    let on3: Vec<_> = pods.lines().filter(|l| l.contains("k8s-node3")).collect();
    assert_eq!(on3.len(), 1, "{pods}");
    assert!(on3[0].contains("Unknown"), "{pods}");

    // The other hosts are planned and applied normally: add a bare pod, which lands on a reachable worker.
    repo.seed("nginx-pod.yaml").commit("sc-nginx");
    // Exit 3: a host could not be observed (see the README's exit codes).
    let plan = run(&["plan"]);
    assert_eq!(plan.code, 3, "{plan:?}");
    assert!(plan.stderr.contains("k8s-node3 is unreachable"), "{plan:?}");
    // The pod, and on each of the 3 reachable hosts the cluster DNS Service loses the unreachable
    // host's DNS pod as an endpoint (as Kubernetes drops a NotReady node's pods from Endpoints), so no
    // query is sent to a server nobody can reach.
    let dns_hosts = if crate::common::cluster_dns_on(&tb) {
        3
    } else {
        0
    };
    assert!(
        plan.stdout.contains(&format!(
            "Plan: 1 to add, {dns_hosts} to change, 0 to destroy."
        )),
        "{plan:?}"
    );
    assert_eq!(
        plan.stdout
            .matches("kube-system/kube-dns:dns: endpoint ")
            .count(),
        dns_hosts,
        "{plan:?}"
    );
    let apply = run(&["apply", "--yes"]);
    assert_eq!(apply.code, 3, "{apply:?}");
    let pods: Vec<Vec<String>> = table(&ok(run(&["get", "pods", "-o", "wide"])).stdout)
        .into_iter()
        .skip(1)
        .collect();
    let sc = pods
        .iter()
        .find(|p| p[0] == "sc-nginx")
        .expect("sc-nginx listed");
    assert_eq!(sc[2], "Running");
    assert_ne!(sc[6], "k8s-node3");
    drop(_restart);
}

/// POSIX single quotes around `s`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn concurrent_applies_take_turns_through_the_lock() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    // The workers' `docker create` of this test's containers takes 2 s longer (a shim ahead of docker on
    // PATH), so the first apply surely still holds the lock when the second one reaches it.
    let shim = "#!/bin/sh\n[ \"$1\" = create ] && case \"$*\" in *lockrace*) sleep 2;; esac\nexec /usr/bin/docker \"$@\"\n";
    let _shims: Vec<OnDrop> = WORKERS
        .iter()
        .map(|h| {
            tb.ssh_ok(
                h,
                &format!(
                    "printf '%s' {} > /usr/local/bin/docker && chmod 755 /usr/local/bin/docker",
                    sh_quote(shim)
                ),
            );
            tb.on_drop(h, "rm -f /usr/local/bin/docker")
        })
        .collect();
    let repo = Repo::new();
    repo.write(
        "lockrace.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: lockrace\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: lockrace\n  template:\n    metadata:\n      labels:\n        app: lockrace\n    spec:\n      containers:\n      - name: web\n        image: nginx\n",
    )
    .commit("lockrace");
    let cluster: PathBuf = tb.cluster_yaml();
    let path = repo.path().to_path_buf();
    std::thread::scope(|s| {
        let first = s.spawn(|| clusterctl_with(&cluster, &path, &["apply", "--yes"]));
        // The lock is taken on the hosts in name order: k8s-master first.
        let started = std::time::Instant::now();
        let holder = loop {
            let out = tb.ssh("k8s-master", "cat /var/lib/clusterctl/lock/holder");
            if out.status.success() && !out.stdout.is_empty() {
                break String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                !first.is_finished() && started.elapsed() < std::time::Duration::from_secs(60),
                "the first apply never held the lock"
            );
        };
        let holder: serde_json::Value = serde_json::from_str(&holder).unwrap();
        let second = clusterctl_with(&cluster, &path, &["apply", "--yes"]);
        assert!(
            !first.is_finished(),
            "the first apply ended while the second ran: they did not overlap"
        );
        assert_ne!(second.code, 0, "{second:?}");
        assert!(
            second.stderr.contains(&format!(
                "locked by another apply (on host k8s-master): held by {}@{} (pid {}) applying commit {}",
                holder["user"].as_str().unwrap(),
                holder["machine"].as_str().unwrap(),
                holder["pid"],
                holder["commit"].as_str().unwrap()
            )),
            "{second:?}"
        );
        let first = first.join().unwrap();
        assert_eq!(first.code, 0, "{first:?}");
        assert!(
            first
                .stdout
                .contains("Pods: 3 added, 0 changed, 0 destroyed."),
            "{first:?}"
        );
    });
    let total: usize = WORKERS.iter().map(|h| managed_names(&tb, h).len()).sum();
    assert_eq!(total, 6, "3 pods × (sandbox + app), no duplicates");
    for (h, _) in &tb.hosts {
        let lock = tb.ssh(h, "test -e /var/lib/clusterctl/lock");
        assert!(!lock.status.success(), "{h}: the lock was not released");
    }
}

#[test]
fn hostile_values_reach_docker_verbatim_and_run_nothing() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    for (h, _) in &tb.hosts {
        tb.ssh_ok(h, "rm -f /tmp/pwned");
    }
    let hostile = [
        "$(touch /tmp/pwned)",
        "; rm -rf / ; touch /tmp/pwned",
        "`touch /tmp/pwned`",
        "it's \"quoted\"",
        "line1\nline2",
        "-rf",
    ];
    let env_yaml: String = hostile
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "    - name: V{i}\n      value: {}\n",
                serde_json::to_string(v).unwrap()
            )
        })
        .collect();
    let args_yaml: String = hostile
        .iter()
        .map(|v| format!("    - {}\n", serde_json::to_string(v).unwrap()))
        .collect();
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hostile\nspec:\n  containers:\n  - name: app\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"exec sleep 3600\", \"--\"]\n    args:\n{args_yaml}    env:\n{env_yaml}"
    );
    let repo = Repo::new();
    repo.write("hostile.yaml", &pod).commit("hostile");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let node = pod_rows(&tb, &repo)[0][6].clone();
    let env = tb.ssh_ok(
        &node,
        "docker inspect -f '{{json .Config.Env}}' k8s_app_hostile_default",
    );
    let env: Vec<String> = serde_json::from_str(env.trim()).unwrap();
    for (i, v) in hostile.iter().enumerate() {
        assert!(
            env.contains(&format!("V{i}={v}")),
            "env V{i} must arrive byte-exact: {env:?}"
        );
    }
    let args = tb.ssh_ok(
        &node,
        "docker inspect -f '{{json .Args}}' k8s_app_hostile_default",
    );
    let args: Vec<String> = serde_json::from_str(args.trim()).unwrap();
    let tail: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .rev()
        .take(hostile.len())
        .rev()
        .collect();
    assert_eq!(
        tail, hostile,
        "args must arrive byte-exact, one element each"
    );
    for (h, _) in &tb.hosts {
        let canary = tb.ssh(h, "test -e /tmp/pwned");
        assert!(
            !canary.status.success(),
            "canary created on {h}: a value reached a shell"
        );
    }
}

#[test]
fn unknown_host_keys_are_refused_with_their_fingerprint() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    std::fs::write(dir.path().join("cluster.yaml"), yaml).unwrap();
    std::fs::copy(tb.identity_file(), dir.path().join("id_ed25519")).unwrap();
    std::fs::write(dir.path().join("known_hosts"), "").unwrap();
    let repo = Repo::new();
    repo.seed("nginx-pod.yaml").commit("sc-nginx");
    let run = clusterctl_with(
        &dir.path().join("cluster.yaml"),
        repo.path(),
        &["get", "nodes"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(table(&run.stdout).len(), 1 + tb.hosts.len(), "{run:?}");
    for row in table(&run.stdout).into_iter().skip(1) {
        assert_eq!(row[1], "NotReady", "{run:?}");
    }
    // The fingerprint shown is the host's real key's, and the hint pins exactly that host.
    let pubkey = tb.exec("k8s-node1", &["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]);
    let key_file = dir.path().join("node1.pub");
    std::fs::write(&key_file, &pubkey.stdout).unwrap();
    let fp = stdout_ok(
        "ssh-keygen -lf",
        Command::new("ssh-keygen")
            .arg("-lf")
            .arg(&key_file)
            .output()
            .unwrap(),
    );
    let fp = fp.split_whitespace().nth(1).unwrap().to_string();
    assert!(
        run.stderr.contains(&format!(
            "k8s-node1 is unreachable: host key is not known ({fp})"
        )),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "ssh-keyscan -t ed25519 -p 22 {} >> ",
            tb.addr("k8s-node1")
        )),
        "{run:?}"
    );
    // Apply touches no host it cannot verify: with no lock host verified it cannot take the lease
    // (docs/locking.md), so it stops there, and nothing is created anywhere.
    let apply = clusterctl_with(
        &dir.path().join("cluster.yaml"),
        repo.path(),
        &["apply", "--yes"],
    );
    assert_eq!(apply.code, 3, "{apply:?}");
    assert!(
        apply
            .stderr
            .contains("it needs 2 of the 3 lock hosts, 0 granted it"),
        "{apply:?}"
    );
    for (h, _) in &tb.hosts {
        assert!(managed_names(&tb, h).is_empty(), "{h} was touched");
    }
}

#[test]
fn a_held_lock_blocks_apply_and_names_its_holder_until_unlocked() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.seed("nginx-pod.yaml").commit("sc-nginx");
    let holder = r#"{"user":"alice","machine":"laptop-7","commit":"abc1234","started":"2026-11-26T10:00:00Z","pid":4242}"#;
    // A record without a lease (an older clusterctl's) on two of the three lock hosts: a majority is held.
    let held_on = ["k8s-node1", "k8s-node2"];
    for h in held_on {
        tb.ssh_ok(
            h,
            &format!("mkdir -p /var/lib/clusterctl/lock && printf '%s' '{holder}' > /var/lib/clusterctl/lock/holder"),
        );
    }
    let blocked = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_eq!(blocked.code, 5, "{blocked:?}");
    assert!(
        blocked.stderr.contains(
            "locked by another apply (on host k8s-node1): held by alice@laptop-7 (pid 4242) applying commit abc1234 since 2026-11-26T10:00:00Z"
        ),
        "{blocked:?}"
    );
    for (h, _) in &tb.hosts {
        assert!(
            managed_names(&tb, h).is_empty(),
            "a blocked apply touched {h}"
        );
        // Locks taken on earlier hosts were given back.
        let lock = tb.ssh(h, "test -e /var/lib/clusterctl/lock");
        assert_eq!(
            lock.status.success(),
            held_on.contains(&h.as_str()),
            "lock state on {h}"
        );
    }
    let unlock = ok(clusterctl(&tb, &repo, &["unlock"]));
    assert!(
        unlock
            .stderr
            .contains("k8s-node2: released lock held by alice@laptop-7"),
        "{unlock:?}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(pod_rows(&tb, &repo).len(), 1);
}

#[test]
fn a_pod_that_fits_nowhere_stays_pending_with_the_scheduler_message() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write(
        "big.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\nspec:\n  containers:\n  - name: web\n    image: nginx\n    resources:\n      requests:\n        cpu: \"5\"\n",
    )
    .commit("big");
    let msg = "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 3 Insufficient cpu.";
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout.contains(&format!("! pod default/big: {msg}")),
        "{plan:?}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let pods = pod_rows(&tb, &repo);
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(
        (
            pods[0][0].as_str(),
            pods[0][2].as_str(),
            pods[0][6].as_str()
        ),
        ("big", "Pending", "<none>")
    );
    let describe = ok(clusterctl(&tb, &repo, &["describe", "pod", "big"])).stdout;
    assert!(describe.contains("Status:           Pending"), "{describe}");
    assert!(describe.contains("FailedScheduling  "), "{describe}");
    assert!(describe.contains(msg), "{describe}");
    for (h, _) in &tb.hosts {
        assert!(
            managed_names(&tb, h).is_empty(),
            "nothing runs for a Pending pod ({h})"
        );
    }
}
