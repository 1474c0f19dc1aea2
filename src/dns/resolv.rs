//! The pod's `/etc/resolv.conf` as the kubelet writes it (`pkg/kubelet/network/dns`), from `dnsPolicy`,
//! `dnsConfig`, `hostNetwork` and the cluster DNS address (docs/dns.md):
//!
//! - `ClusterFirst` (the default) and `ClusterFirstWithHostNet`: `nameserver <cluster DNS>`,
//!   `search <ns>.svc.cluster.local svc.cluster.local cluster.local`, `options ndots:5`;
//!   `ClusterFirst` with `hostNetwork: true` falls back to `Default`, as does any ClusterFirst policy when
//!   the cluster has no DNS (`dnsImage: ""`).
//! - `Default`: the host's resolver; clusterctl leaves docker's file (made from the host's) untouched.
//! - `None`: only `dnsConfig`.
//!
//! `dnsConfig` is merged on top: nameservers and searches appended without duplicates, options merged by
//! name (dnsConfig wins). The kubelet's limits (3 nameservers, 32 search domains, 2048 characters) are
//! applied by dropping the excess, as the kubelet does; the manifest validation already refused explicit
//! excess. Pure.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::PodSpec;

use super::records::CLUSTER_DOMAIN;

pub const MAX_NAMESERVERS: usize = 3;
pub const MAX_SEARCHES: usize = 32;
pub const MAX_SEARCH_CHARS: usize = 2048;

/// A resolv.conf as data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    /// `name` or `name:value`, in order.
    pub options: Vec<(String, Option<String>)>,
}

impl ResolvConf {
    /// The file text, as the kubelet formats it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for n in &self.nameservers {
            out.push_str(&format!("nameserver {n}\n"));
        }
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        if !self.options.is_empty() {
            let opts: Vec<String> = self
                .options
                .iter()
                .map(|(n, v)| match v {
                    Some(v) => format!("{n}:{v}"),
                    None => n.clone(),
                })
                .collect();
            out.push_str(&format!("options {}\n", opts.join(" ")));
        }
        out
    }
}

/// The policy after the hostNetwork and missing-cluster-DNS fallbacks.
fn effective_policy(spec: &PodSpec, cluster_dns: Option<Ipv4Addr>) -> &str {
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let host_network = spec.host_network == Some(true);
    match policy {
        "ClusterFirst" if host_network || cluster_dns.is_none() => "Default",
        "ClusterFirstWithHostNet" if cluster_dns.is_none() => "Default",
        p => p,
    }
}

/// The resolv.conf of a pod in `namespace`; `None` when the pod keeps the host's (`Default`, without
/// `dnsConfig`).
pub fn pod_resolv_conf(
    spec: &PodSpec,
    namespace: &str,
    cluster_dns: Option<Ipv4Addr>,
) -> Option<ResolvConf> {
    let mut rc = ResolvConf::default();
    match effective_policy(spec, cluster_dns) {
        "Default" => {
            spec.dns_config.as_ref()?;
            // The host's file is not known to the planner: dnsConfig on top of Default is refused by
            // validation's warning (docs/dns.md) and the host's file is kept.
            return None;
        }
        "None" => {}
        _ => {
            rc.nameservers.push(cluster_dns?.to_string());
            rc.searches = vec![
                format!("{namespace}.svc.{CLUSTER_DOMAIN}"),
                format!("svc.{CLUSTER_DOMAIN}"),
                CLUSTER_DOMAIN.to_string(),
            ];
            rc.options.push(("ndots".into(), Some("5".into())));
        }
    }
    if let Some(cfg) = &spec.dns_config {
        for n in cfg.nameservers.iter().flatten() {
            if !rc.nameservers.contains(n) {
                rc.nameservers.push(n.clone());
            }
        }
        for s in cfg.searches.iter().flatten() {
            if !rc.searches.contains(s) {
                rc.searches.push(s.clone());
            }
        }
        for o in cfg.options.iter().flatten() {
            let Some(name) = o.name.clone().filter(|n| !n.is_empty()) else {
                continue;
            };
            match rc.options.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = o.value.clone(),
                None => rc.options.push((name, o.value.clone())),
            }
        }
    }
    rc.nameservers.truncate(MAX_NAMESERVERS);
    rc.searches.truncate(MAX_SEARCHES);
    while rc.searches.join(" ").len() > MAX_SEARCH_CHARS {
        rc.searches.pop();
    }
    Some(rc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut v = v;
        v["containers"] = serde_json::json!([{"name": "a", "image": "busybox"}]);
        serde_json::from_value(v).unwrap()
    }

    const DNS: Option<Ipv4Addr> = Some(Ipv4Addr::new(10, 96, 0, 10));

    #[test]
    fn cluster_first_is_the_kubelets_file() {
        let rc = pod_resolv_conf(&spec(serde_json::json!({})), "shop", DNS).unwrap();
        assert_eq!(
            rc.render(),
            "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
        );
        // hostNetwork falls back to the host's file; ClusterFirstWithHostNet keeps the cluster's.
        assert_eq!(
            pod_resolv_conf(&spec(serde_json::json!({"hostNetwork": true})), "shop", DNS),
            None
        );
        assert!(
            pod_resolv_conf(
                &spec(
                    serde_json::json!({"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"})
                ),
                "shop",
                DNS
            )
            .is_some()
        );
        // No cluster DNS: the host's.
        assert_eq!(
            pod_resolv_conf(&spec(serde_json::json!({})), "shop", None),
            None
        );
        assert_eq!(
            pod_resolv_conf(
                &spec(serde_json::json!({"dnsPolicy": "Default"})),
                "shop",
                DNS
            ),
            None
        );
    }

    #[test]
    fn dns_config_merges_as_the_kubelet_does() {
        let rc = pod_resolv_conf(
            &spec(serde_json::json!({"dnsConfig": {
                "nameservers": ["10.96.0.10", "192.0.2.53"],
                "searches": ["svc.cluster.local", "corp.example"],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]
            }})),
            "default",
            DNS,
        )
        .unwrap();
        assert_eq!(
            rc.render(),
            "nameserver 10.96.0.10\nnameserver 192.0.2.53\n\
             search default.svc.cluster.local svc.cluster.local cluster.local corp.example\n\
             options ndots:2 edns0\n"
        );
        let none = pod_resolv_conf(
            &spec(serde_json::json!({"dnsPolicy": "None", "dnsConfig": {
                "nameservers": ["1.2.3.4", "1.2.3.5", "1.2.3.6", "1.2.3.7"], "searches": ["a.example"]}})),
            "default",
            DNS,
        )
        .unwrap();
        assert_eq!(
            none.render(),
            "nameserver 1.2.3.4\nnameserver 1.2.3.5\nnameserver 1.2.3.6\nsearch a.example\n"
        );
    }
}
