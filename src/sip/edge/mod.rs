//! What the SIP edge does with each message: recognise, admit, answer, forward or relay.
//!
//! This is pure logic over bytes: [`Edge::handle`] takes one message and where it came from and
//! returns what to send where. The transports in [`super`] do the I/O.
//!
//! - A request whose Request-URI host is a SIP domain's name belongs to that domain; otherwise the
//!   domain mapped to the most specific network containing the source address; otherwise it is
//!   not recognised (404; an ACK is dropped, never answered).
//! - A recognised request then meets its domain's security settings ([`policy`]): a `secure`
//!   domain refuses anything not over TLS (`403 Secure Transport Required`, before any
//!   challenge); a domain with nothing mapped for calls is blocked (403); a source inside an IP access control list mapped
//!   for calls is let in; otherwise, with credential lists mapped for calls, the request needs
//!   digest credentials (407 with a challenge, see `auth`; wrong ones get 403, an expired nonce a
//!   new challenge with `stale=true`; a source that sent too many wrong ones gets 503 with
//!   `Retry-After` for a while, its credentials unread, see [`throttle`]); otherwise 403. `REGISTER` is 403 unless the domain's
//!   `sip_registration` is on, and then needs credentials of a list mapped for registrations
//!   (401). `ACK` and `CANCEL` are never challenged. An `ACK` to a response the edge generated
//!   itself (it carries that response's `To` tag) is dropped: it ends a transaction that never
//!   went upstream.
//! - An admitted INVITE whose SDP offer does not fit its domain's `secure` setting (no SRTP for a
//!   secure domain, only SRTP for another) gets `488` ([`policy::media`]).
//! - An admitted `OPTIONS` gets `200 OK` with `X-Sipmap-Account-Sid` and `X-Sipmap-Domain-Sid`.
//!   Nothing the edge sends to a source that is neither admitted nor authenticated names an
//!   account or a domain SID.
//! - Any other admitted request is forwarded statelessly (RFC 3261 §16.11) to a target of its
//!   domain's connection policy when there is one to choose (see [`select`]: lowest priority
//!   value among enabled, healthy targets, by weight and a hash of the Call-ID; over TCP to a
//!   `transport=tcp` target, on a connection the edge opens), else to the upstream: the
//!   Request-URI host becomes the domain name; every `X-Sipmap-*` header the client sent is
//!   removed, and sipmap's are added: the two SIDs and `X-Sipmap-Auth` (`ip-acl`,
//!   `digest;username=…`, or `none` for `ACK` and `CANCEL`); the credentials the edge consumed
//!   (its realm's `Proxy-Authorization`, or `Authorization` for `REGISTER`) are removed, other
//!   realms' are kept; sipmap's Via goes on top, `Max-Forwards` is decremented (483 at zero) and
//!   the client's Via gets `received`/`rport` (RFC 3581). Without an upstream the answer is 480.
//! - A response is relayed only if it is one the edge asked for: it must come from the upstream or
//!   a target's destination, and its top Via must be sipmap's with a branch that authenticates it
//!   for that very address (see `branch.rs`). It then loses that Via and goes to the next
//!   one's address, over the client's TCP connection when the request came on one. Anything else
//!   is dropped and counted in `sipmap_sip_responses_dropped_total`.
//! - The edge sends `OPTIONS` probes to every target's destination (see `probe`; the transports
//!   time them): a response to a probe carries sipmap's only Via with a probe branch, marks the
//!   destination up ([`crate::sip::health`]) and goes no further.
//! - A message that does not parse (see [`refuse`]) is answered when it is a request whose
//!   request line and top Via can be read (found with [`crate::sip::message::salvage`], within
//!   the message size limit): `513 Message Too Large` over the size limit, `414` for a request
//!   line over its limit, otherwise `400` with a reason phrase saying what is wrong (a header
//!   field over its limit, too many header fields, a malformed one…); otherwise dropped. On a
//!   TCP connection that cannot be framed, the transport answers the same way before closing.
//! - The edge never sends to its own address: a UDP request that claims to come from it, or whose
//!   answer would go to it, is dropped, and so is a response that would be relayed to it; a
//!   request whose next hop (a target or the upstream) is the edge gets 482, and such a target is
//!   not probed. Its own address is its port with its address in any spelling (IPv4-mapped
//!   included) or the unspecified address; listening on `0.0.0.0`/`::`, also any loopback address
//!   and any address of the host's interfaces ([`crate::sip::host`]). A request that carries
//!   sipmap's own Via anywhere gets 482.
//!
//! The files, in one order: each uses only files above it in this list (and what this file
//! defines: [`Edge`], [`Action`], [`Transport`]), by import and by the `impl Edge` methods it
//! calls, so the edge's logic has no circle (`scripts/check_layout.py` checks both):
//!
//! - leaves, using no other file: `vias` (reading and rewriting Via values), [`digest`] (RFC
//!   7616 credentials and responses), [`nonce`] (stateless nonces), [`throttle`] (failures
//!   counted per source and per source and username, and the blocks they earn), [`ports`] (the
//!   bound on new ports per target address), [`policy`] (the gate a request meets at its
//!   domain), [`select`] (which target);
//! - `inbound`: a received request as the edge answers or forwards it ([`Edge`] reads one into
//!   an `Inbound`), and which requests it will not answer at all;
//! - `branch`: the keyed Via branch, made for a forwarded request and checked on a response, and
//!   whether a Via is the edge's own;
//! - `reply`: the responses the edge generates;
//! - `auth`: digest authentication ([`Authenticator`], checking credentials, challenging);
//! - [`decide`]: the one decision for a request (recognise, gate, credentials, media, route,
//!   outcome) as a value, without I/O: what the edge acts on, Resolve reports and the record
//!   keeps;
//! - [`record`]: the decisions record and traffic series, per account, in memory, bounded;
//! - `forward`: the request as forwarded;
//! - `request`: the checks, the decision acted on, counted, recorded and reported (the top of
//!   the request path);
//! - `probe` (the health probes and their answers), then `relay` (responses from the upstream and
//!   targets), and `refuse` (messages that do not parse, answered when they can be).

