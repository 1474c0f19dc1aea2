//! `clusterctl apply`: re-plans against the hosts, asks (on a TTY) unless `--yes`, takes the cluster lock,
//! executes with one progress line per host, and prints a per-host summary.

use std::collections::BTreeMap;
use std::sync::Mutex;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::signals::{self, Signals};
use super::{CliError, ExitCode, Format, Global, Ui, pipeline};
use crate::apply::{self, Event, lock};
use crate::output::plan as view;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Do not ask for confirmation.
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    pub yes: bool,
    /// Treat manifest warnings (unknown fields) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Accept a partial cluster: apply the hosts that answer and exit 0, with a warning for the others.
    #[arg(long)]
    pub allow_unreachable: bool,
    /// Run one safe step of each rollout and return; the next apply (or reconcile) takes the next one.
    #[arg(long)]
    pub no_wait: bool,
    /// When a rollout exceeds its progress deadline, roll it back to the previous ReplicaSet (same
    /// rolling-update safety), then still exit 4. Git keeps the failed template until it is fixed.
    #[arg(long, conflicts_with = "no_wait")]
    pub auto_rollback: bool,
    /// Refuse (exit 6, nothing changed) a plan that removes more than N pods (deletions and replacements).
    #[arg(long, value_name = "N")]
    pub max_destroy: Option<usize>,
    /// Wait up to DURATION (`90s`, `5m`) for a held cluster lock instead of failing at once with exit 5.
    #[arg(long, value_name = "DURATION", value_parser = super::lock::parse_wait)]
    pub lock_wait: Option<std::time::Duration>,
    /// A saved plan (`plan --out FILE`): apply exactly its steps if the hosts still match it (else exit 6).
    #[arg(value_name = "PLAN_FILE")]
    pub plan: Option<std::path::PathBuf>,
}

pub async fn run(
    g: &Global,
    args: &ApplyArgs,
    ui: &Ui,
    signals: &Signals,
) -> Result<ExitCode, CliError> {
    if let Some(file) = &args.plan {
        return super::saved::apply_saved(g, args, file, ui, signals).await;
    }
    let inv = pipeline::load_inventory(g)?;
    let desired = pipeline::load_desired(g, &inv, args.strict, ui)?;
    pipeline::warn_dirty(&desired, ui);
    run_desired(g, args, &inv, &desired, ui, signals).await
}

