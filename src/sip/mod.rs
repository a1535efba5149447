//! The SIP edge: UDP and TCP listeners on one address, beside the HTTP API.
//!
//! UDP datagrams are read by a few dedicated threads with blocking sockets (the cheapest path for
//! a stateless proxy); TCP connections are tokio tasks that frame messages by `Content-Length`,
//! with size limits and timeouts. Both hand each message to [`edge::Edge`], which decides, and
//! then send what it returns. Requests are forwarded to the upstream over UDP from the listening
//! socket, so the upstream's responses come back to it and are relayed along the Via path; a
//! response for a TCP client goes back over that client's connection.

pub mod edge;
pub mod message;
pub mod metrics;

use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use edge::{Action, Edge, Transport};
use metrics::Metrics;

use crate::recognition::Recognizer;

/// UDP reader threads.
const UDP_THREADS: usize = 2;
/// Socket buffer sizes asked for on the UDP socket.
const UDP_BUFFER_BYTES: usize = 8 * 1024 * 1024;
/// Messages waiting to be written to one TCP connection; more are dropped.
const TCP_QUEUE: usize = 256;

/// Limits on SIP TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipLimits {
    /// A connection with nothing to say for this long is closed.
    pub idle: Duration,
    /// A partly received message must be complete within this long.
    pub message: Duration,
    /// How long one write may take (not enforced yet).
    pub write: Duration,
    /// Most TCP connections at once; more are refused.
    pub max_connections: usize,
    /// Most TCP connections at once from one source (not enforced yet).
    pub max_connections_per_source: usize,
}

impl Default for SipLimits {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(300),
            message: Duration::from_secs(10),
            write: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_source: 64,
        }
    }
}

/// Open TCP connections, for responses relayed from the upstream, by id.
///
/// Ids are random 64-bit numbers, unique among open connections: a connection's id rides in
/// sipmap's Via (`sm-conn`), so a sequential id would let anyone name another client's
/// connection (the branch tag, see [`edge`], is what actually forbids that; random ids are a
/// second fence).
#[derive(Debug, Default)]
struct Connections {
    open: Mutex<HashMap<u64, mpsc::Sender<Vec<u8>>>>,
}

impl Connections {
    /// Registers a new connection: its id and the queue of what to write to it.
    fn register(&self) -> (u64, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let id = rand::random::<u64>();
            if let std::collections::hash_map::Entry::Vacant(slot) = open.entry(id) {
                slot.insert(tx);
                return (id, rx);
            }
        }
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    fn send(&self, id: u64, bytes: Vec<u8>) {
        let sender = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned();
        if let Some(s) = sender {
            let _ = s.try_send(bytes);
        }
    }
}

/// A bound SIP edge, ready to run.
pub struct SipServer {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    edge: Arc<Edge>,
    conns: Arc<Connections>,
    limits: SipLimits,
}

