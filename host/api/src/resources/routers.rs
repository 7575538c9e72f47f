//! `/v2.0/routers` with the `add_router_interface`, `remove_router_interface`,
//! `add_extraroutes` and `remove_extraroutes` actions (extensions `router`, `ext-gw-mode`,
//! `extraroute`, `extraroute-atomic`, `router_availability_zone`).

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::put;
use axum::{Extension, Router as AxumRouter};
use neutrino_ml2::RequestContext;
use neutrino_ml2::l3::routers::{GatewayInfo, RouterCreate, RouterUpdate};
use neutrino_ml2::store::l3::{Route, Router};
use neutrino_ml2::store::query::ListQuery;
use serde_json::{Map, Value, json};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, check_value, owner, standard};
use crate::error::{ApiError, ApiResult, invalid_input};
use crate::policy::{self, Shown};
use crate::{AppState, respond};

/// The attribute map of routers.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("admin_state_up", Kind::Bool)
            .rw()
            .default(json!(true))
            .column("admin_state_up"),
        attr("status", Kind::Str(16)).column("status"),
        attr(
            "external_gateway_info",
            Kind::Checked(|v| gateway_of(Some(v)).map(|_| ())),
        )
        .rw()
        .nullable()
        .default(Value::Null),
        attr("routes", Kind::Checked(|v| routes_of(Some(v)).map(|_| ()))).nullable(),
        attr("distributed", Kind::Bool).rw().filter("distributed"),
        attr("ha", Kind::Bool).rw().filter("ha"),
        attr("availability_zone_hints", Kind::StrList).post(),
        attr("availability_zones", Kind::StrList),
        // `l3-flavors`: set on create only; an enabled flavor of service type L3_ROUTER_NAT.
        attr("flavor_id", Kind::Uuid)
            .post()
            .nullable()
            .column("flavor_id"),
    ];
    // `routes` is settable on update only.
    if let Some(r) = a.iter_mut().find(|a| a.name == "routes") {
        r.put = true;
    }
    standard(&mut a);
    if let Some(t) = a.iter_mut().find(|a| a.name == "tags") {
        t.post = true;
    }
    a
});

/// Attributes shown only where `get_router:<attr>` allows.
pub const GUARDED: &[&str] = &["distributed", "ha"];

fn bad_router(msg: impl std::fmt::Display) -> ApiError {
    ApiError(neutrino_ml2::l3::bad_router(msg))
}

/// Neutron's `type:dict_or_nodata` check of `external_gateway_info`: `None` for `{}` or
/// `null` (no gateway).
fn gateway_of(v: Option<&Value>) -> ApiResult<Option<GatewayInfo>> {
    let o = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) if o.is_empty() => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(invalid_input(format!(
                "Invalid input for external_gateway_info. Reason: '{other}' is not a dictionary."
            )));
        }
    };
    for k in o.keys() {
        if !["network_id", "enable_snat", "external_fixed_ips"].contains(&k.as_str()) {
            return Err(invalid_input(format!(
                "Invalid input for external_gateway_info. Reason: Validation of dictionary's \
                 keys failed. Expected keys: {{'network_id'}} Provided keys: {{'{k}'}}."
            )));
        }
    }
    let Some(net) = o.get("network_id") else {
        return Err(invalid_input(
            "Invalid input for external_gateway_info. Reason: Validation of dictionary's keys \
             failed. Expected keys: {'network_id'} Provided keys: set().",
        ));
    };
    let network_id = check_value("external_gateway_info", Kind::Uuid, net)?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let enable_snat = match o.get("enable_snat") {
        None | Some(Value::Null) => None,
        Some(v) => check_value("enable_snat", Kind::Bool, v)?.as_bool(),
    };
    Ok(Some(GatewayInfo {
        network_id,
        enable_snat,
        external_fixed_ips: super::ports::fixed_ips(o.get("external_fixed_ips"))?,
    }))
}