/// Apply of `desired` (Git's, or with Deployments pinned to a recorded revision by `rollout undo
/// --apply`): observe, lock, plan, confirm, drive.
pub(super) async fn run_desired(
    g: &Global,
    args: &ApplyArgs,
    inv: &crate::inventory::Inventory,
    desired: &pipeline::Desired,
    ui: &Ui,
    signals: &Signals,
) -> Result<ExitCode, CliError> {
    let connected = pipeline::observe(inv, None, ui).await?;
    pipeline::warn_unreachable(&connected.state, ui);
    pipeline::check_jobs(desired, &connected.state, ui)?;
    let first_plan = pipeline::make_plan(inv, desired, &connected.state).0;
    let jobs = &desired.expanded.jobs;
    // Only the memory of unreachable hosts or the Job records changed: the roster is still written (under
    // the lock).
    let remember = pipeline::node_loss(inv, &connected.state).changed
        || crate::controllers::job::records_changed(jobs, &connected.state);
    if first_plan.changes.is_empty() && !remember {
        // Nothing to do: no lock, no remote write at all.
        return nothing_to_do(
            &first_plan,
            &desired.source.short,
            &connected.state,
            args,
            ui,
        );
    }
    super::saved::check_max_destroy(&first_plan, args.max_destroy)?;
    // From here until the lock is released, a signal stops the apply gracefully (cli::signals).
    let _shield = signals.shield();
    // The guard releases the lock on every way out below, `?` and panics included.
    let held = super::lock::take(
        inv,
        &connected.transports,
        &desired.source.short,
        args.lock_wait,
        ui,
        signals,
    )
    .await?;
    if let Some(signo) = signals.received() {
        held.finish("stopped before any change").await;
        return Err(cancelled(signo, "before any change"));
    }
    // Re-read the hosts under the lock: another apply may have changed them since the first look.
    let observed = pipeline::observe(inv, None, ui).await?;
    if let Err(e) = pipeline::check_jobs(desired, &observed.state, ui) {
        held.release().await;
        return Err(e);
    }
    let (plan, binding) = pipeline::make_plan(inv, desired, &observed.state);
    let opts = view::Options {
        color: ui.color,
        explain: false,
        verbose: g.verbose > 0,
    };
    let loss = pipeline::node_loss(inv, &observed.state);
    if plan.changes.is_empty() {
        // No pod changes, but the hosts' memory or the Job records moved (a Job finished or left Git).
        if loss.changed || crate::controllers::job::records_changed(jobs, &observed.state) {
            let roster = pipeline::roster_after(desired, &observed.state, &plan, &binding, &loss);
            for (host, why) in apply::write_roster(&roster, &observed.transports).await {
                ui.warn(&format!("{host}: could not write the roster: {why}"));
            }
        }
        held.finish("no changes").await;
        return nothing_to_do(&plan, &desired.source.short, &observed.state, args, ui);
    }
    if let Err(e) = super::saved::check_max_destroy(&plan, args.max_destroy) {
        held.release().await;
        return Err(e);
    }
    if g.output == Format::Json {
        ui.out(&serde_json::to_string_pretty(&plan).map_err(anyhow::Error::from)?);
    } else {
        ui.out(&view::render(&plan, &desired.source.short, &opts));
    }
    let held = match confirm(args.yes, held, ui, signals).await? {
        Confirmed::Yes(held) => held,
        Confirmed::No => return Ok(ExitCode::Error),
    };

    // The first step, then (unless --no-wait) every further step of the rollouts it started or continued.
    let driven = super::drive::run_steps_with(
        inv,
        desired,
        observed,
        plan,
        binding,
        ui,
        signals,
        !args.no_wait,
        args.auto_rollback,
        Some(&held),
    )
    .await;
    let driven = match driven {
        Ok(d) => d,
        Err(e) => {
            super::lock::finish_and_warn(
                held,
                &format!("failed (exit {})", e.exit_code().code()),
                ui,
            )
            .await;
            return Err(e);
        }
    };
    let stopped = driven.stopped;
    let lease_lost = driven.lease_lost.clone();
    let mut report = driven.report;
    let observed = driven.observed;
    super::lock::finish_and_warn(
        held,
        &audit_result(&report, stopped, lease_lost.as_deref()),
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
        return Err(lease_lost_error(&why));
    }
    finish(&report, ui)
}

/// The word the audit log keeps for an apply that ran: `applied`, `failed on …`, `stopped by …`.
pub(super) fn audit_result(
    report: &apply::ApplyReport,
    stopped: Option<i32>,
    lease_lost: Option<&str>,
) -> String {
    if let Some(signo) = stopped {
        return format!("stopped by {}", signals::name(signo));
    }
    if lease_lost.is_some() {
        return "stopped: lease lost".into();
    }
    let failed = report.failed_hosts();
    if failed.is_empty() {
        "applied".into()
    } else {
        format!("failed on {}", failed.join(", "))
    }
}

/// The end of an apply whose lease could not be renewed: it started no change after that (exit 3).
pub(super) fn lease_lost_error(why: &str) -> CliError {
    CliError::HostsFailed(format!(
        "apply stopped: {why}; no change was started after that, and changes still running were given only until the lease could expire. `clusterctl plan` shows what is left."
    ))
}

/// The exit of an apply that ran to its end: failed or unreached hosts make it exit 3.
pub(super) fn finish(report: &apply::ApplyReport, ui: &Ui) -> Result<ExitCode, CliError> {
    if !report.failed_hosts().is_empty() {
        let mut why: Vec<String> = report
            .hosts
            .iter()
            .filter(|h| h.failed > 0)
            .map(|h| format!("{}: {} change(s) failed", h.node, h.failed))
            .collect();
        if !report.unreached_allowed {
            why.extend(
                report
                    .unreached
                    .iter()
                    .map(|(h, e)| format!("{h}: not reached ({e})")),
            );
        }
        return Err(CliError::HostsFailed(format!(
            "apply finished with errors; {}. Run `clusterctl plan` to see what is left.",
            why.join("; ")
        )));
    }
    if !report.unreached.is_empty() {
        let names: Vec<&str> = report.unreached.iter().map(|(h, _)| h.as_str()).collect();
        ui.warn(&format!(
            "not applied on {} (not reached; accepted by --allow-unreachable)",
            names.join(", ")
        ));
    }
    Ok(ExitCode::Ok)
}

