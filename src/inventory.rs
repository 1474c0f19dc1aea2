//! The inventory: `cluster.yaml` → typed hosts, SSH settings and cluster-wide network settings.
//! Parsing is strict (unknown keys are errors with line:column); every field is documented in
//! docs/cluster-yaml.md. No IO beyond reading the one file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Taint;
use serde::Serialize;

use crate::cidr::{self, IpNet};
use crate::quantity::Quantity;
use crate::rules;
use crate::yaml::de::{self, Ctx, Field, Raw, Spanned};
use crate::yaml::{
    self, Diagnostic, FieldPath, Node, NodeKind, Pos, Resolved, Severity, SourceRef, go_quote,
};

/// Serializes as `cluster.yaml` (see [`Inventory::to_yaml`]); read with [`parse`].
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The file this was read from (relative paths inside are resolved against its directory).
    #[serde(skip)]
    pub path: PathBuf,
    pub ssh: SshSettings,
    pub cluster: ClusterSettings,
    /// Sorted by name; names are unique DNS-1123 subdomains.
    pub hosts: Vec<Host>,
    /// The cluster lock's hosts and lease (docs/locking.md).
    #[serde(skip_serializing_if = "LockSettings::is_default")]
    pub lock: LockSettings,
}

/// `lock:` of cluster.yaml: which hosts hold the cluster lock (a lease granted by a strict majority of them)
/// and how long a lease lasts without renewal (docs/locking.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockSettings {
    /// In the order written; empty means the default: the first three hosts by name (all if fewer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Seconds; default 60. Written as a duration: `60s`, `2m`.
    #[serde(serialize_with = "duration_text")]
    pub ttl: u64,
}

/// The default [`LockSettings::ttl`].
pub const LOCK_TTL: u64 = 60;
/// How many hosts hold the lock when `lock.hosts` is not written.
pub const DEFAULT_LOCK_HOSTS: usize = 3;

impl Default for LockSettings {
    fn default() -> Self {
        LockSettings {
            hosts: Vec::new(),
            ttl: LOCK_TTL,
        }
    }
}

impl LockSettings {
    fn is_default(&self) -> bool {
        *self == LockSettings::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SshSettings {
    /// Default `root`.
    pub user: String,
    /// Resolved to an absolute path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// Resolved to an absolute path; `None` means ssh's default (~/.ssh/known_hosts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<PathBuf>,
    /// Default true: unknown or changed host keys are refused.
    pub strict_host_key_checking: bool,
    /// Seconds; default 10.
    pub connect_timeout: u64,
    /// Concurrent sessions per host over the one multiplexed connection; default 8 (sshd's MaxSessions is 10).
    pub max_sessions: usize,
    /// Deadlines of single remote commands (`ssh.readTimeout`, `ssh.writeTimeout`).
    #[serde(flatten)]
    pub command_timeouts: CommandTimeouts,
}

/// How long one remote command may take before its host is reported as not answering, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CommandTimeouts {
    /// Reads (observe, lock holder); default 20.
    #[serde(rename = "readTimeout")]
    pub read: u64,
    /// Commands that change a host (create, start, rm, network, rules, lock); default 120.
    #[serde(rename = "writeTimeout")]
    pub write: u64,
}

impl Default for CommandTimeouts {
    fn default() -> Self {
        CommandTimeouts {
            read: 20,
            write: 120,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSettings {
    /// Default `10.244.0.0/16`.
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    /// Default `10.96.0.0/12`.
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: String,
    /// Inclusive; default 30000–32767. Written `30000-32767`.
    #[serde(serialize_with = "port_range")]
    pub node_port_range: (u16, u16),
    /// Directory in the Git repo holding the manifests; default `apps`.
    pub apps_dir: String,
    /// Image of the node supervisor pod every host runs (docs/node-supervisor.md); default
    /// `clusterctl/node:latest`. Empty: no supervisor, and containers that exit are not restarted.
    pub node_supervisor_image: String,
    /// Seconds a host may stay unreachable before its ReplicaSet/Job pods are replaced on other hosts
    /// (Kubernetes' 300 s eviction timeout by default). Written as a duration: `5m`, `90s`, `1h30m`.
    #[serde(serialize_with = "duration_text")]
    pub node_lost_grace_period: u64,
    /// Image of the cluster DNS pod every host runs (docs/dns.md). Empty (the default): no cluster DNS,
    /// pods keep the host's resolver.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dns_image: String,
    /// The cluster DNS address (the `kube-system/kube-dns` ClusterIP pods get as their nameserver);
    /// empty: the tenth address of `serviceCIDR` (`10.96.0.10`).
    #[serde(rename = "clusterDNS", skip_serializing_if = "String::is_empty")]
    pub cluster_dns: String,
}

/// The default [`ClusterSettings::node_lost_grace_period`]: Kubernetes' default `tolerationSeconds` for
/// `node.kubernetes.io/unreachable` (docs/reconcile.md).
pub const NODE_LOST_GRACE_PERIOD: u64 = 300;

fn duration_text<S: serde::Serializer>(secs: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*secs))
}

/// `1h30m`, `5m`, `90s` → seconds: whole numbers each followed by `h`, `m` or `s`, larger units first.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = text.trim();
    let mut last_unit = u64::MAX;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        let unit = match rest.as_bytes().get(digits) {
            Some(b'h') => 3600,
            Some(b'm') => 60,
            Some(b's') => 1,
            _ => return None,
        };
        if unit >= last_unit {
            return None;
        }
        last_unit = unit;
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[digits + 1..];
    }
    Some(total)
}

/// Seconds as [`parse_duration`] reads them, shortest form: `5m`, `1m30s`, `1h`, `0s`.
pub fn format_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    #[default]
    Docker,
    Containerd,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub name: String,
    /// IP address or DNS name the SSH connection goes to.
    pub address: String,
    /// Default 22.
    pub port: u16,
    /// Overrides `ssh.user`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Overrides `ssh.identityFile` (resolved to an absolute path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unschedulable: bool,
    #[serde(skip_serializing_if = "Capacity::is_unset")]
    pub capacity: Capacity,
    pub runtime: RuntimeKind,
    /// This host's pod CIDR (a /24 of `cluster.podCIDR`); allocated when absent.
    #[serde(rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
}

/// Capacity overrides (Quantity strings, validated). Unset values come from the host's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods: Option<String>,
}

impl Capacity {
    fn is_unset(&self) -> bool {
        *self == Capacity::default()
    }
}

fn port_range<S: serde::Serializer>(r: &(u16, u16), s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}-{}", r.0, r.1))
}

