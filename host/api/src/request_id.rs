//! Request ids and access logs: every response carries `X-Openstack-Request-Id: req-<uuid>`,
//! and every request is logged with that id, method, path, status and duration.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Assign the id, run the request, add the header, log the outcome.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = logged_path(req.uri().path());
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-openstack-request-id", v);
    }
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(request_id = %id, %method, path = %path, status, duration_ms = format!("{ms:.2}"), "request");
    response
}

/// The path as logged: at most [`LOGGED_PATH_BYTES`] of it, with its length when cut.
fn logged_path(path: &str) -> String {
    if path.len() <= LOGGED_PATH_BYTES {
        return path.to_string();
    }
    let mut end = LOGGED_PATH_BYTES;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…({} bytes)", &path[..end], path.len())
}

/// The longest path logged whole.
pub const LOGGED_PATH_BYTES: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_path_is_logged_cut_with_its_length() {
        let long = format!("/v2.0/networks/{}", "a".repeat(20_000));
        let logged = logged_path(&long);
        assert!(logged.len() < 600, "{}", logged.len());
        assert!(logged.ends_with("…(20015 bytes)"), "{logged}");
        assert_eq!(logged_path("/v2.0/ports"), "/v2.0/ports");
    }
}
