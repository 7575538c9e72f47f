//! Ports: MAC and fixed IP allocation, security groups, address pairs and binding attributes.

use std::net::IpAddr;

use ipnet::IpNet;
use neutrino_store::model::{
    AddressPair, ExtraDhcpOpt, FixedIp, Network, Port, SecurityGroup, Subnet,
};
use neutrino_store::query::{Condition, ListQuery};
use neutrino_store::{
    Backend, Conn, StoreError, Tx, UniqueKind, ipam as store_ipam, networks, ports, subnets, tags,
};

use crate::error::{Error, Result};
use crate::ipam::address::{eui64, from_hex, to_hex, to_u128};
use crate::ipam::mac;
use crate::mech::StagedHost;
use crate::mech::hooks::{Phase, create_undone};
use crate::networks::{marker_error, network_not_found, visible};
use crate::subnets::{is_auto_address, net_of};
use crate::{Plugin, RequestContext, check_revision};
use neutrino_runtime::Hook;
use neutrino_store::bindings;

/// Device owners of router interfaces (they get no EUI-64 addresses and may take gateways).
pub const ROUTER_INTERFACE_OWNERS: [&str; 4] = [
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
    "network:router_centralized_snat",
];

/// Whether a device owner is a router interface.
pub fn is_router_port(owner: &str) -> bool {
    ROUTER_INTERFACE_OWNERS.contains(&owner)
}

/// One requested fixed IP.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixedIpRequest {
    /// Subnet to allocate from.
    pub subnet_id: Option<String>,
    /// Specific address.
    pub ip_address: Option<IpAddr>,
}

/// A validated port create request.
#[derive(Debug, Clone, Default)]
pub struct PortCreate {
    /// Owner.
    pub project_id: String,
    /// Network.
    pub network_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// Requested MAC (generated when absent).
    pub mac_address: Option<String>,
    /// Requested fixed IPs; `None` = the defaults, `Some([])` = none.
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    /// Device id.
    pub device_id: String,
    /// Device owner.
    pub device_owner: String,
    /// Port security (defaults to the network's).
    pub port_security_enabled: Option<bool>,
    /// Security groups (defaults to the project's default group).
    pub security_groups: Option<Vec<String>>,
    /// Allowed address pairs.
    pub allowed_address_pairs: Vec<AddressPair>,
    /// `binding:host_id`.
    pub binding_host_id: String,
    /// `binding:vnic_type`.
    pub binding_vnic_type: String,
    /// `binding:profile`.
    pub binding_profile: serde_json::Value,
    /// Tags.
    pub tags: Vec<String>,
    /// `device_profile` (port-device-profile; empty is none).
    pub device_profile: Option<String>,
    /// `numa_affinity_policy` (port-numa-affinity-policy; empty is none).
    pub numa_affinity_policy: Option<String>,
    /// `extra_dhcp_opts`, validated; options without a value are left out as Neutron does.
    pub extra_dhcp_opts: Vec<DhcpOptRequest>,
}

/// One requested extra DHCP option (`extra_dhcp_opt`): on update, a `None` value removes
/// the port's option of that name and IP version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOptRequest {
    /// Option name.
    pub opt_name: String,
    /// Value; `None` removes (update) or is ignored (create).
    pub opt_value: Option<String>,
    /// 4 or 6 (4 when not given).
    pub ip_version: i64,
}

/// Neutron's `VALID_BLANK_EXTRA_DHCP_OPTS`: options that may have an empty value.
pub const VALID_BLANK_EXTRA_DHCP_OPTS: [&str; 2] = ["router", "classless-static-route"];

/// Neutron's `_is_valid_opt_value`: whether an option with this value is stored.
fn storable_opt_value(name: &str, value: Option<&str>) -> bool {
    match value {
        None => false,
        Some(v) => VALID_BLANK_EXTRA_DHCP_OPTS.contains(&name) || !v.is_empty(),
    }
}

/// The options a create stores: those with a value, in request order; one name and IP
/// version twice is refused (Neutron's unique key on them fails the request).
fn created_dhcp_opts(reqs: &[DhcpOptRequest]) -> Result<Vec<ExtraDhcpOpt>> {
    let mut out: Vec<ExtraDhcpOpt> = Vec::new();
    for r in reqs {
        if !storable_opt_value(&r.opt_name, r.opt_value.as_deref()) {
            continue;
        }
        if out
            .iter()
            .any(|o| o.opt_name == r.opt_name && o.ip_version == r.ip_version)
        {
            return Err(duplicate_dhcp_opt(r));
        }
        out.push(ExtraDhcpOpt {
            opt_name: r.opt_name.clone(),
            opt_value: r.opt_value.clone().unwrap_or_default(),
            ip_version: r.ip_version,
        });
    }
    Ok(out)
}

fn duplicate_dhcp_opt(r: &DhcpOptRequest) -> Error {
    Error::invalid_input(format!(
        "Duplicate extra DHCP option opt_name={} ip_version={}.",
        r.opt_name, r.ip_version
    ))
}

