//! Every Job rule on hand-made pods: counting, parallelism caps, indexes, backoff, deadline, suspend,
//! TTL, records, immutability, labels.

use super::*;

const T0: &str = "2026-12-01T12:00:00Z";

fn t(secs: i64) -> Timestamp {
    T0.parse::<Timestamp>().unwrap() + SignedDuration::from_secs(secs)
}

fn rules(completions: Option<u32>, parallelism: u32) -> Rules {
    Rules {
        completions,
        parallelism,
        backoff_limit: 6,
        indexed: false,
        suspend: false,
        on_failure: false,
        active_deadline: None,
        ttl: None,
    }
}

fn pod(name: &str, phase: Phase, created: i64, finished: Option<i64>) -> JobPod {
    JobPod {
        name: name.into(),
        node: "n1".into(),
        index: None,
        phase,
        restarts: 0,
        created: Some(t(created)),
        finished: finished.map(t),
        template_hash: Some("h".into()),
    }
}

fn indexed(name: &str, index: u32, phase: Phase, created: i64, finished: Option<i64>) -> JobPod {
    JobPod {
        index: Some(index),
        ..pod(name, phase, created, finished)
    }
}

fn removed(d: &Decision) -> Vec<(&str, RemoveWhy)> {
    d.delete
        .iter()
        .map(|r| (r.pod.as_str(), r.why.clone()))
        .collect()
}

#[test]
fn a_new_job_starts_up_to_parallelism() {
    let d = decide(&rules(Some(3), 2), "h", &[], None, t(0));
    assert_eq!(d.create, vec![None, None]);
    assert_eq!(d.status.finished, None);
    // parallelism above the remaining completions: capped by completions.
    let d = decide(&rules(Some(3), 10), "h", &[], None, t(0));
    assert_eq!(d.create.len(), 3);
}

#[test]
fn successes_count_and_the_next_pods_start() {
    let pods = [
        pod("a", Phase::Succeeded, 0, Some(3)),
        pod("b", Phase::Active, 0, None),
    ];
    let d = decide(&rules(Some(3), 2), "h", &pods, None, t(4));
    assert_eq!((d.status.succeeded, d.status.active), (1, 1));
    // 2 still to go, 1 active: one more starts, never above parallelism.
    assert_eq!(d.create.len(), 1);
    let pods = [
        pod("a", Phase::Succeeded, 0, Some(3)),
        pod("b", Phase::Succeeded, 0, Some(3)),
    ];
    let d = decide(&rules(Some(3), 2), "h", &pods, None, t(4));
    assert_eq!(d.create.len(), 1, "only one completion left");
}

#[test]
fn completions_reached_is_complete_with_the_time_of_the_last_needed_success() {
    let pods = [
        pod("a", Phase::Succeeded, 0, Some(3)),
        pod("b", Phase::Succeeded, 0, Some(4)),
        pod("c", Phase::Succeeded, 5, Some(8)),
    ];
    let d = decide(&rules(Some(3), 2), "h", &pods, None, t(100));
    let f = d.status.finished.clone().unwrap();
    assert_eq!(
        (f.condition.as_str(), f.reason.as_str()),
        ("Complete", "CompletionsReached")
    );
    assert_eq!(f.at, format!("{:.0}", t(8)));
    assert!(d.create.is_empty() && d.delete.is_empty());
    assert_eq!(d.status.start_time, Some(t(0)));
}

#[test]
fn active_pods_of_a_complete_job_are_removed() {
    let r = rules(Some(1), 2);
    let pods = [
        pod("a", Phase::Succeeded, 0, Some(3)),
        pod("b", Phase::Active, 0, None),
    ];
    let d = decide(&r, "h", &pods, None, t(10));
    assert_eq!(
        removed(&d),
        vec![("b", RemoveWhy::Finished("Complete".into()))]
    );
}

