//! The reconciler's status: its last round (commit, times, changes applied, errors, next round) as JSON,
//! written to `--status-file` after every round (atomically: a temp file renamed over it) and served on
//! `--status-addr` (`GET /status`, `GET /healthz`) by a small HTTP server (tiny_http) on its own thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Nothing to do: the hosts match the commit.
    InSync,
    /// Changes were applied, all of them succeeded.
    Applied,
    /// Another apply or reconcile held the cluster lock: the round was skipped.
    Locked,
    /// Something failed: invalid input, a change, the lock on a host.
    Failed,
    /// A signal stopped the round.
    Stopped,
}

impl Outcome {
    /// The word of logs and the status JSON: `in-sync`, `applied`, `locked`, `failed`, `stopped`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::InSync => "in-sync",
            Outcome::Applied => "applied",
            Outcome::Locked => "locked",
            Outcome::Failed => "failed",
            Outcome::Stopped => "stopped",
        }
    }

    /// A round that leaves the reconciler healthy.
    pub fn ok(self) -> bool {
        matches!(self, Outcome::InSync | Outcome::Applied | Outcome::Locked)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundReport {
    pub round: u64,
    /// The commit the round read (short), if it got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub started: String,
    pub finished: String,
    pub outcome: Outcome,
    pub changes_applied: usize,
    pub changes_failed: usize,
    pub errors: Vec<String>,
    /// Hosts that could not be observed.
    pub unreachable: Vec<String>,
    /// Hosts lost (unreachable for longer than the grace period) whose pods were replaced.
    pub lost: Vec<String>,
    /// Who held the lock when the round was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_holder: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub pid: u32,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub interval_seconds: u64,
    /// The round in progress: (number, started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_round: Option<CurrentRound>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_round: Option<RoundReport>,
    /// When the last round that ended well finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_round: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentRound {
    pub round: u64,
    pub started: String,
}

impl Status {
    /// `/healthz`: healthy while a round is in progress within `bound_secs` of its start, else when the
    /// last round ended well (in sync, applied, or skipped because another apply held the lock); also
    /// before the first round ends.
    pub fn healthy(&self, now: jiff::Timestamp, bound_secs: u64) -> bool {
        if let Some(c) = &self.current_round {
            let started: Option<jiff::Timestamp> = c.started.parse().ok();
            let within =
                started.is_some_and(|s| now.duration_since(s).as_secs() <= bound_secs as i64);
            return within;
        }
        self.last_round.as_ref().is_some_and(|r| r.outcome.ok())
    }

    pub fn json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("status serializes");
        s.push('\n');
        s
    }
}

/// Writes `status` to `path` atomically (a temp file beside it, then renamed over it).
pub fn write_file(path: &Path, status: &Status) -> std::io::Result<()> {
    let tmp: PathBuf = {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp.{}", std::process::id()));
        path.with_file_name(name)
    };
    std::fs::write(&tmp, status.json())?;
    std::fs::rename(&tmp, path)
}

/// The HTTP server of `/healthz` and `/status`; stops when dropped.
pub struct Server {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(
        addr: std::net::SocketAddr,
        status: Arc<Mutex<Status>>,
        bound_secs: u64,
    ) -> Result<Server, String> {
        let server = Arc::new(tiny_http::Server::http(addr).map_err(|e| e.to_string())?);
        let s = server.clone();
        let thread = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let (code, body, kind) = answer(req.method(), req.url(), &status, bound_secs);
                let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], kind.as_bytes())
                    .expect("a valid header");
                let resp = tiny_http::Response::from_string(body)
                    .with_status_code(code)
                    .with_header(header);
                let _ = req.respond(resp);
            }
        });
        Ok(Server {
            server,
            thread: Some(thread),
        })
    }
}

/// The answer to one request: status code, body, content type.
fn answer(
    method: &tiny_http::Method,
    url: &str,
    status: &Mutex<Status>,
    bound_secs: u64,
) -> (u16, String, &'static str) {
    let path = url.split('?').next().unwrap_or("");
    if *method != tiny_http::Method::Get && *method != tiny_http::Method::Head {
        return (405, "method not allowed\n".into(), "text/plain");
    }
    let status = status.lock().expect("status lock").clone();
    match path {
        "/healthz" => {
            if status.healthy(jiff::Timestamp::now(), bound_secs) {
                (200, "ok\n".into(), "text/plain")
            } else {
                let why = status
                    .last_round
                    .as_ref()
                    .map(|r| {
                        format!(
                            "last round {} ended {}: {}",
                            r.round,
                            r.outcome.name(),
                            r.errors.first().map(String::as_str).unwrap_or("")
                        )
                    })
                    .unwrap_or_else(|| "the round in progress is overdue".into());
                (503, format!("unhealthy: {why}\n"), "text/plain")
            }
        }
        "/status" => (200, status.json(), "application/json"),
        _ => (
            404,
            "not found: try /healthz or /status\n".into(),
            "text/plain",
        ),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(current: Option<&str>, last: Option<Outcome>) -> Status {
        Status {
            pid: 1,
            git_ref: "main".into(),
            interval_seconds: 30,
            current_round: current.map(|s| CurrentRound {
                round: 2,
                started: s.into(),
            }),
            last_round: last.map(|outcome| RoundReport {
                round: 1,
                commit: Some("abc1234".into()),
                started: "2026-12-01T12:00:00Z".into(),
                finished: "2026-12-01T12:00:01Z".into(),
                outcome,
                changes_applied: 0,
                changes_failed: 0,
                errors: vec![],
                unreachable: vec![],
                lost: vec![],
                lock_holder: None,
            }),
            last_success: None,
            next_round: None,
        }
    }

    #[test]
    fn health_follows_the_last_round_and_an_overdue_round_is_unhealthy() {
        let now: jiff::Timestamp = "2026-12-01T12:01:00Z".parse().unwrap();
        assert!(status(None, Some(Outcome::InSync)).healthy(now, 300));
        assert!(status(None, Some(Outcome::Applied)).healthy(now, 300));
        assert!(status(None, Some(Outcome::Locked)).healthy(now, 300));
        assert!(!status(None, Some(Outcome::Failed)).healthy(now, 300));
        assert!(!status(None, None).healthy(now, 300));
        // In progress, within bounds: healthy, also after a failed round; overdue: not.
        assert!(status(Some("2026-12-01T12:00:30Z"), None).healthy(now, 300));
        assert!(status(Some("2026-12-01T12:00:30Z"), Some(Outcome::Failed)).healthy(now, 300));
        assert!(!status(Some("2026-12-01T11:50:00Z"), Some(Outcome::InSync)).healthy(now, 300));
    }

    #[test]
    fn the_server_answers_healthz_and_status_on_loopback() {
        let st = Arc::new(Mutex::new(status(None, Some(Outcome::InSync))));
        let server = Server::start("127.0.0.1:0".parse().unwrap(), st.clone(), 300).unwrap();
        let addr = server.server.server_addr().to_ip().unwrap();
        let get = |path: &str| {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            write!(
                c,
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        };
        let ok = get("/healthz");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.ends_with("ok\n"), "{ok}");
        let s = get("/status");
        assert!(s.contains("\"outcome\": \"in-sync\""), "{s}");
        st.lock().unwrap().last_round.as_mut().unwrap().outcome = Outcome::Failed;
        assert!(get("/healthz").starts_with("HTTP/1.1 503"));
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
        drop(server);
    }
}
