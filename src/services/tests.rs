use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;

use super::iptables::{self, SavedTable, kernel_probability, normalize};
use super::render::{jumps, restore_text, ruleset};
use super::*;

fn port(
    ns: &str,
    name: &str,
    pname: &str,
    ip: &str,
    p: u16,
    np: Option<u16>,
    eps: &[&str],
) -> ServicePort {
    ServicePort {
        namespace: ns.into(),
        name: name.into(),
        port_name: pname.into(),
        protocol: Protocol::Tcp,
        cluster_ip: ip.parse().unwrap(),
        port: p,
        node_port: np,
        endpoints: eps
            .iter()
            .map(|e| {
                let (ip, port) = e.split_once(':').unwrap();
                Endpoint {
                    ip: ip.parse().unwrap(),
                    port: port.parse().unwrap(),
                }
            })
            .collect(),
        external: External::default(),
        affinity_seconds: None,
    }
}

#[test]
fn hashes_match_kube_proxy() {
    // Vectors from kube-proxy's TestOverallIPTablesRules (semantics §5.3).
    let p = port(
        "ns1",
        "svc1",
        "p80",
        "172.30.0.41",
        80,
        None,
        &["10.180.0.1:80"],
    );
    assert_eq!(p.svc_chain(), "KUBE-SVC-XPGD46QRK7WJZT7O");
    assert_eq!(p.sep_chain(&p.endpoints[0]), "KUBE-SEP-SXIVWICOYRO3J4NJ");
    let p3 = port("ns3", "svc3", "p80", "172.30.0.43", 80, Some(3003), &[]);
    assert_eq!(p3.ext_chain(), "KUBE-EXT-X27LE4BHSL4DOUIK");
}

#[test]
fn probabilities_like_kube_proxy_and_the_kernel() {
    let ps: Vec<String> = (0..3).map(|i| probability(i, 3)).collect();
    assert_eq!(ps, ["0.3333333333", "0.5000000000", "1.0000000000"]);
    assert_eq!(probability(0, 4), "0.2500000000");
    assert_eq!(probability(0, 7), "0.1428571429");
    // What iptables-save prints back (the kernel keeps a 31-bit fraction).
    assert_eq!(kernel_probability("0.3333333333"), "0.33333333349");
    assert_eq!(kernel_probability("0.5000000000"), "0.50000000000");
    assert_eq!(kernel_probability("0.2500000000"), "0.25000000000");
    assert_eq!(kernel_probability("0.33333333349"), "0.33333333349");
}

fn render(ports: &[ServicePort]) -> String {
    restore_text(&ruleset(ports, "10.244.0.0/16"), &[], &[])
}

#[test]
fn restore_input_cluster_ip_0_to_3_endpoints() {
    let eps = ["10.244.1.2:80", "10.244.2.2:80", "10.244.3.2:80"];
    for n in 0..=3 {
        let p = port("default", "web", "", "10.96.0.2", 8080, None, &eps[..n]);
        insta::assert_snapshot!(format!("cluster_ip_{n}_endpoints"), render(&[p]));
    }
}

#[test]
fn restore_input_node_port_0_to_3_endpoints() {
    let eps = ["10.244.1.2:80", "10.244.2.2:80", "10.244.3.2:80"];
    for n in 0..=3 {
        let p = port(
            "default",
            "my-nginx",
            "http",
            "10.96.0.2",
            8080,
            Some(30000),
            &eps[..n],
        );
        insta::assert_snapshot!(format!("node_port_{n}_endpoints"), render(&[p]));
    }
}

/// `iptables-save` of what the restore above wrote, captured on the testbed (nf_tables, 1.8.9): its
/// reordered matches, `/32`, quoted comments, `--set-xmark`, REJECT defaults and kernel probabilities.
const SAVED_NAT: &str = r#"*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:CLUSTERCTL-POSTROUTING - [0:0]
:KUBE-EXT-7T4LJUAGJSXQWVYI - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-AAA - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A CLUSTERCTL-POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -m comment --comment "clusterctl pod traffic leaving the pod network" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SERVICES -d 10.96.0.2/32 -p tcp -m comment --comment "default/my-nginx:http cluster IP" -m tcp --dport 8080 -j KUBE-SVC-7T4LJUAGJSXQWVYI
-A KUBE-SVC-7T4LJUAGJSXQWVYI ! -s 10.244.0.0/16 -d 10.96.0.2/32 -p tcp -m comment --comment "default/my-nginx:http cluster IP" -m tcp --dport 8080 -j KUBE-MARK-MASQ
-A KUBE-SVC-7T4LJUAGJSXQWVYI -m comment --comment "default/my-nginx:http -> 10.244.1.2:80" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-AAA
-A KUBE-NODEPORTS -p tcp -m comment --comment "default/my-nginx:http" -m tcp --dport 30000 -j KUBE-EXT-7T4LJUAGJSXQWVYI
-A DOCKER -i docker0 -j RETURN
COMMIT
"#;

