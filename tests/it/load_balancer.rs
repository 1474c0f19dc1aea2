//! `type: LoadBalancer` on the testbed as k3s' ServiceLB does it on bare hosts (issue 12, acceptance 4;
//! docs/networking.md): the guestbook frontend Service of the official examples validates, gets the
//! chosen nodes' addresses as EXTERNAL-IP and answers on its port there; `loadBalancerSourceRanges`
//! admit exactly the listed client (tried from this machine's testbed gateway address and from a host);
//! `externalTrafficPolicy: Local` answers only on the node with an endpoint and the app sees the client's
//! own address, where `Cluster` masquerades it; `sessionAffinity: ClientIP` keeps a client on one pod.
//! A chosen node that is unreachable leaves the ingress (and the other hosts' rules) until it is back.
//! Every converged state plans "No changes." (the rules read back as written).
//!
//! Traffic goes only to the testbed's host addresses.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use crate::common::{Repo, Testbed, clusterctl_with, ok, reset, rows, serial};

/// The guestbook frontend Service (kubernetes/examples guestbook/frontend-service.yaml), with `extra`
/// spec lines.
fn frontend_service(extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: frontend
  labels:
    app: guestbook
    tier: frontend
spec:
  # if your cluster supports it, uncomment the following to automatically create
  # an external load-balanced IP for the frontend service.
  type: LoadBalancer
  ports:
    # the port that this service should serve on
  - port: 80
  selector:
    app: guestbook
    tier: frontend
{extra}"
    )
}

