//! CLI tests: the real binary (`CARGO_BIN_EXE_clusterctl`), run as a user runs it, with its stdout, stderr
//! and exit code snapshotted. No root, docker or sshd: hosts answer through the fake transport from a
//! canned file (`CLUSTERCTL_TEST_FAKE_HOSTS`, see src/cli/test_hook.rs), whose `observe` answers were
//! captured from the testbed's hosts. One test at least per exit code of `clusterctl --help`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod gitops;
mod hostile;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/fixtures");
const HOSTS: [&str; 4] = ["k8s-master", "k8s-node1", "k8s-node2", "k8s-node3"];
/// `$0` of the lock script (`sh -c SCRIPT clusterctl-lock OP …`, src/apply/lock/script.rs).
const LOCK_SCRIPT: &str = "clusterctl-lock";

/// A temp dir with an inventory, a Git repo of manifests and a fake-hosts file.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::copy(
            Path::new(FIXTURES).join("cluster.yaml"),
            w.path().join("cluster.yaml"),
        )
        .unwrap();
        std::fs::write(
            w.path().join("id_ed25519"),
            "not a key: no host is contacted\n",
        )
        .unwrap();
        std::fs::write(w.path().join("known_hosts"), "").unwrap();
        std::fs::create_dir_all(w.repo().join("apps")).unwrap();
        std::fs::write(w.repo().join("apps/.gitkeep"), "").unwrap();
        w.git(&["init", "-q", "-b", "main"]);
        w.commit("empty");
        w.hosts(serde_json::json!({}), &[]);
        w
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }
    fn log(&self) -> PathBuf {
        self.path().join("commands.jsonl")
    }

    fn git(&self, args: &[&str]) {
        // Fixed identities and dates: the same commit id on every run, so snapshots hold it.
        let out = Command::new("git")
            .args(args)
            .current_dir(self.repo())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@clusterctl.test")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@clusterctl.test")
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    fn commit(&self, msg: &str) -> &World {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self
    }

    fn manifest(&self, name: &str, text: &str) -> &World {
        std::fs::write(self.repo().join("apps").join(name), text).unwrap();
        self
    }

    /// The fake hosts: every host answers with its captured observation, except as `overrides` says;
    /// `rules` answer other commands.
    fn hosts(&self, overrides: serde_json::Value, rules: &[serde_json::Value]) -> &World {
        let mut hosts = serde_json::Map::new();
        for h in HOSTS {
            let spec = overrides.get(h).cloned().unwrap_or_else(
                || serde_json::json!({ "observe": format!("{FIXTURES}/observe-{h}.txt") }),
            );
            hosts.insert(h.to_string(), spec);
        }
        let spec = serde_json::json!({ "log": "commands.jsonl", "hosts": hosts, "rules": rules });
        std::fs::write(self.path().join("hosts.json"), spec.to_string()).unwrap();
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_clusterctl"));
        c.arg("--cluster")
            .arg(self.path().join("cluster.yaml"))
            .arg("--repo")
            .arg(self.repo())
            .args(args)
            .current_dir(self.path())
            .env("CLUSTERCTL_TEST_FAKE_HOSTS", self.path().join("hosts.json"))
            .env("NO_COLOR", "1")
            .env("USER", "tester")
            .env_remove("CLUSTERCTL_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs clusterctl and renders what a user sees: the exit code, stdout and stderr.
    fn run(&self, args: &[&str]) -> Run {
        Run::from(self, self.command(args).output().unwrap())
    }

    /// Every command the binary sent to the fake hosts: (host, program, args, mutating).
    fn commands(&self) -> Vec<(String, String, Vec<String>, bool)> {
        let Ok(text) = std::fs::read_to_string(self.log()) else {
            return vec![];
        };
        // While the binary runs, its last line may be half written: skip it.
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                let cmd = &v["cmd"];
                (
                    v["host"].as_str().unwrap().to_string(),
                    cmd["program"].as_str().unwrap().to_string(),
                    cmd["args"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string())
                        .collect(),
                    cmd["mutating"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    /// Whether the lock was taken and ended released: on every host where it was taken, the last lock
    /// operation is its release.
    fn lock_released_everywhere(&self) -> bool {
        let cmds = self.commands();
        let on = |h: &str| -> Vec<String> {
            cmds.iter()
                .filter(|(host, p, args, _)| {
                    host == h && p == "sh" && args.get(2).map(String::as_str) == Some(LOCK_SCRIPT)
                })
                .map(|(_, _, args, _)| args[3].clone())
                .filter(|op| op == "acquire" || op == "release")
                .collect()
        };
        let taken: Vec<&str> = HOSTS
            .iter()
            .copied()
            .filter(|h| on(h).iter().any(|op| op == "acquire"))
            .collect();
        !taken.is_empty()
            && taken
                .iter()
                .all(|h| on(h).last().map(String::as_str) == Some("release"))
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    tmp: String,
}

impl Run {
    fn from(w: &World, out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            tmp: w.path().display().to_string(),
        }
    }

    /// The snapshot text: temp paths replaced, so it is the same on every machine.
    fn shown(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
        .replace(&self.tmp, "[TMP]")
        .replace(FIXTURES, "[FIXTURES]")
    }
}

macro_rules! snap {
    ($name:expr, $run:expr) => {
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $run.shown());
        })
    };
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: nginx\n    image: nginx:1.14.2\n";

fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      run: {name}\n  template:\n    metadata:\n      labels:\n        run: {name}\n    spec:\n      containers:\n      - name: app\n        image: nginx\n"
    )
}

