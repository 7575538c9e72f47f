//! Network IP availability (`network-ip-availability` and `-details`): per network and per
//! subnet, how many addresses there are and how many are in use, computed as Neutron
//! computes them, exactly, whatever the size (a network's IPv6 totals pass 2^64 and can
//! pass 2^128).
//!
//! - `total_ips`: the size of the subnet's allocation pools, or of its CIDR when it has none.
//! - `used_ips`: the addresses the subnet has handed out (inside its pools or not).
//! - details: `total_ips_in_subnet` (the CIDR without an IPv4 network's network and broadcast
//!   addresses), `total_ips_in_allocation_pool` (0 without pools), `used_ips_in_subnet`,
//!   `used_ips_in_allocation_pool`.
//!
//! The addresses in use inside the pools are the pools' size minus their free ranges, which
//! IPAM keeps exact; subnets whose addresses derive from MACs (SLAAC) take none from the free
//! ranges, so their addresses are classified one by one.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use neutrino_store::ip_availability as store;
use neutrino_store::model::Subnet;
use neutrino_store::query::ListQuery;

use crate::checks::is_service;
use crate::error::{Error, Result};
use crate::ipam::address::{bounds, to_u128};
use crate::networks::marker_error;
use crate::subnets::{is_auto_address, net_of, pool_ranges};
use crate::{Plugin, RequestContext};

/// A count of addresses, exact at any size (little-endian 64-bit limbs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Count(Vec<u64>);

impl Count {
    /// A count of `n`.
    pub fn of(n: u128) -> Count {
        let mut c = Count::default();
        c.add(n);
        c
    }

    /// Add `n`.
    pub fn add(&mut self, n: u128) {
        let mut carry = n;
        let mut i = 0;
        while carry != 0 {
            if i == self.0.len() {
                self.0.push(0);
            }
            let sum = u128::from(self.0[i]) + (carry & u128::from(u64::MAX));
            self.0[i] = sum as u64;
            carry = (carry >> 64) + (sum >> 64);
            i += 1;
        }
    }

    /// Add another count.
    pub fn add_count(&mut self, other: &Count) {
        let mut carry = 0u128;
        let len = self.0.len().max(other.0.len());
        self.0.resize(len, 0);
        for i in 0..len {
            let sum = u128::from(self.0[i]) + u128::from(*other.0.get(i).unwrap_or(&0)) + carry;
            self.0[i] = sum as u64;
            carry = sum >> 64;
        }
        if carry != 0 {
            self.0.push(carry as u64);
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Repeated division by 10^19 (the largest power of ten in a limb).
        const CHUNK: u128 = 10_000_000_000_000_000_000;
        let mut limbs: Vec<u64> = self.0.clone();
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        if limbs.is_empty() {
            return f.write_str("0");
        }
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            let mut rem = 0u128;
            for limb in limbs.iter_mut().rev() {
                let cur = (rem << 64) | u128::from(*limb);
                *limb = (cur / CHUNK) as u64;
                rem = cur % CHUNK;
            }
            chunks.push(rem as u64);
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
        }
        let mut out = chunks.pop().unwrap_or(0).to_string();
        for c in chunks.iter().rev() {
            out.push_str(&format!("{c:019}"));
        }
        f.write_str(&out)
    }
}

/// The four detailed figures of a subnet or network (`network-ip-availability-details`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// Addresses of the CIDR (an IPv4 network's network and broadcast addresses excluded).
    pub total_ips_in_subnet: Count,
    /// Addresses of the allocation pools.
    pub total_ips_in_allocation_pool: Count,
    /// Addresses handed out.
    pub used_ips_in_subnet: u64,
    /// Addresses handed out inside the allocation pools.
    pub used_ips_in_allocation_pool: u64,
}

impl Details {
    fn add(&mut self, other: &Details) {
        self.total_ips_in_subnet
            .add_count(&other.total_ips_in_subnet);
        self.total_ips_in_allocation_pool
            .add_count(&other.total_ips_in_allocation_pool);
        self.used_ips_in_subnet += other.used_ips_in_subnet;
        self.used_ips_in_allocation_pool += other.used_ips_in_allocation_pool;
    }
}

/// One subnet's availability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetAvailability {
    /// Subnet id.
    pub subnet_id: String,
    /// Subnet name.
    pub subnet_name: String,
    /// 4 or 6.
    pub ip_version: i64,
    /// CIDR.
    pub cidr: String,
    /// Pool size, or CIDR size without pools.
    pub total_ips: Count,
    /// Addresses handed out.
    pub used_ips: u64,
    /// The details.
    pub details: Details,
}

/// One network's availability: its subnets and their sums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAvailability {
    /// Network id.
    pub network_id: String,
    /// Network name.
    pub network_name: String,
    /// Owner.
    pub project_id: String,
    /// Sum of the subnets' `total_ips`.
    pub total_ips: Count,
    /// Sum of the subnets' `used_ips`.
    pub used_ips: u64,
    /// Per subnet, oldest first.
    pub subnets: Vec<SubnetAvailability>,
    /// Sums of the subnets' details.
    pub details: Details,
}

fn size(first: u128, last: u128) -> u128 {
    last.saturating_sub(first).saturating_add(1)
}

