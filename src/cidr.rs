//! IPv4 CIDR blocks as the allocators and validation need them: parse `a.b.c.d/len`, test membership.
//! A leaf of the module graph (docs/architecture.md): both `manifest` (range checks on explicit values) and
//! `services`/`network` (allocation) use it, so neither has to reach into the other.

use std::net::Ipv4Addr;

/// `a.b.c.d/len` → (network, prefix length).
pub fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (ip, len) = cidr.split_once('/')?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, len))
}

/// Whether `ip` lies in the block `parse_cidr` returned.
pub fn in_cidr(ip: Ipv4Addr, (net, len): (u32, u32)) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == net
}