pub(super) fn cancelled(signo: i32, done: &str) -> CliError {
    CliError::Cancelled {
        signo,
        message: format!(
            "apply stopped by {} after {done}; the cluster lock was released. `clusterctl plan` shows what is left.",
            signals::name(signo)
        ),
    }
}

/// Reports an apply that found nothing to do (Terraform's manner: the plan view, then a zero summary).
pub(super) fn nothing_to_do(
    plan: &crate::plan::Plan,
    commit: &str,
    state: &crate::model::ObservedState,
    args: &ApplyArgs,
    ui: &Ui,
) -> Result<ExitCode, CliError> {
    let opts = view::Options {
        color: ui.color,
        explain: false,
        verbose: false,
    };
    let report = apply::ApplyReport {
        unreached: pipeline::unreached(state),
        unreached_allowed: args.allow_unreachable,
        ..Default::default()
    };
    ui.out(&view::render(plan, commit, &opts));
    ui.out(&format!(
        "{} Pods: 0 added, 0 changed, 0 destroyed. Mutating remote commands: 0.",
        view::headline(&report)
    ));
    finish(&report, ui)
}

/// One progress bar per host, drawn only when stderr is a terminal.
pub(super) struct Progress {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Progress {
    pub(super) fn new(tty: bool) -> Progress {
        let target = if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    pub(super) fn on(&self, event: Event) {
        let mut bars = self.bars.lock().expect("progress lock");
        match event {
            Event::HostStarted { node, total } => {
                let bar = self.multi.add(ProgressBar::new(total as u64));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>14} [{bar:20}] {pos}/{len} {msg}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(node.clone());
                bars.insert(node, bar);
            }
            Event::ChangeStarted {
                node, action, pod, ..
            } => {
                if let Some(bar) = bars.get(&node) {
                    bar.set_message(format!("{} {pod}", apply::verb(action)));
                }
            }
            Event::ChangeFinished { node, .. } => {
                if let Some(bar) = bars.get(&node) {
                    bar.inc(1);
                }
            }
            Event::HostFinished { node } => {
                if let Some(bar) = bars.get(&node) {
                    bar.finish_with_message("done");
                }
            }
        }
    }

    pub(super) fn finish(&self) {
        let _ = self.multi.clear();
    }
}

/// What the operator said to the plan shown: go on (with the lock still held), or not (lock released).
pub(super) enum Confirmed {
    Yes(lock::Lock),
    No,
}

/// Asks before changing anything unless `--yes`: refuses without a terminal, and a signal while asking
/// cancels. Every way out but `Yes` releases the lock.
pub(super) async fn confirm(
    yes: bool,
    held: lock::Lock,
    ui: &Ui,
    signals: &Signals,
) -> Result<Confirmed, CliError> {
    if yes {
        return Ok(Confirmed::Yes(held));
    }
    if !ui.stdin_tty {
        held.release().await;
        return Err(CliError::Reported(
            "refusing to apply without confirmation: stdin is not a terminal (use --yes)".into(),
        ));
    }
    let asker = ui.clone();
    let ask =
        tokio::task::spawn_blocking(move || asker.confirm("Do you want to perform these actions?"));
    let approved = tokio::select! {
        answer = ask => answer.unwrap_or(false),
        () = signals.stop().wait() => false,
    };
    if let Some(signo) = signals.received() {
        held.release().await;
        return Err(cancelled(signo, "before any change"));
    }
    if !approved {
        held.release().await;
        ui.info("Apply cancelled.");
        return Ok(Confirmed::No);
    }
    Ok(Confirmed::Yes(held))
}
