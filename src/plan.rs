//! The plan: a pure diff of desired pods (bound to nodes by the scheduler) against observed state.
//! A plan is a serializable value — every change carries its reason and the exact remote commands
//! (`steps`) that apply will run, so what is shown is what is done. Sorted: same inputs, same bytes.

use serde::{Deserialize, Serialize};

use crate::transport::Cmd;

/// Version of the plan JSON schema (docs/plan-format.md).
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub format_version: u32,
    /// Git commit the desired state was read from.
    pub commit: String,
    pub changes: Vec<Change>,
    /// Desired pods that fit on no node, with kube-scheduler's message.
    pub pending: Vec<PendingPod>,
    /// Hosts that could not be reached; their pods are left alone.
    pub unreachable_nodes: Vec<String>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `+` a pod is created on a node.
    Create,
    /// `~` stopped containers of a pod are started again.
    Start,
    /// `-/+` a pod is destroyed and created again (its spec changed).
    Replace,
    /// `-` a pod is removed.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub action: Action,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub node: String,
    /// Why this change is needed, in words.
    pub reason: String,
    /// Attribute-level detail lines (`image: "nginx:1.14.2" → "nginx"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Commands run on `node`, in order.
    pub steps: Vec<Cmd>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingPod {
    pub namespace: String,
    pub name: String,
    /// `0/4 nodes are available: …` as kube-scheduler words it.
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}
