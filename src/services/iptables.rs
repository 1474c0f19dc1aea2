//! Reading what a host has: the clusterctl-owned part of `iptables-save` (chains named `KUBE-*` and
//! `CLUSTERCTL-*`, plus the rules of other chains that jump into them), normalised so it compares with
//! what [`super::render`] produces, and the diff that decides whether a host needs a restore and which
//! jump rules are missing. Pure.
//!
//! Normalisation: `iptables-save` reorders matches (`-d 10.96.0.1/32 -p tcp -m comment …`), always quotes
//! comments, adds `/32` to single addresses, prints `--or-mark X` as `--set-xmark X/X`, REJECT with its
//! default `--reject-with icmp-port-unreachable`, the `recent` match with `--mask 255.255.255.255 --rsource`,
//! and probabilities as the kernel stores them (a 31-bit
//! fraction: kube-proxy's `0.3333333333` reads back as `0.33333333349`). A rule is compared as the sorted
//! set of its match options followed by its target and the target's options, each canonicalised.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::render::{Jump, Ruleset};

/// Chains clusterctl owns: kube-proxy's and its own.
pub fn is_owned(chain: &str) -> bool {
    chain.starts_with("KUBE-") || chain.starts_with("CLUSTERCTL-")
}

/// The clusterctl-relevant lines of one `iptables-save -t TABLE` output: declarations of owned chains,
/// their rules, and jump rules (rules of other chains whose target is an owned chain). Everything else
/// (docker's chains, the user's rules, counters, comments) is dropped.
pub fn keep_owned(save: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in save.lines() {
        if let Some(decl) = line.strip_prefix(':') {
            let name = decl.split_whitespace().next().unwrap_or("");
            if is_owned(name) {
                out.push(format!(":{name}"));
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let (chain, rest) = rule.split_once(' ').unwrap_or((rule, ""));
            if is_owned(chain) || target(rest).is_some_and(is_owned) {
                out.push(line.to_string());
            }
        }
    }
    out
}

/// The `-j` target of a rule, if any.
fn target(rule: &str) -> Option<&str> {
    let mut it = rule.split_whitespace();
    while let Some(t) = it.next() {
        if t == "-j" || t == "--jump" {
            return it.next();
        }
    }
    None
}

/// One table as observed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SavedTable {
    /// Owned chains → their rules (text after `-A CHAIN `), in order.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Jump rules: (chain, rule text after `-A CHAIN `).
    pub jumps: Vec<(String, String)>,
}

impl SavedTable {
    /// Parses lines kept by [`keep_owned`].
    pub fn parse(lines: &[String]) -> SavedTable {
        let mut t = SavedTable::default();
        for line in lines {
            if let Some(name) = line.strip_prefix(':') {
                t.chains.entry(name.to_string()).or_default();
            } else if let Some(rule) = line.strip_prefix("-A ") {
                let (chain, rest) = rule.split_once(' ').unwrap_or((rule, ""));
                if is_owned(chain) {
                    t.chains
                        .entry(chain.to_string())
                        .or_default()
                        .push(rest.to_string());
                } else {
                    t.jumps.push((chain.to_string(), rest.to_string()));
                }
            }
        }
        t
    }
}

/// A word of a rule; quoted words are always values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    quoted: bool,
}

/// Splits a rule like a shell would for iptables: whitespace-separated words, `"…"` grouping with
/// backslash escapes (`\"`, `\'`, `\\`).
fn tokenize(rule: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = rule.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' {
                quoted = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                text.push(n);
                            }
                        }
                        _ => text.push(c),
                    }
                }
            } else if c == '\\' {
                if let Some(n) = chars.next() {
                    text.push(n);
                }
            } else {
                text.push(c);
            }
        }
        out.push(Token { text, quoted });
    }
    out
}

/// The argv of a rule (for `iptables -I CHAIN 1 ARGV…`): quotes removed, one element per word.
pub fn argv(rule: &str) -> Vec<String> {
    tokenize(rule).into_iter().map(|t| t.text).collect()
}

