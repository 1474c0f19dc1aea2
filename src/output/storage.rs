//! StatefulSets, PersistentVolumeClaims, PersistentVolumes and StorageClasses as `get` shows them: the
//! objects with the status the cluster would report (built from Git and the claims' volumes observed on
//! the hosts), and kubectl's tables (printers.go: `get sts`, `get pvc`, `get pv`, `get sc`) and
//! `describe pvc|sts`. A claim's volume is its binding: Bound where a volume exists, Pending before its
//! first consumer (WaitForFirstConsumer); a volume whose claim left Git is Released (Retain) — or
//! about to be deleted. Capacity is the request recorded at provisioning; it is not enforced.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{
    LocalVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus, PersistentVolumeSpec,
    PersistentVolumeStatus, Pod, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::table::render as table;
use super::{Rendered, Scope};
use crate::age::age;
use crate::controllers::storage::{DEFAULT_CLASS_ANNOTATION, Desired};
use crate::model::{ObservedVolume, labels};

fn ns_name(m: &ObjectMeta) -> (String, String) {
    (
        m.namespace.clone().unwrap_or_else(|| "default".into()),
        m.name.clone().unwrap_or_default(),
    )
}

fn time(s: &str) -> Option<Time> {
    s.parse::<Timestamp>().ok().map(Time)
}

/// `ReadWriteOnce,ReadOnlyMany` → `RWO,ROX`.
fn modes_short(modes: &[String]) -> String {
    modes
        .iter()
        .map(|m| match m.as_str() {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn split_modes(v: &ObservedVolume) -> Vec<String> {
    v.label(labels::ACCESS_MODES)
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Claims with status: Bound to their volume (capacity and modes from it), or Pending.
pub fn claims_with_status(
    desired: &Desired,
    volumes: &[ObservedVolume],
) -> Vec<PersistentVolumeClaim> {
    desired
        .claims
        .iter()
        .map(|(c, _)| {
            let mut c = c.clone();
            let (ns, name) = ns_name(&c.metadata);
            let class = desired.class_name_of(&c);
            let spec = c.spec.get_or_insert_with(Default::default);
            if spec.storage_class_name.is_none() && !class.is_empty() {
                spec.storage_class_name = Some(class);
            }
            let bound = volumes.iter().find(|v| {
                v.label(labels::CLAIM_NAMESPACE) == Some(ns.as_str())
                    && v.label(labels::CLAIM_NAME) == Some(name.as_str())
            });
            c.status = Some(match bound {
                Some(v) => {
                    spec.volume_name = Some(v.name.clone());
                    c.metadata.creation_timestamp = time(&v.created_at);
                    let mut ann = c.metadata.annotations.clone().unwrap_or_default();
                    ann.insert("volume.kubernetes.io/selected-node".into(), v.node.clone());
                    ann.insert("pv.kubernetes.io/bind-completed".into(), "yes".into());
                    c.metadata.annotations = Some(ann);
                    PersistentVolumeClaimStatus {
                        phase: Some("Bound".into()),
                        access_modes: Some(split_modes(v)),
                        capacity: Some(BTreeMap::from([(
                            "storage".to_string(),
                            Quantity(v.label(labels::CAPACITY).unwrap_or_default().to_string()),
                        )])),
                        ..Default::default()
                    }
                }
                None => PersistentVolumeClaimStatus {
                    phase: Some("Pending".into()),
                    ..Default::default()
                },
            });
            c
        })
        .collect()
}

/// The claims' PersistentVolumes (one per observed volume) with status, plus the PersistentVolumes
/// written in Git (Available, never bound by clusterctl).
pub fn volumes_with_status(desired: &Desired, volumes: &[ObservedVolume]) -> Vec<PersistentVolume> {
    let mut out: Vec<PersistentVolume> = volumes
        .iter()
        .map(|v| {
            let ns = v.label(labels::CLAIM_NAMESPACE).unwrap_or_default();
            let claim = v.label(labels::CLAIM_NAME).unwrap_or_default();
            let claimed = desired.claim(ns, claim).is_some();
            let policy = v.label(labels::RECLAIM_POLICY).unwrap_or("Delete");
            let phase = if claimed { "Bound" } else { "Released" };
            PersistentVolume {
                metadata: ObjectMeta {
                    name: Some(v.name.clone()),
                    creation_timestamp: time(&v.created_at),
                    annotations: Some(BTreeMap::from([(
                        "pv.kubernetes.io/provisioned-by".to_string(),
                        crate::controllers::storage::PROVISIONER.to_string(),
                    )])),
                    ..Default::default()
                },
                spec: Some(PersistentVolumeSpec {
                    access_modes: Some(split_modes(v)),
                    capacity: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity(v.label(labels::CAPACITY).unwrap_or_default().to_string()),
                    )])),
                    claim_ref: Some(ObjectReference {
                        kind: Some("PersistentVolumeClaim".into()),
                        namespace: Some(ns.to_string()),
                        name: Some(claim.to_string()),
                        api_version: Some("v1".into()),
                        ..Default::default()
                    }),
                    persistent_volume_reclaim_policy: Some(policy.to_string()),
                    storage_class_name: v.label(labels::STORAGE_CLASS).map(str::to_string),
                    volume_mode: Some("Filesystem".into()),
                    local: Some(LocalVolumeSource {
                        path: crate::runtime::mounts::claim_dir(ns, claim),
                        fs_type: None,
                    }),
                    node_affinity: Some(VolumeNodeAffinity {
                        required: Some(NodeSelector {
                            node_selector_terms: vec![NodeSelectorTerm {
                                match_expressions: Some(vec![NodeSelectorRequirement {
                                    key: "kubernetes.io/hostname".into(),
                                    operator: "In".into(),
                                    values: Some(vec![v.node.clone()]),
                                }]),
                                match_fields: None,
                            }],
                        }),
                    }),
                    ..Default::default()
                }),
                status: Some(PersistentVolumeStatus {
                    phase: Some(phase.into()),
                    ..Default::default()
                }),
            }
        })
        .collect();
    out.extend(desired.volumes.iter().map(|pv| {
        let mut pv = pv.clone();
        pv.status = Some(PersistentVolumeStatus {
            phase: Some("Available".into()),
            ..Default::default()
        });
        pv
    }));
    out.sort_by_key(|p| p.metadata.name.clone());
    out
}

