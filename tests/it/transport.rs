//! The SSH transport against the testbed's real hosts: a hung host is cut off by its deadline while the
//! others go on, ssh uses nothing but what the inventory says, and killed runs leave no ssh master or
//! control directory behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    Repo, Run, Testbed, WORKERS, clusterctl_with, managed_names, reset, serial, stdout_ok, unique,
};

/// The testbed's cluster.yaml with extra `ssh:` settings, written next to it (so its relative paths
/// still resolve); removed on drop.
struct Inventory(PathBuf);

impl Inventory {
    fn with_ssh(tb: &Testbed, extra: &[&str]) -> Inventory {
        let text = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
        let out = crate::common::with_ssh_settings(&text, extra);
        let path = tb.dir.join(format!("{}.yaml", unique("cluster-transport")));
        std::fs::write(&path, out).unwrap();
        Inventory(path)
    }
}

impl Drop for Inventory {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Freezes a host's dockerd (SIGSTOP: its socket still accepts, nothing answers) until dropped.
struct FrozenDockerd {
    tb: Testbed,
    host: String,
}

impl FrozenDockerd {
    fn new(tb: &Testbed, host: &str) -> FrozenDockerd {
        let g = FrozenDockerd {
            tb: tb.clone(),
            host: host.to_string(),
        };
        stdout_ok(
            "pkill -STOP dockerd",
            tb.exec(host, &["pkill", "-STOP", "-x", "dockerd"]),
        );
        g
    }
}

impl Drop for FrozenDockerd {
    fn drop(&mut self) {
        let _ = self
            .tb
            .exec(&self.host, &["pkill", "-CONT", "-x", "dockerd"]);
        // Wait until docker answers again, so later tests find a healthy host.
        for _ in 0..100 {
            if self
                .tb
                .exec(&self.host, &["docker", "info"])
                .status
                .success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn timed(inv: &Path, repo: &Repo, args: &[&str]) -> (Run, Duration) {
    let started = Instant::now();
    let run = clusterctl_with(inv, repo.path(), args);
    (run, started.elapsed())
}

#[test]
fn a_hung_dockerd_is_cut_off_by_its_deadline_and_the_other_hosts_go_on() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let read_timeout = 4;
    let inv = Inventory::with_ssh(
        &tb,
        &[&format!("readTimeout: {read_timeout}"), "connectTimeout: 5"],
    );
    let repo = Repo::new();
    repo.seed("my_nginx.yaml").commit("my-nginx");
    let hung = "k8s-node2";
    let frozen = FrozenDockerd::new(&tb, hung);
    // connectTimeout + 1 + readTimeout, plus what a healthy observe and the process itself take.
    let bound = Duration::from_secs(5 + 1 + read_timeout + 4);
    let reported =
        format!("node {hung} is unreachable: docker did not answer within {read_timeout} s");

    let (plan, took) = timed(&inv.0, &repo, &["plan"]);
    assert!(
        took < bound,
        "plan took {took:?} (bound {bound:?}): {plan:?}"
    );
    assert!(
        took >= Duration::from_secs(read_timeout),
        "plan returned before the deadline, so the host did not hang: {plan:?}"
    );
    assert!(plan.stderr.contains(&reported), "{plan:?}");
    // The "some hosts failed" code: a partial plan is never a success.
    assert_eq!(plan.code, 3, "{plan:?}");
    let nodes: Vec<&str> = plan
        .stdout
        .lines()
        .filter(|l| l.starts_with("  + pod "))
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(nodes.len(), 3, "all replicas planned: {plan:?}");
    assert!(
        nodes.iter().all(|n| *n != hung && WORKERS.contains(n)),
        "{plan:?}"
    );

    // apply observes twice (before and under the lock): each may wait one deadline for the hung host.
    let (apply, took) = timed(&inv.0, &repo, &["apply", "--yes"]);
    assert!(
        took < bound * 2 + Duration::from_secs(20),
        "apply took {took:?}: {apply:?}"
    );
    assert!(apply.stderr.contains(&reported), "{apply:?}");
    assert_eq!(apply.code, 3, "{apply:?}");
    assert!(
        apply.stdout.contains("Apply finished with errors"),
        "{apply:?}"
    );
    drop(frozen);
    let running: usize = WORKERS
        .iter()
        .filter(|w| **w != hung)
        .map(|w| managed_names(&tb, w).len())
        .sum();
    // 3 pods, a sandbox and an app container each.
    assert_eq!(running, 6, "{apply:?}");
    assert!(managed_names(&tb, hung).is_empty(), "{apply:?}");
    reset(&tb);
}

/// The home directory ssh uses: the password database's, not `$HOME` (ssh ignores `$HOME`).
fn passwd_home() -> String {
    let uid = stdout_ok("id -u", Command::new("id").arg("-u").output().unwrap());
    std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 5 && f[2] == uid.trim())
        .map(|f| f[5].to_string())
        .expect("a passwd entry")
}

/// Runs `program args` in a private mount namespace where ssh's per-user config dir (`<home>/.ssh`) is
/// `user_ssh` and `/etc/ssh` is `etc_ssh`. Nothing outside the namespace sees the change.
fn with_ssh_dirs(user_ssh: &Path, etc_ssh: &Path, program: &Path, args: &[&str]) -> Run {
    let script = r#"set -e
home=$1 user_ssh=$2 etc_ssh=$3; shift 3
mount -t tmpfs clusterctl-test "$home"
mkdir "$home/.ssh"
mount --bind "$user_ssh" "$home/.ssh"
mount --bind "$etc_ssh" /etc/ssh
exec "$@""#;
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(passwd_home())
        .arg(user_ssh)
        .arg(etc_ssh)
        .arg(program)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn ssh_uses_only_the_inventory_and_takes_paths_byte_exact() {
    let tb = Testbed::get();
    let _g = serial();
    let base = tempfile::tempdir().unwrap();
    // A key and known_hosts under a path with a space, `%` tokens and a quote.
    let odd = base.path().join("keys dir %h 100% 'q'");
    std::fs::create_dir(&odd).unwrap();
    let key = odd.join("id %r");
    let known = odd.join("known hosts %d");
    let empty_known = odd.join("empty known_hosts");
    std::fs::copy(tb.identity_file(), &key).unwrap();
    std::fs::copy(tb.known_hosts(), &known).unwrap();
    std::fs::write(&empty_known, "").unwrap();
    // Config files ssh would read without isolation: a bogus `Host *` for the user and the system, and
    // the testbed's real keys in the system-wide known_hosts.
    let user_ssh = base.path().join("user-ssh");
    let etc_ssh = base.path().join("etc-ssh");
    std::fs::create_dir(&user_ssh).unwrap();
    std::fs::create_dir(&etc_ssh).unwrap();
    let bogus = "Host *\n  Port 1\n  User nobody\n  ProxyCommand /bin/false\n  UserKnownHostsFile /dev/null\n";
    std::fs::write(user_ssh.join("config"), bogus).unwrap();
    std::fs::write(etc_ssh.join("ssh_config"), bogus).unwrap();
    std::fs::copy(tb.known_hosts(), etc_ssh.join("ssh_known_hosts")).unwrap();

    let write_inv = |name: &str, known: &Path| {
        let text = std::fs::read_to_string(tb.cluster_yaml())
            .unwrap()
            .replace(
                "identityFile: id_ed25519",
                &format!("identityFile: \"{}\"", key.display()),
            )
            .replace(
                "knownHostsFile: known_hosts",
                &format!("knownHostsFile: \"{}\"", known.display()),
            );
        assert!(text.contains("id %r") && text.contains(&known.display().to_string()));
        let p = base.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good = write_inv("good.yaml", &known);
    let unpinned = write_inv("unpinned.yaml", &empty_known);
    let repo = Repo::new();
    repo.commit("empty");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_clusterctl"));
    let get_nodes = |inv: &Path| {
        let (c, r) = (inv.to_str().unwrap(), repo.path().to_str().unwrap());
        with_ssh_dirs(
            &user_ssh,
            &etc_ssh,
            &bin,
            &["--cluster", c, "--repo", r, "get", "nodes"],
        )
    };

    // The namespace really makes ssh see the bogus files (otherwise this test could not fail).
    let g = with_ssh_dirs(&user_ssh, &etc_ssh, Path::new("ssh"), &["-G", "k8s-node1"]);
    assert!(g.stdout.lines().any(|l| l == "port 1"), "{g:?}");

    let run = get_nodes(&good);
    assert_eq!(run.code, 0, "{run:?}");
    for (host, _) in &tb.hosts {
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{host} ")))
            .unwrap_or("");
        assert!(line.contains(" Ready "), "{host} not Ready: {run:?}");
    }
    assert!(!run.stderr.contains("unreachable"), "{run:?}");

    // Keys only in the system-wide file are not trusted.
    let run = get_nodes(&unpinned);
    for (host, _) in &tb.hosts {
        assert!(
            run.stderr.contains(&format!(
                "node {host} is unreachable: host key is not known"
            )),
            "{host} was trusted through the system known_hosts: {run:?}"
        );
    }
    assert_eq!(std::fs::read_to_string(&empty_known).unwrap(), "");
}

/// `clusterctl-ssh-*` directories in `dir`.
fn control_dirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("clusterctl-ssh-"))
        .collect()
}

/// Command lines of ssh processes that mention `dir`.
fn ssh_processes(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("ssh ") && c.contains(&needle))
        .collect()
}

#[test]
fn killed_runs_leave_no_ssh_master_or_control_directory() {
    let tb = Testbed::get();
    let _g = serial();
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new();
    repo.seed("my_nginx.yaml").commit("my-nginx");
    let bin = env!("CARGO_BIN_EXE_clusterctl");
    let mut killed_with_masters = 0;
    let mut last_had_masters = false;
    for i in 0..10u64 {
        let mut child = Command::new(bin)
            .arg("--cluster")
            .arg(tb.cluster_yaml())
            .arg("--repo")
            .arg(repo.path())
            .arg("plan")
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill once ssh runs (logging in), or a little later (observing).
        let started = Instant::now();
        while ssh_processes(tmp.path()).is_empty()
            && child.try_wait().unwrap().is_none()
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(40 * (i % 3)));
        last_had_masters =
            !ssh_processes(tmp.path()).is_empty() && child.try_wait().unwrap().is_none();
        killed_with_masters += usize::from(last_had_masters);
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        killed_with_masters >= 5 && last_had_masters,
        "only {killed_with_masters} runs were killed while ssh ran (last: {last_had_masters}): the test proves little"
    );
    // Masters of killed runs exit by themselves once their lifeline is gone (ControlPersist 3 s).
    let started = Instant::now();
    while !ssh_processes(tmp.path()).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "ssh left behind by killed runs: {:#?}",
            ssh_processes(tmp.path())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Each run reaps the directories of dead ones; only the last killed run's may still be there.
    assert!(
        control_dirs(tmp.path()).len() <= 2,
        "{:?}",
        control_dirs(tmp.path())
    );
    let out = Command::new(bin)
        .arg("--cluster")
        .arg(tb.cluster_yaml())
        .arg("--repo")
        .arg(repo.path())
        .arg("plan")
        .env("TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(control_dirs(tmp.path()), Vec::<String>::new());
    let started = Instant::now();
    while !ssh_processes(tmp.path()).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:#?}",
            ssh_processes(tmp.path())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A pod manifest file (JSON is YAML) with one busybox container sleeping, the given env and annotations.
fn pod_json(name: &str, env: &[(&str, &str)], note: &str) -> String {
    let env: Vec<serde_json::Value> = env
        .iter()
        .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
        .collect();
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "annotations": {"note": note}},
        "spec": {"containers": [{"name": "c", "image": "busybox:latest",
            "command": ["sleep", "3600"], "env": env}]}
    })
    .to_string()
}

