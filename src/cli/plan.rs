//! `clusterctl plan`: the diff between Git and the hosts, changing nothing.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, ExitCode, Format, Global, Ui, pipeline};
use crate::output::plan as view;
use crate::scheduler::whatif;

/// The pods running now, as the scheduler sees them (controller owner included, for the what-if).
fn current_pods(state: &crate::model::ObservedState) -> Vec<k8s_openapi::api::core::v1::Pod> {
    crate::model::observed_pods(state)
        .iter()
        .map(|p| {
            let mut pod = crate::plan::existing_pod(p);
            if let Some(o) = &p.owner {
                let refs = pod.metadata.owner_references.get_or_insert_with(Vec::new);
                if !refs.iter().any(|r| r.controller == Some(true)) {
                    refs.push(
                        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                            api_version: "apps/v1".into(),
                            kind: o.kind.clone(),
                            name: o.name.clone(),
                            controller: Some(true),
                            ..Default::default()
                        },
                    );
                }
            }
            pod
        })
        .collect()
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan against a snapshot file (`clusterctl snapshot -o json`) instead of the hosts: no SSH at all.
    #[arg(long, value_name = "FILE")]
    pub observed: Option<PathBuf>,
    /// Exit 0 when there is nothing to do, 2 when there are changes (other codes: see `clusterctl --help`).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Accept a partial cluster: hosts that cannot be reached or are refused are a warning, not exit 3.
    #[arg(long)]
    pub allow_unreachable: bool,
    /// Show the scheduler's reasoning for every new pod (scores, rejected nodes).
    #[arg(long)]
    pub explain: bool,
    /// Treat manifest warnings (unknown fields) as errors.
    #[arg(long)]
    pub strict: bool,
    /// What if NODE were drained: where its pods would go and which would stay Pending (changes nothing).
    #[arg(long, value_name = "NODE", conflicts_with = "lose")]
    pub drain: Option<String>,
    /// What if NODE were lost: where its pods would go and which would stay Pending (changes nothing).
    #[arg(long, value_name = "NODE")]
    pub lose: Option<String>,
    /// Also save the plan to FILE, bound to what was observed, for `apply FILE` and `show FILE`
    /// (docs/saved-plans.md).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["drain", "lose"])]
    pub out: Option<PathBuf>,
}

pub async fn run(g: &Global, args: &PlanArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let inv = pipeline::load_inventory(g)?;
    let desired = pipeline::load_desired(g, &inv, args.strict, ui)?;
    pipeline::warn_dirty(&desired, ui);
    let observed = pipeline::observe(&inv, args.observed.as_deref(), ui).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    pipeline::check_jobs(&desired, &observed.state, ui)?;
    super::lock_note::warn_if_held(&inv, &observed.transports, ui).await;
    let what_if = match (&args.drain, &args.lose) {
        (Some(n), _) => Some((n, whatif::Mode::Drain)),
        (None, Some(n)) => Some((n, whatif::Mode::Lose)),
        (None, None) => None,
    };
    if let Some((node, mode)) = what_if {
        let nodes = pipeline::nodes(&inv, &observed.state);
        let pods = current_pods(&observed.state);
        let outcomes =
            whatif::what_if(&nodes, &pods, node, mode).map_err(|e| anyhow::anyhow!("{e}"))?;
        ui.out(&whatif::render(node, mode, &outcomes, args.explain));
        return Ok(ExitCode::Ok);
    }
    let (plan, binding) = pipeline::make_plan(&inv, &desired, &observed.state);
    if let Some(out) = &args.out {
        let fp = super::saved::fingerprint_of(&inv, &observed.state);
        // Stamped by the apply that writes it (`SavedPlan::roster_at`); with the hosts' reachability
        // memory and the Job records, as every other roster writer (`pipeline::roster_after`).
        let loss = pipeline::node_loss(&inv, &observed.state);
        let roster = pipeline::roster_after(&desired, &observed.state, &plan, &binding, &loss);
        super::saved::write(out, &plan, &fp, &roster)?;
        ui.info(&format!(
            "Saved the plan to {}; `clusterctl apply {}` applies exactly these steps.",
            out.display(),
            out.display()
        ));
    }
    match g.output {
        Format::Markdown => {
            let pending: Vec<(String, String, String)> = plan
                .pending
                .iter()
                .map(|p| (p.namespace.clone(), p.name.clone(), p.message()))
                .collect();
            ui.out(&crate::output::markdown::render(
                &plan,
                &pending,
                &desired.source.short,
                args.explain,
                g.verbose > 0,
            ));
        }
        Format::Json => ui.out(&serde_json::to_string_pretty(&plan).map_err(anyhow::Error::from)?),
        Format::Yaml => {
            ui.out(&serde_saphyr::to_string(&plan).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        Format::Table | Format::Wide => {
            let opts = view::Options {
                color: ui.color,
                explain: args.explain || g.output == Format::Wide,
                verbose: g.verbose > 0,
            };
            ui.out(&view::render(&plan, &desired.source.short, &opts));
        }
    }
    // A plan that could not see every host is not the whole truth: that outranks "changes present".
    let unreached = pipeline::unreached(&observed.state);
    if !unreached.is_empty() && !args.allow_unreachable {
        return Err(pipeline::hosts_failed(&unreached));
    }
    let changed = !plan.changes.is_empty();
    Ok(if args.detailed_exitcode && changed {
        ExitCode::Changes
    } else {
        ExitCode::Ok
    })
}
