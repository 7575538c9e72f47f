//! `neutrino:ml2/http`: outbound requests. In order: the phase must allow
//! network (postcommit only), the request must be well-formed and within
//! size limits, the URL must match an allowed destination; only then does
//! the transport run, with a timeout of the smallest of the request's, the
//! driver's and what is left of the call's wall-clock budget.

use super::HostContext;
use crate::limits::{MAX_HTTP_HEADERS, MAX_HTTP_REQUEST_BODY};
use crate::net::allowlist::parse_target;
use crate::net::{InboundResponse, OutboundRequest, TransportError};
use std::time::{Duration, Instant};

/// A driver's request, as the contract describes it.
pub struct DriverRequest {
    /// The method.
    pub method: http::Method,
    /// The URL.
    pub url: String,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The driver's own timeout.
    pub timeout_ms: Option<u32>,
}

/// Send a driver's request if everything allows it.
pub async fn send(cx: &HostContext, req: DriverRequest) -> Result<InboundResponse, TransportError> {
    if !cx.phase.has_network() {
        return Err(TransportError::Denied(format!(
            "no network in {}",
            cx.phase.as_str()
        )));
    }
    if req.body.len() > MAX_HTTP_REQUEST_BODY {
        return Err(TransportError::Invalid(format!(
            "the body is {} bytes; the limit is {MAX_HTTP_REQUEST_BODY}",
            req.body.len()
        )));
    }
    if req.headers.len() > MAX_HTTP_HEADERS {
        return Err(TransportError::Invalid(format!(
            "{} headers; the limit is {MAX_HTTP_HEADERS}",
            req.headers.len()
        )));
    }
    let (url, target) = parse_target(&req.url).map_err(TransportError::Invalid)?;
    let Some(destination) = cx.env.allowlist.find(&target) else {
        tracing::warn!(driver = %cx.env.name, destination = %target, "driver sent a request to a destination it is not allowed");
        return Err(TransportError::Denied(format!(
            "{target} is not an allowed destination of driver `{}`",
            cx.env.name
        )));
    };
    let remaining = cx.deadline.saturating_duration_since(Instant::now());
    let requested = req
        .timeout_ms
        .map_or(Duration::MAX, |ms| Duration::from_millis(u64::from(ms)));
    let timeout = requested.min(cx.env.http.timeout).min(remaining);
    if timeout.is_zero() {
        return Err(TransportError::Timeout);
    }
    let request = OutboundRequest {
        driver: cx.env.name.clone(),
        method: req.method,
        url,
        headers: req.headers,
        body: req.body,
        timeout,
        max_response_bytes: cx.env.http.max_response_bytes,
        destination: destination.clone(),
        keep_alive: cx.env.http.keep_alive,
    };
    tracing::debug!(driver = %cx.env.name, destination = %target, ?timeout, "driver HTTP request");
    tokio::time::timeout(timeout, cx.env.transport.send(request))
        .await
        .unwrap_or(Err(TransportError::Timeout))
}
