//! Observation, the IO edge before planning: connect to every inventory host in parallel, run the runtime's
//! single observe command on each, and assemble one [`ObservedState`]. An unreachable or unreadable host
//! becomes `ObservedNode { reachable: false, error }` and the run goes on. Also reads and writes the
//! snapshot file (docs/snapshot.md) so planning can run offline. Knows no docker details (the [`Runtime`]
//! does) and makes no decisions (the planner does).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::inventory::{Host, Inventory, RuntimeKind, SshSettings};
use crate::model::{OBSERVED_FORMAT_VERSION, ObservedNode, ObservedState};
use crate::runtime::{Runtime, RuntimeError};
use crate::transport::{Connector, Target, Transport, TransportError};

/// What one observation yields: the state, and live connections to the hosts that answered
/// (apply reuses them instead of reconnecting).
pub struct Cluster {
    pub state: ObservedState,
    /// Reachable hosts only, by inventory name.
    pub transports: BTreeMap<String, Arc<dyn Transport>>,
}

impl Cluster {
    /// Closes every connection (SSH masters). Dropping the transports does the same, less gracefully.
    pub async fn close(&self) {
        futures::future::join_all(self.transports.values().map(|t| t.close())).await;
    }
}

/// The connection target of an inventory host: its own user and key where it sets them, the cluster's otherwise.
pub fn target(host: &Host, ssh: &SshSettings) -> Target {
    Target {
        name: host.name.clone(),
        address: host.address.clone(),
        port: host.port,
        user: host.ssh_user(ssh).to_string(),
        identity_file: host
            .identity_file
            .clone()
            .or_else(|| ssh.identity_file.clone()),
        known_hosts_file: ssh.known_hosts_file.clone(),
        strict_host_key_checking: ssh.strict_host_key_checking,
        connect_timeout: ssh.connect_timeout,
        max_sessions: ssh.max_sessions,
        command_timeouts: crate::transport::CommandTimeouts {
            read: ssh.command_timeouts.read,
            write: ssh.command_timeouts.write,
        },
    }
}

