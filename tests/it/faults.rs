//! The fault suite (issue 16): apply is killed (SIGKILL, SIGINT, SIGTERM) while a remote command of a
//! given phase is in flight, hosts are cut, paused and stopped mid-apply, a dockerd hangs mid-apply, and
//! applies race. Every case then checks, from the hosts' side: no pod twice, no container that belongs to
//! no desired pod, the lock released (graceful stop, hung dockerd) or left as a lease that expires by itself
//! (SIGKILL: the next `apply --lock-wait` takes it over; a lost lock host: a minority, warned about, which
//! blocks nobody), and convergence: the next apply succeeds and a further plan shows no changes.
//!
//! **Deterministic phases.** A shim ahead of the real program on every host's PATH
//! (`/usr/local/sbin/{docker,ip,iptables-restore,tee,mkdir,rm}`, removed on drop) is inert until the test
//! *arms* it on one host with (program, a substring of the argv, whether the cluster lock must already be
//! held there). The first matching command claims the arm (an atomic `mv`), says so in a file and blocks
//! until the test removes the hold file; then it `exec`s the real program. So the signal surely arrives
//! while that command is running on the host — and after a SIGKILL the command still completes, as a real
//! in-flight command does when its client dies. The lock's compare-and-swap is one `sh` script
//! (`apply::lock::script`): its `mkdir` of `lock.new` and its `rm` of the lock directory are the shimmed
//! programs that mark "taking" and "releasing".

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{
    OnDrop, Repo, Testbed, breaking_a_host, clusterctl_with, reset, serial, stdout_ok, unique,
};

/// Where the shims keep their state on a host (a tmpfs: a host restart disarms them).
const STATE: &str = "/run/clusterctl-faults";
const LOCK_DIR: &str = "/var/lib/clusterctl/lock";
/// The lease of the suite's inventory: long enough for a loaded machine's renewals (every TTL/3, each
/// given TTL/3), short enough that a SIGKILLed holder costs seconds.
const TTL_S: u64 = 12;
const SHIMMED: [&str; 6] = ["docker", "ip", "iptables-restore", "tee", "mkdir", "rm"];

/// The body of every shim (`REAL` is set above it). Reads the arm (3 lines: program, argv substring,
/// `1` if the lock must be held on this host), claims it with `mv`, records its pid and waits for the hold
/// to go.
const SHIM_BODY: &str = r#"F=/run/clusterctl-faults
if [ -f "$F/arm" ] && { read -r prog; read -r pat; read -r needlock; } < "$F/arm" 2>/dev/null && [ "$prog" = "${0##*/}" ]; then
  case " $* " in
    *"$pat"*)
      if { [ "$needlock" != 1 ] || [ -d /var/lib/clusterctl/lock ]; } && mv "$F/arm" "$F/fired" 2>/dev/null; then
        echo "$$" > "$F/held"
        while [ -e "$F/hold" ]; do sleep 0.05; done
      fi;;
  esac
fi
exec "$REAL" "$@"
"#;

/// The shims on every host; removed (and any hold lifted) on drop.
struct Shims {
    tb: Testbed,
    _cleanup: Vec<OnDrop>,
}

impl Shims {
    fn install(tb: &Testbed) -> Shims {
        let mut cleanup = Vec::new();
        for (host, _) in &tb.hosts {
            let mut script = format!(
                "set -e; /bin/rm -rf {STATE}; /bin/mkdir -p {STATE}\ncat > {STATE}/body <<'SHIM_EOF'\n{SHIM_BODY}SHIM_EOF\n"
            );
            for p in SHIMMED {
                script.push_str(&format!(
                    "real=; for d in /usr/sbin /usr/bin /sbin /bin; do [ -x $d/{p} ] && {{ real=$d/{p}; break; }}; done\n\
                     [ -n \"$real\" ]\n\
                     {{ echo '#!/bin/sh'; echo \"REAL=$real\"; cat {STATE}/body; }} > /usr/local/sbin/{p}.new\n\
                     chmod 755 /usr/local/sbin/{p}.new; /bin/mv /usr/local/sbin/{p}.new /usr/local/sbin/{p}\n"
                ));
            }
            stdout_ok(
                &format!("install shims on {host}"),
                tb.exec(host, &["sh", "-c", &script]),
            );
            let rm: Vec<String> = SHIMMED
                .iter()
                .map(|p| format!("/usr/local/sbin/{p}"))
                .collect();
            cleanup.push(tb.on_drop(host, format!("/bin/rm -rf {STATE} {}", rm.join(" "))));
        }
        Shims {
            tb: tb.clone(),
            _cleanup: cleanup,
        }
    }

