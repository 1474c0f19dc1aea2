//! The flat pod network, as pure data: every host gets a docker bridge network `clusterctl-pods` with its
//! node's pod CIDR (bridge `cni0`, docker's masquerade off), and a VXLAN device `clusterctl.1` that carries
//! pod traffic to the other hosts, flannel-style: the device has address `10.244.N.0/32` and a MAC derived
//! from it, and for every other host M a forwarding entry (M's VTEP MAC → M's host address), a permanent
//! neighbour (10.244.M.0 → M's VTEP MAC) and a route `10.244.M.0/24 via 10.244.M.0 onlink`. Encapsulation
//! (UDP 8472 between host addresses) rather than plain routes because networks that filter forwarded
//! traffic by address (like the testbed's `--internal` bridge) drop packets addressed to pod IPs.
//! Forwarding and masquerade rules are part of clusterctl's iptables chains (`services::render`).
//!
//! [`plan_host`] diffs the desired state of one host against what was observed and returns the exact
//! commands (argv) that converge it. Also: pod IP assignment ([`PodIps`]).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::cmd::Cmd;
use crate::model::ObservedNetwork;

/// The docker network every pod sandbox joins.
pub const POD_NETWORK: &str = "clusterctl-pods";
/// Linux bridge name of [`POD_NETWORK`].
pub const BRIDGE: &str = "cni0";
/// The VXLAN device.
pub const VXLAN_DEV: &str = "clusterctl.1";
pub const VXLAN_VNI: u32 = 1;
/// flannel's VXLAN port.
pub const VXLAN_PORT: u16 = 8472;
/// 1500 minus the VXLAN overhead (50 bytes).
pub const MTU: u32 = 1450;

/// One host as the pod network sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNet {
    pub name: String,
    /// The host's address (inventory), the VXLAN tunnel endpoint.
    pub address: String,
    /// `10.244.N.0/24`.
    pub pod_cidr: String,
}

impl HostNet {
    fn net(&self) -> Option<Ipv4Addr> {
        self.pod_cidr.split('/').next()?.parse().ok()
    }
    /// The VTEP address, the network address of the pod CIDR (`10.244.N.0`).
    pub fn vtep_ip(&self) -> String {
        self.net().map(|n| n.to_string()).unwrap_or_default()
    }
    /// The VTEP MAC: `0a:58` + the four bytes of the VTEP address (CNI's convention for IP-derived MACs).
    pub fn vtep_mac(&self) -> String {
        let o = self.net().map(|n| n.octets()).unwrap_or_default();
        format!("0a:58:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
    }
    /// The bridge's address, `.1` of the pod CIDR.
    pub fn gateway(&self) -> String {
        self.net()
            .map(|n| Ipv4Addr::from(u32::from(n) + 1).to_string())
            .unwrap_or_default()
    }
}

/// What [`plan_host`] decided for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetChange {
    /// True when the network is set up from scratch on this host (else it is brought in line).
    pub create: bool,
    /// Device-level lines (network, VXLAN device, address).
    pub details: Vec<String>,
    /// Peers whose forwarding entry, neighbour or route this host gets, in inventory order.
    pub peers_added: Vec<PeerRoute>,
    /// Routes to pod CIDRs of hosts no longer in the inventory, `(destination, via)`, removed.
    pub stale_routes: Vec<(String, String)>,
    pub steps: Vec<Cmd>,
}

/// A peer host this host learns a route to: its name, pod CIDR and address (the VXLAN endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRoute {
    pub name: String,
    pub pod_cidr: String,
    pub address: String,
}

fn ip(args: &[&str]) -> Cmd {
    Cmd::write("ip", args.iter().copied())
}