impl Host {
    /// A host with every optional setting at its default: port 22, docker, no labels, taints or overrides.
    pub fn new(name: &str, address: &str) -> Host {
        Host {
            name: name.to_string(),
            address: address.to_string(),
            port: 22,
            user: None,
            identity_file: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            unschedulable: false,
            capacity: Capacity::default(),
            runtime: RuntimeKind::Docker,
            pod_cidr: None,
        }
    }

    pub fn ssh_user<'a>(&'a self, ssh: &'a SshSettings) -> &'a str {
        self.user.as_deref().unwrap_or(&ssh.user)
    }
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            user: "root".to_string(),
            identity_file: None,
            known_hosts_file: None,
            strict_host_key_checking: true,
            connect_timeout: 10,
            max_sessions: 8,
            command_timeouts: CommandTimeouts::default(),
        }
    }
}

/// The default of `cluster.nodeSupervisorImage` (docs/node-supervisor.md: build it and push it to a
/// registry the hosts pull from, under this name or the one cluster.yaml sets).
pub const DEFAULT_NODE_SUPERVISOR_IMAGE: &str = "clusterctl/node:latest";

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            pod_cidr: "10.244.0.0/16".to_string(),
            service_cidr: "10.96.0.0/12".to_string(),
            node_port_range: (30000, 32767),
            apps_dir: "apps".to_string(),
            node_supervisor_image: DEFAULT_NODE_SUPERVISOR_IMAGE.to_string(),
            node_lost_grace_period: NODE_LOST_GRACE_PERIOD,
            dns_image: String::new(),
            cluster_dns: String::new(),
        }
    }
}

impl Inventory {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The lock hosts, in their fixed order: `lock.hosts` as written, else the first
    /// [`DEFAULT_LOCK_HOSTS`] hosts by name (every host of a smaller cluster).
    pub fn lock_hosts(&self) -> Vec<String> {
        if !self.lock.hosts.is_empty() {
            return self.lock.hosts.clone();
        }
        self.hosts
            .iter()
            .take(DEFAULT_LOCK_HOSTS)
            .map(|h| h.name.clone())
            .collect()
    }

    /// The inventory as `cluster.yaml` text that [`parse`] reads back to the same hosts and settings
    /// (paths are written as they are held: relative ones stay relative to the file).
    /// List items are indented under their key (`hosts:` / `  - name: …`), as docs/cluster-yaml.md writes it.
    /// Quoting follows YAML 1.2 (`address: 172.30.0.10` stays plain, where the YAML 1.1 float pattern would
    /// quote it): [`parse`] reads every string field by its text, so only what would read as null is quoted.
    pub fn to_yaml(&self) -> Result<String, String> {
        let opts = serde_saphyr::ser_options! {
            indent_step: 2,
            compact_list_indent: false,
            yaml_12: true,
            no_lang_directive: true,
        };
        serde_saphyr::to_string_with_options(self, opts).map_err(|e| e.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read inventory {}: {source} (point --cluster at the inventory; see docs/cluster-yaml.md)", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, each `file:line:col: field.path: message`, sorted by position.
    #[error("{}", render_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
}

impl InventoryError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            InventoryError::Invalid(d) => d,
            InventoryError::Read { .. } => &[],
        }
    }
}

fn render_diagnostics(d: &[Diagnostic]) -> String {
    let lines: Vec<String> = d.iter().map(|d| d.to_string()).collect();
    lines.join("\n")
}

