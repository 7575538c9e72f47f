//! Subnets: CIDR and gateway rules, allocation pools, IPv6 modes, subnet pools, and the
//! free-range bookkeeping that IPAM allocates from.

use std::net::IpAddr;

use ipnet::IpNet;
use neutrino_store::model::{AllocationPool, HostRoute, Subnet};
use neutrino_store::query::ListQuery;
use neutrino_store::{Conn, StoreError, ipam as store_ipam, networks, ports, subnetpools, subnets};

use crate::error::{Error, Result};
use crate::ipam::address::{eui64, from_u128, to_hex, to_u128};
use crate::ipam::pools::{self, PoolError, Range};
use crate::ipam::prefix;
use crate::mech::hooks::{Phase, create_undone};
use crate::networks::{marker_error, network_not_found, visible};
use crate::{Plugin, RequestContext, check_revision};
use neutrino_runtime::Hook;

/// How the gateway was given.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum GatewaySpec {
    /// Not given: the default gateway (first address; for IPv6 the subnet-router anycast).
    #[default]
    Default,
    /// `null`: no gateway.
    None,
    /// An explicit address.
    Ip(IpAddr),
}

/// A validated subnet create request.
#[derive(Debug, Clone, Default)]
pub struct SubnetCreate {
    /// Owner.
    pub project_id: String,
    /// Network.
    pub network_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// 4 or 6.
    pub ip_version: u8,
    /// CIDR, unless taken from a pool.
    pub cidr: Option<IpNet>,
    /// Prefix length requested from a pool.
    pub prefixlen: Option<u8>,
    /// Pool to take the CIDR from.
    pub subnetpool_id: Option<String>,
    /// Take the CIDR from the default pool of the IP version.
    pub use_default_subnetpool: bool,
    /// Gateway.
    pub gateway_ip: GatewaySpec,
    /// Explicit pools (start, end).
    pub allocation_pools: Option<Vec<(IpAddr, IpAddr)>>,
    /// DNS servers.
    pub dns_nameservers: Vec<IpAddr>,
    /// Host routes.
    pub host_routes: Vec<(IpNet, IpAddr)>,
    /// DHCP.
    pub enable_dhcp: bool,
    /// IPv6 RA mode.
    pub ipv6_ra_mode: Option<String>,
    /// IPv6 address mode.
    pub ipv6_address_mode: Option<String>,
    /// Segment.
    pub segment_id: Option<String>,
    /// Service types.
    pub service_types: Vec<String>,
}

/// A validated subnet update: `None` keeps the attribute.
#[derive(Debug, Clone, Default)]
pub struct SubnetUpdate {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Gateway (`Some(GatewaySpec::None)` removes it).
    pub gateway_ip: Option<GatewaySpec>,
    /// Pools.
    pub allocation_pools: Option<Vec<(IpAddr, IpAddr)>>,
    /// DNS servers.
    pub dns_nameservers: Option<Vec<IpAddr>>,
    /// Host routes.
    pub host_routes: Option<Vec<(IpNet, IpAddr)>>,
    /// DHCP.
    pub enable_dhcp: Option<bool>,
    /// Service types.
    pub service_types: Option<Vec<String>>,
    /// Segment.
    pub segment_id: Option<Option<String>>,
}

pub(crate) fn subnet_not_found(id: &str) -> Error {
    Error::not_found("SubnetNotFound", "Subnet", id)
}

/// Whether a subnet hands out SLAAC / stateless addresses (EUI-64).
pub fn is_auto_address(s: &Subnet) -> bool {
    let auto =
        |m: &Option<String>| matches!(m.as_deref(), Some("slaac") | Some("dhcpv6-stateless"));
    s.ip_version == 6 && (auto(&s.ipv6_ra_mode) || auto(&s.ipv6_address_mode))
}

/// Parse a stored CIDR.
pub(crate) fn net_of(s: &Subnet) -> Result<IpNet> {
    s.cidr
        .parse()
        .map_err(|_| Error::Store(StoreError::Corrupt(format!("cidr {}", s.cidr))))
}

