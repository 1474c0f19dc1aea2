//! The probe attempts of one poll (docs/probes.md), the IO half of [`clusterctl::supervisor::probe`]:
//! HTTP GET (plain, or over TLS for `scheme: HTTPS`: `probe_tls`), grpc health checks and TCP connects to the pod IP (the supervisor's pod is on the host's pod bridge, so it
//! reaches every pod of its host), exec over the Engine API, each bounded by its `timeoutSeconds`, all
//! of a poll at once (one thread each); and the stop (SIGTERM, grace, SIGKILL) of a container whose
//! liveness or startup probe failed, in the background so the loop goes on.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use clusterctl::model::NodeRecords;
use clusterctl::supervisor::backoff::parse;
use clusterctl::supervisor::decide::Seen;
use clusterctl::supervisor::probe::{self, Outcome, PodProbes, Target};
use clusterctl::supervisor::probe_engine as pe;

use super::{Docker, log};

/// Containers being stopped for a failed probe, by id, until when they are left alone (a stop takes up
/// to the grace period; probing meanwhile would kill twice).
#[derive(Default)]
pub struct Stopping(BTreeMap<String, Instant>);

/// What dockerd may take to create, start and inspect an exec beyond the command's own timeout.
const EXEC_SETUP_SLACK: Duration = Duration::from_secs(2);
const DOCKER_CALL: Duration = Duration::from_secs(10);

/// The longest a probe response is read (the kubelet reads at most 10 KiB of the body).
const MAX_READ: usize = 10 << 10;

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("dial tcp {host}:{port}: no address"))
}

/// Go's wording of a failed dial, as the kubelet's messages carry it.
fn dial_error(host: &str, port: u16, e: &std::io::Error) -> String {
    let what = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "i/o timeout".to_string(),
        std::io::ErrorKind::HostUnreachable => "connect: no route to host".to_string(),
        _ => format!("connect: {e}"),
    };
    format!("dial tcp {host}:{port}: {what}")
}

fn tcp(host: &str, port: u16, timeout: Duration) -> Outcome {
    let addr = match resolve(host, port) {
        Ok(a) => a,
        Err(e) => return Outcome::Failure(e),
    };
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => Outcome::Success(String::new()),
        Err(e) => Outcome::Failure(dial_error(host, port, &e)),
    }
}

/// A probe connection: plain TCP or TLS over it.
trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

/// Go's wording of a failed TLS exchange, or `None` for an IO error that is not TLS's (a timeout).
fn tls_error(e: &std::io::Error) -> Option<String> {
    use rustls::{Error, InvalidMessage};
    let inner = e.get_ref()?.downcast_ref::<Error>()?;
    Some(match inner {
        // A server that is not speaking TLS (plain HTTP on the port) answers with bytes that are no record.
        Error::InvalidMessage(InvalidMessage::InvalidContentType) => {
            "tls: first record does not look like a TLS handshake".to_string()
        }
        other => format!("tls: {other}"),
    })
}

/// One GET, plain or over TLS (`Target::Http`'s `https`), as the kubelet's HTTP prober words its results.
fn http(
    https: bool,
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    url: &str,
    timeout: Duration,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let addr = match resolve(host, port) {
        Ok(a) => a,
        Err(e) => return Outcome::Failure(format!("Get \"{url}\": {e}")),
    };
    let tcp = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Failure(format!("Get \"{url}\": {}", dial_error(host, port, &e)));
        }
    };
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    tcp.set_read_timeout(Some(left)).ok();
    tcp.set_write_timeout(Some(left)).ok();
    let mut s: Box<dyn Conn> = if https {
        match super::probe_tls::client(host, tcp) {
            Ok(s) => Box::new(s),
            Err(e) => return Outcome::Error(e),
        }
    } else {
        Box::new(tcp)
    };
    let failed = |e: &std::io::Error| match tls_error(e) {
        Some(why) => Outcome::Failure(format!("Get \"{url}\": {why}")),
        // The peer closed mid-exchange (a TLS port that hangs up on a plain request, or the reverse).
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Outcome::Failure(format!("Get \"{url}\": EOF"))
        }
        None if matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ) =>
        {
            Outcome::Failure(format!("Get \"{url}\": read: connection reset by peer"))
        }
        None => Outcome::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    };
    // Over TLS the handshake runs within this write, under the same deadline.
    if let Err(e) = s.write_all(&pe::http_request(host, port, path, headers)) {
        return failed(&e);
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while buf.len() < MAX_READ && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if Instant::now() >= deadline {
            return failed(&std::io::ErrorKind::TimedOut.into());
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A server that closes without close_notify after its answer is no failure of the probe.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => break,
            Err(e) => return failed(&e),
        }
    }
    match pe::http_status(&buf) {
        Some(code) if pe::http_success(code) => Outcome::Success(String::new()),
        Some(code) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
        None => Outcome::Failure(format!("Get \"{url}\": malformed HTTP response")),
    }
}

