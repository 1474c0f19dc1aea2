//! Controllers: pure expansion of workload objects into what their Kubernetes controllers would create —
//! Deployment → ReplicaSet `<name>-<pod-template-hash>` → pods, ReplicaSet → pods, bare Pod → itself.
//! Owns pod-template-hash, generated pod names and container spec hashes. Does no IO, no scheduling, and no
//! API defaulting: templates are hashed exactly as received, so the hash equals the cluster's only when the
//! manifest layer has applied API-server defaults (see [`gohash`]).
//!
//! DaemonSet → one candidate [`PodSet`] per inventory node (see [`daemon`]): pinned to its node, with the
//! controller's default tolerations; which candidates run is decided later against the `Node` objects
//! (`scheduler::daemon_fit`, applied by the plan). Job → [`job::JobDesired`] here; its pod sets depend on
//! the observed pods and are made per plan by [`job::pod_sets`] (docs/jobs.md).

pub mod cluster_dns;
pub mod daemon;
pub mod gohash;
pub mod history;
pub mod job;
pub mod node_supervisor;
pub mod rollout;
pub mod stateful;
pub mod storage;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, ReplicaSetSpec, StatefulSet};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodTemplateSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};

use crate::manifest::{Manifest, Object};
use crate::model::OwnerRef;
use crate::yaml::SourceRef;

/// Label the deployment controller adds to ReplicaSets and their pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// Generated names are at most 63 characters: the base is cut to 58, then 5 random characters.
const MAX_GENERATED_BASE: usize = 58;
const RANDOM_LENGTH: u32 = 5;

/// A group of interchangeable pods sharing one template.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSet {
    pub namespace: String,
    /// None for a bare Pod; `ReplicaSet <name>` for ReplicaSet-owned pods.
    pub owner: Option<OwnerRef>,
    /// The Deployment owning the ReplicaSet, if any.
    pub deployment: Option<String>,
    /// pod-template-hash of the ReplicaSet, or the same hash computed over a bare pod's metadata + spec.
    pub template_hash: String,
    pub replicas: u32,
    pub naming: PodNaming,
    /// Pod with metadata (name or generateName, namespace, labels, annotations, ownerReferences) and spec.
    pub template: Pod,
    pub source: SourceRef,
    /// For a DaemonSet's pod: its node and update strategy (one set per candidate node).
    pub daemon: Option<daemon::Daemon>,
    /// For a Job's pods: what the Job controller decided this plan (see [`job`]).
    pub job: Option<job::JobPods>,
    /// For a Deployment's current ReplicaSet: how it rolls out (see [`rollout`]).
    pub rollout: Option<rollout::Params>,
    /// For a StatefulSet's pod: its ordinal and the set's policies (one set per ordinal).
    pub stateful: Option<stateful::Stateful>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodNaming {
    Fixed(String),
    /// Pod `i` is named [`pod_name`]`(prefix, i)`.
    Generated {
        prefix: String,
    },
}

impl PodSet {
    /// Name of the `ordinal`-th pod (0-based) of this set.
    pub fn pod_name(&self, ordinal: u32) -> String {
        match &self.naming {
            PodNaming::Fixed(name) => name.clone(),
            PodNaming::Generated { prefix } => pod_name(prefix, ordinal),
        }
    }

    fn sort_key(&self) -> (&str, &str) {
        let name = match &self.naming {
            PodNaming::Fixed(n) => n.as_str(),
            PodNaming::Generated { prefix } => prefix.as_str(),
        };
        (self.namespace.as_str(), name)
    }
}

/// Everything the controllers produce; every list sorted by namespace/name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expanded {
    pub pod_sets: Vec<PodSet>,
    pub deployments: Vec<Deployment>,
    /// As the deployment controller creates them (plus ReplicaSets written in the repo).
    pub replica_sets: Vec<ReplicaSet>,
    pub services: Vec<Service>,
    pub daemon_sets: Vec<DaemonSet>,
    /// Jobs with their run identity. Their pod sets depend on the observed pods, so they are made per
    /// plan by [`job::pod_sets`], not here.
    pub jobs: Vec<job::JobDesired>,
    /// Read by the planner (pod env and volumes), in (namespace, name) order.
    pub config_maps: Vec<k8s_openapi::api::core::v1::ConfigMap>,
    pub secrets: Vec<k8s_openapi::api::core::v1::Secret>,
    pub stateful_sets: Vec<StatefulSet>,
    /// Claims, classes and pre-provisioned volumes (see [`storage`]).
    pub storage: storage::Desired,
}

