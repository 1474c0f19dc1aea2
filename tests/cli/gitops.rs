//! `create`, saved plans and `show` on the real binary over the fake hosts (no root, docker or sshd).

use std::process::Command;

use super::World;

/// `kubectl create … --dry-run=client -o yaml`, or `None` (saying so) where kubectl is not installed.
fn kubectl(args: &[&str]) -> Option<String> {
    match Command::new("kubectl").args(args).output() {
        Ok(out) => {
            assert!(out.status.success(), "kubectl {args:?}: {out:?}");
            Some(String::from_utf8(out.stdout).unwrap())
        }
        Err(e) => {
            eprintln!("SKIPPED: kubectl is not installed here ({e}); the comparison needs it");
            None
        }
    }
}

#[test]
fn create_dry_run_yaml_equals_kubectl() {
    let w = World::new();
    for args in [
        &[
            "create",
            "deployment",
            "k8s-nginx",
            "--image=nginx",
            "-r",
            "3",
        ][..],
        &[
            "create",
            "deployment",
            "web",
            "--image=nginx:1.14.2",
            "--image=busybox",
            "--port",
            "80",
        ],
        &[
            "create",
            "service",
            "nodeport",
            "k8s-nginx",
            "--tcp=8080:80",
        ],
        &[
            "create",
            "service",
            "clusterip",
            "web",
            "--tcp=80",
            "--tcp=443:8443",
        ],
        &[
            "-n",
            "team-a",
            "create",
            "deployment",
            "web",
            "--image=nginx",
        ],
    ] {
        let mut k: Vec<&str> = args.to_vec();
        k.extend(["--dry-run=client", "-o", "yaml"]);
        let Some(want) = kubectl(&k) else { return };
        let mut ours: Vec<&str> = args.to_vec();
        ours.extend(["--dry-run", "-o", "yaml"]);
        let run = w.run(&ours);
        assert_eq!(run.code, 0, "{}", run.shown());
        assert_eq!(run.stdout, want, "{args:?}");
    }
}

#[test]
fn create_writes_commits_and_refuses_a_second_time() {
    let w = World::new();
    let run = w.run(&[
        "create",
        "deployment",
        "k8s-nginx",
        "--image=nginx",
        "-r",
        "3",
        "--commit",
    ]);
    assert_eq!(run.code, 0, "{}", run.shown());
    assert!(
        run.stdout.starts_with(
            "deployment.apps/k8s-nginx created (apps/deployment-k8s-nginx.yaml, commit "
        ),
        "{}",
        run.shown()
    );
    let written = std::fs::read_to_string(w.repo().join("apps/deployment-k8s-nginx.yaml")).unwrap();
    assert!(written.contains("replicas: 3"), "{written}");
    // Committed: the plan (which reads only the commit) wants 3 pods.
    let plan = w.run(&["plan"]);
    assert!(plan.stdout.contains("Plan: 3 to add"), "{}", plan.shown());
    let again = w.run(&["create", "deployment", "k8s-nginx", "--image=busybox"]);
    assert_eq!(again.code, 1, "{}", again.shown());
    assert!(
        again.stderr.contains(
            "Error: failed to create deployment: deployments.apps \"k8s-nginx\" already exists (apps/deployment-k8s-nginx.yaml:1:1)"
        ),
        "{}",
        again.shown()
    );
    let svc = w.run(&[
        "create",
        "service",
        "nodeport",
        "k8s-nginx",
        "--tcp=8080:80",
    ]);
    assert_eq!(svc.code, 0, "{}", svc.shown());
    assert!(
        svc.stdout.contains(
            "service/k8s-nginx created (apps/service-k8s-nginx.yaml; commit it to deploy)"
        ),
        "{}",
        svc.shown()
    );
    let bad = w.run(&["create", "deployment", "x", "--image=my_repo/Foo.Bar:1"]);
    assert_eq!(bad.code, 64, "{}", bad.shown());
    let json = w.run(&[
        "create",
        "deployment",
        "x",
        "--image=nginx",
        "--dry-run",
        "-o",
        "json",
    ]);
    assert_eq!(json.code, 64, "{}", json.shown());
}