/// A StatefulSet with status: its pods (by owner), ready ones, those at the current revision.
pub fn stateful_set_with_status(sts: &StatefulSet, pods: &[Pod]) -> StatefulSet {
    let mut s = sts.clone();
    let (ns, name) = ns_name(&s.metadata);
    let (rev, _) = crate::controllers::stateful::revision(sts);
    let mine: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == ns)
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "StatefulSet" && o.name == name)
        })
        .filter(|p| p.metadata.creation_timestamp.is_some())
        .collect();
    let ready = mine.iter().filter(|p| crate::view::is_pod_ready(p)).count() as i32;
    let updated = mine
        .iter()
        .filter(|p| {
            crate::view::label(&p.metadata, crate::controllers::stateful::REVISION_LABEL)
                == Some(rev.as_str())
        })
        .count() as i32;
    if s.metadata.creation_timestamp.is_none() {
        s.metadata.creation_timestamp = mine
            .iter()
            .filter_map(|p| p.metadata.creation_timestamp.clone())
            .min_by_key(|t| t.0);
    }
    s.status = Some(StatefulSetStatus {
        replicas: mine.len() as i32,
        ready_replicas: Some(ready),
        available_replicas: Some(ready),
        current_replicas: Some(updated),
        updated_replicas: Some(updated),
        current_revision: Some(rev.clone()),
        update_revision: Some(rev),
        ..Default::default()
    });
    s
}

