//! `add_router_interface` / `remove_router_interface`: a subnet joins a router on a new port
//! holding the subnet's gateway address, or an existing port becomes the interface.

use ipnet::IpNet;
use neutrino_store::l3 as store;
use neutrino_store::model::{Port, Subnet};
use neutrino_store::{Conn, networks, revision, subnets};

use super::{GATEWAY, INTERFACE, bad_router, router_not_found};
use crate::error::{Error, Result};
use crate::ports::{FixedIpRequest, PortCreate, PortUpdate, is_router_port, port_not_found};
use crate::subnets::subnet_not_found;
use crate::{Plugin, RequestContext};

/// What `add_router_interface` and `remove_router_interface` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct InterfaceInfo {
    /// The router.
    pub id: String,
    /// The port's project.
    pub project_id: String,
    /// The interface port.
    pub port_id: String,
    /// Its network.
    pub network_id: String,
    /// Its first subnet.
    pub subnet_id: String,
    /// All its subnets.
    pub subnet_ids: Vec<String>,
}

/// Whether two CIDRs share addresses.
pub fn overlaps(a: &str, b: &str) -> bool {
    match (a.parse::<IpNet>(), b.parse::<IpNet>()) {
        (Ok(x), Ok(y)) => x.contains(&y.network()) || y.contains(&x.network()),
        _ => false,
    }
}

fn info(router_id: &str, port: &Port, subnet_ids: Vec<String>) -> InterfaceInfo {
    InterfaceInfo {
        id: router_id.to_string(),
        project_id: port.project_id.clone(),
        port_id: port.id.clone(),
        network_id: port.network_id.clone(),
        subnet_id: subnet_ids.first().cloned().unwrap_or_default(),
        subnet_ids,
    }
}

/// How often `add_router_interface` tries again when another request changed the router's
/// IPv6 interface port under it.
const SHARE_ATTEMPTS: usize = 100;

/// The error kind of that race when it persists.
const IPV6_PORT_TAKEN: &str = "RouterInterfaceConflict";

/// What adding an IPv6 subnet to an existing port came to.
enum Share {
    /// Added.
    Done(InterfaceInfo),
    /// The router has no IPv6 interface port on the network.
    NoPort,
    /// The port changed (or went) meanwhile.
    Raced,
}

/// The router's IPv6 interface port on `network_id` (one holding an IPv6 address), other
/// than `except`.
fn ipv6_port_on(
    held: &[store::InterfaceIp],
    network_id: &str,
    except: Option<&str>,
) -> Option<String> {
    held.iter()
        .find(|a| {
            a.port_type == INTERFACE
                && a.network_id == network_id
                && Some(a.port_id.as_str()) != except
                && a.ip_address
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|i| i.is_ipv6())
        })
        .map(|a| a.port_id.clone())
}

/// A held address as a request that keeps it.
fn requested(f: &neutrino_store::model::FixedIp) -> FixedIpRequest {
    FixedIpRequest {
        subnet_id: Some(f.subnet_id.clone()),
        ip_address: f.ip_address.parse().ok(),
    }
}

fn port_in_use(port: &Port) -> Error {
    Error::conflict(
        "PortInUse",
        format!(
            "Unable to complete operation on port {} for network {}. Port already has an \
             attached device {}.",
            port.id, port.network_id, port.device_id
        ),
    )
}

/// Neutron's `_check_for_dup_router_subnets`: a subnet joins a router once, and its CIDR
/// overlaps none of the router's subnets (the gateway network's included).
async fn check_subnets(conn: &mut Conn, router: &store::Router, new: &[Subnet]) -> Result<()> {
    let held = store::router_addresses(conn, &router.id).await?;
    let mut cidrs: Vec<(String, String)> = held
        .iter()
        .map(|a| (a.subnet_id.clone(), a.cidr.clone()))
        .collect();
    if let Some(net) = &router.gw_network_id {
        for s in subnets::of_network(conn, net).await? {
            cidrs.push((s.id, s.cidr));
        }
    }
    for s in new {
        if held.iter().any(|a| a.subnet_id == s.id) {
            return Err(bad_router(format!(
                "Router already has a port on subnet {}",
                s.id
            )));
        }
        for (id, cidr) in &cidrs {
            if overlaps(cidr, &s.cidr) {
                return Err(bad_router(format!(
                    "Cidr {} of subnet {} overlaps with cidr {cidr} of subnet {id}",
                    s.cidr, s.id
                )));
            }
        }
    }
    Ok(())
}

