//! Apply: executes a [`Plan`] over live transports. Hosts run in parallel; on one host, changes run in plan
//! order with every destroy before any create so freed resources are really free. Emits [`Event`]s for the
//! UI and never prints. Counts the mutating commands it issues, which is how idempotence is proven.
//!
//! Image pulls come first: the pull steps of every pod change (see `runtime::docker::pull_cmd`) run on
//! their hosts, at most [`PULLS_PER_HOST`] at a time, before any phase. A change whose pull failed fails
//! with the registry's message without running; while any pull failed, no pod is deleted and no service
//! rule is rewritten in this apply, so a failed pull never takes a running pod (or its endpoints) down.

pub mod lock;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use futures::future::join_all;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cmd::Cmd;
pub use crate::model::{ApplyReport, HostReport};
use crate::plan::{Action, Change, ChangeKind, Plan};
use crate::runtime::docker::pulled_image;
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

/// Tells a running apply to stop: no change starts after [`StopHandle::stop`], and a change already running
/// gets until the deadline to finish its steps (so no half-created pod is left behind), then is cut off.
#[derive(Clone)]
pub struct Stop(watch::Receiver<Option<Instant>>);

pub struct StopHandle(watch::Sender<Option<Instant>>);

impl Stop {
    pub fn channel() -> (StopHandle, Stop) {
        let (tx, rx) = watch::channel(None);
        (StopHandle(tx), Stop(rx))
    }

    /// A stop that never comes.
    pub fn never() -> Stop {
        Stop::channel().1
    }

    pub fn requested(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// Resolves when a stop was requested.
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves when the grace period of a requested stop is over.
    async fn deadline(&self) {
        let mut rx = self.0.clone();
        let deadline = match rx.wait_for(Option::is_some).await {
            Ok(d) => d.expect("waited for Some"),
            Err(_) => std::future::pending().await,
        };
        tokio::time::sleep_until(deadline).await;
    }
}

impl StopHandle {
    /// Stops starting new work; running changes may go on for `grace`. Later calls keep the first deadline.
    pub fn stop(&self, grace: std::time::Duration) {
        self.0.send_if_modified(|d| {
            if d.is_some() {
                return false;
            }
            *d = Some(Instant::now() + grace);
            true
        });
    }
}

/// When a change runs: pod networks on every host first, then pods, then service rules (so rules point at
/// pods that exist). When the plan only removes pods (a scale-down, a deletion), the rules go first instead:
/// endpoints are dropped before their pods stop, so no request is sent to a pod that is going away.
fn phase(change: &Change, rules_first: bool) -> usize {
    match (change.kind, rules_first) {
        (ChangeKind::Network, _) => 0,
        (ChangeKind::ServiceRules, true) => 1,
        (ChangeKind::ServiceRules, false) => 3,
        (ChangeKind::Pod, _) => 2,
        // A claim's data goes last: after the pods that used it are gone.
        (ChangeKind::Volume, _) => 4,
    }
}

/// True when every pod change of the plan is a deletion (see [`phase`]).
fn rules_first(plan: &Plan) -> bool {
    let mut pods = plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Pod)
        .peekable();
    pods.peek().is_some() && pods.all(|c| c.action == Action::Delete)
}

/// Runs `plan` against `transports` (by node name), in phases (see [`phase`]); hosts run in parallel
/// within a phase. Changes for a host without a transport fail.
pub async fn execute(
    plan: &Plan,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    events: &(dyn Fn(Event) + Send + Sync),
) -> ApplyReport {
    execute_until(plan, transports, events, &Stop::never()).await
}

/// Whether a change runs before everything else, image pulls included: the deletes of stale copies on a
/// host that came back after it was lost (`plan::node_loss`), so no owner runs more replicas than desired
/// for longer than that step.
fn first_of_all(change: &Change) -> bool {
    matches!(change.reason, crate::plan::Reason::StaleAfterNodeLoss(_))
}

