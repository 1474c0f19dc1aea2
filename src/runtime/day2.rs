//! The day-2 tools' side of a container runtime (`logs`, `exec`, `top`, `get events`): argv builders and
//! parsers behind one interface, [`Day2`], so a second runtime (containerd) supplies its own commands and
//! the CLI stays the same. Pure like the rest of `runtime`: commands are [`Cmd`] data, the transport runs
//! them (streaming ones through `transport::stream`).

use std::sync::Arc;

use super::RuntimeError;
use crate::cmd::Cmd;
use crate::inventory::RuntimeKind;
use crate::model::ObservedContainer;

/// What `logs` asks of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    /// Last N lines; `None` = all.
    pub tail: Option<u64>,
    /// Only lines newer than this many seconds.
    pub since_secs: Option<u64>,
    /// Only lines before this RFC 3339 time (how `--previous` is served on docker, see [`Day2::previous`]).
    pub until: Option<String>,
    pub timestamps: bool,
}

/// How a runtime can show a container's previous instance (`logs --previous`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Previous {
    /// The log before `until` (RFC 3339): the runtime restarts containers in place, so a container's log
    /// holds all of its instances and the current one started at `until`.
    Until(String),
    /// There is no previous instance.
    None,
}

/// One container's usage, as the runtime's stats report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    pub id: String,
    pub name: String,
    /// CPU in millicores over the runtime's sampling window.
    pub cpu_millis: u64,
    /// Working set in bytes (usage without inactive page cache, as the kubelet counts it).
    pub memory_bytes: u64,
}

/// One host's usage sample: its managed containers and the host as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageSample {
    pub containers: Vec<ContainerUsage>,
    /// The whole host over the sample's window; `None` when it could not be read.
    pub host_cpu_millis: Option<u64>,
    pub host_memory_bytes: Option<u64>,
}

/// What a runtime recorded about one container (or an image pull), in its own vocabulary mapped to ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    /// Nanoseconds since the epoch.
    pub time_nanos: i64,
    pub kind: RuntimeEventKind,
    /// `clusterctl.io/*` labels of the container (empty for image events).
    pub namespace: String,
    pub pod: String,
    /// Container name in the pod (`POD` for the sandbox).
    pub container: String,
    /// The container's image, or the pulled image.
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEventKind {
    Created,
    Started,
    /// The runtime was asked to stop it (a signal sent).
    Killed,
    /// It exited with this code.
    Died(i32),
    OomKilled,
    /// A health check result: `healthy` / `unhealthy`.
    Health(String),
    /// An image was pulled.
    Pulled,
}

/// The day-2 commands of one runtime.
pub trait Day2: Send + Sync {
    /// Prints a container's log (stdout and stderr merged, as the kubelet serves it).
    fn logs_cmd(&self, c: &ObservedContainer, o: &LogOptions) -> Cmd;
    /// How [`LogOptions::until`] serves `--previous` for this container.
    fn previous(&self, c: &ObservedContainer) -> Previous;
    /// Runs `argv` inside a running container; `stdin`/`tty` as `exec -i`/`-t`.
    fn exec_cmd(&self, c: &ObservedContainer, argv: &[String], stdin: bool, tty: bool) -> Cmd;
    /// One usage sample of every managed container and of the host (takes a second or two).
    fn usage_cmd(&self) -> Cmd;
    fn parse_usage(&self, stdout: &str) -> Result<UsageSample, RuntimeError>;
    /// What the runtime recorded about managed containers and image pulls in the last `since_secs`.
    fn events_cmd(&self, since_secs: u64) -> Cmd;
    fn parse_events(&self, stdout: &str) -> Result<Vec<RuntimeEvent>, RuntimeError>;
}

/// The day-2 commands for an inventory host's `runtime:`.
pub fn day2_for(kind: RuntimeKind) -> Result<Arc<dyn Day2>, RuntimeError> {
    match kind {
        RuntimeKind::Docker => Ok(Arc::new(super::docker_day2::DockerDay2)),
        RuntimeKind::Containerd => Err(RuntimeError::Unsupported("containerd".to_string())),
    }
}
