//! Command-line interface (clap). Thin: check arguments, call the pipeline, hand results to `output`,
//! and print — this module is the one place that writes to stdout/stderr. Every error carries a kind
//! ([`CliError`]) that maps to one documented exit code ([`exit::ExitCode`]).

mod apply;
mod children;
mod completion;
mod create;
mod day2;
mod describe;
pub mod drive;
mod events;
mod exec;
pub mod exit;
mod get;
mod history;
mod history_view;
mod lock;
mod lock_note;
mod logs;
mod pipeline;
mod plan;
mod port_forward;
mod reconcile;
mod rollout;
mod saved;
mod show;
mod signals;
mod snapshot;
mod sops_keys;
mod status;
mod test_hook;
mod top;
mod ui;
mod unlock;
mod validate;

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub use exit::ExitCode;
pub use ui::Ui;

fn root_after_help() -> String {
    format!(
        "Examples:\n  clusterctl validate\n  clusterctl plan\n  clusterctl apply --yes\n  clusterctl get pods -o wide\n\n{}",
        ExitCode::table().trim_end()
    )
}

/// Agentless GitOps cluster manager: Kubernetes manifests in Git, containers on docker hosts over SSH.
#[derive(Debug, Parser)]
#[command(
    name = "clusterctl",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
#[command(after_help = root_after_help())]
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
    /// Git repository holding the manifests: a local path, or a remote URL (ssh://, user@host:path,
    /// https://, file://) cloned into a per-user cache and fetched on every run (docs/git-sources.md).
    #[arg(long, global = true, default_value = ".", value_name = "PATH|URL")]
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
    /// Debug logs on stderr (-vv for trace); plan views list every detail line instead of folding repeats.
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// A commit without the apps directory means "no apps": remove every managed pod and Service
    /// (without it, that is an error, so a typo in appsDir never wipes a cluster).
    #[arg(long, global = true)]
    pub allow_empty: bool,
    /// The commit at --ref must be signed by a key of --allowed-signers or --gpg-keyring.
    #[arg(long, global = true)]
    pub require_signed: bool,
    /// Allowed SSH signing keys, in ssh-keygen's allowed_signers format (for --require-signed).
    #[arg(long, global = true, value_name = "FILE")]
    pub allowed_signers: Option<PathBuf>,
    /// A GPG keyring holding the allowed OpenPGP keys (for --require-signed).
    #[arg(long, global = true, value_name = "FILE")]
    pub gpg_keyring: Option<PathBuf>,
}

