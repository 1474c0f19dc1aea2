//! Apply: executes a [`Plan`] over live transports. Hosts run in parallel; on one host, changes run in plan
//! order with every destroy before any create so freed resources are really free. Emits [`Event`]s for the
//! UI and never prints. Counts the mutating commands it issues, which is how idempotence is proven.

pub mod lock;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use serde::Serialize;

use crate::plan::{Action, Change, Plan};
use crate::transport::Transport;

/// Progress of an apply, for progress bars and logs.
#[derive(Debug, Clone)]
pub enum Event {
    /// A host starts its `total` changes.
    HostStarted {
        node: String,
        total: usize,
    },
    /// A change began on a host.
    ChangeStarted {
        node: String,
        index: usize,
        action: Action,
        pod: String,
    },
    ChangeFinished {
        node: String,
        index: usize,
        ok: bool,
    },
    HostFinished {
        node: String,
    },
}

/// Outcome per host.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReport {
    pub node: String,
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    pub failed: usize,
    pub commands: usize,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub hosts: Vec<HostReport>,
    /// Mutating remote commands issued (0 after an apply that found nothing to do).
    pub mutating_commands: usize,
}

impl ApplyReport {
    pub fn failed(&self) -> bool {
        self.hosts.iter().any(|h| h.failed > 0)
    }
}

/// Runs `plan` against `transports` (by node name). Changes for a host without a transport fail.
pub async fn execute(
    plan: &Plan,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    events: &(dyn Fn(Event) + Send + Sync),
) -> ApplyReport {
    let mut by_node: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for change in &plan.changes {
        by_node
            .entry(change.node.as_str())
            .or_default()
            .push(change);
    }
    for changes in by_node.values_mut() {
        // Destroys first (stable, so plan order is kept within each group).
        changes.sort_by_key(|c| match c.action {
            Action::Delete => 0,
            Action::Replace => 1,
            Action::Start => 2,
            Action::Create => 3,
        });
    }
    let mutating = AtomicUsize::new(0);
    let runs = by_node.into_iter().map(|(node, changes)| {
        let transport = transports.get(node).cloned();
        let mutating = &mutating;
        async move {
            let mut report = HostReport {
                node: node.to_string(),
                ..HostReport::default()
            };
            events(Event::HostStarted {
                node: node.to_string(),
                total: changes.len(),
            });
            for (index, change) in changes.into_iter().enumerate() {
                events(Event::ChangeStarted {
                    node: node.to_string(),
                    index,
                    action: change.action,
                    pod: format!("{}/{}", change.namespace, change.name),
                });
                let result = match &transport {
                    None => Err(format!("host {node} is not connected")),
                    Some(t) => run_change(t.as_ref(), change, mutating, &mut report.commands).await,
                };
                let ok = result.is_ok();
                match result {
                    Ok(()) => match change.action {
                        Action::Create => report.added += 1,
                        Action::Start => report.changed += 1,
                        Action::Replace => {
                            report.added += 1;
                            report.destroyed += 1
                        }
                        Action::Delete => report.destroyed += 1,
                    },
                    Err(e) => {
                        report.failed += 1;
                        report.errors.push(format!(
                            "{} {}/{}: {e}",
                            verb(change.action),
                            change.namespace,
                            change.name
                        ));
                    }
                }
                events(Event::ChangeFinished {
                    node: node.to_string(),
                    index,
                    ok,
                });
            }
            events(Event::HostFinished {
                node: node.to_string(),
            });
            report
        }
    });
    let hosts = join_all(runs).await;
    ApplyReport {
        hosts,
        mutating_commands: mutating.load(Ordering::SeqCst),
    }
}

async fn run_change(
    transport: &dyn Transport,
    change: &Change,
    mutating: &AtomicUsize,
    commands: &mut usize,
) -> Result<(), String> {
    for cmd in &change.steps {
        if cmd.mutating {
            mutating.fetch_add(1, Ordering::SeqCst);
        }
        *commands += 1;
        tracing::debug!(host = transport.host(), "run: {}", cmd.to_shell_line());
        let out = transport.run(cmd).await.map_err(|e| e.to_string())?;
        if !out.success() {
            let stderr = out.stderr_str();
            return Err(format!(
                "`{} {}` exited with {}: {}",
                cmd.program,
                cmd.args.first().map(String::as_str).unwrap_or(""),
                out.status,
                stderr.trim()
            ));
        }
    }
    Ok(())
}

/// Writes the roster to every host given (after an apply; see [`crate::model::Roster`]). Returns the hosts
/// where writing failed, with the reason; a failure only costs the memory of pods on unreachable hosts.
pub async fn write_roster(
    roster: &crate::model::Roster,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
) -> Vec<(String, String)> {
    let body = serde_json::to_string(roster).expect("roster serializes");
    let writes = transports.iter().map(|(host, t)| {
        let body = body.clone();
        async move {
            let cmd =
                crate::transport::Cmd::write("tee", [crate::model::ROSTER_PATH]).with_stdin(body);
            match t.run(&cmd).await {
                Ok(out) if out.success() => None,
                Ok(out) => Some((host.clone(), out.stderr_str().trim().to_string())),
                Err(e) => Some((host.clone(), e.to_string())),
            }
        }
    });
    join_all(writes).await.into_iter().flatten().collect()
}

pub fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Start => "start",
        Action::Replace => "replace",
        Action::Delete => "delete",
    }
}
