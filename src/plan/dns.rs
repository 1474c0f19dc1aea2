//! The cluster DNS records as a plan stage (docs/dns.md): the records file every DNS pod serves,
//! rendered from the services and their endpoints **after** the plan (the same endpoint pods as the
//! rules), and one change per reachable host whose DNS pod's records differ from it — written in place
//! with `runtime::config`'s atomic volume write (content on stdin), shown like the iptables rules
//! (`service rules dns-records`), so a Service or endpoint change reaches the server without restarting
//! anything. Pure.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;

use super::{Action, BoundPod, Change, ChangeKind, Detail, PlanInput, Reason, existing_pod};
use crate::controllers::cluster_dns;
use crate::dns::records::{self, EndpointEntry, PortEntry, ServiceEntry};
use crate::model::ObservedPod;
use crate::runtime::config::{VolumeFile, VolumeFiles, sum_key, volume_hash, write_volume_cmd};
use crate::services::{self, Allocated, EndpointPod};

/// The change's name (its kind is `ServiceRules`: the same phase of apply as the rules).
pub const CHANGE_NAME: &str = "dns-records";

/// `(namespace, pod)` → `(hostname, subdomain)` of the pods after the plan.
fn hostnames(
    observed: &[ObservedPod],
    created: &[BoundPod],
) -> BTreeMap<(String, String), (String, String)> {
    let mut out = BTreeMap::new();
    let pods = observed
        .iter()
        .map(existing_pod)
        .chain(created.iter().map(|b| b.pod.clone()));
    for p in pods {
        let Some(spec) = &p.spec else { continue };
        if let (Some(h), Some(s)) = (&spec.hostname, &spec.subdomain)
            && !h.is_empty()
            && !s.is_empty()
        {
            out.insert(
                (
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default(),
                ),
                (h.clone(), s.clone()),
            );
        }
    }
    out
}

/// The records of `services` (ClusterIPs from `allocs`; `None` = headless) with `pods` as endpoints.
pub(super) fn render(
    services: &[(&Service, Option<Ipv4Addr>)],
    pods: &[EndpointPod],
    observed: &[ObservedPod],
    created: &[BoundPod],
) -> String {
    let names = hostnames(observed, created);
    let by_ip: BTreeMap<Ipv4Addr, &EndpointPod> = pods
        .iter()
        .filter(|p| p.ready)
        .filter_map(|p| Some((p.ip?, p)))
        .collect();
    let mut entries = Vec::new();
    for (svc, ip) in services {
        let headless = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
        let cluster_ip = if headless {
            None
        } else {
            match ip {
                Some(ip) => Some(*ip),
                None => continue,
            }
        };
        // The rules' table computes the endpoints (named target ports, protocols) for both kinds.
        let table = services::table(
            &[Allocated {
                service: svc,
                cluster_ip: cluster_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                node_ports: Vec::new(),
                load_balancer_ips: Vec::new(),
                health_check_node_port: None,
            }],
            pods,
        );
        let ns = svc.metadata.namespace.clone().unwrap_or_default();
        let name = svc.metadata.name.clone().unwrap_or_default();
        let mut endpoints: Vec<EndpointEntry> = Vec::new();
        for t in &table {
            for e in &t.endpoints {
                if endpoints.iter().any(|x| x.ip == e.ip) {
                    continue;
                }
                let hostname = by_ip.get(&e.ip).and_then(|p| {
                    let (h, sub) = names.get(&(p.namespace.clone(), p.name.clone()))?;
                    (sub == &name).then(|| h.clone())
                });
                endpoints.push(EndpointEntry { ip: e.ip, hostname });
            }
        }
        entries.push(ServiceEntry {
            namespace: ns,
            name: name.clone(),
            cluster_ip,
            ports: table
                .iter()
                .map(|t| PortEntry {
                    name: t.port_name.clone(),
                    protocol: t.protocol.lower().to_string(),
                    port: t.port,
                    targets: t.endpoints.iter().map(|e| (e.ip, e.port)).collect(),
                })
                .collect(),
            endpoints,
        });
    }
    records::render(&entries)
}

/// The records volume as `runtime::config` writes it.
fn volume(text: &str) -> VolumeFiles {
    VolumeFiles {
        name: cluster_dns::RECORDS_VOLUME.to_string(),
        secret: false,
        files: vec![VolumeFile {
            path: cluster_dns::RECORDS_VOLUME.to_string(),
            data: text.as_bytes().to_vec(),
            mode: 0o644,
        }],
    }
}