/// Read and parse `cluster.yaml`.
pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// `cluster.yaml` as written, decoded by serde over the position-tracking deserializer: the structure
/// (and the unknown keys, with what each mapping knows) comes from the types; every leaf is a [`Spanned`]
/// [`Raw`] node whose text [`Walk`] checks, so all problems are reported at once with their positions.
mod file {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use crate::yaml::de::{Field, Raw, Spanned};

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct Root {
        pub ssh: Field<Ssh>,
        pub cluster: Field<Cluster>,
        pub hosts: Field<Vec<Spanned<Host>>>,
        pub lock: Field<Lock>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct Lock {
        pub hosts: Field<Vec<Spanned<Raw>>>,
        pub ttl: Field<Raw>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub struct Ssh {
        pub user: Field<Raw>,
        pub identity_file: Field<Raw>,
        pub known_hosts_file: Field<Raw>,
        pub strict_host_key_checking: Field<Raw>,
        pub connect_timeout: Field<Raw>,
        pub max_sessions: Field<Raw>,
        pub read_timeout: Field<Raw>,
        pub write_timeout: Field<Raw>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub struct Cluster {
        #[serde(rename = "podCIDR")]
        pub pod_cidr: Field<Raw>,
        #[serde(rename = "serviceCIDR")]
        pub service_cidr: Field<Raw>,
        pub node_port_range: Field<Raw>,
        pub apps_dir: Field<Raw>,
        pub node_supervisor_image: Field<Raw>,
        pub node_lost_grace_period: Field<Raw>,
        pub dns_image: Field<Raw>,
        #[serde(rename = "clusterDNS")]
        pub cluster_dns: Field<Raw>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub struct Host {
        pub name: Field<Raw>,
        pub address: Field<Raw>,
        pub port: Field<Raw>,
        pub user: Field<Raw>,
        pub identity_file: Field<Raw>,
        pub labels: Field<BTreeMap<String, Spanned<Raw>>>,
        pub taints: Field<Vec<Spanned<Taint>>>,
        pub unschedulable: Field<Raw>,
        pub capacity: Field<Capacity>,
        pub runtime: Field<Raw>,
        #[serde(rename = "podCIDR")]
        pub pod_cidr: Field<Raw>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct Taint {
        pub key: Field<Raw>,
        pub value: Field<Raw>,
        pub effect: Field<Raw>,
    }

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub struct Capacity {
        pub cpu: Field<Raw>,
        pub memory: Field<Raw>,
        pub pods: Field<Raw>,
    }
}

/// Parse the text of `cluster.yaml`; `path` names it in messages and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
    let mut w = Walk {
        file: path.display().to_string(),
        diags: Vec::new(),
        bad_pod_cidr: false,
    };
    let base = base_dir(path);
    let (docs, errors) = yaml::parse_documents(text);
    let broken = !errors.is_empty();
    for e in errors {
        w.err(e.pos, &e.path, e.message);
    }
    if broken && docs.is_empty() {
        // Nothing was read: further "missing" errors would only be noise.
        return Err(InventoryError::Invalid(w.diags));
    }
    if docs.len() > 1 {
        w.err(
            docs[1].root.pos,
            &FieldPath::root(),
            "expected one YAML document, found several".to_string(),
        );
    }
    let empty = Node {
        pos: Pos { line: 1, col: 1 },
        kind: NodeKind::Map(Default::default()),
    };
    let root = docs.first().map(|d| &d.root).unwrap_or(&empty);
    let top = FieldPath::root();
    let ctx = Ctx::default();
    let raw: Spanned<file::Root> =
        de::from_node(root, &top, &ctx).expect("a Spanned value always decodes");
    let unknown = ctx.unknown.into_inner();
    for u in &unknown {
        w.err(
            u.pos,
            &u.parent,
            format!(
                "unknown field {} (expected one of: {})",
                go_quote(&u.key),
                u.expected.join(", ")
            ),
        );
    }
    let mut inv = Inventory {
        path: path.to_path_buf(),
        ssh: SshSettings::default(),
        cluster: ClusterSettings::default(),
        hosts: Vec::new(),
        lock: LockSettings::default(),
    };
    let doc = w.section(&raw, &top, "must be a mapping");
    let none = file::Root::default();
    let doc = doc.unwrap_or(&none);
    if let Some(s) = w.field(&doc.ssh, &top.child("ssh"), "must be a mapping") {
        w.ssh(s, &top.child("ssh"), &base, &mut inv.ssh);
    }
    let cp = top.child("cluster");
    if let Some(c) = w.field(&doc.cluster, &cp, "must be a mapping") {
        w.cluster(c, &cp, &mut inv.cluster);
    }
    // Where a cross-field problem with the service CIDR is shown: the value, else its section.
    let svc_pos = doc
        .cluster
        .0
        .as_ref()
        .map(|c| {
            c.value
                .as_ref()
                .and_then(|c| c.service_cidr.0.as_ref())
                .map_or(c.pos(), |s| s.pos())
        })
        .unwrap_or(root.pos);
    let hp = top.child("hosts");
    // Per host kept in `inv.hosts`: its index in the file and the positions of its name and podCIDR.
    let mut kept: Vec<(usize, Pos, Option<Pos>)> = Vec::new();
    match &doc.hosts.0 {
        None => w.err(
            root.pos,
            &hp,
            "Required value: at least one host".to_string(),
        ),
        Some(e) if e.node.is_null() => w.err(
            e.key_pos.unwrap_or(e.pos()),
            &hp,
            "Required value: at least one host".to_string(),
        ),
        Some(e) => match &e.value {
            None => w.err(
                e.pos(),
                &hp,
                format!(
                    "Invalid value: {}: must be a list of hosts",
                    e.node.describe()
                ),
            ),
            Some(items) if items.is_empty() => w.err(
                e.pos(),
                &hp,
                "Required value: at least one host".to_string(),
            ),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = hp.index(i);
                    let unknown_inside = unknown.iter().any(|u| within(&u.parent, &p));
                    if let Some(h) = w.host(item, &p, &base)
                        && !unknown_inside
                    {
                        let raw = item.value.as_ref().expect("a host that was read");
                        let pos_of = |f: &de::Field<Raw>| f.0.as_ref().map(|s| s.pos());
                        inv.hosts.push(h);
                        kept.push((
                            i,
                            pos_of(&raw.name).unwrap_or(item.pos()),
                            pos_of(&raw.pod_cidr),
                        ));
                    }
                }
            }
        },
    }
    w.cross_checks(&inv, svc_pos, &kept);
    let lp = top.child("lock");
    if let Some(l) = w.field(&doc.lock, &lp, "must be a mapping") {
        let names: BTreeSet<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
        inv.lock = w.lock(l, &lp, &names);
    }
    if w.diags.is_empty() {
        inv.hosts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(inv)
    } else {
        w.diags.sort_by(|a, b| a.source.cmp(&b.source));
        Err(InventoryError::Invalid(w.diags))
    }
}

/// Is `path` `parent` or below it?
fn within(path: &FieldPath, parent: &FieldPath) -> bool {
    let (p, q) = (path.to_string(), parent.to_string());
    p == q || p.starts_with(&format!("{q}.")) || p.starts_with(&format!("{q}["))
}

fn base_dir(path: &Path) -> PathBuf {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir().map(|c| c.join(&dir)).unwrap_or(dir)
    }
}

/// `~/x` → `$HOME/x`; relative → against the inventory's directory; `.` components dropped.
fn resolve_path(p: &str, base: &Path) -> PathBuf {
    let expanded = match p.strip_prefix("~/") {
        Some(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => PathBuf::from(p),
        },
        None => PathBuf::from(p),
    };
    let joined = if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    };
    joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Letters, digits, `.`, `_`, `-`; not starting with `-`; at most 32 characters.
fn user_problem(u: &str) -> Option<&'static str> {
    let ok = !u.is_empty()
        && u.len() <= 32
        && !u.starts_with('-')
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    (!ok).then_some(
        "must be a user name of at most 32 letters, digits, '.', '_' or '-', not starting with '-'",
    )
}

