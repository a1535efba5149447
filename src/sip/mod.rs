//! The SIP edge: UDP and TCP listeners on one address, beside the HTTP API.
//!
//! UDP datagrams are read by a few dedicated threads with blocking sockets (the cheapest path for
//! a stateless proxy); TCP connections are tokio tasks that frame messages by `Content-Length`.
//! Both hand each message to [`edge::Edge`], which decides, and then send what it returns.
//! Requests are forwarded to the upstream over UDP from the listening socket, so the upstream's
//! responses come back to it and are relayed along the Via path (only those the edge can
//! authenticate, see [`edge`]); a response for a TCP client goes back over that client's
//! connection, named by a random 64-bit id.
//!
//! [`SipLimits`] bounds TCP, so that no client can hold resources by being slow:
//!
//! - a connection with no message under way is closed after `idle`;
//! - a message must arrive whole within `message` of its first byte: later bytes do not extend
//!   that deadline, so trickling a byte at a time does not keep a connection;
//! - every write must complete within `write`, or the connection is reset: a client that does not
//!   read cannot keep its place, nor what is queued for it;
//! - at most `max_connections` are open at once, and at most `max_connections_per_source` from one
//!   source address (an IPv6 source counts by its /64), so one host cannot lock the others out.
//!   Refusals are logged as warnings, at most one line per cap every 10 s, with how many
//!   connections were refused since the line before.

pub mod edge;
pub mod message;
pub mod metrics;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use edge::{Action, Edge, Transport};
use metrics::Metrics;

use crate::recognition::Recognition;

/// UDP reader threads.
const UDP_THREADS: usize = 2;
/// Socket buffer sizes asked for on the UDP socket.
const UDP_BUFFER_BYTES: usize = 8 * 1024 * 1024;
/// Messages waiting to be written to one TCP connection; more are dropped.
const TCP_QUEUE: usize = 256;
/// At most one warning line per cap about refused TCP connections this often.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Limits on SIP TCP connections (see the module docs). The defaults: idle 300 s, message 10 s,
/// write 10 s, 1,024 connections, 64 from one source.
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

