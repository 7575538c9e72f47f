//! Allocation pools: defaults, validation, and splitting pools into the store's free ranges.

use std::net::IpAddr;

use ipnet::IpNet;

use super::address::{bounds, from_u128, to_u128, version};

/// An inclusive range of addresses as integers.
pub type Range = (u128, u128);

/// Why a set of pools was refused, with Neutron's exception for each case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// A pool address is of the wrong version or start > end (`InvalidAllocationPool`).
    Invalid(String),
    /// A pool is outside the subnet (`OutOfBoundsAllocationPool`).
    OutOfBounds(String),
    /// Two pools overlap (`OverlappingAllocationPools`).
    Overlapping(String),
    /// The gateway lies inside a pool (`GatewayConflictWithAllocationPools`).
    GatewayConflict(String),
}

/// Neutron's default pools: all usable addresses (IPv4 without network and broadcast for
/// prefixes up to /30, IPv6 without the subnet-router anycast address), minus the gateway.
pub fn default_pools(net: IpNet, gateway: Option<IpAddr>) -> Vec<Range> {
    let (first, last) = bounds(net);
    let (start, end) = match net {
        IpNet::V4(n) if n.prefix_len() <= 30 => (first + 1, last - 1),
        IpNet::V4(_) => (first, last),
        IpNet::V6(n) if n.prefix_len() < 128 => (first + 1, last),
        IpNet::V6(_) => (first, last),
    };
    let mut pools = vec![(start, end)];
    if let Some(gw) = gateway {
        pools = subtract(&pools, to_u128(gw));
    }
    pools
}

/// Remove one address from a list of ranges.
pub fn subtract(ranges: &[Range], addr: u128) -> Vec<Range> {
    let mut out = Vec::new();
    for &(s, e) in ranges {
        if addr < s || addr > e {
            out.push((s, e));
            continue;
        }
        if s < addr {
            out.push((s, addr - 1));
        }
        if addr < e {
            out.push((addr + 1, e));
        }
    }
    out
}

/// Check user-given pools against the subnet and the gateway.
pub fn validate(
    net: IpNet,
    pools: &[(IpAddr, IpAddr)],
    gateway: Option<IpAddr>,
) -> Result<Vec<Range>, PoolError> {
    let v = if net.addr().is_ipv4() { 4 } else { 6 };
    // Neutron's `validate_allocation_pools`: never the network address, nor the IPv4
    // broadcast address (single-address and point-to-point subnets aside).
    let (net_first, net_last) = match net {
        IpNet::V4(n) if n.prefix_len() <= 30 => (bounds(net).0 + 1, bounds(net).1 - 1),
        IpNet::V6(n) if n.prefix_len() < 128 => (bounds(net).0 + 1, bounds(net).1),
        _ => bounds(net),
    };
    let mut ranges = Vec::new();
    for &(start, end) in pools {
        if version(start) != v || version(end) != v {
            return Err(PoolError::Invalid(format!(
                "The allocation pool {start}-{end} spans beyond the subnet cidr {net}."
            )));
        }
        let (s, e) = (to_u128(start), to_u128(end));
        if s > e {
            return Err(PoolError::Invalid(format!(
                "The allocation pool {start}-{end} is not valid."
            )));
        }
        if s < net_first || e > net_last {
            return Err(PoolError::OutOfBounds(format!(
                "The allocation pool {start}-{end} spans beyond the subnet cidr {net}."
            )));
        }
        ranges.push((s, e));
    }
    let mut sorted = ranges.clone();
    sorted.sort();
    for w in sorted.windows(2) {
        if w[1].0 <= w[0].1 {
            let a = (from_u128(w[0].0, v), from_u128(w[0].1, v));
            let b = (from_u128(w[1].0, v), from_u128(w[1].1, v));
            return Err(PoolError::Overlapping(format!(
                "Found overlapping allocation pools: {}-{} and {}-{} for subnet {net}.",
                a.0, a.1, b.0, b.1
            )));
        }
    }
    if let Some(gw) = gateway {
        let g = to_u128(gw);
        if ranges.iter().any(|&(s, e)| s <= g && g <= e) {
            return Err(PoolError::GatewayConflict(format!(
                "Gateway ip {gw} conflicts with allocation pool {}",
                ranges
                    .iter()
                    .find(|&&(s, e)| s <= g && g <= e)
                    .map(|&(s, e)| format!("{}-{}", from_u128(s, v), from_u128(e, v)))
                    .unwrap_or_default()
            )));
        }
    }
    Ok(ranges)
}

