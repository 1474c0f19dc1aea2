//! Services and the flat pod network on the testbed (issue 5's acceptance): NodePort through every host,
//! ClusterIP and pod IPs from inside a pod across hosts, endpoints following a scale-down, deletion that
//! leaves docker's and foreign rules alone, repair of hand-flushed rules, zero writes when converged, and
//! nodePort validation before any host is contacted.
//!
//! Traffic goes only to the testbed's host addresses (from this machine) and to pod/service addresses from
//! inside the testbed.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::{
    Repo, Testbed, assert_no_login, assert_writes_nothing, clusterctl, clusterctl_with, hosts_up,
    ok, pod_rows, reset, rows, serial,
};

/// One HTTP/1.0 GET from this machine; the response text.
fn http_get(addr: &str, port: u16) -> Result<String, String> {
    let sa: SocketAddr = format!("{addr}:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut s =
        TcpStream::connect_timeout(&sa, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok();
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// `served-by: <pod> <ip>` of a page.
fn served_by(page: &str) -> Option<String> {
    page.lines()
        .find_map(|l| l.strip_prefix("served-by: "))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_string)
}

/// (CLUSTER-IP, node port) of the seed's service, from `get svc`.
fn service_addr(tb: &Testbed, repo: &Repo) -> (String, u16) {
    let out = ok(clusterctl(tb, repo, &["get", "svc"])).stdout;
    let row = &rows(&out, "my-nginx")[0];
    assert_eq!(row[1], "NodePort", "{out}");
    // 8080:30000/TCP
    let np = row[4]
        .split(':')
        .nth(1)
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no node port in {out}"));
    (row[2].clone(), np)
}

fn seed_with_service(tb: &Testbed) -> Repo {
    reset(tb);
    let repo = Repo::new();
    repo.seed("my_nginx.yaml")
        .seed("my_service.yaml")
        .commit("nginx + service");
    ok(clusterctl(tb, &repo, &["apply", "--yes"]));
    repo
}

/// The nat table without comments and without chain policy counters (they count traffic, not writes).
fn nat(tb: &Testbed, host: &str) -> String {
    tb.ssh_ok(
        host,
        "iptables-save -t nat | grep -v '^#' | sed 's/\\[[0-9:]*\\]//'",
    )
}

/// `iptables-save` text without the cluster DNS Service's rules and chains: every line naming a chain
/// that a `kube-system/kube-dns` rule names, and those rules themselves.
fn without_cluster_dns(rules: &str) -> String {
    let chain = |w: &str| {
        ["KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-"]
            .iter()
            .any(|p| w.trim_start_matches(':').starts_with(p))
    };
    let dns: std::collections::BTreeSet<&str> = rules
        .lines()
        .filter(|l| l.contains("\"kube-system/kube-dns:"))
        .flat_map(|l| l.split_whitespace())
        .filter(|w| chain(w))
        .collect();
    rules
        .lines()
        .filter(|l| {
            !l.contains("\"kube-system/kube-dns:")
                && !l
                    .split_whitespace()
                    .any(|w| chain(w) && dns.contains(w.trim_start_matches(':')))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn filter(tb: &Testbed, host: &str) -> String {
    tb.ssh_ok(
        host,
        "iptables-save -t filter | grep -v '^#' | sed 's/\\[[0-9:]*\\]//'",
    )
}

#[test]
fn node_port_answers_on_every_host_and_spreads_and_a_second_apply_writes_nothing() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = seed_with_service(&tb);
    let (_, np) = service_addr(&tb, &repo);
    assert!((30000..=32767).contains(&np));
    let pods = pod_rows(&tb, &repo);
    let node_of = |pod: &str| {
        pods.iter()
            .find(|p| p[0] == pod)
            .map(|p| p[6].clone())
            .unwrap_or_else(|| panic!("{pod} not in {pods:?}"))
    };
    // Every host answers, the tainted master (no nginx pod) included.
    for (host, addr) in &tb.hosts {
        let page = http_get(addr, np).unwrap_or_else(|e| panic!("{host} {addr}:{np}: {e}"));
        assert!(page.contains("Welcome to nginx!"), "{host}: {page}");
    }
    // 60 requests through one host reach pods on at least two hosts.
    let master = tb.addr("k8s-master").to_string();
    let mut nodes = BTreeSet::new();
    for _ in 0..60 {
        let page = http_get(&master, np).expect("request through the master");
        nodes.insert(node_of(&served_by(&page).expect("served-by line")));
    }
    assert!(nodes.len() >= 2, "all 60 requests went to {nodes:?}");

    // Converged: the plan is empty and a second apply leaves every host's rules untouched.
    let before: Vec<(String, String)> = tb
        .hosts
        .iter()
        .map(|(h, _)| (nat(&tb, h), filter(&tb, h)))
        .collect();
    let plan = ok(clusterctl(&tb, &repo, &["plan", "--detailed-exitcode"]));
    assert!(plan.stdout.contains("No changes."), "{plan:?}");
    let second = assert_writes_nothing(&tb, || ok(clusterctl(&tb, &repo, &["apply", "--yes"])));
    assert!(second.stdout.contains("No changes."), "{second:?}");
    let after: Vec<(String, String)> = tb
        .hosts
        .iter()
        .map(|(h, _)| (nat(&tb, h), filter(&tb, h)))
        .collect();
    assert_eq!(before, after, "a converged apply must not touch iptables");
}

#[test]
fn from_inside_a_pod_the_cluster_ip_and_every_pod_ip_answer() {
    let tb = Testbed::get();
    let _g = serial();
    reset(&tb);
    let repo = Repo::new();
    repo.seed("my_nginx.yaml")
        .seed("my_service.yaml")
        .write(
            "client.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: client\nspec:\n  containers:\n  - name: sh\n    image: busybox:latest\n",
        )
        .commit("nginx, service, client");
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let (cluster_ip, _) = service_addr(&tb, &repo);
    assert!(cluster_ip.starts_with("10."), "{cluster_ip}");
    let pods = pod_rows(&tb, &repo);
    let client = pods.iter().find(|p| p[0] == "client").expect("client pod");
    let client_node = client[6].clone();
    let get = |ip: &str, port: u16| {
        tb.ssh(
            &client_node,
            &format!(
                "docker exec k8s_sh_client_default sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 3 {ip} {port}'"
            ),
        )
    };
    let nginx: Vec<&Vec<String>> = pods
        .iter()
        .filter(|p| p[0].starts_with("my-nginx-"))
        .collect();
    assert_eq!(nginx.len(), 3);
    assert!(
        nginx.iter().any(|p| p[6] != client_node),
        "some nginx pod is on another host"
    );
    for p in &nginx {
        assert!(
            p[5].starts_with("10.244."),
            "pod IP in the pod network: {p:?}"
        );
        let out = get(&p[5], 80);
        let page = String::from_utf8_lossy(&out.stdout);
        assert!(
            page.contains(&format!("served-by: {}", p[0])),
            "pod {} ({}) from {client_node}: {page}",
            p[0],
            p[6]
        );
    }
    let mut seen = BTreeSet::new();
    for _ in 0..12 {
        let out = get(&cluster_ip, 8080);
        let page = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            page.contains("Welcome to nginx!"),
            "ClusterIP {cluster_ip}:8080: {page}"
        );
        seen.insert(served_by(&page).unwrap());
    }
    assert!(seen.len() >= 2, "ClusterIP balanced over {seen:?}");
}

#[test]
fn scaling_down_points_every_host_at_the_remaining_pod() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = seed_with_service(&tb);
    let (_, np) = service_addr(&tb, &repo);
    let text = std::fs::read_to_string(repo.path().join("apps/my_nginx.yaml")).unwrap();
    repo.write("my_nginx.yaml", &text.replace("replicas: 3", "replicas: 1"))
        .commit("scale to 1");
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout.contains("endpoint") && plan.stdout.contains("removed"),
        "{plan:?}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    let pods = pod_rows(&tb, &repo);
    assert_eq!(pods.len(), 1, "{pods:?}");
    let (pod, ip) = (pods[0][0].clone(), pods[0][5].clone());
    for (host, addr) in &tb.hosts {
        let rules = nat(&tb, host);
        let eps: Vec<&str> = rules
            .lines()
            .filter(|l| l.contains("my-nginx:http -> "))
            .collect();
        assert_eq!(eps.len(), 1, "{host}: {eps:?}");
        assert!(eps[0].contains(&format!("-> {ip}:80")), "{host}: {eps:?}");
        for _ in 0..10 {
            let page = http_get(addr, np).unwrap_or_else(|e| panic!("{host}: request failed: {e}"));
            assert_eq!(served_by(&page).as_deref(), Some(pod.as_str()), "{host}");
        }
    }
}

#[test]
fn deleting_the_service_removes_its_chains_and_nothing_else() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = seed_with_service(&tb);
    let mut guards = Vec::new();
    for (host, _) in &tb.hosts {
        tb.ssh_ok(host, "iptables -t nat -N CCTEST-FOREIGN && iptables -t nat -A CCTEST-FOREIGN -s 192.0.2.1/32 -j RETURN");
        guards.push(tb.on_drop(
            host,
            "iptables -t nat -F CCTEST-FOREIGN; iptables -t nat -X CCTEST-FOREIGN",
        ));
        let rules = nat(&tb, host);
        assert!(rules.contains(":KUBE-SVC-"), "{host}: {rules}");
    }
    repo.remove("my_service.yaml").commit("no service");
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout
            .contains("service default/my-nginx:http removed"),
        "{plan:?}"
    );
    ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    for (host, _) in &tb.hosts {
        let all = nat(&tb, host);
        // The cluster DNS Service (kube-system/kube-dns, docs/dns.md) keeps its chains.
        assert_eq!(
            all.contains("kube-system/kube-dns:dns"),
            crate::common::cluster_dns_on(&tb),
            "{host}: {all}"
        );
        let rules = without_cluster_dns(&all);
        for gone in [":KUBE-SVC-", ":KUBE-SEP-", ":KUBE-EXT-", "my-nginx"] {
            assert!(!rules.contains(gone), "{host} still has {gone}: {rules}");
        }
        assert!(
            rules.contains(":KUBE-SERVICES"),
            "{host}: fixed chains stay"
        );
        assert!(
            rules.contains(":DOCKER "),
            "{host}: docker's chain survives"
        );
        assert!(
            rules.contains("-A CCTEST-FOREIGN -s 192.0.2.1/32 -j RETURN"),
            "{host}: foreign rule survives"
        );
    }
    drop(guards);
}

