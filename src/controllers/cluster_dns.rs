//! The cluster DNS as desired state (docs/dns.md), modelled on the node supervisor: one bare pod
//! `kube-system/clusterctl-dns-<host>` per inventory host (pinned, tolerating every taint) running
//! `cluster.dnsImage`, and the Service `kube-system/kube-dns` with the cluster DNS address as its ClusterIP
//! (53/UDP `dns`, 53/TCP `dns-tcp`) selecting them, so kube-proxy's rules balance pods' queries over the
//! hosts' servers. The server reads the records the planner writes into its records directory
//! (`plan::dns`) and the host's `/etc/hosts` and `/etc/resolv.conf` for upstream names. Pure.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, HostPathVolumeSource, Pod, PodSpec, Service, ServicePort,
    ServiceSpec, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::PodSet;

/// Namespace of the DNS pods and of their Service (as kubeadm's CoreDNS).
pub const NAMESPACE: &str = "kube-system";
/// Namespace and name of the Service pods reach the DNS through.
pub const SERVICE_NAMESPACE: &str = NAMESPACE;
pub const SERVICE_NAME: &str = "kube-dns";
/// The label the Service selects (CoreDNS' in kubeadm clusters).
pub const APP_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
/// Where the server reads the records file (the host directory `records_dir` is mounted there).
pub const RECORDS_MOUNT: &str = "/etc/clusterctl-dns";
/// The volume (and records file) name.
pub const RECORDS_VOLUME: &str = "records";

/// `clusterctl-dns-<node>`
pub fn pod_name(node: &str) -> String {
    format!("clusterctl-dns-{node}")
}

/// The host directory holding the records of `node`'s DNS pod: its volume directory in the layout of
/// `runtime::config` (`..data` swapped atomically), so the write is the configMap volumes' one.
pub fn records_dir(node: &str) -> String {
    format!(
        "/run/clusterctl/pods/{NAMESPACE}_{}/volumes/{RECORDS_VOLUME}",
        pod_name(node)
    )
}

/// The DNS pod of `node`.
pub fn pod(image: &str, node: &str) -> Pod {
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: Some(true),
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
    let port = |name: &str, proto: &str| ContainerPort {
        name: Some(name.to_string()),
        container_port: 53,
        protocol: Some(proto.to_string()),
        ..Default::default()
    };
    let mut spec = PodSpec {
        node_name: Some(node.to_string()),
        restart_policy: Some("Always".to_string()),
        termination_grace_period_seconds: Some(2),
        // The server resolves upstream names itself from the host's files; its own lookups use the host's.
        dns_policy: Some("Default".to_string()),
        enable_service_links: Some(false),
        tolerations: Some(vec![Toleration {
            operator: Some("Exists".to_string()),
            ..Default::default()
        }]),
        containers: vec![Container {
            name: "dns".to_string(),
            image: Some(image.to_string()),
            ports: Some(vec![port("dns", "UDP"), port("dns-tcp", "TCP")]),
            volume_mounts: Some(vec![
                mount(RECORDS_VOLUME, RECORDS_MOUNT),
                mount("host-hosts", "/etc/host/hosts"),
                mount("host-resolv", "/etc/host/resolv.conf"),
            ]),
            ..Default::default()
        }],
        volumes: Some(vec![
            host_path(RECORDS_VOLUME, &records_dir(node), "DirectoryOrCreate"),
            host_path("host-hosts", "/etc/hosts", "File"),
            host_path("host-resolv", "/etc/resolv.conf", "File"),
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
                    "clusterctl-dns".to_string(),
                ),
                (APP_LABEL.0.to_string(), APP_LABEL.1.to_string()),
            ])),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// One DNS pod set per node; none when `image` is empty (no cluster DNS).
pub fn pod_sets(image: &str, nodes: &[String]) -> Vec<PodSet> {
    super::per_node_pod_sets(image, nodes, pod)
}

/// The `kube-system/kube-dns` Service at `ip`, selecting the DNS pods.
pub fn service(ip: Ipv4Addr) -> Service {
    let port = |name: &str, proto: &str| ServicePort {
        name: Some(name.to_string()),
        port: 53,
        protocol: Some(proto.to_string()),
        target_port: Some(IntOrString::Int(53)),
        ..Default::default()
    };
    Service {
        metadata: ObjectMeta {
            name: Some(SERVICE_NAME.to_string()),
            namespace: Some(SERVICE_NAMESPACE.to_string()),
            labels: Some(BTreeMap::from([(
                APP_LABEL.0.to_string(),
                APP_LABEL.1.to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            cluster_ip: Some(ip.to_string()),
            cluster_ips: Some(vec![ip.to_string()]),
            selector: Some(BTreeMap::from([(
                APP_LABEL.0.to_string(),
                APP_LABEL.1.to_string(),
            )])),
            ports: Some(vec![port("dns", "UDP"), port("dns-tcp", "TCP")]),
            session_affinity: Some("None".to_string()),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dns_pod_per_node_and_none_when_turned_off() {
        let sets = pod_sets("clusterctl/dns:1", &["a".into(), "b".into()]);
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[1].pod_name(0), "clusterctl-dns-b");
        let spec = sets[1].template.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("b"));
        assert_eq!(spec.dns_policy.as_deref(), Some("Default"));
        assert!(pod_sets("", &["a".into()]).is_empty());
        let svc = service("10.96.0.10".parse().unwrap());
        assert_eq!(svc.spec.unwrap().cluster_ip.as_deref(), Some("10.96.0.10"));
    }
}
