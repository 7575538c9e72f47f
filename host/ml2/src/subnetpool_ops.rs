//! Actions on subnet pools (extensions `subnetpool-prefix-ops` and `subnet_onboard`):
//! `add_prefixes` and `remove_prefixes` change a pool's prefixes without restating them all,
//! and `onboard_network_subnets` adopts the subnets of a network into a pool, adding their
//! CIDRs to its prefixes. As Neutron (`db_base_plugin_v2.py`): an empty list changes nothing;
//! removing prefixes that a subnet of the pool uses is a 400 `IllegalSubnetPoolPrefixUpdate`;
//! onboarding a subnet that overlaps one the pool already allocated is a 400
//! `IllegalSubnetPoolUpdate`. Prefixes come back compacted (adjacent ones merged).

use ipnet::IpNet;
use neutrino_store::{StoreError, networks, subnetpools, subnets};

use crate::checks::admin_or_project;
use crate::error::{Error, Result};
use crate::subnetpools::{SubnetPoolUpdate, visible_pool};
use crate::{Plugin, RequestContext};

/// A subnet `onboard_network_subnets` put into the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onboarded {
    /// The subnet.
    pub id: String,
    /// Its CIDR.
    pub cidr: String,
}

/// Inclusive address ranges of `nets` (as integers), sorted and merged.
fn ranges(nets: &[IpNet]) -> Vec<(u128, u128)> {
    let mut r: Vec<(u128, u128)> = nets
        .iter()
        .map(|n| {
            (
                crate::ipam::address::to_u128(n.network()),
                crate::ipam::address::to_u128(n.broadcast()),
            )
        })
        .collect();
    r.sort();
    let mut out: Vec<(u128, u128)> = Vec::new();
    for (a, b) in r {
        match out.last_mut() {
            Some((_, end)) if a <= end.saturating_add(1) => *end = (*end).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Whether two sets of networks share any address.
fn overlap(a: &[IpNet], b: &[IpNet]) -> bool {
    let (ra, rb) = (ranges(a), ranges(b));
    ra.iter()
        .any(|(a0, a1)| rb.iter().any(|(b0, b1)| a0 <= b1 && b0 <= a1))
}

/// The last address of the block of `2^size` addresses starting at `start` (aligned).
fn block_last(start: u128, size: u32) -> u128 {
    if size >= 128 {
        u128::MAX
    } else {
        start + ((1u128 << size) - 1)
    }
}

/// The largest CIDRs covering exactly `[start, end]` (`netaddr.IPSet.iter_cidrs`).
fn cidrs(mut start: u128, end: u128, v4: bool) -> Vec<IpNet> {
    let bits: u32 = if v4 { 32 } else { 128 };
    let mut out = Vec::new();
    loop {
        // The largest block aligned at `start` that does not pass `end`.
        let mut size = if start == 0 {
            bits
        } else {
            start.trailing_zeros().min(bits)
        };
        while block_last(start, size) > end {
            size -= 1;
        }
        let prefix = (bits - size) as u8;
        let net = if v4 {
            IpNet::new(std::net::Ipv4Addr::from(start as u32).into(), prefix)
        } else {
            IpNet::new(std::net::Ipv6Addr::from(start).into(), prefix)
        }
        .expect("a prefix length within the family");
        out.push(net);
        let last = block_last(start, size);
        if last >= end {
            break;
        }
        start = last + 1;
    }
    out
}

/// `all` without the addresses of `removed`, as CIDRs (compacted).
fn difference(all: &[IpNet], removed: &[IpNet], v4: bool) -> Vec<IpNet> {
    let cut = ranges(removed);
    let mut out = Vec::new();
    for (a, b) in ranges(all) {
        let mut next = Some(a);
        for &(c0, c1) in &cut {
            let Some(from) = next else { break };
            if c1 < from || c0 > b {
                continue;
            }
            if c0 > from {
                out.extend(cidrs(from, c0 - 1, v4));
            }
            next = if c1 >= b { None } else { Some(c1 + 1) };
        }
        if let Some(from) = next {
            out.extend(cidrs(from, b, v4));
        }
    }
    out
}

fn same_family(p: &neutrino_store::model::SubnetPool, prefixes: &[IpNet]) -> Result<()> {
    if prefixes
        .iter()
        .any(|n| n.addr().is_ipv4() != (p.ip_version == 4))
    {
        return Err(Error::neutron(
            "PrefixVersionMismatch",
            400,
            "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
        ));
    }
    Ok(())
}

fn parsed(p: &neutrino_store::model::SubnetPool) -> Vec<IpNet> {
    p.prefixes.iter().filter_map(|x| x.parse().ok()).collect()
}

impl Plugin {
    /// `PUT /v2.0/subnetpools/{id}/add_prefixes`: the pool's prefixes after adding these.
    pub async fn add_subnetpool_prefixes(
        &self,
        ctx: &RequestContext,
        id: &str,
        prefixes: Vec<IpNet>,
    ) -> Result<Vec<String>> {
        let current = {
            let mut conn = self.read().await?;
            visible_pool(&mut conn, ctx, id).await?
        };
        admin_or_project(ctx, "member", &current.project_id, "add_prefixes")?;
        if prefixes.is_empty() {
            return Ok(current.prefixes);
        }
        same_family(&current, &prefixes)?;
        let update = SubnetPoolUpdate {
            add_prefixes: Some(prefixes),
            ..SubnetPoolUpdate::default()
        };
        Ok(self
            .update_subnetpool(ctx, id, update, None)
            .await?
            .prefixes)
    }

    /// `PUT /v2.0/subnetpools/{id}/remove_prefixes`: the pool's prefixes after removing these
    /// (none of them may be used by a subnet of the pool).
    pub async fn remove_subnetpool_prefixes(
        &self,
        ctx: &RequestContext,
        id: &str,
        prefixes: Vec<IpNet>,
    ) -> Result<Vec<String>> {
        let (ctx, id) = (ctx.clone(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let current = visible_pool(tx, &ctx, &id).await?;
            admin_or_project(&ctx, "member", &current.project_id, "remove_prefixes")?;
            let all = parsed(&current);
            if prefixes.is_empty() || !overlap(&all, &prefixes) {
                return Ok(current.prefixes);
            }
            let allocated: Vec<IpNet> = subnets::of_subnetpool(tx, &id)
                .await?
                .iter()
                .filter_map(|s| s.cidr.parse().ok())
                .collect();
            if overlap(&allocated, &prefixes) {
                return Err(Error::neutron(
                    "IllegalSubnetPoolPrefixUpdate",
                    400,
                    "Illegal update to prefixes: One or more the prefixes to be removed is in \
                     use by a subnet.",
                ));
            }
            let mut p = current.clone();
            p.prefixes = difference(&all, &prefixes, p.ip_version == 4)
                .iter()
                .map(|n| n.to_string())
                .collect();
            p.revision_number += 1;
            p.updated_at = neutrino_store::now();
            p.hash = uuid::Uuid::new_v4().to_string();
            if !subnetpools::update(tx, &p, current.revision_number, &current.hash).await? {
                return Err(StoreError::Retry("subnet pool changed".into()).into());
            }
            Ok::<_, Error>(p.prefixes)
        })
    }

    /// `PUT /v2.0/subnetpools/{id}/onboard_network_subnets`: put the subnets of `network_id`
    /// of the pool's IP version into the pool, adding their CIDRs to its prefixes. Only the
    /// network's owner (or an admin) may.
    pub async fn onboard_network_subnets(
        &self,
        ctx: &RequestContext,
        id: &str,
        network_id: &str,
    ) -> Result<Vec<Onboarded>> {
        let network = {
            let mut conn = self.read().await?;
            networks::get(&mut conn, network_id).await?
        }
        .filter(|n| crate::networks::visible(ctx, n))
        .ok_or_else(|| crate::networks::network_not_found(network_id))?;
        if !ctx.is_admin && network.project_id != ctx.project_id {
            return Err(Error::neutron("NotAuthorized", 403, "Not authorized."));
        }
        let pool = {
            let mut conn = self.read().await?;
            visible_pool(&mut conn, ctx, id).await?
        };
        admin_or_project(ctx, "member", &pool.project_id, "onboard_network_subnets")?;
        let plugin = self.clone();
        let (ctx, id, network_id) = (ctx.clone(), id.to_string(), network_id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let current = visible_pool(tx, &ctx, &id).await?;
            let version = current.ip_version;
            let onboarding: Vec<neutrino_store::model::Subnet> =
                subnets::of_network(tx, &network_id)
                    .await?
                    .into_iter()
                    .filter(|s| s.ip_version == version && s.subnetpool_id.as_deref() != Some(&id))
                    .collect();
            let allocated: Vec<IpNet> = subnets::of_subnetpool(tx, &id)
                .await?
                .iter()
                .filter_map(|s| s.cidr.parse().ok())
                .collect();
            let mut added = Vec::new();
            for s in &onboarding {
                let cidr: IpNet = s
                    .cidr
                    .parse()
                    .map_err(|_| Error::invalid_input(format!("bad CIDR {}", s.cidr)))?;
                if overlap(&allocated, &[cidr]) {
                    return Err(Error::neutron(
                        "IllegalSubnetPoolUpdate",
                        400,
                        format!(
                            "Illegal subnetpool update : Onboarding subnet {}: {} conflicts \
                             with allocated prefixes in subnet pool {id}.",
                            s.id, s.cidr
                        ),
                    ));
                }
                added.push(cidr);
            }
            if !added.is_empty() {
                let mut p = current.clone();
                let mut all = parsed(&current);
                all.extend(added);
                all = crate::subnetpools::compact(&all);
                p.prefixes = all.iter().map(|n| n.to_string()).collect();
                p.revision_number += 1;
                p.updated_at = neutrino_store::now();
                p.hash = uuid::Uuid::new_v4().to_string();
                if let Some(scope) = &p.address_scope_id {
                    plugin.check_address_scope(tx, &ctx, &p, scope).await?;
                }
                if !subnetpools::update(tx, &p, current.revision_number, &current.hash).await? {
                    return Err(StoreError::Retry("subnet pool changed".into()).into());
                }
                let now = neutrino_store::now();
                for s in &onboarding {
                    subnets::set_subnetpool(tx, &s.id, &id, &now).await?;
                }
            }
            Ok::<_, Error>(
                onboarding
                    .iter()
                    .map(|s| Onboarded {
                        id: s.id.clone(),
                        cidr: s.cidr.clone(),
                    })
                    .collect(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn strings(list: &[IpNet]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn removing_a_slice_of_a_prefix_leaves_the_covering_cidrs() {
        let left = difference(&nets(&["10.0.0.0/16"]), &nets(&["10.0.1.0/24"]), true);
        assert_eq!(
            strings(&left),
            [
                "10.0.0.0/24",
                "10.0.2.0/23",
                "10.0.4.0/22",
                "10.0.8.0/21",
                "10.0.16.0/20",
                "10.0.32.0/19",
                "10.0.64.0/18",
                "10.0.128.0/17"
            ]
        );
    }

    #[test]
    fn removing_a_whole_prefix_and_ipv6_work() {
        let left = difference(
            &nets(&["10.0.0.0/24", "10.1.0.0/24"]),
            &nets(&["10.1.0.0/24"]),
            true,
        );
        assert_eq!(strings(&left), ["10.0.0.0/24"]);
        let left = difference(&nets(&["2001:db8::/63"]), &nets(&["2001:db8::/64"]), false);
        assert_eq!(strings(&left), ["2001:db8:0:1::/64"]);
        assert!(difference(&nets(&["0.0.0.0/0"]), &nets(&["0.0.0.0/0"]), true).is_empty());
    }

    #[test]
    fn overlap_sees_containment_both_ways() {
        assert!(overlap(&nets(&["10.0.0.0/16"]), &nets(&["10.0.3.0/24"])));
        assert!(overlap(&nets(&["10.0.3.0/24"]), &nets(&["10.0.0.0/8"])));
        assert!(!overlap(&nets(&["10.0.0.0/24"]), &nets(&["10.0.1.0/24"])));
    }
}
