//! A test hook, hidden from `--help`: with `CLUSTERCTL_TEST_FAKE_HOSTS=FILE` the binary talks to no host
//! and answers every remote command from FILE through the fake transport, so tests can drive the real
//! binary (exit codes, output, signals, the lock) without sshd or docker. Every run that uses it says so
//! on stderr, so it cannot be on by accident unnoticed. FILE is JSON (docs/testing.md, "CLI tests"):
//!
//! ```json
//! { "log": "commands.jsonl",
//!   "hosts": { "k8s-node1": { "observe": "observe.txt" },
//!              "k8s-node2": { "unreachable": true },
//!              "k8s-node3": { "hostKeyChanged": "SHA256:…" } },
//!   "rules": [ { "host": "k8s-node1", "program": "docker", "arg": "create",
//!                "status": 1, "stdout": "", "stderr": "no space left", "delayMs": 200 } ] }
//! ```
//!
//! `observe` is the stdout the host's observe command prints (paths are relative to FILE); `rules` answer
//! other commands, first match wins, and unmatched commands succeed with no output. `log` receives every
//! command run, one JSON line each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::transport::fake::FakeConnector;
use crate::transport::{Output, TransportError};

/// The environment variable that turns the hook on.
pub const ENV: &str = "CLUSTERCTL_TEST_FAKE_HOSTS";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    log: Option<PathBuf>,
    #[serde(default)]
    hosts: BTreeMap<String, HostSpec>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HostSpec {
    #[serde(default)]
    observe: Option<PathBuf>,
    #[serde(default)]
    unreachable: bool,
    #[serde(default)]
    host_key_changed: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleSpec {
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    program: Option<String>,
    /// One argument the command must have.
    #[serde(default)]
    arg: Option<String>,
    #[serde(default)]
    status: i32,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
    #[serde(default)]
    delay_ms: u64,
}

/// The fake connector FILE describes, when the hook is on.
pub fn connector() -> Result<Option<(PathBuf, FakeConnector)>, String> {
    let Some(path) = std::env::var_os(ENV).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    load(&path).map(|f| Some((path, f)))
}

fn load(path: &Path) -> Result<FakeConnector, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{ENV}={}: {e}", path.display()))?;
    let spec: Spec =
        serde_json::from_str(&text).map_err(|e| format!("{ENV}={}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let fake = FakeConnector::new();
    if let Some(log) = spec.log {
        fake.log_to(base.join(log));
    }
    for r in spec.rules {
        let reply = Ok(Output {
            status: r.status,
            stdout: r.stdout.into_bytes(),
            stderr: r.stderr.into_bytes(),
        });
        let (host, program, arg) = (r.host, r.program, r.arg);
        fake.on_after(
            move |h, c| {
                host.as_deref().is_none_or(|x| x == h)
                    && program.as_deref().is_none_or(|p| p == c.program)
                    && arg.as_deref().is_none_or(|a| c.args.iter().any(|x| x == a))
            },
            reply,
            Duration::from_millis(r.delay_ms),
        );
    }
    for (name, h) in spec.hosts {
        if h.unreachable {
            fake.set_unreachable(&name);
        }
        if let Some(fingerprint) = h.host_key_changed {
            let host = name.clone();
            fake.on(
                move |x, _| x == host,
                Err(TransportError::HostKeyChanged {
                    host: name.clone(),
                    fingerprint,
                    hint: "if the host was reinstalled, remove its old key from known_hosts".into(),
                }),
            );
            continue;
        }
        if let Some(file) = h.observe {
            let file = base.join(file);
            let stdout = std::fs::read_to_string(&file)
                .map_err(|e| format!("{ENV}: {}: {e}", file.display()))?;
            let host = name.clone();
            // The observe command is the only read-only `sh` a runtime sends.
            fake.on(
                move |x, c| x == host && c.program == "sh" && !c.mutating,
                Ok(Output {
                    status: 0,
                    stdout: stdout.into_bytes(),
                    stderr: Vec::new(),
                }),
            );
        }
    }
    Ok(fake)
}
