//! `clusterctl-node`, the node supervisor (docs/node-supervisor.md): runs in the managed pod
//! `clusterctl-system/clusterctl-node-<host>` on every host, polls the host's dockerd over its socket once
//! a second, restarts pod containers by their pod's restartPolicy with the kubelet's crash back-off, and
//! keeps its records in `/var/lib/clusterctl/node/records.json` for `observe`.
//!
//! The thin IO edge of [`clusterctl::supervisor`]: one HTTP/1.1 request per Unix-socket connection, the
//! file written atomically (temporary file + rename). Nothing here may end the loop: a failed request, a
//! vanished container or an unreadable records file is logged and the next poll goes on.

//!
//! It is a binary of its own (not the library, which only `cli::Ui` may print from): its log is
//! stderr, one line per action, read with `docker logs`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clusterctl::model::{NodeRecords, labels};
use clusterctl::supervisor::decide::{self, Seen};
use clusterctl::supervisor::{POLL_MILLIS, STATE_DIR, engine, hold, probe, pulled};

#[path = "node/probe_io.rs"]
mod probe_io;
#[path = "node/probe_tls.rs"]
mod probe_tls;

/// Rewrite the file at least this often (its `writtenAt` says the supervisor is alive).
const HEARTBEAT_SECS: i64 = 10;
/// The most a record file may hold before it is refused as garbage (records are small and bounded).
const MAX_FILE_BYTES: u64 = 8 << 20;

fn log(msg: &str) {
    eprintln!(
        "{} clusterctl-node: {msg}",
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
    );
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

struct Docker {
    socket: PathBuf,
}

impl Docker {
    fn call(&self, method: &str, path: &str) -> Result<engine::Response, String> {
        let mut s = UnixStream::connect(&self.socket)
            .map_err(|e| format!("connect {}: {e}", self.socket.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(20))).ok();
        s.set_write_timeout(Some(Duration::from_secs(20))).ok();
        s.write_all(&engine::request(method, path))
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let mut raw = Vec::new();
        s.take(64 << 20)
            .read_to_end(&mut raw)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        engine::parse_response(&raw).map_err(|e| format!("{method} {path}: {e}"))
    }

    /// One request of raw bytes with its own timeout (probe attempts, stops).
    fn send(&self, req: &[u8], timeout: Duration) -> Result<engine::Response, String> {
        let mut s = UnixStream::connect(&self.socket)
            .map_err(|e| format!("connect {}: {e}", self.socket.display()))?;
        s.set_read_timeout(Some(timeout)).ok();
        s.set_write_timeout(Some(timeout)).ok();
        s.write_all(req).map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.take(1 << 20)
            .read_to_end(&mut raw)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    "timeout".to_string()
                }
                _ => e.to_string(),
            })?;
        engine::parse_response(&raw).map_err(|e| e.to_string())
    }

    fn get_ok(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let r = self.call("GET", path)?;
        match r.status {
            200 => Ok(Some(r.body)),
            404 => Ok(None),
            s => Err(format!(
                "GET {path}: HTTP {s}: {}",
                String::from_utf8_lossy(&r.body).trim()
            )),
        }
    }
}

fn read_records(path: &Path) -> NodeRecords {
    let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_FILE_BYTES);
    if too_big {
        log(&format!(
            "{} is too big; starting with no records",
            path.display()
        ));
        return NodeRecords::default();
    }
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            log(&format!(
                "{} is not readable ({e}); starting with no records",
                path.display()
            ));
            NodeRecords::default()
        }),
        Err(_) => NodeRecords::default(),
    }
}

fn write_records(path: &Path, r: &NodeRecords) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(r).map_err(|e| e.to_string())?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("rename to {}: {e}", path.display()))
}

