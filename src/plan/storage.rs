//! Persistent storage in the plan: which claims are bound where (a claim's PersistentVolume is a labelled
//! docker volume on its node, observed — or remembered by the roster for a node that cannot be reached),
//! what each new pod's claims require of its node (the VolumeBinding filter's input, or a PreFilter
//! failure: a missing claim, a class clusterctl cannot provision, a ReadWriteOncePod claim in use), the
//! provisioning steps of a claim bound by its first consumer (WaitForFirstConsumer), and the deletion of
//! a claim's data once its claim is gone from Git with reclaimPolicy Delete and no pod uses it. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;

use super::{Action, Change, ChangeKind, Detail, PlanInput, Reason};
use crate::cmd::Cmd;
use crate::controllers::storage;
use crate::model::{ObservedPod, ObservedVolume, labels};
use crate::runtime::mounts::{self, ClaimVolume};

type ClaimKey = (String, String);

/// The claims' bindings while pods are bound one by one.
pub(super) struct Claims<'a> {
    desired: Option<&'a storage::Desired>,
    /// Bound claims → their node: observed, then provisioned by this plan.
    bound: BTreeMap<ClaimKey, String>,
    /// Pods that use each claim (staying pods, then the pods this plan creates).
    users: BTreeMap<ClaimKey, BTreeSet<String>>,
    /// Claims this plan provisions (in plan order).
    pub provisioned: Vec<ClaimVolume>,
}

/// What a new pod's claims need.
#[derive(Debug, Default)]
pub(super) struct Needs {
    /// The nodes its bound claims' volumes are on (all must be the pod's node).
    pub nodes: Vec<String>,
    /// Unbound claims it binds where it is scheduled.
    pub unbound: Vec<ClaimKey>,
}

