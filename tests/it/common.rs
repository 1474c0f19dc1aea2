//! Shared helpers for the integration tests: the testbed (see scripts/testbed and docs/testing.md)
//! and the ways into its hosts — real ssh with the testbed's key and strict host key checking, or
//! `docker exec` into the host's container.
//!
//! Nothing here tears the testbed down: `scripts/test` does that once the whole suite has run
//! (unless `KEEP_TESTBED=1`), and a developer's testbed stays up for the next `cargo test`.
#![allow(dead_code)] // each test module uses a part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How many hosts the suite asks for when it brings the testbed up itself (master + 3 workers).
pub const HOSTS: usize = 4;

/// A running testbed: its state dir (cluster.yaml, id_ed25519, known_hosts, hosts) and its hosts
/// as `(name, address)` in order: `k8s-master` first, then `k8s-node1`, `k8s-node2`, ...
#[derive(Debug, Clone)]
pub struct Testbed {
    pub dir: PathBuf,
    pub hosts: Vec<(String, String)>,
    /// The docker container of each host, in the order of `hosts` (`ctb-<name>`, or `ctbID-<name>`
    /// for testbed `TESTBED_ID`).
    pub containers: Vec<String>,
}

/// The outcome of the one attempt per process: a failed `up` is not retried by every test.
static TESTBED: OnceLock<Result<Testbed, String>> = OnceLock::new();

impl Testbed {
    /// The testbed the tests run against: the one in `$CLUSTERCTL_TESTBED` if set; otherwise
    /// `scripts/testbed up --hosts 4` is run once per test process (a no-op when it is up already).
    /// Panics with the reason when there is none.
    pub fn get() -> Testbed {
        match TESTBED.get_or_init(Testbed::init) {
            Ok(tb) => tb.clone(),
            Err(e) => panic!("no testbed: {e}"),
        }
    }