impl Plugin {
    /// `PUT /routers/{id}/add_router_interface`.
    pub async fn add_router_interface(
        &self,
        ctx: &RequestContext,
        router_id: &str,
        subnet_id: Option<&str>,
        port_id: Option<&str>,
    ) -> Result<InterfaceInfo> {
        let router = self.get_router(ctx, router_id).await?;
        match (subnet_id, port_id) {
            (None, None) => Err(bad_router("Either subnet_id or port_id must be specified")),
            (Some(_), Some(_)) => Err(bad_router("Cannot specify both subnet-id and port-id")),
            (Some(s), None) => self.add_interface_by_subnet(ctx, &router, s).await,
            (None, Some(p)) => self.add_interface_by_port(ctx, &router, p).await,
        }
    }

    async fn add_interface_by_subnet(
        &self,
        ctx: &RequestContext,
        router: &store::Router,
        subnet_id: &str,
    ) -> Result<InterfaceInfo> {
        let mut conn = self.read().await?;
        let subnet = subnets::get(&mut conn, subnet_id)
            .await?
            .ok_or_else(|| subnet_not_found(subnet_id))?;
        let net = networks::get(&mut conn, &subnet.network_id)
            .await?
            .filter(|n| crate::networks::subnets_visible(ctx, n))
            .ok_or_else(|| subnet_not_found(subnet_id))?;
        if !ctx.sees_all()
            && subnet.project_id != ctx.project_id
            && !net
                .rbac
                .iter()
                .any(|g| g.action == crate::rbac::SHARED && g.target == ctx.project_id)
        {
            return Err(bad_router(format!(
                "Cannot add interface to router because subnet {subnet_id} is not owned by \
                 project making the request"
            )));
        }
        let Some(gateway) = subnet.gateway_ip.clone() else {
            return Err(bad_router(
                "Subnet for router interface must have a gateway IP",
            ));
        };
        if subnet.ip_version == 6
            && subnet.ipv6_address_mode.is_some()
            && subnet.ipv6_ra_mode.is_none()
        {
            return Err(bad_router(format!(
                "IPv6 subnet {subnet_id} configured to receive RAs from an external router \
                 cannot be added to Neutron Router."
            )));
        }
        check_subnets(&mut conn, router, std::slice::from_ref(&subnet)).await?;
        drop(conn);
        let admin = RequestContext::admin(&router.project_id);
        let address = FixedIpRequest {
            subnet_id: Some(subnet.id.clone()),
            ip_address: gateway.parse().ok(),
        };
        // IPv6: the address joins the router's IPv6 interface port on the network if there
        // is one. Two requests may race for that port; the loser tries again.
        let v6_network = (subnet.ip_version == 6).then_some(subnet.network_id.as_str());
        for _ in 0..SHARE_ATTEMPTS {
            if v6_network.is_some() {
                match self
                    .add_to_ipv6_port(router, &subnet, &address, &admin)
                    .await?
                {
                    Share::Done(i) => return Ok(i),
                    Share::Raced => continue,
                    Share::NoPort => {}
                }
            }
            let port = self
                .create_ports(
                    &admin,
                    vec![PortCreate {
                        project_id: router.project_id.clone(),
                        network_id: subnet.network_id.clone(),
                        admin_state_up: true,
                        fixed_ips: Some(vec![address.clone()]),
                        device_id: router.id.clone(),
                        device_owner: INTERFACE.into(),
                        security_groups: Some(vec![]),
                        ..PortCreate::default()
                    }],
                )
                .await?
                .pop()
                .ok_or_else(|| port_not_found(""))?;
            let attached = self
                .attach(router, &port, std::slice::from_ref(&subnet), v6_network)
                .await;
            match attached {
                Ok(()) => return Ok(info(&router.id, &port, vec![subnet_id.to_string()])),
                Err(e) => {
                    if let Err(undo) = self.delete_port(&admin, &port.id, None).await {
                        tracing::error!(port = %port.id, error = %undo, "could not delete an interface port its router refused");
                    }
                    if !matches!(&e, Error::Neutron { kind, .. } if *kind == IPV6_PORT_TAKEN) {
                        return Err(e);
                    }
                }
            }
        }
        Err(Error::conflict(
            IPV6_PORT_TAKEN,
            format!(
                "Router {} interface on network {} changed too often; try again.",
                router.id, subnet.network_id
            ),
        ))
    }

