//! Views of a plan and of an apply report. The human view in Terraform's manner: a legend, one block per
//! change with its reason, pending pods, and the `Plan: X to add, Y to change, Z to destroy.` line. The
//! plan's JSON/YAML form (docs/plan-format.md) is the `Serialize` impl here. Both word the plan's typed
//! reasons and details the same way ([`reason`], [`detail_lines`]). Pure.

use std::fmt::Write;

use owo_colors::OwoColorize;
use serde::{Serialize, Serializer};

use crate::cmd::Cmd;
use crate::model::ApplyReport;
use crate::plan::{
    Action, Change, ChangeKind, Detail, Drift, PendingPod, Plan, Reason, Summary, TemplateChange,
};

pub struct Options {
    /// ANSI colours (the caller decides: only on a TTY, never with NO_COLOR).
    pub color: bool,
    /// Include the scheduler's reasoning for created pods.
    pub explain: bool,
    /// Every detail line; otherwise repeated lines of one kind are folded (`output::summary`).
    pub verbose: bool,
}

fn symbol(a: Action) -> &'static str {
    match a {
        Action::Create => "  +",
        Action::Start => "  ~",
        Action::Replace => "-/+",
        Action::Delete => "  -",
        Action::Update => "  ~",
    }
}

fn phrase(a: Action) -> &'static str {
    match a {
        Action::Create => "will be created",
        Action::Start => "will be started",
        Action::Replace => "must be replaced",
        Action::Delete => "will be destroyed",
        Action::Update => "will be updated",
    }
}

fn paint(s: &str, a: Action, color: bool) -> String {
    if !color {
        return s.to_string();
    }
    match a {
        Action::Create => s.green().to_string(),
        Action::Start => s.yellow().to_string(),
        Action::Replace => s.magenta().to_string(),
        Action::Delete => s.red().to_string(),
        Action::Update => s.yellow().to_string(),
    }
}

pub fn render(plan: &Plan, commit_short: &str, opts: &Options) -> String {
    let mut out = String::new();
    if plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "No changes. The hosts match the manifests at commit {commit_short}."
        );
        render_pending(&mut out, plan);
        return out;
    }
    let used: Vec<Action> = [
        Action::Create,
        Action::Start,
        Action::Replace,
        Action::Delete,
        Action::Update,
    ]
    .into_iter()
    .filter(|a| plan.changes.iter().any(|c| c.action == *a))
    .collect();
    let _ = writeln!(out, "Actions are indicated with the following symbols:");
    for a in &used {
        let legend = match a {
            Action::Create => "create",
            Action::Start => "start (containers stopped outside clusterctl)",
            Action::Replace => "destroy and then create replacement",
            Action::Delete => "destroy",
            Action::Update => "update in place",
        };
        let _ = writeln!(out, "{} {legend}", paint(symbol(*a), *a, opts.color));
    }
    let _ = writeln!(
        out,
        "\nclusterctl will perform the following actions (commit {commit_short}):"
    );
    for c in &plan.changes {
        let _ = writeln!(out);
        let (what, quoted) = match c.kind {
            ChangeKind::Network => ("pod network".to_string(), c.name.clone()),
            ChangeKind::ServiceRules => ("service rules".to_string(), c.name.clone()),
            ChangeKind::Pod => ("pod".to_string(), format!("{}/{}", c.namespace, c.name)),
            ChangeKind::Volume => ("persistent volume".to_string(), c.name.clone()),
        };
        let _ = writeln!(
            out,
            "  # {what} {quoted} {} on {}",
            phrase(c.action),
            c.node
        );
        let _ = writeln!(out, "  # ({})", reason(&c.reason));
        if c.kind == ChangeKind::Volume {
            // Data loss: the whole line in red, not only its symbol.
            let line = format!(
                "{} {what} \"{quoted}\" on {} (data deleted)",
                symbol(c.action),
                c.node
            );
            let line = if opts.color {
                line.red().bold().to_string()
            } else {
                line
            };
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(
                out,
                "{} {what} \"{quoted}\" on {}",
                paint(symbol(c.action), c.action, opts.color),
                c.node
            );
        }
        // The scheduler's reasoning only on request.
        let shown = c
            .details
            .iter()
            .filter(|d| opts.explain || !matches!(d, Detail::Placement(_) | Detail::Explained(_)));
        // Set-valued details are summarised unless -v asks for every line; repeated lines fold too.
        let lines = shown
            .flat_map(|d| {
                if opts.verbose {
                    detail_lines(d)
                } else {
                    summary_lines(d)
                }
            })
            .collect();
        for line in super::summary::fold(lines, opts.verbose) {
            let _ = writeln!(out, "      {line}");
        }
    }
    render_pending(&mut out, plan);
    let s = &plan.summary;
    let _ = writeln!(
        out,
        "\nPlan: {} to add, {} to change, {} to destroy.",
        s.add, s.change, s.destroy
    );
    out
}