    fn init() -> Result<Testbed, String> {
        if let Some(dir) = std::env::var_os("CLUSTERCTL_TESTBED").filter(|d| !d.is_empty()) {
            return Testbed::load(Path::new(&dir))
                .map_err(|e| format!("CLUSTERCTL_TESTBED={}: {e}", Path::new(&dir).display()));
        }
        let script = repo_root().join("scripts/testbed");
        let status = Command::new("bash")
            .arg(&script)
            .args(["up", "--hosts", &HOSTS.to_string()])
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !status.success() {
            return Err(format!(
                "`{} up --hosts {HOSTS}` failed ({status}); its log is above. \
                 Run it by hand, or set CLUSTERCTL_TESTBED to a running testbed's state dir.",
                script.display()
            ));
        }
        let dir = std::env::var_os("TESTBED_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                match std::env::var("TESTBED_ID")
                    .ok()
                    .filter(|i| i != "0" && !i.is_empty())
                {
                    Some(id) => repo_root().join(format!(".testbed-{id}")),
                    None => repo_root().join(".testbed"),
                }
            });
        Testbed::load(&dir).map_err(|e| format!("{}: {e}", dir.display()))
    }

    /// Reads a testbed's state dir (its `hosts` file: one `name address [container]` line per host).
    pub fn load(dir: &Path) -> Result<Testbed, String> {
        let hosts_file = dir.join("hosts");
        let text = std::fs::read_to_string(&hosts_file).map_err(|e| {
            format!(
                "cannot read {}: {e} (is the testbed up? scripts/testbed up)",
                hosts_file.display()
            )
        })?;
        let rows: Vec<(String, String, String)> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut parts = l.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(n), Some(a), c) => Ok((
                        n.to_string(),
                        a.to_string(),
                        c.map_or_else(|| format!("ctb-{n}"), str::to_string),
                    )),
                    _ => Err(format!("{}: bad line {l:?}", hosts_file.display())),
                }
            })
            .collect::<Result<_, _>>()?;
        let containers = rows.iter().map(|r| r.2.clone()).collect();
        let hosts: Vec<(String, String)> = rows.into_iter().map(|(n, a, _)| (n, a)).collect();
        if hosts.is_empty() {
            return Err(format!("{} lists no hosts", hosts_file.display()));
        }
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Testbed {
            dir,
            hosts,
            containers,
        })
    }

    /// The testbed's inventory, ready for clusterctl (`--inventory`/`-f`).
    pub fn cluster_yaml(&self) -> PathBuf {
        self.dir.join("cluster.yaml")
    }
    pub fn identity_file(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// The address of a host given by name (`k8s-node1`) or address; panics for an unknown host.
    pub fn addr(&self, host: &str) -> &str {
        self.hosts
            .iter()
            .find(|(n, a)| n == host || a == host)
            .map(|(_, a)| a.as_str())
            .unwrap_or_else(|| panic!("no host {host:?} in the testbed ({:?})", self.hosts))
    }
    /// The name of a host given by name or address.
    pub fn name(&self, host: &str) -> &str {
        self.hosts
            .iter()
            .find(|(n, a)| n == host || a == host)
            .map(|(n, _)| n.as_str())
            .unwrap_or_else(|| panic!("no host {host:?} in the testbed ({:?})", self.hosts))
    }

    /// The ssh options clusterctl uses against the testbed: its key, its known_hosts, strict host
    /// key checking, no prompts, no user or system ssh config.
    pub fn ssh_args(&self, known_hosts: &Path) -> Vec<String> {
        let mut args: Vec<String> = vec!["-F".into(), "/dev/null".into()];
        for opt in [
            format!("IdentityFile={}", self.identity_file().display()),
            format!("UserKnownHostsFile={}", known_hosts.display()),
            "GlobalKnownHostsFile=/dev/null".into(),
            "StrictHostKeyChecking=yes".into(),
            "BatchMode=yes".into(),
            "IdentitiesOnly=yes".into(),
            "ConnectTimeout=5".into(),
            "LogLevel=ERROR".into(),
        ] {
            args.push("-o".into());
            args.push(opt);
        }
        args
    }

    /// Runs `cmd` (a shell command line) on the host over real ssh as root.
    pub fn ssh(&self, host: &str, cmd: &str) -> Output {
        self.ssh_with_known_hosts(host, cmd, &self.known_hosts())
    }

    /// Like [`Testbed::ssh`], trusting only the host keys in `known_hosts`.
    pub fn ssh_with_known_hosts(&self, host: &str, cmd: &str, known_hosts: &Path) -> Output {
        Command::new("ssh")
            .args(self.ssh_args(known_hosts))
            .arg(format!("root@{}", self.addr(host)))
            .arg(cmd)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run ssh")
    }

    /// The docker container that is the host.
    pub fn container(&self, host: &str) -> &str {
        let name = self.name(host);
        let i = self
            .hosts
            .iter()
            .position(|(n, _)| n == name)
            .expect("a testbed host");
        &self.containers[i]
    }

    /// Runs `args` inside the host's container (`docker exec <container> ARGS...`).
    pub fn exec(&self, host: &str, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["exec", self.container(host)])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("cannot run docker")
    }

    /// Runs `cmd` on the host over ssh and returns its stdout; panics with stdout+stderr if it fails.
    pub fn ssh_ok(&self, host: &str, cmd: &str) -> String {
        stdout_ok(&format!("ssh {host} {cmd}"), self.ssh(host, cmd))
    }

    /// Runs `cmd` on the host over ssh when the returned guard drops (cleanup that also runs when
    /// the test panics).
    pub fn on_drop(&self, host: &str, cmd: impl Into<String>) -> OnDrop {
        OnDrop {
            tb: self.clone(),
            host: host.to_string(),
            cmd: cmd.into(),
        }
    }
}

/// See [`Testbed::on_drop`].
pub struct OnDrop {
    tb: Testbed,
    host: String,
    cmd: String,
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.tb.ssh(&self.host, &self.cmd);
    }
}

