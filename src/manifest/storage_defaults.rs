//! API-server defaults of the storage kinds and the StatefulSet (`pkg/apis/{core,apps,storage}/v1/defaults.go`):
//! what `kubectl apply` would find stored. Called from [`super::defaults::apply`].

use k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, PersistentVolumeSpec};
use k8s_openapi::api::storage::v1::StorageClass;

/// StatefulSet: replicas 1, `OrderedReady`, `RollingUpdate` with partition 0, history 10, claims retained.
pub fn stateful_set(spec: &mut StatefulSetSpec) {
    spec.replicas.get_or_insert(1);
    spec.pod_management_policy
        .get_or_insert_with(|| "OrderedReady".to_string());
    let us = spec
        .update_strategy
        .get_or_insert_with(StatefulSetUpdateStrategy::default);
    let ty = us.type_.get_or_insert_with(|| "RollingUpdate".to_string());
    if ty == "RollingUpdate" {
        let ru = us
            .rolling_update
            .get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
        ru.partition.get_or_insert(0);
    }
    spec.revision_history_limit.get_or_insert(10);
    let rp = spec
        .persistent_volume_claim_retention_policy
        .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
    rp.when_deleted.get_or_insert_with(|| "Retain".to_string());
    rp.when_scaled.get_or_insert_with(|| "Retain".to_string());
    for t in spec.volume_claim_templates.iter_mut().flatten() {
        claim(t.spec.get_or_insert_with(Default::default));
    }
}

/// PersistentVolumeClaim: `volumeMode: Filesystem`.
pub fn claim(spec: &mut PersistentVolumeClaimSpec) {
    spec.volume_mode
        .get_or_insert_with(|| "Filesystem".to_string());
}

/// PersistentVolume: `persistentVolumeReclaimPolicy: Retain`, `volumeMode: Filesystem`.
pub fn volume(spec: &mut PersistentVolumeSpec) {
    spec.persistent_volume_reclaim_policy
        .get_or_insert_with(|| "Retain".to_string());
    spec.volume_mode
        .get_or_insert_with(|| "Filesystem".to_string());
}

/// StorageClass: `reclaimPolicy: Delete`, `volumeBindingMode: Immediate`.
pub fn class(sc: &mut StorageClass) {
    sc.reclaim_policy
        .get_or_insert_with(|| "Delete".to_string());
    sc.volume_binding_mode
        .get_or_insert_with(|| "Immediate".to_string());
}
