//! Golden tests: the seed walkthrough's real kubectl output reproduced byte for byte from equivalent inputs,
//! plus insta snapshots for the outputs the seed does not show. `now` and inputs are fixed.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus,
    NodeSystemInfo, Pod, PodSpec, PodTemplateSpec, ResourceRequirements, Service, ServicePort,
    ServiceSpec, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KQ;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::describe::{describe_daemon_set, describe_node, describe_pod, failed_scheduling_event};
use super::objects::{to_json, to_yaml};
use super::table::{daemon_sets, deployments, nodes, pods, replica_sets, services};
use super::{Rendered, Scope};
use crate::model::{ObservedContainer, ObservedPod, OwnerRef, labels};
use crate::view::{
    deployment_with_status, pending_pod, pod_from_observed, replica_set_with_status,
};

fn now() -> Timestamp {
    "2022-09-28T09:40:00Z".parse().unwrap()
}

fn to_time(t: Timestamp) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t)
}

fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).to_string()
}

fn seed(from: usize, to: usize) -> String {
    // The seed walkthrough (shared/seed/000_06c8dc6ca1d57cc1.txt), kept next to the tests.
    let text = include_str!("testdata/seed_walkthrough.txt");
    let mut out = String::new();
    for line in text.lines().skip(from - 1).take(to - from + 1) {
        out.push_str(&line.replace("&lt;", "<").replace("&gt;", ">"));
        out.push('\n');
    }
    out
}

fn table(r: Rendered) -> String {
    match r {
        Rendered::Table(t) => t,
        Rendered::Empty(m) => panic!("unexpected empty: {m}"),
    }
}

fn default_ns() -> Scope {
    Scope::Namespace("default".into())
}

