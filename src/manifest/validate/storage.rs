//! Validation of pod volumes and volume mounts, PersistentVolumeClaim, PersistentVolume, StorageClass and
//! StatefulSet (upstream `pkg/apis/core/validation` ValidateVolumes / ValidateVolumeMounts /
//! ValidatePersistentVolumeClaim…, `pkg/apis/apps/validation` ValidateStatefulSet, `pkg/apis/storage/validation`),
//! with upstream's wording. Volume types clusterctl does not mount are warned about by name.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    Container, PersistentVolume, PersistentVolumeClaimSpec, PodSpec, Volume,
};
use k8s_openapi::api::storage::v1::StorageClass;

use super::{Issues, rules, selector_and_template};
use crate::quantity::Quantity;
use crate::yaml::{FieldPath, Node};

/// The provisioner clusterctl implements (a local directory on the node of the first consumer).
pub const LOCAL_PATH_PROVISIONER: &str = "clusterctl.io/local-path";
/// k3s' name for the same thing: its manifests work unchanged.
pub const K3S_LOCAL_PATH_PROVISIONER: &str = "rancher.io/local-path";

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
pub const HOST_PATH_TYPES: [&str; 8] = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

/// The volume source a volume uses, by its field name (`emptyDir`, `nfs`, …); several when more than one
/// is set.
pub fn volume_sources(vol: &Volume) -> Vec<String> {
    let Ok(serde_json::Value::Object(m)) = serde_json::to_value(vol) else {
        return Vec::new();
    };
    m.keys().filter(|k| *k != "name").cloned().collect()
}

/// Volume sources mounted by clusterctl's own volume plumbing (`runtime::mounts`).
pub const MOUNTED_SOURCES: [&str; 7] = [
    "emptyDir",
    "hostPath",
    "persistentVolumeClaim",
    // Mounted by `runtime::config` (manifest::config validates them).
    "configMap",
    "secret",
    "projected",
    "downwardAPI",
];

/// `spec.volumes`: names, one source each, the sources clusterctl mounts checked, the others warned about.
pub(super) fn volumes(v: &mut Issues, spec: &PodSpec, sp: &FieldPath) -> BTreeSet<String> {
    let vp = sp.child("volumes");
    let mut names = BTreeSet::new();
    for (i, vol) in spec.volumes.iter().flatten().enumerate() {
        let p = vp.index(i);
        if vol.name.is_empty() {
            v.required(&p.child("name"), "");
        } else {
            for msg in rules::is_dns1123_label(&vol.name) {
                v.invalid_str(&p.child("name"), &vol.name, &msg);
            }
            if !names.insert(vol.name.clone()) {
                v.duplicate(&p.child("name"), &vol.name);
            }
        }
        let sources = volume_sources(vol);
        match sources.len() {
            0 => v.required(&p, "must specify a volume type"),
            1 => {}
            _ => v.forbidden(
                &p.child(&sources[1]),
                "may not specify more than 1 volume type",
            ),
        }
        if let Some(ed) = &vol.empty_dir {
            let ep = p.child("emptyDir");
            let medium = ed.medium.as_deref().unwrap_or("");
            if !["", "Memory"].contains(&medium) {
                v.warn(
                    &ep.child("medium"),
                    format!(
                        "clusterctl supports medium \"\" (node disk) and \"Memory\"; {} is mounted as node disk",
                        crate::yaml::go_quote(medium)
                    ),
                );
            }
            if let Some(q) = &ed.size_limit {
                match Quantity::parse(&q.0) {
                    Ok(q) if q.nano_value() < 0 => v.invalid_str(
                        &ep.child("sizeLimit"),
                        &q.to_string(),
                        "must be greater than or equal to 0",
                    ),
                    Ok(_) if medium != "Memory" => v.warn(
                        &ep.child("sizeLimit"),
                        "recorded, not enforced: clusterctl does not evict a pod whose emptyDir on disk exceeds its sizeLimit".to_string(),
                    ),
                    _ => {}
                }
            }
        }
        if let Some(hp) = &vol.host_path {
            let hpp = p.child("hostPath");
            if hp.path.is_empty() {
                v.required(&hpp.child("path"), "");
            } else {
                super::runtime_string(v, &hpp.child("path"), &hp.path);
                if hp.path.split('/').any(|s| s == "..") {
                    v.invalid_str(&hpp.child("path"), &hp.path, "must not contain '..'");
                }
            }
            let ty = hp.type_.as_deref().unwrap_or("");
            if !HOST_PATH_TYPES.contains(&ty) {
                v.unsupported(&hpp.child("type"), ty, &HOST_PATH_TYPES[1..]);
            }
        }
        if let Some(c) = &vol.persistent_volume_claim {
            let cp = p.child("persistentVolumeClaim").child("claimName");
            if c.claim_name.is_empty() {
                v.required(&cp, "");
            } else {
                for msg in rules::is_dns1123_subdomain(&c.claim_name) {
                    v.invalid_str(&cp, &c.claim_name, &msg);
                }
            }
        }
        if let Some(other) = sources
            .iter()
            .find(|s| !MOUNTED_SOURCES.contains(&s.as_str()))
        {
            v.warn(
                &p.child(other),
                format!(
                    "clusterctl does not support volume type {}; volume {} is not mounted",
                    crate::yaml::go_quote(other),
                    crate::yaml::go_quote(&vol.name)
                ),
            );
        }
    }
    names
}

