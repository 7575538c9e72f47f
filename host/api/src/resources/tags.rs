//! The tags sub-resource: `/v2.0/{collection}/{id}/tags[/{tag}]`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use neutrino_ml2::RequestContext;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiResult, bad_request, invalid_input, not_found_url};

/// Routes for tags of every taggable collection.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2.0/{collection}/{id}/tags",
            get(list).put(replace).post(create).delete(clear),
        )
        .route(
            "/v2.0/{collection}/{id}/tags/{tag}",
            get(check).put(add).delete(remove),
        )
}

fn taggable(collection: &str) -> ApiResult<()> {
    neutrino_ml2::tags::taggable(collection)
        .map(|_| ())
        .ok_or_else(not_found_url)
}

fn check_tag(tag: &str) -> ApiResult<()> {
    if tag.is_empty() || tag.chars().count() > 255 || tag.contains(',') || tag.contains('/') {
        return Err(bad_request(format!(
            "Invalid input for tags. Reason: '{tag}' is not a valid tag (1 to 255 characters, no ',' or '/')."
        )));
    }
    Ok(())
}

async fn list(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    taggable(&collection)?;
    let tags = s.plugin.get_tags(&ctx, &collection, &id).await?;
    Ok(Json(json!({ "tags": tags })).into_response())
}

/// The `{"tags": [...]}` body of `PUT` and `POST …/tags`: unique, valid tags.
fn tags_body(body: &[u8]) -> ApiResult<Vec<String>> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        crate::error::ApiError(neutrino_ml2::Error::neutron(
            "MalformedRequestBody",
            400,
            format!("Malformed request body: {e}"),
        ))
    })?;
    let Some(Value::Array(items)) = v.get("tags") else {
        return Err(invalid_input("Invalid tags body"));
    };
    let mut tags: Vec<String> = Vec::new();
    for t in items {
        let Some(t) = t.as_str() else {
            return Err(bad_request(format!(
                "Invalid input for tags. Reason: '{t}' is not a valid string."
            )));
        };
        check_tag(t)?;
        if tags.iter().any(|x| x == t) {
            return Err(invalid_input(format!("Duplicate items in the list: '{t}'")));
        }
        tags.push(t.to_string());
    }
    Ok(tags)
}

async fn replace(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((collection, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    taggable(&collection)?;
    let tags = tags_body(&body)?;
    let tags = s.plugin.replace_tags(&ctx, &collection, &id, tags).await?;
    Ok(Json(json!({ "tags": tags })).into_response())
}

/// `POST …/tags` (`tag-creation`): add several tags, keep the others; 200 with the tags
/// asked for.
async fn create(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((collection, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    taggable(&collection)?;
    let tags = tags_body(&body)?;
    let tags = s.plugin.add_tags(&ctx, &collection, &id, tags).await?;
    Ok(Json(json!({ "tags": tags })).into_response())
}

async fn clear(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((collection, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    taggable(&collection)?;
    s.plugin.clear_tags(&ctx, &collection, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn check(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((collection, id, tag)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    taggable(&collection)?;
    s.plugin.has_tag(&ctx, &collection, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((collection, id, tag)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    taggable(&collection)?;
    check_tag(&tag)?;
    s.plugin.add_tag(&ctx, &collection, &id, &tag).await?;
    Ok(StatusCode::CREATED.into_response())
}

async fn remove(
    State(s): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((collection, id, tag)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    taggable(&collection)?;
    s.plugin.remove_tag(&ctx, &collection, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