/// Observes all hosts of `inv` in parallel. Never fails as a whole: per-host failures are in the nodes.
pub async fn observe(
    inv: &Inventory,
    connector: &dyn Connector,
    runtime_for: impl Fn(RuntimeKind) -> Result<Arc<dyn Runtime>, RuntimeError>,
) -> Cluster {
    let jobs = inv.hosts.iter().map(|host| {
        let rt = runtime_for(host.runtime);
        observe_host(inv, connector, host, rt)
    });
    let results = futures::future::join_all(jobs).await;
    let mut nodes = Vec::with_capacity(results.len());
    let mut transports = BTreeMap::new();
    for (node, transport) in results {
        if let Some(t) = transport {
            transports.insert(node.name.clone(), t);
        }
        nodes.push(node);
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Cluster {
        state: ObservedState {
            format_version: OBSERVED_FORMAT_VERSION,
            observed_at: now_rfc3339(),
            nodes,
        },
        transports,
    }
}

/// RFC 3339 UTC with second precision (`2024-05-01T10:00:00Z`), like Kubernetes timestamps.
fn now_rfc3339() -> String {
    format!("{:.0}", jiff::Timestamp::now())
}

fn down(host: &Host, error: String) -> ObservedNode {
    ObservedNode {
        config_volumes: Default::default(),
        pull_failures: Vec::new(),
        volumes: Vec::new(),
        network: None,
        name: host.name.clone(),
        reachable: false,
        error: Some(error),
        facts: None,
        containers: Vec::new(),
        roster: None,
    }
}

async fn observe_host(
    inv: &Inventory,
    connector: &dyn Connector,
    host: &Host,
    rt: Result<Arc<dyn Runtime>, RuntimeError>,
) -> (ObservedNode, Option<Arc<dyn Transport>>) {
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => return (down(host, e.to_string()), None),
    };
    let transport = match connector.connect(&target(host, &inv.ssh)).await {
        Ok(t) => t,
        Err(e) => return (down(host, e.to_string()), None),
    };
    let started = std::time::Instant::now();
    let out = match transport.run(&rt.observe_cmd()).await {
        Ok(out) => out,
        // The observe command is a script around the runtime's CLI; what hangs is the runtime.
        Err(TransportError::Timeout { host: h, secs, .. }) => {
            let program = match host.runtime {
                RuntimeKind::Docker => "docker",
                RuntimeKind::Containerd => "containerd",
            };
            let e = TransportError::Timeout {
                host: h,
                program: program.to_string(),
                secs,
            };
            return (down(host, e.to_string()), None);
        }
        Err(e) => return (down(host, e.to_string()), None),
    };
    tracing::debug!(host = %host.name, elapsed_ms = started.elapsed().as_millis() as u64, bytes = out.stdout.len(), "observed");
    let stdout = out.stdout_str();
    match rt.parse_observation(&stdout) {
        Ok((facts, containers)) => (
            ObservedNode {
                network: rt.parse_network(&stdout),
                config_volumes: rt.parse_config_volumes(&stdout),
                pull_failures: rt.parse_pull_failures(&stdout),
                volumes: rt.parse_volumes(&stdout),
                name: host.name.clone(),
                reachable: true,
                error: None,
                facts: Some(facts),
                containers,
                // An unreadable roster is only a lost memory of unreachable hosts' pods, never an error.
                roster: rt
                    .parse_roster(&stdout)
                    .and_then(|r| serde_json::from_str(&r).ok()),
            },
            Some(transport),
        ),
        Err(e) => {
            // The host answered but its runtime did not: say what the remote side printed.
            let stderr = out.stderr_str();
            let stderr = stderr.trim();
            let msg = if stderr.is_empty() {
                e.to_string()
            } else {
                format!("{e}: {stderr}")
            };
            (down(host, msg), None)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("snapshot {path} is not valid: {reason}")]
    Parse { path: String, reason: String },
    #[error("snapshot {path} has formatVersion {found}; this clusterctl reads {expected}")]
    Version {
        path: String,
        found: u32,
        expected: u32,
    },
}

/// The snapshot file's text: pretty JSON with a final newline. Deterministic for a given state.
pub fn snapshot_to_json(state: &ObservedState) -> String {
    let mut s = serde_json::to_string_pretty(state).expect("observed state always serializes");
    s.push('\n');
    s
}

/// Parses a snapshot; `origin` names it in errors.
pub fn snapshot_from_json(text: &str, origin: &str) -> Result<ObservedState, SnapshotError> {
    // Check the version before the shape, so a future format gets the helpful error.
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| SnapshotError::Parse {
        path: origin.to_string(),
        reason: e.to_string(),
    })?;
    let found = v.get("formatVersion").and_then(|f| f.as_u64()).unwrap_or(0) as u32;
    if found != OBSERVED_FORMAT_VERSION {
        return Err(SnapshotError::Version {
            path: origin.to_string(),
            found,
            expected: OBSERVED_FORMAT_VERSION,
        });
    }
    let mut state: ObservedState = serde_json::from_value(v).map_err(|e| SnapshotError::Parse {
        path: origin.to_string(),
        reason: e.to_string(),
    })?;
    // Hand-edited snapshots keep the same guarantees as observed ones.
    state.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    for n in &mut state.nodes {
        n.containers
            .sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    }
    Ok(state)
}

pub fn load_snapshot(path: &Path) -> Result<ObservedState, SnapshotError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SnapshotError::Io {
        path: origin.clone(),
        reason: e.to_string(),
    })?;
    snapshot_from_json(&text, &origin)
}