/// A container's `volumeMounts`: each names a volume of the pod, mount paths unique, subPath relative.
pub(super) fn volume_mounts(
    v: &mut Issues,
    c: &Container,
    spec: &PodSpec,
    volumes: &BTreeSet<String>,
    p: &FieldPath,
) {
    let mp = p.child("volumeMounts");
    let mut paths = BTreeSet::new();
    let privileged = c
        .security_context
        .as_ref()
        .and_then(|s| s.privileged)
        .unwrap_or(false);
    let by_name: BTreeMap<&str, &Volume> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| (v.name.as_str(), v))
        .collect();
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let p = mp.index(i);
        if m.name.is_empty() {
            v.required(&p.child("name"), "");
        } else if !volumes.contains(&m.name) {
            v.push(
                &p.child("name"),
                format!("Not found: {}", crate::yaml::go_quote(&m.name)),
            );
        }
        if m.mount_path.is_empty() {
            v.required(&p.child("mountPath"), "");
        } else {
            super::runtime_string(v, &p.child("mountPath"), &m.mount_path);
            if !paths.insert(m.mount_path.clone()) {
                v.invalid_str(&p.child("mountPath"), &m.mount_path, "must be unique");
            }
        }
        let sub = m.sub_path.as_deref().unwrap_or("");
        let expr = m.sub_path_expr.as_deref().unwrap_or("");
        if !sub.is_empty() && !expr.is_empty() {
            v.invalid_str(
                &p.child("subPathExpr"),
                expr,
                "subPathExpr and subPath are mutually exclusive",
            );
        }
        for (field, value) in [("subPath", sub), ("subPathExpr", expr)] {
            if value.is_empty() {
                continue;
            }
            super::runtime_string(v, &p.child(field), value);
            if value.starts_with('/') {
                v.invalid_str(&p.child(field), value, "must be a relative path");
            }
            if value.split('/').any(|s| s == "..") {
                v.invalid_str(&p.child(field), value, "must not contain '..'");
            }
        }
        let vol = by_name.get(m.name.as_str());
        let memory = vol
            .and_then(|v| v.empty_dir.as_ref())
            .is_some_and(|e| e.medium.as_deref() == Some("Memory"));
        if memory && !(sub.is_empty() && expr.is_empty()) {
            v.warn(
                &p.child(if sub.is_empty() { "subPathExpr" } else { "subPath" }),
                "clusterctl does not support subPath on a medium: Memory emptyDir; the whole volume is mounted".to_string(),
            );
        }
        if let Some(prop) = m.mount_propagation.as_deref() {
            let pp = p.child("mountPropagation");
            match prop {
                "None" | "HostToContainer" => {}
                "Bidirectional" if !privileged => v.forbidden(
                    &pp,
                    "Bidirectional mount propagation is available only to privileged containers",
                ),
                "Bidirectional" => {}
                other => v.unsupported(&pp, other, &["Bidirectional", "HostToContainer", "None"]),
            }
            if prop != "None" && vol.is_some_and(|v| v.host_path.is_none()) {
                v.warn(
                    &pp,
                    "clusterctl applies mount propagation to hostPath volumes only; this mount is private".to_string(),
                );
            }
        }
        if m.recursive_read_only.is_some() {
            v.warn(
                &p.child("recursiveReadOnly"),
                super::UNSUPPORTED_FIELD.to_string(),
            );
        }
    }
    if c.volume_devices.is_some() {
        v.warn(
            &p.child("volumeDevices"),
            super::UNSUPPORTED_FIELD.to_string(),
        );
    }
}