/// The commands that make `host`'s pod network match: docker network, VXLAN device, one forwarding entry,
/// neighbour and route per peer, and removal of entries for hosts no longer in the inventory. `None` when
/// nothing differs.
pub fn plan_host(
    host: &HostNet,
    peers: &[HostNet],
    observed: &ObservedNetwork,
) -> Option<NetChange> {
    let mut details = Vec::new();
    let mut steps = Vec::new();
    let mut fresh = false;

    match observed.pod_subnet.as_deref() {
        None => {
            details.push(format!(
                "docker network {POD_NETWORK} {} (bridge {BRIDGE}) created",
                host.pod_cidr
            ));
            steps.push(Cmd::write(
                "docker",
                [
                    "network".to_string(),
                    "create".into(),
                    "--driver=bridge".into(),
                    format!("--subnet={}", host.pod_cidr),
                    format!("--gateway={}", host.gateway()),
                    format!("--opt=com.docker.network.bridge.name={BRIDGE}"),
                    "--opt=com.docker.network.bridge.enable_ip_masquerade=false".into(),
                    format!("--opt=com.docker.network.driver.mtu={MTU}"),
                    "--label=clusterctl.io/managed=true".into(),
                    "--".into(),
                    POD_NETWORK.into(),
                ],
            ));
        }
        Some(s) if s != host.pod_cidr => {
            // Moving a host's pod CIDR means recreating every pod on it: not done automatically.
            details.push(format!(
                "docker network {POD_NETWORK} has subnet {s}, the node's pod CIDR is {} (remove the network by hand to move it)",
                host.pod_cidr
            ));
        }
        Some(_) => {}
    }

    let dev_ok = observed.vxlan.as_ref().is_some_and(|v| {
        v.vni == VXLAN_VNI
            && v.port == VXLAN_PORT
            && v.local == host.address
            && v.mac == host.vtep_mac()
    });
    if !dev_ok {
        if observed.vxlan.is_some() {
            details.push(format!("VXLAN device {VXLAN_DEV} differs: recreated"));
            steps.push(ip(&["link", "del", VXLAN_DEV]));
        } else {
            details.push(format!(
                "VXLAN device {VXLAN_DEV} (VNI {VXLAN_VNI}, UDP {VXLAN_PORT}, local {}) created",
                host.address
            ));
        }
        fresh = true;
        let mac = host.vtep_mac();
        let local = host.address.clone();
        steps.push(ip(&[
            "link",
            "add",
            VXLAN_DEV,
            "address",
            &mac,
            "type",
            "vxlan",
            "id",
            "1",
            "local",
            &local,
            "dstport",
            "8472",
            "nolearning",
        ]));
    }
    let link = observed.vxlan.as_ref().filter(|_| dev_ok);
    if link.is_none_or(|l| !l.up || l.mtu != MTU) {
        if !fresh {
            details.push(format!(
                "VXLAN device {VXLAN_DEV} brought up with MTU {MTU}"
            ));
        }
        steps.push(ip(&[
            "link",
            "set",
            VXLAN_DEV,
            "mtu",
            &MTU.to_string(),
            "up",
        ]));
    }
    let addr = format!("{}/32", host.vtep_ip());
    if link.is_none_or(|l| !l.addresses.contains(&addr)) {
        if !fresh {
            details.push(format!("address {addr} added to {VXLAN_DEV}"));
        }
        steps.push(ip(&["addr", "replace", &addr, "dev", VXLAN_DEV]));
    }

    let (routes, neighbors, fdb) = if fresh {
        (&[][..], &[][..], &[][..])
    } else {
        (
            observed.routes.as_slice(),
            observed.neighbors.as_slice(),
            observed.fdb.as_slice(),
        )
    };
    // Looked up once per peer: sets, so a host with N peers costs O(N log N), not O(N²).
    let have_routes: BTreeSet<&(String, String)> = routes.iter().collect();
    let have_neigh: BTreeSet<&(String, String)> = neighbors.iter().collect();
    let have_fdb: BTreeSet<&(String, String)> = fdb.iter().collect();
    let mut want_routes = BTreeSet::new();
    let mut want_neigh = BTreeSet::new();
    let mut want_fdb = BTreeSet::new();
    // Per-peer entries go into two batches fed on stdin (`bridge -batch -`, `ip -batch -`): one command
    // per host instead of three per peer, so a plan stays linear in the cluster. Every word of these
    // lines is an address or MAC clusterctl derived from validated inventory addresses.
    let mut fdb_lines = String::new();
    let mut ip_lines = String::new();
    let mut peers_added = Vec::new();
    for p in peers.iter().filter(|p| p.name != host.name) {
        let (vip, mac) = (p.vtep_ip(), p.vtep_mac());
        want_routes.insert((p.pod_cidr.clone(), vip.clone()));
        want_neigh.insert((vip.clone(), mac.clone()));
        want_fdb.insert((mac.clone(), p.address.clone()));
        let mut added = false;
        if !have_fdb.contains(&(mac.clone(), p.address.clone())) {
            let _ = writeln!(
                fdb_lines,
                "fdb replace {mac} dev {VXLAN_DEV} dst {}",
                p.address
            );
            added = true;
        }
        if !have_neigh.contains(&(vip.clone(), mac.clone())) {
            let _ = writeln!(
                ip_lines,
                "neigh replace {vip} lladdr {mac} dev {VXLAN_DEV} nud permanent"
            );
            added = true;
        }
        if !have_routes.contains(&(p.pod_cidr.clone(), vip.clone())) {
            let _ = writeln!(
                ip_lines,
                "route replace {} via {vip} dev {VXLAN_DEV} onlink",
                p.pod_cidr
            );
            added = true;
        }
        if added {
            peers_added.push(PeerRoute {
                name: p.name.clone(),
                pod_cidr: p.pod_cidr.clone(),
                address: p.address.clone(),
            });
        }
    }
    let mut stale_routes = Vec::new();
    for (dst, via) in routes.iter().filter(|r| !want_routes.contains(*r)) {
        stale_routes.push((dst.clone(), via.clone()));
        let _ = writeln!(ip_lines, "route del {dst} dev {VXLAN_DEV}");
    }
    for (addr, _) in neighbors.iter().filter(|n| !want_neigh.contains(*n)) {
        let _ = writeln!(ip_lines, "neigh del {addr} dev {VXLAN_DEV}");
    }
    for (mac, dst) in fdb.iter().filter(|f| !want_fdb.contains(*f)) {
        let _ = writeln!(fdb_lines, "fdb del {mac} dev {VXLAN_DEV} dst {dst}");
    }
    // The forwarding entries first: a route is only useful once its neighbour's MAC can be reached.
    // Without `-force` each batch stops at its first failing line and exits non-zero.
    if !fdb_lines.is_empty() {
        steps.push(Cmd::write("bridge", ["-batch", "-"]).with_stdin(fdb_lines));
    }
    if !ip_lines.is_empty() {
        steps.push(ip(&["-batch", "-"]).with_stdin(ip_lines));
    }
    if steps.is_empty() && details.is_empty() {
        return None;
    }
    let create = observed.pod_subnet.is_none() && observed.vxlan.is_none();
    Some(NetChange {
        create,
        details,
        peers_added,
        stale_routes,
        steps,
    })
}