/// Neutron's `type:hostroutes` for `routes` (`null` is no routes).
fn routes_of(v: Option<&Value>) -> ApiResult<Vec<Route>> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid_input(format!(
                "Invalid input for routes. Reason: '{other}' is not a list."
            )));
        }
    };
    let mut out: Vec<Route> = Vec::new();
    for i in items {
        let (Some(d), Some(n)) = (
            i.get("destination").and_then(Value::as_str),
            i.get("nexthop").and_then(Value::as_str),
        ) else {
            return Err(invalid_input(format!(
                "Invalid input for routes. Reason: Validation of dictionary's keys failed. \
                 Expected keys: {{'destination', 'nexthop'}} Provided keys: {i}."
            )));
        };
        if i.as_object().is_some_and(|o| o.len() != 2) {
            return Err(invalid_input(format!(
                "Invalid input for routes. Reason: Validation of dictionary's keys failed. \
                 Expected keys: {{'destination', 'nexthop'}} Provided keys: {i}."
            )));
        }
        let dest = check_value("routes", Kind::Cidr, &json!(d))?;
        let hop = check_value("routes", Kind::Ip, &json!(n))?;
        let r = Route {
            destination: dest.as_str().unwrap_or_default().to_string(),
            nexthop: hop.as_str().unwrap_or_default().to_string(),
        };
        if out.contains(&r) {
            return Err(invalid_input(format!(
                "Invalid input for routes. Reason: Duplicate hostroute '{i}'."
            )));
        }
        out.push(r);
    }
    Ok(out)
}

/// A router on the wire.
pub fn view(r: &Router, shown: Shown) -> Value {
    let gateway = r.gw_network_id.as_ref().map(|n| {
        json!({
            "network_id": n,
            "enable_snat": r.enable_snat,
            "external_fixed_ips": r.gw_fixed_ips.iter().map(|f| json!({
                "subnet_id": f.subnet_id, "ip_address": f.ip_address,
            })).collect::<Vec<_>>(),
        })
    });
    let mut v = json!({
        "id": r.id,
        "name": r.name,
        "tenant_id": r.project_id,
        "project_id": r.project_id,
        "admin_state_up": r.admin_state_up,
        "status": r.status,
        "external_gateway_info": gateway,
        "description": r.description,
        "routes": r.routes.iter().map(|x| json!({
            "destination": x.destination, "nexthop": x.nexthop,
        })).collect::<Vec<_>>(),
        "availability_zone_hints": r.availability_zone_hints,
        "availability_zones": [],
        "flavor_id": r.flavor_id,
        "tags": r.tags,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "revision_number": r.revision_number,
    });
    if shown.has(0) {
        v["distributed"] = json!(r.distributed);
    }
    if shown.has(1) {
        v["ha"] = json!(r.ha);
    }
    v
}

/// The routers collection.
pub struct Routers;

