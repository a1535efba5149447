//! The edge's own TCP and TLS connections to `transport=tcp` and `transport=tls` targets (and a
//! `sips:` or `transport=tls` upstream): one per destination and protocol, opened on the first
//! message for it and kept while it is used (the idle limit of [`super::SipLimits`] closes it),
//! served like an accepted connection, so the target's responses come back on it.
//!
//! A TLS connection verifies the target's certificate against the address its URI names (targets
//! are IP literals: the certificate must carry that IP address as a subject alternative name),
//! with the roots the operator gave (`--tls-ca`, and the system's); the handshake is part of the
//! opening and shares its deadline. Without a client configuration (see
//! [`super::SipServer::with_tls_client`]) nothing is sent over TLS, and that logs.
//!
//! At most [`MAX_OUTBOUND`] are open at once, both protocols together; a message for another
//! destination is dropped, and the limit logs. A message for a connection still being opened
//! waits in its queue; one that cannot be opened (connected, and for TLS its handshake done)
//! within the write limit drops what waits (UDP-like: the client retransmits).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::Io;
use super::metrics::Metrics;
use super::tcp::serve_registered;
use crate::limit_log::LimitLog;
use crate::sip_syntax::Wire;

/// Most outbound TCP and TLS connections open at once.
pub const MAX_OUTBOUND: usize = 1024;

/// The outbound limit's log line.
static OUTBOUND_LIMIT: LimitLog = LimitLog::new("SIP outbound connection cap");
/// The line when a message is for a TLS destination and the edge has no TLS client.
static NO_TLS_CLIENT: LimitLog = LimitLog::new("SIP outbound TLS without a TLS client");

/// Open outbound connections: the connection id of each destination and protocol.
#[derive(Debug, Default)]
pub(super) struct Outbound {
    open: Mutex<HashMap<(SocketAddr, Wire), u64>>,
}

impl Io {
    /// Sends `bytes` to `to` over the edge's TCP or TLS (`wire`) connection to it, opening one
    /// if there is none.
    pub(super) fn send_out(self: &Arc<Self>, to: SocketAddr, wire: Wire, bytes: Vec<u8>) {
        if wire == Wire::Tls && self.tls_client.is_none() {
            NO_TLS_CLIENT.hit(&format_args!("nothing sent to {to}"));
            return;
        }
        let key = (to, wire);
        let mut open = self.outbound.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut bytes = bytes;
        if let Some(id) = open.get(&key).copied() {
            match self.conns.send(id, bytes) {
                Ok(()) => return,
                // It closed since; open another.
                Err(back) => bytes = back,
            }
            open.remove(&key);
        }
        if open.len() >= MAX_OUTBOUND {
            OUTBOUND_LIMIT.hit(&format_args!("{MAX_OUTBOUND} open; nothing sent to {to}"));
            return;
        }
        let (id, rx) = self.conns.register();
        open.insert(key, id);
        drop(open);
        // Queued before the connection exists: written once it does.
        let _ = self.conns.send(id, bytes);
        let io = self.clone();
        self.runtime.spawn(async move {
            io.open_and_serve(to, wire, id, rx).await;
            io.conns.remove(id);
            let mut open = io.outbound.open.lock().unwrap_or_else(|e| e.into_inner());
            if open.get(&key) == Some(&id) {
                open.remove(&key);
            }
        });
    }

    /// Opens the connection `id` to `to` over `wire` (connect, and for TLS the handshake and the
    /// certificate's check, all within the write limit), then serves it until it closes.
    async fn open_and_serve(
        self: &Arc<Self>,
        to: SocketAddr,
        wire: Wire,
        id: u64,
        rx: mpsc::Receiver<Vec<u8>>,
    ) {
        let deadline = tokio::time::Instant::now() + self.limits.write;
        let transport = wire.label();
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(to)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true); // no Nagle: as on accepted connections
                stream
            }
            Ok(Err(e)) => {
                tracing::debug!(%to, transport, error = %e, "SIP connect to target failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%to, transport, "SIP connect to target timed out");
                return;
            }
        };
        let Some(config) = self.tls_client.clone().filter(|_| wire == Wire::Tls) else {
            return serve_registered(stream, to, id, rx, self).await;
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = match &self.upstream_name {
            Some((addr, host)) if *addr == to => ServerName::try_from(host.clone())
                .unwrap_or_else(|_| ServerName::IpAddress(to.ip().into())),
            _ => ServerName::IpAddress(to.ip().into()),
        };
        match tokio::time::timeout_at(deadline, connector.connect(name, stream)).await {
            Ok(Ok(tls)) => serve_registered(tls, to, id, rx, self).await,
            Ok(Err(e)) => {
                Metrics::inc(&self.edge.metrics().tls_out_refused);
                tracing::warn!(%to, error = %e, "SIP TLS handshake with target failed");
            }
            Err(_) => tracing::debug!(%to, "SIP TLS handshake with target timed out"),
        }
    }
}
