//! `clusterctl reconcile`: the controller manager of this world (docs/reconcile.md). Round after round —
//! one every `--interval`, from the start of the last — it re-reads the inventory and Git (the ref is
//! resolved anew each round, so it follows a branch), observes, plans, and applies without a prompt:
//! drift, crashed or removed containers, lost hosts. It takes the cluster lock only to apply and skips the
//! round (logging the holder) when another apply or reconcile holds it, so two reconcilers never fight.
//! Every action is one structured log line ([`log`]); the last round is in `--status-file` and on
//! `--status-addr` ([`status`]). A signal stops it cleanly: the step in flight finishes (apply's
//! `Stop`, `cli::signals::GRACE`), the lock is released, and it exits with 130/143.

mod log;
mod status;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;

use super::signals::{self, Signals};
use super::{CliError, ExitCode, Global, Ui, pipeline};
use crate::apply::{self, Event, lock};
use crate::controllers;
use crate::manifest;
use crate::transport::Transport;
use crate::yaml::Severity;

pub use log::LogFormat;
use log::{Level, Log};
use status::{CurrentRound, Outcome, RoundReport, Status};

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Time from the start of one round to the start of the next: `30s`, `5m`, `1h`.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = interval)]
    pub interval: u64,
    /// Run a single round and exit with its outcome (for CI and tests).
    #[arg(long)]
    pub once: bool,
    /// Log lines as `key=value` text or as one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Write the last round's status (JSON) to this file after every round.
    #[arg(long, value_name = "PATH")]
    pub status_file: Option<PathBuf>,
    /// Serve `GET /healthz` and `GET /status` on this address, e.g. `127.0.0.1:8080`.
    #[arg(long, value_name = "ADDR")]
    pub status_addr: Option<SocketAddr>,
    /// Allow a --status-addr that is not a loopback address (the endpoint has no authentication).
    #[arg(long)]
    pub status_public: bool,
    /// Treat manifest warnings (unknown fields) as errors.
    #[arg(long)]
    pub strict: bool,
}

fn interval(s: &str) -> Result<u64, String> {
    crate::inventory::parse_duration(s)
        .filter(|&d| d >= 1)
        .ok_or_else(|| format!("{s:?} is not a duration of at least 1s, such as 30s, 5m or 1h"))
}

/// How long a round may run before `/healthz` calls it overdue.
fn round_bound(interval: u64) -> u64 {
    interval + 300
}

/// Takes the cluster lock for one apply. The one place reconcile touches the lock.
async fn take_lock(
    inv: &crate::inventory::Inventory,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    commit: &str,
) -> Result<lock::Lock, lock::LockError> {
    let spec = lock::LockSpec::from_inventory(inv);
    let holder = lock::Holder::for_this_process(commit, spec.ttl);
    lock::acquire(&spec, transports, &holder, "reconcile").await
}

fn now() -> String {
    format!("{:.0}", jiff::Timestamp::now())
}

