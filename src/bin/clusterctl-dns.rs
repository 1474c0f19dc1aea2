//! `clusterctl-dns`, the cluster DNS server (docs/dns.md): runs in the managed pod
//! `kube-system/clusterctl-dns-<host>` on every host, behind the `kube-system/kube-dns` Service
//! (the cluster DNS address pods get as their nameserver). It answers the names of the records file the
//! planner renders and apply writes (`/etc/clusterctl-dns/records`, re-read when it changes, so a Service
//! change needs no restart of anything), and resolves every other name as the host would: the host's
//! `/etc/hosts`, then the nameservers of the host's `/etc/resolv.conf` (both mounted read-only).
//!
//! The thin IO edge of [`clusterctl::dns`]: UDP and TCP on port 53, one thread per upstream query or TCP
//! connection. Nothing here ends the server: a bad packet is dropped, an unreadable file keeps the last
//! good records. Its log is stderr (`docker logs`).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use clusterctl::dns::records::{Lookup, Zone};
use clusterctl::dns::wire::{self, Answer, Question, Rdata};

const RECORDS: &str = "/etc/clusterctl-dns/records";
const HOST_HOSTS: &str = "/etc/host/hosts";
const HOST_RESOLV: &str = "/etc/host/resolv.conf";

fn log(msg: &str) {
    eprintln!("clusterctl-dns: {msg}");
}

/// What the server answers from: the cluster's records and the host's files, re-read when they change.
#[derive(Default)]
struct State {
    zone: Zone,
    records_text: Option<String>,
    hosts: BTreeMap<String, Vec<Ipv4Addr>>,
    upstreams: Vec<Ipv4Addr>,
}

fn parse_hosts(text: &str) -> BTreeMap<String, Vec<Ipv4Addr>> {
    let mut out: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        let Some(Ok(ip)) = f.next().map(str::parse::<Ipv4Addr>) else {
            continue;
        };
        for name in f {
            let v = out
                .entry(name.trim_end_matches('.').to_ascii_lowercase())
                .or_default();
            if !v.contains(&ip) {
                v.push(ip);
            }
        }
    }
    out
}

/// The nameservers of a resolv.conf that a pod can reach: loopback ones are the host's own and
/// unreachable from the pod's network namespace (and would be this server itself on a host-network
/// set-up), so they are skipped.
fn parse_resolv(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|v| v.trim().parse::<Ipv4Addr>().ok())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .take(3)
        .collect()
}

fn reload(state: &RwLock<State>, records: &str, hosts: &str, resolv: &str) {
    let text = std::fs::read_to_string(records).ok();
    let hosts = parse_hosts(&std::fs::read_to_string(hosts).unwrap_or_default());
    let upstreams = parse_resolv(&std::fs::read_to_string(resolv).unwrap_or_default());
    let mut s = state.write().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = text
        && s.records_text.as_deref() != Some(t.as_str())
    {
        s.zone = Zone::parse(&t);
        log(&format!("records loaded: {} records", s.zone.len()));
        s.records_text = Some(t);
    }
    if s.hosts != hosts || s.upstreams != upstreams {
        log(&format!(
            "host resolver: {} names in hosts, upstream {:?}",
            hosts.len(),
            upstreams
        ));
        s.hosts = hosts;
        s.upstreams = upstreams;
    }
}

