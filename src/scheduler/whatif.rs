//! What-if: where would a node's pods go if it were drained (`plan --drain NODE`: cordoned, its pods
//! evicted and recreated by their controllers) or lost (`plan --lose NODE`: gone for good)? Pure: a
//! function of the nodes, the pods on them, the node and the mode; nothing is changed.

use k8s_openapi::api::core::v1::{Node, Pod};

use super::{Placement, Scheduler};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The node stays but is unschedulable; its evictable pods are rescheduled elsewhere.
    Drain,
    /// The node disappears; its controller-owned pods are rescheduled elsewhere.
    Lose,
}

/// What happens to one pod of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recreated by its controller on `Placement::node`.
    Moves(Placement),
    /// Recreated but fits nowhere: Pending with the FitError message.
    Pending(String),
    /// Not rescheduled, with why (DaemonSet pods, bare pods).
    Stays(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodOutcome {
    pub namespace: String,
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhatIfError {
    #[error("node {0:?} is not in the inventory")]
    UnknownNode(String),
}

fn controller_kind(p: &Pod) -> Option<&str> {
    p.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.kind.as_str())
}

/// The node's pods (sorted by namespace/name) and what would happen to each. Pods are rescheduled in that
/// order, each seeing the placements before it, against every other pod staying where it is.
pub fn what_if(
    nodes: &[Node],
    pods: &[Pod],
    node: &str,
    mode: Mode,
) -> Result<Vec<PodOutcome>, WhatIfError> {
    if !nodes
        .iter()
        .any(|n| n.metadata.name.as_deref() == Some(node))
    {
        return Err(WhatIfError::UnknownNode(node.to_string()));
    }
    let on_node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node);
    let mut affected: Vec<&Pod> = pods.iter().filter(|p| on_node(p)).collect();
    affected.sort_by_key(|p| (p.metadata.namespace.clone(), p.metadata.name.clone()));
    let mut others: Vec<Pod> = pods.iter().filter(|p| !on_node(p)).cloned().collect();
    let new_nodes: Vec<Node> = match mode {
        Mode::Drain => nodes
            .iter()
            .cloned()
            .map(|mut n| {
                if n.metadata.name.as_deref() == Some(node) {
                    n.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
                }
                n
            })
            .collect(),
        Mode::Lose => nodes
            .iter()
            .filter(|n| n.metadata.name.as_deref() != Some(node))
            .cloned()
            .collect(),
    };
    // DaemonSet pods are not evicted by a drain (they would come straight back); they keep counting.
    if mode == Mode::Drain {
        others.extend(
            affected
                .iter()
                .filter(|p| controller_kind(p) == Some("DaemonSet"))
                .map(|p| (*p).clone()),
        );
    }
    let mut sched = Scheduler::new(&new_nodes, &others);
    let mut out = vec![];
    for p in affected {
        let outcome = match (controller_kind(p), mode) {
            (Some("DaemonSet"), Mode::Drain) => {
                Outcome::Stays("DaemonSet pod: not evicted by a drain".into())
            }
            (Some("DaemonSet"), Mode::Lose) => {
                Outcome::Stays("DaemonSet pod: gone with the node, not recreated elsewhere".into())
            }
            (None, _) => Outcome::Stays(match mode {
                Mode::Drain => "no controller: deleted by the drain, not recreated".into(),
                Mode::Lose => "no controller: lost with the node, not recreated".into(),
            }),
            (Some(_), _) => {
                let mut fresh = p.clone();
                if let Some(s) = fresh.spec.as_mut() {
                    s.node_name = None;
                }
                match sched.schedule(&fresh) {
                    Ok(pl) => Outcome::Moves(pl),
                    Err(e) => Outcome::Pending(e.to_string()),
                }
            }
        };
        out.push(PodOutcome {
            namespace: p
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: p.metadata.name.clone().unwrap_or_default(),
            outcome,
        });
    }
    Ok(out)
}

