//! The MidoNet API client (python-midonetclient's `auth_lib`, `httpclient` and the neutron
//! URL provider):
//!
//! - login: `POST <midonet_uri>/login` with `Authorization: Basic` and `X-Auth-Project`;
//!   the token is the value of the `sessionId` cookie, sent as `X-Auth-Token` afterwards.
//!   It is kept in the session cache, and of concurrent calls finding none one logs in
//!   (single flight); a 401 drops it, logs in once more and retries once;
//! - discovery: `GET <midonet_uri>` (`Application-v5`) names the `neutron` document,
//!   whose `GET` (`Neutron-v3`) names the collections and `{id}` templates; kept in the
//!   session cache too;
//! - failures: refused connections, timeouts and 5xx are `unavailable` (retryable),
//!   other refusals permanent.

use std::time::Duration;

use neutrino_driver::http::{Client, Method, Response};
use neutrino_driver::{DriverError, ErrorKind, info, session};
use serde_json::{Map, Value};

use crate::settings::Settings;

/// `Accept` of the API root.
pub const APPLICATION: &str = "application/vnd.org.midonet.Application-v5+json";
/// `Accept` of the neutron document.
pub const NEUTRON: &str = "application/vnd.org.midonet.neutron.Neutron-v3+json";

const TOKEN: &str = "token";
const URIS: &str = "neutron-uris";
/// How long a token is used before logging in again anyway.
const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// How long the discovered URIs are kept.
const URIS_TTL: Duration = Duration::from_secs(3600);
/// How long a call waits for another call's login.
const LOGIN_WAIT: Duration = Duration::from_secs(10);

/// A client for one configuration.
pub struct Midonet<'a> {
    settings: &'a Settings,
    http: Client,
}

impl<'a> Midonet<'a> {
    /// A client for `settings`.
    pub fn new(settings: &'a Settings) -> Midonet<'a> {
        Midonet {
            settings,
            http: Client::new(),
        }
    }

    /// The current token, logging in if there is none.
    fn token(&self) -> Result<String, DriverError> {
        let bytes = session::get_or_fill(TOKEN, LOGIN_WAIT, TOKEN_TTL, || self.login())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn login(&self) -> Result<Vec<u8>, DriverError> {
        let s = self.settings;
        let url = format!("{}/login", s.midonet_uri);
        info!("logging in to the MidoNet API at {url}");
        let credentials = format!("{}:{}", s.username, s.password);
        let headers = vec![
            (
                "authorization".to_string(),
                format!("Basic {}", base64(credentials.as_bytes())),
            ),
            ("x-auth-project".to_string(), s.project_id.clone()),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        let response = self.transport(Method::Post, &url, headers, b"{}".to_vec())?;
        if !response.is_success() {
            return Err(status_error("log in", &response));
        }
        let cookie = response.header("set-cookie").unwrap_or_default();
        let session = cookie.split(';').next().unwrap_or_default();
        match session.split_once('=') {
            Some((_, token)) if !token.is_empty() => Ok(token.as_bytes().to_vec()),
            _ => Err(DriverError::internal(format!(
                "the MidoNet login answered without a session cookie ({cookie:?})"
            ))),
        }
    }

    fn transport(
        &self,
        method: Method,
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Response, DriverError> {
        self.http.send(method, url, headers, body).map_err(|e| {
            DriverError::unavailable(format!("MidoNet API at {url}: {}", e.describe()))
        })
    }

    /// Send with the token; on 401 log in once more and send again once.
    pub fn request(
        &self,
        method: Method,
        url: &str,
        media_headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Response, DriverError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| DriverError::internal(e.to_string()))?,
            None => Vec::new(),
        };
        let send = |token: &str| {
            let mut headers: Vec<(String, String)> = media_headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            headers.push(("x-auth-token".into(), token.to_string()));
            self.transport(method, url, headers, bytes.clone())
        };
        let token = self.token()?;
        let response = send(&token)?;
        if response.status != 401 {
            return Ok(response);
        }
        info!("the MidoNet API refused the token (401): logging in again");
        // Drop it unless another call already replaced it.
        if session::get(TOKEN).as_deref() == Some(token.as_bytes()) {
            session::delete(TOKEN);
        }
        send(&self.token()?)
    }

    /// The neutron document's URIs, discovered once and kept.
    pub fn uris(&self) -> Result<Map<String, Value>, DriverError> {
        let bytes = session::get_or_fill(URIS, LOGIN_WAIT, URIS_TTL, || {
            let root = self.get_json(&self.settings.midonet_uri, APPLICATION)?;
            let neutron = root
                .get("neutron")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    DriverError::internal("the MidoNet API root names no `neutron` URI")
                })?
                .to_string();
            let document = self.get_json(&neutron, NEUTRON)?;
            serde_json::to_vec(&document).map_err(|e| DriverError::internal(e.to_string()))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| DriverError::internal(e.to_string()))
    }

    fn get_json(&self, url: &str, media_type: &str) -> Result<Map<String, Value>, DriverError> {
        let response = self.request(Method::Get, url, &[("accept", media_type)], None)?;
        if !response.is_success() {
            return Err(status_error(&format!("GET {url}"), &response));
        }
        response.json()
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
        format!("the MidoNet API answered {status} to {what}: {body}"),
    )
}

/// Standard base64 with padding (RFC 4648), for the Basic credentials.
fn base64(bytes: &[u8]) -> String {
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
