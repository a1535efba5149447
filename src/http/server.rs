//! The HTTP listeners: plain HTTP/1.1, and HTTPS with HTTP/1.1 or HTTP/2 chosen by ALPN (hyper,
//! rustls), with the limits a public service needs. Both kinds run the same code over their
//! stream, so every limit below holds for both.
//!
//! - **Connections**: at most [`HttpLimits::max_connections`] at once, and at most
//!   [`HttpLimits::max_connections_per_client`] from one client address, so that one host cannot
//!   take every slot; plain and TLS connections count together. A connection over either cap is
//!   answered at once with a Twilio error (429/20429 for the per-client share, 503/20503 for the
//!   total) and closed; over TLS the answer follows a handshake of at most
//!   [`REFUSAL_HANDSHAKE`]. At most [`MAX_REFUSALS`] such answers are in progress at once; past
//!   that a connection is closed without one.
//! - **Time**: a TLS connection must finish its handshake within
//!   [`HttpLimits::handshake_timeout`] (the slot is taken first, so handshakes in progress count
//!   against both caps); a connection must deliver each request's head within
//!   [`HttpLimits::header_timeout`] of connecting (or of its handshake) or of the previous
//!   response (this is also the idle keep-alive timeout; on HTTP/2, the time a connection may
//!   stay without a request in progress); the body must arrive within
//!   [`HttpLimits::body_timeout`] (see [`super::twilio_conventions`]).
//! - **HTTP/2**: at most [`H2_MAX_STREAMS`] requests in progress per connection, header lists
//!   of at most [`H2_MAX_HEADER_LIST`] bytes, at most [`H2_MAX_PENDING_RESETS`] streams reset by
//!   the client before the server saw them (the "rapid reset" attack), 64 KiB of flow-control
//!   window per stream and 256 KiB per connection, 64 KiB of a response buffered per stream.
//! - Every refusal is counted and logged (at most one line per limit per 10 s).
//!
//! Each request carries the client's address ([`ClientAddr`]) for per-client throttling.
//! Certificates come from [`crate::tls::ServerCerts`], resolved at each handshake, so a reload
//! reaches new connections without touching established ones.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::error::ApiError;
use crate::limit_log::LimitLog;
use crate::tls::ServerCerts;

/// The limits of the HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Time to receive a request's head, counted from the connection's start (after its TLS
    /// handshake) or the end of the previous response (so it is also the idle keep-alive
    /// timeout).
    pub header_timeout: Duration,
    /// Time to receive a request's whole body.
    pub body_timeout: Duration,
    /// Time for a TLS handshake, from the connection's acceptance.
    pub handshake_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_connections_per_client: usize,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Console sessions kept at most (see [`super::console_session`]).
    pub console_sessions: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_client: 256,
            shutdown_grace: Duration::from_secs(10),
            console_sessions: super::console_session::DEFAULT_MAX,
        }
    }
}

/// The address of the client that sent a request (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Marks a request that came over HTTPS (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverTls;

/// The most headers a request may carry; more get a Twilio 431 from
/// [`super::twilio_conventions`]. hyper's own limit (100, kept at its default so that hyper
/// parses headers on the stack rather than allocating for every request) is above it, so only
/// requests beyond that get hyper's bare 431.
pub const MAX_HEADERS: usize = 64;

/// Requests in progress at once on one HTTP/2 connection.
pub const H2_MAX_STREAMS: u32 = 32;
/// The largest HTTP/2 header list (names, values and 32 bytes per field, RFC 9113 §6.5.2):
/// above the 32 KiB [`super::MAX_HEADER_BYTES`] that gets a Twilio 431, so that only lists
/// beyond both get HTTP/2's own refusal.
pub const H2_MAX_HEADER_LIST: u32 = 48 * 1024;
/// Streams an HTTP/2 client may reset before the server accepted them, at once.
pub const H2_MAX_PENDING_RESETS: usize = 20;
/// HTTP/2 flow-control windows: per stream (a body is at most 64 KiB) and per connection.
const H2_STREAM_WINDOW: u32 = 64 * 1024;
const H2_CONNECTION_WINDOW: u32 = 256 * 1024;
/// What an HTTP/2 stream buffers of its response for a client slow to read it.
const H2_SEND_BUFFER: usize = 64 * 1024;
/// Refusals (answers to connections over a cap) in progress at once.
pub const MAX_REFUSALS: usize = 256;
/// The handshake a refused TLS connection gets to read its answer.
pub const REFUSAL_HANDSHAKE: Duration = Duration::from_secs(2);

/// ALPN protocols of the HTTPS listener, preferred first.
pub const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];

