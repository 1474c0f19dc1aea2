//! The SSH transport: one multiplexed OpenSSH master connection per host (the `openssh` crate, native mux),
//! a bounded number of concurrent sessions over it, strict host-key checking against the inventory's
//! known_hosts, a deadline on every command, and each [`Cmd`] sent as program + arguments quoted exactly once.
//!
//! Quoting: sshd hands the command line to the remote login shell, so every element must be quoted for a
//! POSIX shell exactly once. openssh's `Session::command` / `OwningCommand::arg` do that with
//! `shell_escape::unix::escape` (single quotes, `'` and `!` escaped outside them); we never use
//! `raw_command`/`raw_arg`, and no manifest value is ever concatenated into a script. [`Cmd::to_shell_line`]
//! reproduces the same string for display and tests.
//!
//! Isolation: every master runs with `-F <generated config>` (so neither `~/.ssh/config` nor
//! `/etc/ssh/ssh_config` applies) naming only the inventory's identity and known_hosts files, with
//! `GlobalKnownHostsFile /dev/null`. Paths are written as quoted config words with `%` doubled, so spaces and
//! `%` reach ssh byte-exact ([`config_word`]).
//!
//! Lifetime: control sockets live in a private `0700` directory `$TMPDIR/clusterctl-ssh-<pid>-s<start>-<n>`.
//! Each transport holds one idle mux client connection to its master (the *lifeline*); masters are started
//! with a short `ControlPersist`, so once the lifeline closes — on `close`, on drop, or because the process
//! was killed and the kernel closed it — the master exits within [`MASTER_LINGER_SECS`]. Directories of
//! dead runs are removed (and any master still in them told to exit) when the next connector is made
//! ([`reap_stale_control_dirs`]).
//!
//! Host keys are never trusted silently when `strictHostKeyChecking` is on: an unknown or changed key
//! aborts the connection with the key's SHA256 fingerprint and the command that pins it.
//! This module owns connection IO only; it knows nothing of docker or manifests.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::sync::{RwLock, Semaphore};

use super::{Cmd, CommandTimeouts, Connector, Output, Target, Transport, TransportError};

/// How long a master outlives its last client. Live transports always hold one (the lifeline), so this
/// only starts counting when the transport is gone — including when the process was killed.
pub const MASTER_LINGER_SECS: usize = 3;
/// Time ssh gets beyond `ConnectTimeout` to report its own, more specific error before we give up.
const CONNECT_GRACE: Duration = Duration::from_secs(1);
/// Prefix of the control directories in the temp dir.
const CONTROL_DIR_PREFIX: &str = "clusterctl-ssh-";

/// This process's start time in clock ticks since boot (`/proc/self/stat` field 22), so a control
/// directory names its creator unambiguously even after the pid is reused. 0 when unknown.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and ')'; fields after the last ')' are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// True if the run that made a control directory named `<pid>-<start>-…` is still alive.
fn creator_alive(pid: u32, start: u64) -> bool {
    match process_start(pid) {
        Some(now) => start == 0 || now == start,
        // No /proc entry: either gone, or no procfs at all (then ask the kernel).
        None if Path::new("/proc/self/stat").exists() => false,
        None => {
            // SAFETY: kill with signal 0 only checks whether the pid exists.
            let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
            r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
    }
}

/// `(pid, start)` from a control directory name `clusterctl-ssh-<pid>-s<start>-<n>`. Names of older
/// clusterctl versions (`clusterctl-ssh-<pid>-<n>-<nanos>`) carry no start time: `start` is then 0, which
/// counts as alive while the pid exists.
fn parse_control_dir_name(name: &str) -> Option<(u32, u64)> {
    let mut parts = name.strip_prefix(CONTROL_DIR_PREFIX)?.split('-');
    let pid = parts.next()?.parse().ok()?;
    let second = parts.next()?;
    let start = match second.strip_prefix('s') {
        Some(ticks) => ticks.parse().ok()?,
        None => {
            second.parse::<u64>().ok()?;
            0
        }
    };
    parts.next()?;
    Some((pid, start))
}

/// The directory control directories are made in: `$TMPDIR`, unless ssh would expand something in it
/// (the control socket path goes through ssh's `%` and `${}` expansion), then `/tmp`.
fn control_base() -> PathBuf {
    let tmp = std::env::temp_dir();
    let s = tmp.to_string_lossy();
    if s.contains('%') || s.contains("${") || s.chars().any(char::is_whitespace) {
        PathBuf::from("/tmp")
    } else {
        tmp
    }
}

/// Removes the control directories of dead clusterctl runs of this user in `base`, first telling any
/// master still listening in them to exit. Returns the directories removed.
pub fn reap_stale_control_dirs(base: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let me = unsafe { libc::geteuid() };
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(base) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, start)) = name.to_str().and_then(parse_control_dir_name) else {
            continue;
        };
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me || creator_alive(pid, start) {
            continue;
        }
        for sock in master_sockets(&path) {
            // `-O exit` also ends sessions a dead run left hanging; `-F none`: no user config.
            let _ = std::process::Command::new("ssh")
                .args(["-F", "none", "-o", "BatchMode=yes", "-O", "exit", "-S"])
                .arg(&sock)
                .arg("clusterctl-stale-master")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

/// The `master` sockets under a control directory (openssh makes one `.ssh-connection*` dir per master).
fn master_sockets(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path().join("master"))
        .filter(|p| p.exists())
        .collect()
}

