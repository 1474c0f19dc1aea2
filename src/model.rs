//! The shared vocabulary of the pipeline: what the hosts run (observed state), the labels that tie a container
//! back to its desired object, and what an apply did. Pure data: no IO, no policy. A leaf of the module graph.
//!
//! Desired objects use the real Kubernetes types (`k8s_openapi`); observed state is what a runtime reports,
//! kept close to the wire so a snapshot file (`clusterctl snapshot -o json`) round-trips losslessly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the snapshot / observed-state JSON format (docs/snapshot.md).
pub const OBSERVED_FORMAT_VERSION: u32 = 1;

/// Labels clusterctl puts on every container it creates. Identity lives on the containers: no state file.
pub mod labels {
    /// `"true"` on every container clusterctl manages; containers without it are never touched.
    pub const MANAGED: &str = "clusterctl.io/managed";
    pub const NAMESPACE: &str = "clusterctl.io/namespace";
    pub const POD: &str = "clusterctl.io/pod";
    /// Container name inside the pod; the sandbox carries [`SANDBOX_CONTAINER`].
    pub const CONTAINER: &str = "clusterctl.io/container";
    pub const OWNER_KIND: &str = "clusterctl.io/owner-kind";
    pub const OWNER_NAME: &str = "clusterctl.io/owner-name";
    /// `pod-template-hash` of the owning ReplicaSet (or the pod's own spec hash for a bare pod).
    pub const TEMPLATE_HASH: &str = "clusterctl.io/template-hash";
    /// Hash of the full container spec as run; differs → the container is replaced.
    pub const SPEC_HASH: &str = "clusterctl.io/spec-hash";
    /// Git commit the container was applied from.
    pub const COMMIT: &str = "clusterctl.io/commit";
    /// On the sandbox only: the pod's IP in the pod network, chosen by the planner (readable while stopped).
    pub const POD_IP: &str = "clusterctl.io/pod-ip";
    /// On the sandbox only: the pod object (metadata + spec, compact JSON) as desired when created.
    pub const POD_MANIFEST: &str = "clusterctl.io/pod-manifest";
    /// Value of [`CONTAINER`] for the pod sandbox (the container that owns the network namespace).
    pub const SANDBOX_CONTAINER: &str = "POD";
    /// Pod label `"true"` on the node supervisor's own pod (docs/node-supervisor.md): docker restarts its
    /// container (`--restart=always`), and the supervisor never supervises itself.
    pub const NODE_SUPERVISOR: &str = "clusterctl.io/node-supervisor";

    // On docker volumes (see `runtime::mounts`): a claim's provisioned volume, or a pod's emptyDir.
    /// `pvc` (a PersistentVolume of the local-path provisioner) or `emptyDir` (medium: Memory).
    pub const VOLUME_KIND: &str = "clusterctl.io/volume-kind";
    pub const CLAIM_NAMESPACE: &str = "clusterctl.io/claim-namespace";
    pub const CLAIM_NAME: &str = "clusterctl.io/claim-name";
    /// The PersistentVolume's name (`pvc-<uuid>`), also the docker volume's name.
    pub const PV: &str = "clusterctl.io/pv";
    /// The node the volume was provisioned on (where its data lives).
    pub const NODE: &str = "clusterctl.io/node";
    /// The claim's `resources.requests.storage` at provisioning (recorded, not enforced).
    pub const CAPACITY: &str = "clusterctl.io/capacity";
    /// Comma-separated access modes of the claim.
    pub const ACCESS_MODES: &str = "clusterctl.io/access-modes";
    pub const RECLAIM_POLICY: &str = "clusterctl.io/reclaim-policy";
    pub const STORAGE_CLASS: &str = "clusterctl.io/storage-class";
    /// The host directory holding the data.
    pub const PATH: &str = "clusterctl.io/path";
    /// On a claim made from a StatefulSet's volumeClaimTemplate: that StatefulSet (the claim is retained).
    pub const STATEFUL_SET: &str = "clusterctl.io/statefulset";
}

