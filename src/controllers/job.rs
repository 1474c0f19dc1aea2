//! The Job controller (pkg/controller/job), worked out again on every plan from Git and the hosts: there
//! is no controller process. From a Job and the observed pods it owns (their exit codes and restart counts,
//! as docker reports them) [`decide`] derives the Job's status — succeeded, failed, active, the `Complete` /
//! `Failed` condition with its reason and time — and what to do now: which pods (or indexes) to start,
//! which to remove (active pods of a finished or suspended Job, every pod once `ttlSecondsAfterFinished`
//! has passed). Pods carry upstream's Job labels (`batch.kubernetes.io/job-name`, `controller-uid`, the
//! completion index); the run's identity is the template hash on the containers, and once TTL removed
//! them, a [`JobRecord`] in the roster. Rules: shared/reference/kubernetes-semantics.md §7.3 and §13;
//! docs/jobs.md.
//!
//! Evaluated "as if the controller had run all along": each terminal event (the backoff limit passed,
//! the completions reached, the deadline) has a time taken from the containers' `finishedAt`, and the
//! earliest one at or before the observation time decides. So a Job is judged the same from a snapshot
//! as live, whenever the plan runs.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use super::{PodNaming, PodSet, controller_ref, name_of, namespace_of, pod_template_hash};
use crate::model::{JobRecord, ObservedPod, ObservedState, OwnerRef};
use crate::yaml::SourceRef;

pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// Legacy labels upstream still writes beside the `batch.kubernetes.io/` ones.
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// Annotation and (newer releases) label of an Indexed Job's pod.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The env var every container of an Indexed Job's pod gets.
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// Re-creation back-off after failed pods: 10 s doubling, capped at 6 min (the documented cap, §7.3).
const BACKOFF_BASE_SECS: i64 = 10;
const BACKOFF_MAX_SECS: i64 = 360;

/// A Job from Git, with API-server defaults, where it was written, and its run's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDesired {
    pub job: Job,
    pub source: SourceRef,
    /// `ComputeHash` of the template as written (defaulted): the run's identity on every container.
    pub template_hash: String,
    /// The Job's `metadata.uid`: derived from namespace, name and template hash (no API server hands
    /// one out), so the same Job keeps it across applies and a changed one gets another.
    pub uid: String,
}

/// What a Job pod set is (see [`PodSet::job`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JobPods {
    pub job: String,
    /// The completion index of the pods this set creates (Indexed Jobs: one set per index to start).
    pub index: Option<u32>,
    /// The Job's one primary set claims all its observed pods and carries the removals.
    pub primary: bool,
    pub delete: Vec<Removal>,
    /// For the plan's words: where the Job stands before this plan.
    pub progress: Progress,
}

/// Why a Job's pod is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveWhy {
    /// An active pod of a Job that finished (`Complete`, or `Failed` with this reason).
    Finished(String),
    /// `spec.suspend: true`: active pods are removed, not counted as failures.
    Suspended,
    /// `ttlSecondsAfterFinished` passed: every pod of the finished Job goes.
    TtlExpired { ttl: i32 },
    /// More active pods than the Job wants now (parallelism lowered, or a second pod for one index).
    Excess,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub pod: String,
    pub node: String,
    pub why: RemoveWhy,
}

/// Where a Job stands, for the plan's reasons (`job k: 2 of 3 completions, starting 1`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    pub succeeded: u32,
    pub completions: Option<u32>,
    pub active: u32,
    pub failed: u32,
    pub starting: u32,
}

/// A Job pod's phase as the Job controller counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Pending or running (also: on a host that cannot be read).
    Active,
    Succeeded,
    Failed,
}

/// One of the Job's pods, reduced to what the controller counts.
#[derive(Debug, Clone, PartialEq)]
pub struct JobPod {
    pub name: String,
    pub node: String,
    pub index: Option<u32>,
    pub phase: Phase,
    /// Σ restartCount of its containers (OnFailure restarts, as the host recorded them).
    pub restarts: u32,
    pub created: Option<Timestamp>,
    /// When it ended (its containers' latest finishedAt), for Succeeded / Failed pods.
    pub finished: Option<Timestamp>,
    pub template_hash: Option<String>,
}