#[test]
fn work_queue_mode_starts_parallelism_and_stops_after_the_first_success() {
    let r = rules(None, 3);
    assert_eq!(decide(&r, "h", &[], None, t(0)).create.len(), 3);
    let pods = [
        pod("a", Phase::Succeeded, 0, Some(3)),
        pod("b", Phase::Active, 0, None),
    ];
    let d = decide(&r, "h", &pods, None, t(4));
    assert!(d.create.is_empty() && d.delete.is_empty() && d.status.finished.is_none());
    let pods = [
        pod("a", Phase::Succeeded, 0, Some(3)),
        pod("b", Phase::Succeeded, 0, Some(5)),
    ];
    let f = decide(&r, "h", &pods, None, t(6)).status.finished.unwrap();
    assert_eq!(f.condition, "Complete");
}

#[test]
fn never_fails_the_job_after_more_than_backoff_limit_failures() {
    let mut r = rules(Some(3), 3);
    r.backoff_limit = 2;
    let two = [
        pod("a", Phase::Failed, 0, Some(1)),
        pod("b", Phase::Failed, 0, Some(1)),
        pod("c", Phase::Active, 0, None),
    ];
    assert!(
        decide(&r, "h", &two, None, t(100))
            .status
            .finished
            .is_none()
    );
    let three = [
        pod("a", Phase::Failed, 0, Some(1)),
        pod("b", Phase::Failed, 0, Some(1)),
        pod("c", Phase::Failed, 0, Some(2)),
    ];
    let d = decide(&r, "h", &three, None, t(100));
    let f = d.status.finished.clone().unwrap();
    assert_eq!(
        (f.condition.as_str(), f.reason.as_str(), f.message.as_str()),
        (
            "Failed",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit"
        )
    );
    assert_eq!(f.at, format!("{:.0}", t(2)));
    // Failed pods stay (for their logs); nothing new starts.
    assert!(d.create.is_empty() && d.delete.is_empty());
    assert_eq!(d.status.failed, 3);
}

#[test]
fn on_failure_counts_restarts_of_active_pods() {
    let mut r = rules(Some(1), 1);
    r.on_failure = true;
    r.backoff_limit = 3;
    let mut p = pod("a", Phase::Active, 0, None);
    p.restarts = 2;
    assert!(
        decide(&r, "h", &[p.clone()], None, t(50))
            .status
            .finished
            .is_none()
    );
    p.restarts = 3;
    let d = decide(&r, "h", &[p.clone()], None, t(50));
    assert_eq!(
        d.status.finished.clone().unwrap().reason,
        "BackoffLimitExceeded"
    );
    assert_eq!(
        removed(&d),
        vec![("a", RemoveWhy::Finished("BackoffLimitExceeded".into()))]
    );
    // backoffLimit 0: the first restart fails it.
    r.backoff_limit = 0;
    p.restarts = 1;
    assert!(decide(&r, "h", &[p], None, t(50)).status.finished.is_some());
}

#[test]
fn failures_delay_the_next_pod_10s_doubling() {
    let r = rules(Some(1), 1);
    let one = [pod("a", Phase::Failed, 0, Some(5))];
    let d = decide(&r, "h", &one, None, t(10));
    assert!(d.create.is_empty());
    assert_eq!(d.status.backoff_until, Some(t(15)));
    assert_eq!(decide(&r, "h", &one, None, t(15)).create.len(), 1);
    let two = [
        pod("a", Phase::Failed, 0, Some(5)),
        pod("b", Phase::Failed, 16, Some(20)),
    ];
    assert_eq!(
        decide(&r, "h", &two, None, t(21)).status.backoff_until,
        Some(t(40))
    );
    // A success since resets the count.
    let mut r3 = rules(Some(3), 1);
    r3.backoff_limit = 6;
    let pods = [
        pod("a", Phase::Failed, 0, Some(5)),
        pod("b", Phase::Succeeded, 16, Some(20)),
    ];
    assert_eq!(decide(&r3, "h", &pods, None, t(21)).create.len(), 1);
}

