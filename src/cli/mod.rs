//! Command-line interface (clap). Thin: resolve arguments, call the pipeline, hand results to `output`,
//! and print — this module is the one place that writes to stdout/stderr. Exit codes: 0 ok, 1 error,
//! 2 changes present (`plan --detailed-exitcode`).

mod apply;
mod describe;
mod get;
mod pipeline;
mod plan;
mod snapshot;
mod ui;
mod unlock;
mod validate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use ui::Ui;

/// Agentless GitOps cluster manager: Kubernetes manifests in Git, containers on docker hosts over SSH.
#[derive(Debug, Parser)]
#[command(
    name = "clusterctl",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
#[command(
    after_help = "Examples:\n  clusterctl validate\n  clusterctl plan\n  clusterctl apply --yes\n  clusterctl get pods -o wide"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Inventory of hosts.
    #[arg(
        long,
        global = true,
        default_value = "cluster.yaml",
        value_name = "FILE"
    )]
    pub cluster: PathBuf,
    /// Git repository holding the manifests.
    #[arg(long, global = true, default_value = ".", value_name = "PATH")]
    pub repo: PathBuf,
    /// Git ref whose commit is deployed (uncommitted edits are never deployed).
    #[arg(
        long = "ref",
        global = true,
        default_value = "HEAD",
        value_name = "REF"
    )]
    pub git_ref: String,
    /// Namespace to show.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,
    /// Show objects of all namespaces.
    #[arg(short = 'A', long = "all-namespaces", global = true)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Label selector, e.g. `run=my-nginx,tier in (web)`.
    #[arg(short = 'l', long, global = true)]
    pub selector: Option<String>,
    /// Never colour output (also: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Debug logs on stderr (-vv for trace).
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Wide,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change, and change nothing.
    #[command(
        after_help = "Examples:\n  clusterctl plan\n  clusterctl plan --detailed-exitcode\n  clusterctl plan -o json > plan.json\n  clusterctl snapshot -o json > state.json && clusterctl plan --observed state.json"
    )]
    Plan(plan::PlanArgs),
    /// Make the hosts match the manifests at --ref.
    #[command(after_help = "Examples:\n  clusterctl apply\n  clusterctl apply --yes --ref v1.2.0")]
    Apply(apply::ApplyArgs),
    /// List objects like kubectl get: pods, deployments, replicasets, nodes, services.
    #[command(
        after_help = "Examples:\n  clusterctl get pods -o wide\n  clusterctl get deploy\n  clusterctl get nodes -o wide\n  clusterctl get pods -l run=my-nginx -o yaml"
    )]
    Get(get::GetArgs),
    /// Show details of a node or a pod like kubectl describe.
    #[command(
        after_help = "Examples:\n  clusterctl describe node k8s-node1\n  clusterctl describe pod sc-nginx"
    )]
    Describe(describe::DescribeArgs),
    /// Check the manifests and the inventory; contacts no host.
    #[command(
        after_help = "Examples:\n  clusterctl validate\n  clusterctl validate --strict --ref main"
    )]
    Validate(validate::ValidateArgs),
    /// Print the observed state of every host (JSON), for `plan --observed`.
    #[command(after_help = "Examples:\n  clusterctl snapshot -o json > state.json")]
    Snapshot,
    /// Remove a stale cluster lock left by an interrupted apply.
    #[command(after_help = "Examples:\n  clusterctl unlock")]
    Unlock,
}

/// Errors that end a command, with the exit code they map to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Already reported in detail (e.g. diagnostics were printed); only the summary is left.
    #[error("{0}")]
    Reported(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    let ui = Ui::new(&cli.global);
    init_logging(cli.global.verbose, ui.stderr_tty && ui.color);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui.error(&format!("cannot start the async runtime: {e}"));
            return 1;
        }
    };
    let result = runtime.block_on(run(cli, &ui));
    match result {
        Ok(code) => code,
        Err(CliError::Reported(msg)) => {
            ui.error(&msg);
            1
        }
        Err(CliError::Other(e)) => {
            ui.error(&format!("{e:#}"));
            1
        }
    }
}

async fn run(cli: Cli, ui: &Ui) -> Result<i32, CliError> {
    let g = &cli.global;
    match cli.command {
        Command::Plan(args) => plan::run(g, &args, ui).await,
        Command::Apply(args) => apply::run(g, &args, ui).await,
        Command::Get(args) => get::run(g, &args, ui).await,
        Command::Describe(args) => describe::run(g, &args, ui).await,
        Command::Validate(args) => validate::run(g, &args, ui),
        Command::Snapshot => snapshot::run(g, ui).await,
        Command::Unlock => unlock::run(g, ui).await,
    }
}

fn init_logging(verbose: u8, ansi: bool) {
    let level = match verbose {
        0 => "warn",
        1 => "clusterctl=debug",
        _ => "clusterctl=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLUSTERCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}
