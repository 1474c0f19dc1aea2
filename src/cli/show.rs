//! `clusterctl show FILE`: a saved plan (`plan --out FILE`) in the human view, as the plan JSON of
//! docs/plan-format.md (`-o json`), or as a pull-request comment (`-o markdown`). Reads only the file.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, ExitCode, Format, Global, Ui, saved};
use crate::output::plan as view;
use crate::output::saved::SavedPlan;

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan (`clusterctl plan --out FILE`).
    #[arg(value_name = "PLAN_FILE")]
    pub file: PathBuf,
    /// Show the scheduler's reasoning for every new pod (scores, rejected nodes).
    #[arg(long)]
    pub explain: bool,
}

pub fn run(g: &Global, args: &ShowArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let (plan, text) = saved::load(&args.file)?;
    let short: String = plan.plan.commit.chars().take(7).collect();
    let explain = args.explain || g.output == Format::Wide;
    match g.output {
        Format::Json => ui.out(&SavedPlan::plan_json(&text).map_err(|e| anyhow::anyhow!("{e}"))?),
        Format::Markdown => ui.out(&crate::output::markdown::render(
            &plan.to_plan(),
            &plan.pending(),
            &short,
            explain,
            g.verbose > 0,
        )),
        _ => ui.out(&crate::output::saved::render_human(
            &plan,
            &view::Options {
                color: ui.color,
                explain,
                verbose: g.verbose > 0,
            },
        )),
    }
    Ok(ExitCode::Ok)
}
