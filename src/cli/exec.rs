//! `clusterctl exec POD [-c C] [-i] [-t] -- CMD ARGS...`: the command is argv data (`runtime::day2` builds
//! `docker exec`, the transport quotes each element once), run over SSH with the caller's stdio; `-t` gives
//! a pseudo-terminal on the host (`ssh -tt`). The remote command's exit status becomes clusterctl's, with
//! kubectl's `command terminated with exit code N` on stderr.

use std::process::Stdio;

use clap::Args;

use super::day2;
use super::{CliError, ExitCode, Global, Ui, children, signals::Signals};
use crate::transport::stream::Mode;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The pod: NAME or pod/NAME.
    pub pod: String,
    /// Container name; default: the pod's default container (kubectl's rule).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Pass stdin to the container.
    #[arg(short = 'i', long = "stdin")]
    pub stdin: bool,
    /// Stdin is a TTY: a pseudo-terminal on the host.
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// The command and its arguments, after `--`, passed byte-exact.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub async fn run(
    g: &Global,
    args: &ExecArgs,
    ui: &Ui,
    signals: &Signals,
) -> Result<ExitCode, CliError> {
    let name = day2::pod_name(&args.pod)?;
    // kubectl's SetupTTY: -t without -i silently gets no TTY; with -i but no terminal it says so.
    let mut tty = args.tty && args.stdin;
    if tty && !ui.stdin_terminal {
        ui.info("Unable to use a TTY - input is not a terminal or the right kind of file");
        tty = false;
    }
    let hosts = day2::observe(g, ui).await?;
    let pod = hosts.pod(&g.namespace, name)?;
    let (transport, d2) = hosts.host_of(pod)?;
    let c = day2::pick_container(pod, args.container.as_deref(), ui)?;
    if !c.is_running() {
        return Err(CliError::Reported(format!(
            "cannot exec into container {} of pod {}: it is not running ({})",
            c.label(crate::model::labels::CONTAINER).unwrap_or_default(),
            pod.name,
            c.status
        )));
    }
    let cmd = d2.exec_cmd(c, &args.command, args.stdin, tty);
    let mode = match (tty, args.stdin) {
        (true, _) => Mode::Tty,
        (false, true) => Mode::Stdin,
        (false, false) => Mode::NoStdin,
    };
    let mut local = transport
        .stream_command(&cmd, mode)
        .map_err(|e| CliError::HostsFailed(e.to_string()))?;
    local
        .stdin(if args.stdin {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut helper = children::spawn(local)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot start ssh: {e}")))?;
    match day2::wait(&mut helper, signals).await? {
        0 => Ok(ExitCode::Ok),
        code => Err(CliError::CommandExit(code)),
    }
}
