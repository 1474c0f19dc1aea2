use super::*;
use k8s_openapi::api::core::v1::Pod;

fn pod(yaml: &str) -> Pod {
    let parsed = crate::manifest::parse(&[crate::manifest::RawFile {
        path: "p.yaml".into(),
        bytes: yaml.as_bytes().to_vec(),
    }]);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    match &parsed.manifests[0].object {
        crate::manifest::Object::Pod(p) => (**p).clone(),
        _ => panic!(),
    }
}

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: app
    image: busybox
    env: [{name: SUB, value: "x,y"}]
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: mem, mountPath: /mem}
    - {name: host, mountPath: /host, readOnly: true, mountPropagation: HostToContainer}
    - {name: data, mountPath: "/data,source=/etc", subPathExpr: "$(SUB)/d"}
  volumes:
  - {name: cache, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
  - {name: host, hostPath: {path: /srv, type: Directory}}
  - {name: data, persistentVolumeClaim: {claimName: db}}
"#;

#[test]
fn mounts_of_each_source_with_quoted_fields() {
    let p = pod(POD);
    let spec = p.spec.as_ref().unwrap();
    let m = container_mounts(spec, &spec.containers[0], "default", "p");
    let dir = claim_dir("default", "db");
    assert_eq!(
        m,
        [
            "--mount=type=bind,source=/var/lib/clusterctl/pods/default_p/volumes/kubernetes.io~empty-dir/cache,target=/cache".to_string(),
            "--mount=type=volume,source=k8s_mem_p_default,target=/mem".to_string(),
            "--mount=type=bind,source=/srv,target=/host,readonly,bind-propagation=rslave".to_string(),
            // A comma in a path is quoted: it can never add a mount option.
            format!("--mount=type=bind,\"source={dir}/x,y/d\",\"target=/data,source=/etc\""),
        ]
    );
    // The Engine API form reads the same mounts back.
    let api = crate::runtime::docker::api_create(&[
        "create".into(),
        "--name=x".into(),
        m[3].clone(),
        "--".into(),
        "busybox".into(),
    ])
    .unwrap();
    assert!(api.contains(r#""Target":"/data,source=/etc""#), "{api}");
    assert_eq!(
        sandbox_mounts(spec, "default", "p"),
        ["--mount=type=volume,source=k8s_mem_p_default,target=/.clusterctl/volumes/mem"]
    );
}

#[test]
fn setup_checks_host_paths_makes_empty_dirs_and_sub_paths() {
    let p = pod(POD);
    let spec = p.spec.as_ref().unwrap();
    let steps: Vec<String> = pod_setup(spec, "default", "p")
        .iter()
        .map(|c| {
            c.args
                .iter()
                .filter(|a| {
                    !a.contains('\n')
                        && !a.starts_with("rm ")
                        && !a.starts_with("[ ")
                        && !a.starts_with("mkdir")
                })
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        steps[0],
        "-c clusterctl-emptydir /var/lib/clusterctl/pods/default_p/volumes/kubernetes.io~empty-dir/cache"
    );
    assert_eq!(steps[1], "volume rm -f -- k8s_mem_p_default");
    assert!(steps[2].starts_with("volume create --driver=local --opt=type=tmpfs --opt=device=tmpfs --opt=o=size=67108864 --label=clusterctl.io/managed=true"), "{}", steps[2]);
    assert_eq!(steps[3], "-c clusterctl-hostpath host /srv Directory");
    assert!(steps[4].ends_with("/x,y/d"), "{}", steps[4]);
    let down: Vec<String> = pod_teardown(spec, "default", "p")
        .iter()
        .map(|c| format!("{} {}", c.program, c.args.join(" ")))
        .collect();
    assert_eq!(
        down,
        [
            "docker volume rm -f -- k8s_mem_p_default",
            "rm -rf -- /var/lib/clusterctl/pods/default_p"
        ]
    );
}

#[test]
fn claim_volumes_are_named_from_the_claim_and_labelled() {
    assert_eq!(pv_name("default", "db"), pv_name("default", "db"));
    assert_ne!(pv_name("default", "db"), pv_name("other", "db"));
    assert!(pv_name("default", "db").starts_with("pvc-"));
    assert_eq!(pv_name("default", "db").len(), 40);
    let v = ClaimVolume {
        namespace: "default".into(),
        claim: "db".into(),
        node: "n1".into(),
        capacity: "1Gi".into(),
        access_modes: vec!["ReadWriteOnce".into()],
        reclaim_policy: "Delete".into(),
        storage_class: "local-path".into(),
        stateful_set: None,
    };
    let steps = provision(&v);
    assert_eq!(steps[0].args[3], claim_dir("default", "db"));
    let create = &steps[1].args;
    assert!(create.contains(&"--label=clusterctl.io/node=n1".to_string()));
    assert!(create.contains(&"--label=clusterctl.io/claim-name=db".to_string()));
    assert!(create.contains(&format!("--opt=device={}", claim_dir("default", "db"))));
    assert_eq!(create.last(), Some(&v.pv()));
}

#[test]
fn sub_path_expr_expands_plain_env() {
    let p = pod(POD);
    let c = &p.spec.as_ref().unwrap().containers[0];
    assert_eq!(expand_sub_path("$(SUB)/$(NOPE)/$$x", c), "x,y/$(NOPE)/$x");
}

#[test]
fn a_relative_mount_path_is_mounted_from_the_root_as_the_kubelet_does() {
    assert_eq!(container_path("data"), "/data");
    assert_eq!(container_path("./a//b/"), "/a/b");
    assert_eq!(container_path("a/../../etc/x"), "/etc/x");
    assert_eq!(container_path(".."), "/");
    // Absolute paths are passed as written (the kubelet does not clean them either).
    assert_eq!(container_path("/var//log/"), "/var//log/");
    let p = pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - {name: d, emptyDir: {}}\n  containers:\n  - name: c\n    image: busybox\n    workingDir: /work\n    volumeMounts:\n    - {name: d, mountPath: cache/x}\n",
    );
    let spec = p.spec.as_ref().unwrap();
    let m = container_mounts(spec, &spec.containers[0], "default", "p");
    assert_eq!(m.len(), 1);
    assert!(m[0].contains(",target=/cache/x"), "{m:?}");
}
