//! A loopback HTTP/1.1 server for the switch and controller fakes: a [`Handler`] answers,
//! the server records every request that reached it, and a test can make it refuse
//! connections (stop listening and drop the open connections, later listen again on the
//! same port), answer every request with one status (an outage behind a load balancer), or
//! forget what it recorded.
//!
//! Plain HTTP by default: the drivers' HTTP client speaks HTTPS the same way (rustls), so
//! production `https://` URLs go through the same code with TLS underneath.
//! [`FakeHttp::start_tls`] serves HTTPS with a self-signed certificate (for `127.0.0.1` and
//! `localhost`, issued by no authority a client trusts: `fake-tls-cert.pem`), for tests of
//! certificate verification.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinSet};

/// A request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, percent-decoded, without the query.
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

    /// The value of cookie `name` in the `Cookie` header.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header("cookie")?.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `METHOD path`, e.g. `POST /api/mo.json`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// Headers besides `content-type: application/json` and `content-length`.
    pub headers: Vec<(String, String)>,
    /// The body (JSON, or empty).
    pub body: Option<Value>,
}

impl Reply {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// `status` without a body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// The same with header `name: value` added.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// What a fake does with a request.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `request`.
    fn handle(&self, request: &Request) -> Reply;
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    outage: Mutex<Option<u16>>,
    accept: Mutex<Option<AbortHandle>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running fake on a loopback port.
pub struct FakeHttp<H: Handler> {
    addr: SocketAddr,
    handler: Arc<H>,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// The self-signed certificate [`FakeHttp::start_tls`] serves.
pub const SELF_SIGNED_CERT: &str = include_str!("fake-tls-cert.pem");
const SELF_SIGNED_KEY: &str = include_str!("fake-tls-key.pem");

fn self_signed_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(SELF_SIGNED_CERT.as_bytes()).expect("certificate");
    let key = PrivateKeyDer::from_pem_slice(SELF_SIGNED_KEY.as_bytes()).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl<H: Handler> FakeHttp<H> {
    /// Serve `handler` on a free loopback port.
    pub async fn start(handler: H) -> FakeHttp<H> {
        Self::start_with(handler, None).await
    }

    /// Serve `handler` over HTTPS, with a self-signed certificate, on a free loopback port.
    pub async fn start_tls(handler: H) -> FakeHttp<H> {
        Self::start_with(handler, Some(self_signed_acceptor())).await
    }

    async fn start_with(handler: H, tls: Option<tokio_rustls::TlsAcceptor>) -> FakeHttp<H> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let fake = FakeHttp {
            addr,
            handler: Arc::new(handler),
            shared: Arc::default(),
            tls,
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let handler = self.handler.clone();
        let shared = self.shared.clone();
        let tls = self.tls.clone();
        let task = tokio::spawn(async move {
            // Connections live in this task's set: aborting the task drops them all.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((socket, _)) = accepted else { continue };
                        let handler = handler.clone();
                        let shared = shared.clone();
                        let tls = tls.clone();
                        connections.spawn(async move {
                            let service = service_fn(move |req| {
                                let handler = handler.clone();
                                let shared = shared.clone();
                                async move { Ok::<_, Infallible>(answer(&*handler, &shared, req).await) }
                            });
                            let builder = hyper::server::conn::http1::Builder::new();
                            match tls {
                                // A client that refuses the certificate ends the handshake.
                                Some(tls) => {
                                    if let Ok(stream) = tls.accept(socket).await {
                                        let _ = builder
                                            .serve_connection(TokioIo::new(stream), service)
                                            .await;
                                    }
                                }
                                None => {
                                    let _ = builder
                                        .serve_connection(TokioIo::new(socket), service)
                                        .await;
                                }
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        *lock(&self.shared.accept) = Some(task.abort_handle());
    }

    /// `http://127.0.0.1:PORT` (`https://` when served with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The handler (its state and knobs).
    pub fn backend(&self) -> &H {
        &self.handler
    }

    /// Every request that reached the fake, in order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Stop listening and drop every open connection: connections are refused.
    pub async fn refuse_connections(&self) {
        if let Some(task) = lock(&self.shared.accept).take() {
            task.abort();
        }
        // Let the aborted task drop its listener and connections.
        tokio::task::yield_now().await;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(self.addr).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the fake at {} still accepts connections", self.addr);
    }

    /// Listen again on the same port.
    pub async fn accept_connections(&self) {
        if lock(&self.shared.accept).is_some() {
            return;
        }
        let listener = TcpListener::bind(self.addr).await.expect("bind again");
        self.serve(listener);
    }

    /// Answer every request with `status` (and a JSON error body) until [`Self::recover`].
    pub fn fail_with(&self, status: u16) {
        *lock(&self.shared.outage) = Some(status);
    }

    /// Answer normally again.
    pub fn recover(&self) {
        *lock(&self.shared.outage) = None;
    }
}

impl<H: Handler> Drop for FakeHttp<H> {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.shared.accept).take() {
            task.abort();
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn answer<H: Handler>(
    handler: &H,
    shared: &Shared,
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
        path: percent_decode(parts.uri.path()),
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
    let outage = *lock(&shared.outage);
    let reply = match outage {
        Some(status) => Reply::json(
            status,
            serde_json::json!({"error": "the fake is told to fail"}),
        ),
        None => handler.handle(&request),
    };
    let mut builder = hyper::Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        builder = builder.header(k, v);
    }
    let bytes = match &reply.body {
        Some(v) => {
            builder = builder.header("content-type", "application/json");
            serde_json::to_vec(v).expect("JSON")
        }
        None => Vec::new(),
    };
    builder
        .body(Full::new(Bytes::from(bytes)))
        .expect("a valid response")
}
