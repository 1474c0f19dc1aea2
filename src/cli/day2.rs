//! What the day-2 commands (`logs`, `exec`, `port-forward`, `top`, `get events`) share: observing the hosts
//! (no Git needed), finding a pod and its container as kubectl does (`Defaulted container …`), the host's
//! [`Day2`] commands, and running a streaming command to its end or to a signal.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{CliError, Global, Ui, children, pipeline, signals::Signals};
use crate::inventory::Inventory;
use crate::model::{self, ObservedContainer, ObservedPod};
use crate::runtime::day2::{Day2, day2_for};
use crate::transport::Transport;

/// A host's live connection and its runtime's day-2 commands.
pub type HostTools = (Arc<dyn Transport>, Arc<dyn Day2>);

/// The hosts as observed now, with live connections to the reachable ones.
pub struct Hosts {
    pub inv: Inventory,
    pub observed: pipeline::Observed,
    pub pods: Vec<ObservedPod>,
}

pub async fn observe(g: &Global, ui: &Ui) -> Result<Hosts, CliError> {
    let inv = pipeline::load_inventory(g)?;
    let observed = pipeline::observe(&inv, None, ui).await?;
    pipeline::warn_unreachable(&observed.state, ui);
    let pods = model::observed_pods(&observed.state);
    Ok(Hosts {
        inv,
        observed,
        pods,
    })
}

impl Hosts {
    /// The pod `namespace/name`, or kubectl's `pods "name" not found`.
    pub fn pod(&self, namespace: &str, name: &str) -> Result<&ObservedPod, CliError> {
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
            .ok_or_else(|| CliError::Reported(format!("pods \"{name}\" not found")))
    }

    /// The live connection to the pod's host and its runtime's day-2 commands.
    pub fn host_of(&self, pod: &ObservedPod) -> Result<HostTools, CliError> {
        let transport = self
            .observed
            .transports
            .get(&pod.node)
            .cloned()
            .ok_or_else(|| {
                CliError::HostsFailed(format!(
                    "node {} of pod \"{}\" is unreachable",
                    pod.node, pod.name
                ))
            })?;
        let kind = self
            .inv
            .hosts
            .iter()
            .find(|h| h.name == pod.node)
            .map(|h| h.runtime)
            .ok_or_else(|| {
                CliError::Reported(format!("node {} is not in the inventory", pod.node))
            })?;
        let day2 = day2_for(kind).map_err(|e| CliError::Reported(e.to_string()))?;
        Ok((transport, day2))
    }

    /// Every reachable host's connection and day-2 commands, by host name.
    pub fn all_hosts(&self) -> BTreeMap<String, HostTools> {
        self.inv
            .hosts
            .iter()
            .filter_map(|h| {
                let t = self.observed.transports.get(&h.name)?.clone();
                let d = day2_for(h.runtime).ok()?;
                Some((h.name.clone(), (t, d)))
            })
            .collect()
    }
}

/// The pod's container names in spec order (init containers marked as kubectl marks them).
fn container_names(pod: &ObservedPod) -> (Vec<String>, Vec<String>) {
    let spec = pod.manifest.as_ref().and_then(|m| m.spec.as_ref());
    let regular: Vec<String> = match spec {
        Some(s) => s.containers.iter().map(|c| c.name.clone()).collect(),
        None => pod.containers.keys().cloned().collect(),
    };
    let init: Vec<String> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|v| v.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    (regular, init)
}

/// The container `-c` names, or kubectl's default: the `kubectl.kubernetes.io/default-container`
/// annotation, else the first container — saying so on stderr when the pod has several.
pub fn pick_container<'a>(
    pod: &'a ObservedPod,
    asked: Option<&str>,
    ui: &Ui,
) -> Result<&'a ObservedContainer, CliError> {
    let (regular, init) = container_names(pod);
    let name = match asked {
        Some(c) => c.to_string(),
        None => {
            let annotated = pod
                .manifest
                .as_ref()
                .and_then(|m| m.metadata.annotations.as_ref())
                .and_then(|a| a.get("kubectl.kubernetes.io/default-container"))
                .filter(|c| regular.contains(c) || init.contains(c))
                .cloned();
            let chosen = annotated
                .clone()
                .or_else(|| regular.first().cloned())
                .ok_or_else(|| CliError::Reported(format!("pod {} has no containers", pod.name)))?;
            if annotated.is_none() && regular.len() + init.len() > 1 {
                let all: Vec<String> = regular
                    .iter()
                    .cloned()
                    .chain(init.iter().map(|c| format!("{c} (init)")))
                    .collect();
                ui.info(&format!(
                    "Defaulted container \"{chosen}\" out of: {}",
                    all.join(", ")
                ));
            }
            chosen
        }
    };
    if !regular.contains(&name) && !init.contains(&name) {
        return Err(CliError::Reported(format!(
            "container {name} is not valid for pod {}",
            pod.name
        )));
    }
    pod.containers.get(&name).ok_or_else(|| {
        CliError::Reported(format!(
            "container \"{name}\" in pod \"{}\" is waiting to start: ContainerCreating",
            pod.name
        ))
    })
}

/// `pod/NAME`, `pods/NAME`, `po/NAME` or `NAME` → `NAME`; other kinds are refused.
pub fn pod_name(arg: &str) -> Result<&str, CliError> {
    match arg.split_once('/') {
        None => Ok(arg),
        Some(("pod" | "pods" | "po", name)) if !name.is_empty() => Ok(name),
        Some((kind, _)) => Err(CliError::Usage(format!(
            "`{arg}`: only pods are supported here (pod/NAME or NAME), not {kind}"
        ))),
    }
}

/// Waits for a streaming helper to end, or for a signal (then the helper is already terminated by
/// `cli::signals` and clusterctl exits 130/143). The helper's exit code (-1 when killed).
pub async fn wait(helper: &mut children::Owned, signals: &Signals) -> Result<i32, CliError> {
    // tokio's `wait` closes the child's stdin first; a follower's watchdog would take that as the end.
    let _stdin = helper.child.stdin.take();
    let status = helper
        .child
        .wait()
        .await
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot wait for ssh: {e}")))?;
    if let Some(signo) = signals.received() {
        return Err(CliError::Cancelled {
            signo,
            message: format!("stopped by {}", super::signals::name(signo)),
        });
    }
    Ok(status.code().unwrap_or(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names() {
        assert_eq!(pod_name("web").unwrap(), "web");
        assert_eq!(pod_name("pod/web").unwrap(), "web");
        assert_eq!(pod_name("pods/web").unwrap(), "web");
        assert!(pod_name("deploy/web").is_err());
    }
}
