//! `clusterctl rollout status|history|undo|restart deploy/NAME`. `status`: kubectl's — watches the hosts (every
//! 500 ms) and prints kubectl's waiting messages until the Deployment is rolled out, exiting 4 when it
//! makes no progress for its `progressDeadlineSeconds` (or `--timeout` passes: exit 1). `history`: the
//! revisions the roster records (`controllers::history`), with their Git commits. `undo`: GitOps-style —
//! prints the Git commands that make Git match the old revision; with `--apply` also rolls the Deployment
//! back now (an apply with that revision pinned: lock, plan, same rolling-update safety) and warns that
//! Git disagrees until the change is committed (docs/rollouts.md, "History and undo"). `restart`: kubectl's
//! `kubectl.kubernetes.io/restartedAt` template annotation, written into the Deployment's manifest file in
//! the work tree (`manifest::restart`) and committed with `--commit`; the next apply rolls it out.

use std::time::Duration;

use clap::{Args, Subcommand};
use tokio::time::Instant;

use super::{CliError, ExitCode, Global, Ui, pipeline};
use crate::controllers::history;
use crate::model::DeploymentRecord;
use crate::output::rollout as words;

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Wait for a Deployment's rollout to finish, printing kubectl's messages.
    Status(StatusArgs),
    /// List a Deployment's revisions (REVISION, COMMIT, CHANGE-CAUSE), or one in detail.
    History(HistoryArgs),
    /// Print the Git commands that bring a previous revision back; `--apply` also rolls back now.
    #[command(
        after_help = "Examples:\n  clusterctl rollout undo deploy/web\n  clusterctl rollout undo deploy/web --to-revision 2 --apply --yes"
    )]
    Undo(UndoArgs),
    /// Restart a Deployment's pods by a rolling update: sets the pod template's
    /// kubectl.kubernetes.io/restartedAt annotation in its manifest file (`--commit` commits it).
    #[command(
        after_help = "Examples:\n  clusterctl rollout restart deploy/web --commit && clusterctl apply --yes"
    )]
    Restart(RestartArgs),
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// `deploy/NAME`.
    pub target: String,
    /// Commit the edited manifest to the repository (`git add FILE && git commit`).
    #[arg(long)]
    pub commit: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// `deploy/NAME`.
    pub target: String,
    /// Show the details of this revision (its commit and pod template).
    #[arg(long, default_value_t = 0)]
    pub revision: i64,
    /// Read the hosts' state from a snapshot file instead of SSH.
    #[arg(long, value_name = "FILE")]
    pub observed: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// `deploy/NAME`.
    pub target: String,
    /// The revision to go back to (0: the previous one).
    #[arg(long, default_value_t = 0)]
    pub to_revision: i64,
    /// Roll the Deployment back on the hosts now (Git still holds the newer template until you commit).
    #[arg(long)]
    pub apply: bool,
    /// With --apply: do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// `deploy/NAME` (also `deployment/NAME`, `deployments/NAME`).
    pub target: String,
    /// Print the current status once and return, without waiting.
    #[arg(long)]
    pub no_watch: bool,
    /// Give up after this many seconds (0: wait until done or the progress deadline).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
}

/// The Deployment name of `deploy/NAME`.
fn deployment_name(target: &str) -> Result<&str, CliError> {
    match target.split_once('/') {
        Some(("deploy" | "deployment" | "deployments", name)) if !name.is_empty() => Ok(name),
        _ => Err(CliError::Usage(format!(
            "`{target}`: expected deploy/NAME (rollout supports Deployments)"
        ))),
    }
}

pub async fn run(
    g: &Global,
    args: &RolloutArgs,
    ui: &Ui,
    signals: &super::signals::Signals,
) -> Result<ExitCode, CliError> {
    match &args.command {
        RolloutCommand::Status(a) => status(g, a, ui).await,
        RolloutCommand::History(a) => history(g, a, ui).await,
        RolloutCommand::Undo(a) => undo(g, a, ui, signals).await,
        RolloutCommand::Restart(a) => restart(g, a, ui),
    }
}

