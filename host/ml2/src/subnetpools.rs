//! Subnet pools: prefixes to carve subnets from, with Neutron's prefix-length bounds, the
//! best-fit choice of the next free prefix and a compare-and-swap lock per pool.

use ipnet::IpNet;
use neutrino_store::model::SubnetPool;
use neutrino_store::query::ListQuery;
use neutrino_store::{Conn, StoreError, subnetpools, subnets};

use crate::error::{Error, Result};
use crate::ipam::prefix;
use crate::networks::marker_error;
use crate::rbac::ObjectType;
use crate::subnets::SubnetCreate;
use crate::{Plugin, RequestContext, check_revision};

/// A validated pool create request.
#[derive(Debug, Clone, Default)]
pub struct SubnetPoolCreate {
    /// Owner.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Prefixes (at least one).
    pub prefixes: Vec<IpNet>,
    /// Default prefix length.
    pub default_prefixlen: Option<u8>,
    /// Minimum prefix length.
    pub min_prefixlen: Option<u8>,
    /// Maximum prefix length.
    pub max_prefixlen: Option<u8>,
    /// Quota.
    pub default_quota: Option<i64>,
    /// Default pool of its version.
    pub is_default: bool,
    /// Shared.
    pub shared: bool,
    /// Address scope.
    pub address_scope_id: Option<String>,
}

/// A validated pool update.
#[derive(Debug, Clone, Default)]
pub struct SubnetPoolUpdate {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// New prefix list (may only add or grow).
    pub prefixes: Option<Vec<IpNet>>,
    /// Default prefix length.
    pub default_prefixlen: Option<u8>,
    /// Minimum prefix length.
    pub min_prefixlen: Option<u8>,
    /// Maximum prefix length.
    pub max_prefixlen: Option<u8>,
    /// Quota.
    pub default_quota: Option<Option<i64>>,
    /// Default pool.
    pub is_default: Option<bool>,
    /// Address scope (`Some(None)`: leave the scope).
    pub address_scope_id: Option<Option<String>>,
    /// Prefixes to add to the pool's current ones, read inside the update's transaction
    /// (`add_prefixes`: concurrent additions never undo each other).
    pub add_prefixes: Option<Vec<IpNet>>,
}

pub(crate) fn pool_not_found(id: &str) -> Error {
    Error::not_found("SubnetPoolNotFound", "Subnet pool", id)
}

/// Whether the caller may see (and allocate from) a pool: its own, shared with every project
/// (`shared`), or shared with its project by an RBAC entry, which stays share-locked until
/// the caller's transaction ends (`rbac::usable_through_entry`).
pub(crate) async fn visible(conn: &mut Conn, ctx: &RequestContext, p: &SubnetPool) -> Result<bool> {
    if ctx.sees_all() || p.project_id == ctx.project_id {
        return Ok(true);
    }
    crate::rbac::usable_through_entry(conn, ObjectType::SubnetPool, &p.id, &ctx.project_id).await
}

/// A pool the caller may see, `shared` as the caller reads it (an entry reaches it).
pub(crate) async fn visible_pool(
    conn: &mut Conn,
    ctx: &RequestContext,
    id: &str,
) -> Result<SubnetPool> {
    let mut p = subnetpools::get(conn, id)
        .await?
        .ok_or_else(|| pool_not_found(id))?;
    if !visible(conn, ctx, &p).await? {
        return Err(pool_not_found(id));
    }
    if !ctx.sees_all() && p.project_id != ctx.project_id {
        p.shared = true;
    }
    Ok(p)
}

/// Merge overlapping or adjacent prefixes into canonical networks (Neutron compacts pool
/// prefixes the same way).
pub(crate) fn compact(prefixes: &[IpNet]) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = prefixes.iter().map(|p| p.trunc()).collect();
    nets.sort_by_key(|n| (crate::ipam::address::to_u128(n.network()), n.prefix_len()));
    IpNet::aggregate(&nets)
}

fn check_bounds(version: i64, min: i64, default: i64, max: i64) -> Result<()> {
    let limit = if version == 4 { 32 } else { 128 };
    if !(0 <= min && min <= default && default <= max && max <= limit) {
        return Err(Error::neutron(
            "IllegalSubnetPoolPrefixBounds",
            400,
            format!(
                "Illegal prefix bounds: min_prefixlen={min}, default_prefixlen={default}, \
                 max_prefixlen={max}."
            ),
        ));
    }
    Ok(())
}

