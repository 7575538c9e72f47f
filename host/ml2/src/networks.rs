//! Networks: create (single and bulk), show, list, update, delete, with their segments.

use neutrino_store::model::{Network, Segment};
use neutrino_store::query::ListQuery;
use neutrino_store::{Conn, networks, ports, subnets};

use crate::error::{Error, Result};
use crate::mech::hooks::{Phase, create_undone};
use crate::types::ProviderSpec;
use crate::{Plugin, RequestContext, check_revision};
use neutrino_runtime::Hook;

/// Device owners whose ports are removed with their network (Neutron's
/// `AUTO_DELETE_PORT_OWNERS`).
pub const AUTO_DELETE_PORT_OWNERS: [&str; 1] = ["network:dhcp"];

/// A validated network create request.
#[derive(Debug, Clone, Default)]
pub struct NetworkCreate {
    /// Owner (already checked against the caller).
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// Shared with every project.
    pub shared: bool,
    /// `router:external`.
    pub router_external: bool,
    /// `is_default` (only taken on an external network).
    pub is_default: Option<bool>,
    /// Port security default.
    pub port_security_enabled: bool,
    /// Availability zone hints.
    pub availability_zone_hints: Vec<String>,
    /// DNS domain.
    pub dns_domain: String,
    /// Requested MTU (must not exceed what the segments allow).
    pub mtu: Option<i64>,
    /// Provider segments (`provider:*` gives one, `segments` several); none = a project
    /// network segment.
    pub segments: Option<Vec<ProviderSpec>>,
    /// A provider network as networking-cisco's `cisco_providernet_ext` extension driver
    /// marks it (its creator gave `provider:segmentation_id`): drivers see
    /// `"is_provider_network": true` in the network of its create hooks.
    pub is_provider_network: bool,
}

/// A validated network update request: `None` leaves an attribute as it is.
#[derive(Debug, Clone, Default)]
pub struct NetworkUpdate {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Administrative state.
    pub admin_state_up: Option<bool>,
    /// Shared.
    pub shared: Option<bool>,
    /// `router:external`.
    pub router_external: Option<bool>,
    /// `is_default` (only taken on an external network).
    pub is_default: Option<bool>,
    /// Port security default.
    pub port_security_enabled: Option<bool>,
    /// DNS domain.
    pub dns_domain: Option<String>,
    /// MTU.
    pub mtu: Option<i64>,
    /// Provider attributes (updating them is refused).
    pub provider: Option<ProviderSpec>,
}

/// Neutron's `DefaultExternalNetworkExists`: setting `is_default` on a second external
/// network.
async fn check_default_external(conn: &mut Conn, id: &str) -> Result<()> {
    match networks::default_external(conn).await? {
        Some(other) if other != id => Err(Error::conflict(
            "DefaultExternalNetworkExists",
            format!("A default external network already exists: {other}."),
        )),
        _ => Ok(()),
    }
}

/// A write that met the one-default-external-network index: another transaction set a
/// default meanwhile; run again to answer [`check_default_external`]'s error.
fn default_race(e: neutrino_store::StoreError) -> Error {
    match e {
        neutrino_store::StoreError::Unique { message, .. } => {
            neutrino_store::StoreError::Retry(message).into()
        }
        e => e.into(),
    }
}

pub(crate) fn network_not_found(id: &str) -> Error {
    Error::not_found("NetworkNotFound", "Network", id)
}

/// Whether the caller may see a network: its own, or shared or made external for its
/// project or for every project (an RBAC entry).
pub fn visible(ctx: &RequestContext, n: &Network) -> bool {
    ctx.sees_all()
        || n.project_id == ctx.project_id
        || n.rbac
            .iter()
            .any(|g| g.target == "*" || g.target == ctx.project_id)
}

/// Whether the caller may see a network's subnets: those of every network it sees, external
/// ones included (Neutron with `subnet-external-network`, whose `get_subnet` rule lets
/// everyone read the subnets of external networks).
pub fn subnets_visible(ctx: &RequestContext, n: &Network) -> bool {
    visible(ctx, n)
}

/// `shared` as the caller sees it: an `access_as_shared` entry for its project or for every
/// project.
pub fn shared_for(ctx: &RequestContext, n: &Network) -> bool {
    n.rbac
        .iter()
        .any(|g| g.action == crate::rbac::SHARED && (g.target == "*" || g.target == ctx.project_id))
}

