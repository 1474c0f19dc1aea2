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
/// DaemonSet, whose pod belongs to its node; not a bare pod, which nothing recreates). The node
/// supervisor's hold of a returning host uses the same rule (`supervisor::hold`).
pub fn replaceable(pod: &ObservedPod) -> bool {
    crate::supervisor::hold::replaceable(pod.owner.as_ref().map(|o| o.kind.as_str()))
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

pub use crate::supervisor::hold::UNREACHABLE_TAINT;

/// How long `pod` stays bound to an unreachable host before it is evicted
/// (`supervisor::hold::unreachable_toleration_secs`: the smallest `tolerationSeconds` of
/// [`UNREACHABLE_TAINT`], `None` when tolerated forever); a pod that does not tolerate the taint gets what
/// the DefaultTolerationSeconds admission plugin adds, `tolerationSeconds: 300` — here
/// `cluster.nodeLostGracePeriod` (`grace_secs`), which plays that plugin's
/// `--default-unreachable-toleration-seconds`. The node supervisor holds by the same number.
pub fn tolerated_secs(pod: &ObservedPod, grace_secs: u64) -> Option<u64> {
    crate::supervisor::hold::unreachable_toleration_secs(
        pod.manifest.as_ref().and_then(|m| m.spec.as_ref()),
        grace_secs,
    )
}

fn plus_secs(at: &str, secs: u64) -> String {
    ts(at)
        .and_then(|t| {
            t.checked_add(jiff::SignedDuration::from_secs(secs as i64))
                .ok()
        })
        .map(|t| t.to_string())
        .unwrap_or_else(|| at.to_string())
}

/// Whether `pod` is evicted under its host's `record` as of `now`: a ReplicaSet/Job pod whose host has
/// been unreachable (now, or — once it is back — until the last unreachable observation the roster kept)
/// for longer than the pod tolerates; on a host that is back, only a copy created before that.
fn pod_evicted(record: &HostRecord, pod: &ObservedPod, now: &str, grace_secs: u64) -> Option<Lost> {
    if !replaceable(pod) {
        return None;
    }
    let since = record
        .unreachable_since
        .clone()
        .or_else(|| record.lost_at.clone())?;
    let tolerated = tolerated_secs(pod, grace_secs)?;
    let end = if pod.node_reachable {
        // Rosters written before `lastUnreachable` existed: `lostAt` was already longer than the grace.
        [
            record.last_unreachable.as_deref(),
            record.lost_at.as_deref(),
        ]
        .into_iter()
        .flatten()
        .max_by_key(|t| ts(t))
        .unwrap_or(since.as_str())
        .to_string()
    } else {
        now.to_string()
    };
    let outage = secs_between(&since, &end)?;
    if outage <= tolerated || (pod.node_reachable && !created_before(pod, &end)) {
        return None;
    }
    let lost_at = match &record.lost_at {
        Some(l) if tolerated == grace_secs => l.clone(),
        _ => plus_secs(&since, tolerated),
    };
    Some(Lost {
        node: pod.node.clone(),
        unreachable_secs: if pod.node_reachable { 0 } else { outage },
        since,
        lost_at,
        grace_secs: tolerated,
    })
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
            // Back: the record stays while a copy it evicted is left (so the plan deletes it first).
            let stale_left = old.unreachable_since.is_some()
                && pods.iter().any(|p| {
                    p.node == node.name && pod_evicted(&old, p, &now, grace_secs).is_some()
                });
            if stale_left {
                HostRecord {
                    last_seen: Some(now.clone()),
                    ..old
                }
            } else {
                HostRecord {
                    last_seen: Some(now.clone()),
                    ..HostRecord::default()
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
                // Not part of `changed`: it is written with the roster of the apply that acts on it.
                last_unreachable: Some(now.clone()),
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

    /// Whether `pod` is evicted: a ReplicaSet/Job pod of a host unreachable for longer than the pod
    /// tolerates ([`tolerated_secs`]), that (if the host is back) was created before the host returned.
    /// Evicted pods are not counted; on a reachable host they are deleted.
    pub fn evicted(&self, pod: &ObservedPod) -> Option<Lost> {
        let record = self.hosts.get(&pod.node)?;
        pod_evicted(record, pod, &self.now, self.grace_secs)
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

    /// A ReplicaSet pod on `node` with these tolerations (YAML list), created at 11:00.
    fn tolerating(node: &str, reachable: bool, tolerations: &str) -> ObservedPod {
        let manifest: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-0"},
            "spec": {"containers": [], "tolerations": json(tolerations)}
        }))
        .unwrap();
        let mut sandbox = pod_container("web-0", "ReplicaSet", "2026-12-01T11:00:00Z");
        sandbox.name = "k8s_POD_web-0_default".into();
        ObservedPod {
            namespace: "default".into(),
            name: "web-0".into(),
            node: node.into(),
            node_reachable: reachable,
            sandbox: Some(sandbox),
            containers: BTreeMap::new(),
            owner: Some(crate::model::OwnerRef {
                kind: "ReplicaSet".into(),
                name: "web-5d8f".into(),
            }),
            template_hash: None,
            manifest: Some(manifest),
        }
    }

    /// Tolerations as JSON text (the tests spell them inline).
    fn json(json: &str) -> serde_json::Value {
        serde_json::from_str(json).unwrap()
    }

    /// Host b unreachable from T0 until `at` (observations every 5 s), grace 300.
    fn outage_until(at_secs: i64) -> NodeLoss {
        let mut loss = NodeLoss::default();
        let t0: Timestamp = T0.parse().unwrap();
        let mut t = 0;
        while t <= at_secs {
            let at = t0
                .checked_add(jiff::SignedDuration::from_secs(t))
                .unwrap()
                .to_string();
            loss = assess(&next(&loss, &at, &[("a", true), ("b", false)]), 300);
            t += 5;
        }
        loss
    }

    #[test]
    fn tolerations_of_the_unreachable_taint_decide_when_a_pod_is_evicted() {
        let unreachable = r#"[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 20}]"#;
        let forever = r#"[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]"#;
        let everything = r#"[{"operator": "Exists"}]"#;
        let other = r#"[{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoExecute", "tolerationSeconds": 1}]"#;
        let not_ready = r#"[{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}]"#;
        let two = r#"[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 40}, {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]"#;
        let zero = r#"[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": -5}]"#;
        let secs = |t: &str| tolerated_secs(&tolerating("b", false, t), 300);
        assert_eq!(secs(unreachable), Some(20));
        assert_eq!(secs(forever), None, "no tolerationSeconds: bound forever");
        assert_eq!(secs(everything), None);
        // The DefaultTolerationSeconds admission's 300 s (nodeLostGracePeriod) for a pod that does not
        // tolerate the taint itself.
        assert_eq!(secs(other), Some(300));
        assert_eq!(secs(not_ready), Some(300), "not-ready is another taint");
        assert_eq!(secs("[]"), Some(300));
        assert_eq!(secs(two), Some(30), "the smallest tolerationSeconds");
        assert_eq!(secs(zero), Some(0), "≤ 0: at once");

        // 20 s tolerated: evicted after 25 s of outage although the host is not lost (grace 300 s).
        let at_20 = outage_until(20);
        assert_eq!(at_20.evicted(&tolerating("b", false, unreachable)), None);
        let at_25 = outage_until(25);
        assert_eq!(at_25.lost("b"), None);
        let lost = at_25.evicted(&tolerating("b", false, unreachable)).unwrap();
        assert_eq!(
            (
                lost.grace_secs,
                lost.unreachable_secs,
                lost.lost_at.as_str()
            ),
            (20, 25, "2026-12-01T12:00:20Z")
        );
        assert_eq!(at_25.evicted(&tolerating("b", false, "[]")), None);
        // Tolerating forever: never evicted, however long the outage.
        let long = outage_until(400);
        assert!(long.lost("b").is_some());
        assert_eq!(long.evicted(&tolerating("b", false, forever)), None);
        assert!(long.evicted(&tolerating("b", false, "[]")).is_some());
    }

    #[test]
    fn back_after_an_outage_only_the_copies_it_evicted_are_stale() {
        let unreachable = r#"[{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 20}]"#;
        // 60 s away with grace 300: the 20 s pod was evicted (replaced), the default one was not.
        let away = outage_until(60);
        let back_at = "2026-12-01T12:01:10Z";
        let mut s = next(&away, back_at, &[("a", true), ("b", true)]);
        let mut c = pod_container("web-0", "ReplicaSet", "2026-12-01T11:00:00Z");
        c.labels.insert(
            crate::model::labels::POD_MANIFEST.into(),
            format!(
                r#"{{"metadata":{{"name":"web-0"}},"spec":{{"containers":[],"tolerations":{unreachable}}}}}"#
            ),
        );
        s.nodes[1].containers = vec![
            c,
            pod_container("web-1", "ReplicaSet", "2026-12-01T11:00:00Z"),
        ];
        let back = assess(&s, 300);
        let pods = crate::model::observed_pods(&s);
        let evicted: Vec<&str> = pods
            .iter()
            .filter(|p| back.evicted(p).is_some())
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(evicted, ["web-0"]);
        assert!(
            back.hosts["b"].unreachable_since.is_some(),
            "kept while web-0 is left"
        );
        // Without the tolerating pod nothing was evicted: the record is cleared at once.
        s.nodes[1].containers.remove(0);
        let clear = assess(&s, 300);
        assert_eq!(
            clear.hosts["b"],
            HostRecord {
                last_seen: Some(back_at.into()),
                ..Default::default()
            }
        );
    }
}