#[test]
fn the_deadline_fails_the_job_and_removes_active_pods() {
    let mut r = rules(Some(2), 1);
    r.active_deadline = Some(30);
    let pods = [
        pod("a", Phase::Succeeded, 0, Some(10)),
        pod("b", Phase::Active, 11, None),
    ];
    assert!(
        decide(&r, "h", &pods, None, t(29))
            .status
            .finished
            .is_none()
    );
    let d = decide(&r, "h", &pods, None, t(31));
    let f = d.status.finished.clone().unwrap();
    assert_eq!(
        (f.reason.as_str(), f.message.as_str()),
        (
            "DeadlineExceeded",
            "Job was active longer than specified deadline"
        )
    );
    assert_eq!(f.at, format!("{:.0}", t(30)));
    assert_eq!(
        removed(&d),
        vec![("b", RemoveWhy::Finished("DeadlineExceeded".into()))]
    );
    assert!(d.create.is_empty());
}

#[test]
fn the_earliest_terminal_event_wins_whenever_the_plan_runs() {
    // Completed at 20 s, deadline 30 s: looked at a day later it is still Complete.
    let mut r = rules(Some(1), 1);
    r.active_deadline = Some(30);
    let pods = [pod("a", Phase::Succeeded, 0, Some(20))];
    let f = decide(&r, "h", &pods, None, t(86_400))
        .status
        .finished
        .unwrap();
    assert_eq!(f.condition, "Complete");
    // Completed only after the deadline: the deadline came first.
    let pods = [pod("a", Phase::Succeeded, 0, Some(40))];
    let f = decide(&r, "h", &pods, None, t(86_400))
        .status
        .finished
        .unwrap();
    assert_eq!(f.reason, "DeadlineExceeded");
}

#[test]
fn suspend_starts_nothing_and_removes_active_pods() {
    let mut r = rules(Some(3), 2);
    r.suspend = true;
    assert!(decide(&r, "h", &[], None, t(0)).create.is_empty());
    let pods = [
        pod("a", Phase::Succeeded, 0, Some(3)),
        pod("b", Phase::Active, 0, None),
    ];
    let d = decide(&r, "h", &pods, None, t(5));
    assert_eq!(removed(&d), vec![("b", RemoveWhy::Suspended)]);
    assert!(d.status.suspended && d.status.start_time.is_none());
    assert!(d.status.finished.is_none());
}

#[test]
fn ttl_removes_every_pod_of_a_finished_job_and_then_the_record_keeps_it_finished() {
    let mut r = rules(Some(1), 1);
    r.ttl = Some(60);
    let pods = [
        pod("a", Phase::Failed, 0, Some(2)),
        pod("b", Phase::Succeeded, 3, Some(5)),
    ];
    assert!(decide(&r, "h", &pods, None, t(64)).delete.is_empty());
    let d = decide(&r, "h", &pods, None, t(65));
    assert_eq!(
        removed(&d),
        vec![
            ("a", RemoveWhy::TtlExpired { ttl: 60 }),
            ("b", RemoveWhy::TtlExpired { ttl: 60 })
        ]
    );
    assert!(d.status.deleted_by_ttl);
    // Pods gone: the record of the same template keeps it from running again.
    let record = JobRecord {
        template_hash: "h".into(),
        uid: "u".into(),
        start_time: Some(format!("{:.0}", t(0))),
        succeeded: 1,
        failed: 1,
        finished: d.status.finished.clone().unwrap(),
    };
    let after = decide(&r, "h", &[], Some(&record), t(1000));
    assert!(after.create.is_empty() && after.status.deleted_by_ttl);
    // Without a TTL, a finished Job whose pods are all gone (its active ones removed at the deadline)
    // still exists, finished, and is not run again.
    let mut no_ttl = r.clone();
    no_ttl.ttl = None;
    let kept = decide(&no_ttl, "h", &[], Some(&record), t(1000));
    assert!(kept.create.is_empty() && !kept.status.deleted_by_ttl);
    assert_eq!(kept.status.finished, record.finished.clone().into());
    // Another template is another Job (upstream deleted the old one): it runs.
    assert_eq!(
        decide(&r, "other", &[], Some(&record), t(1000))
            .create
            .len(),
        1
    );
}

