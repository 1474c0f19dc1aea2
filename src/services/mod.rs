//! Services as kube-proxy's iptables mode implements them, as pure data: the service table (one row per
//! service port with its ClusterIP, NodePort and endpoints), ClusterIP/NodePort allocation ([`alloc`]),
//! the `iptables-restore` text clusterctl writes ([`render`]) and the reading, normalising and diffing of
//! what `iptables-save` prints on a host ([`iptables`]). No IO: the planner feeds it observed text and
//! gets back commands.
//!
//! Chain names follow kube-proxy exactly (`KUBE-SVC-<hash>`, `KUBE-SEP-<hash>`, …; see
//! docs/networking.md), so anyone who knows kube-proxy can read a host's rules.

pub mod alloc;
pub mod iptables;
pub mod render;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

/// `tcp` / `udp` as iptables spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn parse(s: Option<&str>) -> Protocol {
        match s {
            Some("UDP") => Protocol::Udp,
            _ => Protocol::Tcp,
        }
    }
    /// Lower case, as in iptables (`-p tcp`) and kube-proxy's hashes.
    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
    /// Upper case, as in Kubernetes objects (`8080/TCP`).
    pub fn upper(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// One backend of a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// One service port as kube-proxy programs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub namespace: String,
    pub name: String,
    /// `spec.ports[i].name`, empty when unnamed.
    pub port_name: String,
    pub protocol: Protocol,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    pub node_port: Option<u16>,
    /// Ready endpoints, sorted by `ip:port` (the chain order).
    pub endpoints: Vec<Endpoint>,
    /// How traffic from outside the cluster comes in (LoadBalancer ingress, source ranges, policy).
    pub external: External,
    /// `sessionAffinity: ClientIP`: its `timeoutSeconds`; `None` for `sessionAffinity: None`.
    pub affinity_seconds: Option<u32>,
}

/// The externally reachable side of a service port: what `type: LoadBalancer` and
/// `externalTrafficPolicy` add to the rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct External {
    /// `status.loadBalancer.ingress`: the chosen nodes' addresses (ServiceLB, docs/networking.md).
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// `spec.loadBalancerSourceRanges`, IPv4 ones as network/prefix.
    pub source_ranges: Vec<String>,
    /// Any source range was written (even only IPv6 ones): the firewall applies.
    pub restricted: bool,
    /// `externalTrafficPolicy: Local`: external traffic only to this node's endpoints, source kept.
    pub local: bool,
    /// `spec.healthCheckNodePort` (LoadBalancer + Local).
    pub health_check_node_port: Option<u16>,
}

impl ServicePort {
    /// kube-proxy's `ServicePortName`: `ns/name` plus `:portname` when the port is named.
    pub fn spn(&self) -> String {
        service_port_name(&self.namespace, &self.name, &self.port_name)
    }
    /// The 16-character hash shared by `KUBE-SVC-`, `KUBE-EXT-` of this port.
    pub fn hash(&self) -> String {
        port_proto_hash(&self.spn(), self.protocol)
    }
    pub fn svc_chain(&self) -> String {
        format!("KUBE-SVC-{}", self.hash())
    }
    pub fn ext_chain(&self) -> String {
        format!("KUBE-EXT-{}", self.hash())
    }
    /// The local-policy chain (`externalTrafficPolicy: Local`): this node's endpoints only.
    pub fn svl_chain(&self) -> String {
        format!("KUBE-SVL-{}", self.hash())
    }
    /// The load balancer firewall chain (`loadBalancerSourceRanges`).
    pub fn fw_chain(&self) -> String {
        format!("KUBE-FW-{}", self.hash())
    }
    pub fn sep_chain(&self, ep: &Endpoint) -> String {
        format!(
            "KUBE-SEP-{}",
            endpoint_hash(&self.spn(), self.protocol, &ep.to_string())
        )
    }
}

pub fn service_port_name(namespace: &str, name: &str, port_name: &str) -> String {
    if port_name.is_empty() {
        format!("{namespace}/{name}")
    } else {
        format!("{namespace}/{name}:{port_name}")
    }
}

/// RFC 4648 base32 (upper case, no padding needed here: we keep the first 16 characters).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u64 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn hash16(input: &str) -> String {
    let digest = Sha256::digest(input.as_bytes());
    base32(&digest)[..16].to_string()
}

/// kube-proxy's `portProtoHash`: `base32(sha256(spn + proto))[:16]`.
pub fn port_proto_hash(spn: &str, proto: Protocol) -> String {
    hash16(&format!("{spn}{}", proto.lower()))
}

/// The hash of `KUBE-SEP-` chains: `base32(sha256(spn + proto + "ip:port"))[:16]`.
pub fn endpoint_hash(spn: &str, proto: Protocol, endpoint: &str) -> String {
    hash16(&format!("{spn}{}{endpoint}", proto.lower()))
}

