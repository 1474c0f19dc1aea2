//! The API server registry's checks on explicit `spec.clusterIP` and `spec.ports[i].nodePort` values: in range,
//! and not claimed twice across the repository (in file order), with the API server's messages. Only checks:
//! choosing values for the services that leave them unset is `services::alloc`'s job.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Checks an explicit nodePort against the range and the ports already claimed (in file order), with
/// the API server's messages. Returns the message for `spec.ports[i].nodePort`, if any.
pub fn check_node_port(
    port: i32,
    range: (u16, u16),
    claimed: &mut BTreeSet<i32>,
) -> Option<String> {
    if port < i32::from(range.0) || port > i32::from(range.1) {
        return Some(format!(
            "Invalid value: {port}: provided port is not in the valid range. The range of valid ports is {}-{}",
            range.0, range.1
        ));
    }
    if !claimed.insert(port) {
        return Some(format!(
            "Invalid value: {port}: provided port is already allocated"
        ));
    }
    None
}

/// Checks an explicit ClusterIP against the service CIDR and the IPs already claimed.
pub fn check_cluster_ip(
    ip: &str,
    service_cidr: &str,
    claimed: &mut BTreeSet<String>,
) -> Option<String> {
    let Ok(addr) = ip.parse::<Ipv4Addr>() else {
        return None; // format errors are reported by validation
    };
    if let Some(c) = crate::cidr::parse_v4(service_cidr) {
        if !c.contains(&addr) {
            return Some(format!(
                "Invalid value: \"{ip}\": provided IP is not in the valid range. The range of valid IPs is {service_cidr}"
            ));
        }
    }
    if !claimed.insert(ip.to_string()) {
        return Some(format!(
            "Invalid value: \"{ip}\": provided IP is already allocated"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_port_checks_use_the_api_servers_words() {
        let mut claimed = Default::default();
        assert_eq!(
            check_node_port(70000, (30000, 32767), &mut claimed).unwrap(),
            "Invalid value: 70000: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        assert_eq!(check_node_port(30080, (30000, 32767), &mut claimed), None);
        assert_eq!(
            check_node_port(30080, (30000, 32767), &mut claimed).unwrap(),
            "Invalid value: 30080: provided port is already allocated"
        );
    }
}