    /// Neutron's `_find_ipv6_router_port_by_network` and what follows: add the subnet's
    /// gateway address to the router's IPv6 interface port on its network, if it has one.
    /// The port is updated only if it did not change since it was read (its revision).
    async fn add_to_ipv6_port(
        &self,
        router: &store::Router,
        subnet: &Subnet,
        address: &FixedIpRequest,
        admin: &RequestContext,
    ) -> Result<Share> {
        let mut conn = self.read().await?;
        let held = store::router_addresses(&mut conn, &router.id).await?;
        let Some(port_id) = ipv6_port_on(&held, &subnet.network_id, None) else {
            return Ok(Share::NoPort);
        };
        check_subnets(&mut conn, router, std::slice::from_ref(subnet)).await?;
        let Some(port) = neutrino_store::ports::get(&mut conn, &port_id).await? else {
            return Ok(Share::Raced);
        };
        drop(conn);
        let mut ips: Vec<FixedIpRequest> = port.fixed_ips.iter().map(requested).collect();
        ips.push(address.clone());
        let u = PortUpdate {
            fixed_ips: Some(ips),
            ..PortUpdate::default()
        };
        match self
            .update_port(admin, &port_id, u, Some(port.revision_number))
            .await
        {
            Ok(p) => Ok(Share::Done(info(&router.id, &p, vec![subnet.id.clone()]))),
            Err(Error::Neutron {
                kind: "RevisionNumberConstraintFailed" | "PortNotFound",
                ..
            }) => Ok(Share::Raced),
            Err(e) => Err(e),
        }
    }