fn render_pending(out: &mut String, plan: &Plan) {
    if plan.pending.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nPods that fit on no node (they stay Pending):");
    for p in &plan.pending {
        let _ = writeln!(out, "  ! pod {}/{}: {}", p.namespace, p.name, p.message());
    }
}

/// A change's reason in words.
pub fn reason(r: &Reason) -> String {
    match r {
        Reason::ConfigVolumesChanged(vols) => format!(
            "ConfigMap/Secret data of volume(s) {} changed: files updated in place, the pod is not replaced",
            vols.iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Reason::DeploymentWants {
            deployment,
            replica_set,
            replicas,
        } => format!(
            "Deployment {deployment} wants {replicas} replica(s) of ReplicaSet {replica_set}"
        ),
        Reason::OwnerWants {
            kind,
            name,
            replicas,
        } => format!("{kind} {name} wants {replicas} replica(s)"),
        Reason::PodDefined => "Pod is defined in the repository".into(),
        Reason::JobWants {
            job,
            progress,
            index,
        } => job_wants(job, progress, *index),
        Reason::JobRemoves { job, why } => job_removes(job, why),
        Reason::NodeSupervisor => {
            "every host runs the node supervisor (cluster.yaml nodeSupervisorImage)".into()
        }
        Reason::StatefulSetWants {
            stateful_set,
            ordinal,
            ordered: true,
        } if *ordinal > 0 => format!(
            "StatefulSet {stateful_set} wants ordinal {ordinal} (OrderedReady: the ordinals below it are Running)"
        ),
        Reason::StatefulSetWants {
            stateful_set,
            ordinal,
            ..
        } => format!("StatefulSet {stateful_set} wants ordinal {ordinal}"),
        Reason::ClaimRemoved {
            claim,
            reclaim_policy,
        } => format!(
            "persistentvolumeclaim {claim} is gone from the repository and no pod uses it; reclaimPolicy {reclaim_policy}: ITS DATA IS DELETED"
        ),
        Reason::Stopped { restart_policy } => {
            format!("stopped outside clusterctl; restartPolicy {restart_policy} wants it running")
        }
        Reason::Held {
            restart_policy,
            since,
        } => format!(
            "held by the node supervisor since {} (its host was away longer than the pod tolerates) and not replaced elsewhere; restartPolicy {restart_policy} wants it running",
            clock(since)
        ),
        Reason::NotDesired => "no longer desired: its owner is gone from the repository".into(),
        Reason::DaemonNotEligible { daemon_set, node } => format!(
            "DaemonSet {daemon_set} does not run on node {node} (nodeSelector, node affinity or an untolerated taint)"
        ),
        Reason::DaemonSurge { daemon_set, old } => format!(
            "DaemonSet {daemon_set} surges: the new pod starts next to {old} (an old template), which goes once this one is available"
        ),
        Reason::DaemonSurged { daemon_set, new } => {
            format!("DaemonSet {daemon_set} surged: its new pod {new} on this node is available")
        }
        Reason::ExtraReplica => "extra replica: more pods than the desired replica count".into(),
        Reason::ReplacesLost { pod, lost } => format!(
            "replaces {pod}: node {} unreachable since {} ({} ago), longer than the {} grace period",
            lost.node,
            clock(&lost.since),
            crate::age::human_duration(jiff::SignedDuration::from_secs(
                lost.unreachable_secs as i64
            )),
            crate::inventory::format_duration(lost.grace_secs)
        ),
        Reason::StaleAfterNodeLoss(lost) => format!(
            "stale copy: node {} was unreachable from {} for longer than the {} grace period (lost at {}) and its pods were replaced elsewhere; removed before anything else",
            lost.node,
            clock(&lost.since),
            crate::inventory::format_duration(lost.grace_secs),
            clock(&lost.lost_at)
        ),
        Reason::Superseded { old, new } => format!(
            "owner template changed: ReplicaSet {old} is superseded by {}",
            new.as_deref().unwrap_or("?")
        ),
        Reason::Drift(d) => drift(d),
        Reason::PodNetworkMissing => "the pod network is not set up on this host".into(),
        Reason::PodNetworkDiffers => "the pod network differs from the inventory".into(),
        Reason::RulesMissing => {
            "clusterctl's service and pod-network chains are not on this host".into()
        }
        Reason::RulesDiffer => {
            "service rules differ from the desired services and endpoints".into()
        }
        Reason::JumpsMissing => "jump rules into clusterctl's chains are missing".into(),
        Reason::Recorded(words) => words.clone(),
    }
}

/// `job k: 2 of 3 completions, starting 1` (+ `, index 2` for an Indexed Job's pod).
fn job_wants(job: &str, p: &crate::controllers::job::Progress, index: Option<u32>) -> String {
    let done = match p.completions {
        Some(c) => format!("{} of {c} completions", p.succeeded),
        None => format!("{} succeeded (no completions set)", p.succeeded),
    };
    let mut s = format!("job {job}: {done}, starting {}", p.starting);
    if p.active > 0 {
        s.push_str(&format!(", {} active", p.active));
    }
    if p.failed > 0 {
        s.push_str(&format!(", {} failed", p.failed));
    }
    if let Some(i) = index {
        s.push_str(&format!(" (completion index {i})"));
    }
    s
}

fn job_removes(job: &str, why: &crate::controllers::job::RemoveWhy) -> String {
    use crate::controllers::job::RemoveWhy;
    match why {
        RemoveWhy::Finished(c) if c == "Complete" => {
            format!("job {job} is Complete: its remaining active pods are removed")
        }
        RemoveWhy::Finished(reason) => {
            format!("job {job} Failed ({reason}): its active pods are removed")
        }
        RemoveWhy::Suspended => format!("job {job} is suspended: its active pods are removed"),
        RemoveWhy::TtlExpired { ttl } => {
            format!("job {job} finished more than ttlSecondsAfterFinished ({ttl}s) ago")
        }
        RemoveWhy::Excess => format!("job {job} wants fewer active pods (parallelism)"),
    }
}

/// An RFC 3339 time as the plan shows it: `12:01:05 UTC` (the "ago" beside it gives the day).
fn clock(rfc3339: &str) -> String {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(t) => t.strftime("%H:%M:%S UTC").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

fn drift(d: &Drift) -> String {
    match d {
        Drift::Template(parts) if parts.is_empty() => "pod template changed".into(),
        Drift::Template(parts) => {
            let parts: Vec<String> = parts.iter().map(template_change).collect();
            format!("pod template changed: {}", parts.join(", "))
        }
        Drift::SandboxMissing => "pod sandbox container is missing (removed by hand)".into(),
        Drift::ContainerMissing(c) => format!("container {c:?} is missing (removed by hand)"),
        Drift::EnvSourceChanged { container, sources } => format!(
            "the data of {} changed and container {container:?} reads it as env (env is set only when a container starts)",
            sources.join(", ")
        ),
        Drift::ContainerChanged(c) => {
            format!("container {c:?} differs from its spec (changed by hand)")
        }
        Drift::Image {
            container,
            running,
            wanted,
        } => format!(
            "container {container:?} runs image {running:?}, spec says {wanted:?} (changed by hand)"
        ),
        Drift::ExtraContainer(c) => format!("container {c:?} is not in the spec"),
        Drift::PodNetwork { network, cidr } => {
            format!("pod network changed: the pod is not on {network} ({cidr})")
        }
    }
}

fn template_change(t: &TemplateChange) -> String {
    match t {
        TemplateChange::ContainerAdded(c) => format!("container {c:?} added"),
        TemplateChange::ContainerRemoved(c) => format!("container {c:?} removed"),
        TemplateChange::Image { from, to } => format!("image {from:?} → {to:?}"),
        TemplateChange::Env(c) => format!("env of {c:?} changed"),
        TemplateChange::Command(c) => format!("command of {c:?} changed"),
        TemplateChange::Ports(c) => format!("ports of {c:?} changed"),
        TemplateChange::Resources(c) => format!("resources of {c:?} changed"),
    }
}

/// A detail as lines: a placement is its score line then one `not NODE: why` line per rejected node.
pub fn detail_lines(d: &Detail) -> Vec<String> {
    match d {
        Detail::Placement(p) => {
            let scores: Vec<String> = p.scores.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let mut out = vec![format!(
                "scheduled: score {} ({})",
                p.total,
                scores.join(", ")
            )];
            out.extend(
                p.rejected
                    .iter()
                    .map(|(node, why)| format!("not {node}: {why}")),
            );
            out
        }
        Detail::StartContainer(c) => vec![format!("start container {c}")],
        Detail::MovesTo(node) => vec![format!("moves to node {node}")],
        Detail::ReplacementPending(fit) => vec![format!("replacement stays Pending: {fit}")],
        Detail::RuleCounts {
            nat_chains,
            filter_chains,
            service_ports,
        } => vec![format!(
            "{nat_chains} nat and {filter_chains} filter chains, {service_ports} service port(s)"
        )],
        Detail::PeerRoutes(peers) => peers
            .iter()
            .map(|p| format!("route to {} ({}) via {}", p.pod_cidr, p.name, p.address))
            .collect(),
        Detail::StaleRoutes(routes) => routes
            .iter()
            .map(|(dst, via)| format!("stale route to {dst} via {via} removed"))
            .collect(),
        Detail::Line(line) | Detail::Explained(line) => vec![line.clone()],
    }
}

/// Up to this many entries of a set-valued detail are listed one per line in the human view.
const LISTED_ENTRIES: usize = 3;

/// A detail as the human view shows it: like [`detail_lines`], but a set-valued detail longer than
/// [`LISTED_ENTRIES`] becomes one line with its count and first and last entries, so a host's entry in the
/// plan of a 1,000-host cluster is not a thousand lines. The plan JSON keeps every entry.
pub fn summary_lines(d: &Detail) -> Vec<String> {
    match d {
        Detail::PeerRoutes(peers) if peers.len() > LISTED_ENTRIES => vec![format!(
            "routes to {} peer pod CIDRs ({} … {})",
            peers.len(),
            peers[0].name,
            peers[peers.len() - 1].name
        )],
        Detail::StaleRoutes(routes) if routes.len() > LISTED_ENTRIES => vec![format!(
            "{} stale routes removed ({} … {})",
            routes.len(),
            routes[0].0,
            routes[routes.len() - 1].0
        )],
        _ => detail_lines(d),
    }
}

/// The plan JSON of docs/plan-format.md: the plan with reasons and details in words.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanDoc<'a> {
    format_version: u32,
    commit: &'a str,
    changes: Vec<ChangeDoc<'a>>,
    pending: Vec<PendingDoc<'a>>,
    unreachable_nodes: &'a [String],
    summary: Summary,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeDoc<'a> {
    action: Action,
    kind: ChangeKind,
    namespace: &'a str,
    name: &'a str,
    node: &'a str,
    reason: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<String>,
    steps: Vec<StepDoc<'a>>,
}

/// A step as the plan JSON shows it: a sensitive stdin (Secret data) becomes its SHA-256, marked
/// `"sensitive": true`, as Terraform shows sensitive values (docs/secrets.md).
#[derive(Serialize)]
struct StepDoc<'a> {
    program: &'a str,
    args: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    stdin: Option<serde_json::Value>,
    mutating: bool,
}

