//! `clusterctl get events [-n NS|-A] [--for pod/NAME]`: what the hosts recorded in the last hour (the API
//! server's default event TTL), read from every reachable host's runtime (`runtime::day2`), turned into
//! Kubernetes events, merged with the node supervisors' records (BackOff, Killing, …; read by the same
//! observation) in `output::events::merge_sources`, printed as kubectl's table.

use super::day2;
use super::{CliError, ExitCode, Format, Global, Ui};
use crate::output::events::{self, EventRecord};
use crate::output::{Rendered, Scope};

/// How far back events are read: Kubernetes keeps events for an hour by default.
pub const EVENT_TTL_SECS: u64 = 3600;

/// Refuses what `get events` cannot honour, before anything is read.
pub fn check(g: &Global, name: Option<&str>) -> Result<(), CliError> {
    if !matches!(g.output, Format::Table) {
        return Err(CliError::Usage(
            "`get events` prints the table only; drop `-o`".into(),
        ));
    }
    if g.selector.is_some() {
        return Err(CliError::Usage(
            "`get events` does not take a label selector; use --for pod/NAME".into(),
        ));
    }
    if let Some(n) = name {
        return Err(CliError::Usage(format!(
            "events have no names here; use --for pod/{n}"
        )));
    }
    Ok(())
}

pub async fn run(g: &Global, for_object: Option<&str>, ui: &Ui) -> Result<ExitCode, CliError> {
    let hosts = day2::observe(g, ui).await?;
    let jobs = hosts
        .all_hosts()
        .into_iter()
        .map(|(host, (t, d2))| async move {
            let got = match t.run(&d2.events_cmd(EVENT_TTL_SECS)).await {
                Ok(o) if o.success() => d2
                    .parse_events(&o.stdout_str())
                    .map(|ev| events::from_runtime(&host, &ev))
                    .map_err(|e| e.to_string()),
                Ok(o) => Err(o.stderr_str().trim().to_string()),
                Err(e) => Err(e.to_string()),
            };
            (host, got)
        });
    let mut sources: Vec<Vec<EventRecord>> = Vec::new();
    for (host, got) in futures::future::join_all(jobs).await {
        match got {
            Ok(r) => sources.push(r),
            Err(e) => ui.warn(&format!("node {host}: cannot read its events: {e}")),
        }
    }
    let since = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(EVENT_TTL_SECS as i64))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    sources.push(events::from_records(&hosts.pods, since));
    let mut records = events::merge_sources(sources);
    records.retain(|r| g.all_namespaces || r.namespace == g.namespace);
    if let Some(o) = for_object {
        records = events::for_object(records, o);
    }
    let scope = if g.all_namespaces {
        Scope::AllNamespaces
    } else {
        Scope::Namespace(g.namespace.clone())
    };
    match events::table(&records, &scope, jiff::Timestamp::now()) {
        Rendered::Table(t) => ui.out(&t),
        Rendered::Empty(m) => ui.info(&m),
    }
    Ok(ExitCode::Ok)
}
