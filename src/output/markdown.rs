//! The plan as GitHub/GitLab-flavoured Markdown (`plan -o markdown`, `show FILE -o markdown`), ready to post
//! as a pull-request comment: a headline, a summary table with one row per host, then one collapsible
//! `<details>` block per host whose changes sit in a `diff` code block (so `+`/`-` lines are coloured).
//! Repeated detail lines are folded as in the human view (`output::summary`). Pure.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::plan::{detail_lines, reason};
use super::summary;
use crate::plan::{Action, ChangeKind, Detail, Plan};

fn sign(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Start | Action::Update => "~",
        Action::Replace => "-/+",
        Action::Delete => "-",
    }
}

/// A code fence longer than any run of backticks in `body`, so no text can close it early.
fn fence(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

/// Text for a table cell or a summary line: no pipes, no HTML.
fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
}

#[derive(Default)]
struct HostCounts {
    add: usize,
    change: usize,
    destroy: usize,
    /// Persistent volumes whose data is deleted (a claim gone with reclaimPolicy Delete).
    volumes: usize,
    network: Option<Action>,
    rules: Option<Action>,
}

fn word(a: Option<Action>) -> &'static str {
    match a {
        None => "",
        Some(Action::Create) => "create",
        Some(_) => "update",
    }
}