/// Neutron's `_update_extra_dhcp_opts_on_port`: each requested option replaces the value of
/// the port's option of the same name and IP version, or removes it when its value is
/// `None`, or is added after the others; options not named stay.
pub fn merge_dhcp_opts(
    current: &[ExtraDhcpOpt],
    reqs: &[DhcpOptRequest],
) -> Result<Vec<ExtraDhcpOpt>> {
    let mut out = current.to_vec();
    let mut added: Vec<&DhcpOptRequest> = Vec::new();
    for r in reqs {
        let at = out
            .iter()
            .position(|o| o.opt_name == r.opt_name && o.ip_version == r.ip_version);
        match (at, &r.opt_value) {
            (Some(i), None) => {
                out.remove(i);
            }
            (Some(i), Some(v)) => {
                if storable_opt_value(&r.opt_name, Some(v)) {
                    out[i].opt_value = v.clone();
                }
            }
            (None, Some(v)) if storable_opt_value(&r.opt_name, Some(v)) => {
                if added
                    .iter()
                    .any(|a| a.opt_name == r.opt_name && a.ip_version == r.ip_version)
                {
                    return Err(duplicate_dhcp_opt(r));
                }
                added.push(r);
                out.push(ExtraDhcpOpt {
                    opt_name: r.opt_name.clone(),
                    opt_value: v.clone(),
                    ip_version: r.ip_version,
                });
            }
            (None, _) => {}
        }
    }
    Ok(out)
}

/// A validated port update: `None` keeps the attribute.
#[derive(Debug, Clone, Default)]
pub struct PortUpdate {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Administrative state.
    pub admin_state_up: Option<bool>,
    /// MAC (only while unbound).
    pub mac_address: Option<String>,
    /// The complete new list of fixed IPs.
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    /// Device id.
    pub device_id: Option<String>,
    /// Device owner.
    pub device_owner: Option<String>,
    /// Port security.
    pub port_security_enabled: Option<bool>,
    /// Security groups.
    pub security_groups: Option<Vec<String>>,
    /// Allowed address pairs.
    pub allowed_address_pairs: Option<Vec<AddressPair>>,
    /// `binding:host_id`.
    pub binding_host_id: Option<String>,
    /// `binding:vnic_type`.
    pub binding_vnic_type: Option<String>,
    /// `binding:profile`.
    pub binding_profile: Option<serde_json::Value>,
    /// `numa_affinity_policy`: `Some(None)` (or an empty string) removes it; only while the
    /// port is not bound.
    pub numa_affinity_policy: Option<Option<String>>,
    /// `extra_dhcp_opts` to merge into the port's (see [`merge_dhcp_opts`]).
    pub extra_dhcp_opts: Option<Vec<DhcpOptRequest>>,
}

pub(crate) fn port_not_found(id: &str) -> Error {
    Error::not_found("PortNotFound", "Port", id)
}

/// A requested address someone holds: Neutron's IPAM answers `IpAddressAlreadyAllocated`.
fn ip_in_use(subnet_id: &str, ip: &str) -> Error {
    Error::conflict(
        "IpAddressAlreadyAllocated",
        format!("IP address {ip} already allocated in subnet {subnet_id}"),
    )
}

/// Neutron's `find_candidate_subnets` (subnet-service-types): the subnets a port of this
/// device owner takes addresses from: those whose `service_types` name it, or that have
/// none (DHCP ports also any subnet with DHCP on), those with service types first.
pub fn service_subnets(subnets: &[Subnet], device_owner: &str) -> Vec<Subnet> {
    let mut out: Vec<Subnet> = subnets
        .iter()
        .filter(|s| {
            s.service_types.is_empty()
                || s.service_types.iter().any(|t| t == device_owner)
                || (device_owner == "network:dhcp" && s.enable_dhcp)
        })
        .cloned()
        .collect();
    out.sort_by_key(|s| s.service_types.is_empty());
    out
}

fn no_matching_subnet(network_id: &str, device_owner: &str) -> Error {
    Error::conflict(
        "IpAddressGenerationFailureNoMatchingSubnet",
        format!(
            "No valid service subnet for the given device owner, network {network_id}, service \
             type {device_owner}."
        ),
    )
}