fn claim_keys(pod: &Pod) -> Vec<ClaimKey> {
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_string());
    pod.spec
        .as_ref()
        .map(|s| {
            mounts::claims_of(s)
                .into_iter()
                .map(|c| (ns.clone(), c.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The claim a volume records, `(namespace, claim)`.
fn volume_claim(v: &ObservedVolume) -> Option<ClaimKey> {
    Some((
        v.label(labels::CLAIM_NAMESPACE)?.to_string(),
        v.label(labels::CLAIM_NAME)?.to_string(),
    ))
}

impl<'a> Claims<'a> {
    pub fn new(input: &PlanInput<'a>, staying: &[&ObservedPod]) -> Claims<'a> {
        let mut bound = BTreeMap::new();
        for v in input.observed.claim_volumes() {
            if let Some(k) = volume_claim(&v) {
                bound.entry(k).or_insert(v.node.clone());
            }
        }
        let mut users: BTreeMap<ClaimKey, BTreeSet<String>> = BTreeMap::new();
        for p in staying {
            if let Some(m) = &p.manifest {
                let mut m = m.clone();
                m.metadata.namespace = Some(p.namespace.clone());
                for k in claim_keys(&m) {
                    users.entry(k).or_default().insert(p.name.clone());
                }
            }
        }
        Claims {
            desired: input.storage,
            bound,
            users,
            provisioned: Vec::new(),
        }
    }

    /// What `pod` needs of its node, or the PreFilter message that keeps it Pending everywhere.
    pub fn needs(&self, pod: &Pod) -> Result<Needs, String> {
        let mut needs = Needs::default();
        let me = pod.metadata.name.clone().unwrap_or_default();
        for (ns, claim) in claim_keys(pod) {
            let key = (ns.clone(), claim.clone());
            let desired = self.desired.and_then(|d| d.claim(&ns, &claim));
            let modes = desired
                .map(|c| storage::modes_and_request(c).0)
                .unwrap_or_default();
            if modes.iter().any(|m| m == "ReadWriteOncePod")
                && self
                    .users
                    .get(&key)
                    .is_some_and(|u| u.iter().any(|p| *p != me))
            {
                return Err("node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode".to_string());
            }
            if let Some(node) = self.bound.get(&key) {
                needs.nodes.push(node.clone());
                continue;
            }
            let Some(c) = desired else {
                return Err(format!("persistentvolumeclaim {claim:?} not found"));
            };
            let d = self.desired.expect("a desired claim has a desired set");
            let class = d.class_name_of(c);
            if class.is_empty() {
                return Err("pod has unbound immediate PersistentVolumeClaims".to_string());
            }
            let Some(sc) = d.class(&class) else {
                return Err(format!("storageclass.storage.k8s.io {class:?} not found"));
            };
            if !storage::provisions(sc) {
                return Err(format!(
                    "persistentvolumeclaim {claim:?} waits for provisioner {:?} (clusterctl provisions {:?} only)",
                    sc.provisioner,
                    storage::PROVISIONER
                ));
            }
            if c.spec.as_ref().and_then(|s| s.volume_mode.as_deref()) == Some("Block") {
                return Err(format!(
                    "persistentvolumeclaim {claim:?}: clusterctl provisions Filesystem volumes only"
                ));
            }
            needs.unbound.push(key);
        }
        Ok(needs)
    }

    /// `pod` is placed on `node`: its unbound claims bind there. Returns the provisioning volumes.
    pub fn bind(&mut self, pod: &Pod, node: &str, needs: &Needs) -> Vec<ClaimVolume> {
        let me = pod.metadata.name.clone().unwrap_or_default();
        for k in claim_keys(pod) {
            self.users.entry(k).or_default().insert(me.clone());
        }
        let mut out = Vec::new();
        let Some(d) = self.desired else {
            return out;
        };
        for key in &needs.unbound {
            if self.bound.contains_key(key) {
                continue;
            }
            let Some(c) = d.claim(&key.0, &key.1) else {
                continue;
            };
            let (access_modes, capacity) = storage::modes_and_request(c);
            let class = d.class_name_of(c);
            let reclaim_policy = d
                .class(&class)
                .and_then(|sc| sc.reclaim_policy.clone())
                .unwrap_or_else(|| "Delete".to_string());
            let v = ClaimVolume {
                namespace: key.0.clone(),
                claim: key.1.clone(),
                node: node.to_string(),
                capacity,
                access_modes,
                reclaim_policy,
                storage_class: class,
                stateful_set: c.metadata.labels.as_ref().and_then(|l| {
                    l.get(crate::controllers::stateful::CLAIM_OWNER_LABEL)
                        .cloned()
                }),
            };
            self.bound.insert(key.clone(), node.to_string());
            self.provisioned.push(v.clone());
            out.push(v);
        }
        out
    }
}

/// A claim's recorded volume is deleted (reclaimPolicy Delete) when its claim is no longer desired —
/// neither in Git nor made by a StatefulSet that is (template claims are retained, upstream's default
/// `persistentVolumeClaimRetentionPolicy`) — and no pod that stays after this plan uses it. Apply runs
/// volume changes last, after the pods' removal; the step itself refuses while a container still
/// mounts the data.
pub(super) fn claim_deletions(
    input: &PlanInput<'_>,
    observed: &[ObservedPod],
    leaving: &BTreeSet<(&str, &str, &str)>,
    created_users: &BTreeSet<ClaimKey>,
) -> Vec<Change> {
    let Some(desired) = input.storage else {
        return Vec::new();
    };
    let mut used: BTreeSet<ClaimKey> = created_users.clone();
    for p in observed {
        if leaving.contains(&(p.namespace.as_str(), p.name.as_str(), p.node.as_str())) {
            continue;
        }
        if let Some(m) = &p.manifest {
            let mut m = m.clone();
            m.metadata.namespace = Some(p.namespace.clone());
            used.extend(claim_keys(&m));
        }
    }
    let stateful_sets: BTreeSet<(&str, &str)> = input
        .pod_sets
        .iter()
        .filter_map(|s| {
            Some((
                s.namespace.as_str(),
                s.stateful.as_ref()?.stateful_set.as_str(),
            ))
        })
        .collect();
    let mut out = Vec::new();
    for node in input.observed.nodes.iter().filter(|n| n.reachable) {
        for v in &node.volumes {
            if v.label(labels::VOLUME_KIND) != Some("pvc") {
                continue;
            }
            let Some(key) = volume_claim(v) else { continue };
            if desired.claim(&key.0, &key.1).is_some() || used.contains(&key) {
                continue;
            }
            // A template claim of a StatefulSet that is still desired (scaled down): retained.
            let template_claim = stateful_sets
                .iter()
                .any(|(ns, sts)| *ns == key.0 && is_template_claim(&key.1, sts));
            let template_claim = template_claim || v.label(labels::STATEFUL_SET).is_some();
            if template_claim || v.label(labels::RECLAIM_POLICY) != Some("Delete") {
                continue;
            }
            let Some(runtime) = input.runtimes.get(&node.name) else {
                continue;
            };
            out.push(Change {
                action: Action::Delete,
                kind: ChangeKind::Volume,
                namespace: key.0.clone(),
                name: v.name.clone(),
                node: node.name.clone(),
                reason: Reason::ClaimRemoved {
                    claim: key.1.clone(),
                    reclaim_policy: "Delete".to_string(),
                },
                details: vec![Detail::Line(format!(
                    "deletes the data in {}",
                    mounts::claim_dir(&key.0, &key.1)
                ))],
                steps: runtime.delete_volume(v),
            });
        }
    }
    out
}

/// `<template>-<sts>-<ordinal>`.
fn is_template_claim(claim: &str, sts: &str) -> bool {
    claim
        .rsplit_once('-')
        .is_some_and(|(rest, ord)| ord.parse::<u32>().is_ok() && rest.ends_with(&format!("-{sts}")))
}

/// The provisioning steps of `vols` on `node`.
pub(super) fn provision_steps(input: &PlanInput<'_>, node: &str, vols: &[ClaimVolume]) -> Vec<Cmd> {
    let Some(runtime) = input.runtimes.get(node) else {
        return Vec::new();
    };
    vols.iter()
        .flat_map(|v| runtime.provision_volume(v))
        .collect()
}

/// The claims' volumes after the plan (for the roster): the observed ones (the roster's for unreachable
/// hosts), less those deleted, plus those provisioned.
pub fn volumes_after(
    observed: &crate::model::ObservedState,
    changes: &[Change],
    provisioned: &[ClaimVolume],
    now: &str,
) -> Vec<ObservedVolume> {
    let deleted: BTreeSet<(&str, &str)> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Volume && c.action == Action::Delete)
        .map(|c| (c.name.as_str(), c.node.as_str()))
        .collect();
    let mut out: Vec<ObservedVolume> = observed
        .claim_volumes()
        .into_iter()
        .filter(|v| !deleted.contains(&(v.name.as_str(), v.node.as_str())))
        .collect();
    out.extend(provisioned.iter().map(|v| ObservedVolume {
        name: v.pv(),
        node: v.node.clone(),
        labels: v.labels(),
        created_at: now.to_string(),
    }));
    out.sort_by(|a, b| (&a.name, &a.node).cmp(&(&b.name, &b.node)));
    out.dedup_by(|a, b| a.name == b.name && a.node == b.node);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_claims_are_recognised_by_name() {
        assert!(is_template_claim("www-web-0", "web"));
        assert!(is_template_claim("data-db-12", "db"));
        assert!(!is_template_claim("www-web", "web"));
        assert!(!is_template_claim("www-webx-0", "web"));
        assert!(!is_template_claim("data", "db"));
    }
}
