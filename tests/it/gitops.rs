//! GitOps and CI on the testbed (issue 13): saved plans bound to what was observed — refused when a host
//! changed, otherwise applied exactly as saved — `--max-destroy`, the markdown plan, and the CI jobs of
//! docs/ci.md (GitHub Actions and GitLab CI) run as scripts without a terminal.

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

/// The GitHub workflow of docs/ci.md, parsed.
fn github_workflow() -> serde_json::Value {
    let doc = std::fs::read_to_string(crate::common::repo_root().join("docs/ci.md")).unwrap();
    let at = doc
        .find("<!-- ci:github -->")
        .expect("docs/ci.md marks its workflow");
    let rest = &doc[at..];
    let start = rest.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = rest[start..].find("\n```").unwrap();
    serde_saphyr::from_str(&rest[start..start + end]).expect("the workflow is YAML")
}

/// `(step, code)` pairs the exit-code table of docs/ci.md documents.
fn documented_codes() -> Vec<(String, i32)> {
    let doc = std::fs::read_to_string(crate::common::repo_root().join("docs/ci.md")).unwrap();
    let mut out = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 3 && (cells[1] == "Plan" || cells[1] == "Apply") {
            for code in cells[2].split(',') {
                if let Ok(c) = code.trim().parse() {
                    out.push((cells[1].to_string(), c));
                }
            }
        }
    }
    out
}

/// Runs one step's `run:` script as the GitHub runner does (`bash -e -o pipefail`), stdin closed.
fn step(job: &serde_json::Value, name: &str, dir: &Path, env: &[(String, String)]) -> Run {
    let script = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in docs/ci.md"))["run"]
        .as_str()
        .unwrap()
        .to_string();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_clusterctl"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
        .current_dir(dir)
        .env("PATH", path)
        .env("CI", "true")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn ci_steps_of_the_docs_run_without_a_terminal() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let wf = github_workflow();
    let (plan_job, apply_job) = (&wf["jobs"]["plan"], &wf["jobs"]["apply"]);
    assert_eq!(apply_job["concurrency"]["group"], "clusterctl-apply");
    let documented = documented_codes();

    // A manifests repository as docs/ci.md describes it: cluster.yaml points at .clusterctl/.
    let repo = Repo::new();
    repo.seed("my_nginx.yaml");
    let inventory = std::fs::read_to_string(tb.cluster_yaml())
        .unwrap()
        .replace(
            "identityFile: id_ed25519",
            "identityFile: .clusterctl/id_ed25519",
        )
        .replace(
            "knownHostsFile: known_hosts",
            "knownHostsFile: .clusterctl/known_hosts",
        );
    assert!(
        inventory.contains(".clusterctl/id_ed25519")
            && inventory.contains(".clusterctl/known_hosts")
    );
    std::fs::write(repo.path().join("cluster.yaml"), inventory).unwrap();
    std::fs::write(
        repo.path().join(".gitignore"),
        ".clusterctl/\nplan.json\nplan.md\n",
    )
    .unwrap();
    repo.commit("manifests and inventory");
    let output = repo.path().join("github-output");
    let env: Vec<(String, String)> = vec![
        (
            "SSH_PRIVATE_KEY".into(),
            std::fs::read_to_string(tb.identity_file()).unwrap(),
        ),
        (
            "SSH_KNOWN_HOSTS".into(),
            std::fs::read_to_string(tb.known_hosts()).unwrap(),
        ),
        ("GITHUB_OUTPUT".into(), output.display().to_string()),
    ];
    let mut checked = Vec::new();
    let mut check = |what: &str, run: &Run, step_name: &str, code: i32| {
        assert!(
            !run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'),
            "{what}: an ANSI escape without a terminal: {run:?}"
        );
        assert!(
            documented.contains(&(step_name.to_string(), code)),
            "{what}: exit code {code} of step {step_name} is not in docs/ci.md's table: {run:?}"
        );
        checked.push(format!("{step_name} {code}"));
    };
    let plan = |repo: &Repo| {
        let _ = std::fs::remove_file(&output);
        let run = step(plan_job, "Plan", repo.path(), &env);
        let code: i32 = std::fs::read_to_string(&output)
            .unwrap_or_default()
            .trim()
            .strip_prefix("exitcode=")
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("the Plan step wrote no exitcode: {run:?}"));
        (run, code)
    };

    let setup = step(plan_job, "Set up SSH", repo.path(), &env);
    assert_eq!(setup.code, 0, "{setup:?}");
    let mode = std::fs::metadata(repo.path().join(".clusterctl/id_ed25519")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o077,
        0
    );

    let (run, code) = plan(&repo);
    assert_eq!((run.code, code), (0, 2), "changes: {run:?}");
    check("plan with changes", &run, "Plan", code);
    let md = std::fs::read_to_string(repo.path().join("plan.md")).unwrap();
    assert!(md.starts_with("### clusterctl plan — commit `"), "{md}");
    assert!(!md.contains('\u{1b}'), "{md}");

    let applied = step(apply_job, "Apply", repo.path(), &env);
    assert_eq!(applied.code, 0, "{applied:?}");
    check("apply", &applied, "Apply", applied.code);
    assert_eq!(pod_rows(&tb, &repo).len(), 3);

    let (run, code) = plan(&repo);
    assert_eq!((run.code, code), (0, 0), "no changes: {run:?}");
    check("plan without changes", &run, "Plan", code);

    // Reviewed, then the cluster changed before the merge: the apply step refuses with 6.
    repo.write("extra.yaml", &bare_pod("extra"))
        .commit("extra pod");
    let (run, code) = plan(&repo);
    assert_eq!(code, 2, "{run:?}");
    let victim = tb
        .hosts
        .iter()
        .flat_map(|(h, _)| {
            managed_names(&tb, h)
                .into_iter()
                .map(move |n| (h.clone(), n))
        })
        .find(|(_, n)| n.starts_with("k8s_my-nginx_"))
        .expect("a my-nginx container");
    tb.ssh_ok(&victim.0, &format!("docker rm -f {}", victim.1));
    let stale = step(apply_job, "Apply", repo.path(), &env);
    assert_eq!(stale.code, 6, "{stale:?}");
    assert!(stale.stderr.contains("plan is stale: "), "{stale:?}");
    check("apply of a stale plan", &stale, "Apply", stale.code);
    assert_eq!(checked, ["Plan 2", "Apply 0", "Plan 0", "Apply 6"]);
}