static TOTAL_CAP: LimitLog = LimitLog::new("HTTP connection cap");
static CLIENT_CAP: LimitLog = LimitLog::new("HTTP per-client connection cap");
static REFUSALS_CAP: LimitLog = LimitLog::new("HTTP refusals in progress");
static ACCEPT_FAILED: LimitLog = LimitLog::new("HTTP accept");
static HEAD_TIMEOUT: LimitLog = LimitLog::new("HTTP header/idle timeout");
static HANDSHAKE_TIMEOUT: LimitLog = LimitLog::new("HTTPS handshake timeout");
/// Open connections, in total and per client address.
#[derive(Debug, Default)]
struct Open {
    total: AtomicUsize,
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; leaving frees its slots.
struct Slot {
    open: Arc<Open>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.total.fetch_sub(1, Ordering::Relaxed);
        let mut map = self
            .open
            .per_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Why a connection was not admitted.
enum Refusal {
    Total,
    Client,
}

impl Open {
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &HttpLimits) -> Result<Slot, Refusal> {
        let mut map = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        if self.total.load(Ordering::Relaxed) >= limits.max_connections {
            return Err(Refusal::Total);
        }
        let n = map.entry(ip).or_insert(0);
        if *n >= limits.max_connections_per_client {
            return Err(Refusal::Client);
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(Slot {
            open: self.clone(),
            ip,
        })
    }
}

/// A bound listener and what it speaks.
pub enum Listener {
    /// Plain HTTP/1.1.
    Plain(TcpListener),
    /// HTTPS: TLS with `certs`, then HTTP/2 or HTTP/1.1 as ALPN chose (HTTP/1.1 without ALPN).
    Tls(TcpListener, ServerCerts),
}

impl Listener {
    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Plain(l) | Listener::Tls(l, _) => l.local_addr(),
        }
    }
}

/// How an accepted connection is brought to HTTP.
#[derive(Clone)]
enum Wrap {
    Plain,
    Tls {
        /// Offers [`ALPN`].
        serve: TlsAcceptor,
        /// Offers HTTP/1.1 only: a refusal is written as HTTP/1.1.
        refuse: TlsAcceptor,
    },
}

/// What every connection of every listener shares.
struct Shared {
    open: Arc<Open>,
    limits: HttpLimits,
    router: Router,
    refusals: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
}

/// Serves `router` on `listener` (plain HTTP) until `shutdown` completes; see [`serve_all`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    serve_all(vec![Listener::Plain(listener)], router, limits, shutdown).await
}

/// Serves `router` on every listener until `shutdown` completes, then lets in-flight requests
/// finish (for at most [`HttpLimits::shutdown_grace`]). The connection caps count the
/// connections of all listeners together.
pub async fn serve_all(
    listeners: Vec<Listener>,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        open: Arc::new(Open::default()),
        limits,
        router,
        refusals: Arc::new(Semaphore::new(MAX_REFUSALS)),
        stop: stop_rx,
    });
    let mut loops = tokio::task::JoinSet::new();
    for listener in listeners {
        let (listener, wrap) = match listener {
            Listener::Plain(l) => (l, Wrap::Plain),
            Listener::Tls(l, certs) => (
                l,
                Wrap::Tls {
                    serve: TlsAcceptor::from(certs.server_config(ALPN)),
                    refuse: TlsAcceptor::from(certs.server_config(&[b"http/1.1"])),
                },
            ),
        };
        loops.spawn(accept_loop(listener, wrap, shared.clone()));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    while loops.join_next().await.is_some() {}
    let grace = shared.limits.shutdown_grace;
    tracing::info!(
        open = shared.open.total.load(Ordering::Relaxed),
        bound = ?grace,
        "HTTP: listeners closed; letting in-flight requests finish"
    );
    let deadline = Instant::now() + grace;
    while shared.open.total.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match shared.open.total.load(Ordering::Relaxed) {
        0 => tracing::info!("HTTP: in-flight requests finished"),
        left => tracing::warn!(
            left,
            bound = ?grace,
            "HTTP: drain bound passed with connections open; closing them"
        ),
    }
    Ok(())
}

/// Accepts connections on `listener` until the stop signal, admitting or refusing each.
async fn accept_loop(listener: TcpListener, wrap: Wrap, shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, usually: wait a little rather than spin.
                    ACCEPT_FAILED.hit(&e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match shared.open.admit(peer.ip(), &shared.limits) {
            Ok(slot) => {
                let (wrap, shared) = (wrap.clone(), shared.clone());
                tokio::spawn(async move {
                    connection(stream, peer, wrap, &shared).await;
                    drop(slot);
                });
            }
            Err(why) => refuse_over_cap(stream, peer, &wrap, &shared, why),
        }
    }
}

/// Answers a connection over a cap (see [`refuse`]), unless too many answers are in progress.
fn refuse_over_cap(
    stream: TcpStream,
    peer: SocketAddr,
    wrap: &Wrap,
    shared: &Shared,
    why: Refusal,
) {
    let limits = &shared.limits;
    let error = match why {
        Refusal::Total => {
            TOTAL_CAP.hit(&format_args!(
                "{} connections are open; refused {peer}",
                limits.max_connections
            ));
            ApiError::Busy
        }
        Refusal::Client => {
            CLIENT_CAP.hit(&format_args!(
                "{} has {} connections open; refused another",
                peer.ip(),
                limits.max_connections_per_client
            ));
            ApiError::TooManyConnections
        }
    };
    let Ok(permit) = shared.refusals.clone().try_acquire_owned() else {
        REFUSALS_CAP.hit(&format_args!(
            "{MAX_REFUSALS} refusals in progress; closed {peer} without an answer"
        ));
        return;
    };
    let wrap = wrap.clone();
    tokio::spawn(async move {
        match wrap {
            Wrap::Plain => refuse(stream, error).await,
            Wrap::Tls { refuse: tls, .. } => {
                if let Ok(Ok(stream)) =
                    tokio::time::timeout(REFUSAL_HANDSHAKE, tls.accept(stream)).await
                {
                    refuse(stream, error).await;
                }
            }
        }
        drop(permit);
    });
}

