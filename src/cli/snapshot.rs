//! `clusterctl snapshot`: the observed state of every host as JSON (docs/snapshot.md).

use super::{CliError, ExitCode, Global, Ui, pipeline};

pub async fn run(g: &Global, ui: &Ui) -> Result<ExitCode, CliError> {
    let inv = pipeline::load_inventory(g)?;
    let observed = pipeline::observe(&inv, None, ui).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    let json = serde_json::to_string_pretty(&observed.state).map_err(anyhow::Error::from)?;
    ui.out(&json);
    Ok(ExitCode::Ok)
}
