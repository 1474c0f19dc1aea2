//! ClusterIP and NodePort allocation, deterministic and stable. Explicit values (`spec.clusterIP`,
//! `spec.ports[i].nodePort`) are honoured; a service already programmed on the hosts keeps what its rules
//! carry (read back from the rules' comments, see [`super::iptables::allocations`]); the rest get the
//! lowest free value — ClusterIPs from the second address of `cluster.serviceCIDR` (the first is the
//! `kubernetes` service's in a real cluster), NodePorts from the start of `cluster.nodePortRange` — in
//! (namespace, name) order, so a new service never moves an old one. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;

/// What is already in use on the hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InUse {
    /// `ns/name` → ClusterIP.
    pub cluster_ips: BTreeMap<String, Ipv4Addr>,
    /// Service port name (`ns/name[:port]`) → NodePort.
    pub node_ports: BTreeMap<String, u16>,
    /// `ns/name` → healthCheckNodePort.
    pub health_check_node_ports: BTreeMap<String, u16>,
}

/// The allocation of one service (in the order given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// `None` for a headless service (`clusterIP: None`) or when the range is exhausted.
    pub cluster_ip: Option<Ipv4Addr>,
    /// One per `spec.ports[i]`; `Some` only for NodePort and LoadBalancer services.
    pub node_ports: Vec<Option<u16>>,
    /// A LoadBalancer service with `externalTrafficPolicy: Local` gets one more port from the range,
    /// as the API server allocates it; explicit `spec.healthCheckNodePort` is honoured.
    pub health_check_node_port: Option<u16>,
}

fn key(s: &Service) -> String {
    format!(
        "{}/{}",
        s.metadata.namespace.as_deref().unwrap_or("default"),
        s.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Does the API server give this service a healthCheckNodePort? (LoadBalancer with a Local policy.)
fn wants_health_check(s: &Service) -> bool {
    s.spec.as_ref().is_some_and(|s| {
        s.type_.as_deref() == Some("LoadBalancer")
            && s.external_traffic_policy.as_deref() == Some("Local")
    })
}

fn is_node_port(s: &Service) -> bool {
    matches!(
        s.spec.as_ref().and_then(|s| s.type_.as_deref()),
        Some("NodePort") | Some("LoadBalancer")
    )
}

/// Allocates every service. `services` may come in any order; results follow it.
pub fn allocate(
    services: &[&Service],
    service_cidr: &str,
    node_port_range: (u16, u16),
    in_use: &InUse,
) -> Vec<Allocation> {
    let cidr = crate::cidr::parse_v4(service_cidr);
    let mut order: Vec<usize> = (0..services.len()).collect();
    order.sort_by_key(|&i| key(services[i]));

    // Explicit values are reserved first: they win over stable and new ones.
    let mut taken_ips: BTreeSet<Ipv4Addr> = BTreeSet::new();
    let mut taken_ports: BTreeSet<u16> = BTreeSet::new();
    let mut ips: Vec<Option<Ipv4Addr>> = vec![None; services.len()];
    let mut headless = vec![false; services.len()];
    let mut ports: Vec<Vec<Option<u16>>> = services
        .iter()
        .map(|s| {
            vec![
                None;
                s.spec
                    .as_ref()
                    .and_then(|s| s.ports.as_ref())
                    .map_or(0, Vec::len)
            ]
        })
        .collect();
    let mut health: Vec<Option<u16>> = vec![None; services.len()];
    for &i in &order {
        let spec = services[i].spec.clone().unwrap_or_default();
        if wants_health_check(services[i])
            && let Some(hc) = spec
                .health_check_node_port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0)
            && taken_ports.insert(hc)
        {
            health[i] = Some(hc);
        }
        match spec.cluster_ip.as_deref() {
            Some("None") => headless[i] = true,
            Some(ip) if !ip.is_empty() => {
                if let Ok(ip) = ip.parse::<Ipv4Addr>() {
                    if taken_ips.insert(ip) {
                        ips[i] = Some(ip);
                    }
                }
            }
            _ => {}
        }
        if is_node_port(services[i]) {
            for (j, p) in spec.ports.iter().flatten().enumerate() {
                if let Some(np) = p
                    .node_port
                    .and_then(|n| u16::try_from(n).ok())
                    .filter(|n| *n != 0)
                {
                    if taken_ports.insert(np) {
                        ports[i][j] = Some(np);
                    }
                }
            }
        }
    }
    // Stable: what the hosts already carry, if still valid and free.
    for &i in &order {
        let k = key(services[i]);
        if ips[i].is_none() && !headless[i] {
            if let Some(ip) = in_use.cluster_ips.get(&k) {
                if cidr.is_some_and(|c| c.contains(ip)) && taken_ips.insert(*ip) {
                    ips[i] = Some(*ip);
                }
            }
        }
        if is_node_port(services[i]) {
            let spec = services[i].spec.clone().unwrap_or_default();
            for (j, p) in spec.ports.iter().flatten().enumerate() {
                if ports[i][j].is_some() {
                    continue;
                }
                let spn = super::service_port_name(
                    services[i]
                        .metadata
                        .namespace
                        .as_deref()
                        .unwrap_or("default"),
                    services[i].metadata.name.as_deref().unwrap_or_default(),
                    p.name.as_deref().unwrap_or(""),
                );
                if let Some(np) = in_use.node_ports.get(&spn) {
                    if (node_port_range.0..=node_port_range.1).contains(np)
                        && taken_ports.insert(*np)
                    {
                        ports[i][j] = Some(*np);
                    }
                }
            }
        }
    }
    for &i in &order {
        if wants_health_check(services[i])
            && health[i].is_none()
            && let Some(hc) = in_use.health_check_node_ports.get(&key(services[i]))
            && (node_port_range.0..=node_port_range.1).contains(hc)
            && taken_ports.insert(*hc)
        {
            health[i] = Some(*hc);
        }
    }
    // New: lowest free.
    for &i in &order {
        if ips[i].is_none() && !headless[i] {
            if let Some(c) = cidr {
                let (net, size) = (u32::from(c.network()), 1u64 << (32 - c.prefix_len()));
                ips[i] = (2..size.saturating_sub(1))
                    .map(|off| Ipv4Addr::from(net.wrapping_add(off as u32)))
                    .find(|ip| !taken_ips.contains(ip));
                if let Some(ip) = ips[i] {
                    taken_ips.insert(ip);
                }
            }
        }
        if is_node_port(services[i]) {
            for slot in ports[i].iter_mut().filter(|s| s.is_none()) {
                *slot = (node_port_range.0..=node_port_range.1).find(|p| !taken_ports.contains(p));
                if let Some(p) = *slot {
                    taken_ports.insert(p);
                }
            }
        }
        if wants_health_check(services[i]) && health[i].is_none() {
            health[i] = (node_port_range.0..=node_port_range.1).find(|p| !taken_ports.contains(p));
            if let Some(p) = health[i] {
                taken_ports.insert(p);
            }
        }
    }
    (0..services.len())
        .map(|i| Allocation {
            cluster_ip: ips[i],
            node_ports: std::mem::take(&mut ports[i]),
            health_check_node_port: health[i],
        })
        .collect()
}
