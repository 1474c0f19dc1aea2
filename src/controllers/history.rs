//! A Deployment's revision history, as the deployment controller keeps it (upstream
//! `pkg/controller/deployment/{sync,rollback}.go`, kubernetes-semantics.md §4.4): every ReplicaSet the
//! Deployment had gets `deployment.kubernetes.io/revision` (max + 1 when it becomes current again, so an
//! undo moves a revision to the top), the Git commit it first came from and its change cause; old
//! ReplicaSets with no pod left are kept down to `revisionHistoryLimit` (oldest revision pruned first).
//! With no API server, the record lives in the roster ([`crate::model::DeploymentRecord`]), written by
//! every apply through `cli::pipeline::roster_after`. Also the rollout's remembered
//! Progressing=False/ProgressDeadlineExceeded, and [`pin`], which makes a recorded revision the
//! Deployment's current pod set (`rollout undo --apply`, `apply --auto-rollback`). Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::{PodNaming, PodSet};
use crate::model::{DeadlineRecord, DeploymentRecord, RevisionRecord};

/// `namespace/name`, the roster's key of a Deployment.
pub fn key(namespace: &str, deployment: &str) -> String {
    format!("{namespace}/{deployment}")
}

/// The history after a plan whose pod sets are `sets` (from `commit`), given the previous records and
/// the `(namespace, ReplicaSet)` pairs that still have pods once the plan ran. Deployments that left Git
/// leave the history with their ReplicaSets.
pub fn records(
    previous: &BTreeMap<String, DeploymentRecord>,
    sets: &[PodSet],
    commit: &str,
    live: &BTreeSet<(String, String)>,
    now: &str,
) -> BTreeMap<String, DeploymentRecord> {
    let mut out = BTreeMap::new();
    for set in sets {
        let (Some(params), Some(owner)) = (&set.rollout, &set.owner) else {
            continue;
        };
        let k = key(&set.namespace, &params.deployment);
        let mut rec = previous.get(&k).cloned().unwrap_or_default();
        let max = rec.revisions.iter().map(|r| r.revision).max().unwrap_or(0);
        match rec
            .revisions
            .iter_mut()
            .find(|r| r.replica_set == owner.name)
        {
            // Current again after another one (an undo, or Git went back): it becomes the newest.
            Some(r) if r.revision < max => r.revision = max + 1,
            Some(_) => {}
            None => rec.revisions.push(RevisionRecord {
                revision: max + 1,
                replica_set: owner.name.clone(),
                template_hash: set.template_hash.clone(),
                commit: commit.to_string(),
                file: set.source.file.clone(),
                change_cause: params.change_cause.clone(),
                created_at: now.to_string(),
                template: set.template.clone(),
            }),
        }
        let live_of = |rs: &str| live.contains(&(set.namespace.clone(), rs.to_string()));
        prune(
            &mut rec.revisions,
            &owner.name,
            params.revision_history_limit,
            &live_of,
        );
        // The failure is remembered while that ReplicaSet is still current and the old pods still serve.
        rec.deadline_exceeded = rec.deadline_exceeded.filter(|d| {
            d.replica_set == owner.name
                && rec
                    .revisions
                    .iter()
                    .any(|r| r.replica_set != owner.name && live_of(&r.replica_set))
        });
        out.insert(k, rec);
    }
    out
}

/// `cleanupDeployment`: old ReplicaSets with no pods beyond `limit` go, lowest revision first; the
/// current one and old ones that still have pods are never pruned.
pub fn prune(
    revisions: &mut Vec<RevisionRecord>,
    current: &str,
    limit: i32,
    live: &dyn Fn(&str) -> bool,
) {
    revisions.sort_by_key(|r| r.revision);
    let cleanable: Vec<i64> = revisions
        .iter()
        .filter(|r| r.replica_set != current && !live(&r.replica_set))
        .map(|r| r.revision)
        .collect();
    let excess = cleanable.len().saturating_sub(limit.max(0) as usize);
    let gone: BTreeSet<i64> = cleanable.into_iter().take(excess).collect();
    revisions.retain(|r| !gone.contains(&r.revision));
}

/// The revision `rollout undo` goes back to: `to` when given (0 = the previous one, as kubectl), else the
/// highest revision that is not `current`. Errors in kubectl's words.
pub fn target<'a>(
    rec: &'a DeploymentRecord,
    current: &str,
    to: i64,
) -> Result<&'a RevisionRecord, String> {
    if to > 0 {
        return rec
            .revisions
            .iter()
            .find(|r| r.revision == to)
            .ok_or_else(|| format!("unable to find specified revision {to} in history"));
    }
    rec.revisions
        .iter()
        .filter(|r| r.replica_set != current)
        .max_by_key(|r| r.revision)
        .ok_or_else(|| "no rollout history found".to_string())
}

