//! ConfigMaps and Secrets on real hosts: a web app reads a ConfigMap as env and as a mounted file and a
//! password from a Secret; a ConfigMap change rewrites the mounted file in place (same container) and
//! replaces the env consumer; a sentinel Secret value shows in none of clusterctl's outputs, the hosts'
//! argv (sampled during apply), their state files or container labels — only inside the container.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{Repo, Testbed, clusterctl, ok, pod_rows, reset, serial, unique};

const NODE: &str = "k8s-node1";

/// `web-env` serves its env (GREETING from the ConfigMap, DB_PASSWORD from the Secret); `web-file`
/// serves the mounted ConfigMap file (a symlink into the volume, so an update shows at once) and has the
/// Secret mounted too.
fn app(greeting: &str, password: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: "{greeting}"
---
apiVersion: v1
kind: Secret
metadata:
  name: db
type: kubernetes.io/basic-auth
stringData:
  username: app
  password: "{password}"
---
apiVersion: v1
kind: Pod
metadata:
  name: web-env
spec:
  nodeName: {NODE}
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo \"greeting=$GREETING password=$DB_PASSWORD pod=$POD_NAME\" > /www/index.html && exec httpd -f -p 80 -h /www"]
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef: {{name: web-config, key: greeting}}
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef: {{name: db, key: password}}
    - name: POD_NAME
      valueFrom:
        fieldRef: {{fieldPath: metadata.name}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-file
spec:
  nodeName: {NODE}
  volumes:
  - name: cfg
    configMap: {{name: web-config}}
  - name: creds
    secret: {{secretName: db, defaultMode: 0400}}
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && ln -sf /etc/app/greeting /www/index.html && exec httpd -f -p 80 -h /www"]
    volumeMounts:
    - {{name: cfg, mountPath: /etc/app}}
    - {{name: creds, mountPath: /etc/creds}}
"#
    )
}

/// `ps -eo args` of this machine (the hosts are containers on it, so their processes are seen too),
/// sampled until `stop` is set.
fn sample_ps(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut all = String::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(o) = Command::new("ps").args(["-eo", "args"]).output() {
                all.push_str(&String::from_utf8_lossy(&o.stdout));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        all
    })
}