#[test]
fn indexed_jobs_start_the_lowest_free_indexes_and_complete_when_every_index_succeeded() {
    let mut r = rules(Some(3), 2);
    r.indexed = true;
    assert_eq!(
        decide(&r, "h", &[], None, t(0)).create,
        vec![Some(0), Some(1)]
    );
    let pods = [
        indexed("a", 0, Phase::Succeeded, 0, Some(1)),
        indexed("b", 1, Phase::Failed, 0, Some(2)),
    ];
    // Index 1 failed 1 s ago (back-off 10 s): nothing yet; later both free indexes start.
    assert!(decide(&r, "h", &pods, None, t(3)).create.is_empty());
    assert_eq!(
        decide(&r, "h", &pods, None, t(20)).create,
        vec![Some(1), Some(2)]
    );
    let pods = [
        indexed("a", 0, Phase::Succeeded, 0, Some(3)),
        indexed("b", 1, Phase::Succeeded, 0, Some(4)),
        indexed("c", 1, Phase::Succeeded, 0, Some(9)),
        indexed("d", 2, Phase::Succeeded, 5, Some(7)),
    ];
    let d = decide(&r, "h", &pods, None, t(20));
    assert_eq!(d.status.succeeded, 3, "indexes, not pods");
    let f = d.status.finished.unwrap();
    assert_eq!(f.condition, "Complete");
    assert_eq!(f.at, format!("{:.0}", t(7)), "each index's first success");
    assert_eq!(interval_string(&d.status.completed_indexes), "0-2");
}

#[test]
fn a_second_active_pod_for_one_index_goes() {
    let mut r = rules(Some(2), 2);
    r.indexed = true;
    let pods = [
        indexed("a", 0, Phase::Active, 0, None),
        indexed("b", 0, Phase::Active, 5, None),
    ];
    let d = decide(&r, "h", &pods, None, t(6));
    assert_eq!(removed(&d), vec![("b", RemoveWhy::Excess)]);
    assert_eq!(d.create, vec![Some(1)]);
}

#[test]
fn lowering_parallelism_removes_the_newest_active_pods() {
    let pods = [
        pod("a", Phase::Active, 0, None),
        pod("b", Phase::Active, 5, None),
        pod("c", Phase::Active, 3, None),
    ];
    let d = decide(&rules(Some(5), 1), "h", &pods, None, t(6));
    assert_eq!(
        removed(&d),
        vec![("b", RemoveWhy::Excess), ("c", RemoveWhy::Excess)]
    );
}

#[test]
fn interval_strings_are_upstreams() {
    let s = |v: &[u32]| interval_string(&v.iter().copied().collect());
    assert_eq!(s(&[]), "");
    assert_eq!(s(&[0, 1, 2, 3, 5]), "0-3,5");
    assert_eq!(s(&[1, 3, 4]), "1,3-4");
}

#[test]
fn defaults_are_the_api_servers() {
    let job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "k"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}}
    }))
    .unwrap();
    let r = Rules::of(&job);
    assert_eq!(
        (r.completions, r.parallelism, r.backoff_limit),
        (Some(1), 1, 6)
    );
    let job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "k"},
        "spec": {"parallelism": 4, "template": {"spec": {"containers": []}}}
    }))
    .unwrap();
    assert_eq!(Rules::of(&job).completions, None, "work queue");
}

fn job(extra: serde_json::Value) -> JobDesired {
    let mut spec = serde_json::json!({
        "completions": 2, "parallelism": 2,
        "template": {"metadata": {"labels": {"app": "k"}},
                     "spec": {"restartPolicy": "Never",
                              "containers": [{"name": "w", "image": "clusterctl/job"}]}}
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let j: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "k", "namespace": "default"}, "spec": spec
    }))
    .unwrap();
    desired(&j, &SourceRef::default())
}