fn generation_failure(network_id: &str) -> Error {
    Error::conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

/// Turn unique-key collisions inside a port write into a retry (the retry's pre-checks then
/// report `IpAddressAlreadyAllocated` / `MacAddressInUse` when the collision was with a user's choice).
fn retry_on_collision(e: Error) -> Error {
    match e {
        Error::Store(StoreError::Unique {
            kind: UniqueKind::IpAddress | UniqueKind::MacAddress,
            message,
        }) => Error::Store(StoreError::Retry(message)),
        other => other,
    }
}

/// The lowest free range (first, last; hex) of subnets by id, read with the network.
type FreeHints = std::collections::HashMap<String, (String, String)>;

/// The address chosen for one fixed IP.
struct Claim {
    subnet: Subnet,
    ip: IpAddr,
}

impl Plugin {
    fn backend(&self) -> Backend {
        self.store().backend()
    }

    /// Whether the caller may see a port (its own, or on a network it owns).
    pub(crate) async fn port_visible(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        p: &Port,
    ) -> Result<bool> {
        if ctx.sees_all() || p.project_id == ctx.project_id {
            return Ok(true);
        }
        Ok(networks::get_row(conn, &p.network_id)
            .await?
            .is_some_and(|n| n.project_id == ctx.project_id))
    }

    /// Create ports, all or none.
    pub async fn create_ports(
        &self,
        ctx: &RequestContext,
        reqs: Vec<PortCreate>,
    ) -> Result<Vec<Port>> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        // Batched: on SQLite a port costs two hand-offs to the database (see
        // `neutrino_store::tx`), while the one writer connection is held.
        let created = crate::in_tx!(batched self.store(), commit_errors: retry_on_collision, |tx| {
            let mut out = Vec::with_capacity(reqs.len());
            let host = plugin.staged_host();
            let mut tally = crate::quotas::Tally::default();
            let mut defaults = Vec::new();
            // PostgreSQL: each owner's ports are reserved first (its own quota shard locked),
            // in project order; SQLite counts them with each port's network read.
            if plugin.backend() == Backend::Postgres {
                let owners = reqs.iter().map(|r| &r.project_id).filter(|p| !p.is_empty());
                for (project, n) in crate::quotas::per_project(owners) {
                    plugin.check_quota(tx, project, "port", n).await?;
                }
            }
            for r in &reqs {
                let (port, net) = plugin
                    .insert_port(tx, &ctx, r, &mut tally, (&host, &mut defaults))
                    .await
                    .map_err(retry_on_collision)?;
                plugin
                    .port_hook(Phase::Pre(&host, &mut *tx), Hook::CreatePrecommit, &port, None, &net)
                    .await?;
                Box::pin(crate::provisioning::setup_dhcp_block(tx, &port, true)).await?;
                out.push((port, net));
            }
            host.flush(tx).await?;
            Ok::<_, Error>((out, defaults))
        })?;
        let (created, defaults) = created;
        self.default_groups_postcommit(&defaults).await;
        if self.mech().has_drivers() {
            // The network as the transaction read it, as in Neutron, whose contexts are built
            // inside the transaction.
            for (port, net) in &created {
                if let Err(e) = self
                    .port_hook(Phase::Post, Hook::CreatePostcommit, port, None, net)
                    .await
                {
                    let admin = RequestContext::admin(&ctx.project_id);
                    for (p, _) in &created {
                        if let Err(undo) = self.delete_port(&admin, &p.id, None).await {
                            tracing::error!(port = %p.id, error = %undo, "could not delete a port after its create postcommit failed");
                        }
                    }
                    return Err(create_undone(e));
                }
            }
        }
        let mut out = Vec::with_capacity(created.len());
        for (port, _) in created {
            let port = self.bind_if_needed(port).await?;
            self.emit(crate::events::Event::PortCreated(Box::new(port.clone())));
            out.push(port);
        }
        Ok(out)
    }

    async fn insert_port(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext,
        r: &PortCreate,
        tally: &mut crate::quotas::Tally,
        defaults: (&StagedHost, &mut Vec<SecurityGroup>),
    ) -> Result<(Port, Network)> {
        // One statement for the network (which the precommit hooks get too), its subnets and
        // the owner's default security group: this runs while holding the (SQLite: only)
        // writer connection.
        let networks::PortContext {
            network: net,
            subnets,
            default_security_group: default_group,
            mut first_free,
            port_quota,
        } = networks::port_context(tx, &r.network_id, &r.project_id)
            .await?
            .filter(|c| visible(ctx, &c.network))
            .ok_or_else(|| network_not_found(&r.network_id))?;
        let default_limit = self.quota_default("port");
        // Ports of no project (router gateways, floating IPs) count against no quota.
        // PostgreSQL reserved them before the first port (`create_ports`).
        if !r.project_id.is_empty() && self.backend() != Backend::Postgres {
            tally.add(&r.project_id, || {
                let (used, own) = port_quota.unwrap_or((0, None));
                (used, own.unwrap_or(default_limit))
            })?;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mac_address = match &r.mac_address {
            Some(m) => {
                let parsed = mac::parse_unicast(m).ok_or_else(|| {
                    Error::invalid_input(format!("'{m}' is not a valid MAC address"))
                })?;
                let m = mac::format(parsed);
                if ports::mac_in_use(tx, &r.network_id, &m, None).await? {
                    return Err(mac_in_use(&r.network_id, &m));
                }
                m
            }
            None => mac::random_mac(self.core().base_mac),
        };
        let port_security = r.port_security_enabled.unwrap_or(net.port_security_enabled);
        let pairs = with_port_mac(&r.allowed_address_pairs, &mac_address);
        if !port_security && !r.allowed_address_pairs.is_empty() {
            return Err(address_pairs_need_security());
        }
        let now = neutrino_store::now();
        let mut port = Port {
            id: id.clone(),
            project_id: r.project_id.clone(),
            network_id: r.network_id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            mac_address,
            admin_state_up: r.admin_state_up,
            status: "DOWN".into(),
            device_id: r.device_id.clone(),
            device_owner: r.device_owner.clone(),
            port_security_enabled: port_security,
            allowed_address_pairs: pairs,
            binding_host_id: r.binding_host_id.clone(),
            binding_vnic_type: r.binding_vnic_type.clone(),
            binding_profile: r.binding_profile.clone(),
            binding_vif_type: "unbound".into(),
            binding_vif_details: serde_json::json!({}),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 1,
            fixed_ips: vec![],
            security_groups: vec![],
            tags: r.tags.clone(),
            binding_levels: vec![],
            device_profile: r.device_profile.clone().filter(|v| !v.is_empty()),
            numa_affinity_policy: r.numa_affinity_policy.clone().filter(|v| !v.is_empty()),
            extra_dhcp_opts: created_dhcp_opts(&r.extra_dhcp_opts)?,
        };
        let claims = self
            .choose_addresses(
                tx,
                (&net, &subnets, &mut first_free),
                &port,
                r.fixed_ips.as_deref(),
                &[],
            )
            .await?;
        port.fixed_ips = claims
            .iter()
            .map(|c| FixedIp {
                subnet_id: c.subnet.id.clone(),
                ip_address: c.ip.to_string(),
            })
            .collect();
        port.security_groups = self
            .port_security_groups(
                tx,
                ctx,
                &port,
                r.security_groups.as_deref(),
                default_group.as_deref(),
                Some(defaults),
            )
            .await?;
        ports::insert_with_children(tx, &port).await?;
        if !r.tags.is_empty() {
            tx.flush().await.map_err(StoreError::classify)?;
        }
        for tag in &r.tags {
            tags::add(tx, "ports", &id, tag).await?;
        }
        Ok((port, net))
    }

    /// Security groups for a port: the requested ones (checked), or the project's default
    /// group when port security is on.
    async fn port_security_groups(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext,
        port: &Port,
        requested: Option<&[String]>,
        known_default: Option<&str>,
        defaults: Option<(&StagedHost, &mut Vec<SecurityGroup>)>,
    ) -> Result<Vec<String>> {
        match requested {
            Some(groups) if !groups.is_empty() => {
                if !port.port_security_enabled {
                    return Err(Error::neutron(
                        "PortSecurityAndIPRequiredForSecurityGroups",
                        400,
                        "Port security must be enabled and port must have an IP address in order \
                         to use security groups.",
                    ));
                }
                let mut unique = groups.to_vec();
                unique.sort();
                unique.dedup();
                tx.flush().await.map_err(StoreError::classify)?;
                let owners = neutrino_store::security_groups::owners(tx, &unique).await?;
                for g in &unique {
                    let owned = owners.iter().any(|(id, project, _)| {
                        id == g
                            && (ctx.sees_all()
                                || project == &ctx.project_id
                                || project == &port.project_id)
                    });
                    // Another project's group shared with the port's project: its entry is
                    // share-locked until the port is committed (`rbac::usable_through_entry`).
                    let ok = owned
                        || (owners.iter().any(|(id, _, _)| id == g)
                            && crate::rbac::usable_through_entry(
                                tx,
                                crate::rbac::ObjectType::SecurityGroup,
                                g,
                                &port.project_id,
                            )
                            .await?);
                    if !ok {
                        return Err(Error::not_found(
                            "SecurityGroupNotFound",
                            "Security group",
                            g,
                        ));
                    }
                }
                // Neutron's `_validate_sgs_for_port`.
                if owners.iter().any(|(_, _, stateful)| *stateful)
                    && owners.iter().any(|(_, _, stateful)| !*stateful)
                {
                    return Err(Error::conflict(
                        "SecurityGroupConflict",
                        "Error Cannot apply both stateful and stateless security groups on the \
                         same port at the same time while attempting the operation.",
                    ));
                }
                Ok(unique)
            }
            Some(_) => Ok(vec![]),
            None if port.port_security_enabled && !port.device_owner.starts_with("network:") => {
                Ok(vec![match known_default {
                    Some(id) => id.to_string(),
                    None => {
                        tx.flush().await.map_err(StoreError::classify)?;
                        self.ensure_default_security_group(tx, &port.project_id, defaults)
                            .await?
                    }
                }])
            }
            None => Ok(vec![]),
        }
    }

    /// Decide the fixed IPs of a port on a network with these subnets and take them from the
    /// free ranges (`hints`: the lowest free range of subnets, when already read). `keep` lists
    /// the port's current addresses that stay (update); they are not taken again.
    async fn choose_addresses(
        &self,
        tx: &mut Tx,
        (net, subnets, hints): (&Network, &[Subnet], &mut FreeHints),
        port: &Port,
        requested: Option<&[FixedIpRequest]>,
        keep: &[FixedIp],
    ) -> Result<Vec<Claim>> {
        let parsed_mac = mac::parse_unicast(&port.mac_address);
        let router = is_router_port(&port.device_owner);
        let all = subnets;
        let eligible = service_subnets(all, &port.device_owner);
        let subnets = eligible.as_slice();
        let mut claims: Vec<Claim> = Vec::new();
        let push_auto = |subnet: &Subnet, claims: &mut Vec<Claim>| -> Result<()> {
            if let (Ok(IpNet::V6(prefix)), Some(m)) = (net_of(subnet), parsed_mac) {
                claims.push(Claim {
                    subnet: subnet.clone(),
                    ip: IpAddr::V6(eui64(prefix, m)),
                });
            }
            Ok(())
        };
        match requested {
            None => {
                if subnets.is_empty() && !all.is_empty() {
                    return Err(no_matching_subnet(&net.id, &port.device_owner));
                }
                // One v4 address, one stateful v6 address, EUI-64 on every SLAAC subnet.
                let mut v4_tried = false;
                let mut v4_done = false;
                let mut v6_tried = false;
                let mut v6_done = false;
                for s in subnets {
                    if is_auto_address(s) {
                        if !router {
                            push_auto(s, &mut claims)?;
                        }
                        continue;
                    }
                    let done = if s.ip_version == 4 {
                        &mut v4_done
                    } else {
                        &mut v6_done
                    };
                    if *done {
                        continue;
                    }
                    if s.ip_version == 4 {
                        v4_tried = true;
                    } else {
                        v6_tried = true;
                    }
                    if let Some(ip) = self.take_any(tx, s, hints).await? {
                        claims.push(Claim {
                            subnet: s.clone(),
                            ip,
                        });
                        *done = true;
                    }
                }
                if (v4_tried && !v4_done) || (v6_tried && !v6_done) {
                    return Err(generation_failure(&net.id));
                }
            }
            Some(reqs) => {
                if reqs.len() > self.core().max_fixed_ips_per_port {
                    return Err(Error::invalid_input(format!(
                        "Exceeded maximum amount of fixed ips per port. ({})",
                        self.core().max_fixed_ips_per_port
                    )));
                }
                let mut kept: Vec<&FixedIp> = Vec::new();
                for req in reqs {
                    let subnet = match (&req.subnet_id, req.ip_address) {
                        (Some(sid), _) => subnets.iter().find(|s| &s.id == sid).ok_or_else(|| {
                            Error::invalid_input(format!(
                                "Failed to create port on network {}, because fixed_ips included \
                                 invalid subnet {sid}",
                                net.id
                            ))
                        })?,
                        (None, Some(ip)) => subnets
                            .iter()
                            .find(|s| net_of(s).is_ok_and(|n| valid_on_subnet(n, ip, router)))
                            .ok_or_else(|| {
                                Error::neutron(
                                    "InvalidIpForNetwork",
                                    400,
                                    format!(
                                        "IP address {ip} is not a valid IP for any of the subnets \
                                         on the specified network."
                                    ),
                                )
                            })?,
                        (None, None) => {
                            return Err(Error::invalid_input(
                                "Each fixed IP needs a subnet_id or an ip_address",
                            ));
                        }
                    };
                    match req.ip_address {
                        Some(ip) => {
                            let cidr = net_of(subnet)?;
                            if !valid_on_subnet(cidr, ip, router) {
                                return Err(Error::neutron(
                                    "InvalidIpForSubnet",
                                    400,
                                    format!(
                                        "IP address {ip} is not a valid IP for the specified subnet."
                                    ),
                                ));
                            }
                            if let (true, false, IpNet::V6(prefix), Some(m)) =
                                (is_auto_address(subnet), router, cidr, parsed_mac)
                                && IpAddr::V6(eui64(prefix, m)) != ip
                            {
                                return Err(Error::neutron(
                                    "AllocationOnAutoAddressSubnet",
                                    400,
                                    format!(
                                        "IPv6 address {ip} cannot be directly assigned to a port \
                                         on subnet {} as the subnet is configured for automatic \
                                         addresses",
                                        subnet.id
                                    ),
                                ));
                            }
                            if claims
                                .iter()
                                .any(|c| c.ip == ip && c.subnet.id == subnet.id)
                            {
                                return Err(Error::invalid_input(format!(
                                    "Duplicate IP address '{ip}'"
                                )));
                            }
                            let text = ip.to_string();
                            if let Some(k) = keep
                                .iter()
                                .find(|k| k.subnet_id == subnet.id && k.ip_address == text)
                            {
                                kept.push(k);
                                claims.push(Claim {
                                    subnet: subnet.clone(),
                                    ip,
                                });
                                continue;
                            }
                            if is_auto_address(subnet) && !router {
                                claims.push(Claim {
                                    subnet: subnet.clone(),
                                    ip,
                                });
                                continue;
                            }
                            tx.flush().await.map_err(StoreError::classify)?;
                            if store_ipam::is_allocated(tx, &subnet.id, &text).await? {
                                return Err(ip_in_use(&subnet.id, &text));
                            }
                            store_ipam::take_specific(tx, self.backend(), &subnet.id, &to_hex(ip))
                                .await?;
                            claims.push(Claim {
                                subnet: subnet.clone(),
                                ip,
                            });
                        }
                        None => {
                            // Keep a current address of that subnet when there is one.
                            if let Some(k) = keep.iter().find(|k| {
                                k.subnet_id == subnet.id
                                    && !kept.iter().any(|x| x == k)
                                    && !reqs.iter().any(|r| {
                                        r.ip_address.map(|i| i.to_string())
                                            == Some(k.ip_address.clone())
                                    })
                            }) {
                                kept.push(k);
                                if let Ok(ip) = k.ip_address.parse() {
                                    claims.push(Claim {
                                        subnet: subnet.clone(),
                                        ip,
                                    });
                                }
                                continue;
                            }
                            if is_auto_address(subnet) {
                                if !router {
                                    push_auto(subnet, &mut claims)?;
                                }
                                continue;
                            }
                            let ip = self
                                .take_any(tx, subnet, hints)
                                .await?
                                .ok_or_else(|| generation_failure(&net.id))?;
                            claims.push(Claim {
                                subnet: subnet.clone(),
                                ip,
                            });
                        }
                    }
                }
            }
        }
        Ok(claims)
    }

    /// Take the lowest free address of a subnet, using (and using up) the hint on its lowest
    /// free range when there is one.
    async fn take_any(
        &self,
        tx: &mut Tx,
        subnet: &Subnet,
        hints: &mut FreeHints,
    ) -> Result<Option<IpAddr>> {
        let hex = match hints.remove(&subnet.id) {
            // SQLite: the range was read in this transaction, which holds the one writer,
            // so it is exact and the move can travel with the next statements.
            Some(range) if self.backend() == Backend::Sqlite => {
                Some(store_ipam::take_first_of(tx, &subnet.id, range).await?)
            }
            hint => {
                tx.flush().await.map_err(StoreError::classify)?;
                store_ipam::take_any(tx, self.backend(), &subnet.id, hint).await?
            }
        };
        Ok(hex.and_then(|h| from_hex(&h)))
    }

    /// Give an address back: forget the allocation and, when it lies in the subnet's pools,
    /// return it to the free ranges, merged with its free neighbours inside the same
    /// allocation segment (so the ranges stay as few as before it was taken).
    async fn release(&self, conn: &mut Conn, subnet: &Subnet, ip: &str) -> Result<()> {
        store_ipam::delete_allocation(conn, &subnet.id, ip).await?;
        if is_auto_address(subnet) {
            return Ok(());
        }
        if let Ok(addr) = ip.parse::<IpAddr>() {
            let v = to_u128(addr);
            let version = crate::ipam::address::version(addr);
            if let Some(&(first, last)) = crate::subnets::segments(subnet)
                .iter()
                .find(|&&(s, e)| s <= v && v <= e)
            {
                store_ipam::release(
                    conn,
                    self.backend(),
                    &subnet.id,
                    &to_hex(addr),
                    &to_hex(crate::ipam::address::from_u128(first, version)),
                    &to_hex(crate::ipam::address::from_u128(last, version)),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Show a port.
    pub async fn get_port(&self, ctx: &RequestContext, id: &str) -> Result<Port> {
        let mut conn = self.read().await?;
        let p = ports::get(&mut conn, id)
            .await?
            .ok_or_else(|| port_not_found(id))?;
        if !self.port_visible(&mut conn, ctx, &p).await? {
            return Err(port_not_found(id));
        }
        Ok(p)
    }

    /// List ports.
    pub async fn list_ports(&self, ctx: &RequestContext, mut q: ListQuery) -> Result<Vec<Port>> {
        if !ctx.sees_all() {
            q.conditions.push(Condition::raw(
                "project_id = ? OR network_id IN (SELECT id FROM networks WHERE project_id = ?)",
                vec![ctx.project_id.clone().into(), ctx.project_id.clone().into()],
            ));
        }
        let mut conn = self.read().await?;
        ports::list(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Port"))
    }

    /// Update a port.
    pub async fn update_port(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: PortUpdate,
        if_match: Option<i64>,
    ) -> Result<Port> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let id = id.to_string();
        let (port, original) = crate::in_tx!(self.store(), |tx| {
            let host = plugin.staged_host();
            let out = plugin
                .update_port_tx(tx, &ctx, &id, &u, if_match, &host)
                .await
                .map_err(retry_on_collision)?;
            host.flush(tx).await?;
            Ok::<_, Error>(out)
        })?;
        if let (Some(original), true) = (&original, self.mech().has_drivers()) {
            let net = self.network_of(&port.network_id).await?;
            // Neutron logs update_port_postcommit failures; the update stands.
            let _ = self
                .port_hook(
                    Phase::Post,
                    Hook::UpdatePostcommit,
                    &port,
                    Some(original),
                    &net,
                )
                .await;
        }
        let port = self.bind_if_needed(port).await?;
        self.emit(crate::events::Event::PortUpdated(Box::new(port.clone())));
        Ok(port)
    }

    async fn update_port_tx(
        &self,
        conn: &mut Tx,
        ctx: &RequestContext,
        id: &str,
        u: &PortUpdate,
        if_match: Option<i64>,
        host: &StagedHost,
    ) -> Result<(Port, Option<Port>)> {
        ports::lock(conn, id).await?;
        let current = ports::get(conn, id)
            .await?
            .ok_or_else(|| port_not_found(id))?;
        if !self.port_visible(conn, ctx, &current).await? {
            return Err(port_not_found(id));
        }
        check_revision(if_match, current.revision_number)?;
        let net = networks::get_row(conn, &current.network_id)
            .await?
            .ok_or_else(|| network_not_found(&current.network_id))?;
        let mut p = current.clone();
        if let Some(v) = &u.name {
            p.name = v.clone();
        }
        if let Some(v) = &u.description {
            p.description = v.clone();
        }
        if let Some(v) = u.admin_state_up {
            p.admin_state_up = v;
        }
        if let Some(v) = &u.device_id {
            p.device_id = v.clone();
        }
        if let Some(v) = &u.device_owner {
            p.device_owner = v.clone();
        }
        if let Some(v) = &u.binding_host_id {
            p.binding_host_id = v.clone();
        }
        if let Some(v) = &u.binding_vnic_type {
            p.binding_vnic_type = v.clone();
        }
        if let Some(v) = &u.binding_profile {
            p.binding_profile = v.clone();
        }
        if let Some(v) = u.port_security_enabled {
            p.port_security_enabled = v;
        }
        if let Some(v) = &u.allowed_address_pairs {
            p.allowed_address_pairs = with_port_mac(v, &current.mac_address);
        }
        let mut mac_changed = false;
        if let Some(m) = &u.mac_address {
            let parsed = mac::parse_unicast(m)
                .ok_or_else(|| Error::invalid_input(format!("'{m}' is not a valid MAC address")))?;
            let m = mac::format(parsed);
            if m != current.mac_address {
                if !matches!(
                    current.binding_vif_type.as_str(),
                    "unbound" | "binding_failed"
                ) {
                    return Err(Error::conflict(
                        "PortBound",
                        format!(
                            "Unable to complete operation on port {id}, port is already bound, port \
                             type: {}, old_mac {}, new_mac {m}.",
                            current.binding_vif_type, current.mac_address
                        ),
                    ));
                }
                if ports::mac_in_use(conn, &p.network_id, &m, Some(id)).await? {
                    return Err(mac_in_use(&p.network_id, &m));
                }
                p.mac_address = m;
                mac_changed = true;
            }
        }
        if !p.port_security_enabled && !p.allowed_address_pairs.is_empty() {
            return Err(address_pairs_need_security());
        }
        if let Some(policy) = &u.numa_affinity_policy {
            if !matches!(
                current.binding_vif_type.as_str(),
                "unbound" | "binding_failed"
            ) {
                return Err(Error::conflict(
                    "PortBoundNUMAAffinityPolicy",
                    format!(
                        "Unable to complete operation on port {id}, port is already bound to \
                         host {}, numa_affinity_policy value given {}.",
                        current.binding_host_id,
                        policy.as_deref().unwrap_or("None")
                    ),
                ));
            }
            p.numa_affinity_policy = policy.clone().filter(|v| !v.is_empty());
        }
        if let Some(opts) = &u.extra_dhcp_opts {
            p.extra_dhcp_opts = merge_dhcp_opts(&current.extra_dhcp_opts, opts)?;
        }
        let subnets = subnets::of_network(conn, &p.network_id).await?;
        // A new device owner must be able to hold the port's addresses (subnet service types).
        if p.device_owner != current.device_owner && u.fixed_ips.is_none() {
            let held: Vec<Subnet> = subnets
                .iter()
                .filter(|s| current.fixed_ips.iter().any(|f| f.subnet_id == s.id))
                .cloned()
                .collect();
            if !held.is_empty() && service_subnets(&held, &p.device_owner).is_empty() {
                return Err(no_matching_subnet(&p.network_id, &p.device_owner));
            }
        }
        let ips_changed = u.fixed_ips.is_some() || mac_changed;
        if ips_changed {
            // Auto-addresses are recomputed from the (possibly new) MAC; the rest follow the
            // request, or stay as they are.
            let mut requested: Vec<FixedIpRequest> = match &u.fixed_ips {
                Some(r) => r.clone(),
                None => current
                    .fixed_ips
                    .iter()
                    .filter(|f| {
                        !subnets
                            .iter()
                            .any(|s| s.id == f.subnet_id && is_auto_address(s))
                    })
                    .map(|f| FixedIpRequest {
                        subnet_id: Some(f.subnet_id.clone()),
                        ip_address: f.ip_address.parse().ok(),
                    })
                    .collect(),
            };
            if !is_router_port(&p.device_owner) {
                for s in subnets.iter().filter(|s| is_auto_address(s)) {
                    let has = requested
                        .iter()
                        .any(|r| r.subnet_id.as_deref() == Some(&s.id));
                    let had = current.fixed_ips.iter().any(|f| f.subnet_id == s.id);
                    if had && !has {
                        requested.push(FixedIpRequest {
                            subnet_id: Some(s.id.clone()),
                            ip_address: None,
                        });
                    }
                }
            }
            // Auto addresses of the old MAC are not kept when the MAC changed.
            let keep: Vec<FixedIp> = current
                .fixed_ips
                .iter()
                .filter(|f| {
                    !(mac_changed
                        && subnets
                            .iter()
                            .any(|s| s.id == f.subnet_id && is_auto_address(s)))
                })
                .cloned()
                .collect();
            let requested: Vec<FixedIpRequest> = requested
                .into_iter()
                .map(|r| {
                    let auto = r.subnet_id.as_ref().is_some_and(|sid| {
                        subnets.iter().any(|s| &s.id == sid && is_auto_address(s))
                    });
                    if auto && mac_changed {
                        FixedIpRequest {
                            subnet_id: r.subnet_id,
                            ip_address: None,
                        }
                    } else {
                        r
                    }
                })
                .collect();
            let claims = self
                .choose_addresses(
                    conn,
                    (&net, &subnets, &mut FreeHints::new()),
                    &p,
                    Some(&requested),
                    &keep,
                )
                .await?;
            let v4_before: Vec<(&str, String)> = current
                .fixed_ips
                .iter()
                .filter(|f| f.ip_address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()))
                .map(|f| (f.subnet_id.as_str(), f.ip_address.clone()))
                .collect();
            let mut v4_after: Vec<(&str, String)> = claims
                .iter()
                .filter(|c| c.ip.is_ipv4())
                .map(|c| (c.subnet.id.as_str(), c.ip.to_string()))
                .collect();
            let mut before_sorted = v4_before.clone();
            before_sorted.sort();
            v4_after.sort();
            if before_sorted != v4_after
                && IP_UPDATE_NOT_ALLOWED.contains(&current.device_owner.as_str())
                && neutrino_store::l3::get_router(conn, &current.device_id)
                    .await?
                    .is_some()
            {
                // `l3-port-ip-change-not-allowed`: the IPv4 addresses of a router's own ports
                // change only through the router (Neutron's `IPAddressChangeNotAllowed`).
                return Err(Error::neutron(
                    "BadRequest",
                    400,
                    format!("Bad ports request: IP updates for port {id} are not allowed."),
                ));
            }
            for old in &current.fixed_ips {
                let still = claims
                    .iter()
                    .any(|c| c.subnet.id == old.subnet_id && c.ip.to_string() == old.ip_address);
                if !still && let Some(s) = subnets.iter().find(|s| s.id == old.subnet_id) {
                    self.release(conn, s, &old.ip_address).await?;
                }
            }
            p.fixed_ips.clear();
            for (position, c) in claims.iter().enumerate() {
                let ip = c.ip.to_string();
                let existed = current
                    .fixed_ips
                    .iter()
                    .any(|f| f.subnet_id == c.subnet.id && f.ip_address == ip);
                if existed {
                    store_ipam::delete_allocation(conn, &c.subnet.id, &ip).await?;
                }
                store_ipam::insert_allocation(
                    conn,
                    &c.subnet.id,
                    &ip,
                    id,
                    &p.network_id,
                    position as i64,
                )
                .await?;
                p.fixed_ips.push(FixedIp {
                    subnet_id: c.subnet.id.clone(),
                    ip_address: ip,
                });
            }
        }
        if let Some(groups) = &u.security_groups {
            p.security_groups = self
                .port_security_groups(conn, ctx, &p, Some(groups), None, None)
                .await?;
            ports::set_security_groups(conn, id, &p.security_groups).await?;
        } else if u.port_security_enabled == Some(false) && !p.security_groups.is_empty() {
            return Err(Error::conflict(
                "PortSecurityPortHasSecurityGroup",
                "Port has security group associated. Cannot disable port security or ip address \
                 until security group is removed",
            ));
        }
        let binding_inputs_changed = p.binding_host_id != current.binding_host_id
            || p.binding_vnic_type != current.binding_vnic_type
            || p.binding_profile != current.binding_profile;
        // One binding per host (`binding-extended`): a host with an inactive binding of the
        // port gets there by activating it.
        if p.binding_host_id != current.binding_host_id
            && bindings::inactive(conn, id, &p.binding_host_id)
                .await?
                .is_some()
        {
            return Err(Error::conflict(
                "PortBindingAlreadyExists",
                format!(
                    "Binding for port {id} on host {} already exists.",
                    p.binding_host_id
                ),
            ));
        }
        if binding_inputs_changed {
            // The binding no longer matches its inputs: unbind; it is bound again after commit.
            p.binding_vif_type = "unbound".into();
            p.binding_vif_details = serde_json::json!({});
            p.binding_levels.clear();
            bindings::set_levels(conn, id, &[]).await?;
            self.release_unused_dynamic(conn, &p.network_id, &current.binding_levels)
                .await?;
        }
        if p == current {
            return Ok((p, None));
        }
        p.revision_number += 1;
        p.updated_at = neutrino_store::now();
        if !ports::update(conn, &p, current.revision_number).await? {
            return Err(StoreError::Retry("port changed".into()).into());
        }
        if let Some(net) = self.network_for_hooks(conn, &p.network_id).await? {
            self.port_hook(
                Phase::Pre(host, &mut *conn),
                Hook::UpdatePrecommit,
                &p,
                Some(&current),
                &net,
            )
            .await?;
        }
        if p.fixed_ips != current.fixed_ips || p.mac_address != current.mac_address {
            crate::provisioning::setup_dhcp_block(conn, &p, false).await?;
        }
        Ok((p, Some(current)))
    }

    /// Delete a port and give its addresses back.
    pub async fn delete_port(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let plugin = self.clone();
        let ctx = ctx.clone();
        let id = id.to_string();
        let (deleted, net) = crate::in_tx!(self.store(), |tx| {
            ports::lock(tx, &id).await?;
            let p = ports::get(tx, &id)
                .await?
                .ok_or_else(|| port_not_found(&id))?;
            if !plugin.port_visible(tx, &ctx, &p).await? {
                return Err(port_not_found(&id));
            }
            check_revision(if_match, p.revision_number)?;
            let subnets = subnets::of_network(tx, &p.network_id).await?;
            for f in &p.fixed_ips {
                if let Some(s) = subnets.iter().find(|s| s.id == f.subnet_id) {
                    plugin.release(tx, s, &f.ip_address).await?;
                }
            }
            let net = plugin.network_for_hooks(tx, &p.network_id).await?;
            if let Some(net) = &net {
                let host = plugin.staged_host();
                plugin
                    .port_hook(
                        Phase::Pre(&host, &mut *tx),
                        Hook::DeletePrecommit,
                        &p,
                        None,
                        net,
                    )
                    .await?;
                host.flush(tx).await?;
            }
            // A project may not take away another project's floating IP (an admin's, say)
            // by deleting its port: Neutron's `FipAssociated`.
            if !ctx.sees_all()
                && neutrino_store::l3::fips_of_port(tx, &id)
                    .await?
                    .iter()
                    .any(|f| f.project_id != ctx.project_id)
            {
                return Err(crate::l3::fip_associated(&id));
            }
            // Floating IPs of the port lose their association (`fixed_port_id` would too,
            // by its foreign key, but not the fixed IP and router).
            neutrino_store::l3::disassociate_port(tx, &id, &neutrino_store::now()).await?;
            // Inactive bindings go with the port (foreign keys); so do their dynamic segments.
            let mut levels = p.binding_levels.clone();
            levels.extend(bindings::inactive_levels(tx, &id).await?);
            ports::delete(tx, &id).await?;
            plugin
                .release_unused_dynamic(tx, &p.network_id, &levels)
                .await?;
            Ok::<_, Error>((p, net))
        })?;
        if let Some(net) = &net {
            // Neutron: a delete postcommit failure does not undo the delete; it is logged.
            let _ = self
                .port_hook(Phase::Post, Hook::DeletePostcommit, &deleted, None, net)
                .await;
        }
        self.emit(crate::events::Event::PortDeleted(Box::new(deleted)));
        Ok(())
    }
}

/// Neutron's `check_subnet_ip`: inside the CIDR, and not the network address (IPv6: unless a
/// router port) nor the IPv4 broadcast address.
fn valid_on_subnet(cidr: IpNet, ip: IpAddr, router: bool) -> bool {
    if !cidr.contains(&ip) {
        return false;
    }
    match cidr {
        IpNet::V4(n) if n.prefix_len() <= 30 => {
            ip != IpAddr::V4(n.network()) && ip != IpAddr::V4(n.broadcast())
        }
        IpNet::V4(_) => true,
        IpNet::V6(n) => router || n.prefix_len() == 128 || ip != IpAddr::V6(n.network()),
    }
}

/// Allowed address pairs without a MAC take the port's, as Neutron stores them.
/// Device owners of router ports whose IPv4 addresses may not be changed by a port update
/// (Neutron's `L3RouterPlugin.IP_UPDATE_NOT_ALLOWED_LIST`).
const IP_UPDATE_NOT_ALLOWED: [&str; 4] = [
    "network:router_interface",
    "network:router_ha_interface",
    "network:ha_router_replicated_interface",
    "network:router_centralized_snat",
];

fn with_port_mac(pairs: &[AddressPair], mac: &str) -> Vec<AddressPair> {
    pairs
        .iter()
        .map(|p| AddressPair {
            ip_address: p.ip_address.clone(),
            mac_address: if p.mac_address.is_empty() {
                mac.to_string()
            } else {
                p.mac_address.clone()
            },
        })
        .collect()
}

fn mac_in_use(network_id: &str, mac: &str) -> Error {
    Error::conflict(
        "MacAddressInUse",
        format!(
            "Unable to complete operation for network {network_id}. The mac address {mac} is in use."
        ),
    )
}

fn address_pairs_need_security() -> Error {
    Error::conflict(
        "AddressPairAndPortSecurityRequired",
        "Port Security must be enabled in order to have allowed address pairs on a port.",
    )
}
