//! Routers: create, read, update, delete, and the gateway (`external_gateway_info`,
//! `ext-gw-mode`).

use std::net::IpAddr;

use neutrino_store::l3::{self as store, Router};
use neutrino_store::query::{Condition, ListQuery};
use neutrino_store::{StoreError, networks, revision, subnets};

use super::{GATEWAY, bad_router, router_not_found};
use crate::error::{Error, Result};
use crate::networks::{marker_error, network_not_found, visible};
use crate::ports::{FixedIpRequest, PortCreate, PortUpdate};
use crate::{Plugin, RequestContext, check_revision};

/// A requested gateway.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayInfo {
    /// External network.
    pub network_id: String,
    /// SNAT (default: `enable_snat_by_default`).
    pub enable_snat: Option<bool>,
    /// Requested addresses on the external network.
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
}

/// A validated create request.
#[derive(Debug, Clone, Default)]
pub struct RouterCreate {
    /// Owner.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Administrative state.
    pub admin_state_up: bool,
    /// Gateway.
    pub gateway: Option<GatewayInfo>,
    /// `distributed` (default `router_distributed`).
    pub distributed: Option<bool>,
    /// `ha` (default `l3_ha`).
    pub ha: Option<bool>,
    /// Availability zone hints.
    pub availability_zone_hints: Vec<String>,
    /// Flavor.
    pub flavor_id: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
}

/// A validated update (`None` keeps the value).
#[derive(Debug, Clone, Default)]
pub struct RouterUpdate {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Administrative state.
    pub admin_state_up: Option<bool>,
    /// Gateway: `Some(None)` clears it.
    pub gateway: Option<Option<GatewayInfo>>,
    /// The complete set of extra routes.
    pub routes: Option<Vec<store::Route>>,
    /// `distributed`.
    pub distributed: Option<bool>,
    /// `ha`.
    pub ha: Option<bool>,
}

/// Whether the caller may see a router (its project's, or any for admins).
pub(crate) fn router_visible(ctx: &RequestContext, r: &Router) -> bool {
    ctx.sees_all() || r.project_id == ctx.project_id
}

fn gateway_in_use_by_fip(router_id: &str, net_id: &str) -> Error {
    Error::conflict(
        "RouterExternalGatewayInUseByFloatingIp",
        format!(
            "Gateway cannot be updated for router {router_id}, since a gateway to external \
             network {net_id} is required by one or more floating IPs."
        ),
    )
}

