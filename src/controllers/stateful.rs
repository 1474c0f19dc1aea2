//! The StatefulSet controller's pods and claims (pkg/controller/statefulset; semantics doc §16): one pod
//! set per ordinal, pod `<sts>-<ordinal>` with `hostname` = its name and `subdomain` = `serviceName`,
//! labelled `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
//! `controller-revision-hash=<sts>-<hash>`; one claim `<template>-<sts>-<ordinal>` per volumeClaimTemplate,
//! the pod's volume of the template's name pointing at it. Which ordinals are created, replaced or
//! removed in one plan (OrderedReady, partitions) is the plan's (`plan::stateful`), from [`Stateful`].

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{PodNaming, PodSet, controller_ref, name_of, namespace_of, pod_template_hash};
use crate::model::OwnerRef;
use crate::yaml::SourceRef;

pub const REVISION_LABEL: &str = "controller-revision-hash";
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// On a claim made from a volumeClaimTemplate: the StatefulSet it belongs to (clusterctl's own label;
/// upstream labels it with the template's selector labels and, with a Delete retention, an owner reference).
pub const CLAIM_OWNER_LABEL: &str = "clusterctl.io/statefulset";

/// A StatefulSet pod set's place in its set.
#[derive(Debug, Clone, PartialEq)]
pub struct Stateful {
    pub stateful_set: String,
    pub ordinal: u32,
    /// `OrderedReady` (true) or `Parallel`.
    pub ordered: bool,
    pub update: Update,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Pods with ordinal ≥ `partition` are updated, highest ordinal first, one at a time.
    RollingUpdate { partition: u32 },
    /// A pod gets the new template only when it is removed by hand.
    OnDelete,
}

/// `<template>-<sts>-<ordinal>`.
pub fn claim_name(template: &str, sts: &str, ordinal: u32) -> String {
    format!("{template}-{sts}-{ordinal}")
}

/// The ordinal of a StatefulSet's pod `<sts>-<n>`.
pub fn ordinal_of(sts: &str, pod: &str) -> Option<u32> {
    pod.strip_prefix(sts)?.strip_prefix('-')?.parse().ok()
}

/// The pods' ordinals: `start … start+replicas−1`.
pub fn ordinals(sts: &StatefulSet) -> std::ops::Range<u32> {
    let spec = sts.spec.clone().unwrap_or_default();
    let start = spec.ordinals.and_then(|o| o.start).unwrap_or(0).max(0) as u32;
    let replicas = spec.replicas.unwrap_or(1).max(0) as u32;
    start..start.saturating_add(replicas)
}

/// The revision label's value, `<sts>-<hash>`, and the hash itself.
pub fn revision(sts: &StatefulSet) -> (String, String) {
    let spec = sts.spec.clone().unwrap_or_default();
    let collision = sts.status.as_ref().and_then(|s| s.collision_count);
    let hash = pod_template_hash(&spec.template, collision);
    (format!("{}-{hash}", name_of(&sts.metadata)), hash)
}

/// One pod set per ordinal, in ordinal order.
pub fn pod_sets(sts: &StatefulSet, source: &SourceRef) -> Vec<PodSet> {
    let spec = sts.spec.clone().unwrap_or_default();
    let name = name_of(&sts.metadata);
    let namespace = namespace_of(&sts.metadata);
    let (rev, hash) = revision(sts);
    let tmeta = spec.template.metadata.clone().unwrap_or_default();
    let ordered = spec.pod_management_policy.as_deref() != Some("Parallel");
    let update = match spec.update_strategy.as_ref() {
        Some(s) if s.type_.as_deref() == Some("OnDelete") => Update::OnDelete,
        s => Update::RollingUpdate {
            partition: s
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.partition)
                .unwrap_or(0)
                .max(0) as u32,
        },
    };
    let templates: Vec<String> = spec
        .volume_claim_templates
        .iter()
        .flatten()
        .filter_map(|t| t.metadata.name.clone())
        .collect();
    let mut base = spec.template.spec.clone().unwrap_or_default();
    crate::manifest::defaults::pod_only(&mut base);
    ordinals(sts)
        .map(|ordinal| {
            let pod_name = format!("{name}-{ordinal}");
            let mut labels = tmeta.labels.clone().unwrap_or_default();
            labels.insert(REVISION_LABEL.to_string(), rev.clone());
            labels.insert(POD_NAME_LABEL.to_string(), pod_name.clone());
            labels.insert(POD_INDEX_LABEL.to_string(), ordinal.to_string());
            let mut pod_spec = base.clone();
            pod_spec.hostname = Some(pod_name.clone());
            pod_spec.subdomain = spec.service_name.clone().filter(|s| !s.is_empty());
            // A claim template replaces the pod volume of its name, as upstream's updateStorage does.
            let vols = pod_spec.volumes.get_or_insert_with(Vec::new);
            for t in &templates {
                vols.retain(|v| &v.name != t);
                vols.push(Volume {
                    name: t.clone(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: claim_name(t, &name, ordinal),
                        read_only: None,
                    }),
                    ..Default::default()
                });
            }
            if vols.is_empty() {
                pod_spec.volumes = None;
            }
            let template = Pod {
                metadata: ObjectMeta {
                    name: Some(pod_name.clone()),
                    namespace: Some(namespace.clone()),
                    labels: Some(labels),
                    annotations: tmeta.annotations.clone(),
                    owner_references: Some(vec![controller_ref(
                        "apps/v1",
                        "StatefulSet",
                        &name,
                        &sts.metadata,
                    )]),
                    ..Default::default()
                },
                spec: Some(pod_spec),
                status: None,
            };
            PodSet {
                namespace: namespace.clone(),
                owner: Some(OwnerRef {
                    kind: "StatefulSet".to_string(),
                    name: name.clone(),
                }),
                deployment: None,
                template_hash: hash.clone(),
                replicas: 1,
                naming: PodNaming::Fixed(pod_name),
                template,
                source: source.clone(),
                daemon: None,
                job: None,
                rollout: None,
                stateful: Some(Stateful {
                    stateful_set: name.clone(),
                    ordinal,
                    ordered,
                    update: update.clone(),
                }),
            }
        })
        .collect()
}

