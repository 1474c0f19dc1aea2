//! Stage 3, services: ClusterIPs and NodePorts allocated (keeping those the hosts' rules already carry),
//! endpoints taken from the pods as they will be after the plan — observed pods that stay (and run, or are
//! started by this plan) plus the pods it creates, with their planned IPs — and clusterctl's iptables
//! chains ([`crate::services`]) diffed per reachable host into `ServiceRules` changes. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{Pod, Service};

use super::{
    Action, BoundPod, Change, ChangeKind, Detail, PlanInput, Reason, existing_pod, key, leaving,
    pod_ip,
};
use crate::cmd::Cmd;
use crate::model::{ObservedNode, ObservedPod};
use crate::network::HostNet;
use crate::services::alloc::{Allocation, InUse};
use crate::services::iptables::{self, SavedTable};
use crate::services::render::{self, Jump, Ruleset};
use crate::services::{self, Allocated, EndpointPod, Protocol, ServicePort};

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

/// What this stage adds to the plan.
pub(super) struct Rules {
    /// `ServiceRules` changes, one per reachable host whose rules differ.
    pub changes: Vec<Change>,
    pub after: ServicesAfter,
}

/// Allocates, computes endpoints after `changes` and `created`, and diffs every reachable host's rules.
pub(super) fn plan_rules(
    input: &PlanInput<'_>,
    net: &NetworkInput<'_>,
    observed: &[ObservedPod],
    changes: &[Change],
    created: &[BoundPod],
    holding: &BTreeSet<(String, String)>,
) -> Rules {
    let reachable: Vec<&ObservedNode> = input
        .observed
        .nodes
        .iter()
        .filter(|n| n.reachable)
        .collect();
    let svcs: Vec<&Service> = net.services.iter().collect();
    let allocs = services::alloc::allocate(
        &svcs,
        net.service_cidr,
        net.node_port_range,
        &in_use(&reachable),
    );
    let ingress = load_balancer_ips(input.nodes, &net.hosts);
    let allocated: Vec<Allocated<'_>> = svcs
        .iter()
        .zip(&allocs)
        .filter_map(|(s, a)| {
            Some(Allocated {
                service: s,
                cluster_ip: a.cluster_ip?,
                node_ports: a.node_ports.clone(),
                load_balancer_ips: if is_load_balancer(s) {
                    ingress.clone()
                } else {
                    Vec::new()
                },
                health_check_node_port: a.health_check_node_port,
            })
        })
        .collect();
    let pods = endpoint_pods(
        observed,
        changes,
        created,
        holding,
        &input.observed.observed_at,
    );
    let table = services::table(&allocated, &pods);
    // The cluster DNS records from the same services and endpoints (docs/dns.md).
    let with_ips: Vec<(&Service, Option<Ipv4Addr>)> = svcs
        .iter()
        .zip(&allocs)
        .map(|(s, a)| (*s, a.cluster_ip))
        .collect();
    let records = super::dns::render(&with_ips, &pods, observed, created);
    let dns_changes = super::dns::changes(input, &records);
    let jumps = render::jumps();
    Rules {
        changes: reachable
            .iter()
            .filter_map(|n| {
                // Each host's own: `externalTrafficPolicy: Local` serves its endpoints only.
                let host = net.hosts.iter().find(|h| h.name == n.name);
                let view = render::HostView {
                    address: host.and_then(|h| h.address.parse().ok()),
                    pod_cidr: host.and_then(|h| crate::cidr::parse_v4(&h.pod_cidr)),
                };
                let rules = render::ruleset_for(&table, net.cluster_cidr, &view);
                rules_change(n, &rules, &jumps, table.len())
            })
            .chain(dns_changes)
            .collect(),
        after: services_after(&svcs, &allocs, &table, &ingress),
    }
}

/// The node label choosing where LoadBalancer Services are published (k3s' ServiceLB
/// `svccontroller.k3s.cattle.io/enablelb`, in clusterctl's domain): when any node has it `"true"`, only
/// those nodes; otherwise every node (docs/networking.md).
pub const ENABLE_LB_LABEL: &str = "svccontroller.clusterctl.io/enablelb";

fn is_load_balancer(s: &Service) -> bool {
    s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")
}

