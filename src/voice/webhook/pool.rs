//! Kept-alive webhook connections, as Twilio keeps its own: after a response read whole, a
//! connection its server did not close waits here, idle, for the next request to the same
//! origin (scheme, host as written in the URL, port), so that a call's webhook and its status
//! callback do not each pay a TCP (and TLS) handshake. Bounded: at most
//! [`WebhookConfig::max_idle`](super::WebhookConfig::max_idle) idle connections in all, each
//! at most [`WebhookConfig::idle_timeout`](super::WebhookConfig::idle_timeout) (a connection
//! returned to a full pool is closed, logged). A connection is only ever reused for the origin
//! it was opened to, after the destination policy judged that origin's address at connect time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use url::Url;

use crate::limit_log::LimitLog;

/// Connections closed because the pool held as many idle ones as it may.
static POOL_FULL: LimitLog = LimitLog::new("webhook idle connections");

/// Where a connection goes: the URL's scheme, host (as written) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Origin(String, String, u16);

impl Origin {
    /// `url`'s origin (none without a host or a port).
    pub fn of(url: &Url) -> Option<Self> {
        Some(Self(
            url.scheme().to_owned(),
            url.host_str()?.to_owned(),
            url.port_or_known_default()?,
        ))
    }
}

/// Stops a connection's task when the connection is dropped, however that happens.
pub(super) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An HTTP/1.1 connection: its request sender and the task driving it.
pub(super) struct Conn {
    pub sender: SendRequest<Full<Bytes>>,
    pub _driver: AbortOnDrop,
}

/// The idle connections, by origin, each with when it became idle.
pub(super) struct Pool {
    idle: Mutex<HashMap<Origin, Vec<(Conn, Instant)>>>,
    max_idle: usize,
    idle_timeout: Duration,
}

impl Pool {
    /// A pool of at most `max_idle` connections, each idle at most `idle_timeout`.
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            max_idle,
            idle_timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, Vec<(Conn, Instant)>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently idle connection to `origin` still open and young enough.
    pub fn take(&self, origin: &Origin) -> Option<Conn> {
        let mut idle = self.lock();
        let conns = idle.get_mut(origin)?;
        let now = Instant::now();
        let found = loop {
            let Some((conn, since)) = conns.pop() else {
                break None;
            };
            if now.duration_since(since) < self.idle_timeout && !conn.sender.is_closed() {
                break Some(conn);
            }
        };
        if conns.is_empty() {
            idle.remove(origin);
        }
        found
    }

    /// Keeps `conn` for `origin`'s next request, unless the pool is full (then it is closed);
    /// connections idle too long are closed first.
    pub fn put(&self, origin: Origin, conn: Conn) {
        if self.max_idle == 0 || conn.sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        let mut held: usize = idle.values().map(Vec::len).sum();
        if held >= self.max_idle {
            let now = Instant::now();
            idle.retain(|_, conns| {
                conns.retain(|(c, since)| {
                    now.duration_since(*since) < self.idle_timeout && !c.sender.is_closed()
                });
                !conns.is_empty()
            });
            held = idle.values().map(Vec::len).sum();
        }
        if held >= self.max_idle {
            drop(idle);
            POOL_FULL.hit(&format_args!(
                "{} idle; a connection closed instead of kept",
                self.max_idle
            ));
            return;
        }
        idle.entry(origin).or_default().push((conn, Instant::now()));
    }

    /// How many connections are idle.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}