/// Open TCP connections counted against the caps of [`SipLimits`].
#[derive(Debug)]
struct Admission {
    max_connections: usize,
    max_per_source: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The cap that refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cap {
    Global,
    PerSource,
}

/// An admitted connection's place; dropping it frees the place.
#[derive(Debug)]
struct Slot {
    admission: Arc<Admission>,
    source: IpAddr,
}

impl Admission {
    fn new(limits: &SipLimits) -> Arc<Self> {
        Arc::new(Self {
            max_connections: limits.max_connections,
            max_per_source: limits.max_connections_per_source,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A place for a connection from `peer`, or the cap that refuses it.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Cap> {
        let source = source_key(peer);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.total >= self.max_connections {
            return Err(Cap::Global);
        }
        let from_source = counts.by_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.max_per_source {
            return Err(Cap::PerSource);
        }
        counts.by_source.insert(source, from_source + 1);
        counts.total += 1;
        Ok(Slot {
            admission: self.clone(),
            source,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .admission
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Entry::Occupied(mut e) = counts.by_source.entry(self.source) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// What the per-source cap counts by: the address, or for IPv6 its /64 (one host usually has a
/// whole /64). IPv4-mapped IPv6 addresses count as IPv4.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Refusals under one cap, logged at most once per [`REFUSAL_LOG_EVERY`] so that an attack does
/// not flood the log.
#[derive(Debug, Default)]
struct RefusalLog {
    last_line: Option<Instant>,
    unreported: u64,
}

impl RefusalLog {
    /// Notes one refusal at `now`; if a line is due, returns how many refusals it reports (this
    /// one and those since the last line).
    fn note(&mut self, now: Instant) -> Option<u64> {
        self.unreported += 1;
        match self.last_line {
            Some(t) if now.saturating_duration_since(t) < REFUSAL_LOG_EVERY => None,
            _ => {
                self.last_line = Some(now);
                Some(std::mem::take(&mut self.unreported))
            }
        }
    }
}

/// The warnings about refused connections: one [`RefusalLog`] per cap.
#[derive(Debug, Default)]
struct Refusals {
    global: RefusalLog,
    per_source: RefusalLog,
}

impl Refusals {
    fn note(&mut self, cap: Cap, peer: SocketAddr, limits: &SipLimits) {
        let now = Instant::now();
        match cap {
            Cap::Global => {
                if let Some(refused) = self.global.note(now) {
                    tracing::warn!(
                        %peer,
                        refused,
                        cap = limits.max_connections,
                        "SIP TCP connections refused: the edge is at its connection cap \
                         (refused: how many since the last such line)"
                    );
                }
            }
            Cap::PerSource => {
                if let Some(refused) = self.per_source.note(now) {
                    tracing::warn!(
                        %peer,
                        refused,
                        cap = limits.max_connections_per_source,
                        "SIP TCP connections refused: a source is at its per-source cap \
                         (refused: how many since the last such line, from any source)"
                    );
                }
            }
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
        recognizer: Recognition,
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
        let admission = Admission::new(&self.limits);
        let mut refusals = Refusals::default();
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
                    let slot = match admission.admit(peer.ip()) {
                        Ok(slot) => slot,
                        Err(cap) => {
                            refusals.note(cap, peer, &self.limits);
                            // Dropping the stream closes it.
                            continue;
                        }
                    };
                    let (edge, conns, udp, limits) = (
                        self.edge.clone(),
                        self.conns.clone(),
                        self.udp.clone(),
                        self.limits,
                    );
                    tokio::spawn(async move {
                        let _slot = slot;
                        serve_tcp(stream, peer, &edge, &conns, &udp, limits).await;
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
    // The connection is closed if nothing more arrives by then: `idle` after the last complete
    // message while nothing is buffered, else `message` after the first byte of the message under
    // way. Reads within a message do not move it.
    let mut deadline = tokio::time::Instant::now() + limits.idle;
    'conn: loop {
        tokio::select! {
            read = tokio::time::timeout_at(deadline, reader.read(&mut chunk)) => {
                let n = match read {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => n,
                    Err(_) if buf.is_empty() => {
                        tracing::debug!(%peer, "SIP TCP connection idle; closing");
                        break;
                    }
                    Err(_) => {
                        tracing::debug!(
                            %peer,
                            buffered = buf.len(),
                            "SIP TCP message not complete by its deadline; closing"
                        );
                        break;
                    }
                };
                let was_empty = buf.is_empty();
                buf.extend_from_slice(&chunk[..n]);
                let mut framed = false;
                loop {
                    match message::frame_len(&buf) {
                        Ok(Some(len)) => {
                            framed = true;
                            let frame: Vec<u8> = buf.drain(..len).collect();
                            let trimmed = frame.iter().position(|b| *b != b'\r' && *b != b'\n');
                            let Some(start) = trimmed else { continue };
                            match edge.handle(&frame[start..], peer, Transport::Tcp(id)) {
                                Action::Send { via: Transport::Tcp(to), bytes, .. } if to == id => {
                                    let written =
                                        write_within(&mut writer, &bytes, limits.write, peer).await;
                                    if !written {
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
                if buf.is_empty() {
                    deadline = tokio::time::Instant::now() + limits.idle;
                } else if was_empty || framed {
                    // The first bytes of a new message: its deadline starts now.
                    deadline = tokio::time::Instant::now() + limits.message;
                }
            }
            out = rx.recv() => {
                match out {
                    Some(bytes) => {
                        if !write_within(&mut writer, &bytes, limits.write, peer).await {
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

/// Writes `bytes` to a TCP connection within `limit`. False if the connection must be closed:
/// the write failed, or did not complete in time because the peer does not read, in which case
/// the connection is set to be reset on close rather than have the kernel keep trying to deliver
/// what it holds for it.
async fn write_within(
    writer: &mut OwnedWriteHalf,
    bytes: &[u8],
    limit: Duration,
    peer: SocketAddr,
) -> bool {
    match tokio::time::timeout(limit, writer.write_all(bytes)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::debug!(%peer, ?limit, "SIP TCP write not done in time; resetting");
            let stream: &TcpStream = writer.as_ref();
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
            false
        }
    }
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn admission_counts_per_source_and_in_total_and_frees_on_drop() {
        let admission = Admission::new(&SipLimits {
            max_connections: 3,
            max_connections_per_source: 2,
            ..SipLimits::default()
        });
        let a1 = admission.admit(ip("192.0.2.1")).unwrap();
        let _a2 = admission.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert_eq!(
            admission.admit(ip("192.0.2.1")).unwrap_err(),
            Cap::PerSource,
            "the IPv4-mapped form is the same source"
        );
        let _b = admission.admit(ip("2001:db8::1")).unwrap();
        assert_eq!(admission.admit(ip("192.0.2.9")).unwrap_err(), Cap::Global);
        drop(a1);
        let _a3 = admission.admit(ip("192.0.2.1")).unwrap();
        // One IPv6 /64 is one source.
        let admission = Admission::new(&SipLimits {
            max_connections_per_source: 1,
            ..SipLimits::default()
        });
        let _c = admission.admit(ip("2001:db8:0:1::1")).unwrap();
        assert_eq!(
            admission.admit(ip("2001:db8:0:1:ffff::2")).unwrap_err(),
            Cap::PerSource
        );
        let d = admission.admit(ip("2001:db8:0:2::1")).unwrap();
        drop(d);
        let counts = admission.counts.lock().unwrap();
        assert_eq!((counts.total, counts.by_source.len()), (1, 1), "{counts:?}");
    }

    #[test]
    fn refusals_are_logged_at_most_once_per_interval_with_a_count() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        assert_eq!(
            log.note(t0),
            Some(1),
            "the first refusal is reported at once"
        );
        for i in 1..=500u64 {
            assert_eq!(log.note(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(
            log.note(t0 + REFUSAL_LOG_EVERY),
            Some(501),
            "the next line counts every refusal since the last one"
        );
        assert_eq!(
            log.note(t0 + REFUSAL_LOG_EVERY + Duration::from_secs(1)),
            None
        );
        assert_eq!(log.note(t0 + 3 * REFUSAL_LOG_EVERY), Some(2));
    }
}
