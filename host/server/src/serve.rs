//! Serving HTTP/1.1, and stopping so that every request already received gets its whole
//! answer.
//!
//! The race this module exists for: a generic graceful shutdown (axum's, built on hyper's
//! `graceful_shutdown`) closes at once every connection hyper sees as idle. But "idle" only
//! means hyper has not parsed a request head yet: a request the client has already sent can
//! be waiting in the socket (a keep-alive connection whose next request arrived while the
//! runtime was busy, say with a group commit, or a connection accepted a moment before the
//! signal whose task has not run yet). Closing a socket with unread data makes the kernel
//! answer with a reset, and the client loses a request it sent before the signal. Connections
//! still in the listener's accept queue are reset the same way when the listener closes.
//!
//! So on shutdown:
//! 1. the listener stops accepting, but the connections the kernel has queued already are
//!    taken from its queue first, then it is closed: later clients are refused;
//! 2. every answer from then on says `Connection: close`, so each connection ends after the
//!    request it is serving or the one already waiting in it;
//! 3. a connection is closed by the server only when no request is being served, nothing was
//!    read since the last answer, and its socket has nothing waiting to be read;
//! 4. after [`GRACE`] whatever is left is closed.
//!
//! Only then does the caller close the store (the SQLite writer commits its last group
//! before that).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// How long requests in flight at shutdown may take before their connections are closed
/// (oslo.service's `graceful_shutdown_timeout` default).
pub const GRACE: Duration = Duration::from_secs(60);

/// How often a stopping connection looks whether it may close.
const POLL: Duration = Duration::from_millis(5);

/// The largest request head (request line and headers) read before the edge checks run;
/// past it hyper answers a bodiless 431.
const MAX_HEADER_SECTION: usize = 2 << 20;

/// Serve `app` on `listener` until `shutdown` completes, then stop as the module says.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, app.clone(), stop_rx.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    // Clients the kernel connected before the signal are served: take them from the
    // queue, then close it.
    let listener = listener.into_std()?;
    let mut queued = 0;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                queued += 1;
                let stream = stream
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(stream));
                match stream {
                    Ok(stream) => {
                        connections.spawn(connection(stream, app.clone(), stop_rx.clone()));
                    }
                    Err(e) => tracing::warn!(error = %e, "taking a queued connection failed"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a queued connection failed");
                break;
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tracing::info!(
        connections = connections.len(),
        queued,
        "listener closed; answering the requests already received"
    );
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// What a connection's reader and its requests tell the shutdown.
#[derive(Default)]
struct Activity {
    /// Requests being served.
    serving: AtomicUsize,
    /// Bytes were read since the last answer (a request may be on its way into hyper).
    unanswered: AtomicBool,
}

impl Activity {
    fn idle(&self) -> bool {
        self.serving.load(Ordering::SeqCst) == 0 && !self.unanswered.load(Ordering::SeqCst)
    }
}

/// Marks a request as being served until dropped (also when the request is cancelled).
struct Serving(Arc<Activity>);

impl Serving {
    fn begin(activity: &Arc<Activity>) -> Serving {
        activity.serving.fetch_add(1, Ordering::SeqCst);
        Serving(activity.clone())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        // The request's body was read before its answer: what is read after this is the
        // next request.
        self.0.unanswered.store(false, Ordering::SeqCst);
        self.0.serving.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A socket that notes when it reads something.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.unanswered.store(true, Ordering::SeqCst);
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Whether nothing is waiting to be read on the socket (or the client has closed it).
fn nothing_waiting(probe: &std::net::TcpStream) -> bool {
    match probe.peek(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::Interrupted,
    }
}

/// Serve one connection until it ends, or, once `stop` is set, until it may close.
async fn connection(stream: TcpStream, app: Router, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    // A second handle on the socket, to look into it while hyper owns the first.
    let (stream, probe) = match stream
        .into_std()
        .and_then(|s| s.try_clone().map(|probe| (s, probe)))
        .and_then(|(s, probe)| TcpStream::from_std(s).map(|s| (s, probe)))
    {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "setting up a connection failed");
            return;
        }
    };
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        let stop = stop.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let serving = Serving::begin(&activity);
            let app = app.clone();
            let stop = stop.clone();
            async move {
                let Ok(mut response) = app.oneshot(req.map(Body::new)).await;
                if *stop.borrow() {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                drop(serving);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Header sections up to this size reach the edge checks, so an overlong header line
        // gets Neutron's 400 (max_header_line) rather than hyper's bodiless 431 (its default
        // buffer is about 400 KB). The buffer grows only as a request needs it.
        .max_buf_size(MAX_HEADER_SECTION)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.wait_for(|stopping| *stopping) => {}
    }
    let deadline = tokio::time::Instant::now() + GRACE;
    let mut closing = false;
    loop {
        if !closing && activity.idle() && nothing_waiting(&probe) {
            conn.as_mut().graceful_shutdown();
            closing = true;
        }
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!("closing a connection still busy after the shutdown grace period");
                return;
            }
        }
    }
}
