//! Extra routes (`extraroute`, `extraroute-atomic`): each nexthop is on a subnet the router
//! is attached to and is not one of the router's own addresses.

use std::net::IpAddr;

use ipnet::IpNet;
use neutrino_store::l3::{self as store, Route, Router};
use neutrino_store::{Conn, StoreError, revision};

use super::router_not_found;
use crate::error::{Error, Result};
use crate::{Plugin, RequestContext};

/// Python's rendering of a list of routes, which Neutron's messages carry.
fn py_routes(routes: &[Route]) -> String {
    let items: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "{{'destination': '{}', 'nexthop': '{}'}}",
                r.destination, r.nexthop
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn invalid_routes(routes: &[Route], reason: &str) -> Error {
    Error::neutron(
        "InvalidRoutes",
        400,
        format!(
            "Invalid format for routes: {}, {reason}.",
            py_routes(routes)
        ),
    )
}

impl Plugin {
    /// Neutron's `_validate_routes`: every nexthop is inside a CIDR of the router's ports and
    /// is none of their addresses; at most the `router_route` quota.
    pub(crate) async fn check_routes(
        &self,
        conn: &mut Conn,
        router: &Router,
        routes: &[Route],
    ) -> Result<()> {
        let held = store::router_addresses(conn, &router.id).await?;
        for r in routes {
            let Ok(hop) = r.nexthop.parse::<IpAddr>() else {
                return Err(invalid_routes(
                    routes,
                    "the nexthop is not connected with router",
                ));
            };
            let connected = held
                .iter()
                .any(|a| a.cidr.parse::<IpNet>().is_ok_and(|n| n.contains(&hop)));
            if !connected {
                return Err(invalid_routes(
                    routes,
                    "the nexthop is not connected with router",
                ));
            }
            if held
                .iter()
                .any(|a| a.ip_address.parse::<IpAddr>().ok() == Some(hop))
            {
                return Err(invalid_routes(routes, "the nexthop is used by router"));
            }
        }
        // After the nexthops, as Neutron 2026.2: the `router_route` quota of the router's
        // project, counted per router (409 `OverQuota`).
        self.limit_check(
            conn,
            &router.project_id,
            "router_route",
            routes.len() as i64,
        )
        .await?;
        Ok(())
    }

    /// `PUT /routers/{id}/add_extraroutes` (add) or `remove_extraroutes`: a union or a
    /// difference with the current routes, taken under the router's row so that concurrent
    /// changes all count.
    pub async fn change_extraroutes(
        &self,
        ctx: &RequestContext,
        id: &str,
        routes: Vec<Route>,
        add: bool,
    ) -> Result<Router> {
        let plugin = self.clone();
        let (ctx, id) = (ctx.clone(), id.to_string());
        crate::in_tx!(self.store(), |tx| {
            let now = neutrino_store::now();
            // The bump comes first: it takes the router's row until the end.
            if !revision::touch(tx, "routers", &id, &now).await? {
                return Err(router_not_found(&id));
            }
            let r = plugin.visible_router(tx, &ctx, &id).await?;
            if add {
                let mut all = r.routes.clone();
                for x in &routes {
                    if !all.contains(x) {
                        all.push(x.clone());
                    }
                }
                plugin.check_routes(tx, &r, &all).await?;
                for x in &routes {
                    store::add_route(tx, &id, x).await?;
                }
            } else {
                for x in &routes {
                    store::remove_route(tx, &id, x).await?;
                }
            }
            let out = store::get_router(tx, &id)
                .await?
                .ok_or_else(|| Error::Store(StoreError::Retry("router gone".into())))?;
            Ok::<_, Error>(out)
        })
    }
}