/// An IP address or a DNS name (letters, digits, `-`, `.`).
fn address_ok(a: &str) -> bool {
    if a.parse::<IpAddr>().is_ok() {
        return true;
    }
    let a = a.strip_suffix('.').unwrap_or(a);
    !a.is_empty()
        && a.len() <= 253
        && a.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

struct Walk {
    file: String,
    diags: Vec<Diagnostic>,
    /// `cluster.podCIDR` was written but is invalid: skip checks against it.
    bad_pod_cidr: bool,
}

impl Walk {
    fn err(&mut self, pos: Pos, path: &FieldPath, message: String) {
        self.diags.push(Diagnostic {
            source: SourceRef {
                file: self.file.clone(),
                line: pos.line,
                column: pos.col,
            },
            severity: Severity::Error,
            field: path.to_string(),
            message,
        });
    }

    /// A mapping's decoded value; `None` (and nothing reported) when it is null, `None` and reported
    /// as `Invalid value: <what it is>: <must>` when it is not a mapping.
    fn section<'a, T>(&mut self, s: &'a Spanned<T>, path: &FieldPath, must: &str) -> Option<&'a T> {
        if s.node.is_null() {
            return None;
        }
        if s.value.is_none() {
            self.err(
                s.pos(),
                path,
                format!("Invalid value: {}: {must}", s.node.describe()),
            );
        }
        s.value.as_ref()
    }

    /// [`Walk::section`] of a field that may be absent.
    fn field<'a, T>(&mut self, f: &'a Field<T>, path: &FieldPath, must: &str) -> Option<&'a T> {
        self.section(f.0.as_ref()?, path, must)
    }

    /// A string: any non-null scalar's text (`cpu: 4` reads as "4").
    fn string(&mut self, node: &Node, path: &FieldPath) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar(s) if s.resolve() != Resolved::Null => Some(s.text.clone()),
            NodeKind::Scalar(_) => {
                self.err(node.pos, path, "Required value".to_string());
                None
            }
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("Invalid value: {}: must be a string", node.describe()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &FieldPath) -> Option<bool> {
        if let NodeKind::Scalar(s) = &node.kind
            && let Resolved::Bool(b) = s.resolve()
        {
            return Some(b);
        }
        self.err(
            node.pos,
            path,
            format!("Invalid value: {}: must be true or false", node.describe()),
        );
        None
    }

    fn int(&mut self, node: &Node, path: &FieldPath, lo: i128, hi: i128) -> Option<i128> {
        if let NodeKind::Scalar(s) = &node.kind
            && let Resolved::Int(i) = s.resolve()
        {
            if i < lo || i > hi {
                self.err(
                    node.pos,
                    path,
                    format!("Invalid value: {i}: must be between {lo} and {hi}, inclusive"),
                );
                return None;
            }
            return Some(i);
        }
        self.err(
            node.pos,
            path,
            format!("Invalid value: {}: must be an integer", node.describe()),
        );
        None
    }

    fn user(&mut self, node: &Node, path: &FieldPath) -> Option<String> {
        let u = self.string(node, path)?;
        if let Some(m) = user_problem(&u) {
            self.err(
                node.pos,
                path,
                format!("Invalid value: {}: {m}", go_quote(&u)),
            );
            return None;
        }
        Some(u)
    }

    fn file_path(&mut self, node: &Node, path: &FieldPath, base: &Path) -> Option<PathBuf> {
        let p = self.string(node, path)?;
        if p.is_empty() || p.contains('\0') || p.contains('\n') {
            self.err(
                node.pos,
                path,
                format!("Invalid value: {}: must be a file path", go_quote(&p)),
            );
            return None;
        }
        Some(resolve_path(&p, base))
    }

    fn cidr(&mut self, node: &Node, path: &FieldPath) -> Option<(String, IpNet)> {
        let s = self.string(node, path)?;
        match cidr::parse(&s) {
            Some(c) => Some((s, c)),
            None => {
                self.err(
                    node.pos,
                    path,
                    format!(
                        "Invalid value: {}: must be a CIDR such as 10.244.0.0/16 (an IP address, '/', a prefix length)",
                        go_quote(&s)
                    ),
                );
                None
            }
        }
    }

    fn ssh(&mut self, raw: &file::Ssh, path: &FieldPath, base: &Path, ssh: &mut SshSettings) {
        let p = |k: &str| path.child(k);
        if let Some(v) = leaf(&raw.user)
            && let Some(u) = self.user(v, &p("user"))
        {
            ssh.user = u;
        }
        if let Some(v) = leaf(&raw.identity_file) {
            ssh.identity_file = self.file_path(v, &p("identityFile"), base);
        }
        if let Some(v) = leaf(&raw.known_hosts_file) {
            ssh.known_hosts_file = self.file_path(v, &p("knownHostsFile"), base);
        }
        if let Some(v) = leaf(&raw.strict_host_key_checking)
            && let Some(b) = self.boolean(v, &p("strictHostKeyChecking"))
        {
            ssh.strict_host_key_checking = b;
        }
        if let Some(v) = leaf(&raw.connect_timeout)
            && let Some(i) = self.int(v, &p("connectTimeout"), 1, 3600)
        {
            ssh.connect_timeout = i as u64;
        }
        if let Some(v) = leaf(&raw.max_sessions)
            && let Some(i) = self.int(v, &p("maxSessions"), 1, 10)
        {
            ssh.max_sessions = i as usize;
        }
        if let Some(v) = leaf(&raw.read_timeout)
            && let Some(i) = self.int(v, &p("readTimeout"), 1, 86400)
        {
            ssh.command_timeouts.read = i as u64;
        }
        if let Some(v) = leaf(&raw.write_timeout)
            && let Some(i) = self.int(v, &p("writeTimeout"), 1, 86400)
        {
            ssh.command_timeouts.write = i as u64;
        }
    }

    fn cluster(&mut self, raw: &file::Cluster, path: &FieldPath, c: &mut ClusterSettings) {
        if let Some(v) = leaf(&raw.pod_cidr) {
            match self.cidr(v, &path.child("podCIDR")) {
                Some((s, _)) => c.pod_cidr = s,
                None => self.bad_pod_cidr = true,
            }
        }
        if let Some(v) = leaf(&raw.service_cidr)
            && let Some((s, _)) = self.cidr(v, &path.child("serviceCIDR"))
        {
            c.service_cidr = s;
        }
        if let Some(v) = leaf(&raw.node_port_range) {
            let p = path.child("nodePortRange");
            if let Some(s) = self.string(v, &p) {
                let parsed = s.split_once('-').and_then(|(a, b)| {
                    let a: u16 = a.trim().parse().ok()?;
                    let b: u16 = b.trim().parse().ok()?;
                    (a >= 1 && a <= b).then_some((a, b))
                });
                match parsed {
                    Some(r) => c.node_port_range = r,
                    None => self.err(
                        v.pos,
                        &p,
                        format!(
                            "Invalid value: {}: must be a port range such as \"30000-32767\" (two ports between 1 and 65535, the first not above the second)",
                            go_quote(&s)
                        ),
                    ),
                }
            }
        }
        if let Some(v) = leaf(&raw.apps_dir) {
            let p = path.child("appsDir");
            if let Some(s) = self.string(v, &p) {
                let bad = s.is_empty()
                    || s.starts_with('/')
                    || s.starts_with('-')
                    || s.split('/').any(|c| c == "..")
                    || s.chars().any(|ch| ch.is_control());
                if bad {
                    self.err(
                        v.pos,
                        &p,
                        format!(
                            "Invalid value: {}: must be a relative directory inside the repository",
                            go_quote(&s)
                        ),
                    );
                } else {
                    c.apps_dir = s;
                }
            }
        }
        if let Some(v) = leaf(&raw.node_supervisor_image) {
            let p = path.child("nodeSupervisorImage");
            if let Some(s) = self.string(v, &p) {
                if s.trim() != s || s.starts_with('-') || s.chars().any(|ch| ch.is_control()) {
                    self.err(
                        v.pos,
                        &p,
                        format!(
                            "Invalid value: {}: must be an image reference (or empty for no supervisor)",
                            go_quote(&s)
                        ),
                    );
                } else {
                    c.node_supervisor_image = s;
                }
            }
        }
        if let Some(v) = leaf(&raw.dns_image) {
            let p = path.child("dnsImage");
            if let Some(s) = self.string(v, &p) {
                if s.trim() != s || s.starts_with('-') || s.chars().any(|ch| ch.is_control()) {
                    self.err(
                        v.pos,
                        &p,
                        format!(
                            "Invalid value: {}: must be an image reference (or empty for no cluster DNS)",
                            go_quote(&s)
                        ),
                    );
                } else {
                    c.dns_image = s;
                }
            }
        }
        if let Some(v) = leaf(&raw.cluster_dns) {
            let p = path.child("clusterDNS");
            if let Some(s) = self.string(v, &p) {
                if !s.is_empty() && s.parse::<std::net::Ipv4Addr>().is_err() {
                    self.err(
                        v.pos,
                        &p,
                        format!("Invalid value: {}: must be an IPv4 address", go_quote(&s)),
                    );
                } else {
                    c.cluster_dns = s;
                }
            }
        }
        if let Some(v) = leaf(&raw.node_lost_grace_period) {
            let p = path.child("nodeLostGracePeriod");
            if let Some(s) = self.string(v, &p) {
                match parse_duration(&s).filter(|d| (1..=30 * 86400).contains(d)) {
                    Some(d) => c.node_lost_grace_period = d,
                    None => self.err(
                        v.pos,
                        &p,
                        format!(
                            "Invalid value: {}: must be a duration such as \"5m\", \"90s\" or \"1h30m\", from 1s to 720h",
                            go_quote(&s)
                        ),
                    ),
                }
            }
        }
    }

    /// `lock:`: the hosts must be inventory hosts, each once; the TTL a duration from 2s to 24h.
    fn lock(&mut self, raw: &file::Lock, path: &FieldPath, known: &BTreeSet<&str>) -> LockSettings {
        let mut out = LockSettings::default();
        let hp = path.child("hosts");
        if let Some(items) = self.field(&raw.hosts, &hp, "must be a list of host names") {
            if items.is_empty() {
                let pos = raw.hosts.0.as_ref().map(|s| s.pos()).unwrap_or_default();
                self.err(
                    pos,
                    &hp,
                    "Required value: at least one host (or leave lock.hosts out for the default)"
                        .to_string(),
                );
            }
            for (i, item) in items.iter().enumerate() {
                let p = hp.index(i);
                let Some(name) = self.string(&item.node, &p) else {
                    continue;
                };
                if !known.contains(name.as_str()) {
                    self.err(
                        item.pos(),
                        &p,
                        format!(
                            "Not found: {}: not the name of a host in hosts",
                            go_quote(&name)
                        ),
                    );
                } else if out.hosts.contains(&name) {
                    self.err(
                        item.pos(),
                        &p,
                        format!("Duplicate value: {}", go_quote(&name)),
                    );
                } else {
                    out.hosts.push(name);
                }
            }
        }
        if let Some(v) = leaf(&raw.ttl) {
            let p = path.child("ttl");
            if let Some(s) = self.string(v, &p) {
                match parse_duration(&s).filter(|d| (2..=86400).contains(d)) {
                    Some(d) => out.ttl = d,
                    None => self.err(
                        v.pos,
                        &p,
                        format!(
                            "Invalid value: {}: must be a duration such as \"60s\" or \"2m\", from 2s to 24h",
                            go_quote(&s)
                        ),
                    ),
                }
            }
        }
        out
    }

    fn host(&mut self, item: &Spanned<file::Host>, path: &FieldPath, base: &Path) -> Option<Host> {
        let Some(raw) = &item.value else {
            self.err(
                item.pos(),
                path,
                format!(
                    "Invalid value: {}: must be a mapping (a host)",
                    item.node.describe()
                ),
            );
            return None;
        };
        let before = self.diags.len();
        let mut h = Host::new("", "");
        let p = |k: &str| path.child(k);
        if let Some(v) = leaf(&raw.name)
            && let Some(n) = self.string(v, &p("name"))
        {
            for m in rules::is_dns1123_subdomain(&n) {
                self.err(
                    v.pos,
                    &p("name"),
                    format!("Invalid value: {}: {m}", go_quote(&n)),
                );
            }
            h.name = n;
        }
        if let Some(v) = leaf(&raw.address)
            && let Some(a) = self.string(v, &p("address"))
        {
            if !address_ok(&a) {
                self.err(
                    v.pos,
                    &p("address"),
                    format!(
                        "Invalid value: {}: must be an IP address or a DNS name",
                        go_quote(&a)
                    ),
                );
            }
            h.address = a;
        }
        if let Some(v) = leaf(&raw.port)
            && let Some(i) = self.int(v, &p("port"), 1, 65535)
        {
            h.port = i as u16;
        }
        if let Some(v) = leaf(&raw.user) {
            h.user = self.user(v, &p("user"));
        }
        if let Some(v) = leaf(&raw.identity_file) {
            h.identity_file = self.file_path(v, &p("identityFile"), base);
        }
        if let Some(l) = &raw.labels.0 {
            h.labels = self.labels(l, &p("labels"));
        }
        if let Some(t) = &raw.taints.0 {
            h.taints = self.taints(t, &p("taints"));
        }
        if let Some(v) = leaf(&raw.unschedulable) {
            h.unschedulable = self.boolean(v, &p("unschedulable")).unwrap_or(false);
        }
        if let Some(c) = self.field(&raw.capacity, &p("capacity"), "must be a mapping") {
            h.capacity = self.capacity(c, &p("capacity"));
        }
        if let Some(v) = leaf(&raw.runtime)
            && let Some(r) = self.string(v, &p("runtime"))
        {
            match r.as_str() {
                "docker" => h.runtime = RuntimeKind::Docker,
                "containerd" => h.runtime = RuntimeKind::Containerd,
                other => self.err(
                    v.pos,
                    &p("runtime"),
                    format!(
                        "Unsupported value: {}: supported values: \"docker\", \"containerd\"",
                        go_quote(other)
                    ),
                ),
            }
        }
        if let Some(v) = leaf(&raw.pod_cidr) {
            h.pod_cidr = self.cidr(v, &p("podCIDR")).map(|(s, _)| s);
        }
        for (k, f) in [("name", &raw.name), ("address", &raw.address)] {
            if leaf(f).is_none_or(Node::is_null) {
                self.err(item.pos(), &p(k), "Required value".to_string());
            }
        }
        (self.diags.len() == before).then_some(h)
    }

    fn labels(
        &mut self,
        raw: &Spanned<BTreeMap<String, Spanned<Raw>>>,
        path: &FieldPath,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(entries) = self.section(raw, path, "must be a mapping of label keys to values")
        else {
            return out;
        };
        for (key, v) in entries {
            for m in rules::is_qualified_name(key) {
                self.err(
                    v.key_pos.unwrap_or(v.pos()),
                    path,
                    format!("Invalid value: {}: {m}", go_quote(key)),
                );
            }
            let value = match &v.node.kind {
                NodeKind::Scalar(s) if s.resolve() == Resolved::Null => String::new(),
                NodeKind::Scalar(s) => s.text.clone(),
                _ => {
                    self.err(
                        v.pos(),
                        &path.key(key),
                        format!("Invalid value: {}: must be a string", v.node.describe()),
                    );
                    continue;
                }
            };
            for m in rules::is_valid_label_value(&value) {
                self.err(
                    v.pos(),
                    path,
                    format!("Invalid value: {}: {m}", go_quote(&value)),
                );
            }
            out.insert(key.clone(), value);
        }
        out
    }

    fn taints(&mut self, raw: &Spanned<Vec<Spanned<file::Taint>>>, path: &FieldPath) -> Vec<Taint> {
        let mut out = Vec::new();
        let Some(items) = self.section(raw, path, "must be a list of taints") else {
            return out;
        };
        let mut seen = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            let tp = path.index(i);
            let mut t = Taint::default();
            let Some(raw) = &item.value else {
                self.err(
                    item.pos(),
                    &tp,
                    format!(
                        "Invalid value: {}: must be a mapping (key, value, effect)",
                        item.node.describe()
                    ),
                );
                continue;
            };
            if let Some(v) = leaf(&raw.key)
                && let Some(k) = self.string(v, &tp.child("key"))
            {
                for m in rules::is_qualified_name(&k) {
                    self.err(
                        v.pos,
                        &tp.child("key"),
                        format!("Invalid value: {}: {m}", go_quote(&k)),
                    );
                }
                t.key = k;
            }
            if let Some(v) = leaf(&raw.value) {
                let val = if v.is_null() {
                    Some(String::new())
                } else {
                    self.string(v, &tp.child("value"))
                };
                if let Some(val) = val {
                    for m in rules::is_valid_label_value(&val) {
                        self.err(
                            v.pos,
                            &tp.child("value"),
                            format!("Invalid value: {}: {m}", go_quote(&val)),
                        );
                    }
                    t.value = (!val.is_empty()).then_some(val);
                }
            }
            if let Some(v) = leaf(&raw.effect)
                && let Some(eff) = self.string(v, &tp.child("effect"))
            {
                if !TAINT_EFFECTS.contains(&eff.as_str()) {
                    self.err(
                        v.pos,
                        &tp.child("effect"),
                        format!(
                            "Unsupported value: {}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                            go_quote(&eff)
                        ),
                    );
                }
                t.effect = eff;
            }
            for (k, f) in [("key", &raw.key), ("effect", &raw.effect)] {
                if leaf(f).is_none_or(Node::is_null) {
                    self.err(item.pos(), &tp.child(k), "Required value".to_string());
                }
            }
            let id = format!("{}:{}", t.key, t.effect);
            if !seen.insert(id.clone()) {
                self.err(
                    item.pos(),
                    &tp,
                    format!("Duplicate value: {}", go_quote(&id)),
                );
            }
            out.push(t);
        }
        out
    }

    fn capacity(&mut self, raw: &file::Capacity, path: &FieldPath) -> Capacity {
        let mut c = Capacity::default();
        for (key, f) in [
            ("cpu", &raw.cpu),
            ("memory", &raw.memory),
            ("pods", &raw.pods),
        ] {
            let Some(v) = leaf(f) else { continue };
            let p = path.child(key);
            let Some(s) = self.string(v, &p) else {
                continue;
            };
            let problem = match Quantity::parse(&s) {
                Err(err) => Some(err.to_string()),
                Ok(q) if q.milli_value() < 0 => {
                    Some("must be greater than or equal to 0".to_string())
                }
                Ok(q) if key == "pods" && q.milli_value() % 1000 != 0 => {
                    Some("must be a whole number".to_string())
                }
                Ok(_) => None,
            };
            if let Some(m) = problem {
                self.err(v.pos, &p, format!("Invalid value: {}: {m}", go_quote(&s)));
                continue;
            }
            match key {
                "cpu" => c.cpu = Some(s),
                "memory" => c.memory = Some(s),
                _ => c.pods = Some(s),
            }
        }
        c
    }

    /// Checks across fields: unique host names, CIDR containment and overlaps. `kept`: per host of
    /// `inv.hosts`, its index in the file and where its name and podCIDR are written.
    fn cross_checks(&mut self, inv: &Inventory, svc_pos: Pos, kept: &[(usize, Pos, Option<Pos>)]) {
        let hp = FieldPath::root().child("hosts");
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (h, &(i, name_pos, _)) in inv.hosts.iter().zip(kept) {
            if let Some(first) = names.get(h.name.as_str()) {
                self.err(
                    name_pos,
                    &hp.index(i).child("name"),
                    format!(
                        "Duplicate value: {} (also the name of hosts[{first}])",
                        go_quote(&h.name)
                    ),
                );
            } else {
                names.insert(&h.name, i);
            }
        }
        let pod = cidr::parse(&inv.cluster.pod_cidr).filter(|_| !self.bad_pod_cidr);
        let svc = cidr::parse(&inv.cluster.service_cidr);
        let cp = FieldPath::root().child("cluster");
        if let (Some(pod), Some(svc)) = (pod, svc)
            && cidr::overlaps(&pod, &svc)
        {
            self.err(
                svc_pos,
                &cp.child("serviceCIDR"),
                format!(
                    "Invalid value: {}: must not overlap podCIDR {}",
                    go_quote(&inv.cluster.service_cidr),
                    inv.cluster.pod_cidr
                ),
            );
        }
        let mut host_cidrs: Vec<(usize, IpNet)> = Vec::new();
        for (h, &(i, _, cidr_pos)) in inv.hosts.iter().zip(kept) {
            let (Some(s), Some(pos)) = (&h.pod_cidr, cidr_pos) else {
                continue;
            };
            let Some(c) = cidr::parse(s) else { continue };
            let p = hp.index(i).child("podCIDR");
            if let Some(pod) = pod
                && !pod.contains(&c)
            {
                self.err(
                    pos,
                    &p,
                    format!(
                        "Invalid value: {}: must be inside cluster.podCIDR {}",
                        go_quote(s),
                        inv.cluster.pod_cidr
                    ),
                );
            }
            if let Some((j, _)) = host_cidrs.iter().find(|(_, o)| cidr::overlaps(o, &c)) {
                self.err(
                    pos,
                    &p,
                    format!(
                        "Invalid value: {}: overlaps the podCIDR of hosts[{j}]",
                        go_quote(s)
                    ),
                );
            }
            host_cidrs.push((i, c));
        }
    }
}

