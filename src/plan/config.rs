//! ConfigMaps, Secrets and the downward API at plan time: resolves a pod's `env[].valueFrom`, `envFrom`
//! and configMap / secret / projected / downwardAPI volumes into a [`PodConfig`] for the runtime (as the
//! kubelet does when it starts a container), the hash of the data a container's env references (it joins
//! the container's spec hash, so a changed ConfigMap replaces its env consumers), and the in-place update
//! of volume files when only the referenced data changed (as the kubelet's periodic sync does). Pure.
//! Secret values live only in the returned values; nothing here words them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Node, Pod, PodSpec, Secret, Volume};
use sha2::{Digest, Sha256};

use super::{Action, Change, ChangeKind, Detail, PlanInput, Reason};
use crate::controllers::{self, PodSet};
use crate::manifest::config::{is_config_volume, subscripted};
use crate::model::ObservedPod;
use crate::quantity::Quantity;
use crate::runtime::config::{
    EnvValue, Mount, PodConfig, VolumeFile, VolumeFiles, sum_key, volume_hash, write_volume_cmd,
};

/// The ConfigMaps and Secrets of the repository, by (namespace, name).
#[derive(Debug, Clone, Default)]
pub struct ConfigStore {
    config_maps: BTreeMap<(String, String), ConfigMap>,
    secrets: BTreeMap<(String, String), Secret>,
}

fn key_of(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (String, String) {
    (controllers::namespace_of(m), controllers::name_of(m))
}

impl ConfigStore {
    pub fn new(config_maps: &[ConfigMap], secrets: &[Secret]) -> ConfigStore {
        ConfigStore {
            config_maps: config_maps
                .iter()
                .map(|c| (key_of(&c.metadata), c.clone()))
                .collect(),
            secrets: secrets
                .iter()
                .map(|s| (key_of(&s.metadata), s.clone()))
                .collect(),
        }
    }

    /// The Secret `namespace/name` of the repository (imagePullSecrets read it).
    pub fn secret(&self, ns: &str, name: &str) -> Option<&Secret> {
        self.secrets.get(&(ns.to_string(), name.to_string()))
    }

    /// All keys of a ConfigMap (data and binaryData) or Secret, with their bytes; `None` when absent.
    fn entries(&self, secret: bool, ns: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let k = (ns.to_string(), name.to_string());
        if secret {
            let s = self.secrets.get(&k)?;
            Some(
                s.data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect(),
            )
        } else {
            let c = self.config_maps.get(&k)?;
            let mut out: BTreeMap<String, Vec<u8>> = c
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect();
            out.extend(
                c.binary_data
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.0.clone())),
            );
            Some(out)
        }
    }

    /// What envFrom reads: a ConfigMap's `data` only (as the kubelet), a Secret's `data`.
    fn env_entries(&self, secret: bool, ns: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        if secret {
            return self.entries(true, ns, name);
        }
        let c = self.config_maps.get(&(ns.to_string(), name.to_string()))?;
        Some(
            c.data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect(),
        )
    }
}

/// What the downward API needs to know about where a pod runs.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub node: String,
    pub host_ip: Option<String>,
    pub pod_ip: Option<String>,
    /// The node's allocatable resources (the fallback of an unset limit).
    pub allocatable: BTreeMap<String, String>,
}

impl Facts {
    pub fn of(node: &str, nodes: &[Node], pod_ip: Option<&str>) -> Facts {
        let n = nodes
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(node));
        let status = n.and_then(|n| n.status.as_ref());
        Facts {
            node: node.to_string(),
            host_ip: status
                .and_then(|s| s.addresses.as_ref())
                .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
                .map(|a| a.address.clone()),
            pod_ip: pod_ip.map(str::to_string),
            allocatable: status
                .and_then(|s| s.allocatable.as_ref())
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
                .unwrap_or_default(),
        }
    }
}

