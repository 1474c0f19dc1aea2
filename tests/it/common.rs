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

/// How many hosts the suite asks for when it brings the testbed up itself (master + 3 workers).
pub const HOSTS: usize = 4;

/// A running testbed: its state dir (cluster.yaml, id_ed25519, known_hosts, hosts) and its hosts
/// as `(name, address)` in order: `k8s-master` first, then `k8s-node1`, `k8s-node2`, ...
#[derive(Debug, Clone)]
pub struct Testbed {
    pub dir: PathBuf,
    pub hosts: Vec<(String, String)>,
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
            .unwrap_or_else(|| repo_root().join(".testbed"));
        Testbed::load(&dir).map_err(|e| format!("{}: {e}", dir.display()))
    }

    /// Reads a testbed's state dir (its `hosts` file: one `name address` line per host).
    pub fn load(dir: &Path) -> Result<Testbed, String> {
        let hosts_file = dir.join("hosts");
        let text = std::fs::read_to_string(&hosts_file).map_err(|e| {
            format!(
                "cannot read {}: {e} (is the testbed up? scripts/testbed up)",
                hosts_file.display()
            )
        })?;
        let hosts: Vec<(String, String)> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut parts = l.split_whitespace();
                match (parts.next(), parts.next()) {
                    (Some(n), Some(a)) => Ok((n.to_string(), a.to_string())),
                    _ => Err(format!("{}: bad line {l:?}", hosts_file.display())),
                }
            })
            .collect::<Result<_, _>>()?;
        if hosts.is_empty() {
            return Err(format!("{} lists no hosts", hosts_file.display()));
        }
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Testbed { dir, hosts })
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

    /// Runs `args` inside the host's container (`docker exec ctb-<name> ARGS...`).
    pub fn exec(&self, host: &str, args: &[&str]) -> Output {
        Command::new("docker")
            .args(["exec", &format!("ctb-{}", self.name(host))])
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
