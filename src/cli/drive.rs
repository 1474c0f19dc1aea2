//! The rollout driver: a rollout spans several plans, so after apply has run a plan it re-observes,
//! re-plans and runs the next step, waiting for new pods to become available in between, until every
//! Deployment that was rolling out is complete — or one of them made no progress for its
//! `progressDeadlineSeconds`, which stops the rollout (old pods keep serving), reports the pods that
//! failed (state, exit code, last 20 log lines) and ends with [`CliError::RolloutFailed`] (exit 4).
//! `wait: false` runs the given plan only (`apply --no-wait`, and what a `reconcile` round calls).
//! Output goes through [`Ui`]: one line per step and per change of the waiting message; on a terminal
//! the per-host progress bars of each step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::apply::Progress;
use super::pipeline::{self, Desired, Observed};
use super::signals::Signals;
use super::{CliError, Ui};
use crate::apply::{self, ApplyReport};
use crate::cmd::Cmd;
use crate::inventory::Inventory;
use crate::output::rollout as words;
use crate::plan::rollout::Rollout;
use crate::plan::{Binding, Plan};

/// How often a waiting rollout re-observes the hosts.
const POLL: Duration = Duration::from_millis(500);
/// How long apply waits on a DaemonSet surge that updates no node (a new pod that never becomes ready).
const DS_PATIENCE: Duration = Duration::from_secs(300);
/// How many log lines of a failed pod are shown (the "last 20").
const LOG_LINES: &str = "20";

/// A rollout's progress counts and when they last changed.
type Progressed = ((i32, i32, i32), Instant);

/// What the driver did.
pub struct Driven {
    /// Every step's report, summed per host.
    pub report: ApplyReport,
    /// The last observation and plan (the roster of the last step was written from them).
    pub observed: Observed,
    /// Plans run.
    pub steps: usize,
    /// A signal stopped it (no further step started).
    pub stopped: Option<i32>,
    /// The cluster lock's lease could not be renewed: why (no further step started).
    pub lease_lost: Option<String>,
}

/// Runs `plan` (observed as `observed`), then, with `wait`, every further step of the rollouts in
/// progress until they complete. See the module doc.
#[allow(clippy::too_many_arguments)]
pub async fn run_steps(
    inv: &Inventory,
    desired: &Desired,
    observed: Observed,
    plan: Plan,
    binding: Binding,
    ui: &Ui,
    signals: &Signals,
    wait: bool,
) -> Result<Driven, CliError> {
    run_steps_with(
        inv, desired, observed, plan, binding, ui, signals, wait, false, None,
    )
    .await
}