/// The kernel's representation of a `statistic` probability, printed as `iptables-save` does.
pub fn kernel_probability(p: &str) -> String {
    match p.parse::<f64>() {
        Ok(v) => {
            let fixed = (v * 2147483648.0).round();
            format!("{:.11}", fixed / 2147483648.0)
        }
        Err(_) => p.to_string(),
    }
}

/// A rule in canonical form: sorted match units, then the target units in order.
pub type Normalized = Vec<Vec<String>>;

pub fn normalize(rule: &str) -> Normalized {
    let mut units: Vec<Vec<String>> = Vec::new();
    let mut negate = false;
    for t in tokenize(rule) {
        if !t.quoted && t.text == "!" {
            negate = true;
            continue;
        }
        if !t.quoted && t.text.starts_with('-') {
            let flag = match t.text.as_str() {
                "--jump" => "-j".to_string(),
                "--protocol" => "-p".to_string(),
                "--source" => "-s".to_string(),
                "--destination" => "-d".to_string(),
                "--match" => "-m".to_string(),
                f => f.to_string(),
            };
            units.push(vec![if negate { format!("!{flag}") } else { flag }]);
            negate = false;
        } else if let Some(u) = units.last_mut() {
            u.push(t.text);
        } else {
            units.push(vec![t.text]);
        }
    }
    for u in &mut units {
        let flag = u[0].trim_start_matches('!').to_string();
        match flag.as_str() {
            "-s" | "-d" => {
                if let Some(v) = u.get_mut(1) {
                    if !v.contains('/') {
                        v.push_str("/32");
                    }
                }
            }
            "--probability" => {
                if let Some(v) = u.get_mut(1) {
                    *v = kernel_probability(v);
                }
            }
            "--or-mark" => {
                if let Some(v) = u.get(1).cloned() {
                    *u = vec!["--set-xmark".into(), format!("{v}/{v}")];
                }
            }
            "--xor-mark" => {
                if let Some(v) = u.get(1).cloned() {
                    *u = vec!["--set-xmark".into(), format!("{v}/0x0")];
                }
            }
            _ => {}
        }
    }
    // `iptables-save` prints the `recent` match's defaults.
    if units
        .iter()
        .any(|u| u[0] == "-m" && u.get(1).map(String::as_str) == Some("recent"))
    {
        // Among the matches, before the target.
        let at = units
            .iter()
            .position(|u| u[0] == "-j")
            .unwrap_or(units.len());
        if !units
            .iter()
            .any(|u| u[0] == "--rsource" || u[0] == "--rdest")
        {
            units.insert(at, vec!["--rsource".into()]);
        }
        if !units.iter().any(|u| u[0] == "--mask") {
            units.insert(at, vec!["--mask".into(), "255.255.255.255".into()]);
        }
    }
    let split = units
        .iter()
        .position(|u| u[0] == "-j")
        .unwrap_or(units.len());
    let mut target: Vec<Vec<String>> = units.split_off(split);
    if target
        .first()
        .is_some_and(|j| j.get(1).map(String::as_str) == Some("REJECT"))
        && !target.iter().any(|u| u[0] == "--reject-with")
    {
        target.push(vec!["--reject-with".into(), "icmp-port-unreachable".into()]);
    }
    units.sort();
    units.extend(target);
    units
}

fn normalized_chains<'a>(
    chains: impl Iterator<Item = (&'a str, &'a [String])>,
) -> BTreeMap<String, Vec<Normalized>> {
    chains
        .map(|(name, rules)| {
            (
                name.to_string(),
                rules.iter().map(|r| normalize(r)).collect(),
            )
        })
        .collect()
}

/// What one service port looks like in a set of rules (read back from comments), for plan details and
/// for keeping allocations stable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortView {
    pub cluster_ip: Option<String>,
    pub port: Option<String>,
    pub protocol: Option<String>,
    pub node_port: Option<String>,
    pub endpoints: BTreeSet<String>,
}

impl PortView {
    /// `10.96.0.2:8080/TCP nodePort 30000`
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}:{}/{}",
            self.cluster_ip.as_deref().unwrap_or("?"),
            self.port.as_deref().unwrap_or("?"),
            self.protocol
                .as_deref()
                .unwrap_or("tcp")
                .to_ascii_uppercase()
        );
        if let Some(np) = &self.node_port {
            s.push_str(&format!(", nodePort {np}"));
        }
        s
    }
}

