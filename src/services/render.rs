//! The rules clusterctl owns on every host, rendered as `iptables-restore --noflush` input in kube-proxy's
//! format (K8s `proxier.go`): fixed chains, one `KUBE-SVC-`/`KUBE-EXT-` chain per service port, one
//! `KUBE-SEP-` chain per endpoint, a REJECT in the filter table for ports without endpoints, plus
//! clusterctl's pod-network chains (`CLUSTERCTL-FORWARD`, `CLUSTERCTL-POSTROUTING`). Every declared chain is
//! flushed and rewritten by the restore in one transaction; chains no longer wanted are declared (emptied)
//! and deleted with `-X` in the same transaction. Jumps from built-in and docker chains are separate
//! commands ([`jumps`]). Pure.

use std::net::Ipv4Addr;

use crate::cidr::Ipv4Net;

use super::{Endpoint, ServicePort, probability};

/// The masquerade mark (bit 14), as kube-proxy.
pub const MASQ_MARK: &str = "0x4000";

/// One chain and its rules (each rule without the `-A CHAIN ` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub rules: Vec<String>,
}

/// The chains of one table, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub chains: Vec<Chain>,
}

impl Table {
    fn chain(&mut self, name: &str) -> &mut Chain {
        if let Some(i) = self.chains.iter().position(|c| c.name == name) {
            return &mut self.chains[i];
        }
        self.chains.push(Chain {
            name: name.to_string(),
            rules: Vec::new(),
        });
        self.chains.last_mut().expect("just pushed")
    }
    fn add(&mut self, chain: &str, rule: String) {
        self.chain(chain).rules.push(rule);
    }
}

/// Everything clusterctl owns in the `filter` and `nat` tables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    pub filter: Table,
    pub nat: Table,
}

/// A rule in a chain clusterctl does not own (built-in or docker's) that jumps into one it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    pub table: &'static str,
    pub chain: &'static str,
    /// The rule after `-A CHAIN `.
    pub rule: String,
}

/// `--comment` argument: quoted when it contains a space, bare otherwise (kube-proxy's rule).
pub fn comment(text: &str) -> String {
    if text.contains(' ') {
        format!("-m comment --comment \"{text}\"")
    } else {
        format!("-m comment --comment {text}")
    }
}

/// The host a ruleset is rendered for. `externalTrafficPolicy: Local` sends external traffic only to the
/// endpoints in its pod CIDR, and `loadBalancerSourceRanges` let its own requests through when its
/// address is in a range (kube-proxy's `allowFromNode`). The default is no particular host.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostView {
    pub address: Option<Ipv4Addr>,
    pub pod_cidr: Option<Ipv4Net>,
}

/// The rules for `ports` (the service table) with `cluster_cidr` as the pod network, for no particular
/// host (no endpoint is local).
pub fn ruleset(ports: &[ServicePort], cluster_cidr: &str) -> Ruleset {
    ruleset_for(ports, cluster_cidr, &HostView::default())
}

/// The rules of one host.
pub fn ruleset_for(ports: &[ServicePort], cluster_cidr: &str, host: &HostView) -> Ruleset {
    let mut filter = Table::default();
    let mut nat = Table::default();
    for c in [
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
        "KUBE-NODEPORTS",
        "KUBE-PROXY-FIREWALL",
        "CLUSTERCTL-FORWARD",
    ] {
        filter.chain(c);
    }
    for c in [
        "KUBE-SERVICES",
        "KUBE-NODEPORTS",
        "KUBE-POSTROUTING",
        "KUBE-MARK-MASQ",
        "CLUSTERCTL-POSTROUTING",
    ] {
        nat.chain(c);
    }

    // Fixed machinery.
    filter.add(
        "KUBE-FORWARD",
        "-m conntrack --ctstate INVALID -j DROP".into(),
    );
    filter.add(
        "KUBE-FORWARD",
        format!(
            "{} -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j ACCEPT",
            comment("kubernetes forwarding rules")
        ),
    );
    filter.add(
        "KUBE-FORWARD",
        format!(
            "{} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            comment("kubernetes forwarding conntrack rule")
        ),
    );
    filter.add(
        "CLUSTERCTL-FORWARD",
        format!(
            "-s {cluster_cidr} {} -j ACCEPT",
            comment("clusterctl pod network")
        ),
    );
    filter.add(
        "CLUSTERCTL-FORWARD",
        format!(
            "-d {cluster_cidr} {} -j ACCEPT",
            comment("clusterctl pod network")
        ),
    );
    nat.add("KUBE-MARK-MASQ", format!("-j MARK --or-mark {MASQ_MARK}"));
    nat.add(
        "KUBE-POSTROUTING",
        format!("-m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN"),
    );
    nat.add(
        "KUBE-POSTROUTING",
        format!("-j MARK --xor-mark {MASQ_MARK}"),
    );
    nat.add(
        "KUBE-POSTROUTING",
        format!(
            "{} -j MASQUERADE",
            comment("kubernetes service traffic requiring SNAT")
        ),
    );
    nat.add(
        "CLUSTERCTL-POSTROUTING",
        format!(
            "-s {cluster_cidr} ! -d {cluster_cidr} {} -j MASQUERADE",
            comment("clusterctl pod traffic leaving the pod network")
        ),
    );

    // Per service port: chains are declared in table order, so the output is deterministic.
    let mut per_port = Table::default();
    for sp in ports {
        service_port(sp, cluster_cidr, host, &mut filter, &mut nat, &mut per_port);
    }
    nat.add(
        "KUBE-SERVICES",
        format!(
            "{} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
            comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
        ),
    );
    nat.chains.extend(per_port.chains);
    Ruleset { filter, nat }
}

