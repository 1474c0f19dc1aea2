//! The SSH transport: one multiplexed OpenSSH master connection per host (the `openssh` crate, native mux),
//! a bounded number of concurrent sessions over it, strict host-key checking against the inventory's
//! known_hosts, and each [`Cmd`] sent as program + arguments quoted exactly once.
//!
//! Quoting: sshd hands the command line to the remote login shell, so every element must be quoted for a
//! POSIX shell exactly once. openssh's `Session::command` / `OwningCommand::arg` do that with
//! `shell_escape::unix::escape` (single quotes, `'` and `!` escaped outside them); we never use
//! `raw_command`/`raw_arg`, and no manifest value is ever concatenated into a script. [`Cmd::to_shell_line`]
//! reproduces the same string for display and tests.
//!
//! Host keys are never trusted silently when `strictHostKeyChecking` is on: an unknown or changed key
//! aborts the connection with the key's SHA256 fingerprint and the command that pins it.
//! This module owns connection IO only; it knows nothing of docker or manifests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;
use tokio::sync::{RwLock, Semaphore};

use super::{Cmd, Connector, Output, Target, Transport, TransportError};

/// How long an idle master survives if we die without closing it (no orphaned ssh processes forever).
const CONTROL_PERSIST_IDLE_SECS: usize = 300;
/// Extra time over `ConnectTimeout` for key exchange and authentication before we give up.
const HANDSHAKE_GRACE: Duration = Duration::from_secs(10);

/// A private (0700) directory holding the control sockets; removed when the last user drops it.
#[derive(Debug)]
struct ControlDir(PathBuf);

impl ControlDir {
    fn create() -> std::io::Result<ControlDir> {
        use std::os::unix::fs::DirBuilderExt;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // `create` (not `create_all`) fails if the name exists, so nobody can pre-plant the directory.
        let path = std::env::temp_dir().join(format!(
            "clusterctl-ssh-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            nanos
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

/// Opens [`SshTransport`]s. Holds the private control directory shared by all its connections.
#[derive(Debug)]
pub struct SshConnector {
    control_dir: Arc<ControlDir>,
}

impl SshConnector {
    pub fn new() -> std::io::Result<SshConnector> {
        Ok(SshConnector {
            control_dir: Arc::new(ControlDir::create()?),
        })
    }

    async fn open(&self, target: &Target) -> Result<SshTransport, TransportError> {
        let user = target.user.clone();
        let mut b = SessionBuilder::default();
        b.user(user.clone())
            .port(target.port)
            .known_hosts_check(if target.strict_host_key_checking {
                KnownHosts::Strict
            } else {
                KnownHosts::Add
            })
            .connect_timeout(Duration::from_secs(target.connect_timeout.max(1)))
            .server_alive_interval(Duration::from_secs(15))
            .control_directory(&self.control_dir.0)
            .control_persist(ControlPersist::IdleFor(
                std::num::NonZeroUsize::new(CONTROL_PERSIST_IDLE_SECS).expect("non-zero"),
            ));
        if let Some(key) = &target.identity_file {
            b.keyfile(key);
        }
        if let Some(kh) = &target.known_hosts_file {
            b.user_known_hosts_file(kh);
        }
        let deadline = Duration::from_secs(target.connect_timeout.max(1)) + HANDSHAKE_GRACE;
        let session = match tokio::time::timeout(deadline, b.connect_mux(&target.address)).await {
            Err(_) => {
                return Err(TransportError::Unreachable {
                    host: target.name.clone(),
                    reason: format!("no SSH session within {}s", deadline.as_secs()),
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
        Ok(SshTransport {
            host: target.name.clone(),
            session: RwLock::new(Some(session)),
            sessions: Semaphore::new(target.max_sessions.max(1)),
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

/// One host over one multiplexed master connection. Dropping it shuts the master down.
pub struct SshTransport {
    host: String,
    /// `None` once closed. Runs share the read lock; `close` takes the write lock.
    session: RwLock<Option<Session>>,
    /// sshd refuses sessions beyond its `MaxSessions` per connection, so we queue instead.
    sessions: Semaphore,
    _control_dir: Arc<ControlDir>,
}

impl SshTransport {
    async fn exec(&self, cmd: &Cmd) -> Result<Output, TransportError> {
        cmd.check_sendable(&self.host)?;
        let exec_err = |reason: String| TransportError::Exec {
            host: self.host.clone(),
            program: cmd.program.clone(),
            reason,
        };
        let _permit = self
            .sessions
            .acquire()
            .await
            .map_err(|e| exec_err(e.to_string()))?;
        let guard = self.session.read().await;
        let session = guard
            .as_ref()
            .ok_or_else(|| exec_err("connection closed".to_string()))?;
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
            other => TransportError::Exec {
                host: self.host.clone(),
                program: cmd.program.clone(),
                reason: error_chain(&other),
            },
        }
    }
}

impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.host
    }
    fn run<'a>(&'a self, cmd: &'a Cmd) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(self.exec(cmd))
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
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
}
