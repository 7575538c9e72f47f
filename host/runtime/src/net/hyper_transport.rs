//! Real outbound HTTP: resolve, check every address against the allow-list
//! entry, connect, optionally TLS (rustls, ring, Mozilla roots), HTTP/1.1
//! with hyper, read the body up to a limit. An entry that does not verify
//! certificates ([`super::Destination::verifies_tls`], an operator's
//! `https_verify = false`) still does TLS with a checked handshake
//! signature, but accepts whatever certificate the server shows; such
//! connections are pooled apart from verified ones.
//!
//! Connections are kept alive and reused per destination (scheme, host,
//! port): a connection whose response was read completely (and that the
//! server did not close) goes back to an idle pool, at most
//! [`MAX_IDLE_PER_DESTINATION`] per destination, for [`IDLE_TIMEOUT`]. A
//! reused connection must still lead to an address the request's allow-list
//! entry allows (names are resolved and checked on every request). A request
//! that a reused connection could not even send (the server closed it
//! meanwhile) is sent again on a fresh connection; one that was sent is never
//! repeated. Requests with `keep_alive: false` use a connection of their own.

use super::{HttpTransport, InboundResponse, OutboundRequest, TransportError};
use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Headers a driver may not set: the host sets `Host`, hyper frames the
/// body, and hop-by-hop headers are the transport's business.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];

/// Idle connections kept per destination.
pub const MAX_IDLE_PER_DESTINATION: usize = 32;
/// How long an idle connection is kept (below common servers' keep-alive
/// timeouts, so the server rarely closes one under us).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// (https, host, port, certificate verified).
type PoolKey = (bool, String, u16, bool);

/// An open HTTP/1.1 connection, idle or in use.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    peer: SocketAddr,
    idle_since: Instant,
    // Drives the connection; aborted when the connection is dropped.
    _task: AbortOnDrop,
}

/// HTTP/1.1 over TCP or TLS with hyper and rustls, with keep-alive.
#[derive(Clone)]
pub struct HyperTransport {
    tls: tokio_rustls::TlsConnector,
    /// For destinations whose certificate is not verified.
    unverified: tokio_rustls::TlsConnector,
    idle: Arc<Mutex<HashMap<PoolKey, Vec<Connection>>>>,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport").finish_non_exhaustive()
    }
}