/// A docker volume clusterctl made (label `clusterctl.io/managed=true`), as observed on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObservedVolume {
    pub name: String,
    /// The node it was observed on (or recorded for, in the roster).
    #[serde(default)]
    pub node: String,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339.
    #[serde(default)]
    pub created_at: String,
}

impl ObservedVolume {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// The controller that owns a pod (Kubernetes `ownerReferences[controller=true]`, reduced).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

/// Everything observed on all hosts at one moment. Serialized as the snapshot file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedState {
    pub format_version: u32,
    /// RFC 3339 time the observation finished; AGE columns are computed against it.
    pub observed_at: String,
    /// One entry per inventory host, sorted by name.
    pub nodes: Vec<ObservedNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNode {
    /// Inventory name of the host.
    pub name: String,
    /// False when the host could not be reached or read; then `facts` is `None` and `containers` is empty
    /// (the node shows `NotReady`, its pods `Unknown`).
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<NodeFacts>,
    /// Managed containers only (label `clusterctl.io/managed=true`), sorted by name.
    #[serde(default)]
    pub containers: Vec<ObservedContainer>,
    /// The cluster roster this host keeps (written by every apply), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster: Option<Roster>,
    /// The host's pod network and clusterctl's iptables chains (docs/networking.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<ObservedNetwork>,
    /// Content hash of each configMap/secret volume on the host, `<namespace>_<pod>/<volume>` → hash
    /// (see `runtime::config`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config_volumes: BTreeMap<String, String>,
    /// Managed docker volumes (claims' PersistentVolumes, Memory emptyDirs), sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ObservedVolume>,
    /// The images whose last pull on this host failed (`runtime::pull`'s records), sorted by image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_failures: Vec<PullFailure>,
}

/// A host's record of an image whose pull failed, and the image back-off it is in (docs/manifests.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PullFailure {
    pub image: String,
    /// The registry's answer to the last attempt.
    pub message: String,
    /// Failed attempts since the last successful pull.
    pub failures: u32,
    /// RFC 3339 (host clock).
    pub last_failure: String,
    /// RFC 3339: no pull of the image is tried before this (the kubelet's back-off).
    pub retry_after: String,
    /// A round came after the failure and was held back by the back-off (kubelet: `ImagePullBackOff`
    /// instead of `ErrImagePull`).
    pub backing_off: bool,
}

/// What the roster remembers of one Deployment: its ReplicaSets by revision, and a failed rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// Oldest revision first; the current ReplicaSet is among them.
    pub revisions: Vec<RevisionRecord>,
    /// Set when a rollout exceeded its progress deadline (Progressing=False, ProgressDeadlineExceeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_exceeded: Option<DeadlineRecord>,
}

/// One ReplicaSet of a Deployment's history (`deployment.kubernetes.io/revision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionRecord {
    pub revision: i64,
    pub replica_set: String,
    pub template_hash: String,
    /// The Git commit whose manifest first produced this template.
    pub commit: String,
    /// The manifest file the Deployment came from (for `git checkout <commit> -- <file>`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    /// `kubernetes.io/change-cause` of the Deployment at that commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_cause: Option<String>,
    /// RFC 3339: when the ReplicaSet was first recorded.
    pub created_at: String,
    /// The ReplicaSet's pod template as planned (what `rollout undo` brings back).
    pub template: k8s_openapi::api::core::v1::Pod,
}

/// A rollout that stopped at its progress deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadlineRecord {
    /// The new ReplicaSet that did not progress.
    pub replica_set: String,
    /// RFC 3339.
    pub at: String,
}

/// A host's pod network as observed: the docker network of the pods, the VXLAN device linking it to the
/// other hosts with its routes, neighbours and forwarding entries, and the clusterctl-owned lines of
/// `iptables-save` (see [`crate::services::iptables::keep_owned`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObservedNetwork {
    /// Subnet of the `clusterctl-pods` docker network, if it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<VxlanLink>,
    /// Routes on the VXLAN device: (destination, gateway).
    #[serde(default)]
    pub routes: Vec<(String, String)>,
    /// Permanent neighbours on the VXLAN device: (IP, MAC).
    #[serde(default)]
    pub neighbors: Vec<(String, String)>,
    /// Forwarding entries of the VXLAN device: (MAC, remote host address).
    #[serde(default)]
    pub fdb: Vec<(String, String)>,
    #[serde(default)]
    pub iptables_nat: Vec<String>,
    #[serde(default)]
    pub iptables_filter: Vec<String>,
}