impl Global {
    /// How the Git source is read (`source::load`).
    pub fn source_options(&self) -> crate::source::Options {
        crate::source::Options {
            allow_empty: self.allow_empty,
            require_signed: self.require_signed,
            allowed_signers: self.allowed_signers.clone(),
            gpg_keyring: self.gpg_keyring.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Wide,
    Json,
    Yaml,
    /// A pull-request comment: summary table and collapsible per-host details (`plan`, `show`).
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change, and change nothing.
    #[command(
        after_help = "Examples:\n  clusterctl plan\n  clusterctl plan --detailed-exitcode\n  clusterctl plan -o json > plan.json\n  clusterctl plan --out plan.json -o markdown > plan.md\n  clusterctl snapshot -o json > state.json && clusterctl plan --observed state.json\n\nExit codes: see `clusterctl --help` (2 = changes, only with --detailed-exitcode; 3 = a host failed)."
    )]
    Plan(plan::PlanArgs),
    /// Make the hosts match the manifests at --ref.
    #[command(
        after_help = "Examples:\n  clusterctl apply\n  clusterctl apply --yes --ref v1.2.0\n  clusterctl apply --yes plan.json\n\nExit codes: see `clusterctl --help` (3 = a host failed, 5 = locked, 6 = saved plan stale or --max-destroy exceeded, 130/143 = stopped by a signal)."
    )]
    Apply(apply::ApplyArgs),
    /// List objects like kubectl get: pods, deployments, replicasets, daemonsets, jobs, nodes, services, configmaps, secrets (values never shown), events.
    #[command(
        after_help = "Examples:\n  clusterctl get pods -o wide\n  clusterctl get deploy\n  clusterctl get sts\n  clusterctl get pvc\n  clusterctl get nodes -o wide\n  clusterctl get pods -l run=my-nginx -o yaml"
    )]
    Get(get::GetArgs),
    /// Show details of a node, pod, service, DaemonSet, Job, ConfigMap or Secret (sizes only) like kubectl describe.
    #[command(
        after_help = "Examples:\n  clusterctl describe node k8s-node1\n  clusterctl describe pod sc-nginx"
    )]
    Describe(describe::DescribeArgs),
    /// Check the manifests and the inventory; contacts no host.
    #[command(
        after_help = "Examples:\n  clusterctl validate\n  clusterctl validate --strict --ref main"
    )]
    Validate(validate::ValidateArgs),
    /// Write a Deployment or Service manifest into the apps directory, as `kubectl create` would create it.
    #[command(
        after_help = "Examples:\n  clusterctl create deployment k8s-nginx --image=nginx -r 3 --commit\n  clusterctl create service nodeport k8s-nginx --tcp=8080:80\n  clusterctl create deployment web --image=nginx --dry-run=client -o yaml"
    )]
    Create(create::CreateArgs),
    /// Print a shell completion script (bash, zsh, fish, …), generated from the command definitions.
    #[command(
        after_help = "Examples:\n  clusterctl completion bash > /etc/bash_completion.d/clusterctl\n  clusterctl completion zsh > \"${fpath[1]}/_clusterctl\"\n  clusterctl completion fish > ~/.config/fish/completions/clusterctl.fish"
    )]
    Completion(completion::CompletionArgs),
    /// Print the man page (roff), generated from the command definitions; --out-dir writes one per command.
    #[command(
        after_help = "Examples:\n  clusterctl man | man -l -\n  clusterctl man --out-dir /usr/local/share/man/man1"
    )]
    Man(completion::ManArgs),
    /// Show a saved plan (`plan --out FILE`): human, `-o json` (the plan JSON) or `-o markdown`.
    #[command(
        after_help = "Examples:\n  clusterctl show plan.json\n  clusterctl show plan.json -o markdown > comment.md\n  clusterctl show plan.json -o json | jq .summary"
    )]
    Show(show::ShowArgs),
    /// Show every app's sync status (Git vs the hosts) and health, like Argo CD's app list.
    #[command(
        after_help = "Examples:\n  clusterctl status\n  clusterctl status --repo ssh://git@git.example.com/ops/apps.git --ref main\n  clusterctl status -A -o json\n  clusterctl status --exit-code   # 0 = all Synced and Healthy, 2 = an app is OutOfSync, 7 = one is not Healthy\n\nSYNC STATUS: OutOfSync when `clusterctl apply` would change the app (the Drift lines say what), else\nSynced. HEALTH: Healthy, Progressing, Degraded or Missing. DEPLOYED: the commits its containers were\ncreated from; TARGET: the commit at --ref. See docs/git-sources.md."
    )]
    Status(status::StatusArgs),
    /// Print the observed state of every host (JSON), for `plan --observed`.
    #[command(after_help = "Examples:\n  clusterctl snapshot -o json > state.json")]
    Snapshot,
    /// Watch a Deployment's rollout like kubectl rollout status.
    #[command(
        after_help = "Examples:\n  clusterctl rollout status deploy/my-nginx\n\nExit codes: see `clusterctl --help` (4 = the rollout exceeded its progress deadline)."
    )]
    Rollout(rollout::RolloutArgs),
    /// Deprecated: release by force every lease the lock hosts hold now (use `lock release --force --id`).
    #[command(
        after_help = "Examples:\n  clusterctl unlock\n\nPrefer `clusterctl lock status` and `clusterctl lock release --force --id ID`: a lease whose holder died\nexpires by itself after the TTL, and `apply --lock-wait DURATION` waits for it. See docs/locking.md."
    )]
    Unlock,
    /// Show or release the cluster lock (a lease held by a majority of the lock hosts).
    #[command(
        after_help = "Examples:\n  clusterctl lock status\n  clusterctl lock status -o json\n  clusterctl lock release --force --id 3f9c2a71d04e\n\nThe lock hosts are cluster.yaml `lock.hosts` (default: the first three hosts by name). Every forced release\nis written to the audit log on the lock hosts (`clusterctl history`). See docs/locking.md.\n\nExit codes: see `clusterctl --help` (1 = no lock host holds that id, 3 = a lock host was not reached)."
    )]
    Lock(lock::LockArgs),
    /// The audit log of the lock hosts: every apply that held the cluster lock and every forced release.
    #[command(
        after_help = "Examples:\n  clusterctl history\n  clusterctl history -o wide\n  clusterctl history -o json | jq '.[] | select(.result != \"applied\")'"
    )]
    History,
    /// Print the logs of a container in a pod, like kubectl logs.
    #[command(
        after_help = "Examples:\n  clusterctl logs sc-nginx\n  clusterctl logs -f --tail 20 my-nginx-5b56ccd65f-4bqsx -c my-nginx\n  clusterctl logs -l run=my-nginx --prefix\n\nCtrl-C ends -f with exit 130."
    )]
    Logs(logs::LogsArgs),
    /// Run a command in a container, like kubectl exec.
    #[command(
        after_help = "Examples:\n  clusterctl exec sc-nginx -- cat /www/index.html\n  clusterctl exec -it sc-nginx -- sh\n\nExit codes: the remote command's (\"command terminated with exit code N\" on stderr); 1, 3, 64 and 65 as in `clusterctl --help` when clusterctl itself fails."
    )]
    Exec(exec::ExecArgs),
    /// Forward local ports to a pod (or a Service's pod) through SSH, like kubectl port-forward.
    #[command(
        name = "port-forward",
        after_help = "Examples:\n  clusterctl port-forward svc/my-nginx 18080:8080\n  clusterctl port-forward pod/sc-nginx :80\n  clusterctl port-forward --address 0.0.0.0 pod/sc-nginx 8080:80\n\nNothing listens on the hosts: each connection is an SSH direct-tcpip channel. Ctrl-C ends it (exit 130)."
    )]
    PortForward(port_forward::PortForwardArgs),
    /// Show CPU and memory usage of nodes or pods, like kubectl top.
    #[command(
        after_help = "Examples:\n  clusterctl top nodes\n  clusterctl top pods -A\n  clusterctl top pods -l run=my-nginx"
    )]
    Top(top::TopArgs),
    /// Keep the hosts matching the manifests: plan and apply every --interval, without a prompt.
    #[command(
        after_help = "Examples:\n  clusterctl reconcile --ref main --interval 30s\n  clusterctl reconcile --log-format json --status-file /run/clusterctl.json --status-addr 127.0.0.1:9090\n  clusterctl reconcile --once\n\nEach round re-reads cluster.yaml and the commit at --ref, observes, plans and applies; it takes the cluster\nlock only to apply and skips the round when another apply holds it. GET /healthz: 200 while the last round\nended well (or one is in progress); GET /status: the last round as JSON. See docs/reconcile.md.\n\nExit codes: see `clusterctl --help` (130/143 = stopped by a signal, the normal end; with --once: 3 = a host\nfailed, 5 = locked, 65 = invalid input)."
    )]
    Reconcile(reconcile::ReconcileArgs),
}

