use std::collections::BTreeSet;

use super::*;
use serde_json::json;

/// The template as the API server stores it after defaulting (`kubectl get deploy -o yaml` shape).
fn defaulted_deployment(
    name: &str,
    label: (&str, &str),
    container: serde_json::Value,
) -> Deployment {
    let mut c = container;
    let obj = c.as_object_mut().unwrap();
    obj.insert("imagePullPolicy".into(), json!("Always"));
    obj.insert("resources".into(), json!({}));
    obj.insert(
        "terminationMessagePath".into(),
        json!("/dev/termination-log"),
    );
    obj.insert("terminationMessagePolicy".into(), json!("File"));
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {label.0: label.1}},
            "template": {
                "metadata": {"labels": {label.0: label.1}},
                "spec": {
                    "containers": [c],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30
                }
            }
        }
    }))
    .unwrap()
}

fn k8s_nginx() -> Deployment {
    defaulted_deployment(
        "k8s-nginx",
        ("app", "k8s-nginx"),
        json!({"name": "nginx", "image": "nginx"}),
    )
}

fn my_nginx() -> Deployment {
    defaulted_deployment(
        "my-nginx",
        ("run", "my-nginx"),
        json!({"name": "my-nginx", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}]}),
    )
}

fn manifest(object: Object) -> Manifest {
    Manifest {
        object,
        source: SourceRef {
            file: "apps/x.yaml".into(),
            line: 1,
            column: 1,
        },
    }
}

#[test]
fn seed_pod_template_hashes_match_kubernetes() {
    // `kubectl create deployment k8s-nginx --image=nginx -r 3` → ReplicaSet k8s-nginx-6d779d947c (seed).
    assert_eq!(
        pod_template_hash(&k8s_nginx().spec.unwrap().template, None),
        "6d779d947c"
    );
    // The seed's my_nginx.yaml → ReplicaSet my-nginx-cf54cdbf7.
    assert_eq!(
        pod_template_hash(&my_nginx().spec.unwrap().template, None),
        "cf54cdbf7"
    );
}

#[test]
fn hash_is_sensitive_to_template_changes() {
    let base = k8s_nginx().spec.unwrap().template;
    let mut changed = base.clone();
    changed.spec.as_mut().unwrap().containers[0].image = Some("nginx:1.25".into());
    assert_ne!(
        pod_template_hash(&base, None),
        pod_template_hash(&changed, None)
    );
    assert_eq!(
        pod_template_hash(&base, None),
        pod_template_hash(&base.clone(), None)
    );
}

#[test]
fn deployment_expands_to_replica_set_and_pod_set() {
    let e = expand(&[manifest(Object::Deployment(Box::new(k8s_nginx())))]);
    assert_eq!(e.deployments.len(), 1);
    let rs = &e.replica_sets[0];
    assert_eq!(rs.metadata.name.as_deref(), Some("k8s-nginx-6d779d947c"));
    let labels = rs.metadata.labels.as_ref().unwrap();
    assert_eq!(
        labels.get("pod-template-hash").map(String::as_str),
        Some("6d779d947c")
    );
    assert_eq!(labels.get("app").map(String::as_str), Some("k8s-nginx"));
    let spec = rs.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    let sel = spec.selector.match_labels.as_ref().unwrap();
    assert_eq!(
        sel.get("pod-template-hash").map(String::as_str),
        Some("6d779d947c")
    );
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Deployment", "k8s-nginx", Some(true))
    );
    let ann = rs.metadata.annotations.as_ref().unwrap();
    // 3 replicas, maxSurge 25% rounded up = 1.
    assert_eq!(ann["deployment.kubernetes.io/max-replicas"], "4");
    assert_eq!(ann["deployment.kubernetes.io/desired-replicas"], "3");

    let ps = &e.pod_sets[0];
    assert_eq!(ps.replicas, 3);
    assert_eq!(ps.deployment.as_deref(), Some("k8s-nginx"));
    assert_eq!(
        ps.owner,
        Some(OwnerRef {
            kind: "ReplicaSet".into(),
            name: "k8s-nginx-6d779d947c".into()
        })
    );
    assert_eq!(ps.template_hash, "6d779d947c");
    assert_eq!(
        ps.naming,
        PodNaming::Generated {
            prefix: "k8s-nginx-6d779d947c-".into()
        }
    );
    let tl = ps.template.metadata.labels.as_ref().unwrap();
    assert_eq!(
        tl.get("pod-template-hash").map(String::as_str),
        Some("6d779d947c")
    );
    assert_eq!(
        ps.template.metadata.owner_references.as_ref().unwrap()[0].kind,
        "ReplicaSet"
    );
    let name = ps.pod_name(0);
    assert!(
        name.starts_with("k8s-nginx-6d779d947c-")
            && name.len() == "k8s-nginx-6d779d947c-".len() + 5
    );
}

#[test]
fn bare_pod_keeps_its_name_and_output_is_sorted() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "sc-nginx"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2"}]}
    }))
    .unwrap();
    let e = expand(&[
        manifest(Object::Deployment(Box::new(my_nginx()))),
        manifest(Object::Pod(Box::new(pod))),
        manifest(Object::Deployment(Box::new(k8s_nginx()))),
    ]);
    let keys: Vec<_> = e
        .pod_sets
        .iter()
        .map(|p| p.pod_name(0).chars().take(9).collect::<String>())
        .collect();
    assert_eq!(keys, ["k8s-nginx", "my-nginx-", "sc-nginx"]);
    let bare = &e.pod_sets[2];
    assert_eq!(bare.naming, PodNaming::Fixed("sc-nginx".into()));
    assert_eq!(bare.namespace, "default");
    assert!(bare.owner.is_none());
    assert!(
        bare.template_hash
            .bytes()
            .all(|c| b"456789bcdf".contains(&c))
    );
}

#[test]
fn pod_names_are_unique_deterministic_and_safe() {
    let mut seen = BTreeSet::new();
    for i in 0..20_000 {
        let n = pod_name("web-5d8f7c9b6-", i);
        assert_eq!(n, pod_name("web-5d8f7c9b6-", i));
        let suffix = &n["web-5d8f7c9b6-".len()..];
        assert!(suffix.bytes().all(|c| gohash::SAFE_ALPHABET.contains(&c)));
        assert!(seen.insert(n));
    }
    assert_ne!(pod_name("a-", 0), pod_name("b-", 0));
    // Long bases are cut to 58 characters: 63 in total.
    assert_eq!(pod_name(&"x".repeat(80), 1).len(), 63);
}

#[test]
fn container_spec_hash_tracks_container_and_pod_level_fields() {
    let d = k8s_nginx();
    let spec = d.spec.unwrap().template.spec.unwrap();
    let c = spec.containers[0].clone();
    let h = container_spec_hash(&spec, &c);
    assert_eq!(h.len(), 16);
    assert_eq!(h, container_spec_hash(&spec.clone(), &c.clone()));
    let mut c2 = c.clone();
    c2.image = Some("nginx:1.25".into());
    assert_ne!(h, container_spec_hash(&spec, &c2));
    let mut spec2 = spec.clone();
    spec2.host_network = Some(true);
    assert_ne!(h, container_spec_hash(&spec2, &c));
    // Scheduling-only fields do not restart containers.
    let mut spec3 = spec.clone();
    spec3.node_selector = Some([("disk".to_string(), "ssd".to_string())].into());
    assert_eq!(h, container_spec_hash(&spec3, &c));
}
