//! Human view of a plan and of an apply report, in Terraform's manner: a legend, one block per change
//! with its reason, pending pods, and the `Plan: X to add, Y to change, Z to destroy.` line. Pure.

use std::fmt::Write;

use owo_colors::OwoColorize;

use crate::apply::ApplyReport;
use crate::plan::{Action, Plan};

pub struct Options {
    /// ANSI colours (the caller decides: only on a TTY, never with NO_COLOR).
    pub color: bool,
    /// Include the scheduler's reasoning for created pods.
    pub explain: bool,
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
        let (what, quoted) = match c.kind.as_str() {
            "Network" => ("pod network".to_string(), c.name.clone()),
            "ServiceRules" => ("service rules".to_string(), c.name.clone()),
            _ => ("pod".to_string(), format!("{}/{}", c.namespace, c.name)),
        };
        let _ = writeln!(
            out,
            "  # {what} {quoted} {} on {}",
            phrase(c.action),
            c.node
        );
        let _ = writeln!(out, "  # ({})", c.reason);
        let _ = writeln!(
            out,
            "{} {what} \"{quoted}\" on {}",
            paint(symbol(c.action), c.action, opts.color),
            c.node
        );
        for d in &c.details {
            if d.starts_with("scheduled:") || d.starts_with("not ") {
                if opts.explain {
                    let _ = writeln!(out, "      {d}");
                }
            } else {
                let _ = writeln!(out, "      {d}");
            }
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
        let _ = writeln!(out, "  ! pod {}/{}: {}", p.namespace, p.name, p.message);
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