// --- 0: success / no changes ------------------------------------------------------------------------

#[test]
fn exit_0_plan_with_no_changes() {
    let w = World::new();
    let run = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    snap!("exit_0_plan_no_changes", run);
    assert!(w.commands().iter().all(|c| !c.3), "plan wrote nothing");
}

#[test]
fn exit_0_help_lists_every_exit_code() {
    let w = World::new();
    let run = w.run(&["--help"]);
    assert_eq!(run.code, 0);
    let codes = run.stdout.split("Exit codes:\n").nth(1).unwrap_or_default();
    snap!(
        "exit_0_help_exit_codes",
        Run {
            stdout: codes.to_string(),
            ..run
        }
    );
}

// --- 1: an error without a code of its own ----------------------------------------------------------

#[test]
fn exit_1_object_not_found_and_apply_without_a_terminal() {
    let w = World::new();
    let run = w.run(&["get", "pods", "nosuch"]);
    assert_eq!(run.code, 1, "{}", run.shown());
    assert!(
        run.stderr.contains("Error: pods \"nosuch\" not found"),
        "{}",
        run.shown()
    );

    w.manifest("web.yaml", POD).commit("web");
    let run = w.run(&["apply"]);
    assert_eq!(run.code, 1, "{}", run.shown());
    assert!(run.stderr.contains("stdin is not a terminal (use --yes)"));
    assert!(
        w.lock_released_everywhere(),
        "declined apply gives the lock back"
    );
    assert!(
        !w.commands().iter().any(|(_, p, _, m)| *m && p == "docker"),
        "nothing was created"
    );
}

// --- 2: changes present -----------------------------------------------------------------------------

#[test]
fn exit_2_only_with_detailed_exitcode() {
    let w = World::new();
    w.manifest("web.yaml", POD).commit("web");
    let run = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 2, "{}", run.shown());
    snap!("exit_2_plan_changes", run);
    assert_eq!(w.run(&["plan"]).code, 0);
}

// --- 3: some hosts failed, unreachable or refused ---------------------------------------------------

#[test]
fn exit_3_plan_when_a_host_is_unreachable_unless_allowed() {
    let w = World::new();
    w.manifest("web.yaml", POD).commit("web");
    w.hosts(
        serde_json::json!({ "k8s-node3": { "unreachable": true } }),
        &[],
    );
    let run = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(run.code, 3, "{}", run.shown());
    snap!("exit_3_plan_unreachable", run);

    let allowed = w.run(&["plan", "--detailed-exitcode", "--allow-unreachable"]);
    assert_eq!(allowed.code, 2, "{}", allowed.shown());
    assert!(allowed.stderr.contains("node k8s-node3 is unreachable"));
}

