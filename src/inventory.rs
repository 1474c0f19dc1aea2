//! The inventory: `cluster.yaml` → typed hosts, SSH settings and cluster-wide network settings.
//! Parsing is strict (unknown keys are errors with line:column); every field is documented in
//! docs/cluster-yaml.md. No IO beyond reading the one file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Taint;
use serde::{Deserialize, Serialize};

use crate::manifest::yaml::{self, Entry, FieldPath, Node, NodeKind, Pos, Resolved, go_quote};
use crate::manifest::{Diagnostic, Severity, rules};
use crate::model::SourceRef;
use crate::quantity::Quantity;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// The file this was read from (relative paths inside are resolved against its directory).
    pub path: PathBuf,
    pub ssh: SshSettings,
    pub cluster: ClusterSettings,
    /// Sorted by name; names are unique DNS-1123 subdomains.
    pub hosts: Vec<Host>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SshSettings {
    /// Default `root`.
    pub user: String,
    /// Resolved to an absolute path.
    pub identity_file: Option<PathBuf>,
    /// Resolved to an absolute path; `None` means ssh's default (~/.ssh/known_hosts).
    pub known_hosts_file: Option<PathBuf>,
    /// Default true: unknown or changed host keys are refused.
    pub strict_host_key_checking: bool,
    /// Seconds; default 10.
    pub connect_timeout: u64,
    /// Concurrent sessions per host over the one multiplexed connection; default 8 (sshd's MaxSessions is 10).
    pub max_sessions: usize,
    /// Deadlines of single remote commands (`ssh.readTimeout`, `ssh.writeTimeout`).
    #[serde(default)]
    pub command_timeouts: CommandTimeouts,
}

/// How long one remote command may take before its host is reported as not answering, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandTimeouts {
    /// Reads (observe, lock holder); default 20.
    pub read: u64,
    /// Commands that change a host (create, start, rm, network, rules, lock); default 120.
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSettings {
    /// Default `10.244.0.0/16`.
    pub pod_cidr: String,
    /// Default `10.96.0.0/12`.
    pub service_cidr: String,
    /// Inclusive; default 30000–32767.
    pub node_port_range: (u16, u16),
    /// Directory in the Git repo holding the manifests; default `apps`.
    pub apps_dir: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    #[default]
    Docker,
    Containerd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub name: String,
    /// IP address or DNS name the SSH connection goes to.
    pub address: String,
    /// Default 22.
    pub port: u16,
    /// Overrides `ssh.user`.
    pub user: Option<String>,
    /// Overrides `ssh.identityFile` (resolved to an absolute path).
    pub identity_file: Option<PathBuf>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub capacity: Capacity,
    pub runtime: RuntimeKind,
    /// This host's pod CIDR (a /24 of `cluster.podCIDR`); allocated when absent.
    pub pod_cidr: Option<String>,
}

/// Capacity overrides (Quantity strings, validated). Unset values come from the host's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub pods: Option<String>,
}

impl Host {
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

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            pod_cidr: "10.244.0.0/16".to_string(),
            service_cidr: "10.96.0.0/12".to_string(),
            node_port_range: (30000, 32767),
            apps_dir: "apps".to_string(),
        }
    }
}

