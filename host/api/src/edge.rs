//! The HTTP edge: what a request must look like before any handler sees it, and Neutron's
//! error body on everything refused there.
//!
//! - A header line (`Name: value`) or request line longer than `max_header_line` (Neutron's
//!   option, 16384 bytes) is a 400. The offending value is never logged, only its header's
//!   name (cut short) and its length.
//! - A body larger than `max_request_body_size` (oslo.middleware's option, 114688 bytes;
//!   driver uploads to `/v2.0/mechanism-drivers/{name}` have their own, larger limit) is a
//!   413 with a NeutronError body. A client that asked for `100-continue` gets the answer
//!   before sending its body; one that sends the whole body before reading (Python's
//!   `http.client`, most SDKs) has up to [`DRAIN_BYTES`] of it read and thrown away first, so
//!   that closing the connection does not reset it before it reads the answer.
//! - Whatever a framework extractor refuses in plain text (a path segment that is not UTF-8,
//!   a body that cannot be read) leaves with a NeutronError body of the same status.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::error::ApiError;

/// How much of a refused body is read and discarded before answering, at most.
pub const DRAIN_BYTES: u64 = 16 << 20;

/// How long reading a refused body may take, at most.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The limits the edge enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Longest request body, in bytes (`max_request_body_size`).
    pub max_request_body_size: u64,
    /// Longest header line or request line, in bytes (`max_header_line`).
    pub max_header_line: usize,
    /// Longest driver upload request body (`PUT /v2.0/mechanism-drivers/{name}`), in bytes:
    /// a 64 MiB component in base64 with its manifest and settings.
    pub max_upload_size: u64,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            max_request_body_size: 114_688,
            max_header_line: 16_384,
            max_upload_size: crate::resources::mechanism_drivers::MAX_UPLOAD_BODY_BYTES as u64,
        }
    }
}

impl EdgeLimits {
    /// The body limit for a path.
    pub fn body_limit(&self, path: &str) -> u64 {
        if path.starts_with("/v2.0/mechanism-drivers/") {
            self.max_upload_size.max(self.max_request_body_size)
        } else {
            self.max_request_body_size
        }
    }
}

/// Check the request line and headers, read the body within its limit, run the request,
/// and give plain-text refusals Neutron's error body.
pub async fn guard(State(limits): State<EdgeLimits>, req: Request, next: Next) -> Response {
    if let Some(refusal) = long_line(&req, limits.max_header_line) {
        return refusal;
    }
    let limit = limits.body_limit(req.uri().path());
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let expects_continue = parts
        .headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if declared.is_some_and(|n| n > limit) {
        // Not reading the body at all means hyper never sends `100 Continue`: the client
        // that waits for it gets the 413 instead and sends nothing.
        let drained = if expects_continue {
            false
        } else {
            drain(body, 0).await
        };
        return too_large(limit, drained);
    }
    let bytes = match read_within(body, limit).await {
        Ok(bytes) => bytes,
        Err(Unread::TooLarge { drained }) => return too_large(limit, drained),
        Err(Unread::Broken(e)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "HTTPBadRequest",
                format!("Failed to read the request body: {e}"),
                true,
            );
        }
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    neutron_error_body(next.run(req).await).await
}

/// A 400 for the first line over `max`: the request line, then each header.
fn long_line(req: &Request, max: usize) -> Option<Response> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    // `METHOD SP target SP HTTP/1.1`
    let request_line = req.method().as_str().len() + 1 + target + 9;
    if request_line > max {
        tracing::warn!(
            bytes = request_line,
            max_header_line = max,
            "refused a request line longer than max_header_line"
        );
        return Some(refuse(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            format!(
                "Line too long: the request line is {request_line} bytes, more than max_header_line ({max})."
            ),
            true,
        ));
    }
    for (name, value) in req.headers() {
        let line = name.as_str().len() + 2 + value.len();
        if line > max {
            let shown = cut(name.as_str(), 64);
            tracing::warn!(
                header = %shown,
                bytes = line,
                max_header_line = max,
                "refused a header line longer than max_header_line"
            );
            return Some(refuse(
                StatusCode::BAD_REQUEST,
                "HTTPBadRequest",
                format!(
                    "Line too long: the {shown} header line is {line} bytes, more than max_header_line ({max})."
                ),
                true,
            ));
        }
    }
    None
}

/// At most `max` bytes of `s`, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

enum Unread {
    TooLarge { drained: bool },
    Broken(String),
}

/// The whole body, if it is at most `limit` bytes; past that, drain the rest (bounded).
async fn read_within(mut body: Body, limit: u64) -> Result<Bytes, Unread> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Unread::Broken(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() as u64 + data.len() as u64 > limit {
            let seen = buf.len() as u64 + data.len() as u64;
            return Err(Unread::TooLarge {
                drained: drain(body, seen).await,
            });
        }
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

/// Read and discard the rest of a refused body, up to [`DRAIN_BYTES`] in all and
/// [`DRAIN_TIME`]; true if it was read to its end.
async fn drain(mut body: Body, mut seen: u64) -> bool {
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Ok(data) = frame.into_data() {
                seen += data.len() as u64;
                if seen > DRAIN_BYTES {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .unwrap_or(false)
}

/// The 413. When the body was not read to its end, the connection cannot carry another
/// request: say so, so the server closes it after this answer.
fn too_large(limit: u64, drained: bool) -> Response {
    tracing::warn!(
        max_request_body_size = limit,
        "refused a request body larger than max_request_body_size"
    );
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "HTTPRequestEntityTooLarge",
        format!("Request is too large. The request body is larger than {limit} bytes."),
        !drained,
    )
}

/// Neutron's error body, optionally with `Connection: close`.
fn refuse(status: StatusCode, kind: &'static str, message: String, close: bool) -> Response {
    let mut response =
        ApiError(neutrino_ml2::Error::neutron(kind, status.as_u16(), message)).into_response();
    if close {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Neutron's type for a status, for refusals that come without one.
fn kind_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "HTTPBadRequest",
        401 => "HTTPUnauthorized",
        403 => "HTTPForbidden",
        404 => "HTTPNotFound",
        405 => "HTTPMethodNotAllowed",
        406 => "HTTPNotAcceptable",
        409 => "HTTPConflict",
        413 => "HTTPRequestEntityTooLarge",
        415 => "HTTPUnsupportedMediaType",
        422 => "HTTPUnprocessableEntity",
        503 => "HTTPServiceUnavailable",
        s if s >= 500 => "HTTPInternalServerError",
        _ => "HTTPBadRequest",
    }
}

/// An error answered in plain text (a framework extractor's refusal) gets Neutron's body
/// with the same status and the text as its message.
async fn neutron_error_body(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let mut refused = refuse(status, kind_of(status), text, false);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            refused.headers_mut().insert(name.clone(), value.clone());
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_uploads_have_their_own_limit_and_everything_else_the_option() {
        let limits = EdgeLimits::default();
        assert_eq!(limits.body_limit("/v2.0/ports"), 114_688);
        assert_eq!(
            limits.body_limit("/v2.0/mechanism-drivers/ovs"),
            limits.max_upload_size
        );
    }

    #[test]
    fn cutting_keeps_characters_whole() {
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("ab", 64), "ab");
    }
}