#[test]
fn exit_3_apply_refused_by_a_changed_host_key_names_the_host() {
    let w = World::new();
    w.manifest("web.yaml", POD).commit("web");
    w.hosts(
        serde_json::json!({ "k8s-node2": { "hostKeyChanged": "SHA256:Zm9vYmFyYmF6cXV4" } }),
        &[],
    );
    let run = w.run(&["apply", "--yes"]);
    assert_eq!(run.code, 3, "{}", run.shown());
    snap!("exit_3_apply_host_key_changed", run);
    assert!(
        !w.commands()
            .iter()
            .any(|(h, _, _, m)| h == "k8s-node2" && *m),
        "the refused host got no write"
    );
    assert!(w.lock_released_everywhere());
}

#[test]
fn exit_3_apply_with_a_failed_change_says_finished_with_errors() {
    let w = World::new();
    w.manifest("web.yaml", POD).commit("web");
    w.hosts(
        serde_json::json!({}),
        &[serde_json::json!({ "program": "docker", "arg": "create", "status": 1, "stderr": "Error response from daemon: no space left on device" })],
    );
    let run = w.run(&["apply", "--yes"]);
    assert_eq!(run.code, 3, "{}", run.shown());
    snap!("exit_3_apply_change_failed", run);
    assert!(!run.stdout.contains("Apply complete!"));
    assert!(w.lock_released_everywhere());
}

#[test]
fn exit_3_unlock_when_a_host_cannot_be_checked() {
    let w = World::new();
    assert_eq!(w.run(&["unlock"]).code, 0);
    w.hosts(
        serde_json::json!({ "k8s-node1": { "unreachable": true } }),
        &[],
    );
    let run = w.run(&["unlock"]);
    assert_eq!(run.code, 3, "{}", run.shown());
    assert!(
        run.stderr
            .contains("the lock could not be checked on k8s-node1"),
        "{}",
        run.shown()
    );
}

