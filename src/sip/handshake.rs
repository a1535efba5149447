//! The TLS listener (`--sip-tls-listen`, RFC 3261 §26.2): each accepted connection takes a place
//! under the connection caps it shares with TCP (`admission`), then a place among its source's
//! handshakes in progress, and must finish its handshake within [`SipLimits::handshake`] of its
//! acceptance; it is then served by the same code as a TCP connection (`tcp`), over the TLS
//! stream, so framing, the idle, whole-message and write deadlines all hold, and responses go
//! back over it (Via `SIP/2.0/TLS`).
//!
//! The server configuration comes from [`crate::tls::ServerCerts::server_config`]: its
//! certificate is looked up at each handshake, so a reload (SIGHUP, or new files) reaches new
//! connections while established ones go on. No ALPN is asked for; TLS 1.2 and 1.3 only.
//!
//! A handshake that fails (not TLS, no shared version or suite) closes the connection; that is
//! counted, not logged as a warning (anyone can send bytes to a port). The two bounds that bite
//! log through `limit_log`.
//!
//! [`SipLimits::handshake`]: super::SipLimits

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::admission::{Admission, Refusals, Slot};
use super::metrics::Metrics;
use super::tcp::{admitted, serve_tcp};
use super::{Io, SipServer};
use crate::limit_log::LimitLog;

/// The handshake deadline's log line.
static HANDSHAKE_DEADLINE: LimitLog = LimitLog::new("SIP TLS handshake deadline");
/// The per-source handshake cap's log line.
static HANDSHAKES_PER_SOURCE: LimitLog = LimitLog::new("SIP TLS handshakes per source");

/// The TLS listener: its socket and the server configuration it hands each handshake.
pub(super) struct TlsListener {
    pub(super) socket: TcpListener,
    pub(super) acceptor: TlsAcceptor,
}

impl SipServer {
    /// Accepts TLS connections on `listener` within the caps of `admission` (shared with TCP)
    /// and the handshake bounds, and serves each in a task of its own, until `shutdown`
    /// completes.
    pub(super) async fn accept_tls(
        &self,
        listener: &TlsListener,
        admission: &Arc<Admission>,
        shutdown: impl Future<Output = ()>,
    ) {
        let limits = &self.io.limits;
        let handshakes = Admission::with_caps(usize::MAX, limits.max_handshakes_per_source);
        let mut refusals = Refusals::default();
        tokio::pin!(shutdown);
        while let Some((stream, peer, slot)) = admitted(
            &listener.socket,
            admission,
            &mut refusals,
            limits,
            &mut shutdown,
        )
        .await
        {
            let Ok(handshaking) = handshakes.admit(peer.ip()) else {
                Metrics::inc(&self.io.edge.metrics().tls_handshakes_refused);
                HANDSHAKES_PER_SOURCE.hit(&format_args!(
                    "{} in progress from {}; connection closed",
                    limits.max_handshakes_per_source,
                    peer.ip()
                ));
                continue;
            };
            let io = self.io.clone();
            let acceptor = listener.acceptor.clone();
            tokio::spawn(async move {
                let _slot = slot;
                if let Some(tls) = handshake(&acceptor, stream, peer, handshaking, &io).await {
                    serve_tcp(tls, peer, &io).await;
                }
            });
        }
    }
}

/// The TLS handshake of `stream` from `peer`, within the handshake deadline; `handshaking`, its
/// place among its source's handshakes in progress, is given up when it ends either way.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    handshaking: Slot,
    io: &Arc<Io>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let limit = io.limits.handshake;
    let metrics = io.edge.metrics();
    let done = tokio::time::timeout(limit, acceptor.accept(stream)).await;
    drop(handshaking);
    match done {
        Ok(Ok(tls)) => {
            Metrics::inc(&metrics.tls_handshakes);
            Some(tls)
        }
        Ok(Err(e)) => {
            Metrics::inc(&metrics.tls_handshakes_failed);
            tracing::debug!(%peer, error = %e, "SIP TLS handshake failed");
            None
        }
        Err(_) => {
            Metrics::inc(&metrics.tls_handshakes_timed_out);
            HANDSHAKE_DEADLINE.hit(&format_args!(
                "{peer} did not finish its handshake within {limit:?}; connection closed"
            ));
            None
        }
    }
}
