//! `plan` says when the cluster lock is held (issue 16: "`plan` shows a held lock with its holder"): an
//! apply is running, or one was killed and its lease has not run out yet. One read-only lock command per
//! lock host, in parallel, over the connections observe opened. Expired leases are not mentioned: the
//! next apply takes them over.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Ui;
use crate::apply::lock::{self, LockSpec};
use crate::inventory::Inventory;
use crate::transport::Transport;

/// Warns, naming the holder, its lease and the hosts, when any reachable lock host holds a live lease.
pub async fn warn_if_held(
    inv: &Inventory,
    transports: &BTreeMap<String, Arc<dyn Transport>>,
    ui: &Ui,
) {
    let spec = LockSpec::from_inventory(inv);
    // (holder, lease words) → hosts; the lease words of the first host in lock-host order.
    let mut by_holder: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for l in lock::status(&spec, transports).await {
        let Ok(a) = &l.answer else { continue };
        if !a.live() {
            continue;
        }
        let holder = l
            .holder()
            .map(|h| h.to_string())
            .unwrap_or_else(|| format!("held (lock id {})", a.id().unwrap_or("-")));
        by_holder
            .entry(holder)
            .or_insert_with(|| (lock::lease_words(a), Vec::new()))
            .1
            .push(l.host);
    }
    for (holder, (lease, hosts)) in by_holder {
        ui.warn(&format!(
            "the cluster lock is {holder} (on {}); {lease}: an apply is running, or was killed and its lease has not run out (`clusterctl lock status`)",
            hosts.join(", ")
        ));
    }
}