/// [`expand_on`] without nodes: DaemonSets give no pods.
pub fn expand(manifests: &[Manifest]) -> Expanded {
    expand_on(manifests, &[])
}

/// Expands every workload; a DaemonSet gets one candidate pod set per node in `nodes`.
pub fn expand_on(manifests: &[Manifest], nodes: &[String]) -> Expanded {
    let mut out = Expanded::default();
    for m in manifests {
        match &m.object {
            Object::Pod(pod) => out.pod_sets.push(bare_pod_set(pod, &m.source)),
            Object::Deployment(d) => {
                let rs = replica_set_for(d);
                let mut set = rs_pod_set(&rs, Some(name_of(&d.metadata)), &m.source);
                set.rollout = Some(rollout::Params::of(d));
                out.pod_sets.push(set);
                out.replica_sets.push(rs);
                out.deployments.push((**d).clone());
            }
            Object::ReplicaSet(rs) => {
                out.pod_sets.push(rs_pod_set(rs, None, &m.source));
                out.replica_sets.push((**rs).clone());
            }
            Object::Service(s) => out.services.push((**s).clone()),
            Object::DaemonSet(ds) => {
                out.pod_sets.extend(daemon::pod_sets(ds, nodes, &m.source));
                out.daemon_sets.push((**ds).clone());
            }
            Object::Job(j) => out.jobs.push(job::desired(j, &m.source)),
            Object::Namespace(_) => {}
            // Consumed by the planner (env, volumes), not expanded.
            Object::ConfigMap(c) => out.config_maps.push((**c).clone()),
            Object::Secret(s) => out.secrets.push((**s).clone()),
            Object::StatefulSet(sts) => {
                out.pod_sets.extend(stateful::pod_sets(sts, &m.source));
                out.storage.claims.extend(
                    stateful::claims(sts)
                        .into_iter()
                        .map(|c| (c, m.source.clone())),
                );
                out.stateful_sets.push((**sts).clone());
            }
            Object::PersistentVolumeClaim(c) => {
                out.storage.claims.push(((**c).clone(), m.source.clone()))
            }
            Object::PersistentVolume(pv) => out.storage.volumes.push((**pv).clone()),
            Object::StorageClass(sc) => out.storage.classes.push((**sc).clone()),
        }
    }
    out.storage.finish();
    out.stateful_sets.sort_by_key(|o| meta_key(&o.metadata));
    out.pod_sets.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out.deployments.sort_by_key(|o| meta_key(&o.metadata));
    out.replica_sets.sort_by_key(|o| meta_key(&o.metadata));
    out.services.sort_by_key(|o| meta_key(&o.metadata));
    out.daemon_sets.sort_by_key(|o| meta_key(&o.metadata));
    out.jobs.sort_by_key(|o| meta_key(&o.job.metadata));
    out.config_maps.sort_by_key(|o| meta_key(&o.metadata));
    out.secrets.sort_by_key(|o| meta_key(&o.metadata));
    out
}

fn meta_key(m: &ObjectMeta) -> (String, String) {
    (namespace_of(m), name_of(m))
}

pub(crate) fn name_of(m: &ObjectMeta) -> String {
    m.name.clone().unwrap_or_default()
}

pub(crate) fn namespace_of(m: &ObjectMeta) -> String {
    m.namespace.clone().unwrap_or_else(|| "default".to_string())
}

/// `ComputeHash` over a pod template (see [`gohash`] for exactness).
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let json = serde_json::to_value(template).unwrap_or_default();
    gohash::compute_hash(&json, collision_count)
}

