//! What the recorded revision history (`controllers::history`, kept in the roster) adds to the object
//! views of `get` and `describe`: the old ReplicaSets kubectl would list (DESIRED 0 once scaled down),
//! `deployment.kubernetes.io/revision` on Deployments and ReplicaSets, and a remembered
//! Progressing=False / ProgressDeadlineExceeded condition.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;

use crate::controllers::history;
use crate::model::DeploymentRecord;
use crate::output::rollout as words;
use crate::view;

fn ns_name(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (
        m.namespace.clone().unwrap_or_else(|| "default".into()),
        m.name.clone().unwrap_or_default(),
    )
}

/// The recorded ReplicaSets of Git's Deployments that `existing` does not list, with status from `pods`.
pub fn old_replica_sets(
    deployments: &[Deployment],
    existing: &[ReplicaSet],
    records: &BTreeMap<String, DeploymentRecord>,
    pods: &[Pod],
) -> Vec<ReplicaSet> {
    let mut out = Vec::new();
    for d in deployments {
        let (ns, name) = ns_name(&d.metadata);
        let Some(rec) = records.get(&history::key(&ns, &name)) else {
            continue;
        };
        for rev in &rec.revisions {
            let listed = existing
                .iter()
                .any(|r| ns_name(&r.metadata) == (ns.clone(), rev.replica_set.clone()));
            if listed {
                continue;
            }
            let mut rs =
                view::replica_set_with_status(&history::replica_set(&ns, &name, rev, 0), pods);
            // An old ReplicaSet still scaling down wants what it has; a finished one 0.
            let have = rs.status.as_ref().map_or(0, |s| s.replicas);
            if let Some(spec) = rs.spec.as_mut() {
                spec.replicas = Some(have);
            }
            out.push(rs);
        }
    }
    out
}

/// Puts each ReplicaSet's recorded revision (and change cause) on it.
pub fn annotate_replica_sets(rss: &mut [ReplicaSet], records: &BTreeMap<String, DeploymentRecord>) {
    for rs in rss.iter_mut() {
        let (ns, name) = ns_name(&rs.metadata);
        let rev = records
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{ns}/")))
            .flat_map(|(_, r)| &r.revisions)
            .find(|r| r.replica_set == name);
        if let Some(rev) = rev {
            rs.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .extend(history::revision_annotations(rev));
        }
    }
}

/// The Deployment with its current revision annotated and, when its last rollout ran out of time (and
/// its old pods still serve), Progressing=False with reason ProgressDeadlineExceeded.
pub fn with_history(mut d: Deployment, records: &BTreeMap<String, DeploymentRecord>) -> Deployment {
    let (ns, name) = ns_name(&d.metadata);
    let Some(rec) = records.get(&history::key(&ns, &name)) else {
        return d;
    };
    if let Some(max) = rec.revisions.iter().map(|r| r.revision).max() {
        d.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(history::REVISION.to_string(), max.to_string());
    }
    if let Some(failed) = &rec.deadline_exceeded {
        let at = failed
            .at
            .parse::<k8s_openapi::jiff::Timestamp>()
            .ok()
            .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time);
        let conditions = d
            .status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Default::default);
        if let Some(c) = conditions.iter_mut().find(|c| c.type_ == "Progressing") {
            c.status = "False".into();
            c.reason = Some("ProgressDeadlineExceeded".into());
            c.message = Some(words::timed_out(&failed.replica_set));
            c.last_transition_time = at.clone();
            c.last_update_time = at;
        }
    }
    d
}

/// `describe deploy`'s OldReplicaSets (those with pods) and NewReplicaSet lines, from the ReplicaSets
/// `get` lists: the new one is the ReplicaSet Git's template makes.
pub fn rs_lines(
    d: &Deployment,
    current: &str,
    rss: &[ReplicaSet],
) -> (
    Vec<crate::output::describe::RsLine>,
    Option<crate::output::describe::RsLine>,
) {
    let (ns, name) = ns_name(&d.metadata);
    let prefix = format!("{name}-");
    let line = |rs: &ReplicaSet| crate::output::describe::RsLine {
        name: rs.metadata.name.clone().unwrap_or_default(),
        current: rs.status.as_ref().map_or(0, |s| s.replicas),
        desired: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
    };
    let mine: Vec<&ReplicaSet> = rss
        .iter()
        .filter(|r| {
            let (rns, rname) = ns_name(&r.metadata);
            rns == ns
                && rname
                    .strip_prefix(&prefix)
                    .is_some_and(|h| !h.contains('-'))
        })
        .collect();
    let new = mine
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current))
        .map(|r| line(r));
    let old = mine
        .iter()
        .filter(|r| r.metadata.name.as_deref() != Some(current))
        .filter(|r| r.status.as_ref().is_some_and(|s| s.replicas > 0))
        .map(|r| line(r))
        .collect();
    (old, new)
}
