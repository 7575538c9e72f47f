//! Building responses: single resources, lists with `fields` and pagination links, and the
//! request-body envelope (`{"network": …}` or, in bulk, `{"networks": […]}`).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, bad_request};
use crate::query::ListParams;

/// Keep only `fields` of a rendered resource.
fn select(v: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return v;
    }
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect(),
        ),
        other => other,
    }
}

/// A JSON body with a status.
pub fn json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

/// `{member: item}` with status.
pub fn one<T: Serialize>(
    status: StatusCode,
    member: &str,
    item: &T,
    fields: &[String],
) -> ApiResult<Response> {
    let v = serde_json::to_value(item).map_err(internal)?;
    let mut m = Map::new();
    m.insert(member.to_string(), select(v, fields));
    Ok(json_response(
        status,
        serde_json::to_vec(&m).map_err(internal)?,
    ))
}

/// `{collection: items}` (bulk create).
pub fn many<T: Serialize>(
    status: StatusCode,
    collection: &str,
    items: &[T],
) -> ApiResult<Response> {
    let mut m = Map::new();
    m.insert(
        collection.to_string(),
        serde_json::to_value(items).map_err(internal)?,
    );
    Ok(json_response(
        status,
        serde_json::to_vec(&m).map_err(internal)?,
    ))
}

fn internal(e: serde_json::Error) -> ApiError {
    ApiError(neutrino_ml2::Error::neutron(
        "HTTPInternalServerError",
        500,
        e.to_string(),
    ))
}

/// A pagination link.
#[derive(Serialize)]
pub struct Link {
    rel: &'static str,
    href: String,
}

/// A list response: `{collection: [...], collection_links: [...]}` (links when paginated).
pub fn list<T: Serialize>(
    collection: &str,
    items: &[T],
    ids: (Option<&str>, Option<&str>),
    params: &ListParams,
    path: &str,
    headers: &HeaderMap,
    proxy: bool,
) -> ApiResult<Response> {
    let mut out = Vec::with_capacity(items.len() * 1500 + 64);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(collection.as_bytes());
    out.extend_from_slice(b"\":");
    if params.fields.is_empty() {
        serde_json::to_writer(&mut out, items).map_err(internal)?;
    } else {
        let selected: Vec<Value> = items
            .iter()
            .map(|i| serde_json::to_value(i).map(|v| select(v, &params.fields)))
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        serde_json::to_writer(&mut out, &selected).map_err(internal)?;
    }
    if let Some(limit) = params.query.limit {
        let links = links(items.len() as u64, limit, ids, params, path, headers, proxy);
        out.extend_from_slice(b",\"");
        out.extend_from_slice(collection.as_bytes());
        out.extend_from_slice(b"_links\":");
        serde_json::to_writer(&mut out, &links).map_err(internal)?;
    }
    out.push(b'}');
    Ok(json_response(StatusCode::OK, out))
}

/// The scheme and host a client reached us by. `X-Forwarded-Proto` always names the scheme
/// (Neutron's `get_path_url`); with `proxy` (oslo.middleware's
/// `enable_proxy_headers_parsing`) the first proxy's `Forwarded` (RFC 7239 `proto=`/`host=`)
/// wins, else `X-Forwarded-Host` replaces `Host`, and `X-Forwarded-Prefix` goes before the
/// path.
fn origin(headers: &HeaderMap, proxy: bool) -> (String, String, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let mut scheme = header("x-forwarded-proto").map(String::from);
    let mut host = header("x-forwarded-host")
        .filter(|_| proxy)
        .map(String::from);
    if let Some(fwd) = header("forwarded").filter(|_| proxy) {
        // The first proxy's element; pairs are `;`-separated, values may be quoted.
        let first = fwd.split(',').next().unwrap_or_default();
        let (mut p, mut h) = (None, None);
        for pair in first.split(';') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "proto" if !v.is_empty() => p = Some(v),
                "host" if !v.is_empty() => h = Some(v),
                _ => {}
            }
        }
        scheme = p.or(scheme);
        host = h.or(host);
    }
    let host = host
        .or_else(|| header("host").map(String::from))
        .unwrap_or_else(|| "localhost:9696".into());
    // Only what can be part of an authority: a hostile header cannot inject a path.
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(*c))
        .collect();
    let scheme = match scheme.as_deref() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let prefix = header("x-forwarded-prefix")
        .filter(|_| proxy)
        .map(|p| format!("/{}", p.trim_matches('/')))
        .filter(|p| p != "/" && !p.contains(['?', '#', ' ']))
        .unwrap_or_default();
    (scheme.to_string(), host, prefix)
}

