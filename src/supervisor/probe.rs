//! Probes as the node supervisor evaluates them (docs/probes.md; kubernetes-semantics.md §10): the
//! probes of a container with the kubelet's defaults, which of them are due at a poll (initial delay,
//! period, startup gating), the worker's threshold rule that turns raw attempts into a stored result,
//! the container's `ready`, the `Unhealthy` / `Killing` events and the decision to kill. Pure: the binary
//! (`src/bin/clusterctl-node.rs`) runs the attempts (HTTP, TCP, exec over the Engine API, grpc) and the kills.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::backoff::{format_secs, parse};
use super::decide::push_event;
use super::engine::Listed;
use crate::model::{ContainerRecord, ProbeRecord, labels};

/// The three probe workers of a container, in the order they gate each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    /// The key of its record (`ContainerRecord.probes`).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Startup => "startup",
            Kind::Liveness => "liveness",
            Kind::Readiness => "readiness",
        }
    }
    /// As the kubelet's messages capitalise it (`Liveness probe failed: …`).
    pub fn title(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
    /// The stored result before the first attempt completes: readiness Failure, liveness Success,
    /// startup Unknown.
    fn initial(self) -> &'static str {
        match self {
            Kind::Startup => UNKNOWN,
            Kind::Liveness => SUCCESS,
            Kind::Readiness => FAILURE,
        }
    }
}

pub const SUCCESS: &str = "Success";
pub const FAILURE: &str = "Failure";
pub const UNKNOWN: &str = "Unknown";

/// A probe port: a number, or a name of the container's `ports[]` resolved to one (a name the container
/// does not have stays a name: every attempt is a prober error, as the kubelet's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Port {
    Number(u16),
    Unresolved(String),
}

/// What one attempt does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// GET `http://<host>:<port><path>` with the headers (names as written); over TLS, the server's
    /// certificate not verified, when `https` (`scheme: HTTPS`, as the kubelet).
    Http {
        https: bool,
        host: Option<String>,
        port: Port,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: Option<String>,
        port: Port,
    },
    /// argv in the container (Engine API exec), no shell.
    Exec {
        command: Vec<String>,
    },
    /// `grpc.health.v1.Health/Check` of `service` at the pod IP over h2c (`supervisor::grpc_health`).
    Grpc {
        port: u16,
        service: String,
    },
}

/// One probe with the kubelet's defaults applied (`SetDefaults_Probe`; 0 or unset → default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub kind: Kind,
    pub handler: Handler,
    pub initial_delay: i64,
    pub period: i64,
    pub timeout: i64,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// The probe-level terminationGracePeriodSeconds (liveness/startup), else the pod's.
    pub grace: i64,
}

fn or_default(v: Option<i32>, default: i32) -> i32 {
    match v {
        Some(n) if n > 0 => n,
        _ => default,
    }
}

fn port(p: &IntOrString, c: &Container) -> Port {
    match p {
        IntOrString::Int(n) => u16::try_from(*n)
            .map(Port::Number)
            .unwrap_or_else(|_| Port::Unresolved(n.to_string())),
        IntOrString::String(s) => match s.parse::<u16>() {
            Ok(n) => Port::Number(n),
            Err(_) => c
                .ports
                .iter()
                .flatten()
                .find(|cp| cp.name.as_deref() == Some(s.as_str()))
                .and_then(|cp| u16::try_from(cp.container_port).ok())
                .map(Port::Number)
                .unwrap_or_else(|| Port::Unresolved(s.clone())),
        },
    }
}

