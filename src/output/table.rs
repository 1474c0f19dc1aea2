//! `kubectl get` tables for pods, deployments, replica sets, nodes and services: kubectl's columns, cell rules
//! (printers.go) and layout (Go tabwriter, minwidth 6, padding 3). Rows are sorted by (namespace, name) as the
//! API server lists them. Pure: objects in, text out.

pub mod job;
pub use job::jobs;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::tabwriter::TABLE;
use super::{Rendered, Scope};
use crate::age::age;
use crate::view::{node_roles, pod_cells};

const NONE: &str = "<none>";

/// Builds the tab-separated text for kubectl's layout: header upper-cased by the caller.
pub(super) fn render(
    headers: &[&str],
    mut rows: Vec<(String, String, Vec<String>)>,
    scope: Option<&Scope>,
) -> String {
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let all = matches!(scope, Some(Scope::AllNamespaces));
    let mut text = String::new();
    if all {
        text.push_str("NAMESPACE\t");
    }
    text.push_str(&headers.join("\t"));
    text.push('\n');
    for (ns, _, cells) in rows {
        if all {
            text.push_str(&ns);
            text.push('\t');
        }
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    TABLE.format(&text)
}

pub(super) fn ns_name(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace
            .clone()
            .unwrap_or_else(|| "default".to_string()),
        meta.name.clone().unwrap_or_default(),
    )
}