impl Plugin {
    /// Create a pool.
    pub async fn create_subnetpool(
        &self,
        ctx: &RequestContext,
        r: SubnetPoolCreate,
    ) -> Result<SubnetPool> {
        if r.prefixes.is_empty() {
            return Err(Error::invalid_input("prefixes must not be empty"));
        }
        let v4 = r.prefixes[0].addr().is_ipv4();
        if r.prefixes.iter().any(|p| p.addr().is_ipv4() != v4) {
            return Err(Error::neutron(
                "PrefixVersionMismatch",
                400,
                "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
            ));
        }
        let version: i64 = if v4 { 4 } else { 6 };
        for (i, a) in r.prefixes.iter().enumerate() {
            for b in &r.prefixes[i + 1..] {
                if prefix::overlaps(*a, *b) {
                    return Err(Error::invalid_input(format!(
                        "Prefixes {a} and {b} of the subnet pool overlap"
                    )));
                }
            }
        }
        let prefixes = compact(&r.prefixes);
        let (dmin, dmax) = if v4 { (8, 32) } else { (64, 128) };
        let min = r.min_prefixlen.map(i64::from).unwrap_or(dmin);
        let max = r.max_prefixlen.map(i64::from).unwrap_or(dmax);
        let default = r.default_prefixlen.map(i64::from).unwrap_or(min);
        check_bounds(version, min, default, max)?;
        let now = neutrino_store::now();
        let pool = SubnetPool {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: r.project_id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            ip_version: version,
            default_prefixlen: default,
            min_prefixlen: min,
            max_prefixlen: max,
            default_quota: r.default_quota,
            is_default: r.is_default,
            shared: r.shared,
            address_scope_id: r.address_scope_id.clone(),
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            hash: uuid::Uuid::new_v4().to_string(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 0,
            tags: vec![],
        };
        let plugin = self.clone();
        crate::in_tx!(self.store(), |tx| {
            plugin
                .check_quota(tx, &pool.project_id, "subnetpool", 1)
                .await?;
            if pool.is_default && subnetpools::default_for(tx, version).await?.is_some() {
                return Err(Error::invalid_input(
                    "A default subnetpool for this IP family has already been set. Only one \
                     default may exist per IP family",
                ));
            }
            if let Some(scope) = &pool.address_scope_id {
                plugin.check_address_scope(tx, ctx, &pool, scope).await?;
            }
            subnetpools::insert(tx, &pool).await?;
            if pool.shared {
                crate::rbac::insert_wildcard(
                    tx,
                    ObjectType::SubnetPool,
                    &pool.id,
                    &pool.project_id,
                )
                .await?;
            }
            Ok::<_, Error>(())
        })?;
        Ok(pool)
    }

    /// Show a pool.
    pub async fn get_subnetpool(&self, ctx: &RequestContext, id: &str) -> Result<SubnetPool> {
        let mut conn = self.read().await?;
        visible_pool(&mut conn, ctx, id).await
    }

    /// List pools.
    pub async fn list_subnetpools(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<SubnetPool>> {
        if !ctx.sees_all() {
            q.conditions.push(neutrino_store::rbac::visible_to(
                "subnetpool",
                &ctx.project_id,
            ));
        }
        let mut conn = self.read().await?;
        let mut pools = subnetpools::list(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Subnet pool"))?;
        for p in &mut pools {
            // Listed for a project that does not own it: an entry shares it with that project.
            if !ctx.sees_all() && p.project_id != ctx.project_id {
                p.shared = true;
            }
        }
        Ok(pools)
    }

    /// Update a pool: prefixes may only be added or grown.
    pub async fn update_subnetpool(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: SubnetPoolUpdate,
        if_match: Option<i64>,
    ) -> Result<SubnetPool> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            let current = visible_pool(tx, &ctx, &id).await?;
            check_revision(if_match, current.revision_number)?;
            let mut p = current.clone();
            if let Some(v) = &u.name {
                p.name = v.clone();
            }
            if let Some(v) = &u.description {
                p.description = v.clone();
            }
            let requested = match (&u.prefixes, &u.add_prefixes) {
                (Some(new), _) => Some(new.clone()),
                (None, Some(add)) => {
                    let mut all: Vec<IpNet> =
                        p.prefixes.iter().filter_map(|x| x.parse().ok()).collect();
                    all.extend(add.iter().cloned());
                    Some(all)
                }
                (None, None) => None,
            };
            if let Some(new) = &requested {
                if new
                    .iter()
                    .any(|n| (n.addr().is_ipv4()) != (p.ip_version == 4))
                {
                    return Err(Error::neutron(
                        "PrefixVersionMismatch",
                        400,
                        "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.",
                    ));
                }
                let old: Vec<IpNet> = p.prefixes.iter().filter_map(|x| x.parse().ok()).collect();
                let merged = compact(&[old.clone(), new.clone()].concat());
                let merged_new = compact(new);
                if merged != merged_new {
                    return Err(Error::neutron(
                        "IllegalSubnetPoolPrefixUpdate",
                        400,
                        "Illegal update to prefixes: Existing prefixes must be a subset of the \
                         new prefixes.",
                    ));
                }
                p.prefixes = merged.iter().map(|x| x.to_string()).collect();
            }
            if let Some(v) = u.min_prefixlen {
                p.min_prefixlen = i64::from(v);
            }
            if let Some(v) = u.max_prefixlen {
                p.max_prefixlen = i64::from(v);
            }
            if let Some(v) = u.default_prefixlen {
                p.default_prefixlen = i64::from(v);
            }
            check_bounds(
                p.ip_version,
                p.min_prefixlen,
                p.default_prefixlen,
                p.max_prefixlen,
            )?;
            if let Some(v) = u.default_quota {
                p.default_quota = v;
            }
            if let Some(v) = u.is_default {
                if v && !current.is_default
                    && let Some(other) = subnetpools::default_for(tx, p.ip_version).await?
                    && other.id != p.id
                {
                    return Err(Error::invalid_input(
                        "A default subnetpool for this IP family has already been set. \
                         Only one default may exist per IP family",
                    ));
                }
                p.is_default = v;
            }
            if let Some(scope) = &current.address_scope_id
                && !plugin.owns_address_scope(tx, &ctx, scope).await?
            {
                return Err(Error::neutron(
                    "IllegalSubnetPoolUpdate",
                    400,
                    format!(
                        "Illegal subnetpool update : subnetpool {id} cannot be updated when \
                         associated with shared address scope {scope}."
                    ),
                ));
            }
            if let Some(v) = &u.address_scope_id {
                p.address_scope_id = v.clone();
            }
            if let Some(scope) = &p.address_scope_id {
                plugin.check_address_scope(tx, &ctx, &p, scope).await?;
            }
            if p == current {
                return Ok(p);
            }
            p.revision_number += 1;
            p.updated_at = neutrino_store::now();
            p.hash = uuid::Uuid::new_v4().to_string();
            if !subnetpools::update(tx, &p, current.revision_number, &current.hash).await? {
                return Err(StoreError::Retry("subnet pool changed".into()).into());
            }
            Ok(p)
        })
    }

