//! The REST client of ODL's neutron northbound (networking-odl's
//! `OpenDaylightRestClient`): HTTP Basic authentication, JSON bodies, the `timeout`
//! setting, and the mapping of failures to driver errors the journal understands
//! (connection refused, timeouts and 5xx are `unavailable`: retried; other refusals are
//! permanent).

use neutrino_driver::http::{Client, Method, Response};
use neutrino_driver::{DriverError, ErrorKind};
use serde_json::Value;

use crate::settings::Settings;

/// A client for one configuration.
pub struct Odl {
    http: Client,
    base: String,
}

impl Odl {
    /// A client for `settings`.
    pub fn new(settings: &Settings) -> Odl {
        let credentials = format!("{}:{}", settings.username, settings.password);
        let timeout_ms = u32::try_from(settings.timeout.saturating_mul(1000)).unwrap_or(u32::MAX);
        Odl {
            http: Client::new()
                .header(
                    "authorization",
                    format!("Basic {}", base64(credentials.as_bytes())),
                )
                .header("accept", "application/json")
                .timeout_ms(timeout_ms),
            base: settings.url.clone(),
        }
    }

    /// `base/path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path)
    }

    /// Send `method` to `url` with an optional JSON body. Transport failures are
    /// `unavailable`; any status comes back as a response.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Response, DriverError> {
        let (headers, bytes) = match body {
            Some(b) => (
                vec![("content-type".to_string(), "application/json".to_string())],
                serde_json::to_vec(b).map_err(|e| DriverError::internal(e.to_string()))?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        self.http.send(method, url, headers, bytes).map_err(|e| {
            DriverError::unavailable(format!("OpenDaylight at {url}: {}", e.describe()))
        })
    }
}

/// The error for a response with a failure status.
pub fn status_error(what: &str, response: &Response) -> DriverError {
    let status = response.status;
    let kind = match status {
        408 | 429 | 500..=599 => ErrorKind::Unavailable,
        400 | 422 => ErrorKind::InvalidInput,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        _ => ErrorKind::Internal,
    };
    let mut body = response.text();
    body.truncate(200);
    DriverError::new(
        kind,
        format!("OpenDaylight answered {status} to {what}: {body}"),
    )
}

/// Standard base64 with padding (RFC 4648), for the Basic credentials.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
