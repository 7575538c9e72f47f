//! `/v2.0/ports/{port_id}/bindings` (`binding-extended`): a port's bindings, one per host,
//! listed, shown, created (inactive), updated, activated and deleted as Neutron does, with its
//! policy: admins and the `service` role read them, only the `service` role (Nova) changes
//! them.

use std::sync::LazyLock;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Extension, Router};
use neutrino_ml2::RequestContext;
use neutrino_ml2::port_bindings::BindingCreate;
use neutrino_ml2::store::bindings::BindingRecord;
use neutrino_policy::Lookup;
use serde::Serialize;
use serde_json::{Value, json};

use crate::attrs::{Attr, BodyExt, Kind, Op, attr, check_body, owner};
use crate::error::{ApiResult, not_found_url};
use crate::policy::{self, Fields, Reader};
use crate::{AppState, query, respond};

/// The member name in policy rules (`get_port_binding`, `create_port_binding`, …).
const MEMBER: &str = "port_binding";

/// The attribute map of bindings (neutron-lib's `portbindings_extended`).
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("host", Kind::Str(255)).required().column("host"),
        attr("vif_type", Kind::Str(64)).column("vif_type"),
        attr("vif_details", Kind::Dict),
        attr("vnic_type", Kind::OneOf(super::ports::VNIC_TYPES))
            .rw()
            .default(json!("normal"))
            .column("vnic_type"),
        attr("profile", Kind::Dict).rw().nullable(),
        attr("status", Kind::Str(16)).column("status"),
        attr("project_id", Kind::Str(255)).post(),
    ]
});

impl Fields for BindingRecord {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "host" => Lookup::Str(&self.host),
            "vif_type" => Lookup::Str(&self.vif_type),
            "vnic_type" => Lookup::Str(&self.vnic_type),
            "status" => Lookup::Str(&self.status),
            _ => Lookup::Absent,
        }
    }
}

/// A binding as Neutron's `_make_port_binding_dict` renders it.
#[derive(Serialize)]
pub struct BindingView<'a> {
    host: &'a str,
    vif_type: &'a str,
    vnic_type: &'a str,
    status: &'a str,
    profile: &'a Value,
    vif_details: &'a Value,
}

fn view(b: &BindingRecord) -> BindingView<'_> {
    BindingView {
        host: &b.host,
        vif_type: &b.vif_type,
        vnic_type: &b.vnic_type,
        status: &b.status,
        profile: &b.profile,
        vif_details: &b.vif_details,
    }
}

/// The routes of the bindings sub-resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/ports/{id}/bindings", get(list).post(create))
        .route("/v2.0/ports/{id}/bindings/", get(list).post(create))
        .route(
            "/v2.0/ports/{id}/bindings/{host}",
            get(show).put(update).delete(delete),
        )
        .route("/v2.0/ports/{id}/bindings/{host}/activate", put(activate))
}

async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(port_id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let params = query::parse(
        q.as_deref(),
        &ATTRS,
        "bindings",
        s.config.pagination_max_limit,
        &ctx,
    )?;
    let mut items = s
        .plugin
        .list_port_bindings(&ctx, &port_id, params.query.clone())
        .await?;
    let keys = (
        items.first().map(|b| b.host.clone()),
        items.last().map(|b| b.host.clone()),
    );
    let mut reader = Reader::new(&s, &ctx, MEMBER, &[]);
    let mut keep = Vec::with_capacity(items.len());
    for b in &items {
        keep.push(reader.may_read(b).await?);
    }
    let mut k = keep.iter();
    items.retain(|_| *k.next().unwrap_or(&false));
    let views: Vec<_> = items.iter().map(view).collect();
    respond::list(
        "bindings",
        &views,
        (keys.0.as_deref(), keys.1.as_deref()),
        &params,
        uri.path(),
        &headers,
        s.config.enable_proxy_headers_parsing,
    )
}

async fn show(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((port_id, host)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let b = s.plugin.get_port_binding(&ctx, &port_id, &host).await?;
    if !Reader::new(&s, &ctx, MEMBER, &[]).may_read(&b).await? {
        return Err(not_found_url());
    }
    respond::one(
        StatusCode::OK,
        "binding",
        &view(&b),
        &query::fields_only(q.as_deref()),
    )
}

async fn create(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(port_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (objs, _) = respond::body(&body, "binding", "bindings", false)?;
    let m = check_body(&ATTRS, &objs[0], Op::Create)?;
    let project = owner(&m, &ctx)?;
    policy::authorize_create(&s, &ctx, MEMBER, &ATTRS, &m, &project).await?;
    let req = BindingCreate {
        host: m.str_of("host").unwrap_or_default(),
        vnic_type: m.str_of("vnic_type").unwrap_or_else(|| "normal".into()),
        profile: m
            .get("profile")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!({})),
    };
    let b = s.plugin.create_port_binding(&ctx, &port_id, req).await?;
    respond::one(StatusCode::CREATED, "binding", &view(&b), &[])
}

/// `PUT …/bindings/{host}` with `vnic_type` and `profile` (no default rule of Neutron's
/// names `update_port_binding`, so `default` decides: admins).
async fn update(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((port_id, host)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (objs, _) = respond::body(&body, "binding", "bindings", false)?;
    let m = check_body(&ATTRS, &objs[0], Op::Update)?;
    let b = s.plugin.get_port_binding(&ctx, &port_id, &host).await?;
    policy::authorize_change(&s, &ctx, "update", MEMBER, &ATTRS, &b, Some(&m)).await?;
    let profile = m
        .get("profile")
        .map(|v| if v.is_null() { json!({}) } else { v.clone() });
    let b = s
        .plugin
        .update_port_binding(&ctx, &port_id, &host, m.str_of("vnic_type"), profile)
        .await?;
    respond::one(StatusCode::OK, "binding", &view(&b), &[])
}

async fn delete(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((port_id, host)): Path<(String, String)>,
) -> ApiResult<Response> {
    let b = s.plugin.get_port_binding(&ctx, &port_id, &host).await?;
    policy::authorize_change(&s, &ctx, "delete", MEMBER, &ATTRS, &b, None).await?;
    s.plugin.delete_port_binding(&ctx, &port_id, &host).await?;
    Ok(respond::no_content())
}

/// `PUT …/bindings/{host}/activate`: answers the activated binding itself, without an
/// envelope, as Neutron's member action does (and openstacksdk reads it).
async fn activate(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((port_id, host)): Path<(String, String)>,
) -> ApiResult<Response> {
    let b = s.plugin.get_port_binding(&ctx, &port_id, &host).await?;
    policy::authorize_action(&s, &ctx, "activate", MEMBER, &ATTRS, &b, None).await?;
    let b = s
        .plugin
        .activate_port_binding(&ctx, &port_id, &host)
        .await?;
    let bytes = serde_json::to_vec(&view(&b)).map_err(|e| {
        crate::error::ApiError(neutrino_ml2::Error::neutron(
            "HTTPInternalServerError",
            500,
            e.to_string(),
        ))
    })?;
    Ok(respond::json_response(StatusCode::OK, bytes))
}