impl SipServer {
    /// Binds UDP and TCP on `addr` (the same port for both, also when `addr` has port 0).
    pub async fn bind(
        addr: SocketAddr,
        upstream: Option<SocketAddr>,
        recognizer: Arc<Recognizer>,
        metrics: Arc<Metrics>,
        limits: SipLimits,
    ) -> anyhow::Result<Self> {
        // With port 0 the UDP port is picked first; if that port is taken for TCP, pick again.
        let attempts = if addr.port() == 0 { 20 } else { 1 };
        let mut bound = None;
        for attempt in 1..=attempts {
            let udp =
                UdpSocket::bind(addr).with_context(|| format!("cannot bind SIP UDP on {addr}"))?;
            let local = udp.local_addr()?;
            match TcpListener::bind(local).await {
                Ok(tcp) => {
                    bound = Some((udp, tcp, local));
                    break;
                }
                Err(e) if attempt < attempts && e.kind() == std::io::ErrorKind::AddrInUse => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot bind SIP TCP on {local}"));
                }
            }
        }
        let (udp, tcp, local) = bound.context("no port is free for both SIP UDP and TCP")?;
        udp.set_read_timeout(Some(Duration::from_millis(200)))?;
        // Room for bursts: the kernel caps these at net.core.{r,w}mem_max.
        let sock = socket2::SockRef::from(&udp);
        let _ = sock.set_recv_buffer_size(UDP_BUFFER_BYTES);
        let _ = sock.set_send_buffer_size(UDP_BUFFER_BYTES);
        Ok(Self {
            udp: Arc::new(udp),
            tcp,
            edge: Arc::new(Edge::new(recognizer, upstream, local, metrics)),
            conns: Arc::new(Connections::default()),
            limits,
        })
    }

    /// The bound address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.udp
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..UDP_THREADS {
            let (udp, edge, conns, stop) = (
                self.udp.clone(),
                self.edge.clone(),
                self.conns.clone(),
                stop.clone(),
            );
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sip-udp-{i}"))
                    .spawn(move || udp_loop(&udp, &edge, &conns, &stop))?,
            );
        }
        let active = Arc::new(AtomicU64::new(0));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.tcp.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "SIP TCP accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    if active.load(Ordering::Relaxed) >= self.limits.max_connections as u64 {
                        tracing::warn!(%peer, "too many SIP TCP connections; refused");
                        continue;
                    }
                    active.fetch_add(1, Ordering::Relaxed);
                    let (edge, conns, udp, active, limits) = (
                        self.edge.clone(),
                        self.conns.clone(),
                        self.udp.clone(),
                        active.clone(),
                        self.limits,
                    );
                    tokio::spawn(async move {
                        serve_tcp(stream, peer, &edge, &conns, &udp, limits).await;
                        active.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await?;
        Ok(())
    }
}

/// Carries out an [`Action`] from the UDP socket or towards a TCP connection.
fn perform(action: Action, udp: &UdpSocket, conns: &Connections) {
    if let Action::Send { to, via, bytes } = action {
        match via {
            Transport::Udp => {
                if let Err(e) = udp.send_to(&bytes, to) {
                    tracing::debug!(%to, error = %e, "SIP UDP send failed");
                }
            }
            Transport::Tcp(id) => conns.send(id, bytes),
        }
    }
}

fn udp_loop(udp: &UdpSocket, edge: &Edge, conns: &Connections, stop: &AtomicBool) {
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

async fn serve_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    edge: &Edge,
    conns: &Connections,
    udp: &UdpSocket,
    limits: SipLimits,
) {
    let (id, mut rx) = conns.register();
    let (mut reader, mut writer) = stream.into_split();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'conn: loop {
        let wait = if buf.is_empty() {
            limits.idle
        } else {
            limits.message
        };
        tokio::select! {
            read = tokio::time::timeout(wait, reader.read(&mut chunk)) => {
                let n = match read {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => n,
                    Err(_) => {
                        tracing::debug!(%peer, "SIP TCP connection timed out");
                        break;
                    }
                };
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    match message::frame_len(&buf) {
                        Ok(Some(len)) => {
                            let frame: Vec<u8> = buf.drain(..len).collect();
                            let trimmed = frame.iter().position(|b| *b != b'\r' && *b != b'\n');
                            let Some(start) = trimmed else { continue };
                            match edge.handle(&frame[start..], peer, Transport::Tcp(id)) {
                                Action::Send { via: Transport::Tcp(to_id), bytes, .. } if to_id == id => {
                                    if writer.write_all(&bytes).await.is_err() {
                                        break 'conn;
                                    }
                                }
                                other => perform(other, udp, conns),
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "bad SIP TCP framing; closing");
                            break 'conn;
                        }
                    }
                }
            }
            out = rx.recv() => {
                match out {
                    Some(bytes) => {
                        if writer.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                }
            }
        }
    }
    conns.remove(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_are_random_and_unique() {
        let conns = Connections::default();
        let ids: Vec<u64> = (0..1000).map(|_| conns.register().0).collect();
        let distinct: std::collections::HashSet<u64> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(
            ids.windows(2).all(|w| w[1] != w[0].wrapping_add(1)),
            "ids are not a sequence"
        );
        assert!(
            ids.iter().any(|&id| id > u64::from(u32::MAX)),
            "ids use all 64 bits"
        );
        conns.remove(ids[0]);
        assert_eq!(
            conns.open.lock().unwrap().len(),
            ids.len() - 1,
            "a closed connection's id is released"
        );
    }
}