/// One `grpc.health.v1.Health/Check` over h2c, as the kubelet's grpc prober words its results.
fn grpc(host: &str, port: u16, service: &str, timeout: Duration) -> Outcome {
    use clusterctl::supervisor::grpc_health as gh;
    let deadline = Instant::now() + timeout;
    let authority = format!("{host}:{port}");
    let secs = timeout.as_secs();
    let connect_failed = |why: String| {
        Outcome::Failure(format!(
            "timeout: failed to connect service {authority:?} within {secs}s: {why}"
        ))
    };
    let addr = match resolve(host, port) {
        Ok(a) => a,
        Err(e) => return connect_failed(e),
    };
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return connect_failed(dial_error(host, port, &e)),
    };
    let timed_out = || {
        Outcome::Failure(format!(
            "timeout: health rpc did not complete within {secs}s"
        ))
    };
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    s.set_write_timeout(Some(left())).ok();
    if s.write_all(&gh::check_request(&authority, service))
        .is_err()
    {
        return timed_out();
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (mut acked, mut ponged) = (0, 0);
    loop {
        let p = gh::parse(&buf);
        // Settings and pings are answered as any HTTP/2 peer must (a server may wait for them).
        let mut reply = Vec::new();
        for _ in acked..p.settings {
            reply.extend(gh::settings_ack());
        }
        for ping in p.pings.iter().skip(ponged) {
            reply.extend(gh::ping_ack(ping));
        }
        acked = p.settings;
        ponged = p.pings.len();
        if !reply.is_empty() {
            s.write_all(&reply).ok();
        }
        match p.answer {
            Some(gh::Answer::Health(gh::SERVING)) => return Outcome::Success(String::new()),
            Some(gh::Answer::Health(other)) => {
                return Outcome::Failure(format!(
                    "service unhealthy (responded with {:?})",
                    gh::status_name(other)
                ));
            }
            Some(gh::Answer::Rpc { code, message }) => {
                let code = code.map_or_else(|| "unreadable".to_string(), gh::code_name);
                return Outcome::Failure(format!(
                    "error: health rpc probe failed: rpc error: code = {code} desc = {message}"
                ));
            }
            Some(gh::Answer::Reset(code)) => {
                return Outcome::Failure(format!(
                    "error: health rpc probe failed: the server reset the stream (HTTP/2 error {code})"
                ));
            }
            None => {}
        }
        if Instant::now() >= deadline || buf.len() > MAX_READ {
            return timed_out();
        }
        s.set_read_timeout(Some(left())).ok();
        match s.read(&mut chunk) {
            Ok(0) => {
                return Outcome::Failure(
                    "error: health rpc probe failed: the connection closed before an answer"
                        .to_string(),
                );
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return timed_out(),
        }
    }
}

fn exec(docker: &Docker, id: &str, command: &[String], timeout: Duration) -> Outcome {
    let Some((path, body)) = pe::exec_create(id, command) else {
        return Outcome::Error("invalid container id".to_string());
    };
    let created = match docker.send(&pe::request_json("POST", &path, &body), DOCKER_CALL) {
        Ok(r) if r.status == 201 => r,
        Ok(r) => {
            return Outcome::Error(format!(
                "exec create: HTTP {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body).trim()
            ));
        }
        Err(e) => return Outcome::Error(format!("exec create: {e}")),
    };
    let Some(exec_id) = pe::exec_id(&created.body) else {
        return Outcome::Error("exec create: no id".to_string());
    };
    let Some((path, body)) = pe::exec_start(&exec_id) else {
        return Outcome::Error("exec create: invalid id".to_string());
    };
    // The command's own time is bounded by timeoutSeconds; dockerd's exec set-up (a runc exec) is not the
    // container's fault, so the attach read gets a little more (docs/probes.md).
    let output = match docker.send(
        &pe::request_json("POST", &path, &body),
        timeout + EXEC_SETUP_SLACK,
    ) {
        Ok(r) if r.status == 200 => String::from_utf8_lossy(&pe::demux(&r.body)).into_owned(),
        Ok(r) => {
            // dockerd answers an exec it could not start (no such file) with the reason.
            return Outcome::Failure(String::from_utf8_lossy(&r.body).trim().to_string());
        }
        Err(e) if e == "timeout" => {
            return Outcome::Failure(format!(
                "command {:?} timed out after {}s",
                command.join(" "),
                timeout.as_secs()
            ));
        }
        Err(e) => return Outcome::Error(format!("exec start: {e}")),
    };
    let Some(path) = pe::exec_inspect_path(&exec_id) else {
        return Outcome::Error("exec: invalid id".to_string());
    };
    match docker.send(
        &clusterctl::supervisor::engine::request("GET", &path),
        DOCKER_CALL,
    ) {
        Ok(r) => match pe::exec_exit(&r.body) {
            Some((false, 0)) => Outcome::Success(output),
            Some((false, _)) => Outcome::Failure(output),
            Some((true, _)) => Outcome::Failure(format!(
                "command {:?} timed out after {}s",
                command.join(" "),
                timeout.as_secs()
            )),
            None => Outcome::Error("exec inspect: unreadable".to_string()),
        },
        Err(e) => Outcome::Error(format!("exec inspect: {e}")),
    }
}

fn attempt(docker: &Docker, id: &str, t: &Target, timeout: Duration) -> Outcome {
    match t {
        Target::Http {
            https,
            host,
            port,
            path,
            headers,
        } => http(*https, host, *port, path, headers, &t.url(), timeout),
        Target::Tcp { host, port } => tcp(host, *port, timeout),
        Target::Exec { command } => exec(docker, id, command, timeout),
        Target::Grpc {
            host,
            port,
            service,
        } => grpc(host, *port, service, timeout),
    }
}

/// The probes of this poll: begin/reset each probed container's state, run the due attempts at once,
/// fold the outcomes into the records, stop what failed liveness or startup, and set `ready`.
pub fn run(
    docker: &Docker,
    seen: &[Seen],
    probes: &BTreeMap<(String, String), PodProbes>,
    next: &mut NodeRecords,
    stopping: &mut Stopping,
    now: i64,
) {
    let clock = Instant::now();
    stopping.0.retain(|_, until| *until > clock);
    // (container name, spec index, target or prober error)
    let mut jobs: Vec<(&Seen, &probe::Spec, Result<Target, String>)> = Vec::new();
    for s in seen {
        let Some(pod) = probes.get(&(s.namespace.clone(), s.pod.clone())) else {
            continue;
        };
        let Some(specs) = pod.containers.get(&s.container) else {
            continue;
        };
        let Some(r) = next.containers.get_mut(&s.name) else {
            continue;
        };
        let running = s.status == "running" && parse(&s.started_at).is_some();
        if !running {
            probe::finish(specs, r, false);
            continue;
        }
        probe::begin(specs, r, &s.started_at);
        if stopping.0.contains_key(&s.id) {
            probe::finish(specs, r, false);
            continue;
        }
        let started_at = parse(&s.started_at).unwrap_or(now);
        for spec in probe::due(specs, r, started_at, now) {
            jobs.push((s, spec, probe::target(spec, &pod.ip)));
        }
    }
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(s, spec, t)| {
                scope.spawn(move || match t {
                    Ok(t) => attempt(docker, &s.id, t, Duration::from_secs(spec.timeout as u64)),
                    Err(e) => Outcome::Error(e.clone()),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Outcome::Error("probe panicked".to_string()))
            })
            .collect()
    });
    for ((s, spec, t), outcome) in jobs.iter().zip(outcomes) {
        let Some(r) = next.containers.get_mut(&s.name) else {
            continue;
        };
        let target = t.as_ref().map(Target::describe).unwrap_or_default();
        if let Some(kill) = probe::record(spec, r, &s.container, &target, &outcome, now) {
            log(&format!(
                "{} probe of {} failed ({target}): stopping it (grace {}s)",
                kill.kind.key(),
                s.name,
                kill.grace
            ));
            stopping.0.insert(
                s.id.clone(),
                clock + Duration::from_secs(kill.grace.max(0) as u64 + 5),
            );
            if let Some(path) = pe::stop_path(&s.id, kill.grace) {
                let d = Docker {
                    socket: docker.socket.clone(),
                };
                let name = s.name.clone();
                let wait = Duration::from_secs(kill.grace.max(0) as u64 + 20);
                std::thread::spawn(move || {
                    match d.send(
                        &clusterctl::supervisor::engine::request("POST", &path),
                        wait,
                    ) {
                        Ok(r) if r.status == 204 || r.status == 304 => {}
                        Ok(r) => log(&format!("stop {name}: HTTP {}", r.status)),
                        Err(e) => log(&format!("stop {name}: {e}")),
                    }
                });
            }
        }
    }
    for s in seen {
        let (Some(pod), Some(r)) = (
            probes.get(&(s.namespace.clone(), s.pod.clone())),
            next.containers.get_mut(&s.name),
        ) else {
            continue;
        };
        if let Some(specs) = pod.containers.get(&s.container) {
            let running = s.status == "running" && !stopping.0.contains_key(&s.id);
            probe::finish(specs, r, running);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-connection server on loopback answering with `serve`; the probe URL's port.
    fn server(serve: impl FnOnce(TcpStream) + Send + 'static) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                serve(s);
            }
        });
        port
    }

    fn get(https: bool, port: u16) -> Outcome {
        let scheme = if https { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{port}/");
        http(
            https,
            "127.0.0.1",
            port,
            "/",
            &[],
            &url,
            Duration::from_secs(5),
        )
    }

    fn tls_server(status: &'static str) -> u16 {
        let ck = rcgen::generate_simple_self_signed(vec!["x".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
        server(move |tcp| {
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut s = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
            s.conn.send_close_notify();
            let _ = s.flush();
        })
    }

    use std::sync::Arc;

    #[test]
    fn https_gets_over_tls_from_a_self_signed_server_with_the_http_status_rule() {
        assert_eq!(
            get(true, tls_server("204 No Content")),
            Outcome::Success(String::new())
        );
        assert_eq!(
            get(true, tls_server("503 Service Unavailable")),
            Outcome::Failure("HTTP probe failed with statuscode: 503".to_string())
        );
    }

    #[test]
    fn https_to_a_plain_port_and_http_to_a_tls_port_fail() {
        let plain = server(|mut s| {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let port = plain;
        assert_eq!(
            get(true, port),
            Outcome::Failure(format!(
                "Get \"https://127.0.0.1:{port}/\": tls: first record does not look like a TLS handshake"
            ))
        );
        let port = tls_server("200 OK");
        match get(false, port) {
            Outcome::Failure(m) => assert!(
                m.starts_with(&format!("Get \"http://127.0.0.1:{port}/\"")),
                "{m}"
            ),
            other => panic!("plain HTTP to a TLS port: {other:?}"),
        }
        let closes = server(drop);
        // A FIN or an RST, as the race goes: either is worded, neither is a timeout.
        match get(true, closes) {
            Outcome::Failure(m) => assert!(
                m == format!("Get \"https://127.0.0.1:{closes}/\": EOF")
                    || m == format!(
                        "Get \"https://127.0.0.1:{closes}/\": read: connection reset by peer"
                    ),
                "{m}"
            ),
            other => panic!("a server that hangs up: {other:?}"),
        }
    }
}