/// The VXLAN device as `ip -d link` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct VxlanLink {
    pub vni: u32,
    pub port: u16,
    pub local: String,
    pub mac: String,
    pub mtu: u32,
    pub up: bool,
    /// IPv4 addresses, `a.b.c.d/len`.
    pub addresses: Vec<String>,
}

/// Where the roster lives on every host.
pub const ROSTER_PATH: &str = "/var/lib/clusterctl/roster.json";

/// The cluster's memory of which pod runs where, written to every reachable host after each apply. It is
/// read only to show the pods of a host that cannot be reached (as `Unknown`) and to keep them counted,
/// so an unreachable host's replicas are not duplicated elsewhere. Identity still lives on the containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Roster {
    /// RFC 3339; the newest roster among the reachable hosts wins.
    pub written_at: String,
    pub commit: String,
    /// Sorted by (namespace, name).
    pub pods: Vec<RosterPod>,
    /// When each Service (`namespace/name`) was first applied, RFC 3339: there is no API server to keep a
    /// Service's creationTimestamp, and `get svc` shows its AGE.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, String>,
    /// Finished Jobs (`namespace/name`), kept while they are in Git so that a run whose pods
    /// `ttlSecondsAfterFinished` removed is not started again (docs/jobs.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub jobs: BTreeMap<String, JobRecord>,
    /// What clusterctl remembers of each host's reachability (by inventory name): there is no agent to
    /// post heartbeats, so "unreachable since" must be kept here (docs/reconcile.md, "Node loss").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, HostRecord>,
    /// The claims' PersistentVolumes of every node (what binds a claim to a node), so a claim whose node
    /// cannot be reached stays bound to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ObservedVolume>,
    /// Each Deployment's (`namespace/name`) revision history and last rollout condition: there is no API
    /// server to keep scaled-to-0 ReplicaSets, so they live here (`controllers::history`, docs/rollouts.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deployments: BTreeMap<String, DeploymentRecord>,
}

/// What the roster remembers of a finished Job's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// The run's identity: the template hash on its containers.
    pub template_hash: String,
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    pub succeeded: u32,
    pub failed: u32,
    pub finished: JobFinished,
}

/// A Job's terminal condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFinished {
    /// `Complete` or `Failed`.
    pub condition: String,
    /// `CompletionsReached`, `BackoffLimitExceeded`, `DeadlineExceeded`.
    pub reason: String,
    pub message: String,
    /// RFC 3339: the condition's lastTransitionTime.
    pub at: String,
}

/// One host's reachability memory in the [`Roster`]. Times are RFC 3339, from the observations that saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HostRecord {
    /// The last observation that reached the host, as of the last time the roster was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// The first observation that could not reach the host, in its current (or last) outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<String>,
    /// The first observation at which that outage was longer than the grace period: from then on the
    /// host's ReplicaSet/Job pods are evicted (not counted, replaced elsewhere); kept after the host
    /// returns until its stale copies are gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_at: Option<String>,
    /// The last observation that could not reach the host in that outage, as of the last time the roster
    /// was written: how long the outage lasted when evictions were carried out (a pod's tolerationSeconds
    /// is judged against it once the host is back; `plan::node_loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_unreachable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RosterPod {
    pub namespace: String,
    pub name: String,
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_hash: Option<String>,
    /// The pod as created (metadata + spec), for views of the unreachable pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<k8s_openapi::api::core::v1::Pod>,
}