/// [`execute`], stopping early when `stop` says so: what was not started is listed per host.
pub async fn execute_until(
    plan: &Plan,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    events: &(dyn Fn(Event) + Send + Sync),
    stop: &Stop,
) -> ApplyReport {
    let mut report = ApplyReport::default();
    let mut hosts: BTreeMap<String, HostReport> = BTreeMap::new();
    let rules_first = rules_first(plan);
    let gone = std::sync::Mutex::new(BTreeMap::new());
    let stale: Vec<Change> = plan
        .changes
        .iter()
        .filter(|c| first_of_all(c))
        .cloned()
        .collect();
    if !stale.is_empty() {
        let part = execute_phase(&stale, transports, &gone, events, stop, &BTreeMap::new()).await;
        merge(&mut report, &mut hosts, part);
    }
    let pulls = pull_images(plan, transports, stop).await;
    report.mutating_commands += pulls.commands.values().sum::<usize>();
    for (node, n) in &pulls.commands {
        hosts
            .entry(node.clone())
            .or_insert_with(|| HostReport {
                node: node.clone(),
                ..HostReport::default()
            })
            .commands += n;
    }
    for p in 0..5 {
        let changes: Vec<Change> = plan
            .changes
            .iter()
            .filter(|c| !first_of_all(c) && phase(c, rules_first) == p)
            .cloned()
            .collect();
        if changes.is_empty() {
            continue;
        }
        let part = execute_phase(&changes, transports, &gone, events, stop, &pulls.failed).await;
        merge(&mut report, &mut hosts, part);
    }
    report.hosts = hosts.into_values().collect();
    report
}

/// Adds one phase's report to the apply's.
fn merge(report: &mut ApplyReport, hosts: &mut BTreeMap<String, HostReport>, part: ApplyReport) {
    report.mutating_commands += part.mutating_commands;
    for h in part.hosts {
        let e = hosts.entry(h.node.clone()).or_insert_with(|| HostReport {
            node: h.node.clone(),
            ..HostReport::default()
        });
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
}

/// How many images one host pulls at the same time.
pub const PULLS_PER_HOST: usize = 3;

/// What the pull stage did: pull steps run per host, and the failed ones by (host, image) with the error.
#[derive(Default)]
struct Pulls {
    commands: BTreeMap<String, usize>,
    failed: BTreeMap<(String, String), String>,
}

/// Runs the pull steps of the plan's pod changes, each distinct one once per host, hosts in parallel and
/// at most [`PULLS_PER_HOST`] per host at a time.
async fn pull_images(
    plan: &Plan,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    stop: &Stop,
) -> Pulls {
    let mut by_node: BTreeMap<&str, Vec<&Cmd>> = BTreeMap::new();
    for change in plan.changes.iter().filter(|c| c.kind == ChangeKind::Pod) {
        let steps = by_node.entry(change.node.as_str()).or_default();
        for cmd in change.steps.iter().filter(|c| pulled_image(c).is_some()) {
            if !steps.contains(&cmd) {
                steps.push(cmd);
            }
        }
    }
    let runs = by_node
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(node, steps)| {
            let transport = transports.get(node).cloned();
            async move {
                let n = steps.len();
                let results: Vec<(String, Option<String>)> = futures::stream::iter(steps)
                    .map(|cmd| {
                        let transport = transport.clone();
                        async move {
                            let image = pulled_image(cmd).unwrap_or_default().to_string();
                            let err = match &transport {
                                _ if stop.requested() => Some(INTERRUPTED.to_string()),
                                None => Some(format!("host {node} is not connected")),
                                Some(t) => {
                                    tracing::debug!(
                                        host = t.host(),
                                        "pull: {}",
                                        cmd.to_shell_line()
                                    );
                                    match t.run(cmd).await {
                                        Err(e) => Some(e.to_string()),
                                        Ok(out) if !out.success() => {
                                            Some(out.stderr_str().trim().to_string())
                                        }
                                        Ok(_) => None,
                                    }
                                }
                            };
                            (image, err)
                        }
                    })
                    .buffer_unordered(PULLS_PER_HOST)
                    .collect()
                    .await;
                (node.to_string(), n, results)
            }
        });
    let mut pulls = Pulls::default();
    for (node, n, results) in join_all(runs).await {
        pulls.commands.insert(node.clone(), n);
        for (image, err) in results {
            if let Some(e) = err {
                pulls.failed.insert((node.clone(), image), e);
            }
        }
    }
    pulls
}

