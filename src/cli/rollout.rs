//! `clusterctl rollout status deploy/NAME`: kubectl's `rollout status` — watches the hosts (every
//! 500 ms) and prints kubectl's waiting messages until the Deployment is rolled out, exiting 4 when it
//! makes no progress for its `progressDeadlineSeconds` (or `--timeout` passes: exit 1). Reads only.

use std::time::Duration;

use clap::{Args, Subcommand};
use tokio::time::Instant;

use super::{CliError, ExitCode, Global, Ui, pipeline};
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
            "`{target}`: expected deploy/NAME (rollout status supports Deployments)"
        ))),
    }
}

pub async fn run(g: &Global, args: &RolloutArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    let RolloutCommand::Status(args) = &args.command;
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
