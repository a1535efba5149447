//! The HTTP listener: HTTP/1.1 connections (hyper) with the limits a public service needs.
//!
//! - **Connections**: at most [`HttpLimits::max_connections`] at once, and at most
//!   [`HttpLimits::max_connections_per_client`] from one client address, so that one host cannot
//!   take every slot. A connection over either cap is answered at once with a Twilio error
//!   (429/20429 for the per-client share, 503/20503 for the total) and closed.
//! - **Time**: a connection must deliver each request's head within
//!   [`HttpLimits::header_timeout`] of connecting or of the previous response (this is also the
//!   idle keep-alive timeout); the body must arrive within [`HttpLimits::body_timeout`] (see
//!   [`super::twilio_conventions`]).
//! - Every refusal is counted and logged (at most one line per limit per 10 s).
//!
//! Each request carries the client's address ([`ClientAddr`]) for per-client throttling.

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
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;

use crate::error::ApiError;
use crate::limit_log::LimitLog;

/// The limits of the HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Time to receive a request's head, counted from the connection's start or the end of the
    /// previous response (so it is also the idle keep-alive timeout).
    pub header_timeout: Duration,
    /// Time to receive a request's whole body.
    pub body_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_connections_per_client: usize,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_client: 256,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The address of the client that sent a request (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The most headers a request may carry; more get a Twilio 431 from
/// [`super::twilio_conventions`]. hyper's own limit (100, kept at its default so that hyper
/// parses headers on the stack rather than allocating for every request) is above it, so only
/// requests beyond that get hyper's bare 431.
pub const MAX_HEADERS: usize = 64;

static TOTAL_CAP: LimitLog = LimitLog::new("HTTP connection cap");
static CLIENT_CAP: LimitLog = LimitLog::new("HTTP per-client connection cap");
static ACCEPT_FAILED: LimitLog = LimitLog::new("HTTP accept");
static HEAD_TIMEOUT: LimitLog = LimitLog::new("HTTP header/idle timeout");

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

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests finish
/// (for at most [`HttpLimits::shutdown_grace`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let open = Arc::new(Open::default());
    let limits = Arc::new(limits);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
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
        match open.admit(peer.ip(), &limits) {
            Ok(slot) => {
                let (router, limits, stop) = (router.clone(), limits.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    serve_connection(stream, peer, router, &limits, stop).await;
                    drop(slot);
                });
            }
            Err(why) => {
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
                tokio::spawn(refuse(stream, error));
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + limits.shutdown_grace;
    while open.total.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Answers a connection that was not admitted with `error` and closes it. What the client sent
/// meanwhile is read and discarded for a moment (at most 64 KiB), so that closing does not reset
/// the connection before the client has read the answer.
async fn refuse(mut stream: TcpStream, error: ApiError) {
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

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &HttpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ClientAddr(peer));
        let mut router = router.clone();
        async move { router.call(req.map(Body::new)).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        if e.is_timeout() {
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