/// Errors that end a command. The kind decides the exit code ([`CliError::exit_code`]); the text is printed
/// once as `Error: …` (details such as diagnostics were printed before).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A failure without a code of its own (exit 1), e.g. an object that is not found.
    #[error("{0}")]
    Reported(String),
    /// The command line asks for something the command cannot do; nothing was read or contacted.
    #[error("{0}")]
    Usage(String),
    /// Invalid manifests, inventory, Git source or snapshot.
    #[error("{0}")]
    Invalid(String),
    /// The cluster lock is held by someone else.
    #[error("{0}")]
    Locked(String),
    /// Some hosts were unreachable, refused or failed.
    #[error("{0}")]
    HostsFailed(String),
    /// A rollout made no progress within its progress deadline; the failing pods were reported.
    #[error("{0}")]
    RolloutFailed(String),
    /// A saved plan no longer matches the hosts (or asks more than a guard rail allows); nothing changed.
    #[error("{0}")]
    Refused(String),
    /// Stopped by a signal (SIGINT 2, SIGTERM 15); what was done was printed.
    #[error("{message}")]
    Cancelled { signo: i32, message: String },
    /// `exec`: the remote command exited non-zero; clusterctl exits with its code.
    #[error("command terminated with exit code {0}")]
    CommandExit(i32),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Reported(_) | CliError::Other(_) => ExitCode::Error,
            CliError::Usage(_) => ExitCode::Usage,
            CliError::Invalid(_) => ExitCode::InvalidInput,
            CliError::Locked(_) => ExitCode::Locked,
            CliError::HostsFailed(_) => ExitCode::HostsFailed,
            CliError::RolloutFailed(_) => ExitCode::RolloutFailed,
            CliError::Refused(_) => ExitCode::PlanRefused,
            CliError::Cancelled { signo, .. } => ExitCode::for_signal(*signo),
            CliError::CommandExit(_) => ExitCode::Error,
        }
    }
}

pub fn main() -> i32 {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    let output_given = matches!(
        matches
            .subcommand()
            .and_then(|(_, sub)| sub.value_source("output")),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    );
    let ui = Ui::new(&cli.global);
    init_logging(cli.global.verbose, ui.stderr_tty && ui.color);
    // Before anything is read or any host contacted.
    if let Err(e) = check_args(&cli, output_given) {
        ui.error(&e.to_string());
        return e.exit_code().code();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui.error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::Error.code();
        }
    };
    let result = runtime.block_on(async {
        let signals = signals::Signals::install(ui.clone())
            .map_err(|e| anyhow::anyhow!("cannot listen for signals: {e}"))?;
        run(cli, &ui, &signals).await
    });
    // A confirmation prompt may still block a thread on stdin: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code.code(),
        // kubectl's words, no `Error:`: the code is the remote command's, not ours.
        Err(CliError::CommandExit(code)) => {
            ui.info(&CliError::CommandExit(code).to_string());
            code
        }
        Err(e) => {
            match &e {
                CliError::Other(e) => ui.error(&format!("{e:#}")),
                e => ui.error(&e.to_string()),
            }
            e.exit_code().code()
        }
    }
}

