//! `clusterctl describe node|pod|deploy|svc|ds|sts|job|cm|secret|pvc NAME`, kubectl's layout.

use clap::{Args, ValueEnum};

use super::{CliError, ExitCode, Global, Ui, get};
use crate::output::describe;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    #[value(alias = "nodes", alias = "no")]
    Node,
    #[value(alias = "pods", alias = "po")]
    Pod,
    #[value(alias = "deployment", alias = "deployments")]
    Deploy,
    #[value(alias = "service", alias = "services")]
    Svc,
    #[value(alias = "daemonset", alias = "daemonsets")]
    Ds,
    #[value(alias = "jobs")]
    Job,
    #[value(alias = "configmaps", alias = "cm")]
    Configmap,
    #[value(alias = "secrets")]
    Secret,
    #[value(alias = "statefulset", alias = "statefulsets")]
    Sts,
    #[value(alias = "persistentvolumeclaim", alias = "persistentvolumeclaims")]
    Pvc,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[arg(value_enum)]
    pub kind: Kind,
    pub name: String,
    /// Read the hosts' state from a snapshot file instead of SSH.
    #[arg(long, value_name = "FILE")]
    pub observed: Option<std::path::PathBuf>,
}

pub async fn run(g: &Global, args: &DescribeArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let w = get::world(g, args.observed.as_deref(), ui).await?;
    match args.kind {
        Kind::Configmap => {
            let all = get::filter(w.config_maps, g, Some(&args.name), |c| &c.metadata, true)?;
            let c = all.first().ok_or_else(|| {
                CliError::Reported(format!("configmaps \"{}\" not found", args.name))
            })?;
            ui.out(&crate::output::config::describe_config_map(c));
        }
        Kind::Secret => {
            let all = get::filter(w.secrets, g, Some(&args.name), |s| &s.metadata, true)?;
            let s = all.first().ok_or_else(|| {
                CliError::Reported(format!("secrets \"{}\" not found", args.name))
            })?;
            ui.out(&crate::output::config::describe_secret(s));
        }
        Kind::Node => {
            let node = w
                .nodes
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(args.name.as_str()))
                .ok_or_else(|| CliError::Reported(format!("nodes \"{}\" not found", args.name)))?;
            let on_node: Vec<_> = w
                .pods
                .iter()
                .filter(|p| {
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(args.name.as_str())
                })
                .cloned()
                .collect();
            ui.out(&describe::describe_node(node, &on_node, w.now));
        }
        Kind::Svc => {
            let svcs = get::filter(w.services, g, Some(&args.name), |s| &s.metadata, true)?;
            let svc = svcs.first().ok_or_else(|| {
                CliError::Reported(format!("services \"{}\" not found", args.name))
            })?;
            let key = (
                svc.metadata.namespace.clone().unwrap_or_default(),
                svc.metadata.name.clone().unwrap_or_default(),
            );
            let eps = w.endpoints.get(&key).cloned().unwrap_or_default();
            ui.out(&describe::describe_service(svc, &eps));
        }
        Kind::Deploy => {
            let all = get::filter(w.deployments, g, Some(&args.name), |d| &d.metadata, true)?;
            let d = all.first().ok_or_else(|| {
                CliError::Reported(format!("deployments.apps \"{}\" not found", args.name))
            })?;
            let ns = d
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            // The current ReplicaSet: the newest recorded revision (an undo may have pinned an older
            // template than Git's), else the one Git's template makes.
            let current = w
                .history
                .get(&crate::controllers::history::key(&ns, &args.name))
                .and_then(|r| r.revisions.iter().max_by_key(|v| v.revision))
                .map(|v| v.replica_set.clone())
                .or_else(|| crate::controllers::replica_set_for(d).metadata.name)
                .unwrap_or_default();
            let (old, new) = super::history_view::rs_lines(d, &current, &w.replica_sets);
            ui.out(&describe::describe_deployment(d, &old, new.as_ref(), w.now));
        }
        Kind::Ds => {
            let all = get::filter(w.daemon_sets, g, Some(&args.name), |d| &d.metadata, true)?;
            let ds = all.first().ok_or_else(|| {
                CliError::Reported(format!("daemonsets.apps \"{}\" not found", args.name))
            })?;
            let name = ds.metadata.name.as_deref().unwrap_or_default();
            let ns = ds.metadata.namespace.as_deref().unwrap_or("default");
            let pods: Vec<_> = w
                .pods
                .iter()
                .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == ns)
                .filter(|p| {
                    p.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.kind == "DaemonSet" && o.name == name)
                })
                .cloned()
                .collect();
            ui.out(&describe::describe_daemon_set(ds, &pods));
        }
        Kind::Job => {
            let all = get::filter(w.jobs, g, Some(&args.name), |j| &j.metadata, true)?;
            let job = all.first().ok_or_else(|| {
                CliError::Reported(format!("jobs.batch \"{}\" not found", args.name))
            })?;
            let name = job.metadata.name.as_deref().unwrap_or_default();
            let ns = job.metadata.namespace.as_deref().unwrap_or("default");
            let pods: Vec<_> = w
                .pods
                .iter()
                .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == ns)
                .filter(|p| {
                    p.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.kind == "Job" && o.name == name)
                })
                .cloned()
                .collect();
            ui.out(&describe::describe_job(job, &pods, w.now));
        }
        Kind::Sts => {
            let all = get::filter(w.stateful_sets, g, Some(&args.name), |s| &s.metadata, true)?;
            let s = all.first().ok_or_else(|| {
                CliError::Reported(format!("statefulsets.apps \"{}\" not found", args.name))
            })?;
            let ns = s.metadata.namespace.clone().unwrap_or_default();
            let prefix: Vec<String> = s
                .spec
                .iter()
                .flat_map(|sp| sp.volume_claim_templates.iter().flatten())
                .filter_map(|t| t.metadata.name.clone())
                .map(|t| format!("{t}-{}-", args.name))
                .collect();
            let claims: Vec<String> = w
                .claims
                .iter()
                .filter(|c| c.metadata.namespace.as_deref() == Some(ns.as_str()))
                .filter_map(|c| c.metadata.name.clone())
                .filter(|n| prefix.iter().any(|p| n.starts_with(p.as_str())))
                .collect();
            ui.out(&crate::output::storage::describe_stateful_set(s, &claims));
        }
        Kind::Pvc => {
            let all = get::filter(w.claims, g, Some(&args.name), |c| &c.metadata, true)?;
            let c = all.first().ok_or_else(|| {
                CliError::Reported(format!(
                    "persistentvolumeclaims \"{}\" not found",
                    args.name
                ))
            })?;
            let ns = c.metadata.namespace.clone().unwrap_or_default();
            let used_by: Vec<String> = w
                .pods
                .iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
                .filter(|p| {
                    p.spec.as_ref().is_some_and(|s| {
                        crate::runtime::mounts::claims_of(s).contains(&args.name.as_str())
                    })
                })
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            ui.out(&crate::output::storage::describe_claim(c, &used_by));
        }
        Kind::Pod => {
            let pods = get::filter(w.pods, g, Some(&args.name), |p| &p.metadata, true)?;
            let pod = pods
                .first()
                .ok_or_else(|| CliError::Reported(format!("pods \"{}\" not found", args.name)))?;
            let key = (
                pod.metadata.namespace.clone().unwrap_or_default(),
                pod.metadata.name.clone().unwrap_or_default(),
            );
            let events: Vec<(String, String, String, String)> = w
                .pending
                .get(&key)
                .map(|msg| {
                    vec![(
                        "Warning".into(),
                        "FailedScheduling".into(),
                        "default-scheduler".into(),
                        msg.clone(),
                    )]
                })
                .unwrap_or_default();
            let recorded = w.pod_events.get(&key).cloned().unwrap_or_default();
            if recorded.is_empty() {
                ui.out(&describe::describe_pod(pod, &events, w.now));
            } else {
                let rows: Vec<describe::EventRow> =
                    recorded.iter().map(describe::EventRow::recorded).collect();
                ui.out(&describe::describe_pod_events(pod, &rows, w.now));
            }
        }
    }
    Ok(ExitCode::Ok)
}