#[test]
fn keeps_only_owned_chains_and_jumps() {
    let kept = iptables::keep_owned(SAVED_NAT);
    assert!(kept.iter().all(|l| !l.contains("DOCKER")), "{kept:#?}");
    assert!(
        kept.contains(
            &"-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
                .to_string()
        )
    );
    let t = SavedTable::parse(&kept);
    assert_eq!(t.jumps.len(), 1);
    assert_eq!(t.chains["KUBE-MARK-MASQ"].len(), 1);
    // Allocations come back from the comments.
    let (ips, ports, _) = iptables::allocations(&t, &SavedTable::default());
    assert_eq!(ips["default/my-nginx"], "10.96.0.2");
    assert_eq!(ports["default/my-nginx:http"], 30000);
}

#[test]
fn rendered_and_saved_forms_normalise_alike() {
    let pairs = [
        (
            "-m comment --comment \"default/my-nginx:http cluster IP\" -m tcp -p tcp -d 10.96.0.2 --dport 8080 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
            "! -s 10.244.0.0/16 -d 10.96.0.2/32 -p tcp -m comment --comment \"default/my-nginx:http cluster IP\" -m tcp --dport 8080 -j KUBE-MARK-MASQ",
        ),
        (
            "-j MARK --or-mark 0x4000",
            "-j MARK --set-xmark 0x4000/0x4000",
        ),
        (
            "-j MARK --xor-mark 0x4000",
            "-j MARK --set-xmark 0x4000/0x0",
        ),
        (
            "-m comment --comment ns/s:p -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-X",
            "-m comment --comment \"ns/s:p\" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-X",
        ),
        (
            "-m comment --comment \"x has no endpoints\" -m tcp -p tcp -d 10.96.0.3 --dport 80 -j REJECT",
            "-d 10.96.0.3/32 -p tcp -m comment --comment \"x has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable",
        ),
    ];
    for (rendered, saved) in pairs {
        assert_eq!(normalize(rendered), normalize(saved), "{rendered}");
    }
    // Target options are not reordered, and a different endpoint is a different rule.
    assert_ne!(
        normalize("-m tcp -p tcp -j DNAT --to-destination 10.244.1.2:80"),
        normalize("-m tcp -p tcp -j DNAT --to-destination 10.244.1.3:80")
    );
}

/// Simulates a restore + save: every rendered rule becomes what iptables-save prints (normalised order
/// is enough for the diff), plus the jumps.
fn as_saved(text: &str) -> (SavedTable, SavedTable) {
    let mut nat = Vec::new();
    let mut filter = Vec::new();
    let mut cur = &mut filter;
    for line in text.lines() {
        match line {
            "*nat" => cur = &mut nat,
            "*filter" => cur = &mut filter,
            l if l.starts_with(':') => cur.push(format!(":{}", l[1..].split(' ').next().unwrap())),
            l if l.starts_with("-A ") => cur.push(l.to_string()),
            _ => {}
        }
    }
    for j in jumps() {
        let line = format!("-A {} {}", j.chain, j.rule);
        if j.table == "nat" {
            nat.push(line)
        } else {
            filter.push(line)
        }
    }
    (SavedTable::parse(&nat), SavedTable::parse(&filter))
}

