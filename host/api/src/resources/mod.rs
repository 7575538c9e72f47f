//! The REST resources. Each one describes its attribute map, how a checked body becomes a
//! plugin request and how a record is rendered; the handlers here do the rest the same way
//! for every resource (envelopes, bulk, fields, pagination, If-Match, status codes).

pub mod address_groups;
pub mod address_scopes;
pub mod agents;
pub mod availability_zones;
pub mod driver_state;
pub mod flavors;
pub mod floatingips;
pub mod ip_availability;
pub mod mechanism_drivers;
pub mod networks;
pub mod port_attrs;
pub mod port_bindings;
pub mod ports;
pub mod quotas;
pub mod rbac_policies;
pub mod routers;
pub mod security_group_rules;
pub mod security_groups;
pub mod sg_defaults;
pub mod subnetpools;
pub mod subnets;
pub mod tags;

use std::future::Future;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use neutrino_ml2::RequestContext;
use neutrino_ml2::store::query::ListQuery;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::attrs::{Attr, Op, check_body, owner};
use crate::error::{ApiResult, not_found_url};
use crate::policy::{self, Fields, Reader, Shown};
use crate::{AppState, query, respond};

/// A collection of the API.
pub trait Resource: Send + Sync + 'static {
    /// Singular body key (`network`).
    const MEMBER: &'static str;
    /// Collection name in URLs and bodies (`networks`).
    const COLLECTION: &'static str;
    /// Collection key in bodies (`security_groups` where the URL says `security-groups`).
    const BODY_COLLECTION: &'static str = Self::COLLECTION;
    /// Whether `POST` takes a list (`{"networks": [...]}`).
    const BULK: bool = true;
    /// Attributes hidden unless `get_<member>:<attr>` allows them (the view gets a
    /// [`Shown`] with bit i for the i-th).
    const GUARDED: &'static [&'static str] = &[];
    /// Stored record.
    type Item: Send + Sync + Fields;
    /// Rendered record.
    type View<'a>: Serialize + Send
    where
        Self: 'a;

    /// The attribute map.
    fn attrs() -> &'static [Attr];
    /// The attribute map as this server serves it: without the attributes of ML2 extension
    /// drivers that `[ml2] extension_drivers` leaves off.
    fn served_attrs(s: &AppState) -> &'static [Attr] {
        s.config
            .extension_drivers
            .attrs(Self::MEMBER, Self::attrs())
    }
    /// Render a record for the caller, with the guarded attributes it may read.
    fn view<'a>(item: &'a Self::Item, ctx: &RequestContext, shown: Shown) -> Self::View<'a>;
    /// The record's id.
    fn id(item: &Self::Item) -> &str;
    /// Create from checked bodies (all or none).
    fn create(
        s: &AppState,
        ctx: &RequestContext,
        bodies: Vec<Map<String, Value>>,
    ) -> impl Future<Output = ApiResult<Vec<Self::Item>>> + Send;
    /// List.
    fn list(
        s: &AppState,
        ctx: &RequestContext,
        q: ListQuery,
    ) -> impl Future<Output = ApiResult<Vec<Self::Item>>> + Send;
    /// Show.
    fn get(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
    ) -> impl Future<Output = ApiResult<Self::Item>> + Send;
    /// Update from a checked body.
    fn update(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        body: Map<String, Value>,
        if_match: Option<i64>,
    ) -> impl Future<Output = ApiResult<Self::Item>> + Send;
    /// Delete.
    fn delete(
        s: &AppState,
        ctx: &RequestContext,
        id: &str,
        if_match: Option<i64>,
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

/// The five routes of a resource.
pub fn routes<R: Resource>() -> Router<AppState> {
    let base = format!("/v2.0/{}", R::COLLECTION);
    Router::new()
        .route(&base, get(list::<R>).post(create::<R>))
        .route(
            &format!("{base}/{{id}}"),
            get(show::<R>).put(update::<R>).delete(delete::<R>),
        )
}

async fn create<R: Resource>(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (objs, bulk) = respond::body(&body, R::MEMBER, R::BODY_COLLECTION, R::BULK)?;
    let checked = objs
        .iter()
        .map(|o| check_body(R::served_attrs(&s), o, Op::Create))
        .collect::<ApiResult<Vec<_>>>()?;
    for m in &checked {
        let project = owner(m, &ctx)?;
        policy::authorize_create(&s, &ctx, R::MEMBER, R::served_attrs(&s), m, &project).await?;
    }
    let items = R::create(&s, &ctx, checked).await?;
    let mut reader = Reader::new(&s, &ctx, R::MEMBER, R::GUARDED);
    let mut shown = Vec::with_capacity(items.len());
    for i in &items {
        shown.push(reader.shown(i).await?);
    }
    let views: Vec<_> = items
        .iter()
        .zip(shown)
        .map(|(i, sh)| R::view(i, &ctx, sh))
        .collect();
    match (bulk, views.first()) {
        (false, Some(v)) => respond::one(StatusCode::CREATED, R::MEMBER, v, &[]),
        _ => respond::many(StatusCode::CREATED, R::BODY_COLLECTION, &views),
    }
}

async fn list<R: Resource>(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let params = query::parse(
        q.as_deref(),
        R::served_attrs(&s),
        R::COLLECTION,
        s.config.pagination_max_limit,
        &ctx,
    )?;
    let mut items = R::list(&s, &ctx, params.query.clone()).await?;
    // Pagination links follow the rows the database returned, also when policy drops some.
    let ids = (
        items.first().map(|i| R::id(i).to_string()),
        items.last().map(|i| R::id(i).to_string()),
    );
    let mut reader = Reader::new(&s, &ctx, R::MEMBER, R::GUARDED);
    let mut keep = Vec::with_capacity(items.len());
    let mut shown = Vec::with_capacity(items.len());
    for i in &items {
        let ok = reader.may_read(i).await?;
        keep.push(ok);
        if ok {
            shown.push(reader.shown(i).await?);
        }
    }
    let mut k = keep.iter();
    items.retain(|_| *k.next().unwrap_or(&false));
    let views: Vec<_> = items
        .iter()
        .zip(shown)
        .map(|(i, sh)| R::view(i, &ctx, sh))
        .collect();
    respond::list(
        R::BODY_COLLECTION,
        &views,
        (ids.0.as_deref(), ids.1.as_deref()),
        &params,
        uri.path(),
        &headers,
        s.config.enable_proxy_headers_parsing,
    )
}

async fn show<R: Resource>(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let item = R::get(&s, &ctx, &id).await?;
    let mut reader = Reader::new(&s, &ctx, R::MEMBER, R::GUARDED);
    if !reader.may_read(&item).await? {
        return Err(not_found_url());
    }
    let shown = reader.shown(&item).await?;
    respond::one(
        StatusCode::OK,
        R::MEMBER,
        &R::view(&item, &ctx, shown),
        &query::fields_only(q.as_deref()),
    )
}

async fn update<R: Resource>(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (objs, _) = respond::body(&body, R::MEMBER, R::BODY_COLLECTION, false)?;
    let m = check_body(R::served_attrs(&s), &objs[0], Op::Update)?;
    let current = R::get(&s, &ctx, &id).await?;
    policy::authorize_change(
        &s,
        &ctx,
        "update",
        R::MEMBER,
        R::served_attrs(&s),
        &current,
        Some(&m),
    )
    .await?;
    let item = R::update(&s, &ctx, &id, m, respond::if_match(&headers)?).await?;
    let shown = Reader::new(&s, &ctx, R::MEMBER, R::GUARDED)
        .shown(&item)
        .await?;
    respond::one(StatusCode::OK, R::MEMBER, &R::view(&item, &ctx, shown), &[])
}

async fn delete<R: Resource>(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let current = R::get(&s, &ctx, &id).await?;
    policy::authorize_change(
        &s,
        &ctx,
        "delete",
        R::MEMBER,
        R::served_attrs(&s),
        &current,
        None,
    )
    .await?;
    R::delete(&s, &ctx, &id, respond::if_match(&headers)?).await?;
    Ok(respond::no_content())
}