/// The availability of one subnet, from its pools, the number of addresses it handed out,
/// its free ranges and (for subnets whose addresses derive from MACs) those addresses.
fn subnet_availability(
    s: &Subnet,
    used: u64,
    free: &[(u128, u128)],
    addresses: Option<&[String]>,
) -> Result<SubnetAvailability> {
    let net = net_of(s)?;
    let (first, last) = bounds(net);
    let cidr_size = size(first, last);
    // Neutron subtracts an IPv4 network's network and broadcast addresses; /31 and /32
    // subnets have neither (RFC 3021), where Neutron would answer 0 and -1.
    let in_subnet = match net {
        ipnet::IpNet::V4(n) if n.prefix_len() < 31 => cidr_size - 2,
        _ => cidr_size,
    };
    let pools = pool_ranges(s);
    let mut in_pools = Count::default();
    let mut pool_total: u128 = 0;
    for &(a, b) in &pools {
        in_pools.add(size(a, b));
        pool_total = pool_total.saturating_add(size(a, b));
    }
    let used_in_pool = match addresses {
        Some(list) => list
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .map(to_u128)
            .filter(|v| pools.iter().any(|&(a, b)| a <= *v && *v <= b))
            .count() as u64,
        None => {
            let free: u128 = free.iter().map(|&(a, b)| size(a, b)).sum();
            u64::try_from(pool_total.saturating_sub(free)).unwrap_or(u64::MAX)
        }
    };
    Ok(SubnetAvailability {
        subnet_id: s.id.clone(),
        subnet_name: s.name.clone(),
        ip_version: s.ip_version,
        cidr: s.cidr.clone(),
        total_ips: if pools.is_empty() {
            Count::of(cidr_size)
        } else {
            in_pools.clone()
        },
        used_ips: used,
        details: Details {
            total_ips_in_subnet: Count::of(in_subnet),
            total_ips_in_allocation_pool: in_pools,
            used_ips_in_subnet: used,
            used_ips_in_allocation_pool: used_in_pool,
        },
    })
}

impl Plugin {
    /// The availability of the networks `q` selects (conditions on the networks table),
    /// with only subnets of `ip_versions` (all when empty; a network with none of them is
    /// left out, as in Neutron). Admins and the `service` role only.
    pub async fn network_ip_availabilities(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
        ip_versions: &[i64],
    ) -> Result<Vec<NetworkAvailability>> {
        if !(ctx.is_admin || is_service(ctx)) {
            return Ok(Vec::new());
        }
        if !ip_versions.is_empty() {
            let marks = vec!["?"; ip_versions.len()].join(", ");
            q.conditions.push(neutrino_store::query::Condition::raw(
                format!("id IN (SELECT network_id FROM subnets WHERE ip_version IN ({marks}))"),
                ip_versions.iter().map(|v| (*v).into()).collect(),
            ));
        }
        let mut conn = self.read().await?;
        let store::Snapshot {
            networks,
            subnets,
            used,
            free,
            addresses,
        } = store::snapshot(&mut conn, &q, ip_versions, is_auto_address)
            .await
            .map_err(|e| marker_error(e, "Network"))?;
        drop(conn);
        let mut by_network: HashMap<&str, Vec<SubnetAvailability>> = HashMap::new();
        for s in &subnets {
            let a = subnet_availability(
                s,
                used.get(&s.id).copied().unwrap_or(0),
                free.get(&s.id).map(Vec::as_slice).unwrap_or(&[]),
                is_auto_address(s).then(|| addresses.get(&s.id).map(Vec::as_slice).unwrap_or(&[])),
            )?;
            by_network.entry(s.network_id.as_str()).or_default().push(a);
        }
        Ok(networks
            .into_iter()
            .map(|n| {
                let subnets = by_network.remove(n.id.as_str()).unwrap_or_default();
                let mut total = Count::default();
                let mut used = 0;
                let mut details = Details::default();
                for s in &subnets {
                    total.add_count(&s.total_ips);
                    used += s.used_ips;
                    details.add(&s.details);
                }
                NetworkAvailability {
                    network_id: n.id,
                    network_name: n.name,
                    project_id: n.project_id,
                    total_ips: total,
                    used_ips: used,
                    subnets,
                    details,
                }
            })
            .collect())
    }

    /// The availability of one network (404 `NetworkNotFound`; hidden from non-admins).
    pub async fn network_ip_availability(
        &self,
        ctx: &RequestContext,
        network_id: &str,
    ) -> Result<NetworkAvailability> {
        let not_found = || Error::not_found("NetworkNotFound", "Network", network_id);
        if !(ctx.is_admin || is_service(ctx)) {
            // Neutron hides what `get_network_ip_availability` does not let the caller read.
            return Err(not_found());
        }
        let q = ListQuery {
            conditions: vec![neutrino_store::query::Condition::eq("id", network_id)],
            ..Default::default()
        };
        self.network_ip_availabilities(ctx, q, &[])
            .await?
            .pop()
            .ok_or_else(not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_exact_past_64_and_128_bits() {
        assert_eq!(Count::default().to_string(), "0");
        assert_eq!(Count::of(253).to_string(), "253");
        let mut c = Count::of(u64::MAX as u128);
        c.add(1);
        assert_eq!(c.to_string(), "18446744073709551616");
        let mut big = Count::of(1u128 << 127);
        big.add(1u128 << 127);
        assert_eq!(big.to_string(), "340282366920938463463374607431768211456");
        let mut sum = Count::of(u128::MAX);
        sum.add_count(&Count::of(u128::MAX));
        assert_eq!(sum.to_string(), "680564733841876926926749214863536422910");
    }
}
