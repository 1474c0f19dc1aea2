//! A Job's pod sets in the diff: what `controllers::job` decided becomes changes. The primary set's
//! removals become Delete changes, and each set's pods to start become new pods (named after the free
//! generated names, never reusing a name a pod of the Job still has). Job pods are never replaced here
//! (the template is immutable) and a finished container is the Job's result; the one start is of a pod
//! its host's node supervisor holds after a long absence (`supervisor::hold`) that the Job still counts
//! active and nobody replaced: the plan lets it run, as for a ReplicaSet's (`diff::start_change`). Pure.

use std::collections::BTreeSet;

use super::diff::{Diff, NewPod, delete_change, missing_names, start_change};
use super::{Action, PlanInput, Reason};
use crate::controllers::PodSet;
use crate::controllers::job::JobPods;
use crate::model::ObservedPod;

/// Whether `pod` is one of Job `job`'s pods.
pub(super) fn owned(pod: &ObservedPod, job: &str) -> bool {
    pod.owner
        .as_ref()
        .is_some_and(|o| o.kind == "Job" && o.name == job)
}

/// The changes of one Job pod set; `members` are the observed pods it claims (all the Job's pods for
/// the primary set, none for an index set).
pub(super) fn diff_job<'s>(
    input: &PlanInput<'s>,
    observed: &[ObservedPod],
    set: &'s PodSet,
    job: &JobPods,
    members: &[usize],
    d: &mut Diff<'s>,
) {
    for r in &job.delete {
        let Some(pod) = members
            .iter()
            .map(|&i| &observed[i])
            .find(|p| p.name == r.pod && p.node == r.node && p.node_reachable)
        else {
            continue;
        };
        d.changes.push(delete_change(
            pod,
            Reason::JobRemoves {
                job: job.job.clone(),
                why: r.why.clone(),
            },
            input.runtimes,
            Action::Delete,
        ));
    }
    // Held by the supervisor of a host that was away (docs/node-supervisor.md, "After a long absence"):
    // an OnFailure pod the Job still counts active, not removed above and not a stale copy (node loss
    // would have evicted it: the Job controller does not count it, and `plan::node_loss` deletes it
    // before anything else). Without this start it would keep its last exit, and the Job its pod,
    // until the Job changed. Only held pods: a stopped sandbox or an exited container of a Job is the
    // supervisor's and the Job controller's business, never restarted by the plan.
    for pod in members.iter().map(|&i| &observed[i]) {
        let removed = job
            .delete
            .iter()
            .any(|r| r.pod == pod.name && r.node == pod.node);
        let held = pod
            .all_containers()
            .any(|c| !c.is_running() && c.record.as_ref().is_some_and(|r| r.held_since.is_some()));
        if removed || !held || !pod.node_reachable {
            continue;
        }
        if let Some(change) = start_change(pod, set, input.runtimes) {
            d.changes.push(change);
        }
    }
    // Names still held by any pod of this Job (in its namespace), so a new pod never takes one.
    let taken: BTreeSet<&str> = observed
        .iter()
        .filter(|p| p.namespace == set.namespace && owned(p, &job.job))
        .map(|p| p.name.as_str())
        .collect();
    for name in missing_names(set, &taken, set.replicas as usize) {
        d.to_create.push(NewPod {
            set,
            name,
            replaces: None,
            reason: None,
        });
    }
}
