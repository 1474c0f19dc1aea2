//! Service environment variables as the kubelet injects them (`pkg/kubelet/envvars`): for every Service
//! of the pod's namespace with a ClusterIP, when `enableServiceLinks` is not false —
//! `<N>_SERVICE_HOST`, `<N>_SERVICE_PORT` (the first port), `<N>_SERVICE_PORT_<PORTNAME>` per named port,
//! and the docker-link style `<N>_PORT=tcp://ip:port`, `<N>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`,
//! `N` being the Service name upper-cased with `-` → `_`. There is no API server, so no master
//! `KUBERNETES_*` variables (docs/dns.md). Pure.

use std::net::Ipv4Addr;

/// A Service as its variables need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkService {
    pub name: String,
    pub cluster_ip: Ipv4Addr,
    /// `(port name, port, protocol upper case)`, in `spec.ports` order.
    pub ports: Vec<(String, u16, String)>,
}

fn var_name(s: &str) -> String {
    s.to_ascii_uppercase().replace('-', "_")
}

/// The variables of `services` (sorted by Service name first), as `(name, value)` in the kubelet's order.
pub fn service_env(services: &[LinkService]) -> Vec<(String, String)> {
    let mut sorted: Vec<&LinkService> = services.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::new();
    for s in sorted {
        let Some((_, first, _)) = s.ports.first() else {
            continue;
        };
        let n = var_name(&s.name);
        let ip = s.cluster_ip;
        out.push((format!("{n}_SERVICE_HOST"), ip.to_string()));
        out.push((format!("{n}_SERVICE_PORT"), first.to_string()));
        for (pname, port, _) in &s.ports {
            if !pname.is_empty() {
                out.push((
                    format!("{n}_SERVICE_PORT_{}", var_name(pname)),
                    port.to_string(),
                ));
            }
        }
        for (i, (_, port, proto)) in s.ports.iter().enumerate() {
            let lower = proto.to_ascii_lowercase();
            let url = format!("{lower}://{ip}:{port}");
            if i == 0 {
                out.push((format!("{n}_PORT"), url.clone()));
            }
            let prefix = format!("{n}_PORT_{port}_{}", proto.to_ascii_uppercase());
            out.push((prefix.clone(), url));
            out.push((format!("{prefix}_PROTO"), lower));
            out.push((format!("{prefix}_PORT"), port.to_string()));
            out.push((format!("{prefix}_ADDR"), ip.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubelets_variables() {
        let env = service_env(&[LinkService {
            name: "my-nginx".into(),
            cluster_ip: "10.96.0.12".parse().unwrap(),
            ports: vec![
                ("http".into(), 8080, "TCP".into()),
                (String::new(), 53, "UDP".into()),
            ],
        }]);
        let text: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            [
                "MY_NGINX_SERVICE_HOST=10.96.0.12",
                "MY_NGINX_SERVICE_PORT=8080",
                "MY_NGINX_SERVICE_PORT_HTTP=8080",
                "MY_NGINX_PORT=tcp://10.96.0.12:8080",
                "MY_NGINX_PORT_8080_TCP=tcp://10.96.0.12:8080",
                "MY_NGINX_PORT_8080_TCP_PROTO=tcp",
                "MY_NGINX_PORT_8080_TCP_PORT=8080",
                "MY_NGINX_PORT_8080_TCP_ADDR=10.96.0.12",
                "MY_NGINX_PORT_53_UDP=udp://10.96.0.12:53",
                "MY_NGINX_PORT_53_UDP_PROTO=udp",
                "MY_NGINX_PORT_53_UDP_PORT=53",
                "MY_NGINX_PORT_53_UDP_ADDR=10.96.0.12",
            ]
        );
    }
}
