//! `/v2.0/quotas` (extensions `quotas`, `quota_details`, `quota-check-limit`,
//! `quota-check-limit-default`): show, list, update and reset a project's limits, the
//! defaults, and limit/used/reserved per resource.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use neutrino_ml2::RequestContext;
use neutrino_ml2::quotas::QuotaUpdate;
use neutrino_policy::Lookup;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult, bad_request};
use crate::policy::{Fields, creds};
use crate::respond;

/// The quota routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/quotas", get(list).post(not_supported))
        .route("/v2.0/quotas/project", get(whoami_project))
        .route("/v2.0/quotas/tenant", get(whoami_tenant))
        .route(
            "/v2.0/quotas/{project}",
            get(show).put(update).delete(reset),
        )
        .route("/v2.0/quotas/{project}/default", get(defaults))
        .route("/v2.0/quotas/{project}/details", get(details))
}

struct Project<'a>(&'a str);

impl Fields for Project<'_> {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "project_id" | "tenant_id" => Lookup::Str(self.0),
            _ => Lookup::Absent,
        }
    }
}

fn allowed(s: &AppState, ctx: &RequestContext, rule: &str, project: &str) -> bool {
    let target = crate::policy::Subject {
        body: None,
        record: Some(&Project(project)),
        owner: None,
        parents: &Default::default(),
    };
    s.policy.check(rule, &creds(ctx), &target).allowed()
}

fn forbidden(rule: &str) -> ApiError {
    ApiError(neutrino_ml2::Error::neutron(
        "PolicyNotAuthorized",
        403,
        format!("rule:{rule} is disallowed by policy"),
    ))
}

/// Reading another project's quota needs `get_quota` (checked against the caller's own
/// project, as Neutron does).
fn may_read(s: &AppState, ctx: &RequestContext, project: &str) -> ApiResult<()> {
    if project == ctx.project_id || allowed(s, ctx, "get_quota", &ctx.project_id) {
        Ok(())
    } else {
        Err(forbidden("get_quota"))
    }
}

async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Response> {
    if !allowed(&s, &ctx, "get_quota", &ctx.project_id) {
        return Err(forbidden("get_quota"));
    }
    let items: Vec<Value> = s
        .plugin
        .list_quotas()
        .await?
        .into_iter()
        .map(|(p, limits)| {
            let mut m: Map<String, Value> =
                limits.into_iter().map(|(k, v)| (k, json!(v))).collect();
            m.insert("project_id".into(), json!(p));
            m.insert("tenant_id".into(), json!(p));
            Value::Object(m)
        })
        .collect();
    Ok(Json(json!({ "quotas": items })).into_response())
}

async fn show(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> ApiResult<Response> {
    may_read(&s, &ctx, &project)?;
    Ok(Json(json!({"quota": s.plugin.quota_of(&project).await?})).into_response())
}

async fn defaults(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> ApiResult<Response> {
    may_read(&s, &ctx, &project)?;
    let d: Map<String, Value> = s
        .plugin
        .quota_resources()
        .map(|r| (r.to_string(), json!(s.plugin.quota_default(r))))
        .collect();
    Ok(Json(json!({ "quota": d })).into_response())
}

async fn details(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> ApiResult<Response> {
    if project != ctx.project_id && !ctx.is_admin {
        return Err(ApiError(neutrino_ml2::Error::neutron(
            "AdminRequired",
            403,
            "User does not have admin privileges: Only admin is authorized to access quotas \
             for another project.",
        )));
    }
    let d: Map<String, Value> = s
        .plugin
        .quota_details(&project)
        .await?
        .into_iter()
        .map(|(r, d)| {
            (
                r,
                json!({"limit": d.limit, "used": d.used, "reserved": d.reserved}),
            )
        })
        .collect();
    Ok(Json(json!({ "quota": d })).into_response())
}

fn limit_of(resource: &str, v: &Value) -> ApiResult<i64> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(x) => x.trim().parse::<i64>().ok(),
        _ => None,
    };
    let bad = |why: String| {
        crate::error::invalid_input(format!("Invalid input for {resource}. Reason: {why}."))
    };
    let n = n.ok_or_else(|| bad(format!("'{}' is not an integer", respond_text(v))))?;
    if n < -1 {
        return Err(bad(format!("'{n}' is too small - must be at least '-1'")));
    }
    if n > 2_147_483_647 {
        return Err(bad(format!(
            "'{n}' is too large - must be no larger than '2147483647'"
        )));
    }
    Ok(n)
}

fn respond_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn update(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    if !allowed(&s, &ctx, "update_quota", &project) {
        return Err(forbidden("update_quota"));
    }
    let (objs, _) = respond::body(&body, "quota", "quotas", false)?;
    let mut u = QuotaUpdate::default();
    for (k, v) in &objs[0] {
        match k.as_str() {
            // Neutron compares `force` with `is not True`: only a JSON true forces.
            "force" => u.force = *v == Value::Bool(true),
            "check_limit" => {}
            r if s.plugin.quota_resources().any(|x| x == r) => {
                u.limits.insert(r.to_string(), limit_of(r, v)?);
            }
            other => {
                return Err(bad_request(format!("Unrecognized attribute(s) '{other}'")));
            }
        }
    }
    let limits = s.plugin.update_quota(&project, u).await?;
    Ok(Json(json!({ "quota": limits })).into_response())
}

async fn reset(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> ApiResult<Response> {
    if !allowed(&s, &ctx, "delete_quota", &project) {
        return Err(forbidden("delete_quota"));
    }
    s.plugin.delete_quota(&project).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn whoami_project(Extension(ctx): Extension<RequestContext>) -> ApiResult<Response> {
    Ok(Json(json!({"project": {"project_id": ctx.project_id}})).into_response())
}

async fn whoami_tenant(Extension(ctx): Extension<RequestContext>) -> ApiResult<Response> {
    Ok(Json(json!({"tenant": {"tenant_id": ctx.project_id}})).into_response())
}

async fn not_supported() -> ApiResult<Response> {
    Err(ApiError(neutrino_ml2::Error::neutron(
        "HTTPNotImplemented",
        501,
        "POST requests are not supported on this resource.",
    )))
}
