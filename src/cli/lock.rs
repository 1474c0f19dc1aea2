//! `clusterctl lock status` and `clusterctl lock release --force --id ID`, and the one way the commands that
//! apply take the cluster lock ([`take`]: with `--lock-wait`, queue with back-off until the lease is free).
//! The lease itself is `apply::lock` (docs/locking.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::signals::Signals;
use super::{CliError, ExitCode, Format, Global, Ui, pipeline};
use crate::apply::lock::{self, LockSpec, Released};
use crate::inventory::Inventory;
use crate::output::tabwriter::TABLE;
use crate::transport::Transport;

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(subcommand)]
    pub command: LockCommand,
}

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Who holds the cluster lock, its lock id and expiry, on each lock host.
    Status,
    /// Remove a lease by its id (a holder known to be gone); refused for any other id. Audited.
    Release(ReleaseArgs),
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Required: releasing someone else's lease is never a default.
    #[arg(long)]
    pub force: bool,
    /// The lock id to release, as `lock status` and the blocked apply print it.
    #[arg(long, value_name = "ID")]
    pub id: String,
}

/// `--lock-wait 90s`: a duration as cluster.yaml writes them, at least 1s.
pub fn parse_wait(s: &str) -> Result<Duration, String> {
    crate::inventory::parse_duration(s)
        .filter(|d| *d >= 1)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is not a duration of at least 1s, such as 30s, 5m or 1h"))
}

/// The exit-code kind of a lock that was not taken: held by another (5) or no majority reached (3).
pub fn lock_error(e: lock::LockError) -> CliError {
    match e {
        lock::LockError::Held { .. } => CliError::Locked(e.to_string()),
        lock::LockError::NoQuorum { .. } | lock::LockError::Failed { .. } => {
            CliError::HostsFailed(e.to_string())
        }
    }
}