/// Edits the Deployment's manifest file (the work tree's, where `create` writes) so its pod template
/// changes: apply then replaces every pod by the Deployment's strategy, as after `kubectl rollout restart`.
fn restart(g: &Global, args: &RestartArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let name = deployment_name(&args.target)?;
    let inv = pipeline::load_inventory(g)?;
    let apps = g.repo.join(&inv.cluster.apps_dir);
    let source = super::create::find(&apps, &g.repo, "Deployment", name, &g.namespace)?
        .ok_or_else(|| {
            CliError::Reported(format!(
                "deployments.apps \"{name}\" not found in {}",
                inv.cluster.apps_dir
            ))
        })?;
    let path = g.repo.join(&source.file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let at = format!("{:.0}", jiff::Timestamp::now());
    let edited = crate::manifest::restart::set_restarted_at(&text, name, &g.namespace, &at)
        .map_err(|e| {
            CliError::Reported(format!(
                "cannot restart deployment {name}: {}: {e}",
                source.file
            ))
        })?;
    // The edited file passes clusterctl's own validation before it is written.
    let check = crate::manifest::parse(&[crate::manifest::RawFile {
        path: source.file.clone(),
        bytes: edited.clone().into_bytes(),
    }]);
    pipeline::report_diagnostics(&check.diagnostics, false, ui)?;
    std::fs::write(&path, &edited)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    if args.commit {
        let id = super::create::commit(
            &g.repo,
            std::path::Path::new(&source.file),
            &format!("clusterctl rollout restart deployment {name}"),
        )
        .map_err(|e| anyhow::anyhow!("edited {}, but cannot commit it: {e}", path.display()))?;
        ui.out(&format!(
            "deployment.apps/{name} restarted ({}, commit {id:.7}; apply rolls it out)",
            source.file
        ));
    } else {
        ui.out(&format!(
            "deployment.apps/{name} restarted ({}; commit it to deploy)",
            source.file
        ));
    }
    Ok(ExitCode::Ok)
}

/// The Deployment's current ReplicaSet in `desired` and its history as the roster records it.
fn recorded(
    g: &Global,
    name: &str,
    desired: &pipeline::Desired,
    state: &crate::model::ObservedState,
) -> Result<(String, DeploymentRecord), CliError> {
    let current = desired
        .expanded
        .pod_sets
        .iter()
        .find(|s| {
            s.namespace == g.namespace && s.rollout.as_ref().is_some_and(|p| p.deployment == name)
        })
        .and_then(|s| s.owner.as_ref())
        .map(|o| o.name.clone())
        .ok_or_else(|| CliError::Reported(format!("deployments.apps \"{name}\" not found")))?;
    let rec = state
        .roster()
        .and_then(|r| r.deployments.get(&history::key(&g.namespace, name)))
        .cloned()
        .unwrap_or_default();
    Ok((current, rec))
}

async fn history(g: &Global, args: &HistoryArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let name = deployment_name(&args.target)?;
    let inv = pipeline::load_inventory(g)?;
    let desired = pipeline::load_desired(g, &inv, false, ui)?;
    let observed = pipeline::observe(&inv, args.observed.as_deref(), ui).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    let (_, rec) = recorded(g, name, &desired, &observed.state)?;
    if args.revision > 0 {
        let rev = rec
            .revisions
            .iter()
            .find(|r| r.revision == args.revision)
            .ok_or_else(|| {
                CliError::Reported(format!(
                    "unable to find the specified revision {}",
                    args.revision
                ))
            })?;
        ui.out(&crate::output::describe::describe_revision(
            name,
            rev.revision,
            &rev.replica_set,
            &rev.commit,
            &rev.file,
            &history::template_spec(rev),
        ));
        return Ok(ExitCode::Ok);
    }
    if rec.revisions.is_empty() {
        ui.out("No rollout history found.");
        return Ok(ExitCode::Ok);
    }
    ui.out(&words::history(name, &rec.revisions));
    Ok(ExitCode::Ok)
}

async fn undo(
    g: &Global,
    args: &UndoArgs,
    ui: &Ui,
    signals: &super::signals::Signals,
) -> Result<ExitCode, CliError> {
    let name = deployment_name(&args.target)?;
    let inv = pipeline::load_inventory(g)?;
    let desired = pipeline::load_desired(g, &inv, false, ui)?;
    let observed = pipeline::observe(&inv, None, ui).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    let (current, rec) = recorded(g, name, &desired, &observed.state)?;
    let back = history::target(&rec, &current, args.to_revision).map_err(CliError::Reported)?;
    let now = rec.revisions.iter().find(|r| r.replica_set == current);
    if back.replica_set == current {
        ui.out(&format!(
            "deployment.apps/{name} skipped rollback (current template already matches revision {})",
            back.revision
        ));
        return Ok(ExitCode::Ok);
    }
    ui.out(&words::undo_instructions(
        name,
        back,
        now,
        &desired.source.commit,
    ));
    if !args.apply {
        return Ok(ExitCode::Ok);
    }
    let mut pinned = pipeline::Desired {
        source: desired.source.clone(),
        expanded: desired.expanded.clone(),
    };
    history::pin(&mut pinned.expanded.pod_sets, &g.namespace, name, back);
    ui.warn(&format!(
        "rolling deployment {name} back to revision {} on the hosts now: Git disagrees until the change above \
         is committed, and the next `apply` or `reconcile` round rolls Git's template out again",
        back.revision
    ));
    let apply_args = super::apply::ApplyArgs {
        yes: args.yes,
        strict: false,
        allow_unreachable: false,
        no_wait: false,
        auto_rollback: false,
        max_destroy: None,
        plan: None,
        lock_wait: None,
    };
    let code = super::apply::run_desired(g, &apply_args, &inv, &pinned, ui, signals).await?;
    if code == ExitCode::Ok {
        ui.out(&format!("deployment.apps/{name} rolled back"));
    }
    Ok(code)
}

async fn status(g: &Global, args: &StatusArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let name = deployment_name(&args.target)?;
    let inv = pipeline::load_inventory(g)?;
    let desired = pipeline::load_desired(g, &inv, false, ui)?;
    let start = Instant::now();
    let mut last = String::new();
    let mut progress: Option<((i32, i32, i32), Instant)> = None;
    loop {
        let observed = pipeline::observe(&inv, None, ui).await?;
        let Some(r) = pipeline::rollouts(&inv, &desired, &observed.state)
            .into_iter()
            .find(|r| r.deployment == name && r.namespace == g.namespace)
        else {
            return Err(CliError::Reported(format!(
                "deployments.apps \"{name}\" not found"
            )));
        };
        let (done, msg) = words::status(&r);
        if msg != last {
            ui.out(&msg);
            last = msg;
        }
        if done || args.no_watch {
            return Ok(ExitCode::Ok);
        }
        let now = Instant::now();
        let p = progress.get_or_insert((r.progress_key(), now));
        if p.0 != r.progress_key() {
            *p = (r.progress_key(), now);
        }
        let deadline = Duration::from_secs(r.params.progress_deadline_seconds.max(0) as u64);
        if now.duration_since(p.1) > deadline {
            return Err(CliError::RolloutFailed(words::deadline_exceeded(name)));
        }
        if args.timeout > 0 && now.duration_since(start) > Duration::from_secs(args.timeout) {
            return Err(CliError::Reported(
                "timed out waiting for the condition".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