/// A private (0700) directory holding the control sockets and generated configs; removed when the last
/// user drops it.
#[derive(Debug)]
struct ControlDir(PathBuf);

impl ControlDir {
    fn create() -> std::io::Result<ControlDir> {
        use std::os::unix::fs::DirBuilderExt;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        let start = process_start(pid).unwrap_or(0);
        // `create` (not `create_all`) fails if the name exists, so nobody can pre-plant the directory.
        let path = control_base().join(format!(
            "{CONTROL_DIR_PREFIX}{pid}-s{start}-{}",
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(ControlDir(path))
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A path as one ssh_config word: double-quoted (`\` and `"` escaped, which is all ssh's config tokenizer
/// unescapes inside quotes) with `%` doubled (ssh expands `%` tokens in these paths). ssh also expands
/// `${VAR}` there with no way to escape it, so such paths, and line breaks, are refused.
pub(crate) fn config_word(path: &Path) -> Result<String, String> {
    let s = path
        .to_str()
        .ok_or_else(|| format!("{}: not valid UTF-8", path.display()))?;
    if s.contains("${") {
        return Err(format!(
            "{s}: ssh would expand `${{…}}` in this path as an environment variable; use a path without `${{`"
        ));
    }
    if s.chars().any(|c| c == '\n' || c == '\r' || c == '\0') {
        return Err(format!("{s:?}: contains a line break or NUL"));
    }
    let mut w = String::with_capacity(s.len() + 2);
    w.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                w.push('\\');
                w.push(c);
            }
            '%' => w.push_str("%%"),
            c => w.push(c),
        }
    }
    w.push('"');
    Ok(w)
}

/// The complete ssh configuration of one connection (passed with `-F`, so ssh reads no other file).
/// Host keys come only from the inventory's known_hosts (default `~/.ssh/known_hosts`), never from the
/// system-wide files; with an identity file, only that key is offered.
pub(crate) fn ssh_config_text(
    known_hosts: Option<&Path>,
    identity: Option<&Path>,
) -> Result<String, String> {
    let mut t = String::from(
        "# Generated by clusterctl for one connection; ssh reads no other configuration file.\n",
    );
    match known_hosts {
        Some(p) => t.push_str(&format!("UserKnownHostsFile {}\n", config_word(p)?)),
        None => t.push_str("UserKnownHostsFile ~/.ssh/known_hosts\n"),
    }
    t.push_str("GlobalKnownHostsFile /dev/null\n");
    if let Some(p) = identity {
        t.push_str(&format!(
            "IdentityFile {}\nIdentitiesOnly yes\n",
            config_word(p)?
        ));
    }
    // Determinism: nothing beyond the inventory decides which keys are trusted or written.
    t.push_str("CheckHostIP no\nUpdateHostKeys no\nHashKnownHosts no\nVerifyHostKeyDNS no\n");
    Ok(t)
}

/// Opens [`SshTransport`]s. Holds the private control directory shared by all its connections.
#[derive(Debug)]
pub struct SshConnector {
    control_dir: Arc<ControlDir>,
    configs: AtomicU64,
}

impl SshConnector {
    /// Also removes the control directories of dead runs (see the module doc).
    pub fn new() -> std::io::Result<SshConnector> {
        for dir in reap_stale_control_dirs(&control_base()) {
            tracing::debug!(dir = %dir.display(), "removed the ssh control directory of a dead run");
        }
        Ok(SshConnector {
            control_dir: Arc::new(ControlDir::create()?),
            configs: AtomicU64::new(0),
        })
    }

    /// Writes the connection's ssh config (0600) into the control directory.
    fn write_config(&self, target: &Target) -> Result<PathBuf, TransportError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let setup = |reason: String| TransportError::Setup {
            host: target.name.clone(),
            reason,
        };
        let text = ssh_config_text(
            target.known_hosts_file.as_deref(),
            target.identity_file.as_deref(),
        )
        .map_err(setup)?;
        let n = self.configs.fetch_add(1, Ordering::Relaxed);
        let path = self.control_dir.0.join(format!("{n}.ssh_config"));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| setup(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }

    async fn open(&self, target: &Target) -> Result<SshTransport, TransportError> {
        let user = target.user.clone();
        let config = self.write_config(target)?;
        let connect_timeout = Duration::from_secs(target.connect_timeout.max(1));
        let mut b = SessionBuilder::default();
        b.user(user.clone())
            .port(target.port)
            .config_file(&config)
            .known_hosts_check(if target.strict_host_key_checking {
                KnownHosts::Strict
            } else {
                KnownHosts::Add
            })
            .connect_timeout(connect_timeout)
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(&self.control_dir.0)
            .control_persist(ControlPersist::IdleFor(
                std::num::NonZeroUsize::new(MASTER_LINGER_SECS).expect("non-zero"),
            ));
        let deadline = connect_timeout + CONNECT_GRACE;
        let session = match tokio::time::timeout(deadline, b.connect_mux(&target.address)).await {
            Err(_) => {
                return Err(TransportError::Unreachable {
                    host: target.name.clone(),
                    reason: format!("no SSH session within {} s", connect_timeout.as_secs()),
                });
            }
            Ok(Err(e)) => {
                let text = ssh_error_text(&e);
                let ctx = ConnectContext {
                    host: &target.name,
                    address: &target.address,
                    port: target.port,
                    user: &user,
                    known_hosts: target.known_hosts_file.as_deref(),
                };
                let mut err = classify_connect_error(&ctx, &text);
                fill_fingerprint(&mut err, &ctx, &text, target.connect_timeout).await;
                return Err(err);
            }
            Ok(Ok(s)) => s,
        };
        let lifeline =
            UnixStream::connect(session.control_socket()).map_err(|e| TransportError::Setup {
                host: target.name.clone(),
                reason: format!("cannot hold the ssh control socket: {e}"),
            })?;
        let client = ClientArgs {
            config: config.clone(),
            socket: session.control_socket().to_path_buf(),
            address: target.address.clone(),
            port: target.port,
            user: user.clone(),
            strict: target.strict_host_key_checking,
        };
        Ok(SshTransport {
            host: target.name.clone(),
            client,
            lifeline: Mutex::new(Some(lifeline)),
            session: RwLock::new(Some(session)),
            sessions: Semaphore::new(target.max_sessions.max(1)),
            timeouts: target.command_timeouts,
            _control_dir: self.control_dir.clone(),
        })
    }
}

impl Connector for SshConnector {
    fn connect<'a>(
        &'a self,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, TransportError>> {
        Box::pin(async move { Ok(Arc::new(self.open(target).await?) as Arc<dyn Transport>) })
    }
}

/// The options of a plain `ssh` client that rides this run's master (streaming and tunnels): the same
/// generated `-F` config (so no user or system configuration applies), the master's control socket, and the
/// target's port, user and host-key policy in case the master is gone and ssh connects by itself.
#[derive(Debug, Clone)]
struct ClientArgs {
    config: PathBuf,
    socket: PathBuf,
    address: String,
    port: u16,
    user: String,
    strict: bool,
}

impl ClientArgs {
    fn command(&self) -> std::process::Command {
        let mut c = std::process::Command::new("ssh");
        c.arg("-F")
            .arg(&self.config)
            .arg("-S")
            .arg(&self.socket)
            .args(["-o", "ControlMaster=no", "-o", "BatchMode=yes"])
            .args(["-o", "LogLevel=ERROR"])
            .arg("-o")
            .arg(if self.strict {
                "StrictHostKeyChecking=yes"
            } else {
                "StrictHostKeyChecking=accept-new"
            })
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-l")
            .arg(&self.user);
        c
    }
}

/// One host over one multiplexed master connection. Dropping it shuts the master down.
pub struct SshTransport {
    host: String,
    /// What a plain `ssh` client needs to run a streaming command over this transport's master.
    client: ClientArgs,
    /// An idle mux client that keeps the master alive exactly as long as we are (see the module doc).
    /// Declared before `session` so it is dropped first.
    lifeline: Mutex<Option<UnixStream>>,
    /// `None` once closed. Runs share the read lock; `close` takes the write lock.
    session: RwLock<Option<Session>>,
    /// sshd refuses sessions beyond its `MaxSessions` per connection, so we queue instead.
    sessions: Semaphore,
    timeouts: CommandTimeouts,
    _control_dir: Arc<ControlDir>,
}

impl SshTransport {
    /// The deadline of one command: reads and writes have their own (`ssh.readTimeout`/`writeTimeout`).
    fn deadline(&self, cmd: &Cmd) -> u64 {
        if cmd.mutating {
            self.timeouts.write
        } else {
            self.timeouts.read
        }
        .max(1)
    }