#[test]
fn saved_plan_show_and_markdown() {
    let w = World::new();
    w.manifest("web.yaml", &super::deployment("web", 2))
        .commit("web");
    let file = w.path().join("p.json");
    let f = file.to_str().unwrap();
    let md = w.run(&["plan", "--out", f, "-o", "markdown"]);
    assert_eq!(md.code, 0, "{}", md.shown());
    assert!(
        md.stdout.starts_with("### clusterctl plan — commit `"),
        "{}",
        md.shown()
    );
    assert!(
        md.stdout.contains("| Host | Pods to add |"),
        "{}",
        md.shown()
    );
    let live = w.run(&["plan", "-o", "json"]);
    let shown = w.run(&["show", f, "-o", "json"]);
    assert_eq!(shown.stdout, live.stdout);
    let human = w.run(&["show", f]);
    let live_human = w.run(&["plan"]);
    assert_eq!(human.stdout, live_human.stdout);
    assert_eq!(w.run(&["show", f, "-o", "markdown"]).stdout, md.stdout);
    let not_a_plan = w.path().join("cluster.yaml");
    let bad = w.run(&["show", not_a_plan.to_str().unwrap()]);
    assert_eq!(bad.code, 65, "{}", bad.shown());
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let w = World::new();
    let bash = w.run(&["completion", "bash"]);
    assert_eq!(bash.code, 0, "{}", bash.shown());
    // bash accepts the script and registers a completion for clusterctl.
    let script = w.path().join("clusterctl.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let out = Command::new("bash")
        .args([
            "--norc",
            "-c",
            &format!("source {} && complete -p clusterctl", script.display()),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("clusterctl"),
        "{out:?}"
    );
    for (shell, marker) in [
        ("zsh", "#compdef clusterctl"),
        ("fish", "complete -c clusterctl"),
    ] {
        let run = w.run(&["completion", shell]);
        assert_eq!(run.code, 0, "{}", run.shown());
        assert!(run.stdout.contains(marker), "{shell}: {}", run.shown());
        for sub in ["plan", "apply", "show", "create"] {
            assert!(run.stdout.contains(sub), "{shell} completes {sub}");
        }
    }
    let man = w.run(&["man"]);
    assert_eq!(man.code, 0, "{}", man.shown());
    assert!(man.stdout.contains(".TH clusterctl 1"), "{}", man.shown());
    assert!(
        man.stdout.contains("clusterctl\\-show(1)") || man.stdout.contains("show"),
        "{}",
        man.stdout
    );
    let dir = w.path().join("man1");
    let pages = w.run(&["man", "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(pages.code, 0, "{}", pages.shown());
    let plan = std::fs::read_to_string(dir.join("clusterctl-plan.1")).unwrap();
    assert!(plan.contains(".TH clusterctl-plan 1"), "{plan}");
    assert!(plan.contains("\\-\\-out"), "{plan}");
    assert!(w.run(&["completion", "tcsh"]).code == 64);
}

#[test]
fn rollout_restart_annotates_the_template_in_the_file_and_commits() {
    let w = World::new();
    w.manifest(
        "web.yaml",
        &format!("# the web tier\n{}", super::deployment("web", 2)),
    )
    .commit("web");
    let before = w.run(&["plan"]);
    assert_eq!(before.code, 0, "{}", before.shown());
    let run = w.run(&["rollout", "restart", "deploy/web"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    assert_eq!(
        run.stdout,
        "deployment.apps/web restarted (apps/web.yaml; commit it to deploy)\n",
        "{}",
        run.shown()
    );
    let text = std::fs::read_to_string(w.repo().join("apps/web.yaml")).unwrap();
    // Only the annotation is added: the comment and every other line stay as they were.
    let without: String = text
        .lines()
        .filter(|l| !l.contains("annotations:") && !l.contains("kubectl.kubernetes.io/restartedAt"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        without,
        format!("# the web tier\n{}", super::deployment("web", 2))
    );
    assert!(
        text.contains(
            "    metadata:\n      annotations:\n        kubectl.kubernetes.io/restartedAt: \""
        ),
        "{text}"
    );
    // Not committed yet: the plan (which reads the commit) is unchanged.
    assert_eq!(w.run(&["plan"]).stdout, before.stdout);
    let again = w.run(&["rollout", "restart", "deployment/web", "--commit"]);
    assert_eq!(again.code, 0, "{}", again.shown());
    assert!(
        again
            .stdout
            .starts_with("deployment.apps/web restarted (apps/web.yaml, commit "),
        "{}",
        again.shown()
    );
    let text2 = std::fs::read_to_string(w.repo().join("apps/web.yaml")).unwrap();
    assert_eq!(
        text2.matches("kubectl.kubernetes.io/restartedAt").count(),
        1,
        "a second restart replaces the first: {text2}"
    );
    // Committed: a new pod template, so new pod names (a new pod-template-hash) in the plan.
    let after = w.run(&["plan"]);
    assert_eq!(after.code, 0, "{}", after.shown());
    assert_ne!(after.stdout, before.stdout, "{}", after.shown());
    let missing = w.run(&["rollout", "restart", "deploy/db"]);
    assert_eq!(missing.code, 1, "{}", missing.shown());
    assert!(
        missing
            .stderr
            .contains("deployments.apps \"db\" not found in apps"),
        "{}",
        missing.shown()
    );
    assert_eq!(w.run(&["rollout", "restart", "svc/web"]).code, 64);
}