/// One service port's rules, as kube-proxy's `syncProxyRules` writes them (newest format): the cluster IP,
/// the LoadBalancer ingress addresses and the NodePort into `KUBE-SVC-`/`KUBE-EXT-` (through `KUBE-FW-`
/// when source ranges are set), the local-policy chain `KUBE-SVL-`, and the filter table's REJECT
/// (no endpoints) / DROP (no local endpoints, source not allowed).
fn service_port(
    sp: &ServicePort,
    cluster_cidr: &str,
    host: &HostView,
    filter: &mut Table,
    nat: &mut Table,
    per_port: &mut Table,
) {
    let spn = sp.spn();
    let proto = sp.protocol.lower();
    let ip = sp.cluster_ip;
    let port = sp.port;
    let ext = &sp.external;
    let svc = sp.svc_chain();
    let ext_chain = sp.ext_chain();
    let fw = sp.fw_chain();
    let svl = sp.svl_chain();
    let local_eps: Vec<Endpoint> = sp
        .endpoints
        .iter()
        .filter(|e| host.pod_cidr.is_some_and(|c| c.contains(&e.ip)))
        .copied()
        .collect();
    let has_endpoints = !sp.endpoints.is_empty();
    let has_external_endpoints = has_endpoints && (!ext.local || !local_eps.is_empty());
    let lb_ips = &ext.load_balancer_ips;
    let uses_ext = has_endpoints && (sp.node_port.is_some() || !lb_ips.is_empty());
    let uses_fw = !lb_ips.is_empty() && ext.restricted;
    let (filter_comment, filter_target) = if has_endpoints {
        (format!("{spn} has no local endpoints"), "DROP")
    } else {
        (format!("{spn} has no endpoints"), "REJECT")
    };

    if has_endpoints {
        nat.add(
            "KUBE-SERVICES",
            format!(
                "{} -m {proto} -p {proto} -d {ip} --dport {port} -j {svc}",
                comment(&format!("{spn} cluster IP"))
            ),
        );
    } else {
        filter.add(
            "KUBE-SERVICES",
            format!(
                "{} -m {proto} -p {proto} -d {ip} --dport {port} -j REJECT",
                comment(&filter_comment)
            ),
        );
    }
    for lb in lb_ips {
        if has_endpoints {
            nat.add(
                "KUBE-SERVICES",
                format!(
                    "{} -m {proto} -p {proto} -d {lb} --dport {port} -j {}",
                    comment(&format!("{spn} loadbalancer IP")),
                    if uses_fw { &fw } else { &ext_chain }
                ),
            );
        }
        if uses_fw {
            filter.add(
                "KUBE-PROXY-FIREWALL",
                format!(
                    "{} -m {proto} -p {proto} -d {lb} --dport {port} -j DROP",
                    comment(&format!("{spn} traffic not accepted by {fw}"))
                ),
            );
        }
    }
    if !has_external_endpoints {
        for lb in lb_ips {
            filter.add(
                "KUBE-EXTERNAL-SERVICES",
                format!(
                    "{} -m {proto} -p {proto} -d {lb} --dport {port} -j {filter_target}",
                    comment(&filter_comment)
                ),
            );
        }
    }
    if let Some(np) = sp.node_port {
        if has_endpoints {
            nat.add(
                "KUBE-NODEPORTS",
                format!(
                    "{} -m {proto} -p {proto} --dport {np} -j {ext_chain}",
                    comment(&spn)
                ),
            );
        }
        if !has_external_endpoints {
            filter.add(
                "KUBE-EXTERNAL-SERVICES",
                format!(
                    "{} -m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {np} -j {filter_target}",
                    comment(&filter_comment)
                ),
            );
        }
    }
    if let Some(hc) = ext.health_check_node_port {
        // kube-proxy accepts the port whether or not this node has endpoints; what answers on it is
        // kube-proxy's health server, which clusterctl (no agent) does not run (docs/networking.md).
        filter.add(
            "KUBE-NODEPORTS",
            format!(
                "{} -m tcp -p tcp --dport {hc} -j ACCEPT",
                comment(&format!("{spn} health check node port"))
            ),
        );
    }
    if !has_endpoints {
        return;
    }

    if uses_ext {
        if !ext.local {
            per_port.add(
                &ext_chain,
                format!(
                    "{} -j KUBE-MARK-MASQ",
                    comment(&format!(
                        "masquerade traffic for {spn} external destinations"
                    ))
                ),
            );
        } else {
            // Pod → external address is not subject to the policy (as if it went out to a load
            // balancer and came back); the node's own requests carry a local source address, so they
            // are masqueraded and may go to any endpoint.
            per_port.add(
                &ext_chain,
                format!(
                    "{} -s {cluster_cidr} -j {svc}",
                    comment(&format!("pod traffic for {spn} external destinations"))
                ),
            );
            per_port.add(
                &ext_chain,
                format!(
                    "{} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
                    comment(&format!(
                        "masquerade LOCAL traffic for {spn} external destinations"
                    ))
                ),
            );
            per_port.add(
                &ext_chain,
                format!(
                    "{} -m addrtype --src-type LOCAL -j {svc}",
                    comment(&format!(
                        "route LOCAL traffic for {spn} external destinations"
                    ))
                ),
            );
        }
        if has_external_endpoints {
            per_port.add(
                &ext_chain,
                format!("-j {}", if ext.local { &svl } else { &svc }),
            );
        }
    }
    if uses_fw {
        let lb_comment = comment(&format!("{spn} loadbalancer IP"));
        let mut allow_from_node = false;
        for range in &ext.source_ranges {
            per_port.add(&fw, format!("{lb_comment} -s {range} -j {ext_chain}"));
            if let (Some(net), Some(addr)) = (crate::cidr::parse_v4(range), host.address) {
                allow_from_node |= net.contains(&addr);
            }
        }
        if allow_from_node {
            // A node's request to an ingress address that is its own carries that address as source.
            for lb in lb_ips {
                per_port.add(&fw, format!("{lb_comment} -s {lb} -j {ext_chain}"));
            }
        }
        per_port.add(
            &fw,
            comment(&format!(
                "other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL"
            )),
        );
    }
    per_port.add(
        &svc,
        format!(
            "{} -m {proto} -p {proto} -d {ip} --dport {port} ! -s {cluster_cidr} -j KUBE-MARK-MASQ",
            comment(&format!("{spn} cluster IP"))
        ),
    );
    endpoint_rules(sp, &svc, &sp.endpoints, per_port);
    if ext.local && !local_eps.is_empty() && uses_ext {
        endpoint_rules(sp, &svl, &local_eps, per_port);
    }
    for ep in &sp.endpoints {
        let sep = sp.sep_chain(ep);
        per_port.add(
            &sep,
            format!("{} -s {} -j KUBE-MARK-MASQ", comment(&spn), ep.ip),
        );
        let recent = if sp.affinity_seconds.is_some() {
            format!(" -m recent --name {sep} --set")
        } else {
            String::new()
        };
        per_port.add(
            &sep,
            format!(
                "{}{recent} -m {proto} -p {proto} -j DNAT --to-destination {ep}",
                comment(&spn)
            ),
        );
    }
}