fn host_of(tb: &Testbed, container: &str) -> String {
    tb.hosts
        .iter()
        .map(|(h, _)| h.clone())
        .find(|h| managed_names(tb, h).iter().any(|n| n == container))
        .unwrap_or_else(|| panic!("{container} runs nowhere"))
}

#[test]
fn values_past_the_argv_limit_arrive_byte_exact() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    // Two env values of 100 KiB (each under Linux's 128 KiB limit for one env string, together more than
    // one argv element can carry) and a 256 KiB annotation (Kubernetes' limit) full of shell syntax.
    let a: String = (0..100 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let b: String = "it's \"$(b)\" `c` \\ %h\n".repeat(5 * 1024);
    let unit = "n'\"$(x)\n";
    let note = unit.repeat((256 * 1024 - 64) / unit.len());
    let repo = Repo::new();
    repo.write("big.yaml", &pod_json("big", &[("A", &a), ("B", &b)], &note))
        .commit("big values");
    let inv = tb.cluster_yaml();
    let apply = clusterctl_with(&inv, repo.path(), &["apply", "--yes"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let host = host_of(&tb, "k8s_c_big_default");
    assert_eq!(
        tb.ssh_ok(
            &host,
            "docker exec k8s_c_big_default sh -c 'printf %s \"$A\"'"
        ),
        a
    );
    assert_eq!(
        tb.ssh_ok(
            &host,
            "docker exec k8s_c_big_default sh -c 'printf %s \"$B\"'"
        ),
        b
    );
    let manifest = tb.ssh_ok(
        &host,
        "docker inspect --format '{{index .Config.Labels \"clusterctl.io/pod-manifest\"}}' k8s_POD_big_default",
    );
    let manifest: serde_json::Value = serde_json::from_str(manifest.trim_end()).unwrap();
    assert_eq!(manifest["metadata"]["annotations"]["note"], note);
    // Observed back exactly as planned: nothing left to do.
    let again = clusterctl_with(&inv, repo.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again:?}");

    // 1 MiB in one env value: created byte-exact, but no Linux process can be started with it (execve
    // refuses one env string over 128 KiB), so the container never runs, as under Kubernetes.
    let huge: String = (0..1024 * 1024)
        .map(|i| (b'A' + (i % 26) as u8) as char)
        .collect();
    repo.write("huge.yaml", &pod_json("huge", &[("H", &huge)], "n"))
        .commit("huge value");
    let apply = clusterctl_with(&inv, repo.path(), &["apply", "--yes"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let host = host_of(&tb, "k8s_c_huge_default");
    let env = tb.ssh_ok(
        &host,
        "docker inspect --format '{{json .Config.Env}}' k8s_c_huge_default",
    );
    let env: Vec<String> = serde_json::from_str(env.trim_end()).unwrap();
    assert!(env.contains(&format!("H={huge}")), "{apply:?}");
    std::thread::sleep(Duration::from_secs(1));
    let state = tb.ssh_ok(&host, "docker inspect --format '{{.State.Running}} {{.State.Restarting}} {{.RestartCount}}' k8s_c_huge_default");
    assert!(
        !state.starts_with("true false 0"),
        "a process started with a 1 MiB env string: {state}"
    );
    reset(&tb);
}