/// One change per reachable host that runs (or gets) a DNS pod and whose records differ from `text`.
pub(super) fn changes(input: &PlanInput<'_>, text: &str) -> Vec<Change> {
    let vol = volume(text);
    let hash = volume_hash(&vol);
    let lines = text.lines().filter(|l| !l.starts_with('#')).count();
    input
        .observed
        .nodes
        .iter()
        .filter(|n| n.reachable)
        .filter(|n| {
            input.pod_sets.iter().any(|s| {
                s.namespace == cluster_dns::NAMESPACE
                    && s.pod_name(0) == cluster_dns::pod_name(&n.name)
            })
        })
        .filter_map(|n| {
            let pod = cluster_dns::pod_name(&n.name);
            let have = n.config_volumes.get(&sum_key(
                cluster_dns::NAMESPACE,
                &pod,
                cluster_dns::RECORDS_VOLUME,
            ));
            if have == Some(&hash) {
                return None;
            }
            Some(Change {
                action: if have.is_some() {
                    Action::Update
                } else {
                    Action::Create
                },
                kind: ChangeKind::ServiceRules,
                namespace: String::new(),
                name: CHANGE_NAME.to_string(),
                node: n.name.clone(),
                reason: if have.is_some() {
                    Reason::RulesDiffer
                } else {
                    Reason::RulesMissing
                },
                details: vec![Detail::Line(format!(
                    "cluster DNS records: {lines} records ({})",
                    &hash[..hash.len().min(12)]
                ))],
                steps: vec![write_volume_cmd(cluster_dns::NAMESPACE, &pod, &vol)],
            })
        })
        .collect()
}

/// The cluster DNS address: the ClusterIP of `kube-system/kube-dns` when the cluster has its DNS
/// (the pipeline adds that Service with `cluster.dnsImage`).
pub fn cluster_dns_ip(input: &PlanInput<'_>) -> Option<Ipv4Addr> {
    let net = input.network?;
    net.services
        .iter()
        .find(|s| {
            s.metadata.namespace.as_deref() == Some(cluster_dns::SERVICE_NAMESPACE)
                && s.metadata.name.as_deref() == Some(cluster_dns::SERVICE_NAME)
        })?
        .spec
        .as_ref()?
        .cluster_ip
        .as_deref()?
        .parse()
        .ok()
}

/// The Services of `namespace` with a ClusterIP (allocated as the rules will allocate them), as the
/// kubelet's service links see them.
fn link_services(input: &PlanInput<'_>, namespace: &str) -> Vec<crate::dns::env::LinkService> {
    let Some(net) = input.network else {
        return Vec::new();
    };
    let reachable: Vec<&crate::model::ObservedNode> = input
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
        &super::services::in_use(&reachable),
    );
    svcs.iter()
        .zip(&allocs)
        .filter(|(s, _)| s.metadata.namespace.as_deref().unwrap_or("default") == namespace)
        .filter_map(|(s, a)| {
            Some(crate::dns::env::LinkService {
                name: s.metadata.name.clone()?,
                cluster_ip: a.cluster_ip?,
                ports: s
                    .spec
                    .as_ref()?
                    .ports
                    .iter()
                    .flatten()
                    .map(|p| {
                        (
                            p.name.clone().unwrap_or_default(),
                            u16::try_from(p.port).unwrap_or(0),
                            p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        )
                    })
                    .collect(),
            })
        })
        .collect()
}

/// Adds what the kubelet gives every pod besides its spec: the resolv.conf of its dnsPolicy and the
/// service environment variables (before the container's own env, which wins on a name). Not part of
/// the spec hash: a Service added later changes no running pod, as in Kubernetes.
pub(super) fn pod_extras(
    input: &PlanInput<'_>,
    pod: &k8s_openapi::api::core::v1::Pod,
    config: Option<crate::runtime::config::PodConfig>,
) -> Option<crate::runtime::config::PodConfig> {
    use crate::runtime::config::EnvValue;
    let Some(spec) = pod.spec.as_ref() else {
        return config;
    };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let resolv = crate::dns::resolv::pod_resolv_conf(spec, ns, cluster_dns_ip(input));
    let links = if spec.enable_service_links == Some(false) {
        Vec::new()
    } else {
        crate::dns::env::service_env(&link_services(input, ns))
    };
    if resolv.is_none() && links.is_empty() {
        return config;
    }
    let mut cfg = config.unwrap_or_default();
    cfg.resolv = resolv;
    if !links.is_empty() {
        for c in &spec.containers {
            let own: Vec<EnvValue> = match cfg.env.get(&c.name) {
                Some(e) => e.clone(),
                None => c
                    .env
                    .iter()
                    .flatten()
                    .filter(|e| e.value_from.is_none())
                    .map(|e| EnvValue {
                        name: e.name.clone(),
                        value: e.value.clone().unwrap_or_default(),
                        secret: false,
                    })
                    .collect(),
            };
            let mut env: Vec<EnvValue> = links
                .iter()
                .filter(|(k, _)| !own.iter().any(|e| &e.name == k))
                .map(|(k, v)| EnvValue {
                    name: k.clone(),
                    value: v.clone(),
                    secret: false,
                })
                .collect();
            env.extend(own);
            cfg.env.insert(c.name.clone(), env);
        }
    }
    Some(cfg)
}