    async fn exec(&self, cmd: &Cmd) -> Result<Output, TransportError> {
        cmd.check_sendable(&self.host)?;
        let _permit = self
            .sessions
            .acquire()
            .await
            .map_err(|e| self.exec_err(cmd, e.to_string()))?;
        // The clock starts once a session slot is ours: queueing behind our own commands is not the host's
        // fault. Dropping the run on expiry closes its channel; the remote process is not signalled.
        let secs = self.deadline(cmd);
        match tokio::time::timeout(Duration::from_secs(secs), self.exec_in_session(cmd)).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout {
                host: self.host.clone(),
                program: cmd.program.clone(),
                secs,
            }),
        }
    }

    fn exec_err(&self, cmd: &Cmd, reason: String) -> TransportError {
        TransportError::Exec {
            host: self.host.clone(),
            program: cmd.program.clone(),
            reason,
        }
    }

    async fn exec_in_session(&self, cmd: &Cmd) -> Result<Output, TransportError> {
        let guard = self.session.read().await;
        let session = guard
            .as_ref()
            .ok_or_else(|| self.exec_err(cmd, "connection closed".to_string()))?;
        let mut command = session.command(cmd.program.as_str());
        // `arg` quotes each element once (see module doc); never `raw_arg`.
        for a in &cmd.args {
            command.arg(a);
        }
        command
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .await
            .map_err(|e| self.map_run_error(cmd, e))?;
        let stdin = child.stdin().take();
        let feed = async {
            if let (Some(input), Some(mut stdin)) = (&cmd.stdin, stdin) {
                let _ = stdin.write_all(input.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
        };
        let (_, out) = futures::join!(feed, child.wait_with_output());
        let out = out.map_err(|e| self.map_run_error(cmd, e))?;
        Ok(Output {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn map_run_error(&self, cmd: &Cmd, e: openssh::Error) -> TransportError {
        match e {
            openssh::Error::Disconnected => TransportError::Unreachable {
                host: self.host.clone(),
                reason: "the SSH connection was terminated".to_string(),
            },
            other => self.exec_err(cmd, error_chain(&other)),
        }
    }
}

impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.host
    }
    fn stream_command(
        &self,
        cmd: &Cmd,
        mode: super::stream::Mode,
    ) -> Result<std::process::Command, TransportError> {
        cmd.check_sendable(&self.host)?;
        let remote = super::stream::remote_cmd(cmd, mode);
        let mut c = self.client.command();
        c.arg(if mode == super::stream::Mode::Tty {
            "-tt"
        } else {
            "-T"
        });
        // One argument: the line the remote shell gets, each element quoted exactly once.
        c.arg("--")
            .arg(&self.client.address)
            .arg(remote.to_shell_line());
        Ok(c)
    }
    fn tunnel_command(
        &self,
        address: &str,
        port: u16,
    ) -> Result<std::process::Command, TransportError> {
        if address.is_empty() || address.chars().any(|c| c.is_whitespace() || c == '\0') {
            return Err(TransportError::InvalidCommand {
                host: self.host.clone(),
                program: "ssh -W".to_string(),
                reason: format!("bad tunnel address {address:?}"),
            });
        }
        let mut c = self.client.command();
        // `-W` asks the master for a direct-tcpip channel: sshd connects from the host, nothing listens there.
        let dest = if address.contains(':') {
            format!("[{address}]:{port}")
        } else {
            format!("{address}:{port}")
        };
        c.arg("-T").arg("-W").arg(dest);
        c.arg("--").arg(&self.client.address);
        Ok(c)
    }
    fn run<'a>(&'a self, cmd: &'a Cmd) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(self.exec(cmd))
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Lifeline first: the master then exits as soon as its last session ends.
            drop(self.lifeline.lock().map(|mut l| l.take()));
            if let Some(s) = self.session.write().await.take() {
                let _ = s.close().await;
            }
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// openssh wraps ssh's own stderr (the master's log) in the innermost io::Error; that text is what we classify.
fn ssh_error_text(e: &openssh::Error) -> String {
    match e {
        openssh::Error::Connect(io) | openssh::Error::Master(io) => io.to_string(),
        other => error_chain(other),
    }
}

/// What a connect-error message needs to name the host and the fix.
pub(crate) struct ConnectContext<'a> {
    pub host: &'a str,
    pub address: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub known_hosts: Option<&'a Path>,
}

impl ConnectContext<'_> {
    fn known_hosts_display(&self) -> String {
        self.known_hosts
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.ssh/known_hosts".to_string())
    }
    /// How the host appears in known_hosts: ssh brackets non-default ports.
    fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.address.to_string()
        } else {
            format!("[{}]:{}", self.address, self.port)
        }
    }
    fn pin_command(&self, key_type: Option<&str>) -> String {
        let t = key_type
            .map(|t| format!("-t {} ", keyscan_type(t)))
            .unwrap_or_default();
        format!(
            "ssh-keyscan {t}-p {} {} >> {}",
            self.port,
            self.address,
            self.known_hosts_display()
        )
    }
}

