//! The node supervisor as desired state (docs/node-supervisor.md): one bare pod `clusterctl-node-<host>` in
//! namespace `clusterctl-system` per inventory host, pinned to it (`nodeName`), tolerating every taint,
//! running `cluster.nodeSupervisorImage` on the host's network with the host's docker socket and
//! `/var/lib/clusterctl/node` mounted. Planned, shown and applied like any other pod: created when missing, replaced when the image
//! or anything else of its template changes, pruned with its host. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, HostPathVolumeSource, Pod, PodSpec, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::PodSet;
use crate::model::labels;

/// Namespace of the supervisor pods.
pub const NAMESPACE: &str = "clusterctl-system";
/// The docker socket on the host, mounted at the same path in the supervisor.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// The supervisor's state directory on the host, mounted at the same path.
pub const STATE_DIR: &str = "/var/lib/clusterctl/node";

/// `clusterctl-node-<node>`
pub fn pod_name(node: &str) -> String {
    format!("clusterctl-node-{node}")
}

/// The supervisor pod of `node`; `grace_secs` is `cluster.nodeLostGracePeriod`, which it needs to tell a
/// long absence from a short one when it starts (`supervisor::hold`).
pub fn pod(image: &str, node: &str, grace_secs: u64) -> Pod {
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        ..Default::default()
    };
    let host_path = |name: &str, path: &str, type_: &str| Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_string(),
            type_: Some(type_.to_string()),
        }),
        ..Default::default()
    };
    let mut spec = PodSpec {
        node_name: Some(node.to_string()),
        // On the host's network, so its container needs no sandbox to join: when dockerd boots it starts
        // its `always` containers in parallel, and one that joins a sandbox not yet running fails for good.
        // The host's namespace reaches every pod of its own pod bridge, the only pods the supervisor probes.
        host_network: Some(true),
        restart_policy: Some("Always".to_string()),
        termination_grace_period_seconds: Some(5),
        tolerations: Some(vec![Toleration {
            operator: Some("Exists".to_string()),
            ..Default::default()
        }]),
        containers: vec![Container {
            name: "supervisor".to_string(),
            image: Some(image.to_string()),
            env: Some(vec![EnvVar {
                name: crate::supervisor::hold::GRACE_ENV.to_string(),
                value: Some(grace_secs.to_string()),
                ..Default::default()
            }]),
            volume_mounts: Some(vec![
                mount("docker-sock", DOCKER_SOCKET),
                mount("state", STATE_DIR),
            ]),
            ..Default::default()
        }],
        volumes: Some(vec![
            host_path("docker-sock", DOCKER_SOCKET, "Socket"),
            host_path("state", STATE_DIR, "DirectoryOrCreate"),
        ]),
        ..Default::default()
    };
    crate::manifest::defaults::pod_spec(&mut spec);
    crate::manifest::defaults::pod_only(&mut spec);
    Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(node)),
            namespace: Some(NAMESPACE.to_string()),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/name".to_string(),
                    "clusterctl-node".to_string(),
                ),
                (labels::NODE_SUPERVISOR.to_string(), "true".to_string()),
            ])),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// One supervisor pod set per node; none when `image` is empty (the supervisor is turned off).
pub fn pod_sets(image: &str, nodes: &[String], grace_secs: u64) -> Vec<PodSet> {
    super::per_node_pod_sets(image, nodes, |image, node| pod(image, node, grace_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pinned_pod_per_node_and_none_when_turned_off() {
        let sets = pod_sets("reg/clusterctl/node:1", &["a".into(), "b".into()], 300);
        assert_eq!(sets.len(), 2);
        let s = &sets[1];
        assert_eq!(s.namespace, NAMESPACE);
        assert_eq!(s.pod_name(0), "clusterctl-node-b");
        let spec = s.template.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("b"));
        assert_eq!(spec.host_network, Some(true));
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some("reg/clusterctl/node:1")
        );
        // Another image is another template: the plan replaces the pod.
        assert_ne!(
            s.template_hash,
            pod_sets("reg/clusterctl/node:2", &["b".into()], 300)[0].template_hash
        );
        // The grace is in its environment: another grace is another template.
        let env = spec.containers[0].env.as_ref().unwrap();
        assert_eq!(
            (env[0].name.as_str(), env[0].value.as_deref()),
            ("CLUSTERCTL_NODE_LOST_GRACE_SECONDS", Some("300"))
        );
        assert_ne!(
            s.template_hash,
            pod_sets("reg/clusterctl/node:1", &["b".into()], 60)[0].template_hash
        );
        assert!(pod_sets("", &["a".into()], 300).is_empty());
    }
}
