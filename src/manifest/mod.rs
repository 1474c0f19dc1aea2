//! Manifests: multi-document YAML files → typed Kubernetes objects (`k8s_openapi`), validated like the
//! API server. Every problem is a [`Diagnostic`] carrying `file:line:col` and a field path; all of them are
//! collected in one run. Pure: takes file bytes, never touches the file system or a host.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::yaml::{self, Diagnostic, FieldPath, Node, NodeKind, Resolved, Severity, SourceRef, de};

pub mod config;
pub mod create;
pub mod defaults;
pub mod fields;
#[cfg(test)]
mod fields_schema;
#[cfg(test)]
mod fields_tests;
mod registry;
pub mod restart;
pub mod sops;
pub mod storage_defaults;
#[cfg(test)]
mod tests;
pub mod validate;

/// One file of the manifest directory, as `source` reads it from a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    /// Repository-relative, `/`-separated, e.g. `apps/my_nginx.yaml`.
    pub path: String,
    pub bytes: Vec<u8>,
}

/// One object read from the repo.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Pod(Box<Pod>),
    Deployment(Box<Deployment>),
    ReplicaSet(Box<ReplicaSet>),
    DaemonSet(Box<DaemonSet>),
    Job(Box<Job>),
    Service(Box<Service>),
    Namespace(Box<Namespace>),
    ConfigMap(Box<ConfigMap>),
    Secret(Box<Secret>),
    StatefulSet(Box<StatefulSet>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    PersistentVolume(Box<PersistentVolume>),
    StorageClass(Box<StorageClass>),
}

/// An object with where it was written. `namespace` is already defaulted (`default`) for namespaced kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub object: Object,
    pub source: SourceRef,
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Pod(_) => "Pod",
            Object::Deployment(_) => "Deployment",
            Object::ReplicaSet(_) => "ReplicaSet",
            Object::DaemonSet(_) => "DaemonSet",
            Object::Job(_) => "Job",
            Object::Service(_) => "Service",
            Object::Namespace(_) => "Namespace",
            Object::ConfigMap(_) => "ConfigMap",
            Object::Secret(_) => "Secret",
            Object::StatefulSet(_) => "StatefulSet",
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::PersistentVolume(_) => "PersistentVolume",
            Object::StorageClass(_) => "StorageClass",
        }
    }

    pub fn api_version(&self) -> &'static str {
        api_version_of(self.kind()).unwrap_or("v1")
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Pod(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::DaemonSet(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::PersistentVolume(o) => &o.metadata,
            Object::StorageClass(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// `None` for cluster-scoped kinds (Namespace); otherwise the (defaulted) namespace.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Object::Namespace(_) | Object::PersistentVolume(_) | Object::StorageClass(_) => None,
            _ => Some(
                self.metadata()
                    .namespace
                    .as_deref()
                    .unwrap_or(defaults::DEFAULT_NAMESPACE),
            ),
        }
    }

    /// `namespace/name`, or `name` for cluster-scoped kinds.
    pub fn qualified_name(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{ns}/{}", self.name()),
            None => self.name().to_string(),
        }
    }
}

/// The kinds clusterctl reads, with their apiVersion.
pub const SUPPORTED_KINDS: &[(&str, &str)] = &[
    ("Pod", "v1"),
    ("Deployment", "apps/v1"),
    ("ReplicaSet", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("Job", "batch/v1"),
    ("Service", "v1"),
    ("Namespace", "v1"),
    ("ConfigMap", "v1"),
    ("Secret", "v1"),
    ("StatefulSet", "apps/v1"),
    ("PersistentVolumeClaim", "v1"),
    ("PersistentVolume", "v1"),
    ("StorageClass", "storage.k8s.io/v1"),
];

fn api_version_of(kind: &str) -> Option<&'static str> {
    SUPPORTED_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| *v)
}

/// The result of reading all manifest files: the valid objects and every problem found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    /// Objects without errors, in file order (files sorted by path, documents in order).
    pub manifests: Vec<Manifest>,
    /// Sorted by file, line, column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

