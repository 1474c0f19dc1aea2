//! `clusterctl top nodes|pods [NAME]`: one usage sample per reachable host (`runtime::day2`: `docker stats`
//! and the host's own counters), summed per pod over its app containers (the sandbox is the runtime's, as
//! metrics-server leaves pause out), nodes as a share of their allocatable; kubectl's tables (`output::top`).

use clap::{Args, ValueEnum};

use super::day2;
use super::{CliError, ExitCode, Global, Ui};
use crate::model::labels;
use crate::output::top::{self, NodeUsage, PodUsage};
use crate::output::{Rendered, Scope};
use crate::runtime::day2::UsageSample;
use crate::selector::Selector;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopResource {
    #[value(alias = "node", alias = "no")]
    Nodes,
    #[value(alias = "pod", alias = "po")]
    Pods,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    #[arg(value_enum)]
    pub resource: TopResource,
    /// Only this node or pod.
    pub name: Option<String>,
}

pub async fn run(g: &Global, args: &TopArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let selector = match &g.selector {
        Some(s) => Selector::parse(s).map_err(|e| CliError::Usage(e.to_string()))?,
        None => Selector::default(),
    };
    let hosts = day2::observe(g, ui).await?;
    let jobs = hosts
        .all_hosts()
        .into_iter()
        .map(|(name, (t, d2))| async move {
            let out = t.run(&d2.usage_cmd()).await;
            let sample = match out {
                Ok(o) if o.success() => d2.parse_usage(&o.stdout_str()).map_err(|e| e.to_string()),
                Ok(o) => Err(o.stderr_str().trim().to_string()),
                Err(e) => Err(e.to_string()),
            };
            (name, sample)
        });
    let mut samples: Vec<(String, UsageSample)> = Vec::new();
    for (host, s) in futures::future::join_all(jobs).await {
        match s {
            Ok(s) => samples.push((host, s)),
            Err(e) => ui.warn(&format!("node {host}: no usage sample: {e}")),
        }
    }
    let rendered = match args.resource {
        TopResource::Pods => {
            let mut rows = Vec::new();
            for pod in &hosts.pods {
                if !(g.all_namespaces || pod.namespace == g.namespace)
                    || args.name.as_deref().is_some_and(|n| n != pod.name)
                {
                    continue;
                }
                let labels = pod
                    .manifest
                    .as_ref()
                    .and_then(|m| m.metadata.labels.clone())
                    .unwrap_or_default();
                if !selector.matches(&labels) {
                    continue;
                }
                let Some((_, sample)) = samples.iter().find(|(h, _)| *h == pod.node) else {
                    continue;
                };
                let mut cpu = 0;
                let mut mem = 0;
                let mut any = false;
                for c in pod.containers.values() {
                    if c.label(labels::CONTAINER) == Some(labels::SANDBOX_CONTAINER) {
                        continue;
                    }
                    if let Some(u) = sample.containers.iter().find(|u| {
                        !c.id.is_empty() && (u.id.starts_with(&c.id) || c.id.starts_with(&u.id))
                    }) {
                        cpu += u.cpu_millis;
                        mem += u.memory_bytes;
                        any = true;
                    }
                }
                if any {
                    rows.push(PodUsage {
                        namespace: pod.namespace.clone(),
                        name: pod.name.clone(),
                        cpu_millis: cpu,
                        memory_bytes: mem,
                    });
                }
            }
            if let (Some(n), true) = (&args.name, rows.is_empty()) {
                return Err(CliError::Reported(format!("pods \"{n}\" not found")));
            }
            let scope = if g.all_namespaces {
                Scope::AllNamespaces
            } else {
                Scope::Namespace(g.namespace.clone())
            };
            top::pods(&rows, &scope)
        }
        TopResource::Nodes => {
            let nodes = super::pipeline::nodes(&hosts.inv, &hosts.observed.state);
            let mut rows = Vec::new();
            for n in &nodes {
                let name = n.metadata.name.clone().unwrap_or_default();
                if args.name.as_deref().is_some_and(|x| x != name) {
                    continue;
                }
                if !selector.matches(&n.metadata.labels.clone().unwrap_or_default()) {
                    continue;
                }
                let status = n.status.clone().unwrap_or_default();
                let alloc = status.allocatable.or(status.capacity).unwrap_or_default();
                let q = |k: &str| {
                    alloc
                        .get(k)
                        .and_then(|q| crate::quantity::Quantity::parse(&q.0).ok())
                };
                let allocatable = (
                    q("cpu").map(|q| q.milli_value().max(0) as u64).unwrap_or(0),
                    q("memory").map(|q| q.value().max(0) as u64).unwrap_or(0),
                );
                let usage = samples
                    .iter()
                    .find(|(h, _)| *h == name)
                    .and_then(|(_, s)| Some((s.host_cpu_millis?, s.host_memory_bytes?)));
                rows.push(NodeUsage {
                    name,
                    usage,
                    allocatable,
                });
            }
            if let (Some(n), true) = (&args.name, rows.is_empty()) {
                return Err(CliError::Reported(format!("nodes \"{n}\" not found")));
            }
            top::nodes(&rows)
        }
    };
    match rendered {
        Rendered::Table(t) => ui.out(&t),
        Rendered::Empty(m) => ui.info(&m),
    }
    Ok(ExitCode::Ok)
}