/// The pod's uid for `metadata.uid`: clusterctl has no API server to allocate one, so it is derived from
/// the namespace, name and template hash (stable for the pod's life, new for a replacement).
pub fn pod_uid(pod: &Pod) -> String {
    let m = &pod.metadata;
    let mut h = Sha256::new();
    h.update(controllers::namespace_of(m));
    h.update([0]);
    h.update(controllers::name_of(m));
    h.update([0]);
    let hash = m
        .labels
        .as_ref()
        .and_then(|l| l.get("pod-template-hash"))
        .cloned()
        .unwrap_or_default();
    h.update(hash);
    let x = hex::encode(&h.finalize()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn uses_config(spec: &PodSpec) -> bool {
    spec.volumes.iter().flatten().any(is_config_volume)
        || spec.containers.iter().any(|c| {
            c.env_from.as_ref().is_some_and(|e| !e.is_empty())
                || c.env.iter().flatten().any(|e| e.value_from.is_some())
        })
}

/// The value of a downward-API field path for `pod`.
fn field_value(pod: &Pod, path: &str, facts: &Facts) -> String {
    let m = &pod.metadata;
    if let Some((map, key)) = subscripted(path) {
        let map = if map == "metadata.labels" {
            &m.labels
        } else {
            &m.annotations
        };
        return map
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default();
    }
    let spec = pod.spec.as_ref();
    match path {
        "metadata.name" => controllers::name_of(m),
        "metadata.namespace" => controllers::namespace_of(m),
        "metadata.uid" => pod_uid(pod),
        "metadata.labels" | "metadata.annotations" => {
            let map = if path == "metadata.labels" {
                &m.labels
            } else {
                &m.annotations
            };
            // The kubelet's format: one `key="value"` line per entry, sorted, Go-quoted.
            map.iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}\n", crate::yaml::go_quote(v)))
                .collect()
        }
        "spec.nodeName" => spec
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| facts.node.clone()),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone().unwrap_or_default(),
        "status.podIP" | "status.podIPs" => facts.pod_ip.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// `resourceFieldRef`: ceil(quantity ÷ divisor) of the container's limit or request (an unset limit is
/// the node's allocatable, an unset request the limit), as the kubelet computes it.
fn resource_value(
    c: Option<&Container>,
    resource: &str,
    divisor: Option<&str>,
    facts: &Facts,
) -> String {
    let (kind, name) = resource.split_once('.').unwrap_or(("limits", resource));
    let res = c.and_then(|c| c.resources.as_ref());
    let get = |m: Option<
        &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| { m.and_then(|m| m.get(name)).map(|q| q.0.clone()) };
    let limit = get(res.and_then(|r| r.limits.as_ref()));
    let q = match kind {
        "requests" => get(res.and_then(|r| r.requests.as_ref())).or(limit),
        _ => limit,
    }
    .or_else(|| facts.allocatable.get(name).cloned())
    .unwrap_or_else(|| "0".to_string());
    let Ok(q) = Quantity::parse(&q) else {
        return "0".to_string();
    };
    let d = Quantity::parse(divisor.unwrap_or("1")).ok();
    if name == "cpu" {
        let dm = d.map_or(1000, |d| d.milli_value()).max(1);
        let m = q.milli_value();
        ((m + dm - 1) / dm).to_string()
    } else {
        let dv = d.map_or(1, |d| d.value()).max(1);
        let v = q.value();
        ((v + dv - 1) / dv).to_string()
    }
}

/// The environment of one container in the kubelet's order: `envFrom` sources (later override earlier;
/// keys that are not valid env names skipped, noted in `notes`), then `env` (overriding all of them).
fn container_env(
    pod: &Pod,
    c: &Container,
    store: &ConfigStore,
    facts: &Facts,
    notes: &mut Vec<String>,
) -> Vec<EnvValue> {
    let ns = controllers::namespace_of(&pod.metadata);
    let mut out: Vec<EnvValue> = Vec::new();
    let set = |out: &mut Vec<EnvValue>, name: String, value: String, secret: bool| {
        if let Some(e) = out.iter_mut().find(|e| e.name == name) {
            *e = EnvValue {
                name,
                value,
                secret,
            };
        } else {
            out.push(EnvValue {
                name,
                value,
                secret,
            });
        }
    };
    for ef in c.env_from.iter().flatten() {
        let (secret, name) = match (&ef.config_map_ref, &ef.secret_ref) {
            (Some(r), _) => (false, r.name.as_str()),
            (None, Some(r)) => (true, r.name.as_str()),
            _ => continue,
        };
        let Some(entries) = store.env_entries(secret, &ns, name) else {
            continue; // optional (a required one failed validation)
        };
        let prefix = ef.prefix.as_deref().unwrap_or("");
        let mut invalid = Vec::new();
        for (k, v) in entries {
            let var = format!("{prefix}{k}");
            if !crate::rules::is_env_var_name(&var).is_empty() {
                invalid.push(k);
                continue;
            }
            set(
                &mut out,
                var,
                String::from_utf8_lossy(&v).into_owned(),
                secret,
            );
        }
        if !invalid.is_empty() {
            let kind = if secret { "secret" } else { "configMap" };
            notes.push(format!(
                "InvalidEnvironmentVariableNames: container {:?}: Keys [{}] from the EnvFrom {kind} {ns}/{name} were skipped since they are considered invalid environment variable names.",
                c.name,
                invalid.join(", ")
            ));
        }
    }
    let spec = pod.spec.as_ref();
    for e in c.env.iter().flatten() {
        let Some(vf) = &e.value_from else {
            set(
                &mut out,
                e.name.clone(),
                e.value.clone().unwrap_or_default(),
                false,
            );
            continue;
        };
        let (value, secret) = if let Some(r) = &vf.config_map_key_ref {
            (
                store
                    .entries(false, &ns, &r.name)
                    .and_then(|m| m.get(&r.key).cloned()),
                false,
            )
        } else if let Some(r) = &vf.secret_key_ref {
            (
                store
                    .entries(true, &ns, &r.name)
                    .and_then(|m| m.get(&r.key).cloned()),
                true,
            )
        } else if let Some(f) = &vf.field_ref {
            (
                Some(field_value(pod, &f.field_path, facts).into_bytes()),
                false,
            )
        } else if let Some(r) = &vf.resource_field_ref {
            let target = r.container_name.as_deref().filter(|n| !n.is_empty());
            let cont = match target {
                Some(n) => spec.and_then(|s| s.containers.iter().find(|c| c.name == n)),
                None => Some(c),
            };
            let d = r.divisor.as_ref().map(|d| d.0.as_str());
            (
                Some(resource_value(cont, &r.resource, d, facts).into_bytes()),
                false,
            )
        } else {
            (None, false)
        };
        // A missing optional reference leaves the variable out, as the kubelet does.
        if let Some(v) = value {
            set(
                &mut out,
                e.name.clone(),
                String::from_utf8_lossy(&v).into_owned(),
                secret,
            );
        }
    }
    out
}

fn keyed_files(
    entries: Option<BTreeMap<String, Vec<u8>>>,
    items: Option<&Vec<k8s_openapi::api::core::v1::KeyToPath>>,
    mode: i32,
    files: &mut Vec<VolumeFile>,
) {
    let Some(entries) = entries else { return };
    match items {
        Some(items) if !items.is_empty() => {
            for it in items {
                if let Some(data) = entries.get(&it.key) {
                    files.push(VolumeFile {
                        path: it.path.clone(),
                        data: data.clone(),
                        mode: it.mode.unwrap_or(mode) as u32,
                    });
                }
            }
        }
        _ => files.extend(entries.into_iter().map(|(k, data)| VolumeFile {
            path: k,
            data,
            mode: mode as u32,
        })),
    }
}

/// Kubernetes' default file mode of these volumes (`defaultMode` default, 0644).
const DEFAULT_MODE: i32 = 0o644;

/// The files of one configMap / secret / projected / downwardAPI volume.
pub fn volume_files(pod: &Pod, vol: &Volume, store: &ConfigStore, facts: &Facts) -> VolumeFiles {
    let ns = controllers::namespace_of(&pod.metadata);
    let mut files = Vec::new();
    let mut secret = false;
    let downward = |items: Option<&Vec<k8s_openapi::api::core::v1::DownwardAPIVolumeFile>>,
                    mode: i32,
                    files: &mut Vec<VolumeFile>| {
        for it in items.into_iter().flatten() {
            let data = if let Some(f) = &it.field_ref {
                field_value(pod, &f.field_path, facts)
            } else if let Some(r) = &it.resource_field_ref {
                let cname = r.container_name.as_deref().unwrap_or("");
                let cont = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.iter().find(|c| c.name == cname));
                resource_value(
                    cont,
                    &r.resource,
                    r.divisor.as_ref().map(|d| d.0.as_str()),
                    facts,
                )
            } else {
                continue;
            };
            files.push(VolumeFile {
                path: it.path.clone(),
                data: data.into_bytes(),
                mode: it.mode.unwrap_or(mode) as u32,
            });
        }
    };
    if let Some(c) = &vol.config_map {
        let mode = c.default_mode.unwrap_or(DEFAULT_MODE);
        keyed_files(
            store.entries(false, &ns, &c.name),
            c.items.as_ref(),
            mode,
            &mut files,
        );
    }
    if let Some(s) = &vol.secret {
        secret = true;
        let mode = s.default_mode.unwrap_or(DEFAULT_MODE);
        let name = s.secret_name.as_deref().unwrap_or("");
        keyed_files(
            store.entries(true, &ns, name),
            s.items.as_ref(),
            mode,
            &mut files,
        );
    }
    if let Some(d) = &vol.downward_api {
        downward(
            d.items.as_ref(),
            d.default_mode.unwrap_or(DEFAULT_MODE),
            &mut files,
        );
    }
    if let Some(p) = &vol.projected {
        let mode = p.default_mode.unwrap_or(DEFAULT_MODE);
        for s in p.sources.iter().flatten() {
            if let Some(c) = &s.config_map {
                keyed_files(
                    store.entries(false, &ns, &c.name),
                    c.items.as_ref(),
                    mode,
                    &mut files,
                );
            }
            if let Some(c) = &s.secret {
                secret = true;
                keyed_files(
                    store.entries(true, &ns, &c.name),
                    c.items.as_ref(),
                    mode,
                    &mut files,
                );
            }
            if let Some(d) = &s.downward_api {
                downward(d.items.as_ref(), mode, &mut files);
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    VolumeFiles {
        name: vol.name.clone(),
        secret,
        files,
    }
}

/// Everything of `pod` that comes from ConfigMaps, Secrets and the downward API; `None` when it uses
/// none of them (the runtime then builds exactly what it built before). `notes` gets the kubelet's
/// events (skipped envFrom keys).
pub fn resolve(
    pod: &Pod,
    store: &ConfigStore,
    facts: &Facts,
    notes: &mut Vec<String>,
) -> Option<PodConfig> {
    let spec = pod.spec.as_ref()?;
    if !uses_config(spec) {
        return None;
    }
    let mut cfg = PodConfig::default();
    for c in &spec.containers {
        cfg.env
            .insert(c.name.clone(), container_env(pod, c, store, facts, notes));
    }
    let vols: Vec<&Volume> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| is_config_volume(v))
        .collect();
    cfg.volumes = vols
        .iter()
        .map(|v| volume_files(pod, v, store, facts))
        .collect();
    for c in &spec.containers {
        let mounts: Vec<Mount> = c
            .volume_mounts
            .iter()
            .flatten()
            .filter(|m| vols.iter().any(|v| v.name == m.name))
            .map(|m| Mount {
                volume: m.name.clone(),
                target: m.mount_path.clone(),
            })
            .collect();
        if !mounts.is_empty() {
            cfg.mounts.insert(c.name.clone(), mounts);
        }
    }
    Some(cfg)
}

/// The ConfigMaps/Secrets a container's env reads (`ConfigMap default/app`), sorted.
pub fn env_sources(c: &Container) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    for e in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
        if let Some(r) = &e.config_map_key_ref {
            out.insert(format!("ConfigMap {}", r.name));
        }
        if let Some(r) = &e.secret_key_ref {
            out.insert(format!("Secret {}", r.name));
        }
    }
    for ef in c.env_from.iter().flatten() {
        if let Some(r) = &ef.config_map_ref {
            out.insert(format!("ConfigMap {}", r.name));
        }
        if let Some(r) = &ef.secret_ref {
            out.insert(format!("Secret {}", r.name));
        }
    }
    out.into_iter().collect()
}

/// A hash of the data the container's env reads from ConfigMaps and Secrets; `None` when it reads none.
fn env_data_hash(ns: &str, c: &Container, store: &ConfigStore) -> Option<String> {
    let mut h = Sha256::new();
    let mut any = false;
    let mut feed = |label: &str, data: Option<&[u8]>| {
        any = true;
        h.update((label.len() as u64).to_be_bytes());
        h.update(label.as_bytes());
        match data {
            Some(d) => {
                h.update([1]);
                h.update((d.len() as u64).to_be_bytes());
                h.update(d);
            }
            None => h.update([0]),
        }
    };
    for e in c.env.iter().flatten().filter_map(|e| e.value_from.as_ref()) {
        if let Some(r) = &e.config_map_key_ref {
            let v = store
                .entries(false, ns, &r.name)
                .and_then(|m| m.get(&r.key).cloned());
            feed(&format!("c/{}/{}", r.name, r.key), v.as_deref());
        }
        if let Some(r) = &e.secret_key_ref {
            let v = store
                .entries(true, ns, &r.name)
                .and_then(|m| m.get(&r.key).cloned());
            feed(&format!("s/{}/{}", r.name, r.key), v.as_deref());
        }
    }
    for ef in c.env_from.iter().flatten() {
        let (secret, name) = match (&ef.config_map_ref, &ef.secret_ref) {
            (Some(r), _) => (false, &r.name),
            (None, Some(r)) => (true, &r.name),
            _ => continue,
        };
        match store.env_entries(secret, ns, name) {
            Some(m) => {
                for (k, v) in m {
                    feed(
                        &format!("{}/{name}/{k}", if secret { "S" } else { "C" }),
                        Some(&v),
                    );
                }
            }
            None => feed(&format!("{}/{name}", if secret { "S" } else { "C" }), None),
        }
    }
    any.then(|| hex::encode(&h.finalize()[..8]))
}

/// The container's spec hash with the hash of its env's ConfigMap/Secret data joined in (unchanged
/// when its env reads none, so pods without such env keep their hashes).
pub fn container_hash(
    spec: &PodSpec,
    c: &Container,
    ns: &str,
    store: Option<&ConfigStore>,
) -> String {
    let plain = controllers::container_spec_hash(spec, c);
    let Some(data) = store.and_then(|s| env_data_hash(ns, c, s)) else {
        return plain;
    };
    let d = Sha256::digest(format!("{plain}/{data}").as_bytes());
    hex::encode(&d[..8])
}

/// A running pod whose only difference is the content of its configMap/secret volumes: the files are
/// updated in place (a `~` change), the pod and its containers stay. `None` when they match.
pub(super) fn volume_update(
    input: &PlanInput<'_>,
    pod: &ObservedPod,
    set: &PodSet,
) -> Option<Change> {
    let store = input.config?;
    let spec = set.template.spec.as_ref()?;
    if !spec.volumes.iter().flatten().any(is_config_volume) {
        return None;
    }
    let observed = input.observed.nodes.iter().find(|n| n.name == pod.node)?;
    let mut desired = set.template.clone();
    desired.metadata.name = Some(pod.name.clone());
    desired.metadata.namespace = Some(pod.namespace.clone());
    let facts = Facts::of(&pod.node, input.nodes, super::pod_ip(pod));
    let mut steps = Vec::new();
    let mut details = Vec::new();
    let mut changed = Vec::new();
    for vol in spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| is_config_volume(v))
    {
        let files = volume_files(&desired, vol, store, &facts);
        let key = sum_key(&pod.namespace, &pod.name, &vol.name);
        if observed.config_volumes.get(&key) == Some(&volume_hash(&files)) {
            continue;
        }
        details.push(Detail::Line(format!(
            "volume {:?}: {} file(s) updated in place (atomic ..data swap); the containers keep running",
            vol.name,
            files.files.len()
        )));
        steps.push(write_volume_cmd(&pod.namespace, &pod.name, &files));
        changed.push(vol.name.clone());
    }
    if steps.is_empty() {
        return None;
    }
    Some(Change {
        action: Action::Update,
        kind: ChangeKind::Pod,
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        node: pod.node.clone(),
        reason: Reason::ConfigVolumesChanged(changed),
        details,
        steps,
    })
}
