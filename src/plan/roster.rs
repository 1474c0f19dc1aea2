//! The roster after a plan: which pod runs on which node once the plan is applied (docs/architecture.md,
//! "The roster"), and when each Service was first applied. Pure.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

use super::{Binding, Plan, PodKey, key, leaving};
use crate::model::{self, ObservedState};

/// The roster the cluster has once `plan` is applied: observed pods that stay (those of unreachable hosts
/// included, from the old roster) plus the pods the plan creates.
pub fn roster_after(
    observed: &ObservedState,
    plan: &Plan,
    binding: &Binding,
    written_at: &str,
) -> model::Roster {
    let leaving: BTreeSet<PodKey<'_>> = leaving(&plan.changes);
    let mut pods: Vec<model::RosterPod> = model::observed_pods(observed)
        .into_iter()
        .filter(|p| !leaving.contains(&key(p)))
        .map(|p| {
            let created = p
                .sandbox
                .as_ref()
                .map(|s| s.created_at.clone())
                .unwrap_or_default();
            model::RosterPod {
                manifest: p.manifest.map(|m| stamped(m, &created)),
                namespace: p.namespace,
                name: p.name,
                node: p.node,
                owner: p.owner,
                template_hash: p.template_hash,
            }
        })
        .collect();
    pods.extend(binding.created.iter().map(|b| {
        model::RosterPod {
            namespace: b.pod.metadata.namespace.clone().unwrap_or_default(),
            name: b.pod.metadata.name.clone().unwrap_or_default(),
            node: b
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
            owner: b.owner.clone(),
            template_hash: Some(b.template_hash.clone()),
            manifest: Some(b.pod.clone()),
        }
    }));
    pods.sort_by(|a, b| (&a.namespace, &a.name, &a.node).cmp(&(&b.namespace, &b.name, &b.node)));
    // A Service keeps the time it was first applied; new ones are stamped now.
    let known = observed.roster().map(|r| &r.services);
    let services = binding
        .services
        .services
        .iter()
        .map(|s| {
            let key = format!(
                "{}/{}",
                s.metadata.namespace.as_deref().unwrap_or_default(),
                s.metadata.name.as_deref().unwrap_or_default()
            );
            let created = known
                .and_then(|k| k.get(&key))
                .cloned()
                .unwrap_or_else(|| written_at.to_string());
            (key, created)
        })
        .collect();
    model::Roster {
        written_at: written_at.to_string(),
        commit: plan.commit.clone(),
        services,
        pods,
        // Filled by the caller from the Jobs (`controllers::job::records`): the plan does not see them.
        jobs: Default::default(),
        // The reachability memory as it was; the caller sets this round's (`plan::node_loss`).
        hosts: observed
            .roster()
            .map(|r| r.hosts.clone())
            .unwrap_or_default(),
        volumes: super::storage::volumes_after(
            observed,
            &plan.changes,
            &binding.provisioned,
            written_at,
        ),
        // Filled by the caller (`controllers::history::records`): the plan does not keep history.
        deployments: Default::default(),
    }
}

/// Records when a pod was created (RFC 3339) in its metadata, unless it already says.
fn stamped(mut pod: Pod, created: &str) -> Pod {
    if pod.metadata.creation_timestamp.is_none() {
        if let Ok(t) = created.parse::<k8s_openapi::jiff::Timestamp>() {
            pod.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t));
        }
    }
    pod
}
