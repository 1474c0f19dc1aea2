//! Stage 4, the pod network: per reachable host, the pod network set-up of [`crate::network`] diffed
//! against what the host reports, as a `Network` change with its exact commands. Pure.

use super::{Action, Change, ChangeKind, Detail, NetworkInput, PlanInput, Reason};
use crate::model;
use crate::network;

/// The `Network` changes of every reachable host whose pod network differs from the inventory.
pub(super) fn host_changes(input: &PlanInput<'_>, net: &NetworkInput<'_>) -> Vec<Change> {
    let empty = model::ObservedNetwork::default();
    let mut changes = Vec::new();
    for n in input.observed.nodes.iter().filter(|n| n.reachable) {
        let Some(host) = net.hosts.iter().find(|h| h.name == n.name) else {
            continue;
        };
        let observed = n.network.as_ref().unwrap_or(&empty);
        let Some(c) = network::plan_host(host, &net.hosts, observed) else {
            continue;
        };
        let (action, reason) = if c.create {
            (Action::Create, Reason::PodNetworkMissing)
        } else {
            (Action::Update, Reason::PodNetworkDiffers)
        };
        changes.push(Change {
            action,
            kind: ChangeKind::Network,
            namespace: String::new(),
            name: network::POD_NETWORK.into(),
            node: n.name.clone(),
            reason,
            details: {
                let mut d: Vec<Detail> = c.details.into_iter().map(Detail::Line).collect();
                if !c.peers_added.is_empty() {
                    d.push(Detail::PeerRoutes(c.peers_added));
                }
                if !c.stale_routes.is_empty() {
                    d.push(Detail::StaleRoutes(c.stale_routes));
                }
                d
            },
            steps: c.steps,
        });
    }
    changes
}
