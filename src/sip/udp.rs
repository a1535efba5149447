//! The UDP side: a few dedicated threads read datagrams with a blocking socket (the cheapest path
//! for a stateless proxy) and hand each to the edge.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};

use super::connections::Connections;
use super::edge::{Edge, Transport};
use super::{message, perform};

/// UDP reader threads.
pub(super) const UDP_THREADS: usize = 2;
/// Socket buffer sizes asked for on the UDP socket.
pub(super) const UDP_BUFFER_BYTES: usize = 8 * 1024 * 1024;

pub(super) fn udp_loop(udp: &UdpSocket, edge: &Edge, conns: &Connections, stop: &AtomicBool) {
    let mut buf = vec![0u8; message::MAX_MESSAGE_BYTES + 1];
    while !stop.load(Ordering::Relaxed) {
        let (n, source) = match udp.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "SIP UDP receive failed");
                continue;
            }
        };
        if n == 0 || n > message::MAX_MESSAGE_BYTES {
            continue;
        }
        // Keep-alives (RFC 5626): a bare CRLF, or two.
        if buf[..n].iter().all(|b| *b == b'\r' || *b == b'\n') {
            continue;
        }
        perform(edge.handle(&buf[..n], source, Transport::Udp), udp, conns);
    }
}
