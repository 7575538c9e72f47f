//! `/v2.0/floatingips` (extensions `router`, `fip-port-details`, `floating-ip-router-writable`) and
//! `/v2.0/floatingip-pools` (`floatingip-pools`).

use std::sync::LazyLock;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router as AxumRouter};
use neutrino_ml2::RequestContext;
use neutrino_ml2::l3::floatingips::{Association, FipCreate, FipUpdate};
use neutrino_ml2::store::l3::FloatingIp;
use neutrino_ml2::store::query::ListQuery;
use serde_json::{Map, Value, json};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, owner, standard};
use crate::error::{ApiError, ApiResult};
use crate::policy::Shown;
use crate::{AppState, respond};

/// The attribute map of floating IPs.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("floating_ip_address", Kind::Ip)
            .post()
            .nullable()
            .default(Value::Null)
            .column("floating_ip_address"),
        attr("subnet_id", Kind::Uuid)
            .post()
            .nullable()
            .default(Value::Null),
        attr("floating_network_id", Kind::Uuid)
            .required()
            .column("floating_network_id"),
        // Writable with `floating-ip-router-writable`.
        attr("router_id", Kind::Uuid)
            .rw()
            .nullable()
            .default(Value::Null)
            .column("router_id"),
        attr("port_id", Kind::Uuid)
            .rw()
            .nullable()
            .default(Value::Null)
            .filter("fixed_port_id"),
        attr("fixed_ip_address", Kind::Ip)
            .rw()
            .nullable()
            .default(Value::Null)
            .column("fixed_ip_address"),
        attr("status", Kind::Str(16)).column("status"),
        attr("port_details", Kind::Dict),
    ];
    standard(&mut a);
    if let Some(t) = a.iter_mut().find(|a| a.name == "tags") {
        t.post = true;
    }
    a
});

fn ip_of(m: &Map<String, Value>, k: &str) -> Option<std::net::IpAddr> {
    m.str_of(k).and_then(|s| s.parse().ok())
}

/// A floating IP on the wire.
pub fn view(f: &FloatingIp) -> Value {
    json!({
        "id": f.id,
        "tenant_id": f.project_id,
        "project_id": f.project_id,
        "floating_ip_address": f.floating_ip_address,
        "floating_network_id": f.floating_network_id,
        "router_id": f.router_id,
        "port_id": f.fixed_port_id,
        "fixed_ip_address": f.fixed_ip_address,
        "status": f.status,
        "description": f.description,
        "port_details": f.port_details.as_ref().map(|d| json!({
            "name": d.name,
            "network_id": d.network_id,
            "mac_address": d.mac_address,
            "admin_state_up": d.admin_state_up,
            "status": d.status,
            "device_id": d.device_id,
            "device_owner": d.device_owner,
        })),
        "tags": f.tags,
        "created_at": f.created_at,
        "updated_at": f.updated_at,
        "revision_number": f.revision_number,
    })
}

/// The floating IPs collection.
pub struct FloatingIps;

impl Resource for FloatingIps {
    const MEMBER: &'static str = "floatingip";
    const COLLECTION: &'static str = "floatingips";
    type Item = FloatingIp;
    type View<'a> = Value;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view(f: &FloatingIp, _ctx: &RequestContext, _shown: Shown) -> Value {
        view(f)
    }
    fn id(f: &FloatingIp) -> &str {
        &f.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<FloatingIp>> {
        let reqs = bodies
            .iter()
            .map(|m| {
                Ok(FipCreate {
                    project_id: owner(m, ctx)?,
                    floating_network_id: m.str_of("floating_network_id").unwrap_or_default(),
                    floating_ip_address: ip_of(m, "floating_ip_address"),
                    subnet_id: m.str_of("subnet_id"),
                    port_id: m.str_of("port_id"),
                    fixed_ip_address: ip_of(m, "fixed_ip_address"),
                    router_id: m.str_of("router_id"),
                    description: m.str_of("description").unwrap_or_default(),
                    tags: m.strs_of("tags").unwrap_or_default(),
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(s.plugin.create_floatingips(ctx, reqs).await?)
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<FloatingIp>> {
        Ok(s.plugin.list_floatingips(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<FloatingIp> {
        Ok(s.plugin.get_floatingip(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<FloatingIp> {
        // Neutron: an empty body disassociates; a body without `port_id` keeps the
        // association.
        let association = if m.is_empty() || m.is_null("port_id") {
            Some(None)
        } else if let Some(p) = m.str_of("port_id") {
            Some(Some(Association {
                port_id: p,
                fixed_ip_address: ip_of(&m, "fixed_ip_address"),
            }))
        } else if m.get("fixed_ip_address").is_some_and(|v| !v.is_null()) {
            return Err(ApiError(neutrino_ml2::l3::bad(
                "floatingip",
                "fixed_ip_address cannot be specified without a port_id",
            )));
        } else {
            None
        };
        let u = FipUpdate {
            description: m.str_of("description"),
            association,
            router_id: m.get("router_id").map(|v| v.as_str().map(str::to_string)),
        };
        Ok(s.plugin.update_floatingip(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_floatingip(ctx, id, if_match).await?)
    }
}

/// `GET /v2.0/floatingip-pools` (Neutron's path: its extension translates the collection's
/// `_` to `-`), also answered at `/v2.0/floatingip_pools`.
pub fn routes() -> AxumRouter<AppState> {
    AxumRouter::new()
        .route("/v2.0/floatingip-pools", get(pools))
        .route("/v2.0/floatingip_pools", get(pools))
}

async fn pools(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Response> {
    let subnets = s.plugin.list_floatingip_pools(&ctx).await?;
    let items: Vec<Value> = subnets
        .iter()
        .map(|sn| {
            json!({
                "subnet_id": sn.id,
                "subnet_name": sn.name,
                "network_id": sn.network_id,
                "cidr": sn.cidr,
                "project_id": sn.project_id,
                "tenant_id": sn.project_id,
            })
        })
        .collect();
    respond::many(axum::http::StatusCode::OK, "floatingip_pools", &items)
}
