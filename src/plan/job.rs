//! A Job's pod sets in the diff: what `controllers::job` decided becomes changes. The primary set's
//! removals become Delete changes, and each set's pods to start become new pods (named after the free
//! generated names, never reusing a name a pod of the Job still has). Job pods are never replaced or
//! restarted here: a finished container is the Job's result, and the template is immutable. Pure.

use std::collections::BTreeSet;

use super::diff::{Diff, NewPod, delete_change, missing_names};
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
