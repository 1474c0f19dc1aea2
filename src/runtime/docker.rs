//! The docker runtime: dockershim-style names and clusterctl labels, `docker create`/`start`/`rm` argv
//! builders, and the parser for the one-round-trip observe script (`docker inspect` JSON + node facts).
//! Pure: builds [`Cmd`]s and parses text; never runs anything.
//!
//! Conventions (docs/snapshot.md has the observed side):
//! - names: sandbox `k8s_POD_<pod>_<namespace>`, app container `k8s_<container>_<pod>_<namespace>`;
//! - every container carries all `clusterctl.io/*` labels of [`crate::model::labels`]; the sandbox also
//!   carries `clusterctl.io/pod-manifest` (compact JSON of the Pod: metadata without managedFields, spec).
//!   The pod's own labels live only inside that manifest (one source of truth, no key collisions);
//! - every value is its own argv element in `--flag=value` form (a value starting with `-` can never be
//!   read as a flag) and the image follows `--`, after which docker reads only the image and its argv;
//! - `docker create` never pulls (`--pull=never`): images are pulled by separate steps
//!   ([`pull_cmd`], `imagePullPolicy` Always / IfNotPresent / Never), which apply runs before anything of
//!   an old pod is stopped, so a failed pull never takes a running pod down.
//! - no argv limit: a `docker create` whose command line would exceed [`MAX_CREATE_LINE`] (a 1 MiB env value,
//!   a pod manifest with a 256 KiB annotation) is sent instead as the equivalent Engine API request on the
//!   stdin of `docker system dial-stdio` (only the docker CLI needed; see [`api_create`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use serde::Deserialize;

use super::{PodRun, Runtime, RuntimeError};
use crate::cmd::Cmd;
use crate::model::{NodeFacts, ObservedContainer, ObservedPod, labels};
use crate::quantity::Quantity;

/// The sandbox image of Kubernetes 1.28–1.30 (kubelet's default pod infra image).
pub const DEFAULT_SANDBOX_IMAGE: &str = "registry.k8s.io/pause:3.9";