/// The LoadBalancer ingress addresses: the inventory addresses of the chosen nodes that are Ready, sorted.
/// Which nodes are chosen is the inventory's (the label); whether one is in the list is the observation's:
/// k3s' ServiceLB publishes the nodes whose svclb pod is ready, so a node that is NotReady (unreachable in
/// this observation) drops out, and the reachable hosts' rules stop capturing its address, until it is
/// back.
pub(super) fn load_balancer_ips(
    nodes: &[k8s_openapi::api::core::v1::Node],
    hosts: &[HostNet],
) -> Vec<Ipv4Addr> {
    let enabled = |n: &k8s_openapi::api::core::v1::Node| {
        n.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ENABLE_LB_LABEL))
            .is_some_and(|v| v == "true")
    };
    let ready = |n: &k8s_openapi::api::core::v1::Node| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True")
    };
    let any_labelled = nodes.iter().any(enabled);
    let mut ips: Vec<Ipv4Addr> = hosts
        .iter()
        .filter(|h| {
            nodes.iter().any(|n| {
                n.metadata.name.as_deref() == Some(h.name.as_str())
                    && (!any_labelled || enabled(n))
                    && ready(n)
            })
        })
        .filter_map(|h| h.address.parse().ok())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// Allocations in use: what any reachable host's rules carry (on a conflict the first host wins).
pub(super) fn in_use(reachable: &[&ObservedNode]) -> InUse {
    let mut in_use = InUse::default();
    for obs in reachable.iter().filter_map(|n| n.network.as_ref()) {
        let (ips, ports, health) = iptables::allocations(
            &SavedTable::parse(&obs.iptables_nat),
            &SavedTable::parse(&obs.iptables_filter),
        );
        for (k, ip) in ips {
            if let Ok(ip) = ip.parse() {
                in_use.cluster_ips.entry(k).or_insert(ip);
            }
        }
        for (k, p) in ports {
            in_use.node_ports.entry(k).or_insert(p);
        }
        for (k, p) in health {
            in_use.health_check_node_ports.entry(k).or_insert(p);
        }
    }
    in_use
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

/// Endpoint candidates after the plan: observed pods that stay (Ready when they run, or are started by
/// the plan, on a reachable host), then the created pods (Ready). Pods of a ReplicaSet in `holding` (a
/// rolling Deployment's new one) serve only once observed running: not when created or started now.
fn endpoint_pods(
    observed: &[ObservedPod],
    changes: &[Change],
    created: &[BoundPod],
    holding: &BTreeSet<(String, String)>,
    now: &str,
) -> Vec<EndpointPod> {
    let held = |ns: &str, owner: Option<&crate::model::OwnerRef>| {
        owner.is_some_and(|o| holding.contains(&(ns.to_string(), o.name.clone())))
    };
    let leaving = leaving(changes);
    let started: BTreeSet<(&str, &str, &str)> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Pod && c.action == Action::Start)
        .map(|c| (c.namespace.as_str(), c.name.as_str(), c.node.as_str()))
        .collect();
    let mut out = Vec::new();
    for p in observed {
        if leaving.contains(&key(p)) {
            continue;
        }
        let running = p.sandbox.as_ref().is_some_and(|s| s.is_running())
            && !p.containers.is_empty()
            && p.containers.values().all(|c| c.is_running());
        let pod = existing_pod(p);
        out.push(EndpointPod {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            labels: labels_of(&pod),
            ip: pod_ip(p).and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
            ready: p.node_reachable
                && if held(&p.namespace, p.owner.as_ref()) {
                    // A new pod of a rollout serves once Ready: a crashing container's blink of
                    // `running` at each restart is not.
                    crate::controllers::rollout::ready(p, now)
                } else {
                    (running || started.contains(&key(p)))
                        // A readiness or startup probe must have passed on the host (docs/probes.md).
                        && p.containers.values().all(|c| {
                            crate::controllers::rollout::probe_ready(p, c) != Some(false)
                        })
                },
            named_ports: named_ports(&pod),
        });
    }
    for b in created {
        out.push(EndpointPod {
            namespace: b.pod.metadata.namespace.clone().unwrap_or_default(),
            name: b.pod.metadata.name.clone().unwrap_or_default(),
            labels: labels_of(&b.pod),
            ip: b.ip.as_deref().and_then(|ip| ip.parse().ok()),
            // A pod with a readiness or startup probe serves once its host records it ready.
            ready: !held(
                b.pod.metadata.namespace.as_deref().unwrap_or_default(),
                b.owner.as_ref(),
            ) && !b.pod.spec.as_ref().is_some_and(|s| {
                s.containers
                    .iter()
                    .any(crate::controllers::rollout::gates_ready)
            }),
            named_ports: named_ports(&b.pod),
        });
    }
    out
}