/// The claims of the StatefulSet's current ordinals, from its volumeClaimTemplates: named
/// `<template>-<sts>-<ordinal>`, labelled with the template's labels and [`CLAIM_OWNER_LABEL`].
pub fn claims(sts: &StatefulSet) -> Vec<PersistentVolumeClaim> {
    let spec = sts.spec.clone().unwrap_or_default();
    let name = name_of(&sts.metadata);
    let namespace = namespace_of(&sts.metadata);
    let mut out = Vec::new();
    for ordinal in ordinals(sts) {
        for t in spec.volume_claim_templates.iter().flatten() {
            let tname = t.metadata.name.clone().unwrap_or_default();
            let mut labels: BTreeMap<String, String> =
                t.metadata.labels.clone().unwrap_or_default();
            labels.insert(CLAIM_OWNER_LABEL.to_string(), name.clone());
            out.push(PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&tname, &name, ordinal)),
                    namespace: Some(namespace.clone()),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    ..Default::default()
                },
                spec: t.spec.clone(),
                status: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(yaml: &str) -> StatefulSet {
        let parsed = crate::manifest::parse(&[crate::manifest::RawFile {
            path: "a.yaml".into(),
            bytes: yaml.as_bytes().to_vec(),
        }]);
        assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
        match &parsed.manifests[0].object {
            crate::manifest::Object::StatefulSet(s) => (**s).clone(),
            _ => panic!("not a StatefulSet"),
        }
    }

    const WEB: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: nginx
        volumeMounts: [{name: www, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
";

    #[test]
    fn ordinal_pods_with_identity_and_claims() {
        let s = sts(WEB);
        let sets = pod_sets(&s, &SourceRef::default());
        let names: Vec<String> = sets.iter().map(|p| p.pod_name(0)).collect();
        assert_eq!(names, ["web-0", "web-1", "web-2"]);
        let pod = &sets[1].template;
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-1"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let labels = pod.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-1");
        assert_eq!(labels[POD_INDEX_LABEL], "1");
        assert!(labels[REVISION_LABEL].starts_with("web-"));
        let vol = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!(
            vol.persistent_volume_claim.as_ref().unwrap().claim_name,
            "www-web-1"
        );
        let c: Vec<String> = claims(&s)
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(c, ["www-web-0", "www-web-1", "www-web-2"]);
        assert!(sets[0].stateful.as_ref().unwrap().ordered);
        assert_eq!(
            sets[0].stateful.as_ref().unwrap().update,
            Update::RollingUpdate { partition: 0 }
        );
    }

    #[test]
    fn ordinals_start_and_parse_back() {
        let s = sts(&WEB.replace("replicas: 3", "replicas: 2\n  ordinals: {start: 5}"));
        assert_eq!(ordinals(&s), 5..7);
        assert_eq!(ordinal_of("web", "web-6"), Some(6));
        assert_eq!(ordinal_of("web", "webx-6"), None);
        assert_eq!(ordinal_of("web", "web-a"), None);
    }
}