/// A container's `imagePullPolicy` (defaulted by `manifest`: Always for `:latest` or no tag, else IfNotPresent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    fn of(c: &Container) -> PullPolicy {
        match c.image_pull_policy.as_deref() {
            Some("Always") => PullPolicy::Always,
            Some("Never") => PullPolicy::Never,
            _ => PullPolicy::IfNotPresent,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

use super::pull::PULL_SCRIPT;

/// `$0` of the pull step's script: how [`pulled_image`] recognises a pull step.
pub(crate) const PULL_ARG0: &str = "clusterctl-pull";

/// The step that makes `image` present on a host under `policy`.
pub fn pull_cmd(image: &str, policy: PullPolicy) -> Cmd {
    Cmd::write(
        "sh",
        [
            "-c".to_string(),
            PULL_SCRIPT.to_string(),
            PULL_ARG0.to_string(),
            policy.as_str().to_string(),
            image.to_string(),
        ],
    )
}

/// The image a step pulls, if it is a pull step ([`pull_cmd`], or its authenticated form
/// [`super::pull::with_auth`]).
pub fn pulled_image(cmd: &Cmd) -> Option<&str> {
    pull_args(cmd).map(|(_, image)| image)
}

/// The `imagePullPolicy` of a pull step.
pub fn pulled_policy(cmd: &Cmd) -> Option<&str> {
    pull_args(cmd).map(|(policy, _)| policy)
}

fn pull_args(cmd: &Cmd) -> Option<(&str, &str)> {
    match cmd.args.as_slice() {
        [c, script, arg0, policy, image]
            if cmd.program == "sh"
                && c == "-c"
                && (script == PULL_SCRIPT || script == super::pull::AUTH_PULL_SCRIPT)
                && arg0 == PULL_ARG0 =>
        {
            Some((policy, image))
        }
        _ => None,
    }
}

/// Docker's "never happened" timestamp.
const ZERO_TIME_PREFIX: &str = "0001-01-01T00:00:00";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRuntime {
    /// Image of the pod sandbox (owns the network namespace, runs `pause`).
    pub sandbox_image: String,
    /// Docker network the sandbox joins; `None` = docker's default bridge.
    pub network: Option<String>,
}

impl Default for DockerRuntime {
    fn default() -> DockerRuntime {
        DockerRuntime {
            sandbox_image: DEFAULT_SANDBOX_IMAGE.to_string(),
            network: None,
        }
    }
}

/// `k8s_POD_<pod>_<namespace>`
pub fn sandbox_name(namespace: &str, pod: &str) -> String {
    format!("k8s_{}_{pod}_{namespace}", labels::SANDBOX_CONTAINER)
}

/// `k8s_<container>_<pod>_<namespace>`
pub fn container_name(namespace: &str, pod: &str, container: &str) -> String {
    format!("k8s_{container}_{pod}_{namespace}")
}

// ---------------------------------------------------------------------------------------------------
// observe

/// The observe script. A constant: no manifest or inventory value is ever interpolated into it.
/// `docker ps` lists managed containers only; an empty list prints `[]` instead of calling inspect.
const OBSERVE_SCRIPT: &str = r#"m() { printf '\n@@clusterctl:%s@@\n' "$1"; }
m hostname; cat /proc/sys/kernel/hostname
m kernel; uname -r
m os; (. /etc/os-release 2>/dev/null && printf '%s\n' "$PRETTY_NAME")
m arch; uname -m
m runtime; docker version --format '{{.Server.Version}}'
m cpus; getconf _NPROCESSORS_ONLN 2>/dev/null || nproc
m memtotal; grep '^MemTotal:' /proc/meminfo
m btime; grep '^btime ' /proc/stat
m roster; cat /var/lib/clusterctl/roster.json 2>/dev/null
m records; cat /var/lib/clusterctl/node/records.json 2>/dev/null
m podnet; docker network inspect clusterctl-pods --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null
m vxlan; ip -d -j link show dev clusterctl.1 2>/dev/null
m vxaddr; ip -4 -j addr show dev clusterctl.1 2>/dev/null
m vxroutes; ip -4 -j route show dev clusterctl.1 2>/dev/null
m vxneigh; ip -4 -j neigh show dev clusterctl.1 2>/dev/null
m vxfdb; bridge -j fdb show dev clusterctl.1 2>/dev/null
m iptnat; iptables-save -t nat 2>/dev/null
m iptfilter; iptables-save -t filter 2>/dev/null
m pulls; date +%s; for f in /var/lib/clusterctl/pulls/*; do [ -f "$f" ] && { cat "$f"; echo @@pull-record-end@@; }; done; true
m cfgvols; for f in /run/clusterctl/pods/*/sums/*; do [ -f "$f" ] && printf '%s %s\n' "${f#/run/clusterctl/pods/}" "$(cat "$f")"; done; true
m volumes; vs=$(docker volume ls -q --filter label=clusterctl.io/managed=true 2>/dev/null)
if [ -n "$vs" ]; then docker volume inspect $vs 2>/dev/null || echo '[]'; else echo '[]'; fi
m containers; ids=$(docker ps -aq --no-trunc --filter label=clusterctl.io/managed=true) || exit 1
if [ -n "$ids" ]; then docker inspect $ids; else echo '[]'; fi
m end
"#;

fn split_sections(stdout: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut buf = String::new();
    for line in stdout.split('\n') {
        if let Some(name) = line
            .strip_prefix("@@clusterctl:")
            .and_then(|l| l.strip_suffix("@@"))
        {
            if let Some(prev) = current.take() {
                out.insert(prev, buf.trim().to_string());
            }
            buf.clear();
            current = Some(name.to_string());
        } else if current.is_some() {
            buf.push_str(line);
            buf.push('\n');
        }
    }
    if let Some(prev) = current {
        out.insert(prev, buf.trim().to_string());
    }
    out
}

/// `uname -m` → Go's GOARCH, which is what kubectl shows as the node's architecture.
fn goarch(uname_m: &str) -> String {
    match uname_m {
        "x86_64" => "amd64",
        "aarch64" | "arm64" => "arm64",
        "armv7l" | "armv6l" => "arm",
        "i386" | "i686" => "386",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
    .to_string()
}

fn parse_facts(s: &BTreeMap<String, String>) -> Result<NodeFacts, RuntimeError> {
    let get = |k: &'static str| {
        s.get(k)
            .map(String::as_str)
            .ok_or(RuntimeError::MissingSection(k))
    };
    let runtime = get("runtime")?;
    if runtime.is_empty() || runtime.contains(' ') {
        return Err(RuntimeError::NotAnswering(if runtime.is_empty() {
            "`docker version` printed nothing".to_string()
        } else {
            runtime.to_string()
        }));
    }
    let cpus = get("cpus")?;
    let cpu_cores = cpus.parse::<u32>().map_err(|_| RuntimeError::Fact {
        fact: "cpu count",
        value: cpus.to_string(),
    })?;
    // `MemTotal:       16318784 kB` (the kernel's kB are KiB).
    let mem = get("memtotal")?;
    let memory_bytes = mem
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|_| mem.trim_end().ends_with("kB"))
        .map(|kib| kib * 1024)
        .ok_or_else(|| RuntimeError::Fact {
            fact: "MemTotal",
            value: mem.to_string(),
        })?;
    let btime = get("btime")?;
    let boot_time = btime
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .map(|t| t.to_string())
        .ok_or_else(|| RuntimeError::Fact {
            fact: "boot time",
            value: btime.to_string(),
        })?;
    Ok(NodeFacts {
        hostname: get("hostname")?.to_string(),
        kernel_version: get("kernel")?.to_string(),
        os_image: get("os")?.to_string(),
        architecture: goarch(get("arch")?),
        container_runtime_version: format!("docker://{runtime}"),
        cpu_cores,
        memory_bytes,
        boot_time,
    })
}

/// The parts of `docker inspect` we read. Unknown fields are ignored (docker adds fields over time).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect {
    id: String,
    name: String,
    created: String,
    #[serde(default)]
    restart_count: u32,
    config: InspectConfig,
    state: InspectState,
    #[serde(default)]
    network_settings: Option<InspectNetworkSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectConfig {
    image: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectState {
    status: String,
    #[serde(default)]
    exit_code: i32,
    #[serde(default)]
    error: String,
    #[serde(default)]
    started_at: String,
    #[serde(default)]
    finished_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectNetworkSettings {
    #[serde(default)]
    networks: Option<BTreeMap<String, InspectNetwork>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectNetwork {
    #[serde(rename = "IPAddress", default)]
    ip_address: String,
}

fn time_or_empty(t: String) -> String {
    if t.starts_with(ZERO_TIME_PREFIX) {
        String::new()
    } else {
        t
    }
}

impl From<Inspect> for ObservedContainer {
    fn from(i: Inspect) -> ObservedContainer {
        // Networks is a map, so "first" is the alphabetically first network with an address; app
        // containers in `container:` mode have none.
        let ip = i
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|nets| {
                nets.into_values()
                    .map(|n| n.ip_address)
                    .find(|ip| !ip.is_empty())
            });
        ObservedContainer {
            id: i.id,
            name: i.name.trim_start_matches('/').to_string(),
            image: i.config.image,
            labels: i.config.labels.unwrap_or_default(),
            status: i.state.status,
            exit_code: i.state.exit_code,
            restart_count: i.restart_count,
            created_at: time_or_empty(i.created),
            started_at: time_or_empty(i.state.started_at),
            finished_at: time_or_empty(i.state.finished_at),
            ip,
            error: i.state.error,
            record: None,
        }
    }
}

/// Parses `docker inspect` output (a JSON array) into containers sorted by name.
pub fn parse_inspect(json: &str) -> Result<Vec<ObservedContainer>, RuntimeError> {
    let raw: Vec<Inspect> =
        serde_json::from_str(json).map_err(|e| RuntimeError::Inspect(e.to_string()))?;
    let mut out: Vec<ObservedContainer> = raw.into_iter().map(Into::into).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// `docker volume inspect` JSON → the managed volumes, sorted by name (unreadable output → none: a lost
/// volume list only hides bindings, which the roster still remembers).
pub fn parse_volume_inspect(json: &str) -> Vec<crate::model::ObservedVolume> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Raw {
        name: String,
        #[serde(default)]
        labels: Option<BTreeMap<String, String>>,
        #[serde(default)]
        created_at: String,
    }
    let raw: Vec<Raw> = serde_json::from_str(json.trim()).unwrap_or_default();
    let mut out: Vec<crate::model::ObservedVolume> = raw
        .into_iter()
        .map(|r| crate::model::ObservedVolume {
            node: String::new(),
            labels: r.labels.unwrap_or_default(),
            created_at: time_or_empty(r.created_at),
            name: r.name,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

// ---------------------------------------------------------------------------------------------------
// create / start / remove

/// The pod as stored on the sandbox: metadata without managedFields and status-free.
fn pod_manifest_json(pod: &Pod) -> String {
    let mut p = pod.clone();
    p.metadata.managed_fields = None;
    p.status = None;
    serde_json::to_string(&p).expect("a Pod always serializes")
}

/// Pod containers are never restarted by docker: its restart manager backs off 100 ms doubling to 1 min and
/// forgets after 10 s, not the kubelet's 10 s to 5 min. The node supervisor restarts them by the pod's
/// restartPolicy (docs/node-supervisor.md). Only the supervisor's own pod is docker's to restart.
fn restart_flag(pod: &Pod) -> &'static str {
    if is_node_supervisor(pod) {
        "--restart=always"
    } else {
        "--restart=no"
    }
}

/// The node supervisor's own pod (pod label [`labels::NODE_SUPERVISOR`]).
fn is_node_supervisor(pod: &Pod) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::NODE_SUPERVISOR))
        .is_some_and(|v| v == "true")
}

/// Folds the node supervisor's records file into the containers it is about (same name and id): the
/// record itself, and its restart count as the container's. An unreadable file is a lost memory, not an error.
pub fn merge_records(containers: &mut [ObservedContainer], text: &str) {
    let Ok(records) = serde_json::from_str::<crate::model::NodeRecords>(text) else {
        return;
    };
    for c in containers.iter_mut() {
        if let Some(r) = records.containers.get(&c.name).filter(|r| r.id == c.id) {
            c.restart_count = r.restart_count;
            c.record = Some(r.clone());
        }
    }
}

/// Millicores → docker's decimal `--cpus` (500 → `0.5`, 1000 → `1`, 1 → `0.001`).
fn decimal_cpus(millis: i64) -> String {
    let whole = millis / 1000;
    let frac = millis % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{:03}", frac)
            .trim_end_matches('0')
            .to_string()
    }
}

/// kubelet's conversion of a cpu request to cgroup shares (`MilliCPUToShares`): 1024 per core, min 2.
fn cpu_shares(millis: i64) -> i64 {
    (millis * 1024 / 1000).max(2)
}

fn resource_flags(c: &Container, args: &mut Vec<String>) {
    let Some(res) = &c.resources else { return };
    let get =
        |m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         k: &str| {
            m.as_ref()
                .and_then(|m| m.get(k))
                .and_then(|q| Quantity::parse(&q.0).ok())
        };
    if let Some(q) = get(&res.limits, "cpu") {
        args.push(format!("--cpus={}", decimal_cpus(q.milli_value())));
    }
    if let Some(q) = get(&res.limits, "memory") {
        args.push(format!("--memory={}", q.value()));
    }
    if let Some(q) = get(&res.requests, "cpu") {
        args.push(format!("--cpu-shares={}", cpu_shares(q.milli_value())));
    }
    if let Some(q) = get(&res.requests, "memory") {
        args.push(format!("--memory-reservation={}", q.value()));
    }
}

impl DockerRuntime {
    fn common_labels(&self, run: &PodRun<'_>, container: &str, out: &mut Vec<String>) {
        let meta = &run.pod.metadata;
        let mut l: BTreeMap<&str, &str> = BTreeMap::new();
        l.insert(labels::MANAGED, "true");
        l.insert(
            labels::NAMESPACE,
            meta.namespace.as_deref().unwrap_or("default"),
        );
        l.insert(labels::POD, meta.name.as_deref().unwrap_or_default());
        l.insert(labels::CONTAINER, container);
        if let Some(o) = run.owner {
            l.insert(labels::OWNER_KIND, &o.kind);
            l.insert(labels::OWNER_NAME, &o.name);
        }
        l.insert(labels::TEMPLATE_HASH, run.template_hash);
        l.insert(labels::COMMIT, run.commit);
        if let Some(h) = run.spec_hashes.get(container) {
            l.insert(labels::SPEC_HASH, h);
        }
        out.extend(l.into_iter().map(|(k, v)| format!("--label={k}={v}")));
    }

    fn sandbox_create(&self, run: &PodRun<'_>, spec: &PodSpec, ns: &str, name: &str) -> Cmd {
        let mut a: Vec<String> = vec![
            "create".into(),
            "--pull=never".into(),
            format!("--name={}", sandbox_name(ns, name)),
        ];
        let host_network = spec.host_network == Some(true);
        if !host_network {
            a.push(format!(
                "--hostname={}",
                spec.hostname.as_deref().unwrap_or(name)
            ));
        }
        if host_network {
            // The node's network namespace: its hostname and addresses; docker refuses a hostname or
            // published ports with it (the container ports are the host's ports already). The pod IP the
            // planner gave it is the node's address, kept only in the label.
            a.push("--network=host".into());
        } else if let Some(ip) = run.ip {
            a.push(format!("--network={}", crate::network::POD_NETWORK));
            a.push(format!("--ip={ip}"));
        } else if let Some(net) = &self.network {
            a.push(format!("--network={net}"));
        }
        // The sandbox owns the network namespace, so host ports of every container are published on it.
        for c in spec.containers.iter().filter(|_| !host_network) {
            for p in c.ports.iter().flatten() {
                let Some(hp) = p.host_port.filter(|hp| *hp > 0) else {
                    continue;
                };
                let proto = p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase();
                let ip = p
                    .host_ip
                    .as_deref()
                    .filter(|ip| !ip.is_empty())
                    .map(|ip| format!("{ip}:"))
                    .unwrap_or_default();
                a.push(format!("--publish={ip}{hp}:{}/{proto}", p.container_port));
            }
        }
        // The cluster DNS (docs/dns.md): docker's own file (if it ever rewrites it) still resolves
        // through the cluster DNS; the kubelet's exact file is written after the sandbox starts.
        if let Some(rc) = run.config.and_then(|c| c.resolv.as_ref()) {
            a.extend(rc.nameservers.iter().map(|n| format!("--dns={n}")));
            a.extend(rc.searches.iter().map(|s| format!("--dns-search={s}")));
            a.extend(rc.options.iter().map(|(n, v)| match v {
                Some(v) => format!("--dns-option={n}:{v}"),
                None => format!("--dns-option={n}"),
            }));
        }
        a.push("--restart=always".into());
        a.extend(super::security::sandbox_flags(spec));
        a.extend(super::mounts::sandbox_mounts(spec, ns, name));
        self.common_labels(run, labels::SANDBOX_CONTAINER, &mut a);
        if let Some(ip) = run.ip {
            a.push(format!("--label={}={ip}", labels::POD_IP));
        }
        a.push(format!(
            "--label={}={}",
            labels::POD_MANIFEST,
            pod_manifest_json(run.pod)
        ));
        a.push("--".into());
        a.push(self.sandbox_image.clone());
        create_cmd(a)
    }

    fn app_create(
        &self,
        run: &PodRun<'_>,
        spec: &PodSpec,
        c: &Container,
        ns: &str,
        pod: &str,
    ) -> Cmd {
        let mut a: Vec<String> = vec![
            "create".into(),
            "--pull=never".into(),
            format!("--name={}", container_name(ns, pod, &c.name)),
            // A host-network pod's containers are in the host's namespace themselves rather than through
            // the sandbox's: the same namespace, without depending on the sandbox running first (dockerd
            // starts `--restart=always` containers in parallel at boot).
            if spec.host_network == Some(true) {
                "--network=host".to_string()
            } else {
                format!("--network=container:{}", sandbox_name(ns, pod))
            },
            restart_flag(run.pod).into(),
        ];
        if let Some(g) = spec.termination_grace_period_seconds {
            a.push(format!("--stop-timeout={g}"));
        }
        if let Some(wd) = c.working_dir.as_deref().filter(|w| !w.is_empty()) {
            a.push(format!("--workdir={wd}"));
        }
        // The environment resolved by the planner (ConfigMaps, Secrets, downward API) when there is one;
        // otherwise the plain values, in manifest order.
        let resolved = run.config.and_then(|cfg| cfg.env.get(&c.name));
        if let Some(env) = resolved {
            a.extend(env.iter().map(|e| format!("--env={}={}", e.name, e.value)));
        } else {
            for e in c.env.iter().flatten() {
                if e.value_from.is_none() {
                    a.push(format!(
                        "--env={}={}",
                        e.name,
                        e.value.as_deref().unwrap_or("")
                    ));
                }
            }
        }
        let mounts = run.config.and_then(|cfg| cfg.mounts.get(&c.name));
        for m in mounts.into_iter().flatten() {
            // CSV-quoted like every other mount: a comma or quote in the path must not add a field.
            a.push(format!(
                "--mount=type=bind,{},{},readonly",
                super::mounts::csv(&format!(
                    "source={}",
                    super::config::volume_dir(ns, pod, &m.volume)
                )),
                super::mounts::csv(&format!(
                    "target={}",
                    super::mounts::container_path(&m.target)
                ))
            ));
        }
        // Secret values and mount targets never go through argv: the Engine API request on stdin.
        let secret = run.config.is_some_and(|cfg| cfg.has_secret_env(&c.name));
        let force_api = secret || mounts.is_some_and(|m| !m.is_empty());
        resource_flags(c, &mut a);
        a.extend(super::security::app_flags(spec, c, &sandbox_name(ns, pod)));
        a.extend(super::mounts::container_mounts(spec, c, ns, pod));
        self.common_labels(run, &c.name, &mut a);
        // Kubernetes `command` replaces ENTRYPOINT (its first element is the executable, the rest are
        // arguments before `args`); `args` replace CMD. Docker clears the image CMD when --entrypoint is set,
        // which matches Kubernetes ignoring the image CMD when only `command` is given.
        let command = c.command.as_deref().unwrap_or_default();
        if let Some((entry, rest)) = command.split_first() {
            a.push(format!("--entrypoint={entry}"));
            a.push("--".into());
            a.push(c.image.clone().unwrap_or_default());
            a.extend(rest.iter().cloned());
        } else {
            a.push("--".into());
            a.push(c.image.clone().unwrap_or_default());
        }
        a.extend(c.args.iter().flatten().cloned());
        if force_api {
            let cmd = api_cmd(a);
            return if secret { cmd.sensitive() } else { cmd };
        }
        create_cmd(a)
    }
}

/// Runs one init container to completion: `docker start --attach` returns when it exits, with its code;
/// its output stays in its log, not in apply's. A constant script; the name is an argument.
pub const INIT_SCRIPT: &str = r#"docker start --attach "$1" >/dev/null 2>&1
code=$?
[ "$code" -eq 0 ] && exit 0
printf 'init container %s exited with %s\n' "$2" "$code" >&2
exit 1"#;

/// `$0` of [`INIT_SCRIPT`].
pub const INIT_ARG0: &str = "clusterctl-init";

/// Whether `c` is a sidecar: an init container with `restartPolicy: Always`.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The step that runs init container `c` of pod `ns/pod`: to completion, or (a sidecar) only started.
pub fn init_step(ns: &str, pod: &str, c: &Container) -> Cmd {
    let name = container_name(ns, pod, &c.name);
    if is_sidecar(c) {
        return Cmd::write("docker", ["start".to_string(), name]);
    }
    Cmd::write(
        "sh",
        [
            "-c".to_string(),
            INIT_SCRIPT.to_string(),
            INIT_ARG0.to_string(),
            name,
            c.name.clone(),
        ],
    )
}

/// Replaces the sandbox's resolv.conf (which every container of the pod shares) with `$0`'s stdin, as
/// dockershim rewrote it: docker keeps a file it did not write. Written in place (the same inode: it is
/// bind-mounted into every container of the pod) before the app containers start. A constant script;
/// the content on stdin.
const RESOLV_SCRIPT: &str = r#"set -eu
p=$(docker inspect --type=container --format '{{.ResolvConfPath}}' "$1")
[ -n "$p" ] || { echo "no resolv.conf for $1" >&2; exit 1; }
cat > "$p""#;

/// `$0` of the resolv.conf script.
pub const RESOLV_ARG0: &str = "clusterctl-resolv";

/// The command that writes a pod's resolv.conf (docs/dns.md).
pub fn resolv_conf_cmd(sandbox: &str, text: &str) -> Cmd {
    Cmd::write("sh", ["-c", RESOLV_SCRIPT, RESOLV_ARG0, sandbox]).with_stdin(text.to_string())
}

/// The longest `docker create` command line sent as argv. sshd hands the whole line to the remote shell
/// as one argument, and Linux refuses any single argument over 128 KiB (`MAX_ARG_STRLEN`).
pub const MAX_CREATE_LINE: usize = 64 * 1024;

/// Runs one Engine API request given on stdin and fails unless the daemon answers 2xx, printing the
/// daemon's message. A constant: values travel only in the request body, never through the shell.
pub const API_CREATE_SCRIPT: &str = r#"resp=$(docker system dial-stdio) || exit 125
code=${resp#HTTP/1.? }; code=${code%% *}
case $code in 2??) exit 0;; esac
nl='
'
printf 'Error response from daemon (HTTP %s): %s\n' "$code" "${resp##*$nl}" >&2
exit 1"#;

/// `docker create ARGS`, or its API form when the line is too long for argv.
fn create_cmd(args: Vec<String>) -> Cmd {
    let cmd = Cmd::write("docker", args);
    if cmd.to_shell_line().len() <= MAX_CREATE_LINE {
        return cmd;
    }
    match api_create(&cmd.args) {
        Some(request) => {
            Cmd::write("sh", ["-c", API_CREATE_SCRIPT, "clusterctl-create"]).with_stdin(request)
        }
        // Only flags this module writes are translated; anything else keeps the argv form.
        None => cmd,
    }
}

/// `docker create ARGS` always in its API form (for Secret-derived env and bind mounts).
fn api_cmd(args: Vec<String>) -> Cmd {
    let request = api_create(&args).expect("every flag app_create writes is translated");
    Cmd::write("sh", ["-c", API_CREATE_SCRIPT, "clusterctl-create"]).with_stdin(request)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub(crate) fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `0.5` → 500000000 (docker's `--cpus` as NanoCPUs).
fn nano_cpus(decimal: &str) -> Option<i64> {
    let (whole, frac) = decimal.split_once('.').unwrap_or((decimal, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(frac_nanos)
}

/// Translates the `docker create` argv this module builds into the Engine API request the docker CLI
/// would send for it (`POST /containers/create?name=…` with the container config as JSON). `None` for a
/// flag it does not know.
pub fn api_create(args: &[String]) -> Option<String> {
    use serde_json::{Map, Value, json};
    let (first, rest) = args.split_first()?;
    if first != "create" {
        return None;
    }
    let sep = rest.iter().position(|a| a == "--")?;
    let (flags, tail) = (&rest[..sep], &rest[sep + 1..]);
    let (image, cmd) = tail.split_first()?;
    let mut name = None;
    let mut config = Map::new();
    let mut host = Map::new();
    let mut labels = Map::new();
    let mut env = Vec::new();
    let mut exposed = Map::new();
    let mut bindings: Map<String, Value> = Map::new();
    let mut network: Option<String> = None;
    let mut ip: Option<String> = None;
    for f in flags {
        let (k, v) = f.split_once('=')?;
        match k {
            "--pull" if v == "never" => {} // the API never pulls
            "--name" => name = Some(v.to_string()),
            "--hostname" => {
                config.insert("Hostname".into(), json!(v));
            }
            "--network" => network = Some(v.to_string()),
            "--ip" => ip = Some(v.to_string()),
            "--restart" => {
                host.insert("RestartPolicy".into(), json!({ "Name": v }));
            }
            "--label" => {
                let (lk, lv) = v.split_once('=')?;
                labels.insert(lk.into(), json!(lv));
            }
            "--env" => env.push(json!(v)),
            "--stop-timeout" => {
                config.insert("StopTimeout".into(), json!(v.parse::<i64>().ok()?));
            }
            "--workdir" => {
                config.insert("WorkingDir".into(), json!(v));
            }
            "--entrypoint" => {
                config.insert("Entrypoint".into(), json!([v]));
            }
            "--cpus" => {
                host.insert("NanoCpus".into(), json!(nano_cpus(v)?));
            }
            "--memory" => {
                host.insert("Memory".into(), json!(v.parse::<i64>().ok()?));
            }
            "--memory-reservation" => {
                host.insert("MemoryReservation".into(), json!(v.parse::<i64>().ok()?));
            }
            "--mount" => {
                let mounts = host.entry("Mounts").or_insert_with(|| json!([]));
                mounts.as_array_mut()?.push(api_mount(v)?);
            }
            "--dns" | "--dns-search" | "--dns-option" => {
                let key = match k {
                    "--dns" => "Dns",
                    "--dns-search" => "DnsSearch",
                    _ => "DnsOptions",
                };
                let list = host.entry(key).or_insert_with(|| json!([]));
                list.as_array_mut()?.push(json!(v));
            }
            "--user" => {
                config.insert("User".into(), json!(v));
            }
            "--group-add" | "--cap-add" | "--cap-drop" | "--security-opt" | "--add-host" => {
                let key = match k {
                    "--group-add" => "GroupAdd",
                    "--cap-add" => "CapAdd",
                    "--cap-drop" => "CapDrop",
                    "--security-opt" => "SecurityOpt",
                    _ => "ExtraHosts",
                };
                let list = host.entry(key).or_insert_with(|| json!([]));
                list.as_array_mut()?.push(json!(v));
            }
            "--privileged" | "--read-only" => {
                let key = if k == "--privileged" {
                    "Privileged"
                } else {
                    "ReadonlyRootfs"
                };
                host.insert(key.into(), json!(v.parse::<bool>().ok()?));
            }
            "--pid" => {
                host.insert("PidMode".into(), json!(v));
            }
            "--ipc" => {
                host.insert("IpcMode".into(), json!(v));
            }
            "--sysctl" => {
                let (sk, sv) = v.split_once('=')?;
                let map = host.entry("Sysctls").or_insert_with(|| json!({}));
                map.as_object_mut()?.insert(sk.into(), json!(sv));
            }
            "--cpu-shares" => {
                host.insert("CpuShares".into(), json!(v.parse::<i64>().ok()?));
            }
            "--publish" => {
                // `[ip:]hostPort:containerPort/proto`
                let (spec, proto) = v.rsplit_once('/')?;
                let (front, container_port) = spec.rsplit_once(':')?;
                let (host_ip, host_port) = front.rsplit_once(':').unwrap_or(("", front));
                let key = format!("{container_port}/{proto}");
                exposed.insert(key.clone(), json!({}));
                let list = bindings.entry(key).or_insert_with(|| json!([]));
                list.as_array_mut()?
                    .push(json!({ "HostIp": host_ip, "HostPort": host_port }));
            }
            _ => return None,
        }
    }
    config.insert("Image".into(), json!(image));
    if !cmd.is_empty() {
        config.insert("Cmd".into(), json!(cmd));
    }
    config.insert("Env".into(), Value::Array(env));
    config.insert("Labels".into(), Value::Object(labels));
    config.insert("AttachStdout".into(), json!(true));
    config.insert("AttachStderr".into(), json!(true));
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    host.insert("PortBindings".into(), Value::Object(bindings));
    host.insert(
        "NetworkMode".into(),
        json!(network.clone().unwrap_or_else(|| "default".into())),
    );
    config.insert("HostConfig".into(), Value::Object(host));
    if let Some(net) = network.filter(|n| !n.starts_with("container:")) {
        let mut endpoint = Map::new();
        if let Some(ip) = ip {
            endpoint.insert("IPAMConfig".into(), json!({ "IPv4Address": ip }));
        }
        config.insert(
            "NetworkingConfig".into(),
            json!({ "EndpointsConfig": { net: Value::Object(endpoint) } }),
        );
    }
    let body = serde_json::to_string(&Value::Object(config)).ok()?;
    Some(format!(
        "POST /containers/create?name={} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        query_escape(&name?),
        body.len()
    ))
}

/// Splits one `--mount` value (docker's CSV: a field may be quoted, `""` is a quote).
fn csv_fields(v: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = v.chars().peekable();
    let mut quoted = false;
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (false, '"') if cur.is_empty() => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, ',') => out.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        return None;
    }
    out.push(cur);
    Some(out)
}

/// A `--mount` value as the Engine API's `HostConfig.Mounts` entry.
fn api_mount(v: &str) -> Option<serde_json::Value> {
    use serde_json::json;
    let mut m = serde_json::Map::new();
    for f in csv_fields(v)? {
        match f.split_once('=') {
            Some(("type", t)) => {
                m.insert("Type".into(), json!(t));
            }
            Some(("source", s)) => {
                m.insert("Source".into(), json!(s));
            }
            Some(("target", t)) => {
                m.insert("Target".into(), json!(t));
            }
            Some(("bind-propagation", p)) => {
                m.insert("BindOptions".into(), json!({ "Propagation": p }));
            }
            None if f == "readonly" => {
                m.insert("ReadOnly".into(), json!(true));
            }
            _ => return None,
        }
    }
    Some(serde_json::Value::Object(m))
}

/// The container name and config of an [`api_create`] command (for the simulator).
pub fn decode_api_create(cmd: &Cmd) -> Option<(String, serde_json::Value)> {
    if cmd.program != "sh" || cmd.args.get(1).map(String::as_str) != Some(API_CREATE_SCRIPT) {
        return None;
    }
    let req = cmd.stdin.as_deref()?;
    let (head, body) = req.split_once("\r\n\r\n")?;
    let name = head.split_once("?name=")?.1.split(' ').next()?;
    let mut out = Vec::new();
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(name.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some((
        String::from_utf8(out).ok()?,
        serde_json::from_str(body).ok()?,
    ))
}

impl Runtime for DockerRuntime {
    fn observe_cmd(&self) -> Cmd {
        Cmd::read("sh", ["-c", OBSERVE_SCRIPT])
    }

    fn parse_observation(
        &self,
        stdout: &str,
    ) -> Result<(NodeFacts, Vec<ObservedContainer>), RuntimeError> {
        let sections = split_sections(stdout);
        // Facts first: when docker is down, "not answering" says more than a missing section.
        let facts = parse_facts(&sections)?;
        let containers = sections
            .get("containers")
            .ok_or(RuntimeError::MissingSection("containers"))?;
        if !sections.contains_key("end") {
            // `docker ps` failed: the script stopped before the end marker.
            return Err(RuntimeError::NotAnswering(
                "`docker ps` failed while listing managed containers".to_string(),
            ));
        }
        let mut containers = parse_inspect(containers)?;
        if let Some(text) = sections.get("records") {
            merge_records(&mut containers, text);
        }
        Ok((facts, containers))
    }

    fn parse_network(&self, stdout: &str) -> Option<crate::model::ObservedNetwork> {
        use crate::network::parse;
        use crate::services::iptables::keep_owned;
        let s = split_sections(stdout);
        let get = |k: &str| s.get(k).map(String::as_str).unwrap_or("");
        if !s.contains_key("podnet") {
            return None;
        }
        Some(crate::model::ObservedNetwork {
            pod_subnet: parse::subnet(get("podnet")),
            vxlan: parse::vxlan(get("vxlan"), get("vxaddr")),
            routes: parse::routes(get("vxroutes")),
            neighbors: parse::neighbors(get("vxneigh")),
            fdb: parse::fdb(get("vxfdb")),
            iptables_nat: keep_owned(get("iptnat")),
            iptables_filter: keep_owned(get("iptfilter")),
        })
    }

    fn parse_roster(&self, stdout: &str) -> Option<String> {
        split_sections(stdout)
            .remove("roster")
            .filter(|r| !r.is_empty())
    }

    fn create_pod(&self, run: &PodRun<'_>) -> Vec<Cmd> {
        let ns = run.pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = run.pod.metadata.name.as_deref().unwrap_or_default();
        let empty = PodSpec::default();
        let spec = run.pod.spec.as_ref().unwrap_or(&empty);
        // runAsNonRoot is checked against the pulled image before anything of the pod exists.
        let mut cmds = super::security::non_root_checks(run.pod);
        cmds.extend(super::mounts::pod_setup(spec, ns, name));
        // Volume files first: a bind mount's source must exist when the container is created.
        cmds.extend(
            run.config
                .iter()
                .flat_map(|cfg| &cfg.volumes)
                .map(|v| super::config::write_volume_cmd(ns, name, v)),
        );
        cmds.push(self.sandbox_create(run, spec, ns, name));
        let inits = spec.init_containers.iter().flatten();
        cmds.extend(
            inits
                .clone()
                .chain(&spec.containers)
                .map(|c| self.app_create(run, spec, c, ns, name)),
        );
        cmds.push(Cmd::write(
            "docker",
            ["start".to_string(), sandbox_name(ns, name)],
        ));
        if let Some(rc) = run.config.and_then(|c| c.resolv.as_ref()) {
            cmds.push(resolv_conf_cmd(&sandbox_name(ns, name), &rc.render()));
        }
        // Init containers in order, each to completion (a sidecar, restartPolicy Always, is only started
        // and keeps running); a failure ends the apply's steps for the pod, so no app container starts.
        cmds.extend(inits.map(|c| init_step(ns, name, c)));
        cmds.extend(spec.containers.iter().map(|c| {
            Cmd::write(
                "docker",
                ["start".to_string(), container_name(ns, name, &c.name)],
            )
        }));
        cmds
    }

    fn pull_images(&self, pod: &Pod) -> Vec<Cmd> {
        let empty = PodSpec::default();
        let spec = pod.spec.as_ref().unwrap_or(&empty);
        // The sandbox image as the kubelet treats its pod infra image: pulled only when missing.
        let mut pulls = vec![(self.sandbox_image.as_str(), PullPolicy::IfNotPresent)];
        for c in &spec.containers {
            let image = c.image.as_deref().unwrap_or_default();
            let policy = PullPolicy::of(c);
            if !pulls.contains(&(image, policy)) {
                pulls.push((image, policy));
            }
        }
        pulls.into_iter().map(|(i, p)| pull_cmd(i, p)).collect()
    }

    fn remove_pod(&self, pod: &ObservedPod) -> Vec<Cmd> {
        // preStop, SIGTERM, SIGKILL after the grace period (see `runtime::terminate`), then removal.
        let mut cmds = super::terminate::stop_steps(pod);
        cmds.extend(pod.containers.values().chain(pod.sandbox.iter()).map(|c| {
            Cmd::write(
                "docker",
                ["rm".to_string(), "-f".to_string(), c.name.clone()],
            )
        }));
        // The pod's configMap/secret volumes leave the host with it.
        let has_config_volumes = pod
            .manifest
            .as_ref()
            .and_then(|p| p.spec.as_ref())
            .is_some_and(|s| {
                s.volumes
                    .iter()
                    .flatten()
                    .any(crate::manifest::config::is_config_volume)
            });
        if has_config_volumes {
            cmds.push(super::config::cleanup_cmd(&pod.namespace, &pod.name));
        }
        if let Some(spec) = pod.manifest.as_ref().and_then(|m| m.spec.as_ref()) {
            cmds.extend(super::mounts::pod_teardown(spec, &pod.namespace, &pod.name));
        }
        cmds
    }

    fn parse_config_volumes(&self, stdout: &str) -> BTreeMap<String, String> {
        split_sections(stdout)
            .get("cfgvols")
            .map(|s| super::config::parse_sums(s))
            .unwrap_or_default()
    }

    fn parse_pull_failures(&self, stdout: &str) -> Vec<crate::model::PullFailure> {
        split_sections(stdout)
            .get("pulls")
            .map(|s| super::pull::parse_records(s))
            .unwrap_or_default()
    }

    fn parse_volumes(&self, stdout: &str) -> Vec<crate::model::ObservedVolume> {
        split_sections(stdout)
            .get("volumes")
            .map(|s| parse_volume_inspect(s))
            .unwrap_or_default()
    }

    fn provision_volume(&self, v: &super::mounts::ClaimVolume) -> Vec<Cmd> {
        super::mounts::provision(v)
    }

    fn delete_volume(&self, v: &crate::model::ObservedVolume) -> Vec<Cmd> {
        super::mounts::delete_claim_volume(
            &v.name,
            v.label(labels::CLAIM_NAMESPACE).unwrap_or_default(),
            v.label(labels::CLAIM_NAME).unwrap_or_default(),
        )
    }

    fn start_pod(&self, pod: &ObservedPod) -> Vec<Cmd> {
        let mut cmds = Vec::new();
        let sandbox_down = pod.sandbox.as_ref().is_some_and(|s| !s.is_running());
        if let Some(s) = pod.sandbox.as_ref().filter(|_| sandbox_down) {
            cmds.push(Cmd::write("docker", ["start".to_string(), s.name.clone()]));
        }
        // Init containers first, in order: those that did not complete run again (a sidecar that is not
        // running is started); the app containers only after them.
        let inits = pod
            .manifest
            .as_ref()
            .and_then(|m| m.spec.as_ref())
            .and_then(|s| s.init_containers.clone())
            .unwrap_or_default();
        for ic in &inits {
            let Some(c) = pod.containers.get(&ic.name) else {
                continue;
            };
            let done = if is_sidecar(ic) {
                c.is_running()
            } else {
                c.status == "exited" && c.exit_code == 0
            };
            if !done {
                cmds.push(init_step(&pod.namespace, &pod.name, ic));
            }
        }
        for (_, c) in pod
            .containers
            .iter()
            .filter(|(n, _)| !inits.iter().any(|i| &i.name == *n))
        {
            if !c.is_running() {
                cmds.push(Cmd::write("docker", ["start".to_string(), c.name.clone()]));
            } else if sandbox_down {
                // A restarted sandbox has a new network namespace; running members must rejoin it.
                cmds.push(Cmd::write(
                    "docker",
                    ["restart".to_string(), c.name.clone()],
                ));
            }
        }
        cmds
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        OBSERVED_FORMAT_VERSION, ObservedNode, ObservedState, OwnerRef, observed_pods,
    };
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn hashes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn args(c: &Cmd) -> Vec<&str> {
        c.args.iter().map(String::as_str).collect()
    }

    #[test]
    fn names_follow_dockershim() {
        assert_eq!(
            sandbox_name("default", "sc-nginx"),
            "k8s_POD_sc-nginx_default"
        );
        assert_eq!(
            container_name("default", "sc-nginx", "nginx"),
            "k8s_nginx_sc-nginx_default"
        );
    }

    #[test]
    fn cpu_conversions() {
        assert_eq!(decimal_cpus(500), "0.5");
        assert_eq!(decimal_cpus(1000), "1");
        assert_eq!(decimal_cpus(1500), "1.5");
        assert_eq!(decimal_cpus(250), "0.25");
        assert_eq!(decimal_cpus(1), "0.001");
        assert_eq!(decimal_cpus(2010), "2.01");
        // kubelet: MilliCPUToShares(100) = 102, minimum 2.
        assert_eq!(cpu_shares(100), 102);
        assert_eq!(cpu_shares(1000), 1024);
        assert_eq!(cpu_shares(1), 2);
    }

    #[test]
    fn oversized_creates_go_to_the_engine_api_with_the_same_config() {
        let big = "x".repeat(100 * 1024);
        let note = "n\"'$(x)\n".repeat(32 * 1024);
        let p = pod(
            json!({"metadata": {"name": "big", "namespace": "default", "annotations": {"a": note}},
            "spec": {"hostname": "h1", "terminationGracePeriodSeconds": 5, "restartPolicy": "OnFailure",
              "containers": [{"name": "c", "image": "busybox", "command": ["sleep"], "args": ["3600"],
                "workingDir": "/tmp", "env": [{"name": "BIG", "value": big}, {"name": "S", "value": "v=1"}],
                "ports": [{"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.0.1"}],
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "32Mi"}}}]}}),
        );
        let h = BTreeMap::new();
        let run = PodRun {
            pod: &p,
            owner: None,
            template_hash: "h",
            commit: "c",
            spec_hashes: &h,
            ip: Some("10.244.1.7"),
            config: None,
        };
        let cmds = DockerRuntime::default().create_pod(&run);
        let (sname, sandbox) = decode_api_create(&cmds[0]).expect("sandbox via the API");
        let (aname, app) = decode_api_create(&cmds[1]).expect("app via the API");
        assert_eq!(
            (sname.as_str(), aname.as_str()),
            ("k8s_POD_big_default", "k8s_c_big_default")
        );
        assert!(cmds[0].mutating && cmds[0].args.iter().all(|a| a.len() < 1024));
        // The sandbox: hostname, network + address, published port, labels with the manifest byte-exact.
        assert_eq!(sandbox["Hostname"], "h1");
        assert_eq!(sandbox["Image"], DEFAULT_SANDBOX_IMAGE);
        assert_eq!(sandbox["HostConfig"]["NetworkMode"], "clusterctl-pods");
        assert_eq!(
            sandbox["NetworkingConfig"]["EndpointsConfig"]["clusterctl-pods"]["IPAMConfig"]["IPv4Address"],
            "10.244.1.7"
        );
        assert_eq!(
            sandbox["HostConfig"]["PortBindings"]["80/tcp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
        );
        assert_eq!(sandbox["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(sandbox["HostConfig"]["RestartPolicy"]["Name"], "always");
        let manifest: Pod =
            serde_json::from_str(sandbox["Labels"][labels::POD_MANIFEST].as_str().unwrap())
                .unwrap();
        assert_eq!(manifest.metadata.annotations.unwrap()["a"], note);
        // The app: every flag of the argv form, translated.
        assert_eq!(app["Env"], json!([format!("BIG={big}"), "S=v=1"]));
        assert_eq!(app["Entrypoint"], json!(["sleep"]));
        assert_eq!(app["Cmd"], json!(["3600"]));
        assert_eq!(app["WorkingDir"], "/tmp");
        assert_eq!(app["StopTimeout"], 5);
        assert_eq!(app["Image"], "busybox");
        let hc = &app["HostConfig"];
        assert_eq!(hc["NetworkMode"], "container:k8s_POD_big_default");
        assert_eq!(hc["RestartPolicy"]["Name"], "no");
        assert_eq!(
            (
                &hc["NanoCpus"],
                &hc["Memory"],
                &hc["CpuShares"],
                &hc["MemoryReservation"]
            ),
            (
                &json!(500_000_000),
                &json!(67108864),
                &json!(256),
                &json!(33554432)
            )
        );
        assert!(app.get("NetworkingConfig").is_none());
        assert_eq!(app["Labels"][labels::CONTAINER], "c");

        // The same pod with small values stays plain argv.
        let small = pod(
            json!({"metadata": {"name": "small", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "env": [{"name": "S", "value": "v"}]}]}}),
        );
        let run = PodRun { pod: &small, ..run };
        assert!(
            DockerRuntime::default()
                .create_pod(&run)
                .iter()
                .all(|c| c.program == "docker")
        );
    }

    #[test]
    fn security_and_host_fields_reach_the_container_config_in_both_forms() {
        let p = pod(
            json!({"metadata": {"name": "sec", "namespace": "default", "uid": "u"},
            "spec": {"hostNetwork": true, "hostPID": true,
              "hostAliases": [{"ip": "10.9.9.9", "hostnames": ["db.local"]}],
              "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "runAsNonRoot": true,
                "sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]},
              "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80, "hostPort": 80}],
                "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                  "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                  "seccompProfile": {"type": "Unconfined"}}}]}}),
        );
        let h = BTreeMap::new();
        let run = PodRun {
            pod: &p,
            owner: None,
            template_hash: "h",
            commit: "c",
            spec_hashes: &h,
            ip: Some("172.30.5.11"),
            config: None,
        };
        let cmds = DockerRuntime::default().create_pod(&run);
        // The non-root check runs first, before anything of the pod is created; runAsUser 1000 needs none.
        assert_eq!(cmds[0].program, "docker");
        let sandbox = args(&cmds[0]);
        assert!(sandbox.contains(&"--network=host"));
        assert!(!sandbox.iter().any(|a| a.starts_with("--hostname")
            || a.starts_with("--publish")
            || a.starts_with("--ip=")));
        assert!(
            sandbox.contains(&"--pid=host") && sandbox.contains(&"--add-host=db.local:10.9.9.9")
        );
        assert!(sandbox.contains(&"--label=clusterctl.io/pod-ip=172.30.5.11"));
        let app = args(&cmds[1]);
        // In the host's namespace itself, not through the sandbox's: no dependency on the sandbox at boot.
        assert!(app.contains(&"--network=host"), "{app:?}");
        assert!(!app.iter().any(|a| a.starts_with("--network=container:")));
        for f in [
            "--user=1000:3000",
            "--group-add=2000",
            "--cap-drop=ALL",
            "--cap-add=NET_BIND_SERVICE",
            "--read-only=true",
            "--security-opt=no-new-privileges",
            "--security-opt=seccomp=unconfined",
            "--pid=host",
            "--sysctl=kernel.shm_rmid_forced=1",
        ] {
            assert!(app.contains(&f), "{f} missing from {app:?}");
        }
        // The Engine API form (secret env, bind mounts, long lines) carries the same config.
        let (_, sb) = decode_api_create(&api_cmd(cmds[0].args.clone())).unwrap();
        assert_eq!(sb["HostConfig"]["NetworkMode"], "host");
        assert_eq!(sb["HostConfig"]["ExtraHosts"], json!(["db.local:10.9.9.9"]));
        assert_eq!(sb["HostConfig"]["PidMode"], "host");
        assert!(
            sb.get("NetworkingConfig")
                .is_some_and(|n| n["EndpointsConfig"].get("host").is_some())
        );
        let (_, a) = decode_api_create(&api_cmd(cmds[1].args.clone())).unwrap();
        assert_eq!(a["User"], "1000:3000");
        let hc = &a["HostConfig"];
        assert_eq!(hc["GroupAdd"], json!(["2000"]));
        assert_eq!(hc["CapDrop"], json!(["ALL"]));
        assert_eq!(hc["CapAdd"], json!(["NET_BIND_SERVICE"]));
        assert_eq!(hc["ReadonlyRootfs"], true);
        assert_eq!(
            hc["SecurityOpt"],
            json!(["no-new-privileges", "seccomp=unconfined"])
        );
        assert_eq!(hc["Sysctls"], json!({"kernel.shm_rmid_forced": "1"}));
        assert_eq!(hc["PidMode"], "host");
        // Privileged and an unset non-root user: the check comes first and the flag is translated.
        let p2 = pod(
            json!({"metadata": {"name": "p2"}, "spec": {"securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": true}}]}}),
        );
        let run2 = PodRun { pod: &p2, ..run };
        let cmds2 = DockerRuntime::default().create_pod(&run2);
        assert_eq!(cmds2[0].args[1], super::super::security::NON_ROOT_SCRIPT);
        let app2 = cmds2
            .iter()
            .find(|c| c.args.iter().any(|a| a == "--name=k8s_c_p2_default"))
            .unwrap();
        let (_, a2) = decode_api_create(&api_cmd(app2.args.clone())).unwrap();
        assert_eq!(a2["HostConfig"]["Privileged"], true);
    }

    #[test]
    fn api_create_refuses_unknown_flags_and_escapes_names() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(api_create(&a(&["create", "--cgroupns=host", "--name=x", "--", "img"])).is_none());
        assert!(api_create(&a(&["run", "--name=x", "--", "img"])).is_none());
        let req = api_create(&a(&["create", "--name=a b&c", "--", "img"])).unwrap();
        assert!(
            req.starts_with("POST /containers/create?name=a%20b%26c HTTP/1.1\r\n"),
            "{req}"
        );
        let body = req.split_once("\r\n\r\n").unwrap().1;
        assert!(req.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
        assert_eq!(nano_cpus("1.5"), Some(1_500_000_000));
        assert_eq!(nano_cpus("0.001"), Some(1_000_000));
        assert_eq!(nano_cpus("2"), Some(2_000_000_000));
    }

    #[test]
    fn create_pod_builds_labelled_sandbox_then_apps() {
        let p = pod(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "my-nginx-7c5ddbdf54-abcde", "namespace": "default",
                         "labels": {"run": "my-nginx", "pod-template-hash": "7c5ddbdf54"},
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "containers": [{
                    "name": "my-nginx", "image": "nginx",
                    "command": ["nginx", "-g"], "args": ["daemon off;"],
                    "workingDir": "/srv",
                    "env": [{"name": "A", "value": "1"},
                            {"name": "FROM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "EMPTY"}],
                    "ports": [{"containerPort": 80, "hostPort": 8080},
                              {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"},
                              {"containerPort": 81}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"},
                                  "requests": {"cpu": "100m", "memory": "64Mi"}}
                }]
            }
        }));
        let owner = OwnerRef {
            kind: "ReplicaSet".into(),
            name: "my-nginx-7c5ddbdf54".into(),
        };
        let h = hashes(&[("my-nginx", "s1"), ("POD", "s0")]);
        let run = PodRun {
            pod: &p,
            owner: Some(&owner),
            template_hash: "7c5ddbdf54",
            commit: "abc123",
            spec_hashes: &h,
            ip: None,
            config: None,
        };
        let cmds = DockerRuntime::default().create_pod(&run);
        assert_eq!(cmds.len(), 4);
        assert!(
            cmds.iter()
                .all(|c| c.mutating && c.program == "docker" && c.stdin.is_none())
        );

        let manifest = args(&cmds[0])
            .into_iter()
            .find(|a| a.starts_with("--label=clusterctl.io/pod-manifest="))
            .unwrap()
            .to_string();
        let manifest_json: serde_json::Value =
            serde_json::from_str(manifest.split_once("pod-manifest=").unwrap().1).unwrap();
        assert!(manifest_json["metadata"].get("managedFields").is_none());
        assert_eq!(manifest_json["metadata"]["labels"]["run"], "my-nginx");
        assert_eq!(manifest_json["spec"]["containers"][0]["image"], "nginx");

        assert_eq!(
            args(&cmds[0]),
            vec![
                "create",
                "--pull=never",
                "--name=k8s_POD_my-nginx-7c5ddbdf54-abcde_default",
                "--hostname=my-nginx-7c5ddbdf54-abcde",
                "--publish=8080:80/tcp",
                "--publish=127.0.0.1:5353:53/udp",
                "--restart=always",
                "--label=clusterctl.io/commit=abc123",
                "--label=clusterctl.io/container=POD",
                "--label=clusterctl.io/managed=true",
                "--label=clusterctl.io/namespace=default",
                "--label=clusterctl.io/owner-kind=ReplicaSet",
                "--label=clusterctl.io/owner-name=my-nginx-7c5ddbdf54",
                "--label=clusterctl.io/pod=my-nginx-7c5ddbdf54-abcde",
                "--label=clusterctl.io/spec-hash=s0",
                "--label=clusterctl.io/template-hash=7c5ddbdf54",
                &manifest,
                "--",
                "registry.k8s.io/pause:3.9",
            ]
        );
        assert_eq!(
            args(&cmds[1]),
            vec![
                "create",
                "--pull=never",
                "--name=k8s_my-nginx_my-nginx-7c5ddbdf54-abcde_default",
                "--network=container:k8s_POD_my-nginx-7c5ddbdf54-abcde_default",
                "--restart=no",
                "--stop-timeout=30",
                "--workdir=/srv",
                "--env=A=1",
                "--env=EMPTY=",
                "--cpus=0.5",
                "--memory=134217728",
                "--cpu-shares=102",
                "--memory-reservation=67108864",
                "--label=clusterctl.io/commit=abc123",
                "--label=clusterctl.io/container=my-nginx",
                "--label=clusterctl.io/managed=true",
                "--label=clusterctl.io/namespace=default",
                "--label=clusterctl.io/owner-kind=ReplicaSet",
                "--label=clusterctl.io/owner-name=my-nginx-7c5ddbdf54",
                "--label=clusterctl.io/pod=my-nginx-7c5ddbdf54-abcde",
                "--label=clusterctl.io/spec-hash=s1",
                "--label=clusterctl.io/template-hash=7c5ddbdf54",
                "--entrypoint=nginx",
                "--",
                "nginx",
                "-g",
                "daemon off;",
            ]
        );
        assert_eq!(
            args(&cmds[2]),
            vec!["start", "k8s_POD_my-nginx-7c5ddbdf54-abcde_default"]
        );
        assert_eq!(
            args(&cmds[3]),
            vec!["start", "k8s_my-nginx_my-nginx-7c5ddbdf54-abcde_default"]
        );
    }

    #[test]
    fn restart_policies_and_args_only() {
        for (policy, flag) in [
            ("Never", "--restart=no"),
            ("OnFailure", "--restart=no"),
            ("Always", "--restart=no"),
        ] {
            let p = pod(json!({"metadata": {"name": "j", "namespace": "batch"},
                "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "busybox", "args": ["echo", "x"]}]}}));
            let h = BTreeMap::new();
            let run = PodRun {
                pod: &p,
                owner: None,
                template_hash: "h",
                commit: "c",
                spec_hashes: &h,
                ip: None,
                config: None,
            };
            let cmds = DockerRuntime::default().create_pod(&run);
            let a = args(&cmds[1]);
            assert!(a.contains(&flag), "{policy}: {a:?}");
            // args only: image ENTRYPOINT kept, args become CMD after the image.
            assert!(!a.iter().any(|x| x.starts_with("--entrypoint")));
            assert_eq!(&a[a.len() - 4..], ["--", "busybox", "echo", "x"]);
            assert!(
                !a.iter()
                    .any(|x| x.starts_with("--label=clusterctl.io/owner"))
            );
        }
    }

    #[test]
    fn hostile_values_are_single_byte_exact_elements() {
        let hostile = crate::transport::testutil::HOSTILE;
        let env: Vec<_> = hostile
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"name": format!("H{i}"), "value": v}))
            .collect();
        let p = pod(json!({"metadata": {"name": "evil", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "-image", "command": ["-entry", "$(touch /tmp/x)"], "args": hostile, "env": env}]}}));
        let h = BTreeMap::new();
        let run = PodRun {
            pod: &p,
            owner: None,
            template_hash: "h",
            commit: "c",
            spec_hashes: &h,
            ip: None,
            config: None,
        };
        let cmds = DockerRuntime::default().create_pod(&run);
        let a = &cmds[1].args;
        for (i, v) in hostile.iter().enumerate() {
            assert!(a.contains(&format!("--env=H{i}={v}")), "env {i} missing");
        }
        let dd = a.iter().position(|x| x == "--").unwrap();
        assert_eq!(a[dd - 1], "--entrypoint=-entry");
        assert_eq!(a[dd + 1], "-image");
        assert_eq!(a[dd + 2], "$(touch /tmp/x)");
        assert_eq!(
            &a[dd + 3..],
            hostile
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .as_slice()
        );
        // Before `--`, every element is a flag in `--name=value` form: nothing is a bare value.
        assert!(a[1..dd].iter().all(|x| x.starts_with("--")));
    }

    fn observed(name: &str, container: &str, status: &str) -> ObservedContainer {
        ObservedContainer {
            id: format!("id-{name}"),
            name: name.to_string(),
            status: status.to_string(),
            labels: [
                (labels::MANAGED, "true"),
                (labels::NAMESPACE, "default"),
                (labels::POD, "p"),
                (labels::CONTAINER, container),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..Default::default()
        }
    }

    fn observed_pod(cs: Vec<ObservedContainer>) -> ObservedPod {
        let state = ObservedState {
            format_version: OBSERVED_FORMAT_VERSION,
            observed_at: String::new(),
            nodes: vec![ObservedNode {
                config_volumes: Default::default(),
                pull_failures: Vec::new(),
                volumes: Vec::new(),
                network: None,
                roster: None,
                name: "n1".into(),
                reachable: true,
                error: None,
                facts: None,
                containers: cs,
            }],
        };
        observed_pods(&state).remove(0)
    }

    #[test]
    fn init_containers_run_in_order_before_the_apps_and_show_as_kubectl_does() {
        let p = pod(json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"restartPolicy": "Never",
              "initContainers": [{"name": "side", "image": "busybox", "restartPolicy": "Always"},
                                 {"name": "setup", "image": "busybox", "command": ["sh", "-c", "echo hi > /w/x"]}],
              "containers": [{"name": "web", "image": "nginx"}]}}));
        let h = BTreeMap::new();
        let run = PodRun {
            pod: &p,
            owner: None,
            template_hash: "h",
            commit: "c",
            spec_hashes: &h,
            ip: None,
            config: None,
        };
        let cmds = DockerRuntime::default().create_pod(&run);
        let shown: Vec<String> = cmds
            .iter()
            .map(|c| match c.args.first().map(String::as_str) {
                Some("-c") => format!("run {}", c.args[3]),
                _ => format!(
                    "{} {}",
                    c.args[0],
                    c.args
                        .iter()
                        .find(|a| a.starts_with("--name=") || a.starts_with("k8s_"))
                        .unwrap()
                ),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "create --name=k8s_POD_p_default",
                "create --name=k8s_side_p_default",
                "create --name=k8s_setup_p_default",
                "create --name=k8s_web_p_default",
                "start k8s_POD_p_default",
                "start k8s_side_p_default",
                "run k8s_setup_p_default",
                "start k8s_web_p_default",
            ]
        );
        assert_eq!(cmds[6].args[1], INIT_SCRIPT);

        // setup failed: the app was never started; the pod is Failed with Init:Error (restartPolicy Never).
        let mut setup = observed("k8s_setup_p_default", "setup", "exited");
        setup.exit_code = 1;
        let mut sb = observed("k8s_POD_p_default", labels::SANDBOX_CONTAINER, "running");
        sb.labels
            .insert(labels::POD_MANIFEST.into(), pod_manifest_json(&p));
        let op = observed_pod(vec![
            sb.clone(),
            observed("k8s_side_p_default", "side", "running"),
            setup.clone(),
            observed("k8s_web_p_default", "web", "created"),
        ]);
        let view = crate::view::pod_from_observed(&op);
        let cells = crate::view::pod_cells(&view, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(cells.status, "Init:Error");
        assert_eq!(
            view.status.as_ref().unwrap().phase.as_deref(),
            Some("Failed")
        );
        // Starting it again runs the failed init container before the app.
        let start_cmds = DockerRuntime::default().start_pod(&op);
        let starts: Vec<&str> = start_cmds
            .iter()
            .map(|c| c.args[if c.program == "sh" { 3 } else { 1 }].as_str())
            .collect();
        assert_eq!(starts, ["k8s_setup_p_default", "k8s_web_p_default"]);

        // Still running: Init:1/2; done: the completed init container is not one that must run.
        let op = observed_pod(vec![
            sb.clone(),
            observed("k8s_side_p_default", "side", "running"),
            observed("k8s_setup_p_default", "setup", "running"),
            observed("k8s_web_p_default", "web", "created"),
        ]);
        let cells = crate::view::pod_cells(
            &crate::view::pod_from_observed(&op),
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert_eq!(cells.status, "Init:1/2");
        let op = observed_pod(vec![
            sb,
            observed("k8s_side_p_default", "side", "running"),
            observed("k8s_setup_p_default", "setup", "exited"),
            observed("k8s_web_p_default", "web", "running"),
        ]);
        assert!(op.all_containers().all(|c| c.is_running()));
        let view = crate::view::pod_from_observed(&op);
        assert_eq!(
            view.status.as_ref().unwrap().phase.as_deref(),
            Some("Running")
        );
        assert!(DockerRuntime::default().start_pod(&op).is_empty());
    }

    #[test]
    fn a_failed_init_container_the_supervisor_restarts_shows_init_crash_loop_back_off() {
        let p = pod(json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"initContainers": [{"name": "setup", "image": "busybox"}],
              "containers": [{"name": "web", "image": "nginx"}]}}));
        let mut sb = observed("k8s_POD_p_default", labels::SANDBOX_CONTAINER, "running");
        sb.labels
            .insert(labels::POD_MANIFEST.into(), pod_manifest_json(&p));
        let mut setup = observed("k8s_setup_p_default", "setup", "exited");
        setup.exit_code = 1;
        setup.record = Some(crate::model::ContainerRecord {
            id: setup.id.clone(),
            restart_count: 2,
            last_termination: Some(crate::model::Termination {
                exit_code: 1,
                reason: "Error".into(),
                started_at: "2026-12-01T12:00:00Z".into(),
                finished_at: "2026-12-01T12:00:01Z".into(),
            }),
            back_off: Some(crate::model::BackOffWait {
                delay_seconds: 10,
                until: "2026-12-01T12:00:11Z".into(),
            }),
            ..Default::default()
        });
        let op = observed_pod(vec![
            sb,
            setup,
            observed("k8s_web_p_default", "web", "created"),
        ]);
        let view = crate::view::pod_from_observed(&op);
        let cells = crate::view::pod_cells(&view, jiff::Timestamp::UNIX_EPOCH);
        // restartPolicy Always: the supervisor's back-off, the pod Pending, the init restarts counted.
        assert_eq!(cells.status, "Init:CrashLoopBackOff");
        assert_eq!(
            view.status.as_ref().unwrap().phase.as_deref(),
            Some("Pending")
        );
        assert!(cells.restarts.starts_with('2'), "{}", cells.restarts);
    }

    #[test]
    fn remove_apps_then_sandbox_and_start_only_stopped() {
        let rt = DockerRuntime::default();
        let p = observed_pod(vec![
            observed("k8s_POD_p_default", "POD", "running"),
            observed("k8s_b_p_default", "b", "exited"),
            observed("k8s_a_p_default", "a", "running"),
        ]);
        let mut rm: Vec<Vec<String>> = rt.remove_pod(&p).into_iter().map(|c| c.args).collect();
        // First the supervisor's marks of every app container (runtime::terminate).
        let mark = rm.remove(0);
        assert_eq!(
            mark[2..],
            [
                crate::runtime::terminate::MARK_ARG0,
                "/var/lib/clusterctl/node/terminating",
                "id-k8s_a_p_default",
                "id-k8s_b_p_default"
            ]
        );
        assert_eq!(
            rm,
            vec![
                vec!["stop", "-t", "30", "k8s_a_p_default"],
                vec!["rm", "-f", "k8s_a_p_default"],
                vec!["rm", "-f", "k8s_b_p_default"],
                vec!["rm", "-f", "k8s_POD_p_default"],
            ]
        );
        let st: Vec<Vec<String>> = rt.start_pod(&p).into_iter().map(|c| c.args).collect();
        assert_eq!(st, vec![vec!["start", "k8s_b_p_default"]]);

        let p = observed_pod(vec![
            observed("k8s_POD_p_default", "POD", "exited"),
            observed("k8s_b_p_default", "b", "exited"),
            observed("k8s_a_p_default", "a", "running"),
        ]);
        let st: Vec<Vec<String>> = rt.start_pod(&p).into_iter().map(|c| c.args).collect();
        assert_eq!(
            st,
            vec![
                vec!["start", "k8s_POD_p_default"],
                vec!["restart", "k8s_a_p_default"],
                vec!["start", "k8s_b_p_default"],
            ]
        );
    }

    #[test]
    fn observe_cmd_is_a_constant_script() {
        let c = DockerRuntime::default().observe_cmd();
        assert_eq!(c.program, "sh");
        assert_eq!(c.args[0], "-c");
        assert!(!c.mutating);
        assert!(
            c.args[1]
                .contains("docker ps -aq --no-trunc --filter label=clusterctl.io/managed=true")
        );
    }

    const FIXTURE_OBSERVE: &str = include_str!("../../tests/fixtures/docker/observe.txt");
    const FIXTURE_INSPECT: &str = include_str!("../../tests/fixtures/docker/inspect.json");

    #[test]
    fn parses_captured_observe_output() {
        let (facts, containers) = DockerRuntime::default()
            .parse_observation(FIXTURE_OBSERVE)
            .unwrap();
        insta::assert_json_snapshot!("observe_fixture", (facts, containers));
    }

    #[test]
    fn parses_captured_inspect_states() {
        let cs = parse_inspect(FIXTURE_INSPECT).unwrap();
        // Cross-checked with `docker inspect --format '{{.Name}} {{.State.Status}} {{.State.ExitCode}}
        // {{.RestartCount}}'` at capture time.
        let by: BTreeMap<&str, &ObservedContainer> =
            cs.iter().map(|c| (c.name.as_str(), c)).collect();
        let row = |n: &str| {
            let c = by[n];
            (
                c.status.as_str(),
                c.exit_code,
                c.restart_count,
                c.started_at.is_empty(),
            )
        };
        assert_eq!(row("k8s_POD_fx_default"), ("running", 0, 0, false));
        assert_eq!(row("k8s_done_fx_default"), ("exited", 3, 0, false));
        assert_eq!(row("k8s_broken_fx_default"), ("created", 127, 0, true));
        assert_eq!(row("k8s_fresh_fx_default"), ("created", 0, 0, true));
        assert_eq!(row("k8s_crash_fx_default"), ("restarting", 1, 5, false));
        assert_eq!(by["k8s_POD_fx_default"].ip.as_deref(), Some("172.17.0.2"));
        assert!(
            by.values()
                .filter(|c| !c.name.starts_with("k8s_POD"))
                .all(|c| c.ip.is_none())
        );
        assert!(
            by["k8s_broken_fx_default"]
                .error
                .contains("exec: \"/nonexistent\"")
        );
        insta::assert_json_snapshot!("inspect_fixture", cs);
    }

    #[test]
    fn zero_containers_and_docker_down() {
        let base = "\n@@clusterctl:hostname@@\nnode-1\n@@clusterctl:kernel@@\n6.1.0-18-amd64\n@@clusterctl:os@@\nDebian GNU/Linux 12 (bookworm)\n@@clusterctl:arch@@\naarch64\n@@clusterctl:runtime@@\n20.10.24+dfsg1\n@@clusterctl:cpus@@\n2\n@@clusterctl:memtotal@@\nMemTotal:        4010456 kB\n@@clusterctl:btime@@\nbtime 1700000000\n@@clusterctl:containers@@\n";
        let ok = format!("{base}[]\n\n@@clusterctl:end@@\n");
        let (facts, cs) = DockerRuntime::default().parse_observation(&ok).unwrap();
        assert!(cs.is_empty());
        assert_eq!(
            facts,
            NodeFacts {
                hostname: "node-1".into(),
                kernel_version: "6.1.0-18-amd64".into(),
                os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                architecture: "arm64".into(),
                container_runtime_version: "docker://20.10.24+dfsg1".into(),
                cpu_cores: 2,
                memory_bytes: 4010456 * 1024,
                boot_time: "2023-11-14T22:13:20Z".into(),
            }
        );
        // `docker ps` failed: no end marker.
        assert!(matches!(
            DockerRuntime::default().parse_observation(base),
            Err(RuntimeError::NotAnswering(_))
        ));
        // Daemon down: `docker version` printed nothing.
        let down = base.replace("20.10.24+dfsg1\n", "");
        assert!(matches!(
            DockerRuntime::default().parse_observation(&down),
            Err(RuntimeError::NotAnswering(_))
        ));
        // Cut short.
        assert_eq!(
            DockerRuntime::default().parse_observation("\n@@clusterctl:hostname@@\nx\n"),
            Err(RuntimeError::MissingSection("runtime"))
        );
    }
}

#[cfg(test)]
mod node_supervisor_tests {
    use std::collections::BTreeMap;

    use super::*;

    fn create_args(pod: &Pod) -> Vec<String> {
        let h = BTreeMap::new();
        let run = PodRun {
            pod,
            owner: None,
            template_hash: "h",
            commit: "c",
            spec_hashes: &h,
            ip: None,
            config: None,
        };
        // The app container's create (after host-side volume steps and the sandbox's).
        DockerRuntime::default()
            .create_pod(&run)
            .into_iter()
            .filter(|c| c.program == "docker" && c.args.first().is_some_and(|a| a == "create"))
            .nth(1)
            .expect("the app container's create")
            .args
    }

    #[test]
    fn only_the_supervisor_is_restarted_by_docker_and_gets_its_host_paths() {
        let sup = crate::controllers::node_supervisor::pod("clusterctl/node:1", "n1", 300);
        let a = create_args(&sup);
        assert!(a.contains(&"--restart=always".to_string()), "{a:?}");
        // Its hostPath volumes are bind mounts like any pod's (runtime::mounts).
        for path in ["/var/run/docker.sock", "/var/lib/clusterctl/node"] {
            assert!(
                a.iter()
                    .any(|x| x.starts_with("--mount=") && x.contains(&format!("target={path}"))),
                "{path}: {a:?}"
            );
        }
        // A user's pod with the same volumes: docker never restarts it.
        let mut user = sup.clone();
        user.metadata.labels = None;
        let a = create_args(&user);
        assert!(a.contains(&"--restart=no".to_string()), "{a:?}");
    }

    #[test]
    fn records_fold_into_containers_by_name_and_id() {
        let c = |name: &str, id: &str| ObservedContainer {
            id: id.into(),
            name: name.into(),
            restart_count: 0,
            ..Default::default()
        };
        let mut cs = vec![c("k8s_a_p_default", "id1"), c("k8s_b_p_default", "id2")];
        let text = r#"{"formatVersion":1,"writtenAt":"2026-12-01T00:00:00Z","containers":{
            "k8s_a_p_default":{"id":"id1","restartCount":4},
            "k8s_b_p_default":{"id":"old","restartCount":9}}}"#;
        merge_records(&mut cs, text);
        assert_eq!(cs[0].restart_count, 4);
        assert_eq!(cs[0].record.as_ref().unwrap().restart_count, 4);
        assert!(
            cs[1].record.is_none() && cs[1].restart_count == 0,
            "a record of another id is stale"
        );
        merge_records(&mut cs, "not json");
        assert_eq!(cs[0].restart_count, 4);
    }
}