#[test]
fn job_pods_carry_upstreams_labels_and_the_index() {
    let d = job(serde_json::json!({"completionMode": "Indexed"}));
    let p = pod_template(&d, Some(1));
    let labels = p.metadata.labels.clone().unwrap();
    assert_eq!(labels[JOB_NAME_LABEL], "k");
    assert_eq!(labels[LEGACY_JOB_NAME_LABEL], "k");
    assert_eq!(labels[CONTROLLER_UID_LABEL], d.uid);
    assert_eq!(labels[LEGACY_CONTROLLER_UID_LABEL], d.uid);
    assert_eq!(labels[COMPLETION_INDEX], "1");
    assert_eq!(labels["app"], "k");
    assert_eq!(p.metadata.annotations.unwrap()[COMPLETION_INDEX], "1");
    assert_eq!(p.metadata.generate_name.as_deref(), Some("k-1-"));
    let spec = p.spec.unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("k-1"));
    let env = spec.containers[0].env.clone().unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "JOB_COMPLETION_INDEX" && e.value.as_deref() == Some("1"))
    );
    let owner = &p.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("Job", "k", d.uid.as_str())
    );
    // The generated selector selects the controller-uid.
    let sel = d.job.spec.as_ref().unwrap().selector.clone().unwrap();
    assert_eq!(sel.match_labels.unwrap()[CONTROLLER_UID_LABEL], d.uid);
    // NonIndexed: `<job>-` names, no index.
    let p = pod_template(&job(serde_json::json!({})), None);
    assert_eq!(p.metadata.generate_name.as_deref(), Some("k-"));
    assert!(p.metadata.annotations.is_none());
}

#[test]
fn the_uid_follows_the_template() {
    let a = job(serde_json::json!({}));
    assert_eq!(a.uid, job(serde_json::json!({})).uid, "stable across plans");
    let b = job(
        serde_json::json!({"template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "w", "image": "clusterctl/crash"}]}}}),
    );
    assert_ne!(a.template_hash, b.template_hash);
    assert_ne!(a.uid, b.uid);
    // Parallelism is not the template: same run.
    assert_eq!(a.uid, job(serde_json::json!({"parallelism": 1})).uid);
}

// ---- against an observed state --------------------------------------------------------------------------

fn container(
    pod: &str,
    c: &str,
    hash: &str,
    status: &str,
    exit: i32,
    manifest: Option<&Pod>,
) -> crate::model::ObservedContainer {
    use crate::model::labels;
    let mut l = BTreeMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::NAMESPACE.to_string(), "default".to_string()),
        (labels::POD.to_string(), pod.to_string()),
        (labels::CONTAINER.to_string(), c.to_string()),
        (labels::OWNER_KIND.to_string(), "Job".to_string()),
        (labels::OWNER_NAME.to_string(), "k".to_string()),
        (labels::TEMPLATE_HASH.to_string(), hash.to_string()),
    ]);
    if let Some(m) = manifest {
        l.insert(
            labels::POD_MANIFEST.to_string(),
            serde_json::to_string(m).unwrap(),
        );
    }
    crate::model::ObservedContainer {
        id: format!("{pod}-{c}"),
        name: format!("k8s_{c}_{pod}_default"),
        image: "clusterctl/job".into(),
        labels: l,
        status: status.into(),
        exit_code: exit,
        created_at: T0.into(),
        started_at: T0.into(),
        finished_at: if status == "exited" {
            format!("{:.0}", t(3))
        } else {
            String::new()
        },
        ..Default::default()
    }
}

fn state(pods: &[(&str, &str, i32)], hash: &str, d: &JobDesired) -> ObservedState {
    let mut containers = Vec::new();
    for (name, status, exit) in pods {
        let mut m = pod_template(d, None);
        m.metadata.name = Some(name.to_string());
        containers.push(container(name, "POD", hash, "running", 0, Some(&m)));
        containers.push(container(name, "w", hash, status, *exit, None));
    }
    ObservedState {
        format_version: 1,
        observed_at: format!("{:.0}", t(60)),
        nodes: vec![crate::model::ObservedNode {
            name: "n1".into(),
            reachable: true,
            error: None,
            facts: None,
            containers,
            roster: None,
            network: None,
            ..Default::default()
        }],
    }
}

