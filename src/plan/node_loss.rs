//! Node loss without an agent (docs/reconcile.md, "Node loss"). Kubernetes evicts the pods of a node whose
//! kubelet stopped posting status for longer than the pods' `tolerationSeconds` of
//! `node.kubernetes.io/unreachable` (300 s by default) and its ReplicaSet and Job controllers replace them
//! on healthy nodes. Here nothing posts heartbeats: what clusterctl knows is what each observation could
//! reach, so the memory of "unreachable since" is kept in the roster's `hosts` records, and the rule is:
//!
//! - a host is **unreachable** in an observation when it could not be read (no connection, a refused
//!   login, a read past `ssh.readTimeout`, the runtime not answering). A host that answers within its
//!   deadlines, however slowly, is reachable: slow is not lost;
//! - its outage starts at the first observation that could not reach it (`unreachableSince`) and ends at
//!   the first that reaches it again; a reachable observation in between starts the count anew;
//! - it is **lost** once an observation finds the outage longer than `cluster.nodeLostGracePeriod`
//!   (`lostAt` records the first such observation). From then on the pods it ran that a ReplicaSet or a
//!   Job owns are **evicted**: no longer counted, so the plan creates replacements on the other hosts.
//!   DaemonSet pods (bound to their node) and bare pods (nothing would recreate them) stay counted;
//! - when a lost host answers again, its evicted pods (created before `lostAt`) are **stale copies**:
//!   the plan deletes them and apply runs those deletes before anything else. The record is kept until
//!   no stale copy is left, so an apply that failed to remove one removes it next time.
//!
//! Pure: "now" is the observation's time (`ObservedState::observed_at`), so a snapshot plans the same.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::model::{HostRecord, ObservedPod, ObservedState};

/// This observation's view of node loss: the memory to keep and what it means for pods.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeLoss {
    /// `cluster.nodeLostGracePeriod`, seconds.
    pub grace_secs: u64,
    /// The observation's time (RFC 3339).
    pub now: String,
    /// The records the roster holds after this observation, by host.
    pub hosts: BTreeMap<String, HostRecord>,
    /// The records differ from the roster's (beyond `lastSeen`): write the roster even when the plan has
    /// nothing else to do, so "unreachable since" survives without an agent.
    pub changed: bool,
}

/// A lost host as the plan's reasons tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    pub node: String,
    /// RFC 3339.
    pub since: String,
    /// RFC 3339: when the outage was first found longer than the grace period.
    pub lost_at: String,
    /// How long the host has been unreachable as of this observation (0 once it is back).
    pub unreachable_secs: u64,
    pub grace_secs: u64,
}

