//! The desired storage objects: claims (written in Git, or made from StatefulSets' volumeClaimTemplates),
//! StorageClasses (plus the built-in `local-path` class of the `clusterctl.io/local-path` provisioner,
//! the default class as in k3s) and pre-provisioned PersistentVolumes (shown, not bound). Resolves a
//! claim's class as the API server does (the beta annotation, then `storageClassName`, an unset one
//! filled in by the DefaultStorageClass admission). Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{name_of, namespace_of};
use crate::yaml::SourceRef;

/// The built-in class's name (k3s' name for its local-path class).
pub const BUILTIN_CLASS: &str = "local-path";
pub const PROVISIONER: &str = "clusterctl.io/local-path";
const K3S_PROVISIONER: &str = "rancher.io/local-path";
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    /// Sorted by (namespace, name); the first definition of a name wins (a claim written in Git over a
    /// template's claim of the same name).
    pub claims: Vec<(PersistentVolumeClaim, SourceRef)>,
    /// Sorted by name, the built-in class included.
    pub classes: Vec<StorageClass>,
    pub volumes: Vec<PersistentVolume>,
}

/// The built-in class: `local-path`, WaitForFirstConsumer, Delete, default unless Git names another.
pub fn builtin_class(default: bool) -> StorageClass {
    let annotations = default
        .then(|| BTreeMap::from([(DEFAULT_CLASS_ANNOTATION.to_string(), "true".to_string())]));
    StorageClass {
        metadata: ObjectMeta {
            name: Some(BUILTIN_CLASS.to_string()),
            annotations,
            ..Default::default()
        },
        provisioner: PROVISIONER.to_string(),
        reclaim_policy: Some("Delete".to_string()),
        volume_binding_mode: Some("WaitForFirstConsumer".to_string()),
        ..Default::default()
    }
}

fn is_default(sc: &StorageClass) -> bool {
    sc.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
        .is_some_and(|v| v == "true")
}

impl Desired {
    /// Sorts, drops later duplicates, adds the built-in class when Git does not define `local-path`.
    pub fn finish(&mut self) {
        self.claims.sort_by_key(|(c, _)| key(&c.metadata));
        self.claims
            .dedup_by(|b, a| key(&a.0.metadata) == key(&b.0.metadata));
        if !self
            .classes
            .iter()
            .any(|c| c.metadata.name.as_deref() == Some(BUILTIN_CLASS))
        {
            let default = !self.classes.iter().any(is_default);
            self.classes.push(builtin_class(default));
        }
        self.classes.sort_by_key(|c| name_of(&c.metadata));
        self.volumes.sort_by_key(|v| name_of(&v.metadata));
    }

    /// The default class (the newest-named of several, as `GetDefaultClass` picks one deterministically here).
    pub fn default_class(&self) -> Option<&StorageClass> {
        self.classes.iter().rev().find(|c| is_default(c))
    }

    /// A claim's class name: the beta annotation, else `storageClassName`, else (unset) the default class.
    pub fn class_name_of(&self, c: &PersistentVolumeClaim) -> String {
        if let Some(a) = c
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(BETA_CLASS_ANNOTATION))
        {
            return a.clone();
        }
        match c.spec.as_ref().and_then(|s| s.storage_class_name.clone()) {
            Some(n) => n,
            None => self
                .default_class()
                .and_then(|d| d.metadata.name.clone())
                .unwrap_or_default(),
        }
    }

    pub fn class(&self, name: &str) -> Option<&StorageClass> {
        self.classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
    }

    pub fn claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim> {
        self.claims
            .iter()
            .map(|(c, _)| c)
            .find(|c| namespace_of(&c.metadata) == namespace && name_of(&c.metadata) == name)
    }
}

/// Whether clusterctl provisions claims of this class.
pub fn provisions(sc: &StorageClass) -> bool {
    sc.provisioner == PROVISIONER || sc.provisioner == K3S_PROVISIONER
}

fn key(m: &ObjectMeta) -> (String, String) {
    (namespace_of(m), name_of(m))
}

/// A claim's access modes and requested storage, as written.
pub fn modes_and_request(c: &PersistentVolumeClaim) -> (Vec<String>, String) {
    let spec = c.spec.clone().unwrap_or_default();
    let request = spec
        .resources
        .and_then(|r| r.requests)
        .and_then(|r| r.get("storage").map(|q| q.0.clone()))
        .unwrap_or_default();
    (spec.access_modes.unwrap_or_default(), request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(class: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("data".into()),
                ..Default::default()
            },
            spec: Some(k8s_openapi::api::core::v1::PersistentVolumeClaimSpec {
                storage_class_name: class.map(str::to_string),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn builtin_class_is_the_default_unless_git_names_one() {
        let mut d = Desired::default();
        d.finish();
        assert_eq!(d.class_name_of(&claim(None)), "local-path");
        assert_eq!(d.class_name_of(&claim(Some(""))), "");
        assert_eq!(d.class_name_of(&claim(Some("fast"))), "fast");

        let mut d = Desired::default();
        let mut fast = builtin_class(true);
        fast.metadata.name = Some("fast".into());
        d.classes.push(fast);
        d.finish();
        assert_eq!(d.class_name_of(&claim(None)), "fast");
        assert!(!is_default(d.class("local-path").unwrap()));
    }
}