impl ObservedState {
    /// The claims' volumes of the cluster: those observed on reachable hosts, plus, for hosts that cannot
    /// be reached, those the newest roster recorded there. Sorted by name.
    pub fn claim_volumes(&self) -> Vec<ObservedVolume> {
        let mut out: Vec<ObservedVolume> = self
            .nodes
            .iter()
            .filter(|n| n.reachable)
            .flat_map(|n| {
                n.volumes.iter().map(|v| ObservedVolume {
                    node: n.name.clone(),
                    ..v.clone()
                })
            })
            .filter(|v| v.label(labels::VOLUME_KIND) == Some("pvc"))
            .collect();
        let unreachable: std::collections::BTreeSet<&str> = self
            .nodes
            .iter()
            .filter(|n| !n.reachable)
            .map(|n| n.name.as_str())
            .collect();
        if let Some(r) = self.roster() {
            out.extend(
                r.volumes
                    .iter()
                    .filter(|v| unreachable.contains(v.node.as_str()))
                    .cloned(),
            );
        }
        out.sort_by(|a, b| (&a.name, &a.node).cmp(&(&b.name, &b.node)));
        out
    }

    /// The newest roster any reachable host holds.
    pub fn roster(&self) -> Option<&Roster> {
        self.nodes
            .iter()
            .filter(|n| n.reachable)
            .filter_map(|n| n.roster.as_ref())
            .max_by(|a, b| {
                a.written_at
                    .cmp(&b.written_at)
                    .then_with(|| b.commit.cmp(&a.commit))
            })
    }
}

/// Facts about a host as its runtime and kernel report them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeFacts {
    pub hostname: String,
    pub kernel_version: String,
    /// `PRETTY_NAME` of /etc/os-release, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub os_image: String,
    pub architecture: String,
    /// `docker://24.0.5` style, as kubectl's CONTAINER-RUNTIME column shows it.
    pub container_runtime_version: String,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    /// RFC 3339 boot time; the node's AGE when nothing better is known.
    #[serde(default)]
    pub boot_time: String,
}

/// One container as the runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObservedContainer {
    pub id: String,
    /// Runtime name, e.g. `k8s_nginx_sc-nginx_default`.
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// `created` | `running` | `paused` | `restarting` | `exited` | `dead` (docker's vocabulary).
    pub status: String,
    pub exit_code: i32,
    /// Restarts done by the runtime's restart policy.
    pub restart_count: u32,
    /// RFC 3339; empty when never started.
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub finished_at: String,
    /// IP in the pod network (sandbox only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Runtime error text, e.g. image not found.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// What the node supervisor recorded about this container (restarts, last termination, back-off,
    /// events), when it has a record for this container id. Observe has already folded the record's
    /// restart count into `restart_count` (docs/node-supervisor.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<ContainerRecord>,
}

impl ObservedContainer {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
    pub fn is_running(&self) -> bool {
        self.status == "running" || self.status == "restarting"
    }
}

/// A pod as found on one host: its sandbox and app containers, grouped by their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedPod {
    pub namespace: String,
    pub name: String,
    pub node: String,
    /// False when the node could not be reached (status `Unknown`).
    pub node_reachable: bool,
    pub sandbox: Option<ObservedContainer>,
    /// App containers by container name.
    pub containers: BTreeMap<String, ObservedContainer>,
    pub owner: Option<OwnerRef>,
    pub template_hash: Option<String>,
    /// The pod as it was desired when created (from the sandbox's manifest label), if readable.
    pub manifest: Option<k8s_openapi::api::core::v1::Pod>,
}

impl ObservedPod {
    /// Every container of the pod that is meant to be running, sandbox first: an init container that ran
    /// to completion (exit 0, not a sidecar) is left out, so "all running" means what it says.
    pub fn all_containers(&self) -> impl Iterator<Item = &ObservedContainer> {
        let done: Vec<&str> = self
            .manifest
            .as_ref()
            .and_then(|m| m.spec.as_ref())
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() != Some("Always"))
            .map(|c| c.name.as_str())
            .filter(|n| {
                self.containers
                    .get(*n)
                    .is_some_and(|c| c.status == "exited" && c.exit_code == 0)
            })
            .collect();
        self.sandbox.iter().chain(
            self.containers
                .iter()
                .filter(move |(n, _)| !done.contains(&n.as_str()))
                .map(|(_, c)| c),
        )
    }
}