/// The probe of `kind`, if it has a handler clusterctl evaluates.
pub fn spec(kind: Kind, p: &Probe, c: &Container, pod_grace: i64) -> Option<Spec> {
    let handler = if let Some(h) = &p.http_get {
        Handler::Http {
            https: h.scheme.as_deref() == Some("HTTPS"),
            host: h.host.clone().filter(|h| !h.is_empty()),
            port: port(&h.port, c),
            path: h
                .path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".to_string()),
            headers: h
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        }
    } else if let Some(t) = &p.tcp_socket {
        Handler::Tcp {
            host: t.host.clone().filter(|h| !h.is_empty()),
            port: port(&t.port, c),
        }
    } else if let Some(e) = &p.exec {
        Handler::Exec {
            command: e.command.clone().unwrap_or_default(),
        }
    } else if let Some(g) = &p.grpc {
        Handler::Grpc {
            port: u16::try_from(g.port).ok()?,
            service: g.service.clone().unwrap_or_default(),
        }
    } else {
        return None;
    };
    let grace = p
        .termination_grace_period_seconds
        .filter(|g| *g > 0 && kind != Kind::Readiness)
        .unwrap_or(pod_grace);
    Some(Spec {
        kind,
        handler,
        initial_delay: i64::from(p.initial_delay_seconds.unwrap_or(0).max(0)),
        period: i64::from(or_default(p.period_seconds, 10)),
        timeout: i64::from(or_default(p.timeout_seconds, 1)),
        success_threshold: or_default(p.success_threshold, 1) as u32,
        failure_threshold: or_default(p.failure_threshold, 3) as u32,
        grace,
    })
}

/// The probes of a container that clusterctl evaluates, startup first.
pub fn specs(c: &Container, pod_grace: i64) -> Vec<Spec> {
    [
        (Kind::Startup, &c.startup_probe),
        (Kind::Liveness, &c.liveness_probe),
        (Kind::Readiness, &c.readiness_probe),
    ]
    .into_iter()
    .filter_map(|(k, p)| spec(k, p.as_ref()?, c, pod_grace))
    .collect()
}

/// What the supervisor needs to probe a pod's containers: its IP and each container's probes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodProbes {
    pub ip: String,
    /// Container name → its probes (containers without probes are left out).
    pub containers: BTreeMap<String, Vec<Spec>>,
}

/// The probes of every pod in the container list, from the sandboxes' manifest and IP labels.
pub fn pod_probes(list: &[Listed]) -> BTreeMap<(String, String), PodProbes> {
    let mut out = BTreeMap::new();
    for c in list {
        if c.label(labels::CONTAINER) != Some(labels::SANDBOX_CONTAINER) {
            continue;
        }
        let (Some(ns), Some(name)) = (c.label(labels::NAMESPACE), c.label(labels::POD)) else {
            continue;
        };
        let Some(pod) = c
            .label(labels::POD_MANIFEST)
            .and_then(|m| serde_json::from_str::<Pod>(m).ok())
        else {
            continue;
        };
        let Some(spec) = pod.spec.as_ref() else {
            continue;
        };
        let grace = spec.termination_grace_period_seconds.unwrap_or(30).max(0);
        let containers: BTreeMap<String, Vec<Spec>> = spec
            .containers
            .iter()
            .map(|c| (c.name.clone(), specs(c, grace)))
            .filter(|(_, s)| !s.is_empty())
            .collect();
        if containers.is_empty() {
            continue;
        }
        out.insert(
            (ns.to_string(), name.to_string()),
            PodProbes {
                ip: c.label(labels::POD_IP).unwrap_or_default().to_string(),
                containers,
            },
        );
    }
    out
}

/// An attempt resolved against the pod: where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Http {
        https: bool,
        host: String,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    Tcp {
        host: String,
        port: u16,
    },
    Exec {
        command: Vec<String>,
    },
    Grpc {
        host: String,
        port: u16,
        service: String,
    },
}

