//! Commands as data: what runs on a host is a [`Cmd`] value (program, argv, stdin, whether it mutates), built by
//! the pure stages (runtime, network, services, plan) and carried by the plan, and run by `transport`, which
//! quotes each argv element exactly once. A leaf of the module graph (docs/architecture.md): pure stages import
//! this, never the transport.

use serde::{Deserialize, Serialize};

/// One remote command. `mutating` is false for pure reads, so apply can prove idempotence by counting writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    pub mutating: bool,
    /// Its stdin carries Secret data: the plan shows a hash of it instead (docs/secrets.md).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

impl Cmd {
    /// A read-only command.
    pub fn read(program: &str, args: impl IntoIterator<Item = impl Into<String>>) -> Cmd {
        Cmd {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            mutating: false,
            sensitive: false,
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
    /// Marks the command's stdin as secret (see [`Cmd::sensitive`]).
    pub fn sensitive(mut self) -> Cmd {
        self.sensitive = true;
        self
    }
}