fn unit<'a>(rule: &'a Normalized, flag: &str) -> Option<&'a str> {
    rule.iter()
        .find(|u| u[0] == flag)
        .and_then(|u| u.get(1))
        .map(String::as_str)
}

/// Service ports by service port name (`ns/name:port`), read from the rules' comments.
pub fn service_view(
    nat: &BTreeMap<String, Vec<Normalized>>,
    filter: &BTreeMap<String, Vec<Normalized>>,
) -> BTreeMap<String, PortView> {
    let mut out: BTreeMap<String, PortView> = BTreeMap::new();
    let strip_ip = |s: &str| s.trim_end_matches("/32").to_string();
    let entries = [
        (nat.get("KUBE-SERVICES"), " cluster IP", false),
        (filter.get("KUBE-SERVICES"), " has no endpoints", false),
        (nat.get("KUBE-NODEPORTS"), "", true),
        (
            filter.get("KUBE-EXTERNAL-SERVICES"),
            " has no endpoints",
            true,
        ),
    ];
    for (rules, suffix, node_port) in entries {
        for r in rules.into_iter().flatten() {
            let Some(c) = unit(r, "--comment") else {
                continue;
            };
            let Some(spn) = c.strip_suffix(suffix).filter(|s| s.contains('/')) else {
                continue;
            };
            if spn.contains(' ') {
                continue;
            }
            let v = out.entry(spn.to_string()).or_default();
            if node_port {
                v.node_port = unit(r, "--dport").map(str::to_string);
            } else {
                v.cluster_ip = unit(r, "-d").map(strip_ip);
                v.port = unit(r, "--dport").map(str::to_string);
                v.protocol = unit(r, "-p").map(str::to_string);
            }
        }
    }
    for (chain, rules) in nat {
        if !chain.starts_with("KUBE-SVC-") {
            continue;
        }
        for r in rules {
            if let Some((spn, ep)) = unit(r, "--comment").and_then(|c| c.split_once(" -> ")) {
                out.entry(spn.to_string())
                    .or_default()
                    .endpoints
                    .insert(ep.to_string());
            }
        }
    }
    out
}

/// Allocations in use on a host: ClusterIP by `ns/name`, NodePort by service port name, and
/// healthCheckNodePort by `ns/name` (from filter `KUBE-NODEPORTS`' comments).
pub fn allocations(
    nat: &SavedTable,
    filter: &SavedTable,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, u16>,
    BTreeMap<String, u16>,
) {
    let mut health = BTreeMap::new();
    for r in filter.chains.get("KUBE-NODEPORTS").into_iter().flatten() {
        let r = normalize(r);
        let spn = unit(&r, "--comment").and_then(|c| c.strip_suffix(" health check node port"));
        if let (Some(spn), Some(port)) = (spn, unit(&r, "--dport").and_then(|p| p.parse().ok())) {
            let svc = spn.split(':').next().unwrap_or(spn).to_string();
            health.insert(svc, port);
        }
    }
    let view = service_view(
        &normalized_chains(nat.chains.iter().map(|(k, v)| (k.as_str(), v.as_slice()))),
        &normalized_chains(
            filter
                .chains
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice())),
        ),
    );
    let mut ips = BTreeMap::new();
    let mut ports = BTreeMap::new();
    for (spn, v) in view {
        let svc = spn.split(':').next().unwrap_or(&spn).to_string();
        if let Some(ip) = v.cluster_ip {
            ips.insert(svc, ip);
        }
        if let Some(np) = v.node_port.and_then(|p| p.parse().ok()) {
            ports.insert(spn, np);
        }
    }
    (ips, ports, health)
}

/// What a host needs so its rules match the desired ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RulesDiff {
    /// `iptables-restore --noflush` input, when any owned chain differs.
    pub restore: Option<String>,
    /// Jump rules to insert.
    pub missing_jumps: Vec<Jump>,
    /// Human lines: services/endpoints added or removed, chains repaired.
    pub details: Vec<String>,
    /// True when the host had none of clusterctl's chains.
    pub fresh: bool,
}