/// Pod IP assignment on one node: the lowest free address of the node's pod CIDR from `.2` (`.0` is the
/// VTEP, `.1` the bridge), skipping the addresses of pods that stay.
#[derive(Debug, Clone)]
pub struct PodIps {
    net: u32,
    size: u32,
    used: BTreeSet<u32>,
}

impl PodIps {
    pub fn new(pod_cidr: &str) -> Option<PodIps> {
        let c = crate::cidr::parse_v4(pod_cidr)?;
        Some(PodIps {
            net: u32::from(c.network()),
            size: 1u32
                .checked_shl(32 - u32::from(c.prefix_len()))
                .unwrap_or(0),
            used: BTreeSet::new(),
        })
    }
    pub fn contains(&self, ip: &str) -> bool {
        ip.parse::<Ipv4Addr>()
            .is_ok_and(|a| u32::from(a).wrapping_sub(self.net) < self.size)
    }
    pub fn reserve(&mut self, ip: &str) {
        if let Ok(a) = ip.parse::<Ipv4Addr>() {
            self.used.insert(u32::from(a));
        }
    }
    pub fn take_next(&mut self) -> Option<String> {
        let found = (2..self.size.saturating_sub(1))
            .map(|o| self.net + o)
            .find(|a| !self.used.contains(a))?;
        self.used.insert(found);
        Some(Ipv4Addr::from(found).to_string())
    }
}

/// Parses the network sections of the observe output (`ip -j`, `bridge -j`, `docker network inspect`).
pub mod parse {
    use serde_json::Value;

    use crate::model::VxlanLink;

    fn array(json: &str) -> Vec<Value> {
        serde_json::from_str::<Vec<Value>>(json).unwrap_or_default()
    }

    /// `docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}'` → first subnet.
    pub fn subnet(text: &str) -> Option<String> {
        text.split_whitespace().next().map(str::to_string)
    }

