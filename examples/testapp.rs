//! The testbed's probe target app (image `clusterctl/testapp:dev-<hash>`, scripts/testbed): a
//! `grpc.health.v1` health server over h2c for the grpc probe tests (tests/it/probes.rs), built on the
//! server half of `clusterctl::supervisor::grpc_health`, and an HTTPS server for the HTTPS httpGet
//! probe tests. Not part of the product.
//!
//! `testapp serve [PORT]` (default 9000) answers `Check` for the services `""` (the server) and `app`:
//! SERVING, or NOT_SERVING while the file /tmp/not-serving-<server|app> exists; any other service is
//! NOT_FOUND. `testapp https [PORT]` (default 8443) answers every GET over TLS, with a self-signed
//! certificate made at startup (rcgen): `200 ok`, or `503` while /tmp/not-serving-<first path segment>
//! exists (`/ready` → not-serving-ready; `/` → not-serving-server). The image has no shell, so
//! `testapp not-serving [NAME]` and `testapp serving [NAME]` make and remove that file (`docker exec`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use clusterctl::supervisor::grpc_health::{self as gh, server};

/// The file that turns `service` NOT_SERVING.
fn mark(service: &str) -> String {
    let name = if service.is_empty() {
        "server"
    } else {
        service
    };
    format!("/tmp/not-serving-{name}")
}

fn status(service: &str) -> Option<u64> {
    match service {
        "" | "app" if Path::new(&mark(service)).exists() => Some(2),
        "" | "app" => Some(gh::SERVING),
        _ => None,
    }
}

fn connection(mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < gh::PREFACE.len() {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if !buf.starts_with(gh::PREFACE) {
        return Ok(());
    }
    buf.drain(..gh::PREFACE.len());
    s.write_all(&server::hello())?;
    loop {
        let (out, used) = server::answer(&buf, &status);
        buf.drain(..used);
        if !out.is_empty() {
            s.write_all(&out)?;
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 1 << 20 {
            return Ok(());
        }
    }
}

/// A TLS server config with a fresh self-signed certificate (probes do not verify it, as the kubelet's).
fn tls_config() -> Arc<rustls::ServerConfig> {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["testapp".to_string()])
            .expect("self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .expect("tls certificate");
    Arc::new(config)
}

/// One HTTPS request: reads the head, answers 200 or 503 (the mark of the path's first segment), closes.
fn https_connection(config: Arc<rustls::ServerConfig>, tcp: TcpStream) -> std::io::Result<()> {
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk)?;
        if n == 0 || buf.len() > 64 << 10 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split(' ').nth(1).unwrap_or("/");
    let segment = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let answer: &[u8] = if Path::new(&mark(segment)).exists() {
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nnot serving\n"
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
    };
    s.write_all(answer)?;
    s.conn.send_close_notify();
    s.flush()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("not-serving") => {
            let m = mark(args.get(1).map_or("", String::as_str));
            std::fs::write(&m, b"").unwrap_or_else(|e| panic!("write {m}: {e}"));
        }
        Some("serving") => {
            let _ = std::fs::remove_file(mark(args.get(1).map_or("", String::as_str)));
        }
        Some("serve") | None => {
            let port = args.get(1).map_or("9000", String::as_str);
            let l = TcpListener::bind(format!("0.0.0.0:{port}")).expect("bind");
            eprintln!("testapp: grpc health on :{port}");
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = connection(s);
                });
            }
        }
        Some("https") => {
            let port = args.get(1).map_or("8443", String::as_str);
            let config = tls_config();
            let l = TcpListener::bind(format!("0.0.0.0:{port}")).expect("bind");
            eprintln!("testapp: https on :{port}");
            for s in l.incoming().flatten() {
                let config = config.clone();
                std::thread::spawn(move || {
                    let _ = https_connection(config, s);
                });
            }
        }
        Some(other) => {
            eprintln!(
                "testapp: unknown command {other:?} (serve [PORT] | https [PORT] | not-serving [NAME] | serving [NAME])"
            );
            std::process::exit(64);
        }
    }
}
