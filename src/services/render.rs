//! The rules clusterctl owns on every host, rendered as `iptables-restore --noflush` input in kube-proxy's
//! format (K8s `proxier.go`): fixed chains, one `KUBE-SVC-`/`KUBE-EXT-` chain per service port, one
//! `KUBE-SEP-` chain per endpoint, a REJECT in the filter table for ports without endpoints, plus
//! clusterctl's pod-network chains (`CLUSTERCTL-FORWARD`, `CLUSTERCTL-POSTROUTING`). Every declared chain is
//! flushed and rewritten by the restore in one transaction; chains no longer wanted are declared (emptied)
//! and deleted with `-X` in the same transaction. Jumps from built-in and docker chains are separate
//! commands ([`jumps`]). Pure.

use super::{ServicePort, probability};

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

/// The rules for `ports` (the service table) with `cluster_cidr` as the pod network.
pub fn ruleset(ports: &[ServicePort], cluster_cidr: &str) -> Ruleset {
    let mut filter = Table::default();
    let mut nat = Table::default();
    for c in [
        "KUBE-SERVICES",
        "KUBE-EXTERNAL-SERVICES",
        "KUBE-FORWARD",
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
        let spn = sp.spn();
        let proto = sp.protocol.lower();
        let ip = sp.cluster_ip;
        let port = sp.port;
        if sp.endpoints.is_empty() {
            filter.add(
                "KUBE-SERVICES",
                format!(
                    "{} -m {proto} -p {proto} -d {ip} --dport {port} -j REJECT",
                    comment(&format!("{spn} has no endpoints"))
                ),
            );
            if let Some(np) = sp.node_port {
                filter.add(
                    "KUBE-EXTERNAL-SERVICES",
                    format!(
                        "{} -m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {np} -j REJECT",
                        comment(&format!("{spn} has no endpoints"))
                    ),
                );
            }
            continue;
        }
        let svc = sp.svc_chain();
        nat.add(
            "KUBE-SERVICES",
            format!(
                "{} -m {proto} -p {proto} -d {ip} --dport {port} -j {svc}",
                comment(&format!("{spn} cluster IP"))
            ),
        );
        if let Some(np) = sp.node_port {
            let ext = sp.ext_chain();
            nat.add(
                "KUBE-NODEPORTS",
                format!(
                    "{} -m {proto} -p {proto} --dport {np} -j {ext}",
                    comment(&spn)
                ),
            );
            per_port.add(
                &ext,
                format!(
                    "{} -j KUBE-MARK-MASQ",
                    comment(&format!(
                        "masquerade traffic for {spn} external destinations"
                    ))
                ),
            );
            per_port.add(&ext, format!("-j {svc}"));
        }
        per_port.add(
            &svc,
            format!(
                "{} -m {proto} -p {proto} -d {ip} --dport {port} ! -s {cluster_cidr} -j KUBE-MARK-MASQ",
                comment(&format!("{spn} cluster IP"))
            ),
        );
        let n = sp.endpoints.len();
        for (i, ep) in sp.endpoints.iter().enumerate() {
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
                &svc,
                format!("{}{stat} -j {sep}", comment(&format!("{spn} -> {ep}"))),
            );
        }
        for ep in &sp.endpoints {
            let sep = sp.sep_chain(ep);
            per_port.add(
                &sep,
                format!("{} -s {} -j KUBE-MARK-MASQ", comment(&spn), ep.ip),
            );
            per_port.add(
                &sep,
                format!(
                    "{} -m {proto} -p {proto} -j DNAT --to-destination {ep}",
                    comment(&spn)
                ),
            );
        }
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
