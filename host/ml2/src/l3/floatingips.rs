//! Floating IPs: an address on an external network (held by the floating IP's own port,
//! `network:floatingip`) and its association with a fixed IP of a port behind a router
//! whose gateway is on that network.

use std::net::IpAddr;

use neutrino_store::l3::{self as store, FloatingIp};
use neutrino_store::model::Port;
use neutrino_store::query::{Condition, ListQuery};
use neutrino_store::{Conn, StoreError, UniqueKind, networks, ports, subnets};

use super::{FLOATINGIP, bad, fip_not_found};
use crate::error::{Error, Result};
use crate::networks::{marker_error, network_not_found, visible};
use crate::ports::{FixedIpRequest, PortCreate, port_not_found};
use crate::{Plugin, RequestContext, check_revision};

/// A validated create request.
#[derive(Debug, Clone, Default)]
pub struct FipCreate {
    /// Owner.
    pub project_id: String,
    /// External network.
    pub floating_network_id: String,
    /// Requested address.
    pub floating_ip_address: Option<IpAddr>,
    /// Requested subnet.
    pub subnet_id: Option<String>,
    /// Port to associate.
    pub port_id: Option<String>,
    /// Fixed IP of that port.
    pub fixed_ip_address: Option<IpAddr>,
    /// The router to host it (`floating-ip-router-writable`), instead of the one found.
    pub router_id: Option<String>,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// A requested association: port and, optionally, which of its addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct Association {
    /// The port.
    pub port_id: String,
    /// Its fixed IP.
    pub fixed_ip_address: Option<IpAddr>,
}

/// A validated update.
#[derive(Debug, Clone, Default)]
pub struct FipUpdate {
    /// Description.
    pub description: Option<String>,
    /// `Some(None)`: disassociate; `Some(Some(a))`: associate with `a`.
    pub association: Option<Option<Association>>,
    /// `router_id` (`floating-ip-router-writable`): `Some(Some(r))` names the hosting router,
    /// `Some(None)` asks for the one found as without the extension.
    pub router_id: Option<Option<String>>,
}

fn bad_fip(msg: impl std::fmt::Display) -> Error {
    bad("floatingip", msg)
}

/// A named router without a gateway on the floating IP's external network (409).
fn router_not_on_network(router_id: &str, net_id: &str) -> Error {
    Error::conflict(
        "FloatingIPRouterGatewayNotFound",
        format!(
            "Router {router_id} has no external gateway on network {net_id}, so it cannot host \
             a floating IP of that network."
        ),
    )
}

/// `router_id` named where there is no association to host.
fn router_without_port() -> Error {
    bad_fip("router_id cannot be specified without a port_id")
}

/// What an association resolves to: port, fixed IP and router.
struct Resolved {
    port_id: String,
    fixed_ip: String,
    router_id: String,
}

fn already_associated(f: &FloatingIp, r: &Resolved) -> Error {
    Error::conflict(
        "FloatingIPPortAlreadyAssociated",
        format!(
            "Cannot associate floating IP {} ({}) with port {} using fixed IP {}, as that fixed \
             IP already has a floating IP on external network {}.",
            f.floating_ip_address, f.id, r.port_id, r.fixed_ip, f.floating_network_id
        ),
    )
}

/// Unique-key collisions on the association are Neutron's `FloatingIPPortAlreadyAssociated`.
fn association_collision(e: Error, f: &FloatingIp, r: Option<&Resolved>) -> Error {
    match (e, r) {
        (
            Error::Store(StoreError::Unique {
                kind: UniqueKind::Other,
                ..
            }),
            Some(r),
        ) => already_associated(f, r),
        (e, _) => e,
    }
}