/// A policy chain's jumps to its endpoints: the `recent` matches of ClientIP affinity first (a client
/// seen within the timeout goes back to its endpoint), then the random spread.
fn endpoint_rules(sp: &ServicePort, chain: &str, eps: &[Endpoint], per_port: &mut Table) {
    let spn = sp.spn();
    if let Some(seconds) = sp.affinity_seconds {
        for ep in eps {
            let sep = sp.sep_chain(ep);
            per_port.add(
                chain,
                format!(
                    "{} -m recent --name {sep} --rcheck --seconds {seconds} --reap -j {sep}",
                    comment(&format!("{spn} -> {ep}"))
                ),
            );
        }
    }
    let n = eps.len();
    for (i, ep) in eps.iter().enumerate() {
        let sep = sp.sep_chain(ep);
        let stat = if i + 1 < n {
            format!(
                " -m statistic --mode random --probability {}",
                probability(i, n)
            )
        } else {
            String::new()
        };
        per_port.add(
            chain,
            format!("{}{stat} -j {sep}", comment(&format!("{spn} -> {ep}"))),
        );
    }
}

/// The jumps from built-in (and docker's `DOCKER-USER`) chains into clusterctl's chains.
pub fn jumps() -> Vec<Jump> {
    let j = |table, chain, rule: String| Jump { table, chain, rule };
    vec![
        j(
            "nat",
            "PREROUTING",
            format!("{} -j KUBE-SERVICES", comment("kubernetes service portals")),
        ),
        j(
            "nat",
            "OUTPUT",
            format!("{} -j KUBE-SERVICES", comment("kubernetes service portals")),
        ),
        j(
            "nat",
            "POSTROUTING",
            format!(
                "{} -j KUBE-POSTROUTING",
                comment("kubernetes postrouting rules")
            ),
        ),
        j(
            "nat",
            "POSTROUTING",
            format!(
                "{} -j CLUSTERCTL-POSTROUTING",
                comment("clusterctl pod network")
            ),
        ),
        j(
            "filter",
            "INPUT",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-EXTERNAL-SERVICES",
                comment("kubernetes externally-visible service portals")
            ),
        ),
        j(
            "filter",
            "FORWARD",
            format!("{} -j KUBE-FORWARD", comment("kubernetes forwarding rules")),
        ),
        j(
            "filter",
            "FORWARD",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-SERVICES",
                comment("kubernetes service portals")
            ),
        ),
        j(
            "filter",
            "FORWARD",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-EXTERNAL-SERVICES",
                comment("kubernetes externally-visible service portals")
            ),
        ),
        j(
            "filter",
            "OUTPUT",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-SERVICES",
                comment("kubernetes service portals")
            ),
        ),
        j(
            "filter",
            "INPUT",
            format!(
                "{} -j KUBE-NODEPORTS",
                comment("kubernetes health check service ports")
            ),
        ),
        j(
            "filter",
            "INPUT",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-PROXY-FIREWALL",
                comment("kubernetes load balancer firewall")
            ),
        ),
        j(
            "filter",
            "OUTPUT",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-PROXY-FIREWALL",
                comment("kubernetes load balancer firewall")
            ),
        ),
        j(
            "filter",
            "FORWARD",
            format!(
                "-m conntrack --ctstate NEW {} -j KUBE-PROXY-FIREWALL",
                comment("kubernetes load balancer firewall")
            ),
        ),
        j(
            "filter",
            "DOCKER-USER",
            format!(
                "{} -j CLUSTERCTL-FORWARD",
                comment("clusterctl pod network")
            ),
        ),
    ]
}

/// `iptables-restore --noflush` input: every chain of `rules` declared (so flushed) and rewritten; the
/// chains in `stale` (per table) declared and deleted with `-X` after the rewrite.
pub fn restore_text(rules: &Ruleset, stale_filter: &[String], stale_nat: &[String]) -> String {
    let mut out = String::new();
    for (name, table, stale) in [
        ("filter", &rules.filter, stale_filter),
        ("nat", &rules.nat, stale_nat),
    ] {
        out.push('*');
        out.push_str(name);
        out.push('\n');
        for c in &table.chains {
            out.push_str(&format!(":{} - [0:0]\n", c.name));
        }
        for c in stale {
            out.push_str(&format!(":{c} - [0:0]\n"));
        }
        for c in &table.chains {
            for r in &c.rules {
                out.push_str(&format!("-A {} {r}\n", c.name));
            }
        }
        for c in stale {
            out.push_str(&format!("-X {c}\n"));
        }
        out.push_str("COMMIT\n");
    }
    out
}