#[test]
fn hand_flushed_rules_are_shown_and_repaired() {
    let tb = Testbed::get();
    let _g = serial();
    let repo = seed_with_service(&tb);
    let (_, np) = service_addr(&tb, &repo);
    let before = nat(&tb, "k8s-node2");
    tb.ssh_ok("k8s-node2", "iptables -t nat -F KUBE-SERVICES");
    assert!(
        http_get(tb.addr("k8s-node2"), np).is_err(),
        "flushed: the node port is dead"
    );
    let plan = ok(clusterctl(&tb, &repo, &["plan"]));
    assert!(
        plan.stdout
            .contains("~ service rules \"iptables\" on k8s-node2"),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("cluster IP rule missing"), "{plan:?}");
    assert!(
        plan.stdout
            .contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{plan:?}"
    );
    let apply = ok(clusterctl(&tb, &repo, &["apply", "--yes"]));
    assert!(
        apply.stdout.contains("Mutating remote commands: 1."),
        "one iptables-restore: {apply:?}"
    );
    assert_eq!(
        nat(&tb, "k8s-node2")
            .lines()
            .filter(|l| l.starts_with("-A"))
            .collect::<Vec<_>>(),
        before
            .lines()
            .filter(|l| l.starts_with("-A"))
            .collect::<Vec<_>>()
    );
    let page = http_get(tb.addr("k8s-node2"), np).expect("repaired");
    assert!(page.contains("Welcome to nginx!"));
}

#[test]
fn bad_node_ports_are_reported_with_positions_before_any_host() {
    let tb = Testbed::get();
    let _up = hosts_up();
    let repo = Repo::new();
    let svc = |name: &str, np: u32| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: NodePort\n  selector:\n    app: x\n  ports:\n  - port: 80\n    nodePort: {np}\n"
        )
    };
    repo.write("a.yaml", &svc("a", 70000))
        .write("b.yaml", &svc("b", 30080))
        .write("c.yaml", &svc("c", 30080))
        .commit("bad ports");
    assert_no_login(&tb, |cluster| {
        let run = clusterctl_with(cluster, repo.path(), &["plan"]);
        assert_ne!(run.code, 0, "{run:?}");
        for needle in [
            "apps/a.yaml:11:15: spec.ports[0].nodePort: Invalid value: 70000: provided port is not in the valid range. The range of valid ports is 30000-32767",
            "apps/c.yaml:11:15: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated",
            "no host was contacted",
        ] {
            assert!(run.stderr.contains(needle), "missing {needle:?}: {run:?}");
        }
        assert!(!run.stderr.contains("apps/b.yaml"), "{run:?}");
    });
}