#[test]
fn apply_allow_unreachable_exits_0_with_a_warning() {
    let w = World::new();
    w.manifest("web.yaml", POD).commit("web");
    w.hosts(
        serde_json::json!({ "k8s-node3": { "unreachable": true } }),
        &[],
    );
    let failed = w.run(&["apply", "--yes"]);
    assert_eq!(failed.code, 3, "{}", failed.shown());
    assert!(
        failed
            .stdout
            .contains("Apply finished with errors (hosts: k8s-node3).")
    );
    let run = w.run(&["apply", "--yes", "--allow-unreachable"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    snap!("exit_0_apply_allow_unreachable", run);
}

// --- 4: reserved (rollout failed): documented in --help, see exit_0_help_lists_every_exit_code. --------

// --- 5: the lock is held ----------------------------------------------------------------------------

#[test]
fn exit_5_lock_held_names_the_holder_and_touches_nothing() {
    let w = World::new();
    w.manifest("web.yaml", POD).commit("web");
    let holder = r#"{"user":"alice","machine":"laptop-7","commit":"abc1234","started":"2026-11-26T10:00:00Z","pid":4242}"#;
    w.hosts(
        serde_json::json!({}),
        &[
            // Two of the three lock hosts (a majority) hold alice's live lease.
            serde_json::json!({ "host": "k8s-node1", "program": "sh", "arg": "acquire", "status": 3, "stdout": format!("now 1000\nlease 0123456789ab 61000\nholder {holder}\n") }),
            serde_json::json!({ "host": "k8s-node2", "program": "sh", "arg": "acquire", "status": 3, "stdout": format!("now 1000\nlease 0123456789ab 61000\nholder {holder}\n") }),
        ],
    );
    let run = w.run(&["apply", "--yes"]);
    assert_eq!(run.code, 5, "{}", run.shown());
    snap!("exit_5_lock_held", run);
    assert!(
        !w.commands().iter().any(|(_, p, _, m)| *m && p == "docker"),
        "a blocked apply creates nothing"
    );
}

// --- 64: usage errors, checked before anything is read or any host contacted ------------------------

#[test]
fn exit_64_usage_errors_contact_no_host() {
    let w = World::new();
    let cases: &[(&str, &[&str])] = &[
        ("exit_64_unknown_flag", &["plan", "--no-such-flag"]),
        ("exit_64_no_subcommand", &[]),
        ("exit_64_apply_o_yaml", &["apply", "--yes", "-o", "yaml"]),
        ("exit_64_snapshot_o_table", &["snapshot", "-o", "table"]),
        (
            "exit_64_describe_o_json",
            &["describe", "node", "k8s-node1", "-o", "json"],
        ),
        ("exit_64_bad_selector", &["get", "pods", "-l", "a in x"]),
        ("exit_64_selector_on_plan", &["plan", "-l", "run=web"]),
    ];
    for (name, args) in cases {
        let run = w.run(args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.shown());
        snap!(*name, run);
    }
    assert!(w.commands().is_empty(), "usage errors contact no host");
    // What they accept still works.
    assert_eq!(w.run(&["snapshot", "-o", "json"]).code, 0);
}

// --- 65: invalid manifests or inventory -------------------------------------------------------------

#[test]
fn exit_65_invalid_manifest_or_inventory_contacts_no_host() {
    let w = World::new();
    w.manifest(
        "bad.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers: []\n",
    )
    .commit("bad");
    let run = w.run(&["apply", "--yes"]);
    assert_eq!(run.code, 65, "{}", run.shown());
    snap!("exit_65_invalid_manifest", run);

    std::fs::write(
        w.path().join("cluster.yaml"),
        "hosts:\n- name: a\n  adress: 10.0.0.1\n",
    )
    .unwrap();
    let run = w.run(&["plan"]);
    assert_eq!(run.code, 65, "{}", run.shown());
    snap!("exit_65_invalid_inventory", run);
    assert!(w.commands().is_empty(), "invalid input contacts no host");

    let w = World::new();
    std::fs::write(w.path().join("state.json"), "{\"formatVersion\": 99}").unwrap();
    let run = w.run(&["plan", "--observed", "state.json"]);
    assert_eq!(run.code, 65, "{}", run.shown());
    assert!(
        run.stderr.contains("has formatVersion 99"),
        "{}",
        run.shown()
    );
}

// --- 130 / 143: stopped by a signal ------------------------------------------------------------------

/// Starts `apply --yes` of 8 pods whose docker commands each take `step_ms`, and waits until the first
/// pod change is running.
fn slow_apply(w: &World, step_ms: u64) -> Child {
    w.manifest("web.yaml", &deployment("web", 8)).commit("web");
    w.hosts(
        serde_json::json!({}),
        &[serde_json::json!({ "program": "docker", "delayMs": step_ms })],
    );
    let child = w.command(&["apply", "--yes"]).spawn().unwrap();
    let started = Instant::now();
    while !w
        .commands()
        .iter()
        .any(|(_, p, args, m)| *m && p == "docker" && args.first().is_some_and(|a| a == "create"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "apply never started a pod"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn kill(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn stopped_by(signal: &str, code: i32) {
    let w = World::new();
    let child = slow_apply(&w, 150);
    let signalled = Instant::now();
    kill(&child, signal);
    let run = Run::from(&w, child.wait_with_output().unwrap());
    assert_eq!(run.code, code, "{}", run.shown());
    assert!(
        signalled.elapsed() < Duration::from_secs(12),
        "{:?}",
        signalled.elapsed()
    );
    let name = if code == 130 { "SIGINT" } else { "SIGTERM" };
    assert!(
        run.stdout.contains(&format!("Apply stopped by {name}!")),
        "{}",
        run.shown()
    );
    assert!(run.stdout.contains("Not started ("), "{}", run.shown());
    assert!(
        run.stderr.contains(&format!(
            "apply stopped by {name} after part of the plan; the cluster lock was released"
        )),
        "{}",
        run.shown()
    );
    assert!(w.lock_released_everywhere(), "{:?}", w.commands());
    // No change started after the signal: every docker command that was started belongs to a change
    // that was already running (creates come in whole pods), and fewer than all 8 pods were created.
    let created = w
        .commands()
        .iter()
        .filter(|(_, p, a, _)| p == "docker" && a.first().is_some_and(|x| x == "start"))
        .count();
    assert!(
        created < 16,
        "{created} containers started: the stop did not stop anything"
    );
}

#[test]
fn exit_143_sigterm_finishes_running_steps_releases_the_lock_and_lists_the_rest() {
    stopped_by("-TERM", 143);
}

#[test]
fn exit_130_sigint_likewise() {
    stopped_by("-INT", 130);
}

#[test]
fn a_second_signal_aborts_at_once() {
    let w = World::new();
    let child = slow_apply(&w, 5_000);
    kill(&child, "-TERM");
    std::thread::sleep(Duration::from_millis(300));
    let again = Instant::now();
    kill(&child, "-TERM");
    let run = Run::from(&w, child.wait_with_output().unwrap());
    assert_eq!(run.code, 143, "{}", run.shown());
    assert!(
        again.elapsed() < Duration::from_secs(3),
        "{:?}",
        again.elapsed()
    );
    assert!(
        run.stderr.contains("SIGTERM again: aborting at once"),
        "{}",
        run.shown()
    );
}

#[test]
fn a_signal_outside_apply_ends_at_once_with_its_code() {
    let w = World::new();
    w.hosts(
        serde_json::json!({}),
        &[serde_json::json!({ "program": "sh", "delayMs": 30_000 })],
    );
    let child = w.command(&["plan"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    kill(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(t.elapsed() < Duration::from_secs(3));
}

// --- day-2 tools: arguments they cannot honour are refused before any host is contacted ----------------

#[test]
fn day2_usage_errors_contact_no_host() {
    let w = World::new();
    let cases: &[(&[&str], &str)] = &[
        (&["logs"], "POD or pod/NAME is a required argument"),
        (
            &["logs", "web", "-l", "app=web"],
            "only a selector (-l) or a POD name is allowed",
        ),
        (&["logs", "web", "--since", "5d"], "invalid duration"),
        (&["logs", "web", "--since", "10"], "missing unit"),
        (&["logs", "deploy/web"], "only pods are supported"),
        (&["logs", "web", "-o", "json"], "has no output formats"),
        (&["exec", "web"], "COMMAND"),
        (
            &["exec", "web", "-l", "a=b", "--", "ls"],
            "does not take a label selector",
        ),
        (
            &["port-forward", "pod/web", "http"],
            "a named port needs a local port",
        ),
        (
            &["port-forward", "pod/web", "80", "--address", "nope"],
            "not a valid IP",
        ),
        (
            &["port-forward", "deploy/web", "80"],
            "pod/NAME or svc/NAME",
        ),
        (&["get", "events", "-o", "json"], "prints the table only"),
        (
            &["get", "pods", "--for", "pod/x"],
            "--for applies to `get events` only",
        ),
        (&["top", "services"], "invalid value"),
    ];
    for (args, want) in cases {
        let run = w.run(args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.shown());
        assert!(run.shown().contains(want), "{args:?}: {}", run.shown());
    }
    assert!(w.commands().is_empty(), "usage errors contact no host");
}

// --- get with a comma list ---------------------------------------------------------------------------

#[test]
fn get_a_comma_list_prints_one_table_per_kind_with_kind_slash_name() {
    let w = World::new();
    w.manifest(
        "config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  a: b\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: pw\n  user: u\n",
    )
    .commit("config");
    let run = w.run(&["get", "cm,secret"]);
    assert_eq!(run.code, 0, "{}", run.shown());
    let lines: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "DATA", "AGE"], "{}", run.shown());
    assert_eq!(
        lines[1][..2],
        ["configmap/web-config", "1"],
        "{}",
        run.shown()
    );
    assert!(
        lines[2].is_empty(),
        "a blank line between tables: {}",
        run.shown()
    );
    assert_eq!(lines[3], ["NAME", "TYPE", "DATA", "AGE"], "{}", run.shown());
    assert_eq!(
        lines[4][..3],
        ["secret/db", "Opaque", "2"],
        "{}",
        run.shown()
    );
    // One List for JSON, names unprefixed, no Secret values.
    let json = w.run(&["get", "configmaps,secrets,cm", "-o", "json"]);
    assert_eq!(json.code, 0, "{}", json.shown());
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-config", "db"]);
    assert!(
        !json.stdout.contains("cHc"),
        "no Secret value: {}",
        json.stdout
    );
    // A single kind is unchanged; an unknown one is a usage error.
    let one = w.run(&["get", "secret"]);
    assert!(one.stdout.starts_with("NAME   TYPE"), "{}", one.shown());
    let bad = w.run(&["get", "cm,nosuch"]);
    assert_eq!(bad.code, 64, "{}", bad.shown());
    assert!(bad.stderr.contains("\"nosuch\""), "{}", bad.shown());
}
