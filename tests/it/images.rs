//! Images from the testbed's registry (scripts/testbed runs it; every host's dockerd uses it as its
//! Docker Hub mirror, and only the sandbox image is preloaded): `imagePullPolicy` as the kubelet applies
//! it, proven from the hosts' side (the image appears in the host's engine, the registry logs the host's
//! request) and never by clusterctl's own word. A failed pull reports the registry's message and takes
//! no running pod down.

use crate::common::{
    Repo, Testbed, WORKERS, clusterctl, managed_names, ok, pod_rows, reset, serial,
};

const SEED_NGINX: &str = "my_nginx.yaml";

/// The testbed registry's address (`172.30.ID.1:5000`: the gateway of the hosts' network).
fn registry(tb: &Testbed) -> String {
    let (net, _) = tb.addr(WORKERS[0]).rsplit_once('.').unwrap();
    format!("{net}.1:5000")
}

/// How many manifest requests for `repo` the registry has logged from `host`'s address.
fn manifest_requests(tb: &Testbed, host: &str, repo: &str) -> usize {
    let log = std::fs::read_to_string(tb.dir.join("registry/registry.log"))
        .expect("the testbed registry's log (<state dir>/registry/registry.log)");
    let from = format!("{} - - [", tb.addr(host));
    let path = format!("/v2/{repo}/manifests/");
    log.lines()
        .filter(|l| l.starts_with(&from) && l.contains(&path))
        .count()
}

fn has_image(tb: &Testbed, host: &str, image: &str) -> bool {
    tb.ssh(host, &format!("docker image inspect --format=. {image}"))
        .status
        .success()
}

/// Removes `nginx` (the seed's image) from every worker's engine by hand.
fn forget_nginx(tb: &Testbed) {
    for w in WORKERS {
        tb.ssh_ok(w, "docker rmi -f nginx:latest >/dev/null 2>&1 || true");
        assert!(!has_image(tb, w, "nginx"), "{w} still has nginx");
    }
}

#[test]
fn the_seed_nginx_is_pulled_from_the_testbed_registry_and_runs() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    forget_nginx(&tb);
    let before: Vec<usize> = WORKERS
        .iter()
        .map(|w| manifest_requests(&tb, w, "library/nginx"))
        .collect();
    let repo = Repo::new();
    repo.seed(SEED_NGINX).commit("my-nginx");

    let apply = ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(apply.stdout.contains("3 added"), "{apply:?}");
    let pods = pod_rows(&tb, &repo);
    assert_eq!(pods.len(), 3, "{pods:?}");
    for p in &pods {
        assert_eq!(&p[1..3], ["1/1", "Running"], "{p:?}");
    }
    for (w, before) in WORKERS.iter().zip(before) {
        assert!(has_image(&tb, w, "nginx"), "{w}: nginx was not pulled");
        assert!(
            manifest_requests(&tb, w, "library/nginx") > before,
            "{w} did not ask the testbed registry for library/nginx"
        );
    }
}

#[test]
fn a_host_whose_nginx_was_removed_by_hand_pulls_it_again() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.seed(SEED_NGINX).commit("my-nginx");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));

    // By hand on node1: the pod's app container and the image go.
    let host = WORKERS[0];
    let app = managed_names(&tb, host)
        .into_iter()
        .find(|n| n.starts_with("k8s_my-nginx_"))
        .expect("a my-nginx pod on node1");
    tb.ssh_ok(
        host,
        &format!("docker rm -f {app} && docker rmi nginx:latest"),
    );
    assert!(!has_image(&tb, host, "nginx"));
    let before = manifest_requests(&tb, host, "library/nginx");

    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(has_image(&tb, host, "nginx"), "nginx was not pulled again");
    assert!(manifest_requests(&tb, host, "library/nginx") > before);
    assert!(managed_names(&tb, host).contains(&app), "{app} is back");
    let pods = pod_rows(&tb, &repo);
    assert!(
        pods.iter().all(|p| p[2] == "Running") && pods.len() == 3,
        "{pods:?}"
    );
}

#[test]
fn a_missing_image_fails_with_the_registry_message_and_keeps_the_running_pods() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.seed(SEED_NGINX).commit("my-nginx");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let running: Vec<String> = pod_rows(&tb, &repo)
        .into_iter()
        .map(|p| p[0].clone())
        .collect();
    assert_eq!(running.len(), 3);

    // The Deployment's image becomes one the registry does not have (named with the registry's own
    // address, so the pull goes nowhere else), and a pod asks for an absent image with policy Never.
    let missing = format!("{}/clusterctl/does-not-exist:1", registry(&tb));
    let seed = std::fs::read_to_string(std::path::Path::new(crate::common::SEED).join(SEED_NGINX))
        .unwrap();
    repo.write(SEED_NGINX, &seed.replace("image: nginx", &format!("image: {missing}")))
        .write(
            "never.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: never\nspec:\n  containers:\n  - name: job\n    image: clusterctl/job:never-here\n    imagePullPolicy: Never\n",
        )
        .commit("an image nobody has");
    let apply = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_ne!(apply.code, 0, "{apply:?}");
    let out = format!("{}{}", apply.stdout, apply.stderr);
    assert!(
        out.contains(&format!("ErrImagePull: Failed to pull image \"{missing}\""))
            && out.contains("manifest unknown"),
        "the registry's message: {apply:?}"
    );
    assert!(
        out.contains(
            "ErrImageNeverPull: Container image \"clusterctl/job:never-here\" is not present with pull policy of Never"
        ),
        "{apply:?}"
    );
    // The old pods still run, untouched.
    let pods = pod_rows(&tb, &repo);
    for name in &running {
        let p = pods
            .iter()
            .find(|p| &p[0] == name)
            .unwrap_or_else(|| panic!("{name} is gone: {pods:?}"));
        assert_eq!(&p[1..3], ["1/1", "Running"], "{p:?}");
    }
    // The pod the failed pull held back is listed as get pods shows it (Pending with ErrImagePull, no IP),
    // and no container of it exists: nothing else runs but the three old pods.
    let others: Vec<_> = pods.iter().filter(|p| !running.contains(&p[0])).collect();
    assert!(
        others
            .iter()
            .all(|p| p[1] == "0/1" && p[2] == "ErrImagePull" && p[5] == "<none>"),
        "no pod of the missing image was created: {pods:?}"
    );
    assert_eq!(
        pods.iter().filter(|p| p[2] == "Running").count(),
        3,
        "{pods:?}"
    );
}
