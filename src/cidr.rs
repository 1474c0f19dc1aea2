//! CIDR blocks (`10.244.0.0/16`, `fd00::/8`): the one parser every stage uses, over `ipnet`'s types.
//! Strict as the inventory documents it: an IP address as Rust's `std` reads it (no leading-zero octets),
//! `/`, and a prefix length of decimal digits only (`/+8` and `/08 ` are not CIDRs). Host bits are kept
//! (`10.244.3.7/24` parses; `network()` drops them). Pure.

pub use ipnet::{IpNet, Ipv4Net};

/// `addr/len`, IPv4 or IPv6.
pub fn parse(s: &str) -> Option<IpNet> {
    let (addr, len) = s.split_once('/')?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    IpNet::new(addr.parse().ok()?, len.parse().ok()?).ok()
}

/// An IPv4 CIDR; `None` for IPv6 or anything that does not parse.
pub fn parse_v4(s: &str) -> Option<Ipv4Net> {
    match parse(s)? {
        IpNet::V4(n) => Some(n),
        IpNet::V6(_) => None,
    }
}

/// Do the two blocks share an address? (CIDR blocks either nest or are disjoint.)
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_and_strictness() {
        let c = |s| parse(s).unwrap();
        assert!(c("10.244.0.0/16").contains(&c("10.244.3.0/24")));
        assert!(!c("10.244.0.0/16").contains(&c("10.245.3.0/24")));
        assert!(!c("10.244.3.0/24").contains(&c("10.244.0.0/16")));
        assert!(c("0.0.0.0/0").contains(&c("1.2.3.4/32")));
        assert!(c("fd00::/8").contains(&c("fd00:1::/64")));
        assert!(!c("fd00::/8").contains(&c("10.0.0.0/8")));
        assert!(overlaps(&c("10.244.1.0/25"), &c("10.244.1.0/24")));
        assert!(!overlaps(&c("10.244.2.0/24"), &c("10.244.1.0/24")));
        // Host bits are kept but do not change what the block holds.
        assert!(c("10.244.0.9/16").contains(&c("10.244.3.0/24")));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/33",
            "x/8",
            "10.0.0.0/+8",
            "010.0.0.0/8",
            "fd00::/129",
            "10.0.0.0/8 ",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_v4("fd00::/8"), None);
        assert_eq!(parse_v4("10.96.0.0/12").unwrap().prefix_len(), 12);
    }
}
