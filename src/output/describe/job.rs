//! `kubectl describe job NAME`: kubectl's layout (Name … Pods Statuses, Pod Template), plus the Job's
//! conditions (type, status, reason, message) and `Events: <none>` (clusterctl records no Job events).

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

use super::{Doc, annotations_multiline, describe_container, labels_multiline};
use crate::age::{human_duration, rfc1123z};

pub fn describe_job(job: &Job, pods: &[Pod], now: Timestamp) -> String {
    let mut d = Doc::default();
    let spec = job.spec.clone().unwrap_or_default();
    let st = job.status.clone().unwrap_or_default();
    let m = &job.metadata;
    d.w(
        0,
        &format!("Name:\t{}\n", m.name.clone().unwrap_or_default()),
    );
    d.w(
        0,
        &format!(
            "Namespace:\t{}\n",
            m.namespace.as_deref().unwrap_or("default")
        ),
    );
    d.w(
        0,
        &format!(
            "Selector:\t{}\n",
            crate::output::table::format_selector(spec.selector.as_ref())
        ),
    );
    labels_multiline(&mut d, "Labels", m.labels.as_ref());
    annotations_multiline(&mut d, "Annotations", m.annotations.as_ref());
    d.w(
        0,
        &format!("Parallelism:\t{}\n", spec.parallelism.unwrap_or(1)),
    );
    d.w(
        0,
        &format!(
            "Completions:\t{}\n",
            spec.completions
                .map_or("<unset>".to_string(), |c| c.to_string())
        ),
    );
    d.w(
        0,
        &format!(
            "Completion Mode:\t{}\n",
            spec.completion_mode.as_deref().unwrap_or("NonIndexed")
        ),
    );
    d.w(0, &format!("Suspend:\t{}\n", spec.suspend.unwrap_or(false)));
    d.w(
        0,
        &format!("Backoff Limit:\t{}\n", spec.backoff_limit.unwrap_or(6)),
    );
    if let Some(ttl) = spec.ttl_seconds_after_finished {
        d.w(0, &format!("TTL Seconds After Finished:\t{ttl}\n"));
    }
    if let Some(start) = &st.start_time {
        d.w(0, &format!("Start Time:\t{}\n", rfc1123z(start)));
    }
    if let (Some(start), Some(done)) = (&st.start_time, &st.completion_time) {
        d.w(0, &format!("Completed At:\t{}\n", rfc1123z(done)));
        d.w(
            0,
            &format!(
                "Duration:\t{}\n",
                human_duration(done.0.duration_since(start.0))
            ),
        );
    }
    if let Some(ads) = spec.active_deadline_seconds {
        d.w(0, &format!("Active Deadline Seconds:\t{ads}s\n"));
    }
    let ready = pods.iter().filter(|p| crate::view::is_pod_ready(p)).count();
    d.w(
        0,
        &format!(
            "Pods Statuses:\t{} Active ({ready} Ready) / {} Succeeded / {} Failed\n",
            st.active.unwrap_or(0),
            st.succeeded.unwrap_or(0),
            st.failed.unwrap_or(0)
        ),
    );
    if spec.completion_mode.as_deref() == Some("Indexed") {
        d.w(
            0,
            &format!(
                "Completed Indexes:\t{}\n",
                st.completed_indexes.as_deref().unwrap_or("<none>")
            ),
        );
    }
    d.w(0, "Pod Template:\n");
    let tmeta = spec.template.metadata.clone().unwrap_or_default();
    labels_multiline(&mut d, "  Labels", tmeta.labels.as_ref());
    let tspec = spec.template.spec.clone().unwrap_or_default();
    d.w(0, "  Containers:\n");
    for c in &tspec.containers {
        let mut one = Doc::default();
        describe_container(&mut one, c, None);
        d.pending.push(' ');
        d.pending.push_str(&one.pending);
    }
    let conditions = st.conditions.clone().unwrap_or_default();
    if conditions.is_empty() {
        d.w(0, "Conditions:\t<none>\n");
    } else {
        d.w(0, "Conditions:\n");
        d.w(1, "Type\tStatus\tReason\tMessage\n");
        d.w(1, "----\t------\t------\t-------\n");
        for c in &conditions {
            d.w(
                1,
                &format!(
                    "{}\t{}\t{}\t{}\n",
                    c.type_,
                    c.status,
                    c.reason.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or("")
                ),
            );
        }
    }
    if !pods.is_empty() {
        d.w(0, "Pods:\n");
        d.w(1, "Name\tNode\tStatus\n");
        d.w(1, "----\t----\t------\n");
        for p in pods {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("<none>");
            d.w(
                1,
                &format!(
                    "{}\t{node}\t{}\n",
                    p.metadata.name.as_deref().unwrap_or_default(),
                    crate::view::pod_cells(p, now).status
                ),
            );
        }
    }
    d.w(0, "Events:\t<none>\n");
    d.finish()
}