/// Cluster settings that validation needs (the API server's flags): the NodePort range and service CIDR;
/// and the age identities that decrypt SOPS-encrypted documents ([`sops`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub node_port_range: (u16, u16),
    pub service_cidr: String,
    pub sops: sops::Keys,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            node_port_range: (30000, 32767),
            service_cidr: "10.96.0.0/12".to_string(),
            sops: sops::Keys::default(),
        }
    }
}

/// Explicit NodePorts and ClusterIPs claimed so far (in file order): a second claim is "already allocated".
#[derive(Default)]
struct Claims {
    node_ports: std::collections::BTreeSet<i32>,
    cluster_ips: std::collections::BTreeSet<String>,
    /// ConfigMap/Secret references of pod specs, with where they are written (checked after all files).
    config_refs: Vec<(SourceRef, config::Ref)>,
    /// The ConfigMaps and Secrets defined, with their keys.
    config_defined: config::Defined,
    /// (kind, namespace, name, key) of every ConfigMap/Secret value holding a NUL: fine in a volume file,
    /// but no environment variable can carry it.
    config_nul: std::collections::BTreeSet<(&'static str, String, String, String)>,
}

/// Parse, default and validate every document of every file, with the default cluster settings.
pub fn parse(files: &[RawFile]) -> Parsed {
    parse_with(files, &Options::default())
}

/// Parse, default and validate every document of every file. Never stops at the first problem.
pub fn parse_with(files: &[RawFile], opts: &Options) -> Parsed {
    let mut claims = Claims::default();
    let mut order: Vec<&RawFile> = files.iter().collect();
    order.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = Parsed::default();
    let mut seen: HashMap<(&'static str, String), SourceRef> = HashMap::new();
    for file in order {
        let text = match std::str::from_utf8(&file.bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = &file.bytes[..e.valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                let col =
                    valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
                out.diagnostics.push(Diagnostic {
                    source: SourceRef {
                        file: file.path.clone(),
                        line,
                        column: col,
                    },
                    severity: Severity::Error,
                    field: String::new(),
                    message: "file is not valid UTF-8".to_string(),
                });
                continue;
            }
        };
        // One document tree at a time: only the decoded objects are kept.
        let yaml_errors = yaml::for_each_document(text, &mut |doc| {
            let doc = &doc;
            // A SOPS-encrypted document is read as its plaintext (same positions); one that does not
            // decrypt is an error at the place that failed, and nothing of it is used.
            let decrypted;
            let root = if sops::is_encrypted(&doc.root) {
                match sops::decrypt(&doc.root, &opts.sops) {
                    Ok(plain) => {
                        decrypted = plain;
                        &decrypted
                    }
                    Err(problems) => {
                        for p in problems {
                            out.diagnostics.push(diag(
                                &file.path,
                                p.pos,
                                &p.path,
                                Severity::Error,
                                p.message,
                            ));
                        }
                        return;
                    }
                }
            } else {
                &doc.root
            };
            let mut objects = Vec::new();
            read_document(
                &file.path,
                root,
                &mut objects,
                &mut out.diagnostics,
                opts,
                &mut claims,
            );
            for (object, node, ok) in objects {
                let source = SourceRef {
                    file: file.path.clone(),
                    line: node.pos.line,
                    column: node.pos.col,
                };
                let mut ok = ok && !doc.has_errors;
                if !object.name().is_empty() {
                    let key = (object.kind(), object.qualified_name());
                    if let Some(first) = seen.get(&key) {
                        out.diagnostics.push(Diagnostic {
                            source: source.clone(),
                            severity: Severity::Error,
                            field: String::new(),
                            message: format!(
                                "duplicate {} {} (first defined at {first})",
                                object.kind(),
                                yaml::go_quote(&object.qualified_name())
                            ),
                        });
                        ok = false;
                    } else {
                        seen.insert(key, source.clone());
                    }
                }
                if ok {
                    out.manifests.push(Manifest { object, source });
                }
            }
        });
        for e in yaml_errors {
            out.diagnostics
                .push(diag(&file.path, e.pos, &e.path, Severity::Error, e.message));
        }
    }
    // A required reference to a ConfigMap/Secret (or key) that Git does not hold: the kubelet would fail
    // the container (CreateContainerConfigError) or its mount; here it fails before any host is touched.
    for (source, r) in &claims.config_refs {
        if let Some(message) = config::unresolved(r, &claims.config_defined) {
            out.diagnostics.push(Diagnostic {
                source: source.clone(),
                severity: Severity::Error,
                field: r.path.to_string(),
                message,
            });
        } else if let Some(message) = config::nul_in_env(r, &claims.config_nul) {
            out.diagnostics.push(Diagnostic {
                source: source.clone(),
                severity: Severity::Error,
                field: r.path.to_string(),
                message,
            });
        }
    }
    out.diagnostics.sort_by(|a, b| a.source.cmp(&b.source));
    out
}

/// The pod spec of an object and its path, if it has one.
fn pod_spec_of(object: &Object) -> Option<(&k8s_openapi::api::core::v1::PodSpec, FieldPath)> {
    let t = FieldPath::root()
        .child("spec")
        .child("template")
        .child("spec");
    match object {
        Object::Pod(p) => Some((p.spec.as_ref()?, FieldPath::root().child("spec"))),
        Object::Deployment(d) => Some((d.spec.as_ref()?.template.spec.as_ref()?, t)),
        Object::ReplicaSet(r) => Some((r.spec.as_ref()?.template.as_ref()?.spec.as_ref()?, t)),
        Object::DaemonSet(d) => Some((d.spec.as_ref()?.template.spec.as_ref()?, t)),
        Object::Job(j) => Some((j.spec.as_ref()?.template.spec.as_ref()?, t)),
        _ => None,
    }
}

fn diag(
    file: &str,
    pos: yaml::Pos,
    path: &FieldPath,
    severity: Severity,
    message: String,
) -> Diagnostic {
    Diagnostic {
        source: SourceRef {
            file: file.to_string(),
            line: pos.line,
            column: pos.col,
        },
        severity,
        field: path.to_string(),
        message,
    }
}

fn scalar_field<'n>(node: &'n Node, key: &str) -> Result<Option<&'n str>, String> {
    let Some(e) = node.get(key) else {
        return Ok(None);
    };
    match &e.value.kind {
        NodeKind::Scalar(s) => match s.resolve() {
            Resolved::Null => Ok(None),
            Resolved::Str("") => Ok(None),
            Resolved::Str(t) => Ok(Some(t)),
            _ => Err(format!("Invalid value: {}: must be a string", s.describe())),
        },
        _ => Err(format!(
            "Invalid value: {}: must be a string",
            e.value.describe()
        )),
    }
}

