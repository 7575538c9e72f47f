//! Outbound HTTP to the destinations the operator allowed. Needs the `http`
//! capability, and works only in `*_postcommit` hooks: elsewhere every request
//! fails with [`HttpError::Denied`].
//!
//! ```ignore
//! let client = neutrino_driver::http::Client::new().timeout_ms(2_000);
//! let response = client.post_json("https://ctrl.example.net/v1/ports", &body)?;
//! if !response.is_success() { /* ... */ }
//! ```

use crate::bindings::neutrino::ml2::http as host;
use crate::{DriverError, ErrorKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use host::{HttpError, Method, Request, Response};

/// A small HTTP client: default headers and a timeout applied to every
/// request.
#[derive(Debug, Clone, Default)]
pub struct Client {
    headers: Vec<(String, String)>,
    timeout_ms: Option<u32>,
}

impl Client {
    /// A client without default headers; the host's timeout applies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Send `name: value` with every request (e.g. `Authorization`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Give up after `ms` milliseconds (the host may allow less).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Send a request with this client's headers and timeout added.
    pub fn send(
        &self,
        method: Method,
        url: &str,
        mut headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Response, HttpError> {
        let mut all = self.headers.clone();
        all.append(&mut headers);
        host::send(&Request {
            method,
            url: url.to_string(),
            headers: all,
            body,
            timeout_ms: self.timeout_ms,
        })
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<Response, HttpError> {
        self.send(Method::Get, url, Vec::new(), Vec::new())
    }

    /// `DELETE url`.
    pub fn delete(&self, url: &str) -> Result<Response, HttpError> {
        self.send(Method::Delete, url, Vec::new(), Vec::new())
    }

    /// `POST url` with `body` as JSON.
    pub fn post_json<T: Serialize + ?Sized>(
        &self,
        url: &str,
        body: &T,
    ) -> Result<Response, HttpError> {
        self.json(Method::Post, url, body)
    }

    /// `PUT url` with `body` as JSON.
    pub fn put_json<T: Serialize + ?Sized>(
        &self,
        url: &str,
        body: &T,
    ) -> Result<Response, HttpError> {
        self.json(Method::Put, url, body)
    }

    /// `PATCH url` with `body` as JSON.
    pub fn patch_json<T: Serialize + ?Sized>(
        &self,
        url: &str,
        body: &T,
    ) -> Result<Response, HttpError> {
        self.json(Method::Patch, url, body)
    }

    fn json<T: Serialize + ?Sized>(
        &self,
        method: Method,
        url: &str,
        body: &T,
    ) -> Result<Response, HttpError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| HttpError::Invalid(format!("cannot encode JSON body: {e}")))?;
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        self.send(method, url, headers, body)
    }
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded from JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, DriverError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            DriverError::internal(format!(
                "response (status {}) is not the expected JSON: {e}",
                self.status
            ))
        })
    }
}

impl HttpError {
    /// A one-line description, e.g. `denied: no network in precommit`.
    pub fn describe(&self) -> String {
        match self {
            HttpError::Denied(m) => format!("denied: {m}"),
            HttpError::Timeout => "timed out".to_string(),
            HttpError::Connect(m) => format!("connection failed: {m}"),
            HttpError::Invalid(m) => format!("invalid request: {m}"),
            HttpError::TooLarge => "response too large".to_string(),
        }
    }
}

impl From<HttpError> for DriverError {
    fn from(e: HttpError) -> Self {
        let kind = match e {
            HttpError::Timeout | HttpError::Connect(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        DriverError {
            kind,
            message: format!("http: {}", e.describe()),
        }
    }
}
