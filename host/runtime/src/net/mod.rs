//! Outbound HTTP for drivers: which destinations a driver may reach
//! ([`allowlist`]) and how requests travel ([`HttpTransport`]; the real one
//! is [`HyperTransport`], the SDK harness scripts its own).
//!
//! The `http` import checks the URL against the driver's allow-list before
//! anything else happens; a transport then resolves the name and connects
//! only to addresses the matching entry allows
//! ([`allowlist::Destination::allows_ip`]), so a name that resolves to the
//! metadata service or loopback cannot sneak through.

pub mod allowlist;
pub mod destinations;
mod hyper_transport;

pub use allowlist::{Allowlist, Destination};
pub use hyper_transport::HyperTransport;

use async_trait::async_trait;
use std::time::Duration;

/// A request a driver sent, already checked against its allow-list.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The driver sending it.
    pub driver: String,
    /// The method.
    pub method: http::Method,
    /// The absolute URL.
    pub url: http::Uri,
    /// Headers as the driver gave them (transports drop `Host` and
    /// hop-by-hop headers).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The whole exchange must finish within this.
    pub timeout: Duration,
    /// Largest response body to accept.
    pub max_response_bytes: usize,
    /// The allow-list entry that admitted the URL; transports must connect
    /// only to addresses it allows.
    pub destination: Destination,
    /// Whether the connection may be kept and reused (the driver's
    /// `http.keep_alive` setting).
    pub keep_alive: bool,
}

/// The answer to an [`OutboundRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundResponse {
    /// The status code.
    pub status: u16,
    /// The headers (values that are not UTF-8 are replaced lossily).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request failed; the driver sees the matching `http-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Not allowed (destination, address or hook).
    #[error("denied: {0}")]
    Denied(String),
    /// No complete response in time.
    #[error("timed out")]
    Timeout,
    /// Resolving, connecting or TLS failed.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The response body is too large.
    #[error("response too large")]
    TooLarge,
}

/// Carries an [`OutboundRequest`] to its destination.
#[async_trait]
pub trait HttpTransport: Send + Sync {
    /// Send `request` and read the response, within `request.timeout`.
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError>;
}