    /// Delete a pool that no subnet uses.
    pub async fn delete_subnetpool(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let ctx = ctx.clone();
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            let p = visible_pool(tx, &ctx, &id).await?;
            check_revision(if_match, p.revision_number)?;
            if !subnets::of_subnetpool(tx, &id).await?.is_empty() {
                return Err(Error::conflict(
                    "SubnetPoolInUse",
                    format!(
                        "Subnet pool {id} cannot be deleted: it has subnets allocated from it."
                    ),
                ));
            }
            neutrino_store::rbac::delete_of_object(tx, "subnetpool", &id).await?;
            subnetpools::delete(tx, &id).await?;
            Ok::<_, Error>(())
        })
    }

    /// Whether the caller owns an address scope (or is an admin); a scope it cannot see is
    /// `AddressScopeNotFound`.
    async fn owns_address_scope(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<bool> {
        let scope = self.visible_address_scope(conn, ctx, id).await?;
        Ok(ctx.owns(&scope.project_id))
    }

    /// Neutron's `_validate_address_scope_id`: pool `p` may join scope `scope_id` if the
    /// caller can use the scope (its own, or shared with it; else `AddressScopeNotFound`),
    /// the families match, no network
    /// would have subnets of one family in two scopes, and no other pool of the scope
    /// overlaps `p`'s prefixes. The scope's row is locked (PostgreSQL) so that deleting it
    /// waits, and the entries that share it are share-locked.
    pub(crate) async fn check_address_scope(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        p: &SubnetPool,
        scope_id: &str,
    ) -> Result<()> {
        let scope = neutrino_store::address_scopes::get_locked(conn, scope_id)
            .await?
            .ok_or_else(|| crate::address_scopes::not_found(scope_id))?;
        let usable = ctx.sees_all()
            || scope.project_id == ctx.project_id
            || crate::rbac::usable_through_entry(
                conn,
                ObjectType::AddressScope,
                scope_id,
                &ctx.project_id,
            )
            .await?;
        // Neutron reads the scope as the caller: one it may not use is not found.
        if !usable {
            return Err(crate::address_scopes::not_found(scope_id));
        }
        if scope.ip_version != p.ip_version {
            return Err(Error::neutron(
                "IllegalSubnetPoolIpVersionAssociationToAddressScope",
                400,
                format!(
                    "Illegal subnetpool association: subnetpool {} cannot associate with \
                     address scope {scope_id} because subnetpool ip_version is not {}.",
                    p.id, scope.ip_version
                ),
            ));
        }
        // Re-scoping a pool must not leave a network with subnets of the family in two scopes.
        let rescoped = subnets::of_subnetpool(conn, &p.id).await?;
        let mut nets: Vec<&str> = rescoped.iter().map(|s| s.network_id.as_str()).collect();
        nets.sort();
        nets.dedup();
        for net in nets {
            let others =
                neutrino_store::address_scopes::network_subnet_pools(conn, net, p.ip_version)
                    .await?;
            if others
                .iter()
                .any(|(pool, _)| pool.as_deref() != Some(p.id.as_str()))
            {
                return Err(Error::neutron(
                    "NetworkAddressScopeAffinityError",
                    400,
                    "Subnets of the same address family hosted on the same network must all \
                     participate in the same address scope.",
                ));
            }
        }
        let mine: Vec<IpNet> = p.prefixes.iter().filter_map(|x| x.parse().ok()).collect();
        for (other, _, prefixes) in neutrino_store::address_scopes::pools(conn, scope_id).await? {
            if other == p.id {
                continue;
            }
            let theirs: Vec<IpNet> = prefixes.iter().filter_map(|x| x.parse().ok()).collect();
            if mine
                .iter()
                .any(|a| theirs.iter().any(|b| prefix::overlaps(*a, *b)))
            {
                return Err(Error::conflict(
                    "AddressScopePrefixConflict",
                    "Failed to associate address scope: subnetpools within an address scope \
                     must have unique prefixes.",
                ));
            }
        }
        Ok(())
    }

    /// Take a CIDR for `r` from `pool` inside the caller's transaction, holding the pool's
    /// compare-and-swap lock so two servers never carve the same prefix.
    pub(crate) async fn allocate_from_pool(
        &self,
        conn: &mut Conn,
        pool: &SubnetPool,
        r: &SubnetCreate,
    ) -> Result<IpNet> {
        let new_hash = uuid::Uuid::new_v4().to_string();
        if !subnetpools::swap_hash(conn, &pool.id, &pool.hash, &new_hash).await? {
            return Err(
                StoreError::Retry(format!("subnet pool {} is being modified", pool.id)).into(),
            );
        }
        let prefixes: Vec<IpNet> = pool
            .prefixes
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect();
        let used_subnets = subnets::of_subnetpool(conn, &pool.id).await?;
        let used: Vec<IpNet> = used_subnets
            .iter()
            .filter_map(|s| s.cidr.parse().ok())
            .collect();
        let free = prefix::subtract(&prefixes, &used);
        let cidr = match (r.cidr, r.prefixlen) {
            (Some(cidr), _) => {
                let len = i64::from(cidr.prefix_len());
                self.check_prefixlen(pool, len)?;
                if !prefix::fits(&free, cidr) {
                    return Err(Error::neutron(
                        "SubnetAllocationError",
                        409,
                        format!(
                            "Failed to allocate subnet: Cannot allocate requested subnet {cidr} \
                             from the available set of prefixes."
                        ),
                    ));
                }
                cidr
            }
            (None, len) => {
                let len = len.map(i64::from).unwrap_or(pool.default_prefixlen);
                self.check_prefixlen(pool, len)?;
                prefix::allocate_any(&free, len as u8).ok_or_else(|| {
                    Error::neutron(
                        "SubnetAllocationError",
                        409,
                        format!(
                            "Failed to allocate subnet: Insufficient prefix space to allocate \
                             subnet size /{len}."
                        ),
                    )
                })?
            }
        };
        if let Some(quota) = pool.default_quota {
            let unit = if pool.ip_version == 4 { 32 } else { 64 };
            let units = |n: &IpNet| -> u128 {
                let shift = unit - i64::from(n.prefix_len());
                if shift <= 0 {
                    1
                } else {
                    1u128 << shift.min(127)
                }
            };
            let used_by_project: u128 = used_subnets
                .iter()
                .filter(|s| s.project_id == r.project_id)
                .filter_map(|s| s.cidr.parse::<IpNet>().ok())
                .map(|n| units(&n))
                .sum();
            if used_by_project + units(&cidr) > quota.max(0) as u128 {
                return Err(Error::conflict(
                    "SubnetPoolQuotaExceeded",
                    "Per-tenant subnet pool prefix quota exceeded.",
                ));
            }
        }
        Ok(cidr)
    }

    fn check_prefixlen(&self, pool: &SubnetPool, len: i64) -> Result<()> {
        if len < pool.min_prefixlen {
            return Err(Error::neutron(
                "MinPrefixSubnetAllocationError",
                400,
                format!(
                    "Unable to allocate subnet with prefix length {len}, minimum allowed prefix is {}.",
                    pool.min_prefixlen
                ),
            ));
        }
        if len > pool.max_prefixlen {
            return Err(Error::neutron(
                "MaxPrefixSubnetAllocationError",
                400,
                format!(
                    "Unable to allocate subnet with prefix length {len}, maximum allowed prefix is {}.",
                    pool.max_prefixlen
                ),
            ));
        }
        Ok(())
    }
}
