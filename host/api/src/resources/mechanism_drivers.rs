//! `/v2.0/mechanism-drivers` (extension alias `mechanism-drivers`, admins only): list the
//! loaded drivers with their counters; load, upgrade or reconfigure one (`PUT` with an
//! `application/wasm` body, or a JSON body); roll back; remove; show its history.

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use neutrino_ml2::RequestContext;
use neutrino_ml2::mech::registry::{DriverInfo, HistoryItem, LoadRequest};
use neutrino_runtime::DriverSettings;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult, bad_request};

/// Largest component accepted (64 MiB), however it is sent: as a raw `application/wasm`
/// body or base64 in a JSON body (what the CLI sends with settings).
pub const MAX_UPLOAD_BYTES: usize = 64 << 20;

/// Largest upload request body: a component of [`MAX_UPLOAD_BYTES`] in base64 (4/3 larger)
/// with room for the manifest and settings beside it. The component's own size is checked
/// after decoding, so both forms have the same limit.
pub const MAX_UPLOAD_BODY_BYTES: usize = MAX_UPLOAD_BYTES / 3 * 4 + (1 << 20);

/// The 413 for a component past [`MAX_UPLOAD_BYTES`].
fn component_too_large(size: usize) -> ApiError {
    ApiError(neutrino_ml2::Error::neutron(
        "HTTPRequestEntityTooLarge",
        413,
        format!(
            "Request is too large. The component is {size} bytes; the largest accepted is {MAX_UPLOAD_BYTES} bytes (64 MiB)."
        ),
    ))
}

/// Routes of the extension.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/mechanism-drivers", get(list))
        .route(
            "/v2.0/mechanism-drivers/{name}",
            get(show)
                .put(load)
                .delete(remove)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY_BYTES)),
        )
        .route("/v2.0/mechanism-drivers/{name}/rollback", put(rollback))
        .route("/v2.0/mechanism-drivers/{name}/history", get(history))
        .route("/v2.0/mechanism-drivers/{name}/journal", get(journal))
        .route(
            "/v2.0/mechanism-drivers/{name}/journal/{entry_id}",
            axum::routing::delete(journal_drop),
        )
        .route(
            "/v2.0/mechanism-drivers/{name}/journal/{entry_id}/retry",
            axum::routing::post(journal_retry),
        )
}

pub(crate) fn admin(s: &AppState, ctx: &RequestContext, rule: &str) -> ApiResult<()> {
    let allowed = s
        .policy
        .check(rule, &crate::policy::creds(ctx), &neutrino_policy::NoTarget)
        .allowed();
    if allowed {
        Ok(())
    } else {
        Err(ApiError(neutrino_ml2::Error::neutron(
            "PolicyNotAuthorized",
            403,
            format!("rule:{rule} is disallowed by policy"),
        )))
    }
}

fn ms(d: Option<std::time::Duration>) -> Value {
    d.map(|d| json!((d.as_secs_f64() * 1e6).round() / 1e3))
        .unwrap_or(Value::Null)
}

/// The wire form of a driver.
pub fn view(d: &DriverInfo) -> Value {
    json!({
        "name": d.name,
        "version": d.version,
        "sha256": d.sha256,
        "contract": d.contract,
        "description": d.description,
        "state": if d.enabled { "enabled" } else { "disabled" },
        "position": d.position,
        "capabilities": d.capabilities,
        "failure_policy": d.failure_policy,
        "version_id": d.version_id,
        "previous_version_id": d.previous_version,
        "compiled_from_cache": d.compiled_from_cache,
        "prepare_ms": (d.prepare_ms * 1000.0).round() / 1000.0,
        "settings": serde_json::to_value(&d.settings).unwrap_or(Value::Null),
        "quarantined": d.quarantined,
        "journal": d.journal,
        "periodic_interval": d.periodic_interval,
        "hooks": d.hooks,
        "stats": {
            "calls": d.stats.calls,
            "ok": d.stats.ok,
            "errors": d.stats.errors,
            "refusals": d.stats.refusals,
            "traps": d.stats.traps,
            "timeouts": d.stats.timeouts,
            "resource_limits": d.stats.resource_limits,
            "invalid_results": d.stats.invalid,
            "busy": d.stats.busy,
            "p50_ms": ms(d.stats.p50),
            "p99_ms": ms(d.stats.p99),
            "calls_by_version": d.stats.by_version,
            "last_fault": d.stats.last_fault,
        },
    })
}

