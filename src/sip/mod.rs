//! The SIP edge: UDP and TCP listeners on one address, beside the HTTP API, and optionally a TLS
//! listener (`handshake`) whose connections are served by the TCP code over the TLS stream.
//!
//! UDP datagrams are read by a few dedicated threads with blocking sockets (the cheapest path for
//! a stateless proxy); TCP connections are tokio tasks that frame messages by `Content-Length`.
//! Both hand each message to [`edge::Edge`], which decides, and then send what it returns.
//! Requests are forwarded to a target of the domain's connection policy or to the upstream, over
//! UDP from the listening socket, so the responses come back to it and are relayed along the Via
//! path (only those the edge can authenticate, see [`edge`]); to a `transport=tcp` (or `tls`)
//! target over a TCP (or TLS) connection the edge opens (`outbound`) and reads responses from. A response for a TCP
//! client goes back over that client's connection, named by a random 64-bit id. A task probes
//! every target destination with `OPTIONS` (`probe`, [`ProbeSettings`]); [`health`] holds what the
//! probes found, for the edge and `/metrics`.
//!
//! At shutdown the edge drains ([`SipServer::run`]): the TCP and TLS listeners close, probes
//! stop, each open connection closes once the transactions on it have ended (`tcp`), within
//! [`SipServer::with_drain`]'s bound; the UDP readers go on relaying (the responses to the
//! connections' requests may come back over UDP) until then, and stop last.
//!
//! [`SipLimits`] bounds TCP, so that no client can hold resources by being slow or by opening many
//! connections: idle and per-message deadlines, a deadline on every write, and a global and a
//! per-source cap on connections (see [`SipLimits`] for each).
//!
//! The files: [`message`] (parsing, framing, the one serialiser), [`edge`] (what to do with each
//! message), [`metrics`], [`health`], [`host`] (the host's addresses, which a wildcard listener
//! counts as its own), `udp` and `tcp` (the transports; `tcp` serves TLS streams too),
//! `handshake` (the TLS listener), `outbound` (TCP and TLS connections to targets), `probe` (the probes' clock), `connections` (open TCP connections by
//! id), `limits` ([`SipLimits`]) and `admission` (the connection caps). [`ua`] is the sans-IO
//! user agent core (transactions, dialogs) that a back-to-back call engine drives.

pub mod edge;
pub mod health;
pub mod host;
pub mod message;
pub mod metrics;
pub mod ua;

mod admission;
mod connections;
mod handshake;
mod limits;
mod outbound;
mod pacing;
mod probe;
mod tcp;
mod udp;

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use connections::Connections;
use edge::{Action, Authenticator, CallHandoff, Edge, Transport};
use metrics::Metrics;

pub use limits::SipLimits;
pub use probe::ProbeSettings;

use crate::recognition::Recognition;
use crate::sip_syntax::Wire;

/// A bound SIP edge, ready to run.
pub struct SipServer {
    io: Arc<Io>,
    tcp: TcpListener,
    /// The TLS listener, when there is one (`--sip-tls-listen`).
    tls: Option<handshake::TlsListener>,
    probes: ProbeSettings,
    /// One socket per UDP reader thread, all on the edge's address (see `udp`).
    udp_readers: Vec<UdpSocket>,
    /// How long open connections may take to finish their transactions at shutdown.
    drain: Duration,
}

/// How long open connections may take to finish their transactions at shutdown, unless
/// [`SipServer::with_drain`] says otherwise.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(10);

/// What every transport task needs to carry out the edge's decisions.
#[derive(Debug)]
struct Io {
    udp: UdpSocket,
    edge: Edge,
    /// Open TCP connections, accepted and outbound.
    conns: Connections,
    /// The edge's connections to TCP targets.
    outbound: outbound::Outbound,
    limits: SipLimits,
    /// Where outbound connections are spawned (UDP readers are plain threads).
    runtime: tokio::runtime::Handle,
    /// How the edge's TLS connections to targets verify them; none: nothing goes out over TLS.
    tls_client: Option<Arc<rustls::ClientConfig>>,
    /// The upstream's address and the host name its certificate must carry, when it is reached
    /// over TLS and named by a host name (a target's certificate must carry its IP address).
    upstream_name: Option<(SocketAddr, String)>,
    /// Set when the server drains: each connection closes once its transactions have ended.
    draining: tokio::sync::watch::Sender<bool>,
}

