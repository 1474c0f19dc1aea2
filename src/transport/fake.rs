//! **Test-only** transport: records every [`Cmd`] per host and answers with canned [`Output`]s chosen by
//! matcher rules; hosts can be marked unreachable. Never talks to anything. Used by unit tests of observe,
//! apply and the CLI; not meant for production wiring.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use super::{Cmd, Connector, Output, Target, Transport, TransportError};

type Matcher = Box<dyn Fn(&str, &Cmd) -> bool + Send + Sync>;

struct Rule {
    matcher: Matcher,
    reply: Result<Output, TransportError>,
    /// How long the command "runs" before replying.
    delay: std::time::Duration,
}

#[derive(Default)]
struct State {
    /// (host, command) in the order they were run.
    log: Vec<(String, Cmd)>,
    rules: Vec<Rule>,
    unreachable: BTreeSet<String>,
    /// Where every command is also appended, one JSON line each (for a test that reads it from outside).
    log_file: Option<std::path::PathBuf>,
}

/// Shared fake: hand it to code as a [`Connector`], then inspect what was run.
/// Unmatched commands succeed with empty output.
#[derive(Clone, Default)]
pub struct FakeConnector {
    state: Arc<Mutex<State>>,
}

impl FakeConnector {
    pub fn new() -> FakeConnector {
        FakeConnector::default()
    }

    /// Replies `reply` to commands for which `matcher(host, cmd)` is true. Rules are tried in the order
    /// they were added; the first match wins.
    pub fn on(
        &self,
        matcher: impl Fn(&str, &Cmd) -> bool + Send + Sync + 'static,
        reply: Result<Output, TransportError>,
    ) -> &FakeConnector {
        self.on_after(matcher, reply, std::time::Duration::ZERO)
    }

    /// Like [`FakeConnector::on`], replying only after `delay` (a command that takes time).
    pub fn on_after(
        &self,
        matcher: impl Fn(&str, &Cmd) -> bool + Send + Sync + 'static,
        reply: Result<Output, TransportError>,
        delay: std::time::Duration,
    ) -> &FakeConnector {
        self.state.lock().unwrap().rules.push(Rule {
            matcher: Box::new(matcher),
            reply,
            delay,
        });
        self
    }

    /// Also appends every command run, as one JSON line `{"host":…,"cmd":{…}}`, to `path`.
    pub fn log_to(&self, path: std::path::PathBuf) -> &FakeConnector {
        self.state.lock().unwrap().log_file = Some(path);
        self
    }

    /// Replies `stdout` (exit 0) to every command on `host` whose program is `program`.
    pub fn on_program(&self, host: &str, program: &str, stdout: &str) -> &FakeConnector {
        let (host, program) = (host.to_string(), program.to_string());
        self.on(
            move |h, c| h == host && c.program == program,
            Ok(Output {
                status: 0,
                stdout: stdout.as_bytes().to_vec(),
                stderr: Vec::new(),
            }),
        )
    }

    /// Connecting to `host` fails with [`TransportError::Unreachable`].
    pub fn set_unreachable(&self, host: &str) -> &FakeConnector {
        self.state
            .lock()
            .unwrap()
            .unreachable
            .insert(host.to_string());
        self
    }

    /// Every command run on `host`, in order.
    pub fn commands(&self, host: &str) -> Vec<Cmd> {
        let st = self.state.lock().unwrap();
        st.log
            .iter()
            .filter(|(h, _)| h == host)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Every (host, command), in the order they were run.
    pub fn all_commands(&self) -> Vec<(String, Cmd)> {
        self.state.lock().unwrap().log.clone()
    }

    /// A transport for `host` that shares this fake's rules and log (ignores unreachability).
    pub fn transport(&self, host: &str) -> Arc<FakeTransport> {
        Arc::new(FakeTransport {
            host: host.to_string(),
            state: self.state.clone(),
        })
    }
}

impl Connector for FakeConnector {
    fn connect<'a>(
        &'a self,
        host: &'a Target,
    ) -> BoxFuture<'a, Result<Arc<dyn Transport>, TransportError>> {
        Box::pin(async move {
            if self.state.lock().unwrap().unreachable.contains(&host.name) {
                return Err(TransportError::Unreachable {
                    host: host.name.clone(),
                    reason: format!(
                        "connect to host {} port {}: Connection refused",
                        host.address, host.port
                    ),
                });
            }
            Ok(self.transport(&host.name) as Arc<dyn Transport>)
        })
    }
}

/// One host's view of a [`FakeConnector`].
pub struct FakeTransport {
    host: String,
    state: Arc<Mutex<State>>,
}

impl Transport for FakeTransport {
    fn host(&self) -> &str {
        &self.host
    }

    fn run<'a>(&'a self, cmd: &'a Cmd) -> BoxFuture<'a, Result<Output, TransportError>> {
        Box::pin(async move {
            cmd.check_sendable(&self.host)?;
            let (reply, delay) = {
                let mut st = self.state.lock().unwrap();
                st.log.push((self.host.clone(), cmd.clone()));
                if let Some(path) = &st.log_file {
                    let line = serde_json::json!({ "host": self.host, "cmd": cmd });
                    use std::io::Write;
                    let _ = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .and_then(|mut f| writeln!(f, "{line}"));
                }
                st.rules
                    .iter()
                    .find(|r| (r.matcher)(&self.host, cmd))
                    .map(|r| (r.reply.clone(), r.delay))
                    .unwrap_or_else(|| (Ok(Output::default()), std::time::Duration::ZERO))
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            reply
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> Target {
        Target {
            name: name.into(),
            address: "10.0.0.1".into(),
            port: 22,
            user: "root".into(),
            identity_file: None,
            known_hosts_file: None,
            strict_host_key_checking: true,
            connect_timeout: 10,
            max_sessions: 8,
            command_timeouts: crate::transport::CommandTimeouts {
                read: 20,
                write: 120,
            },
        }
    }

    #[tokio::test]
    async fn records_per_host_and_replies_by_rule() {
        let fake = FakeConnector::new();
        fake.on_program("a", "docker", "ok-a");
        let ta = fake.connect(&host("a")).await.unwrap();
        let tb = fake.connect(&host("b")).await.unwrap();
        let c1 = Cmd::read("docker", ["ps"]);
        let c2 = Cmd::write("docker", ["rm", "-f", "x"]);
        assert_eq!(ta.run(&c1).await.unwrap().stdout, b"ok-a");
        // No rule for b: empty success.
        assert_eq!(tb.run(&c2).await.unwrap(), Output::default());
        assert_eq!(fake.commands("a"), vec![c1.clone()]);
        assert_eq!(fake.commands("b"), vec![c2.clone()]);
        assert_eq!(
            fake.all_commands(),
            vec![("a".to_string(), c1), ("b".to_string(), c2)]
        );
    }

    #[tokio::test]
    async fn unreachable_hosts_fail_to_connect() {
        let fake = FakeConnector::new();
        fake.set_unreachable("down");
        let err = fake.connect(&host("down")).await.err().unwrap();
        assert!(matches!(err, TransportError::Unreachable { ref host, .. } if host == "down"));
        assert!(fake.connect(&host("up")).await.is_ok());
    }
}