/// ssh names key types `ED25519`, `ECDSA`, `RSA` in messages; ssh-keyscan's `-t` wants lowercase.
fn keyscan_type(ssh_word: &str) -> String {
    ssh_word.to_ascii_lowercase()
}

/// The key type ssh mentions: "No ED25519 host key is known…" or "The fingerprint for the ED25519 key sent…".
fn key_type_in(text: &str) -> Option<String> {
    for (pre, post) in [("No ", " host key is known"), ("for the ", " key sent")] {
        if let Some(end) = text.find(post) {
            if let Some(start) = text[..end].rfind(pre) {
                let word = &text[start + pre.len()..end];
                if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Some(word.to_string());
                }
            }
        }
    }
    None
}

/// A `SHA256:…` fingerprint printed in ssh's message (the changed-key warning prints it).
fn fingerprint_in(text: &str) -> Option<String> {
    let start = text.find("SHA256:")?;
    let fp: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '+' | '/' | '='))
        .collect();
    Some(fp)
}

/// Maps ssh's failure text to a typed error. Pure, so each ssh message shape is unit-tested.
/// Fingerprints are filled in separately ([`fill_fingerprint`]), because that needs the network.
pub(crate) fn classify_connect_error(ctx: &ConnectContext<'_>, text: &str) -> TransportError {
    let host = ctx.host.to_string();
    let text = text.trim();
    let key_type = key_type_in(text);
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        let fingerprint = fingerprint_in(text).unwrap_or_default();
        let hint = format!(
            "if the host was reinstalled, verify {} out of band, then: ssh-keygen -f {} -R '{}' && {}",
            if fingerprint.is_empty() {
                "its key fingerprint"
            } else {
                &fingerprint
            },
            ctx.known_hosts_display(),
            ctx.known_hosts_name(),
            ctx.pin_command(key_type.as_deref())
        );
        return TransportError::HostKeyChanged {
            host,
            fingerprint,
            hint,
        };
    }
    if text.contains("Host key verification failed") || text.contains("host key is known") {
        return TransportError::HostKeyUnknown {
            host,
            fingerprint: String::new(),
            hint: format!(
                "verify the fingerprint out of band, then pin the key: {}",
                ctx.pin_command(key_type.as_deref())
            ),
        };
    }
    if text.contains("Permission denied") || text.contains("Too many authentication failures") {
        return TransportError::Auth {
            host,
            user: ctx.user.to_string(),
            reason: last_line(text),
        };
    }
    TransportError::Unreachable {
        host,
        reason: last_line(text),
    }
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("connection failed")
        .strip_prefix("ssh: ")
        .map(str::to_string)
        .unwrap_or_else(|| {
            text.lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("connection failed")
                .to_string()
        })
}

