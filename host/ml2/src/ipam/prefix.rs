//! Subnet pool arithmetic: which prefixes are free, and the best-fit choice of a new subnet.

use ipnet::IpNet;

use super::address::{bounds, from_u128, to_u128};

/// Remove `used` from `free` (all canonical networks of one version), returning the free
/// space as canonical networks.
pub fn subtract(free: &[IpNet], used: &[IpNet]) -> Vec<IpNet> {
    let mut blocks: Vec<IpNet> = free.to_vec();
    for u in used {
        let mut next = Vec::new();
        for b in blocks {
            next.extend(remove(b, *u));
        }
        blocks = next;
    }
    blocks
}

fn remove(block: IpNet, used: IpNet) -> Vec<IpNet> {
    if used.contains(&block) {
        return vec![];
    }
    if !block.contains(&used) {
        return vec![block];
    }
    // Split `block` in halves until `used` is one of them.
    let mut out = Vec::new();
    let mut current = block;
    while current.prefix_len() < used.prefix_len() {
        let halves: Vec<IpNet> = match current.subnets(current.prefix_len() + 1) {
            Ok(it) => it.collect(),
            Err(_) => break,
        };
        let (a, b) = (halves[0], halves[1]);
        if a.contains(&used.network()) {
            out.push(b);
            current = a;
        } else {
            out.push(a);
            current = b;
        }
    }
    out
}

/// The first subnet of `prefixlen` in the free space, best fit: the smallest free block that
/// can hold it is used, as Neutron's `_allocate_any_subnet` does.
pub fn allocate_any(free: &[IpNet], prefixlen: u8) -> Option<IpNet> {
    let mut candidates: Vec<&IpNet> = free
        .iter()
        .filter(|b| b.prefix_len() <= prefixlen)
        .collect();
    candidates.sort_by(|a, b| {
        b.prefix_len()
            .cmp(&a.prefix_len())
            .then(to_u128(a.network()).cmp(&to_u128(b.network())))
    });
    let block = candidates.first()?;
    IpNet::new(block.network(), prefixlen)
        .ok()
        .map(|n| n.trunc())
}

/// Whether `cidr` fits entirely in the free space.
pub fn fits(free: &[IpNet], cidr: IpNet) -> bool {
    free.iter().any(|b| b.contains(&cidr))
}

/// Whether two networks share any address.
pub fn overlaps(a: IpNet, b: IpNet) -> bool {
    let (a0, a1) = bounds(a);
    let (b0, b1) = bounds(b);
    (a.addr().is_ipv4() == b.addr().is_ipv4()) && a0 <= b1 && b0 <= a1
}

/// Number of addresses in a network, as a JSON-safe count (saturating).
pub fn size(net: IpNet) -> u128 {
    let (a, b) = bounds(net);
    b - a + 1
}

/// Canonical text of a network built from an integer (helper for messages).
pub fn show(v: u128, version: u8, len: u8) -> String {
    format!("{}/{len}", from_u128(v, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn next_free_prefix_skips_used_subnets() {
        let free = subtract(&[n("10.0.0.0/16")], &[n("10.0.0.0/24"), n("10.0.1.0/24")]);
        assert_eq!(allocate_any(&free, 24), Some(n("10.0.2.0/24")));
    }

    #[test]
    fn best_fit_prefers_the_smallest_block_that_holds_the_request() {
        let free = subtract(&[n("10.0.0.0/16")], &[n("10.0.0.0/25")]);
        // 10.0.0.128/25 is the smallest free block; a /26 is carved from it.
        assert_eq!(allocate_any(&free, 26), Some(n("10.0.0.128/26")));
    }

    #[test]
    fn a_full_pool_has_nothing_to_give() {
        let free = subtract(&[n("10.0.0.0/24")], &[n("10.0.0.0/24")]);
        assert_eq!(allocate_any(&free, 28), None);
    }

    #[test]
    fn overlap_is_symmetric_and_version_aware() {
        assert!(overlaps(n("10.0.0.0/16"), n("10.0.5.0/24")));
        assert!(overlaps(n("10.0.5.0/24"), n("10.0.0.0/16")));
        assert!(!overlaps(n("10.0.0.0/24"), n("10.0.1.0/24")));
        assert!(!overlaps(n("::/0"), n("10.0.0.0/8")));
    }
}
