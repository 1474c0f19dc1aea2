//! Private images and digests, proven on the hosts: the testbed's private registry (TLS with the testbed
//! CA, basic auth; scripts/testbed) serves `private/web:1` only to a pull that carries the credential of
//! an `imagePullSecrets` Secret (`kubernetes.io/dockerconfigjson`). The credential is never on any host's
//! argv while apply runs (sampled with `ps`), in the plan or apply output, nor in a file left on a host;
//! without the Secret the pull fails with the registry's own message. A digest-pinned image runs exactly
//! that digest.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{Repo, Testbed, WORKERS, clusterctl, ok, pod_rows, reset, serial};

/// The private registry (`172.30.ID.1:5443`: the gateway of the hosts' network) and its credential.
fn private(tb: &Testbed) -> (String, String, String) {
    let (net, _) = tb.addr(WORKERS[0]).rsplit_once('.').unwrap();
    let password = std::fs::read_to_string(tb.dir.join("registry-private/password"))
        .expect("the private registry's password (<state dir>/registry-private/password)");
    (
        format!("{net}.1:5443"),
        "clusterctl".to_string(),
        password.trim().to_string(),
    )
}

fn public(tb: &Testbed) -> String {
    let (net, _) = tb.addr(WORKERS[0]).rsplit_once('.').unwrap();
    format!("{net}.1:5000")
}

fn secret_yaml(registry: &str, user: &str, password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{{\"auths\":{{\"{registry}\":{{\"username\":\"{user}\",\"password\":\"{password}\"}}}}}}'\n"
    )
}

fn deployment_yaml(image: &str, with_secret: bool) -> String {
    let secrets = if with_secret {
        "      imagePullSecrets:\n      - name: regcred\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: private-web\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: private-web\n  template:\n    metadata:\n      labels:\n        app: private-web\n    spec:\n{secrets}      containers:\n      - name: web\n        image: {image}\n        ports:\n        - containerPort: 80\n"
    )
}

fn has_image(tb: &Testbed, host: &str, image: &str) -> bool {
    tb.ssh(host, &format!("docker image inspect --format=. {image}"))
        .status
        .success()
}

/// Samples `ps -eo args` on every host until stopped; returns every line seen.
struct PsSampler {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl PsSampler {
    fn start(tb: &Testbed) -> PsSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = tb
            .containers
            .iter()
            .map(|c| {
                let (c, stop) = (c.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let out = Command::new("docker")
                            .args(["exec", &c, "ps", "-eo", "args"])
                            .output()
                            .expect("docker exec ps");
                        seen.extend(
                            String::from_utf8_lossy(&out.stdout)
                                .lines()
                                .map(str::to_string),
                        );
                    }
                    seen
                })
            })
            .collect();
        PsSampler { stop, threads }
    }

    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}