impl Resource for Routers {
    const MEMBER: &'static str = "router";
    const COLLECTION: &'static str = "routers";
    const GUARDED: &'static [&'static str] = GUARDED;
    type Item = Router;
    type View<'a> = Value;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view(r: &Router, _ctx: &RequestContext, shown: Shown) -> Value {
        view(r, shown)
    }
    fn id(r: &Router) -> &str {
        &r.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<Router>> {
        let reqs = bodies
            .iter()
            .map(|m| {
                Ok(RouterCreate {
                    project_id: owner(m, ctx)?,
                    name: m.str_of("name").unwrap_or_default(),
                    description: m.str_of("description").unwrap_or_default(),
                    admin_state_up: m.bool_of("admin_state_up").unwrap_or(true),
                    gateway: gateway_of(m.get("external_gateway_info"))?,
                    distributed: m.bool_of("distributed"),
                    ha: m.bool_of("ha"),
                    availability_zone_hints: super::availability_zones::hints(m)?,
                    flavor_id: m.str_of("flavor_id"),
                    tags: m.strs_of("tags").unwrap_or_default(),
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(s.plugin.create_routers(ctx, reqs).await?)
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<Router>> {
        Ok(s.plugin.list_routers(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Router> {
        Ok(s.plugin.get_router(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<Router> {
        let u = RouterUpdate {
            name: m.str_of("name"),
            description: m.str_of("description"),
            admin_state_up: m.bool_of("admin_state_up"),
            gateway: match m.get("external_gateway_info") {
                None => None,
                v => Some(gateway_of(v)?),
            },
            routes: match m.get("routes") {
                None => None,
                v => Some(routes_of(v)?),
            },
            distributed: m.bool_of("distributed"),
            ha: m.bool_of("ha"),
        };
        Ok(s.plugin.update_router(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_router(ctx, id, if_match).await?)
    }
}

/// The member actions.
pub fn routes() -> AxumRouter<AppState> {
    AxumRouter::new()
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(|s, c, p, b| interface(s, c, p, b, true)),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(|s, c, p, b| interface(s, c, p, b, false)),
        )
        .route(
            "/v2.0/routers/{id}/add_extraroutes",
            put(|s, c, p, b| extraroutes(s, c, p, b, true)),
        )
        .route(
            "/v2.0/routers/{id}/remove_extraroutes",
            put(|s, c, p, b| extraroutes(s, c, p, b, false)),
        )
}

fn parse_body(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(neutrino_ml2::Error::neutron(
            "MalformedRequestBody",
            400,
            format!("Malformed request body: {e}"),
        ))
    })
}

/// Check `<verb>_<what>` on a router the caller can fetch (403, or 404 when it may not read
/// it either).
async fn authorize(
    s: &AppState,
    ctx: &RequestContext,
    id: &str,
    verb: &str,
    what: &str,
) -> ApiResult<()> {
    let router = s.plugin.get_router(ctx, id).await?;
    policy::authorize_change(s, ctx, verb, what, &[], &router, None).await
}

async fn interface(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
    add: bool,
) -> ApiResult<Response> {
    let v = parse_body(&body)?;
    let Value::Object(o) = &v else {
        return Err(bad_router("Either subnet_id or port_id must be specified"));
    };
    let mut ids: [Option<String>; 2] = [None, None];
    for (slot, key) in ["subnet_id", "port_id"].iter().enumerate() {
        if let Some(x) = o.get(*key) {
            let text = match x {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            if uuid::Uuid::parse_str(&text).is_err() {
                return Err(bad_router(format!("'{text}' is not a valid UUID")));
            }
            ids[slot] = Some(text);
        }
    }
    let verb = if add { "add" } else { "remove" };
    authorize(&s, &ctx, &id, verb, "router_interface").await?;
    let [subnet, port] = ids;
    let info = if add {
        s.plugin
            .add_router_interface(&ctx, &id, subnet.as_deref(), port.as_deref())
            .await?
    } else {
        s.plugin
            .remove_router_interface(&ctx, &id, subnet.as_deref(), port.as_deref())
            .await?
    };
    let out = json!({
        "id": info.id,
        "tenant_id": info.project_id,
        "project_id": info.project_id,
        "port_id": info.port_id,
        "network_id": info.network_id,
        "subnet_id": info.subnet_id,
        "subnet_ids": info.subnet_ids,
    });
    let bytes = serde_json::to_vec(&out).unwrap_or_default();
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(bytes))
        .unwrap_or_default())
}

async fn extraroutes(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
    add: bool,
) -> ApiResult<Response> {
    let v = parse_body(&body)?;
    let Some(r) = v.get("router").and_then(Value::as_object) else {
        return Err(crate::error::bad_request(
            "Unable to find 'router' in request body",
        ));
    };
    if let Some(k) = r.keys().find(|k| *k != "routes") {
        return Err(crate::error::bad_request(format!(
            "Unrecognized attribute(s) '{k}'"
        )));
    }
    let routes = routes_of(r.get("routes"))?;
    let verb = if add { "add" } else { "remove" };
    authorize(&s, &ctx, &id, verb, "extraroutes").await?;
    let router = s.plugin.change_extraroutes(&ctx, &id, routes, add).await?;
    let shown = policy::Reader::new(&s, &ctx, "router", GUARDED)
        .shown(&router)
        .await?;
    respond::one(StatusCode::OK, "router", &view(&router, shown), &[])
}