/// kube-proxy's probability for rule `i` of `n` endpoints: `1/(n-i)` printed with Go's `%0.10f`.
pub fn probability(i: usize, n: usize) -> String {
    format!("{:.10}", 1.0 / (n - i) as f64)
}

/// A pod as a possible endpoint: where it runs, its labels, its IP and whether it is Ready.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointPod {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub ip: Option<Ipv4Addr>,
    pub ready: bool,
    /// Named container ports: name → (port, protocol).
    pub named_ports: BTreeMap<String, (u16, Protocol)>,
}

/// A service with its allocated addresses: the input of [`table`].
#[derive(Debug, Clone)]
pub struct Allocated<'a> {
    pub service: &'a Service,
    pub cluster_ip: Ipv4Addr,
    /// One entry per `spec.ports[i]`.
    pub node_ports: Vec<Option<u16>>,
    /// LoadBalancer ingress addresses (empty for other types).
    pub load_balancer_ips: Vec<Ipv4Addr>,
    pub health_check_node_port: Option<u16>,
}

/// The default `sessionAffinityConfig.clientIP.timeoutSeconds` (3 hours), as the API server sets it.
pub const DEFAULT_AFFINITY_SECONDS: u32 = 10800;

/// The service table: one row per service port, endpoints = Ready pods selected by the service in its
/// namespace that have an IP and (for a named targetPort) a container port of that name. Sorted by
/// `(namespace, name, port name, protocol)`.
pub fn table(services: &[Allocated<'_>], pods: &[EndpointPod]) -> Vec<ServicePort> {
    let mut out = Vec::new();
    for a in services {
        let svc = a.service;
        let ns = svc.metadata.namespace.as_deref().unwrap_or("default");
        let name = svc.metadata.name.as_deref().unwrap_or_default();
        let Some(spec) = &svc.spec else { continue };
        let selector = spec.selector.clone().unwrap_or_default();
        let external = External {
            load_balancer_ips: a.load_balancer_ips.clone(),
            // As iptables-save prints them back (network address), so the rules compare; IPv6 ranges
            // are a validation warning and admit nothing here.
            source_ranges: if spec.type_.as_deref() == Some("LoadBalancer") {
                spec.load_balancer_source_ranges
                    .iter()
                    .flatten()
                    .filter_map(|r| crate::cidr::parse_v4(r.trim()))
                    .map(|n| format!("{}/{}", n.network(), n.prefix_len()))
                    .collect()
            } else {
                Vec::new()
            },
            restricted: spec.type_.as_deref() == Some("LoadBalancer")
                && spec
                    .load_balancer_source_ranges
                    .as_ref()
                    .is_some_and(|r| !r.is_empty()),
            local: spec.external_traffic_policy.as_deref() == Some("Local")
                && matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer")),
            health_check_node_port: a.health_check_node_port,
        };
        let affinity_seconds = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or(DEFAULT_AFFINITY_SECONDS)
        });
        let selected: Vec<&EndpointPod> = if selector.is_empty() {
            // A service without a selector has manually managed endpoints: none here.
            Vec::new()
        } else {
            pods.iter()
                .filter(|p| {
                    p.namespace == ns
                        && p.ready
                        && selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
                })
                .collect()
        };
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            let protocol = Protocol::parse(port.protocol.as_deref());
            let mut endpoints: Vec<Endpoint> = selected
                .iter()
                .filter_map(|p| {
                    let ip = p.ip?;
                    let target = match &port.target_port {
                        None => u16::try_from(port.port).ok()?,
                        Some(IntOrString::Int(n)) => u16::try_from(*n).ok()?,
                        Some(IntOrString::String(s)) => match s.parse::<u16>() {
                            Ok(n) => n,
                            Err(_) => {
                                let (n, proto) = p.named_ports.get(s)?;
                                if *proto != protocol {
                                    return None;
                                }
                                *n
                            }
                        },
                    };
                    Some(Endpoint { ip, port: target })
                })
                .collect();
            endpoints.sort();
            endpoints.dedup();
            out.push(ServicePort {
                namespace: ns.to_string(),
                name: name.to_string(),
                port_name: port.name.clone().unwrap_or_default(),
                protocol,
                cluster_ip: a.cluster_ip,
                port: u16::try_from(port.port).unwrap_or(0),
                node_port: a.node_ports.get(i).copied().flatten(),
                endpoints,
                external: external.clone(),
                affinity_seconds,
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.namespace, &a.name, &a.port_name, a.protocol).cmp(&(
            &b.namespace,
            &b.name,
            &b.port_name,
            b.protocol,
        ))
    });
    out
}

#[cfg(test)]
mod tests;