/// Files on the host that contain `needle` under the places a credential could be left (the needle goes
/// to grep on stdin, not on its argv).
fn files_with(tb: &Testbed, host: &str, needle: &str) -> String {
    let mut child = Command::new("docker")
        .args([
            "exec",
            "-i",
            tb.container(host),
            "sh",
            "-c",
            "grep -rlsF -f - /root /etc /var/lib/clusterctl /tmp /run 2>/dev/null || true",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("docker exec grep");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{needle}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn forget(tb: &Testbed, image: &str) {
    for w in WORKERS {
        tb.ssh_ok(w, &format!("docker rmi -f {image} >/dev/null 2>&1 || true"));
        assert!(!has_image(tb, w, image), "{w} still has {image}");
    }
}

#[test]
fn a_private_image_runs_on_every_worker_with_its_pull_secret_and_the_credential_stays_secret() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let (registry, user, password) = private(&tb);
    let image = format!("{registry}/private/web:1");
    forget(&tb, &image);

    let repo = Repo::new();
    repo.write("regcred.yaml", &secret_yaml(&registry, &user, &password))
        .write("web.yaml", &deployment_yaml(&image, true))
        .commit("a private image with its pull secret");

    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    let json = ok(clusterctl(&tb, &repo, &["plan", "-o", "json"]));
    assert!(
        json.stdout.contains("\"sensitive\": true") || json.stdout.contains("\"sensitive\":true"),
        "the authenticated pull's stdin is shown as a hash: {}",
        json.stdout
    );

    let ps = PsSampler::start(&tb);
    let apply = clusterctl(&tb, &repo, &["apply", "--yes"]);
    let seen = ps.finish();
    assert_eq!(apply.code, 0, "{apply:?}");

    let pods = pod_rows(&tb, &repo);
    assert_eq!(pods.len(), 3, "{pods:?}");
    let mut nodes: Vec<&str> = pods.iter().map(|p| p[6].as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, WORKERS, "one pod per worker: {pods:?}");
    for p in &pods {
        assert_eq!(&p[1..3], ["1/1", "Running"], "{p:?}");
    }
    for w in WORKERS {
        assert!(has_image(&tb, w, &image), "{w} pulled {image}");
    }

    // The credential: in none of the outputs, on no host's argv, in no file left on a host.
    for (what, text) in [
        ("plan", &plan.stdout),
        ("plan JSON", &json.stdout),
        ("apply stdout", &apply.stdout),
        ("apply stderr", &apply.stderr),
    ] {
        assert!(!text.contains(&password), "the password is in the {what}");
    }
    assert!(!seen.is_empty(), "ps was sampled during apply");
    let leaked: Vec<&String> = seen.iter().filter(|l| l.contains(&password)).collect();
    assert!(
        leaked.is_empty(),
        "the password on a host's argv: {leaked:?}"
    );
    for (h, _) in &tb.hosts {
        let files = files_with(&tb, h, &password);
        assert!(
            files.trim().is_empty(),
            "{h} keeps the password in: {files}"
        );
    }
}

#[test]
fn without_the_pull_secret_the_private_image_fails_with_the_registry_s_message() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let (registry, _, _) = private(&tb);
    let image = format!("{registry}/private/web:1");
    forget(&tb, &image);

    let repo = Repo::new();
    repo.write("web.yaml", &deployment_yaml(&image, false))
        .commit("a private image, no pull secret");
    let apply = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_ne!(apply.code, 0, "{apply:?}");
    let out = format!("{}{}", apply.stdout, apply.stderr);
    assert!(
        out.contains(&format!("ErrImagePull: Failed to pull image \"{image}\"")),
        "{apply:?}"
    );
    // docker-registry's answer to a pull without credentials.
    assert!(out.contains("no basic auth credentials"), "{apply:?}");
    for w in WORKERS {
        assert!(
            !has_image(&tb, w, &image),
            "{w} has {image} without a credential"
        );
    }

    // The hosts' records make the pods visible from any machine: ErrImagePull, the registry's message.
    let pods = pod_rows(&tb, &repo);
    assert_eq!(pods.len(), 3, "{pods:?}");
    for p in &pods {
        assert_eq!(&p[1..3], ["0/1", "ErrImagePull"], "{pods:?}");
    }
    let describe = ok(clusterctl(&tb, &repo, &["describe", "pod", &pods[0][0]])).stdout;
    assert!(
        describe.contains(&format!("Failed to pull image \"{image}\""))
            && describe.contains("no basic auth credentials"),
        "{describe}"
    );
    assert!(describe.contains("Error: ErrImagePull"), "{describe}");

    // The next round inside the back-off: the plan says so, no pull is tried (the registry sees no
    // request), the step fails with ImagePullBackOff at once, and the pods show it. (The records are set
    // to 5 failures, 160 s of back-off, so that the slow steps of this test cannot outlast the first 10 s.)
    for w in WORKERS {
        tb.ssh_ok(w, "sed -i '1s/^[0-9]*/5/' /var/lib/clusterctl/pulls/*");
    }
    let plan = ok(clusterctl(&tb, &repo, &["plan"])).stdout;
    assert!(
        plan.contains("pull failed 5 time(s)") && plan.contains("image back-off: no pull before"),
        "{plan}"
    );
    let before = private_requests(&tb);
    let again = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_ne!(again.code, 0, "{again:?}");
    assert!(
        again.stderr.contains(&format!(
            "ImagePullBackOff: Back-off pulling image \"{image}\""
        )),
        "{again:?}"
    );
    assert_eq!(
        private_requests(&tb),
        before,
        "a pull was tried inside the back-off"
    );
    let pods = pod_rows(&tb, &repo);
    for p in &pods {
        assert_eq!(&p[1..3], ["0/1", "ImagePullBackOff"], "{pods:?}");
    }
    let describe = ok(clusterctl(&tb, &repo, &["describe", "pod", &pods[0][0]])).stdout;
    assert!(
        describe.contains(&format!("Back-off pulling image \"{image}\""))
            && describe.contains("Error: ImagePullBackOff"),
        "{describe}"
    );
}

/// The private registry's request lines (its access log), from any host.
fn private_requests(tb: &Testbed) -> usize {
    std::fs::read_to_string(tb.dir.join("registry-private/registry.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("/v2/private/web/"))
        .count()
}

/// The digest the public registry serves for `repo:tag` (its `Docker-Content-Digest`).
fn registry_digest(tb: &Testbed, repo: &str, tag: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-fsSI",
            "-m",
            "5",
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json",
            &format!("http://{}/v2/{repo}/manifests/{tag}", public(tb)),
        ])
        .output()
        .expect("curl");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("docker-content-digest:")
                .map(|d| d.trim().to_string())
        })
        .expect("a Docker-Content-Digest header")
}

#[test]
fn a_digest_pinned_image_runs_exactly_that_digest() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let digest = registry_digest(&tb, "library/busybox", "latest");
    let image = format!("busybox@{digest}");
    let host = WORKERS[0];
    tb.ssh_ok(host, "docker rmi -f busybox:latest >/dev/null 2>&1 || true");
    tb.ssh_ok(
        host,
        &format!("docker rmi -f {image} >/dev/null 2>&1 || true"),
    );

    let repo = Repo::new();
    repo.write(
        "pinned.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pinned\nspec:\n  nodeName: {host}\n  containers:\n  - name: sh\n    image: {image}\n    command: [\"sleep\", \"3600\"]\n"
        ),
    )
    .commit("a digest-pinned pod");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));

    // The container names the digest, and its image is the one with that repo digest.
    let fmt = "{{.Config.Image}} {{.Image}}";
    let got = tb.ssh_ok(
        host,
        &format!("docker inspect --format '{fmt}' k8s_sh_pinned_default"),
    );
    let (named, id) = got.trim().split_once(' ').unwrap();
    assert_eq!(named, image);
    let digests = tb.ssh_ok(
        host,
        &format!("docker image inspect --format '{{{{json .RepoDigests}}}}' {id}"),
    );
    assert!(digests.contains(&image), "{id}: {digests}");
    let pods = pod_rows(&tb, &repo);
    assert_eq!(&pods[0][1..3], ["1/1", "Running"], "{pods:?}");
}
