//! The saved plan file (`plan --out FILE`, docs/saved-plans.md): the plan JSON of docs/plan-format.md under
//! `plan`, beside the fingerprint of the observed state it was computed from, the roster the cluster will
//! have once it is applied, and which detail lines are the scheduler's reasoning. Reading it back gives a
//! [`Plan`] to execute (reasons and details in words: [`Reason::Recorded`], [`Detail::Line`]) and the pending
//! pods' messages. JSON rather than a binary format: a reviewer can read and diff it, `jq` can gate on it,
//! and it is the same schema `plan -o json` prints. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cmd::Cmd;
use crate::model::Roster;
use crate::plan::fingerprint::Fingerprint;
use crate::plan::{Action, Change, ChangeKind, Detail, PLAN_FORMAT_VERSION, Plan, Reason, Summary};

use super::plan::{Options, detail_lines};

/// Version of the saved-plan envelope (the plan inside has its own `formatVersion`).
pub const SAVED_PLAN_VERSION: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SavedOut<'a> {
    saved_plan_version: u32,
    created_at: &'a str,
    plan: &'a Plan,
    /// Change index → indices of its detail lines that are the scheduler's reasoning (`--explain`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    explain_details: BTreeMap<usize, Vec<usize>>,
    fingerprint: &'a Fingerprint,
    roster: &'a Roster,
}

/// The saved plan file's text (pretty JSON, a trailing newline). `roster` is `plan::roster_after` with an
/// empty `written_at`: apply stamps it (see [`SavedPlan::roster_at`]).
pub fn write(plan: &Plan, fingerprint: &Fingerprint, roster: &Roster, created_at: &str) -> String {
    let mut explain_details = BTreeMap::new();
    for (i, c) in plan.changes.iter().enumerate() {
        let mut at = 0;
        let mut idx = Vec::new();
        for d in &c.details {
            let n = detail_lines(d).len();
            if matches!(d, Detail::Placement(_) | Detail::Explained(_)) {
                idx.extend(at..at + n);
            }
            at += n;
        }
        if !idx.is_empty() {
            explain_details.insert(i, idx);
        }
    }
    let doc = SavedOut {
        saved_plan_version: SAVED_PLAN_VERSION,
        created_at,
        plan,
        explain_details,
        fingerprint,
        roster,
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("a plan serializes");
    s.push('\n');
    s
}

/// A saved plan read back.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    pub saved_plan_version: u32,
    pub created_at: String,
    pub plan: PlanRecord,
    #[serde(default)]
    pub explain_details: BTreeMap<usize, Vec<usize>>,
    pub fingerprint: Fingerprint,
    pub roster: Roster,
}

/// The plan JSON of docs/plan-format.md, as read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanRecord {
    pub format_version: u32,
    pub commit: String,
    pub changes: Vec<ChangeRecord>,
    #[serde(default)]
    pub pending: Vec<PendingRecord>,
    #[serde(default)]
    pub unreachable_nodes: Vec<String>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeRecord {
    pub action: Action,
    pub kind: ChangeKind,
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub reason: String,
    #[serde(default)]
    pub details: Vec<String>,
    pub steps: Vec<Cmd>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PendingRecord {
    pub namespace: String,
    pub name: String,
    pub message: String,
}

/// Reads a saved plan; the error says what is wrong with the file.
pub fn read(text: &str) -> Result<SavedPlan, String> {
    let saved: SavedPlan = serde_json::from_str(text)
        .map_err(|e| format!("not a saved plan (`clusterctl plan --out FILE` writes one): {e}"))?;
    if saved.saved_plan_version != SAVED_PLAN_VERSION {
        return Err(format!(
            "savedPlanVersion {} is not supported (this clusterctl reads {SAVED_PLAN_VERSION}); run plan again",
            saved.saved_plan_version
        ));
    }
    if saved.plan.format_version != PLAN_FORMAT_VERSION {
        return Err(format!(
            "plan formatVersion {} is not supported (this clusterctl reads {PLAN_FORMAT_VERSION}); run plan again",
            saved.plan.format_version
        ));
    }
    Ok(saved)
}

impl SavedPlan {
    /// The plan to execute: the saved changes and steps exactly; reasons and details in words. Pending
    /// pods are not part of it (they run nowhere): see [`SavedPlan::pending`].
    pub fn to_plan(&self) -> Plan {
        let changes = self
            .plan
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let explained = self.explain_details.get(&i);
                Change {
                    action: c.action,
                    kind: c.kind,
                    namespace: c.namespace.clone(),
                    name: c.name.clone(),
                    node: c.node.clone(),
                    reason: Reason::Recorded(c.reason.clone()),
                    details: c
                        .details
                        .iter()
                        .enumerate()
                        .map(|(j, l)| {
                            if explained.is_some_and(|e| e.contains(&j)) {
                                Detail::Explained(l.clone())
                            } else {
                                Detail::Line(l.clone())
                            }
                        })
                        .collect(),
                    steps: c.steps.clone(),
                }
            })
            .collect();
        Plan {
            format_version: self.plan.format_version,
            commit: self.plan.commit.clone(),
            changes,
            pending: Vec::new(),
            unreachable_nodes: self.plan.unreachable_nodes.clone(),
            summary: self.plan.summary,
        }
    }

    /// The pending pods as `(namespace, name, message)`.
    pub fn pending(&self) -> Vec<(String, String, String)> {
        self.plan
            .pending
            .iter()
            .map(|p| (p.namespace.clone(), p.name.clone(), p.message.clone()))
            .collect()
    }

    /// The roster to write after the plan was applied at `now` (RFC 3339): Services first applied by this
    /// plan are stamped `now`.
    pub fn roster_at(&self, now: &str) -> Roster {
        let mut r = self.roster.clone();
        r.written_at = now.to_string();
        for t in r.services.values_mut().filter(|t| t.is_empty()) {
            *t = now.to_string();
        }
        r
    }

    /// The plan JSON (docs/plan-format.md) exactly as it was saved.
    pub fn plan_json(text: &str) -> Result<String, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut s = serde_json::to_string_pretty(&v["plan"]).map_err(|e| e.to_string())?;
        s.push('\n');
        Ok(s)
    }
}