/// The ReplicaSet the deployment controller creates for the Deployment's current template.
pub fn replica_set_for(d: &Deployment) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let collision = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = pod_template_hash(&spec.template, collision);
    let name = name_of(&d.metadata);
    let namespace = namespace_of(&d.metadata);
    let replicas = spec.replicas.unwrap_or(1);

    let mut template = spec.template.clone();
    let tmeta = template.metadata.get_or_insert_with(Default::default);
    let mut labels = tmeta.labels.clone().unwrap_or_default();
    labels.insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
    tmeta.labels = Some(labels.clone());

    let mut selector = spec.selector.clone();
    let mut match_labels = selector.match_labels.unwrap_or_default();
    match_labels.insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
    selector.match_labels = Some(match_labels);

    let max_surge = spec
        .strategy
        .as_ref()
        .filter(|s| s.type_.as_deref() != Some("Recreate"))
        .map(|s| {
            let surge = s.rolling_update.as_ref().and_then(|r| r.max_surge.clone());
            resolve_surge(surge.as_ref(), replicas)
        })
        .unwrap_or_else(|| resolve_surge(None, replicas));
    let annotations = BTreeMap::from([
        (
            "deployment.kubernetes.io/desired-replicas".to_string(),
            replicas.to_string(),
        ),
        (
            "deployment.kubernetes.io/max-replicas".to_string(),
            replicas.saturating_add(max_surge).to_string(),
        ),
        (
            "deployment.kubernetes.io/revision".to_string(),
            "1".to_string(),
        ),
    ]);

    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{hash}")),
            namespace: Some(namespace),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(
                "apps/v1",
                "Deployment",
                &name,
                &d.metadata,
            )]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            min_ready_seconds: spec.min_ready_seconds,
            replicas: Some(replicas),
            selector,
            template: Some(template),
        }),
        status: None,
    }
}

/// maxSurge as an absolute number: percentages round up (`ResolveFenceposts`); default 25%.
fn resolve_surge(v: Option<&IntOrString>, replicas: i32) -> i32 {
    match v {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => percent_up(s.trim_end_matches('%'), replicas),
        None => percent_up("25", replicas),
    }
}

fn percent_up(p: &str, replicas: i32) -> i32 {
    let p: i64 = p.parse().unwrap_or(0);
    ((p * i64::from(replicas) + 99) / 100) as i32
}

pub(crate) fn controller_ref(
    api_version: &str,
    kind: &str,
    name: &str,
    meta: &ObjectMeta,
) -> OwnerReference {
    OwnerReference {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: name.to_string(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn rs_pod_set(rs: &ReplicaSet, deployment: Option<String>, source: &SourceRef) -> PodSet {
    let spec = rs.spec.clone().unwrap_or_else(|| ReplicaSetSpec {
        selector: LabelSelector::default(),
        ..Default::default()
    });
    let template = spec.template.clone().unwrap_or_default();
    let rs_name = name_of(&rs.metadata);
    let namespace = namespace_of(&rs.metadata);
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone());
    let template_hash = labels
        .as_ref()
        .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL).cloned())
        .unwrap_or_else(|| pod_template_hash(&template, None));
    let prefix = format!("{rs_name}-");
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some(prefix.clone()),
            namespace: Some(namespace.clone()),
            labels,
            annotations: template
                .metadata
                .as_ref()
                .and_then(|m| m.annotations.clone()),
            owner_references: Some(vec![controller_ref(
                "apps/v1",
                "ReplicaSet",
                &rs_name,
                &rs.metadata,
            )]),
            ..Default::default()
        },
        spec: template.spec.clone().map(|mut s| {
            crate::manifest::defaults::pod_only(&mut s);
            s
        }),
        status: None,
    };
    PodSet {
        namespace,
        owner: Some(OwnerRef {
            kind: "ReplicaSet".to_string(),
            name: rs_name,
        }),
        deployment,
        template_hash,
        replicas: spec.replicas.unwrap_or(1).max(0) as u32,
        naming: PodNaming::Generated { prefix },
        template: pod,
        source: source.clone(),
        daemon: None,
        job: None,
        rollout: None,
        stateful: None,
    }
}

