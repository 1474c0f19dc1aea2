//! The node supervisor's logic (docs/node-supervisor.md): the program `clusterctl-node` that runs as a
//! managed container on every host and does there what the kubelet does for restarts — restartPolicy
//! Always / OnFailure / Never with the crash back-off (10 s doubling to 5 min, reset after 10 min), and a
//! record per container (restart count, last termination, back-off, events) that `observe` reads and
//! `view` turns into Kubernetes-shaped status. Pure: the binary (`src/bin/clusterctl-node.rs`) is the thin
//! IO edge that talks to dockerd and writes the file.
//!
//! - [`backoff`]: client-go's back-off arithmetic with the kubelet's constants;
//! - [`decide`]: per container and poll, what to record and whether to start it;
//! - [`engine`]: the Engine API requests the binary sends and the parsers of dockerd's answers;
//! - [`init_seq`]: the init containers in order, then the app containers, once an init container failed
//!   and apply's steps for the pod ended;
//! - [`hold`]: after an absence longer than its pods tolerate, the containers held until an apply decides;
//! - [`probe`]: liveness, readiness and startup probes (docs/probes.md): defaults, which attempts are due,
//!   the worker's thresholds, `ready`, the `Unhealthy` / `Killing` events and when to kill;
//! - [`probe_engine`]: the wire formats of probe attempts (exec create/start/inspect, stop, HTTP GET);
//! - [`pulled`]: whether a new container's image was really pulled (its `Pulled` event).
//! - [`grpc_health`]: the grpc probe's `grpc.health.v1.Health/Check` call over h2c, both halves.

pub mod backoff;
pub mod decide;
pub mod engine;
pub mod grpc_health;
pub mod hold;
pub mod init_seq;
pub mod probe;
pub mod probe_engine;
pub mod pulled;

/// How often the supervisor looks at its host's containers, in milliseconds.
pub const POLL_MILLIS: u64 = 1000;
/// The directory on every host where the supervisor keeps its records (bind-mounted into its container;
/// the pod itself is `controllers::node_supervisor`).
pub const STATE_DIR: &str = "/var/lib/clusterctl/node";