pub async fn run(
    g: &Global,
    args: &ReconcileArgs,
    ui: &Ui,
    signals: &Signals,
) -> Result<ExitCode, CliError> {
    if let Some(addr) = args.status_addr {
        if !addr.ip().is_loopback() && !args.status_public {
            return Err(CliError::Usage(format!(
                "--status-addr {addr} is not a loopback address and the status endpoint has no authentication; \
                 use 127.0.0.1:PORT (or add --status-public)"
            )));
        }
    }
    let log = Log {
        ui: ui.clone(),
        format: args.log_format,
    };
    // From here on a signal stops the loop gracefully instead of ending the process.
    let _shield = signals.shield();
    let status = Arc::new(Mutex::new(Status {
        pid: std::process::id(),
        git_ref: g.git_ref.clone(),
        interval_seconds: args.interval,
        current_round: None,
        last_round: None,
        last_success: None,
        next_round: None,
    }));
    let _server = match args.status_addr {
        Some(addr) => Some(
            status::Server::start(addr, status.clone(), round_bound(args.interval))
                .map_err(|e| CliError::Other(anyhow::anyhow!("cannot serve on {addr}: {e}")))?,
        ),
        None => None,
    };
    log.event(
        Level::Info,
        0,
        "",
        "started",
        &[
            ("interval", crate::inventory::format_duration(args.interval)),
            ("ref", g.git_ref.clone()),
            (
                "statusAddr",
                args.status_addr.map(|a| a.to_string()).unwrap_or_default(),
            ),
        ],
    );
    let mut round_no = 0u64;
    loop {
        round_no += 1;
        let started_at = tokio::time::Instant::now();
        let started = now();
        {
            let mut s = status.lock().expect("status lock");
            s.current_round = Some(CurrentRound {
                round: round_no,
                started: started.clone(),
            });
            s.next_round = None;
        }
        let report = round(g, args, ui, signals, &log, round_no, started).await;
        let next = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(
                args.interval.saturating_sub(started_at.elapsed().as_secs()) as i64,
            ))
            .map(|t| format!("{t:.0}"))
            .ok();
        log.event(
            if report.outcome.ok() {
                Level::Info
            } else {
                Level::Warn
            },
            round_no,
            report.commit.as_deref().unwrap_or(""),
            "round",
            &[
                ("outcome", report.outcome.name().to_string()),
                ("applied", report.changes_applied.to_string()),
                ("failed", report.changes_failed.to_string()),
                ("unreachable", report.unreachable.join(",")),
            ],
        );
        {
            let mut s = status.lock().expect("status lock");
            s.current_round = None;
            if report.outcome.ok() {
                s.last_success = Some(report.finished.clone());
            }
            s.next_round = if args.once || report.outcome == Outcome::Stopped {
                None
            } else {
                next
            };
            s.last_round = Some(report.clone());
            if let Some(path) = &args.status_file {
                if let Err(e) = status::write_file(path, &s) {
                    log.event(
                        Level::Error,
                        round_no,
                        "",
                        "status-file",
                        &[
                            ("path", path.display().to_string()),
                            ("message", e.to_string()),
                        ],
                    );
                }
            }
        }
        if let Some(signo) = signals.received() {
            log.event(
                Level::Info,
                round_no,
                "",
                "stopped",
                &[(
                    "message",
                    format!(
                        "stopped by {}; the cluster lock is not held",
                        signals::name(signo)
                    ),
                )],
            );
            return Ok(ExitCode::for_signal(signo));
        }
        if args.once {
            return Ok(match report.outcome {
                Outcome::InSync | Outcome::Applied => ExitCode::Ok,
                Outcome::Locked => ExitCode::Locked,
                Outcome::Failed if report.errors.iter().any(|e| e.starts_with("invalid")) => {
                    ExitCode::InvalidInput
                }
                Outcome::Failed => ExitCode::HostsFailed,
                Outcome::Stopped => ExitCode::Terminated,
            });
        }
        let wait = Duration::from_secs(args.interval).saturating_sub(started_at.elapsed());
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = signals.stop().wait() => {}
        }
        if signals.stop().requested() {
            let signo = signals.received().unwrap_or(15);
            log.event(
                Level::Info,
                round_no,
                "",
                "stopped",
                &[(
                    "message",
                    format!(
                        "stopped by {} between rounds; the cluster lock is not held",
                        signals::name(signo)
                    ),
                )],
            );
            return Ok(ExitCode::for_signal(signo));
        }
    }
}

/// What a round has found so far; finished into a [`RoundReport`].
struct Round<'a> {
    log: &'a Log,
    report: RoundReport,
}

impl Round<'_> {
    fn commit(&self) -> &str {
        self.report.commit.as_deref().unwrap_or("")
    }
    fn event(&self, level: Level, event: &str, fields: &[(&str, String)]) {
        self.log
            .event(level, self.report.round, self.commit(), event, fields);
    }
    fn fail(mut self, event: &str, message: String) -> RoundReport {
        self.event(Level::Error, event, &[("message", message.clone())]);
        self.report.errors.push(format!("{event}: {message}"));
        self.report.outcome = Outcome::Failed;
        self.done()
    }
    fn end(mut self, outcome: Outcome) -> RoundReport {
        self.report.outcome = outcome;
        self.done()
    }
    fn done(mut self) -> RoundReport {
        self.report.finished = now();
        self.report
    }
}