/// The host's `ServiceRules` change: the restore text and missing jumps, or `None` when its rules match.
fn rules_change(
    n: &ObservedNode,
    rules: &Ruleset,
    jumps: &[Jump],
    service_ports: usize,
) -> Option<Change> {
    let empty = crate::model::ObservedNetwork::default();
    let obs = n.network.as_ref().unwrap_or(&empty);
    let d = iptables::diff(
        rules,
        jumps,
        &SavedTable::parse(&obs.iptables_nat),
        &SavedTable::parse(&obs.iptables_filter),
    );
    if d.is_empty() {
        return None;
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
    let (action, reason) = if d.fresh {
        (Action::Create, Reason::RulesMissing)
    } else if d.restore.is_some() {
        (Action::Update, Reason::RulesDiffer)
    } else {
        (Action::Update, Reason::JumpsMissing)
    };
    let mut details: Vec<Detail> = d.details.into_iter().map(Detail::Line).collect();
    if d.fresh {
        details.insert(
            0,
            Detail::RuleCounts {
                nat_chains: rules.nat.chains.len(),
                filter_chains: rules.filter.chains.len(),
                service_ports,
            },
        );
    }
    Some(Change {
        action,
        kind: ChangeKind::ServiceRules,
        namespace: String::new(),
        name: "iptables".into(),
        node: n.name.clone(),
        reason,
        details,
        steps,
    })
}

/// The desired services with their allocations filled in, and their endpoints from `table`.
fn services_after(
    svcs: &[&Service],
    allocs: &[Allocation],
    table: &[ServicePort],
    ingress: &[Ipv4Addr],
) -> ServicesAfter {
    let mut after = ServicesAfter::default();
    for (s, a) in svcs.iter().zip(allocs) {
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
        if let Some(hc) = a.health_check_node_port {
            spec.health_check_node_port = Some(i32::from(hc));
        }
        if spec.type_.as_deref() == Some("LoadBalancer") {
            let ip_mode = None;
            s.status = Some(k8s_openapi::api::core::v1::ServiceStatus {
                load_balancer: Some(k8s_openapi::api::core::v1::LoadBalancerStatus {
                    ingress: Some(
                        ingress
                            .iter()
                            .map(|ip| k8s_openapi::api::core::v1::LoadBalancerIngress {
                                ip: Some(ip.to_string()),
                                ip_mode: ip_mode.clone(),
                                ..Default::default()
                            })
                            .collect(),
                    )
                    .filter(|v: &Vec<_>| !v.is_empty()),
                }),
                ..Default::default()
            });
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

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn node(name: &str, labelled: bool, ready: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: labelled
                    .then(|| BTreeMap::from([(ENABLE_LB_LABEL.to_string(), "true".to_string())])),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn host(name: &str, address: &str) -> HostNet {
        HostNet {
            name: name.into(),
            address: address.into(),
            pod_cidr: "10.244.0.0/24".into(),
        }
    }

    #[test]
    fn ingress_is_the_chosen_nodes_that_are_ready() {
        let hosts = [
            host("a", "172.30.8.12"),
            host("b", "172.30.8.11"),
            host("c", "172.30.8.13"),
        ];
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        // No label: every Ready node; an unreachable one (Ready Unknown) drops out.
        let nodes = [
            node("a", false, "True"),
            node("b", false, "Unknown"),
            node("c", false, "True"),
        ];
        assert_eq!(
            load_balancer_ips(&nodes, &hosts),
            [ip("172.30.8.12"), ip("172.30.8.13")]
        );
        // Labelled: only the labelled Ready ones; all labelled ones down leaves none (not every node).
        let nodes = [
            node("a", true, "True"),
            node("b", true, "Unknown"),
            node("c", false, "True"),
        ];
        assert_eq!(load_balancer_ips(&nodes, &hosts), [ip("172.30.8.12")]);
        let nodes = [
            node("a", true, "Unknown"),
            node("b", false, "True"),
            node("c", false, "True"),
        ];
        assert!(load_balancer_ips(&nodes, &hosts).is_empty());
        // Back: it returns, sorted.
        let nodes = [
            node("a", true, "True"),
            node("b", true, "True"),
            node("c", false, "True"),
        ];
        assert_eq!(
            load_balancer_ips(&nodes, &hosts),
            [ip("172.30.8.11"), ip("172.30.8.12")]
        );
    }
}
