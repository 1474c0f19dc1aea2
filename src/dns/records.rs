//! The cluster's DNS records, as the Kubernetes DNS specification defines them, rendered by the planner
//! into one text file that every host's DNS server reads (docs/dns.md):
//!
//! - `<svc>.<ns>.svc.cluster.local` A → the ClusterIP; for a headless Service (`clusterIP: None`) → every
//!   Ready endpoint's IP;
//! - `<hostname>.<svc>.<ns>.svc.cluster.local` A → the pod IP of an endpoint of a headless Service (the
//!   pod's `hostname` when its `subdomain` is the Service, else its IP with dashes, as CoreDNS names them);
//! - `_<port>._<proto>.<svc>.<ns>.svc.cluster.local` SRV for every named port: `0 100 <port> <svc…>` for a
//!   ClusterIP Service, one per endpoint (`0 <100/n> <targetPort> <endpoint name…>`) for a headless one.
//!
//! Lines are `A <name> <ip>` and `SRV <name> <priority> <weight> <port> <target>`, sorted and unique, so the
//! same cluster gives the same bytes. [`Zone`] parses the file back and answers lookups. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::wire::{Answer, Rdata};

/// The cluster domain (the kubelet's `--cluster-domain` default; not configurable here).
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// TTL of every answer: CoreDNS' `kubernetes` plugin default.
pub const TTL: u32 = 5;

/// One port of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEntry {
    /// `spec.ports[i].name`; unnamed ports get no SRV record.
    pub name: String,
    /// `tcp` / `udp`.
    pub protocol: String,
    pub port: u16,
    /// Headless: each endpoint's address and target port.
    pub targets: Vec<(Ipv4Addr, u16)>,
}

/// One Ready endpoint address of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointEntry {
    pub ip: Ipv4Addr,
    /// The pod's `hostname` when its `subdomain` names this Service.
    pub hostname: Option<String>,
}

/// A Service as the records need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub namespace: String,
    pub name: String,
    /// `None`: headless.
    pub cluster_ip: Option<Ipv4Addr>,
    pub ports: Vec<PortEntry>,
    pub endpoints: Vec<EndpointEntry>,
}

fn svc_fqdn(s: &ServiceEntry) -> String {
    format!("{}.{}.svc.{CLUSTER_DOMAIN}", s.name, s.namespace)
}

fn endpoint_label(e: &EndpointEntry) -> String {
    e.hostname
        .clone()
        .unwrap_or_else(|| e.ip.to_string().replace('.', "-"))
}

/// The records file for `services`.
pub fn render(services: &[ServiceEntry]) -> String {
    let mut lines: BTreeSet<String> = BTreeSet::new();
    for s in services {
        let fqdn = svc_fqdn(s);
        match s.cluster_ip {
            Some(ip) => {
                lines.insert(format!("A {fqdn} {ip}"));
            }
            None => {
                for e in &s.endpoints {
                    lines.insert(format!("A {fqdn} {}", e.ip));
                    lines.insert(format!("A {}.{fqdn} {}", endpoint_label(e), e.ip));
                }
            }
        }
        for p in s.ports.iter().filter(|p| !p.name.is_empty()) {
            let owner = format!("_{}._{}.{fqdn}", p.name, p.protocol);
            if s.cluster_ip.is_some() {
                lines.insert(format!("SRV {owner} 0 100 {} {fqdn}", p.port));
                continue;
            }
            let n = p.targets.len().max(1) as u32;
            for (ip, port) in &p.targets {
                let Some(e) = s.endpoints.iter().find(|e| e.ip == *ip) else {
                    continue;
                };
                lines.insert(format!(
                    "SRV {owner} 0 {} {port} {}.{fqdn}",
                    100 / n,
                    endpoint_label(e)
                ));
            }
        }
    }
    let mut out =
        String::from("# clusterctl cluster DNS records (rendered by the planner, docs/dns.md)\n");
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// The records of a file, by owner name (lower case, no trailing dot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    names: BTreeMap<String, Vec<Rdata>>,
}

/// What the zone says about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Inside the cluster domain: the answers (possibly none: NOERROR, no data) and SRV targets' A
    /// records as additional section.
    Found {
        answers: Vec<Answer>,
        additional: Vec<Answer>,
    },
    /// Inside the cluster domain, no such name: NXDOMAIN.
    NoSuchName,
    /// Not a cluster name: the upstream resolver's.
    Upstream,
}