impl Target {
    /// How reports name it: `http://10.0.0.5:80/healthz`, `https://10.0.0.5:443/`, `tcp 10.0.0.5:80`,
    /// `exec [cat /tmp/ok]`.
    pub fn describe(&self) -> String {
        match self {
            Target::Http { .. } => self.url(),
            Target::Tcp { host, port } => format!("tcp {host}:{port}"),
            Target::Exec { command } => format!("exec [{}]", command.join(" ")),
            Target::Grpc {
                host,
                port,
                service,
            } if service.is_empty() => format!("grpc {host}:{port}"),
            Target::Grpc {
                host,
                port,
                service,
            } => format!("grpc {host}:{port} service {service:?}"),
        }
    }
}

impl Target {
    /// The URL of an httpGet target, as the kubelet's prober builds it (and Go's errors quote it); empty
    /// for the other kinds.
    pub fn url(&self) -> String {
        match self {
            Target::Http {
                https,
                host,
                port,
                path,
                ..
            } => {
                let scheme = if *https { "https" } else { "http" };
                // An IPv6 literal is bracketed in a URL.
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host.clone()
                };
                format!("{scheme}://{host}:{port}{path}")
            }
            _ => String::new(),
        }
    }
}

/// The target of `spec` for a pod at `pod_ip`, or the prober error (an unknown port name).
pub fn target(spec: &Spec, pod_ip: &str) -> Result<Target, String> {
    let num = |p: &Port| match p {
        Port::Number(n) => Ok(*n),
        Port::Unresolved(name) => Err(format!("unable to find port named {name:?}")),
    };
    let host = |h: &Option<String>| h.clone().unwrap_or_else(|| pod_ip.to_string());
    Ok(match &spec.handler {
        Handler::Http {
            https,
            host: h,
            port,
            path,
            headers,
        } => Target::Http {
            https: *https,
            host: host(h),
            port: num(port)?,
            path: if path.starts_with('/') {
                path.clone()
            } else {
                format!("/{path}")
            },
            headers: headers.clone(),
        },
        Handler::Tcp { host: h, port } => Target::Tcp {
            host: host(h),
            port: num(port)?,
        },
        Handler::Exec { command } => Target::Exec {
            command: command.clone(),
        },
        Handler::Grpc { port, service } => Target::Grpc {
            host: pod_ip.to_string(),
            port: *port,
            service: service.clone(),
        },
    })
}

/// One attempt's raw outcome. `Error`: the probe could not be run (discarded, as the kubelet does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success(String),
    Failure(String),
    Error(String),
}

/// Whether `started` (startup succeeded or there is none) from the record.
pub fn started(specs: &[Spec], r: &ContainerRecord) -> bool {
    !specs.iter().any(|s| s.kind == Kind::Startup)
        || r.probes.get(Kind::Startup.key()).map(|p| p.result.as_str()) == Some(SUCCESS)
}

/// The probes to attempt at `now` for a running container that started at `started_at` (seconds):
/// startup until it succeeded, then liveness and readiness; none within `initialDelaySeconds`; each once
/// per `periodSeconds`.
pub fn due<'a>(specs: &'a [Spec], r: &ContainerRecord, started_at: i64, now: i64) -> Vec<&'a Spec> {
    let started = started(specs, r);
    specs
        .iter()
        .filter(|s| match s.kind {
            Kind::Startup => !started,
            _ => started,
        })
        .filter(|s| now - started_at >= s.initial_delay)
        .filter(|s| {
            r.probes
                .get(s.kind.key())
                .and_then(|p| parse(&p.last_probe_at))
                .is_none_or(|last| now - last >= s.period)
        })
        .collect()
}

/// Resets the record's probe state when its container started anew (`started_at`, RFC 3339): every
/// worker starts over at its initial result, and `ready` follows.
pub fn begin(specs: &[Spec], r: &mut ContainerRecord, started_at: &str) {
    if specs.is_empty() {
        r.probes.clear();
        r.ready = None;
        r.probed_start.clear();
        return;
    }
    if r.probed_start != started_at {
        r.probed_start = started_at.to_string();
        r.probes.clear();
    }
    for s in specs {
        r.probes
            .entry(s.kind.key().to_string())
            .or_insert_with(|| ProbeRecord {
                result: s.kind.initial().to_string(),
                ..Default::default()
            });
    }
    r.probes
        .retain(|k, _| specs.iter().any(|s| s.kind.key() == k));
    r.ready = Some(ready(specs, r));
}