/// clap's errors: help and version are successes; everything else is a usage error, never clap's 2.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::Ok.code(),
        _ => ExitCode::Usage.code(),
    }
}

/// The `-o` formats each command can honour (empty: the command takes no `-o`), and whether it takes `-l`.
fn accepts(command: &Command) -> (&'static str, &'static [Format], bool) {
    use Format::*;
    match command {
        Command::Plan(_) => ("plan", &[Table, Wide, Json, Yaml, Markdown], false),
        Command::Apply(_) => ("apply", &[Table, Json], false),
        Command::Get(_) => ("get", &[Table, Wide, Json, Yaml], true),
        Command::Describe(_) => ("describe", &[], true),
        Command::Validate(_) => ("validate", &[], false),
        Command::Show(_) => ("show", &[Table, Wide, Json, Markdown], false),
        Command::Create(_) => ("create", &[Yaml], false),
        Command::Completion(_) => ("completion", &[], false),
        Command::Man(_) => ("man", &[], false),
        Command::Snapshot => ("snapshot", &[Json], false),
        Command::Status(_) => ("status", &[Table, Json], false),
        Command::Unlock => ("unlock", &[], false),
        Command::Lock(_) => ("lock", &[Table, Json], false),
        Command::History => ("history", &[Table, Wide, Json], false),
        Command::Logs(_) => ("logs", &[], true),
        Command::Exec(_) => ("exec", &[], false),
        Command::PortForward(_) => ("port-forward", &[], false),
        Command::Top(_) => ("top", &[], true),
        Command::Rollout(_) => ("rollout", &[], false),
        Command::Reconcile(_) => ("reconcile", &[], false),
    }
}

/// Flags a command would otherwise ignore, and a selector that does not parse, are usage errors.
fn check_args(cli: &Cli, output_given: bool) -> Result<(), CliError> {
    let g = &cli.global;
    let (name, formats, selector) = accepts(&cli.command);
    if output_given && !formats.contains(&g.output) {
        let asked = g.output.to_possible_value().expect("no skipped values");
        return Err(CliError::Usage(if formats.is_empty() {
            format!(
                "`{name}` has no output formats; drop `-o {}`",
                asked.get_name()
            )
        } else {
            let valid: Vec<String> = formats
                .iter()
                .filter_map(|f| f.to_possible_value())
                .map(|v| v.get_name().to_string())
                .collect();
            format!(
                "`{name}` cannot print `-o {}`; valid: {}",
                asked.get_name(),
                valid.join(", ")
            )
        }));
    }
    if let Some(s) = &g.selector {
        if !selector {
            return Err(CliError::Usage(format!(
                "`{name}` does not take a label selector; drop `-l {s}` (selectors apply to get, describe, logs and top)"
            )));
        }
        crate::selector::Selector::parse(s).map_err(|e| CliError::Usage(e.to_string()))?;
    }
    if g.require_signed && g.allowed_signers.is_none() && g.gpg_keyring.is_none() {
        return Err(CliError::Usage(
            "--require-signed needs the allowed keys: --allowed-signers FILE (SSH) and/or --gpg-keyring FILE (GPG)".into(),
        ));
    }
    Ok(())
}

async fn run(cli: Cli, ui: &Ui, signals: &signals::Signals) -> Result<ExitCode, CliError> {
    let g = &cli.global;
    match cli.command {
        Command::Plan(args) => plan::run(g, &args, ui).await,
        Command::Apply(args) => apply::run(g, &args, ui, signals).await,
        Command::Get(args) => get::run(g, &args, ui).await,
        Command::Describe(args) => describe::run(g, &args, ui).await,
        Command::Validate(args) => validate::run(g, &args, ui),
        Command::Show(args) => show::run(g, &args, ui),
        Command::Create(args) => create::run(g, &args, ui),
        Command::Completion(args) => completion::completion(&args, ui),
        Command::Man(args) => completion::man(&args, ui),
        Command::Snapshot => snapshot::run(g, ui).await,
        Command::Status(args) => status::run(g, &args, ui).await,
        Command::Unlock => unlock::run(g, ui).await,
        Command::Lock(args) => lock::run(g, &args, ui).await,
        Command::History => history::run(g, ui).await,
        Command::Logs(args) => logs::run(g, &args, ui, signals).await,
        Command::Exec(args) => exec::run(g, &args, ui, signals).await,
        Command::PortForward(args) => port_forward::run(g, &args, ui, signals).await,
        Command::Top(args) => top::run(g, &args, ui).await,
        Command::Rollout(args) => rollout::run(g, &args, ui, signals).await,
        Command::Reconcile(args) => reconcile::run(g, &args, ui, signals).await,
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
