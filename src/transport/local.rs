//! Runs [`Cmd`]s on this machine with `tokio::process` and no shell: the argv goes to `execve` as is.
//! Useful for tests and for a single-host setup; it shows the shell-free argv path. Must not be used to
//! reach other hosts.

use std::process::Stdio;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use super::{Cmd, Connector, Output, Target, Transport, TransportError};

/// A transport that executes commands locally.
#[derive(Debug, Clone)]
pub struct LocalTransport {
    host: String,
}

impl LocalTransport {
    pub fn new(host: impl Into<String>) -> LocalTransport {
        LocalTransport { host: host.into() }
    }

    async fn exec(&self, cmd: &Cmd) -> Result<Output, TransportError> {
        cmd.check_sendable(&self.host)?;
        let exec_err = |reason: String| TransportError::Exec {
            host: self.host.clone(),
            program: cmd.program.clone(),
            reason,
        };
        let mut child = tokio::process::Command::new(&cmd.program)
            .args(&cmd.args)
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| exec_err(e.to_string()))?;
        if let (Some(input), Some(mut stdin)) = (&cmd.stdin, child.stdin.take()) {
            // Write concurrently with reading output so a chatty child cannot deadlock on a full pipe.
            let input = input.clone().into_bytes();
            tokio::spawn(async move {
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            });
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| exec_err(e.to_string()))?;
        Ok(Output {
            status: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.host
    }
    fn run<'a>(&'a self, cmd: &'a Cmd) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(self.exec(cmd))
    }
}

/// Connects every inventory host to this machine (tests, single-node use).
#[derive(Debug, Clone, Default)]
pub struct LocalConnector;

impl Connector for LocalConnector {
    fn connect<'a>(
        &'a self,
        target: &'a Target,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, TransportError>> {
        Box::pin(
            async move { Ok(Arc::new(LocalTransport::new(&target.name)) as Arc<dyn Transport>) },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values a shell would interpret; through the local transport they must arrive untouched.
    pub(crate) const HOSTILE: &[&str] = &[
        "$(touch /tmp/pwned-local)",
        "; rm -rf /tmp/nonexistent-clusterctl",
        "`id`",
        "it's",
        "say \"hi\"",
        "line1\nline2",
        "-rf",
        "",
        "!bang",
        "back\\slash",
    ];

    #[tokio::test]
    async fn argv_reaches_program_byte_exact() {
        let t = LocalTransport::new("local");
        let mut args = vec!["%s\\0".to_string()];
        args.extend(HOSTILE.iter().map(|s| s.to_string()));
        let out = t.run(&Cmd::read("printf", args)).await.unwrap();
        assert!(out.success(), "{}", out.stderr_str());
        let text = out.stdout_str().into_owned();
        let parts: Vec<&str> = text.split('\0').collect();
        // printf prints one NUL-terminated record per argument, so there is a trailing empty piece.
        assert_eq!(&parts[..parts.len() - 1], HOSTILE);
        assert!(!std::path::Path::new("/tmp/pwned-local").exists());
    }

    #[tokio::test]
    async fn stdin_is_piped_and_exit_code_kept() {
        let t = LocalTransport::new("local");
        let out = t
            .run(&Cmd::read("sh", ["-c", "cat; exit 3"]).with_stdin("hello\n"))
            .await
            .unwrap();
        assert_eq!(out.status, 3);
        assert_eq!(out.stdout, b"hello\n");
    }

    #[tokio::test]
    async fn missing_program_and_nul_are_errors() {
        let t = LocalTransport::new("n1");
        let err = t
            .run(&Cmd::read("/nonexistent/prog", Vec::<String>::new()))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Exec { ref host, .. } if host == "n1"));
        let err = t.run(&Cmd::read("echo", ["a\0b"])).await.unwrap_err();
        assert!(matches!(err, TransportError::InvalidCommand { .. }));
    }
}