/// `NAME READY AGE` (+ `CONTAINERS IMAGES`).
pub fn stateful_sets(items: &[StatefulSet], scope: &Scope, wide: bool, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let mut headers = vec!["NAME", "READY", "AGE"];
    if wide {
        headers.extend(["CONTAINERS", "IMAGES"]);
    }
    let rows = items
        .iter()
        .map(|s| {
            let (ns, name) = ns_name(&s.metadata);
            let spec = s.spec.clone().unwrap_or_default();
            let st = s.status.clone().unwrap_or_default();
            let mut cells = vec![
                name.clone(),
                format!(
                    "{}/{}",
                    st.ready_replicas.unwrap_or(0),
                    spec.replicas.unwrap_or(1)
                ),
                age(s.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                let cs = spec.template.spec.clone().unwrap_or_default().containers;
                cells.push(
                    cs.iter()
                        .map(|c| c.name.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                cells.push(
                    cs.iter()
                        .map(|c| c.image.clone().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(table(&headers, rows, Some(scope)))
}

/// `NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE` (+ `VOLUMEMODE`).
pub fn claims(
    items: &[PersistentVolumeClaim],
    scope: &Scope,
    wide: bool,
    now: Timestamp,
) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty(scope.empty_message());
    }
    let mut headers = vec![
        "NAME",
        "STATUS",
        "VOLUME",
        "CAPACITY",
        "ACCESS MODES",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "AGE",
    ];
    if wide {
        headers.push("VOLUMEMODE");
    }
    let rows = items
        .iter()
        .map(|c| {
            let (ns, name) = ns_name(&c.metadata);
            let spec = c.spec.clone().unwrap_or_default();
            let st = c.status.clone().unwrap_or_default();
            let cap = st
                .capacity
                .as_ref()
                .and_then(|m| m.get("storage"))
                .map(|q| q.0.clone())
                .unwrap_or_default();
            let mut cells = vec![
                name.clone(),
                st.phase.clone().unwrap_or_default(),
                spec.volume_name.clone().unwrap_or_default(),
                cap,
                modes_short(&st.access_modes.clone().unwrap_or_default()),
                spec.storage_class_name.clone().unwrap_or_default(),
                "<unset>".into(),
                age(c.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                cells.push(spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into()));
            }
            (ns, name, cells)
        })
        .collect();
    Rendered::Table(table(&headers, rows, Some(scope)))
}

/// `NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE`.
pub fn volumes(items: &[PersistentVolume], wide: bool, now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty("No resources found".to_string());
    }
    let mut headers = vec![
        "NAME",
        "CAPACITY",
        "ACCESS MODES",
        "RECLAIM POLICY",
        "STATUS",
        "CLAIM",
        "STORAGECLASS",
        "VOLUMEATTRIBUTESCLASS",
        "REASON",
        "AGE",
    ];
    if wide {
        headers.push("VOLUMEMODE");
    }
    let rows = items
        .iter()
        .map(|pv| {
            let name = pv.metadata.name.clone().unwrap_or_default();
            let spec = pv.spec.clone().unwrap_or_default();
            let claim = spec
                .claim_ref
                .as_ref()
                .map(|r| {
                    format!(
                        "{}/{}",
                        r.namespace.clone().unwrap_or_default(),
                        r.name.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let mut cells = vec![
                name.clone(),
                spec.capacity
                    .as_ref()
                    .and_then(|m| m.get("storage"))
                    .map(|q| q.0.clone())
                    .unwrap_or_default(),
                modes_short(&spec.access_modes.clone().unwrap_or_default()),
                spec.persistent_volume_reclaim_policy
                    .clone()
                    .unwrap_or_default(),
                pv.status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default(),
                claim,
                spec.storage_class_name.clone().unwrap_or_default(),
                "<unset>".into(),
                String::new(),
                age(pv.metadata.creation_timestamp.as_ref(), now),
            ];
            if wide {
                cells.push(spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into()));
            }
            (String::new(), name, cells)
        })
        .collect();
    Rendered::Table(table(&headers, rows, None))
}

/// `NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE`; the default is marked.
pub fn classes(items: &[StorageClass], now: Timestamp) -> Rendered {
    if items.is_empty() {
        return Rendered::Empty("No resources found".to_string());
    }
    let headers = [
        "NAME",
        "PROVISIONER",
        "RECLAIMPOLICY",
        "VOLUMEBINDINGMODE",
        "ALLOWVOLUMEEXPANSION",
        "AGE",
    ];
    let rows = items
        .iter()
        .map(|sc| {
            let name = sc.metadata.name.clone().unwrap_or_default();
            let default = sc
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                .is_some_and(|v| v == "true");
            let shown = if default {
                format!("{name} (default)")
            } else {
                name.clone()
            };
            let cells = vec![
                shown,
                sc.provisioner.clone(),
                sc.reclaim_policy.clone().unwrap_or_else(|| "Delete".into()),
                sc.volume_binding_mode
                    .clone()
                    .unwrap_or_else(|| "Immediate".into()),
                sc.allow_volume_expansion.unwrap_or(false).to_string(),
                age(sc.metadata.creation_timestamp.as_ref(), now),
            ];
            (String::new(), name, cells)
        })
        .collect();
    Rendered::Table(table(&headers, rows, None))
}

/// `describe pvc NAME`: kubectl's layout (Events: none recorded).
pub fn describe_claim(c: &PersistentVolumeClaim, used_by: &[String]) -> String {
    let mut out = String::new();
    let (ns, name) = ns_name(&c.metadata);
    let spec = c.spec.clone().unwrap_or_default();
    let st = c.status.clone().unwrap_or_default();
    let map = |m: &Option<BTreeMap<String, String>>| match m {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n               "),
        _ => "<none>".into(),
    };
    let _ = writeln!(out, "Name:          {name}");
    let _ = writeln!(out, "Namespace:     {ns}");
    let _ = writeln!(
        out,
        "StorageClass:  {}",
        spec.storage_class_name.clone().unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "Status:        {}",
        st.phase.clone().unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "Volume:        {}",
        spec.volume_name.clone().unwrap_or_default()
    );
    let _ = writeln!(out, "Labels:        {}", map(&c.metadata.labels));
    let _ = writeln!(out, "Annotations:   {}", map(&c.metadata.annotations));
    let _ = writeln!(out, "Finalizers:    [kubernetes.io/pvc-protection]");
    let cap = st
        .capacity
        .as_ref()
        .and_then(|m| m.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default();
    let _ = writeln!(out, "Capacity:      {cap}");
    let _ = writeln!(
        out,
        "Access Modes:  {}",
        modes_short(&st.access_modes.clone().unwrap_or_default())
    );
    let _ = writeln!(
        out,
        "VolumeMode:    {}",
        spec.volume_mode
            .clone()
            .unwrap_or_else(|| "Filesystem".into())
    );
    let used = if used_by.is_empty() {
        "<none>".to_string()
    } else {
        used_by.join("\n               ")
    };
    let _ = writeln!(out, "Used By:       {used}");
    if st.phase.as_deref() == Some("Pending") {
        let _ = writeln!(out, "Events:");
        let _ = writeln!(
            out,
            "  Type    Reason                Age   From                         Message"
        );
        let _ = writeln!(
            out,
            "  ----    ------                ----  ----                         -------"
        );
        let _ = writeln!(
            out,
            "  Normal  WaitForFirstConsumer  -     persistentvolume-controller  waiting for first consumer to be created before binding"
        );
    } else {
        let _ = writeln!(out, "Events:        <none>");
    }
    out
}

/// `describe sts NAME`: the essentials of kubectl's layout.
pub fn describe_stateful_set(s: &StatefulSet, claims: &[String]) -> String {
    let mut out = String::new();
    let (ns, name) = ns_name(&s.metadata);
    let spec = s.spec.clone().unwrap_or_default();
    let st = s.status.clone().unwrap_or_default();
    let _ = writeln!(out, "Name:               {name}");
    let _ = writeln!(out, "Namespace:          {ns}");
    let _ = writeln!(
        out,
        "Selector:           {}",
        super::table::format_selector(Some(&spec.selector))
    );
    let _ = writeln!(
        out,
        "Replicas:           {} desired | {} total",
        spec.replicas.unwrap_or(1),
        st.replicas
    );
    let us = spec.update_strategy.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "Update Strategy:    {}",
        us.type_.clone().unwrap_or_default()
    );
    if let Some(p) = us.rolling_update.and_then(|r| r.partition) {
        let _ = writeln!(out, "  Partition:        {p}");
    }
    let _ = writeln!(
        out,
        "Pod Management Policy: {}",
        spec.pod_management_policy.clone().unwrap_or_default()
    );
    let ready = st.ready_replicas.unwrap_or(0);
    let _ = writeln!(
        out,
        "Pods Status:        {ready} Running / {} Waiting / 0 Succeeded / 0 Failed",
        (st.replicas - ready).max(0)
    );
    let _ = writeln!(
        out,
        "Service Name:       {}",
        spec.service_name.clone().unwrap_or_default()
    );
    let _ = writeln!(out, "Volume Claims:");
    if spec
        .volume_claim_templates
        .as_ref()
        .is_none_or(|v| v.is_empty())
    {
        let _ = writeln!(out, "  <none>");
    }
    for t in spec.volume_claim_templates.iter().flatten() {
        let ts = t.spec.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "  Name:          {}",
            t.metadata.name.clone().unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  StorageClass:  {}",
            ts.storage_class_name.clone().unwrap_or_default()
        );
        let cap = ts
            .resources
            .and_then(|r| r.requests)
            .and_then(|r| r.get("storage").map(|q| q.0.clone()))
            .unwrap_or_default();
        let _ = writeln!(out, "  Capacity:      {cap}");
        let _ = writeln!(
            out,
            "  Access Modes:  [{}]",
            ts.access_modes.unwrap_or_default().join(" ")
        );
    }
    let _ = writeln!(
        out,
        "Claims:             {}",
        if claims.is_empty() {
            "<none>".to_string()
        } else {
            claims.join(", ")
        }
    );
    let _ = writeln!(out, "Events:             <none>");
    out
}