/// The terminal condition of a Job (kept in the roster's [`JobRecord`]).
pub use crate::model::JobFinished as Finished;

/// The Job's status as upstream's controller would have written it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub active: u32,
    pub succeeded: u32,
    pub failed: u32,
    /// Indexed Jobs: the indexes with a successful pod.
    pub completed_indexes: BTreeSet<u32>,
    pub start_time: Option<Timestamp>,
    pub finished: Option<Finished>,
    pub suspended: bool,
    /// OnFailure: Σ restarts of the active pods (counted against backoffLimit).
    pub restarts: u32,
    /// The earliest time the next pod may start after failures (re-creation back-off), if later than now.
    pub backoff_until: Option<Timestamp>,
    /// TTL removed its pods: the Job is gone (as upstream deletes it); only its record remains.
    pub deleted_by_ttl: bool,
}

/// What the Job controller does now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub status: Status,
    /// Pods to start: their completion index (Indexed) or `None`, one entry per pod.
    pub create: Vec<Option<u32>>,
    pub delete: Vec<Removal>,
}

/// The Job's `spec` fields the controller reads, defaulted as the API server does.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub completions: Option<u32>,
    pub parallelism: u32,
    pub backoff_limit: u32,
    pub indexed: bool,
    pub suspend: bool,
    pub on_failure: bool,
    pub active_deadline: Option<i64>,
    pub ttl: Option<i32>,
}

impl Rules {
    pub fn of(job: &Job) -> Rules {
        let spec = job.spec.clone().unwrap_or_default();
        let u = |v: Option<i32>| v.map(|n| n.max(0) as u32);
        let (completions, parallelism) = match (u(spec.completions), u(spec.parallelism)) {
            (None, None) => (Some(1), 1),
            (c, p) => (c, p.unwrap_or(1)),
        };
        Rules {
            completions,
            parallelism,
            backoff_limit: u(spec.backoff_limit).unwrap_or(6),
            indexed: spec.completion_mode.as_deref() == Some("Indexed"),
            suspend: spec.suspend == Some(true),
            on_failure: spec
                .template
                .spec
                .as_ref()
                .and_then(|s| s.restart_policy.as_deref())
                == Some("OnFailure"),
            active_deadline: spec.active_deadline_seconds,
            ttl: spec.ttl_seconds_after_finished,
        }
    }
}

/// The desired Job with its identity.
pub fn desired(job: &Job, source: &SourceRef) -> JobDesired {
    let spec = job.spec.clone().unwrap_or_default();
    let template_hash = pod_template_hash(&spec.template, None);
    let uid = uid_for(
        &namespace_of(&job.metadata),
        &name_of(&job.metadata),
        &template_hash,
    );
    let mut job = job.clone();
    job.metadata.uid = Some(uid.clone());
    // As the API server stores a Job: the template gets the Job labels (what the generated selector
    // selects), and a Job without labels takes its template's (batch/v1 defaults).
    if let Some(spec) = job.spec.as_mut() {
        let tmeta = spec.template.metadata.get_or_insert_with(Default::default);
        let labels = tmeta.labels.get_or_insert_with(BTreeMap::new);
        let name = name_of(&job.metadata);
        for (k, v) in [
            (CONTROLLER_UID_LABEL, uid.as_str()),
            (JOB_NAME_LABEL, name.as_str()),
            (LEGACY_CONTROLLER_UID_LABEL, uid.as_str()),
            (LEGACY_JOB_NAME_LABEL, name.as_str()),
        ] {
            labels.insert(k.to_string(), v.to_string());
        }
        if job.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
            job.metadata.labels = Some(labels.clone());
        }
    }
    // The selector the API server generates (manualSelector is refused by validation).
    if let Some(spec) = job.spec.as_mut() {
        spec.selector.get_or_insert_with(|| {
            k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    CONTROLLER_UID_LABEL.to_string(),
                    uid.clone(),
                )])),
                ..Default::default()
            }
        });
    }
    JobDesired {
        job,
        source: source.clone(),
        template_hash,
        uid,
    }
}