impl Inventory {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
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

const TOP_KEYS: &[&str] = &["ssh", "cluster", "hosts"];
const SSH_KEYS: &[&str] = &[
    "user",
    "identityFile",
    "knownHostsFile",
    "strictHostKeyChecking",
    "connectTimeout",
    "maxSessions",
    "readTimeout",
    "writeTimeout",
];
const CLUSTER_KEYS: &[&str] = &["podCIDR", "serviceCIDR", "nodePortRange", "appsDir"];
const HOST_KEYS: &[&str] = &[
    "name",
    "address",
    "port",
    "user",
    "identityFile",
    "labels",
    "taints",
    "unschedulable",
    "capacity",
    "runtime",
    "podCIDR",
];
const TAINT_KEYS: &[&str] = &["key", "value", "effect"];
const CAPACITY_KEYS: &[&str] = &["cpu", "memory", "pods"];
const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

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
        kind: NodeKind::Map(Vec::new()),
    };
    let root = docs.first().map(|d| &d.root).unwrap_or(&empty);
    let mut inv = Inventory {
        path: path.to_path_buf(),
        ssh: SshSettings::default(),
        cluster: ClusterSettings::default(),
        hosts: Vec::new(),
    };
    let top = FieldPath::root();
    let mut hosts_node: Option<&Entry> = None;
    for e in w.map(root, &top, TOP_KEYS) {
        match e.key.as_str() {
            "ssh" => w.ssh(&e.value, &top.child("ssh"), &base, &mut inv.ssh),
            "cluster" => w.cluster(&e.value, &top.child("cluster"), &mut inv.cluster),
            "hosts" => hosts_node = Some(e),
            _ => {}
        }
    }
    let hp = top.child("hosts");
    // The index in the file of each host kept in `inv.hosts`.
    let mut indices: Vec<usize> = Vec::new();
    match hosts_node {
        None => w.err(
            root.pos,
            &hp,
            "Required value: at least one host".to_string(),
        ),
        Some(e) if e.value.is_null() => w.err(
            e.key_pos,
            &hp,
            "Required value: at least one host".to_string(),
        ),
        Some(e) => match e.value.as_seq() {
            None => w.err(
                e.value.pos,
                &hp,
                format!(
                    "Invalid value: {}: must be a list of hosts",
                    e.value.describe()
                ),
            ),
            Some([]) => w.err(
                e.value.pos,
                &hp,
                "Required value: at least one host".to_string(),
            ),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(h) = w.host(item, &hp.index(i), &base) {
                        inv.hosts.push(h);
                        indices.push(i);
                    }
                }
            }
        },
    }
    w.cross_checks(&inv, root, &indices);
    if w.diags.is_empty() {
        inv.hosts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(inv)
    } else {
        w.diags.sort_by(|a, b| a.source.cmp(&b.source));
        Err(InventoryError::Invalid(w.diags))
    }
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