/// The frontend Deployment, its pods echoing the client address they see (busybox httpd's CGI
/// `REMOTE_ADDR`) and their name. `node` pins the pods to one host.
fn frontend(replicas: u32, node: Option<&str>) -> String {
    let selector = node
        .map(|n| format!("      nodeSelector:\n        kubernetes.io/hostname: {n}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: guestbook
      tier: frontend
  template:
    metadata:
      labels:
        app: guestbook
        tier: frontend
    spec:
{selector}      containers:
      - name: php-redis
        image: busybox:latest
        command:
        - sh
        - -c
        - |
          mkdir -p /w/cgi-bin
          cat > /w/cgi-bin/echo <<'END'
          #!/bin/sh
          printf 'Content-Type: text/plain\\r\\n\\r\\nclient: %s\\nserved-by: %s\\n' \"$REMOTE_ADDR\" \"$(hostname)\"
          END
          chmod +x /w/cgi-bin/echo
          exec httpd -f -p 80 -h /w
        ports:
        - containerPort: 80
"
    )
}

/// A copy of the testbed's cluster.yaml with `nodes` labelled for the ServiceLB.
fn cluster_with_lb_nodes(tb: &Testbed, nodes: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = std::fs::read_to_string(tb.cluster_yaml()).unwrap();
    for n in nodes {
        let from = format!("  - name: {n}\n");
        assert!(yaml.contains(&from), "{n} in {yaml}");
        yaml = yaml.replace(
            &from,
            &format!("{from}    labels:\n      svccontroller.clusterctl.io/enablelb: \"true\"\n"),
        );
    }
    let path = dir.path().join("cluster.yaml");
    std::fs::write(&path, yaml).unwrap();
    for f in ["id_ed25519", "known_hosts"] {
        std::fs::copy(tb.dir.join(f), dir.path().join(f)).unwrap();
    }
    (dir, path)
}

/// One GET of the echo page from this machine (source: the testbed gateway address).
fn echo(addr: &str, port: u16) -> Result<String, String> {
    let sa: SocketAddr = format!("{addr}:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut s =
        TcpStream::connect_timeout(&sa, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(b"GET /cgi-bin/echo HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if out.contains("client: ") {
        Ok(out)
    } else {
        Err(format!("no echo page: {out}"))
    }
}

/// One GET of the echo page from a testbed host.
fn echo_from(tb: &Testbed, host: &str, addr: &str, port: u16) -> Result<String, String> {
    let out = tb.ssh(
        host,
        &format!("curl -sS --max-time 4 http://{addr}:{port}/cgi-bin/echo"),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() && text.contains("client: ") {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

fn line<'a>(page: &'a str, key: &str) -> &'a str {
    page.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {page}"))
        .trim()
}

/// The client address the pod saw (busybox httpd prints IPv4 as a mapped IPv6 address, `[::ffff:a.b.c.d]`).
fn client(page: &str) -> &str {
    let c = line(page, "client:");
    c.strip_prefix("[::ffff:")
        .and_then(|c| c.strip_suffix(']'))
        .unwrap_or(c)
}

/// This machine's address on the testbed network: the `.1` of the hosts' /24.
fn gateway(tb: &Testbed) -> String {
    let a = tb.addr("k8s-master");
    format!("{}.1", a.rsplit_once('.').unwrap().0)
}

/// (EXTERNAL-IP, node port) from `get svc -o wide`.
fn frontend_row(cluster: &std::path::Path, repo: &Repo) -> (String, u16) {
    let out = ok(clusterctl_with(
        cluster,
        repo.path(),
        &["get", "svc", "-o", "wide"],
    ))
    .stdout;
    let row = &rows(&out, "frontend")[0];
    assert_eq!(row[1], "LoadBalancer", "{out}");
    let np = row[4]
        .split(':')
        .nth(1)
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no node port in {out}"));
    assert!(row[4].starts_with("80:"), "{out}");
    (row[3].clone(), np)
}

fn converged(cluster: &std::path::Path, repo: &Repo) {
    let plan = ok(clusterctl_with(cluster, repo.path(), &["plan"]));
    assert!(plan.stdout.contains("No changes."), "{plan:?}");
}

#[test]
fn load_balancer_is_published_on_the_labelled_nodes_and_source_ranges_admit_only_listed_clients() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let (_dir, cluster) = cluster_with_lb_nodes(&tb, &["k8s-node1", "k8s-node2"]);
    let repo = Repo::new();
    repo.write("frontend-service.yaml", &frontend_service(""))
        .write("frontend-deployment.yaml", &frontend(2, None))
        .commit("guestbook frontend");
    let v = ok(clusterctl_with(&cluster, repo.path(), &["validate"]));
    assert!(!v.stderr.contains("warning"), "{v:?}");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    let (n1, n2) = (
        tb.addr("k8s-node1").to_string(),
        tb.addr("k8s-node2").to_string(),
    );
    let (external, np) = frontend_row(&cluster, &repo);
    assert_eq!(external, format!("{n1},{n2}"));
    let short = ok(clusterctl_with(&cluster, repo.path(), &["get", "svc"])).stdout;
    assert_eq!(
        rows(&short, "frontend")[0][3],
        format!("{}...", &format!("{n1},{n2}")[..13]),
        "{short}"
    );
    let d = ok(clusterctl_with(
        &cluster,
        repo.path(),
        &["describe", "svc", "frontend"],
    ))
    .stdout;
    assert!(
        d.lines()
            .any(|l| l.starts_with("LoadBalancer Ingress:") && l.ends_with(&format!("{n1}, {n2}"))),
        "{d}"
    );
    converged(&cluster, &repo);

    // The port answers on the chosen nodes only; the NodePort on every host.
    for addr in [&n1, &n2] {
        echo(addr, 80).unwrap_or_else(|e| panic!("{addr}:80: {e}"));
    }
    for host in ["k8s-master", "k8s-node3"] {
        let addr = tb.addr(host);
        assert!(
            echo(addr, 80).is_err(),
            "{host} is not a chosen node, yet {addr}:80 answered"
        );
    }
    for (host, addr) in &tb.hosts {
        echo(addr, np).unwrap_or_else(|e| panic!("{host} {addr}:{np}: {e}"));
    }
    // Before any range, a host reaches it too.
    echo_from(&tb, "k8s-node3", &n1, 80).expect("from k8s-node3 without source ranges");

    // Only this machine's address: the host is refused.
    let gw = gateway(&tb);
    repo.write(
        "frontend-service.yaml",
        &frontend_service(&format!("  loadBalancerSourceRanges:\n  - {gw}/32\n")),
    )
    .commit("only the gateway");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    converged(&cluster, &repo);
    for addr in [&n1, &n2] {
        echo(addr, 80).unwrap_or_else(|e| panic!("gateway {gw} → {addr}:80: {e}"));
        assert!(
            echo_from(&tb, "k8s-node3", addr, 80).is_err(),
            "k8s-node3 is outside {gw}/32, yet {addr}:80 answered it"
        );
    }
    let d = ok(clusterctl_with(
        &cluster,
        repo.path(),
        &["describe", "svc", "frontend"],
    ))
    .stdout;
    assert!(
        d.contains("LoadBalancer Source Ranges:") && d.contains(&format!("{gw}/32")),
        "{d}"
    );

    // Only the host's address: now this machine is refused.
    let n3 = tb.addr("k8s-node3").to_string();
    repo.write(
        "frontend-service.yaml",
        &frontend_service(&format!("  loadBalancerSourceRanges:\n  - {n3}/32\n")),
    )
    .commit("only k8s-node3");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    converged(&cluster, &repo);
    for addr in [&n1, &n2] {
        assert!(
            echo(addr, 80).is_err(),
            "{gw} is outside {n3}/32, yet {addr}:80 answered it"
        );
        echo_from(&tb, "k8s-node3", addr, 80)
            .unwrap_or_else(|e| panic!("k8s-node3 → {addr}:80: {e}"));
    }
    reset(&tb);
}

#[test]
fn local_policy_answers_only_where_the_endpoint_runs_and_keeps_the_client_address() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let cluster = tb.cluster_yaml();
    let gw = gateway(&tb);
    let repo = Repo::new();
    repo.write("frontend-service.yaml", &frontend_service(""))
        .write("frontend-deployment.yaml", &frontend(1, Some("k8s-node2")))
        .commit("one frontend on k8s-node2, Cluster policy");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    let (external, np) = frontend_row(&cluster, &repo);
    // No node is labelled: every node publishes it.
    let all: Vec<&str> = tb.hosts.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(external, all.join(","));
    let n1 = tb.addr("k8s-node1").to_string();
    let n2 = tb.addr("k8s-node2").to_string();
    // Cluster: every node answers, and through another node the client address is masqueraded.
    let via1 = echo(&n1, 80).expect("Cluster policy through k8s-node1");
    assert_ne!(client(&via1), gw, "{via1}");

    repo.write(
        "frontend-service.yaml",
        &frontend_service("  externalTrafficPolicy: Local\n"),
    )
    .commit("Local policy");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    converged(&cluster, &repo);
    let (_, np2) = frontend_row(&cluster, &repo);
    assert_eq!(np, np2, "the node port stays");
    for port in [80, np] {
        let page = echo(&n2, port).unwrap_or_else(|e| panic!("{n2}:{port}: {e}"));
        assert_eq!(client(&page), gw, "the client address is kept: {page}");
        for host in ["k8s-master", "k8s-node1", "k8s-node3"] {
            let addr = tb.addr(host);
            assert!(
                echo(addr, port).is_err(),
                "{host} has no endpoint, yet {addr}:{port} answered"
            );
        }
    }
    let d = ok(clusterctl_with(
        &cluster,
        repo.path(),
        &["describe", "svc", "frontend"],
    ))
    .stdout;
    assert!(
        d.contains("External Traffic Policy:") && d.contains("Local"),
        "{d}"
    );
    assert!(
        d.lines().any(|l| l.starts_with("HealthCheck NodePort:")),
        "{d}"
    );
    reset(&tb);
}

#[test]
fn client_ip_affinity_keeps_a_client_on_one_pod() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let cluster = tb.cluster_yaml();
    let repo = Repo::new();
    repo.write("frontend-deployment.yaml", &frontend(3, None))
        .write("frontend-service.yaml", &frontend_service(""))
        .commit("three frontends");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    let n1 = tb.addr("k8s-node1").to_string();
    let spread = |what: &str| -> BTreeSet<String> {
        (0..24)
            .map(|_| {
                let page = echo(&n1, 80).unwrap_or_else(|e| panic!("{what}: {e}"));
                line(&page, "served-by:").to_string()
            })
            .collect()
    };
    assert!(
        spread("no affinity").len() >= 2,
        "without affinity requests spread"
    );
    repo.write(
        "frontend-service.yaml",
        &frontend_service("  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 600\n"),
    )
    .commit("ClientIP affinity");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    converged(&cluster, &repo);
    let pods = spread("ClientIP");
    assert_eq!(pods.len(), 1, "one client, one pod: {pods:?}");
    let d = ok(clusterctl_with(
        &cluster,
        repo.path(),
        &["describe", "svc", "frontend"],
    ))
    .stdout;
    assert!(
        d.lines()
            .any(|l| l.starts_with("Session Affinity:") && l.ends_with("ClientIP")),
        "{d}"
    );
    reset(&tb);
}

/// k3s' ServiceLB lists the nodes whose svclb pod is ready: a chosen node that is unreachable (NotReady)
/// leaves `status.loadBalancer.ingress`, and the reachable hosts' rules stop capturing its address;
/// back, it returns. The pods run on k8s-node1 only, so stopping k8s-node2 takes no endpoint away.
#[test]
fn an_unreachable_chosen_node_leaves_the_ingress_and_returns_with_its_host() {
    let tb = Testbed::get();
    let _g = serial();
    let _down = crate::common::breaking_a_host();
    reset(&tb);
    let (_dir, cluster) = cluster_with_lb_nodes(&tb, &["k8s-node1", "k8s-node2"]);
    let yaml = std::fs::read_to_string(&cluster).unwrap();
    std::fs::write(
        &cluster,
        crate::common::with_ssh_settings(&yaml, &["connectTimeout: 5"]),
    )
    .unwrap();
    let repo = Repo::new();
    repo.write("frontend-service.yaml", &frontend_service(""))
        .write("frontend-deployment.yaml", &frontend(1, Some("k8s-node1")))
        .commit("guestbook frontend on k8s-node1");
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    let (n1, n2) = (
        tb.addr("k8s-node1").to_string(),
        tb.addr("k8s-node2").to_string(),
    );
    assert_eq!(frontend_row(&cluster, &repo).0, format!("{n1},{n2}"));
    // Rules on k8s-node1 capturing an address: `-d <addr>/32 … --dport 80`.
    let captures = |addr: &str| {
        tb.ssh_ok("k8s-node1", "iptables-save -t nat")
            .lines()
            .any(|l| l.contains(&format!("-d {addr}/32")) && l.contains("--dport 80"))
    };
    assert!(captures(&n2), "k8s-node1's rules capture {n2}:80");

    const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/testbed");
    struct Restart;
    impl Drop for Restart {
        fn drop(&mut self) {
            let _ = std::process::Command::new("bash")
                .args([SCRIPT, "start", "k8s-node2"])
                .output();
        }
    }
    let restart = Restart;
    crate::common::stdout_ok(
        "testbed stop",
        std::process::Command::new("bash")
            .args([SCRIPT, "stop", "k8s-node2"])
            .output()
            .unwrap(),
    );
    // NotReady: gone from EXTERNAL-IP (and describe's LoadBalancer Ingress) at once, from the observation.
    assert_eq!(frontend_row(&cluster, &repo).0, n1);
    let d = ok(clusterctl_with(
        &cluster,
        repo.path(),
        &["describe", "svc", "frontend"],
    ))
    .stdout;
    assert!(
        d.lines()
            .any(|l| l.starts_with("LoadBalancer Ingress:") && l.ends_with(&n1)),
        "{d}"
    );
    let apply = ok(clusterctl_with(
        &cluster,
        repo.path(),
        &["apply", "--yes", "--allow-unreachable"],
    ));
    assert!(apply.stdout.contains("k8s-node1"), "{apply:?}");
    assert!(!captures(&n2), "k8s-node1 still captures {n2}:80");
    assert!(captures(&n1));
    echo(&n1, 80).unwrap_or_else(|e| panic!("{n1}:80: {e}"));

    crate::common::stdout_ok(
        "testbed start",
        std::process::Command::new("bash")
            .args([SCRIPT, "start", "k8s-node2"])
            .output()
            .unwrap(),
    );
    drop(restart);
    let mut back = String::new();
    for _ in 0..60 {
        back = frontend_row(&cluster, &repo).0;
        if back == format!("{n1},{n2}") {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(
        back,
        format!("{n1},{n2}"),
        "k8s-node2 is back in the ingress"
    );
    ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
    assert!(captures(&n2), "k8s-node1 captures {n2}:80 again");
    for addr in [&n1, &n2] {
        echo(addr, 80).unwrap_or_else(|e| panic!("{addr}:80: {e}"));
    }
    // k8s-node2's own cluster DNS pod (docs/dns.md) restarted with its host and may become Ready only after
    // that apply: then one more apply adds its endpoint, and nothing else may be left to do.
    for _ in 0..10 {
        let plan = ok(clusterctl_with(&cluster, repo.path(), &["plan"]));
        if plan.stdout.contains("No changes.") {
            break;
        }
        let other: Vec<&str> = plan
            .stdout
            .lines()
            .filter(|l| l.contains("endpoint") && !l.contains("kube-system/kube-dns:"))
            .collect();
        assert!(
            other.is_empty(),
            "only the DNS pod's endpoints may lag: {plan:?}"
        );
        ok(clusterctl_with(&cluster, repo.path(), &["apply", "--yes"]));
        std::thread::sleep(Duration::from_secs(2));
    }
    converged(&cluster, &repo);
    reset(&tb);
}
