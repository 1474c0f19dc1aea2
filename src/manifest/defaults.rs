//! API-server defaulting: fills in what `kubectl apply` would find stored on the server (semantics doc §4.3,
//! §7.3; upstream `pkg/apis/*/v1/defaults.go`). Applied to every object before validation, as the API server
//! does, so later stages (controllers, hashing, planning) see one canonical shape.
//! Fields that the API server allocates (clusterIP, nodePort, uid) are not defaults and are left unset.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSetUpdateStrategy, DeploymentStrategy, RollingUpdateDaemonSet, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Object;

pub const DEFAULT_NAMESPACE: &str = "default";

/// Apply the API server's defaults in place.
pub fn apply(object: &mut Object) {
    match object {
        Object::Pod(p) => {
            namespace(&mut p.metadata);
            let spec = p.spec.get_or_insert_with(Default::default);
            pod_spec(spec);
            pod_only(spec);
        }
        Object::Deployment(d) => {
            namespace(&mut d.metadata);
            let spec = d.spec.get_or_insert_with(Default::default);
            spec.replicas.get_or_insert(1);
            let strategy = spec
                .strategy
                .get_or_insert_with(DeploymentStrategy::default);
            let ty = strategy
                .type_
                .get_or_insert_with(|| "RollingUpdate".to_string());
            if ty == "RollingUpdate" {
                let ru = strategy
                    .rolling_update
                    .get_or_insert_with(RollingUpdateDeployment::default);
                ru.max_unavailable
                    .get_or_insert_with(|| IntOrString::String("25%".to_string()));
                ru.max_surge
                    .get_or_insert_with(|| IntOrString::String("25%".to_string()));
            }
            spec.revision_history_limit.get_or_insert(10);
            spec.progress_deadline_seconds.get_or_insert(600);
            template(&mut spec.template);
        }
        Object::ReplicaSet(r) => {
            namespace(&mut r.metadata);
            let spec = r.spec.get_or_insert_with(Default::default);
            spec.replicas.get_or_insert(1);
            template(spec.template.get_or_insert_with(Default::default));
        }
        Object::DaemonSet(d) => {
            namespace(&mut d.metadata);
            let spec = d.spec.get_or_insert_with(Default::default);
            let us = spec
                .update_strategy
                .get_or_insert_with(DaemonSetUpdateStrategy::default);
            let ty = us.type_.get_or_insert_with(|| "RollingUpdate".to_string());
            if ty == "RollingUpdate" {
                let ru = us
                    .rolling_update
                    .get_or_insert_with(RollingUpdateDaemonSet::default);
                ru.max_unavailable.get_or_insert(IntOrString::Int(1));
                ru.max_surge.get_or_insert(IntOrString::Int(0));
            }
            spec.revision_history_limit.get_or_insert(10);
            template(&mut spec.template);
        }
        Object::Job(j) => {
            namespace(&mut j.metadata);
            let spec = j.spec.get_or_insert_with(Default::default);
            if spec.completions.is_none() && spec.parallelism.is_none() {
                spec.completions = Some(1);
            }
            spec.parallelism.get_or_insert(1);
            spec.backoff_limit.get_or_insert(6);
            spec.completion_mode
                .get_or_insert_with(|| "NonIndexed".to_string());
            spec.suspend.get_or_insert(false);
            spec.pod_replacement_policy
                .get_or_insert_with(|| "TerminatingOrFailed".to_string());
            template(&mut spec.template);
        }
        Object::Service(s) => {
            namespace(&mut s.metadata);
            let spec = s.spec.get_or_insert_with(Default::default);
            let ty = spec
                .type_
                .get_or_insert_with(|| "ClusterIP".to_string())
                .clone();
            spec.session_affinity
                .get_or_insert_with(|| "None".to_string());
            spec.internal_traffic_policy
                .get_or_insert_with(|| "Cluster".to_string());
            if ty == "NodePort" || ty == "LoadBalancer" {
                spec.external_traffic_policy
                    .get_or_insert_with(|| "Cluster".to_string());
            }
            for p in spec.ports.iter_mut().flatten() {
                p.protocol.get_or_insert_with(|| "TCP".to_string());
                if p.target_port.is_none() {
                    p.target_port = Some(IntOrString::Int(p.port));
                }
            }
        }
        Object::ConfigMap(c) => namespace(&mut c.metadata),
        Object::Secret(s) => {
            namespace(&mut s.metadata);
            super::config::default_secret(s);
        }
        Object::Namespace(n) => {
            let spec = n.spec.get_or_insert_with(Default::default);
            spec.finalizers
                .get_or_insert_with(|| vec!["kubernetes".to_string()]);
        }
        Object::StatefulSet(s) => {
            namespace(&mut s.metadata);
            let spec = s.spec.get_or_insert_with(Default::default);
            template(&mut spec.template);
            super::storage_defaults::stateful_set(spec);
        }
        Object::PersistentVolumeClaim(c) => {
            namespace(&mut c.metadata);
            super::storage_defaults::claim(c.spec.get_or_insert_with(Default::default));
        }
        Object::PersistentVolume(pv) => {
            super::storage_defaults::volume(pv.spec.get_or_insert_with(Default::default));
        }
        Object::StorageClass(sc) => super::storage_defaults::class(sc),
    }
}