/// `plan` as Markdown. `pending` are `(namespace, name, message)`; `verbose` keeps every detail line.
pub fn render(
    plan: &Plan,
    pending: &[(String, String, String)],
    commit_short: &str,
    explain: bool,
    verbose: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### clusterctl plan — commit `{commit_short}`\n");
    let s = &plan.summary;
    if plan.changes.is_empty() {
        let _ = writeln!(
            out,
            "**No changes.** The hosts match the manifests at commit `{commit_short}`."
        );
    } else {
        let _ = writeln!(
            out,
            "**Plan: {} to add, {} to change, {} to destroy.**\n",
            s.add, s.change, s.destroy
        );
        let mut hosts: BTreeMap<&str, HostCounts> = BTreeMap::new();
        for c in &plan.changes {
            let h = hosts.entry(c.node.as_str()).or_default();
            match c.kind {
                ChangeKind::Network => h.network = Some(c.action),
                ChangeKind::ServiceRules => h.rules = Some(c.action),
                ChangeKind::Volume => h.volumes += 1,
                ChangeKind::Pod => match c.action {
                    Action::Create => h.add += 1,
                    Action::Start | Action::Update => h.change += 1,
                    Action::Replace => {
                        h.add += 1;
                        h.destroy += 1;
                    }
                    Action::Delete => h.destroy += 1,
                },
            }
        }
        let _ = writeln!(
            out,
            "| Host | Pods to add | Pods to change | Pods to destroy | Volumes deleted | Pod network | Service rules |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | --- | --- |");
        for (host, h) in &hosts {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(host),
                h.add,
                h.change,
                h.destroy,
                h.volumes,
                word(h.network),
                word(h.rules)
            );
        }
        for (host, h) in &hosts {
            let mut body = String::new();
            for c in plan.changes.iter().filter(|c| c.node == *host) {
                let what = match c.kind {
                    ChangeKind::Pod => format!("pod {}/{}", c.namespace, c.name),
                    ChangeKind::Network => format!("pod network {}", c.name),
                    ChangeKind::ServiceRules => format!("service rules {}", c.name),
                    ChangeKind::Volume => format!("persistent volume {} (data deleted)", c.name),
                };
                let _ = writeln!(body, "{} {what}  # {}", sign(c.action), reason(&c.reason));
                let lines = c
                    .details
                    .iter()
                    .filter(|d| {
                        explain || !matches!(d, Detail::Placement(_) | Detail::Explained(_))
                    })
                    .flat_map(detail_lines)
                    .collect();
                for line in summary::fold(lines, verbose) {
                    let _ = writeln!(body, "      {line}");
                }
            }
            let mut parts = Vec::new();
            for (n, w) in [
                (h.add, "to add"),
                (h.change, "to change"),
                (h.destroy, "to destroy"),
            ] {
                if n > 0 {
                    parts.push(format!("{n} pod(s) {w}"));
                }
            }
            if let Some(a) = h.network {
                parts.push(format!("pod network: {}", word(Some(a))));
            }
            if let Some(a) = h.rules {
                parts.push(format!("service rules: {}", word(Some(a))));
            }
            let f = fence(&body);
            let _ = write!(
                out,
                "\n<details><summary><b>{}</b>: {}</summary>\n\n{f}diff\n{body}{f}\n\n</details>\n",
                cell(host),
                cell(&parts.join(", "))
            );
        }
    }
    if !pending.is_empty() {
        let _ = writeln!(out, "\n**Pods that fit on no node** (they stay Pending):\n");
        for (ns, name, msg) in pending {
            let _ = writeln!(out, "- `{ns}/{name}`: {}", cell(msg));
        }
    }
    if !plan.unreachable_nodes.is_empty() {
        let _ = writeln!(
            out,
            "\n**Not observed** (their pods are left alone): {}",
            cell(&plan.unreachable_nodes.join(", "))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Cmd;
    use crate::plan::{Change, PLAN_FORMAT_VERSION, Reason, Summary};

    fn change(
        kind: ChangeKind,
        action: Action,
        name: &str,
        node: &str,
        details: &[&str],
    ) -> Change {
        Change {
            action,
            kind,
            namespace: if kind == ChangeKind::Pod {
                "default".into()
            } else {
                String::new()
            },
            name: name.into(),
            node: node.into(),
            reason: match kind {
                ChangeKind::Pod if action == Action::Delete => Reason::NotDesired,
                ChangeKind::Pod => Reason::DeploymentWants {
                    deployment: "web".into(),
                    replica_set: "web-6d4b".into(),
                    replicas: 2,
                },
                ChangeKind::Network => Reason::PodNetworkMissing,
                ChangeKind::ServiceRules => Reason::RulesDiffer,
                ChangeKind::Volume => Reason::ClaimRemoved {
                    claim: "default/data".into(),
                    reclaim_policy: "Delete".into(),
                },
            },
            details: details
                .iter()
                .map(|d| Detail::Line(d.to_string()))
                .collect(),
            steps: vec![Cmd::write("true", Vec::<String>::new())],
        }
    }

    fn plan() -> Plan {
        let routes = |me: usize| -> Vec<String> {
            (0..4)
                .filter(|i| *i != me)
                .map(|i| {
                    format!(
                        "route to 10.244.{i}.0/24 (k8s-node{i}) via 172.30.7.{}",
                        10 + i
                    )
                })
                .collect()
        };
        let r0 = routes(1);
        let r0: Vec<&str> = r0.iter().map(String::as_str).collect();
        let mut net_details =
            vec!["docker network clusterctl-pods 10.244.1.0/24 (bridge cni0) created"];
        net_details.extend(r0);
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            commit: "0123456789".into(),
            changes: vec![
                change(
                    ChangeKind::Pod,
                    Action::Create,
                    "web-6d4b-a1",
                    "k8s-node1",
                    &["image \"nginx\""],
                ),
                change(ChangeKind::Pod, Action::Delete, "old-1", "k8s-node2", &[]),
                change(
                    ChangeKind::Pod,
                    Action::Create,
                    "web-6d4b-b2",
                    "k8s-node2",
                    &[],
                ),
                change(
                    ChangeKind::Network,
                    Action::Create,
                    "clusterctl-pods",
                    "k8s-node1",
                    &net_details,
                ),
                change(
                    ChangeKind::ServiceRules,
                    Action::Update,
                    "iptables",
                    "k8s-node2",
                    &["default/web:http: endpoint 10.244.1.2:80 added"],
                ),
            ],
            pending: vec![],
            unreachable_nodes: vec!["k8s-node3".into()],
            summary: Summary {
                add: 2,
                change: 1,
                destroy: 1,
            },
        }
    }

    #[test]
    fn a_pull_request_comment() {
        let pending = vec![(
            "default".to_string(),
            "big-0".to_string(),
            "0/4 nodes are available: 4 Insufficient cpu.".to_string(),
        )];
        insta::assert_snapshot!(render(&plan(), &pending, "0123456", false, false));
    }

    #[test]
    fn verbose_lists_every_route() {
        let folded = render(&plan(), &[], "0123456", false, false);
        let all = render(&plan(), &[], "0123456", false, true);
        assert!(
            folded.contains("+ 3 routes to peer pod CIDRs (k8s-node0 … k8s-node3)"),
            "{folded}"
        );
        assert!(!all.contains("routes to peer"), "{all}");
        assert_eq!(all.matches("      route to ").count(), 3, "{all}");
    }

    #[test]
    fn no_changes() {
        let mut p = plan();
        p.changes.clear();
        p.unreachable_nodes.clear();
        assert_eq!(
            render(&p, &[], "0123456", false, false),
            "### clusterctl plan — commit `0123456`\n\n**No changes.** The hosts match the manifests at commit `0123456`.\n"
        );
    }

    #[test]
    fn fences_outgrow_backticks() {
        assert_eq!(fence("a ``` b"), "````");
        assert_eq!(fence("plain"), "```");
    }
}