/// The ids `apply` marked as being deleted (`<state dir>/terminating/<id>`, written by
/// `runtime::terminate` before it stops a pod). Marks of containers that no longer exist are removed, so
/// the directory stays bounded by the host's containers.
fn terminating_marks(
    state_dir: &Path,
    list: &[engine::Listed],
) -> std::collections::BTreeSet<String> {
    let dir = state_dir.join(decide::TERMINATING_DIR);
    let mut marks = std::collections::BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return marks;
    };
    for e in entries.flatten() {
        let id = e.file_name().to_string_lossy().to_string();
        if list.iter().any(|c| c.id == id) {
            marks.insert(id);
        } else if let Err(err) = std::fs::remove_file(e.path()) {
            log(&format!("remove {}: {err}", e.path().display()));
        }
    }
    marks
}

/// The pull step's marks (`supervisor::pulled`); unreadable ones are skipped.
fn pull_marks(state_dir: &Path) -> Vec<pulled::Mark> {
    let Ok(entries) = std::fs::read_dir(state_dir.join(pulled::PULLED_DIR)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().to_string();
            let text = std::fs::read_to_string(e.path()).ok()?;
            pulled::parse_mark(&file, &text)
        })
        .collect()
}

/// One poll: list, inspect what changed, decide, start, and return the new records. `away`: how long
/// the supervisor was away, on its first successful poll after a start (`supervisor::hold`).
fn poll(
    docker: &Docker,
    prev: &NodeRecords,
    state_dir: &Path,
    stopping: &mut probe_io::Stopping,
    grace_secs: u64,
    away: Option<u64>,
) -> Result<NodeRecords, String> {
    let list = docker
        .get_ok(engine::LIST_PATH)?
        .ok_or("the container list answered 404")?;
    let list = engine::parse_list(&list).map_err(|e| format!("container list: {e}"))?;
    let pods = engine::pods(&list, grace_secs);
    let probes = probe::pod_probes(&list);
    let mut seen = Vec::new();
    for c in &list {
        if c.label(labels::CONTAINER) == Some(labels::SANDBOX_CONTAINER) {
            continue;
        }
        let (Some(ns), Some(pod), Some(container)) = (
            c.label(labels::NAMESPACE),
            c.label(labels::POD),
            c.label(labels::CONTAINER),
        ) else {
            continue;
        };
        if !pods.contains_key(&(ns.to_string(), pod.to_string())) {
            continue;
        }
        let name = c.name();
        let known = prev.containers.get(&name).is_some_and(|r| r.id == c.id);
        // A probed container is inspected at every poll: its probes need `startedAt`.
        let probed = probes
            .get(&(ns.to_string(), pod.to_string()))
            .is_some_and(|p| p.containers.contains_key(container));
        if c.state == "running" && known && !probed {
            // Nothing to learn from inspect: the record is about this container and it runs.
            seen.push(Seen {
                id: c.id.clone(),
                name,
                container: container.to_string(),
                namespace: ns.to_string(),
                pod: pod.to_string(),
                status: "running".to_string(),
                ..Default::default()
            });
            continue;
        }
        let Some(path) = engine::inspect_path(&c.id) else {
            continue;
        };
        match docker.get_ok(&path) {
            Ok(Some(body)) => match engine::parse_inspect(&body) {
                Ok(Some(s)) => seen.push(s),
                Ok(None) => {}
                Err(e) => log(&format!("inspect {name}: {e}")),
            },
            Ok(None) => {} // removed meanwhile
            Err(e) => log(&e),
        }
    }
    let now = now_secs();
    let terminating = terminating_marks(state_dir, &list);
    let (mut next, starts) = decide::supervise_holding(&seen, &pods, prev, now, &terminating, away);
    let marks = pull_marks(state_dir);
    for file in pulled::attribute(&mut next, prev, &seen, &marks, now) {
        let path = state_dir.join(pulled::PULLED_DIR).join(file);
        if let Err(e) = std::fs::remove_file(&path) {
            log(&format!("remove {}: {e}", path.display()));
        }
    }
    for (name, r) in &next.containers {
        let newly = r.held_since.is_some()
            && prev
                .containers
                .get(name)
                .is_none_or(|p| p.held_since.is_none());
        if newly {
            log(&format!(
                "holding {name}: back after {}s away, longer than its pod tolerates an unreachable host; an apply decides",
                away.unwrap_or(0)
            ));
        }
    }
    for name in starts {
        let Some(s) = seen.iter().find(|s| s.name == name) else {
            continue;
        };
        let Some(path) = engine::start_path(&s.id) else {
            continue;
        };
        let result = docker.call("POST", &path);
        let Some(r) = next.containers.get_mut(&name) else {
            continue;
        };
        match result {
            Ok(resp) if resp.status == 204 || resp.status == 304 => {
                decide::started(r, s, now);
                log(&format!(
                    "started {name} (exit code {}, restart {}, next back-off {}s)",
                    s.exit_code,
                    r.restart_count,
                    r.back_off_entry.as_ref().map_or(0, |e| e.delay_seconds)
                ));
            }
            Ok(resp) => {
                let msg = String::from_utf8_lossy(&resp.body).trim().to_string();
                log(&format!("start {name}: HTTP {}: {msg}", resp.status));
                decide::push_event(
                    r,
                    "Warning",
                    "Failed",
                    format!("Error: {msg}"),
                    &clusterctl::supervisor::backoff::format_secs(now),
                );
            }
            Err(e) => log(&format!("start {name}: {e}")),
        }
    }
    probe_io::run(docker, &seen, &probes, &mut next, stopping, now);
    next.written_at = clusterctl::supervisor::backoff::format_secs(now);
    Ok(next)
}

