//! `/v2.0/mechanism-drivers/{name}/state` (admins only): what a driver keeps in its state, and
//! resetting one key.
//!
//! - `GET …/state[?prefix=P]`: `{"state": [{"key", "value", "encoding", "size"}]}`, sorted by
//!   key; a value that is valid UTF-8 is shown as it is (`encoding` `utf-8`), any other in
//!   base64 (`encoding` `base64`).
//! - `DELETE …/state/{key}` (the key may contain `/`): 204, or 404 `DriverStateKeyNotFound`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use neutrino_ml2::RequestContext;
use neutrino_ml2::mech::operator_state::StateEntry;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiResult;
use crate::resources::mechanism_drivers::admin;

/// Routes of the state endpoints.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/mechanism-drivers/{name}/state", get(list))
        .route(
            "/v2.0/mechanism-drivers/{name}/state/{*key}",
            delete(remove),
        )
}

/// Query parameters of the listing.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// Only keys starting with this.
    #[serde(default)]
    prefix: String,
}

/// The wire form of one key.
fn view(e: &StateEntry) -> Value {
    let (value, encoding) = match std::str::from_utf8(&e.value) {
        Ok(text) => (text.to_string(), "utf-8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&e.value),
            "base64",
        ),
    };
    json!({"key": e.key, "value": value, "encoding": encoding, "size": e.value.len()})
}

async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(params): Query<ListParams>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "get_mechanism_driver")?;
    let entries = s.plugin.mech().state_entries(&name, &params.prefix).await?;
    let items: Vec<Value> = entries.iter().map(view).collect();
    Ok(Json(json!({ "state": items })).into_response())
}

async fn remove(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, key)): Path<(String, String)>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "update_mechanism_driver")?;
    s.plugin
        .mech()
        .delete_state_key(&name, &key, &ctx.project_id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
