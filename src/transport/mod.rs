//! Running commands on hosts. A command is data ([`Cmd`]: program + argv + stdin); each transport quotes
//! every argv element exactly once, so no manifest value is ever pasted into a shell string.
//! Implementations: `ssh` (real hosts), `fake` (records commands and replays canned output, unit tests only).

use serde::{Deserialize, Serialize};

/// One remote command. `mutating` is false for pure reads, so apply can prove idempotence by counting writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    pub mutating: bool,
}

impl Cmd {
    /// A read-only command.
    pub fn read(program: &str, args: impl IntoIterator<Item = impl Into<String>>) -> Cmd {
        Cmd {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            mutating: false,
        }
    }
    /// A command that changes the host.
    pub fn write(program: &str, args: impl IntoIterator<Item = impl Into<String>>) -> Cmd {
        Cmd {
            mutating: true,
            ..Cmd::read(program, args)
        }
    }
    pub fn with_stdin(mut self, stdin: impl Into<String>) -> Cmd {
        self.stdin = Some(stdin.into());
        self
    }
}

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