/// The pod sets of a system pod clusterctl runs on every node (the node supervisor, the cluster DNS): one
/// bare pod per node from `pod(image, node)`, sourced from cluster.yaml; none when `image` is empty (the
/// feature is turned off).
pub(crate) fn per_node_pod_sets(
    image: &str,
    nodes: &[String],
    pod: impl Fn(&str, &str) -> Pod,
) -> Vec<PodSet> {
    if image.is_empty() {
        return Vec::new();
    }
    let source = crate::yaml::SourceRef {
        file: "cluster.yaml".to_string(),
        ..Default::default()
    };
    nodes
        .iter()
        .map(|n| bare_pod_set(&pod(image, n), &source))
        .collect()
}
fn bare_pod_set(pod: &Pod, source: &SourceRef) -> PodSet {
    let name = name_of(&pod.metadata);
    let namespace = namespace_of(&pod.metadata);
    // Hash what determines the pod: the same dump as a template (labels, annotations, spec).
    let as_template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: pod.metadata.labels.clone(),
            annotations: pod.metadata.annotations.clone(),
            ..Default::default()
        }),
        spec: pod.spec.clone(),
    };
    let mut template = pod.clone();
    template.metadata.namespace = Some(namespace.clone());
    template.status = None;
    PodSet {
        namespace,
        owner: None,
        deployment: None,
        template_hash: pod_template_hash(&as_template, None),
        replicas: 1,
        naming: PodNaming::Fixed(name),
        template,
        source: source.clone(),
        daemon: None,
        job: None,
        rollout: None,
        stateful: None,
    }
}

/// Deterministic name of the `ordinal`-th pod of a generated set: `prefix` (cut to 58 characters, like
/// upstream's name generator) + 5 characters of the safe alphabet. The suffix is an affine bijection of
/// `ordinal` over [0, 27^5) keyed by a hash of the prefix, so names are unique within a set for any
/// realistic replica count and look random across sets.
pub fn pod_name(prefix: &str, ordinal: u32) -> String {
    const SPACE: u64 = 27u64.pow(RANDOM_LENGTH); // 3^15
    let base: String = prefix.chars().take(MAX_GENERATED_BASE).collect();
    let digest = Sha256::digest(base.as_bytes());
    let k1 = u64::from_le_bytes(digest[0..8].try_into().unwrap_or_default());
    let k2 = u64::from_le_bytes(digest[8..16].try_into().unwrap_or_default());
    // A multiplier coprime with 3^15 (not a multiple of 3) makes x ↦ a·x + b a bijection mod 3^15.
    let mut a = k1 % SPACE;
    if a % 3 == 0 {
        a += 1;
    }
    let b = k2 % SPACE;
    let mut x = (a * (u64::from(ordinal) % SPACE) + b) % SPACE;
    let mut suffix = [0u8; RANDOM_LENGTH as usize];
    for c in suffix.iter_mut().rev() {
        *c = gohash::SAFE_ALPHABET[(x % 27) as usize];
        x /= 27;
    }
    format!("{base}{}", String::from_utf8_lossy(&suffix))
}

/// Pod-level fields that change how every container runs; a change replaces the containers.
fn pod_level_runtime_fields(spec: &PodSpec) -> serde_json::Value {
    serde_json::json!({
        "restartPolicy": spec.restart_policy,
        "hostNetwork": spec.host_network,
        "hostPID": spec.host_pid,
        "hostIPC": spec.host_ipc,
        "shareProcessNamespace": spec.share_process_namespace,
        "dnsPolicy": spec.dns_policy,
        "dnsConfig": spec.dns_config,
        "hostname": spec.hostname,
        "subdomain": spec.subdomain,
        "hostAliases": spec.host_aliases,
        "securityContext": spec.security_context,
        "volumes": spec.volumes,
        "runtimeClassName": spec.runtime_class_name,
        "enableServiceLinks": spec.enable_service_links,
    })
}

/// 16 hex characters of SHA-256 over the canonical JSON of the container plus the pod-level fields that
/// affect it. Differs → the container must be replaced.
pub fn container_spec_hash(pod_spec: &PodSpec, container: &Container) -> String {
    let doc = serde_json::json!({
        "container": container,
        "pod": pod_level_runtime_fields(pod_spec),
    });
    let digest = Sha256::digest(gohash::canonical_json(&doc).as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests;