/// Why a change does not run after the pull stage: a pull it needs failed (kubelet's ErrImagePull with the
/// registry's message), or some pull failed and it would take a running pod or endpoint away.
fn blocked_by_pulls(
    change: &Change,
    failed: &BTreeMap<(String, String), String>,
) -> Option<String> {
    if failed.is_empty() {
        return None;
    }
    for image in change.steps.iter().filter_map(pulled_image) {
        if let Some(e) = failed.get(&(change.node.clone(), image.to_string())) {
            // The kubelet's own reasons (Never, or the image back-off of an earlier failed pull) as they are.
            if e.starts_with("ErrImageNeverPull") || e.starts_with("ImagePullBackOff") {
                return Some(e.clone());
            }
            return Some(format!(
                "ErrImagePull: Failed to pull image \"{image}\": {e}"
            ));
        }
    }
    let takes_down = (change.kind == ChangeKind::Pod && change.action == Action::Delete)
        || change.kind == ChangeKind::ServiceRules;
    takes_down.then(|| {
        "not run: an image pull failed in this apply, and a failed pull never takes a running pod or its \
         endpoints down"
            .to_string()
    })
}

async fn execute_phase(
    plan_changes: &[Change],
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    gone: &std::sync::Mutex<BTreeMap<String, String>>,
    events: &(dyn Fn(Event) + Send + Sync),
    stop: &Stop,
    failed_pulls: &BTreeMap<(String, String), String>,
) -> ApplyReport {
    let mut by_node: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for change in plan_changes {
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
            Action::Create | Action::Update => 3,
        });
    }
    let mutating = AtomicUsize::new(0);
    let runs = by_node.into_iter().map(|(node, changes)| {
        let transport = transports.get(node).cloned();
        let mutating = &mutating;
        async move {
            let gone = HostsGone(gone);
            let mut report = HostReport {
                node: node.to_string(),
                ..HostReport::default()
            };
            events(Event::HostStarted {
                node: node.to_string(),
                total: changes.len(),
            });
            for (index, change) in changes.into_iter().enumerate() {
                if stop.requested() {
                    report.not_started.push(describe(change));
                    continue;
                }
                events(Event::ChangeStarted {
                    node: node.to_string(),
                    index,
                    action: change.action,
                    pod: subject(change),
                });
                let result = match (&transport, gone.get(node)) {
                    _ if blocked_by_pulls(change, failed_pulls).is_some() => {
                        Err(blocked_by_pulls(change, failed_pulls).unwrap_or_default())
                    }
                    // A host that missed a deadline is treated as unreachable for the rest of the run.
                    (_, Some(why)) => Err(format!("skipped: {why}")),
                    (None, _) => Err(format!("host {node} is not connected")),
                    (Some(t), None) => {
                        let run = run_change(t.as_ref(), change, mutating, &mut report.commands);
                        let r = tokio::select! {
                            r = run => r,
                            () = stop.deadline() => Err(ChangeError::Failed(INTERRUPTED.to_string())),
                        };
                        if let Err(ChangeError::HostGone(why)) = &r {
                            gone.insert(node, why);
                        }
                        r.map_err(|e| e.to_string())
                    }
                };
                let ok = result.is_ok();
                match result {
                    Err(e) if e == INTERRUPTED => {
                        report.interrupted.push(describe(change));
                    }
                    Ok(()) if change.kind != ChangeKind::Pod => report.network += 1,
                    Ok(()) => match change.action {
                        Action::Create => report.added += 1,
                        Action::Start => report.changed += 1,
                        Action::Replace => {
                            report.added += 1;
                            report.destroyed += 1
                        }
                        Action::Delete => report.destroyed += 1,
                        Action::Update => report.changed += 1,
                    },
                    Err(e) => {
                        report.failed += 1;
                        report.errors.push(format!(
                            "{} {}: {e}",
                            verb(change.action),
                            subject(change)
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
        ..ApplyReport::default()
    }
}

/// Why a change that was cut off by [`Stop`]'s deadline did not finish.
const INTERRUPTED: &str = "interrupted: did not finish within the grace period";

/// `create default/web-1 on k8s-node1`: a change as the cancel summary lists it.
fn describe(change: &Change) -> String {
    format!(
        "{} {} on {}",
        verb(change.action),
        subject(change),
        change.node
    )
}

/// Hosts that missed a deadline in this apply, with the message (shared by the phases).
struct HostsGone<'a>(&'a std::sync::Mutex<BTreeMap<String, String>>);

impl HostsGone<'_> {
    fn get(&self, node: &str) -> Option<String> {
        self.0.lock().expect("gone lock").get(node).cloned()
    }
    fn insert(&self, node: &str, why: &str) {
        self.0
            .lock()
            .expect("gone lock")
            .insert(node.to_string(), why.to_string());
    }
}

/// Why a change failed: the host stopped answering (later changes there are skipped), or anything else.
#[derive(Debug)]
enum ChangeError {
    HostGone(String),
    Failed(String),
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeError::HostGone(m) | ChangeError::Failed(m) => f.write_str(m),
        }
    }
}

async fn run_change(
    transport: &dyn Transport,
    change: &Change,
    mutating: &AtomicUsize,
    commands: &mut usize,
) -> Result<(), ChangeError> {
    // Pull steps ran before every phase (see `pull_images`).
    for cmd in change.steps.iter().filter(|c| pulled_image(c).is_none()) {
        if cmd.mutating {
            mutating.fetch_add(1, Ordering::SeqCst);
        }
        *commands += 1;
        tracing::debug!(host = transport.host(), "run: {}", cmd.to_shell_line());
        let out = transport.run(cmd).await.map_err(|e| match e {
            crate::transport::TransportError::Timeout { .. } => {
                ChangeError::HostGone(e.to_string())
            }
            e => ChangeError::Failed(e.to_string()),
        })?;
        if !out.success() {
            let stderr = out.stderr_str();
            return Err(ChangeError::Failed(format!(
                "`{} {}` exited with {}: {}",
                cmd.program,
                cmd.args.first().map(String::as_str).unwrap_or(""),
                out.status,
                stderr.trim()
            )));
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
            let cmd = crate::cmd::Cmd::write("tee", [crate::model::ROSTER_PATH]).with_stdin(body);
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
        Action::Update => "update",
    }
}

/// `ns/name` for a pod, `network clusterctl-pods` / `service rules` for host-level changes.
pub fn subject(change: &Change) -> String {
    match change.kind {
        ChangeKind::Network => format!("network {}", change.name),
        ChangeKind::ServiceRules => "service rules".to_string(),
        ChangeKind::Pod => format!("{}/{}", change.namespace, change.name),
        ChangeKind::Volume => format!("persistent volume {}", change.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Cmd;
    use crate::plan::{PLAN_FORMAT_VERSION, Summary};
    use crate::transport::fake::FakeConnector;

    fn change(kind: ChangeKind, action: Action, name: &str, program: &str) -> Change {
        Change {
            action,
            kind,
            namespace: "default".into(),
            name: name.into(),
            node: "k8s-node1".into(),
            reason: crate::plan::Reason::PodDefined,
            details: vec![],
            steps: vec![Cmd::write(program, [name])],
        }
    }

    fn order(changes: Vec<Change>) -> Vec<String> {
        let plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            commit: "c".into(),
            changes,
            pending: vec![],
            unreachable_nodes: vec![],
            summary: Summary::default(),
        };
        let fake = FakeConnector::new();
        let transports = one_host(&fake);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let report = rt.block_on(execute(&plan, &transports, &|_| {}));
        assert!(!report.failed(), "{report:?}");
        fake.commands("k8s-node1")
            .iter()
            .map(|c| c.program.clone())
            .collect()
    }

    #[test]
    fn rules_follow_new_pods_but_precede_removals() {
        // New pods: network, then pods, then the rules that point at them.
        let grow = order(vec![
            change(
                ChangeKind::ServiceRules,
                Action::Update,
                "iptables",
                "iptables-restore",
            ),
            change(ChangeKind::Pod, Action::Create, "web-1", "docker"),
            change(ChangeKind::Network, Action::Create, "clusterctl-pods", "ip"),
        ]);
        assert_eq!(grow, ["ip", "docker", "iptables-restore"]);
        // Only removals (scale-down): endpoints are dropped before their pods stop.
        let shrink = order(vec![
            change(ChangeKind::Pod, Action::Delete, "web-2", "docker"),
            change(
                ChangeKind::ServiceRules,
                Action::Update,
                "iptables",
                "iptables-restore",
            ),
        ]);
        assert_eq!(shrink, ["iptables-restore", "docker"]);
    }

    fn slow_pods(n: usize, delay_ms: u64) -> (Plan, FakeConnector) {
        let plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            commit: "c".into(),
            changes: (0..n)
                .map(|i| {
                    change(
                        ChangeKind::Pod,
                        Action::Create,
                        &format!("web-{i}"),
                        "docker",
                    )
                })
                .collect(),
            pending: vec![],
            unreachable_nodes: vec![],
            summary: Summary::default(),
        };
        let fake = FakeConnector::new();
        fake.on_after(
            |_, c| c.program == "docker",
            Ok(crate::transport::Output::default()),
            std::time::Duration::from_millis(delay_ms),
        );
        (plan, fake)
    }

    fn one_host(fake: &FakeConnector) -> BTreeMap<String, Arc<dyn Transport>> {
        BTreeMap::from([(
            "k8s-node1".to_string(),
            fake.transport("k8s-node1") as Arc<dyn Transport>,
        )])
    }

    #[tokio::test]
    async fn a_stop_lets_the_running_change_finish_and_starts_nothing_new() {
        let (plan, fake) = slow_pods(4, 300);
        let (handle, stop) = Stop::channel();
        let transports = one_host(&fake);
        let run = execute_until(&plan, &transports, &|_| {}, &stop);
        let stopper = async {
            // In the middle of the second change.
            tokio::time::sleep(std::time::Duration::from_millis(450)).await;
            handle.stop(std::time::Duration::from_secs(5));
        };
        let (report, ()) = tokio::join!(run, stopper);
        let h = &report.hosts[0];
        assert_eq!(h.added, 2, "{report:?}");
        assert_eq!(
            h.not_started,
            [
                "create default/web-2 on k8s-node1",
                "create default/web-3 on k8s-node1"
            ]
        );
        assert!(h.interrupted.is_empty() && h.failed == 0, "{report:?}");
        assert_eq!(fake.commands("k8s-node1").len(), 2);
    }

    #[tokio::test]
    async fn a_change_that_outlives_the_grace_period_is_cut_off() {
        let (plan, fake) = slow_pods(2, 60_000);
        let (handle, stop) = Stop::channel();
        let transports = one_host(&fake);
        let started = std::time::Instant::now();
        let run = execute_until(&plan, &transports, &|_| {}, &stop);
        let stopper = async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            handle.stop(std::time::Duration::from_millis(200));
        };
        let (report, ()) = tokio::join!(run, stopper);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let h = &report.hosts[0];
        assert_eq!(h.interrupted, ["create default/web-0 on k8s-node1"]);
        assert_eq!(h.not_started, ["create default/web-1 on k8s-node1"]);
        assert_eq!((h.added, h.failed), (0, 0));
        assert!(!report.failed());
    }

    #[test]
    fn a_host_past_a_deadline_is_skipped_for_the_rest_of_the_apply() {
        let fake = FakeConnector::new();
        fake.on(
            |_, c| c.args.first().map(String::as_str) == Some("web-1"),
            Err(crate::transport::TransportError::Timeout {
                host: "k8s-node1".into(),
                program: "docker".into(),
                secs: 120,
            }),
        );
        let plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            commit: "c".into(),
            changes: vec![
                change(ChangeKind::Pod, Action::Create, "web-1", "docker"),
                change(ChangeKind::Pod, Action::Create, "web-2", "docker"),
                change(
                    ChangeKind::ServiceRules,
                    Action::Update,
                    "iptables",
                    "iptables-restore",
                ),
            ],
            pending: vec![],
            unreachable_nodes: vec![],
            summary: Summary::default(),
        };
        let transports = one_host(&fake);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let report = rt.block_on(execute(&plan, &transports, &|_| {}));
        // Only the command that hung was sent; the later pod and the rules (a later phase) were skipped.
        assert_eq!(fake.commands("k8s-node1").len(), 1);
        assert_eq!(report.hosts[0].failed, 3);
        assert_eq!(
            report.hosts[0].errors,
            [
                "create default/web-1: k8s-node1: docker did not answer within 120 s",
                "create default/web-2: skipped: k8s-node1: docker did not answer within 120 s",
                "update service rules: skipped: k8s-node1: docker did not answer within 120 s",
            ]
        );
    }

    fn plan_of(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            commit: "c".into(),
            changes,
            pending: vec![],
            unreachable_nodes: vec![],
            summary: Summary::default(),
        }
    }

    /// A pod change whose steps are the pulls of `images` (Always) and then one `program` step.
    fn pod_change(action: Action, name: &str, images: &[&str], program: &str) -> Change {
        use crate::runtime::docker::{PullPolicy, pull_cmd};
        let mut c = change(ChangeKind::Pod, action, name, program);
        let mut steps: Vec<Cmd> = images
            .iter()
            .map(|i| pull_cmd(i, PullPolicy::Always))
            .collect();
        steps.append(&mut c.steps);
        c.steps = steps;
        c
    }

    fn run_on_node1(plan: &Plan, fake: &FakeConnector) -> ApplyReport {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(execute(plan, &one_host(fake), &|_| {}))
    }

    #[test]
    fn stale_copies_of_a_lost_host_go_before_pulls_networks_and_pods() {
        let lost = crate::plan::node_loss::Lost {
            node: "k8s-node1".into(),
            since: "2026-12-01T12:00:00Z".into(),
            lost_at: "2026-12-01T12:06:00Z".into(),
            unreachable_secs: 0,
            grace_secs: 300,
        };
        let mut stale = change(ChangeKind::Pod, Action::Delete, "old", "rm-stale");
        stale.reason = crate::plan::Reason::StaleAfterNodeLoss(lost);
        let plan = plan_of(vec![
            change(ChangeKind::Network, Action::Create, "clusterctl-pods", "ip"),
            pod_change(Action::Create, "new", &["nginx"], "create"),
            stale,
        ]);
        let fake = FakeConnector::new();
        let report = run_on_node1(&plan, &fake);
        assert!(!report.failed(), "{report:?}");
        let ran: Vec<String> = fake
            .commands("k8s-node1")
            .iter()
            .map(|c| {
                crate::runtime::docker::pulled_image(c)
                    .map_or(c.program.clone(), |i| format!("pull {i}"))
            })
            .collect();
        assert_eq!(ran, ["rm-stale", "pull nginx", "ip", "create"]);
    }

    #[test]
    fn pulls_run_once_per_image_before_any_destroy() {
        let plan = plan_of(vec![
            change(ChangeKind::Pod, Action::Delete, "old", "rm-old"),
            pod_change(Action::Replace, "bare", &["busybox:1"], "replace"),
            pod_change(Action::Create, "new-a", &["nginx"], "create-a"),
            pod_change(Action::Create, "new-b", &["nginx"], "create-b"),
        ]);
        let fake = FakeConnector::new();
        let report = run_on_node1(&plan, &fake);
        assert!(!report.failed(), "{report:?}");
        let ran: Vec<String> = fake
            .commands("k8s-node1")
            .iter()
            .map(|c| {
                crate::runtime::docker::pulled_image(c)
                    .map_or(c.program.clone(), |i| format!("pull {i}"))
            })
            .collect();
        // The two pulls (in any order: they run at the same time), then the changes, destroys first.
        let mut first: Vec<String> = ran[..2].to_vec();
        first.sort();
        assert_eq!(first, ["pull busybox:1", "pull nginx"]);
        assert_eq!(ran[2..], ["rm-old", "replace", "create-a", "create-b"]);
        assert_eq!(report.mutating_commands, 6);
    }

    #[test]
    fn a_failed_pull_fails_its_pods_with_the_registry_message_and_takes_nothing_down() {
        let plan = plan_of(vec![
            change(ChangeKind::Pod, Action::Delete, "old", "rm-old"),
            pod_change(Action::Replace, "bare", &["nope:1"], "replace"),
            pod_change(Action::Create, "new", &["nope:1"], "create"),
            pod_change(Action::Create, "other", &["nginx"], "create-other"),
            change(
                ChangeKind::ServiceRules,
                Action::Update,
                "rules",
                "iptables-restore",
            ),
        ]);
        let fake = FakeConnector::new();
        fake.on(
            |_, c| crate::runtime::docker::pulled_image(c) == Some("nope:1"),
            Ok(crate::transport::Output {
                status: 1,
                stdout: vec![],
                stderr:
                    b"Error response from daemon: manifest for nope:1 not found: manifest unknown\n"
                        .to_vec(),
            }),
        );
        let report = run_on_node1(&plan, &fake);
        let ran: Vec<String> = fake
            .commands("k8s-node1")
            .iter()
            .filter(|c| crate::runtime::docker::pulled_image(c).is_none())
            .map(|c| c.program.clone())
            .collect();
        // Only the pod whose image was pulled is created; nothing is removed, no rule rewritten.
        assert_eq!(ran, ["create-other"]);
        let errors = &report.hosts[0].errors;
        assert_eq!(report.hosts[0].failed, 4, "{errors:?}");
        assert!(errors.contains(&"create default/new: ErrImagePull: Failed to pull image \"nope:1\": Error response from daemon: manifest for nope:1 not found: manifest unknown".to_string()), "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("replace default/bare: ErrImagePull")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("delete default/old: not run: an image pull failed")),
            "{errors:?}"
        );
    }
}