/// The stored pools of a subnet as integer ranges.
pub(crate) fn pool_ranges(s: &Subnet) -> Vec<Range> {
    s.allocation_pools
        .iter()
        .filter_map(|p| {
            let a: IpAddr = p.start.parse().ok()?;
            let b: IpAddr = p.end.parse().ok()?;
            Some((to_u128(a), to_u128(b)))
        })
        .collect()
}

fn pool_error(e: PoolError) -> Error {
    match e {
        PoolError::Invalid(m) => Error::neutron("InvalidAllocationPool", 400, m),
        PoolError::OutOfBounds(m) => Error::neutron("OutOfBoundsAllocationPool", 400, m),
        PoolError::Overlapping(m) => Error::conflict("OverlappingAllocationPools", m),
        PoolError::GatewayConflict(m) => Error::conflict("GatewayConflictWithAllocationPools", m),
    }
}

fn check_cidr(net: IpNet, ip_version: u8, enable_dhcp: bool) -> Result<()> {
    let v = if net.addr().is_ipv4() { 4 } else { 6 };
    if v != ip_version {
        return Err(Error::invalid_input(format!(
            "Cidr {net} does not match ip_version {ip_version}"
        )));
    }
    if net.prefix_len() == 0 {
        return Err(Error::invalid_input(
            "0 is not allowed as CIDR prefix length",
        ));
    }
    let first = net.network();
    if first.is_loopback() || first.is_multicast() || (v == 4 && first.is_unspecified()) {
        return Err(Error::invalid_input(format!(
            "{net} is not a valid subnet: multicast, loopback and unspecified ranges are reserved"
        )));
    }
    if enable_dhcp {
        let too_small = match net {
            IpNet::V4(n) => n.prefix_len() > 30,
            IpNet::V6(n) => n.prefix_len() > 126,
        };
        if too_small {
            return Err(Error::invalid_input(format!(
                "Invalid CIDR {net} for DHCP: the subnet is too small (IPv4 needs /30 or larger, \
                 IPv6 /126 or larger)"
            )));
        }
    }
    Ok(())
}

/// Neutron's `check_gateway_invalid_in_subnet`: a gateway inside the CIDR must not be the
/// IPv4 network or broadcast address. A gateway outside the CIDR is accepted, as Neutron
/// does since it dropped `force_gateway_on_subnet` (on-link routes to an outside router).
fn check_gateway(net: IpNet, gw: IpAddr) -> Result<()> {
    if gw.is_ipv4() != net.addr().is_ipv4() {
        return Err(Error::invalid_input(format!(
            "Gateway {gw} does not match the IP version of subnet {net}"
        )));
    }
    let bad = net.contains(&gw)
        && net.addr().is_ipv4()
        && net.prefix_len() <= 30
        && (gw == net.network() || gw == net.broadcast());
    if bad {
        return Err(Error::invalid_input("Gateway is not valid on subnet."));
    }
    Ok(())
}

fn check_ipv6_modes(
    ip_version: u8,
    ra: Option<&str>,
    addr: Option<&str>,
    enable_dhcp: bool,
    net: IpNet,
) -> Result<()> {
    if ra.is_none() && addr.is_none() {
        return Ok(());
    }
    if ip_version == 4 {
        return Err(Error::invalid_input(
            "ipv6_ra_mode or ipv6_address_mode cannot be set for an IPv4 subnet.",
        ));
    }
    if !enable_dhcp {
        return Err(Error::invalid_input(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False.",
        ));
    }
    if let (Some(r), Some(a)) = (ra, addr)
        && r != a
    {
        return Err(Error::invalid_input(format!(
            "ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{a}' is not valid. If \
             both attributes are set, they must be the same value"
        )));
    }
    let auto = |m: Option<&str>| matches!(m, Some("slaac") | Some("dhcpv6-stateless"));
    if (auto(ra) || auto(addr)) && net.prefix_len() != 64 {
        return Err(Error::invalid_input(format!(
            "Invalid CIDR {net} for IPv6 address mode. OpenStack uses the EUI-64 address format, \
             which requires the prefix to be /64"
        )));
    }
    Ok(())
}

