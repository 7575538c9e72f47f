//! `/v2.0/network-ip-availabilities[/{network_id}]` (extensions `network-ip-availability`
//! and `network-ip-availability-details`), admins and the `service` role only.
//!
//! Figures can pass 2^64 (and 2^128), so the JSON is written here, numbers as their exact
//! decimal digits, rather than through `serde_json::Value`.

use std::fmt::Write;
use std::sync::LazyLock;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use neutrino_ml2::RequestContext;
use neutrino_ml2::ip_availability::{Details, NetworkAvailability};

use crate::attrs::{Attr, Kind, attr};
use crate::error::{ApiResult, invalid_input};
use crate::{AppState, query, respond};

/// The filters and sort key of the collection.
pub static ATTRS: LazyLock<Vec<Attr>> = LazyLock::new(|| {
    vec![
        attr("network_id", Kind::Uuid).column("id"),
        attr("network_name", Kind::Str(255)).filter("name"),
        attr("tenant_id", Kind::Str(255)).filter("project_id"),
        attr("project_id", Kind::Str(255)).filter("project_id"),
    ]
});

const COLLECTION: &str = "network_ip_availabilities";

/// The two routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/network-ip-availabilities", get(list))
        .route("/v2.0/network-ip-availabilities/{id}", get(show))
}

fn string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn details(out: &mut String, d: &Details) {
    let _ = write!(
        out,
        "{{\"total_ips_in_subnet\":{},\"total_ips_in_allocation_pool\":{},\
         \"used_ips_in_subnet\":{},\"used_ips_in_allocation_pool\":{}}}",
        d.total_ips_in_subnet,
        d.total_ips_in_allocation_pool,
        d.used_ips_in_subnet,
        d.used_ips_in_allocation_pool
    );
}

/// One network as JSON, with only `fields` when any are asked for.
fn render(n: &NetworkAvailability, fields: &[String]) -> String {
    let wanted = |k: &str| fields.is_empty() || fields.iter().any(|f| f == k);
    let mut parts: Vec<String> = Vec::new();
    let mut field = |k: &str, write: &dyn Fn(&mut String)| {
        if wanted(k) {
            let mut s = String::new();
            string(&mut s, k);
            s.push(':');
            write(&mut s);
            parts.push(s);
        }
    };
    field("network_id", &|o| string(o, &n.network_id));
    field("network_name", &|o| string(o, &n.network_name));
    field("project_id", &|o| string(o, &n.project_id));
    field("tenant_id", &|o| string(o, &n.project_id));
    field("total_ips", &|o| {
        let _ = write!(o, "{}", n.total_ips);
    });
    field("used_ips", &|o| {
        let _ = write!(o, "{}", n.used_ips);
    });
    field("subnet_ip_availability", &|o| {
        o.push('[');
        for (i, s) in n.subnets.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"subnet_id\":");
            string(o, &s.subnet_id);
            o.push_str(",\"subnet_name\":");
            string(o, &s.subnet_name);
            let _ = write!(o, ",\"ip_version\":{},\"cidr\":", s.ip_version);
            string(o, &s.cidr);
            let _ = write!(
                o,
                ",\"total_ips\":{},\"used_ips\":{},\"ip_availability_details\":",
                s.total_ips, s.used_ips
            );
            details(o, &s.details);
            o.push('}');
        }
        o.push(']');
    });
    field("ip_availability_details", &|o| details(o, &n.details));
    format!("{{{}}}", parts.join(","))
}

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `ip_version` filters subnets as well as networks, so it is taken out of the query
/// before the rest is parsed as for any collection.
fn split_ip_version(raw: Option<&str>) -> ApiResult<(Vec<i64>, String)> {
    let mut versions = Vec::new();
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query::pairs(raw) {
        if k == "ip_version" {
            match v.trim().parse::<i64>() {
                Ok(n @ (4 | 6)) => versions.push(n),
                _ => {
                    return Err(invalid_input(format!(
                        "Invalid input for ip_version. Reason: '{v}' is not in [4, 6]."
                    )));
                }
            }
        } else {
            rest.append_pair(&k, &v);
        }
    }
    Ok((versions, rest.finish()))
}

async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (versions, rest) = split_ip_version(q.as_deref())?;
    let mut params = query::parse(
        Some(&rest),
        &ATTRS,
        "network-ip-availabilities",
        s.config.pagination_max_limit,
        &ctx,
    )?;
    // The pagination links keep the ip_version filter.
    params.pairs = query::pairs(q.as_deref());
    let items = s
        .plugin
        .network_ip_availabilities(&ctx, params.query.clone(), &versions)
        .await?;
    let mut out = format!("{{\"{COLLECTION}\":[");
    for (i, n) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&render(n, &params.fields));
    }
    out.push(']');
    if let Some(limit) = params.query.limit {
        let ids = (
            items.first().map(|n| n.network_id.as_str()),
            items.last().map(|n| n.network_id.as_str()),
        );
        let links = respond::links(
            items.len() as u64,
            limit,
            ids,
            &params,
            uri.path(),
            &headers,
            s.config.enable_proxy_headers_parsing,
        );
        let _ = write!(
            out,
            ",\"{COLLECTION}_links\":{}",
            serde_json::to_string(&links).unwrap_or_else(|_| "[]".into())
        );
    }
    out.push('}');
    Ok(json(StatusCode::OK, out))
}

async fn show(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let n = s.plugin.network_ip_availability(&ctx, &id).await?;
    let fields = query::fields_only(q.as_deref());
    Ok(json(
        StatusCode::OK,
        format!("{{\"network_ip_availability\":{}}}", render(&n, &fields)),
    ))
}