/// [`run_steps`], and with `auto_rollback` (`apply --auto-rollback`) a rollout that exceeds its progress
/// deadline is rolled back to its previous ReplicaSet (same rolling-update safety) before the error; under
/// the cluster lock `lease`, when its heartbeat cannot renew it, no further change starts (as after a
/// signal) and [`Driven::lease_lost`] says why.
#[allow(clippy::too_many_arguments)]
pub async fn run_steps_with(
    inv: &Inventory,
    desired: &Desired,
    observed: Observed,
    plan: Plan,
    binding: Binding,
    ui: &Ui,
    signals: &Signals,
    wait: bool,
    auto_rollback: bool,
    lease: Option<&crate::apply::lock::Lock>,
) -> Result<Driven, CliError> {
    let stop = match lease {
        Some(l) => l.watch(signals.stop(), super::signals::GRACE),
        None => signals.stop().clone(),
    };
    let lost = || lease.and_then(|l| l.lost());
    let tracked: BTreeSet<(String, String)> = pipeline::rollouts(inv, desired, &observed.state)
        .into_iter()
        .filter(|r| !r.olds.is_empty() && !r.complete())
        .map(|r| (r.namespace, r.deployment))
        .collect();
    // DaemonSets whose maxSurge update is under way: apply waits for them too (docs/daemonsets.md).
    let surges = |state: &crate::model::ObservedState| {
        crate::plan::surges_left(
            &desired.expanded.pod_sets,
            &crate::model::observed_pods(state),
        )
    };
    let ds_tracked: BTreeSet<(String, String)> = surges(&observed.state).into_keys().collect();
    let mut ds_progress: BTreeMap<(String, String), (usize, Instant)> = BTreeMap::new();
    let mut driven = Driven {
        report: ApplyReport::default(),
        observed,
        steps: 0,
        stopped: None,
        lease_lost: None,
    };
    let (mut plan, mut binding) = (plan, binding);
    let mut progress: BTreeMap<(String, String), Progressed> = BTreeMap::new();
    let mut last_line = String::new();
    let mut finishing = false;
    loop {
        if !plan.changes.is_empty() {
            driven.steps += 1;
            if driven.steps > 1 {
                ui.info(&step_line(driven.steps, &plan));
            }
            let bars = Progress::new(ui.stderr_tty);
            let part =
                apply::execute_until(&plan, &driven.observed.transports, &|e| bars.on(e), &stop)
                    .await;
            bars.finish();
            driven.stopped = signals.received();
            driven.lease_lost = lost();
            // After a stop the plan was not carried out whole: keep the last roster.
            if driven.stopped.is_none() && driven.lease_lost.is_none() {
                let loss = pipeline::node_loss(inv, &driven.observed.state);
                let roster =
                    pipeline::roster_after(desired, &driven.observed.state, &plan, &binding, &loss);
                for (host, why) in apply::write_roster(&roster, &driven.observed.transports).await {
                    ui.warn(&format!("{host}: could not write the roster: {why}"));
                }
            }
            let failed = part.failed();
            merge(&mut driven.report, part);
            if driven.stopped.is_some() || driven.lease_lost.is_some() || failed {
                return Ok(driven);
            }
        }
        if !wait && !tracked.is_empty() {
            for (ns, d) in &tracked {
                ui.info(&format!(
                    "rollout of deployment {ns}/{d} continues with the next apply (--no-wait took one step)"
                ));
            }
        }
        if !wait && !ds_tracked.is_empty() {
            for (ns, d) in &ds_tracked {
                ui.info(&format!(
                    "update of daemonset {ns}/{d} continues with the next apply (--no-wait took one step)"
                ));
            }
        }
        if !wait || (tracked.is_empty() && ds_tracked.is_empty()) || finishing {
            return Ok(driven);
        }
        // Wait for the hosts to move, then look again.
        if plan.changes.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = stop.wait() => {
                    driven.stopped = signals.received();
                    driven.lease_lost = lost();
                    return Ok(driven);
                }
            }
        }
        driven.observed = pipeline::observe(inv, None, ui).await?;
        let rollouts: Vec<Rollout> = pipeline::rollouts(inv, desired, &driven.observed.state)
            .into_iter()
            .filter(|r| tracked.contains(&(r.namespace.clone(), r.deployment.clone())))
            .collect();
        let now = Instant::now();
        let mut timed_out = Vec::new();
        let mut waiting = Vec::new();
        for r in &rollouts {
            if r.complete() {
                continue;
            }
            let key = (r.namespace.clone(), r.deployment.clone());
            let e = progress.entry(key).or_insert((r.progress_key(), now));
            if e.0 != r.progress_key() {
                *e = (r.progress_key(), now);
            }
            let deadline = Duration::from_secs(r.params.progress_deadline_seconds.max(0) as u64);
            if now.duration_since(e.1) > deadline {
                timed_out.push(r);
            }
            waiting.push(words::status(r).1);
        }
        let left = surges(&driven.observed.state);
        let mut ds_stuck = false;
        for key in &ds_tracked {
            let Some(&n) = left.get(key) else { continue };
            let e = ds_progress.entry(key.clone()).or_insert((n, now));
            if e.0 != n {
                *e = (n, now);
            }
            // A DaemonSet has no progress deadline: past this long without a node updated, apply stops
            // waiting (the update goes on with the next apply or reconcile).
            if now.duration_since(e.1) > DS_PATIENCE {
                ui.warn(&format!(
                    "daemonset {}/{}: no node updated for {}s; {n} pod(s) of an old template left, the update continues with the next apply",
                    key.0,
                    key.1,
                    DS_PATIENCE.as_secs()
                ));
                ds_stuck = true;
            } else {
                waiting.push(format!(
                    "Waiting for daemon set \"{}\" rollout to finish: {n} pod(s) of an old template left...",
                    key.1
                ));
            }
        }
        if ds_stuck && waiting.is_empty() {
            return Ok(driven);
        }
        if !timed_out.is_empty() {
            let err = failure(&timed_out, &driven.observed, ui).await;
            remember_deadline(&timed_out, &driven.observed, ui).await;
            if !auto_rollback {
                return Err(err);
            }
            let timed_out: Vec<Rollout> = timed_out.into_iter().cloned().collect();
            return Err(Box::pin(roll_back(
                inv, desired, &timed_out, driven, ui, signals, err, lease,
            ))
            .await);
        }
        let line = waiting.join("\n");
        if !line.is_empty() && line != last_line {
            ui.info(&line);
            last_line = line;
        }
        (plan, binding) = pipeline::make_plan(inv, desired, &driven.observed.state);
        if waiting.is_empty() {
            for r in &rollouts {
                ui.info(&words::status(r).1);
            }
            // What is left after the last step (rules of the last pods, say) runs once more.
            finishing = true;
        }
    }
}

