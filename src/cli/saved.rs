//! Saved plans on the command line (docs/saved-plans.md): `plan --out FILE` writes one, `apply FILE` checks
//! that the hosts still look as they did ([`check_fresh`], the fingerprint of `plan::fingerprint`) and runs
//! exactly its steps, `show FILE` renders it. Also the `--max-destroy` guard rail, shared by both applies.

use std::path::Path;

use super::apply::{ApplyArgs, Progress, cancelled, finish, nothing_to_do};
use super::signals::{self, Signals};
use super::{CliError, ExitCode, Format, Global, Ui, pipeline};
use crate::apply;
use crate::inventory::Inventory;
use crate::model::ObservedState;
use crate::output::plan as view;
use crate::output::saved::{self, SavedPlan};
use crate::plan::fingerprint::{self, Fingerprint};
use crate::plan::{Action, ChangeKind, Plan};

/// How many differences per host a stale message names.
const NAMED: usize = 4;

/// The fingerprint of what `state` shows, with the Node objects the planner builds from it.
pub fn fingerprint_of(inv: &Inventory, state: &ObservedState) -> Fingerprint {
    fingerprint::fingerprint(state, &pipeline::nodes(inv, state))
}

/// Writes the saved plan file (via a temporary file and a rename, so a reader never sees half of it).
pub fn write(
    path: &Path,
    plan: &Plan,
    fp: &Fingerprint,
    roster: &crate::model::Roster,
) -> Result<(), CliError> {
    let now = format!("{:.0}", jiff::Timestamp::now());
    let text = saved::write(plan, fp, roster, &now);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile_in(dir, &text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write {}: {e}", path.display())
    })?;
    Ok(())
}

fn tempfile_in(dir: &Path, text: &str) -> std::io::Result<std::path::PathBuf> {
    let tmp = dir.join(format!(".clusterctl-plan-{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    Ok(tmp)
}

/// Reads a saved plan file; a file that is not one is invalid input (exit 65).
pub fn load(path: &Path) -> Result<(SavedPlan, String), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let plan =
        saved::read(&text).map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?;
    Ok((plan, text))
}

/// The refusal of a plan whose hosts changed since it was made, naming each host and what changed.
pub fn stale_message(diffs: &std::collections::BTreeMap<String, Vec<String>>) -> String {
    let per_host = |d: &Vec<String>| {
        let mut named: Vec<String> = d.iter().take(NAMED).cloned().collect();
        if d.len() > NAMED {
            named.push(format!("and {} more", d.len() - NAMED));
        }
        named.join(", ")
    };
    let what = if diffs.len() == 1 {
        let (host, d) = diffs.iter().next().expect("one entry");
        format!("{host} changed since the plan was made ({})", per_host(d))
    } else {
        let parts: Vec<String> = diffs
            .iter()
            .map(|(h, d)| format!("{h}: {}", per_host(d)))
            .collect();
        format!(
            "{} hosts changed since the plan was made ({})",
            diffs.len(),
            parts.join("; ")
        )
    };
    format!("plan is stale: {what}; run plan again")
}

/// Refuses (exit 6) when the hosts no longer match the saved plan's fingerprint. Every host counts, not
/// only the hosts the plan touches: placements, pod IPs and every host's service rules were computed from
/// all of them.
pub fn check_fresh(saved: &SavedPlan, now: &Fingerprint) -> Result<(), CliError> {
    let diffs = fingerprint::differences(&saved.fingerprint, now);
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(CliError::Refused(stale_message(&diffs)))
    }
}

/// The pods a plan removes (deletions and the old half of replacements).
pub fn pods_destroyed(plan: &Plan) -> usize {
    plan.changes
        .iter()
        .filter(|c| {
            c.kind == ChangeKind::Pod && matches!(c.action, Action::Delete | Action::Replace)
        })
        .count()
}

/// `--max-destroy N`: a plan that removes more than N pods is refused before the lock is taken.
pub fn check_max_destroy(plan: &Plan, max: Option<usize>) -> Result<(), CliError> {
    let n = pods_destroyed(plan);
    match max {
        Some(max) if n > max => Err(CliError::Refused(format!(
            "the plan destroys {n} pod(s), more than --max-destroy {max}; nothing was changed"
        ))),
        _ => Ok(()),
    }
}

