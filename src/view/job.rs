//! A Job with the status upstream's Job controller would have written (`controllers::job::decide`): active,
//! succeeded, failed, start and completion times, the `Complete` / `Failed` / `Suspended` condition, the
//! completed indexes. Pure.

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::controllers::job::{Decision, JobDesired, interval_string};

fn time(s: &str) -> Option<Time> {
    s.parse::<jiff::Timestamp>().ok().map(Time)
}

/// The Job object with status; `None` once ttlSecondsAfterFinished removed it (upstream deletes the Job).
pub fn job_with_status(d: &JobDesired, decision: &Decision) -> Option<Job> {
    let st = &decision.status;
    if st.deleted_by_ttl {
        return None;
    }
    let mut job = d.job.clone();
    // No API server keeps a creationTimestamp: the run's start is the closest thing the hosts record.
    job.metadata.creation_timestamp = st.start_time.map(Time);
    let mut conditions = Vec::new();
    if st.suspended && st.finished.is_none() {
        conditions.push(JobCondition {
            type_: "Suspended".into(),
            status: "True".into(),
            reason: Some("JobSuspended".into()),
            message: Some("Job suspended".into()),
            ..Default::default()
        });
    }
    let mut completion_time = None;
    if let Some(f) = &st.finished {
        let at = time(&f.at);
        if f.condition == "Complete" {
            completion_time = at.clone();
        }
        conditions.push(JobCondition {
            type_: f.condition.clone(),
            status: "True".into(),
            reason: Some(f.reason.clone()),
            message: Some(f.message.clone()),
            last_probe_time: at.clone(),
            last_transition_time: at,
        });
    }
    let indexed = d
        .job
        .spec
        .as_ref()
        .and_then(|s| s.completion_mode.as_deref())
        == Some("Indexed");
    job.status = Some(JobStatus {
        active: (st.active > 0).then_some(st.active as i32),
        succeeded: (st.succeeded > 0).then_some(st.succeeded as i32),
        failed: (st.failed > 0).then_some(st.failed as i32),
        start_time: st.start_time.map(Time),
        completion_time,
        completed_indexes: (indexed && !st.completed_indexes.is_empty())
            .then(|| interval_string(&st.completed_indexes)),
        conditions: (!conditions.is_empty()).then_some(conditions),
        ..Default::default()
    });
    Some(job)
}

/// kubectl's STATUS of a Job (printJob): `Complete`, `Failed`, `Suspended`, else `Running`.
pub fn job_status_word(job: &Job) -> &'static str {
    let has = |t: &str| {
        job.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == "True"))
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else {
        "Running"
    }
}