/// The human view of a saved plan: the plan view of `plan`, with its pending pods.
pub fn render_human(saved: &SavedPlan, opts: &Options) -> String {
    let short: String = saved.plan.commit.chars().take(7).collect();
    let mut out = super::plan::render(&saved.to_plan(), &short, opts);
    let pending = saved.pending();
    if pending.is_empty() {
        return out;
    }
    let mut block = String::from("\nPods that fit on no node (they stay Pending):\n");
    for (ns, name, msg) in &pending {
        block.push_str(&format!("  ! pod {ns}/{name}: {msg}\n"));
    }
    // The plan view puts pending pods just before its `Plan:` line (at the end when there is none).
    match out.rfind("\nPlan: ") {
        Some(at) => out.insert_str(at, &block),
        None => out.push_str(&block),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fingerprint::HostPrint;

    pub(crate) fn sample_plan() -> Plan {
        let pod = |action, name: &str, node: &str| Change {
            action,
            kind: ChangeKind::Pod,
            namespace: "default".into(),
            name: name.into(),
            node: node.into(),
            reason: Reason::ExtraReplica,
            details: vec![Detail::Line("image \"nginx\"".into())],
            steps: vec![Cmd::write("docker", ["rm", "-f", name])],
        };
        let mut plan = Plan {
            format_version: PLAN_FORMAT_VERSION,
            commit: "0123456789abcdef".into(),
            changes: vec![
                pod(Action::Delete, "web-1", "k8s-node1"),
                pod(Action::Create, "web-2", "k8s-node2"),
            ],
            pending: vec![],
            unreachable_nodes: vec![],
            summary: Summary {
                add: 1,
                change: 0,
                destroy: 1,
            },
        };
        plan.changes[1]
            .details
            .push(Detail::Explained("scheduled: score 3".into()));
        plan
    }

    #[test]
    fn round_trips_the_steps_and_words_exactly() {
        let plan = sample_plan();
        let fp = Fingerprint {
            hosts: [("k8s-node1".to_string(), HostPrint::default())].into(),
        };
        let mut roster = Roster::default();
        roster.services.insert("default/web".into(), String::new());
        roster
            .services
            .insert("default/old".into(), "2026-01-01T00:00:00Z".into());
        let text = write(&plan, &fp, &roster, "2026-02-02T00:00:00Z");
        assert_eq!(text, write(&plan, &fp, &roster, "2026-02-02T00:00:00Z"));
        let saved = read(&text).unwrap();
        let back = saved.to_plan();
        assert_eq!(back.changes.len(), 2);
        for (a, b) in plan.changes.iter().zip(&back.changes) {
            assert_eq!(a.steps, b.steps);
            assert_eq!(
                super::super::plan::reason(&a.reason),
                super::super::plan::reason(&b.reason)
            );
        }
        assert_eq!(
            back.changes[1].details[1],
            Detail::Explained("scheduled: score 3".into())
        );
        assert_eq!(saved.fingerprint, fp);
        // The plan JSON inside is byte for byte what `plan -o json` prints.
        assert_eq!(
            SavedPlan::plan_json(&text).unwrap(),
            format!("{}\n", serde_json::to_string_pretty(&plan).unwrap())
        );
        let r = saved.roster_at("2026-03-03T00:00:00Z");
        assert_eq!(r.written_at, "2026-03-03T00:00:00Z");
        assert_eq!(r.services["default/web"], "2026-03-03T00:00:00Z");
        assert_eq!(r.services["default/old"], "2026-01-01T00:00:00Z");
        // The human view of the saved plan is the live plan's.
        let opts = Options {
            color: false,
            explain: false,
            verbose: false,
        };
        assert_eq!(
            render_human(&saved, &opts),
            super::super::plan::render(&plan, "0123456", &opts)
        );
    }

    #[test]
    fn refuses_other_files_and_versions() {
        assert!(read("{}").unwrap_err().starts_with("not a saved plan"));
        let plan = sample_plan();
        let text = write(&plan, &Fingerprint::default(), &Roster::default(), "t");
        let bumped = text.replace("\"savedPlanVersion\": 1", "\"savedPlanVersion\": 9");
        assert!(read(&bumped).unwrap_err().contains("savedPlanVersion 9"));
    }
}