fn history_view(h: &HistoryItem) -> Value {
    json!({"at": h.at, "action": h.action, "version": h.version, "version_id": h.version_id, "by": h.by, "detail": h.detail})
}

async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "get_mechanism_driver")?;
    let items: Vec<Value> = s.plugin.mech().list().iter().map(view).collect();
    Ok(Json(json!({ "mechanism_drivers": items })).into_response())
}

fn not_found(name: &str) -> ApiError {
    ApiError(neutrino_ml2::Error::neutron(
        "MechanismDriverNotFound",
        404,
        format!("Mechanism driver {name} could not be found."),
    ))
}

async fn show(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "get_mechanism_driver")?;
    let d = s
        .plugin
        .mech()
        .info(&name)
        .ok_or_else(|| not_found(&name))?;
    Ok(Json(json!({ "mechanism_driver": view(&d) })).into_response())
}

/// Query parameters of an upload.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// Call order.
    pub position: Option<i64>,
}

/// The JSON form of `PUT`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct JsonBody {
    /// The component, base64.
    wasm: Option<String>,
    /// A `.wasm` file name in the server's drivers directory.
    path: Option<String>,
    /// `driver.toml` text.
    manifest: Option<String>,
    /// Operator settings (replace the current ones).
    settings: Option<DriverSettings>,
    /// Enable or disable.
    enabled: Option<bool>,
    /// Call order.
    position: Option<i64>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

async fn load(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    admin(&s, &ctx, "update_mechanism_driver")?;
    let existed = s.plugin.mech().info(&name).is_some();
    let mech = s.plugin.mech();
    let info = if is_json(&headers) {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| bad_request(format!("Malformed request body: {e}")))?;
        let inner = v
            .get("mechanism_driver")
            .cloned()
            .ok_or_else(|| bad_request("Unable to find 'mechanism_driver' in request body"))?;
        let b: JsonBody = serde_json::from_value(inner)
            .map_err(|e| bad_request(format!("Invalid input for mechanism_driver: {e}")))?;
        let mut wasm = match &b.wasm {
            Some(text) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| {
                        bad_request(format!("Invalid input for wasm: not base64 ({e})"))
                    })?,
            ),
            None => None,
        };
        if let Some(w) = &wasm
            && w.len() > MAX_UPLOAD_BYTES
        {
            return Err(component_too_large(w.len()));
        }
        let mut manifest = b.manifest.clone();
        if let Some(file) = &b.path {
            let (w, m) = read_from_directory(&s, file)?;
            wasm = Some(w);
            manifest = manifest.or(m);
        }
        let changes_code = wasm.is_some() || b.settings.is_some() || manifest.is_some();
        let mut info = None;
        if changes_code || b.position.is_some() {
            info = Some(
                mech.load(LoadRequest {
                    name: name.clone(),
                    wasm,
                    manifest,
                    settings: b.settings,
                    position: b.position,
                    by: ctx.project_id.clone(),
                })
                .await?,
            );
        }
        if let Some(enabled) = b.enabled {
            info = Some(mech.set_enabled(&name, enabled, &ctx.project_id).await?);
        }
        match info {
            Some(i) => i,
            None => {
                return Err(bad_request(
                    "Nothing to change: give wasm, path, manifest, settings, enabled or position",
                ));
            }
        }
    } else {
        if body.is_empty() {
            return Err(bad_request(
                "Empty body: send the driver's .wasm as application/wasm",
            ));
        }
        if body.len() > MAX_UPLOAD_BYTES {
            return Err(component_too_large(body.len()));
        }
        let manifest = headers
            .get("x-neutrino-manifest")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_else(|| v.to_string())
            });
        mech.load(LoadRequest {
            name: name.clone(),
            wasm: Some(body.to_vec()),
            manifest,
            settings: None,
            position: params.position,
            by: ctx.project_id.clone(),
        })
        .await?
    };
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(json!({ "mechanism_driver": view(&info) }))).into_response())
}

