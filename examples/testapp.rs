//! The testbed's probe target app (image `clusterctl/testapp:dev-<hash>`, scripts/testbed): a
//! `grpc.health.v1` health server over h2c for the grpc probe tests (tests/it/probes.rs), built on the
//! server half of `clusterctl::supervisor::grpc_health`. Not part of the product.
//!
//! `testapp serve [PORT]` (default 9000) answers `Check` for the services `""` (the server) and `app`:
//! SERVING, or NOT_SERVING while the file /tmp/not-serving-<server|app> exists; any other service is
//! NOT_FOUND. The image has no shell, so `testapp not-serving [app]` and `testapp serving [app]` make and
//! remove that file (`docker exec`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

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
        Some(other) => {
            eprintln!(
                "testapp: unknown command {other:?} (serve [PORT] | not-serving [app] | serving [app])"
            );
            std::process::exit(64);
        }
    }
}