/// `rollout step 3: deployment my-nginx: ReplicaSet …` — what a step does, in one line.
fn step_line(n: usize, plan: &Plan) -> String {
    let mut intents: Vec<&str> = plan
        .changes
        .iter()
        .flat_map(|c| &c.details)
        .filter_map(|d| match d {
            crate::plan::Detail::Line(l) if l.starts_with("rollout of ") => Some(l.as_str()),
            _ => None,
        })
        .collect();
    intents.sort();
    intents.dedup();
    let s = &plan.summary;
    format!(
        "step {n}: {} to add, {} to change, {} to destroy{}{}",
        s.add,
        s.change,
        s.destroy,
        if intents.is_empty() { "" } else { "; " },
        intents.join("; ")
    )
}

fn merge(into: &mut ApplyReport, part: ApplyReport) {
    into.mutating_commands += part.mutating_commands;
    for h in part.hosts {
        match into.hosts.iter_mut().find(|x| x.node == h.node) {
            Some(e) => {
                e.added += h.added;
                e.changed += h.changed;
                e.destroyed += h.destroyed;
                e.failed += h.failed;
                e.network += h.network;
                e.commands += h.commands;
                e.errors.extend(h.errors);
                e.not_started.extend(h.not_started);
                e.interrupted.extend(h.interrupted);
            }
            None => into.hosts.push(h),
        }
    }
    into.hosts.sort_by(|a, b| a.node.cmp(&b.node));
}