fn check_dns_and_routes(
    plugin: &Plugin,
    ip_version: u8,
    dns: &[IpAddr],
    routes: &[(IpNet, IpAddr)],
) -> Result<()> {
    if dns.len() > plugin.core().max_dns_nameservers {
        return Err(Error::neutron(
            "DNSNameServersExhausted",
            400,
            format!(
                "Unable to complete operation for the subnet. The number of DNS nameservers \
                 exceeds the limit {}.",
                plugin.core().max_dns_nameservers
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for d in dns {
        if !seen.insert(*d) {
            return Err(Error::invalid_input(format!("Duplicate nameserver '{d}'")));
        }
        if (d.is_ipv4() && ip_version != 4) || (d.is_ipv6() && ip_version != 6) {
            return Err(Error::invalid_input(format!(
                "Nameserver {d} does not match the subnet's IP version {ip_version}"
            )));
        }
    }
    if routes.len() > plugin.core().max_subnet_host_routes {
        return Err(Error::neutron(
            "HostRoutesExhausted",
            400,
            format!(
                "Unable to complete operation for the subnet. The number of host routes exceeds \
                 the limit {}.",
                plugin.core().max_subnet_host_routes
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (dest, hop) in routes {
        if !seen.insert((*dest, *hop)) {
            return Err(Error::invalid_input(format!(
                "Duplicate hostroute '{{'destination': '{dest}', 'nexthop': '{hop}'}}'"
            )));
        }
        let v = |a: bool| if a { 4 } else { 6 };
        if v(dest.addr().is_ipv4()) != ip_version || v(hop.is_ipv4()) != ip_version {
            return Err(Error::invalid_input(format!(
                "Host route {dest} via {hop} does not match the subnet's IP version {ip_version}"
            )));
        }
    }
    Ok(())
}

/// The allocation segments of a subnet: its pools cut into a few parts, so that concurrent
/// allocators on PostgreSQL take addresses from different free-range rows. Free ranges never
/// span two segments; a released address merges only with neighbours of its own segment.
pub(crate) fn segments(subnet: &Subnet) -> Vec<Range> {
    pools::split(&pool_ranges(subnet), 16, 64)
}

/// Write the free ranges of a subnet: its segments minus the addresses already allocated.
async fn rebuild_ranges(conn: &mut Conn, subnet: &Subnet, version: u8) -> Result<()> {
    store_ipam::clear_ranges(conn, &subnet.id).await?;
    let mut free = segments(subnet);
    for (ip, _, _) in store_ipam::allocations_in_subnet(conn, &subnet.id).await? {
        if let Ok(a) = ip.parse::<IpAddr>() {
            free = pools::subtract(&free, to_u128(a));
        }
    }
    for (s, e) in free {
        store_ipam::add_range(
            conn,
            &subnet.id,
            &to_hex(from_u128(s, version)),
            &to_hex(from_u128(e, version)),
        )
        .await?;
    }
    Ok(())
}

fn to_pools(ranges: &[Range], version: u8) -> Vec<AllocationPool> {
    ranges
        .iter()
        .map(|&(s, e)| AllocationPool {
            start: from_u128(s, version).to_string(),
            end: from_u128(e, version).to_string(),
        })
        .collect()
}

impl Plugin {
    /// Create subnets, all or none.
    pub async fn create_subnets(
        &self,
        ctx: &RequestContext,
        reqs: Vec<SubnetCreate>,
    ) -> Result<Vec<Subnet>> {
        for r in &reqs {
            check_dns_and_routes(self, r.ip_version, &r.dns_nameservers, &r.host_routes)?;
        }
        let plugin = self.clone();
        let ctx = ctx.clone();
        let created = crate::in_tx!(self.store(), |tx| {
            for (project, n) in crate::quotas::per_project(reqs.iter().map(|r| &r.project_id)) {
                plugin.check_quota(tx, project, "subnet", n).await?;
            }
            let mut out = Vec::with_capacity(reqs.len());
            let host = plugin.staged_host();
            for r in &reqs {
                let subnet = plugin.insert_subnet(tx, &ctx, r).await?;
                if let Some(net) = plugin.network_for_hooks(tx, &subnet.network_id).await? {
                    plugin
                        .subnet_hook(
                            Phase::Pre(&host, &mut *tx),
                            Hook::CreatePrecommit,
                            &subnet,
                            None,
                            &net,
                        )
                        .await?;
                }
                out.push(subnet);
            }
            host.flush(tx).await?;
            Ok::<_, Error>(out)
        })?;
        if self.mech().has_drivers() {
            for subnet in &created {
                let net = self.network_of(&subnet.network_id).await?;
                if let Err(e) = self
                    .subnet_hook(Phase::Post, Hook::CreatePostcommit, subnet, None, &net)
                    .await
                {
                    let admin = RequestContext::admin(&ctx.project_id);
                    for s in &created {
                        if let Err(undo) = self.delete_subnet(&admin, &s.id, None).await {
                            tracing::error!(subnet = %s.id, error = %undo, "could not delete a subnet after its create postcommit failed");
                        }
                    }
                    return Err(create_undone(e));
                }
            }
        }
        for s in &created {
            if s.enable_dhcp {
                self.schedule_dhcp_now(&s.network_id).await;
            }
            self.emit(crate::events::Event::SubnetChanged(
                s.network_id.clone(),
                s.id.clone(),
            ));
        }
        Ok(created)
    }

    async fn insert_subnet(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        r: &SubnetCreate,
    ) -> Result<Subnet> {
        let network = networks::get_row(conn, &r.network_id)
            .await?
            .filter(|n| visible(ctx, n))
            .ok_or_else(|| network_not_found(&r.network_id))?;
        check_network_mtu(&network.id, network.mtu, [r.ip_version])?;
        let id = uuid::Uuid::new_v4().to_string();
        let (cidr, pool_id) = self.choose_cidr(conn, ctx, r).await?;
        self.check_network_pools(conn, &network.id, r.ip_version, pool_id.as_deref())
            .await?;
        check_cidr(cidr, r.ip_version, r.enable_dhcp)?;
        check_ipv6_modes(
            r.ip_version,
            r.ipv6_ra_mode.as_deref(),
            r.ipv6_address_mode.as_deref(),
            r.enable_dhcp,
            cidr,
        )?;
        // Overlaps: never within a network; across networks only when configured so.
        let others = if self.core().allow_overlapping_ips {
            subnets::of_network(conn, &r.network_id)
                .await?
                .into_iter()
                .map(|s| (s.id, s.network_id, s.cidr))
                .collect()
        } else {
            subnets::all_cidrs(conn).await?
        };
        for (_, _, other) in &others {
            if let Ok(o) = other.parse::<IpNet>()
                && prefix::overlaps(o, cidr)
            {
                return Err(Error::invalid_input(format!(
                    "Requested subnet with cidr: {cidr} for network: {} overlaps with another subnet",
                    r.network_id
                )));
            }
        }
        let gateway = match &r.gateway_ip {
            GatewaySpec::None => None,
            GatewaySpec::Ip(ip) => Some(*ip),
            GatewaySpec::Default => Some(match cidr {
                IpNet::V4(n) if n.prefix_len() >= 31 => n.network().into(),
                IpNet::V4(n) => from_u128(to_u128(n.network().into()) + 1, 4),
                IpNet::V6(n) => n.network().into(),
            }),
        };
        if let Some(gw) = gateway {
            check_gateway(cidr, gw)?;
        }
        let ranges = match &r.allocation_pools {
            Some(p) => pools::validate(cidr, p, gateway).map_err(pool_error)?,
            None => pools::default_pools(cidr, gateway),
        };
        if let Some(seg) = &r.segment_id {
            let segs = networks::segments_of(conn, &r.network_id).await?;
            if !segs.iter().any(|s| &s.id == seg) {
                return Err(Error::invalid_input(format!(
                    "Segment {seg} is not a segment of network {}",
                    r.network_id
                )));
            }
        }
        let now = neutrino_store::now();
        let subnet = Subnet {
            id: id.clone(),
            project_id: r.project_id.clone(),
            network_id: r.network_id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            ip_version: i64::from(r.ip_version),
            cidr: cidr.to_string(),
            gateway_ip: gateway.map(|g| g.to_string()),
            enable_dhcp: r.enable_dhcp,
            ipv6_ra_mode: r.ipv6_ra_mode.clone(),
            ipv6_address_mode: r.ipv6_address_mode.clone(),
            subnetpool_id: pool_id,
            segment_id: r.segment_id.clone(),
            dns_nameservers: r.dns_nameservers.iter().map(|d| d.to_string()).collect(),
            host_routes: r
                .host_routes
                .iter()
                .map(|(d, n)| HostRoute {
                    destination: d.to_string(),
                    nexthop: n.to_string(),
                })
                .collect(),
            allocation_pools: to_pools(&ranges, r.ip_version),
            service_types: r.service_types.clone(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 0,
            tags: vec![],
            router_external: network.router_external,
        };
        subnets::insert(conn, &subnet).await?;
        // A subnet revises its network (Neutron's `revises_on_change`).
        neutrino_store::revision::touch(conn, "networks", &subnet.network_id, &subnet.created_at)
            .await?;
        rebuild_ranges(conn, &subnet, r.ip_version).await?;
        if is_auto_address(&subnet) {
            self.add_auto_addresses(conn, &subnet).await?;
        }
        Ok(subnet)
    }

    /// Give every existing port of the network its EUI-64 address on a new SLAAC subnet.
    async fn add_auto_addresses(&self, conn: &mut Conn, subnet: &Subnet) -> Result<()> {
        let IpNet::V6(prefix) = net_of(subnet)? else {
            return Ok(());
        };
        for p in ports::of_network(conn, &subnet.network_id).await? {
            if crate::ports::is_router_port(&p.device_owner) {
                continue;
            }
            let Some(mac) = crate::ipam::mac::parse_unicast(&p.mac_address) else {
                continue;
            };
            let ip = eui64(prefix, mac).to_string();
            store_ipam::insert_allocation(
                conn,
                &subnet.id,
                &ip,
                &p.id,
                &p.network_id,
                p.fixed_ips.len() as i64,
            )
            .await?;
            neutrino_store::revision::touch(conn, "ports", &p.id, &neutrino_store::now()).await?;
        }
        Ok(())
    }

    /// Pick the CIDR: the request's own, or one taken from a subnet pool.
    async fn choose_cidr(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        r: &SubnetCreate,
    ) -> Result<(IpNet, Option<String>)> {
        // Neutron's `_get_subnetpool_id`: the default pool only when asked for.
        let bad =
            |msg: String| Error::neutron("BadRequest", 400, format!("Bad subnets request: {msg}."));
        if r.cidr.is_some() && r.prefixlen.is_some() {
            return Err(bad(
                "cidr and prefixlen must not be supplied together".into()
            ));
        }
        let pool = match (&r.subnetpool_id, r.use_default_subnetpool, r.cidr) {
            (Some(_), true, _) => {
                return Err(bad(
                    "subnetpool_id and use_default_subnetpool cannot both be specified".into(),
                ));
            }
            (Some(id), false, _) => Some(crate::subnetpools::visible_pool(conn, ctx, id).await?),
            (None, true, _) => Some(
                subnetpools::default_for(conn, i64::from(r.ip_version))
                    .await?
                    .ok_or_else(|| {
                        bad(format!(
                            "No default subnetpool found for IPv{}",
                            r.ip_version
                        ))
                    })?,
            ),
            (None, false, None) => {
                return Err(bad(
                    "a subnetpool must be specified in the absence of a cidr".into(),
                ));
            }
            (None, false, Some(_)) => None,
        };
        let Some(pool) = pool else {
            return Ok((r.cidr.expect("checked above"), None));
        };
        if pool.ip_version != i64::from(r.ip_version) {
            return Err(Error::invalid_input(format!(
                "Cannot allocate IPv{} subnet from IPv{} subnet pool",
                r.ip_version, pool.ip_version
            )));
        }
        let cidr = self.allocate_from_pool(conn, &pool, r).await?;
        Ok((cidr, Some(pool.id)))
    }

    /// Neutron's `_validate_network_subnetpools`: the subnets of one family on a network come
    /// from one pool, or, with address scopes, from pools of one scope.
    async fn check_network_pools(
        &self,
        conn: &mut Conn,
        network_id: &str,
        ip_version: u8,
        pool_id: Option<&str>,
    ) -> Result<()> {
        let existing = neutrino_store::address_scopes::network_subnet_pools(
            conn,
            network_id,
            i64::from(ip_version),
        )
        .await?;
        if existing.is_empty() {
            return Ok(());
        }
        let network_scope = existing.iter().find_map(|(_, scope)| scope.clone());
        let new_scope = match pool_id {
            Some(id) => subnetpools::get(conn, id)
                .await?
                .and_then(|p| p.address_scope_id),
            None => None,
        };
        if network_scope.is_some() && new_scope != network_scope {
            return Err(Error::neutron(
                "NetworkAddressScopeAffinityError",
                400,
                "Subnets of the same address family hosted on the same network must all \
                 participate in the same address scope.",
            ));
        }
        let mixed = existing.iter().any(|(pool, _)| match pool_id {
            Some(new) => pool.as_deref() != Some(new) && network_scope.is_none(),
            None => pool.is_some(),
        });
        if mixed {
            return Err(Error::neutron(
                "NetworkSubnetPoolAffinityError",
                400,
                "Subnets hosted on the same network must be allocated from the same subnet \
                 pool.",
            ));
        }
        Ok(())
    }

    /// Show a subnet the caller may see.
    pub async fn get_subnet(&self, ctx: &RequestContext, id: &str) -> Result<Subnet> {
        let mut conn = self.read().await?;
        let s = subnets::get(&mut conn, id)
            .await?
            .ok_or_else(|| subnet_not_found(id))?;
        if !ctx.sees_all() && s.project_id != ctx.project_id {
            let net = networks::get_row(&mut conn, &s.network_id).await?;
            if !net.is_some_and(|n| crate::networks::subnets_visible(ctx, &n)) {
                return Err(subnet_not_found(id));
            }
        }
        Ok(s)
    }

    /// Subnets matching `q` that the caller may see.
    pub async fn list_subnets(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<Subnet>> {
        if !ctx.sees_all() {
            q.conditions.push(neutrino_store::query::Condition::raw(
                "project_id = ? OR network_id IN (SELECT object_id FROM rbac_policies \
                 WHERE object_type = 'network' AND target_project IN (?, '*'))",
                vec![ctx.project_id.clone().into(), ctx.project_id.clone().into()],
            ));
        }
        let mut conn = self.read().await?;
        subnets::list(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Subnet"))
    }

    /// Update a subnet.
    pub async fn update_subnet(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: SubnetUpdate,
        if_match: Option<i64>,
    ) -> Result<Subnet> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let id = id.to_string();
        let (s, original) = crate::in_tx!(self.store(), |tx| {
            let current = subnets::get(tx, &id)
                .await?
                .ok_or_else(|| subnet_not_found(&id))?;
            if !ctx.owns(&current.project_id) {
                let net = networks::get_row(tx, &current.network_id).await?;
                if !net.is_some_and(|n| crate::networks::subnets_visible(&ctx, &n)) {
                    return Err(subnet_not_found(&id));
                }
            }
            check_revision(if_match, current.revision_number)?;
            let version = current.ip_version as u8;
            let cidr = net_of(&current)?;
            let mut s = current.clone();
            if let Some(v) = &u.name {
                s.name = v.clone();
            }
            if let Some(v) = &u.description {
                s.description = v.clone();
            }
            if let Some(dns) = &u.dns_nameservers {
                check_dns_and_routes(&plugin, version, dns, &[])?;
                s.dns_nameservers = dns.iter().map(|d| d.to_string()).collect();
            }
            if let Some(routes) = &u.host_routes {
                check_dns_and_routes(&plugin, version, &[], routes)?;
                s.host_routes = routes
                    .iter()
                    .map(|(d, n)| HostRoute {
                        destination: d.to_string(),
                        nexthop: n.to_string(),
                    })
                    .collect();
            }
            if let Some(v) = u.enable_dhcp {
                if !v && (s.ipv6_ra_mode.is_some() || s.ipv6_address_mode.is_some()) {
                    return Err(Error::invalid_input(
                        "Cannot disable enable_dhcp with ipv6 attributes set",
                    ));
                }
                if v {
                    check_cidr(cidr, version, true)?;
                }
                s.enable_dhcp = v;
            }
            if let Some(v) = &u.service_types {
                s.service_types = v.clone();
            }
            if let Some(v) = &u.segment_id {
                s.segment_id = v.clone();
            }
            if let Some(g) = &u.gateway_ip {
                let gw = match g {
                    GatewaySpec::None => None,
                    GatewaySpec::Ip(ip) => Some(*ip),
                    GatewaySpec::Default => s.gateway_ip.as_ref().and_then(|x| x.parse().ok()),
                };
                if let Some(gw) = gw {
                    check_gateway(cidr, gw)?;
                    let in_use = store_ipam::allocations_in_subnet(tx, &id)
                        .await?
                        .into_iter()
                        .any(|(ip, _, owner)| {
                            ip == gw.to_string() && !crate::ports::is_router_port(&owner)
                        });
                    if in_use {
                        return Err(Error::conflict(
                            "GatewayIpInUse",
                            format!(
                                "Current gateway ip {gw} already in use by port. Unable to update."
                            ),
                        ));
                    }
                }
                s.gateway_ip = gw.map(|g| g.to_string());
            }
            let gw: Option<IpAddr> = s.gateway_ip.as_ref().and_then(|g| g.parse().ok());
            let pools_changed = u.allocation_pools.is_some();
            if let Some(p) = &u.allocation_pools {
                let ranges = pools::validate(cidr, p, gw).map_err(pool_error)?;
                s.allocation_pools = to_pools(&ranges, version);
            } else if let Some(g) = gw
                && pools::in_ranges(&pool_ranges(&s), to_u128(g))
            {
                return Err(pool_error(PoolError::GatewayConflict(format!(
                    "Gateway ip {g} conflicts with allocation pool {}",
                    s.allocation_pools
                        .iter()
                        .map(|p| format!("{}-{}", p.start, p.end))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))));
            }
            if s == current {
                return Ok((s, None));
            }
            s.revision_number += 1;
            s.updated_at = neutrino_store::now();
            if !subnets::update(tx, &s, current.revision_number).await? {
                return Err(StoreError::Retry("subnet changed".into()).into());
            }
            neutrino_store::revision::touch(tx, "networks", &s.network_id, &s.updated_at).await?;
            if pools_changed {
                rebuild_ranges(tx, &s, version).await?;
            }
            if let Some(net) = plugin.network_for_hooks(tx, &s.network_id).await? {
                let host = plugin.staged_host();
                plugin
                    .subnet_hook(
                        Phase::Pre(&host, &mut *tx),
                        Hook::UpdatePrecommit,
                        &s,
                        Some(&current),
                        &net,
                    )
                    .await?;
                host.flush(tx).await?;
            }
            Ok((s, Some(current)))
        })?;
        if let (Some(original), true) = (&original, self.mech().has_drivers()) {
            let net = self.network_of(&s.network_id).await?;
            // Neutron keeps an update whose postcommit fails; the failure is logged.
            let _ = self
                .subnet_hook(
                    Phase::Post,
                    Hook::UpdatePostcommit,
                    &s,
                    Some(original),
                    &net,
                )
                .await;
        }
        if s.enable_dhcp {
            self.schedule_dhcp_now(&s.network_id).await;
        }
        self.emit(crate::events::Event::SubnetChanged(
            s.network_id.clone(),
            s.id.clone(),
        ));
        Ok(s)
    }

    /// Delete a subnet; refused while ports other than DHCP (and, on SLAAC subnets, ports with
    /// only auto-addresses) hold addresses from it.
    pub async fn delete_subnet(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let ctx = ctx.clone();
        let id = id.to_string();
        let plugin = self.clone();
        let (deleted, net) = crate::in_tx!(self.store(), |tx| {
            let s = subnets::get(tx, &id)
                .await?
                .ok_or_else(|| subnet_not_found(&id))?;
            if !ctx.owns(&s.project_id) {
                let net = networks::get_row(tx, &s.network_id).await?;
                if !net.is_some_and(|n| crate::networks::subnets_visible(&ctx, &n)) {
                    return Err(subnet_not_found(&id));
                }
            }
            check_revision(if_match, s.revision_number)?;
            let auto = is_auto_address(&s);
            let allocations = store_ipam::allocations_in_subnet(tx, &id).await?;
            let blocking = allocations.iter().any(|(_, _, owner)| {
                let removable = crate::networks::AUTO_DELETE_PORT_OWNERS.contains(&owner.as_str())
                    || (auto && !crate::ports::is_router_port(owner));
                !removable
            });
            if blocking {
                return Err(Error::conflict(
                    "SubnetInUse",
                    format!(
                        "Unable to complete operation on subnet {id}: One or more ports have an \
                             IP allocation from this subnet."
                    ),
                ));
            }
            let now = neutrino_store::now();
            for (ip, port_id, _) in &allocations {
                store_ipam::delete_allocation(tx, &id, ip).await?;
                neutrino_store::revision::touch(tx, "ports", port_id, &now).await?;
            }
            let net = plugin.network_for_hooks(tx, &s.network_id).await?;
            if let Some(net) = &net {
                let host = plugin.staged_host();
                plugin
                    .subnet_hook(
                        Phase::Pre(&host, &mut *tx),
                        Hook::DeletePrecommit,
                        &s,
                        None,
                        net,
                    )
                    .await?;
                host.flush(tx).await?;
            }
            subnets::delete(tx, &id).await?;
            neutrino_store::revision::touch(tx, "networks", &s.network_id, &now).await?;
            Ok::<_, Error>((s, net))
        })?;
        if let Some(net) = &net {
            // Neutron: a delete postcommit failure does not undo the delete; it is logged.
            let _ = self
                .subnet_hook(Phase::Post, Hook::DeletePostcommit, &deleted, None, net)
                .await;
        }
        self.emit(crate::events::Event::SubnetChanged(
            deleted.network_id.clone(),
            deleted.id.clone(),
        ));
        Ok(())
    }
}

/// The free-range rows of a subnet, as address text (for tests and diagnostics).
pub async fn free_ranges(plugin: &Plugin, subnet_id: &str) -> Result<Vec<(String, String)>> {
    let mut conn = plugin.read().await?;
    let rows = store_ipam::ranges(&mut conn, subnet_id).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, b)| {
            Some((
                crate::ipam::address::from_hex(&a)?.to_string(),
                crate::ipam::address::from_hex(&b)?.to_string(),
            ))
        })
        .collect())
}

/// The smallest MTU an IPv4 subnet needs (RFC 791).
pub const IPV4_MIN_MTU: i64 = 68;
/// The smallest MTU an IPv6 subnet needs (RFC 8200).
pub const IPV6_MIN_MTU: i64 = 1280;

/// Neutron's `_validate_subnet_network_mtu`: a network's MTU must carry every subnet on it
/// (409 `NetworkMTUSubnetConflict`).
pub fn check_network_mtu(
    network_id: &str,
    mtu: i64,
    versions: impl IntoIterator<Item = u8>,
) -> Result<()> {
    if mtu == 0 || mtu >= IPV6_MIN_MTU {
        return Ok(());
    }
    let conflict = |min: i64| {
        Error::conflict(
            "NetworkMTUSubnetConflict",
            format!("MTU of {network_id} is not valid, subnet requires a minimum of {min}"),
        )
    };
    for v in versions {
        if mtu < IPV4_MIN_MTU {
            return Err(conflict(IPV4_MIN_MTU));
        }
        if v == 6 {
            return Err(conflict(IPV6_MIN_MTU));
        }
    }
    Ok(())
}