#[test]
fn diff_creates_converges_updates_and_deletes() {
    let eps = ["10.244.1.2:80", "10.244.2.2:80", "10.244.3.2:80"];
    let three = vec![port(
        "default",
        "my-nginx",
        "http",
        "10.96.0.2",
        8080,
        Some(30000),
        &eps,
    )];
    let rules = ruleset(&three, "10.244.0.0/16");
    let fresh = iptables::diff(
        &rules,
        &jumps(),
        &SavedTable::default(),
        &SavedTable::default(),
    );
    assert!(fresh.fresh);
    assert_eq!(fresh.missing_jumps.len(), jumps().len());
    let text = fresh.restore.clone().unwrap();
    let (nat, filter) = as_saved(&text);
    // Converged: nothing to write.
    assert!(iptables::diff(&rules, &jumps(), &nat, &filter).is_empty());

    // Scale to one endpoint: the two others are removed, their SEP chains deleted with -X.
    let one = vec![port(
        "default",
        "my-nginx",
        "http",
        "10.96.0.2",
        8080,
        Some(30000),
        &eps[..1],
    )];
    let d = iptables::diff(&ruleset(&one, "10.244.0.0/16"), &jumps(), &nat, &filter);
    assert_eq!(
        d.details,
        [
            "default/my-nginx:http: endpoint 10.244.2.2:80 removed",
            "default/my-nginx:http: endpoint 10.244.3.2:80 removed",
            "chains rewritten: 3"
        ]
    );
    let restore = d.restore.unwrap();
    assert_eq!(restore.matches("\n-X KUBE-SEP-").count(), 2, "{restore}");
    assert!(d.missing_jumps.is_empty());

    // Service deleted: its chains go, the fixed ones stay.
    let d = iptables::diff(&ruleset(&[], "10.244.0.0/16"), &jumps(), &nat, &filter);
    assert_eq!(d.details[0], "service default/my-nginx:http removed");
    let restore = d.restore.unwrap();
    assert_eq!(
        restore.matches("\n-X KUBE-").count(),
        5,
        "SVC, EXT and 3 SEP: {restore}"
    );
    assert!(!restore.contains("-X KUBE-SERVICES"));

    // Flushed by hand: repaired.
    let mut flushed = nat.clone();
    flushed.chains.insert("KUBE-SERVICES".into(), vec![]);
    let d = iptables::diff(&rules, &jumps(), &flushed, &filter);
    assert!(d.restore.is_some());
    assert!(
        d.details[0].contains("cluster IP rule missing"),
        "{:?}",
        d.details
    );
}

fn svc(yaml: serde_json::Value) -> Service {
    serde_json::from_value(yaml).unwrap()
}

#[test]
fn allocation_is_deterministic_stable_and_honours_explicit_values() {
    let a = svc(
        serde_json::json!({"metadata": {"name": "a", "namespace": "default"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
    );
    let b = svc(
        serde_json::json!({"metadata": {"name": "b", "namespace": "default"},
        "spec": {"type": "NodePort", "clusterIP": "10.96.0.2", "ports": [{"port": 80, "nodePort": 30000}]}}),
    );
    let c = svc(
        serde_json::json!({"metadata": {"name": "c", "namespace": "default"},
        "spec": {"ports": [{"port": 80}]}}),
    );
    let none = alloc::InUse::default();
    let r = alloc::allocate(&[&c, &b, &a], "10.96.0.0/12", (30000, 32767), &none);
    let ip = |i: usize| r[i].cluster_ip.unwrap().to_string();
    assert_eq!(
        (ip(0), ip(1), ip(2)),
        ("10.96.0.4".into(), "10.96.0.2".into(), "10.96.0.3".into())
    );
    assert_eq!(r[1].node_ports, [Some(30000)]);
    assert_eq!(r[2].node_ports, [Some(30001)]);
    assert_eq!(r[0].node_ports, [None]);

    // Stable: what the hosts carry wins over "lowest free", and a new service does not move it.
    let in_use = alloc::InUse {
        cluster_ips: BTreeMap::from([("default/c".to_string(), Ipv4Addr::new(10, 96, 0, 9))]),
        node_ports: BTreeMap::from([("default/a".to_string(), 31234)]),
        health_check_node_ports: BTreeMap::new(),
    };
    let n = svc(
        serde_json::json!({"metadata": {"name": "0-new", "namespace": "default"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}]}}),
    );
    let r = alloc::allocate(&[&a, &b, &c, &n], "10.96.0.0/12", (30000, 32767), &in_use);
    assert_eq!(r[2].cluster_ip, Some(Ipv4Addr::new(10, 96, 0, 9)));
    assert_eq!(r[0].node_ports, [Some(31234)]);
    assert_eq!(r[3].cluster_ip, Some(Ipv4Addr::new(10, 96, 0, 3)));
    assert_eq!(r[3].node_ports, [Some(30001)]);
}

#[test]
fn endpoints_are_ready_selected_pods_with_named_ports() {
    let s = svc(
        serde_json::json!({"metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "targetPort": "web"},
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}]}}),
    );
    let pod = |name: &str, ip: &str, ready: bool, app: &str| EndpointPod {
        namespace: "default".into(),
        name: name.into(),
        labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        ip: ip.parse().ok(),
        ready,
        named_ports: BTreeMap::from([("web".to_string(), (8080, Protocol::Tcp))]),
    };
    let pods = [
        pod("a", "10.244.1.3", true, "web"),
        pod("b", "10.244.2.2", false, "web"),
        pod("c", "10.244.1.2", true, "web"),
        pod("d", "10.244.3.2", true, "db"),
    ];
    let t = table(
        &[Allocated {
            service: &s,
            cluster_ip: Ipv4Addr::new(10, 96, 0, 5),
            node_ports: vec![None, None],
            load_balancer_ips: Vec::new(),
            health_check_node_port: None,
        }],
        &pods,
    );
    let eps: Vec<Vec<String>> = t
        .iter()
        .map(|p| p.endpoints.iter().map(|e| e.to_string()).collect())
        .collect();
    assert_eq!(t[0].spn(), "default/web:dns");
    assert_eq!(eps[0], ["10.244.1.2:5353", "10.244.1.3:5353"]);
    assert_eq!(eps[1], ["10.244.1.2:8080", "10.244.1.3:8080"]);
}

