//! Authentication: who the caller is. `noauth` trusts the `X-Project-Id` and `X-Roles`
//! headers (as Keystone's middleware would set them) and falls back to a configured admin
//! project when they are absent.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use neutrino_ml2::RequestContext;

use crate::AppState;
use crate::request_id::RequestId;

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Build the [`RequestContext`] of a request and store it in its extensions.
pub async fn noauth(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let project = header(&req, "x-project-id").or_else(|| header(&req, "x-tenant-id"));
    let roles: Vec<String> = match (&project, header(&req, "x-roles")) {
        (_, Some(r)) => r
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        (Some(_), None) => vec!["member".into()],
        (None, None) => vec!["admin".into()],
    };
    let is_admin = roles.iter().any(|r| r == "admin");
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let ctx = RequestContext {
        project_id: project.unwrap_or_else(|| state.config.default_project_id.clone()),
        user_id: header(&req, "x-user-id").unwrap_or_default(),
        roles,
        is_admin,
        request_id,
    };
    req.extensions_mut().insert(ctx);
    next.run(req).await
}