impl Plugin {
    /// Neutron's `_check_and_get_fip_assoc` and `get_router_for_floatingip`; with `router`
    /// (`floating-ip-router-writable`), that router hosts the floating IP if the caller sees
    /// it and its gateway is on the floating IP's network, whatever subnets it is on.
    async fn resolve_association(
        &self,
        conn: &mut Conn,
        ctx: &RequestContext,
        fip: &FloatingIp,
        a: &Association,
        router: Option<&str>,
    ) -> Result<Resolved> {
        // Seen as `GET /ports` sees it: the caller's own, or on a network it owns.
        let port: Port = ports::get(conn, &a.port_id)
            .await?
            .ok_or_else(|| port_not_found(&a.port_id))?;
        if !self.port_visible(conn, ctx, &port).await? {
            return Err(port_not_found(&a.port_id));
        }
        if !ctx.sees_all() && port.project_id != fip.project_id {
            return Err(bad_fip(format!(
                "Cannot process floating IP association with Port {}, since that port is owned \
                 by a different project",
                port.id
            )));
        }
        if port.device_owner == "network:dhcp" || port.device_owner.starts_with("network:router") {
            return Err(bad_fip(format!(
                "Port {} is unable to be assigned a floating IP",
                port.id
            )));
        }
        let v4: Vec<&neutrino_store::model::FixedIp> = port
            .fixed_ips
            .iter()
            .filter(|f| f.ip_address.parse::<IpAddr>().is_ok_and(|i| i.is_ipv4()))
            .collect();
        let fixed = match a.fixed_ip_address {
            Some(ip) => {
                if !ip.is_ipv4() {
                    return Err(bad_fip(format!(
                        "Cannot process floating IP association with {ip}, since that is not an \
                         IPv4 address"
                    )));
                }
                port.fixed_ips
                    .iter()
                    .find(|f| f.ip_address.parse::<IpAddr>().ok() == Some(ip))
                    .ok_or_else(|| {
                        bad_fip(format!("Port {} does not have fixed ip {ip}", port.id))
                    })?
            }
            None => match v4.as_slice() {
                [] => {
                    return Err(bad_fip(format!(
                        "Cannot add floating IP to port {} that has no fixed IPv4 addresses",
                        port.id
                    )));
                }
                [one] => *one,
                _ => {
                    return Err(bad_fip(format!(
                        "Port {} has multiple fixed IPv4 addresses.  Must provide a specific \
                         IPv4 address when assigning a floating IP",
                        port.id
                    )));
                }
            },
        };
        let router_id = match router {
            Some(r) => {
                let r = self.visible_router(conn, ctx, r).await?;
                if r.gw_network_id.as_deref() != Some(fip.floating_network_id.as_str()) {
                    return Err(router_not_on_network(&r.id, &fip.floating_network_id));
                }
                r.id
            }
            None => self.router_for_fip(conn, fip, &port, fixed).await?,
        };
        let resolved = Resolved {
            port_id: port.id.clone(),
            fixed_ip: fixed.ip_address.clone(),
            router_id,
        };
        let taken = store::fips_of_port(conn, &port.id)
            .await?
            .into_iter()
            .any(|o| {
                o.id != fip.id
                    && o.floating_network_id == fip.floating_network_id
                    && o.fixed_ip_address.as_deref() == Some(resolved.fixed_ip.as_str())
            });
        if taken {
            return Err(already_associated(fip, &resolved));
        }
        Ok(resolved)
    }

    /// Neutron's `get_router_for_floatingip`: a router with an interface on the fixed IP's
    /// subnet and its gateway on the floating IP's network, the one holding the subnet's
    /// gateway address first.
    async fn router_for_fip(
        &self,
        conn: &mut Conn,
        fip: &FloatingIp,
        port: &Port,
        fixed: &neutrino_store::model::FixedIp,
    ) -> Result<String> {
        let candidates =
            store::routers_for_subnet(conn, &fixed.subnet_id, &fip.floating_network_id).await?;
        if candidates.is_empty() {
            return Err(Error::neutron(
                "ExternalGatewayForFloatingIPNotFound",
                404,
                format!(
                    "External network {} is not reachable from subnet {}.  Therefore, cannot \
                     associate Port {} with a Floating IP.",
                    fip.floating_network_id, fixed.subnet_id, port.id
                ),
            ));
        }
        let gateway = subnets::get(conn, &fixed.subnet_id)
            .await?
            .and_then(|s| s.gateway_ip);
        Ok(candidates
            .iter()
            .find(|(_, ip)| Some(ip) == gateway.as_ref())
            .unwrap_or(&candidates[0])
            .0
            .clone())
    }

