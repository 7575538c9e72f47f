//! Scripted HTTP: answers per method and URL (with headers, e.g. a login's
//! `set-cookie`, and sequences such as "fail twice, then succeed"), and a
//! record of every request that reached the transport (that is, passed the
//! phase and allow-list checks).

use neutrino_runtime::{
    HttpTransport, InboundResponse, OutboundRequest, TransportError, async_trait,
};
use std::collections::VecDeque;
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

/// One scripted answer: a response (status, headers, body) or a transport error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A response.
    Response {
        /// The status.
        status: u16,
        /// The headers (`content-type: application/json` is added when absent).
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// The request fails (the controller is down: `TransportError::Connect`).
    Error(TransportError),
}

impl From<Answer> for Reply {
    fn from(a: Answer) -> Reply {
        match a {
            Ok((status, body)) => Reply::Response {
                status,
                headers: Vec::new(),
                body,
            },
            Err(e) => Reply::Error(e),
        }
    }
}

/// The answers of one method and URL: taken in order, the last one repeats.
struct Script {
    method: String,
    url: String,
    replies: VecDeque<Reply>,
}

/// An [`HttpTransport`] answering from a script.
#[derive(Default)]
pub struct ScriptedHttp {
    answers: Mutex<Vec<Script>>,
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

    /// Answer `method url` (exact match; the latest script wins).
    pub fn answer(&self, method: &str, url: &str, answer: Answer) {
        self.answer_sequence(method, url, vec![answer.into()]);
    }

    /// Answer `method url` with `replies` in order; the last one repeats
    /// (`[Error(Connect), Error(Connect), Response 200]`: fail twice, then
    /// succeed).
    pub fn answer_sequence(&self, method: &str, url: &str, replies: Vec<Reply>) {
        if replies.is_empty() {
            return;
        }
        lock(&self.answers).push(Script {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            replies: replies.into(),
        });
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
            .iter_mut()
            .rev()
            .find(|s| s.method == method && s.url == url)
            .map(|s| {
                if s.replies.len() > 1 {
                    s.replies.pop_front().expect("not empty")
                } else {
                    s.replies[0].clone()
                }
            });
        match answer {
            Some(Reply::Response {
                status,
                mut headers,
                body,
            }) => {
                if body.len() > request.max_response_bytes {
                    return Err(TransportError::TooLarge);
                }
                if !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                Ok(InboundResponse {
                    status,
                    headers,
                    body,
                })
            }
            Some(Reply::Error(e)) => Err(e),
            None => Err(TransportError::Connect(format!(
                "no scripted answer for {method} {url}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutrino_runtime::net::{Allowlist, allowlist::parse_target};

    fn request(method: &str, url: &str) -> OutboundRequest {
        let allow = Allowlist::parse(&["http://ctrl"]).unwrap();
        let (uri, target) = parse_target(url).unwrap();
        OutboundRequest {
            driver: "d".into(),
            method: method.parse().unwrap(),
            destination: allow.find(&target).unwrap().clone(),
            url: uri,
            headers: Vec::new(),
            body: Vec::new(),
            timeout: std::time::Duration::from_secs(1),
            max_response_bytes: 1 << 20,
            keep_alive: true,
        }
    }

    #[tokio::test]
    async fn a_sequence_fails_twice_then_answers_with_headers_for_good() {
        let http = ScriptedHttp::new();
        let down = Reply::Error(TransportError::Connect("refused".into()));
        http.answer_sequence(
            "post",
            "http://ctrl/login",
            vec![
                down.clone(),
                down,
                Reply::Response {
                    status: 200,
                    headers: vec![("set-cookie".into(), "session=abc".into())],
                    body: b"{}".to_vec(),
                },
            ],
        );

        let mut outcomes = Vec::new();
        for _ in 0..4 {
            outcomes.push(http.send(request("POST", "http://ctrl/login")).await);
        }

        assert!(matches!(outcomes[0], Err(TransportError::Connect(_))));
        assert!(matches!(outcomes[1], Err(TransportError::Connect(_))));
        for ok in &outcomes[2..] {
            let r = ok.as_ref().unwrap();
            assert_eq!(r.status, 200);
            assert!(
                r.headers
                    .contains(&("set-cookie".into(), "session=abc".into()))
            );
        }
        assert_eq!(http.requests().len(), 4);
    }
}
