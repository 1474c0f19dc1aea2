//! `clusterctl logs`: kubectl's flags and messages over the host's runtime (`runtime::day2`), streamed over
//! SSH (`transport::stream`). One pod streams straight to stdout; `--prefix` and `-l` read line by line and
//! prefix `[pod/NAME/CONTAINER] `. `-f` follows until the containers stop or a signal (exit 130/143, the ssh
//! helpers terminated, the remote `docker logs` ended by the watchdog).
//!
//! `--previous` on docker: docker restarts a container in place, so its log holds every instance; the
//! previous instances are the lines before the current instance's start (all earlier instances, not only
//! the last one). A container that never restarted has none, as kubectl says.

use std::process::Stdio;

use clap::Args;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::day2::{self, Hosts};
use super::{CliError, ExitCode, Global, Ui, children, signals::Signals};
use crate::runtime::day2::{LogOptions, Previous};
use crate::selector::Selector;
use crate::transport::stream::Mode;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The pod: NAME or pod/NAME. Omit it with -l.
    pub pod: Option<String>,
    /// Container name; default: the pod's default container (kubectl's rule).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Stream new lines until the container stops or Ctrl-C.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines of recent log to show; -1 = all (10 with -l).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Only lines newer than a relative duration like 5s, 2m or 3h.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// The previous instance of a restarted container (docker: the lines before its current start).
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Prefix each line with its RFC 3339 timestamp.
    #[arg(long)]
    pub timestamps: bool,
    /// Prefix each line with `[pod/NAME/CONTAINER]`.
    #[arg(long)]
    pub prefix: bool,
    /// How many logs -f -l may follow at once.
    #[arg(long, default_value_t = 5)]
    pub max_log_requests: usize,
}

/// Go's `time.ParseDuration` (`1h30m`, `2.5s`, `300ms`), in seconds rounded up as kubectl does for `--since`.
pub fn parse_since(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "invalid argument \"{text}\" for \"--since\" flag: time: invalid duration \"{text}\""
        )
    };
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!("invalid argument \"{text}\" for \"--since\" flag: time: missing unit in duration \"{text}\"")
            })?;
        let (num, tail) = rest.split_at(num_end);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        nanos += n * mult;
        rest = next;
    }
    Ok((nanos / 1e9).ceil() as u64)
}

/// Argument rules kubectl applies before contacting anything.
fn check(args: &LogsArgs, g: &Global) -> Result<(Option<u64>, Option<u64>), CliError> {
    match (&args.pod, &g.selector) {
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "only a selector (-l) or a POD name is allowed".into(),
            ));
        }
        (None, None) => {
            return Err(CliError::Usage(
                "expected 'logs [-f] [-p] (POD | pod/NAME) [-c CONTAINER]'.\nPOD or pod/NAME is a required argument for the logs command".into(),
            ));
        }
        _ => {}
    }
    if let Some(p) = &args.pod {
        day2::pod_name(p)?;
    }
    let since = match &args.since {
        Some(s) => {
            let secs = parse_since(s).map_err(CliError::Usage)?;
            if secs == 0 {
                return Err(CliError::Usage("--since must be greater than 0".into()));
            }
            Some(secs)
        }
        None => None,
    };
    let tail = match args.tail {
        n if n < -1 => {
            return Err(CliError::Usage(format!(
                "--tail must be -1 (all lines) or a number of lines, not {n}"
            )));
        }
        -1 if g.selector.is_some() => Some(10),
        -1 => None,
        n => Some(n as u64),
    };
    Ok((tail, since))
}

/// One log to show.
struct Stream {
    prefix: String,
    cmd: std::process::Command,
}