/// The reply to one query, or `None` when it must go to an upstream server.
fn answer(state: &RwLock<State>, query: &[u8], q: &Question) -> Result<Vec<u8>, Vec<Ipv4Addr>> {
    let s = state.read().unwrap_or_else(|e| e.into_inner());
    if q.qclass != wire::CLASS_IN {
        return Ok(wire::build_reply(query, q, wire::RCODE_NOERROR, &[], &[]));
    }
    match s.zone.lookup(&q.name, q.qtype) {
        Lookup::Found {
            answers,
            additional,
        } => Ok(wire::build_reply(
            query,
            q,
            wire::RCODE_NOERROR,
            &answers,
            &additional,
        )),
        Lookup::NoSuchName => Ok(wire::build_reply(query, q, wire::RCODE_NXDOMAIN, &[], &[])),
        Lookup::Upstream => {
            if let Some(ips) = s.hosts.get(&q.name) {
                let answers: Vec<Answer> = if q.qtype == wire::TYPE_A {
                    ips.iter()
                        .map(|ip| Answer {
                            name: q.name.clone(),
                            ttl: 5,
                            data: Rdata::A(*ip),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                return Ok(wire::build_reply(
                    query,
                    q,
                    wire::RCODE_NOERROR,
                    &answers,
                    &[],
                ));
            }
            if s.upstreams.is_empty() {
                return Ok(wire::build_reply(query, q, wire::RCODE_SERVFAIL, &[], &[]));
            }
            Err(s.upstreams.clone())
        }
    }
}

/// Asks the upstream servers in order; SERVFAIL when none answers.
fn forward(query: &[u8], q: &Question, upstreams: &[Ipv4Addr]) -> Vec<u8> {
    for ip in upstreams {
        let Ok(sock) = UdpSocket::bind("0.0.0.0:0") else {
            continue;
        };
        sock.set_read_timeout(Some(Duration::from_secs(2))).ok();
        if sock.send_to(query, (*ip, 53)).is_err() {
            continue;
        }
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && wire::reply_summary(&buf[..n]).is_some_and(|(id, _, _)| id == q.id)
        {
            return buf[..n].to_vec();
        }
    }
    wire::build_reply(query, q, wire::RCODE_SERVFAIL, &[], &[])
}

fn resolve(state: &RwLock<State>, query: &[u8]) -> Option<Vec<u8>> {
    let q = wire::parse_query(query)?;
    Some(match answer(state, query, &q) {
        Ok(r) => r,
        Err(upstreams) => forward(query, &q, &upstreams),
    })
}

fn serve_udp(sock: UdpSocket, state: Arc<RwLock<State>>) {
    let sock = Arc::new(sock);
    let mut buf = [0u8; 4096];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let query = buf[..n].to_vec();
        let (sock, state) = (sock.clone(), state.clone());
        std::thread::spawn(move || {
            if let Some(mut reply) = resolve(&state, &query) {
                if reply.len() > 512 {
                    // Too big for plain UDP: the header with TC set, the client retries over TCP.
                    reply.truncate(12);
                    reply[2] |= 0x02;
                    reply[6..12].fill(0);
                }
                let _ = sock.send_to(&reply, peer);
            }
        });
    }
}

fn serve_tcp_conn(mut s: TcpStream, state: &RwLock<State>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut query).is_err() {
            return;
        }
        let Some(reply) = resolve(state, &query) else {
            return;
        };
        let mut out = (reply.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&reply);
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

fn main() {
    let mut listen: SocketAddr = "0.0.0.0:53".parse().expect("constant");
    let (mut records, mut hosts, mut resolv) = (
        RECORDS.to_string(),
        HOST_HOSTS.to_string(),
        HOST_RESOLV.to_string(),
    );
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--listen" => listen = v.parse().unwrap_or(listen),
            "--records" => records = v,
            "--hosts" => hosts = v,
            "--resolv-conf" => resolv = v,
            _ => {
                log(&format!("unknown argument {a}"));
                std::process::exit(2);
            }
        }
    }
    let state = Arc::new(RwLock::new(State::default()));
    reload(&state, &records, &hosts, &resolv);
    let udp = UdpSocket::bind(listen).unwrap_or_else(|e| {
        log(&format!("cannot listen on {listen}/udp: {e}"));
        std::process::exit(1)
    });
    let tcp = TcpListener::bind(listen).unwrap_or_else(|e| {
        log(&format!("cannot listen on {listen}/tcp: {e}"));
        std::process::exit(1)
    });
    log(&format!(
        "serving on {listen} (udp, tcp), records {records}"
    ));
    {
        let state = state.clone();
        std::thread::spawn(move || serve_udp(udp, state));
    }
    {
        let state = state.clone();
        std::thread::spawn(move || {
            for s in tcp.incoming().flatten() {
                let state = state.clone();
                std::thread::spawn(move || serve_tcp_conn(s, &state));
            }
        });
    }
    // The records are re-read once a second: apply's write is an atomic swap of `..data`, so a read
    // sees the old or the new file, never a mix.
    loop {
        std::thread::sleep(Duration::from_secs(1));
        reload(&state, &records, &hosts, &resolv);
    }
}