impl Zone {
    /// Parses a records file; unknown or malformed lines are skipped (the planner wrote it).
    pub fn parse(text: &str) -> Zone {
        let mut names: BTreeMap<String, Vec<Rdata>> = BTreeMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let data = match f.as_slice() {
                ["A", _, ip] => ip.parse().ok().map(Rdata::A),
                ["SRV", _, pr, w, port, target] => (|| {
                    Some(Rdata::Srv {
                        priority: pr.parse().ok()?,
                        weight: w.parse().ok()?,
                        port: port.parse().ok()?,
                        target: target.to_ascii_lowercase(),
                    })
                })(),
                _ => None,
            };
            if let Some(d) = data {
                names.entry(f[1].to_ascii_lowercase()).or_default().push(d);
            }
        }
        Zone { names }
    }

    pub fn len(&self) -> usize {
        self.names.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Answers `name` (lower case, no trailing dot) for `qtype`.
    pub fn lookup(&self, name: &str, qtype: u16) -> Lookup {
        let in_zone = name == CLUSTER_DOMAIN || name.ends_with(&format!(".{CLUSTER_DOMAIN}"));
        if !in_zone {
            return Lookup::Upstream;
        }
        let Some(data) = self.names.get(name) else {
            // An empty non-terminal (`default.svc.cluster.local`) exists: NOERROR without data.
            let suffix = format!(".{name}");
            if name == CLUSTER_DOMAIN || self.names.keys().any(|k| k.ends_with(&suffix)) {
                return Lookup::Found {
                    answers: Vec::new(),
                    additional: Vec::new(),
                };
            }
            return Lookup::NoSuchName;
        };
        let answers: Vec<Answer> = data
            .iter()
            .filter(|d| match d {
                Rdata::A(_) => qtype == super::wire::TYPE_A,
                Rdata::Srv { .. } => qtype == super::wire::TYPE_SRV,
            })
            .map(|d| Answer {
                name: name.to_string(),
                ttl: TTL,
                data: d.clone(),
            })
            .collect();
        let mut additional = Vec::new();
        for a in &answers {
            if let Rdata::Srv { target, .. } = &a.data {
                for d in self.names.get(target).into_iter().flatten() {
                    if let Rdata::A(_) = d {
                        let add = Answer {
                            name: target.clone(),
                            ttl: TTL,
                            data: d.clone(),
                        };
                        if !additional.contains(&add) {
                            additional.push(add);
                        }
                    }
                }
            }
        }
        Lookup::Found {
            answers,
            additional,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::{TYPE_A, TYPE_SRV};
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn services() -> Vec<ServiceEntry> {
        vec![
            ServiceEntry {
                namespace: "default".into(),
                name: "my-nginx".into(),
                cluster_ip: Some(ip("10.96.0.12")),
                ports: vec![PortEntry {
                    name: "http".into(),
                    protocol: "tcp".into(),
                    port: 8080,
                    targets: vec![],
                }],
                endpoints: vec![],
            },
            ServiceEntry {
                namespace: "default".into(),
                name: "nginx".into(),
                cluster_ip: None,
                ports: vec![PortEntry {
                    name: "web".into(),
                    protocol: "tcp".into(),
                    port: 80,
                    targets: vec![(ip("10.244.1.3"), 8080), (ip("10.244.2.2"), 8080)],
                }],
                endpoints: vec![
                    EndpointEntry {
                        ip: ip("10.244.1.3"),
                        hostname: Some("web-0".into()),
                    },
                    EndpointEntry {
                        ip: ip("10.244.2.2"),
                        hostname: None,
                    },
                ],
            },
        ]
    }

    #[test]
    fn renders_the_kubernetes_dns_names_sorted() {
        assert_eq!(
            render(&services()),
            "# clusterctl cluster DNS records (rendered by the planner, docs/dns.md)\n\
             A 10-244-2-2.nginx.default.svc.cluster.local 10.244.2.2\n\
             A my-nginx.default.svc.cluster.local 10.96.0.12\n\
             A nginx.default.svc.cluster.local 10.244.1.3\n\
             A nginx.default.svc.cluster.local 10.244.2.2\n\
             A web-0.nginx.default.svc.cluster.local 10.244.1.3\n\
             SRV _http._tcp.my-nginx.default.svc.cluster.local 0 100 8080 my-nginx.default.svc.cluster.local\n\
             SRV _web._tcp.nginx.default.svc.cluster.local 0 50 8080 10-244-2-2.nginx.default.svc.cluster.local\n\
             SRV _web._tcp.nginx.default.svc.cluster.local 0 50 8080 web-0.nginx.default.svc.cluster.local\n"
        );
    }

    #[test]
    fn lookups_answer_names_nodata_nxdomain_and_pass_the_rest_upstream() {
        let z = Zone::parse(&render(&services()));
        let Lookup::Found { answers, .. } = z.lookup("nginx.default.svc.cluster.local", TYPE_A)
        else {
            panic!()
        };
        assert_eq!(
            answers.iter().map(|a| a.data.clone()).collect::<Vec<_>>(),
            [Rdata::A(ip("10.244.1.3")), Rdata::A(ip("10.244.2.2"))]
        );
        let Lookup::Found {
            answers,
            additional,
        } = z.lookup("_web._tcp.nginx.default.svc.cluster.local", TYPE_SRV)
        else {
            panic!()
        };
        assert_eq!(answers.len(), 2);
        assert_eq!(additional.len(), 2);
        // AAAA of a known name: no data; a namespace: an empty non-terminal; unknown: NXDOMAIN.
        assert_eq!(
            z.lookup("my-nginx.default.svc.cluster.local", 28),
            Lookup::Found {
                answers: vec![],
                additional: vec![]
            }
        );
        assert!(matches!(
            z.lookup("default.svc.cluster.local", TYPE_A),
            Lookup::Found { .. }
        ));
        assert_eq!(
            z.lookup("nope.default.svc.cluster.local", TYPE_A),
            Lookup::NoSuchName
        );
        assert_eq!(z.lookup("example.org", TYPE_A), Lookup::Upstream);
    }
}