fn lb_port(eps: &[&str], local: bool, ranges: &[&str], affinity: Option<u32>) -> ServicePort {
    let mut p = port("default", "frontend", "", "10.96.0.7", 80, Some(30080), eps);
    p.external = External {
        load_balancer_ips: vec![Ipv4Addr::new(172, 30, 8, 11), Ipv4Addr::new(172, 30, 8, 12)],
        source_ranges: ranges.iter().map(|r| r.to_string()).collect(),
        restricted: !ranges.is_empty(),
        local,
        health_check_node_port: local.then_some(30081),
    };
    p.affinity_seconds = affinity;
    p
}

fn render_on(ports: &[ServicePort], addr: &str, pod_cidr: &str) -> String {
    let host = render::HostView {
        address: addr.parse().ok(),
        pod_cidr: crate::cidr::parse_v4(pod_cidr),
    };
    restore_text(
        &render::ruleset_for(ports, "10.244.0.0/16", &host),
        &[],
        &[],
    )
}

#[test]
fn load_balancer_rules_like_kube_proxy() {
    let p = lb_port(&["10.244.1.2:80", "10.244.2.2:80"], false, &[], None);
    assert_eq!(p.fw_chain(), format!("KUBE-FW-{}", p.hash()));
    let text = render_on(&[p], "172.30.8.11", "10.244.1.0/24");
    insta::assert_snapshot!("load_balancer_cluster_policy", text);
}

