//! `clusterctl apply`: re-plans against the hosts, asks (on a TTY) unless `--yes`, takes the cluster lock,
//! executes with one progress line per host, and prints a per-host summary.

use std::collections::BTreeMap;
use std::sync::Mutex;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{CliError, Format, Global, Ui, pipeline};
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
}

pub async fn run(g: &Global, args: &ApplyArgs, ui: &Ui) -> Result<i32, CliError> {
    let inv = pipeline::load_inventory(g)?;
    let desired = pipeline::load_desired(g, &inv, args.strict, ui)?;
    pipeline::warn_dirty(&desired, ui);
    let connected = pipeline::observe(&inv, None).await?;
    pipeline::warn_unreachable(&connected.state, ui);
    let (user, machine) = lock::local_identity();
    let holder = lock::Holder {
        user,
        machine,
        commit: desired.source.short.clone(),
        started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        pid: std::process::id(),
    };
    let first_plan = pipeline::make_plan(&inv, &desired, &connected.state).0;
    if first_plan.changes.is_empty() {
        // Nothing to do: no lock, no remote write at all.
        return Ok(nothing_to_do(&first_plan, &desired.source.short, ui));
    }
    let held = lock::acquire(&connected.transports, &holder)
        .await
        .map_err(|e| CliError::Reported(e.to_string()))?;
    // Re-read the hosts under the lock: another apply may have changed them since the first look.
    let observed = match pipeline::observe(&inv, None).await {
        Ok(o) => o,
        Err(e) => {
            held.release().await;
            return Err(e);
        }
    };
    let (plan, binding) = pipeline::make_plan(&inv, &desired, &observed.state);
    let opts = view::Options {
        color: ui.color,
        explain: false,
    };
    if plan.changes.is_empty() {
        held.release().await;
        return Ok(nothing_to_do(&plan, &desired.source.short, ui));
    }
    if g.output == Format::Json {
        ui.out(&serde_json::to_string_pretty(&plan).map_err(anyhow::Error::from)?);
    } else {
        ui.out(&view::render(&plan, &desired.source.short, &opts));
    }
    if !args.yes {
        let approved = ui.stdin_tty && ui.confirm("Do you want to perform these actions?");
        if !approved {
            held.release().await;
            if !ui.stdin_tty {
                return Err(CliError::Reported(
                    "refusing to apply without confirmation: stdin is not a terminal (use --yes)"
                        .into(),
                ));
            }
            ui.info("Apply cancelled.");
            return Ok(1);
        }
    }

    let progress = Progress::new(ui.stderr_tty);
    let report = apply::execute(&plan, &observed.transports, &|e| progress.on(e)).await;
    progress.finish();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let roster = crate::plan::roster_after(&observed.state, &plan, &binding, &now);
    for (host, why) in apply::write_roster(&roster, &observed.transports).await {
        ui.warn(&format!("{host}: could not write the roster: {why}"));
    }
    held.release().await;

    ui.out(&view::render_report(&report));
    if report.failed() {
        for h in &report.hosts {
            for e in &h.errors {
                ui.error(&format!("{}: {e}", h.node));
            }
        }
        return Err(CliError::Reported(
            "apply finished with errors; run `clusterctl plan` to see what is left".into(),
        ));
    }
    Ok(0)
}

/// Reports an apply that found nothing to do (Terraform's manner: the plan view, then a zero summary).
fn nothing_to_do(plan: &crate::plan::Plan, commit: &str, ui: &Ui) -> i32 {
    let opts = view::Options {
        color: ui.color,
        explain: false,
    };
    ui.out(&view::render(plan, commit, &opts));
    ui.out("Apply complete! Pods: 0 added, 0 changed, 0 destroyed. Mutating remote commands: 0.");
    0
}

/// One progress bar per host, drawn only when stderr is a terminal.
struct Progress {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Progress {
    fn new(tty: bool) -> Progress {
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

    fn on(&self, event: Event) {
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

    fn finish(&self) {
        let _ = self.multi.clear();
    }
}