fn page(tb: &Testbed, repo: &Repo, pod: &str) -> String {
    let rows = pod_rows(tb, repo);
    let row = rows.iter().find(|r| r[0] == pod).expect(pod);
    let ip = &row[5];
    let mut last = String::new();
    for _ in 0..50 {
        let out = tb.ssh(NODE, &format!("wget -qO- -T 2 http://{ip}/"));
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{pod} at {ip} did not serve: {last:?}");
}

fn container_id(tb: &Testbed, pod: &str) -> String {
    tb.ssh_ok(
        NODE,
        &format!("docker inspect --format '{{{{.Id}}}}' k8s_web_{pod}_default"),
    )
    .trim()
    .to_string()
}

#[test]
fn a_web_app_reads_config_and_a_secret_and_the_secret_stays_secret() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    tb.ssh_ok(
        NODE,
        "for m in $(findmnt -rn -o TARGET | grep /run/clusterctl/pods); do umount $m; done; rm -rf /run/clusterctl/pods",
    );
    let sentinel = unique("sentinel-pw");
    let repo = Repo::new();
    repo.write("app.yaml", &app("hello-1", &sentinel))
        .commit("app");

    // The plan: text and JSON without the value; the JSON has its hash, marked sensitive.
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    let json = ok(clusterctl(&tb, &repo, &["plan", "-o", "json"]));
    assert!(json.stdout.contains("\"sensitive\": true"), "{json:?}");

    // Apply, sampling every process's argv meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let ps = sample_ps(stop.clone());
    let apply = ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    stop.store(true, Ordering::Relaxed);
    let ps = ps.join().unwrap();
    assert!(
        ps.contains("clusterctl"),
        "the sampler saw clusterctl's processes"
    );
    assert!(apply.stdout.contains("2 added"), "{apply:?}");

    // The pages: env from the ConfigMap, the Secret and the downward API; the mounted file.
    let env_page = page(&tb, &repo, "web-env");
    assert_eq!(
        env_page.trim(),
        format!("greeting=hello-1 password={sentinel} pod=web-env")
    );
    assert_eq!(page(&tb, &repo, "web-file").trim(), "hello-1");
    // Inside the container: the secret file with its mode, the volume read-only.
    let secret_file = tb.ssh_ok(
        NODE,
        "docker exec k8s_web_web-file_default sh -c 'cat /etc/creds/password; echo; stat -L -c %a /etc/creds/password; touch /etc/app/x 2>&1 || true'",
    );
    assert!(
        secret_file.starts_with(&format!("{sentinel}\n400\n")),
        "{secret_file}"
    );
    assert!(
        secret_file.contains("Read-only file system"),
        "{secret_file}"
    );
    // On the host: the secret volume is a tmpfs, the pod dir 0700.
    let host = tb.ssh_ok(
        NODE,
        "d=/run/clusterctl/pods/default_web-file; stat -c %a $d; findmnt -n -o FSTYPE $d/volumes/creds",
    );
    assert_eq!(
        host.split_whitespace().collect::<Vec<_>>(),
        ["700", "tmpfs"],
        "{host}"
    );

    let describe = ok(clusterctl(&tb, &repo, &["describe", "secret", "db"]));
    assert!(
        describe
            .stdout
            .contains(&format!("password:  {} bytes", sentinel.len())),
        "{describe:?}"
    );
    let get = ok(clusterctl(&tb, &repo, &["get", "secrets", "-o", "yaml"]));
    let cms = ok(clusterctl(&tb, &repo, &["get", "cm"]));
    assert!(
        cms.stdout
            .starts_with("NAME         DATA   AGE\nweb-config   1"),
        "{cms:?}"
    );
    // An error about a Secret: its value is never echoed.
    let bad = Repo::new();
    bad.write(
        "bad.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: reg\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: \"{{{sentinel}\"\n"
        ),
    )
    .commit("bad");
    let err = clusterctl(&tb, &bad, &["plan"]);
    assert_eq!(err.code, 65, "{err:?}");
    assert!(err.stderr.contains("<secret contents redacted>"), "{err:?}");

    // The hosts' state: roster and labels hold the reference only.
    let state = tb.ssh_ok(
        NODE,
        &format!(
            "grep -rl -- '{sentinel}' /var/lib/clusterctl; docker inspect --format '{{{{json .Config.Labels}}}}' $(docker ps -aq --filter label=clusterctl.io/managed=true) | grep -c -- '{sentinel}'; true"
        ),
    );
    assert_eq!(
        state.trim(),
        "0",
        "the sentinel is in a state file or a label: {state}"
    );

    for (what, text) in [
        ("ps -eo args during apply", &ps),
        ("plan text", &plan.stdout),
        ("plan stderr", &plan.stderr),
        ("plan JSON", &json.stdout),
        ("apply output", &apply.stdout),
        ("apply stderr", &apply.stderr),
        ("describe", &describe.stdout),
        ("get -o yaml", &get.stdout),
        ("error", &err.stderr),
    ] {
        assert!(
            !text.contains(&sentinel),
            "the Secret value is in the {what}"
        );
    }

    // The ConfigMap changes in Git: the file consumer is updated in place, the env consumer replaced.
    let file_id = container_id(&tb, "web-file");
    let env_id = container_id(&tb, "web-env");
    repo.write("app.yaml", &app("hello-2", &sentinel))
        .commit("greeting 2");
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout.contains("files updated in place") && plan.stdout.contains("reads it as env"),
        "{plan:?}"
    );
    let apply = ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(!apply.stdout.contains(&sentinel));
    assert_eq!(page(&tb, &repo, "web-file").trim(), "hello-2");
    assert_eq!(
        container_id(&tb, "web-file"),
        file_id,
        "the file consumer was not replaced"
    );
    assert!(page(&tb, &repo, "web-env").starts_with("greeting=hello-2 "));
    assert_ne!(
        container_id(&tb, "web-env"),
        env_id,
        "the env consumer was replaced"
    );
    let again = ok(clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]));
    assert_eq!(again.code, 0, "converged: {again:?}");

    // Removing the pods removes their files (and the tmpfs) from the host.
    repo.remove("app.yaml").commit("gone");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let left = tb.ssh_ok(
        NODE,
        "ls /run/clusterctl/pods 2>/dev/null; findmnt -rn -o TARGET | grep -c /run/clusterctl/pods; true",
    );
    assert_eq!(left.trim(), "0", "files or mounts left on the host: {left}");
}
