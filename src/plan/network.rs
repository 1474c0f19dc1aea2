//! The network half of the plan: per host, the pod network set-up ([`crate::network`]) and clusterctl's
//! iptables chains ([`crate::services`]) diffed against what the host reports, as `Network` and
//! `ServiceRules` changes with their exact commands. Endpoints are the Ready pods after the plan: observed
//! pods that stay (and run, or are started by this plan) plus the pods it creates, with their planned IPs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Pod, Service};

use super::{Action, Binding, Change, PlanInput};
use crate::model::{self, ObservedPod};
use crate::network::{self, HostNet};
use crate::services::{self, Allocated, EndpointPod, Protocol, iptables, render};
use crate::transport::Cmd;

/// Cluster network settings and the desired services: the planner's network input.
#[derive(Debug, Clone)]
pub struct NetworkInput<'a> {
    /// Every inventory host with its address and pod CIDR.
    pub hosts: Vec<HostNet>,
    /// `cluster.podCIDR`.
    pub cluster_cidr: &'a str,
    pub service_cidr: &'a str,
    pub node_port_range: (u16, u16),
    /// Desired services (defaulted).
    pub services: &'a [Service],
}

/// Services with their allocated ClusterIP / NodePorts filled in, and their endpoints (`ip:port`), as
/// they will be after the plan.
#[derive(Debug, Clone, Default)]
pub struct ServicesAfter {
    pub services: Vec<Service>,
    /// (namespace, name) → endpoints of all ports, sorted.
    pub endpoints: BTreeMap<(String, String), Vec<String>>,
}

/// The pod's planned/recorded address in the pod network.
pub fn pod_ip(p: &ObservedPod) -> Option<&str> {
    p.sandbox.as_ref()?.label(model::labels::POD_IP)
}

fn labels_of(pod: &Pod) -> BTreeMap<String, String> {
    pod.metadata.labels.clone().unwrap_or_default()
}

fn named_ports(pod: &Pod) -> BTreeMap<String, (u16, Protocol)> {
    let mut out = BTreeMap::new();
    for c in pod.spec.iter().flat_map(|s| s.containers.iter()) {
        for p in c.ports.iter().flatten() {
            if let (Some(name), Ok(port)) = (&p.name, u16::try_from(p.container_port)) {
                out.insert(name.clone(), (port, Protocol::parse(p.protocol.as_deref())));
            }
        }
    }
    out
}

/// Endpoint candidates after the plan.
fn endpoint_pods(
    observed: &[ObservedPod],
    changes: &[Change],
    binding: &Binding,
) -> Vec<EndpointPod> {
    let leaving: BTreeSet<(&str, &str, &str)> = changes
        .iter()
        .filter(|c| c.kind == "Pod" && matches!(c.action, Action::Delete | Action::Replace))
        .map(|c| (c.namespace.as_str(), c.name.as_str(), c.node.as_str()))
        .collect();
    let started: BTreeSet<(&str, &str, &str)> = changes
        .iter()
        .filter(|c| c.kind == "Pod" && c.action == Action::Start)
        .map(|c| (c.namespace.as_str(), c.name.as_str(), c.node.as_str()))
        .collect();
    let mut out = Vec::new();
    for p in observed {
        let key = (p.namespace.as_str(), p.name.as_str(), p.node.as_str());
        if leaving.contains(&key) {
            continue;
        }
        let running = p.sandbox.as_ref().is_some_and(|s| s.is_running())
            && !p.containers.is_empty()
            && p.containers.values().all(|c| c.is_running());
        let pod = super::existing_pod(p);
        out.push(EndpointPod {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            labels: labels_of(&pod),
            ip: pod_ip(p).and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
            ready: p.node_reachable && (running || started.contains(&key)),
            named_ports: named_ports(&pod),
        });
    }
    for b in &binding.created {
        out.push(EndpointPod {
            namespace: b.pod.metadata.namespace.clone().unwrap_or_default(),
            name: b.pod.metadata.name.clone().unwrap_or_default(),
            labels: labels_of(&b.pod),
            ip: b.ip.as_deref().and_then(|ip| ip.parse().ok()),
            ready: true,
            named_ports: named_ports(&b.pod),
        });
    }
    out
}