mod auth;
mod branch;
pub mod decide;
pub mod digest;
mod forward;
mod inbound;
pub mod nonce;
pub mod policy;
pub mod ports;
mod probe;
pub mod record;
mod refuse;
mod relay;
mod reply;
mod request;
pub mod select;
pub mod throttle;
mod vias;

pub use auth::{Authenticator, Exchange, Verdict};
pub use probe::carries_probe_branch;
pub use throttle::ThrottleSettings;

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use super::host::HostAddresses;
use super::message::{Message, StartLine};
use super::metrics::Metrics;
use crate::recognition::{Recognition, Target};
use crate::sip_syntax::Wire;
use branch::BranchKey;
use ports::PortLimit;

/// How a message arrived, and so how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A UDP datagram.
    Udp,
    /// A TCP connection, by id.
    Tcp(u64),
    /// (Sending only.) The edge's own TCP connection to the destination, opened if there is
    /// none: how requests reach a `transport=tcp` target.
    TcpOut,
    /// A TLS connection, by id (the same ids as TCP's).
    Tls(u64),
    /// (Sending only.) The edge's own TLS connection to the destination, opened (and its
    /// certificate verified) if there is none: how requests reach a `transport=tls` target.
    TlsOut,
}

impl Transport {
    /// How sipmap sends a request it starts to a destination reached over `wire`: from its UDP
    /// socket, or over its own TCP or TLS connection to it.
    pub fn outbound(wire: Wire) -> Transport {
        match wire {
            Wire::Udp => Transport::Udp,
            Wire::Tcp => Transport::TcpOut,
            Wire::Tls => Transport::TlsOut,
        }
    }

    /// The connection over `wire` with id `id` (UDP has none: [`Transport::Udp`]).
    pub fn connection(wire: Wire, id: u64) -> Transport {
        match wire {
            Wire::Udp => Transport::Udp,
            Wire::Tcp => Transport::Tcp(id),
            Wire::Tls => Transport::Tls(id),
        }
    }

    /// The id of the connection it names, if it names one.
    pub fn connection_id(self) -> Option<u64> {
        match self {
            Transport::Tcp(id) | Transport::Tls(id) => Some(id),
            Transport::Udp | Transport::TcpOut | Transport::TlsOut => None,
        }
    }

    /// The protocol it carries messages by.
    pub fn wire(self) -> Wire {
        match self {
            Transport::Udp => Wire::Udp,
            Transport::Tcp(_) | Transport::TcpOut => Wire::Tcp,
            Transport::Tls(_) | Transport::TlsOut => Wire::Tls,
        }
    }
}

