//! The cluster DNS on the testbed (issue 12's service discovery, docs/dns.md): with `dnsImage` set in
//! cluster.yaml every host runs a DNS pod behind `kube-system/kube-dns`, and a pod on one host reaches a
//! Service by name (`wget http://my-nginx:8080`); its resolv.conf is the kubelet's; the headless
//! Service's A records list exactly the Ready StatefulSet pods, also after a scale-up; `web-0.nginx`
//! and the SRV record of a named port resolve; a name in the hosts' /etc/hosts (the host's resolver)
//! resolves; a new Service resolves after one apply with no pod restarted (same container ids); the
//! service environment variables are there for Services that existed when the pod was created.
//!
//! Only testbed addresses are queried: the cluster DNS address, pod IPs, and the testbed gateway as the
//! address of the upstream name.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::{Repo, Testbed, clusterctl_with, ok, reset, rows, serial, table, unique};

/// A copy of the testbed's cluster.yaml with the cluster DNS turned on (the image `scripts/testbed up`
/// built from target/debug/clusterctl-dns). The testbed's own cluster.yaml names it already unless it was
/// brought up with TESTBED_CLUSTER_DNS=off.
fn cluster_with_dns(tb: &Testbed) -> (tempfile::TempDir, PathBuf) {
    let image = std::fs::read_to_string(tb.dir.join("dns-image"))
        .expect("scripts/testbed up pushes the DNS image and names it in <state dir>/dns-image")
        .trim()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    let yaml = if yaml.contains("\n  dnsImage: ") {
        yaml
    } else {
        yaml.replace(
            "\ncluster:\n",
            &format!("\ncluster:\n  dnsImage: {image}\n"),
        )
    };
    assert!(yaml.contains("dnsImage:"), "{yaml}");
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, yaml).unwrap();
    for f in ["id_ed25519", "known_hosts"] {
        std::fs::copy(tb.dir.join(f), dir.path().join(f)).unwrap();
    }
    (dir, path)
}

const SERVICES: &str = "apiVersion: v1
kind: Service
metadata:
  name: my-nginx
spec:
  ports:
  - name: http
    port: 8080
    targetPort: 80
  selector:
    run: my-nginx
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx
spec:
  replicas: 2
  selector:
    matchLabels:
      run: my-nginx
  template:
    metadata:
      labels:
        run: my-nginx
    spec:
      containers:
      - name: nginx
        image: nginx
---
apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  clusterIP: None
  ports:
  - name: web
    port: 80
  selector:
    app: web
";

fn web(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: {replicas}
  podManagementPolicy: Parallel
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx
"
    )
}

const CLIENT: &str = "apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeName: k8s-node1
  containers:
  - name: sh
    image: busybox:latest
";

