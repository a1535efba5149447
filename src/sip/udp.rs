//! The UDP side: a few dedicated threads read datagrams with a blocking socket (the cheapest path
//! for a stateless proxy) and hand each to the edge.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::edge::Transport;
use super::{Io, SipServer, message, perform};

/// UDP reader threads.
const UDP_THREADS: usize = 2;
/// Socket buffer sizes asked for on the UDP socket.
const UDP_BUFFER_BYTES: usize = 8 * 1024 * 1024;
/// How long a reader blocks before it looks whether it is to stop.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// Sets up a bound UDP socket for the readers: a read timeout, and room for bursts.
pub(super) fn configure(udp: &UdpSocket) -> std::io::Result<()> {
    udp.set_read_timeout(Some(READ_TIMEOUT))?;
    // Room for bursts: the kernel caps these at net.core.{r,w}mem_max.
    let sock = socket2::SockRef::from(udp);
    let _ = sock.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = sock.set_send_buffer_size(UDP_BUFFER_BYTES);
    Ok(())
}

impl SipServer {
    /// Starts the UDP reader threads; each stops within [`READ_TIMEOUT`] of `stop` being set.
    pub(super) fn spawn_udp_readers(
        &self,
        stop: &Arc<AtomicBool>,
    ) -> std::io::Result<Vec<JoinHandle<()>>> {
        let mut threads = Vec::new();
        for i in 0..UDP_THREADS {
            let (io, stop) = (self.io.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sip-udp-{i}"))
                    .spawn(move || udp_loop(&io, &stop))?,
            );
        }
        Ok(threads)
    }
}

/// One reader: each datagram that is not a keep-alive goes to the edge, and what it returns is
/// sent, until `stop` is set.
fn udp_loop(io: &Arc<Io>, stop: &AtomicBool) {
    let mut buf = vec![0u8; message::MAX_MESSAGE_BYTES + 1];
    while !stop.load(Ordering::Relaxed) {
        let (n, source) = match io.udp.recv_from(&mut buf) {
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
        perform(io.edge.handle(&buf[..n], source, Transport::Udp), io);
    }
}