/// What to do with a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `bytes` to `to` over `via`.
    Send {
        /// Destination address.
        to: SocketAddr,
        /// UDP, or the TCP connection to write to.
        via: Transport,
        /// The message.
        bytes: Vec<u8>,
    },
    /// Nothing to send.
    Drop,
    /// Hand this new call to the voice applications ([`CallHandoff::start`]).
    Call(Box<NewCall>),
}

/// An admitted INVITE without To tag for a domain with a voice application: what a call
/// starts from.
#[derive(Debug, PartialEq, Eq)]
pub struct NewCall {
    /// The INVITE as received.
    pub invite: Vec<u8>,
    /// Where it came from.
    pub source: SocketAddr,
    /// UDP or the TCP connection it came on.
    pub transport: Transport,
    /// The edge's address (the call's Via and Contact).
    pub local: SocketAddr,
    /// The digest username, when a credential list admitted it.
    pub sip_username: Option<String>,
    /// The domain, with its application.
    pub target: Arc<Target>,
}

/// How the SIP side reaches the calls of voice applications, which live above it (the call
/// runtime implements this and is given to [`crate::sip::SipServer::bind`]). The edge asks it
/// first about every message while any call is live ([`CallHandoff::live`], one atomic load:
/// the stateless path pays nothing more while there is none), and hands it every new call.
pub trait CallHandoff: Send + Sync + std::fmt::Debug {
    /// Whether any call is live; false skips [`CallHandoff::offer`].
    fn live(&self) -> bool;
    /// Takes `msg` (`bytes` as received from `source` over `transport`) if it belongs to a live
    /// call: a response to one of its requests (a top Via branch of the call engine's), a
    /// request of one of its dialogs, or a retransmitted INVITE. False: the edge handles it.
    fn offer(
        &self,
        msg: &Message<'_>,
        bytes: &[u8],
        source: SocketAddr,
        transport: Transport,
    ) -> bool;
    /// Starts a call; or refuses it, for the edge to answer (with its own `To` tag, so the
    /// caller's `ACK` of that answer is recognised and dropped: [`Edge::answer_call`]).
    ///
    /// # Errors
    ///
    /// The answer instead of a call: `503` past a limit on calls, `500` for an application
    /// that cannot run.
    fn start(&self, call: &NewCall) -> Result<(), Refused>;
}

/// How the edge answers an INVITE that starts no call (see [`CallHandoff::start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The status code.
    pub code: u16,
    /// `Retry-After` seconds, if any.
    pub retry_after: Option<u32>,
}

/// Why the edge refused a request to a recognised domain, as a Monitor Alert reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// Twilio's 32201: the source is outside the domain's access control lists (or the domain
    /// maps nothing for calls), and no credentials could let it in.
    SourceNotInAcl,
    /// Twilio's 32202: digest credentials were sent and refused.
    BadCredentials,
    /// Twilio's 32209: a request to a `secure` domain that did not arrive over TLS.
    InsecureTransport,
    /// 32207: an INVITE to a `secure` domain whose offer has no SRTP.
    SrtpRequired,
    /// 32208: an INVITE to a domain that is not `secure` whose offer is SRTP only.
    SrtpRefused,
    /// Twilio's 32210: a `REGISTER` to a domain that does not take registrations (or maps no
    /// credential list for them).
    RegistrationRefused,
    /// 32202 too: credentials not even checked, the source having failed too often (503).
    Throttled,
}

impl RefusalReason {
    /// Twilio's error code.
    pub fn code(self) -> u32 {
        match self {
            Self::SourceNotInAcl => 32201,
            Self::BadCredentials | Self::Throttled => 32202,
            Self::InsecureTransport => 32209,
            Self::SrtpRequired => 32207,
            Self::SrtpRefused => 32208,
            Self::RegistrationRefused => 32210,
        }
    }

    /// What an alert says of it, and the status the edge answered with.
    pub fn text(self) -> (&'static str, u16) {
        match self {
            Self::SourceNotInAcl => ("Source IP address not in ACL", 403),
            Self::BadCredentials => ("Authentication failed: bad user credentials", 403),
            Self::Throttled => (
                "Authentication failed too often: credentials not checked for a while",
                503,
            ),
            Self::InsecureTransport => ("Secure transport required", 403),
            Self::SrtpRequired => ("Secure media required", 488),
            Self::SrtpRefused => ("Secure media not accepted", 488),
            Self::RegistrationRefused => ("Registration not enabled", 403),
        }
    }
}

