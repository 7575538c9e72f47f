//! `/v2.0/auto-allocated-topology/{project_id}` (extension `auto-allocated-topology`): `GET`
//! answers the project's network, building the topology on first call (`?fields=dry-run`
//! only checks that it could), `DELETE` removes it.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use neutrino_ml2::RequestContext;
use neutrino_policy::Lookup;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::policy::{self, Fields, Reader};
use crate::{AppState, query, respond};

const MEMBER: &str = "auto_allocated_topology";

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v2.0/auto-allocated-topology/{project_id}",
        get(show).delete(delete),
    )
}

/// What the policy sees of a topology: its project.
struct Topology<'a> {
    project_id: &'a str,
}

impl Fields for Topology<'_> {
    fn field(&self, key: &str) -> Lookup<'_> {
        match key {
            "project_id" | "tenant_id" => Lookup::Str(self.project_id),
            _ => Lookup::Absent,
        }
    }
}

async fn show(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let fields = query::fields_only(q.as_deref());
    let dry_run = fields.iter().any(|f| f == "dry-run");
    if !dry_run && !fields.is_empty() {
        return Err(ApiError(neutrino_ml2::Error::neutron(
            "BadRequest",
            400,
            "Bad auto_allocate request: Unrecognized field.",
        )));
    }
    let project = s.plugin.topology_project(&ctx, &project_id)?;
    // Neutron checks `get_auto_allocated_topology` on the answer and hides what it may not
    // show; checked first here, so that nothing is built for a caller who cannot see it.
    let record = Topology {
        project_id: &project,
    };
    if !Reader::new(&s, &ctx, MEMBER, &[]).may_read(&record).await? {
        return Err(crate::error::not_found_url());
    }
    let (id, project) = s
        .plugin
        .get_auto_allocated_topology(&ctx, &project, dry_run)
        .await?;
    respond::one(
        StatusCode::OK,
        MEMBER,
        &json!({"id": id, "tenant_id": project, "project_id": project}),
        &[],
    )
}

async fn delete(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project_id): Path<String>,
) -> ApiResult<Response> {
    let project = s.plugin.topology_project(&ctx, &project_id)?;
    let record = Topology {
        project_id: &project,
    };
    policy::authorize_change(&s, &ctx, "delete", MEMBER, &[], &record, None).await?;
    s.plugin
        .delete_auto_allocated_topology(&ctx, &project)
        .await?;
    Ok(respond::no_content())
}
