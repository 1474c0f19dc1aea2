//! The hold of a returning host (docs/node-supervisor.md, "After a long absence"). A host that was away
//! longer than its pods tolerate an unreachable node may have had them replaced elsewhere by an apply that
//! ran meanwhile (`plan::node_loss`); its supervisor cannot know, so on its first poll back it restarts none
//! of those pods' exited containers and marks them held. Only an apply decides: it deletes the stale copies
//! before anything else and starts the ones nobody replaced (`plan::diff`, reason "held"). Without the hold
//! the first restart (immediate) would run every stale copy next to its replacement until that apply.
//!
//! The supervisor's absence is read from its own heartbeat: the records file's `writtenAt`, rewritten at
//! least every 10 s while it runs. The tolerance is the one node loss uses: the pod's smallest
//! `tolerationSeconds` of `node.kubernetes.io/unreachable`, or `cluster.nodeLostGracePeriod` (delivered in
//! the supervisor pod's environment, [`GRACE_ENV`]) when it has none. Pure.

use k8s_openapi::api::core::v1::{PodSpec, Toleration};

use super::backoff::parse;
use crate::model::NodeRecords;

/// The supervisor pod's environment variable with `cluster.nodeLostGracePeriod` in whole seconds.
pub const GRACE_ENV: &str = "CLUSTERCTL_NODE_LOST_GRACE_SECONDS";

/// The grace the supervisor uses when the variable is absent or unreadable: Kubernetes' 300 s.
pub const DEFAULT_GRACE_SECS: u64 = 300;

/// The taint an unreachable host has, as the node lifecycle controller puts it on a node whose kubelet
/// stopped posting status (a host clusterctl cannot read is that node).
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Whether `t` tolerates the `NoExecute` taint `key` (empty value), by upstream's `ToleratesTaint`: an empty
/// effect matches every effect, an empty key with `Exists` matches every key.
fn tolerates(t: &Toleration, key: &str) -> bool {
    let effect_ok = t
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == "NoExecute");
    let key_ok = t.key.as_deref().is_none_or(|k| k.is_empty() || k == key);
    let value_ok = match t.operator.as_deref() {
        Some("Exists") => true,
        _ => t.value.as_deref().unwrap_or("").is_empty(),
    };
    effect_ok && key_ok && value_ok
}

/// How long a pod of `spec` stays bound to an unreachable host before it is evicted, by the taint
/// manager's `getMinTolerationTime` over its tolerations of [`UNREACHABLE_TAINT`]: the smallest
/// `tolerationSeconds` (≤ 0: at once); `None` — tolerated forever, never evicted — when every matching
/// toleration has no `tolerationSeconds`. A pod that does not tolerate the taint gets what the
/// DefaultTolerationSeconds admission plugin adds: `default_secs` (`cluster.nodeLostGracePeriod`).
pub fn unreachable_toleration_secs(spec: Option<&PodSpec>, default_secs: u64) -> Option<u64> {
    let matching: Vec<&Toleration> = spec
        .and_then(|s| s.tolerations.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| tolerates(t, UNREACHABLE_TAINT))
        .collect();
    if matching.is_empty() {
        return Some(default_secs);
    }
    matching
        .iter()
        .filter_map(|t| t.toleration_seconds)
        .min()
        .map(|s| s.max(0) as u64)
}

/// Whether a pod owned by `owner_kind` is replaced elsewhere when its host is lost (a ReplicaSet's or a
/// Job's; a DaemonSet's pod belongs to its node, a bare pod has nothing to recreate it).
pub fn replaceable(owner_kind: Option<&str>) -> bool {
    matches!(owner_kind, Some("ReplicaSet" | "Job"))
}

/// The grace from the environment variable's value ([`GRACE_ENV`]).
pub fn grace_from_env(value: Option<&str>) -> u64 {
    value
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_GRACE_SECS)
}

/// How long the supervisor was away at `now`: since its last heartbeat (`writtenAt` of the records it
/// read back); `None` when there is none (a first start: nothing was supervised, nothing to hold).
pub fn away_secs(prev: &NodeRecords, now: i64) -> Option<u64> {
    let last = parse(&prev.written_at)?;
    Some(now.saturating_sub(last).max(0) as u64)
}

/// Whether a pod that is evicted after `evicted_after` seconds (`None`: never) may have been replaced
/// while the supervisor was away `away` seconds.
pub fn holds(away: u64, evicted_after: Option<u64>) -> bool {
    evicted_after.is_some_and(|t| away > t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::backoff::format_secs;

    fn toleration(key: Option<&str>, secs: Option<i64>) -> Toleration {
        Toleration {
            key: key.map(str::to_string),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: secs,
            ..Default::default()
        }
    }

    fn spec(ts: Vec<Toleration>) -> PodSpec {
        PodSpec {
            tolerations: Some(ts),
            ..Default::default()
        }
    }

    #[test]
    fn tolerance_is_the_smallest_toleration_or_the_grace_or_forever() {
        assert_eq!(unreachable_toleration_secs(None, 300), Some(300));
        let short = spec(vec![
            toleration(Some(UNREACHABLE_TAINT), Some(30)),
            toleration(None, Some(5)),
        ]);
        assert_eq!(unreachable_toleration_secs(Some(&short), 300), Some(5));
        let forever = spec(vec![toleration(Some(UNREACHABLE_TAINT), None)]);
        assert_eq!(unreachable_toleration_secs(Some(&forever), 300), None);
        let other = spec(vec![toleration(
            Some("node.kubernetes.io/not-ready"),
            Some(1),
        )]);
        assert_eq!(unreachable_toleration_secs(Some(&other), 300), Some(300));
        let negative = spec(vec![toleration(Some(UNREACHABLE_TAINT), Some(-4))]);
        assert_eq!(unreachable_toleration_secs(Some(&negative), 300), Some(0));
    }

    #[test]
    fn away_is_read_from_the_heartbeat_and_holds_only_past_the_tolerance() {
        assert_eq!(away_secs(&NodeRecords::default(), 100), None);
        let prev = NodeRecords {
            written_at: format_secs(1000),
            ..Default::default()
        };
        assert_eq!(away_secs(&prev, 1061), Some(61));
        assert!(!holds(60, Some(60)), "exactly the tolerance: not lost");
        assert!(holds(61, Some(60)));
        assert!(!holds(10_000, None), "tolerated forever");
        assert!(replaceable(Some("ReplicaSet")) && replaceable(Some("Job")));
        assert!(!replaceable(Some("DaemonSet")) && !replaceable(None));
        assert_eq!(grace_from_env(Some("12")), 12);
        assert_eq!(grace_from_env(Some("x")), DEFAULT_GRACE_SECS);
        assert_eq!(grace_from_env(None), DEFAULT_GRACE_SECS);
    }
}