/// The manifests at the ref, validated; diagnostics become log lines (no host is touched when any is an
/// error).
fn desired(
    g: &Global,
    inv: &crate::inventory::Inventory,
    strict: bool,
    r: &Round<'_>,
) -> Result<pipeline::Desired, String> {
    let source = crate::source::load(
        &g.repo,
        &g.git_ref,
        &inv.cluster.apps_dir,
        &g.source_options(),
    )
    .map_err(|e| e.to_string())?;
    let mut parsed = manifest::parse_with(
        &source.files,
        &manifest::Options {
            node_port_range: inv.cluster.node_port_range,
            service_cidr: inv.cluster.service_cidr.clone(),
            sops: super::sops_keys::load(),
        },
    );
    parsed.diagnostics.extend(
        source
            .skipped
            .iter()
            .map(crate::source::Skipped::diagnostic),
    );
    parsed.diagnostics.sort_by(|a, b| a.source.cmp(&b.source));
    let mut errors = 0;
    for d in &parsed.diagnostics {
        let fatal = d.severity == Severity::Error || strict;
        errors += usize::from(fatal);
        r.event(
            if fatal { Level::Error } else { Level::Warn },
            "manifest",
            &[("message", d.to_string())],
        );
    }
    if errors > 0 {
        return Err(format!(
            "{errors} problem(s) in the manifests at commit {}; no host was contacted",
            source.short
        ));
    }
    let nodes: Vec<String> = inv.hosts.iter().map(|h| h.name.clone()).collect();
    let mut expanded = controllers::expand_on(&parsed.manifests, &nodes);
    pipeline::add_system_pods(inv, &mut expanded);
    Ok(pipeline::Desired { source, expanded })
}