impl Plugin {
    /// A router the caller can see, read on `conn`.
    pub(crate) async fn visible_router(
        &self,
        conn: &mut neutrino_store::Conn,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Router> {
        store::get_router(conn, id)
            .await?
            .filter(|r| router_visible(ctx, r))
            .ok_or_else(|| router_not_found(id))
    }

    /// Create routers (each with its gateway, if asked), all or none.
    pub async fn create_routers(
        &self,
        ctx: &RequestContext,
        reqs: Vec<RouterCreate>,
    ) -> Result<Vec<Router>> {
        let l3 = self.core().l3.clone();
        for r in &reqs {
            if let Some(f) = &r.flavor_id {
                self.check_l3_flavor(ctx, f).await?;
                self.check_flavor_flags(ctx, f, r).await?;
            }
        }
        let now = neutrino_store::now();
        let routers: Vec<Router> = reqs
            .iter()
            .map(|r| Router {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: r.project_id.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                admin_state_up: r.admin_state_up,
                status: "ACTIVE".into(),
                gw_port_id: None,
                gw_network_id: None,
                enable_snat: l3.enable_snat_by_default,
                distributed: r.distributed.unwrap_or(l3.router_distributed),
                ha: r.ha.unwrap_or(l3.l3_ha),
                availability_zone_hints: r.availability_zone_hints.clone(),
                flavor_id: r.flavor_id.clone(),
                created_at: now.clone(),
                updated_at: now.clone(),
                revision_number: 0,
                gw_fixed_ips: vec![],
                routes: vec![],
                tags: r.tags.clone(),
            })
            .collect();
        let plugin = self.clone();
        crate::in_tx!(self.store(), |tx| {
            for (project, n) in crate::quotas::per_project(routers.iter().map(|r| &r.project_id)) {
                plugin.check_quota(tx, project, "router", n).await?;
            }
            for r in &routers {
                store::insert_router(tx, r).await.map_err(|e| match e {
                    // Its flavor was deleted since it was checked.
                    StoreError::ForeignKey(_) => {
                        crate::flavors::flavor_not_found(r.flavor_id.as_deref().unwrap_or_default())
                    }
                    other => other.into(),
                })?;
                for t in &r.tags {
                    neutrino_store::tags::add(tx, "routers", &r.id, t).await?;
                }
            }
            Ok::<_, Error>(())
        })?;
        let mut out = Vec::with_capacity(routers.len());
        for (r, req) in routers.iter().zip(&reqs) {
            if let Some(gw) = &req.gateway
                && let Err(e) = self.set_gateway(ctx, &r.id, Some(gw.clone())).await
            {
                // Neutron deletes the routers of a request whose gateway failed.
                let admin = RequestContext::admin(&r.project_id);
                for r in &routers {
                    if let Err(undo) = self.delete_router(&admin, &r.id, None).await {
                        tracing::error!(router = %r.id, error = %undo, "could not delete a router after its gateway failed");
                    }
                }
                return Err(e);
            }
            let admin = RequestContext::admin(&r.project_id);
            out.push(self.get_router(&admin, &r.id).await?);
        }
        Ok(out)
    }

    /// Show a router.
    pub async fn get_router(&self, ctx: &RequestContext, id: &str) -> Result<Router> {
        let mut conn = self.read().await?;
        self.visible_router(&mut conn, ctx, id).await
    }

    /// List the routers the caller can see.
    pub async fn list_routers(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<Router>> {
        if !ctx.sees_all() {
            q.conditions
                .push(Condition::eq("project_id", ctx.project_id.clone()));
        }
        let mut conn = self.read().await?;
        store::list_routers(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Router"))
    }

    /// Update a router: the gateway first (as Neutron), then the rest.
    pub async fn update_router(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: RouterUpdate,
        if_match: Option<i64>,
    ) -> Result<Router> {
        let current = self.get_router(ctx, id).await?;
        check_revision(if_match, current.revision_number)?;
        self.check_ha_dvr_change(&current, &u)?;
        if let Some(gw) = &u.gateway {
            let wanted = gw.as_ref().map(|g| GatewayInfo {
                enable_snat: g.enable_snat,
                ..g.clone()
            });
            self.set_gateway(ctx, id, wanted).await?;
        }
        let plugin = self.clone();
        let (ctx, id) = (ctx.clone(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let current = plugin.visible_router(tx, &ctx, &id).await?;
            let mut r = current.clone();
            if let Some(v) = &u.name {
                r.name = v.clone();
            }
            if let Some(v) = &u.description {
                r.description = v.clone();
            }
            if let Some(v) = u.admin_state_up {
                r.admin_state_up = v;
            }
            if let Some(v) = u.distributed {
                r.distributed = v;
            }
            if let Some(v) = u.ha {
                r.ha = v;
            }
            if let Some(routes) = &u.routes {
                let mut routes = routes.clone();
                routes.sort();
                routes.dedup();
                plugin.check_routes(tx, &current, &routes).await?;
                if routes != current.routes {
                    store::set_routes(tx, &id, &routes).await?;
                    r.routes = routes;
                }
            }
            if r == current {
                return Ok(r);
            }
            r.revision_number += 1;
            r.updated_at = neutrino_store::now();
            if !store::update_router(tx, &r, current.revision_number).await? {
                return Err(StoreError::Retry("router changed".into()).into());
            }
            Ok::<_, Error>(r)
        })
    }

    /// Neutron's rules for `distributed` and `ha` changes (`router-admin-state-down-before-update`).
    fn check_ha_dvr_change(&self, current: &Router, u: &RouterUpdate) -> Result<()> {
        let down = !u.admin_state_up.unwrap_or(current.admin_state_up);
        // Either way, with the router down before and after the update (Neutron's
        // `_validate_router_migration` with `router-admin-state-down-before-update`).
        if let Some(d) = u.distributed
            && d != current.distributed
            && (current.admin_state_up || !down)
        {
            return Err(bad_router(
                "Cannot change the 'distributed' attribute of active routers. Please set \
                 router admin_state_up to False prior to upgrade",
            ));
        }
        if let Some(h) = u.ha
            && h != current.ha
            && !down
        {
            return Err(bad_router(
                "Cannot change HA attribute of active routers. Please set router admin_state_up \
                 to False prior to upgrade",
            ));
        }
        Ok(())
    }

    /// Delete a router without interfaces; its gateway port goes with it.
    pub async fn delete_router(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let plugin = self.clone();
        let (ctx2, id2) = (ctx.clone(), id.to_string());
        let gw_port = crate::in_tx!(self.store(), |tx| {
            let now = neutrino_store::now();
            // Take the router's row first: interface changes wait for this delete.
            revision::touch(tx, "routers", &id2, &now).await?;
            let r = plugin.visible_router(tx, &ctx2, &id2).await?;
            check_revision(if_match, r.revision_number - 1)?;
            let attached: Vec<String> = store::router_ports(tx, &id2)
                .await?
                .into_iter()
                .filter(|(_, t)| t != GATEWAY)
                .map(|(p, _)| p)
                .collect();
            if !attached.is_empty() {
                return Err(Error::conflict(
                    "RouterInUse",
                    format!(
                        "Router {id2} has ports still attached: {}",
                        attached.join(", ")
                    ),
                ));
            }
            if !store::fips_of_router(tx, &id2).await?.is_empty() {
                return Err(Error::conflict(
                    "RouterInUse",
                    format!("Router {id2} still has floating IPs associated"),
                ));
            }
            store::delete_router(tx, &id2).await?;
            Ok::<_, Error>(r.gw_port_id)
        })?;
        if let Some(p) = gw_port {
            let admin = RequestContext::admin(&ctx.project_id);
            self.delete_port(&admin, &p, None).await?;
        }
        Ok(())
    }

    /// Set, change or clear (`None`) a router's gateway.
    pub async fn set_gateway(
        &self,
        ctx: &RequestContext,
        router_id: &str,
        info: Option<GatewayInfo>,
    ) -> Result<()> {
        let current = self.get_router(ctx, router_id).await?;
        let admin = RequestContext::admin(&current.project_id);
        let Some(info) = info else {
            let Some(net) = &current.gw_network_id else {
                return Ok(());
            };
            return self.replace_gateway(&current, None, net).await;
        };
        let mut conn = self.read().await?;
        let net = networks::get(&mut conn, &info.network_id)
            .await?
            .filter(|n| visible(ctx, n))
            .ok_or_else(|| network_not_found(&info.network_id))?;
        if !net.router_external {
            return Err(bad_router(format!(
                "Network {} is not an external network",
                net.id
            )));
        }
        let ext_subnets = subnets::of_network(&mut conn, &net.id).await?;
        if let Some(ips) = &info.external_fixed_ips {
            for f in ips {
                let Some(ip) = f.ip_address else { continue };
                let is_gateway = ext_subnets.iter().any(|s| {
                    s.gateway_ip
                        .as_deref()
                        .and_then(|g| g.parse::<IpAddr>().ok())
                        == Some(ip)
                        && f.subnet_id.as_ref().is_none_or(|sid| *sid == s.id)
                });
                if is_gateway {
                    return Err(bad_router(format!(
                        "External IP {ip} is the same as the gateway IP"
                    )));
                }
            }
        }
        drop(conn);
        let snat = info
            .enable_snat
            .unwrap_or(self.core().l3.enable_snat_by_default);
        if current.gw_network_id.as_deref() == Some(net.id.as_str()) {
            // Same network: the port is updated in place.
            if let (Some(ips), Some(port_id)) = (&info.external_fixed_ips, &current.gw_port_id) {
                let held: Vec<FixedIpRequest> = current
                    .gw_fixed_ips
                    .iter()
                    .map(|f| FixedIpRequest {
                        subnet_id: Some(f.subnet_id.clone()),
                        ip_address: f.ip_address.parse().ok(),
                    })
                    .collect();
                let same = ips.len() == held.len()
                    && ips.iter().all(|want| {
                        held.iter().any(|h| {
                            want.ip_address.is_none_or(|ip| h.ip_address == Some(ip))
                                && want
                                    .subnet_id
                                    .as_ref()
                                    .is_none_or(|s| h.subnet_id.as_ref() == Some(s))
                        })
                    });
                if !same {
                    let u = PortUpdate {
                        fixed_ips: Some(ips.clone()),
                        ..PortUpdate::default()
                    };
                    self.update_port(&admin, port_id, u, None).await?;
                }
            }
            return self
                .write_router_gateway(&current.id, |r| {
                    r.enable_snat = snat;
                })
                .await;
        }
        if let Some(old_net) = &current.gw_network_id {
            let mut conn = self.read().await?;
            if !store::fips_of_router(&mut conn, &current.id)
                .await?
                .is_empty()
            {
                return Err(gateway_in_use_by_fip(&current.id, old_net));
            }
        }
        self.check_new_gateway_subnets(&current, &ext_subnets)
            .await?;
        let port = self
            .create_ports(
                &admin,
                vec![PortCreate {
                    project_id: String::new(),
                    network_id: net.id.clone(),
                    admin_state_up: true,
                    fixed_ips: info.external_fixed_ips.clone(),
                    device_id: current.id.clone(),
                    device_owner: GATEWAY.into(),
                    security_groups: Some(vec![]),
                    ..PortCreate::default()
                }],
            )
            .await?
            .pop()
            .ok_or_else(|| Error::Store(StoreError::Retry("no port".into())))?;
        if port.fixed_ips.is_empty() {
            // Neutron only logs it: a gateway on an external network without subnets.
            tracing::debug!(network = %net.id, "no IPs available for external network");
        }
        let (rid, pid, nid) = (current.id.clone(), port.id.clone(), net.id.clone());
        let attached = crate::in_tx!(self.store(), |tx| {
            let now = neutrino_store::now();
            if !revision::touch(tx, "routers", &rid, &now).await? {
                return Err(router_not_found(&rid));
            }
            let r = store::get_router(tx, &rid)
                .await?
                .ok_or_else(|| router_not_found(&rid))?;
            if r.gw_port_id.is_some() && !store::fips_of_router(tx, &rid).await?.is_empty() {
                return Err(gateway_in_use_by_fip(
                    &rid,
                    r.gw_network_id.as_deref().unwrap_or_default(),
                ));
            }
            if let Some(old) = &r.gw_port_id {
                store::remove_router_port(tx, old).await?;
            }
            store::add_router_port(tx, &rid, &pid, GATEWAY).await?;
            let mut next = r.clone();
            next.gw_port_id = Some(pid.clone());
            next.gw_network_id = Some(nid.clone());
            next.enable_snat = snat;
            if !store::update_router(tx, &next, r.revision_number).await? {
                return Err(StoreError::Retry("router changed".into()).into());
            }
            Ok::<_, Error>(r.gw_port_id)
        });
        match attached {
            Ok(old) => {
                if let Some(old) = old {
                    self.delete_port(&admin, &old, None).await?;
                }
                Ok(())
            }
            Err(e) => {
                if let Err(undo) = self.delete_port(&admin, &port.id, None).await {
                    tracing::error!(port = %port.id, error = %undo, "could not delete a gateway port after its router refused it");
                }
                Err(e)
            }
        }
    }

    /// Clear the gateway of `current` (on `net`).
    async fn replace_gateway(
        &self,
        current: &Router,
        _new: Option<GatewayInfo>,
        net: &str,
    ) -> Result<()> {
        let rid = current.id.clone();
        let net = net.to_string();
        let old = crate::in_tx!(self.store(), |tx| {
            let now = neutrino_store::now();
            if !revision::touch(tx, "routers", &rid, &now).await? {
                return Err(router_not_found(&rid));
            }
            if !store::fips_of_router(tx, &rid).await?.is_empty() {
                return Err(gateway_in_use_by_fip(&rid, &net));
            }
            let r = store::get_router(tx, &rid)
                .await?
                .ok_or_else(|| router_not_found(&rid))?;
            let mut next = r.clone();
            next.gw_port_id = None;
            next.gw_network_id = None;
            next.enable_snat = self.core().l3.enable_snat_by_default;
            if let Some(p) = &r.gw_port_id {
                store::remove_router_port(tx, p).await?;
            }
            if !store::update_router(tx, &next, r.revision_number).await? {
                return Err(StoreError::Retry("router changed".into()).into());
            }
            Ok::<_, Error>(r.gw_port_id)
        })?;
        if let Some(p) = old {
            let admin = RequestContext::admin(&current.project_id);
            self.delete_port(&admin, &p, None).await?;
        }
        Ok(())
    }

    /// Change a router's own columns under its row lock, bumping its revision.
    async fn write_router_gateway(&self, id: &str, change: impl Fn(&mut Router)) -> Result<()> {
        let id = id.to_string();
        crate::in_tx!(self.store(), |tx| {
            let r = store::get_router(tx, &id)
                .await?
                .ok_or_else(|| router_not_found(&id))?;
            let mut next = r.clone();
            change(&mut next);
            next.revision_number += 1;
            next.updated_at = neutrino_store::now();
            if !store::update_router(tx, &next, r.revision_number).await? {
                return Err(StoreError::Retry("router changed".into()).into());
            }
            Ok::<_, Error>(())
        })
    }

    /// A gateway's subnets must not overlap the router's interfaces.
    async fn check_new_gateway_subnets(
        &self,
        current: &Router,
        ext: &[neutrino_store::model::Subnet],
    ) -> Result<()> {
        let mut conn = self.read().await?;
        let held = store::router_addresses(&mut conn, &current.id).await?;
        for a in held.iter().filter(|a| a.port_type != GATEWAY) {
            for s in ext {
                if a.subnet_id == s.id {
                    return Err(bad_router(format!(
                        "Router already has a port on subnet {}",
                        s.id
                    )));
                }
                if super::interfaces::overlaps(&a.cidr, &s.cidr) {
                    return Err(bad_router(format!(
                        "Cidr {} of subnet {} overlaps with cidr {} of subnet {}",
                        s.cidr, s.id, a.cidr, a.subnet_id
                    )));
                }
            }
        }
        Ok(())
    }

    /// Neutron's `_ensure_driver_supports_request`: `distributed` and `ha`, when given with a
    /// flavor, must suit the provider the flavor leads to (400 `InvalidInput`).
    async fn check_flavor_flags(
        &self,
        ctx: &RequestContext,
        flavor_id: &str,
        r: &RouterCreate,
    ) -> Result<()> {
        if r.distributed.is_none() && r.ha.is_none() {
            return Ok(());
        }
        let admin = RequestContext::admin(&ctx.project_id);
        let Ok((driver, name)) = self.flavor_next_provider(&admin, flavor_id).await else {
            return Ok(());
        };
        for (key, ha, flag) in [("distributed", false, r.distributed), ("ha", true, r.ha)] {
            let Some(flag) = flag else { continue };
            if crate::flavors::l3_driver_accepts(&driver, ha, flag) == Some(false) {
                let py = if flag { "True" } else { "False" };
                return Err(Error::invalid_input(format!(
                    "Provider {name} does not support {key}={py}"
                )));
            }
        }
        Ok(())
    }

    /// `flavor_id` must name an enabled L3 flavor.
    async fn check_l3_flavor(&self, ctx: &RequestContext, flavor_id: &str) -> Result<()> {
        let admin = RequestContext::admin(&ctx.project_id);
        let f = self.get_flavor(&admin, flavor_id).await?;
        if f.service_type != "L3_ROUTER_NAT" {
            return Err(Error::neutron(
                "InvalidFlavorServiceType",
                404,
                format!("Service type {} does not exist.", f.service_type),
            ));
        }
        if !f.enabled {
            return Err(Error::neutron(
                "FlavorDisabled",
                400,
                "Flavor is not enabled.",
            ));
        }
        Ok(())
    }
}