/// Makes `rev` the current ReplicaSet of `deployment`'s pod set (its template, hash and pod names), so a
/// plan rolls the Deployment to it with the same rolling-update safety. False when the Deployment has
/// no such pod set.
pub fn pin(sets: &mut [PodSet], namespace: &str, deployment: &str, rev: &RevisionRecord) -> bool {
    let Some(set) = sets.iter_mut().find(|s| {
        s.namespace == namespace
            && s.rollout
                .as_ref()
                .is_some_and(|p| p.deployment == deployment)
    }) else {
        return false;
    };
    set.template = rev.template.clone();
    set.template_hash = rev.template_hash.clone();
    if let Some(o) = set.owner.as_mut() {
        o.name = rev.replica_set.clone();
    }
    set.naming = PodNaming::Generated {
        prefix: format!("{}-", rev.replica_set),
    };
    if let Some(p) = set.rollout.as_mut() {
        p.change_cause = rev.change_cause.clone();
    }
    true
}

/// Records that `replica_set`'s rollout exceeded its progress deadline at `at`.
pub fn mark_deadline_exceeded(
    records: &mut BTreeMap<String, DeploymentRecord>,
    key: &str,
    replica_set: &str,
    at: &str,
) {
    if let Some(rec) = records.get_mut(key) {
        rec.deadline_exceeded = Some(DeadlineRecord {
            replica_set: replica_set.to_string(),
            at: at.to_string(),
        });
    }
}

/// A recorded revision's pod template as a `PodTemplateSpec` (labels, annotations, spec).
pub fn template_spec(rev: &RevisionRecord) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: rev.template.metadata.labels.clone(),
            annotations: rev.template.metadata.annotations.clone(),
            ..Default::default()
        }),
        spec: rev.template.spec.clone(),
    }
}

/// The ReplicaSet object of a recorded revision, as the API server would list it (`get rs`): its
/// revision annotation, `replicas` (0 once scaled down; the caller counts pods into `status`).
pub fn replica_set(
    namespace: &str,
    deployment: &str,
    rev: &RevisionRecord,
    replicas: i32,
) -> ReplicaSet {
    let template = template_spec(rev);
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone());
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(rev.replica_set.clone()),
            namespace: Some(namespace.to_string()),
            labels: labels.clone(),
            annotations: Some(revision_annotations(rev)),
            creation_timestamp: rev
                .created_at
                .parse::<k8s_openapi::jiff::Timestamp>()
                .ok()
                .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
            owner_references: Some(vec![super::controller_ref(
                "apps/v1",
                "Deployment",
                deployment,
                &ObjectMeta::default(),
            )]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: labels,
                ..Default::default()
            },
            template: Some(template),
            ..Default::default()
        }),
        status: None,
    }
}

/// `deployment.kubernetes.io/revision` (and `kubernetes.io/change-cause` when recorded).
pub fn revision_annotations(rev: &RevisionRecord) -> BTreeMap<String, String> {
    let mut a = BTreeMap::from([(REVISION.to_string(), rev.revision.to_string())]);
    if let Some(c) = &rev.change_cause {
        a.insert(CHANGE_CAUSE.to_string(), c.clone());
    }
    a
}

