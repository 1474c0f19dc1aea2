//! Why a change is in the plan, as data: [`Reason`] per change, [`Detail`] per attribute line. No text
//! here — `output::plan` words them (the human view and the plan JSON of docs/plan-format.md).

pub use super::node_loss::Lost;
use crate::network::PeerRoute;
use crate::scheduler::{FitError, Placement};

/// Why a change is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Create: a Deployment's current ReplicaSet wants `replicas` pods.
    DeploymentWants {
        deployment: String,
        replica_set: String,
        replicas: u32,
    },
    /// Create: a controller without a Deployment above it (`kind name`) wants `replicas` pods.
    OwnerWants {
        kind: String,
        name: String,
        replicas: u32,
    },
    /// Create: a bare Pod manifest.
    PodDefined,
    /// Create: Job `job` wants more pods now (`job k: 2 of 3 completions, starting 1`); for an Indexed
    /// Job, the completion index of this pod.
    JobWants {
        job: String,
        progress: crate::controllers::job::Progress,
        index: Option<u32>,
    },
    /// Delete: the Job controller removes this pod of Job `job`.
    JobRemoves {
        job: String,
        why: crate::controllers::job::RemoveWhy,
    },
    /// Create: the node supervisor every host runs (`cluster.nodeSupervisorImage`; docs/node-supervisor.md).
    NodeSupervisor,
    /// Create: a StatefulSet's pod of `ordinal` (with OrderedReady: every lower ordinal runs).
    StatefulSetWants {
        stateful_set: String,
        ordinal: u32,
        ordered: bool,
    },
    /// Start: containers were stopped outside clusterctl and the restart policy wants them running.
    Stopped { restart_policy: String },
    /// Start: the host's node supervisor holds the exited containers since `since` (RFC 3339): it came back
    /// from an absence longer than the pod tolerates, and this plan found the pod not replaced elsewhere.
    Held {
        restart_policy: String,
        since: String,
    },
    /// Delete: nothing in the repository owns the pod any more.
    NotDesired,
    /// Delete: the DaemonSet is still desired, but its pod should no longer run on `node` (nodeSelector,
    /// node affinity or an untolerated taint).
    DaemonNotEligible { daemon_set: String, node: String },
    /// Create: a DaemonSet's maxSurge starts the node's new pod next to its pod `old` of an old template.
    DaemonSurge { daemon_set: String, old: String },
    /// Delete: this pod of an old template goes: the node's new pod `new` is available (maxSurge).
    DaemonSurged { daemon_set: String, new: String },
    /// Delete: more pods than the desired replica count.
    ExtraReplica,
    /// Create: replaces pod `pod` of a lost host (unreachable for longer than the grace period).
    ReplacesLost { pod: String, lost: Lost },
    /// Delete, before anything else: a copy from before its host was lost; it was replaced elsewhere.
    StaleAfterNodeLoss(Lost),
    /// Delete: the pod's ReplicaSet `old` was replaced by `new` (the Deployment's template changed).
    Superseded { old: String, new: Option<String> },
    /// Replace: the running pod is not what the repository wants.
    Drift(Drift),
    /// Update: only the content of the pod's configMap/secret/projected/downwardAPI volumes (these
    /// names) changed; the files are rewritten in place, the containers keep running.
    ConfigVolumesChanged(Vec<String>),
    /// Network create: the host has no pod network yet.
    PodNetworkMissing,
    /// Network update: the host's pod network differs from the inventory.
    PodNetworkDiffers,
    /// ServiceRules create: clusterctl's chains are not on the host.
    RulesMissing,
    /// ServiceRules update: the chains differ from the desired services and endpoints.
    RulesDiffer,
    /// ServiceRules update: only the jumps into clusterctl's chains are missing.
    JumpsMissing,
    /// Volume delete: the claim is gone from the repository, its volume's reclaimPolicy deletes the data.
    ClaimRemoved {
        claim: String,
        reclaim_policy: String,
    },
    /// A reason read back from a saved plan, already in words (`output::saved`).
    Recorded(String),
}

/// How an observed pod differs from its desired one (a Replace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The pod template hash differs; what changed, when the recorded manifest tells (may be empty).
    Template(Vec<TemplateChange>),
    /// The sandbox container is gone.
    SandboxMissing,
    /// Container `0` of the spec does not exist.
    ContainerMissing(String),
    /// Container `0` carries another spec hash.
    ContainerChanged(String),
    /// A container runs another image than its spec says.
    Image {
        container: String,
        running: String,
        wanted: String,
    },
    /// Container `container`'s spec is the same but the ConfigMap/Secret data its env reads changed
    /// (`sources`: `ConfigMap name`, `Secret name`); env is fixed at container start, so it is replaced.
    EnvSourceChanged {
        container: String,
        sources: Vec<String>,
    },
    /// Container `0` exists but is not in the spec.
    ExtraContainer(String),
    /// The pod is not on the pod network `network` in its node's CIDR.
    PodNetwork { network: String, cidr: String },
}

/// One difference between the recorded and the desired pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateChange {
    ContainerAdded(String),
    ContainerRemoved(String),
    Image { from: String, to: String },
    Env(String),
    Command(String),
    Ports(String),
    Resources(String),
}

/// One detail of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    /// Where the scheduler put a created pod: scores and rejected nodes (shown with `--explain`).
    Placement(Placement),
    /// A stopped container the Start change starts (its spec name).
    StartContainer(String),
    /// A replacement goes to another node than the pod it replaces.
    MovesTo(String),
    /// A replacement fits nowhere: the old pod is removed and the new one stays Pending.
    ReplacementPending(FitError),
    /// Service rules set up from scratch: chain and service port counts.
    RuleCounts {
        nat_chains: usize,
        filter_chains: usize,
        service_ports: usize,
    },
    /// Peer hosts whose pod CIDR this host gets a route to (forwarding entry, neighbour, route).
    PeerRoutes(Vec<PeerRoute>),
    /// Routes to pod CIDRs of hosts gone from the inventory, `(destination, via)`, removed.
    StaleRoutes(Vec<(String, String)>),
    /// A line worded by the network or services stage (devices, routes, rules, endpoints).
    Line(String),
    /// A line of the scheduler's reasoning read back from a saved plan (shown with `--explain`, as a
    /// `Placement` is).
    Explained(String),
}