/// A refusal that concerns an account's domain: what [`RefusalSink`] is told (never a
/// credential, a nonce or a digest response: only the domain, the source and the reason).
#[derive(Debug, Clone)]
pub struct DomainRefusal {
    /// The domain the request was recognised as.
    pub target: Arc<Target>,
    /// The request's source address.
    pub source: std::net::IpAddr,
    /// Why it was refused.
    pub reason: RefusalReason,
}

/// Where the edge reports its refusals of requests to recognised domains (Monitor Alerts live
/// above the SIP side, which cannot import them). Called on the thread that received the
/// request: an implementation must not block (a bounded queue it may drop from).
pub trait RefusalSink: Send + Sync + std::fmt::Debug {
    /// Takes note of `refusal`.
    fn refused(&self, refusal: DomainRefusal);
}

/// The edge's configuration and shared state.
#[derive(Debug)]
pub struct Edge {
    recognizer: Recognition,
    upstream: Option<SocketAddr>,
    /// How the upstream is reached: UDP, or the edge's TCP or TLS connection to it.
    upstream_wire: Wire,
    /// The address sipmap puts in its Via (its UDP listening address).
    local: SocketAddr,
    metrics: Arc<Metrics>,
    key: BranchKey,
    /// Digest authentication: keys, clock, algorithms.
    digest: Authenticator,
    /// The host's addresses: with `local` a wildcard, each is the edge's own on its port.
    host: Arc<HostAddresses>,
    /// The bound on new ports of one target address per second.
    ports: PortLimit,
    /// Where calls to domains with a voice application go; without it they are forwarded.
    calls: Option<Arc<dyn CallHandoff>>,
    /// Where refusals of requests to recognised domains are reported, if anywhere.
    refusals: Option<Arc<dyn RefusalSink>>,
    /// Where decisions are recorded, if anywhere.
    decisions: Option<Arc<record::Decisions>>,
}