#[test]
fn created_deployment_applies_and_runs_three_pods() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.commit("empty");
    let created = ok(run(
        &tb,
        &repo,
        &[
            "create",
            "deployment",
            "k8s-nginx",
            "--image=nginx",
            "-r",
            "3",
            "--commit",
        ],
    ));
    assert!(
        created.stdout.starts_with(
            "deployment.apps/k8s-nginx created (apps/deployment-k8s-nginx.yaml, commit "
        ),
        "{created:?}"
    );
    let applied = ok(run(&tb, &repo, &["apply", "--yes"]));
    assert!(applied.stdout.contains("Pods: 3 added"), "{applied:?}");
    let pods = pod_rows(&tb, &repo);
    assert_eq!(pods.len(), 3, "{pods:?}");
    for p in &pods {
        assert!(p[0].starts_with("k8s-nginx-"), "{p:?}");
        assert_eq!(&p[1..3], ["1/1", "Running"], "{p:?}");
    }
}

#[test]
fn plan_names_a_held_lock_and_its_holder() {
    let tb = Testbed::get();
    let _g = serial();
    let holder = r#"{"user":"ci","machine":"runner-7","commit":"abc1234","started":"2026-01-01T00:00:00Z","pid":4242}"#;
    let _unlock: Vec<crate::common::OnDrop> = ["k8s-master", "k8s-node2"]
        .iter()
        .map(|h| {
            tb.ssh_ok(
                h,
                &format!("mkdir -p /var/lib/clusterctl/lock && printf '%s' '{holder}' > /var/lib/clusterctl/lock/holder"),
            );
            tb.on_drop(h, "rm -rf /var/lib/clusterctl/lock")
        })
        .collect();
    let repo = Repo::new();
    repo.commit("empty");
    let plan = run(&tb, &repo, &["plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(
        plan.stderr.contains(
            "Warning: the cluster lock is held by ci@runner-7 (pid 4242) applying commit abc1234 since 2026-01-01T00:00:00Z (on k8s-master, k8s-node2)"
        ),
        "{plan:?}"
    );
}

/// The `script:` lines of one job of the GitLab pipeline in docs/ci.md (the `*ssh` alias is a nested
/// list, which GitLab flattens, and so does this).
fn gitlab_script(job: &str) -> String {
    let doc = std::fs::read_to_string(crate::common::repo_root().join("docs/ci.md")).unwrap();
    let at = doc
        .find("<!-- ci:gitlab -->")
        .expect("docs/ci.md marks its GitLab pipeline");
    let rest = &doc[at..];
    let start = rest.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = rest[start..].find("\n```").unwrap();
    let pipeline: serde_json::Value =
        serde_saphyr::from_str(&rest[start..start + end]).expect("the pipeline is YAML");
    fn flatten(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            serde_json::Value::String(s) => out.push(s.trim_end().to_string()),
            other => panic!("a script line that is not a string: {other}"),
        }
    }
    let mut lines = Vec::new();
    flatten(&pipeline[job]["script"], &mut lines);
    assert!(!lines.is_empty(), "no script in job {job}");
    lines.join("\n")
}

