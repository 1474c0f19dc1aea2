//! Streaming and interactive commands (`logs -f`, `exec -it`, `port-forward`): a command whose output is not
//! collected but flows while it runs, and a TCP tunnel to an address as the host sees it. A transport turns
//! them into a *local* process description ([`std::process::Command`]) whose stdio the caller wires up; the
//! isolation rules of the transport still hold (for SSH: the generated `-F` config, the run's own master,
//! each argv element quoted exactly once — see `transport::ssh`).
//!
//! Ending: a streaming command must not outlive clusterctl on either side. Locally the caller owns the child
//! (and kills it on a signal). Remotely, without a TTY nothing tells the remote process that the client went
//! away until it writes (and then only if the channel is already gone), so [`Mode::Follow`] runs the command
//! under [`WATCHDOG_SCRIPT`]: a constant script that ends it as soon as the session's stdin reaches EOF,
//! which happens when the local ssh exits for any reason. With a TTY ([`Mode::Tty`]) sshd hangs the
//! session's terminal up, which ends the remote command.

use crate::cmd::Cmd;

/// How a streaming command's stdio is wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Output flows to the caller; the remote stdin is a pipe the caller keeps open and closes (or loses)
    /// to end the command ([`WATCHDOG_SCRIPT`]). For followers like `logs -f`.
    Follow,
    /// The caller's stdin is forwarded to the remote command; no TTY (`exec -i`).
    Stdin,
    /// No input at all (`exec` without `-i`).
    NoStdin,
    /// A pseudo-terminal on the host (`ssh -tt`): the local terminal goes to raw mode (`exec -it`).
    Tty,
}

/// Runs `"$@"` with stdin closed and stderr merged into stdout, and ends it (SIGTERM) when the session's
/// stdin reaches EOF. A constant: every value reaches it as a positional parameter, never as code.
/// (A background list of a non-interactive shell reads `/dev/null`, not the shell's stdin, so the watchdog
/// reads the session's stdin through fd 3.)
pub const WATCHDOG_SCRIPT: &str = r#"exec 3<&0
"$@" </dev/null 3<&- 2>&1 & p=$!
( cat <&3 >/dev/null; kill -TERM "$p" ) >/dev/null 2>&1 &
exec 3<&-
wait "$p""#;

/// `$0` of the watchdog shell, so it can be told apart in `ps` on the host.
pub const WATCHDOG_ARG0: &str = "clusterctl-follow";

/// The remote command as [`Mode`] needs it: followers run under the watchdog.
pub fn remote_cmd(cmd: &Cmd, mode: Mode) -> Cmd {
    match mode {
        Mode::Follow => Cmd::read(
            "sh",
            ["-c", WATCHDOG_SCRIPT, WATCHDOG_ARG0]
                .into_iter()
                .map(str::to_string)
                .chain(std::iter::once(cmd.program.clone()))
                .chain(cmd.args.iter().cloned()),
        ),
        _ => cmd.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::testutil::{CANARY, HOSTILE};
    use std::io::Read;
    use std::process::{Command, Stdio};

    /// The watchdog passes hostile argv through byte-exact (one shell level, as sshd gives it).
    #[test]
    fn watchdog_passes_argv_byte_exact() {
        let inner = Cmd::read(
            "printf",
            std::iter::once("%s\\0").chain(HOSTILE.iter().copied()),
        );
        let line = remote_cmd(&inner, Mode::Follow).to_shell_line();
        let out = Command::new("sh")
            .arg("-c")
            .arg(line)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let parts: Vec<&str> = text.split('\0').collect();
        assert_eq!(&parts[..parts.len() - 1], HOSTILE);
        assert!(!std::path::Path::new(CANARY).exists());
    }

    /// A follower that never ends by itself ends when its stdin closes, and its stderr comes out merged.
    #[test]
    fn watchdog_ends_the_command_when_stdin_closes() {
        // The second line only comes if the command still runs while stdin is open.
        let inner = Cmd::read(
            "sh",
            [
                "-c",
                "echo started >&2; sleep 1; echo running; while :; do sleep 1; done",
            ],
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(remote_cmd(&inner, Mode::Follow).to_shell_line())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        out.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"started\nrunning\n");
        drop(child.stdin.take());
        // Waits for the shell: it only returns because the watchdog killed the loop.
        let status = child.wait().unwrap();
        assert!(!status.success());
        let mut rest = Vec::new();
        out.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn other_modes_run_the_command_itself() {
        let c = Cmd::read("docker", ["exec", "x", "sh"]);
        assert_eq!(remote_cmd(&c, Mode::Tty), c);
        assert_eq!(remote_cmd(&c, Mode::NoStdin), c);
    }
}