/// A CIDR: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
            return None;
        }
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    fn bits(&self) -> (u128, u32) {
        match self.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 128),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    /// IPv4 addresses sit in the top 32 bits of [`Cidr::bits`], so the prefix counts from the top either way.
    fn prefix128(&self) -> u32 {
        u32::from(self.prefix)
    }

    /// Is `other` entirely inside `self`?
    pub fn contains(&self, other: &Cidr) -> bool {
        if self.addr.is_ipv4() != other.addr.is_ipv4() || other.prefix < self.prefix {
            return false;
        }
        let (a, _) = self.bits();
        let (b, _) = other.bits();
        let p = self.prefix128();
        let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
        a & mask == b & mask
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
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

    /// The entries of a mapping; unknown keys are reported. Null → no entries.
    fn map<'n>(&mut self, node: &'n Node, path: &FieldPath, allowed: &[&str]) -> &'n [Entry] {
        if node.is_null() {
            return &[];
        }
        let Some(entries) = node.as_map() else {
            self.err(
                node.pos,
                path,
                format!("Invalid value: {}: must be a mapping", node.describe()),
            );
            return &[];
        };
        for e in entries {
            if !allowed.contains(&e.key.as_str()) {
                self.err(
                    e.key_pos,
                    path,
                    format!(
                        "unknown field {} (expected one of: {})",
                        go_quote(&e.key),
                        allowed.join(", ")
                    ),
                );
            }
        }
        entries
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

    fn cidr(&mut self, node: &Node, path: &FieldPath) -> Option<(String, Cidr)> {
        let s = self.string(node, path)?;
        match Cidr::parse(&s) {
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

    fn ssh(&mut self, node: &Node, path: &FieldPath, base: &Path, ssh: &mut SshSettings) {
        for e in self.map(node, path, SSH_KEYS) {
            let p = path.child(&e.key);
            let v = &e.value;
            match e.key.as_str() {
                "user" => {
                    if let Some(u) = self.user(v, &p) {
                        ssh.user = u;
                    }
                }
                "identityFile" => ssh.identity_file = self.file_path(v, &p, base),
                "knownHostsFile" => ssh.known_hosts_file = self.file_path(v, &p, base),
                "strictHostKeyChecking" => {
                    if let Some(b) = self.boolean(v, &p) {
                        ssh.strict_host_key_checking = b;
                    }
                }
                "connectTimeout" => {
                    if let Some(i) = self.int(v, &p, 1, 3600) {
                        ssh.connect_timeout = i as u64;
                    }
                }
                "maxSessions" => {
                    if let Some(i) = self.int(v, &p, 1, 10) {
                        ssh.max_sessions = i as usize;
                    }
                }
                "readTimeout" => {
                    if let Some(i) = self.int(v, &p, 1, 86400) {
                        ssh.command_timeouts.read = i as u64;
                    }
                }
                "writeTimeout" => {
                    if let Some(i) = self.int(v, &p, 1, 86400) {
                        ssh.command_timeouts.write = i as u64;
                    }
                }
                _ => {}
            }
        }
    }

    fn cluster(&mut self, node: &Node, path: &FieldPath, c: &mut ClusterSettings) {
        for e in self.map(node, path, CLUSTER_KEYS) {
            let p = path.child(&e.key);
            let v = &e.value;
            match e.key.as_str() {
                "podCIDR" => match self.cidr(v, &p) {
                    Some((s, _)) => c.pod_cidr = s,
                    None => self.bad_pod_cidr = true,
                },
                "serviceCIDR" => {
                    if let Some((s, _)) = self.cidr(v, &p) {
                        c.service_cidr = s;
                    }
                }
                "nodePortRange" => {
                    let Some(s) = self.string(v, &p) else {
                        continue;
                    };
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
                "appsDir" => {
                    let Some(s) = self.string(v, &p) else {
                        continue;
                    };
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
                _ => {}
            }
        }
    }

    fn host(&mut self, node: &Node, path: &FieldPath, base: &Path) -> Option<Host> {
        if !matches!(node.kind, NodeKind::Map(_)) {
            self.err(
                node.pos,
                path,
                format!(
                    "Invalid value: {}: must be a mapping (a host)",
                    node.describe()
                ),
            );
            return None;
        }
        let before = self.diags.len();
        let mut h = Host {
            name: String::new(),
            address: String::new(),
            port: 22,
            user: None,
            identity_file: None,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            unschedulable: false,
            capacity: Capacity::default(),
            runtime: RuntimeKind::Docker,
            pod_cidr: None,
        };
        for e in self.map(node, path, HOST_KEYS) {
            let p = path.child(&e.key);
            let v = &e.value;
            match e.key.as_str() {
                "name" => {
                    if let Some(n) = self.string(v, &p) {
                        for m in rules::is_dns1123_subdomain(&n) {
                            self.err(v.pos, &p, format!("Invalid value: {}: {m}", go_quote(&n)));
                        }
                        h.name = n;
                    }
                }
                "address" => {
                    if let Some(a) = self.string(v, &p) {
                        if !address_ok(&a) {
                            self.err(
                                v.pos,
                                &p,
                                format!(
                                    "Invalid value: {}: must be an IP address or a DNS name",
                                    go_quote(&a)
                                ),
                            );
                        }
                        h.address = a;
                    }
                }
                "port" => {
                    if let Some(i) = self.int(v, &p, 1, 65535) {
                        h.port = i as u16;
                    }
                }
                "user" => h.user = self.user(v, &p),
                "identityFile" => h.identity_file = self.file_path(v, &p, base),
                "labels" => h.labels = self.labels(v, &p),
                "taints" => h.taints = self.taints(v, &p),
                "unschedulable" => h.unschedulable = self.boolean(v, &p).unwrap_or(false),
                "capacity" => h.capacity = self.capacity(v, &p),
                "runtime" => {
                    if let Some(r) = self.string(v, &p) {
                        match r.as_str() {
                            "docker" => h.runtime = RuntimeKind::Docker,
                            "containerd" => h.runtime = RuntimeKind::Containerd,
                            other => self.err(
                                v.pos,
                                &p,
                                format!(
                                    "Unsupported value: {}: supported values: \"docker\", \"containerd\"",
                                    go_quote(other)
                                ),
                            ),
                        }
                    }
                }
                "podCIDR" => h.pod_cidr = self.cidr(v, &p).map(|(s, _)| s),
                _ => {}
            }
        }
        if node.get("name").is_none_or(|e| e.value.is_null()) {
            self.err(node.pos, &path.child("name"), "Required value".to_string());
        }
        if node.get("address").is_none_or(|e| e.value.is_null()) {
            self.err(
                node.pos,
                &path.child("address"),
                "Required value".to_string(),
            );
        }
        (self.diags.len() == before).then_some(h)
    }

    fn labels(&mut self, node: &Node, path: &FieldPath) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if node.is_null() {
            return out;
        }
        let Some(entries) = node.as_map() else {
            self.err(
                node.pos,
                path,
                format!(
                    "Invalid value: {}: must be a mapping of label keys to values",
                    node.describe()
                ),
            );
            return out;
        };
        for e in entries {
            for m in rules::is_qualified_name(&e.key) {
                self.err(
                    e.key_pos,
                    path,
                    format!("Invalid value: {}: {m}", go_quote(&e.key)),
                );
            }
            let value = match &e.value.kind {
                NodeKind::Scalar(s) if s.resolve() == Resolved::Null => String::new(),
                NodeKind::Scalar(s) => s.text.clone(),
                _ => {
                    self.err(
                        e.value.pos,
                        &path.key(&e.key),
                        format!("Invalid value: {}: must be a string", e.value.describe()),
                    );
                    continue;
                }
            };
            for m in rules::is_valid_label_value(&value) {
                self.err(
                    e.value.pos,
                    path,
                    format!("Invalid value: {}: {m}", go_quote(&value)),
                );
            }
            out.insert(e.key.clone(), value);
        }
        out
    }

    fn taints(&mut self, node: &Node, path: &FieldPath) -> Vec<Taint> {
        let mut out = Vec::new();
        if node.is_null() {
            return out;
        }
        let Some(items) = node.as_seq() else {
            self.err(
                node.pos,
                path,
                format!(
                    "Invalid value: {}: must be a list of taints",
                    node.describe()
                ),
            );
            return out;
        };
        let mut seen = BTreeSet::new();
        for (i, item) in items.iter().enumerate() {
            let tp = path.index(i);
            let mut t = Taint::default();
            if !matches!(item.kind, NodeKind::Map(_)) {
                self.err(
                    item.pos,
                    &tp,
                    format!(
                        "Invalid value: {}: must be a mapping (key, value, effect)",
                        item.describe()
                    ),
                );
                continue;
            }
            for e in self.map(item, &tp, TAINT_KEYS) {
                let p = tp.child(&e.key);
                let v = &e.value;
                match e.key.as_str() {
                    "key" => {
                        if let Some(k) = self.string(v, &p) {
                            for m in rules::is_qualified_name(&k) {
                                self.err(
                                    v.pos,
                                    &p,
                                    format!("Invalid value: {}: {m}", go_quote(&k)),
                                );
                            }
                            t.key = k;
                        }
                    }
                    "value" => {
                        let val = if v.is_null() {
                            Some(String::new())
                        } else {
                            self.string(v, &p)
                        };
                        if let Some(val) = val {
                            for m in rules::is_valid_label_value(&val) {
                                self.err(
                                    v.pos,
                                    &p,
                                    format!("Invalid value: {}: {m}", go_quote(&val)),
                                );
                            }
                            t.value = (!val.is_empty()).then_some(val);
                        }
                    }
                    "effect" => {
                        if let Some(eff) = self.string(v, &p) {
                            if !TAINT_EFFECTS.contains(&eff.as_str()) {
                                self.err(
                                    v.pos,
                                    &p,
                                    format!(
                                        "Unsupported value: {}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                                        go_quote(&eff)
                                    ),
                                );
                            }
                            t.effect = eff;
                        }
                    }
                    _ => {}
                }
            }
            if item.get("key").is_none_or(|e| e.value.is_null()) {
                self.err(item.pos, &tp.child("key"), "Required value".to_string());
            }
            if item.get("effect").is_none_or(|e| e.value.is_null()) {
                self.err(item.pos, &tp.child("effect"), "Required value".to_string());
            }
            let id = format!("{}:{}", t.key, t.effect);
            if !seen.insert(id.clone()) {
                self.err(item.pos, &tp, format!("Duplicate value: {}", go_quote(&id)));
            }
            out.push(t);
        }
        out
    }

    fn capacity(&mut self, node: &Node, path: &FieldPath) -> Capacity {
        let mut c = Capacity::default();
        for e in self.map(node, path, CAPACITY_KEYS) {
            let p = path.child(&e.key);
            let Some(s) = self.string(&e.value, &p) else {
                continue;
            };
            match Quantity::parse(&s) {
                Err(err) => {
                    self.err(
                        e.value.pos,
                        &p,
                        format!("Invalid value: {}: {err}", go_quote(&s)),
                    );
                    continue;
                }
                Ok(q) if q.milli_value() < 0 => {
                    self.err(
                        e.value.pos,
                        &p,
                        format!(
                            "Invalid value: {}: must be greater than or equal to 0",
                            go_quote(&s)
                        ),
                    );
                    continue;
                }
                Ok(q) if e.key == "pods" && q.milli_value() % 1000 != 0 => {
                    self.err(
                        e.value.pos,
                        &p,
                        format!("Invalid value: {}: must be a whole number", go_quote(&s)),
                    );
                    continue;
                }
                Ok(_) => {}
            }
            match e.key.as_str() {
                "cpu" => c.cpu = Some(s),
                "memory" => c.memory = Some(s),
                "pods" => c.pods = Some(s),
                _ => {}
            }
        }
        c
    }

    /// Checks across fields: unique host names, CIDR containment and overlaps.
    fn cross_checks(&mut self, inv: &Inventory, root: &Node, indices: &[usize]) {
        let hp = FieldPath::root().child("hosts");
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (h, &i) in inv.hosts.iter().zip(indices) {
            if let Some(first) = names.get(h.name.as_str()) {
                let p = hp.index(i).child("name");
                let pos = root.locate(&p);
                self.err(
                    pos,
                    &p,
                    format!(
                        "Duplicate value: {} (also the name of hosts[{first}])",
                        go_quote(&h.name)
                    ),
                );
            } else {
                names.insert(&h.name, i);
            }
        }
        let pod = Cidr::parse(&inv.cluster.pod_cidr).filter(|_| !self.bad_pod_cidr);
        let svc = Cidr::parse(&inv.cluster.service_cidr);
        let cp = FieldPath::root().child("cluster");
        if let (Some(pod), Some(svc)) = (pod, svc)
            && pod.overlaps(&svc)
        {
            let pos = root.locate(&cp.child("serviceCIDR"));
            self.err(
                pos,
                &cp.child("serviceCIDR"),
                format!(
                    "Invalid value: {}: must not overlap podCIDR {}",
                    go_quote(&inv.cluster.service_cidr),
                    inv.cluster.pod_cidr
                ),
            );
        }
        let mut host_cidrs: Vec<(usize, Cidr)> = Vec::new();
        for (h, &i) in inv.hosts.iter().zip(indices) {
            let Some(s) = &h.pod_cidr else { continue };
            let Some(c) = Cidr::parse(s) else { continue };
            let p = hp.index(i).child("podCIDR");
            let pos = root.locate(&p);
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
            if let Some((j, _)) = host_cidrs.iter().find(|(_, o)| o.overlaps(&c)) {
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

    #[test]
    fn cidr_containment() {
        let c = |s| Cidr::parse(s).unwrap();
        assert!(c("10.244.0.0/16").contains(&c("10.244.3.0/24")));
        assert!(!c("10.244.0.0/16").contains(&c("10.245.3.0/24")));
        assert!(!c("10.244.3.0/24").contains(&c("10.244.0.0/16")));
        assert!(c("0.0.0.0/0").contains(&c("1.2.3.4/32")));
        assert!(c("fd00::/8").contains(&c("fd00:1::/64")));
        assert!(!c("fd00::/8").contains(&c("10.0.0.0/8")));
        for bad in ["10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "x/8", "10.0.0.0/+8"] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }
}
