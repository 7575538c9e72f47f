//! `/v2.0/address-groups` with the `add_addresses` and `remove_addresses` actions
//! (extension `address-group`).

use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::put;
use axum::{Extension, Router};
use ipnet::IpNet;
use neutrino_ml2::RequestContext;
use neutrino_ml2::address_groups::{AddressGroupCreate, AddressGroupUpdate};
use neutrino_ml2::store::address_groups::AddressGroup;
use neutrino_ml2::store::query::ListQuery;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, owner};
use crate::error::{ApiError, ApiResult, invalid_input};
use crate::{AppState, respond};

/// The attribute map of address groups.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("id", Kind::Uuid).column("id"),
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("description", Kind::Str(255))
            .rw()
            .column("description"),
        attr("project_id", Kind::Str(255))
            .post()
            .column("project_id"),
        attr("tenant_id", Kind::Str(255))
            .post()
            .column("project_id"),
        attr("addresses", Kind::List).post().nullable(),
        attr("created_at", Kind::Str(64)).column("created_at"),
        attr("updated_at", Kind::Str(64)).column("updated_at"),
        attr("revision_number", Kind::Int(0, i64::MAX)).column("revision_number"),
    ]
});

/// Neutron's `type:subnet_list`: a list of distinct CIDRs (`10.0.0.7/24` is accepted and
/// stored as `10.0.0.0/24`; a bare address is not a CIDR). The `add_addresses` and
/// `remove_addresses` actions are not validated by Neutron's attribute map: their addresses
/// go through `netaddr.IPNetwork`, which reads a bare address as a host (`bare_is_host`).
fn subnet_list(v: Option<&Value>, bare_is_host: bool) -> ApiResult<Vec<IpNet>> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid_input(format!(
                "Invalid input for addresses. Reason: '{other}' is not a list."
            )));
        }
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for i in items {
        let text = i.as_str().unwrap_or_default();
        if seen.contains(&text) {
            return Err(invalid_input(format!(
                "Invalid input for addresses. Reason: Duplicate items in the list: '{text}'."
            )));
        }
        seen.push(text);
        let host = || {
            bare_is_host
                .then(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
                .flatten()
        };
        let net: IpNet = if text.contains('/') {
            text.parse().ok()
        } else {
            host()
        }
        .ok_or_else(|| {
            invalid_input(format!(
                "Invalid input for addresses. Reason: '{}' is not a valid IP subnet.",
                match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }
            ))
        })?;
        out.push(net);
    }
    Ok(out)
}

/// An address group on the wire.
#[derive(Serialize)]
pub struct AddressGroupView<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
    project_id: &'a str,
    tenant_id: &'a str,
    addresses: &'a [String],
    created_at: &'a str,
    updated_at: &'a str,
    revision_number: i64,
}

fn view(g: &AddressGroup) -> AddressGroupView<'_> {
    AddressGroupView {
        id: &g.id,
        name: &g.name,
        description: &g.description,
        project_id: &g.project_id,
        tenant_id: &g.project_id,
        addresses: &g.addresses,
        created_at: &g.created_at,
        updated_at: &g.updated_at,
        revision_number: g.revision_number,
    }
}

/// The address groups collection.
pub struct AddressGroups;

impl Resource for AddressGroups {
    const MEMBER: &'static str = "address_group";
    const COLLECTION: &'static str = "address-groups";
    const BODY_COLLECTION: &'static str = "address_groups";
    type Item = AddressGroup;
    type View<'a> = AddressGroupView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        g: &'a AddressGroup,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> AddressGroupView<'a> {
        view(g)
    }
    fn id(g: &AddressGroup) -> &str {
        &g.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<AddressGroup>> {
        let reqs = bodies
            .iter()
            .map(|m| {
                Ok(AddressGroupCreate {
                    project_id: owner(m, ctx)?,
                    name: m.str_of("name").unwrap_or_default(),
                    description: m.str_of("description").unwrap_or_default(),
                    addresses: subnet_list(m.get("addresses"), false)?,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(s.plugin.create_address_groups(ctx, reqs).await?)
    }
    async fn list(
        s: &AppState,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> ApiResult<Vec<AddressGroup>> {
        Ok(s.plugin.list_address_groups(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<AddressGroup> {
        Ok(s.plugin.get_address_group(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<AddressGroup> {
        let u = AddressGroupUpdate {
            name: m.str_of("name"),
            description: m.str_of("description"),
        };
        Ok(s.plugin.update_address_group(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_address_group(ctx, id, if_match).await?)
    }
}

/// The two member actions.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2.0/address-groups/{id}/add_addresses",
            put(|s, c, p, b| action(s, c, p, b, true)),
        )
        .route(
            "/v2.0/address-groups/{id}/remove_addresses",
            put(|s, c, p, b| action(s, c, p, b, false)),
        )
}

async fn action(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
    add: bool,
) -> ApiResult<Response> {
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError(neutrino_ml2::Error::neutron(
            "MalformedRequestBody",
            400,
            format!("Malformed request body: {e}"),
        ))
    })?;
    let Some(list) = v.get("addresses") else {
        return Err(invalid_input(
            "Invalid input for addresses. Reason: the body must be {\"addresses\": [...]}.",
        ));
    };
    let addresses = subnet_list(Some(list), true)?;
    let g = if add {
        s.plugin.add_addresses(&ctx, &id, addresses).await?
    } else {
        s.plugin.remove_addresses(&ctx, &id, addresses).await?
    };
    respond::one(StatusCode::OK, "address_group", &view(&g), &[])
}