fn namespace(meta: &mut ObjectMeta) {
    if meta.namespace.as_deref().unwrap_or("").is_empty() {
        meta.namespace = Some(DEFAULT_NAMESPACE.to_string());
    }
}

fn template(t: &mut PodTemplateSpec) {
    pod_spec(t.spec.get_or_insert_with(Default::default));
}

pub fn pod_spec(spec: &mut PodSpec) {
    spec.restart_policy
        .get_or_insert_with(|| "Always".to_string());
    spec.termination_grace_period_seconds.get_or_insert(30);
    spec.dns_policy
        .get_or_insert_with(|| "ClusterFirst".to_string());
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".to_string());
    spec.security_context
        .get_or_insert_with(PodSecurityContext::default);
    for c in spec.containers.iter_mut() {
        container(c);
    }
    for c in spec.init_containers.iter_mut().flatten() {
        container(c);
    }
}

/// Defaults upstream applies to a Pod but never to a pod template (`SetDefaults_Pod`): they must stay out of
/// the template that `pod-template-hash` is computed over, and are applied when a controller makes a pod.
pub fn pod_only(spec: &mut PodSpec) {
    spec.enable_service_links.get_or_insert(true);
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        // A limit without a request: the request defaults to the limit.
        let r = c
            .resources
            .get_or_insert_with(ResourceRequirements::default);
        if let Some(limits) = &r.limits {
            let requests = r.requests.get_or_insert_with(BTreeMap::new);
            for (k, v) in limits {
                // An unparsable limit is reported once, on the limit.
                if crate::quantity::Quantity::parse(&v.0).is_ok() {
                    requests.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
}

fn container(c: &mut Container) {
    if c.image_pull_policy.is_none() {
        let policy = if image_tag(c.image.as_deref().unwrap_or("")).as_deref() == Some("latest") {
            "Always"
        } else {
            "IfNotPresent"
        };
        c.image_pull_policy = Some(policy.to_string());
    }
    c.termination_message_path
        .get_or_insert_with(|| "/dev/termination-log".to_string());
    c.termination_message_policy
        .get_or_insert_with(|| "File".to_string());
    for p in c.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".to_string());
    }
    c.resources
        .get_or_insert_with(ResourceRequirements::default);
}

/// The tag of an image reference as upstream's `ParseImageName` sees it: `latest` when neither a tag nor a
/// digest is given, `None` when only a digest is.
pub fn image_tag(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => Some(tag.to_string()),
        None if digest.is_some() => None,
        None => Some("latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("nginx").as_deref(), Some("latest"));
        assert_eq!(image_tag("nginx:1.14.2").as_deref(), Some("1.14.2"));
        assert_eq!(image_tag("localhost:5000/nginx").as_deref(), Some("latest"));
        assert_eq!(image_tag("localhost:5000/nginx:v1").as_deref(), Some("v1"));
        assert_eq!(image_tag("nginx@sha256:abc"), None);
        assert_eq!(image_tag("nginx:1@sha256:abc").as_deref(), Some("1"));
    }
}
