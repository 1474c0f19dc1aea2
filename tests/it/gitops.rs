//! GitOps and CI on the testbed (issue 13): saved plans bound to what was observed — refused when a host
//! changed, otherwise applied exactly as saved — `--max-destroy`, and the markdown plan.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{Repo, Run, Testbed, managed_names, ok, pod_rows, reset, serial};

/// clusterctl with extra environment variables, stdin closed (as in CI).
fn clusterctl_env(tb: &Testbed, repo: &Repo, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_clusterctl"))
        .arg("--cluster")
        .arg(tb.cluster_yaml())
        .arg("--repo")
        .arg(repo.path())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run clusterctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(tb: &Testbed, repo: &Repo, args: &[&str]) -> Run {
    clusterctl_env(tb, repo, args, &[("NO_COLOR", "1")])
}

fn bare_pod(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: web\n    image: nginx\n"
    )
}

/// The steps of a saved plan as the shell lines the transport sends (`Cmd::to_shell_line`), each with
/// whether it is an image pull (`runtime::docker::pull_cmd`: `sh -c … clusterctl-pull POLICY IMAGE`).
fn saved_lines(file: &Path) -> Vec<(String, bool)> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut out = Vec::new();
    for c in v["plan"]["changes"].as_array().unwrap() {
        for s in c["steps"].as_array().unwrap() {
            let mut line =
                shell_escape::unix::escape(s["program"].as_str().unwrap().into()).into_owned();
            for a in s["args"].as_array().unwrap() {
                line.push(' ');
                line.push_str(&shell_escape::unix::escape(a.as_str().unwrap().into()));
            }
            let pull = s["args"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "clusterctl-pull");
            out.push((line, pull));
        }
    }
    out
}

/// The commands apply ran, from its debug log: `run: LINE host=…`.
fn executed(stderr: &str) -> Vec<String> {
    let marker = "clusterctl::apply: run: ";
    stderr
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find(marker)? + marker.len()..];
            Some(rest[..rest.rfind(" host=").unwrap_or(rest.len())].to_string())
        })
        .collect()
}

/// Every host's managed containers (name → id), the proof that nothing was created or removed.
fn containers(tb: &Testbed) -> BTreeMap<String, Vec<String>> {
    tb.hosts
        .iter()
        .map(|(h, _)| {
            let out = tb.ssh_ok(
                h,
                "docker ps -a --filter label=clusterctl.io/managed=true --format '{{.ID}} {{.Names}} {{.State}}' | sort",
            );
            (h.clone(), out.lines().map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn saved_plan_applies_exactly_its_steps_and_is_refused_when_stale() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.seed("my_nginx.yaml").commit("my-nginx");
    ok(run(&tb, &repo, &["apply", "--yes"]));

    // The plan is saved at commit B; HEAD then moves on to C. Applying the file applies B, not a re-plan.
    repo.write("saved-a.yaml", &bare_pod("saved-a")).commit("B");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.json");
    let file_s = file.to_str().unwrap();
    let md = ok(run(
        &tb,
        &repo,
        &["plan", "--out", file_s, "-o", "markdown"],
    ));
    assert!(
        md.stdout
            .contains("**Plan: 1 to add, 0 to change, 0 to destroy.**"),
        "{md:?}"
    );
    assert!(md.stdout.contains("<details><summary><b>"), "{md:?}");
    assert!(md.stderr.contains("Saved the plan to"), "{md:?}");
    let shown = ok(run(&tb, &repo, &["show", file_s]));
    assert!(
        shown.stdout.contains("pod \"default/saved-a\""),
        "{shown:?}"
    );
    let shown_json = ok(run(&tb, &repo, &["show", file_s, "-o", "json"]));
    let live_json = ok(run(&tb, &repo, &["plan", "-o", "json"]));
    assert_eq!(
        shown_json.stdout, live_json.stdout,
        "show -o json is the plan JSON"
    );
    repo.write("saved-c.yaml", &bare_pod("saved-c")).commit("C");

    let applied = clusterctl_env(
        &tb,
        &repo,
        &["apply", "--yes", file_s],
        &[
            ("NO_COLOR", "1"),
            ("CLUSTERCTL_LOG", "clusterctl::apply=debug"),
        ],
    );
    assert_eq!(applied.code, 0, "{applied:?}");
    assert!(
        applied.stdout.contains("Apply complete! Pods: 1 added"),
        "{applied:?}"
    );
    // The commands run are the saved steps, one for one (pulls run once per image and host, first).
    let saved = saved_lines(&file);
    let mut ran = executed(&applied.stderr);
    let mut want: Vec<String> = saved.iter().filter(|l| !l.1).map(|l| l.0.clone()).collect();
    assert!(!ran.is_empty(), "{applied:?}");
    ran.sort();
    want.sort();
    assert_eq!(ran, want, "apply ran other commands than the saved ones");
    let pulls = applied.stderr.matches("clusterctl::apply: pull: ").count();
    assert_eq!(pulls, saved.iter().filter(|l| l.1).count(), "{applied:?}");
    let pods: Vec<String> = pod_rows(&tb, &repo)
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert!(pods.contains(&"saved-a".to_string()), "{pods:?}");
    assert!(
        !pods.contains(&"saved-c".to_string()),
        "C was never planned: {pods:?}"
    );

    // Stale: a managed container removed by hand after the plan was saved.
    let file2 = dir.path().join("p2.json");
    let file2_s = file2.to_str().unwrap();
    ok(run(&tb, &repo, &["plan", "--out", file2_s]));
    let victim = managed_names(&tb, "k8s-node1")
        .into_iter()
        .find(|n| n.starts_with("k8s_my-nginx_"))
        .expect("a my-nginx container on k8s-node1");
    tb.ssh_ok("k8s-node1", &format!("docker rm -f {victim}"));
    let before = containers(&tb);
    let since = tb.ssh_ok("k8s-node1", "date +%s.%N").trim().to_string();
    let stale = run(&tb, &repo, &["apply", "--yes", file2_s]);
    assert_eq!(stale.code, 6, "{stale:?}");
    assert!(
        stale.stderr.contains(&format!(
            "plan is stale: k8s-node1 changed since the plan was made (container {victim} removed); run plan again"
        )),
        "{stale:?}"
    );
    assert_eq!(containers(&tb), before, "a stale plan changed a host");
    for (h, _) in &tb.hosts {
        let events = tb.ssh_ok(
            h,
            &format!("docker events --since {since} --until $(date +%s.%N) --filter type=container --format '{{{{.Action}}}} {{{{.Actor.Attributes.name}}}}'"),
        );
        assert!(events.trim().is_empty(), "{h}: {events}");
        tb.ssh_ok(h, "test ! -e /var/lib/clusterctl/lock");
    }

    // --max-destroy: the repair replaces the pod (one destroy), so 0 refuses it and changes nothing.
    let guarded = run(&tb, &repo, &["apply", "--yes", "--max-destroy", "0"]);
    assert_eq!(guarded.code, 6, "{guarded:?}");
    assert!(
        guarded.stderr.contains("more than --max-destroy 0"),
        "{guarded:?}"
    );
    assert_eq!(containers(&tb), before, "--max-destroy changed a host");
    ok(run(&tb, &repo, &["apply", "--yes", "--max-destroy", "1"]));
}