/// An admitted connection: its TLS handshake (bounded, and given up at the stop signal), then
/// HTTP until it ends.
async fn connection(stream: TcpStream, peer: SocketAddr, wrap: Wrap, shared: &Shared) {
    let acceptor = match wrap {
        Wrap::Plain => return serve_connection(stream, peer, (false, false), shared).await,
        Wrap::Tls { serve, .. } => serve,
    };
    let limit = shared.limits.handshake_timeout;
    let mut stop = shared.stop.clone();
    let handshake = tokio::select! {
        _ = stopped(&mut stop) => return,
        h = tokio::time::timeout(limit, acceptor.accept(stream)) => h,
    };
    match handshake {
        Err(_) => HANDSHAKE_TIMEOUT.hit(&format_args!(
            "closed a connection from {peer} that did not finish its handshake in {limit:?}"
        )),
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Ok(Ok(tls)) => {
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            serve_connection(tls, peer, (h2, true), shared).await;
        }
    }
}

/// Completes at the stop signal (or when its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Answers a connection that was not admitted with `error` and closes it. What the client sent
/// meanwhile is read and discarded for a moment (at most 64 KiB), so that closing does not reset
/// the connection before the client has read the answer.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, error: ApiError) {
    use tokio::io::AsyncReadExt;
    let (status, _) = error.status_and_code();
    let body = error.body();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\ntwilio-request-id: RQ{}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        crate::sid::random_hex32(),
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await
    };
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), write).await {
        let mut sink = [0u8; 4096];
        let drain = async {
            let mut left: usize = 64 * 1024;
            while left > 0 {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(200), drain).await;
    }
}

/// Requests in progress on one connection, and when the last one ended: what HTTP/2's idle
/// timeout reads (HTTP/1.1's is hyper's header read timeout).
struct Activity {
    busy: AtomicUsize,
    since: Mutex<Instant>,
}

/// One request in progress; leaving marks the connection active now.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Ordering::Relaxed);
        Busy(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    /// Completes once the connection has had no request in progress for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let since = *self.since.lock().unwrap_or_else(|e| e.into_inner());
            if self.busy.load(Ordering::Relaxed) > 0 {
                tokio::time::sleep(limit).await;
            } else if since.elapsed() >= limit {
                return;
            } else {
                tokio::time::sleep_until(since + limit).await;
            }
        }
    }
}

/// The HTTP builder for one connection: HTTP/2 when ALPN chose it, else HTTP/1.1.
fn builder(h2: bool, limits: &HttpLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_send_buf_size(H2_SEND_BUFFER);
    if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    }
}

/// Serves one connection; `(h2, tls)`: whether it speaks HTTP/2, whether it came over TLS.
async fn serve_connection<S>(stream: S, peer: SocketAddr, (h2, tls): (bool, bool), shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity {
        busy: AtomicUsize::new(0),
        since: Mutex::new(Instant::now()),
    });
    let router = shared.router.clone();
    let seen = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let busy = Busy::new(&seen);
        req.extensions_mut().insert(ClientAddr(peer));
        if tls {
            req.extensions_mut().insert(OverTls);
        }
        let mut router = router.clone();
        async move {
            let response = router.call(req.map(Body::new)).await;
            drop(busy);
            response
        }
    });
    let limits = &shared.limits;
    let builder = builder(h2, limits);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut stop = shared.stop.clone();
    let idle = async {
        if h2 {
            activity.idle_for(limits.header_timeout).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
        () = idle => {
            HEAD_TIMEOUT.hit(&format_args!("closed an idle HTTP/2 connection from {peer}"));
            conn.as_mut().graceful_shutdown();
            tokio::time::timeout(limits.header_timeout, conn.as_mut())
                .await
                .unwrap_or(Ok(()))
        }
    };
    if let Err(e) = result {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            HEAD_TIMEOUT.hit(&format_args!("closed a connection from {peer}"));
        } else {
            tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_in_total_and_per_client() {
        let open = Arc::new(Open::default());
        let limits = HttpLimits {
            max_connections: 3,
            max_connections_per_client: 2,
            ..HttpLimits::default()
        };
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let a1 = open.admit(a, &limits).ok().unwrap();
        let _a2 = open.admit(a, &limits).ok().unwrap();
        assert!(matches!(open.admit(a, &limits), Err(Refusal::Client)));
        let _b1 = open.admit(b, &limits).ok().unwrap();
        assert!(matches!(open.admit(b, &limits), Err(Refusal::Total)));
        drop(a1);
        assert!(open.admit(b, &limits).is_ok(), "a freed slot is reusable");
    }
}