#[test]
fn observed_containers_give_the_pod_phases() {
    let d = job(serde_json::json!({"completions": 3}));
    let st = state(
        &[
            ("k-a", "exited", 0),
            ("k-b", "exited", 1),
            ("k-c", "running", 0),
        ],
        &d.template_hash,
        &d,
    );
    let dec = &decisions(std::slice::from_ref(&d), &st)[&("default".to_string(), "k".to_string())];
    assert_eq!(
        (dec.status.succeeded, dec.status.failed, dec.status.active),
        (1, 1, 1)
    );
    // OnFailure: an exited non-zero container is restarted by the host, still active.
    let pods = crate::model::observed_pods(&st);
    let mut b = pods.iter().find(|p| p.name == "k-b").unwrap().clone();
    b.manifest
        .as_mut()
        .unwrap()
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("OnFailure".into());
    assert_eq!(job_pod(&b).phase, Phase::Active);
    // Containers gone: it cannot run.
    b.containers.clear();
    assert_eq!(job_pod(&b).phase, Phase::Failed);
    // Unreachable host: counted active, left alone.
    b.node_reachable = false;
    assert_eq!(job_pod(&b).phase, Phase::Active);
}

#[test]
fn pod_sets_start_what_the_decision_says_and_claim_the_jobs_pods() {
    let d = job(serde_json::json!({"completions": 3}));
    let st = state(&[("k-a", "exited", 0)], &d.template_hash, &d);
    let sets = pod_sets(std::slice::from_ref(&d), &st);
    assert_eq!(sets.len(), 1);
    let j = sets[0].job.as_ref().unwrap();
    assert!(j.primary);
    assert_eq!(sets[0].replicas, 2);
    assert_eq!(
        j.progress,
        Progress {
            succeeded: 1,
            completions: Some(3),
            active: 0,
            failed: 0,
            starting: 2
        }
    );
    // Indexed: a primary set (nothing to start) plus one set per index to start.
    let d = job(serde_json::json!({"completionMode": "Indexed"}));
    let sets = pod_sets(std::slice::from_ref(&d), &state(&[], "x", &d));
    let idx: Vec<(Option<u32>, u32, bool)> = sets
        .iter()
        .map(|s| {
            (
                s.job.as_ref().unwrap().index,
                s.replicas,
                s.job.as_ref().unwrap().primary,
            )
        })
        .collect();
    assert_eq!(
        idx,
        vec![(None, 0, true), (Some(0), 1, false), (Some(1), 1, false)]
    );
}

#[test]
fn a_changed_template_is_an_immutability_error_and_nothing_runs() {
    let d = job(serde_json::json!({}));
    let st = state(&[("k-a", "running", 0)], "oldhash", &d);
    let errs = immutability_errors(std::slice::from_ref(&d), &st);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "spec.template");
    assert!(
        errs[0]
            .message
            .starts_with("Invalid value: field is immutable"),
        "{}",
        errs[0].message
    );
    let sets = pod_sets(std::slice::from_ref(&d), &st);
    assert_eq!(sets[0].replicas, 0);
    assert!(sets[0].job.as_ref().unwrap().delete.is_empty());
    // The same template: no error.
    let st = state(&[("k-a", "running", 0)], &d.template_hash, &d);
    assert!(immutability_errors(std::slice::from_ref(&d), &st).is_empty());
}

#[test]
fn records_keep_finished_jobs_while_they_are_in_git() {
    let d = job(serde_json::json!({"completions": 1, "parallelism": 1}));
    let st = state(&[("k-a", "exited", 0)], &d.template_hash, &d);
    let recs = records(std::slice::from_ref(&d), &st);
    let r = &recs["default/k"];
    assert_eq!(
        (r.finished.condition.as_str(), r.succeeded),
        ("Complete", 1)
    );
    assert_eq!(r.template_hash, d.template_hash);
    // Not finished: no record; not in Git: forgotten.
    let running = state(&[("k-a", "running", 0)], &d.template_hash, &d);
    assert!(records(std::slice::from_ref(&d), &running).is_empty());
    assert!(records(&[], &st).is_empty());
}