/// A 64-bit hash of `parts`, not keyed: the request hash in sipmap's branch, and the `To` tag of
/// the responses generated here.
fn short_hash(parts: &[&str]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

impl Edge {
    /// An edge that recognises with `recognizer`, authenticates with `digest` and forwards to
    /// `upstream`, announcing `local` in its Via, with a fresh random branch key.
    pub fn new(
        recognizer: Recognition,
        upstream: Option<SocketAddr>,
        local: SocketAddr,
        metrics: Arc<Metrics>,
        digest: Authenticator,
    ) -> Self {
        Self::with_branch_key(recognizer, upstream, local, metrics, digest, rand::random())
    }

    /// Like [`Edge::new`] with a given branch key (for tests; a real edge wants a random one).
    pub fn with_branch_key(
        recognizer: Recognition,
        upstream: Option<SocketAddr>,
        local: SocketAddr,
        metrics: Arc<Metrics>,
        digest: Authenticator,
        key: [u8; 32],
    ) -> Self {
        Self {
            recognizer,
            upstream,
            upstream_wire: Wire::Udp,
            local,
            metrics,
            key: BranchKey::new(&key),
            digest,
            host: Arc::default(),
            ports: PortLimit::default(),
            calls: None,
            refusals: None,
            decisions: None,
        }
    }

    /// Reports refusals of requests to recognised domains to `sink` (see [`RefusalSink`]).
    pub fn set_refusals(&mut self, sink: Arc<dyn RefusalSink>) {
        self.refusals = Some(sink);
    }

    /// Records its decisions in `log` (see [`record`]).
    pub fn set_decisions(&mut self, log: Arc<record::Decisions>) {
        self.decisions = Some(log);
    }

    /// The upstream's address, if there is one.
    pub fn upstream(&self) -> Option<SocketAddr> {
        self.upstream
    }

    /// Reaches the upstream over `wire` (a `sips:` or `transport=` `--sip-upstream`).
    pub fn set_upstream_wire(&mut self, wire: Wire) {
        self.upstream_wire = wire;
    }

    /// The same edge, handing calls to domains with a voice application to `calls`.
    pub fn with_calls(mut self, calls: Arc<dyn CallHandoff>) -> Self {
        self.calls = Some(calls);
        self
    }

    /// Where calls to domains with a voice application go, if anywhere.
    pub fn calls(&self) -> Option<&Arc<dyn CallHandoff>> {
        self.calls.as_ref()
    }

    /// The same edge, bounding the new ports of one target address it forwards to by `ports`.
    pub fn with_port_limit(mut self, ports: PortLimit) -> Self {
        self.set_port_limit(ports);
        self
    }

    /// Bounds the new ports of one target address the edge forwards to by `ports`.
    pub fn set_port_limit(&mut self, ports: PortLimit) {
        self.ports = ports;
    }

    /// The same edge, knowing the host's addresses from `host` (which the transports refresh).
    pub fn with_host_addresses(mut self, host: Arc<HostAddresses>) -> Self {
        self.host = host;
        self
    }

    /// The host's addresses the edge counts as its own when it listens on a wildcard address.
    pub fn host_addresses(&self) -> &Arc<HostAddresses> {
        &self.host
    }

    /// Handles one message from `source`.
    pub fn handle(&self, bytes: &[u8], source: SocketAddr, transport: Transport) -> Action {
        match Message::parse(bytes) {
            Ok(msg) => self.handle_message(&msg, bytes, source, transport),
            Err(e) => self.refuse(bytes, e, source, transport),
        }
    }

    /// Handles one parsed message from `source`.
    fn handle_message(
        &self,
        msg: &Message<'_>,
        bytes: &[u8],
        source: SocketAddr,
        transport: Transport,
    ) -> Action {
        if let Some(calls) = self.calls.as_deref()
            && calls.live()
            && calls.offer(msg, bytes, source, transport)
        {
            return Action::Drop;
        }
        match msg.start {
            StartLine::Request { method, uri, .. } => {
                Metrics::inc(&self.metrics.received);
                self.request(msg, bytes, (method, uri), source, transport)
            }
            StartLine::Response { .. } => self.response(msg, source),
        }
    }

    /// The address that requests may have been forwarded to and that `source` is, if any:
    /// responses are accepted only from there (the upstream, or the destination of any target
    /// in the snapshot; the branch then says whether this request went there).
    fn forward_target_for(&self, source: SocketAddr) -> Option<SocketAddr> {
        if let Some(u) = self.upstream.filter(|u| same_address(*u, source)) {
            return Some(u);
        }
        let source = SocketAddr::new(source.ip().to_canonical(), source.port());
        self.recognizer
            .peek()
            .is_destination(source)
            .then_some(source)
    }

    /// The answer to `call`'s INVITE when it starts no call: `refused`, as a response the
    /// edge generated (see [`CallHandoff::start`]).
    pub fn answer_call(&self, call: &NewCall, refused: Refused) -> Action {
        let Ok(msg) = Message::parse(&call.invite) else {
            return Action::Drop;
        };
        let vias = msg.vias().unwrap_or_default();
        let (Some(top), Some(method)) = (vias.first(), msg.method()) else {
            return Action::Drop;
        };
        let Some(req) = self.inbound(
            &msg,
            method,
            top,
            (call.source, call.transport, &call.invite),
        ) else {
            return Action::Drop;
        };
        match refused.retry_after.map(|s| s.to_string()) {
            Some(wait) => self.reply(&req, refused.code, &[("Retry-After", &wait)]),
            None => self.reply(&req, refused.code, &[]),
        }
    }

    /// The edge's address (its Via's).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The edge's counters and target health.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether sending to `addr` would reach this edge's own socket: its port and its address
    /// (IPv4-mapped or not), or the unspecified address; listening on `0.0.0.0` or `::`, also
    /// any loopback address and any address of the host's interfaces. The port is compared
    /// first, so the usual answer costs one comparison.
    pub(crate) fn is_own_address(&self, addr: SocketAddr) -> bool {
        if addr.port() != self.local.port() {
            return false;
        }
        let ip = addr.ip().to_canonical();
        let local = self.local.ip().to_canonical();
        ip == local
            || ip.is_unspecified()
            || (local.is_unspecified() && (ip.is_loopback() || self.host.contains(ip)))
    }
}

/// Whether two socket addresses are the same, an IPv4 address and its IPv4-mapped IPv6 form alike
/// (a dual-stack socket reports IPv4 peers in the mapped form).
fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

#[cfg(test)]
mod tests;