async fn round(
    g: &Global,
    args: &ReconcileArgs,
    ui: &Ui,
    signals: &Signals,
    log: &Log,
    number: u64,
    started: String,
) -> RoundReport {
    let mut r = Round {
        log,
        report: RoundReport {
            round: number,
            commit: None,
            started,
            finished: String::new(),
            outcome: Outcome::InSync,
            changes_applied: 0,
            changes_failed: 0,
            errors: vec![],
            unreachable: vec![],
            lost: vec![],
            lock_holder: None,
        },
    };
    let stop = signals.stop();
    let inv = match pipeline::load_inventory(g) {
        Ok(i) => i,
        Err(e) => return r.fail("invalid", e.to_string()),
    };
    let desired = match desired(g, &inv, args.strict, &r) {
        Ok(d) => d,
        Err(e) => return r.fail("invalid", e),
    };
    r.report.commit = Some(desired.source.short.clone());
    let observed = tokio::select! {
        o = pipeline::observe(&inv, None, ui) => o,
        () = stop.wait() => return r.end(Outcome::Stopped),
    };
    let observed = match observed {
        Ok(o) => o,
        Err(e) => return r.fail("observe", e.to_string()),
    };
    // A Job whose template changed is refused as apply refuses it (its template is immutable).
    if let Err(e) = pipeline::check_jobs(&desired, &observed.state, ui) {
        return r.fail("invalid", e.to_string());
    }
    let loss = pipeline::node_loss(&inv, &observed.state);
    let (first, _) = pipeline::make_plan(&inv, &desired, &observed.state);
    let jobs_moved =
        crate::controllers::job::records_changed(&desired.expanded.jobs, &observed.state);
    if first.changes.is_empty() && !loss.changed && !jobs_moved {
        note_hosts(&mut r, &observed.state, &loss);
        return r.end(Outcome::InSync);
    }
    let held = match take_lock(&inv, &observed.transports, &desired.source.short).await {
        Ok(l) => l,
        Err(lock::LockError::Held { host, holder, .. }) => {
            r.event(
                Level::Warn,
                "lock-held",
                &[
                    ("host", host),
                    ("holder", holder.clone()),
                    (
                        "message",
                        "another apply or reconcile holds the cluster lock: round skipped".into(),
                    ),
                ],
            );
            r.report.lock_holder = Some(holder);
            note_hosts(&mut r, &observed.state, &loss);
            return r.end(Outcome::Locked);
        }
        Err(e) => return r.fail("lock", e.to_string()),
    };
    // Under the lock, read the hosts again: another apply may have changed them since.
    let observed = tokio::select! {
        o = pipeline::observe(&inv, None, ui) => o,
        () = stop.wait() => {
            held.release().await;
            return r.end(Outcome::Stopped);
        }
    };
    let observed = match observed {
        Ok(o) => o,
        Err(e) => {
            held.release().await;
            return r.fail("observe", e.to_string());
        }
    };
    let loss = pipeline::node_loss(&inv, &observed.state);
    note_hosts(&mut r, &observed.state, &loss);
    let (plan, binding) = pipeline::make_plan(&inv, &desired, &observed.state);
    // What each running change is, by (host, index), to word its line when it finishes.
    let started: Mutex<BTreeMap<(String, usize), String>> = Mutex::new(BTreeMap::new());
    let reasons: BTreeMap<(String, String, String), String> = plan
        .changes
        .iter()
        .map(|c| {
            (
                (
                    c.node.clone(),
                    apply::subject(c),
                    apply::verb(c.action).to_string(),
                ),
                crate::output::plan::reason(&c.reason),
            )
        })
        .collect();
    let on_event = |e: Event| match &e {
        Event::ChangeStarted {
            node,
            index,
            action,
            pod,
        } => {
            started.lock().expect("events").insert(
                (node.clone(), *index),
                format!("{}|{pod}", apply::verb(*action)),
            );
        }
        Event::ChangeFinished { node, index, ok } => {
            let Some(what) = started
                .lock()
                .expect("events")
                .remove(&(node.clone(), *index))
            else {
                return;
            };
            let (verb, subject) = what.split_once('|').unwrap_or(("", ""));
            let why = reasons
                .get(&(node.clone(), subject.to_string(), verb.to_string()))
                .cloned()
                .unwrap_or_default();
            r.event(
                if *ok { Level::Info } else { Level::Error },
                verb,
                &[
                    ("host", node.clone()),
                    ("change", subject.to_string()),
                    ("result", if *ok { "ok" } else { "failed" }.to_string()),
                    ("reason", why),
                ],
            );
        }
        _ => {}
    };
    let leased = held.watch(stop, super::signals::GRACE);
    let report = apply::execute_until(&plan, &observed.transports, &on_event, &leased).await;
    let lease_lost = held.lost();
    let stopped = signals.received().is_some();
    if !stopped && lease_lost.is_none() {
        let roster = pipeline::roster_after(&desired, &observed.state, &plan, &binding, &loss);
        for (host, why) in apply::write_roster(&roster, &observed.transports).await {
            r.event(
                Level::Warn,
                "roster",
                &[
                    ("host", host),
                    ("message", format!("could not write the roster: {why}")),
                ],
            );
        }
    }
    let result = super::apply::audit_result(&report, signals.received(), lease_lost.as_deref());
    held.finish(&result).await;
    for h in &report.hosts {
        r.report.changes_applied += h.added + h.changed + h.destroyed + h.network;
        r.report.changes_failed += h.failed;
        for e in &h.errors {
            r.event(
                Level::Error,
                "error",
                &[("host", h.node.clone()), ("message", e.clone())],
            );
            r.report.errors.push(format!("{}: {e}", h.node));
        }
        for n in h.not_started.iter().chain(&h.interrupted) {
            r.event(
                Level::Warn,
                "not-done",
                &[("host", h.node.clone()), ("change", n.clone())],
            );
        }
    }
    if stopped {
        return r.end(Outcome::Stopped);
    }
    if let Some(why) = lease_lost {
        return r.fail("lock", why);
    }
    if r.report.changes_failed > 0 {
        r.report.outcome = Outcome::Failed;
        return r.done();
    }
    r.end(Outcome::Applied)
}

/// Logs the hosts that could not be observed (with since when, and whether they are lost) and records them.
fn note_hosts(
    r: &mut Round<'_>,
    state: &crate::model::ObservedState,
    loss: &crate::plan::NodeLoss,
) {
    for (host, why) in pipeline::unreached(state) {
        let record = loss.hosts.get(&host).cloned().unwrap_or_default();
        let lost = loss.lost(&host);
        r.event(
            Level::Warn,
            if lost.is_some() {
                "node-lost"
            } else {
                "unreachable"
            },
            &[
                ("host", host.clone()),
                ("since", record.unreachable_since.unwrap_or_default()),
                ("grace", crate::inventory::format_duration(loss.grace_secs)),
                ("message", why),
            ],
        );
        if lost.is_some() {
            r.report.lost.push(host.clone());
        }
        r.report.unreachable.push(host);
    }
}