/// One document → objects (several for a `v1 List`), each with the node it was read from and whether it is
/// free of errors. Diagnostics are appended.
fn read_document<'n>(
    file: &str,
    node: &'n Node,
    objects: &mut Vec<(Object, &'n Node, bool)>,
    diags: &mut Vec<Diagnostic>,
    opts: &Options,
    claims: &mut Claims,
) {
    let root = FieldPath::root();
    let mut error = |path: &FieldPath, pos: yaml::Pos, message: String| {
        diags.push(diag(file, pos, path, Severity::Error, message));
    };
    if node.as_map().is_none() {
        error(
            &root,
            node.pos,
            format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                node.describe()
            ),
        );
        return;
    }
    let api_version = scalar_field(node, "apiVersion");
    let kind = scalar_field(node, "kind");
    let mut bad = false;
    let api_version = match api_version {
        Ok(Some(v)) => v,
        Ok(None) => {
            error(
                &root.child("apiVersion"),
                node.pos,
                "Required value: apiVersion not set".to_string(),
            );
            bad = true;
            ""
        }
        Err(m) => {
            error(
                &root.child("apiVersion"),
                node.locate(&root.child("apiVersion")),
                m,
            );
            bad = true;
            ""
        }
    };
    let kind = match kind {
        Ok(Some(v)) => v,
        Ok(None) => {
            error(
                &root.child("kind"),
                node.pos,
                "Required value: kind not set".to_string(),
            );
            bad = true;
            ""
        }
        Err(m) => {
            error(&root.child("kind"), node.locate(&root.child("kind")), m);
            bad = true;
            ""
        }
    };
    if bad {
        return;
    }
    if kind == "List" && api_version == "v1" {
        let items = node.get("items").map(|e| &e.value);
        match items.and_then(|i| i.as_seq()) {
            Some(items) => {
                for item in items {
                    read_document(file, item, objects, diags, opts, claims);
                }
            }
            None if items.is_none_or(|i| i.is_null()) => {}
            None => error(
                &root.child("items"),
                node.locate(&root.child("items")),
                "Invalid value: must be a list of objects".to_string(),
            ),
        }
        return;
    }
    let Some(expected) = api_version_of(kind) else {
        let kinds: Vec<&str> = SUPPORTED_KINDS.iter().map(|(k, _)| *k).collect();
        error(
            &root.child("kind"),
            node.locate(&root.child("kind")),
            format!(
                "unsupported kind \"{kind}\" (apiVersion \"{api_version}\"): clusterctl supports {}",
                kinds.join(", ")
            ),
        );
        return;
    };
    if api_version != expected {
        error(
            &root.child("apiVersion"),
            node.locate(&root.child("apiVersion")),
            format!(
                "Invalid value: \"{api_version}\": no matches for kind \"{kind}\" in version \"{api_version}\" (use apiVersion \"{expected}\")"
            ),
        );
        return;
    }

    let ctx = de::Ctx::default();
    let decoded = decode(kind, node, &ctx);
    for u in ctx.unknown.into_inner() {
        diags.push(diag(
            file,
            u.pos,
            &u.parent,
            Severity::Warning,
            format!("unknown field {}", yaml::go_quote(&u.key)),
        ));
    }
    // Known fields clusterctl does not apply (the table in `fields`), also when decoding failed later.
    for w in fields::warnings(&ctx.known.into_inner()) {
        diags.push(diag(file, w.pos, &w.path, Severity::Warning, w.message));
    }
    let mut object = match decoded {
        Ok(o) => o,
        Err(e) => {
            let (path, pos) = e.at.clone().unwrap_or((root.clone(), node.pos));
            diags.push(diag(file, pos, &path, Severity::Error, e.message));
            return;
        }
    };
    defaults::apply(&mut object);
    let mut ok = true;
    for issue in validate::object(&object, node) {
        let at = issue.at.as_ref().unwrap_or(&issue.path);
        let pos = if issue.at_key {
            node.locate_key(at)
        } else {
            node.locate(at)
        };
        if issue.severity == Severity::Error {
            ok = false;
        }
        diags.push(diag(file, pos, &issue.path, issue.severity, issue.message));
    }
    if ok && let Object::Service(svc) = &object {
        // The allocators' checks (the API server's registry): range and uniqueness across the repo.
        let spec = svc.spec.clone().unwrap_or_default();
        let sp = root.child("spec");
        if let Some(ip) = spec
            .cluster_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "None")
        {
            let at = sp.child("clusterIP");
            if let Some(msg) =
                registry::check_cluster_ip(ip, &opts.service_cidr, &mut claims.cluster_ips)
            {
                diags.push(diag(
                    file,
                    node.locate(&at),
                    &sp.child("clusterIPs").index(0),
                    Severity::Error,
                    msg,
                ));
                ok = false;
            }
        }
        for (i, p) in spec.ports.iter().flatten().enumerate() {
            let Some(np) = p.node_port.filter(|n| *n != 0) else {
                continue;
            };
            let at = sp.child("ports").index(i).child("nodePort");
            if let Some(msg) =
                registry::check_node_port(np, opts.node_port_range, &mut claims.node_ports)
            {
                diags.push(diag(file, node.locate(&at), &at, Severity::Error, msg));
                ok = false;
            }
        }
    }
    // Collected also from objects with other errors, so every problem is reported in one run.
    {
        let ns = object.namespace().unwrap_or_default().to_string();
        match &object {
            Object::ConfigMap(c) => {
                let mut keys: std::collections::BTreeSet<String> =
                    c.data.iter().flatten().map(|(k, _)| k.clone()).collect();
                keys.extend(c.binary_data.iter().flatten().map(|(k, _)| k.clone()));
                let nul = c
                    .data
                    .iter()
                    .flatten()
                    .filter(|(_, v)| v.contains('\0'))
                    .map(|(k, _)| k.clone())
                    .chain(
                        c.binary_data
                            .iter()
                            .flatten()
                            .filter(|(_, v)| v.0.contains(&0))
                            .map(|(k, _)| k.clone()),
                    );
                for k in nul {
                    let id = ("ConfigMap", ns.clone(), object.name().to_string(), k);
                    claims.config_nul.insert(id);
                }
                claims
                    .config_defined
                    .insert(("ConfigMap", ns.clone(), object.name().to_string()), keys);
            }
            Object::Secret(sec) => {
                let keys = sec.data.iter().flatten().map(|(k, _)| k.clone()).collect();
                for (k, _) in sec.data.iter().flatten().filter(|(_, v)| v.0.contains(&0)) {
                    let id = ("Secret", ns.clone(), object.name().to_string(), k.clone());
                    claims.config_nul.insert(id);
                }
                claims
                    .config_defined
                    .insert(("Secret", ns.clone(), object.name().to_string()), keys);
            }
            _ => {}
        }
        if let Some((spec, sp)) = pod_spec_of(&object) {
            for r in config::refs(spec, &sp, &ns) {
                let pos = node.locate(&r.path);
                let source = SourceRef {
                    file: file.to_string(),
                    line: pos.line,
                    column: pos.col,
                };
                claims.config_refs.push((source, r));
            }
        }
    }
    objects.push((object, node, ok));
}