#[test]
fn gitlab_ci_jobs_of_the_docs_run_without_a_terminal() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let documented = documented_codes();
    let repo = Repo::new();
    repo.seed("my_nginx.yaml");
    let inventory = std::fs::read_to_string(tb.cluster_yaml())
        .unwrap()
        .replace(
            "identityFile: id_ed25519",
            "identityFile: .clusterctl/id_ed25519",
        )
        .replace(
            "knownHostsFile: known_hosts",
            "knownHostsFile: .clusterctl/known_hosts",
        );
    std::fs::write(repo.path().join("cluster.yaml"), inventory).unwrap();
    std::fs::write(
        repo.path().join(".gitignore"),
        ".clusterctl/\nplan.json\nplan.md\nplan.zip\n",
    )
    .unwrap();
    repo.commit("manifests and inventory");

    // GitLab's API, stubbed by a `curl` first on PATH: the note is kept, the merge request of a commit is
    // !7, and the plan job's artifact is served as GitLab serves it (a zip).
    let api = tempfile::tempdir().unwrap();
    let stub = api.path().join("bin");
    std::fs::create_dir(&stub).unwrap();
    std::fs::write(
        stub.join("curl"),
        format!(
            r#"#!/bin/bash
set -eu
store={store}
args="$*"
case "$args" in
  *"-X POST"*) cat > "$store/note.json" ;;
  *"/repository/commits/"*"/merge_requests"*) echo '[{{"iid": 7}}]' ;;
  *"/jobs/artifacts/refs%2Fmerge-requests%2F7%2Fhead/download?job=plan"*)
    out=""; while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
    (cd "$store/artifacts" && zip -q "$OLDPWD/$out" plan.json) ;;
  *) echo "curl stub: unexpected call: $args" >&2; exit 22 ;;
esac
"#,
            store = api.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        stub.join("curl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::create_dir(api.path().join("artifacts")).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_clusterctl"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        stub.display(),
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let job = |name: &str| {
        let out = Command::new("bash")
            .args([
                "--noprofile",
                "--norc",
                "-eo",
                "pipefail",
                "-c",
                &gitlab_script(name),
            ])
            .current_dir(repo.path())
            .env("PATH", &path)
            .env("CI", "true")
            .env("GITLAB_CI", "true")
            .env(
                "CLUSTERCTL_SSH_KEY",
                std::fs::read_to_string(tb.identity_file()).unwrap(),
            )
            .env(
                "CLUSTERCTL_KNOWN_HOSTS",
                std::fs::read_to_string(tb.known_hosts()).unwrap(),
            )
            .env("GITLAB_TOKEN", "glpat-test")
            .env("CI_API_V4_URL", "https://gitlab.invalid/api/v4")
            .env("CI_PROJECT_ID", "1")
            .env("CI_MERGE_REQUEST_IID", "7")
            .env("CI_COMMIT_SHA", repo.git(&["rev-parse", "HEAD"]).trim())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(
            !run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'),
            "job {name}: an ANSI escape without a terminal: {run:?}"
        );
        run
    };
    let plan_code = |run: &Run| -> i32 {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix("plan exit code "))
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or_else(|| panic!("the plan job printed no exit code: {run:?}"))
    };

    let plan = job("plan");
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(plan_code(&plan), 2, "{plan:?}");
    assert!(documented.contains(&("Plan".to_string(), 2)));
    let note: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(api.path().join("note.json")).unwrap())
            .unwrap();
    let body = note["body"].as_str().unwrap();
    assert!(body.starts_with("### clusterctl plan — commit `"), "{body}");
    assert!(!body.contains('\u{1b}'), "{body}");
    // The artifact the apply job downloads is the plan job's plan.json.
    std::fs::copy(
        repo.path().join("plan.json"),
        api.path().join("artifacts/plan.json"),
    )
    .unwrap();
    std::fs::remove_file(repo.path().join("plan.json")).unwrap();

    let apply = job("apply");
    assert_eq!(apply.code, 0, "{apply:?}");
    assert!(documented.contains(&("Apply".to_string(), 0)));
    assert_eq!(pod_rows(&tb, &repo).len(), 3);

    let again = job("plan");
    assert_eq!((again.code, plan_code(&again)), (0, 0), "{again:?}");
    assert!(documented.contains(&("Plan".to_string(), 0)));
    reset(&tb);
}