/// The report `plan --drain/--lose` prints.
pub fn render(node: &str, mode: Mode, outcomes: &[PodOutcome], explain: bool) -> String {
    let verb = match mode {
        Mode::Drain => "drained",
        Mode::Lose => "lost",
    };
    let mut s = format!("What if node {node} were {verb} (nothing is changed):\n");
    if outcomes.is_empty() {
        s.push_str("  no pods run there.\n");
        return s;
    }
    let (mut moved, mut pending) = (0, 0);
    for o in outcomes {
        let id = format!("{}/{}", o.namespace, o.name);
        match &o.outcome {
            Outcome::Moves(pl) => {
                moved += 1;
                s.push_str(&format!("  {id} → {}\n", pl.node));
                if explain {
                    for (n, why) in pl.rejected.iter() {
                        s.push_str(&format!("      not {n}: {why}\n"));
                    }
                }
            }
            Outcome::Pending(msg) => {
                pending += 1;
                s.push_str(&format!("  {id} stays Pending: {msg}\n"));
            }
            Outcome::Stays(why) => s.push_str(&format!("  {id} not rescheduled: {why}\n")),
        }
    }
    s.push_str(&format!(
        "{moved} pod(s) would move, {pending} would stay Pending, {} not rescheduled.\n",
        outcomes.len() - moved - pending
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    }

    fn pod(name: &str, node: &str, cpu: &str, owner: Option<&str>) -> Pod {
        let owners = owner.map_or(json!([]), |k| {
            json!([{"apiVersion": "apps/v1", "kind": k, "name": "o", "uid": "", "controller": true}])
        });
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "ownerReferences": owners},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i",
                     "resources": {"requests": {"cpu": cpu}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn drain_moves_controller_pods_and_reports_what_does_not_fit() {
        let nodes = vec![node("a", "2"), node("b", "2"), node("c", "1")];
        let pods = vec![
            pod("web-1", "a", "1500m", Some("ReplicaSet")),
            pod("web-2", "a", "1500m", Some("ReplicaSet")),
            pod("big", "a", "1900m", Some("ReplicaSet")),
            pod("agent", "a", "100m", Some("DaemonSet")),
            pod("bare", "a", "100m", None),
            pod("other", "b", "500m", Some("ReplicaSet")),
        ];
        let out = what_if(&nodes, &pods, "a", Mode::Drain).unwrap();
        let names: Vec<&str> = out.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["agent", "bare", "big", "web-1", "web-2"]);
        assert!(matches!(&out[0].outcome, Outcome::Stays(w) if w.starts_with("DaemonSet")));
        assert!(matches!(&out[1].outcome, Outcome::Stays(w) if w.starts_with("no controller")));
        // big (1.9) fits nowhere: b has 1.5 free, c has 1, a is cordoned.
        assert_eq!(
            out[2].outcome,
            Outcome::Pending(
                "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.".into()
            )
        );
        match &out[3].outcome {
            Outcome::Moves(pl) => assert_eq!(pl.node, "b"),
            o => panic!("{o:?}"),
        }
        // b now has 0 free; c only 1 core: web-2 stays Pending.
        assert_eq!(
            out[4].outcome,
            Outcome::Pending(
                "0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.".into()
            )
        );
        let report = render("a", Mode::Drain, &out, false);
        assert!(report.contains("  default/web-1 → b\n"), "{report}");
        assert!(
            report.ends_with("1 pod(s) would move, 2 would stay Pending, 2 not rescheduled.\n")
        );
    }

    #[test]
    fn lose_removes_the_node_and_is_pure() {
        let nodes = vec![node("a", "2"), node("b", "2")];
        let pods = vec![pod("web-1", "a", "1", Some("ReplicaSet"))];
        let out = what_if(&nodes, &pods, "a", Mode::Lose).unwrap();
        match &out[0].outcome {
            Outcome::Moves(pl) => {
                assert_eq!(pl.node, "b");
                assert!(
                    pl.rejected.is_empty(),
                    "the lost node is not even a candidate"
                );
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(out, what_if(&nodes, &pods, "a", Mode::Lose).unwrap());
        assert_eq!(
            what_if(&nodes, &pods, "zz", Mode::Lose)
                .unwrap_err()
                .to_string(),
            "node \"zz\" is not in the inventory"
        );
    }
}
