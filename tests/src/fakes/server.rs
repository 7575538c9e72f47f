//! A loopback HTTP/1.1 server for fake vendor backends: a [`Backend`] answers requests,
//! the server records every request that reached it, and tests can make it refuse
//! connections (stop listening and drop open connections, then listen again on the same
//! port), answer every request with a status (a 5xx outage), or delay answers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

/// A request as the backend received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (empty when none).
    pub query: String,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `METHOD path`, e.g. `POST /networks`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A write the backend accepted: `POST networks <id>`, `PUT ports <id>`, `DELETE subnets <id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// The collection.
    pub collection: String,
    /// The resource id.
    pub id: String,
}

impl Write {
    /// `"POST networks"`, without the id.
    pub fn kind(&self) -> String {
        format!("{} {}", self.method, self.collection)
    }
}

/// A backend's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON body with `content-type: application/json`.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::typed(status, "application/json", body)
    }

    /// A JSON body with a vendor media type.
    pub fn typed(status: u16, content_type: &str, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// No body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A plain-text body.
    pub fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: text.as_bytes().to_vec(),
        }
    }

    /// The same reply with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What a fake vendor backend implements.
pub trait Backend: Send + Sync + 'static {
    /// Answer `request`; `base` is `http://127.0.0.1:PORT`.
    fn handle(&self, request: &Request, base: &str) -> Reply;
}

struct Shared<B> {
    backend: B,
    addr: SocketAddr,
    requests: Mutex<Vec<Request>>,
    outage: Mutex<Option<u16>>,
    delay: Mutex<Duration>,
    listening: Mutex<Option<Listening>>,
}

struct Listening {
    accept: AbortHandle,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A fake backend served on a loopback port. Dropping it stops it.
pub struct FakeServer<B: Backend> {
    shared: Arc<Shared<B>>,
}

impl<B: Backend> FakeServer<B> {
    /// Serve `backend` on a free loopback port.
    pub async fn start(backend: B) -> FakeServer<B> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let server = FakeServer {
            shared: Arc::new(Shared {
                backend,
                addr,
                requests: Mutex::new(Vec::new()),
                outage: Mutex::new(None),
                delay: Mutex::new(Duration::ZERO),
                listening: Mutex::new(None),
            }),
        };
        server.serve(listener);
        server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The backend (its state and knobs).
    pub fn backend(&self) -> &B {
        &self.shared.backend
    }

    /// Every request that reached the server, in order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Stop listening and close every open connection: clients get "connection refused".
    pub fn refuse_connections(&self) {
        if let Some(l) = lock(&self.shared.listening).take() {
            l.accept.abort();
            for c in lock(&l.connections).drain(..) {
                c.abort();
            }
        }
    }

    /// Listen again on the same port.
    pub async fn accept_connections(&self) {
        if lock(&self.shared.listening).is_some() {
            return;
        }
        // The aborted accept task drops its listener soon after; retry until the port is free.
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.shared.addr).await {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("listen again on {}: {e}", self.shared.addr),
            }
        };
        self.serve(listener);
    }

    /// Answer every request with `status` (e.g. 503) until called with `None`.
    pub fn outage(&self, status: Option<u16>) {
        *lock(&self.shared.outage) = status;
    }

    /// Wait this long before answering each request.
    pub fn delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    fn serve(&self, listener: TcpListener) {
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let shared = self.shared.clone();
        let conns = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                let task = tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(answer(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                let mut open = lock(&conns);
                open.retain(|c| !c.is_finished());
                open.push(task.abort_handle());
            }
        });
        *lock(&self.shared.listening) = Some(Listening {
            accept: accept.abort_handle(),
            connections,
        });
    }
}

impl<B: Backend> Drop for FakeServer<B> {
    fn drop(&mut self) {
        self.refuse_connections();
    }
}

async fn answer<B: Backend>(
    shared: &Shared<B>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let request = Request {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    lock(&shared.requests).push(request.clone());
    let delay = *lock(&shared.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let outage = *lock(&shared.outage);
    let reply = match outage {
        Some(status) => Reply::text(status, "the fake backend is told to fail"),
        None => shared
            .backend
            .handle(&request, &format!("http://{}", shared.addr)),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(&v),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// Standard base64 of `user:password`, as HTTP Basic sends it.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}