/// SHA256 fingerprints of the keys in `ssh-keyscan` output, keyed by key algorithm (`ssh-ed25519`, …).
pub(crate) fn keyscan_fingerprints(keyscan_stdout: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in keyscan_stdout.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // `<host> <algorithm> <base64>`; parse only the key part.
        let mut parts = line.split_whitespace();
        let (Some(_host), Some(alg), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if let Ok(key) = ssh_key::PublicKey::from_openssh(&format!("{alg} {b64}")) {
            out.push((
                alg.to_string(),
                key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
            ));
        }
    }
    out.sort();
    out
}

/// The fingerprint of the key of type `ssh_word` (ssh's wording) among keyscan results; with no type
/// known, all of them.
fn pick_fingerprint(found: &[(String, String)], ssh_word: Option<&str>) -> String {
    let wanted = ssh_word.map(|w| match w.to_ascii_uppercase().as_str() {
        "ED25519" => "ssh-ed25519".to_string(),
        "ECDSA" => "ecdsa-".to_string(),
        "RSA" => "ssh-rsa".to_string(),
        other => other.to_ascii_lowercase(),
    });
    let chosen: Vec<&str> = found
        .iter()
        .filter(|(alg, _)| wanted.as_ref().is_none_or(|w| alg.starts_with(w.as_str())))
        .map(|(_, fp)| fp.as_str())
        .collect();
    chosen.join(", ")
}