fn ts(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

fn secs_between(from: &str, to: &str) -> Option<u64> {
    let d = ts(to)?.duration_since(ts(from)?);
    Some(d.as_secs().max(0) as u64)
}

/// Whether the pod's controller replaces it when its node is lost: a ReplicaSet or a Job (not a
/// DaemonSet, whose pod belongs to its node; not a bare pod, which nothing recreates).
pub fn replaceable(pod: &ObservedPod) -> bool {
    pod.owner
        .as_ref()
        .is_some_and(|o| o.kind == "ReplicaSet" || o.kind == "Job")
}

/// Whether `pod`, on a host that is reachable, was created before `lost_at` (a copy from before the loss).
fn created_before(pod: &ObservedPod, lost_at: &str) -> bool {
    let created = pod
        .sandbox
        .as_ref()
        .map(|s| s.created_at.as_str())
        .or_else(|| {
            pod.containers
                .values()
                .next()
                .map(|c| c.created_at.as_str())
        })
        .unwrap_or("");
    match (ts(created), ts(lost_at)) {
        (Some(c), Some(l)) => c < l,
        // No readable creation time: a pod of the lost host that was not made after its return.
        _ => true,
    }
}

/// Updates the roster's host records with observation `state` and says what they mean.
pub fn assess(state: &ObservedState, grace_secs: u64) -> NodeLoss {
    let now = state.observed_at.clone();
    let before: BTreeMap<String, HostRecord> =
        state.roster().map(|r| r.hosts.clone()).unwrap_or_default();
    let pods = crate::model::observed_pods(state);
    let mut hosts = BTreeMap::new();
    for node in &state.nodes {
        let old = before.get(&node.name).cloned().unwrap_or_default();
        let record = if node.reachable {
            let stale_left = old.lost_at.as_deref().is_some_and(|lost_at| {
                pods.iter()
                    .any(|p| p.node == node.name && replaceable(p) && created_before(p, lost_at))
            });
            if stale_left {
                HostRecord {
                    last_seen: Some(now.clone()),
                    ..old
                }
            } else {
                HostRecord {
                    last_seen: Some(now.clone()),
                    unreachable_since: None,
                    lost_at: None,
                }
            }
        } else {
            let since = old.unreachable_since.clone().unwrap_or_else(|| now.clone());
            let lost_at = old.lost_at.clone().or_else(|| {
                secs_between(&since, &now)
                    .filter(|&s| s > grace_secs)
                    .map(|_| now.clone())
            });
            HostRecord {
                last_seen: old.last_seen.clone(),
                unreachable_since: Some(since),
                lost_at,
            }
        };
        hosts.insert(node.name.clone(), record);
    }
    let strip =
        |m: &BTreeMap<String, HostRecord>| -> BTreeMap<String, (Option<String>, Option<String>)> {
            m.iter()
                .filter(|(_, r)| r.unreachable_since.is_some() || r.lost_at.is_some())
                .map(|(h, r)| (h.clone(), (r.unreachable_since.clone(), r.lost_at.clone())))
                .collect()
        };
    let changed = strip(&before) != strip(&hosts);
    NodeLoss {
        grace_secs,
        now,
        hosts,
        changed,
    }
}

impl NodeLoss {
    /// The host `node` if it is lost (now, or before it came back with stale copies).
    pub fn lost(&self, node: &str) -> Option<Lost> {
        let r = self.hosts.get(node)?;
        let lost_at = r.lost_at.clone()?;
        let since = r
            .unreachable_since
            .clone()
            .unwrap_or_else(|| lost_at.clone());
        // Back (seen now): no longer unreachable.
        let back = r.last_seen.as_deref() == Some(self.now.as_str());
        Some(Lost {
            node: node.to_string(),
            unreachable_secs: if back {
                0
            } else {
                secs_between(&since, &self.now).unwrap_or(0)
            },
            since,
            lost_at,
            grace_secs: self.grace_secs,
        })
    }

    /// Whether `pod` is evicted: a ReplicaSet/Job pod of a lost host, that (if the host is back) was
    /// created before the loss. Evicted pods are not counted; on a reachable host they are deleted.
    pub fn evicted(&self, pod: &ObservedPod) -> Option<Lost> {
        if !replaceable(pod) {
            return None;
        }
        let lost = self.lost(&pod.node)?;
        (!pod.node_reachable || created_before(pod, &lost.lost_at)).then_some(lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObservedContainer, ObservedNode, Roster, labels};

    fn node(name: &str, reachable: bool) -> ObservedNode {
        ObservedNode {
            name: name.into(),
            reachable,
            error: None,
            facts: None,
            containers: vec![],
            roster: None,
            network: None,
            ..Default::default()
        }
    }

    fn state(at: &str, nodes: Vec<ObservedNode>) -> ObservedState {
        ObservedState {
            format_version: 1,
            observed_at: at.into(),
            nodes,
        }
    }

    /// The next observation at `at`, remembering what `loss` recorded (as a written roster would).
    fn next(loss: &NodeLoss, at: &str, reachable: &[(&str, bool)]) -> ObservedState {
        let mut s = state(at, reachable.iter().map(|(n, r)| node(n, *r)).collect());
        let roster = Roster {
            written_at: loss.now.clone(),
            hosts: loss.hosts.clone(),
            ..Roster::default()
        };
        for n in s.nodes.iter_mut().filter(|n| n.reachable) {
            n.roster = Some(roster.clone());
        }
        s
    }

    fn pod_container(pod: &str, owner: &str, created: &str) -> ObservedContainer {
        ObservedContainer {
            id: format!("id-{pod}"),
            name: format!("k8s_POD_{pod}_default"),
            status: "running".into(),
            created_at: created.into(),
            labels: [
                (labels::MANAGED, "true"),
                (labels::NAMESPACE, "default"),
                (labels::POD, pod),
                (labels::CONTAINER, labels::SANDBOX_CONTAINER),
                (labels::OWNER_KIND, owner),
                (labels::OWNER_NAME, "web-5d8f"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..Default::default()
        }
    }

    const T0: &str = "2026-12-01T12:00:00Z";

    #[test]
    fn a_host_is_lost_only_after_more_than_the_grace_period_unreachable() {
        let hosts = |r2| [("k8s-node1", true), ("k8s-node2", r2)];
        let first = assess(&next(&NodeLoss::default(), T0, &hosts(false)), 300);
        assert!(first.changed, "the outage start is remembered");
        assert_eq!(
            first.hosts["k8s-node2"].unreachable_since.as_deref(),
            Some(T0)
        );
        assert_eq!(first.lost("k8s-node2"), None);
        // Exactly the grace period: not longer, not lost; nothing new to remember.
        let at_grace = assess(&next(&first, "2026-12-01T12:05:00Z", &hosts(false)), 300);
        assert_eq!(at_grace.lost("k8s-node2"), None);
        assert!(!at_grace.changed);
        let after = assess(&next(&at_grace, "2026-12-01T12:06:05Z", &hosts(false)), 300);
        assert!(after.changed, "lostAt is remembered");
        assert_eq!(
            after.lost("k8s-node2"),
            Some(Lost {
                node: "k8s-node2".into(),
                since: T0.into(),
                lost_at: "2026-12-01T12:06:05Z".into(),
                unreachable_secs: 365,
                grace_secs: 300,
            })
        );
        // Lost stays lost, with the first lostAt.
        let later = assess(&next(&after, "2026-12-01T12:09:00Z", &hosts(false)), 300);
        assert!(!later.changed);
        assert_eq!(
            later.lost("k8s-node2").unwrap().lost_at,
            "2026-12-01T12:06:05Z"
        );
    }

    #[test]
    fn a_reachable_observation_in_between_starts_the_count_anew() {
        let first = assess(
            &next(&NodeLoss::default(), T0, &[("a", true), ("b", false)]),
            60,
        );
        let back = assess(
            &next(&first, "2026-12-01T12:00:50Z", &[("a", true), ("b", true)]),
            60,
        );
        assert!(back.changed);
        assert_eq!(back.hosts["b"].unreachable_since, None);
        let again = assess(
            &next(&back, "2026-12-01T12:01:30Z", &[("a", true), ("b", false)]),
            60,
        );
        assert_eq!(
            again.lost("b"),
            None,
            "90 s since the first outage, 0 s into this one"
        );
        assert_eq!(
            again.hosts["b"].unreachable_since.as_deref(),
            Some("2026-12-01T12:01:30Z")
        );
    }

    #[test]
    fn without_a_reachable_host_to_remember_it_the_count_starts_at_each_observation() {
        // No roster at all (every host down, or never applied): nothing is remembered, nothing is lost.
        let s = state("2026-12-01T13:00:00Z", vec![node("a", false)]);
        let loss = assess(&s, 1);
        assert_eq!(loss.lost("a"), None);
    }

    #[test]
    fn only_replica_set_and_job_pods_of_a_lost_host_are_evicted_and_stale_copies_are_remembered() {
        let lost = assess(
            &next(&NodeLoss::default(), T0, &[("a", true), ("b", false)]),
            10,
        );
        let lost = assess(
            &next(&lost, "2026-12-01T12:00:30Z", &[("a", true), ("b", false)]),
            10,
        );
        assert!(lost.lost("b").is_some());
        // b is back with an old ReplicaSet pod, an old DaemonSet pod and a ReplicaSet pod made after.
        let mut s = next(&lost, "2026-12-01T12:01:00Z", &[("a", true), ("b", true)]);
        s.nodes[1].containers = vec![
            pod_container("web-0", "ReplicaSet", "2026-12-01T11:00:00Z"),
            pod_container("ds-b", "DaemonSet", "2026-12-01T11:00:00Z"),
            pod_container("web-9", "ReplicaSet", "2026-12-01T12:00:59Z"),
        ];
        let back = assess(&s, 10);
        assert!(!back.changed, "a stale copy is left: the record stays");
        let pods = crate::model::observed_pods(&s);
        let evicted: Vec<&str> = pods
            .iter()
            .filter(|p| back.evicted(p).is_some())
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(evicted, ["web-0"]);
        assert_eq!(back.lost("b").unwrap().unreachable_secs, 0);
        // Once it is gone the record is cleared.
        s.nodes[1].containers.remove(0);
        let s2 = next(&back, "2026-12-01T12:01:30Z", &[("a", true), ("b", true)]);
        let mut s2 = s2;
        s2.nodes[1].containers = s.nodes[1].containers.clone();
        let done = assess(&s2, 10);
        assert!(done.changed);
        assert_eq!(done.hosts["b"].lost_at, None);
    }
}
