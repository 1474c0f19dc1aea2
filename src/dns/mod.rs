//! The cluster DNS (docs/dns.md): the records every host's DNS server answers, rendered by the planner
//! ([`records`]), the DNS wire format the server speaks ([`wire`]), and the pod's resolv.conf as the
//! kubelet writes it ([`resolv`]). Pure: the server's sockets live in `src/bin/clusterctl-dns.rs`, the
//! records' delivery to the hosts in `plan::dns`.

pub mod env;
pub mod records;
pub mod resolv;
pub mod wire;

use std::net::Ipv4Addr;

/// The cluster DNS address when `cluster.clusterDNS` is not set: the tenth address of the service CIDR
/// (`10.96.0.10` for `10.96.0.0/12`), as kubeadm picks it.
pub fn default_cluster_dns(service_cidr: &str) -> Option<Ipv4Addr> {
    let net: ipnet::Ipv4Net = service_cidr.parse().ok()?;
    let ip = u32::from(net.network()).checked_add(10)?;
    let ip = Ipv4Addr::from(ip);
    net.contains(&ip).then_some(ip)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tenth_address_of_the_service_cidr() {
        assert_eq!(
            super::default_cluster_dns("10.96.0.0/12"),
            Some("10.96.0.10".parse().unwrap())
        );
        assert_eq!(super::default_cluster_dns("10.0.0.0/30"), None);
    }
}