/// A claim's spec (a PersistentVolumeClaim's, or a StatefulSet's volumeClaimTemplate's).
pub(super) fn claim_spec(v: &mut Issues, spec: &PersistentVolumeClaimSpec, sp: &FieldPath) {
    let modes = spec.access_modes.clone().unwrap_or_default();
    let ap = sp.child("accessModes");
    if modes.is_empty() {
        v.required(&ap, "at least 1 access mode is required");
    }
    for m in &modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            v.unsupported(&ap, m, &ACCESS_MODES);
        }
    }
    if modes.iter().any(|m| m == "ReadWriteOncePod") && modes.len() > 1 {
        v.forbidden(&ap, "may not use ReadWriteOncePod with other access modes");
    }
    let rp = sp.child("resources").key("storage");
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"));
    match storage {
        None => v.push(&rp, "Required value".to_string()),
        Some(q) => match Quantity::parse(&q.0) {
            Ok(parsed) if parsed.nano_value() <= 0 => {
                v.invalid_str(&rp, &q.0, "must be greater than zero")
            }
            Ok(_) => {}
            Err(_) => v.invalid_str(&rp, &q.0, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        },
    }
    if let Some(vm) = spec.volume_mode.as_deref() {
        match vm {
            "Filesystem" => {}
            "Block" => v.warn(
                &sp.child("volumeMode"),
                "clusterctl provisions Filesystem volumes only; a Block claim stays Pending"
                    .to_string(),
            ),
            other => v.unsupported(&sp.child("volumeMode"), other, &["Block", "Filesystem"]),
        }
    }
    for (field, set) in [
        ("selector", spec.selector.is_some()),
        ("dataSource", spec.data_source.is_some()),
        ("dataSourceRef", spec.data_source_ref.is_some()),
        ("volumeName", spec.volume_name.is_some()),
        (
            "volumeAttributesClassName",
            spec.volume_attributes_class_name.is_some(),
        ),
    ] {
        if set {
            v.warn(&sp.child(field), super::UNSUPPORTED_FIELD.to_string());
        }
    }
}

pub(super) fn storage_class(v: &mut Issues, sc: &StorageClass) {
    let root = FieldPath::root();
    if sc.provisioner.is_empty() {
        v.required(&root.child("provisioner"), "");
    } else if sc.provisioner != LOCAL_PATH_PROVISIONER
        && sc.provisioner != K3S_LOCAL_PATH_PROVISIONER
    {
        v.warn(
            &root.child("provisioner"),
            format!(
                "clusterctl provisions only {LOCAL_PATH_PROVISIONER:?} ({K3S_LOCAL_PATH_PROVISIONER:?} is read as it); claims of this class stay Pending"
            ),
        );
    }
    if let Some(rp) = sc.reclaim_policy.as_deref()
        && !["Delete", "Retain"].contains(&rp)
    {
        v.unsupported(&root.child("reclaimPolicy"), rp, &["Delete", "Retain"]);
    }
    match sc.volume_binding_mode.as_deref().unwrap_or("Immediate") {
        "WaitForFirstConsumer" => {}
        "Immediate" => v.warn(
            &root.child("volumeBindingMode"),
            "a local volume binds where its first consumer is scheduled: clusterctl treats Immediate as WaitForFirstConsumer".to_string(),
        ),
        other => v.unsupported(
            &root.child("volumeBindingMode"),
            other,
            &["Immediate", "WaitForFirstConsumer"],
        ),
    }
    for (field, set) in [
        ("parameters", sc.parameters.is_some()),
        ("mountOptions", sc.mount_options.is_some()),
        ("allowedTopologies", sc.allowed_topologies.is_some()),
        ("allowVolumeExpansion", sc.allow_volume_expansion.is_some()),
    ] {
        if set {
            v.warn(&root.child(field), super::UNSUPPORTED_FIELD.to_string());
        }
    }
}

pub(super) fn persistent_volume(v: &mut Issues, pv: &PersistentVolume) {
    let sp = FieldPath::root().child("spec");
    let spec = pv.spec.clone().unwrap_or_default();
    if spec.access_modes.as_ref().is_none_or(|m| m.is_empty()) {
        v.required(&sp.child("accessModes"), "");
    }
    if spec.local.is_some() && spec.node_affinity.is_none() {
        v.required(
            &sp.child("nodeAffinity"),
            "Local volume requires node affinity",
        );
    }
    if let Some(rp) = spec.persistent_volume_reclaim_policy.as_deref()
        && !["Delete", "Recycle", "Retain"].contains(&rp)
    {
        v.unsupported(
            &sp.child("persistentVolumeReclaimPolicy"),
            rp,
            &["Delete", "Recycle", "Retain"],
        );
    }
    v.warn(
        &FieldPath::root().child("kind"),
        "clusterctl does not bind pre-provisioned PersistentVolumes yet; claims are provisioned by clusterctl.io/local-path".to_string(),
    );
}