pub async fn run(
    g: &Global,
    args: &LogsArgs,
    ui: &Ui,
    signals: &Signals,
) -> Result<ExitCode, CliError> {
    let (tail, since_secs) = check(args, g)?;
    let hosts = day2::observe(g, ui).await?;
    let pods: Vec<&crate::model::ObservedPod> = match (&args.pod, &g.selector) {
        (Some(p), _) => vec![hosts.pod(&g.namespace, day2::pod_name(p)?)?],
        (None, Some(s)) => {
            let sel = Selector::parse(s).map_err(|e| CliError::Usage(e.to_string()))?;
            selected(&hosts, g, &sel)
        }
        (None, None) => unreachable!("checked"),
    };
    if pods.is_empty() {
        ui.info(&crate::output::Scope::Namespace(g.namespace.clone()).empty_message());
        return Ok(ExitCode::Ok);
    }
    if args.follow && pods.len() > args.max_log_requests {
        return Err(CliError::Reported(format!(
            "you are attempting to follow {} log streams, but maximum allowed concurrency is {}, use --max-log-requests to increase the limit",
            pods.len(),
            args.max_log_requests
        )));
    }
    let mut streams = Vec::new();
    for pod in &pods {
        let (transport, d2) = hosts.host_of(pod)?;
        let c = day2::pick_container(pod, args.container.as_deref(), ui)?;
        let until = if args.previous {
            match d2.previous(c) {
                Previous::Until(t) => Some(t),
                Previous::None => {
                    return Err(CliError::Reported(format!(
                        "previous terminated container \"{}\" in pod \"{}\" not found",
                        c.label(crate::model::labels::CONTAINER).unwrap_or_default(),
                        pod.name
                    )));
                }
            }
        } else {
            None
        };
        let opts = LogOptions {
            follow: args.follow,
            tail,
            since_secs,
            until,
            timestamps: args.timestamps,
        };
        let cmd = transport
            .stream_command(&d2.logs_cmd(c, &opts), Mode::Follow)
            .map_err(|e| CliError::HostsFailed(e.to_string()))?;
        streams.push(Stream {
            prefix: format!(
                "[pod/{}/{}] ",
                pod.name,
                c.label(crate::model::labels::CONTAINER).unwrap_or_default()
            ),
            cmd,
        });
    }
    let prefixed = args.prefix;
    if !prefixed && streams.len() == 1 {
        let s = streams.pop().expect("one");
        return finish(vec![stream_raw(s.cmd, signals).await?]);
    }
    if args.follow {
        // Concurrently, lines interleaved as they come.
        let jobs = streams
            .into_iter()
            .map(|s| stream_lines(s, prefixed, ui, signals));
        let codes = futures::future::try_join_all(jobs).await?;
        return finish(codes);
    }
    let mut codes = Vec::new();
    for s in streams {
        codes.push(stream_lines(s, prefixed, ui, signals).await?);
    }
    finish(codes)
}

fn selected<'a>(
    hosts: &'a Hosts,
    g: &Global,
    sel: &Selector,
) -> Vec<&'a crate::model::ObservedPod> {
    hosts
        .pods
        .iter()
        .filter(|p| g.all_namespaces || p.namespace == g.namespace)
        .filter(|p| {
            let labels = p
                .manifest
                .as_ref()
                .and_then(|m| m.metadata.labels.clone())
                .unwrap_or_default();
            sel.matches(&labels)
        })
        .collect()
}

fn finish(codes: Vec<i32>) -> Result<ExitCode, CliError> {
    match codes.iter().find(|c| **c != 0) {
        None => Ok(ExitCode::Ok),
        Some(c) => Err(CliError::HostsFailed(format!(
            "reading a log failed on the host (exit {c}); its message is above"
        ))),
    }
}

fn keep_stdin(cmd: &mut std::process::Command) {
    // The watchdog ends the remote command when this pipe closes: we hold it until the end.
    cmd.stdin(Stdio::piped());
}

async fn stream_raw(mut cmd: std::process::Command, signals: &Signals) -> Result<i32, CliError> {
    keep_stdin(&mut cmd);
    cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    let mut helper = children::spawn(cmd)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot start ssh: {e}")))?;
    day2::wait(&mut helper, signals).await
}

async fn stream_lines(
    s: Stream,
    prefixed: bool,
    ui: &Ui,
    signals: &Signals,
) -> Result<i32, CliError> {
    let mut cmd = s.cmd;
    keep_stdin(&mut cmd);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut helper = children::spawn(cmd)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot start ssh: {e}")))?;
    if let Some(out) = helper.child.stdout.take() {
        let mut reader = BufReader::new(out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    if prefixed {
                        ui.out(&format!("{}{text}", s.prefix));
                    } else {
                        ui.out(text);
                    }
                }
            }
        }
    }
    day2::wait(&mut helper, signals).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_durations_like_go() {
        assert_eq!(parse_since("10s"), Ok(10));
        assert_eq!(parse_since("1h30m"), Ok(5400));
        assert_eq!(parse_since("1.5s"), Ok(2));
        assert_eq!(parse_since("300ms"), Ok(1));
        assert!(parse_since("10").unwrap_err().contains("missing unit"));
        assert!(parse_since("5d").unwrap_err().contains("invalid duration"));
        assert!(parse_since("").is_err());
    }
}