    /// Create floating IPs, each with its own port on the external network.
    pub async fn create_floatingips(
        &self,
        ctx: &RequestContext,
        reqs: Vec<FipCreate>,
    ) -> Result<Vec<FloatingIp>> {
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            match self.create_floatingip(ctx, r).await {
                Ok(f) => out.push(f),
                Err(e) => {
                    for f in &out {
                        let _ = self.delete_floatingip(ctx, &f.id, None).await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    async fn create_floatingip(&self, ctx: &RequestContext, r: FipCreate) -> Result<FloatingIp> {
        if r.fixed_ip_address.is_some() && r.port_id.is_none() {
            return Err(bad_fip(
                "fixed_ip_address cannot be specified without a port_id",
            ));
        }
        if r.router_id.is_some() && r.port_id.is_none() {
            return Err(router_without_port());
        }
        let mut conn = self.read().await?;
        let net = networks::get(&mut conn, &r.floating_network_id)
            .await?
            .filter(|n| visible(ctx, n))
            .ok_or_else(|| network_not_found(&r.floating_network_id))?;
        if !net.router_external {
            return Err(bad_fip(format!(
                "Network {} is not a valid external network",
                net.id
            )));
        }
        let subnets = subnets::of_network(&mut conn, &net.id).await?;
        if !subnets.iter().any(|s| s.ip_version == 4) {
            return Err(bad_fip(format!(
                "Network {} does not contain any IPv4 subnet",
                net.id
            )));
        }
        let now = neutrino_store::now();
        let mut fip = FloatingIp {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: r.project_id.clone(),
            description: r.description.clone(),
            floating_ip_address: String::new(),
            floating_network_id: net.id.clone(),
            floating_port_id: String::new(),
            fixed_port_id: None,
            fixed_ip_address: None,
            router_id: None,
            status: "DOWN".into(),
            created_at: now.clone(),
            updated_at: now,
            revision_number: 0,
            tags: r.tags.clone(),
            port_details: None,
        };
        let assoc = r.port_id.as_ref().map(|p| Association {
            port_id: p.clone(),
            fixed_ip_address: r.fixed_ip_address,
        });
        if let Some(a) = &assoc {
            self.resolve_association(&mut conn, ctx, &fip, a, r.router_id.as_deref())
                .await?;
        }
        drop(conn);
        let fixed_ips = (r.subnet_id.is_some() || r.floating_ip_address.is_some()).then(|| {
            vec![FixedIpRequest {
                subnet_id: r.subnet_id.clone(),
                ip_address: r.floating_ip_address,
            }]
        });
        let admin = RequestContext::admin(&r.project_id);
        let port = self
            .create_ports(
                &admin,
                vec![PortCreate {
                    project_id: String::new(),
                    network_id: net.id.clone(),
                    admin_state_up: true,
                    fixed_ips,
                    device_id: fip.id.clone(),
                    device_owner: FLOATINGIP.into(),
                    security_groups: Some(vec![]),
                    ..PortCreate::default()
                }],
            )
            .await?
            .pop()
            .ok_or_else(|| port_not_found(""))?;
        let v4 = port
            .fixed_ips
            .iter()
            .find(|f| f.ip_address.parse::<IpAddr>().is_ok_and(|i| i.is_ipv4()));
        let Some(v4) = v4 else {
            let _ = self.delete_port(&admin, &port.id, None).await;
            return Err(bad_fip(format!(
                "Unable to find any IP address on external network {}",
                net.id
            )));
        };
        fip.floating_ip_address = v4.ip_address.clone();
        fip.floating_port_id = port.id.clone();
        let plugin = self.clone();
        let ctx2 = ctx.clone();
        let written = crate::in_tx!(self.store(), |tx| {
            let mut f = fip.clone();
            let resolved = match &assoc {
                Some(a) => Some(
                    plugin
                        .resolve_association(tx, &ctx2, &f, a, r.router_id.as_deref())
                        .await?,
                ),
                None => None,
            };
            if let Some(res) = &resolved {
                f.fixed_port_id = Some(res.port_id.clone());
                f.fixed_ip_address = Some(res.fixed_ip.clone());
                f.router_id = Some(res.router_id.clone());
            }
            plugin
                .check_quota(tx, &f.project_id, "floatingip", 1)
                .await?;
            store::insert_fip(tx, &f)
                .await
                .map_err(|e| association_collision(e.into(), &f, resolved.as_ref()))?;
            for t in &f.tags {
                neutrino_store::tags::add(tx, "floatingips", &f.id, t).await?;
            }
            Ok::<_, Error>(f)
        });
        match written {
            Ok(f) => self.get_floatingip(&admin, &f.id).await,
            Err(e) => {
                if let Err(undo) = self.delete_port(&admin, &port.id, None).await {
                    tracing::error!(port = %port.id, error = %undo, "could not delete the port of a floating IP that failed");
                }
                Err(e)
            }
        }
    }

    /// Show a floating IP.
    pub async fn get_floatingip(&self, ctx: &RequestContext, id: &str) -> Result<FloatingIp> {
        let mut conn = self.read().await?;
        store::get_fip(&mut conn, id)
            .await?
            .filter(|f| ctx.sees_all() || f.project_id == ctx.project_id)
            .ok_or_else(|| fip_not_found(id))
    }

    /// List the floating IPs the caller can see.
    pub async fn list_floatingips(
        &self,
        ctx: &RequestContext,
        mut q: ListQuery,
    ) -> Result<Vec<FloatingIp>> {
        if !ctx.sees_all() {
            q.conditions
                .push(Condition::eq("project_id", ctx.project_id.clone()));
        }
        let mut conn = self.read().await?;
        store::list_fips(&mut conn, &q)
            .await
            .map_err(|e| marker_error(e, "Floating IP"))
    }

    /// Describe, associate, move or disassociate a floating IP.
    pub async fn update_floatingip(
        &self,
        ctx: &RequestContext,
        id: &str,
        u: FipUpdate,
        if_match: Option<i64>,
    ) -> Result<FloatingIp> {
        let plugin = self.clone();
        let (ctx2, id2) = (ctx.clone(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let current = store::get_fip(tx, &id2)
                .await?
                .filter(|f| ctx2.sees_all() || f.project_id == ctx2.project_id)
                .ok_or_else(|| fip_not_found(&id2))?;
            check_revision(if_match, current.revision_number)?;
            let mut f = current.clone();
            if let Some(d) = &u.description {
                f.description = d.clone();
            }
            let mut resolved = None;
            // A new router for the current association is a re-association with it.
            let kept = match (&u.association, &u.router_id, &current.fixed_port_id) {
                (None, Some(_), Some(port)) => Some(Some(Association {
                    port_id: port.clone(),
                    fixed_ip_address: current
                        .fixed_ip_address
                        .as_deref()
                        .and_then(|i| i.parse().ok()),
                })),
                (None, Some(Some(_)), None) | (Some(None), Some(Some(_)), _) => {
                    return Err(router_without_port());
                }
                _ => None,
            };
            let router = u.router_id.clone().flatten();
            match kept.as_ref().or(u.association.as_ref()) {
                None => {}
                Some(None) => {
                    f.fixed_port_id = None;
                    f.fixed_ip_address = None;
                    f.router_id = None;
                }
                Some(Some(a)) => {
                    let res = plugin
                        .resolve_association(tx, &ctx2, &current, a, router.as_deref())
                        .await?;
                    f.fixed_port_id = Some(res.port_id.clone());
                    f.fixed_ip_address = Some(res.fixed_ip.clone());
                    f.router_id = Some(res.router_id.clone());
                    resolved = Some(res);
                }
            }
            let mut cmp = f.clone();
            cmp.port_details = current.port_details.clone();
            if cmp == current {
                return Ok(());
            }
            f.revision_number += 1;
            f.updated_at = neutrino_store::now();
            let done = store::update_fip(tx, &f, current.revision_number)
                .await
                .map_err(|e| association_collision(e.into(), &f, resolved.as_ref()))?;
            if !done {
                return Err(StoreError::Retry("floating IP changed".into()).into());
            }
            Ok::<_, Error>(())
        })?;
        self.get_floatingip(ctx, id).await
    }

    /// Delete a floating IP and its port.
    pub async fn delete_floatingip(
        &self,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<()> {
        let (ctx2, id2) = (ctx.clone(), id.to_string());
        let port = crate::in_tx!(self.store(), |tx| {
            let f = store::get_fip(tx, &id2)
                .await?
                .filter(|f| ctx2.sees_all() || f.project_id == ctx2.project_id)
                .ok_or_else(|| fip_not_found(&id2))?;
            check_revision(if_match, f.revision_number)?;
            store::delete_fip(tx, &id2).await?;
            Ok::<_, Error>(f.floating_port_id)
        })?;
        let admin = RequestContext::admin(&ctx.project_id);
        match self.delete_port(&admin, &port, None).await {
            Ok(())
            | Err(Error::Neutron {
                kind: "PortNotFound",
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Neutron's `prevent_internal_ip_change_for_fip`: new `fixed_ips` of a port with a
    /// floating IP must keep the associated address.
    pub async fn prevent_internal_ip_change_for_fip(
        &self,
        port_id: &str,
        new: &[FixedIpRequest],
    ) -> Result<()> {
        let mut conn = self.read().await?;
        let fips = store::fips_of_port(&mut conn, port_id).await?;
        let Some(internal) = fips.first().and_then(|f| f.fixed_ip_address.clone()) else {
            return Ok(());
        };
        if new
            .iter()
            .any(|f| f.ip_address.map(|i| i.to_string()).as_deref() == Some(internal.as_str()))
        {
            return Ok(());
        }
        Err(bad(
            "port",
            format!(
                "Cannot update the fixed_ips of the port {port_id}, because its original \
                 fixed_ip has been associated to a floating ip"
            ),
        ))
    }

    /// Inside a network delete: the network's floating IPs that no port uses go, with their
    /// ports (Neutron's `delete_disassociated_floatingips`).
    pub(crate) async fn drop_disassociated_fips(
        &self,
        conn: &mut Conn,
        network_id: &str,
    ) -> Result<()> {
        for f in store::disassociated_on_network(conn, network_id).await? {
            store::delete_fip(conn, &f.id).await?;
            ports::delete(conn, &f.floating_port_id).await?;
        }
        Ok(())
    }

    /// `GET /v2.0/floatingip_pools`: the IPv4 subnets of the external networks the caller
    /// sees.
    pub async fn list_floatingip_pools(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<neutrino_store::model::Subnet>> {
        let mut conn = self.read().await?;
        let q = ListQuery {
            conditions: vec![Condition::eq("router_external", 1i64)],
            ..ListQuery::default()
        };
        let mut out = Vec::new();
        for n in networks::list(&mut conn, &q).await? {
            if !visible(ctx, &n) {
                continue;
            }
            for s in subnets::of_network(&mut conn, &n.id).await? {
                if s.ip_version == 4 {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }
}