impl SipServer {
    /// Binds UDP and TCP on `addr` (the same port for both, also when `addr` has port 0); the
    /// edge authenticates with `digest` (keys derived from the server key).
    pub async fn bind(
        addr: SocketAddr,
        upstream: Option<SocketAddr>,
        recognizer: Recognition,
        metrics: Arc<Metrics>,
        limits: SipLimits,
        digest: Authenticator,
        calls: Option<Arc<dyn CallHandoff>>,
    ) -> anyhow::Result<Self> {
        // TCP first: a port another process listens on is refused before any UDP socket joins
        // it (the UDP readers share their port with SO_REUSEPORT, once `udp::bind_group` found
        // it free for UDP). With port 0 the TCP port is picked first; if that port is taken for
        // UDP, pick again.
        let attempts = if addr.port() == 0 { 20 } else { 1 };
        let mut bound = None;
        for attempt in 1..=attempts {
            let tcp = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot bind SIP TCP on {addr}"))?;
            let local = tcp.local_addr()?;
            match udp::bind_group(local) {
                Ok(readers) => {
                    bound = Some((readers, tcp, local));
                    break;
                }
                Err(e) if attempt < attempts && e.kind() == std::io::ErrorKind::AddrInUse => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot bind SIP UDP on {local}"));
                }
            }
        }
        let (udp_readers, tcp, local) =
            bound.context("no port is free for both SIP UDP and TCP")?;
        // Every answer leaves from the first socket (they all have the same address).
        let udp = udp_readers[0].try_clone()?;
        let mut edge = Edge::new(recognizer, upstream, local, metrics, digest);
        if let Some(calls) = calls {
            edge = edge.with_calls(calls);
        }
        if local.ip().is_unspecified() {
            edge.host_addresses().refresh();
        }
        if upstream.is_some_and(|u| edge.is_own_address(u)) {
            tracing::warn!(
                upstream = %upstream.map_or_else(String::new, |u| u.to_string()),
                "--sip-upstream is the SIP edge's own address: requests for it are answered 482"
            );
        }
        Ok(Self {
            io: Arc::new(Io {
                udp,
                edge,
                conns: Connections::default(),
                outbound: outbound::Outbound::default(),
                limits,
                runtime: tokio::runtime::Handle::current(),
                tls_client: None,
                upstream_name: None,
                draining: tokio::sync::watch::Sender::new(false),
            }),
            tcp,
            tls: None,
            probes: ProbeSettings::default(),
            udp_readers,
            drain: DEFAULT_DRAIN,
        })
    }

    /// The same server, forwarding to at most `per_second` new ports of one target address each
    /// second (see [`edge::ports`]).
    pub fn with_new_ports_per_ip(mut self, per_second: u32) -> Self {
        let ports = edge::ports::PortLimit::new(per_second, Arc::new(crate::clock::SystemClock));
        match Arc::get_mut(&mut self.io) {
            Some(io) => io.edge.set_port_limit(ports),
            // Only `run` shares it, and it takes the server by value.
            None => tracing::error!("the SIP edge runs already; its port limit stays as it was"),
        }
        self
    }

    /// The same server, reporting its edge's refusals of requests to recognised domains to
    /// `sink` (Monitor Alerts).
    pub fn with_refusals(mut self, sink: Arc<dyn edge::RefusalSink>) -> Self {
        match Arc::get_mut(&mut self.io) {
            Some(io) => io.edge.set_refusals(sink),
            // Only `run` and `sender` share it; the app sets this before either.
            None => tracing::error!("the SIP edge runs already; its refusals are not reported"),
        }
        self
    }

    /// The same server, recording its edge's decisions in `log`.
    pub fn with_decisions(mut self, log: Arc<edge::record::Decisions>) -> Self {
        match Arc::get_mut(&mut self.io) {
            Some(io) => io.edge.set_decisions(log),
            // Only `run` and `sender` share it; the app sets this before either.
            None => tracing::error!("the SIP edge runs already; its decisions are not recorded"),
        }
        self
    }

    /// The same server, reaching the upstream over `wire` (UDP, or its own TCP or TLS
    /// connection), a TLS upstream's certificate checked for `host` (its URI's host).
    pub fn with_upstream_transport(mut self, upstream: Option<(Wire, String)>) -> Self {
        let Some((wire, host)) = upstream else {
            return self;
        };
        let Some(io) = Arc::get_mut(&mut self.io) else {
            tracing::error!("the SIP edge runs already; its upstream stays as it was");
            return self;
        };
        io.edge.set_upstream_wire(wire);
        if let Some(addr) = io.edge.upstream() {
            io.upstream_name = Some((addr, host));
        }
        self
    }

    /// The same server, opening TLS connections to targets (and a TLS upstream) with `config`
    /// (see `outbound`).
    pub fn with_tls_client(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        match Arc::get_mut(&mut self.io) {
            Some(io) => io.tls_client = Some(config),
            None => tracing::error!("the SIP edge runs already; it keeps its TLS client"),
        }
        self
    }

    /// The same server, also listening for SIP over TLS on `addr`, each handshake made with
    /// `config` (see `handshake`).
    ///
    /// # Errors
    ///
    /// When `addr` cannot be bound.
    pub async fn with_tls_listener(
        mut self,
        addr: SocketAddr,
        config: Arc<rustls::ServerConfig>,
    ) -> anyhow::Result<Self> {
        let socket = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot bind SIP TLS on {addr}"))?;
        self.tls = Some(handshake::TlsListener {
            socket,
            acceptor: tokio_rustls::TlsAcceptor::from(config),
        });
        Ok(self)
    }

    /// The bound TLS address, when there is a TLS listener.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|t| t.socket.local_addr().ok())
    }

    /// The same server, giving open connections at most `drain` to finish their transactions
    /// at shutdown (see [`SipServer::run`]).
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    /// The same server, probing targets as `probes` says.
    pub fn with_probes(mut self, probes: ProbeSettings) -> Self {
        self.probes = probes;
        self
    }

    /// What sends SIP messages for the calls of voice applications, over this server's
    /// sockets and connections.
    pub fn sender(&self) -> SipSender {
        SipSender(self.io.clone())
    }

    /// The bound address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.io
            .udp
            .local_addr()
            .expect("a bound socket has an address")
    }

    /// Serves until `shutdown` completes: UDP on threads of its own, TCP and the probes on tokio
    /// tasks. Then drains: the TCP and TLS listeners close (a new connection is refused), the
    /// probes stop, each open connection closes once its transactions have ended or when the
    /// drain's bound passes, and the UDP readers, relaying until then, stop last.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = self.spawn_udp_readers(&stop)?;
        let probes = tokio::spawn(probe::run(self.io.clone(), self.probes));
        let host = self.local_addr().ip().is_unspecified().then(|| {
            tokio::spawn(refresh_host_addresses(
                self.io.edge.host_addresses().clone(),
            ))
        });
        let admission = admission::Admission::new(&self.io.limits);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let tls = async {
            if let Some(listener) = &self.tls {
                self.accept_tls(listener, &admission, stopped()).await;
            }
        };
        let signal = async {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        tokio::join!(signal, self.accept_tcp(&admission, stopped()), tls);
        probes.abort();
        if let Some(task) = host {
            task.abort();
        }
        let Self {
            io,
            tcp,
            tls,
            drain,
            ..
        } = self;
        drop((tcp, tls));
        tracing::info!(
            open = io.conns.len(),
            bound = ?drain,
            "SIP: TCP and TLS listeners closed, probes stopped; draining open connections"
        );
        drain_connections(&io, drain).await;
        stop.store(true, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await?;
        tracing::info!("SIP: UDP stopped");
        Ok(())
    }
}