/// The kubelet's `ready`: started, and the readiness result is Success (or there is no readiness probe).
pub fn ready(specs: &[Spec], r: &ContainerRecord) -> bool {
    started(specs, r)
        && (!specs.iter().any(|s| s.kind == Kind::Readiness)
            || r.probes
                .get(Kind::Readiness.key())
                .map(|p| p.result.as_str())
                == Some(SUCCESS))
}

/// What the supervisor must do after the attempts of a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    pub kind: Kind,
    /// Seconds between SIGTERM and SIGKILL.
    pub grace: i64,
}

/// The longest output a record keeps of an attempt.
const MAX_OUTPUT: usize = 1024;

fn clip(s: &str) -> String {
    let s = s.trim();
    if s.len() <= MAX_OUTPUT {
        return s.to_string();
    }
    let mut end = MAX_OUTPUT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Folds one attempt of `spec` into the record (the worker's threshold rule, the `Unhealthy` event) and
/// says whether the container must be killed (liveness or startup reaching Failure).
pub fn record(
    spec: &Spec,
    r: &mut ContainerRecord,
    container: &str,
    target: &str,
    outcome: &Outcome,
    now: i64,
) -> Option<Kill> {
    let at = format_secs(now);
    let entry = r
        .probes
        .entry(spec.kind.key().to_string())
        .or_insert_with(|| ProbeRecord {
            result: spec.kind.initial().to_string(),
            ..Default::default()
        });
    entry.target = target.to_string();
    entry.last_probe_at = at.clone();
    let (raw, output) = match outcome {
        Outcome::Success(o) => (SUCCESS, o),
        Outcome::Failure(o) => (FAILURE, o),
        Outcome::Error(o) => {
            // A prober error discards the attempt: the result and the run stay.
            entry.output = clip(o);
            return None;
        }
    };
    // Only a failure's output says something (an exec's success output would be rewritten every period).
    entry.output = if raw == FAILURE {
        clip(output)
    } else {
        String::new()
    };
    if entry.last_raw == raw {
        entry.run = entry.run.saturating_add(1);
    } else {
        entry.last_raw = raw.to_string();
        entry.run = 1;
    }
    let threshold = if raw == SUCCESS {
        spec.success_threshold
    } else {
        spec.failure_threshold
    };
    let changed = entry.run >= threshold && entry.result != raw;
    if entry.run >= threshold {
        entry.result = raw.to_string();
    }
    let output = entry.output.clone();
    if raw == FAILURE {
        push_event(
            r,
            "Warning",
            "Unhealthy",
            format!("{} probe failed: {output}", spec.kind.title()),
            &at,
        );
    }
    let kill = (changed && raw == FAILURE && spec.kind != Kind::Readiness).then(|| {
        let what = match spec.kind {
            Kind::Startup => "startup",
            _ => "liveness",
        };
        push_event(
            r,
            "Normal",
            "Killing",
            format!("Container {container} failed {what} probe, will be restarted"),
            &at,
        );
        Kill {
            kind: spec.kind,
            grace: spec.grace,
        }
    });
    if kill.is_some() {
        // The kubelet's worker starts over for the next container start; until then nothing is probed.
        for p in r.probes.values_mut() {
            p.run = 0;
            p.last_raw.clear();
        }
    }
    kill
}

/// After the attempts of a poll: `ready` from the stored results.
pub fn finish(specs: &[Spec], r: &mut ContainerRecord, running: bool) {
    if specs.is_empty() {
        return;
    }
    r.ready = Some(running && ready(specs, r));
}

#[cfg(test)]
mod tests;