/// Groups managed containers into pods, sorted by (namespace, name, node). Pods of unreachable hosts come
/// from the newest roster, with no containers and `node_reachable: false`.
pub fn observed_pods(state: &ObservedState) -> Vec<ObservedPod> {
    let mut pods: BTreeMap<(String, String, String), ObservedPod> = BTreeMap::new();
    for node in &state.nodes {
        for c in &node.containers {
            let (Some(ns), Some(pod)) = (c.label(labels::NAMESPACE), c.label(labels::POD)) else {
                continue;
            };
            let key = (ns.to_string(), pod.to_string(), node.name.clone());
            let entry = pods.entry(key).or_insert_with(|| ObservedPod {
                namespace: ns.to_string(),
                name: pod.to_string(),
                node: node.name.clone(),
                node_reachable: node.reachable,
                sandbox: None,
                containers: BTreeMap::new(),
                owner: None,
                template_hash: None,
                manifest: None,
            });
            if let (Some(kind), Some(name)) =
                (c.label(labels::OWNER_KIND), c.label(labels::OWNER_NAME))
            {
                entry.owner.get_or_insert_with(|| OwnerRef {
                    kind: kind.to_string(),
                    name: name.to_string(),
                });
            }
            if let Some(h) = c.label(labels::TEMPLATE_HASH) {
                entry.template_hash.get_or_insert_with(|| h.to_string());
            }
            match c.label(labels::CONTAINER) {
                Some(labels::SANDBOX_CONTAINER) => {
                    entry.manifest = c
                        .label(labels::POD_MANIFEST)
                        .and_then(|m| serde_json::from_str(m).ok());
                    entry.sandbox = Some(c.clone());
                }
                Some(name) => {
                    entry.containers.insert(name.to_string(), c.clone());
                }
                None => {}
            }
        }
    }
    let unreachable: std::collections::BTreeSet<&str> = state
        .nodes
        .iter()
        .filter(|n| !n.reachable)
        .map(|n| n.name.as_str())
        .collect();
    if let Some(roster) = state.roster() {
        for p in roster
            .pods
            .iter()
            .filter(|p| unreachable.contains(p.node.as_str()))
        {
            pods.entry((p.namespace.clone(), p.name.clone(), p.node.clone()))
                .or_insert_with(|| ObservedPod {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    node: p.node.clone(),
                    node_reachable: false,
                    sandbox: None,
                    containers: BTreeMap::new(),
                    owner: p.owner.clone(),
                    template_hash: p.template_hash.clone(),
                    manifest: p.manifest.clone(),
                });
        }
    }
    pods.into_values().collect()
}

// ---- the node supervisor's records ------------------------------------------------------------------------

/// Where the node supervisor keeps its records on every host (one JSON file, [`NodeRecords`]).
pub const NODE_RECORDS_PATH: &str = "/var/lib/clusterctl/node/records.json";

/// Version of the records file format (docs/node-supervisor.md).
pub const NODE_RECORDS_VERSION: u32 = 1;

/// The node supervisor's file: one record per managed app container it supervises, by container name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecords {
    pub format_version: u32,
    /// RFC 3339; when the supervisor last wrote the file.
    pub written_at: String,
    /// Runtime container name (`k8s_<c>_<pod>_<ns>`) → record.
    #[serde(default)]
    pub containers: BTreeMap<String, ContainerRecord>,
}

/// What the kubelet would keep in a container's status, as the node supervisor recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    /// The docker container id the record is about; a record for another id is stale and ignored.
    pub id: String,
    /// Restarts done by the supervisor (Kubernetes `restartCount`; never decreases for this container).
    pub restart_count: u32,
    /// The most recent exit the supervisor saw (Kubernetes `lastState.terminated`, or `state.terminated`
    /// while the container stays down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_termination: Option<Termination>,
    /// The exit before that one (`lastState` while a container that will not be restarted shows its
    /// final exit as `state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_termination: Option<Termination>,
    /// Set while the container waits out its crash back-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_off: Option<BackOffWait>,
    /// The kubelet's back-off entry for this container: the current delay and when it was last updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_off_entry: Option<BackOffEntry>,
    /// Newest last; bounded (the supervisor keeps the most recent ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<RecordedEvent>,
    /// Set while the supervisor holds this exited container after its host came back from an absence
    /// longer than the pod tolerates (RFC 3339, when the hold began; docs/node-supervisor.md, "After a long
    /// absence"): it is not restarted until an apply starts it, or deletes it as a stale copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<String>,
    /// For a container with probes (docs/probes.md): the kubelet's `ready` (started, and the readiness
    /// probe's result is Success or there is none). `None`: the container has no probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// The container start (`startedAt`, RFC 3339) the probe results are about; a new start resets them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub probed_start: String,
    /// Probe results by probe type (`startup`, `liveness`, `readiness`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probes: BTreeMap<String, ProbeRecord>,
}