/// Takes the cluster lock for this process applying `commit`. Without `wait` it fails at once; with it,
/// it retries with back-off (0.5 s doubling up to 5 s) until the deadline, saying once what it waits for.
/// A signal while waiting ends it (nothing was changed).
pub async fn take(
    inv: &Inventory,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    commit: &str,
    wait: Option<Duration>,
    ui: &Ui,
    signals: &Signals,
) -> Result<lock::Lock, CliError> {
    let spec = LockSpec::from_inventory(inv);
    let holder = lock::Holder::for_this_process(commit, spec.ttl);
    let started = tokio::time::Instant::now();
    let deadline = wait.map(|w| started + w);
    let mut pause = Duration::from_millis(500);
    let mut said = false;
    loop {
        match lock::acquire(&spec, transports, &holder, "apply").await {
            Ok(l) => {
                for (host, old) in l.took_over() {
                    ui.warn(&format!(
                        "{host}: took over the expired cluster lock {old} (its holder stopped renewing it)"
                    ));
                }
                if said {
                    ui.info(&format!(
                        "took the cluster lock {} after waiting {} s",
                        l.id(),
                        started.elapsed().as_secs()
                    ));
                }
                return Ok(l);
            }
            Err(e @ lock::LockError::Failed { .. }) => return Err(lock_error(e)),
            Err(e) => {
                let now = tokio::time::Instant::now();
                let Some(deadline) = deadline.filter(|d| now < *d) else {
                    if said {
                        return Err(lock_error(e).with_prefix(&format!(
                            "gave up waiting for the cluster lock after {} s: ",
                            started.elapsed().as_secs()
                        )));
                    }
                    return Err(lock_error(e));
                };
                if !said {
                    let first = e.to_string();
                    ui.info(&format!(
                        "waiting for the cluster lock (up to {} s): {}",
                        wait.unwrap_or_default().as_secs(),
                        first.lines().next().unwrap_or("")
                    ));
                    said = true;
                }
                let nap = pause.min(deadline - now);
                tokio::select! {
                    () = tokio::time::sleep(nap) => {}
                    () = signals.stop().wait() => {
                        let signo = signals.received().unwrap_or(15);
                        return Err(super::apply::cancelled(signo, "waiting for the lock, before any change"));
                    }
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Releases `held` recording `result`, and warns for each lock host the release did not reach: the lease
/// stays there until it runs out (a minority of the lock hosts cannot block anyone; a majority blocks
/// applies for at most the TTL, or until `lock release --force --id`).
pub async fn finish_and_warn(held: lock::Lock, result: &str, ui: &Ui) {
    let id = held.id().to_string();
    let ttl = held.ttl().as_secs();
    for (host, why) in held.finish_reporting(result).await {
        ui.warn(&format!(
            "{host}: the cluster lock {id} could not be released there ({why}); its lease there runs out by itself within {ttl} s, or run `clusterctl lock release --force --id {id}` once the host answers"
        ));
    }
}

impl CliError {
    fn with_prefix(self, prefix: &str) -> CliError {
        match self {
            CliError::Locked(m) => CliError::Locked(format!("{prefix}{m}")),
            CliError::HostsFailed(m) => CliError::HostsFailed(format!("{prefix}{m}")),
            other => other,
        }
    }
}

/// The lock hosts alone, for the lock commands: they contact no other host.
fn lock_inventory(inv: &Inventory) -> Inventory {
    let hosts = inv.lock_hosts();
    let mut only = inv.clone();
    only.hosts.retain(|h| hosts.contains(&h.name));
    only
}

/// Connects to the lock hosts (only them).
pub async fn connect(
    g: &Global,
    ui: &Ui,
) -> Result<(Inventory, BTreeMap<String, Arc<dyn Transport>>), CliError> {
    let inv = pipeline::load_inventory(g)?;
    let observed = pipeline::observe(&lock_inventory(&inv), None, ui).await?;
    Ok((inv, observed.transports))
}

pub async fn run(g: &Global, args: &LockArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    match &args.command {
        LockCommand::Status => status(g, ui).await,
        LockCommand::Release(r) => release(g, r, ui).await,
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusRow {
    host: String,
    reached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock_id: Option<String>,
    /// Milliseconds left by the host's clock; absent for a record without a lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    holder: Option<lock::Holder>,
}

async fn status(g: &Global, ui: &Ui) -> Result<ExitCode, CliError> {
    let (inv, transports) = connect(g, ui).await?;
    let spec = LockSpec::from_inventory(&inv);
    let leases = lock::status(&spec, &transports).await;
    let rows: Vec<StatusRow> = leases
        .iter()
        .map(|l| match &l.answer {
            Err(e) => StatusRow {
                host: l.host.clone(),
                reached: false,
                error: Some(e.clone()),
                held: false,
                lock_id: None,
                expires_in_ms: None,
                holder: None,
            },
            Ok(a) => StatusRow {
                host: l.host.clone(),
                reached: true,
                error: None,
                held: a.live(),
                lock_id: a.id().map(str::to_string),
                expires_in_ms: a.remaining_ms(),
                holder: l.holder(),
            },
        })
        .collect();
    if g.output == Format::Json {
        ui.out(&serde_json::to_string_pretty(&rows).map_err(anyhow::Error::from)?);
    } else {
        ui.out(render_status(&rows, &spec).trim_end());
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.reached)
        .map(|r| r.host.clone())
        .collect();
    if !failed.is_empty() {
        return Err(CliError::HostsFailed(format!(
            "the lock could not be read on {}",
            failed.join(", ")
        )));
    }
    Ok(ExitCode::Ok)
}

fn render_status(rows: &[StatusRow], spec: &LockSpec) -> String {
    let mut text = String::from("LOCK HOST\tSTATE\tLOCK ID\tEXPIRES\tHOLDER\tCOMMIT\tSTARTED\n");
    for r in rows {
        let (state, expires) = match (&r.error, r.expires_in_ms, &r.lock_id) {
            (Some(_), _, _) => ("Unknown", "<unknown>".to_string()),
            (None, _, None) => ("Free", "<none>".to_string()),
            (None, Some(ms), Some(_)) if ms > 0 => ("Held", format!("in {}s", (ms + 999) / 1000)),
            (None, Some(ms), Some(_)) => ("Expired", format!("{}s ago", -ms / 1000)),
            (None, None, Some(_)) => ("Held", "never".to_string()),
        };
        let h = r.holder.as_ref();
        text.push_str(&format!(
            "{}\t{state}\t{}\t{expires}\t{}\t{}\t{}\n",
            r.host,
            r.lock_id.as_deref().unwrap_or("<none>"),
            h.map(|h| h.who()).unwrap_or_else(|| "<none>".into()),
            h.map(|h| h.commit.as_str()).unwrap_or("<none>"),
            h.map(|h| h.started.as_str()).unwrap_or("<none>"),
        ));
    }
    let held = rows.iter().filter(|r| r.held).count();
    format!(
        "{}\n{held} of {} lock hosts hold a live lease (a majority is {}); lease TTL {} s.\n",
        TABLE.format(&text).trim_end(),
        rows.len(),
        spec.majority(),
        spec.ttl.as_secs()
    )
}

/// The audit entry of a forced release by this process (`action`: `release --force`, `unlock`).
pub fn force_entry(id: &str, holder: Option<&lock::Holder>, action: &str) -> lock::audit::Entry {
    let (user, machine) = lock::local_identity();
    lock::audit::Entry {
        time: format!("{:.0}", jiff::Timestamp::now()),
        action: action.to_string(),
        lock_id: id.to_string(),
        user,
        machine,
        pid: std::process::id(),
        commit: holder.map(|h| h.commit.clone()).unwrap_or_default(),
        ci_job_url: lock::ci_job_url(|k| std::env::var(k).ok()),
        result: String::new(),
        holder: holder.map(|h| h.who()),
    }
}

async fn release(g: &Global, args: &ReleaseArgs, ui: &Ui) -> Result<ExitCode, CliError> {
    if !args.force {
        return Err(CliError::Usage(
            "releasing a lease removes another apply's lock: add --force (and make sure its holder is gone)"
                .into(),
        ));
    }
    if !lock::valid_id(&args.id) {
        return Err(CliError::Usage(format!(
            "{:?} is not a lock id (12 hex digits, as `clusterctl lock status` prints it)",
            args.id
        )));
    }
    let (inv, transports) = connect(g, ui).await?;
    let spec = LockSpec::from_inventory(&inv);
    let holder = lock::status(&spec, &transports)
        .await
        .into_iter()
        .find(|l| l.answer.as_ref().ok().and_then(|a| a.id()) == Some(args.id.as_str()))
        .and_then(|l| l.holder());
    let entry = force_entry(&args.id, holder.as_ref(), "release --force");
    let done = lock::force_release(&spec, &transports, &args.id, &entry).await;
    report_release(&done, &args.id, holder.as_ref(), ui)
}

/// Prints what a forced release did per host; exit 1 when the id was held nowhere, 3 when a host was not
/// reached.
pub fn report_release(
    done: &[(String, Released)],
    id: &str,
    holder: Option<&lock::Holder>,
    ui: &Ui,
) -> Result<ExitCode, CliError> {
    let whose = holder.map(|h| format!(" {h}")).unwrap_or_default();
    let mut released = 0;
    let mut other = Vec::new();
    let mut failed = Vec::new();
    for (host, r) in done {
        match r {
            Released::Released => {
                released += 1;
                ui.info(&format!("{host}: released lock {id}{whose}"));
            }
            Released::Free => ui.info(&format!("{host}: no lock held")),
            Released::NotThatId(o) => {
                ui.warn(&format!(
                    "{host}: not released: the lease held there is {o}, not {id}"
                ));
                other.push(host.clone());
            }
            Released::Failed(e) => {
                ui.warn(&format!("{host}: lock {id} not released there: {e}"));
                failed.push(host.clone());
            }
        }
    }
    if !failed.is_empty() {
        return Err(CliError::HostsFailed(format!(
            "the lock could not be checked on {}; run the release again once they answer",
            failed.join(", ")
        )));
    }
    if released == 0 && !other.is_empty() {
        return Err(CliError::Reported(format!(
            "refused: no lock host holds lock {id} (see `clusterctl lock status`)"
        )));
    }
    Ok(ExitCode::Ok)
}