fn read_from_directory(s: &AppState, file: &str) -> ApiResult<(Vec<u8>, Option<String>)> {
    let dir = s
        .drivers_dir
        .as_ref()
        .ok_or_else(|| bad_request("This server has no drivers directory"))?;
    let name = std::path::Path::new(file);
    let valid = name.components().count() == 1 && name.extension().is_some_and(|e| e == "wasm");
    if !valid {
        return Err(bad_request(format!(
            "Invalid input for path: '{file}' must be a .wasm file name in the drivers directory"
        )));
    }
    let path = dir.join(name);
    let wasm = std::fs::read(&path)
        .map_err(|e| bad_request(format!("Cannot read {}: {e}", path.display())))?;
    let manifest = std::fs::read_to_string(path.with_extension("toml")).ok();
    Ok((wasm, manifest))
}

async fn rollback(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "update_mechanism_driver")?;
    let info = s.plugin.mech().rollback(&name, &ctx.project_id).await?;
    Ok(Json(json!({ "mechanism_driver": view(&info) })).into_response())
}

async fn remove(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "delete_mechanism_driver")?;
    s.plugin.mech().remove(&name, &ctx.project_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn history(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "get_mechanism_driver")?;
    let items: Vec<Value> = s
        .plugin
        .mech()
        .history(&name)
        .await?
        .iter()
        .map(history_view)
        .collect();
    Ok(Json(json!({ "history": items })).into_response())
}

/// `?state=pending|failed` of the journal listing.
#[derive(Debug, Deserialize)]
struct JournalQuery {
    state: Option<String>,
}

fn journal_entry_view(e: &neutrino_store::journal::Entry) -> Value {
    let at = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
    };
    json!({
        "id": e.id,
        "resource_type": e.resource_type,
        "resource_id": e.resource_id,
        "depends_on": e.parents,
        "operation": e.operation,
        "state": e.state,
        "attempts": e.attempts,
        "next_attempt_at": if e.state == "pending" && e.next_attempt_ms > 0 { json!(at(e.next_attempt_ms)) } else { Value::Null },
        "last_error": e.last_error,
        "claimed_by": if e.claim_until_ms > neutrino_store::journal::now_ms() { json!(e.claimed_by) } else { Value::Null },
        "created_at": at(e.created_ms),
        "context": serde_json::from_str::<Value>(&e.context).unwrap_or(Value::Null),
    })
}

/// `GET /v2.0/mechanism-drivers/{name}/journal[?state=pending|failed]`.
async fn journal(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<JournalQuery>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "get_mechanism_driver")?;
    let view = s.plugin.mech().journal(&name, q.state.as_deref()).await?;
    let entries: Vec<Value> = view.entries.iter().map(journal_entry_view).collect();
    Ok(Json(json!({ "journal": {
        "driver": name,
        "pending": view.summary.pending,
        "failed": view.summary.failed,
        "delivered": view.summary.delivered,
        "oldest_pending_age": view.oldest_pending_age.map(|a| (a * 1000.0).round() / 1000.0),
        "entries": entries,
    }}))
    .into_response())
}

fn journal_entry_id(name: &str, entry_id: &str) -> ApiResult<i64> {
    entry_id.parse().map_err(|_| {
        ApiError(neutrino_ml2::Error::neutron(
            "JournalEntryNotFound",
            404,
            format!("Journal entry {entry_id} of mechanism driver {name} could not be found."),
        ))
    })
}

/// `POST /v2.0/mechanism-drivers/{name}/journal/{entry_id}/retry`: deliver it again now.
async fn journal_retry(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, entry_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "update_mechanism_driver")?;
    let id = journal_entry_id(&name, &entry_id)?;
    s.plugin.mech().journal_retry(&name, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v2.0/mechanism-drivers/{name}/journal/{entry_id}`: drop it undelivered.
async fn journal_drop(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, entry_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    admin(&s, &ctx, "update_mechanism_driver")?;
    let id = journal_entry_id(&name, &entry_id)?;
    s.plugin.mech().journal_drop(&name, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