/// Runs `sh -c CMD` in the client pod (on k8s-node1).
fn in_client(tb: &Testbed, cmd: &str) -> (bool, String) {
    let out = tb.ssh(
        "k8s-node1",
        &format!(
            "docker exec k8s_sh_client_default sh -c '{}' 2>&1",
            cmd.replace('\'', "'\\''")
        ),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The addresses busybox nslookup prints for `name` (after the server's own lines).
fn lookup(tb: &Testbed, name: &str) -> BTreeSet<String> {
    let (_, out) = in_client(tb, &format!("nslookup {name}"));
    out.split("Name:")
        .skip(1)
        .flat_map(|answer| {
            answer
                .lines()
                .filter_map(|l| l.trim().strip_prefix("Address:"))
                .map(|a| a.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The address the libc resolver (search path, ndots) gives `name`: the first line of busybox ping
/// (`PING name (ip): …`; one echo request to a testbed address, its answer not needed).
fn resolve(tb: &Testbed, name: &str) -> String {
    let (_, out) = in_client(tb, &format!("ping -c1 -W1 {name} | head -n1"));
    out.split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(ip, _)| ip.to_string())
        .unwrap_or_else(|| panic!("{name} does not resolve: {out}"))
}

/// Polls `lookup` until it equals `want` (records are re-read once a second), with a deadline.
fn lookup_until(tb: &Testbed, name: &str, want: &BTreeSet<String>) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = lookup(tb, name);
        if &got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn ids(tb: &Testbed, host: &str, filter: &str) -> String {
    tb.ssh_ok(
        host,
        &format!("docker ps -q --no-trunc --filter label=clusterctl.io/managed=true --filter name={filter} | sort"),
    )
}

#[test]
fn pods_find_services_by_name_through_the_cluster_dns() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let (_dir, cluster) = cluster_with_dns(&tb);
    // A records file of an earlier run would match (the same names get the same addresses): gone, so
    // the plan must write it. Only the directory's content: the DNS pods reset started (the testbed's
    // cluster.yaml has the DNS on) bind-mount the directory itself, and would not see a new one.
    for (host, _) in &tb.hosts {
        tb.ssh_ok(
            host,
            "for d in /run/clusterctl/pods/kube-system_clusterctl-dns-*; do rm -rf \"$d/sums\"; [ ! -d \"$d/volumes/records\" ] || find \"$d/volumes/records\" -mindepth 1 -delete; done",
        );
    }
    let repo = Repo::new();
    repo.write("services.yaml", SERVICES)
        .write("web.yaml", &web(2))
        .write("client.yaml", CLIENT)
        .commit("services, statefulset, client");
    let run = |args: &[&str]| clusterctl_with(&cluster, repo.path(), args);
    let applied = ok(run(&["apply", "--yes"]));
    assert!(
        applied.stdout.contains("dns-records"),
        "the plan shows the records written: {applied:?}"
    );

    // The kube-dns Service at the tenth address of the service CIDR, the records on every host.
    let svc = ok(run(&["get", "svc", "-A"])).stdout;
    let kube_dns = rows(&svc, "kube-system");
    assert!(
        kube_dns
            .iter()
            .any(|r| r[1] == "kube-dns" && r[3] == "10.96.0.10"),
        "{svc}"
    );
    let my_nginx_ip = table(&svc)
        .into_iter()
        .find(|r| r[1] == "my-nginx")
        .map(|r| r[3].clone())
        .unwrap_or_else(|| panic!("{svc}"));

    // resolv.conf as the kubelet writes it.
    let (_, resolv) = in_client(&tb, "cat /etc/resolv.conf");
    assert_eq!(
        resolv,
        "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
    );

    // By name, through the search path, from k8s-node1.
    // (busybox nc: the testbed's static busybox wget crashes in this image, also with an IP address.)
    let (okay, page) = in_client(
        &tb,
        "printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 3 my-nginx 8080",
    );
    assert!(okay && page.contains("Welcome to nginx!"), "{page}");
    for name in [
        "my-nginx",
        "my-nginx.default",
        "my-nginx.default.svc",
        "my-nginx.default.svc.cluster.local",
    ] {
        assert_eq!(resolve(&tb, name), my_nginx_ip, "{name}");
    }

    // The headless Service lists exactly the Ready StatefulSet pods; web-0.nginx is web-0.
    let pods = ok(run(&["get", "pods", "-o", "wide"])).stdout;
    let ip_of = |pods: &str, name: &str| rows(pods, name)[0][5].clone();
    let web_ips: BTreeSet<String> = ["web-0", "web-1"].iter().map(|n| ip_of(&pods, n)).collect();
    assert_eq!(lookup(&tb, "nginx.default.svc.cluster.local"), web_ips);
    assert_eq!(resolve(&tb, "web-0.nginx"), ip_of(&pods, "web-0"));
    // SRV of the named port: the ClusterIP Service's one target and port.
    let (_, srv) = in_client(
        &tb,
        "nslookup -type=srv _http._tcp.my-nginx.default.svc.cluster.local",
    );
    assert!(
        srv.contains("8080 my-nginx.default.svc.cluster.local"),
        "{srv}"
    );

    // Service links: the variables of Services that existed when the pod was created.
    let (_, env) = in_client(&tb, "env");
    for var in [
        format!("MY_NGINX_SERVICE_HOST={my_nginx_ip}"),
        "MY_NGINX_SERVICE_PORT=8080".to_string(),
        "MY_NGINX_SERVICE_PORT_HTTP=8080".to_string(),
        format!("MY_NGINX_PORT=tcp://{my_nginx_ip}:8080"),
        format!("MY_NGINX_PORT_8080_TCP_ADDR={my_nginx_ip}"),
    ] {
        assert!(env.lines().any(|l| l == var), "{var} missing in\n{env}");
    }

    // An upstream name: in every host's /etc/hosts (the host's resolver), pointing at the gateway.
    let upstream = format!("{}.test", unique("upstream"));
    // The testbed's gateway (this machine on the testbed network): the host's address with `.1`.
    let a = tb.addr("k8s-node1");
    let gateway = format!("{}.1", &a[..a.rfind('.').unwrap()]);
    let mut guards = Vec::new();
    for (host, _) in &tb.hosts {
        tb.ssh_ok(host, "cp /etc/hosts /tmp/hosts.dns-test");
        guards.push(tb.on_drop(
            host,
            "cat /tmp/hosts.dns-test > /etc/hosts; rm -f /tmp/hosts.dns-test",
        ));
        tb.ssh_ok(host, &format!("echo '{gateway} {upstream}' >> /etc/hosts"));
    }
    assert_eq!(
        lookup_until(&tb, &upstream, &BTreeSet::from([gateway.clone()])),
        BTreeSet::from([gateway.clone()])
    );

    // Changes reach the records within one apply, restarting nothing: a scale-up and a new Service.
    let before: Vec<String> = tb.hosts.iter().map(|(h, _)| ids(&tb, h, "k8s_")).collect();
    repo.write("web.yaml", &web(3))
        .write(
            "extra.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: extra\nspec:\n  ports:\n  - port: 81\n  selector:\n    run: my-nginx\n",
        )
        .commit("scale web, add extra");
    ok(run(&["apply", "--yes"]));
    let pods = ok(run(&["get", "pods", "-o", "wide"])).stdout;
    let web_ips: BTreeSet<String> = ["web-0", "web-1", "web-2"]
        .iter()
        .map(|n| ip_of(&pods, n))
        .collect();
    assert_eq!(
        lookup_until(&tb, "nginx.default.svc.cluster.local", &web_ips),
        web_ips
    );
    let svc = ok(run(&["get", "svc"])).stdout;
    let extra_ip = rows(&svc, "extra")[0][2].clone();
    assert_eq!(
        lookup_until(
            &tb,
            "extra.default.svc.cluster.local",
            &BTreeSet::from([extra_ip.clone()])
        ),
        BTreeSet::from([extra_ip])
    );
    let after: Vec<String> = tb.hosts.iter().map(|(h, _)| ids(&tb, h, "k8s_")).collect();
    for (b, a) in before.iter().zip(&after) {
        let b: BTreeSet<&str> = b.lines().collect();
        let a: BTreeSet<&str> = a.lines().collect();
        assert!(
            b.is_subset(&a),
            "a container was restarted: before {b:?}, after {a:?}"
        );
    }
    // A Service added later does not change the running pod's environment (as Kubernetes).
    let (_, env) = in_client(&tb, "env");
    assert!(!env.contains("EXTRA_SERVICE_HOST"), "{env}");

    // Converged: nothing more to write.
    let plan = ok(run(&["plan"]));
    assert!(plan.stdout.contains("No changes."), "{plan:?}");
    drop(guards);
}
