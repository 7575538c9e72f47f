//! `GET /v2.0/availability_zones` (extensions `availability_zone`, `availability_zone_filter`)
//! and the check of `availability_zone_hints` (`network_availability_zone`).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use neutrino_ml2::RequestContext;
use neutrino_ml2::availability_zones::ZoneFilter;
use serde_json::{Map, Value, json};

use crate::error::{ApiResult, bad_request, invalid_input};
use crate::{AppState, query, respond};

/// The route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v2.0/availability_zones", get(list))
}

/// Neutron's `type:availability_zone_hint_list`: unique strings of at most 255 characters,
/// 255 characters in all once stored as JSON.
pub fn hints(m: &Map<String, Value>) -> ApiResult<Vec<String>> {
    let items = match m.get("availability_zone_hints") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid_input(format!(
                "Invalid input for availability_zone_hints. Reason: '{other}' is not a list."
            )));
        }
    };
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let Some(h) = i.as_str() else {
            return Err(invalid_input(format!(
                "Invalid input for availability_zone_hints. Reason: '{i}' is not a valid string."
            )));
        };
        if h.chars().count() > 255 {
            return Err(invalid_input(format!(
                "Invalid input for availability_zone_hints. Reason: '{h}' exceeds maximum length of 255."
            )));
        }
        if out.iter().any(|o| o == h) {
            return Err(invalid_input(format!(
                "Invalid input for availability_zone_hints. Reason: Duplicate items in the list: '{h}'."
            )));
        }
        out.push(h.to_string());
    }
    if serde_json::to_string(&out).map(|s| s.len()).unwrap_or(0) > 255 {
        return Err(invalid_input("Too many availability_zone_hints specified"));
    }
    Ok(out)
}

async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let mut f = ZoneFilter::default();
    let mut fields = Vec::new();
    for (k, v) in query::pairs(q.as_deref()) {
        match k.as_str() {
            "name" => f.names.push(v),
            "resource" => f.resources.push(v),
            "state" => f.states.push(v),
            "fields" => fields.push(v),
            "sort_key" | "sort_dir" | "limit" | "marker" | "page_reverse" => {}
            other => {
                return Err(bad_request(format!(
                    "['{other}'] is invalid attribute for filtering"
                )));
            }
        }
    }
    let zones = s.plugin.availability_zones(&ctx, f).await?;
    let items: Vec<Value> = zones
        .into_iter()
        .map(|z| {
            let full = [
                ("name", z.name),
                ("resource", z.resource),
                ("state", z.state),
            ];
            Value::Object(
                full.into_iter()
                    .filter(|(k, _)| fields.is_empty() || fields.iter().any(|f| f == k))
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect(),
            )
        })
        .collect();
    respond::many(StatusCode::OK, "availability_zones", &items)
}
