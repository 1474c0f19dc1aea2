//! Container runtimes as pure command builders and output parsers: a [`Runtime`] turns a desired pod into
//! the exact [`Cmd`]s that create/start/remove it, and turns the output of one observe command into
//! [`NodeFacts`] and [`ObservedContainer`]s. Never touches the network or a process: transports run the
//! commands, `observe`/`apply` drive them.

pub mod config;
pub mod day2;
pub mod docker;
pub mod docker_day2;
pub mod mounts;
pub mod pull;
pub mod security;
pub mod sim;
pub mod terminate;

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::cmd::Cmd;
use crate::inventory::RuntimeKind;
use crate::model::{NodeFacts, ObservedContainer, ObservedPod, OwnerRef};

pub use docker::DockerRuntime;

/// One pod to create on a host, with everything the labels need.
#[derive(Debug, Clone, Copy)]
pub struct PodRun<'a> {
    /// metadata.name / namespace / labels and the (defaulted) spec.
    pub pod: &'a Pod,
    pub owner: Option<&'a OwnerRef>,
    pub template_hash: &'a str,
    pub commit: &'a str,
    /// Container name → spec hash (computed by the caller). The key `POD`
    /// ([`crate::model::labels::SANDBOX_CONTAINER`]) is the sandbox's own hash (ports, hostname), if any.
    pub spec_hashes: &'a BTreeMap<String, String>,
    /// The pod's address in the pod network (chosen by the planner); `None` = the runtime's default network.
    pub ip: Option<&'a str>,
    /// Env and volumes resolved from ConfigMaps, Secrets and the downward API (`None`: the pod uses none).
    pub config: Option<&'a config::PodConfig>,
}

pub trait Runtime: Send + Sync {
    /// The single command that reads everything from a host in one round trip: node facts and all
    /// managed containers.
    fn observe_cmd(&self) -> Cmd;
    /// Parses the stdout of [`Runtime::observe_cmd`]. Containers come back sorted by name.
    fn parse_observation(
        &self,
        stdout: &str,
    ) -> Result<(NodeFacts, Vec<ObservedContainer>), RuntimeError>;
    /// The cluster roster file (see [`crate::model::Roster`]) as the observe command printed it, if the host has one.
    fn parse_roster(&self, _stdout: &str) -> Option<String> {
        None
    }
    /// The host's pod network and clusterctl's iptables chains as the observe command printed them.
    fn parse_network(&self, _stdout: &str) -> Option<crate::model::ObservedNetwork> {
        None
    }
    /// The content hash of every configMap/secret volume on the host (`<namespace>_<pod>/<volume>` →
    /// hash, see [`config::parse_sums`]).
    fn parse_config_volumes(&self, _stdout: &str) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    /// Creates and starts a pod: sandbox first (it owns the network namespace), then each app container
    /// joining it. Every container is created fully labelled before it is started, so an interrupted
    /// apply leaves only containers that the next observe recognises.
    fn create_pod(&self, pod: &PodRun<'_>) -> Vec<Cmd>;
    /// The steps that make the pod's images present under their `imagePullPolicy` (see
    /// [`docker::pull_cmd`]); the plan puts them before the create steps and apply runs them before any
    /// destroy. None by default.
    fn pull_images(&self, _pod: &Pod) -> Vec<Cmd> {
        Vec::new()
    }
    /// Removes a pod: app containers, then the sandbox (then its emptyDir volumes).
    fn remove_pod(&self, pod: &ObservedPod) -> Vec<Cmd>;
    /// The host's records of failed image pulls (see [`pull::parse_records`]).
    fn parse_pull_failures(&self, _stdout: &str) -> Vec<crate::model::PullFailure> {
        Vec::new()
    }
    /// The managed volumes (claims' PersistentVolumes, Memory emptyDirs) the observe command printed.
    fn parse_volumes(&self, _stdout: &str) -> Vec<crate::model::ObservedVolume> {
        Vec::new()
    }
    /// The steps that provision a claim's PersistentVolume on its node (see [`mounts::provision`]).
    fn provision_volume(&self, _v: &mounts::ClaimVolume) -> Vec<Cmd> {
        Vec::new()
    }
    /// The steps that delete a claim's PersistentVolume and its data.
    fn delete_volume(&self, _v: &crate::model::ObservedVolume) -> Vec<Cmd> {
        Vec::new()
    }
    /// Starts the stopped containers of a pod, sandbox first.
    fn start_pod(&self, pod: &ObservedPod) -> Vec<Cmd>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// A section of the observe output is missing (the script was cut short).
    #[error("observe output is incomplete: section `{0}` missing")]
    MissingSection(&'static str),
    /// A node fact could not be parsed.
    #[error("cannot read {fact} from `{value}`")]
    Fact { fact: &'static str, value: String },
    /// The runtime itself did not answer (daemon down, permission denied, …).
    #[error("container runtime not answering: {0}")]
    NotAnswering(String),
    /// `docker inspect` output is not the JSON we expect.
    #[error("cannot parse container list: {0}")]
    Inspect(String),
    /// The inventory asks for a runtime clusterctl does not drive yet.
    #[error("container runtime `{0}` is not supported yet (only docker is)")]
    Unsupported(String),
}

/// The runtime for an inventory host's `runtime:` setting.
pub fn runtime_for(kind: RuntimeKind) -> Result<Arc<dyn Runtime>, RuntimeError> {
    match kind {
        RuntimeKind::Docker => Ok(Arc::new(DockerRuntime::default())),
        RuntimeKind::Containerd => Err(RuntimeError::Unsupported("containerd".to_string())),
    }
}