impl HyperTransport {
    /// A transport trusting the Mozilla root certificates.
    pub fn new() -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self::with_tls_config(config))
    }

    /// A transport with its own TLS configuration (e.g. a private CA for
    /// vendor controllers).
    pub fn with_tls_config(config: rustls::ClientConfig) -> Self {
        let mut unverified = config.clone();
        let provider = unverified.crypto_provider().clone();
        unverified
            .dangerous()
            .set_certificate_verifier(Arc::new(AnyCertificate(provider)));
        HyperTransport {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            unverified: tokio_rustls::TlsConnector::from(Arc::new(unverified)),
            idle: Arc::default(),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, Vec<Connection>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection to `key` leading to one of `allowed`, if any.
    fn checkout(&self, key: &PoolKey, allowed: &[SocketAddr]) -> Option<Connection> {
        let mut idle = self.idle();
        let list = idle.get_mut(key)?;
        let now = Instant::now();
        list.retain(|c| !c.sender.is_closed() && now - c.idle_since < IDLE_TIMEOUT);
        let at = list
            .iter()
            .rposition(|c| c.sender.is_ready() && allowed.contains(&c.peer))?;
        Some(list.swap_remove(at))
    }

    /// Keep `connection` for the next request to `key`.
    fn checkin(&self, key: PoolKey, mut connection: Connection) {
        connection.idle_since = Instant::now();
        let mut idle = self.idle();
        let list = idle.entry(key).or_default();
        if list.len() < MAX_IDLE_PER_DESTINATION {
            list.push(connection);
        }
    }

    /// The number of idle connections kept (tests and benchmarks).
    pub fn idle_connections(&self) -> usize {
        self.idle().values().map(Vec::len).sum()
    }

    /// A new connection to the first of `allowed` that answers.
    async fn open(
        &self,
        https: bool,
        verify: bool,
        bare_host: &str,
        allowed: &[SocketAddr],
    ) -> Result<Connection, TransportError> {
        let tcp = connect(allowed).await?;
        let peer = tcp
            .peer_addr()
            .map_err(|e| TransportError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = if https {
            let name = ServerName::try_from(bare_host.to_string())
                .map_err(|e| TransportError::Invalid(format!("{bare_host}: {e}")))?;
            let connector = if verify { &self.tls } else { &self.unverified };
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| TransportError::Connect(format!("TLS with {bare_host}: {e}")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| TransportError::Connect(e.to_string()))?;
        let task = AbortOnDrop(tokio::spawn(async move {
            let _ = connection.await;
        }));
        Ok(Connection {
            sender,
            peer,
            idle_since: Instant::now(),
            _task: task,
        })
    }

    async fn exchange(&self, req: OutboundRequest) -> Result<InboundResponse, TransportError> {
        let https = req.url.scheme_str() == Some("https");
        let host = req
            .url
            .host()
            .ok_or_else(|| TransportError::Invalid("URL has no host".into()))?;
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let port = req.url.port_u16().unwrap_or(if https { 443 } else { 80 });

        let addrs: Vec<SocketAddr> = match bare_host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare_host, port))
                .await
                .map_err(|e| TransportError::Connect(format!("cannot resolve {bare_host}: {e}")))?
                .collect(),
        };
        let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = addrs
            .into_iter()
            .partition(|a| req.destination.allows_ip(a.ip()));
        if allowed.is_empty() {
            let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
            return Err(TransportError::Denied(format!(
                "{bare_host} resolves to {}, which the allowed destination {} does not cover",
                refused.join(", "),
                req.destination
            )));
        }
        let verify = req.destination.verifies_tls();
        let key: PoolKey = (https, bare_host.to_string(), port, verify);
        let keep_alive = req.keep_alive;

        let authority = req
            .url
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| host.to_string());
        let path = req.url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut builder = http::Request::builder()
            .method(req.method)
            .uri(path)
            .header(http::header::HOST, authority);
        for (name, value) in &req.headers {
            if RESERVED_HEADERS
                .iter()
                .any(|r| name.eq_ignore_ascii_case(r))
            {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !keep_alive {
            builder = builder.header(http::header::CONNECTION, "close");
        }
        let request = builder
            .body(Full::new(Bytes::from(req.body)))
            .map_err(|e| TransportError::Invalid(e.to_string()))?;

        let reused = if keep_alive {
            self.checkout(&key, &allowed)
        } else {
            None
        };
        let (mut connection, response) = match reused {
            Some(mut connection) => match connection.sender.try_send_request(request).await {
                Ok(response) => (connection, response),
                Err(mut e) => match e.take_message() {
                    // Not sent: the server closed the idle connection. A fresh one.
                    Some(request) => {
                        let mut fresh = self.open(https, verify, bare_host, &allowed).await?;
                        let response = fresh
                            .sender
                            .send_request(request)
                            .await
                            .map_err(|e| TransportError::Connect(e.to_string()))?;
                        (fresh, response)
                    }
                    None => return Err(TransportError::Connect(e.error().to_string())),
                },
            },
            None => {
                let mut fresh = self.open(https, verify, bare_host, &allowed).await?;
                let response = fresh
                    .sender
                    .send_request(request)
                    .await
                    .map_err(|e| TransportError::Connect(e.to_string()))?;
                (fresh, response)
            }
        };
        let server_closes = response
            .headers()
            .get(http::header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));

        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| TransportError::Connect(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > req.max_response_bytes {
                    return Err(TransportError::TooLarge);
                }
                bytes.extend_from_slice(&data);
            }
        }
        if keep_alive && !server_closes {
            // The response was read to its end: the connection can carry the next one
            // once its task has seen that (`ready`), which is immediate or never.
            let ready =
                tokio::time::timeout(Duration::from_millis(100), connection.sender.ready()).await;
            if matches!(ready, Ok(Ok(()))) {
                self.checkin(key, connection);
            }
        }
        Ok(InboundResponse {
            status,
            headers,
            body: bytes,
        })
    }
}

#[async_trait]
impl HttpTransport for HyperTransport {
    async fn send(&self, request: OutboundRequest) -> Result<InboundResponse, TransportError> {
        let timeout = request.timeout;
        tokio::time::timeout(timeout, self.exchange(request))
            .await
            .unwrap_or(Err(TransportError::Timeout))
    }
}

/// A byte stream hyper can speak HTTP over (TCP or TLS).
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connect to the first address that answers.
async fn connect(addrs: &[SocketAddr]) -> Result<TcpStream, TransportError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    Err(TransportError::Connect(
        last.unwrap_or_else(|| "no address".into()),
    ))
}

/// Accepts any server certificate (`https_verify = false`), but still checks that the
/// server's handshake signature matches the certificate it showed.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Aborts the connection task when the exchange ends or is cancelled.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
