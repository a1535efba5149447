//! The edge's own TCP connections to `transport=tcp` targets: one per destination, opened on the
//! first message for it and kept while it is used (the idle limit of [`super::SipLimits`] closes
//! it), served like an accepted connection, so the target's responses come back on it.
//!
//! At most [`MAX_OUTBOUND`] are open at once; a message for another destination is dropped, and
//! the limit logs. A message for a connection still being opened waits in its queue; one that
//! cannot be opened within the write limit drops what waits (UDP-like: the client retransmits).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;

use super::Io;
use super::tcp::serve_registered;
use crate::limit_log::LimitLog;

/// Most outbound TCP connections open at once.
pub const MAX_OUTBOUND: usize = 1024;

/// The outbound limit's log line.
static OUTBOUND_LIMIT: LimitLog = LimitLog::new("SIP outbound TCP connection cap");

/// Open outbound connections: the connection id of each destination.
#[derive(Debug, Default)]
pub(super) struct Outbound {
    open: Mutex<HashMap<SocketAddr, u64>>,
}

impl Io {
    /// Sends `bytes` to `to` over the edge's TCP connection to it, opening one if there is none.
    pub(super) fn send_tcp_out(self: &Arc<Self>, to: SocketAddr, bytes: Vec<u8>) {
        let mut open = self.outbound.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut bytes = bytes;
        if let Some(id) = open.get(&to).copied() {
            match self.conns.send(id, bytes) {
                Ok(()) => return,
                // It closed since; open another.
                Err(back) => bytes = back,
            }
            open.remove(&to);
        }
        if open.len() >= MAX_OUTBOUND {
            OUTBOUND_LIMIT.hit(&format_args!("{MAX_OUTBOUND} open; nothing sent to {to}"));
            return;
        }
        let (id, rx) = self.conns.register();
        open.insert(to, id);
        drop(open);
        // Queued before the connection exists: written once it does.
        let _ = self.conns.send(id, bytes);
        let io = self.clone();
        self.runtime.spawn(async move {
            match tokio::time::timeout(io.limits.write, TcpStream::connect(to)).await {
                Ok(Ok(stream)) => serve_registered(stream, to, id, rx, &io).await,
                Ok(Err(e)) => tracing::debug!(%to, error = %e, "SIP TCP connect to target failed"),
                Err(_) => tracing::debug!(%to, "SIP TCP connect to target timed out"),
            }
            io.conns.remove(id);
            let mut open = io.outbound.open.lock().unwrap_or_else(|e| e.into_inner());
            if open.get(&to) == Some(&id) {
                open.remove(&to);
            }
        });
    }
}