/// One probe worker's state (kubelet `prober/worker.go`): the stored result, the run of identical raw
/// results that decides when it changes, and what the last attempt saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRecord {
    /// `Success` | `Failure` | `Unknown` (startup before its first result).
    pub result: String,
    /// The last raw result (`Success` | `Failure`) and how many attempts in a row gave it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_raw: String,
    #[serde(default)]
    pub run: u32,
    /// What the probe reaches (`http://10.0.0.5:80/healthz`, `tcp 10.0.0.5:80`, `exec [cat /tmp/ok]`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// The last attempt's output (the failure message, or the exec output), at most 1 KiB.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
    /// RFC 3339; when the last attempt ran.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_probe_at: String,
}

/// A container exit (Kubernetes `ContainerStateTerminated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Termination {
    pub exit_code: i32,
    /// `Completed` (exit 0), `Error`, `OOMKilled`.
    pub reason: String,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: String,
}

/// A crash back-off in progress: the container stays down until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BackOffWait {
    /// The delay in whole seconds (10, 20, 40, … 300).
    pub delay_seconds: u64,
    /// RFC 3339: the earliest time of the next restart.
    pub until: String,
}

/// client-go's back-off entry (`flowcontrol.Backoff`): `delay` and `lastUpdate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BackOffEntry {
    pub delay_seconds: u64,
    /// RFC 3339.
    pub last_update: String,
}

/// A Kubernetes-shaped event about a container, aggregated like the kubelet's event correlator does:
/// a repeat of the same type, reason and message raises `count` and moves `last_timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    /// `Normal` | `Warning`
    #[serde(rename = "type")]
    pub type_: String,
    /// `Pulled`, `Created`, `Started`, `BackOff`, `Killing`, `Unhealthy`.
    pub reason: String,
    pub message: String,
    /// RFC 3339.
    pub first_timestamp: String,
    pub last_timestamp: String,
    pub count: u32,
}

// ---- apply ------------------------------------------------------------------------------------------------

/// What `apply` did, per host: produced by `apply`, rendered by `output`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostReport {
    pub node: String,
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    pub failed: usize,
    /// Network and service-rule changes done.
    pub network: usize,
    pub commands: usize,
    pub errors: Vec<String>,
    /// Changes never started because apply was told to stop (see `apply::Stop`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_started: Vec<String>,
    /// Changes cut off because they did not finish within the grace period after a stop.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interrupted: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    pub hosts: Vec<HostReport>,
    /// Mutating remote commands issued (0 after an apply that found nothing to do).
    pub mutating_commands: usize,
    /// Hosts that could not be observed (name, why); nothing was done on them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreached: Vec<(String, String)>,
    /// The caller accepted a partial cluster (`--allow-unreachable`): unreached hosts are no error.
    #[serde(skip)]
    pub unreached_allowed: bool,
    /// The signal that stopped this apply (`SIGINT`, `SIGTERM`), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
}

impl ApplyReport {
    pub fn failed(&self) -> bool {
        self.hosts.iter().any(|h| h.failed > 0)
    }

    /// Hosts that make this apply a failure: changes failed there, or they were not reached (unless allowed).
    pub fn failed_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .hosts
            .iter()
            .filter(|h| h.failed > 0)
            .map(|h| h.node.clone())
            .collect();
        if !self.unreached_allowed {
            hosts.extend(self.unreached.iter().map(|(h, _)| h.clone()));
        }
        hosts.sort();
        hosts.dedup();
        hosts
    }
}