impl<'a> From<&'a Cmd> for StepDoc<'a> {
    fn from(c: &'a Cmd) -> Self {
        use sha2::Digest;
        let stdin = c.stdin.as_ref().map(|s| {
            if c.sensitive {
                serde_json::json!({
                    "sensitive": true,
                    "sha256": hex::encode(sha2::Sha256::digest(s.as_bytes())),
                })
            } else {
                serde_json::Value::String(s.clone())
            }
        });
        StepDoc {
            program: &c.program,
            args: &c.args,
            stdin,
            mutating: c.mutating,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PendingDoc<'a> {
    namespace: &'a str,
    name: &'a str,
    message: String,
}

impl<'a> From<&'a Change> for ChangeDoc<'a> {
    fn from(c: &'a Change) -> Self {
        ChangeDoc {
            action: c.action,
            kind: c.kind,
            namespace: &c.namespace,
            name: &c.name,
            node: &c.node,
            reason: reason(&c.reason),
            details: c.details.iter().flat_map(detail_lines).collect(),
            steps: c.steps.iter().map(StepDoc::from).collect(),
        }
    }
}

impl<'a> From<&'a PendingPod> for PendingDoc<'a> {
    fn from(p: &'a PendingPod) -> Self {
        PendingDoc {
            namespace: &p.namespace,
            name: &p.name,
            message: p.message(),
        }
    }
}