fn container(name: &str, image: &str) -> Container {
    Container {
        name: name.into(),
        image: Some(image.into()),
        ports: Some(vec![ContainerPort {
            container_port: 80,
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// A pod as docker shows it: a sandbox plus one app container in `status`.
#[allow(clippy::too_many_arguments)]
fn observed(
    ns: &str,
    name: &str,
    node: &str,
    ip: &str,
    age_secs: i64,
    app_status: &str,
    restarts: u32,
    finished_secs_ago: Option<i64>,
    owner: Option<(&str, &str)>,
    labels_: &[(&str, &str)],
) -> ObservedPod {
    let lbl: BTreeMap<String, String> = labels_
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut spec = PodSpec {
        containers: vec![container("app", "nginx")],
        ..Default::default()
    };
    spec.containers[0].name = "app".into();
    let manifest = Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some(lbl),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    };
    let sandbox = ObservedContainer {
        id: format!("{name}-sandbox"),
        name: format!("k8s_POD_{name}"),
        image: "pause".into(),
        labels: BTreeMap::from([(labels::CONTAINER.to_string(), "POD".to_string())]),
        status: "running".into(),
        created_at: ago(age_secs),
        started_at: ago(age_secs),
        ip: Some(ip.into()).filter(|s: &String| !s.is_empty()),
        ..Default::default()
    };
    let app = ObservedContainer {
        id: format!("{name}-app"),
        name: format!("k8s_app_{name}"),
        image: "nginx".into(),
        status: app_status.into(),
        exit_code: if app_status == "running" { 0 } else { 1 },
        restart_count: restarts,
        created_at: ago(age_secs),
        started_at: ago(age_secs - 1),
        finished_at: finished_secs_ago.map(ago).unwrap_or_default(),
        ..Default::default()
    };
    ObservedPod {
        namespace: ns.into(),
        name: name.into(),
        node: node.into(),
        node_reachable: true,
        sandbox: Some(sandbox),
        containers: BTreeMap::from([("app".to_string(), app)]),
        owner: owner.map(|(k, n)| OwnerRef {
            kind: k.into(),
            name: n.into(),
        }),
        template_hash: None,
        manifest: Some(manifest),
    }
}

fn seed_deployment_pods(age_secs: i64) -> Vec<Pod> {
    [
        ("my-nginx-cf54cdbf7-5tnfx", "k8s-node1", "10.244.1.5"),
        ("my-nginx-cf54cdbf7-c8wbq", "k8s-node2", "10.244.2.6"),
        ("my-nginx-cf54cdbf7-rhqcv", "k8s-node3", "10.244.3.7"),
    ]
    .iter()
    .map(|(name, node, ip)| {
        pod_from_observed(&observed(
            "default",
            name,
            node,
            ip,
            age_secs,
            "running",
            0,
            None,
            Some(("ReplicaSet", "my-nginx-cf54cdbf7")),
            &[("run", "my-nginx"), ("pod-template-hash", "cf54cdbf7")],
        ))
    })
    .collect()
}

#[test]
fn seed_get_pod_wide_is_byte_identical() {
    let got = table(pods(&seed_deployment_pods(24), &default_ns(), true, now()));
    assert_eq!(got, seed(189, 192));
}

#[test]
fn seed_bare_pod_wide_is_byte_identical() {
    let p = pod_from_observed(&observed(
        "default",
        "sc-nginx",
        "k8s-node2",
        "10.244.2.3",
        80,
        "running",
        0,
        None,
        None,
        &[],
    ));
    assert_eq!(
        table(pods(&[p], &default_ns(), true, now())),
        seed(274, 275)
    );
}

#[test]
fn seed_kube_system_crashloop_table_is_byte_identical() {
    let age = 2 * 86400 + 23 * 3600 + 5 * 60;
    let mut items = Vec::new();
    for name in ["coredns-6d8c4cb4d-92g7b", "coredns-6d8c4cb4d-kl4q5"] {
        items.push(pod_from_observed(&observed(
            "kube-system",
            name,
            "k8s-master",
            "10.244.0.2",
            age,
            "restarting",
            32,
            Some(224),
            None,
            &[],
        )));
    }
    for name in [
        "etcd-k8s-master",
        "kube-apiserver-k8s-master",
        "kube-controller-manager-k8s-master",
        "kube-proxy-422b5",
        "kube-proxy-6qpcz",
        "kube-proxy-ggnnt",
        "kube-proxy-vjcnc",
        "kube-scheduler-k8s-master",
    ] {
        items.push(pod_from_observed(&observed(
            "kube-system",
            name,
            "k8s-master",
            "192.168.44.210",
            age,
            "running",
            0,
            None,
            None,
            &[],
        )));
    }
    let got = table(pods(
        &items,
        &Scope::Namespace("kube-system".into()),
        false,
        now(),
    ));
    assert_eq!(got, seed(303, 313));
}

fn seed_deployment(created_secs: i64) -> Deployment {
    let sel = LabelSelector {
        match_labels: Some(BTreeMap::from([(
            "run".to_string(),
            "my-nginx".to_string(),
        )])),
        ..Default::default()
    };
    Deployment {
        metadata: ObjectMeta {
            name: Some("my-nginx".into()),
            namespace: Some("default".into()),
            creation_timestamp: Some(to_time(now() - SignedDuration::from_secs(created_secs))),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(3),
            selector: sel,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(BTreeMap::from([(
                        "run".to_string(),
                        "my-nginx".to_string(),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container("my-nginx", "nginx")],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

fn seed_rs() -> ReplicaSet {
    let d = seed_deployment(0);
    let dspec = d.spec.unwrap();
    let mut tmpl = dspec.template.clone();
    tmpl.metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert("pod-template-hash".into(), "cf54cdbf7".into());
    let mut sel = dspec.selector.clone();
    sel.match_labels
        .as_mut()
        .unwrap()
        .insert("pod-template-hash".into(), "cf54cdbf7".into());
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some("my-nginx-cf54cdbf7".into()),
            namespace: Some("default".into()),
            labels: Some(BTreeMap::from([
                ("run".to_string(), "my-nginx".to_string()),
                ("pod-template-hash".to_string(), "cf54cdbf7".to_string()),
            ])),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(3),
            selector: sel,
            template: Some(tmpl),
            ..Default::default()
        }),
        status: None,
    }
}

#[test]
fn seed_get_deploy_is_byte_identical() {
    let pods = seed_deployment_pods(12);
    let d = deployment_with_status(&seed_deployment(12), &[seed_rs()], &pods);
    assert_eq!(
        table(deployments(&[d], &default_ns(), false, now())),
        seed(186, 187)
    );
}

#[test]
fn replica_set_status_and_age_from_pods() {
    let pods = seed_deployment_pods(41);
    let rs = replica_set_with_status(&seed_rs(), &pods);
    insta::assert_snapshot!(table(replica_sets(&[rs], &default_ns(), true, now())), @r"
    NAME                 DESIRED   CURRENT   READY   AGE   CONTAINERS   IMAGES   SELECTOR
    my-nginx-cf54cdbf7   3         3         3       41s   my-nginx     nginx    pod-template-hash=cf54cdbf7,run=my-nginx
    ");
}

#[test]
fn deployment_counts_only_current_template_as_updated() {
    let mut pods = seed_deployment_pods(60);
    // One pod from an older template: counted, ready, but not up to date.
    pods[0]
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("pod-template-hash".into(), "old".into());
    let d = deployment_with_status(&seed_deployment(60), &[seed_rs()], &pods);
    let st = d.status.clone().unwrap();
    assert_eq!(st.replicas, Some(3));
    assert_eq!(st.updated_replicas, Some(2));
    assert_eq!(st.ready_replicas, Some(3));
    insta::assert_snapshot!(table(deployments(&[d], &Scope::AllNamespaces, true, now())), @r"
    NAMESPACE   NAME       READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES   SELECTOR
    default     my-nginx   3/3     2            3           60s   my-nginx     nginx    run=my-nginx
    ");
}

#[test]
fn empty_lists_say_no_resources_found() {
    assert_eq!(
        pods(&[], &default_ns(), false, now()),
        Rendered::Empty("No resources found in default namespace.".into())
    );
    assert_eq!(
        deployments(&[], &Scope::AllNamespaces, false, now()),
        Rendered::Empty("No resources found".into())
    );
    assert_eq!(
        nodes(&[], false, now()),
        Rendered::Empty("No resources found".into())
    );
    // Seed line 142 / 144.
    assert_eq!(
        format!("{}\n", pods(&[], &default_ns(), false, now()).text()),
        seed(144, 144)
    );
}

#[test]
fn pod_status_strings() {
    let status = |st: &str, restarts: u32, fin: Option<i64>| {
        let p = pod_from_observed(&observed(
            "default",
            "p",
            "n1",
            "10.244.1.9",
            600,
            st,
            restarts,
            fin,
            None,
            &[],
        ));
        let c = crate::view::pod_cells(&p, now());
        (c.ready, c.status, c.restarts)
    };
    assert_eq!(
        status("running", 0, None),
        ("1/1".into(), "Running".into(), "0".into())
    );
    assert_eq!(
        status("created", 0, None),
        ("0/1".into(), "ContainerCreating".into(), "0".into())
    );
    assert_eq!(
        status("restarting", 3, Some(10)),
        (
            "0/1".into(),
            "CrashLoopBackOff".into(),
            "3 (10s ago)".into()
        )
    );
    // Always + exited after restarts: kubelet is backing off.
    assert_eq!(
        status("exited", 2, Some(30)),
        (
            "0/1".into(),
            "CrashLoopBackOff".into(),
            "2 (30s ago)".into()
        )
    );
    // Exited and never restarted: the termination reason shows.
    assert_eq!(
        status("exited", 0, Some(30)),
        ("0/1".into(), "Error".into(), "0".into())
    );

    // restartPolicy Never: Completed / Error and the terminal phase.
    let mut o = observed(
        "default",
        "job",
        "n1",
        "",
        600,
        "exited",
        0,
        Some(5),
        None,
        &[],
    );
    o.manifest
        .as_mut()
        .unwrap()
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("Never".into());
    o.containers.get_mut("app").unwrap().exit_code = 0;
    let p = pod_from_observed(&o);
    assert_eq!(
        p.status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    assert_eq!(crate::view::pod_cells(&p, now()).status, "Completed");
    o.containers.get_mut("app").unwrap().exit_code = 2;
    let p = pod_from_observed(&o);
    assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Failed"));
    assert_eq!(crate::view::pod_cells(&p, now()).status, "Error");

    // Node unreachable: phase Unknown, nothing ready.
    let mut o = observed(
        "default",
        "u",
        "n1",
        "10.244.1.2",
        600,
        "running",
        0,
        None,
        None,
        &[],
    );
    o.node_reachable = false;
    let p = pod_from_observed(&o);
    let c = crate::view::pod_cells(&p, now());
    assert_eq!((c.ready.as_str(), c.status.as_str()), ("0/1", "Unknown"));

    // Deleted with NodeLost → Unknown; deleted otherwise → Terminating.
    let mut p = pod_from_observed(&observed(
        "default",
        "t",
        "n1",
        "10.244.1.2",
        600,
        "running",
        0,
        None,
        None,
        &[],
    ));
    p.metadata.deletion_timestamp = Some(to_time(now()));
    assert_eq!(crate::view::pod_cells(&p, now()).status, "Terminating");
    p.status.as_mut().unwrap().reason = Some("NodeLost".into());
    assert_eq!(crate::view::pod_cells(&p, now()).status, "Unknown");
}

fn with_resources(mut c: Container, req: &[(&str, &str)], lim: &[(&str, &str)]) -> Container {
    let m = |v: &[(&str, &str)]| {
        (!v.is_empty()).then(|| {
            v.iter()
                .map(|(k, q)| (k.to_string(), KQ(q.to_string())))
                .collect::<BTreeMap<_, _>>()
        })
    };
    c.resources = Some(ResourceRequirements {
        requests: m(req),
        limits: m(lim),
        ..Default::default()
    });
    c
}

fn pod_with(containers: Vec<Container>) -> Pod {
    Pod {
        spec: Some(PodSpec {
            containers,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn qos_classes() {
    use crate::view::qos_class;
    let c = || container("a", "nginx");
    assert_eq!(qos_class(&pod_with(vec![c()])), "BestEffort");
    assert_eq!(
        qos_class(&pod_with(vec![with_resources(
            c(),
            &[("cpu", "100m")],
            &[]
        )])),
        "Burstable"
    );
    // Limits only: requests default to limits → Guaranteed.
    assert_eq!(
        qos_class(&pod_with(vec![with_resources(
            c(),
            &[],
            &[("cpu", "1"), ("memory", "1Gi")]
        )])),
        "Guaranteed"
    );
    assert_eq!(
        qos_class(&pod_with(vec![with_resources(
            c(),
            &[("cpu", "500m"), ("memory", "1Gi")],
            &[("cpu", "1"), ("memory", "1Gi")]
        )])),
        "Burstable"
    );
    // 0.5 and 500m are the same quantity.
    assert_eq!(
        qos_class(&pod_with(vec![with_resources(
            c(),
            &[("cpu", "0.5"), ("memory", "1024Mi")],
            &[("cpu", "500m"), ("memory", "1Gi")]
        )])),
        "Guaranteed"
    );
    // One container without memory limit breaks Guaranteed.
    assert_eq!(
        qos_class(&pod_with(vec![
            with_resources(c(), &[], &[("cpu", "1"), ("memory", "1Gi")]),
            with_resources(c(), &[], &[("cpu", "1")]),
        ])),
        "Burstable"
    );
}

fn kq(pairs: &[(&str, &str)]) -> BTreeMap<String, KQ> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), KQ(v.to_string())))
        .collect()
}

fn t(s: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    to_time(s.parse().unwrap())
}

fn seed_master_node() -> Node {
    let cond = |ty: &str, st: &str, hb: &str, tr: &str, reason: &str, msg: &str| NodeCondition {
        type_: ty.into(),
        status: st.into(),
        last_heartbeat_time: Some(t(hb)),
        last_transition_time: Some(t(tr)),
        reason: Some(reason.into()),
        message: Some(msg.into()),
    };
    let labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", "k8s-master"),
        ("kubernetes.io/os", "linux"),
        ("node-role.kubernetes.io/control-plane", ""),
        ("node-role.kubernetes.io/master", ""),
        (
            "node.kubernetes.io/exclude-from-external-load-balancers",
            "",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let annotations: BTreeMap<String, String> = [
        (
            "flannel.alpha.coreos.com/backend-data",
            r#"{"VNI":1,"VtepMAC":"fe:ca:d8:cc:01:2e"}"#,
        ),
        ("flannel.alpha.coreos.com/backend-type", "vxlan"),
        ("flannel.alpha.coreos.com/kube-subnet-manager", "true"),
        ("flannel.alpha.coreos.com/public-ip", "192.168.44.210"),
        (
            "kubeadm.alpha.kubernetes.io/cri-socket",
            "/var/run/dockershim.sock",
        ),
        ("node.alpha.kubernetes.io/ttl", "0"),
        (
            "volumes.kubernetes.io/controller-managed-attach-detach",
            "true",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // The seed's wall-clock times (+0800) written as UTC: the layout is what is compared.
    Node {
        metadata: ObjectMeta {
            name: Some("k8s-master".into()),
            labels: Some(labels),
            annotations: Some(annotations),
            creation_timestamp: Some(t("2022-09-25T18:20:27Z")),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some("10.244.0.0/24".into()),
            pod_cidrs: Some(vec!["10.244.0.0/24".into()]),
            taints: Some(vec![Taint {
                key: "node-role.kubernetes.io/master".into(),
                effect: "NoSchedule".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: Some(NodeStatus {
            conditions: Some(vec![
                cond(
                    "NetworkUnavailable",
                    "False",
                    "2022-09-25T18:33:20Z",
                    "2022-09-25T18:33:20Z",
                    "FlannelIsUp",
                    "Flannel is running on this node",
                ),
                cond(
                    "MemoryPressure",
                    "False",
                    "2022-09-28T17:33:08Z",
                    "2022-09-25T18:20:26Z",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "2022-09-28T17:33:08Z",
                    "2022-09-25T18:20:26Z",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "2022-09-28T17:33:08Z",
                    "2022-09-25T18:20:26Z",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond(
                    "Ready",
                    "True",
                    "2022-09-28T17:33:08Z",
                    "2022-09-25T18:33:28Z",
                    "KubeletReady",
                    "kubelet is posting ready status",
                ),
            ]),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: "192.168.44.210".into(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: "k8s-master".into(),
                },
            ]),
            capacity: Some(kq(&[
                ("cpu", "4"),
                ("ephemeral-storage", "17394Mi"),
                ("hugepages-1Gi", "0"),
                ("hugepages-2Mi", "0"),
                ("memory", "1863028Ki"),
                ("pods", "110"),
            ])),
            allocatable: Some(kq(&[
                ("cpu", "4"),
                ("ephemeral-storage", "16415037823"),
                ("hugepages-1Gi", "0"),
                ("hugepages-2Mi", "0"),
                ("memory", "1760628Ki"),
                ("pods", "110"),
            ])),
            node_info: Some(NodeSystemInfo {
                machine_id: "6d6ca2c7ec0f478097733b00d2892ca0".into(),
                system_uuid: "0A004D56-3924-4215-F717-9E4DAD9C840B".into(),
                boot_id: "dd78d95d-a6e7-460e-892b-8d4cf8191823".into(),
                kernel_version: "3.10.0-1160.el7.x86_64".into(),
                os_image: "CentOS Linux 7 (Core)".into(),
                operating_system: "linux".into(),
                architecture: "amd64".into(),
                container_runtime_version: "docker://20.10.18".into(),
                kubelet_version: "v1.23.6".into(),
                kube_proxy_version: "v1.23.6".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn seed_master_pods() -> Vec<Pod> {
    let created = now() - SignedDuration::from_secs(2 * 86400 + 23 * 3600 + 10 * 60);
    let mk = |ns: &str, name: &str, req: &[(&str, &str)], lim: &[(&str, &str)]| {
        let mut p = pod_with(vec![with_resources(container("c", "img"), req, lim)]);
        p.metadata.name = Some(name.into());
        p.metadata.namespace = Some(ns.into());
        p.metadata.creation_timestamp = Some(to_time(created));
        p
    };
    vec![
        mk(
            "kube-system",
            "kube-scheduler-k8s-master",
            &[("cpu", "100m")],
            &[],
        ),
        mk(
            "kube-flannel",
            "kube-flannel-ds-rphnc",
            &[("cpu", "100m"), ("memory", "50Mi")],
            &[("cpu", "100m"), ("memory", "50Mi")],
        ),
        mk(
            "kube-system",
            "etcd-k8s-master",
            &[("cpu", "100m"), ("memory", "100Mi")],
            &[],
        ),
        mk(
            "kube-system",
            "kube-apiserver-k8s-master",
            &[("cpu", "250m")],
            &[],
        ),
        mk(
            "kube-system",
            "kube-controller-manager-k8s-master",
            &[("cpu", "200m")],
            &[],
        ),
        mk("kube-system", "kube-proxy-ggnnt", &[], &[]),
    ]
}

#[test]
fn seed_describe_node_is_byte_identical_modulo_timezone_and_lease() {
    let got = describe_node(&seed_master_node(), &seed_master_pods(), now());
    // Differences by design: times print in UTC, and there is no kubelet Lease to report.
    let want = seed(351, 431)
        .replace("+0800", "+0000")
        .replace(
            "  HolderIdentity:  k8s-master",
            "  HolderIdentity:  <unset>",
        )
        .replace(
            "  RenewTime:       Wed, 28 Sep 2022 17:36:36 +0000",
            "  RenewTime:       <unset>",
        );
    assert_eq!(got, want);
}

#[test]
fn seed_get_nodes() {
    let mut worker = seed_master_node();
    worker.metadata.name = Some("k8s-node1".into());
    worker.metadata.labels = Some(BTreeMap::new());
    worker.spec.as_mut().unwrap().unschedulable = Some(true);
    let mut unreachable = seed_master_node();
    unreachable.metadata.name = Some("k8s-node2".into());
    unreachable.metadata.labels = None;
    for c in unreachable
        .status
        .as_mut()
        .unwrap()
        .conditions
        .as_mut()
        .unwrap()
    {
        if c.type_ == "Ready" {
            c.status = "Unknown".into();
        }
    }
    let items = [seed_master_node(), worker, unreachable];
    insta::assert_snapshot!(table(nodes(&items, true, now())), @r"
    NAME         STATUS                     ROLES                  AGE     VERSION   INTERNAL-IP      EXTERNAL-IP   OS-IMAGE                KERNEL-VERSION           CONTAINER-RUNTIME
    k8s-master   Ready                      control-plane,master   2d15h   v1.23.6   192.168.44.210   <none>        CentOS Linux 7 (Core)   3.10.0-1160.el7.x86_64   docker://20.10.18
    k8s-node1    Ready,SchedulingDisabled   <none>                 2d15h   v1.23.6   192.168.44.210   <none>        CentOS Linux 7 (Core)   3.10.0-1160.el7.x86_64   docker://20.10.18
    k8s-node2    NotReady                   <none>                 2d15h   v1.23.6   192.168.44.210   <none>        CentOS Linux 7 (Core)   3.10.0-1160.el7.x86_64   docker://20.10.18
    ");
}

#[test]
fn seed_get_service() {
    let svc =
        |name: &str, ty: &str, ip: &str, port: i32, node_port: Option<i32>, age: i64| Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                creation_timestamp: Some(to_time(now() - SignedDuration::from_secs(age))),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some(ty.into()),
                cluster_ip: Some(ip.into()),
                cluster_ips: Some(vec![ip.into()]),
                ports: Some(vec![ServicePort {
                    port,
                    node_port,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        };
    let items = [
        svc("my-nginx", "NodePort", "10.1.20.144", 8080, Some(32697), 5),
        svc(
            "kubernetes",
            "ClusterIP",
            "10.1.0.1",
            443,
            None,
            24 * 3600 + 60,
        ),
    ];
    assert_eq!(
        table(services(&items, &default_ns(), false, now())),
        seed(226, 228)
    );
}

#[test]
fn describe_running_pod_snapshot() {
    let mut p = seed_deployment_pods(300).remove(0);
    p.status.as_mut().unwrap().host_ip = Some("172.30.0.11".into());
    insta::assert_snapshot!(describe_pod(&p, &[], now()));
}

#[test]
fn describe_pending_pod_snapshot() {
    let mut template = seed_deployment_pods(5).remove(0);
    template.status = None;
    template.spec.as_mut().unwrap().node_name = None;
    template.spec.as_mut().unwrap().containers[0] = with_resources(
        container("my-nginx", "nginx"),
        &[("cpu", "8"), ("memory", "64Mi")],
        &[],
    );
    let msg = "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 3 Insufficient cpu. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.";
    let p = pending_pod(&template, "my-nginx-cf54cdbf7-zzzzz", msg);
    let cells = crate::view::pod_cells(&p, now());
    assert_eq!(
        (cells.ready.as_str(), cells.status.as_str()),
        ("0/1", "Pending")
    );
    insta::assert_snapshot!(describe_pod(&p, &[failed_scheduling_event(msg)], now()));
    insta::assert_snapshot!(table(pods(&[p], &default_ns(), true, now())), @r"
    NAME                       READY   STATUS    RESTARTS   AGE   IP       NODE     NOMINATED NODE   READINESS GATES
    my-nginx-cf54cdbf7-zzzzz   0/1     Pending   0          5s    <none>   <none>   <none>           <none>
    ");
}

#[test]
fn describe_crashloop_pod_snapshot() {
    let p = pod_from_observed(&observed(
        "default",
        "crasher",
        "k8s-node1",
        "10.244.1.7",
        900,
        "restarting",
        4,
        Some(40),
        None,
        &[("app", "crasher")],
    ));
    insta::assert_snapshot!(describe_pod(&p, &[], now()));
}

#[test]
fn json_and_yaml_like_kubectl() {
    let pods = seed_deployment_pods(24);
    let one = to_json(&pods[..1], true).unwrap();
    assert!(
        one.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Pod\",\n"),
        "{one}"
    );
    assert!(one.ends_with("}\n"));
    let list = to_json(&pods, false).unwrap();
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["metadata"]["resourceVersion"], "");
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    assert_eq!(v["items"][2]["status"]["podIP"], "10.244.3.7");
    // Go's encoder escapes HTML characters.
    let mut p = pods[0].clone();
    p.metadata.annotations = Some(BTreeMap::from([("a".to_string(), "<x&y>".to_string())]));
    assert!(
        to_json(&[p], true)
            .unwrap()
            .contains(r#""a": "\u003cx\u0026y\u003e""#)
    );
    insta::assert_snapshot!(to_yaml(&pods[..1], true).unwrap());
}

fn agent_daemon_set() -> k8s_openapi::api::apps::v1::DaemonSet {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default", "labels": {"app": "agent"}},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux", "disk": "ssd"},
                    "containers": [{"name": "agent", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}],
                    "tolerations": [{"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}]
                }
            }
        }
    }))
    .unwrap()
}

/// Pods of `agent` on node1 (current revision), node2 (old revision) and the master (should not run).
fn agent_pods() -> Vec<Pod> {
    [
        ("agent-m9hk9", "k8s-node1", "abc"),
        ("agent-q2ptt", "k8s-node2", "old"),
        ("agent-x7k2d", "k8s-master", "abc"),
    ]
    .iter()
    .map(|(name, node, rev)| {
        let lbl = [
            ("app", "agent"),
            (crate::controllers::daemon::REVISION_LABEL, *rev),
        ];
        pod_from_observed(&observed(
            "default",
            name,
            node,
            "10.244.1.2",
            120,
            "running",
            0,
            None,
            Some(("DaemonSet", "agent")),
            &lbl,
        ))
    })
    .collect()
}

#[test]
fn daemon_set_status_counts_nodes_as_the_controller_does() {
    let should_run = ["k8s-node1", "k8s-node2", "k8s-node3"].map(String::from);
    let ds =
        crate::view::daemon_set_with_status(&agent_daemon_set(), &should_run, "abc", &agent_pods());
    let st = ds.status.clone().unwrap();
    assert_eq!(st.desired_number_scheduled, 3);
    assert_eq!(st.current_number_scheduled, 2, "node3 has no pod yet");
    assert_eq!(
        st.updated_number_scheduled,
        Some(1),
        "node2 runs the old revision"
    );
    assert_eq!(st.number_misscheduled, 1, "the master's pod");
    insta::assert_snapshot!(
        "get_ds",
        table(daemon_sets(
            std::slice::from_ref(&ds),
            &default_ns(),
            false,
            now()
        ))
    );
    insta::assert_snapshot!(
        "get_ds_wide_all_namespaces",
        table(daemon_sets(
            std::slice::from_ref(&ds),
            &Scope::AllNamespaces,
            true,
            now()
        ))
    );
    insta::assert_snapshot!("describe_ds", describe_daemon_set(&ds, &agent_pods()));
}
