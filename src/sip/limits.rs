//! [`SipLimits`]: the bounds on SIP TCP and TLS connections, so that no client can hold
//! resources by being slow or by opening many connections.
//!
//! The deadlines are kept in `tcp`, the caps in `admission`.

use std::time::Duration;

/// Limits on SIP TCP connections, so that no client can hold resources by being slow or by
/// opening many connections:
///
/// - a connection with no message under way is closed after `idle`;
/// - a message must arrive whole within `message` of its first byte: later bytes do not extend
///   that deadline, so trickling a byte at a time does not keep a connection;
/// - every write must complete within `write`, or the connection is reset: a client that does not
///   read cannot keep its place, nor what is queued for it;
/// - at most `max_connections` are open at once, and at most `max_connections_per_source` from one
///   source address (an IPv6 source counts by its /64), so one host cannot lock the others out.
///   Refusals are logged as warnings, at most one line per cap every 10 s, with how many
///   connections were refused since the line before. TCP and TLS connections count together;
/// - a TLS handshake must be done within `handshake` of the connection's acceptance, and at most
///   `max_handshakes_per_source` handshakes from one source are in progress at once (more
///   connections from it are closed at once), so slow or half-done handshakes cannot hold the
///   connection places; both log through `limit_log` when they bite.
///
/// The defaults: idle 300 s, message 10 s, write 10 s, 1,024 connections, 64 from one source,
/// handshake 5 s, 8 handshakes in progress from one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipLimits {
    /// A connection with no message under way for this long is closed.
    pub idle: Duration,
    /// A message must be received whole within this long of its first byte.
    pub message: Duration,
    /// Each write to a connection must complete within this long, or the connection is reset.
    pub write: Duration,
    /// Most TCP connections at once; more are refused.
    pub max_connections: usize,
    /// Most TCP connections at once from one source address (IPv6: one /64); more are refused.
    pub max_connections_per_source: usize,
    /// A TLS handshake must be done within this long of the connection's acceptance.
    pub handshake: Duration,
    /// Most TLS handshakes in progress at once from one source address (IPv6: one /64).
    pub max_handshakes_per_source: usize,
}

impl Default for SipLimits {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(300),
            message: Duration::from_secs(10),
            write: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_source: 64,
            handshake: Duration::from_secs(5),
            max_handshakes_per_source: 8,
        }
    }
}