/// Reports the rollouts that ran out of time: which pods are not available and why (their containers'
/// state and exit code, the last log lines), and the error that ends the apply with exit 4.
async fn failure(timed_out: &[&Rollout], observed: &Observed, ui: &Ui) -> CliError {
    let pods = crate::model::observed_pods(&observed.state);
    let mut names = Vec::new();
    for r in timed_out {
        names.push(r.deployment.clone());
        ui.error(&format!(
            "{}: {} (Progressing=False, reason ProgressDeadlineExceeded: {}); no further step is taken, the \
             old pods keep serving",
            words::deadline_exceeded(&r.deployment),
            words::status(r).1,
            words::timed_out(&r.new_rs)
        ));
        for (node, name) in &r.unavailable {
            let Some(p) = pods
                .iter()
                .find(|p| &p.node == node && &p.name == name && p.namespace == r.namespace)
            else {
                continue;
            };
            ui.info(&format!("  pod {name} on {node} is not available:"));
            for c in p.containers.values() {
                ui.info(&format!(
                    "    container {}: {}",
                    container_name(c),
                    state(c)
                ));
                for line in probe_lines(c) {
                    ui.info(&format!("    {line}"));
                }
                if let Some(t) = observed.transports.get(node) {
                    let logs = Cmd::read("docker", ["logs", "--tail", LOG_LINES, c.name.as_str()]);
                    match t.run(&logs).await {
                        Ok(out) => {
                            let text = format!(
                                "{}{}",
                                String::from_utf8_lossy(&out.stdout),
                                out.stderr_str()
                            );
                            let lines: Vec<&str> = text.lines().collect();
                            let from = lines.len().saturating_sub(20);
                            ui.info(&format!("    last {} log line(s):", lines.len() - from));
                            for l in &lines[from..] {
                                ui.info(&format!("      {l}"));
                            }
                        }
                        Err(e) => ui.info(&format!("    logs: {e}")),
                    }
                }
            }
        }
    }
    CliError::RolloutFailed(format!(
        "rollout of {} did not finish within its progress deadline; run `clusterctl rollout status deploy/NAME` \
         after fixing the template",
        names
            .iter()
            .map(|n| format!("deployment {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn container_name(c: &crate::model::ObservedContainer) -> &str {
    c.label(crate::model::labels::CONTAINER).unwrap_or(&c.name)
}

/// `running`, or `exited with exit code 1 (restarts: 3)`, with the runtime's error text if any.
fn state(c: &crate::model::ObservedContainer) -> String {
    let mut s = if c.status == "running" {
        c.status.clone()
    } else {
        format!("{} with exit code {}", c.status, c.exit_code)
    };
    // A crash-looping container caught between two runs is `running`: its last termination says why it
    // restarts (kubectl's Last State).
    let last = c
        .record
        .as_ref()
        .and_then(|r| r.last_termination.as_ref())
        .filter(|_| c.status == "running");
    match (c.restart_count, last) {
        (0, _) => {}
        (n, Some(t)) => s.push_str(&format!(
            " (restarts: {n}, last terminated with exit code {}: {})",
            t.exit_code, t.reason
        )),
        (n, None) => s.push_str(&format!(" (restarts: {n})")),
    }
    if !c.error.is_empty() {
        s.push_str(&format!(": {}", c.error));
    }
    s
}

/// Records Progressing=False/ProgressDeadlineExceeded of the rollouts that ran out of time in the
/// roster (the last step wrote it; this re-writes it with the mark), so `describe deploy` shows it later.
async fn remember_deadline(timed_out: &[&Rollout], observed: &Observed, ui: &Ui) {
    let Some(mut roster) = observed.state.roster().cloned() else {
        return;
    };
    let now = format!("{:.3}", jiff::Timestamp::now());
    for r in timed_out {
        let key = crate::controllers::history::key(&r.namespace, &r.deployment);
        crate::controllers::history::mark_deadline_exceeded(
            &mut roster.deployments,
            &key,
            &r.new_rs,
            &now,
        );
    }
    roster.written_at = now;
    for (host, why) in apply::write_roster(&roster, &observed.transports).await {
        ui.warn(&format!("{host}: could not write the roster: {why}"));
    }
}

/// `--auto-rollback`: pins each timed-out Deployment to its previous revision (the newest old ReplicaSet
/// with available pods, else with pods, as recorded in the history) and drives that rollout to its end. Returns the error
/// the apply ends with: still the rollout failure (exit 4), saying what was rolled back.
#[allow(clippy::too_many_arguments)]
async fn roll_back(
    inv: &Inventory,
    desired: &Desired,
    timed_out: &[Rollout],
    driven: Driven,
    ui: &Ui,
    signals: &Signals,
    err: CliError,
    lease: Option<&crate::apply::lock::Lock>,
) -> CliError {
    use crate::controllers::history;
    let CliError::RolloutFailed(why) = err else {
        return err;
    };
    let records = driven
        .observed
        .state
        .roster()
        .map(|r| r.deployments.clone())
        .unwrap_or_default();
    let mut pinned = Desired {
        source: desired.source.clone(),
        expanded: desired.expanded.clone(),
    };
    let mut done = Vec::new();
    for r in timed_out {
        let rec = records.get(&history::key(&r.namespace, &r.deployment));
        // The previous ReplicaSet is the newest old one that still serves (an older failed attempt
        // may still have pods, none of them available), else the newest old one with pods.
        let prev = r
            .olds
            .iter()
            .rev()
            .find(|(_, o)| o.available > 0)
            .or(r.olds.last());
        let back = prev.and_then(|(rs, _)| {
            rec.and_then(|rec| rec.revisions.iter().find(|v| &v.replica_set == rs))
        });
        let Some(back) = back else {
            ui.warn(&format!(
                "deployment {}: no previous revision with pods is recorded; not rolled back",
                r.deployment
            ));
            continue;
        };
        if history::pin(
            &mut pinned.expanded.pod_sets,
            &r.namespace,
            &r.deployment,
            back,
        ) {
            ui.info(&format!(
                "deployment \"{}\" rolling back to revision {} (ReplicaSet {}, commit {}) (--auto-rollback)",
                r.deployment,
                back.revision,
                back.replica_set,
                short(&back.commit)
            ));
            done.push(format!(
                "deployment {} was rolled back to revision {} (ReplicaSet {})",
                r.deployment, back.revision, back.replica_set
            ));
        }
    }
    if done.is_empty() {
        return CliError::RolloutFailed(why);
    }
    let observed = match pipeline::observe(inv, None, ui).await {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (plan, binding) = pipeline::make_plan(inv, &pinned, &observed.state);
    match run_steps_with(
        inv, &pinned, observed, plan, binding, ui, signals, true, false, lease,
    )
    .await
    {
        Ok(_) => {
            ui.warn(
                "Git still holds the failed template: the next apply (or reconcile round) rolls it out again \
                 until Git is fixed",
            );
            CliError::RolloutFailed(format!("{why}; {}", done.join("; ")))
        }
        Err(e) => e,
    }
}

/// The first 7 characters of a commit id, as Git abbreviates it.
pub fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// What the node supervisor recorded of a container's probes (docs/probes.md): per probe its result, the
/// target and the last attempt's output, and the newest `Unhealthy` event with its count.
fn probe_lines(c: &crate::model::ObservedContainer) -> Vec<String> {
    let Some(r) = c.record.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (kind, p) in &r.probes {
        let mut line = format!("{kind} probe {}: {}", p.target, p.result);
        if !p.output.is_empty() {
            line.push_str(&format!(", last response: {}", p.output));
        }
        out.push(line);
    }
    if let Some(e) = r.events.iter().rev().find(|e| e.reason == "Unhealthy") {
        out.push(format!(
            "event Unhealthy (x{}, last {}): {}",
            e.count, e.last_timestamp, e.message
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::model::{ContainerRecord, ObservedContainer, Termination};

    #[test]
    fn a_crash_looping_container_caught_running_says_how_it_last_ended() {
        let exited = ObservedContainer {
            status: "exited".into(),
            exit_code: 1,
            restart_count: 2,
            ..Default::default()
        };
        assert_eq!(
            super::state(&exited),
            "exited with exit code 1 (restarts: 2)"
        );
        let running = ObservedContainer {
            status: "running".into(),
            restart_count: 1,
            record: Some(ContainerRecord {
                last_termination: Some(Termination {
                    exit_code: 1,
                    reason: "Error".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            super::state(&running),
            "running (restarts: 1, last terminated with exit code 1: Error)"
        );
        let fresh = ObservedContainer {
            status: "running".into(),
            ..Default::default()
        };
        assert_eq!(super::state(&fresh), "running");
    }
}