/// `apply FILE`: re-observe, refuse a stale plan, take the lock, check again under it, then execute the
/// saved steps exactly (no re-plan).
pub async fn apply_saved(
    g: &Global,
    args: &ApplyArgs,
    file: &Path,
    ui: &Ui,
    signals: &Signals,
) -> Result<ExitCode, CliError> {
    let inv = pipeline::load_inventory(g)?;
    let (saved, text) = load(file)?;
    let plan = saved.to_plan();
    let short: String = plan.commit.chars().take(7).collect();
    check_max_destroy(&plan, args.max_destroy)?;
    let connected = pipeline::observe(&inv, None, ui).await?;
    pipeline::warn_unreachable(&connected.state, ui);
    check_fresh(&saved, &fingerprint_of(&inv, &connected.state))?;
    if plan.changes.is_empty() {
        return nothing_to_do(&plan, &short, &connected.state, args, ui);
    }
    let _shield = signals.shield();
    let held = super::lock::take(
        &inv,
        &connected.transports,
        &short,
        args.lock_wait,
        ui,
        signals,
    )
    .await?;
    if let Some(signo) = signals.received() {
        held.release().await;
        return Err(cancelled(signo, "before any change"));
    }
    // Under the lock, once more: another apply may have run between the first look and the lock.
    let observed = pipeline::observe(&inv, None, ui).await?;
    if let Err(e) = check_fresh(&saved, &fingerprint_of(&inv, &observed.state)) {
        held.release().await;
        return Err(e);
    }
    let opts = view::Options {
        color: ui.color,
        explain: false,
        verbose: g.verbose > 0,
    };
    if g.output == Format::Json {
        ui.out(&SavedPlan::plan_json(&text).map_err(|e| anyhow::anyhow!("{e}"))?);
    } else {
        ui.out(&saved::render_human(&saved, &opts));
    }
    let held = match super::apply::confirm(args.yes, held, ui, signals).await? {
        super::apply::Confirmed::Yes(held) => held,
        super::apply::Confirmed::No => return Ok(ExitCode::Error),
    };
    let progress = Progress::new(ui.stderr_tty);
    let stop = held.watch(signals.stop(), super::signals::GRACE);
    let mut report =
        apply::execute_until(&plan, &observed.transports, &|e| progress.on(e), &stop).await;
    progress.finish();
    let stopped = signals.received();
    let lease_lost = held.lost();
    if stopped.is_none() && lease_lost.is_none() {
        let now = format!("{:.3}", jiff::Timestamp::now());
        for (host, why) in apply::write_roster(&saved.roster_at(&now), &observed.transports).await {
            ui.warn(&format!("{host}: could not write the roster: {why}"));
        }
    }
    super::lock::finish_and_warn(
        held,
        &super::apply::audit_result(&report, stopped, lease_lost.as_deref()),
        ui,
    )
    .await;
    report.unreached = pipeline::unreached(&observed.state);
    report.unreached_allowed = args.allow_unreachable;
    report.cancelled_by = stopped.map(|s| signals::name(s).to_string());
    ui.out(&view::render_report(&report));
    for h in &report.hosts {
        for e in &h.errors {
            ui.error(&format!("{}: {e}", h.node));
        }
    }
    if let Some(signo) = stopped {
        return Err(cancelled(signo, "part of the plan"));
    }
    if let Some(why) = lease_lost {
        return Err(super::apply::lease_lost_error(&why));
    }
    finish(&report, ui)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_messages_name_hosts_and_changes() {
        let one: std::collections::BTreeMap<String, Vec<String>> = [(
            "k8s-node2".to_string(),
            vec!["container k8s_nginx_web-1_default removed".to_string()],
        )]
        .into();
        assert_eq!(
            stale_message(&one),
            "plan is stale: k8s-node2 changed since the plan was made (container k8s_nginx_web-1_default removed); run plan again"
        );
        let many: std::collections::BTreeMap<String, Vec<String>> = [
            ("a".to_string(), (0..6).map(|i| format!("c{i}")).collect()),
            ("b".to_string(), vec!["pod network changed".to_string()]),
        ]
        .into();
        assert_eq!(
            stale_message(&many),
            "plan is stale: 2 hosts changed since the plan was made (a: c0, c1, c2, c3, and 2 more; b: pod network changed); run plan again"
        );
    }
}
