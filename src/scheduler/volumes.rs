//! The VolumeBinding filter for local volumes: a pod whose claims are bound may only go to the node its
//! volumes are on (a local PersistentVolume's node affinity), with upstream's reason. What the claims
//! need is worked out by the planner (`plan::storage`) and handed over as node names
//! ([`super::Scheduler::schedule_with`]); unbound claims (WaitForFirstConsumer) do not constrain the node.

use super::cycle::Cycle;
use super::filters::{Fail, Filter};
use super::snapshot::Snapshot;

/// Upstream's reason (VolumeBinding, `ErrReasonNodeConflict`).
pub const MSG_VOLUME_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";

pub struct VolumeBinding;

impl Filter for VolumeBinding {
    fn name(&self) -> &'static str {
        "VolumeBinding"
    }
    fn skip(&self, cx: &Cycle, _snap: &Snapshot) -> bool {
        cx.volume_nodes.is_empty()
    }
    fn check(&self, cx: &Cycle, snap: &Snapshot, i: usize) -> Option<Fail> {
        let name = &snap.nodes[i].name;
        cx.volume_nodes
            .iter()
            .find(|n| *n != name)
            .map(|n| Fail::VolumeNodeConflict(n.as_str().into()))
    }
}
