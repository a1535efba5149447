//! The UDP side: a few dedicated threads read datagrams with blocking sockets (the cheapest path
//! for a stateless proxy) and hand each to the edge.
//!
//! Each thread reads a socket of its own, all bound to the edge's address with `SO_REUSEPORT`: the
//! kernel then gives every datagram from one source address and port to the same socket, so one
//! thread handles them in the order they arrived. Two threads reading one shared socket could
//! relay an upstream's `180 Ringing` after the `200 OK` that followed it (a UAC such as SIPp then
//! drops the call).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::edge::Transport;
use super::{Io, SipServer, message, perform};

/// UDP reader threads.
const UDP_THREADS: usize = 2;
/// Socket buffer sizes asked for on the UDP socket.
const UDP_BUFFER_BYTES: usize = 8 * 1024 * 1024;
/// How long a reader blocks before it looks whether it is to stop.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// Binds the readers' sockets, [`UDP_THREADS`] of them, all to `addr` (to a port the system
/// picks, when `addr` has port 0), and configures them.
///
/// The port must be free first: `SO_REUSEPORT` would let the group join any socket of the same
/// user that set it too (another server's readers, or ones a stopped server left behind), and
/// the kernel would then share the datagrams between them. A socket bound without it fails
/// with `AddrInUse` while anything holds the port, so one is bound (and closed) before the group.
pub(super) fn bind_group(addr: SocketAddr) -> std::io::Result<Vec<UdpSocket>> {
    let addr = {
        let probe = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        probe.bind(&addr.into())?;
        probe
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("a UDP socket without an IP address"))?
    };
    let mut sockets: Vec<UdpSocket> = Vec::with_capacity(UDP_THREADS);
    for _ in 0..UDP_THREADS {
        let at = sockets.first().map_or(Ok(addr), UdpSocket::local_addr)?;
        let sock = Socket::new(Domain::for_address(at), Type::DGRAM, Some(Protocol::UDP))?;
        sock.set_reuse_port(true)?;
        sock.bind(&at.into())?;
        let udp: UdpSocket = sock.into();
        configure(&udp)?;
        sockets.push(udp);
    }
    Ok(sockets)
}

/// Sets up a bound UDP socket for the readers: a read timeout, and room for bursts.
fn configure(udp: &UdpSocket) -> std::io::Result<()> {
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
        &mut self,
        stop: &Arc<AtomicBool>,
    ) -> std::io::Result<Vec<JoinHandle<()>>> {
        let mut threads = Vec::new();
        for (i, socket) in std::mem::take(&mut self.udp_readers)
            .into_iter()
            .enumerate()
        {
            let (io, stop) = (self.io.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sip-udp-{i}"))
                    .spawn(move || udp_loop(&io, &socket, &stop))?,
            );
        }
        Ok(threads)
    }
}

/// One reader of `socket`: each datagram that is not a keep-alive goes to the edge, and what it
/// returns is sent, until `stop` is set.
fn udp_loop(io: &Arc<Io>, socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = vec![0u8; message::MAX_MESSAGE_BYTES + 1];
    while !stop.load(Ordering::Relaxed) {
        let (n, source) = match socket.recv_from(&mut buf) {
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
        // No datagram is over MAX_MESSAGE_BYTES (UDP carries at most 65,527 bytes); one that
        // were would reach the edge cut to MAX_MESSAGE_BYTES + 1 and be answered 513 there.
        if n == 0 {
            continue;
        }
        // Keep-alives (RFC 5626): a bare CRLF, or two.
        if buf[..n].iter().all(|b| *b == b'\r' || *b == b'\n') {
            continue;
        }
        perform(io.edge.handle(&buf[..n], source, Transport::Udp), io);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_another_reuseport_socket_holds_is_refused_not_shared() {
        // Another server's readers (or ones left behind): SO_REUSEPORT, the same user.
        let other = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        other.set_reuse_port(true).unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        other.bind(&any.into()).unwrap();
        let held = other.local_addr().unwrap().as_socket().unwrap();
        let refused = bind_group(held).expect_err("the port is held");
        assert_eq!(refused.kind(), std::io::ErrorKind::AddrInUse);
        drop(other);
        let group = bind_group(held).expect("free again");
        assert_eq!(group.len(), UDP_THREADS);
        assert!(group.iter().all(|s| s.local_addr().unwrap() == held));
    }
}