/// `NAME READY STATUS RESTARTS AGE` (+ `IP NODE NOMINATED NODE READINESS GATES` when wide).
pub fn pods(items: &[Pod], scope: &Scope, wide: bool, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let mut headers = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
    if wide {
        headers.extend(["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]);
    }
    let rows = items
        .iter()
        .map(|p| {
            let (ns, name) = ns_name(&p.metadata);
            let c = pod_cells(p, now);
            let mut cells = vec![
                name.clone(),
                c.ready,
                c.status,
                c.restarts,
                age(p.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                let status = p.status.clone().unwrap_or_default();
                let spec = p.spec.clone().unwrap_or_default();
                let ip = status
                    .pod_ips
                    .as_ref()
                    .and_then(|ips| ips.first())
                    .map(|i| i.ip.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| NONE.to_string());
                let gates = spec.readiness_gates.clone().unwrap_or_default();
                let gates_cell = if gates.is_empty() {
                    NONE.to_string()
                } else {
                    let conds = status.conditions.clone().unwrap_or_default();
                    let ok = gates
                        .iter()
                        .filter(|g| {
                            conds
                                .iter()
                                .find(|c| c.type_ == g.condition_type)
                                .is_some_and(|c| c.status == "True")
                        })
                        .count();
                    format!("{ok}/{}", gates.len())
                };
                cells.extend([
                    ip,
                    non_empty(spec.node_name),
                    non_empty(status.nominated_node_name),
                    gates_cell,
                ]);
            }
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(render(&headers, rows, Some(scope)))
}

fn non_empty(s: Option<String>) -> String {
    s.filter(|s| !s.is_empty())
        .unwrap_or_else(|| NONE.to_string())
}

/// kubectl's `metav1.FormatLabelSelector`: requirements sorted by key, `k=v`, `k in (a,b)`, `k notin (a,b)`,
/// `k`, `!k`; `<none>` when it selects everything.
pub fn format_selector(sel: Option<&LabelSelector>) -> String {
    let Some(sel) = sel else {
        return NONE.to_string();
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        reqs.push((k.clone(), format!("{k}={v}")));
    }
    for e in sel.match_expressions.iter().flatten() {
        let mut values = e.values.clone().unwrap_or_default();
        values.sort();
        values.dedup();
        let k = &e.key;
        let text = match e.operator.as_str() {
            "In" => format!("{k} in ({})", values.join(",")),
            "NotIn" => format!("{k} notin ({})", values.join(",")),
            "Exists" => k.clone(),
            "DoesNotExist" => format!("!{k}"),
            other => format!("{k} {other} ({})", values.join(",")),
        };
        reqs.push((k.clone(), text));
    }
    if reqs.is_empty() {
        return NONE.to_string();
    }
    reqs.sort();
    reqs.into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

fn containers_images(t: Option<&PodTemplateSpec>) -> (String, String) {
    let containers = t
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    (
        containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
        containers
            .iter()
            .map(|c| c.image.clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// `NAME READY UP-TO-DATE AVAILABLE AGE` (+ `CONTAINERS IMAGES SELECTOR`).
pub fn deployments(items: &[Deployment], scope: &Scope, wide: bool, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let mut headers = vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"];
    if wide {
        headers.extend(["CONTAINERS", "IMAGES", "SELECTOR"]);
    }
    let rows = items
        .iter()
        .map(|d| {
            let (ns, name) = ns_name(&d.metadata);
            let spec = d.spec.clone().unwrap_or_default();
            let st = d.status.clone().unwrap_or_default();
            let mut cells = vec![
                name.clone(),
                format!(
                    "{}/{}",
                    st.ready_replicas.unwrap_or(0),
                    spec.replicas.unwrap_or(1)
                ),
                st.updated_replicas.unwrap_or(0).to_string(),
                st.available_replicas.unwrap_or(0).to_string(),
                age(d.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                let (c, i) = containers_images(Some(&spec.template));
                cells.extend([c, i, format_selector(Some(&spec.selector))]);
            }
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(render(&headers, rows, Some(scope)))
}

/// `NAME DESIRED CURRENT READY AGE` (+ `CONTAINERS IMAGES SELECTOR`).
pub fn replica_sets(items: &[ReplicaSet], scope: &Scope, wide: bool, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let mut headers = vec!["NAME", "DESIRED", "CURRENT", "READY", "AGE"];
    if wide {
        headers.extend(["CONTAINERS", "IMAGES", "SELECTOR"]);
    }
    let rows = items
        .iter()
        .map(|rs| {
            let (ns, name) = ns_name(&rs.metadata);
            let spec = rs.spec.clone().unwrap_or_default();
            let st = rs.status.clone().unwrap_or_default();
            let mut cells = vec![
                name.clone(),
                spec.replicas.unwrap_or(1).to_string(),
                st.replicas.to_string(),
                st.ready_replicas.unwrap_or(0).to_string(),
                age(rs.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                let (c, i) = containers_images(spec.template.as_ref());
                cells.extend([c, i, format_selector(Some(&spec.selector))]);
            }
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(render(&headers, rows, Some(scope)))
}

/// `NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE` (+ `CONTAINERS IMAGES SELECTOR`).
pub fn daemon_sets(
    items: &[k8s_openapi::api::apps::v1::DaemonSet],
    scope: &Scope,
    wide: bool,
    now: Timestamp,
) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let mut headers = vec![
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE SELECTOR",
        "AGE",
    ];
    if wide {
        headers.extend(["CONTAINERS", "IMAGES", "SELECTOR"]);
    }
    let rows = items
        .iter()
        .map(|ds| {
            let (ns, name) = ns_name(&ds.metadata);
            let spec = ds.spec.clone().unwrap_or_default();
            let st = ds.status.clone().unwrap_or_default();
            let mut cells = vec![
                name.clone(),
                st.desired_number_scheduled.to_string(),
                st.current_number_scheduled.to_string(),
                st.number_ready.to_string(),
                st.updated_number_scheduled.unwrap_or(0).to_string(),
                st.number_available.unwrap_or(0).to_string(),
                node_selector(&spec.template),
                age(ds.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                let (c, i) = containers_images(Some(&spec.template));
                cells.extend([c, i, format_selector(Some(&spec.selector))]);
            }
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(render(&headers, rows, Some(scope)))
}

/// The template's nodeSelector as `k=v,k2=v2` (sorted by key), or `<none>`.
pub fn node_selector(t: &PodTemplateSpec) -> String {
    let sel = t.spec.as_ref().and_then(|s| s.node_selector.as_ref());
    match sel {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "<none>".to_string(),
    }
}

/// `Ready` / `NotReady` / `Unknown` (no Ready condition), plus `,SchedulingDisabled` when cordoned.
pub fn node_status(node: &Node) -> String {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().rev().find(|c| c.type_ == "Ready"));
    let mut parts = vec![match ready {
        Some(c) if c.status == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        parts.push("SchedulingDisabled");
    }
    parts.join(",")
}

/// `NAME STATUS ROLES AGE VERSION` (+ `INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME`).
/// Nodes are cluster-scoped: an empty list says just `No resources found`.
pub fn nodes(items: &[Node], wide: bool, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty("No resources found".to_string());
    }
    let mut headers = vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"];
    if wide {
        headers.extend([
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME",
        ]);
    }
    let rows = items
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let roles = node_roles(n);
            let info = n
                .status
                .as_ref()
                .and_then(|s| s.node_info.clone())
                .unwrap_or_default();
            let mut cells = vec![
                name.clone(),
                node_status(n),
                if roles.is_empty() {
                    NONE.to_string()
                } else {
                    roles.join(",")
                },
                age(n.metadata.creation_timestamp.as_ref(), now),
                info.kubelet_version.clone(),
            ];
            if wide {
                let addr = |t: &str| {
                    n.status
                        .as_ref()
                        .and_then(|s| s.addresses.as_ref())
                        .and_then(|a| a.iter().find(|a| a.type_ == t))
                        .map(|a| a.address.clone())
                        .unwrap_or_else(|| NONE.to_string())
                };
                let unknown = |s: String| {
                    if s.is_empty() {
                        "<unknown>".to_string()
                    } else {
                        s
                    }
                };
                cells.extend([
                    addr("InternalIP"),
                    addr("ExternalIP"),
                    unknown(info.os_image),
                    unknown(info.kernel_version),
                    unknown(info.container_runtime_version),
                ]);
            }
            (String::new(), name, cells)
        })
        .collect();
    Rendered::Table(render(&headers, rows, None))
}

fn service_external_ip(svc: &Service, wide: bool) -> String {
    let spec = svc.spec.clone().unwrap_or_default();
    let external = spec.external_ips.clone().unwrap_or_default();
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                NONE.to_string()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let ingress: Vec<String> = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|l| l.ingress.clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.ip.filter(|s| !s.is_empty()).or(i.hostname))
                .collect();
            let mut lb = ingress.join(",");
            if !wide && lb.chars().count() > 16 {
                lb = format!("{}...", lb.chars().take(13).collect::<String>());
            }
            if !external.is_empty() {
                let mut all: Vec<String> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').map(str::to_string).collect()
                };
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => spec.external_name.unwrap_or_default(),
        _ => "<unknown>".to_string(),
    }
}

/// `NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE` (+ `SELECTOR`).
pub fn services(items: &[Service], scope: &Scope, wide: bool, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let mut headers = vec![
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "EXTERNAL-IP",
        "PORT(S)",
        "AGE",
    ];
    if wide {
        headers.push("SELECTOR");
    }
    let rows = items
        .iter()
        .map(|svc| {
            let (ns, name) = ns_name(&svc.metadata);
            let spec = svc.spec.clone().unwrap_or_default();
            let cluster_ip = spec
                .cluster_ips
                .as_ref()
                .and_then(|v| v.first().cloned())
                .or(spec.cluster_ip.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| NONE.to_string());
            let ports: Vec<String> = spec
                .ports
                .iter()
                .flatten()
                .map(|p| {
                    let proto = p.protocol.as_deref().unwrap_or("TCP");
                    match p.node_port.filter(|n| *n > 0) {
                        Some(np) => format!("{}:{np}/{proto}", p.port),
                        None => format!("{}/{proto}", p.port),
                    }
                })
                .collect();
            let mut cells = vec![
                name.clone(),
                spec.type_
                    .clone()
                    .unwrap_or_else(|| "ClusterIP".to_string()),
                cluster_ip,
                service_external_ip(svc, wide),
                if ports.is_empty() {
                    NONE.to_string()
                } else {
                    ports.join(",")
                },
                age(svc.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                let sel = spec.selector.clone().unwrap_or_default();
                cells.push(if sel.is_empty() {
                    NONE.to_string()
                } else {
                    sel.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                });
            }
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(render(&headers, rows, Some(scope)))
}