/// Neutron's `get_pagination_links`: no "next" after a short forward page, no "previous"
/// after a short backward one. A link's marker is the first (previous) or last (next) item
/// of the page; an empty page's links carry no marker, so a client that walked off the end
/// can walk back from the last item (`page_reverse=True` without a marker).
pub fn links(
    count: u64,
    limit: u64,
    ids: (Option<&str>, Option<&str>),
    params: &ListParams,
    path: &str,
    headers: &HeaderMap,
    proxy: bool,
) -> Vec<Link> {
    let mut links = Vec::new();
    let reverse = params.query.page_reverse;
    let (scheme, host, prefix) = origin(headers, proxy);
    let href = |marker: Option<&str>, page_reverse: bool| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &params.pairs {
            if k != "marker" && k != "page_reverse" && k != "limit" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("limit", &limit.to_string());
        if let Some(m) = marker {
            ser.append_pair("marker", m);
        }
        if page_reverse {
            ser.append_pair("page_reverse", "True");
        }
        format!("{scheme}://{host}{prefix}{path}?{}", ser.finish())
    };
    if count >= limit || reverse {
        links.push(Link {
            rel: "next",
            href: href(ids.1, false),
        });
    }
    if count >= limit || !reverse {
        links.push(Link {
            rel: "previous",
            href: href(ids.0, true),
        });
    }
    links
}

/// Parse a request body into resource objects: `{member: {...}}` or, when allowed,
/// `{collection: [{...}, ...]}`. Returns the objects and whether it was a bulk request.
pub fn body(
    bytes: &[u8],
    member: &str,
    collection: &str,
    bulk: bool,
) -> ApiResult<(Vec<Map<String, Value>>, bool)> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError(neutrino_ml2::Error::neutron(
            "MalformedRequestBody",
            400,
            format!("Malformed request body: {e}"),
        ))
    })?;
    let Value::Object(mut top) = v else {
        return Err(bad_request(format!(
            "Unable to find '{member}' in request body"
        )));
    };
    if let Some(item) = top.remove(member) {
        return match item {
            Value::Object(m) => Ok((vec![m], false)),
            _ => Err(bad_request(format!(
                "Unable to find '{member}' in request body"
            ))),
        };
    }
    if bulk && let Some(Value::Array(items)) = top.remove(collection) {
        let mut out = Vec::with_capacity(items.len());
        for i in items {
            match i {
                // Neutron's `prepare_request_body` takes bulk items wrapped in the member
                // key (`{"ports": [{"port": {…}}]}`) as well as bare ones.
                Value::Object(mut m) if matches!(m.get(member), Some(Value::Object(_))) => {
                    match m.remove(member) {
                        Some(Value::Object(inner)) => out.push(inner),
                        _ => unreachable!("matched an object"),
                    }
                }
                Value::Object(m) => out.push(m),
                _ => {
                    return Err(bad_request(format!(
                        "Invalid format: each item of '{collection}' must be an object"
                    )));
                }
            }
        }
        if out.is_empty() {
            return Err(bad_request(format!(
                "Resources required: '{collection}' is empty"
            )));
        }
        return Ok((out, true));
    }
    Err(bad_request(format!(
        "Unable to find '{member}' in request body"
    )))
}

/// The `If-Match: revision_number=N` constraint, if any.
pub fn if_match(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let mut found = None;
    for v in headers.get_all(axum::http::header::IF_MATCH) {
        let Ok(text) = v.to_str() else { continue };
        for tag in text.split(',') {
            let tag = tag.trim().trim_matches('"');
            if let Some(n) = tag.strip_prefix("revision_number=") {
                if found.is_some() {
                    return Err(bad_request(
                        "Multiple revision_number etags are not supported.",
                    ));
                }
                found = Some(n.parse::<i64>().map_err(|_| {
                    bad_request(
                        "Revision number etag must be in the format of revision_number=<int>",
                    )
                })?);
            }
        }
    }
    Ok(found)
}

/// 204 No Content.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