extern "C" fn on_term(_: libc::c_int) {
    // PID 1 of its container: without a handler SIGTERM would be ignored until docker's SIGKILL. Nothing
    // is lost by stopping between polls: the records file is only ever replaced whole.
    unsafe { libc::_exit(0) }
}

fn main() {
    // SAFETY: the handler only calls `_exit`, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
    }
    let socket = std::env::var_os("CLUSTERCTL_NODE_DOCKER_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"));
    let dir = std::env::var_os("CLUSTERCTL_NODE_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(STATE_DIR));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        log(&format!("cannot create {}: {e}", dir.display()));
    }
    let file = dir.join("records.json");
    let docker = Docker { socket };
    let mut records = read_records(&file);
    let grace = hold::grace_from_env(std::env::var(hold::GRACE_ENV).ok().as_deref());
    // Until the first poll succeeds (dockerd may still be starting), the absence is still to be judged,
    // from the heartbeat the records file kept.
    let mut judging = true;
    let mut last_write = 0i64;
    let mut stopping = probe_io::Stopping::default();
    log(&format!(
        "supervising the pod containers of {} (records in {}; node-lost grace {grace}s, away {})",
        docker.socket.display(),
        file.display(),
        hold::away_secs(&records, now_secs()).map_or("-".to_string(), |a| format!("{a}s"))
    ));
    loop {
        let started = std::time::Instant::now();
        let away = if judging {
            hold::away_secs(&records, now_secs())
        } else {
            None
        };
        // A panic in one poll (a bug) must not end the supervision: log it and poll again.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            poll(&docker, &records, &dir, &mut stopping, grace, away)
        }));
        match result {
            Ok(Ok(next)) => {
                judging = false;
                let changed = next.containers != records.containers;
                let now = now_secs();
                if changed || now - last_write >= HEARTBEAT_SECS {
                    match write_records(&file, &next) {
                        Ok(()) => last_write = now,
                        Err(e) => log(&e),
                    }
                }
                records = next;
            }
            Ok(Err(e)) => log(&e),
            Err(_) => log("a poll panicked; continuing"),
        }
        let wait = Duration::from_millis(POLL_MILLIS).saturating_sub(started.elapsed());
        std::thread::sleep(wait);
    }
}
