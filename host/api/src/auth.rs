//! Authentication: who the caller is. `noauth` trusts the `X-Project-Id` and `X-Roles`
//! headers (as Keystone's middleware would set them) and falls back to a configured admin
//! project when they are absent; `keystone` validates the token (see [`crate::keystone`]).

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use neutrino_ml2::RequestContext;
use neutrino_policy::{NoTarget, Policy};

use crate::AppState;
use crate::request_id::RequestId;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Roles a role implies, as `keystone-manage bootstrap` sets them up
/// (admin ⇒ manager ⇒ member ⇒ reader): Keystone lists them in tokens; `noauth` adds them.
pub fn with_implied(roles: Vec<String>) -> Vec<String> {
    const CHAIN: [&str; 4] = ["admin", "manager", "member", "reader"];
    let mut out = roles;
    if let Some(top) = CHAIN.iter().position(|r| out.iter().any(|x| x == r)) {
        for r in &CHAIN[top + 1..] {
            if !out.iter().any(|x| x == r) {
                out.push((*r).to_string());
            }
        }
    }
    out
}

/// Split an `X-Roles` value: comma-separated, trimmed, lower-cased.
pub fn split_roles(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Set the flags Neutron derives from the roles through its policy: `is_admin`
/// (`context_is_admin`) and `is_service` (`service_api`).
pub fn finish(ctx: &mut RequestContext, policy: &Policy) {
    let c = crate::policy::creds(ctx);
    let is_admin = policy.check("context_is_admin", &c, &NoTarget).allowed();
    let is_service = policy.check("service_api", &c, &NoTarget).allowed();
    ctx.is_admin = is_admin;
    ctx.is_service = is_service;
}

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Identity headers are trusted.
    NoAuth,
    /// Keystone tokens.
    Keystone(std::sync::Arc<crate::keystone::Keystone>),
}

/// The authentication layer: builds the caller's [`RequestContext`] (or answers 401/503).
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match &state.auth {
        Auth::NoAuth => noauth(state.clone(), req, next).await,
        Auth::Keystone(k) => {
            let k = k.clone();
            keystone(state, &k, req, next).await
        }
    }
}

async fn keystone(
    state: AppState,
    k: &crate::keystone::Keystone,
    mut req: Request,
    next: Next,
) -> Response {
    use crate::keystone::{AuthError, token_of, unauthorized, unavailable};
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    // Only the version document needs no token, as in Neutron.
    if req.uri().path() == "/" {
        req.extensions_mut().insert(RequestContext {
            request_id,
            ..RequestContext::default()
        });
        return next.run(req).await;
    }
    let Some(token) = token_of(req.headers()).map(str::to_string) else {
        return unauthorized(k.config());
    };
    let info = match k.validate(&token).await {
        Ok(i) => i,
        Err(AuthError::Invalid(why)) => {
            tracing::info!(%why, "token refused");
            return unauthorized(k.config());
        }
        Err(AuthError::Unavailable(why)) => {
            tracing::warn!(%why, "Keystone unavailable");
            return unavailable();
        }
    };
    if let Some(service) = req
        .headers()
        .get("x-service-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    {
        match k.validate(&service).await {
            Ok(s) => {
                let cfg = k.config();
                if cfg.service_token_roles_required
                    && !cfg
                        .service_token_roles
                        .iter()
                        .any(|r| s.ctx.has_role(&r.to_ascii_lowercase()))
                {
                    return unauthorized(cfg);
                }
            }
            Err(AuthError::Invalid(_)) => return unauthorized(k.config()),
            Err(AuthError::Unavailable(_)) => return unavailable(),
        }
    }
    let mut ctx = info.ctx.clone();
    ctx.request_id = request_id;
    finish(&mut ctx, &state.policy);
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

/// Build the [`RequestContext`] of a request from identity headers and store it in its
/// extensions.
async fn noauth(state: AppState, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let project = header(headers, "x-project-id").or_else(|| header(headers, "x-tenant-id"));
    let roles: Vec<String> = match (&project, header(headers, "x-roles")) {
        (_, Some(r)) => split_roles(&r),
        (Some(_), None) => vec!["member".into()],
        (None, None) => vec!["admin".into()],
    };
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let mut ctx = RequestContext {
        project_id: project.unwrap_or_else(|| state.config.default_project_id.clone()),
        user_id: header(headers, "x-user-id").unwrap_or_default(),
        roles: with_implied(roles),
        is_admin_project: true,
        request_id,
        ..RequestContext::default()
    };
    finish(&mut ctx, &state.policy);
    req.extensions_mut().insert(ctx);
    next.run(req).await
}