/// Appends the `Network` and `ServiceRules` changes of every reachable host to `changes`, and returns the
/// services as they will be.
pub fn plan_network(
    input: &PlanInput<'_>,
    net: &NetworkInput<'_>,
    observed: &[ObservedPod],
    changes: &mut Vec<Change>,
    binding: &Binding,
) -> ServicesAfter {
    let empty = model::ObservedNetwork::default();
    // Allocations in use: what any reachable host's rules carry.
    let mut in_use = services::alloc::InUse::default();
    for n in input.observed.nodes.iter().filter(|n| n.reachable) {
        let Some(obs) = &n.network else { continue };
        let (ips, ports) = iptables::allocations(
            &iptables::SavedTable::parse(&obs.iptables_nat),
            &iptables::SavedTable::parse(&obs.iptables_filter),
        );
        for (k, ip) in ips {
            if let Ok(ip) = ip.parse() {
                in_use.cluster_ips.entry(k).or_insert(ip);
            }
        }
        for (k, p) in ports {
            in_use.node_ports.entry(k).or_insert(p);
        }
    }
    let svcs: Vec<&Service> = net.services.iter().collect();
    let allocs = services::alloc::allocate(&svcs, net.service_cidr, net.node_port_range, &in_use);
    let allocated: Vec<Allocated<'_>> = svcs
        .iter()
        .zip(&allocs)
        .filter_map(|(s, a)| {
            Some(Allocated {
                service: s,
                cluster_ip: a.cluster_ip?,
                node_ports: a.node_ports.clone(),
            })
        })
        .collect();
    let pods = endpoint_pods(observed, changes, binding);
    let table = services::table(&allocated, &pods);
    let rules = render::ruleset(&table, net.cluster_cidr);
    let jumps = render::jumps();

    let mut new_changes = Vec::new();
    for n in input.observed.nodes.iter().filter(|n| n.reachable) {
        let obs = n.network.as_ref().unwrap_or(&empty);
        if let Some(host) = net.hosts.iter().find(|h| h.name == n.name) {
            if let Some(c) = network::plan_host(host, &net.hosts, obs) {
                new_changes.push(Change {
                    action: if c.create {
                        Action::Create
                    } else {
                        Action::Update
                    },
                    kind: "Network".into(),
                    namespace: String::new(),
                    name: network::POD_NETWORK.into(),
                    node: n.name.clone(),
                    reason: c.reason,
                    details: c.details,
                    steps: c.steps,
                });
            }
        }
        let d = iptables::diff(
            &rules,
            &jumps,
            &iptables::SavedTable::parse(&obs.iptables_nat),
            &iptables::SavedTable::parse(&obs.iptables_filter),
        );
        if d.is_empty() {
            continue;
        }
        let mut steps = Vec::new();
        if let Some(text) = &d.restore {
            steps.push(Cmd::write("iptables-restore", ["--noflush"]).with_stdin(text.clone()));
        }
        for j in &d.missing_jumps {
            let mut args: Vec<String> = vec![
                "-t".into(),
                j.table.into(),
                "-I".into(),
                j.chain.into(),
                "1".into(),
            ];
            args.extend(iptables::argv(&j.rule));
            steps.push(Cmd::write("iptables", args));
        }
        let reason = if d.fresh {
            "clusterctl's service and pod-network chains are not on this host".to_string()
        } else if d.restore.is_some() {
            "service rules differ from the desired services and endpoints".to_string()
        } else {
            "jump rules into clusterctl's chains are missing".to_string()
        };
        let mut details = d.details;
        if d.fresh {
            details.insert(
                0,
                format!(
                    "{} nat and {} filter chains, {} service port(s)",
                    rules.nat.chains.len(),
                    rules.filter.chains.len(),
                    table.len()
                ),
            );
        }
        new_changes.push(Change {
            action: if d.fresh {
                Action::Create
            } else {
                Action::Update
            },
            kind: "ServiceRules".into(),
            namespace: String::new(),
            name: "iptables".into(),
            node: n.name.clone(),
            reason,
            details,
            steps,
        });
    }
    changes.extend(new_changes);

    let mut after = ServicesAfter::default();
    for (s, a) in svcs.iter().zip(&allocs) {
        let mut s = (*s).clone();
        let spec = s.spec.get_or_insert_with(Default::default);
        if let Some(ip) = a.cluster_ip {
            spec.cluster_ip = Some(ip.to_string());
            spec.cluster_ips = Some(vec![ip.to_string()]);
        }
        for (p, np) in spec.ports.iter_mut().flatten().zip(&a.node_ports) {
            if let Some(np) = np {
                p.node_port = Some(i32::from(*np));
            }
        }
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        let name = s.metadata.name.clone().unwrap_or_default();
        let mut eps: Vec<String> = table
            .iter()
            .filter(|t| t.namespace == ns && t.name == name)
            .flat_map(|t| t.endpoints.iter().map(|e| e.to_string()))
            .collect();
        eps.sort();
        eps.dedup();
        after.endpoints.insert((ns, name), eps);
        after.services.push(s);
    }
    after
}