/// Split pools into at most `parts` free ranges of at least `min_size` addresses, so that
/// concurrent allocators on PostgreSQL can take addresses from different rows.
pub fn split(ranges: &[Range], parts: u128, min_size: u128) -> Vec<Range> {
    let mut out = Vec::new();
    for &(s, e) in ranges {
        let size = e - s + 1;
        let n = (size / min_size).clamp(1, parts);
        let step = size / n;
        let mut start = s;
        for i in 0..n {
            let end = if i == n - 1 { e } else { start + step - 1 };
            out.push((start, end));
            start = end + 1;
        }
    }
    out
}

/// Number of addresses in some ranges.
pub fn size(ranges: &[Range]) -> u128 {
    ranges.iter().map(|&(s, e)| e - s + 1).sum()
}

/// Whether an address (integer) lies in one of the ranges.
pub fn in_ranges(ranges: &[Range], addr: u128) -> bool {
    ranges.iter().any(|&(s, e)| s <= addr && addr <= e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn show(r: &[Range], v: u8) -> Vec<String> {
        r.iter()
            .map(|&(s, e)| format!("{}-{}", from_u128(s, v), from_u128(e, v)))
            .collect()
    }

    #[test]
    fn default_v4_pool_skips_network_broadcast_and_gateway() {
        let pools = default_pools(net("10.0.0.0/24"), Some(ip("10.0.0.1")));
        assert_eq!(show(&pools, 4), vec!["10.0.0.2-10.0.0.254"]);
    }

    #[test]
    fn a_gateway_in_the_middle_splits_the_default_pool() {
        let pools = default_pools(net("10.0.0.0/24"), Some(ip("10.0.0.100")));
        assert_eq!(
            show(&pools, 4),
            vec!["10.0.0.1-10.0.0.99", "10.0.0.101-10.0.0.254"]
        );
    }

    #[test]
    fn default_v6_pool_skips_the_anycast_address_only() {
        let pools = default_pools(net("2001:db8::/64"), Some(ip("2001:db8::")));
        assert_eq!(
            show(&pools, 6),
            vec!["2001:db8::1-2001:db8::ffff:ffff:ffff:ffff"]
        );
    }

    #[test]
    fn pools_outside_overlapping_or_holding_the_gateway_are_refused() {
        let n = net("10.0.0.0/24");
        let gw = Some(ip("10.0.0.1"));
        assert!(matches!(
            validate(n, &[(ip("10.0.0.2"), ip("10.0.1.5"))], gw),
            Err(PoolError::OutOfBounds(_))
        ));
        assert!(matches!(
            validate(
                n,
                &[
                    (ip("10.0.0.2"), ip("10.0.0.50")),
                    (ip("10.0.0.40"), ip("10.0.0.60"))
                ],
                gw
            ),
            Err(PoolError::Overlapping(_))
        ));
        assert!(matches!(
            validate(n, &[(ip("10.0.0.1"), ip("10.0.0.50"))], gw),
            Err(PoolError::GatewayConflict(_))
        ));
        assert!(validate(n, &[(ip("10.0.0.2"), ip("10.0.0.50"))], gw).is_ok());
    }

    #[test]
    fn split_covers_every_address_exactly_once() {
        let parts = split(&[(10, 1033)], 16, 64);
        assert_eq!(parts.len(), 16);
        assert_eq!(size(&parts), 1024);
        assert_eq!(parts[0].0, 10);
        assert_eq!(parts[15].1, 1033);
        for w in parts.windows(2) {
            assert_eq!(w[0].1 + 1, w[1].0);
        }
        assert_eq!(split(&[(1, 29)], 16, 64), vec![(1, 29)]);
    }
}