/// For host-key errors without a fingerprint in ssh's text, ask the host for its key (`ssh-keyscan`).
/// The key is only *displayed*, never trusted.
async fn fill_fingerprint(
    err: &mut TransportError,
    ctx: &ConnectContext<'_>,
    text: &str,
    timeout_secs: u64,
) {
    let (TransportError::HostKeyUnknown { fingerprint, .. }
    | TransportError::HostKeyChanged { fingerprint, .. }) = err
    else {
        return;
    };
    if !fingerprint.is_empty() {
        return;
    }
    let scan = tokio::process::Command::new("ssh-keyscan")
        .arg("-T")
        .arg(timeout_secs.max(1).to_string())
        .arg("-p")
        .arg(ctx.port.to_string())
        .arg(ctx.address)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    if let Ok(Ok(out)) =
        tokio::time::timeout(Duration::from_secs(timeout_secs.max(1) + 5), scan).await
    {
        let found = keyscan_fingerprints(&String::from_utf8_lossy(&out.stdout));
        *fingerprint = pick_fingerprint(&found, key_type_in(text).as_deref());
    }
    if fingerprint.is_empty() {
        *fingerprint = "fingerprint unavailable".to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::testutil::{CANARY, HOSTILE, free_port};

    fn ctx<'a>(kh: Option<&'a Path>) -> ConnectContext<'a> {
        ConnectContext {
            host: "node-1",
            address: "172.30.0.11",
            port: 22,
            user: "root",
            known_hosts: kh,
        }
    }

    #[test]
    fn unknown_host_key_message() {
        let text = "No ED25519 host key is known for 172.30.0.11 and you have requested strict checking.\r\nHost key verification failed.";
        let kh = PathBuf::from("/etc/clusterctl/known_hosts");
        let err = classify_connect_error(&ctx(Some(&kh)), text);
        assert_eq!(
            err,
            TransportError::HostKeyUnknown {
                host: "node-1".into(),
                fingerprint: String::new(),
                hint: "verify the fingerprint out of band, then pin the key: ssh-keyscan -t ed25519 -p 22 172.30.0.11 >> /etc/clusterctl/known_hosts".into(),
            }
        );
    }

    #[test]
    fn changed_host_key_message_carries_fingerprint() {
        let text = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\nSomeone could be eavesdropping on you right now (man-in-the-middle attack)!\nIt is also possible that a host key has just been changed.\nThe fingerprint for the ED25519 key sent by the remote host is\nSHA256:2Qe1xWqS7v8m6Hq0bJtJqg3r7xqfQ5bq3nq0hXkqv9E.\nPlease contact your system administrator.\nHost key for [127.0.0.1]:2222 has changed and you have requested strict checking.\nHost key verification failed.";
        let c = ConnectContext {
            port: 2222,
            address: "127.0.0.1",
            ..ctx(None)
        };
        match classify_connect_error(&c, text) {
            TransportError::HostKeyChanged {
                fingerprint, hint, ..
            } => {
                assert_eq!(
                    fingerprint,
                    "SHA256:2Qe1xWqS7v8m6Hq0bJtJqg3r7xqfQ5bq3nq0hXkqv9E"
                );
                assert_eq!(
                    hint,
                    "if the host was reinstalled, verify SHA256:2Qe1xWqS7v8m6Hq0bJtJqg3r7xqfQ5bq3nq0hXkqv9E out of band, then: ssh-keygen -f ~/.ssh/known_hosts -R '[127.0.0.1]:2222' && ssh-keyscan -t ed25519 -p 2222 127.0.0.1 >> ~/.ssh/known_hosts"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refused_and_auth_messages() {
        let e = classify_connect_error(
            &ctx(None),
            "ssh: connect to host 172.30.0.11 port 22: Connection refused",
        );
        assert_eq!(
            e,
            TransportError::Unreachable {
                host: "node-1".into(),
                reason: "connect to host 172.30.0.11 port 22: Connection refused".into()
            }
        );
        let e = classify_connect_error(
            &ctx(None),
            "root@172.30.0.11: Permission denied (publickey).",
        );
        assert!(
            matches!(e, TransportError::Auth { ref user, .. } if user == "root"),
            "{e:?}"
        );
    }

    #[test]
    fn keyscan_output_fingerprints() {
        // A key generated with ssh-keygen; expected value from `ssh-keygen -lf`.
        let out = "# 127.0.0.1:2222 SSH-2.0-OpenSSH_9.2p1\n[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJV15K+xUIIfZTGCblsoFyvFlUPMnhdhvEi+4eYYT9L2\n";
        let got = keyscan_fingerprints(out);
        assert_eq!(
            got,
            vec![(
                "ssh-ed25519".to_string(),
                "SHA256:jmb12nYjnly6vmnmHldFdjqBzv+DoYaCOtE9cPrIJXU".to_string()
            )]
        );
        assert_eq!(pick_fingerprint(&got, Some("ED25519")), got[0].1);
        assert_eq!(pick_fingerprint(&got, Some("RSA")), "");
        assert_eq!(pick_fingerprint(&got, None), got[0].1);
    }

    #[test]
    fn shell_line_quotes_each_element_once() {
        let cmd = Cmd::read("docker", ["run", "--env=A=$(x)", "it's", "", "-x"]);
        assert_eq!(
            cmd.to_shell_line(),
            r#"docker run '--env=A=$(x)' 'it'\''s' '' -x"#
        );
    }

    #[tokio::test]
    async fn shell_line_survives_one_shell_level_byte_exact() {
        // What sshd does with the line: `$SHELL -c LINE`. Prove the quoting with a real sh.
        let hostile = HOSTILE;
        let cmd = Cmd::read(
            "printf",
            std::iter::once("%s\\0").chain(hostile.iter().copied()),
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd.to_shell_line())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let parts: Vec<&str> = text.split('\0').collect();
        assert_eq!(&parts[..parts.len() - 1], hostile);
        assert!(!Path::new(CANARY).exists());
    }

    #[tokio::test]
    async fn unreachable_port_fails_fast() {
        // A bound-then-closed loopback port: connection refused.
        let target = Target {
            name: "gone".into(),
            address: "127.0.0.1".into(),
            port: free_port(),
            user: "root".into(),
            identity_file: None,
            known_hosts_file: Some(PathBuf::from("/dev/null")),
            strict_host_key_checking: true,
            connect_timeout: 2,
            max_sessions: 8,
            command_timeouts: CommandTimeouts {
                read: 20,
                write: 120,
            },
        };
        let started = std::time::Instant::now();
        let err = SshConnector::new()
            .unwrap()
            .connect(&target)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, TransportError::Unreachable { ref host, ref reason } if host == "gone" && reason.contains("Connection refused")),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn config_words_are_quoted_and_percent_escaped() {
        assert_eq!(
            config_word(Path::new("/a b/100%/%h \"q\" back\\slash 'x'")).unwrap(),
            r#""/a b/100%%/%%h \"q\" back\\slash 'x'""#
        );
        assert!(config_word(Path::new("/x/${HOME}/k")).is_err());
        assert!(config_word(Path::new("/x/a\nb")).is_err());
        let t = ssh_config_text(Some(Path::new("/kh %d")), Some(Path::new("/id key"))).unwrap();
        assert!(t.contains("\nUserKnownHostsFile \"/kh %%d\"\n"), "{t}");
        assert!(t.contains("\nGlobalKnownHostsFile /dev/null\n"), "{t}");
        assert!(
            t.contains("\nIdentityFile \"/id key\"\nIdentitiesOnly yes\n"),
            "{t}"
        );
        let t = ssh_config_text(None, None).unwrap();
        assert!(
            t.contains("\nUserKnownHostsFile ~/.ssh/known_hosts\n"),
            "{t}"
        );
        assert!(!t.contains("IdentityFile"), "{t}");
    }

    /// ssh itself must read the generated words back byte-exact: `ssh -G` prints the effective options.
    #[test]
    fn ssh_reads_generated_config_back_byte_exact() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known hosts 100% %h");
        let id = dir.path().join("id \"key\" %%");
        let conf = dir.path().join("c");
        std::fs::write(&conf, ssh_config_text(Some(&kh), Some(&id)).unwrap()).unwrap();
        let out = std::process::Command::new("ssh")
            .arg("-G")
            .arg("-F")
            .arg(&conf)
            .arg("example.invalid")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")).map(str::to_string))
                .unwrap_or_default()
        };
        // -G prints known_hosts paths after token expansion (exactly the files ssh opens), identity files
        // before it (ssh expands them when loading; `%%` is the escape for `%`).
        assert_eq!(
            get("userknownhostsfile"),
            kh.display().to_string(),
            "{text}"
        );
        assert_eq!(get("globalknownhostsfile"), "/dev/null", "{text}");
        assert_eq!(
            get("identityfile"),
            id.display().to_string().replace('%', "%%"),
            "{text}"
        );
    }

    #[test]
    fn stale_control_dirs_of_dead_runs_are_reaped() {
        let base = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let start = process_start(me).unwrap();
        let mine = base
            .path()
            .join(format!("{CONTROL_DIR_PREFIX}{me}-s{start}-0"));
        // Same pid, other start time: the pid was reused, the run is gone.
        let reused = base
            .path()
            .join(format!("{CONTROL_DIR_PREFIX}{me}-s{}-0", start + 1));
        // A pid that cannot exist (above pid_max).
        let dead = base
            .path()
            .join(format!("{CONTROL_DIR_PREFIX}4194304999-s5-3"));
        // An older clusterctl's name (no start time): kept while its pid lives, whatever its numbers.
        let legacy_live = base
            .path()
            .join(format!("{CONTROL_DIR_PREFIX}{me}-1-628172493"));
        let legacy_dead = base
            .path()
            .join(format!("{CONTROL_DIR_PREFIX}4194304999-0-1"));
        let other = base.path().join("clusterctl-ssh-not-ours");
        for d in [&mine, &reused, &dead, &other, &legacy_live, &legacy_dead] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("0.ssh_config"), "x").unwrap();
        }
        let removed = reap_stale_control_dirs(base.path());
        let mut want = vec![dead.clone(), reused.clone(), legacy_dead.clone()];
        want.sort();
        assert_eq!(removed, want);
        assert!(mine.exists() && other.exists() && legacy_live.exists());
    }
}
