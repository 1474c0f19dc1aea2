//! `kubectl describe deployment NAME` (describeDeployment: replicas line, strategy, Pod Template,
//! Conditions as Type/Status/Reason, OldReplicaSets / NewReplicaSet as `name (a/b replicas created)`) and
//! `kubectl rollout history --revision N`'s view of one revision (its Pod Template), plus the Git commit
//! clusterctl records for it. clusterctl records no Deployment events: `Events: <none>`.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Doc, annotations_multiline, describe_container, labels_multiline};
use crate::age::rfc1123z;

/// One ReplicaSet line: name, pods it has, pods it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsLine {
    pub name: String,
    pub current: i32,
    pub desired: i32,
}

fn rs_list(list: &[RsLine]) -> String {
    if list.is_empty() {
        return "<none>".to_string();
    }
    list.iter()
        .map(|r| format!("{} ({}/{} replicas created)", r.name, r.current, r.desired))
        .collect::<Vec<_>>()
        .join(", ")
}

fn int_or_percent(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "25%".to_string(),
    }
}

/// `kubectl describe deployment`: `d` carries its status (conditions included); `old` the old
/// ReplicaSets that still have pods, `new` the current one.
pub fn describe_deployment(
    d: &Deployment,
    old: &[RsLine],
    new: Option<&RsLine>,
    _now: Timestamp,
) -> String {
    let mut doc = Doc::default();
    let spec = d.spec.clone().unwrap_or_default();
    let st = d.status.clone().unwrap_or_default();
    let m = &d.metadata;
    doc.w(
        0,
        &format!("Name:\t{}\n", m.name.clone().unwrap_or_default()),
    );
    doc.w(
        0,
        &format!(
            "Namespace:\t{}\n",
            m.namespace.as_deref().unwrap_or("default")
        ),
    );
    let created = m
        .creation_timestamp
        .as_ref()
        .map(rfc1123z)
        .unwrap_or_else(|| "<unknown>".to_string());
    doc.w(0, &format!("CreationTimestamp:\t{created}\n"));
    labels_multiline(&mut doc, "Labels", m.labels.as_ref());
    annotations_multiline(&mut doc, "Annotations", m.annotations.as_ref());
    doc.w(
        0,
        &format!(
            "Selector:\t{}\n",
            crate::output::table::format_selector(Some(&spec.selector))
        ),
    );
    doc.w(
        0,
        &format!(
            "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable\n",
            spec.replicas.unwrap_or(1),
            st.updated_replicas.unwrap_or(0),
            st.replicas.unwrap_or(0),
            st.available_replicas.unwrap_or(0),
            st.unavailable_replicas.unwrap_or(0)
        ),
    );
    let strategy = spec.strategy.clone().unwrap_or_default();
    let kind = strategy
        .type_
        .clone()
        .unwrap_or_else(|| "RollingUpdate".to_string());
    doc.w(0, &format!("StrategyType:\t{kind}\n"));
    doc.w(
        0,
        &format!(
            "MinReadySeconds:\t{}\n",
            spec.min_ready_seconds.unwrap_or(0)
        ),
    );
    if kind == "RollingUpdate" {
        let ru = strategy.rolling_update.clone().unwrap_or_default();
        doc.w(
            0,
            &format!(
                "RollingUpdateStrategy:\t{} max unavailable, {} max surge\n",
                int_or_percent(ru.max_unavailable.as_ref()),
                int_or_percent(ru.max_surge.as_ref())
            ),
        );
    }
    pod_template(&mut doc, &spec.template);
    let conditions = st.conditions.clone().unwrap_or_default();
    if !conditions.is_empty() {
        doc.w(0, "Conditions:\n");
        doc.w(1, "Type\tStatus\tReason\n");
        doc.w(1, "----\t------\t------\n");
        for c in &conditions {
            doc.w(
                1,
                &format!(
                    "{}\t{}\t{}\n",
                    c.type_,
                    c.status,
                    c.reason.as_deref().unwrap_or("")
                ),
            );
        }
    }
    doc.w(0, &format!("OldReplicaSets:\t{}\n", rs_list(old)));
    doc.w(
        0,
        &format!(
            "NewReplicaSet:\t{}\n",
            new.map(|r| rs_list(std::slice::from_ref(r)))
                .unwrap_or_else(|| "<none>".to_string())
        ),
    );
    doc.w(0, "Events:\t<none>\n");
    doc.finish()
}

/// `kubectl rollout history deployment/NAME --revision N`, with the commit and ReplicaSet recorded.
pub fn describe_revision(
    deployment: &str,
    revision: i64,
    replica_set: &str,
    commit: &str,
    file: &str,
    template: &PodTemplateSpec,
) -> String {
    let mut doc = Doc::default();
    doc.w(0, &format!("Commit:\t{commit}\n"));
    if !file.is_empty() {
        doc.w(0, &format!("File:\t{file}\n"));
    }
    doc.w(0, &format!("ReplicaSet:\t{replica_set}\n"));
    pod_template(&mut doc, template);
    format!(
        "deployment.apps/{deployment} with revision #{revision}\n{}",
        doc.finish()
    )
}

/// kubectl's DescribePodTemplate: labels, annotations, containers, volumes.
fn pod_template(doc: &mut Doc, template: &PodTemplateSpec) {
    doc.w(0, "Pod Template:\n");
    let tmeta = template.metadata.clone().unwrap_or_default();
    labels_multiline(doc, "  Labels", tmeta.labels.as_ref());
    if tmeta.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        annotations_multiline(doc, "  Annotations", tmeta.annotations.as_ref());
    }
    let tspec = template.spec.clone().unwrap_or_default();
    doc.w(0, "  Containers:\n");
    for c in &tspec.containers {
        // A template's containers sit one space deeper than a pod's: `   name:` over `    Image:`.
        let mut one = Doc::default();
        describe_container(&mut one, c, None);
        doc.pending.push(' ');
        doc.pending.push_str(&one.pending);
    }
    let volumes = tspec.volumes.clone().unwrap_or_default();
    if volumes.is_empty() {
        doc.w(0, "  Volumes:\t<none>\n");
    } else {
        doc.w(0, "  Volumes:\n");
        for v in &volumes {
            doc.w(0, &format!("   {}:\n", v.name));
        }
    }
}