pub fn save_snapshot(path: &Path, state: &ObservedState) -> Result<(), SnapshotError> {
    std::fs::write(path, snapshot_to_json(state)).map_err(|e| SnapshotError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Cmd;
    use crate::inventory::ClusterSettings;
    use crate::runtime::{DockerRuntime, runtime_for};
    use crate::transport::fake::FakeConnector;
    use crate::transport::{Output, TransportError};
    use futures::future::BoxFuture;

    const FIXTURE_OBSERVE: &str = include_str!("../tests/fixtures/docker/observe.txt");

    fn host(name: &str, runtime: RuntimeKind) -> Host {
        Host {
            name: name.into(),
            address: format!("{name}.example"),
            port: 22,
            user: None,
            identity_file: None,
            labels: Default::default(),
            taints: vec![],
            unschedulable: false,
            capacity: Default::default(),
            runtime,
            pod_cidr: None,
        }
    }

    fn inventory(hosts: Vec<Host>) -> Inventory {
        Inventory {
            path: "cluster.yaml".into(),
            ssh: SshSettings::default(),
            cluster: ClusterSettings::default(),
            hosts,
            lock: Default::default(),
        }
    }

    #[tokio::test]
    async fn one_round_trip_per_host_and_failures_stay_per_node() {
        let inv = inventory(vec![
            host("a-ok", RuntimeKind::Docker),
            host("b-down", RuntimeKind::Docker),
            host("c-nodocker", RuntimeKind::Docker),
            host("d-containerd", RuntimeKind::Containerd),
        ]);
        let fake = FakeConnector::new();
        fake.on_program("a-ok", "sh", FIXTURE_OBSERVE);
        fake.set_unreachable("b-down");
        fake.on(
            |h, _| h == "c-nodocker",
            Ok(Output {
                status: 1,
                stdout: b"\n@@clusterctl:hostname@@\nc\n@@clusterctl:runtime@@\n".to_vec(),
                stderr: b"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n".to_vec(),
            }),
        );
        let cluster = observe(&inv, &fake, runtime_for).await;
        let s = &cluster.state;
        assert_eq!(s.format_version, OBSERVED_FORMAT_VERSION);
        assert!(s.observed_at.parse::<jiff::Timestamp>().is_ok());
        assert!(s.observed_at.ends_with('Z'));
        let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a-ok", "b-down", "c-nodocker", "d-containerd"]);

        let a = &s.nodes[0];
        let (facts, containers) = DockerRuntime::default()
            .parse_observation(FIXTURE_OBSERVE)
            .unwrap();
        assert!(a.reachable && a.error.is_none());
        assert_eq!(a.facts.as_ref(), Some(&facts));
        assert_eq!(a.containers, containers);

        assert!(!s.nodes[1].reachable);
        assert_eq!(
            s.nodes[1].error.as_deref(),
            Some("b-down: unreachable: connect to host b-down.example port 22: Connection refused")
        );
        assert!(!s.nodes[2].reachable);
        assert_eq!(
            s.nodes[2].error.as_deref(),
            Some(
                "container runtime not answering: `docker version` printed nothing: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
            )
        );
        assert_eq!(
            s.nodes[3].error.as_deref(),
            Some("container runtime `containerd` is not supported yet (only docker is)")
        );
        assert!(
            s.nodes[1..]
                .iter()
                .all(|n| n.facts.is_none() && n.containers.is_empty())
        );

        // Live connections only for hosts that answered; exactly one read-only command each.
        assert_eq!(cluster.transports.keys().collect::<Vec<_>>(), ["a-ok"]);
        assert_eq!(
            fake.commands("a-ok"),
            vec![DockerRuntime::default().observe_cmd()]
        );
        assert_eq!(fake.commands("c-nodocker").len(), 1);
        assert!(fake.commands("b-down").is_empty() && fake.commands("d-containerd").is_empty());
    }

    #[tokio::test]
    async fn a_host_past_its_deadline_is_down_and_names_the_runtime() {
        let inv = inventory(vec![
            host("a-ok", RuntimeKind::Docker),
            host("b-hung", RuntimeKind::Docker),
        ]);
        let fake = FakeConnector::new();
        fake.on_program("a-ok", "sh", FIXTURE_OBSERVE);
        fake.on(
            |h, _| h == "b-hung",
            Err(TransportError::Timeout {
                host: "b-hung".into(),
                program: "sh".into(),
                secs: 20,
            }),
        );
        let cluster = observe(&inv, &fake, runtime_for).await;
        let nodes = &cluster.state.nodes;
        assert!(nodes[0].reachable);
        assert!(!nodes[1].reachable);
        assert_eq!(
            nodes[1].error.as_deref(),
            Some("b-hung: docker did not answer within 20 s")
        );
        assert_eq!(cluster.transports.keys().collect::<Vec<_>>(), ["a-ok"]);
    }

    /// A connector whose every connection takes 300ms: observing 4 hosts must take ~300ms, not 1.2s.
    struct Slow(FakeConnector);
    impl Connector for Slow {
        fn connect<'a>(
            &'a self,
            target: &'a Target,
        ) -> BoxFuture<'a, Result<Arc<dyn Transport>, TransportError>> {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                self.0.connect(target).await
            })
        }
    }

    #[tokio::test]
    async fn hosts_are_observed_in_parallel() {
        let inv = inventory(
            (0..4)
                .map(|i| host(&format!("n{i}"), RuntimeKind::Docker))
                .collect(),
        );
        let fake = FakeConnector::new();
        fake.on(
            |_, c: &Cmd| c.program == "sh",
            Ok(Output {
                status: 0,
                stdout: FIXTURE_OBSERVE.as_bytes().to_vec(),
                stderr: vec![],
            }),
        );
        let started = std::time::Instant::now();
        let cluster = observe(&inv, &Slow(fake), runtime_for).await;
        assert!(
            started.elapsed() < std::time::Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
        assert!(cluster.state.nodes.iter().all(|n| n.reachable));
        assert_eq!(cluster.transports.len(), 4);
    }

    #[test]
    fn snapshot_round_trips_and_checks_version() {
        let (facts, containers) = DockerRuntime::default()
            .parse_observation(FIXTURE_OBSERVE)
            .unwrap();
        let state = ObservedState {
            format_version: OBSERVED_FORMAT_VERSION,
            observed_at: "2026-11-27T00:00:00Z".into(),
            nodes: vec![
                ObservedNode {
                    config_volumes: Default::default(),
                    pull_failures: Vec::new(),
                    volumes: Vec::new(),
                    network: None,
                    name: "n2".into(),
                    reachable: false,
                    error: Some("n2: unreachable: timeout".into()),
                    facts: None,
                    containers: vec![],
                    roster: None,
                },
                ObservedNode {
                    config_volumes: Default::default(),
                    pull_failures: Vec::new(),
                    volumes: Vec::new(),
                    network: None,
                    roster: None,
                    name: "n1".into(),
                    reachable: true,
                    error: None,
                    facts: Some(facts),
                    containers,
                },
            ],
        };
        let text = snapshot_to_json(&state);
        let back = snapshot_from_json(&text, "snap.json").unwrap();
        // Loading sorts nodes by name; everything else is lossless.
        assert_eq!(back.nodes[0], state.nodes[1]);
        assert_eq!(back.nodes[1], state.nodes[0]);
        assert_eq!(
            snapshot_to_json(&back),
            snapshot_to_json(&snapshot_from_json(&snapshot_to_json(&back), "x").unwrap())
        );

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        save_snapshot(&p, &back).unwrap();
        assert_eq!(load_snapshot(&p).unwrap(), back);

        let v2 = text.replacen("\"formatVersion\": 1", "\"formatVersion\": 2", 1);
        assert_eq!(
            snapshot_from_json(&v2, "s.json").unwrap_err().to_string(),
            "snapshot s.json has formatVersion 2; this clusterctl reads 1"
        );
        assert!(matches!(
            load_snapshot(&dir.path().join("missing.json")),
            Err(SnapshotError::Io { .. })
        ));
    }

    #[test]
    fn documented_example_is_a_valid_snapshot() {
        let doc = include_str!("../docs/snapshot.md");
        let start = doc.find("```json\n").unwrap() + "```json\n".len();
        let end = start + doc[start..].find("```").unwrap();
        let state = snapshot_from_json(&doc[start..end], "docs/snapshot.md").unwrap();
        assert_eq!(state.nodes.len(), 2);
        let pods = crate::model::observed_pods(&state);
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].containers.keys().collect::<Vec<_>>(), ["nginx"]);
        assert!(
            pods[0].manifest.is_some(),
            "the example's pod-manifest label parses as a Pod"
        );
        // The doc shows exactly what we would write.
        assert_eq!(snapshot_to_json(&state), doc[start..end]);
    }
}