fn decode(kind: &str, node: &Node, ctx: &de::Ctx) -> Result<Object, de::DeError> {
    let root = FieldPath::root();
    Ok(match kind {
        "Pod" => Object::Pod(Box::new(de::from_node(node, &root, ctx)?)),
        "Deployment" => Object::Deployment(Box::new(de::from_node(node, &root, ctx)?)),
        "ReplicaSet" => Object::ReplicaSet(Box::new(de::from_node(node, &root, ctx)?)),
        "DaemonSet" => Object::DaemonSet(Box::new(de::from_node(node, &root, ctx)?)),
        "Job" => Object::Job(Box::new(de::from_node(node, &root, ctx)?)),
        "Service" => Object::Service(Box::new(de::from_node(node, &root, ctx)?)),
        "Namespace" => Object::Namespace(Box::new(de::from_node(node, &root, ctx)?)),
        "ConfigMap" => Object::ConfigMap(Box::new(de::from_node(node, &root, ctx)?)),
        "Secret" => Object::Secret(Box::new(de::from_node(node, &root, ctx)?)),
        "StatefulSet" => Object::StatefulSet(Box::new(de::from_node(node, &root, ctx)?)),
        "PersistentVolumeClaim" => {
            Object::PersistentVolumeClaim(Box::new(de::from_node(node, &root, ctx)?))
        }
        "PersistentVolume" => Object::PersistentVolume(Box::new(de::from_node(node, &root, ctx)?)),
        "StorageClass" => Object::StorageClass(Box::new(de::from_node(node, &root, ctx)?)),
        other => unreachable!("kind {other} was checked"),
    })
}
