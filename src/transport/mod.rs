//! Running commands on hosts. A command is data ([`Cmd`], from the leaf `crate::cmd`: program + argv + stdin);
//! each transport quotes every argv element exactly once, so no manifest value is ever pasted into a shell
//! string. A transport is opened to a [`Target`] the caller builds (from the inventory); it knows no
//! inventory, manifest or docker type.
//! Implementations: `ssh` (real hosts), `fake` (records commands and replays canned output, unit tests only).

use crate::cmd::Cmd;

/// What a command returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Exit code; -1 when killed by a signal.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }
    pub fn stdout_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }
    pub fn stderr_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}

pub mod fake;
pub mod ssh;
pub mod stream;
#[cfg(test)]
pub(crate) mod testutil;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

/// Where and how to reach one host, fully resolved: the caller builds it (observe, from an inventory host and
/// the cluster's SSH settings), so the transport needs no inventory type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host's name, as every error and log line about it names it.
    pub name: String,
    /// IP address or DNS name the connection goes to.
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private key to offer; `None` means ssh's defaults.
    pub identity_file: Option<PathBuf>,
    /// `None` means ssh's default (~/.ssh/known_hosts).
    pub known_hosts_file: Option<PathBuf>,
    /// Unknown or changed host keys are refused.
    pub strict_host_key_checking: bool,
    /// Seconds.
    pub connect_timeout: u64,
    /// Concurrent sessions over the one multiplexed connection.
    pub max_sessions: usize,
    /// Deadlines of single commands.
    pub command_timeouts: CommandTimeouts,
}

/// How long one remote command may take before its host is reported as not answering, in seconds
/// (cluster.yaml `ssh.readTimeout` / `ssh.writeTimeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandTimeouts {
    /// Reads (observe, lock holder).
    pub read: u64,
    /// Commands that change a host (create, start, rm, network, rules, lock).
    pub write: u64,
}

/// A live channel to one host that runs [`Cmd`]s. Cheap to share (`Arc`); calls may run concurrently.
pub trait Transport: Send + Sync {
    /// Inventory name of the host.
    fn host(&self) -> &str;
    /// Runs one command. A non-zero exit is *not* an error here: it comes back in [`Output::status`].
    fn run<'a>(&'a self, cmd: &'a Cmd) -> BoxFuture<'a, Result<Output, TransportError>>;
    /// Releases the connection (e.g. closes the SSH master). Idempotent; later `run`s fail.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// A local process that runs `cmd` on the host while its output streams (see [`stream`]); the caller
    /// spawns it and wires its stdio as `mode` says. Transports that cannot stream refuse.
    fn stream_command(
        &self,
        cmd: &Cmd,
        _mode: stream::Mode,
    ) -> Result<std::process::Command, TransportError> {
        Err(TransportError::Setup {
            host: self.host().to_string(),
            reason: format!("this transport cannot stream `{}`", cmd.program),
        })
    }
    /// A local process whose stdin/stdout are one TCP connection to `address:port` as the host sees it
    /// (SSH: a `direct-tcpip` channel, `ssh -W`); no port is opened on the host.
    fn tunnel_command(
        &self,
        address: &str,
        port: u16,
    ) -> Result<std::process::Command, TransportError> {
        Err(TransportError::Setup {
            host: self.host().to_string(),
            reason: format!("this transport cannot tunnel to {address}:{port}"),
        })
    }
}

/// Opens a [`Transport`] to a host.
pub trait Connector: Send + Sync {
    fn connect<'a>(
        &'a self,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, TransportError>>;
}

/// Why a host could not be reached or a command could not be run on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// TCP connect failed or timed out, name did not resolve, or the connection dropped.
    #[error("{host}: unreachable: {reason}")]
    Unreachable { host: String, reason: String },
    /// The host presented a key that is not in known_hosts (strict checking is on).
    #[error("{host}: host key is not known ({fingerprint}); refusing to connect.\n  hint: {hint}")]
    HostKeyUnknown {
        host: String,
        /// `SHA256:…` of the key the host presented (empty if it could not be fetched).
        fingerprint: String,
        hint: String,
    },
    /// The host presented a key different from the one pinned in known_hosts.
    #[error(
        "{host}: HOST KEY CHANGED ({fingerprint}); refusing to connect (possible man-in-the-middle).\n  hint: {hint}"
    )]
    HostKeyChanged {
        host: String,
        fingerprint: String,
        hint: String,
    },
    /// The host refused our credentials.
    #[error("{host}: authentication failed for user {user}: {reason}")]
    Auth {
        host: String,
        user: String,
        reason: String,
    },
    /// The command did not finish within its deadline (`ssh.readTimeout` / `ssh.writeTimeout`): the host or
    /// its runtime hangs. Callers treat the host like an unreachable one for the rest of the run.
    #[error("{host}: {program} did not answer within {secs} s")]
    Timeout {
        host: String,
        program: String,
        secs: u64,
    },
    /// The command could not be started or its result could not be read (not a non-zero exit).
    #[error("{host}: cannot run `{program}`: {reason}")]
    Exec {
        host: String,
        program: String,
        reason: String,
    },
    /// The command cannot be sent as given (e.g. an argument contains a NUL byte).
    #[error("{host}: invalid command `{program}`: {reason}")]
    InvalidCommand {
        host: String,
        program: String,
        reason: String,
    },
    /// Local setup failed (control directory, ssh binary missing, …).
    #[error("{host}: ssh setup failed: {reason}")]
    Setup { host: String, reason: String },
}

impl TransportError {
    /// The host the error is about.
    pub fn host(&self) -> &str {
        match self {
            TransportError::Unreachable { host, .. }
            | TransportError::HostKeyUnknown { host, .. }
            | TransportError::HostKeyChanged { host, .. }
            | TransportError::Auth { host, .. }
            | TransportError::Timeout { host, .. }
            | TransportError::Exec { host, .. }
            | TransportError::InvalidCommand { host, .. }
            | TransportError::Setup { host, .. } => host,
        }
    }
}

// What a transport can carry, and how the remote shell sees it, are transport questions: these live here, not
// with the `Cmd` value in `crate::cmd`.
impl Cmd {
    /// Rejects what no transport can carry faithfully: NUL bytes cannot be part of an argv element.
    pub fn check_sendable(&self, host: &str) -> Result<(), TransportError> {
        let bad = std::iter::once(&self.program)
            .chain(&self.args)
            .any(|a| a.contains('\0'));
        if bad || self.program.is_empty() {
            return Err(TransportError::InvalidCommand {
                host: host.to_string(),
                program: self.program.clone(),
                reason: if bad {
                    "an argument contains a NUL byte".to_string()
                } else {
                    "empty program".to_string()
                },
            });
        }
        Ok(())
    }

    /// The command line as the remote login shell receives it: program and each argument quoted
    /// exactly once with POSIX single quotes (what openssh's `Command::arg` does). For display and tests;
    /// the SSH transport builds the same string through openssh.
    pub fn to_shell_line(&self) -> String {
        let mut line = shell_escape::unix::escape(self.program.as_str().into()).into_owned();
        for a in &self.args {
            line.push(' ');
            line.push_str(&shell_escape::unix::escape(a.as_str().into()));
        }
        line
    }
}