    async fn add_interface_by_port(
        &self,
        ctx: &RequestContext,
        router: &store::Router,
        port_id: &str,
    ) -> Result<InterfaceInfo> {
        let port = self.get_port(ctx, port_id).await?;
        if !port.device_id.is_empty() {
            return Err(port_in_use(&port));
        }
        if port.fixed_ips.is_empty() {
            return Err(bad_router("Router port must have at least one fixed IP"));
        }
        let mut conn = self.read().await?;
        let mut held = Vec::new();
        for f in &port.fixed_ips {
            if held.iter().any(|s: &Subnet| s.id == f.subnet_id) {
                continue;
            }
            if let Some(s) = subnets::get(&mut conn, &f.subnet_id).await? {
                held.push(s);
            }
        }
        if held.iter().filter(|s| s.ip_version == 4).count() > 1 {
            return Err(bad_router(
                "Cannot have multiple IPv4 subnets on router port",
            ));
        }
        check_subnets(&mut conn, router, &held).await?;
        drop(conn);
        let admin = RequestContext::admin(&router.project_id);
        let claim = PortUpdate {
            device_id: Some(router.id.clone()),
            device_owner: Some(INTERFACE.into()),
            ..PortUpdate::default()
        };
        // Compare-and-swap on the port's revision: of two routers taking one port, one wins.
        let claimed = match self
            .update_port(&admin, port_id, claim, Some(port.revision_number))
            .await
        {
            Ok(p) => p,
            Err(Error::Neutron {
                kind: "RevisionNumberConstraintFailed",
                ..
            }) => {
                let now = self.get_port(&admin, port_id).await?;
                return Err(port_in_use(&now));
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = self.attach(router, &claimed, &held, None).await {
            let undo = PortUpdate {
                device_id: Some(String::new()),
                device_owner: Some(port.device_owner.clone()),
                ..PortUpdate::default()
            };
            if let Err(undo) = self.update_port(&admin, port_id, undo, None).await {
                tracing::error!(port = %port_id, error = %undo, "could not release a port its router refused");
            }
            return Err(e);
        }
        let ids = held.iter().map(|s| s.id.clone()).collect();
        Ok(info(&router.id, &claimed, ids))
    }

    /// Record `port` as an interface of `router`, checking again under the router's row;
    /// with `v6_network`, refused (`IPV6_PORT_TAKEN`) if the router has meanwhile got an
    /// IPv6 interface port on that network, which the address should join.
    async fn attach(
        &self,
        router: &store::Router,
        port: &Port,
        new: &[Subnet],
        v6_network: Option<&str>,
    ) -> Result<()> {
        let (rid, pid) = (router.id.clone(), port.id.clone());
        let v6_network = v6_network.map(str::to_string);
        crate::in_tx!(self.store(), |tx| {
            let now = neutrino_store::now();
            if !revision::touch(tx, "routers", &rid, &now).await? {
                return Err(router_not_found(&rid));
            }
            let r = store::get_router(tx, &rid)
                .await?
                .ok_or_else(|| router_not_found(&rid))?;
            check_subnets(tx, &r, new).await?;
            if let Some(net) = &v6_network {
                let held = store::router_addresses(tx, &rid).await?;
                if ipv6_port_on(&held, net, Some(&pid)).is_some() {
                    return Err(Error::conflict(IPV6_PORT_TAKEN, "raced"));
                }
            }
            store::add_router_port(tx, &rid, &pid, INTERFACE).await?;
            Ok::<_, Error>(())
        })
    }

    /// `PUT /routers/{id}/remove_router_interface`.
    pub async fn remove_router_interface(
        &self,
        ctx: &RequestContext,
        router_id: &str,
        subnet_id: Option<&str>,
        port_id: Option<&str>,
    ) -> Result<InterfaceInfo> {
        let router = self.get_router(ctx, router_id).await?;
        let admin = RequestContext::admin(&router.project_id);
        let mut conn = self.read().await?;
        let (port, removed): (Port, Vec<String>) = match (port_id, subnet_id) {
            (None, None) => {
                return Err(bad_router("Either subnet_id or port_id must be specified"));
            }
            (Some(p), s) => {
                let not_attached = || {
                    Error::neutron(
                        "RouterInterfaceNotFound",
                        404,
                        format!("Router {router_id} does not have an interface with id {p}"),
                    )
                };
                match store::router_of_port(&mut conn, p).await? {
                    Some((r, t)) if r == router.id && t != GATEWAY => {}
                    _ => return Err(not_attached()),
                }
                let port = neutrino_store::ports::get(&mut conn, p)
                    .await?
                    .ok_or_else(not_attached)?;
                if let Some(s) = s
                    && !port.fixed_ips.iter().any(|f| f.subnet_id == s)
                {
                    return Err(Error::neutron(
                        "SubnetMismatchForPort",
                        400,
                        format!("Subnet on port {p} does not match the requested subnet {s}"),
                    ));
                }
                let mut subnets: Vec<String> =
                    port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect();
                subnets.dedup();
                (port, subnets)
            }
            (None, Some(s)) => {
                let found = store::router_addresses(&mut conn, &router.id)
                    .await?
                    .into_iter()
                    .find(|a| a.subnet_id == s && a.port_type != GATEWAY);
                let Some(a) = found else {
                    return Err(Error::neutron(
                        "RouterInterfaceNotFoundForSubnet",
                        404,
                        format!("Router {router_id} has no interface on subnet {s}"),
                    ));
                };
                let port = neutrino_store::ports::get(&mut conn, &a.port_id)
                    .await?
                    .ok_or_else(|| port_not_found(&a.port_id))?;
                (port, vec![s.to_string()])
            }
        };
        // What still needs the interface: floating IPs through this router, and routes.
        let cidrs: Vec<(String, IpNet)> = {
            let mut out = Vec::new();
            for s in &removed {
                if let Some(sub) = subnets::get(&mut conn, s).await?
                    && let Ok(n) = sub.cidr.parse::<IpNet>()
                {
                    out.push((s.clone(), n));
                }
            }
            out
        };
        for f in store::fips_of_router(&mut conn, &router.id).await? {
            let ip: Option<std::net::IpAddr> =
                f.fixed_ip_address.as_deref().and_then(|i| i.parse().ok());
            if let Some((s, _)) = cidrs
                .iter()
                .find(|(_, n)| ip.is_some_and(|ip| n.contains(&ip)))
            {
                return Err(Error::conflict(
                    "RouterInterfaceInUseByFloatingIP",
                    format!(
                        "Router interface for subnet {s} on router {router_id} cannot be \
                         deleted, as it is required by one or more floating IPs."
                    ),
                ));
            }
        }
        for r in &router.routes {
            let hop: Option<std::net::IpAddr> = r.nexthop.parse().ok();
            if let Some((s, _)) = cidrs
                .iter()
                .find(|(_, n)| hop.is_some_and(|h| n.contains(&h)))
            {
                return Err(Error::conflict(
                    "RouterInterfaceInUseByRoute",
                    format!(
                        "Router interface for subnet {s} on router {router_id} cannot be \
                         deleted, as it is required by one or more routes."
                    ),
                ));
            }
        }
        drop(conn);
        let result = info(&router.id, &port, removed.clone());
        // By subnet, a port that keeps other subnets loses only that address; otherwise the
        // port goes. Either only if the port did not change since it was read (an IPv6
        // subnet may be joining it), else read again.
        let mut port = port;
        for _ in 0..SHARE_ATTEMPTS {
            let rest: Vec<FixedIpRequest> = port
                .fixed_ips
                .iter()
                .filter(|f| !removed.contains(&f.subnet_id))
                .map(requested)
                .collect();
            let outcome = if port_id.is_none() && !rest.is_empty() {
                let u = PortUpdate {
                    fixed_ips: Some(rest),
                    ..PortUpdate::default()
                };
                self.update_port(&admin, &port.id, u, Some(port.revision_number))
                    .await
                    .map(|_| ())
            } else {
                // Deleting the port drops its `router_ports` row (foreign key).
                self.delete_port(&admin, &port.id, Some(port.revision_number))
                    .await
            };
            match outcome {
                Ok(()) => {
                    let rid = router.id.clone();
                    crate::in_tx!(self.store(), |tx| {
                        revision::touch(tx, "routers", &rid, &neutrino_store::now()).await?;
                        Ok::<_, Error>(())
                    })?;
                    return Ok(result);
                }
                Err(Error::Neutron {
                    kind: "RevisionNumberConstraintFailed",
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
            let mut conn = self.read().await?;
            port = match neutrino_store::ports::get(&mut conn, &port.id).await? {
                Some(p) if p.fixed_ips.iter().any(|f| removed.contains(&f.subnet_id)) => p,
                _ => {
                    return Err(Error::neutron(
                        "RouterInterfaceNotFoundForSubnet",
                        404,
                        format!(
                            "Router {router_id} has no interface on subnet {}",
                            removed.first().map(String::as_str).unwrap_or_default()
                        ),
                    ));
                }
            };
        }
        Err(Error::conflict(
            IPV6_PORT_TAKEN,
            format!(
                "Router {router_id} interface port {} changed too often; try again.",
                port.id
            ),
        ))
    }

    /// Neutron's `prevent_l3_port_deletion`: a router's or floating IP's port is deleted
    /// through its owner, not `DELETE /ports`, while that owner exists.
    pub async fn prevent_l3_port_deletion(
        &self,
        ctx: &RequestContext,
        port_id: &str,
    ) -> Result<()> {
        let port = self.get_port(ctx, port_id).await?;
        let owner = port.device_owner.as_str();
        let mut conn = self.read().await?;
        let owned = if is_router_port(owner) || owner == GATEWAY {
            store::router_of_port(&mut conn, port_id).await?.is_some()
        } else if owner == super::FLOATINGIP {
            store::fip_of_floating_port(&mut conn, port_id)
                .await?
                .is_some()
        } else {
            false
        };
        if owned {
            return Err(Error::conflict(
                "ServicePortInUse",
                format!(
                    "Port {port_id} cannot be deleted directly via the port API: has device \
                     owner {owner}."
                ),
            ));
        }
        Ok(())
    }
}
