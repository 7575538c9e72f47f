//! Scripted HTTP: answers per method and URL, and a record of every request
//! that reached the transport (that is, passed the phase and allow-list
//! checks).

use neutrino_runtime::{
    HttpTransport, InboundResponse, OutboundRequest, TransportError, async_trait,
};
use std::sync::Mutex;

/// A request a driver sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

type Answer = Result<(u16, Vec<u8>), TransportError>;

/// An [`HttpTransport`] answering from a script.
#[derive(Default)]
pub struct ScriptedHttp {
    answers: Mutex<Vec<(String, String, Answer)>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ScriptedHttp {
    /// No answers yet: every request fails to connect.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answer `method url` (exact match; the latest answer wins).
    pub fn answer(&self, method: &str, url: &str, answer: Answer) {
        lock(&self.answers).push((method.to_ascii_uppercase(), url.to_string(), answer));
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    /// Forget recorded requests.
    pub fn clear(&self) {
        lock(&self.requests).clear();
    }
}

#[async_trait]
impl HttpTransport for ScriptedHttp {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError> {
        let method = request.method.as_str().to_string();
        let url = request.url.to_string();
        lock(&self.requests).push(RecordedRequest {
            method: method.clone(),
            url: url.clone(),
            headers: request.headers,
            body: request.body,
        });
        let answer = lock(&self.answers)
            .iter()
            .rev()
            .find(|(m, u, _)| *m == method && *u == url)
            .map(|(_, _, a)| a.clone());
        match answer {
            Some(Ok((status, body))) => {
                if body.len() > request.max_response_bytes {
                    return Err(TransportError::TooLarge);
                }
                Ok(InboundResponse {
                    status,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body,
                })
            }
            Some(Err(e)) => Err(e),
            None => Err(TransportError::Connect(format!(
                "no scripted answer for {method} {url}"
            ))),
        }
    }
}