pub(super) fn stateful_set(v: &mut Issues, tree: &Node, s: &StatefulSet) {
    let spec_p = FieldPath::root().child("spec");
    let Some(spec) = &s.spec else { return };
    v.non_negative(&spec_p.child("replicas"), spec.replicas.map(i64::from));
    v.non_negative(
        &spec_p.child("minReadySeconds"),
        spec.min_ready_seconds.map(i64::from),
    );
    v.non_negative(
        &spec_p.child("revisionHistoryLimit"),
        spec.revision_history_limit.map(i64::from),
    );
    if let Some(o) = &spec.ordinals {
        v.non_negative(
            &spec_p.child("ordinals").child("start"),
            o.start.map(i64::from),
        );
    }
    if let Some(sn) = spec.service_name.as_deref().filter(|s| !s.is_empty()) {
        for msg in rules::is_dns1123_label(sn) {
            v.invalid_str(&spec_p.child("serviceName"), sn, &msg);
        }
    }
    let pmp = spec.pod_management_policy.as_deref().unwrap_or("");
    if !["OrderedReady", "Parallel"].contains(&pmp) {
        v.unsupported(
            &spec_p.child("podManagementPolicy"),
            pmp,
            &["OrderedReady", "Parallel"],
        );
    }
    if let Some(us) = &spec.update_strategy {
        let up = spec_p.child("updateStrategy");
        match us.type_.as_deref().unwrap_or("") {
            "RollingUpdate" => {
                if let Some(ru) = &us.rolling_update {
                    let rp = up.child("rollingUpdate");
                    v.non_negative(&rp.child("partition"), ru.partition.map(i64::from));
                    if ru.max_unavailable.is_some() {
                        v.warn(
                            &rp.child("maxUnavailable"),
                            "clusterctl does not support this field; pods are updated one at a time".to_string(),
                        );
                    }
                }
            }
            "OnDelete" => {
                if us.rolling_update.is_some() {
                    v.forbidden(
                        &up.child("rollingUpdate"),
                        "only allowed for updateStrategy 'RollingUpdate'",
                    );
                }
            }
            other => v.unsupported(&up.child("type"), other, &["OnDelete", "RollingUpdate"]),
        }
    }
    if let Some(rp) = &spec.persistent_volume_claim_retention_policy {
        let pp = spec_p.child("persistentVolumeClaimRetentionPolicy");
        for (field, value) in [
            ("whenDeleted", rp.when_deleted.as_deref()),
            ("whenScaled", rp.when_scaled.as_deref()),
        ] {
            let value = value.unwrap_or("");
            if !["Retain", "Delete"].contains(&value) {
                v.unsupported(&pp.child(field), value, &["Retain", "Delete"]);
            } else if value == "Delete" {
                v.warn(
                    &pp.child(field),
                    "clusterctl does not support Delete yet: the claims are retained".to_string(),
                );
            }
        }
    }
    let tp = spec_p.child("volumeClaimTemplates");
    let mut claim_names = Vec::new();
    for (i, t) in spec.volume_claim_templates.iter().flatten().enumerate() {
        let p = tp.index(i);
        let name = t.metadata.name.clone().unwrap_or_default();
        if name.is_empty() {
            v.required(&p.child("metadata").child("name"), "");
        } else {
            for msg in rules::is_dns1123_subdomain(&name) {
                v.invalid_str(&p.child("metadata").child("name"), &name, &msg);
            }
            claim_names.push(name);
        }
        claim_spec(v, &t.spec.clone().unwrap_or_default(), &p.child("spec"));
    }
    // The template is checked as the controller's pods are: with a volume per claim template (a pod
    // volume of the same name wins, as upstream).
    let mut template = spec.template.clone();
    if let Some(ps) = template.spec.as_mut() {
        let vols = ps.volumes.get_or_insert_with(Vec::new);
        for n in claim_names {
            if !vols.iter().any(|v| v.name == n) {
                vols.push(Volume {
                    name: n.clone(),
                    persistent_volume_claim: Some(
                        k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                            claim_name: n,
                            read_only: None,
                        },
                    ),
                    ..Default::default()
                });
            }
        }
    }
    selector_and_template(
        v,
        tree,
        &spec.selector,
        Some(&template),
        &spec_p,
        "statefulset",
    );
}
