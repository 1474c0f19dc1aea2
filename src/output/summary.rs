//! Large plans stay readable: repeated detail lines of the same kind within one change (a route to every
//! peer, an endpoint per pod, a service per manifest) are folded into one line in the human and markdown
//! views, e.g. `+ 3 routes to peer pod CIDRs (k8s-node1 … k8s-node3)`. The JSON keeps every line; `-v`
//! shows them all. Pure.

/// Fewer lines of one kind than this are shown as they are.
pub const FOLD_AT: usize = 3;

/// The kind of a detail line and the part that differs between lines of that kind.
fn classify(line: &str) -> Option<(String, String)> {
    // `route to 10.244.1.0/24 (k8s-node1) via 172.30.0.11` (plan/network)
    if let Some(rest) = line.strip_prefix("route to ") {
        let peer = rest.split_once(" (")?.1.split_once(") via ")?.0;
        return Some(("+route".into(), peer.to_string()));
    }
    // `stale route to 10.244.9.0/24 via 10.244.9.0 removed`
    if let Some(rest) = line.strip_prefix("stale route to ") {
        let dst = rest.split_once(" via ")?.0;
        return Some(("-route".into(), dst.to_string()));
    }
    // `default/web:http: endpoint 10.244.1.2:80 added` (services/iptables)
    if let Some((spn, rest)) = line.split_once(": endpoint ") {
        let (ep, what) = rest.rsplit_once(' ')?;
        if what == "added" || what == "removed" {
            return Some((format!("{what} endpoint {spn}"), ep.to_string()));
        }
    }
    // `service default/web:http added (10.96.0.2:80/TCP)` / `service default/web:http removed`
    if let Some(rest) = line.strip_prefix("service ") {
        if let Some((spn, _)) = rest.split_once(" added (") {
            return Some(("+service".into(), spn.to_string()));
        }
        if let Some(spn) = rest.strip_suffix(" removed") {
            return Some(("-service".into(), spn.to_string()));
        }
    }
    None
}

fn folded(kind: &str, labels: &[String]) -> String {
    let n = labels.len();
    let range = format!(
        "{} … {}",
        labels.first().map_or("", String::as_str),
        labels.last().map_or("", String::as_str)
    );
    match kind {
        "+route" => format!("+ {n} routes to peer pod CIDRs ({range})"),
        "-route" => format!("- {n} stale routes removed ({range})"),
        "+service" => format!("+ {n} services added ({range})"),
        "-service" => format!("- {n} services removed ({range})"),
        other => {
            // `added endpoint default/web:http`
            let (what, spn) = other.split_once(" endpoint ").unwrap_or((other, ""));
            let sign = if what == "added" { "+" } else { "-" };
            format!("{sign} {spn}: {n} endpoints {what} ({range})")
        }
    }
}

/// The lines with each kind of at least [`FOLD_AT`] lines folded into one, at the place of its first line;
/// `all` keeps every line.
pub fn fold(lines: Vec<String>, all: bool) -> Vec<String> {
    if all {
        return lines;
    }
    let kinds: Vec<Option<(String, String)>> = lines.iter().map(|l| classify(l)).collect();
    let mut count: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (kind, label) in kinds.iter().flatten() {
        count.entry(kind.as_str()).or_default().push(label.clone());
    }
    let mut out = Vec::new();
    let mut done = std::collections::BTreeSet::new();
    for (line, kind) in lines.iter().zip(&kinds) {
        match kind {
            Some((k, _)) if count[k.as_str()].len() >= FOLD_AT => {
                if done.insert(k.as_str()) {
                    out.push(folded(k, &count[k.as_str()]));
                }
            }
            _ => out.push(line.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn routes_endpoints_and_services_fold_from_three() {
        let lines = s(&[
            "docker network clusterctl-pods 10.244.0.0/24 (bridge cni0) created",
            "route to 10.244.1.0/24 (k8s-node1) via 172.30.7.11",
            "route to 10.244.2.0/24 (k8s-node2) via 172.30.7.12",
            "route to 10.244.3.0/24 (k8s-node3) via 172.30.7.13",
            "service default/web:http added (10.96.0.2:80/TCP)",
            "default/web:http: endpoint 10.244.1.2:80 added",
            "default/web:http: endpoint 10.244.2.2:80 added",
            "default/web:http: endpoint 10.244.3.2:80 added",
            "default/web:http: endpoint 10.244.3.9:80 removed",
        ]);
        assert_eq!(
            fold(lines.clone(), false),
            s(&[
                "docker network clusterctl-pods 10.244.0.0/24 (bridge cni0) created",
                "+ 3 routes to peer pod CIDRs (k8s-node1 … k8s-node3)",
                "service default/web:http added (10.96.0.2:80/TCP)",
                "+ default/web:http: 3 endpoints added (10.244.1.2:80 … 10.244.3.2:80)",
                "default/web:http: endpoint 10.244.3.9:80 removed",
            ])
        );
        assert_eq!(fold(lines.clone(), true), lines);
    }

    #[test]
    fn two_of_a_kind_stay_as_they_are() {
        let lines = s(&[
            "route to 10.244.1.0/24 (k8s-node1) via 172.30.7.11",
            "route to 10.244.2.0/24 (k8s-node2) via 172.30.7.12",
        ]);
        assert_eq!(fold(lines.clone(), false), lines);
    }
}
