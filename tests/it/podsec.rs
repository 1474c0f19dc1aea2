//! Pod privileges on real hosts: securityContext, the host namespaces, hostAliases and sysctls reach the
//! created containers (read back with `docker inspect` and from inside the container, not from
//! clusterctl's word), readOnlyRootFilesystem makes writes fail, and runAsNonRoot refuses a root image
//! with the kubelet's message before anything of the pod is created.

use crate::common::{Repo, Testbed, clusterctl, ok, pod_rows, reset, serial};

const NODE: &str = "k8s-node1";

fn inspect(tb: &Testbed, name: &str, format: &str) -> String {
    tb.ssh_ok(NODE, &format!("docker inspect --format '{format}' {name}"))
        .trim()
        .to_string()
}

const SECURE: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: secure
spec:
  nodeName: k8s-node1
  shareProcessNamespace: true
  hostAliases:
  - ip: 10.9.9.9
    hostnames: [db.local]
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    runAsNonRoot: true
    fsGroup: 2000
    supplementalGroups: [4000]
    sysctls:
    - {name: net.ipv4.tcp_syncookies, value: "0"}
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
      seccompProfile: {type: Unconfined}
  - name: root
    image: busybox
    command: ["sleep", "3600"]
    securityContext:
      runAsUser: 0
      runAsNonRoot: false
---
apiVersion: v1
kind: Pod
metadata:
  name: hostns
spec:
  nodeName: k8s-node1
  hostNetwork: true
  hostPID: true
  hostIPC: true
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
"#;

#[test]
fn security_context_and_host_fields_reach_the_containers() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write("pods.yaml", SECURE).commit("secure pods");
    let apply = ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(apply.stdout.contains("2 added"), "{apply:?}");

    // docker's own record of the app container.
    let app = "k8s_app_secure_default";
    assert_eq!(inspect(&tb, app, "{{.Config.User}}"), "1000:3000");
    assert_eq!(
        inspect(&tb, app, "{{json .HostConfig.GroupAdd}}"),
        r#"["2000","4000"]"#
    );
    assert_eq!(
        inspect(&tb, app, "{{json .HostConfig.CapDrop}}"),
        r#"["ALL"]"#
    );
    assert_eq!(
        inspect(&tb, app, "{{json .HostConfig.CapAdd}}"),
        r#"["NET_BIND_SERVICE"]"#
    );
    assert_eq!(inspect(&tb, app, "{{.HostConfig.ReadonlyRootfs}}"), "true");
    assert_eq!(
        inspect(&tb, app, "{{json .HostConfig.SecurityOpt}}"),
        r#"["no-new-privileges","seccomp=unconfined"]"#
    );
    // docker records the joined container by id.
    assert_eq!(
        inspect(&tb, app, "{{.HostConfig.PidMode}}"),
        format!(
            "container:{}",
            inspect(&tb, "k8s_POD_secure_default", "{{.Id}}")
        )
    );
    // The container's runAsUser wins over the pod's. (`privileged` is proven by the unit tests only: the
    // testbed's hosts are containers that cannot grant every capability.)
    assert_eq!(
        inspect(
            &tb,
            "k8s_root_secure_default",
            "{{.HostConfig.Privileged}} {{.Config.User}}"
        ),
        "false 0:3000"
    );
    let sandbox = "k8s_POD_secure_default";
    assert_eq!(
        inspect(&tb, sandbox, "{{json .HostConfig.ExtraHosts}}"),
        r#"["db.local:10.9.9.9"]"#
    );
    assert_eq!(
        inspect(&tb, sandbox, "{{json .HostConfig.Sysctls}}"),
        r#"{"net.ipv4.tcp_syncookies":"0"}"#
    );

    // And from inside: the process's ids, no writable root, the shared PID namespace (PID 1 is the
    // sandbox's pause), the hosts entry, the sysctl in the pod's network namespace, no capabilities
    // beyond the one added, no_new_privs.
    let inside = tb.ssh_ok(
        NODE,
        &format!(
            "docker exec {app} sh -c 'id -u; id -g; id -G; touch /x 2>&1; cat /proc/1/cmdline; echo; grep db.local /etc/hosts; cat /proc/sys/net/ipv4/tcp_syncookies; grep -E \"^(CapBnd|NoNewPrivs)\" /proc/self/status'"
        ),
    );
    let lines: Vec<&str> = inside.lines().collect();
    assert_eq!(lines[0..3], ["1000", "3000", "3000 2000 4000"], "{inside}");
    assert!(lines[3].contains("Read-only file system"), "{inside}");
    assert!(lines[4].contains("pause"), "{inside}");
    assert!(
        lines[5].starts_with("10.9.9.9") && lines[5].contains("db.local"),
        "{inside}"
    );
    assert_eq!(lines[6], "0", "{inside}");
    // The bounding set is CAP_NET_BIND_SERVICE (bit 10) alone; a non-root process has no effective ones,
    // as under the kubelet.
    assert!(inside.contains("CapBnd:\t0000000000000400"), "{inside}");
    assert!(inside.contains("NoNewPrivs:\t1"), "{inside}");

    // The host namespaces: docker's modes, the node's address as the pod IP.
    let h = "k8s_app_hostns_default";
    assert_eq!(
        inspect(
            &tb,
            "k8s_POD_hostns_default",
            "{{.HostConfig.NetworkMode}} {{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}"
        ),
        "host host host"
    );
    assert_eq!(
        inspect(&tb, h, "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}"),
        "host host"
    );
    let rows = pod_rows(&tb, &repo);
    let row = rows.iter().find(|r| r[0] == "hostns").expect("hostns row");
    assert_eq!(row[2], "Running", "{rows:?}");
    assert_eq!(row[5], tb.addr(NODE), "{rows:?}");
    // The host's sshd is a process this container sees; the host's interfaces too.
    let seen = tb.ssh_ok(
        NODE,
        &format!("docker exec {h} sh -c 'ps -o comm | grep -c sshd; ip -o -4 addr'"),
    );
    assert!(seen.contains(tb.addr(NODE)), "{seen}");
    assert!(!seen.starts_with('0'), "{seen}");

    // Nothing left to do: the plan is stable.
    let again = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(again.stdout.contains("No changes"), "{again:?}");
}