/// Tells every open connection to close once its transactions have ended, and waits until all
/// have, or `bound` has passed (those still open are then cut when the process ends).
async fn drain_connections(io: &Io, bound: Duration) {
    io.draining.send_replace(true);
    let deadline = tokio::time::Instant::now() + bound;
    while io.conns.len() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match io.conns.len() {
        0 => tracing::info!("SIP: open connections drained"),
        left => tracing::warn!(
            left,
            ?bound,
            "SIP: drain bound passed with transactions in progress; closing the connections"
        ),
    }
}

/// Reads the host's interface addresses again every [`host::REFRESH`], on a blocking thread,
/// until the task is dropped.
async fn refresh_host_addresses(host: Arc<host::HostAddresses>) {
    let mut tick = tokio::time::interval(host::REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let host = host.clone();
        let _ = tokio::task::spawn_blocking(move || host.refresh()).await;
    }
}

/// Carries out an [`Action`] from the UDP socket or towards a TCP connection.
fn perform(action: Action, io: &Arc<Io>) {
    match action {
        Action::Send { to, via, bytes } => {
            send(io, to, via, bytes);
        }
        Action::Call(call) => {
            if let Some(Err(refused)) = io.edge.calls().map(|c| c.start(&call)) {
                perform(io.edge.answer_call(&call, refused), io);
            }
        }
        Action::Drop => {}
    }
}

/// Sends `bytes` to `to` over `via`; false if it could not go (a UDP send failed, the TCP
/// connection is closed).
fn send(io: &Arc<Io>, to: SocketAddr, via: Transport, bytes: Vec<u8>) -> bool {
    match via {
        Transport::Udp => match io.udp.send_to(&bytes, to) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(%to, error = %e, "SIP UDP send failed");
                false
            }
        },
        // A connection closed meanwhile: the message is lost, as a datagram would be.
        Transport::Tcp(id) | Transport::Tls(id) => io.conns.send(id, bytes).is_ok(),
        Transport::TcpOut | Transport::TlsOut => {
            io.send_out(to, via.wire(), bytes);
            true
        }
    }
}

/// Sends SIP messages over a bound server's sockets and connections: how the calls of voice
/// applications reach their legs (see [`SipServer::sender`]).
#[derive(Debug, Clone)]
pub struct SipSender(Arc<Io>);

impl SipSender {
    /// Sends `bytes` to `to` over `via` (UDP from the edge's socket, the TCP connection by id,
    /// or the edge's own connection to `to`); false if it could not go. Never to the edge's
    /// own address.
    pub fn send(&self, to: SocketAddr, via: Transport, bytes: Vec<u8>) -> bool {
        if self.0.edge.is_own_address(to) {
            tracing::debug!(%to, "SIP message of a call to the edge's own address dropped");
            return false;
        }
        send(&self.0, to, via, bytes)
    }

    /// The edge's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.edge.local()
    }
}