/// The revision annotation of Deployments and ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Why a revision was made (set by the user on the Deployment, copied to its ReplicaSet).
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::rollout::{Params, Strategy};
    use crate::model::OwnerRef;

    fn set(rs: &str, limit: i32) -> PodSet {
        PodSet {
            namespace: "default".into(),
            owner: Some(OwnerRef {
                kind: "ReplicaSet".into(),
                name: rs.into(),
            }),
            deployment: Some("web".into()),
            template_hash: rs.trim_start_matches("web-").into(),
            replicas: 2,
            naming: PodNaming::Generated {
                prefix: format!("{rs}-"),
            },
            template: Default::default(),
            source: crate::yaml::SourceRef {
                file: "apps/web.yaml".into(),
                line: 1,
                column: 1,
            },
            daemon: None,
            job: None,
            rollout: Some(Params {
                deployment: "web".into(),
                replicas: 2,
                strategy: Strategy::RollingUpdate {
                    surge: 1,
                    unavailable: 0,
                },
                max_surge: None,
                max_unavailable: None,
                min_ready_seconds: 0,
                progress_deadline_seconds: 600,
                revision_history_limit: limit,
                change_cause: Some(format!("deploy {rs}")),
            }),
            stateful: None,
        }
    }

    fn live(rs: &[&str]) -> BTreeSet<(String, String)> {
        rs.iter()
            .map(|r| ("default".to_string(), r.to_string()))
            .collect()
    }

    fn revs(h: &BTreeMap<String, DeploymentRecord>) -> Vec<(i64, String)> {
        h["default/web"]
            .revisions
            .iter()
            .map(|r| (r.revision, r.replica_set.clone()))
            .collect()
    }

    #[test]
    fn each_new_template_gets_the_next_revision_and_its_commit() {
        let h = records(
            &BTreeMap::new(),
            &[set("web-a", 10)],
            "c1",
            &live(&["web-a"]),
            "t1",
        );
        let h = records(
            &h,
            &[set("web-b", 10)],
            "c2",
            &live(&["web-a", "web-b"]),
            "t2",
        );
        assert_eq!(revs(&h), vec![(1, "web-a".into()), (2, "web-b".into())]);
        let r = &h["default/web"].revisions;
        assert_eq!((r[0].commit.as_str(), r[1].commit.as_str()), ("c1", "c2"));
        assert_eq!(r[1].change_cause.as_deref(), Some("deploy web-b"));
        assert_eq!(r[1].file, "apps/web.yaml");
        // The same template again at a later commit keeps its revision and first commit.
        let again = records(&h, &[set("web-b", 10)], "c3", &live(&["web-b"]), "t3");
        assert_eq!(again["default/web"].revisions[1].commit, "c2");
        assert_eq!(revs(&again), revs(&h));
    }

    #[test]
    fn going_back_moves_the_old_revision_to_the_top() {
        let mut h = BTreeMap::new();
        for (rs, c) in [("web-a", "c1"), ("web-b", "c2"), ("web-a", "c3")] {
            h = records(&h, &[set(rs, 10)], c, &live(&[rs]), "t");
        }
        // kubectl: revision 1 becomes 3 on a rollback; the history shows 2 and 3.
        assert_eq!(revs(&h), vec![(2, "web-b".into()), (3, "web-a".into())]);
        assert_eq!(h["default/web"].revisions[1].commit, "c1");
    }

    #[test]
    fn history_is_pruned_down_to_the_limit_oldest_first_never_live_or_current() {
        let mut h = BTreeMap::new();
        for (i, rs) in ["web-a", "web-b", "web-c", "web-d", "web-e"]
            .iter()
            .enumerate()
        {
            h = records(&h, &[set(rs, 2)], &format!("c{i}"), &live(&[rs]), "t");
        }
        // Current e, two old ones kept (c, d); a and b pruned.
        assert_eq!(
            revs(&h),
            vec![
                (3, "web-c".into()),
                (4, "web-d".into()),
                (5, "web-e".into())
            ]
        );
        // An old ReplicaSet that still has pods is not cleanable and not counted.
        let h2 = records(
            &h,
            &[set("web-f", 0)],
            "c9",
            &live(&["web-e", "web-f"]),
            "t",
        );
        assert_eq!(revs(&h2), vec![(5, "web-e".into()), (6, "web-f".into())]);
        let h3 = records(&h2, &[set("web-f", 0)], "c9", &live(&["web-f"]), "t");
        assert_eq!(revs(&h3), vec![(6, "web-f".into())]);
    }

    #[test]
    fn undo_target_is_the_previous_revision_or_the_named_one() {
        let mut h = BTreeMap::new();
        for rs in ["web-a", "web-b", "web-c"] {
            h = records(&h, &[set(rs, 10)], "c", &live(&[rs]), "t");
        }
        let rec = &h["default/web"];
        assert_eq!(target(rec, "web-c", 0).unwrap().replica_set, "web-b");
        assert_eq!(target(rec, "web-c", 1).unwrap().replica_set, "web-a");
        assert_eq!(
            target(rec, "web-c", 7).unwrap_err(),
            "unable to find specified revision 7 in history"
        );
        let mut sets = vec![set("web-c", 10)];
        assert!(pin(
            &mut sets,
            "default",
            "web",
            target(rec, "web-c", 1).unwrap()
        ));
        assert_eq!(sets[0].owner.as_ref().unwrap().name, "web-a");
        assert_eq!(sets[0].template_hash, "a");
        assert_eq!(
            sets[0].pod_name(0).split('-').take(2).collect::<Vec<_>>(),
            ["web", "a"]
        );
        assert!(!pin(&mut sets, "default", "api", &rec.revisions[0]));
    }

    #[test]
    fn a_deadline_is_remembered_while_the_failed_replica_set_is_current_and_old_pods_serve() {
        let h = records(
            &BTreeMap::new(),
            &[set("web-a", 10)],
            "c1",
            &live(&["web-a"]),
            "t",
        );
        let mut h = records(
            &h,
            &[set("web-b", 10)],
            "c2",
            &live(&["web-a", "web-b"]),
            "t",
        );
        mark_deadline_exceeded(&mut h, "default/web", "web-b", "t9");
        let kept = records(
            &h,
            &[set("web-b", 10)],
            "c2",
            &live(&["web-a", "web-b"]),
            "t",
        );
        assert!(kept["default/web"].deadline_exceeded.is_some());
        // Rolled back to a: no longer the failed ReplicaSet.
        let back = records(
            &h,
            &[set("web-a", 10)],
            "c2",
            &live(&["web-a", "web-b"]),
            "t",
        );
        assert!(back["default/web"].deadline_exceeded.is_none());
        // Finished after all: no old pod left.
        let done = records(&h, &[set("web-b", 10)], "c2", &live(&["web-b"]), "t");
        assert!(done["default/web"].deadline_exceeded.is_none());
    }
}