impl Plugin {
    /// Create networks, all or none.
    pub async fn create_networks(
        &self,
        ctx: &RequestContext,
        reqs: Vec<NetworkCreate>,
    ) -> Result<Vec<Network>> {
        for r in &reqs {
            for spec in r.segments.iter().flatten() {
                self.types().validate(spec)?;
            }
        }
        let plugin = self.clone();
        let ctx = ctx.clone();
        let created = crate::in_tx!(self.store(), |tx| {
            for (project, n) in crate::quotas::per_project(reqs.iter().map(|r| &r.project_id)) {
                plugin.check_quota(tx, project, "network", n).await?;
            }
            let mut out = Vec::with_capacity(reqs.len());
            let host = plugin.staged_host();
            for r in &reqs {
                let net = plugin.insert_network(tx, &ctx, r).await?;
                plugin
                    .network_create_hook(
                        Phase::Pre(&host, &mut *tx),
                        Hook::CreatePrecommit,
                        &net,
                        r.is_provider_network,
                    )
                    .await?;
                out.push(net);
            }
            host.flush(tx).await?;
            Ok::<_, Error>(out)
        })?;
        for (net, r) in created.iter().zip(&reqs) {
            if let Err(e) = self
                .network_create_hook(
                    Phase::Post,
                    Hook::CreatePostcommit,
                    net,
                    r.is_provider_network,
                )
                .await
            {
                let admin = RequestContext::admin(&ctx.project_id);
                for n in &created {
                    if let Err(undo) = self.delete_network(&admin, &n.id, None).await {
                        tracing::error!(network = %n.id, error = %undo, "could not delete a network after its create postcommit failed");
                    }
                }
                return Err(create_undone(e));
            }
        }
        Ok(created)
    }

    async fn insert_network(
        &self,
        conn: &mut Conn,
        _ctx: &RequestContext,
        r: &NetworkCreate,
    ) -> Result<Network> {
        self.validate_availability_zones(conn, "network", &r.availability_zone_hints)
            .await?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = neutrino_store::now();
        let mut net = Network {
            id: id.clone(),
            project_id: r.project_id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            admin_state_up: r.admin_state_up,
            status: "ACTIVE".into(),
            shared: r.shared,
            router_external: r.router_external,
            mtu: 0,
            port_security_enabled: r.port_security_enabled,
            availability_zone_hints: r.availability_zone_hints.clone(),
            dns_domain: r.dns_domain.clone(),
            created_at: now.clone(),
            updated_at: now.clone(),
            revision_number: 1,
            rbac: vec![],
            is_default: false,
            subnets: vec![],
            tags: vec![],
            segments: vec![],
            address_scopes: [None, None],
        };
        if r.router_external && r.is_default == Some(true) {
            check_default_external(conn, &id).await?;
            net.is_default = true;
        }
        networks::insert(conn, &net).await.map_err(default_race)?;
        let mut allocated = Vec::new();
        match &r.segments {
            Some(specs) => {
                for spec in specs {
                    allocated.push(self.types().reserve(conn, &id, spec).await?);
                }
            }
            None => allocated.push(self.types().allocate_tenant(conn, &id).await?),
        }
        let mut mtu = i64::MAX;
        for (index, (network_type, physical_network, segmentation_id)) in
            allocated.into_iter().enumerate()
        {
            mtu = mtu.min(self.types().mtu(&network_type, physical_network.as_deref()));
            let seg = Segment {
                id: uuid::Uuid::new_v4().to_string(),
                network_id: id.clone(),
                network_type,
                physical_network,
                segmentation_id,
                is_dynamic: false,
                segment_index: index as i64,
                name: String::new(),
                description: String::new(),
                created_at: now.clone(),
                updated_at: now.clone(),
                revision_number: 0,
            };
            networks::insert_segment(conn, &seg).await?;
            net.segments.push(seg);
        }
        if let Some(want) = r.mtu {
            if want > mtu {
                return Err(Error::invalid_input(format!(
                    "Requested MTU is too big, maximum is {mtu}"
                )));
            }
            mtu = want;
        }
        net.mtu = mtu;
        let expected = net.revision_number;
        networks::update(conn, &net, expected).await?;
        if r.shared {
            crate::rbac::grant(conn, &net, crate::rbac::SHARED).await?;
        }
        if r.router_external {
            crate::rbac::grant(conn, &net, crate::rbac::EXTERNAL).await?;
        }
        Ok(net)
    }

    /// One network, if the caller may see it.
    pub async fn get_network(&self, ctx: &RequestContext, id: &str) -> Result<Network> {
        let mut conn = self.read().await?;
        let mut net = networks::get(&mut conn, id)
            .await?
            .filter(|n| visible(ctx, n))
            .ok_or_else(|| network_not_found(id))?;
        net.shared = shared_for(ctx, &net);
        Ok(net)
    }