#[test]
fn run_as_non_root_refuses_a_root_image_with_the_kubelets_message() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nonroot\nspec:\n  nodeName: k8s-node1\n  securityContext:\n    runAsNonRoot: true\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, \"3600\"]\n",
    )
    .commit("root image, non-root rule");
    let apply = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_ne!(apply.code, 0, "{apply:?}");
    let all = format!("{}{}", apply.stdout, apply.stderr);
    assert!(
        all.contains(
            "container has runAsNonRoot and image will run as root (pod: \"nonroot_default("
        ),
        "{apply:?}"
    );
    assert!(all.contains("container: app)"), "{apply:?}");
    // Refused before anything of the pod was created.
    let names = tb.ssh_ok(
        NODE,
        "docker ps -a --filter label=clusterctl.io/pod=nonroot --format '{{.Names}}'",
    );
    assert_eq!(names.trim(), "", "{names}");

    // With a non-root user it runs.
    repo.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nonroot\nspec:\n  nodeName: k8s-node1\n  securityContext:\n    runAsNonRoot: true\n    runAsUser: 65534\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, \"3600\"]\n",
    )
    .commit("non-root user");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert_eq!(
        tb.ssh_ok(NODE, "docker exec k8s_app_nonroot_default id -u")
            .trim(),
        "65534"
    );
}

/// `web` serves what its init container `setup` wrote into the shared emptyDir; `broken`'s init container
/// fails, so its app container is never started and the pod shows Init:Error.
const INIT: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  nodeName: k8s-node1
  volumes:
  - name: www
    emptyDir: {}
  initContainers:
  - name: setup
    image: busybox
    command: ["sh", "-c", "echo written-by-init > /www/index.html"]
    volumeMounts:
    - {name: www, mountPath: /www}
  containers:
  - name: web
    image: busybox
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    volumeMounts:
    - {name: www, mountPath: /www}
---
apiVersion: v1
kind: Pod
metadata:
  name: broken
spec:
  nodeName: k8s-node1
  restartPolicy: Never
  initContainers:
  - name: fail
    image: busybox
    command: ["sh", "-c", "exit 3"]
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
"#;

#[test]
fn init_containers_run_first_and_a_failed_one_keeps_the_app_from_starting() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.write("pods.yaml", INIT).commit("init containers");
    let apply = clusterctl(&tb, &repo, &["apply", "--yes"]);
    assert_ne!(
        apply.code, 0,
        "broken's init container fails the apply: {apply:?}"
    );
    assert!(
        apply.stderr.contains("init container fail exited with 3"),
        "{apply:?}"
    );

    // The page the app serves is the file the init container wrote.
    let rows = pod_rows(&tb, &repo);
    let web = rows.iter().find(|r| r[0] == "web").expect("web row");
    assert_eq!(web[2], "Running", "{rows:?}");
    let mut page = String::new();
    for _ in 0..50 {
        let out = tb.ssh(NODE, &format!("wget -qO- -T 2 http://{}/", web[5]));
        page = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(page.trim(), "written-by-init");
    // The init container ran once, to completion, and is not restarted (restartPolicy Always).
    assert_eq!(
        inspect(
            &tb,
            "k8s_setup_web_default",
            "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}"
        ),
        "exited 0 0"
    );

    // broken: Init:Error, the app container created but never started.
    let b = rows.iter().find(|r| r[0] == "broken").expect("broken row");
    assert_eq!(b[2], "Init:Error", "{rows:?}");
    assert_eq!(
        inspect(
            &tb,
            "k8s_app_broken_default",
            "{{.State.Status}} {{.State.StartedAt}}"
        ),
        "created 0001-01-01T00:00:00Z"
    );
    // restartPolicy Never: the plan leaves the failed pod as it is; `web` is in sync.
    let again = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(again.stdout.contains("No changes"), "{again:?}");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        inspect(&tb, "k8s_app_broken_default", "{{.State.Status}}"),
        "created"
    );
}
