//! Address conversions: text, integers, the store's fixed-width hex, and EUI-64.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv6Net};

/// An address as an integer.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// An integer back to an address of the given version (4 or 6).
pub fn from_u128(v: u128, version: u8) -> IpAddr {
    if version == 4 {
        IpAddr::V4(Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(v))
    }
}

/// The store's sortable form: 8 hex digits for IPv4, 32 for IPv6.
pub fn to_hex(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{:08x}", to_u128(ip)),
        IpAddr::V6(_) => format!("{:032x}", to_u128(ip)),
    }
}

/// Parse the store's hex form back.
pub fn from_hex(hex: &str) -> Option<IpAddr> {
    let v = u128::from_str_radix(hex, 16).ok()?;
    Some(from_u128(v, if hex.len() <= 8 { 4 } else { 6 }))
}

/// The version (4 or 6) of an address.
pub fn version(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 4 } else { 6 }
}

/// First and last address of a network.
pub fn bounds(net: IpNet) -> (u128, u128) {
    (to_u128(net.network()), to_u128(net.broadcast()))
}

/// Whether `ip` lies in `net`.
pub fn contains(net: IpNet, ip: IpAddr) -> bool {
    net.contains(&ip)
}

/// The EUI-64 address of `mac` in a /64 prefix (RFC 4291: flip the universal/local bit and
/// insert `ff:fe` in the middle of the MAC).
pub fn eui64(prefix: Ipv6Net, mac: [u8; 6]) -> Ipv6Addr {
    let iid: [u8; 8] = [
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ];
    let mut bytes = prefix.network().octets();
    bytes[8..].copy_from_slice(&iid);
    Ipv6Addr::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui64_matches_the_neutron_example() {
        let prefix: Ipv6Net = "2001:db8::/64".parse().unwrap();
        let ip = eui64(prefix, [0xfa, 0x16, 0x3e, 0x12, 0x34, 0x56]);
        assert_eq!(ip.to_string(), "2001:db8::f816:3eff:fe12:3456");
    }

    #[test]
    fn hex_form_sorts_like_addresses_and_round_trips() {
        let a: IpAddr = "10.0.0.9".parse().unwrap();
        let b: IpAddr = "10.0.0.10".parse().unwrap();
        assert!(to_hex(a) < to_hex(b));
        assert_eq!(from_hex(&to_hex(b)), Some(b));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(to_hex(v6).len(), 32);
        assert_eq!(from_hex(&to_hex(v6)), Some(v6));
    }
}