/// The node of a written leaf field.
fn leaf(f: &Field<Raw>) -> Option<&Node> {
    f.0.as_ref().map(|s| &s.node)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTBED: &str = "\
# Generated by scripts/testbed — the testbed's hosts.
ssh:
  user: root
  identityFile: id_ed25519
  knownHostsFile: known_hosts
  strictHostKeyChecking: true
cluster:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  nodePortRange: 30000-32767
hosts:
  - name: k8s-master
    address: 172.30.0.10
    port: 22
    runtime: docker
    labels:
      node-role.kubernetes.io/master: \"\"
    taints:
      - key: node-role.kubernetes.io/master
        effect: NoSchedule
    capacity:
      cpu: \"4\"
      memory: 2Gi
      pods: \"110\"
  - name: k8s-node1
    address: 172.30.0.11
    port: 22
    runtime: docker
    capacity: {cpu: \"4\", memory: 2Gi, pods: \"110\"}
";

    fn errors(text: &str) -> Vec<String> {
        match parse(text, Path::new("/etc/cc/cluster.yaml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.diagnostics().iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn the_testbed_inventory_parses() {
        let inv = parse(TESTBED, Path::new("/tmp/tb/cluster.yaml")).unwrap();
        assert_eq!(inv.ssh.user, "root");
        assert_eq!(
            inv.ssh.identity_file,
            Some(PathBuf::from("/tmp/tb/id_ed25519"))
        );
        assert_eq!(
            inv.ssh.known_hosts_file,
            Some(PathBuf::from("/tmp/tb/known_hosts"))
        );
        assert!(inv.ssh.strict_host_key_checking);
        assert_eq!((inv.ssh.connect_timeout, inv.ssh.max_sessions), (10, 8));
        assert_eq!(
            (
                inv.ssh.command_timeouts.read,
                inv.ssh.command_timeouts.write
            ),
            (20, 120)
        );
        assert_eq!(inv.cluster.node_port_range, (30000, 32767));
        assert_eq!(inv.cluster.apps_dir, "apps");
        let names: Vec<&str> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, vec!["k8s-master", "k8s-node1"]);
        let m = &inv.hosts[0];
        assert_eq!(m.address, "172.30.0.10");
        assert_eq!(m.labels["node-role.kubernetes.io/master"], "");
        assert_eq!(m.taints.len(), 1);
        assert_eq!(m.taints[0].key, "node-role.kubernetes.io/master");
        assert_eq!(m.taints[0].effect, "NoSchedule");
        assert_eq!(m.taints[0].value, None);
        assert_eq!(m.capacity.cpu.as_deref(), Some("4"));
        assert_eq!(m.capacity.memory.as_deref(), Some("2Gi"));
        assert_eq!(m.capacity.pods.as_deref(), Some("110"));
        assert_eq!(m.runtime, RuntimeKind::Docker);
        assert_eq!(inv.hosts[1].capacity.memory.as_deref(), Some("2Gi"));
        assert_eq!(m.ssh_user(&inv.ssh), "root");
    }

    #[test]
    fn written_inventories_read_back_the_same() {
        let mut inv = parse(TESTBED, Path::new("/tmp/tb/cluster.yaml")).unwrap();
        inv.hosts[1].user = Some("deploy".into());
        inv.hosts[1].unschedulable = true;
        inv.hosts[1].pod_cidr = Some("10.244.7.0/24".into());
        inv.hosts[1].labels.insert("zone".into(), "1".into());
        // YAML 1.1 booleans and a dotted number read back as the strings they are.
        inv.hosts[1].labels.insert("flag".into(), "on".into());
        inv.hosts[1].labels.insert("version".into(), "1.2.3".into());
        inv.hosts[1].taints.push(Taint {
            key: "dedicated".into(),
            value: Some("yes".into()),
            effect: "NoExecute".into(),
            ..Default::default()
        });
        inv.cluster.node_port_range = (31000, 31999);
        inv.cluster.apps_dir = "deploy/apps".into();
        inv.ssh.connect_timeout = 30;
        let text = inv.to_yaml().unwrap();
        let back = parse(&text, Path::new("/tmp/tb/cluster.yaml")).unwrap();
        assert_eq!(back, inv, "{text}");
        assert!(text.contains("podCIDR: 10.244.0.0/16"), "{text}");
        assert!(text.contains("nodePortRange: 31000-31999"), "{text}");
        // Items indented under their key, as the docs (and tests editing the testbed's file) write it.
        assert!(
            text.contains("hosts:\n  - name: k8s-master\n    address: 172.30.0.10\n    port: 22\n"),
            "{text}"
        );
    }

    #[test]
    fn the_example_inventory_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster.yaml");
        let inv = load(&p).unwrap();
        assert_eq!(inv.hosts.len(), 4);
        assert!(inv.hosts.windows(2).all(|w| w[0].name < w[1].name));
    }

    #[test]
    fn defaults_and_sorting() {
        let inv = parse(
            "hosts:\n- {name: b, address: b.example.com, capacity: {cpu: 2}}\n- {name: a, address: 10.0.0.1, user: deploy, identityFile: ~/.ssh/k, podCIDR: 10.244.3.0/24}\n",
            Path::new("rel/cluster.yaml"),
        )
        .unwrap();
        assert_eq!(inv.hosts[0].name, "a");
        assert_eq!(inv.hosts[0].port, 22);
        assert_eq!(inv.hosts[0].ssh_user(&inv.ssh), "deploy");
        assert_eq!(inv.hosts[1].ssh_user(&inv.ssh), "root");
        assert_eq!(inv.hosts[1].capacity.cpu.as_deref(), Some("2"));
        assert!(inv.hosts[0].identity_file.as_ref().unwrap().is_absolute());
        assert_eq!(inv.cluster, ClusterSettings::default());
        assert_eq!(inv.ssh, SshSettings::default());
    }

    #[test]
    fn every_problem_is_listed_with_its_position() {
        let text = "\
ssh:
  user: -oProxyCommand=x
  maxSessions: 11
  strictHostKeyChecking: maybe
  colour: blue
cluster:
  podCIDR: 10.244.0.0/33
  serviceCIDR: 10.96.0.0/12
  nodePortRange: 32767-30000
hosts:
  - name: Node_1
    address: \"-oProxyCommand=sh\"
    port: 70000
    runtime: podman
    labels: {\"bad key!\": v}
    taints:
      - key: dedicated
        effect: Sometimes
    capacity: {cpu: lots}
  - name: node2
    address: 10.0.0.2
    podCIDR: 10.245.0.0/24
  - name: node2
    address: 10.0.0.3
    extra: 1
  - address: 10.0.0.4
";
        let got = errors(text);
        let want = vec![
            "/etc/cc/cluster.yaml:2:9: ssh.user: Invalid value: \"-oProxyCommand=x\": must be a user name of at most 32 letters, digits, '.', '_' or '-', not starting with '-'",
            "/etc/cc/cluster.yaml:3:16: ssh.maxSessions: Invalid value: 11: must be between 1 and 10, inclusive",
            "/etc/cc/cluster.yaml:4:26: ssh.strictHostKeyChecking: Invalid value: string \"maybe\": must be true or false",
            "/etc/cc/cluster.yaml:5:3: ssh: unknown field \"colour\" (expected one of: user, identityFile, knownHostsFile, strictHostKeyChecking, connectTimeout, maxSessions, readTimeout, writeTimeout)",
            "/etc/cc/cluster.yaml:7:12: cluster.podCIDR: Invalid value: \"10.244.0.0/33\": must be a CIDR such as 10.244.0.0/16 (an IP address, '/', a prefix length)",
            "/etc/cc/cluster.yaml:9:18: cluster.nodePortRange: Invalid value: \"32767-30000\": must be a port range such as \"30000-32767\" (two ports between 1 and 65535, the first not above the second)",
            "/etc/cc/cluster.yaml:11:11: hosts[0].name: Invalid value: \"Node_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            "/etc/cc/cluster.yaml:12:14: hosts[0].address: Invalid value: \"-oProxyCommand=sh\": must be an IP address or a DNS name",
            "/etc/cc/cluster.yaml:13:11: hosts[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "/etc/cc/cluster.yaml:14:14: hosts[0].runtime: Unsupported value: \"podman\": supported values: \"docker\", \"containerd\"",
            "/etc/cc/cluster.yaml:15:14: hosts[0].labels: Invalid value: \"bad key!\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            "/etc/cc/cluster.yaml:18:17: hosts[0].taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
            "/etc/cc/cluster.yaml:19:21: hosts[0].capacity.cpu: Invalid value: \"lots\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            "/etc/cc/cluster.yaml:25:5: hosts[2]: unknown field \"extra\" (expected one of: name, address, port, user, identityFile, labels, taints, unschedulable, capacity, runtime, podCIDR)",
            "/etc/cc/cluster.yaml:26:5: hosts[3].name: Required value",
        ];
        assert_eq!(got, want, "{got:#?}");
    }

    #[test]
    fn command_timeouts() {
        let inv = parse(
            "ssh:\n  readTimeout: 5\n  writeTimeout: 600\nhosts:\n  - name: a\n    address: 10.0.0.1\n",
            Path::new("/etc/cc/cluster.yaml"),
        )
        .unwrap();
        assert_eq!(
            inv.ssh.command_timeouts,
            CommandTimeouts {
                read: 5,
                write: 600
            }
        );
        assert_eq!(
            errors(
                "ssh:\n  readTimeout: 0\n  writeTimeout: soon\nhosts:\n  - name: a\n    address: 10.0.0.1\n"
            ),
            vec![
                "/etc/cc/cluster.yaml:2:16: ssh.readTimeout: Invalid value: 0: must be between 1 and 86400, inclusive",
                "/etc/cc/cluster.yaml:3:17: ssh.writeTimeout: Invalid value: string \"soon\": must be an integer",
            ]
        );
    }

    #[test]
    fn node_lost_grace_period() {
        let inv = parse(
            "cluster:\n  nodeLostGracePeriod: 1m30s\nhosts:\n  - name: a\n    address: 10.0.0.1\n",
            Path::new("/etc/cc/cluster.yaml"),
        )
        .unwrap();
        assert_eq!(inv.cluster.node_lost_grace_period, 90);
        assert_eq!(ClusterSettings::default().node_lost_grace_period, 300);
        let text = inv.to_yaml().unwrap();
        assert!(text.contains("nodeLostGracePeriod: 1m30s"), "{text}");
        for (t, secs) in [("5m", 300), ("2s", 2), ("1h", 3600), ("1h0m5s", 3605)] {
            assert_eq!(parse_duration(t), Some(secs), "{t}");
            assert_eq!(parse_duration(&format_duration(secs)), Some(secs));
        }
        for bad in ["", "5", "m", "5x", "1s1m", "1m1m", "-5s", "5 m"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(
            errors(
                "cluster:\n  nodeLostGracePeriod: 300\nhosts:\n  - name: a\n    address: 10.0.0.1\n"
            ),
            vec![
                "/etc/cc/cluster.yaml:2:24: cluster.nodeLostGracePeriod: Invalid value: \"300\": must be a duration such as \"5m\", \"90s\" or \"1h30m\", from 1s to 720h",
            ]
        );
    }

    #[test]
    fn cross_field_checks() {
        let text = "\
cluster:
  serviceCIDR: 10.244.128.0/20
hosts:
  - name: a
    address: 10.0.0.1
    podCIDR: 10.245.0.0/24
  - name: a
    address: 10.0.0.2
    podCIDR: 10.244.1.0/24
  - name: c
    address: 10.0.0.3
    podCIDR: 10.244.1.0/25
";
        let got = errors(text);
        let want = vec![
            "/etc/cc/cluster.yaml:2:16: cluster.serviceCIDR: Invalid value: \"10.244.128.0/20\": must not overlap podCIDR 10.244.0.0/16",
            "/etc/cc/cluster.yaml:6:14: hosts[0].podCIDR: Invalid value: \"10.245.0.0/24\": must be inside cluster.podCIDR 10.244.0.0/16",
            "/etc/cc/cluster.yaml:7:11: hosts[1].name: Duplicate value: \"a\" (also the name of hosts[0])",
            "/etc/cc/cluster.yaml:12:14: hosts[2].podCIDR: Invalid value: \"10.244.1.0/25\": overlaps the podCIDR of hosts[1]",
        ];
        assert_eq!(got, want, "{got:#?}");
    }

    #[test]
    fn yaml_problems_and_empty_files() {
        assert_eq!(
            errors(""),
            vec!["/etc/cc/cluster.yaml:1:1: hosts: Required value: at least one host"]
        );
        assert_eq!(
            errors("hosts:\n- name: a\n  name: b\n  address: x\n"),
            vec![
                "/etc/cc/cluster.yaml:3:3: hosts[0].name: duplicate key \"name\" (first defined at line 2, column 3)"
            ]
        );
        let e = errors("hosts: [\n");
        assert!(
            e[0].starts_with("/etc/cc/cluster.yaml:2:1: invalid YAML:"),
            "{e:?}"
        );
        let e = load(Path::new("/nonexistent/cluster.yaml")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read inventory /nonexistent/cluster.yaml: "),
            "{e}"
        );
    }
}
