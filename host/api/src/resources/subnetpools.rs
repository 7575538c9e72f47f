//! `/v2.0/subnetpools`.

use std::sync::LazyLock;

use ipnet::IpNet;
use neutrino_ml2::RequestContext;
use neutrino_ml2::store::model::SubnetPool;
use neutrino_ml2::store::query::ListQuery;
use neutrino_ml2::subnetpools::{SubnetPoolCreate, SubnetPoolUpdate};
use serde_json::{Map, Value, json};

use super::Resource;
use crate::attrs::{Attr, BodyExt, Kind, attr, check_value, owner, standard};
use crate::error::ApiResult;
use crate::{AppState, views};

/// The attribute map of subnet pools.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    let mut a = vec![
        attr("name", Kind::Str(255)).rw().column("name"),
        attr("prefixes", Kind::StrList).required(),
        attr("default_prefixlen", Kind::Int(0, 128))
            .rw()
            .column("default_prefixlen"),
        attr("min_prefixlen", Kind::Int(0, 128))
            .rw()
            .column("min_prefixlen"),
        attr("max_prefixlen", Kind::Int(0, 128))
            .rw()
            .column("max_prefixlen"),
        attr("default_quota", Kind::Int(0, i64::MAX))
            .rw()
            .nullable()
            .column("default_quota"),
        attr("ip_version", Kind::IntIn(&[4, 6])).column("ip_version"),
        attr("is_default", Kind::Bool)
            .rw()
            .default(json!(false))
            .column("is_default"),
        attr("shared", Kind::Bool)
            .post()
            .default(json!(false))
            .column("shared"),
        attr("address_scope_id", Kind::Uuid)
            .rw()
            .nullable()
            .column("address_scope_id"),
    ];
    if let Some(p) = a.iter_mut().find(|x| x.name == "prefixes") {
        p.put = true;
    }
    standard(&mut a);
    a
});

fn prefixes(m: &Map<String, Value>) -> ApiResult<Option<Vec<IpNet>>> {
    let Some(Value::Array(items)) = m.get("prefixes") else {
        return Ok(None);
    };
    items
        .iter()
        .map(|i| {
            check_value("prefixes", Kind::Cidr, i)
                .map(|v| v.as_str().unwrap_or_default().parse().expect("checked"))
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

fn len_of(m: &Map<String, Value>, k: &str) -> Option<u8> {
    m.int_of(k).map(|v| v as u8)
}

/// The subnet pools collection.
pub struct SubnetPools;

impl Resource for SubnetPools {
    const MEMBER: &'static str = "subnetpool";
    const COLLECTION: &'static str = "subnetpools";
    const BULK: bool = false;
    type Item = SubnetPool;
    type View<'a> = views::SubnetPoolView<'a>;

    fn attrs() -> &'static [Attr] {
        &ATTRS
    }
    fn view<'a>(
        item: &'a SubnetPool,
        _ctx: &RequestContext,
        _shown: crate::policy::Shown,
    ) -> views::SubnetPoolView<'a> {
        views::subnetpool(item)
    }
    fn id(item: &SubnetPool) -> &str {
        &item.id
    }
    async fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> ApiResult<Vec<SubnetPool>> {
        let m = &bodies[0];
        let r = SubnetPoolCreate {
            project_id: owner(m, ctx)?,
            name: m.str_of("name").unwrap_or_default(),
            description: m.str_of("description").unwrap_or_default(),
            prefixes: prefixes(m)?.unwrap_or_default(),
            default_prefixlen: len_of(m, "default_prefixlen"),
            min_prefixlen: len_of(m, "min_prefixlen"),
            max_prefixlen: len_of(m, "max_prefixlen"),
            default_quota: m.int_of("default_quota"),
            is_default: m.bool_of("is_default").unwrap_or(false),
            shared: m.bool_of("shared").unwrap_or(false),
            address_scope_id: m.str_of("address_scope_id"),
        };
        Ok(vec![s.plugin.create_subnetpool(ctx, r).await?])
    }
    async fn list(s: &AppState, ctx: &RequestContext, q: ListQuery) -> ApiResult<Vec<SubnetPool>> {
        Ok(s.plugin.list_subnetpools(ctx, q).await?)
    }
    async fn get(s: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<SubnetPool> {
        Ok(s.plugin.get_subnetpool(ctx, id).await?)
    }
    async fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        m: Map<String, Value>,
        if_match: Option<i64>,
    ) -> ApiResult<SubnetPool> {
        let u = SubnetPoolUpdate {
            name: m.str_of("name"),
            description: m.str_of("description"),
            prefixes: prefixes(&m)?,
            default_prefixlen: len_of(&m, "default_prefixlen"),
            min_prefixlen: len_of(&m, "min_prefixlen"),
            max_prefixlen: len_of(&m, "max_prefixlen"),
            default_quota: m.get("default_quota").map(Value::as_i64),
            is_default: m.bool_of("is_default"),
            address_scope_id: m
                .get("address_scope_id")
                .map(|v| v.as_str().map(str::to_string)),
            add_prefixes: None,
        };
        Ok(s.plugin.update_subnetpool(ctx, id, u, if_match).await?)
    }
    async fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> ApiResult<()> {
        Ok(s.plugin.delete_subnetpool(ctx, id, if_match).await?)
    }
}

/// Routes of the pool actions: `add_prefixes` and `remove_prefixes`
/// (`subnetpool-prefix-ops`), `onboard_network_subnets` (`subnet_onboard`).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::put;
    axum::Router::new()
        .route(
            "/v2.0/subnetpools/{id}/add_prefixes",
            put(|s, c, p, b| prefix_action(s, c, p, b, true)),
        )
        .route(
            "/v2.0/subnetpools/{id}/remove_prefixes",
            put(|s, c, p, b| prefix_action(s, c, p, b, false)),
        )
        .route(
            "/v2.0/subnetpools/{id}/onboard_network_subnets",
            put(onboard),
        )
}

fn body_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(crate::error::bad_request(
            "Malformed request body: the body must be a JSON object",
        )),
        Err(e) => Err(crate::error::bad_request(format!(
            "Malformed request body: {e}"
        ))),
    }
}

async fn prefix_action(
    axum::extract::State(s): axum::extract::State<AppState>,
    axum::Extension(ctx): axum::Extension<RequestContext>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
    add: bool,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let m = body_object(&body)?;
    let list = match m.get("prefixes") {
        Some(Value::Array(_)) => prefixes(&m)?.unwrap_or_default(),
        _ => {
            return Err(crate::error::invalid_input(
                "Invalid input for operation: the body must be {\"prefixes\": [...]}, a list of CIDRs.",
            ));
        }
    };
    let after = if add {
        s.plugin.add_subnetpool_prefixes(&ctx, &id, list).await?
    } else {
        s.plugin.remove_subnetpool_prefixes(&ctx, &id, list).await?
    };
    Ok(axum::Json(json!({ "prefixes": after })).into_response())
}

async fn onboard(
    axum::extract::State(s): axum::extract::State<AppState>,
    axum::Extension(ctx): axum::Extension<RequestContext>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let m = body_object(&body)?;
    let Some(network_id) = m.get("network_id").and_then(Value::as_str) else {
        return Err(crate::error::invalid_input("network_id must be specified."));
    };
    let onboarded = s
        .plugin
        .onboard_network_subnets(&ctx, &id, network_id)
        .await?;
    let items: Vec<Value> = onboarded
        .iter()
        .map(|o| json!({"id": o.id, "cidr": o.cidr}))
        .collect();
    Ok(axum::Json(Value::Array(items)).into_response())
}
