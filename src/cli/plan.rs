//! `clusterctl plan`: the diff between Git and the hosts, changing nothing.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, Format, Global, Ui, pipeline};
use crate::output::plan as view;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan against a snapshot file (`clusterctl snapshot -o json`) instead of the hosts: no SSH at all.
    #[arg(long, value_name = "FILE")]
    pub observed: Option<PathBuf>,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Show the scheduler's reasoning for every new pod (scores, rejected nodes).
    #[arg(long)]
    pub explain: bool,
    /// Treat manifest warnings (unknown fields) as errors.
    #[arg(long)]
    pub strict: bool,
}

pub async fn run(g: &Global, args: &PlanArgs, ui: &Ui) -> Result<i32, CliError> {
    let inv = pipeline::load_inventory(g)?;
    let desired = pipeline::load_desired(g, &inv, args.strict, ui)?;
    pipeline::warn_dirty(&desired, ui);
    let observed = pipeline::observe(&inv, args.observed.as_deref()).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    let (plan, _) = pipeline::make_plan(&inv, &desired, &observed.state);
    match g.output {
        Format::Json => ui.out(&serde_json::to_string_pretty(&plan).map_err(anyhow::Error::from)?),
        Format::Yaml => {
            ui.out(&serde_saphyr::to_string(&plan).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        Format::Table | Format::Wide => {
            let opts = view::Options {
                color: ui.color,
                explain: args.explain || g.output == Format::Wide,
            };
            ui.out(&view::render(&plan, &desired.source.short, &opts));
        }
    }
    let changed = !plan.changes.is_empty();
    Ok(if args.detailed_exitcode && changed {
        2
    } else {
        0
    })
}