    /// `ip -d -j link show dev X` + `ip -4 -j addr show dev X`.
    pub fn vxlan(link: &str, addr: &str) -> Option<VxlanLink> {
        let l = array(link).into_iter().next()?;
        let data = l.pointer("/linkinfo/info_data")?;
        let addresses = array(addr)
            .iter()
            .flat_map(|a| a["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|i| i["family"] == "inet")
            .filter_map(|i| {
                Some(format!(
                    "{}/{}",
                    i["local"].as_str()?,
                    i["prefixlen"].as_u64()?
                ))
            })
            .collect();
        Some(VxlanLink {
            vni: data["id"].as_u64().unwrap_or(0) as u32,
            port: data["port"].as_u64().unwrap_or(0) as u16,
            local: data["local"].as_str().unwrap_or("").to_string(),
            mac: l["address"].as_str().unwrap_or("").to_string(),
            mtu: l["mtu"].as_u64().unwrap_or(0) as u32,
            up: l["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "UP")),
            addresses,
        })
    }

    /// `ip -4 -j route show dev X` → (dst, gateway).
    pub fn routes(json: &str) -> Vec<(String, String)> {
        array(json)
            .iter()
            .filter_map(|r| {
                Some((
                    r["dst"].as_str()?.to_string(),
                    r["gateway"].as_str().unwrap_or("").to_string(),
                ))
            })
            .collect()
    }

    /// `ip -4 -j neigh show dev X` → permanent (IP, MAC).
    pub fn neighbors(json: &str) -> Vec<(String, String)> {
        array(json)
            .iter()
            .filter(|n| {
                n["state"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == "PERMANENT"))
            })
            .filter_map(|n| {
                Some((
                    n["dst"].as_str()?.to_string(),
                    n["lladdr"].as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// `bridge -j fdb show dev X` → (MAC, remote) for entries with a remote.
    pub fn fdb(json: &str) -> Vec<(String, String)> {
        array(json)
            .iter()
            .filter_map(|f| {
                Some((
                    f["mac"].as_str()?.to_string(),
                    f["dst"].as_str()?.to_string(),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VxlanLink;

    fn h(name: &str, i: u8) -> HostNet {
        HostNet {
            name: name.into(),
            address: format!("172.30.0.{}", 10 + i),
            pod_cidr: format!("10.244.{i}.0/24"),
        }
    }

    fn argv(c: &Cmd) -> String {
        format!("{} {}", c.program, c.args.join(" "))
    }

    #[test]
    fn fresh_host_gets_everything_then_nothing() {
        let hosts = [h("a", 0), h("b", 1), h("c", 2)];
        let change = plan_host(&hosts[1], &hosts, &ObservedNetwork::default()).unwrap();
        assert!(change.create);
        let lines: Vec<String> = change.steps.iter().map(argv).collect();
        assert_eq!(
            lines,
            [
                "docker network create --driver=bridge --subnet=10.244.1.0/24 --gateway=10.244.1.1 --opt=com.docker.network.bridge.name=cni0 --opt=com.docker.network.bridge.enable_ip_masquerade=false --opt=com.docker.network.driver.mtu=1450 --label=clusterctl.io/managed=true -- clusterctl-pods",
                "ip link add clusterctl.1 address 0a:58:0a:f4:01:00 type vxlan id 1 local 172.30.0.11 dstport 8472 nolearning",
                "ip link set clusterctl.1 mtu 1450 up",
                "ip addr replace 10.244.1.0/32 dev clusterctl.1",
                "bridge -batch -",
                "ip -batch -",
            ]
        );
        let stdin: Vec<&str> = change.steps[4..]
            .iter()
            .map(|c| c.stdin.as_deref().unwrap())
            .collect();
        assert_eq!(
            stdin,
            [
                "fdb replace 0a:58:0a:f4:00:00 dev clusterctl.1 dst 172.30.0.10\n\
                 fdb replace 0a:58:0a:f4:02:00 dev clusterctl.1 dst 172.30.0.12\n",
                "neigh replace 10.244.0.0 lladdr 0a:58:0a:f4:00:00 dev clusterctl.1 nud permanent\n\
                 route replace 10.244.0.0/24 via 10.244.0.0 dev clusterctl.1 onlink\n\
                 neigh replace 10.244.2.0 lladdr 0a:58:0a:f4:02:00 dev clusterctl.1 nud permanent\n\
                 route replace 10.244.2.0/24 via 10.244.2.0 dev clusterctl.1 onlink\n",
            ]
        );
        assert!(change.steps.iter().all(|c| c.mutating));
        let names: Vec<&str> = change.peers_added.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        // What the host reports after those commands: converged.
        let observed = ObservedNetwork {
            pod_subnet: Some("10.244.1.0/24".into()),
            vxlan: Some(VxlanLink {
                vni: 1,
                port: 8472,
                local: "172.30.0.11".into(),
                mac: "0a:58:0a:f4:01:00".into(),
                mtu: 1450,
                up: true,
                addresses: vec!["10.244.1.0/32".into()],
            }),
            routes: vec![
                ("10.244.0.0/24".into(), "10.244.0.0".into()),
                ("10.244.2.0/24".into(), "10.244.2.0".into()),
            ],
            neighbors: vec![
                ("10.244.0.0".into(), "0a:58:0a:f4:00:00".into()),
                ("10.244.2.0".into(), "0a:58:0a:f4:02:00".into()),
            ],
            fdb: vec![
                ("0a:58:0a:f4:00:00".into(), "172.30.0.10".into()),
                ("0a:58:0a:f4:02:00".into(), "172.30.0.12".into()),
            ],
            ..Default::default()
        };
        assert_eq!(plan_host(&hosts[1], &hosts, &observed), None);

        // Host c leaves the inventory: its route, neighbour and forwarding entry go.
        let change = plan_host(&hosts[1], &hosts[..2], &observed).unwrap();
        assert!(!change.create);
        let lines: Vec<String> = change
            .steps
            .iter()
            .map(|c| format!("{}\n{}", argv(c), c.stdin.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            lines,
            [
                "bridge -batch -\nfdb del 0a:58:0a:f4:02:00 dev clusterctl.1 dst 172.30.0.12\n",
                "ip -batch -\nroute del 10.244.2.0/24 dev clusterctl.1\nneigh del 10.244.2.0 dev clusterctl.1\n",
            ]
        );
        assert_eq!(
            change.stale_routes,
            [("10.244.2.0/24".to_string(), "10.244.2.0".to_string())]
        );
        assert!(change.peers_added.is_empty());
    }

    /// A plan for one host of a large cluster is a fixed number of commands, whatever the peer count.
    #[test]
    fn peer_entries_are_batched_into_two_commands() {
        let hosts: Vec<HostNet> = (0..=200u8).map(|i| h(&format!("n{i}"), i)).collect();
        let change = plan_host(&hosts[7], &hosts, &ObservedNetwork::default()).unwrap();
        assert_eq!(change.steps.len(), 6);
        assert_eq!(change.peers_added.len(), 200);
        let ip_batch = change.steps[5].stdin.as_deref().unwrap();
        assert_eq!(ip_batch.lines().count(), 400);
    }

    #[test]
    fn pod_ips_skip_used_and_reserved() {
        let mut ips = PodIps::new("10.244.3.0/24").unwrap();
        ips.reserve("10.244.3.2");
        ips.reserve("10.244.3.4");
        assert_eq!(ips.take_next().as_deref(), Some("10.244.3.3"));
        assert_eq!(ips.take_next().as_deref(), Some("10.244.3.5"));
        assert!(ips.contains("10.244.3.200"));
        assert!(!ips.contains("10.244.4.2"));
        assert!(!ips.contains("172.17.0.2"));
    }

    #[test]
    fn parses_ip_json() {
        let link = r#"[{"ifname":"clusterctl.1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1450,"address":"0a:58:0a:f4:03:00","linkinfo":{"info_kind":"vxlan","info_data":{"id":1,"local":"172.30.0.13","port":8472,"learning":false}}}]"#;
        let addr = r#"[{"ifname":"clusterctl.1","addr_info":[{"family":"inet","local":"10.244.3.0","prefixlen":32}]}]"#;
        let v = parse::vxlan(link, addr).unwrap();
        assert_eq!(
            v,
            VxlanLink {
                vni: 1,
                port: 8472,
                local: "172.30.0.13".into(),
                mac: "0a:58:0a:f4:03:00".into(),
                mtu: 1450,
                up: true,
                addresses: vec!["10.244.3.0/32".into()]
            }
        );
        assert_eq!(parse::vxlan("", ""), None);
        assert_eq!(
            parse::routes(r#"[{"dst":"10.244.1.0/24","gateway":"10.244.1.0","flags":["onlink"]}]"#),
            [("10.244.1.0/24".to_string(), "10.244.1.0".to_string())]
        );
        assert_eq!(
            parse::neighbors(
                r#"[{"dst":"10.244.1.0","lladdr":"0a:58:0a:f4:01:00","state":["PERMANENT"]},{"dst":"10.244.1.9","lladdr":"x","state":["STALE"]}]"#
            ),
            [("10.244.1.0".to_string(), "0a:58:0a:f4:01:00".to_string())]
        );
        assert_eq!(
            parse::fdb(
                r#"[{"mac":"0a:58:0a:f4:01:00","dst":"172.30.0.11","flags":["self"],"state":"permanent"},{"mac":"aa:bb:cc:dd:ee:ff","flags":["self"]}]"#
            ),
            [("0a:58:0a:f4:01:00".to_string(), "172.30.0.11".to_string())]
        );
    }
}