#[test]
fn load_balancer_source_ranges_go_through_the_firewall_chain() {
    let p = lb_port(&["10.244.1.2:80"], false, &["172.30.8.1/32"], None);
    let text = render_on(std::slice::from_ref(&p), "172.30.8.11", "10.244.1.0/24");
    let fw = p.fw_chain();
    let ext = p.ext_chain();
    assert!(
        text.contains(&format!(
            "-A KUBE-SERVICES -m comment --comment \"default/frontend loadbalancer IP\" -m tcp -p tcp -d 172.30.8.11 --dport 80 -j {fw}"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("-A {fw} -m comment --comment \"default/frontend loadbalancer IP\" -s 172.30.8.1/32 -j {ext}")), "{text}");
    assert!(text.contains(&format!("-A KUBE-PROXY-FIREWALL -m comment --comment \"default/frontend traffic not accepted by {fw}\" -m tcp -p tcp -d 172.30.8.12 --dport 80 -j DROP")), "{text}");
    // The node's own address is not in the range: its requests are not let through.
    assert!(
        !text.contains(&format!("-s 172.30.8.11 -j {ext}")),
        "{text}"
    );
    // A node inside a range may reach the ingress addresses (kube-proxy's allowFromNode).
    let inside = lb_port(&["10.244.1.2:80"], false, &["172.30.8.0/24"], None);
    let text = render_on(&[inside], "172.30.8.11", "10.244.1.0/24");
    assert!(text.contains(&format!("-s 172.30.8.11 -j {ext}")), "{text}");
    insta::assert_snapshot!(
        "load_balancer_source_ranges",
        render_on(&[p], "172.30.8.11", "10.244.1.0/24")
    );
}

#[test]
fn local_policy_serves_only_this_nodes_endpoints_without_masquerade() {
    let eps = ["10.244.1.2:80", "10.244.2.2:80"];
    let p = lb_port(&eps, true, &[], None);
    let svl = p.svl_chain();
    // Node 1 has one endpoint: external traffic goes to it only, not marked for masquerade.
    let on1 = render_on(std::slice::from_ref(&p), "172.30.8.11", "10.244.1.0/24");
    assert!(
        on1.contains(&format!("-A {} -j {svl}", p.ext_chain())),
        "{on1}"
    );
    let svl_rules: Vec<&str> = on1
        .lines()
        .filter(|l| l.starts_with(&format!("-A {svl} ")))
        .collect();
    assert_eq!(svl_rules.len(), 1, "{on1}");
    assert!(svl_rules[0].contains("10.244.1.2:80"), "{on1}");
    assert!(
        !on1.contains("masquerade traffic for default/frontend external"),
        "{on1}"
    );
    assert!(on1.contains("-A KUBE-NODEPORTS -m comment --comment \"default/frontend health check node port\" -m tcp -p tcp --dport 30081 -j ACCEPT"), "{on1}");
    insta::assert_snapshot!("local_policy_with_endpoint", on1);
    // Node 3 has none: no local chain, and the filter table drops external traffic.
    let on3 = render_on(&[p], "172.30.8.13", "10.244.3.0/24");
    assert!(!on3.contains(&svl), "{on3}");
    assert!(on3.contains("-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/frontend has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j DROP"), "{on3}");
    assert!(on3.contains("-A KUBE-EXTERNAL-SERVICES -m comment --comment \"default/frontend has no local endpoints\" -m tcp -p tcp -d 172.30.8.11 --dport 80 -j DROP"), "{on3}");
}

#[test]
fn client_ip_affinity_uses_recent_like_kube_proxy() {
    let mut p = port(
        "default",
        "web",
        "",
        "10.96.0.2",
        8080,
        None,
        &["10.244.1.2:80", "10.244.2.2:80"],
    );
    p.affinity_seconds = Some(10800);
    let text = render(std::slice::from_ref(&p));
    let sep = p.sep_chain(&p.endpoints[0]);
    assert!(text.contains(&format!("-A {} -m comment --comment \"default/web -> 10.244.1.2:80\" -m recent --name {sep} --rcheck --seconds 10800 --reap -j {sep}", p.svc_chain())), "{text}");
    assert!(text.contains(&format!("-A {sep} -m comment --comment default/web -m recent --name {sep} --set -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:80")), "{text}");
    // The affinity rules come before the random spread.
    let first_recent = text.find("--rcheck").unwrap();
    let first_stat = text.find("--probability").unwrap();
    assert!(first_recent < first_stat, "{text}");
    // iptables-save prints the match's defaults: it still compares equal.
    let saved = format!(
        "-m comment --comment \"default/web -> 10.244.1.2:80\" -m recent --rcheck --seconds 10800 --reap --name {sep} --mask 255.255.255.255 --rsource -j {sep}"
    );
    let ours = format!(
        "-m comment --comment \"default/web -> 10.244.1.2:80\" -m recent --name {sep} --rcheck --seconds 10800 --reap -j {sep}"
    );
    assert_eq!(normalize(&saved), normalize(&ours));
}

#[test]
fn load_balancer_services_get_node_ports_and_a_health_check_port_that_stays() {
    let lb = svc(
        serde_json::json!({"metadata": {"name": "frontend", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]}}),
    );
    let r = alloc::allocate(
        &[&lb],
        "10.96.0.0/12",
        (30000, 32767),
        &alloc::InUse::default(),
    );
    assert_eq!(r[0].node_ports, [Some(30000)]);
    assert_eq!(r[0].health_check_node_port, Some(30001));
    // Read back from the host's rules, it is kept when a new service would take the lowest port.
    let p = ServicePort {
        node_port: Some(30005),
        external: External {
            health_check_node_port: Some(30007),
            local: true,
            ..External::default()
        },
        ..port(
            "default",
            "frontend",
            "",
            "10.96.0.7",
            80,
            Some(30005),
            &["10.244.1.2:80"],
        )
    };
    let rules = ruleset(&[p], "10.244.0.0/16");
    let text = restore_text(&rules, &[], &[]);
    let filter_part = text.split("*nat").next().unwrap_or_default();
    let filter = SavedTable::parse(&iptables::keep_owned(filter_part));
    let (_, _, health) = iptables::allocations(&SavedTable::default(), &filter);
    assert_eq!(health.get("default/frontend"), Some(&30007));
    let in_use = alloc::InUse {
        health_check_node_ports: health,
        ..alloc::InUse::default()
    };
    let r = alloc::allocate(&[&lb], "10.96.0.0/12", (30000, 32767), &in_use);
    assert_eq!(r[0].health_check_node_port, Some(30007));
    let cluster = svc(
        serde_json::json!({"metadata": {"name": "x", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
    );
    let r = alloc::allocate(
        &[&cluster],
        "10.96.0.0/12",
        (30000, 32767),
        &alloc::InUse::default(),
    );
    assert_eq!(r[0].health_check_node_port, None);
}
