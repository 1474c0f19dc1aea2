//! `clusterctl unlock` (deprecated): releases, by force, every lease the lock hosts hold now — each by the
//! id it was seen with, so a lease taken after the look is never touched — and warns that
//! `clusterctl lock release --force --id ID` is the command to use. Audited like it.

use super::{CliError, ExitCode, Global, Ui};
use crate::apply::lock::{self, LockSpec, Released};

pub async fn run(g: &Global, ui: &Ui) -> Result<ExitCode, CliError> {
    ui.warn("`clusterctl unlock` is deprecated: use `clusterctl lock status` and `clusterctl lock release --force --id ID` (docs/locking.md)");
    let (inv, transports) = super::lock::connect(g, ui).await?;
    let spec = LockSpec::from_inventory(&inv);
    let leases = lock::status(&spec, &transports).await;
    let mut unreached = Vec::new();
    // Each id seen, with its holder and the hosts it was seen on.
    let mut ids: Vec<(String, Option<lock::Holder>)> = Vec::new();
    for l in &leases {
        match &l.answer {
            Err(_) => unreached.push(l.host.clone()),
            Ok(a) => match a.id() {
                Some(id) if !ids.iter().any(|(i, _)| i == id) => {
                    ids.push((id.to_string(), l.holder()))
                }
                Some(_) => {}
                None => ui.info(&format!("{}: no lock held", l.host)),
            },
        }
    }
    for (id, holder) in &ids {
        let entry = super::lock::force_entry(id, holder.as_ref(), "unlock");
        let done = lock::force_release(&spec, &transports, id, &entry).await;
        let whose = holder.as_ref().map(|h| format!(" {h}")).unwrap_or_default();
        for (host, r) in done {
            if r == Released::Released {
                ui.info(&format!("{host}: released lock{whose} (lock id {id})"));
            }
        }
    }
    if !unreached.is_empty() {
        return Err(CliError::HostsFailed(format!(
            "the lock could not be checked on {}; run `clusterctl unlock` again once they answer",
            unreached.join(", ")
        )));
    }
    Ok(ExitCode::Ok)
}