/// The output's stdout when it succeeded; otherwise panics, showing `what` and both streams.
pub fn stdout_ok(what: &str, out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A name no other test (in this or another test process) uses: `<prefix>-<pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The repository root (where Cargo.toml and scripts/ are).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------------
// clusterctl against the testbed: a Git repo of manifests, running the binary, reading its tables.

pub static SERIAL: Mutex<()> = Mutex::new(());

/// Held by every test that applies: they must not see each other's pods.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

static HOSTS_UP: RwLock<()> = RwLock::new(());

/// Held (shared) by a test that does not take [`serial`] but needs every host up: it then never runs
/// while a test has a host stopped.
pub fn hosts_up() -> RwLockReadGuard<'static, ()> {
    HOSTS_UP.read().unwrap_or_else(|e| e.into_inner())
}

/// Held (exclusive, after [`serial`]) by a test that stops, pauses or cuts a host.
pub fn breaking_a_host() -> RwLockWriteGuard<'static, ()> {
    HOSTS_UP.write().unwrap_or_else(|e| e.into_inner())
}

pub const WORKERS: [&str; 3] = ["k8s-node1", "k8s-node2", "k8s-node3"];
pub const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed-apps");

/// A Git repository in a temp dir holding `apps/`.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "test@clusterctl.local"]);
        repo.git(&["config", "user.name", "clusterctl tests"]);
        std::fs::create_dir_all(repo.path().join("apps")).unwrap();
        // Git keeps no empty directories: this keeps apps/ in every commit, also when no manifest is left.
        std::fs::write(repo.path().join("apps/.gitkeep"), "").unwrap();
        repo
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn git(&self, args: &[&str]) -> String {
        stdout_ok(
            &format!("git {args:?}"),
            Command::new("git")
                .args(args)
                .current_dir(self.path())
                .output()
                .unwrap(),
        )
    }
    pub fn write(&self, name: &str, text: &str) -> &Repo {
        std::fs::write(self.path().join("apps").join(name), text).unwrap();
        self
    }
    pub fn seed(&self, name: &str) -> &Repo {
        self.write(
            name,
            &std::fs::read_to_string(Path::new(SEED).join(name)).unwrap(),
        )
    }
    pub fn remove(&self, name: &str) -> &Repo {
        std::fs::remove_file(self.path().join("apps").join(name)).unwrap();
        self
    }
    pub fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn clusterctl_with(cluster: &Path, repo: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_clusterctl"))
        .arg("--cluster")
        .arg(cluster)
        .arg("--repo")
        .arg(repo)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run clusterctl");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn clusterctl(tb: &Testbed, repo: &Repo, args: &[&str]) -> Run {
    clusterctl_with(&tb.cluster_yaml(), repo.path(), args)
}

pub fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "clusterctl failed: {run:?}");
    run
}

/// The tests' clean slate: removes every managed container (and the image pull back-off records, as
/// deleting a pod resets the kubelet's back-off) on every host, then applies an empty
/// repository so the pod network and clusterctl's chains are in place and hold no service (a plan then
/// shows only what the test itself adds).
pub fn reset(tb: &Testbed) {
    for (host, _) in &tb.hosts {
        let _ = tb.ssh(
            host,
            "ids=$(docker ps -aq --filter label=clusterctl.io/managed=true); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null; rm -rf /var/lib/clusterctl/lock /var/lib/clusterctl/pulls",
        );
    }
    let empty = Repo::new();
    empty.commit("empty");
    ok(clusterctl(tb, &empty, &["apply", "--yes"]));
}

/// Whether the testbed's cluster.yaml turns the cluster DNS on (scripts/testbed does unless
/// TESTBED_CLUSTER_DNS=off).
pub fn cluster_dns_on(tb: &Testbed) -> bool {
    std::fs::read_to_string(tb.cluster_yaml())
        .unwrap()
        .contains("\n  dnsImage: ")
}

/// A container of a cluster DNS pod (`k8s_<container>_clusterctl-dns-<host>_kube-system`).
pub fn is_cluster_dns_container(name: &str) -> bool {
    name.ends_with("_kube-system") && name.contains("_clusterctl-dns-")
}

/// The managed containers on `host` that the repository's objects account for (names, sorted).
pub fn managed_names(tb: &Testbed, host: &str) -> Vec<String> {
    let out = tb.ssh_ok(
        host,
        "docker ps -a --filter label=clusterctl.io/managed=true --format '{{.Names}}'",
    );
    // The node supervisor's pod (docs/node-supervisor.md) and the cluster DNS pod (docs/dns.md: the
    // testbed's cluster.yaml turns it on) are on every host whatever the repository holds.
    let mut v: Vec<String> = out
        .lines()
        .filter(|n| !n.ends_with("_clusterctl-system") && !is_cluster_dns_container(n))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// A kubectl table as rows of cells, split at the header's column starts (cells may contain spaces,
/// like `3 (5s ago)`; columns are at least 3 spaces apart).
pub fn table(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return vec![];
    };
    let bytes = header.as_bytes();
    let starts: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i] != b' ' && (i == 0 || (i >= 2 && &bytes[i - 2..i] == b"  ")))
        .collect();
    let cell = |line: &str, k: usize| {
        let end = starts
            .get(k + 1)
            .copied()
            .unwrap_or(line.len())
            .min(line.len());
        line.get(starts[k].min(line.len())..end)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    std::iter::once(header)
        .chain(lines)
        .map(|l| (0..starts.len()).map(|k| cell(l, k)).collect())
        .collect()
}

/// Rows (header excluded) whose first cell is `name`.
pub fn rows(text: &str, name: &str) -> Vec<Vec<String>> {
    table(text)
        .into_iter()
        .skip(1)
        .filter(|r| r[0] == name)
        .collect()
}

/// `get pods -o wide` rows: NAME READY STATUS RESTARTS AGE IP NODE ...
pub fn pod_rows(tb: &Testbed, repo: &Repo) -> Vec<Vec<String>> {
    let out = ok(clusterctl(tb, repo, &["get", "pods", "-o", "wide"])).stdout;
    table(&out).into_iter().skip(1).collect()
}

// ---------------------------------------------------------------------------------------------------
// Proofs from the hosts' side, so a test does not take clusterctl's own word for what it did.

/// A fresh client key authorized for root on every host (removed again on drop), and a copy of the
/// inventory that logs in with it. Each host's sshd logs the key's fingerprint with every login it
/// accepts, so the logins one test causes are told apart from every other test's.
pub struct OwnKey {
    dir: tempfile::TempDir,
    fingerprint: String,
    tb: Testbed,
    marker: String,
}

impl OwnKey {
    pub fn new(tb: &Testbed) -> OwnKey {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = unique("clusterctl-test-key");
        let key = dir.path().join("id_ed25519");
        stdout_ok(
            "ssh-keygen",
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", &marker, "-f"])
                .arg(&key)
                .output()
                .expect("ssh-keygen"),
        );
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let fingerprint = stdout_ok(
            "ssh-keygen -lf",
            Command::new("ssh-keygen")
                .arg("-lf")
                .arg(key.with_extension("pub"))
                .output()
                .unwrap(),
        )
        .split_whitespace()
        .nth(1)
        .expect("a fingerprint")
        .to_string();
        std::fs::copy(tb.known_hosts(), dir.path().join("known_hosts")).unwrap();
        // The inventory's identityFile is relative (`id_ed25519`): it now names this key.
        std::fs::copy(tb.cluster_yaml(), dir.path().join("cluster.yaml")).unwrap();
        let own = OwnKey {
            dir,
            fingerprint,
            tb: tb.clone(),
            marker,
        };
        for (h, _) in &tb.hosts {
            tb.ssh_ok(
                h,
                &format!(
                    // Under a lock: another test removing its key must not lose this one.
                    "flock /root/.ssh/.clusterctl-test.lock sh -c \"printf '%s\\n' '{}' >> /root/.ssh/authorized_keys\"",
                    public.trim()
                ),
            );
        }
        own
    }

    /// The inventory that logs in with this key.
    pub fn cluster_yaml(&self) -> PathBuf {
        self.dir.path().join("cluster.yaml")
    }

    /// Logins with this key that the hosts' sshd accepted so far (summed over all hosts). Panics when a
    /// host's sshd log cannot be read: a missing log must not read as "no login".
    pub fn logins(&self) -> usize {
        let mut total = 0;
        for (h, _) in &self.tb.hosts {
            let out = self.tb.exec(
                h,
                &[
                    "grep",
                    "-c",
                    // sshd -e ends its lines with \r\n: no `$` anchor.
                    &format!("Accepted publickey for root .* {}", self.fingerprint),
                    "/var/log/testbed/sshd.log",
                ],
            );
            // grep -c: exit 0 = some, 1 = none (and prints 0), 2 = the log is unreadable.
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{h}: cannot count logins in /var/log/testbed/sshd.log: {out:?}"
            );
            total += String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<usize>()
                .unwrap_or_else(|e| panic!("{h}: grep -c printed {out:?}: {e}"));
        }
        total
    }
}

impl Drop for OwnKey {
    fn drop(&mut self) {
        for (h, _) in &self.tb.hosts {
            let _ = self.tb.ssh(
                h,
                &format!(
                    "flock /root/.ssh/.clusterctl-test.lock sed -i '/ {}$/d' /root/.ssh/authorized_keys",
                    self.marker
                ),
            );
        }
    }
}

/// Asserts that `runs` opened no SSH login on any host, and that the same key does log in when
/// clusterctl does contact the hosts (`get nodes`), so the count cannot pass for want of a log.
pub fn assert_no_login(tb: &Testbed, runs: impl FnOnce(&Path)) {
    let key = OwnKey::new(tb);
    let before = key.logins();
    runs(&key.cluster_yaml());
    assert_eq!(
        key.logins(),
        before,
        "an invalid input must not open any SSH connection"
    );
    let empty = Repo::new();
    empty.commit("empty");
    ok(clusterctl_with(
        &key.cluster_yaml(),
        empty.path(),
        &["get", "nodes"],
    ));
    let after = key.logins();
    assert!(
        after >= before + tb.hosts.len(),
        "`get nodes` with the same key was not seen in the sshd logs ({before} → {after} logins)"
    );
}

/// The packet counts of the rules in clusterctl's chains (`KUBE-*`), per host and rule.
fn kube_rule_counters(tb: &Testbed) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for (h, _) in &tb.hosts {
        let text = tb.ssh_ok(h, "iptables-save -c -t nat; iptables-save -c -t filter");
        for line in text.lines() {
            // `[packets:bytes] -A CHAIN ...`
            let Some((counts, rule)) = line.strip_prefix('[').and_then(|l| l.split_once("] "))
            else {
                continue;
            };
            if rule.starts_with("-A KUBE-") {
                let packets = counts.split(':').next().unwrap().parse().unwrap();
                out.push((h.clone(), rule.to_string(), packets));
            }
        }
    }
    out
}

/// Runs `run` (a clusterctl command that must change nothing) and proves from the hosts' side that it
/// wrote nothing: a foreign lock is held on every host meanwhile, so an apply that takes the lock is
/// refused; afterwards no host saw an event of a managed container, the foreign lock is still there unchanged, and
/// no rule of clusterctl's chains lost packets it had counted (rewriting a chain resets its counters).
pub fn assert_writes_nothing(tb: &Testbed, run: impl FnOnce() -> Run) -> Run {
    let holder = r#"{"user":"writes-nothing","machine":"check","commit":"0000000","started":"2026-01-01T00:00:00Z","pid":1}"#;
    let _unlock: Vec<OnDrop> = tb
        .hosts
        .iter()
        .map(|(h, _)| {
            tb.ssh_ok(
                h,
                &format!("mkdir -p /var/lib/clusterctl/lock && printf '%s' '{holder}' > /var/lib/clusterctl/lock/holder"),
            );
            tb.on_drop(h, "rm -rf /var/lib/clusterctl/lock")
        })
        .collect();
    let counters = kube_rule_counters(tb);
    assert!(
        counters.iter().any(|c| c.2 > 0),
        "no rule of clusterctl's chains has counted a packet: the counter check would prove nothing"
    );
    let since = tb.ssh_ok(&tb.hosts[0].0, "date +%s.%N").trim().to_string();
    let result = run();
    for (h, _) in &tb.hosts {
        let events = tb.ssh_ok(
            h,
            &format!("docker events --since {since} --until $(date +%s.%N) --filter type=container --filter label=clusterctl.io/managed=true --format '{{{{.Action}}}} {{{{.Actor.Attributes.name}}}}'"),
        );
        assert!(
            events.trim().is_empty(),
            "{h}: container operations: {events}\n{result:?}"
        );
        assert_eq!(
            tb.ssh_ok(h, "cat /var/lib/clusterctl/lock/holder"),
            holder,
            "{h}: the lock was touched\n{result:?}"
        );
    }
    let after = kube_rule_counters(tb);
    for (h, rule, packets) in &counters {
        let now = after
            .iter()
            .find(|(h2, r2, _)| h2 == h && r2 == rule)
            .map(|c| c.2);
        assert!(
            now.is_some_and(|n| n >= *packets),
            "{h}: rule `{rule}` counted {packets} packets before and {now:?} after: it was rewritten\n{result:?}"
        );
    }
    result
}

/// `cluster.yaml` text with the given `key: value` lines set in its top-level `ssh:` section: a key the
/// file already sets there is replaced in place, the others are added (the testbed's writer names every
/// ssh setting, so blindly adding one would make a duplicate key).
pub fn with_ssh_settings(yaml: &str, settings: &[&str]) -> String {
    let key = |l: &str| l.split(':').next().unwrap_or("").trim().to_string();
    let mut out = String::new();
    let mut in_ssh = false;
    let mut left: Vec<&str> = settings.to_vec();
    for line in yaml.lines() {
        let top = !line.starts_with(' ') && !line.is_empty();
        if top && in_ssh {
            for s in left.drain(..) {
                out.push_str(&format!("  {s}\n"));
            }
        }
        if top {
            in_ssh = line == "ssh:";
        }
        if in_ssh && !top {
            if let Some(i) = left.iter().position(|s| key(s) == key(line)) {
                out.push_str(&format!("  {}\n", left.remove(i)));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if in_ssh {
        for s in left.drain(..) {
            out.push_str(&format!("  {s}\n"));
        }
    }
    assert!(left.is_empty(), "no ssh: section in {yaml}");
    out
}

/// A copy of the testbed's inventory (with its key and known_hosts), without the hosts in `drop`.
pub fn cluster_without(tb: &Testbed, drop: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in yaml.lines() {
        if let Some(name) = line.strip_prefix("  - name: ") {
            skipping = drop.contains(&name.trim());
        } else if !line.starts_with("    ") {
            skipping = false;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, out).unwrap();
    for f in ["id_ed25519", "known_hosts"] {
        std::fs::copy(tb.dir.join(f), dir.path().join(f)).unwrap();
    }
    (dir, path)
}