/// A UUID-shaped digest of the Job's identity.
fn uid_for(namespace: &str, name: &str, template_hash: &str) -> String {
    let h = hex::encode(Sha256::digest(
        format!("job\0{namespace}\0{name}\0{template_hash}").as_bytes(),
    ));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn ts(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}

/// The observed pods owned by Job `name` in `namespace`, as the controller counts them.
pub fn job_pods(namespace: &str, name: &str, observed: &[ObservedPod]) -> Vec<JobPod> {
    observed
        .iter()
        .filter(|p| p.namespace == namespace && is_owned_by(p, name))
        .map(job_pod)
        .collect()
}

fn is_owned_by(p: &ObservedPod, job: &str) -> bool {
    p.owner
        .as_ref()
        .is_some_and(|o| o.kind == "Job" && o.name == job)
}

/// One observed pod's phase (kubelet's getPhase for OnFailure / Never, §7.1): all app containers exited
/// with 0 → Succeeded; all exited and one non-zero → Failed with Never, still Active with OnFailure
/// (its restarts are the host's). A pod whose app containers are gone cannot run: Failed.
fn job_pod(p: &ObservedPod) -> JobPod {
    let policy = p
        .manifest
        .as_ref()
        .and_then(|m| m.spec.as_ref())
        .and_then(|s| s.restart_policy.clone())
        .unwrap_or_default();
    let stopped = |c: &crate::model::ObservedContainer| c.status == "exited" || c.status == "dead";
    let phase = if !p.node_reachable {
        Phase::Active
    } else if p.containers.is_empty() {
        Phase::Failed
    } else if p.containers.values().all(stopped) {
        if p.containers.values().all(|c| c.exit_code == 0) {
            Phase::Succeeded
        } else if policy == "OnFailure" {
            Phase::Active
        } else {
            Phase::Failed
        }
    } else {
        Phase::Active
    };
    let finished = p
        .containers
        .values()
        .filter_map(|c| ts(&c.finished_at))
        .max();
    let index = p
        .manifest
        .as_ref()
        .and_then(|m| m.metadata.annotations.as_ref())
        .and_then(|a| a.get(COMPLETION_INDEX))
        .and_then(|i| i.parse().ok());
    JobPod {
        name: p.name.clone(),
        node: p.node.clone(),
        index,
        phase,
        restarts: p.containers.values().map(|c| c.restart_count).sum(),
        created: p
            .sandbox
            .as_ref()
            .and_then(|s| ts(&s.created_at))
            .or_else(|| {
                p.containers
                    .values()
                    .filter_map(|c| ts(&c.created_at))
                    .min()
            }),
        finished: (phase != Phase::Active).then_some(finished).flatten(),
        template_hash: p.template_hash.clone(),
    }
}

fn finished(condition: &str, reason: &str, message: &str, at: Timestamp) -> Finished {
    Finished {
        condition: condition.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        at: format!("{at:.0}"),
    }
}

/// The `n`-th (1-based) earliest of `times`.
fn nth_earliest(mut times: Vec<Timestamp>, n: usize) -> Option<Timestamp> {
    times.sort();
    n.checked_sub(1).and_then(|i| times.get(i).copied())
}

/// The Job controller's verdict for one Job: its status and what to start and remove now.
/// `record` is what the roster remembers of this Job's finished run (used once TTL removed its pods).
pub fn decide(
    rules: &Rules,
    template_hash: &str,
    pods: &[JobPod],
    record: Option<&JobRecord>,
    now: Timestamp,
) -> Decision {
    let record = record.filter(|r| r.template_hash == template_hash);
    let mut st = Status {
        suspended: rules.suspend,
        ..Default::default()
    };
    for p in pods {
        match p.phase {
            Phase::Active => {
                st.active += 1;
                st.restarts += p.restarts;
            }
            Phase::Succeeded => {
                st.succeeded += 1;
                if let Some(i) = p.index {
                    st.completed_indexes.insert(i);
                }
            }
            Phase::Failed => st.failed += 1,
        }
    }
    if rules.indexed {
        st.succeeded = st.completed_indexes.len() as u32;
    }
    st.start_time = pods.iter().filter_map(|p| p.created).min();

    // A finished run whose pods are gone: nothing runs again for this template. Gone by the TTL, the
    // Job is deleted as upstream deletes it; gone otherwise (the Job's own removal of its active pods at
    // DeadlineExceeded or BackoffLimitExceeded, leaving none), it still exists with its final status.
    if pods.is_empty() {
        if let Some(r) = record {
            st.succeeded = r.succeeded;
            st.failed = r.failed;
            st.start_time = r.start_time.as_deref().and_then(ts);
            st.finished = Some(r.finished.clone());
            let at = ts(&r.finished.at).unwrap_or(now);
            st.deleted_by_ttl = rules
                .ttl
                .is_some_and(|ttl| now >= at + SignedDuration::from_secs(i64::from(ttl.max(0))));
            return Decision {
                status: st,
                ..Default::default()
            };
        }
    }

    st.finished = record
        .map(|r| r.finished.clone())
        .or_else(|| terminal_event(rules, pods, &st, now));
    let mut d = Decision::default();
    if let Some(f) = &st.finished {
        let at = ts(&f.at).unwrap_or(now);
        let expired = rules
            .ttl
            .is_some_and(|ttl| now >= at + SignedDuration::from_secs(i64::from(ttl.max(0))));
        for p in pods {
            let why = if expired {
                RemoveWhy::TtlExpired {
                    ttl: rules.ttl.unwrap_or(0),
                }
            } else if p.phase == Phase::Active {
                RemoveWhy::Finished(if f.condition == "Complete" {
                    "Complete".to_string()
                } else {
                    f.reason.clone()
                })
            } else {
                continue;
            };
            d.delete.push(Removal {
                pod: p.name.clone(),
                node: p.node.clone(),
                why,
            });
        }
        if expired {
            st.deleted_by_ttl = true;
        }
        d.status = st;
        return d;
    }

    if rules.suspend {
        for p in pods.iter().filter(|p| p.phase == Phase::Active) {
            d.delete.push(Removal {
                pod: p.name.clone(),
                node: p.node.clone(),
                why: RemoveWhy::Suspended,
            });
        }
        st.start_time = None;
        d.status = st;
        return d;
    }

    // Re-creation back-off after failures since the last success.
    let last_success = pods
        .iter()
        .filter(|p| p.phase == Phase::Succeeded)
        .filter_map(|p| p.finished)
        .max();
    let recent_failures: Vec<Timestamp> = pods
        .iter()
        .filter(|p| p.phase == Phase::Failed)
        .filter_map(|p| p.finished)
        .filter(|f| last_success.is_none_or(|s| *f > s))
        .collect();
    if let Some(last) = recent_failures.iter().max() {
        let n = recent_failures.len() as u32;
        let delay = BACKOFF_BASE_SECS
            .saturating_mul(1i64 << (n - 1).min(20))
            .min(BACKOFF_MAX_SECS);
        let until = *last + SignedDuration::from_secs(delay);
        if until > now {
            st.backoff_until = Some(until);
        }
    }

    let active: Vec<&JobPod> = pods.iter().filter(|p| p.phase == Phase::Active).collect();
    if rules.indexed {
        let completions = rules.completions.unwrap_or(0);
        let mut running: BTreeMap<u32, Vec<&JobPod>> = BTreeMap::new();
        for p in &active {
            if let Some(i) = p.index {
                running.entry(i).or_default().push(p);
            }
        }
        // One pod per index: a second active one (the newer) goes, as do pods of completed indexes.
        let mut kept = 0u32;
        for (i, mut ps) in running.clone() {
            ps.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
            let done = st.completed_indexes.contains(&i);
            for (k, p) in ps.iter().enumerate() {
                if done || k > 0 || kept >= rules.parallelism {
                    d.delete.push(removal(p, RemoveWhy::Excess));
                } else {
                    kept += 1;
                }
            }
        }
        if st.backoff_until.is_none() {
            let free = rules.parallelism.saturating_sub(kept);
            d.create = (0..completions)
                .filter(|i| !st.completed_indexes.contains(i) && !running.contains_key(i))
                .take(free as usize)
                .map(Some)
                .collect();
        }
    } else {
        let want = match rules.completions {
            Some(c) => c.saturating_sub(st.succeeded).min(rules.parallelism),
            None if st.succeeded == 0 => rules.parallelism,
            // Work-queue mode: once one pod succeeded no new pods start; the active ones finish.
            None => st.active,
        };
        let have = st.active;
        if have > want {
            let mut newest: Vec<&&JobPod> = active.iter().collect();
            newest.sort_by(|a, b| b.created.cmp(&a.created).then(b.name.cmp(&a.name)));
            for p in newest.into_iter().take((have - want) as usize) {
                d.delete.push(removal(p, RemoveWhy::Excess));
            }
        } else if st.backoff_until.is_none() {
            d.create = vec![None; (want - have) as usize];
        }
    }
    d.status = st;
    d
}

fn removal(p: &JobPod, why: RemoveWhy) -> Removal {
    Removal {
        pod: p.name.clone(),
        node: p.node.clone(),
        why,
    }
}

/// The earliest terminal event at or before `now`: the backoff limit passed, the completions reached, or
/// the deadline; on a tie failure wins (upstream checks failure first).
fn terminal_event(rules: &Rules, pods: &[JobPod], st: &Status, now: Timestamp) -> Option<Finished> {
    let mut events: Vec<(Timestamp, u8, Finished)> = Vec::new();
    let backoff = "Job has reached the specified backoff limit";
    // restartPolicy Never (and pods that failed anyway): the (limit+1)-th failure.
    let failures: Vec<Timestamp> = pods
        .iter()
        .filter(|p| p.phase == Phase::Failed)
        .map(|p| p.finished.or(p.created).unwrap_or(now))
        .collect();
    if let Some(t) = nth_earliest(failures, rules.backoff_limit as usize + 1) {
        events.push((t, 0, finished("Failed", "BackoffLimitExceeded", backoff, t)));
    }
    // OnFailure: restarts of the active pods against the limit (> 0 when the limit is 0).
    if rules.on_failure {
        let past = if rules.backoff_limit == 0 {
            st.restarts > 0
        } else {
            st.restarts >= rules.backoff_limit
        };
        if past {
            events.push((
                now,
                0,
                finished("Failed", "BackoffLimitExceeded", backoff, now),
            ));
        }
    }
    if let (Some(ads), Some(start)) = (rules.active_deadline, st.start_time) {
        let t = start + SignedDuration::from_secs(ads);
        if t <= now {
            events.push((
                t,
                0,
                finished(
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    t,
                ),
            ));
        }
    }
    if let Some(t) = completion_time(rules, pods, st) {
        events.push((
            t,
            1,
            finished(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                t,
            ),
        ));
    }
    events.sort_by_key(|a| (a.0, a.1));
    events.into_iter().next().map(|e| e.2)
}

/// When the Job reached its completions, if it has.
fn completion_time(rules: &Rules, pods: &[JobPod], st: &Status) -> Option<Timestamp> {
    let succeeded = |p: &&JobPod| p.phase == Phase::Succeeded;
    let end = |p: &JobPod| p.finished.or(p.created);
    if rules.indexed {
        let c = rules.completions?;
        if (0..c).any(|i| !st.completed_indexes.contains(&i)) {
            return None;
        }
        // Per index its first success; the Job completes with the last of those.
        let mut first: BTreeMap<u32, Timestamp> = BTreeMap::new();
        for p in pods.iter().filter(succeeded) {
            if let (Some(i), Some(t)) = (p.index, end(p)) {
                let e = first.entry(i).or_insert(t);
                *e = (*e).min(t);
            }
        }
        return first.values().max().copied();
    }
    match rules.completions {
        Some(c) => {
            let times: Vec<Timestamp> = pods.iter().filter(succeeded).filter_map(end).collect();
            nth_earliest(times, c as usize)
        }
        // Work queue: one success and nothing active any more.
        None if st.succeeded > 0 && st.active == 0 => pods.iter().filter_map(end).max(),
        None => None,
    }
}

/// A Job's pods' template: the Job's template with upstream's labels, owner, and for an index the
/// completion-index annotation, label, env var and hostname `<job>-<index>`.
pub fn pod_template(d: &JobDesired, index: Option<u32>) -> Pod {
    let spec = d.job.spec.clone().unwrap_or_default();
    let name = name_of(&d.job.metadata);
    let namespace = namespace_of(&d.job.metadata);
    let tmeta = spec.template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.clone().unwrap_or_default();
    for (k, v) in [
        (CONTROLLER_UID_LABEL, d.uid.as_str()),
        (JOB_NAME_LABEL, name.as_str()),
        (LEGACY_CONTROLLER_UID_LABEL, d.uid.as_str()),
        (LEGACY_JOB_NAME_LABEL, name.as_str()),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    let mut annotations = tmeta.annotations.clone().unwrap_or_default();
    let mut pod_spec: PodSpec = spec.template.spec.clone().unwrap_or_default();
    crate::manifest::defaults::pod_only(&mut pod_spec);
    let prefix = match index {
        Some(i) => {
            labels.insert(COMPLETION_INDEX.to_string(), i.to_string());
            annotations.insert(COMPLETION_INDEX.to_string(), i.to_string());
            // Upstream injects it as a downward-API fieldRef on the annotation; the value is the same.
            for c in &mut pod_spec.containers {
                let env = c.env.get_or_insert_with(Vec::new);
                env.retain(|e| e.name != COMPLETION_INDEX_ENV);
                env.push(EnvVar {
                    name: COMPLETION_INDEX_ENV.to_string(),
                    value: Some(i.to_string()),
                    value_from: None,
                });
            }
            pod_spec
                .hostname
                .get_or_insert_with(|| format!("{name}-{i}"));
            format!("{name}-{i}-")
        }
        None => format!("{name}-"),
    };
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(prefix),
            namespace: Some(namespace),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![controller_ref(
                "batch/v1",
                "Job",
                &name,
                &d.job.metadata,
            )]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}

/// The template hash of another run of this Job found on the hosts, if its pods carry one: the template
/// is immutable, so the plan refuses to go on (unless the Job is removed, applied, and added again).
pub fn immutable_violation(d: &JobDesired, observed: &[ObservedPod]) -> Option<String> {
    let ns = namespace_of(&d.job.metadata);
    let name = name_of(&d.job.metadata);
    job_pods(&ns, &name, observed)
        .into_iter()
        .filter_map(|p| p.template_hash)
        .find(|h| h != &d.template_hash)
}

/// The Decision for every desired Job, by (namespace, name).
pub fn decisions(
    jobs: &[JobDesired],
    state: &ObservedState,
) -> BTreeMap<(String, String), Decision> {
    let observed = crate::model::observed_pods(state);
    let now = ts(&state.observed_at).unwrap_or(Timestamp::UNIX_EPOCH);
    let records = state.roster().map(|r| &r.jobs);
    jobs.iter()
        .map(|d| {
            let ns = namespace_of(&d.job.metadata);
            let name = name_of(&d.job.metadata);
            let pods = job_pods(&ns, &name, &observed);
            let record = records.and_then(|r| r.get(&format!("{ns}/{name}")));
            let decision = if immutable_violation(d, &observed).is_some() {
                // Left alone until the conflict is resolved: nothing started or removed.
                Decision {
                    status: decide(&Rules::of(&d.job), "", &pods, None, now).status,
                    ..Default::default()
                }
            } else {
                decide(&Rules::of(&d.job), &d.template_hash, &pods, record, now)
            };
            ((ns, name), decision)
        })
        .collect()
}

/// Every Job's pod sets for this plan: a primary set (claims the Job's pods, carries the removals and,
/// for a NonIndexed Job, the pods to start) and, for an Indexed Job, one set per index to start.
pub fn pod_sets(jobs: &[JobDesired], state: &ObservedState) -> Vec<PodSet> {
    let decisions = decisions(jobs, state);
    let mut out = Vec::new();
    for d in jobs {
        let ns = namespace_of(&d.job.metadata);
        let name = name_of(&d.job.metadata);
        let Some(dec) = decisions.get(&(ns.clone(), name.clone())) else {
            continue;
        };
        let rules = Rules::of(&d.job);
        let progress = Progress {
            succeeded: dec.status.succeeded,
            completions: rules.completions,
            active: dec.status.active,
            failed: dec.status.failed,
            starting: dec.create.len() as u32,
        };
        let set = |index: Option<u32>, primary: bool, replicas: u32, delete: Vec<Removal>| {
            let template = pod_template(d, index);
            let prefix = template.metadata.generate_name.clone().unwrap_or_default();
            PodSet {
                namespace: ns.clone(),
                owner: Some(OwnerRef {
                    kind: "Job".to_string(),
                    name: name.clone(),
                }),
                deployment: None,
                template_hash: d.template_hash.clone(),
                replicas,
                naming: PodNaming::Generated { prefix },
                template,
                source: d.source.clone(),
                daemon: None,
                rollout: None,
                stateful: None,
                job: Some(JobPods {
                    job: name.clone(),
                    index,
                    primary,
                    delete,
                    progress: progress.clone(),
                }),
            }
        };
        if rules.indexed {
            out.push(set(None, true, 0, dec.delete.clone()));
            for i in dec.create.iter().flatten() {
                out.push(set(Some(*i), false, 1, Vec::new()));
            }
        } else {
            out.push(set(None, true, dec.create.len() as u32, dec.delete.clone()));
        }
    }
    out
}

/// What the roster keeps of every desired Job that has finished (so TTL's removal of its pods does not
/// make the next apply run it again). Jobs no longer in Git are forgotten.
pub fn records(jobs: &[JobDesired], state: &ObservedState) -> BTreeMap<String, JobRecord> {
    let decisions = decisions(jobs, state);
    let old = state.roster().map(|r| &r.jobs);
    let mut out = BTreeMap::new();
    for d in jobs {
        let ns = namespace_of(&d.job.metadata);
        let name = name_of(&d.job.metadata);
        let key = format!("{ns}/{name}");
        let Some(dec) = decisions.get(&(ns, name)) else {
            continue;
        };
        if let Some(r) = old
            .and_then(|o| o.get(&key))
            .filter(|r| r.template_hash == d.template_hash)
        {
            out.insert(key, r.clone());
            continue;
        }
        if let Some(f) = &dec.status.finished {
            out.insert(
                key,
                JobRecord {
                    template_hash: d.template_hash.clone(),
                    uid: d.uid.clone(),
                    start_time: dec.status.start_time.map(|t| format!("{t:.0}")),
                    succeeded: dec.status.succeeded,
                    failed: dec.status.failed,
                    finished: f.clone(),
                },
            );
        }
    }
    out
}

/// Whether the roster's Job records are not what [`records`] would write: a Job finished, or one left
/// Git. `apply` then writes the roster even when no pod changes, so a removed Job is forgotten (and
/// runs again when added back) and a finished one is remembered before TTL removes its pods.
pub fn records_changed(jobs: &[JobDesired], state: &ObservedState) -> bool {
    let old = state.roster().map(|r| r.jobs.clone()).unwrap_or_default();
    records(jobs, state) != old
}

/// `"0-3,5"`: upstream's interval form of a set of indexes (`status.completedIndexes`).
pub fn interval_string(indexes: &BTreeSet<u32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// One error per desired Job whose pods on the hosts belong to another template (the API server's
/// `spec.template: Invalid value: …: field is immutable`), at the Job's place in Git.
pub fn immutability_errors(
    jobs: &[JobDesired],
    state: &ObservedState,
) -> Vec<crate::yaml::Diagnostic> {
    let observed = crate::model::observed_pods(state);
    jobs.iter()
        .filter_map(|d| {
            let other = immutable_violation(d, &observed)?;
            Some(crate::yaml::Diagnostic {
                source: d.source.clone(),
                severity: crate::yaml::Severity::Error,
                field: "spec.template".to_string(),
                message: format!(
                    "Invalid value: field is immutable: Job.batch {:?} already ran with template {other} \
                     (this one is {}); to run the new template, remove the Job from the repository, apply, \
                     then add it again",
                    name_of(&d.job.metadata),
                    d.template_hash
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
