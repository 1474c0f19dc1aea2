//! `plan` says when the cluster lock is held (issue 16: "`plan` shows a held lock with its holder"): an
//! apply is running, or one was killed and `clusterctl unlock` must clear its lock. One `cat` per host, in
//! parallel, over the connections observe opened.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Ui;
use crate::apply::lock;
use crate::transport::Transport;

/// Warns, naming the holder and the hosts, when any reachable host holds the cluster lock.
pub async fn warn_if_held(transports: &BTreeMap<String, Arc<dyn Transport>>, ui: &Ui) {
    let reads = transports
        .iter()
        .map(|(host, t)| async move { (host.clone(), lock::read_holder(t.as_ref()).await) });
    let mut by_holder: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (host, holder) in futures::future::join_all(reads).await {
        if let Some(h) = holder {
            by_holder.entry(h.to_string()).or_default().push(host);
        }
    }
    for (holder, hosts) in by_holder {
        ui.warn(&format!(
            "the cluster lock is {holder} (on {}): an apply is running, or was killed (`clusterctl unlock` clears a stale lock)",
            hosts.join(", ")
        ));
    }
}