    /// Arms `program`'s shim on `host`: its first command whose argv contains `pattern` (and, with
    /// `need_lock`, that runs while the host holds the cluster lock) blocks until [`Shims::release`].
    fn arm(&self, host: &str, program: &str, pattern: &str, need_lock: bool) {
        let text = format!("{program}\n{pattern}\n{}\n", u8::from(need_lock));
        let script = format!(
            "/bin/rm -f {STATE}/fired {STATE}/held; : > {STATE}/hold; printf '%s' \"$1\" > {STATE}/arm.new && /bin/mv {STATE}/arm.new {STATE}/arm"
        );
        stdout_ok(
            "arm",
            self.tb
                .exec(host, &["sh", "-c", &script, "arm", text.as_str()]),
        );
    }

    /// Waits until the armed command is held on `host` (panics after `within`, or if `child` ended).
    fn wait_fired(&self, host: &str, apply: &mut Apply, within: Duration) {
        let started = Instant::now();
        loop {
            let out = self
                .tb
                .exec(host, &["test", "-s", &format!("{STATE}/held")]);
            if out.status.success() {
                return;
            }
            if let Some(code) = apply.try_code() {
                panic!(
                    "apply ended (exit {code}) before the armed command ran:\n{}",
                    apply.output()
                );
            }
            assert!(
                started.elapsed() < within,
                "the armed command never ran on {host}:\n{}",
                apply.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Lets the held command go on (it then runs the real program).
    fn release(&self, host: &str) {
        let _ = self
            .tb
            .exec(host, &["/bin/rm", "-f", &format!("{STATE}/hold")]);
    }
}

/// A running `clusterctl apply --yes`, its output collected as it comes.
struct Apply {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    code: Option<i32>,
}

fn collect(mut r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    buf
}

impl Apply {
    fn start(cluster: &Path, repo: &Path) -> Apply {
        let mut child = Command::new(env!("CARGO_BIN_EXE_clusterctl"))
            .arg("--cluster")
            .arg(cluster)
            .arg("--repo")
            .arg(repo)
            .args(["apply", "--yes"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start clusterctl");
        let out = collect(child.stdout.take().unwrap());
        let err = collect(child.stderr.take().unwrap());
        Apply {
            child,
            out,
            err,
            code: None,
        }
    }

    fn signal(&self, signo: i32) {
        // SAFETY: a plain kill(2) of our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(self.child.id() as i32, signo) };
        assert_eq!(rc, 0, "kill({signo})");
    }

    fn try_code(&mut self) -> Option<i32> {
        if self.code.is_none() {
            if let Some(s) = self.child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                self.code = Some(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)));
            }
        }
        self.code
    }

    fn wait(&mut self, within: Duration) -> i32 {
        let started = Instant::now();
        loop {
            if let Some(c) = self.try_code() {
                // Let the readers drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return c;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("apply did not end within {within:?}:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.out.lock().unwrap(),
            self.err.lock().unwrap()
        )
    }
}

impl Drop for Apply {
    fn drop(&mut self) {
        if self.try_code().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The testbed's cluster.yaml with short deadlines (a lost host costs seconds, not minutes) and a short
/// lease (a SIGKILLed holder blocks for seconds), next to it so its relative paths resolve; removed on drop.
struct Inventory(PathBuf);

impl Inventory {
    fn short_deadlines(tb: &Testbed) -> Inventory {
        let text = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
        let mut out = crate::common::with_ssh_settings(
            &text,
            &["connectTimeout: 5", "readTimeout: 10", "writeTimeout: 10"],
        );
        out.push_str(&format!("lock:\n  ttl: {TTL_S}s\n"));
        let path = tb.dir.join(format!("{}.yaml", unique("cluster-faults")));
        std::fs::write(&path, out).unwrap();
        Inventory(path)
    }
}

impl Drop for Inventory {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One Deployment of `replicas` web pods (one per worker by spreading) behind a ClusterIP Service, so an
/// apply has pulls, pod creates and starts, service rules and a roster write.
fn repo_with(name: &str, replicas: usize) -> Repo {
    let repo = Repo::new();
    repo.write(
        &format!("{name}.yaml"),
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n      labels:\n        app: {name}\n    spec:\n      containers:\n      - name: web\n        image: nginx:latest\n        ports:\n        - containerPort: 80\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n    app: {name}\n  ports:\n  - port: 80\n"
        ),
    )
    .commit(name);
    repo
}

/// `(host, container name, pod label, state)` of every managed container on every host, the node
/// supervisor's pod left out (it runs whatever the repository holds).
fn managed(tb: &Testbed) -> Vec<(String, String, String, String)> {
    managed_except(tb, "")
}

/// [`managed`] without asking `skip` (a host that is cut, paused, stopped or has a frozen dockerd).
fn managed_except(tb: &Testbed, skip: &str) -> Vec<(String, String, String, String)> {
    let mut all = Vec::new();
    for (host, _) in tb.hosts.iter().filter(|(h, _)| h != skip) {
        let out = tb.ssh_ok(
            host,
            "docker ps -a --filter label=clusterctl.io/managed=true --format '{{.Names}}\t{{.Label \"clusterctl.io/namespace\"}}/{{.Label \"clusterctl.io/pod\"}}\t{{.State}}'",
        );
        for l in out.lines().filter(|l| !l.is_empty()) {
            let f: Vec<&str> = l.split('\t').collect();
            // The node supervisor's and the cluster DNS pods are on every host whatever the test applies.
            if f[1].starts_with("clusterctl-system/")
                || crate::common::is_cluster_dns_container(f[0])
            {
                continue;
            }
            all.push((
                host.clone(),
                f[0].to_string(),
                f[1].to_string(),
                f[2].to_string(),
            ));
        }
    }
    all
}

/// The invariants after convergence: exactly `replicas` pods of `name`, each on one host only, each
/// with its sandbox and its one app container, all running; no other managed container anywhere, and
/// no unlabelled `k8s_*` container (one created by an interrupted command without its labels).
fn assert_converged(tb: &Testbed, name: &str, replicas: usize, why: &str) {
    let all = managed(tb);
    let mut pods: std::collections::BTreeMap<&str, Vec<&(String, String, String, String)>> =
        Default::default();
    for c in &all {
        pods.entry(c.2.as_str()).or_default().push(c);
    }
    assert_eq!(pods.len(), replicas, "{why}: pods {pods:#?}");
    for (pod, cs) in &pods {
        assert!(
            pod.starts_with(&format!("default/{name}-")),
            "{why}: orphan {pod}: {cs:?}"
        );
        let hosts: std::collections::BTreeSet<&str> = cs.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(hosts.len(), 1, "{why}: pod {pod} on several hosts: {cs:?}");
        assert_eq!(cs.len(), 2, "{why}: pod {pod} containers: {cs:?}");
        assert!(
            cs.iter().all(|c| c.3 == "running"),
            "{why}: pod {pod} not running: {cs:?}"
        );
    }
    for (host, _) in &tb.hosts {
        let out = tb.ssh_ok(
            host,
            "docker ps -a --filter name=k8s_ --format '{{.Names}} {{.Label \"clusterctl.io/managed\"}}'",
        );
        for l in out.lines() {
            assert!(
                l.ends_with(" true"),
                "{why}: unmanaged container on {host}: {l}"
            );
        }
    }
}

/// The live leases, by each host's own clock: `(host, lock id, holder record)`. An expired lease left
/// behind (its holder died or could not reach the host) is not one: the next take replaces it. Read with
/// `docker exec`, so a host cut off from the network still answers.
fn live_leases(tb: &Testbed) -> Vec<(String, String, String)> {
    let script = format!(
        "l={LOCK_DIR}; [ -d $l ] || exit 0; now=$(date +%s%3N); \
         if [ -f $l/lease ]; then read -r id exp < $l/lease; [ \"$now\" -lt \"$exp\" ] || exit 0; else id=never; fi; \
         echo \"$id\"; cat $l/holder 2>/dev/null"
    );
    tb.hosts
        .iter()
        .filter_map(|(host, _)| {
            let out = stdout_ok(
                &format!("lease on {host}"),
                tb.exec(host, &["sh", "-c", &script]),
            );
            let (id, holder) = out.split_once('\n').unwrap_or((out.as_str(), ""));
            (!id.is_empty()).then(|| (host.clone(), id.to_string(), holder.to_string()))
        })
        .collect()
}

/// The lock id of the lease the run with `pid` left (SIGKILL): live on a majority of the lock hosts.
fn left_lease_of(tb: &Testbed, pid: u32, why: &str) -> String {
    let left = live_leases(tb);
    let ids: std::collections::BTreeSet<&str> = left.iter().map(|l| l.1.as_str()).collect();
    assert!(
        left.len() >= 2 && ids.len() == 1,
        "{why}: the killed run's lease must be live on a majority: {left:?}"
    );
    assert!(
        left.iter()
            .all(|l| l.2.contains(&format!("\"pid\":{pid},"))),
        "{why}: the lease is not the killed run's (pid {pid}): {left:?}"
    );
    left[0].1.clone()
}

/// The lock id in apply's warning that its release did not reach `host`.
fn unreleased_id(stderr: &str, host: &str) -> Option<String> {
    let prefix = format!("{host}: the cluster lock ");
    stderr.lines().find_map(|l| {
        let rest = l.split_once(&prefix)?.1;
        let (id, tail) = rest.split_once(' ')?;
        tail.starts_with("could not be released there")
            .then(|| id.to_string())
    })
}

/// The next apply (queueing with `--lock-wait` past a left lease) converges and a further plan shows no
/// changes; no lease is live afterwards but `stale`'s (the faulted run's, on a host it could not release).
/// With `took_over`, the next apply, if it has work, must say it replaced that expired lease.
// Each argument is one fact of the case under test; a struct would only rename them at every call.
#[allow(clippy::too_many_arguments)]
fn assert_next_apply_converges(
    tb: &Testbed,
    inv: &Path,
    repo: &Repo,
    name: &str,
    n: usize,
    why: &str,
    stale: Option<&str>,
    took_over: bool,
) {
    let again = clusterctl_with(inv, repo.path(), &["apply", "--yes", "--lock-wait", "90s"]);
    assert_eq!(again.code, 0, "{why}: the next apply: {again:?}");
    // An apply with nothing left to do takes no lock at all (docs/locking.md), so it has nothing to take
    // over (a kill while the roster is written: every change was made).
    if took_over && !again.stdout.contains("No changes.") {
        let id = stale.expect("the lease taken over");
        assert!(
            again
                .stderr
                .contains(&format!("took over the expired cluster lock {id}")),
            "{why}: the next apply must take over the left lease {id}: {again:?}"
        );
    }
    let plan = clusterctl_with(inv, repo.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code, 0,
        "{why}: a further plan must show no changes: {plan:?}"
    );
    let left: Vec<_> = live_leases(tb)
        .into_iter()
        .filter(|l| Some(l.1.as_str()) != stale)
        .collect();
    assert!(left.is_empty(), "{why}: lease left: {left:?}");
    assert_converged(tb, name, n, why);
}

#[derive(Clone, Copy, Debug)]
enum Kill {
    Sigkill,
    Sigint,
    Sigterm,
}

impl Kill {
    fn signo(self) -> i32 {
        match self {
            Kill::Sigkill => libc::SIGKILL,
            Kill::Sigint => libc::SIGINT,
            Kill::Sigterm => libc::SIGTERM,
        }
    }
}

/// A phase of apply, by the remote command that is in flight when the signal comes.
struct Phase {
    name: &'static str,
    host: &'static str,
    program: &'static str,
    pattern: &'static str,
    need_lock: bool,
    /// Set-up before the apply (a command run on `host`) so the phase has work.
    setup: Option<&'static str>,
}

/// Kills an apply of a 3-replica Deployment + Service while `phase`'s command runs, then checks the
/// invariants (module doc).
fn kill_at(phase: Phase, kill: Kill) {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let inv = Inventory::short_deadlines(&tb);
    let name = unique("faults");
    let repo = repo_with(&name, 3);
    let why = format!("{kill:?} during {}", phase.name);
    if let Some(cmd) = phase.setup {
        tb.ssh_ok(phase.host, cmd);
    }
    let shims = Shims::install(&tb);
    shims.arm(phase.host, phase.program, phase.pattern, phase.need_lock);
    let mut apply = Apply::start(&inv.0, repo.path());
    let pid = apply.child.id();
    shims.wait_fired(phase.host, &mut apply, Duration::from_secs(60));
    apply.signal(kill.signo());
    match kill {
        Kill::Sigkill => {
            let code = apply.wait(Duration::from_secs(10));
            assert_eq!(code, 128 + libc::SIGKILL, "{why}: {}", apply.output());
            // The in-flight command completes after its client died.
            shims.release(phase.host);
            drop(shims);
            // Every SIGKILL case comes after the lock was taken: its lease is left on a majority, and
            // the next apply queues (`--lock-wait`) until it expired, then takes it over.
            let id = left_lease_of(&tb, pid, &why);
            assert_next_apply_converges(&tb, &inv.0, &repo, &name, 3, &why, Some(&id), true);
        }
        Kill::Sigint | Kill::Sigterm => {
            // The stop is acknowledged while the command is still held, then the command may finish.
            let started = Instant::now();
            while !apply.stderr().contains("stopping") {
                assert!(
                    started.elapsed() < Duration::from_secs(10) && apply.try_code().is_none(),
                    "{why}: no stop message: {}",
                    apply.output()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            shims.release(phase.host);
            let code = apply.wait(Duration::from_secs(30));
            drop(shims);
            assert_eq!(code, 128 + kill.signo(), "{why}: {}", apply.output());
            assert!(
                apply.stderr().contains("the cluster lock was released"),
                "{why}: {}",
                apply.output()
            );
            let left = live_leases(&tb);
            assert!(left.is_empty(), "{why}: lease left: {left:?}");
            assert!(
                !apply.stderr().contains("could not be released"),
                "{why}: {}",
                apply.output()
            );
            assert_next_apply_converges(&tb, &inv.0, &repo, &name, 3, &why, None, false);
        }
    }
}

// Phases × kinds (each phase once, each kind at several phases; docs/testing.md, "The fault suite"):
//   lock (holder file being written on the 2nd host) SIGTERM · re-observe under the lock SIGKILL ·
//   image pull SIGINT · pod network SIGKILL · sandbox created, app container being created SIGKILL ·
//   container start SIGTERM · service rules SIGINT · roster write SIGKILL · lock release SIGTERM is not
//   a case: the work is done by then, see `a_signal_during_the_release_*`.

#[test]
fn sigterm_while_taking_the_lock() {
    kill_at(
        Phase {
            name: "lock (the compare-and-swap on the 2nd lock host, under its flock)",
            host: "k8s-node1",
            program: "mkdir",
            pattern: "/var/lib/clusterctl/lock.new",
            need_lock: false,
            setup: None,
        },
        Kill::Sigterm,
    );
}

#[test]
fn sigkill_while_re_observing_under_the_lock() {
    kill_at(
        Phase {
            name: "re-observe",
            host: "k8s-node2",
            program: "docker",
            pattern: "version --format",
            need_lock: true,
            setup: None,
        },
        Kill::Sigkill,
    );
}

#[test]
fn sigint_while_pulling_an_image() {
    kill_at(
        Phase {
            name: "pull",
            host: "k8s-node1",
            program: "docker",
            pattern: "pull --quiet",
            need_lock: true,
            setup: None,
        },
        Kill::Sigint,
    );
}

#[test]
fn sigkill_while_setting_up_the_pod_network() {
    kill_at(
        Phase {
            name: "network",
            host: "k8s-node1",
            program: "ip",
            pattern: "link set clusterctl.1",
            need_lock: true,
            setup: Some("ip link set clusterctl.1 down"),
        },
        Kill::Sigkill,
    );
}

#[test]
fn sigkill_between_a_pods_sandbox_and_its_container() {
    kill_at(
        Phase {
            name: "create (sandbox made, app container in flight)",
            host: "k8s-node2",
            program: "docker",
            pattern: "--name=k8s_web_",
            need_lock: true,
            setup: None,
        },
        Kill::Sigkill,
    );
}

#[test]
fn sigterm_while_starting_a_container() {
    kill_at(
        Phase {
            name: "start",
            // Not a lock host (the first three by name are): no lock directory there to wait for, and
            // only apply runs `docker start` on a host (the node supervisor uses the Engine API).
            host: "k8s-node3",
            program: "docker",
            pattern: " start ",
            need_lock: false,
            setup: None,
        },
        Kill::Sigterm,
    );
}

#[test]
fn sigint_while_writing_service_rules() {
    kill_at(
        Phase {
            name: "service rules",
            host: "k8s-node1",
            program: "iptables-restore",
            pattern: "",
            need_lock: true,
            setup: None,
        },
        Kill::Sigint,
    );
}

#[test]
fn sigkill_while_writing_the_roster() {
    kill_at(
        Phase {
            name: "roster",
            host: "k8s-node2",
            program: "tee",
            pattern: "/var/lib/clusterctl/roster.json",
            need_lock: true,
            setup: None,
        },
        Kill::Sigkill,
    );
}

/// A signal while the lock is being released (the work is done): the release completes on every host.
#[test]
fn a_signal_during_the_release_still_releases_every_host() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let inv = Inventory::short_deadlines(&tb);
    let name = unique("faults");
    let repo = repo_with(&name, 3);
    let shims = Shims::install(&tb);
    // Released in reverse name order: k8s-node3 and k8s-node2 are free, node1 and the master still held.
    shims.arm("k8s-node1", "rm", LOCK_DIR, true);
    let mut apply = Apply::start(&inv.0, repo.path());
    shims.wait_fired("k8s-node1", &mut apply, Duration::from_secs(60));
    apply.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    shims.release("k8s-node1");
    let code = apply.wait(Duration::from_secs(30));
    drop(shims);
    let left = live_leases(&tb);
    assert!(left.is_empty(), "lease left: {left:?}\n{}", apply.output());
    // Every change was made before the signal: the run says so and exits with the signal's code or 0.
    assert!(code == 0 || code == 143, "exit {code}: {}", apply.output());
    assert_next_apply_converges(
        &tb,
        &inv.0,
        &repo,
        &name,
        3,
        "SIGTERM during release",
        None,
        false,
    );
}

/// Which host-level fault hits k8s-node2 while its first `docker create` is in flight.
#[derive(Clone, Copy, Debug)]
enum HostFault {
    Cut,
    Pause,
    Stop,
    HangDockerd,
}

/// The testbed's id, from its containers' names (`ctb-<host>` is 0, `ctbID-<host>` is ID): the script
/// finds the hosts by it, not by the state dir.
fn testbed_id(tb: &Testbed) -> String {
    tb.containers[0]
        .strip_prefix("ctb")
        .and_then(|rest| rest.split('-').next())
        .filter(|id| !id.is_empty())
        .unwrap_or("0")
        .to_string()
}

fn testbed_cmd(tb: &Testbed, args: &[&str]) {
    stdout_ok(&format!("scripts/testbed {args:?}"), testbed_run(tb, args));
}

fn testbed_run(tb: &Testbed, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(crate::common::repo_root().join("scripts/testbed"))
        .args(args)
        .env("TESTBED_DIR", &tb.dir)
        .env("TESTBED_ID", testbed_id(tb))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Undoes a host fault on drop (also when the test panics).
struct Heal {
    tb: Testbed,
    host: &'static str,
    fault: HostFault,
}

impl Drop for Heal {
    fn drop(&mut self) {
        // While a failed test unwinds, a second panic here would abort the whole test binary.
        let heal = |args: &[&str]| {
            if std::thread::panicking() {
                let out = testbed_run(&self.tb, args);
                if !out.status.success() {
                    eprintln!("scripts/testbed {args:?}: {out:?}");
                }
            } else {
                testbed_cmd(&self.tb, args);
            }
        };
        match self.fault {
            HostFault::Cut => heal(&["heal", self.host]),
            HostFault::Pause => heal(&["unpause", self.host]),
            HostFault::Stop => heal(&["start", self.host]),
            HostFault::HangDockerd => {
                let _ = self
                    .tb
                    .exec(self.host, &["pkill", "-CONT", "-x", "dockerd"]);
                let started = Instant::now();
                while !self
                    .tb
                    .exec(self.host, &["docker", "info"])
                    .status
                    .success()
                    && started.elapsed() < Duration::from_secs(20)
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// `fault` hits k8s-node2 (a lock host) while its first pod is being created: the other hosts are applied,
/// the run exits 3 naming k8s-node2, and once the host is back the next apply converges. A host the release
/// cannot reach keeps the lease (apply warns, naming it); `lock release --force --id` cannot reach it
/// either (a warning, exit 3) until it is back.
fn host_fault_mid_apply(fault: HostFault) {
    let tb = Testbed::get();
    let _g = serial();
    let _b = breaking_a_host();
    reset(&tb);
    let inv = Inventory::short_deadlines(&tb);
    let name = unique("faults");
    let repo = repo_with(&name, 3);
    let host = "k8s-node2";
    let why = format!("{fault:?} of {host} mid-apply");
    let shims = Shims::install(&tb);
    shims.arm(host, "docker", "--name=k8s_POD_", true);
    let mut apply = Apply::start(&inv.0, repo.path());
    let pid = apply.child.id();
    shims.wait_fired(host, &mut apply, Duration::from_secs(60));
    let heal = Heal {
        tb: tb.clone(),
        host,
        fault,
    };
    match fault {
        HostFault::Cut => testbed_cmd(&tb, &["cut", host]),
        HostFault::Pause => testbed_cmd(&tb, &["pause", host]),
        HostFault::Stop => testbed_cmd(&tb, &["stop", host]),
        HostFault::HangDockerd => {
            stdout_ok(
                "pkill -STOP dockerd",
                tb.exec(host, &["pkill", "-STOP", "-x", "dockerd"]),
            );
            // The held `docker create` now goes on into the frozen dockerd.
            shims.release(host);
        }
    }
    // writeTimeout 8 s for the command in flight, the rest of the host's work skipped.
    let code = apply.wait(Duration::from_secs(90));
    assert_eq!(code, 3, "{why}: {}", apply.output());
    assert!(
        apply.stderr().contains(host),
        "{why}: {host} not named: {}",
        apply.output()
    );
    // The other workers were applied.
    let running: Vec<String> = managed_except(&tb, host)
        .into_iter()
        .filter(|c| c.3 == "running")
        .map(|c| c.2)
        .collect();
    assert_eq!(running.len(), 4, "{why}: two pods elsewhere: {running:?}");
    let stale = unreleased_id(&apply.stderr(), host);
    match fault {
        // The host answered throughout: its lease was given back with the others.
        HostFault::HangDockerd => {
            drop(heal);
            assert_eq!(stale, None, "{why}: {}", apply.output());
            let left = live_leases(&tb);
            assert!(left.is_empty(), "{why}: lease left: {left:?}");
        }
        // The release could not reach it: apply warns, naming it and the lock id.
        _ => {
            let Some(id) = stale.as_deref() else {
                panic!(
                    "{why}: no warning that the lease stays on {host}: {}",
                    apply.output()
                );
            };
            if let HostFault::Cut = fault {
                // `lock release` cannot reach it either: a warning naming it, exit 3, and the reachable
                // lock hosts (where the lease is already gone) are left as they are.
                let cut = clusterctl_with(
                    &inv.0,
                    repo.path(),
                    &["lock", "release", "--force", "--id", id],
                );
                assert_eq!(cut.code, 3, "{why}: lock release while cut: {cut:?}");
                assert!(
                    cut.stderr
                        .contains(&format!("{host}: lock {id} not released there")),
                    "{why}: {cut:?}"
                );
                drop(heal);
                // The lease is still there (live or expired), the faulted run's.
                let lease = tb.ssh_ok(host, &format!("cat {LOCK_DIR}/lease {LOCK_DIR}/holder"));
                assert!(
                    lease.starts_with(&format!("{id} "))
                        && lease.contains(&format!("\"pid\":{pid},")),
                    "{why}: {lease}"
                );
                let back = clusterctl_with(
                    &inv.0,
                    repo.path(),
                    &["lock", "release", "--force", "--id", id],
                );
                assert_eq!(back.code, 0, "{why}: lock release once healed: {back:?}");
                assert!(
                    back.stderr.contains(&format!("{host}: released lock {id}")),
                    "{why}: {back:?}"
                );
            } else {
                // Paused or stopped: the lease stays on the host, a minority of the lock hosts, which
                // blocks nobody: the next apply proceeds.
                drop(heal);
            }
        }
    }
    shims.release(host);
    drop(shims);
    let stale = stale.filter(|_| !matches!(fault, HostFault::Cut));
    assert_next_apply_converges(&tb, &inv.0, &repo, &name, 3, &why, stale.as_deref(), false);
}

#[test]
fn a_host_cut_off_mid_apply() {
    host_fault_mid_apply(HostFault::Cut);
}

#[test]
fn a_host_paused_mid_apply() {
    host_fault_mid_apply(HostFault::Pause);
}

#[test]
fn a_host_stopped_mid_apply() {
    host_fault_mid_apply(HostFault::Stop);
}

#[test]
fn a_dockerd_hung_mid_apply() {
    host_fault_mid_apply(HostFault::HangDockerd);
}

/// Three applies of the same repository started at once: at most one takes the lock and changes the
/// cluster; the others are refused naming a holder (exit 5) or find nothing left to do (exit 0).
#[test]
fn three_racing_applies_make_one_cluster() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let inv = Inventory::short_deadlines(&tb);
    let name = unique("faults");
    let repo = repo_with(&name, 3);
    let mut applies: Vec<Apply> = (0..3).map(|_| Apply::start(&inv.0, repo.path())).collect();
    let codes: Vec<i32> = applies
        .iter_mut()
        .map(|a| a.wait(Duration::from_secs(120)))
        .collect();
    let all: Vec<String> = applies.iter().map(Apply::output).collect();
    assert!(
        codes.iter().all(|c| *c == 0 || *c == 5),
        "{codes:?}: {all:#?}"
    );
    assert!(codes.contains(&0), "{codes:?}: {all:#?}");
    for (a, c) in applies.iter().zip(&codes) {
        if *c == 5 {
            assert!(
                a.stderr().contains("held by") || a.stderr().contains("holder unknown"),
                "{}",
                a.output()
            );
        }
    }
    assert_next_apply_converges(&tb, &inv.0, &repo, &name, 3, "racing applies", None, false);
}
