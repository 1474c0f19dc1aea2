//! `clusterctl unlock`: removes a stale cluster lock (after an apply was killed).

use super::{CliError, ExitCode, Global, Ui, pipeline};
use crate::apply::lock;

pub async fn run(g: &Global, ui: &Ui) -> Result<ExitCode, CliError> {
    let inv = pipeline::load_inventory(g)?;
    let observed = pipeline::observe(&inv, None, ui).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    for (host, holder) in lock::force_release(&observed.transports).await {
        match holder {
            Some(h) => ui.info(&format!("{host}: released lock {h}")),
            None => ui.info(&format!("{host}: no lock held")),
        }
    }
    // A host that was not reached may still hold the lock.
    let unreached = pipeline::unreached(&observed.state);
    if !unreached.is_empty() {
        let names: Vec<&str> = unreached.iter().map(|(h, _)| h.as_str()).collect();
        return Err(CliError::HostsFailed(format!(
            "the lock could not be checked on {}; run `clusterctl unlock` again once they answer",
            names.join(", ")
        )));
    }
    Ok(ExitCode::Ok)
}
