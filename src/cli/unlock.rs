//! `clusterctl unlock`: removes a stale cluster lock (after an apply was killed).

use super::{CliError, Global, Ui, pipeline};
use crate::apply::lock;

pub async fn run(g: &Global, ui: &Ui) -> Result<i32, CliError> {
    let inv = pipeline::load_inventory(g)?;
    let observed = pipeline::observe(&inv, None).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    for (host, holder) in lock::force_release(&observed.transports).await {
        match holder {
            Some(h) => ui.info(&format!("{host}: released lock {h}")),
            None => ui.info(&format!("{host}: no lock held")),
        }
    }
    Ok(0)
}
