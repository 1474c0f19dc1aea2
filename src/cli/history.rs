//! `clusterctl history`: the audit log of the lock hosts — every apply that held the cluster lock and every
//! forced release — merged from the lock hosts (each has a copy), oldest first, as a kubectl-style table or
//! `-o json`.

use super::{CliError, ExitCode, Format, Global, Ui};
use crate::apply::lock::{self, LockSpec, audit::Entry};
use crate::output::tabwriter::TABLE;

pub async fn run(g: &Global, ui: &Ui) -> Result<ExitCode, CliError> {
    let (inv, transports) = super::lock::connect(g, ui).await?;
    let spec = LockSpec::from_inventory(&inv);
    let (entries, failed) = lock::history(&spec, &transports).await;
    if g.output == Format::Json {
        ui.out(&serde_json::to_string_pretty(&entries).map_err(anyhow::Error::from)?);
    } else if entries.is_empty() {
        ui.info("No history: no apply has held the cluster lock yet.");
    } else {
        ui.out(render(&entries, g.output == Format::Wide).trim_end());
    }
    // The copies on the other lock hosts are enough unless a majority could not be read.
    for (host, why) in &failed {
        ui.warn(&format!("{host}: the audit log could not be read: {why}"));
    }
    if failed.len() >= spec.majority() {
        let names: Vec<&str> = failed.iter().map(|(h, _)| h.as_str()).collect();
        return Err(CliError::HostsFailed(format!(
            "the audit log could not be read on {} (a majority of the lock hosts): entries may be missing",
            names.join(", ")
        )));
    }
    Ok(ExitCode::Ok)
}

/// TIME ACTION LOCK-ID USER COMMIT RESULT (wide: MACHINE PID HOLDER CI-JOB).
fn render(entries: &[Entry], wide: bool) -> String {
    let mut text = String::from("TIME\tACTION\tLOCK ID\tUSER\tCOMMIT\tRESULT");
    if wide {
        text.push_str("\tMACHINE\tPID\tHOLDER\tCI JOB");
    }
    text.push('\n');
    let cell = |s: &str| {
        let s: String = s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s
        }
    };
    for e in entries {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            cell(&e.time),
            cell(&e.action),
            cell(&e.lock_id),
            cell(&e.user),
            cell(&e.commit),
            cell(&e.result)
        ));
        if wide {
            text.push_str(&format!(
                "\t{}\t{}\t{}\t{}",
                cell(&e.machine),
                e.pid,
                cell(e.holder.as_deref().unwrap_or("")),
                cell(e.ci_job_url.as_deref().unwrap_or(""))
            ));
        }
        text.push('\n');
    }
    TABLE.format(&text)
}