impl Serialize for Plan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PlanDoc {
            format_version: self.format_version,
            commit: &self.commit,
            changes: self.changes.iter().map(ChangeDoc::from).collect(),
            pending: self.pending.iter().map(PendingDoc::from).collect(),
            unreachable_nodes: &self.unreachable_nodes,
            summary: self.summary,
        }
        .serialize(serializer)
    }
}

/// Per-host summary after an apply.
pub fn render_report(report: &ApplyReport) -> String {
    let mut rows = vec![vec![
        "HOST".to_string(),
        "ADDED".into(),
        "CHANGED".into(),
        "DESTROYED".into(),
        "FAILED".into(),
        "COMMANDS".into(),
    ]];
    for h in &report.hosts {
        rows.push(vec![
            h.node.clone(),
            h.added.to_string(),
            h.changed.to_string(),
            h.destroyed.to_string(),
            h.failed.to_string(),
            h.commands.to_string(),
        ]);
    }
    let mut out = String::from("\n");
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i + 1 == r.len() {
                    cell.clone()
                } else {
                    format!("{cell:<w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("   "));
    }
    let (a, c, d): (usize, usize, usize) = report.hosts.iter().fold((0, 0, 0), |(a, c, d), h| {
        (a + h.added, c + h.changed, d + h.destroyed)
    });
    let n: usize = report.hosts.iter().map(|h| h.network).sum();
    let _ = writeln!(
        out,
        "\n{} Pods: {a} added, {c} changed, {d} destroyed. Network and service rules: {n} host change(s). Mutating remote commands: {}.",
        headline(report),
        report.mutating_commands
    );
    let not_started: Vec<&String> = report.hosts.iter().flat_map(|h| &h.not_started).collect();
    let cut_off: Vec<&String> = report.hosts.iter().flat_map(|h| &h.interrupted).collect();
    for (title, items) in [
        ("Not started", not_started),
        ("Cut off after the grace period", cut_off),
    ] {
        if !items.is_empty() {
            let _ = writeln!(out, "{title} ({}):", items.len());
            for i in items {
                let _ = writeln!(out, "  {i}");
            }
        }
    }
    out
}

/// The first words of an apply's summary: "Apply complete!" only when every change succeeded on every host
/// (hosts not reached count as failed unless the caller accepted a partial cluster).
pub fn headline(report: &ApplyReport) -> String {
    if let Some(signal) = &report.cancelled_by {
        return format!("Apply stopped by {signal}!");
    }
    let failed = report.failed_hosts();
    if failed.is_empty() {
        "Apply complete!".to_string()
    } else {
        format!("Apply finished with errors (hosts: {}).", failed.join(", "))
    }
}