    /// Networks matching `q` that the caller may see.
    pub async fn list_networks(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<Network>> {
        if !ctx.sees_all() {
            q.conditions.push(networks::visible_to(&ctx.project_id));
        }
        let mut conn = self.read().await?;
        let mut nets = networks::list(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Network"))?;
        for n in &mut nets {
            n.shared = shared_for(ctx, n);
        }
        Ok(nets)
    }

    /// Update a network.
    pub async fn update_network(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: NetworkUpdate,
        if_match: Option<i64>,
    ) -> Result<Network> {
        if let Some(p) = &u.provider
            && *p != ProviderSpec::default()
        {
            return Err(Error::invalid_input(
                "Plugin does not support updating the following provider network \
                 attributes: provider:network_type, provider:physical_network, \
                 provider:segmentation_id",
            ));
        }
        let ctx = ctx.clone();
        let id = id.to_string();
        let plugin = self.clone();
        let (net, original) = crate::in_tx!(self.store(), |tx| {
            let current = networks::get(tx, &id)
                .await?
                .filter(|n| visible(&ctx, n))
                .ok_or_else(|| network_not_found(&id))?;
            check_revision(if_match, current.revision_number)?;
            let mut net = current.clone();
            if let Some(v) = &u.name {
                net.name = v.clone();
            }
            if let Some(v) = &u.description {
                net.description = v.clone();
            }
            if let Some(v) = u.admin_state_up {
                net.admin_state_up = v;
            }
            if let Some(v) = u.shared {
                if !v && current.shared {
                    plugin.check_unshare(tx, &current).await?;
                    crate::rbac::revoke_wildcard(tx, &current, crate::rbac::SHARED).await?;
                }
                if v && !current.shared {
                    crate::rbac::grant(tx, &current, crate::rbac::SHARED).await?;
                }
                net.shared = v;
            }
            if let Some(v) = u.router_external {
                if v && !current.router_external {
                    crate::rbac::grant(tx, &current, crate::rbac::EXTERNAL).await?;
                }
                if !v && current.router_external {
                    if neutrino_store::l3::gateways_on(tx, &id).await? {
                        return Err(Error::conflict(
                            "ExternalNetworkInUse",
                            format!(
                                "External network {id} cannot be updated to be made \
                                 non-external, since it has existing gateway ports."
                            ),
                        ));
                    }
                    crate::rbac::revoke_all(tx, &current, crate::rbac::EXTERNAL).await?;
                }
                net.router_external = v;
            }
            // Neutron keeps `is_default` with the network's external row: it goes when the
            // network stops being external.
            if !net.router_external {
                net.is_default = false;
            } else if let Some(v) = u.is_default {
                if v {
                    check_default_external(tx, &id).await?;
                }
                net.is_default = v;
            }
            if let Some(v) = u.port_security_enabled {
                net.port_security_enabled = v;
            }
            if let Some(v) = &u.dns_domain {
                net.dns_domain = v.clone();
            }
            if let Some(v) = u.mtu {
                let max = current
                    .segments
                    .iter()
                    .map(|s| {
                        plugin
                            .types()
                            .mtu(&s.network_type, s.physical_network.as_deref())
                    })
                    .min()
                    .unwrap_or(plugin.core().global_physnet_mtu);
                if v > max {
                    return Err(Error::invalid_input(format!(
                        "Requested MTU is too big, maximum is {max}"
                    )));
                }
                if v < crate::subnets::IPV6_MIN_MTU {
                    let versions = subnets::of_network(tx, &id)
                        .await?
                        .iter()
                        .map(|s| s.ip_version as u8)
                        .collect::<Vec<_>>();
                    crate::subnets::check_network_mtu(&id, v, versions)?;
                }
                net.mtu = v;
            }
            if net == current {
                return Ok((net, None));
            }
            net.revision_number += 1;
            net.updated_at = neutrino_store::now();
            if !networks::update(tx, &net, current.revision_number)
                .await
                .map_err(default_race)?
            {
                return Err(neutrino_store::StoreError::Retry("network changed".into()).into());
            }
            let host = plugin.staged_host();
            plugin
                .network_hook(
                    Phase::Pre(&host, &mut *tx),
                    Hook::UpdatePrecommit,
                    &net,
                    Some(&current),
                )
                .await?;
            host.flush(tx).await?;
            Ok((net, Some(current)))
        })?;
        if let Some(original) = &original {
            // Neutron keeps an update whose postcommit fails; the failure is logged.
            let _ = self
                .network_hook(Phase::Post, Hook::UpdatePostcommit, &net, Some(original))
                .await;
        }
        self.emit(crate::events::Event::NetworkUpdated(net.id.clone()));
        Ok(net)
    }

    async fn check_unshare(&self, conn: &mut Conn, net: &Network) -> Result<()> {
        // Projects with a share of their own keep their ports.
        let covered: Vec<&str> = net
            .rbac
            .iter()
            .filter(|g| g.action == crate::rbac::SHARED && g.target != "*")
            .map(|g| g.target.as_str())
            .collect();
        let foreign = ports::of_network(conn, &net.id)
            .await?
            .into_iter()
            .any(|p| {
                p.project_id != net.project_id
                    && !p.device_owner.starts_with("network:")
                    && !covered.contains(&p.project_id.as_str())
            });
        if foreign {
            return Err(Error::conflict(
                "InvalidSharedSetting",
                format!(
                    "Unable to reconfigure sharing settings for network {}. Multiple tenants are using it.",
                    net.id
                ),
            ));
        }
        Ok(())
    }

    /// Delete a network: refused while user ports remain; DHCP ports, subnets, segments and
    /// tags go with it.
    pub async fn delete_network(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let ctx = ctx.clone();
        let id = id.to_string();
        let plugin = self.clone();
        let deleted = crate::in_tx!(self.store(), |tx| {
            let net = networks::get(tx, &id)
                .await?
                .filter(|n| visible(&ctx, n))
                .ok_or_else(|| network_not_found(&id))?;
            check_revision(if_match, net.revision_number)?;
            plugin.drop_disassociated_fips(tx, &id).await?;
            let owners = ports::owners_on_network(tx, &id).await?;
            if owners
                .iter()
                .any(|(_, owner)| !AUTO_DELETE_PORT_OWNERS.contains(&owner.as_str()))
            {
                return Err(Error::conflict(
                    "NetworkInUse",
                    format!(
                        "Unable to complete operation on network {id}. There are one or more \
                             ports still in use on the network."
                    ),
                ));
            }
            for (port_id, _) in &owners {
                ports::delete(tx, port_id).await?;
            }
            for s in subnets::of_network(tx, &id).await? {
                subnets::delete(tx, &s.id).await?;
            }
            for seg in &net.segments {
                plugin.types().release(tx, seg).await?;
            }
            neutrino_store::segments::delete_of_network(tx, &id).await?;
            neutrino_store::rbac::delete_of_object(tx, "network", &id).await?;
            let host = plugin.staged_host();
            plugin
                .network_hook(
                    Phase::Pre(&host, &mut *tx),
                    Hook::DeletePrecommit,
                    &net,
                    None,
                )
                .await?;
            host.flush(tx).await?;
            networks::delete(tx, &id).await?;
            Ok::<_, Error>(net)
        })?;
        // Neutron: a delete postcommit failure does not undo the delete; it is logged.
        let _ = self
            .network_hook(Phase::Post, Hook::DeletePostcommit, &deleted, None)
            .await;
        self.emit(crate::events::Event::NetworkDeleted(deleted.id.clone()));
        Ok(())
    }
}

/// Turn "marker not found" into the resource's 404.
pub(crate) fn marker_error(e: neutrino_store::StoreError, what: &str) -> Error {
    match e {
        // The resource's own not-found (Neutron looks the marker up with `_get_<resource>`).
        neutrino_store::StoreError::NotFound(m) => {
            Error::not_found(not_found_kind(what), what, m.trim_start_matches("marker "))
        }
        other => other.into(),
    }
}

/// Neutron's not-found exception of a resource, by its display name.
fn not_found_kind(what: &str) -> &'static str {
    match what {
        "Network" => "NetworkNotFound",
        "Subnet" => "SubnetNotFound",
        "Port" => "PortNotFound",
        "Subnet pool" => "SubnetPoolNotFound",
        "Security group" => "SecurityGroupNotFound",
        "Security group rule" => "SecurityGroupRuleNotFound",
        "Address group" => "AddressGroupNotFound",
        "Flavor" => "FlavorNotFound",
        "Service profile" => "ServiceProfileNotFound",
        "Agent" => "AgentNotFound",
        "RBAC policy" => "RbacPolicyNotFound",
        "Default security group rule" => "DefaultSecurityGroupRuleNotFound",
        _ => "NotFound",
    }
}