impl RulesDiff {
    pub fn is_empty(&self) -> bool {
        self.restore.is_none() && self.missing_jumps.is_empty()
    }
}

pub fn diff(desired: &Ruleset, jumps: &[Jump], nat: &SavedTable, filter: &SavedTable) -> RulesDiff {
    let want_nat = normalized_chains(
        desired
            .nat
            .chains
            .iter()
            .map(|c| (c.name.as_str(), c.rules.as_slice())),
    );
    let want_filter = normalized_chains(
        desired
            .filter
            .chains
            .iter()
            .map(|c| (c.name.as_str(), c.rules.as_slice())),
    );
    let have_nat = normalized_chains(nat.chains.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
    let have_filter = normalized_chains(
        filter
            .chains
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice())),
    );
    let mut d = RulesDiff {
        fresh: nat.chains.is_empty() && filter.chains.is_empty(),
        ..RulesDiff::default()
    };
    if want_nat != have_nat || want_filter != have_filter {
        let stale = |want: &BTreeMap<String, Vec<Normalized>>, have: &SavedTable| -> Vec<String> {
            have.chains
                .keys()
                .filter(|c| !want.contains_key(*c))
                .cloned()
                .collect()
        };
        d.restore = Some(super::render::restore_text(
            desired,
            &stale(&want_filter, filter),
            &stale(&want_nat, nat),
        ));
        let want_view = service_view(&want_nat, &want_filter);
        let have_view = service_view(&have_nat, &have_filter);
        for (spn, w) in &want_view {
            match have_view.get(spn) {
                None => d
                    .details
                    .push(format!("service {spn} added ({})", w.describe())),
                Some(h) if h.cluster_ip.is_none() && w.cluster_ip.is_some() => {
                    d.details.push(format!(
                        "service {spn}: cluster IP rule missing, restored ({})",
                        w.describe()
                    ))
                }
                Some(h) if h.node_port.is_none() && w.node_port.is_some() => {
                    d.details.push(format!(
                        "service {spn}: node port rule missing, restored ({})",
                        w.describe()
                    ))
                }
                Some(h) => {
                    if (&h.cluster_ip, &h.port, &h.protocol, &h.node_port)
                        != (&w.cluster_ip, &w.port, &w.protocol, &w.node_port)
                    {
                        d.details.push(format!(
                            "service {spn} changed: {} → {}",
                            h.describe(),
                            w.describe()
                        ));
                    }
                }
            }
            let none = BTreeSet::new();
            let had = have_view.get(spn).map(|h| &h.endpoints).unwrap_or(&none);
            for ep in w.endpoints.difference(had) {
                d.details.push(format!("{spn}: endpoint {ep} added"));
            }
            for ep in had.difference(&w.endpoints) {
                d.details.push(format!("{spn}: endpoint {ep} removed"));
            }
        }
        for spn in have_view.keys().filter(|s| !want_view.contains_key(*s)) {
            d.details.push(format!("service {spn} removed"));
        }
        let mut changed: Vec<String> = Vec::new();
        for (table, want, have) in [
            ("nat", &want_nat, &have_nat),
            ("filter", &want_filter, &have_filter),
        ] {
            for (c, rules) in want {
                if have.get(c) != Some(rules) {
                    changed.push(format!("{table}/{c}"));
                }
            }
            for c in have.keys().filter(|c| !want.contains_key(*c)) {
                changed.push(format!("{table}/{c} (deleted)"));
            }
        }
        if !d.fresh && d.details.is_empty() {
            d.details.push(format!(
                "rules differ from the desired ones (changed by hand?): {}",
                changed.join(", ")
            ));
        } else if !d.fresh {
            d.details
                .push(format!("chains rewritten: {}", changed.len()));
        }
    }
    for j in jumps {
        let table = if j.table == "nat" { nat } else { filter };
        let want = normalize(&j.rule);
        let present = table
            .jumps
            .iter()
            .any(|(c, r)| c == j.chain && normalize(r) == want);
        if !present {
            d.missing_jumps.push(j.clone());
            if !d.fresh {
                d.details.push(format!(
                    "jump {} {} → {} missing",
                    j.table,
                    j.chain,
                    target(&j.rule).unwrap_or("?")
                ));
            }
        }
    }
    d
}
