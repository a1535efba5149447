//! What the SIP edge does with each message: recognise, answer, forward or relay.
//!
//! This is pure logic over bytes: [`Edge::handle`] takes one message and where it came from and
//! returns what to send where. The transports in [`super`] do the I/O.
//!
//! - A request whose Request-URI host is a SIP domain's name belongs to that domain; otherwise the
//!   domain mapped to the most specific network containing the source address; otherwise it is
//!   not recognised (404; an ACK is dropped, never answered).
//! - A recognised `OPTIONS` gets `200 OK` with `X-Sipmap-Account-Sid` and `X-Sipmap-Domain-Sid`.
//! - Any other recognised request is forwarded statelessly to the upstream (RFC 3261 §16.11): the
//!   Request-URI host becomes the domain name, the two headers are added, sipmap's Via goes on top,
//!   `Max-Forwards` is decremented (483 at zero) and the client's Via gets `received`/`rport`
//!   (RFC 3581). Without an upstream the answer is 480.
//! - A response is relayed only if it is one the edge asked for: it must come from the address the
//!   request was forwarded to (today the one upstream), and its top Via must be sipmap's with a
//!   branch that authenticates it (below). It then loses that Via and goes to the next one's
//!   address, over the client's TCP connection when the request came on one. Anything else is
//!   dropped and counted in `sipmap_sip_responses_dropped_total`.
//! - The edge never sends to its own address: a UDP request that claims to come from it, or whose
//!   answer would go to it, is dropped, and so is a response that would be relayed to it
//!   (listening on `0.0.0.0`/`::`, any loopback or unspecified address with its port counts as its
//!   own). A request that carries sipmap's own Via anywhere gets 482.
//!
//! ## The branch
//!
//! sipmap's Via branch is `z9hG4bK-sm-` followed by 16 hex digits of a hash of the client's top
//! Via, Call-ID and CSeq number (so a retransmission or a CANCEL gets the same branch) and 16 hex
//! digits of a tag: HMAC-SHA-256, truncated to 64 bits, over that hash, the client's TCP
//! connection id (the `sm-conn` Via parameter, if any), the address the response will be relayed
//! to and the address the request was forwarded to. The key is 32 random bytes per process. On a
//! response the tag is computed again from what the response says (its `sm-conn`, the address
//! its next Via yields, the address it came from) and compared in constant time, so a response
//! cannot be redirected to a third address or another client's connection, nor accepted from
//! another sender, without the key. The edge stays stateless: nothing is stored per request.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::message::{Message, SipUri, StartLine, Via, Writer, split_header_values};
use super::metrics::Metrics;
use crate::recognition::{MatchedBy, Recognition, Target};

/// The branch prefix of every Via sipmap adds (RFC 3261 magic cookie + our mark).
const BRANCH_PREFIX: &str = "z9hG4bK-sm-";
/// The Via parameter that carries the id of the client's TCP connection.
const CONN_PARAM: &str = "sm-conn";

/// How a message arrived, and so how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A UDP datagram.
    Udp,
    /// A TCP connection, by id.
    Tcp(u64),
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
}

/// The key that authenticates branches: HMAC-SHA-256 with the key already absorbed, cloned for
/// each use. Its `Debug` shows nothing of the key.
#[derive(Clone)]
struct BranchKey(Hmac<Sha256>);

impl fmt::Debug for BranchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BranchKey(..)")
    }
}

/// The edge's configuration and shared state.
#[derive(Debug)]
pub struct Edge {
    recognizer: Recognition,
    upstream: Option<SocketAddr>,
    /// The address sipmap puts in its Via (its UDP listening address).
    local: SocketAddr,
    metrics: Arc<Metrics>,
    key: BranchKey,
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        416 => "Unsupported URI Scheme",
        480 => "Temporarily Unavailable",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        _ => "Unknown",
    }
}

fn short_hash(parts: &[&str]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

impl Edge {
    /// An edge that recognises with `recognizer` and forwards to `upstream`, announcing `local` in
    /// its Via, with a fresh random branch key.
    pub fn new(
        recognizer: Recognition,
        upstream: Option<SocketAddr>,
        local: SocketAddr,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self::with_branch_key(recognizer, upstream, local, metrics, rand::random())
    }

    /// Like [`Edge::new`] with a given branch key (for tests; a real edge wants a random one).
    pub fn with_branch_key(
        recognizer: Recognition,
        upstream: Option<SocketAddr>,
        local: SocketAddr,
        metrics: Arc<Metrics>,
        key: [u8; 32],
    ) -> Self {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .expect("HMAC takes a key of any length");
        Self {
            recognizer,
            upstream,
            local,
            metrics,
            key: BranchKey(mac),
        }
    }

    /// Handles one message from `source`.
    pub fn handle(&self, bytes: &[u8], source: SocketAddr, transport: Transport) -> Action {
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(%source, error = %e, "unparseable SIP message dropped");
                if looks_like_request(bytes) {
                    Metrics::inc(&self.metrics.received);
                }
                Metrics::inc(&self.metrics.malformed);
                return Action::Drop;
            }
        };
        self.handle_message(&msg, source, transport)
    }

    /// Handles one parsed message from `source`.
    fn handle_message(
        &self,
        msg: &Message<'_>,
        source: SocketAddr,
        transport: Transport,
    ) -> Action {
        match msg.start {
            StartLine::Request { method, uri, .. } => {
                Metrics::inc(&self.metrics.received);
                self.request(msg, method, uri, source, transport)
            }
            StartLine::Response { .. } => self.response(msg, source),
        }
    }

    fn request(
        &self,
        msg: &Message<'_>,
        method: &str,
        uri: &str,
        source: SocketAddr,
        transport: Transport,
    ) -> Action {
        let vias = msg.vias().unwrap_or_default();
        let Some(top) = vias.first() else {
            // Without a usable Via there is no way to address a response.
            Metrics::inc(&self.metrics.malformed);
            return Action::Drop;
        };
        if transport == Transport::Udp
            && (self.is_own_address(source) || self.is_own_address(response_target(top, source)))
        {
            // Spoofed, or built to make the edge answer itself.
            tracing::debug!(%source, "SIP request whose answer would reach the edge dropped");
            return Action::Drop;
        }
        let is_ack = method.eq_ignore_ascii_case("ACK");
        let reply = |code: u16, extra: &[(&str, &str)]| {
            if is_ack {
                return Action::Drop;
            }
            self.reply(msg, top, code, extra, source, transport)
        };
        let mandatory = ["From", "To", "Call-ID", "CSeq"];
        if mandatory.iter().any(|h| msg.header(h).is_none()) {
            Metrics::inc(&self.metrics.malformed);
            return reply(400, &[]);
        }
        let max_forwards = match msg.header("Max-Forwards").map(str::parse::<u32>) {
            None => 70,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                Metrics::inc(&self.metrics.malformed);
                return reply(400, &[]);
            }
        };
        let Ok(parsed_uri) = SipUri::parse(uri) else {
            Metrics::inc(&self.metrics.malformed);
            return reply(416, &[]);
        };
        if vias.iter().skip(1).any(|v| self.is_ours(v)) || self.is_ours(top) {
            return reply(482, &[]);
        }
        let snapshot = self.recognizer.peek();
        let Some((target, how)) =
            snapshot.recognise(Some(parsed_uri.host_for_match()), source.ip())
        else {
            Metrics::inc(&self.metrics.not_recognized);
            return reply(404, &[]);
        };
        Metrics::inc(match how {
            MatchedBy::RequestUri => &self.metrics.recognized_by_uri,
            MatchedBy::SourceIp => &self.metrics.recognized_by_source,
        });
        if method.eq_ignore_ascii_case("OPTIONS") {
            return reply(
                200,
                &[
                    ("X-Sipmap-Account-Sid", target.account_sid.as_str()),
                    ("X-Sipmap-Domain-Sid", target.domain_sid.as_str()),
                ],
            );
        }
        if max_forwards == 0 {
            return reply(483, &[]);
        }
        let Some(upstream) = self.upstream else {
            return reply(480, &[]);
        };
        let bytes = self.forward(
            msg,
            method,
            &parsed_uri,
            target,
            top,
            max_forwards,
            source,
            transport,
            upstream,
        );
        Metrics::inc(&self.metrics.forwarded);
        Action::Send {
            to: upstream,
            via: Transport::Udp,
            bytes,
        }
    }

    /// The address that requests were forwarded to and that `source` is, if any: responses are
    /// accepted only from there. Today that is the one upstream.
    fn forward_target_for(&self, source: SocketAddr) -> Option<SocketAddr> {
        self.upstream.filter(|u| same_address(*u, source))
    }

    /// Whether sending to `addr` would reach this edge's own socket.
    fn is_own_address(&self, addr: SocketAddr) -> bool {
        if addr.port() != self.local.port() {
            return false;
        }
        let ip = addr.ip().to_canonical();
        let local = self.local.ip().to_canonical();
        ip == local || ip.is_unspecified() || (local.is_unspecified() && ip.is_loopback())
    }

    /// The branch tag: what binds a branch to the request it was made for. See the module docs.
    fn branch_tag(
        &self,
        hash: u64,
        conn: Option<u64>,
        back_to: SocketAddr,
        forwarded_to: SocketAddr,
    ) -> u64 {
        // 8 + 9 + 19 + 19 = 55 bytes: one SHA-256 block for the inner hash.
        let mut input = [0u8; 55];
        input[..8].copy_from_slice(&hash.to_be_bytes());
        if let Some(id) = conn {
            input[8] = 1;
            input[9..17].copy_from_slice(&id.to_be_bytes());
        }
        put_address(&mut input[17..36], back_to);
        put_address(&mut input[36..55], forwarded_to);
        let mut mac = self.key.0.clone();
        mac.update(&input);
        let out = mac.finalize().into_bytes();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&out[..8]);
        u64::from_be_bytes(tag)
    }

    /// Appends sipmap's branch value for these inputs to `out`.
    fn push_branch(
        &self,
        out: &mut String,
        hash: u64,
        conn: Option<u64>,
        back_to: SocketAddr,
        forwarded_to: SocketAddr,
    ) {
        let tag = self.branch_tag(hash, conn, back_to, forwarded_to);
        let _ = write!(out, "{BRANCH_PREFIX}{hash:016x}{tag:016x}");
    }

    /// Whether a Via was put there by this edge.
    fn is_ours(&self, via: &Via<'_>) -> bool {
        matches!(via.param("branch"), Some(Some(b)) if b.starts_with(BRANCH_PREFIX))
            && via.host.parse::<IpAddr>().ok() == Some(self.local.ip())
            && via.port.unwrap_or(5060) == self.local.port()
    }

    /// The client's top Via value with `received` and, when asked for, `rport` filled in.
    fn stamped_top_via(top_value: &str, top: &Via<'_>, source: SocketAddr) -> String {
        let mut value = String::with_capacity(top_value.len() + 40);
        let wants_rport = top.param("rport").is_some();
        // Rebuild without any received/rport already there, then add ours.
        let (head, _) = top_value.split_once(';').unwrap_or((top_value, ""));
        value.push_str(head.trim_end());
        for (name, v) in &top.params {
            if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
                continue;
            }
            value.push(';');
            value.push_str(name);
            if let Some(v) = v {
                value.push('=');
                value.push_str(v);
            }
        }
        value.push_str(";received=");
        value.push_str(&source.ip().to_string());
        if wants_rport {
            value.push_str(";rport=");
            value.push_str(&source.port().to_string());
        }
        value
    }

    /// Headers of `msg` with the first Via value replaced by `first_via` (and optionally
    /// `X-Sipmap-*` headers removed).
    fn rewritten_headers<'m>(
        msg: &'m Message<'_>,
        first_via: &str,
        drop_sipmap: bool,
    ) -> Vec<(&'m str, String)> {
        let mut out = Vec::with_capacity(msg.headers.len() + 3);
        let mut first_done = false;
        for h in &msg.headers {
            let canonical = super::message::canonical_name(h.name);
            if drop_sipmap && h.name.len() > 9 && h.name[..9].eq_ignore_ascii_case("x-sipmap-") {
                continue;
            }
            if !first_done && canonical.eq_ignore_ascii_case("Via") {
                first_done = true;
                let mut values = split_header_values(&h.value);
                if !values.is_empty() {
                    values.remove(0);
                }
                let mut v = first_via.to_owned();
                for rest in values {
                    v.push_str(", ");
                    v.push_str(rest.trim());
                }
                out.push(("Via", v));
                continue;
            }
            out.push((h.name, h.value.to_string()));
        }
        out
    }

    /// A response generated here.
    fn reply(
        &self,
        msg: &Message<'_>,
        top: &Via<'_>,
        code: u16,
        extra: &[(&str, &str)],
        source: SocketAddr,
        transport: Transport,
    ) -> Action {
        let top_value = first_via_value(msg).unwrap_or_default();
        let stamped = Self::stamped_top_via(&top_value, top, source);
        let mut w = Writer::response(code, reason(code));
        let mut first = true;
        for h in &msg.headers {
            let name = super::message::canonical_name(h.name);
            if name.eq_ignore_ascii_case("Via") {
                if first {
                    first = false;
                    let mut values = split_header_values(&h.value);
                    if !values.is_empty() {
                        values.remove(0);
                    }
                    let mut v = stamped.clone();
                    for rest in values {
                        v.push_str(", ");
                        v.push_str(rest.trim());
                    }
                    w.header("Via", &v);
                } else {
                    w.header("Via", &h.value);
                }
            }
        }
        for name in ["From", "Call-ID", "CSeq"] {
            if let Some(v) = msg.header(name) {
                w.header(name, v);
            }
        }
        if let Some(to) = msg.header("To") {
            if code > 100 && !has_tag(to) {
                let tag = short_hash(&[
                    msg.header("Call-ID").unwrap_or(""),
                    msg.header("From").unwrap_or(""),
                ]);
                w.header("To", &format!("{to};tag={tag:016x}"));
            } else {
                w.header("To", to);
            }
        }
        for (name, value) in extra {
            w.header(name, value);
        }
        w.header("Server", "sipmap");
        Metrics::inc(&self.metrics.responses_sent);
        let to = match transport {
            Transport::Tcp(_) => source,
            Transport::Udp => response_target(top, source),
        };
        Action::Send {
            to,
            via: transport,
            bytes: w.finish(&[]),
        }
    }

    /// The request as forwarded to the upstream.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        msg: &Message<'_>,
        method: &str,
        uri: &SipUri<'_>,
        target: &Target,
        top: &Via<'_>,
        max_forwards: u32,
        source: SocketAddr,
        transport: Transport,
        upstream: SocketAddr,
    ) -> Vec<u8> {
        let top_value = first_via_value(msg).unwrap_or_default();
        let hash = short_hash(&[
            &top_value,
            msg.header("Call-ID").unwrap_or(""),
            msg.header("CSeq")
                .and_then(|c| c.split_whitespace().next())
                .unwrap_or(""),
        ]);
        let conn = match transport {
            Transport::Tcp(id) => Some(id),
            Transport::Udp => None,
        };
        // The stamped client Via below makes `via_address` yield exactly this at response time.
        let back_to = response_target(top, source);
        let mut ours = String::with_capacity(100);
        let _ = write!(ours, "SIP/2.0/UDP {};branch=", self.local);
        self.push_branch(&mut ours, hash, conn, back_to, upstream);
        if let Some(id) = conn {
            let _ = write!(ours, ";{CONN_PARAM}={id}");
        }
        let stamped = Self::stamped_top_via(&top_value, top, source);
        let mut w = Writer::request(method, &uri.with_host(&target.domain_name));
        w.header("Via", &ours);
        let mut saw_max_forwards = false;
        for (name, value) in Self::rewritten_headers(msg, &stamped, true) {
            if super::message::canonical_name(name).eq_ignore_ascii_case("Max-Forwards") {
                if !saw_max_forwards {
                    saw_max_forwards = true;
                    w.header(name, &(max_forwards - 1).to_string());
                }
                continue;
            }
            w.header(name, &value);
        }
        if !saw_max_forwards {
            w.header("Max-Forwards", &(max_forwards - 1).to_string());
        }
        w.header("X-Sipmap-Account-Sid", target.account_sid.as_str());
        w.header("X-Sipmap-Domain-Sid", target.domain_sid.as_str());
        w.finish(msg.body)
    }

    /// An upstream response: check that the edge asked for it, strip our Via, send to the next
    /// one.
    fn response(&self, msg: &Message<'_>, source: SocketAddr) -> Action {
        let Some(forwarded_to) = self.forward_target_for(source) else {
            tracing::debug!(%source, "SIP response from outside the forwarding targets dropped");
            Metrics::inc(&self.metrics.responses_dropped_source);
            return Action::Drop;
        };
        let forged = |why: &str| {
            tracing::debug!(%source, why, "SIP response dropped");
            Metrics::inc(&self.metrics.responses_dropped_branch);
            Action::Drop
        };
        let vias = msg.vias().unwrap_or_default();
        let (Some(top), Some(next)) = (vias.first(), vias.get(1)) else {
            return forged("no Via for the client");
        };
        if !self.is_ours(top) {
            return forged("top Via is not this edge's");
        }
        let Some((hash, tag)) = top.param("branch").flatten().and_then(parse_branch) else {
            return forged("not a branch of this edge");
        };
        let conn = match top.param(CONN_PARAM) {
            None => None,
            Some(Some(id)) => match id.parse::<u64>() {
                Ok(id) => Some(id),
                Err(_) => return forged("bad connection id"),
            },
            Some(None) => return forged("bad connection id"),
        };
        let Some(to) = via_address(next) else {
            return forged("the client's Via has no usable address");
        };
        let expected = self.branch_tag(hash, conn, to, forwarded_to);
        if !bool::from(expected.ct_eq(&tag)) {
            return forged("branch tag does not match");
        }
        let via = match conn {
            Some(id) if next.transport.eq_ignore_ascii_case("TCP") => Transport::Tcp(id),
            _ => Transport::Udp,
        };
        if via == Transport::Udp && self.is_own_address(to) {
            tracing::debug!(%source, %to, "SIP response addressed to the edge itself dropped");
            Metrics::inc(&self.metrics.responses_dropped_own_address);
            return Action::Drop;
        }
        let code = msg.status().unwrap_or(500);
        let reason_phrase = match &msg.start {
            StartLine::Response { reason, .. } => *reason,
            StartLine::Request { .. } => "",
        };
        let mut w = Writer::response(code, reason_phrase);
        let mut removed = false;
        for h in &msg.headers {
            let name = super::message::canonical_name(h.name);
            if !removed && name.eq_ignore_ascii_case("Via") {
                removed = true;
                let rest: Vec<&str> = split_header_values(&h.value).into_iter().skip(1).collect();
                if !rest.is_empty() {
                    w.header("Via", &rest.join(", "));
                }
                continue;
            }
            w.header(h.name, &h.value);
        }
        Metrics::inc(&self.metrics.responses_relayed);
        Action::Send {
            to,
            via,
            bytes: w.finish(msg.body),
        }
    }
}

/// Whether two socket addresses are the same, an IPv4 address and its IPv4-mapped IPv6 form alike
/// (a dual-stack socket reports IPv4 peers in the mapped form).
fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// Writes `addr` into 19 bytes: the family (4 or 6), 16 address bytes, the port.
fn put_address(out: &mut [u8], addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out[0] = 6;
            out[1..17].copy_from_slice(&ip.octets());
        }
    }
    out[17..19].copy_from_slice(&addr.port().to_be_bytes());
}

/// The hash and tag of a branch of this edge: the prefix and exactly 32 hex digits.
fn parse_branch(branch: &str) -> Option<(u64, u64)> {
    let hex = branch.strip_prefix(BRANCH_PREFIX)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hash = u64::from_str_radix(&hex[..16], 16).ok()?;
    let tag = u64::from_str_radix(&hex[16..], 16).ok()?;
    Some((hash, tag))
}

/// The first value of the first Via header, as written.
fn first_via_value(msg: &Message<'_>) -> Option<String> {
    let h = msg.headers_named("Via").next()?;
    split_header_values(&h.value)
        .first()
        .map(|v| v.trim().to_owned())
}

fn has_tag(header: &str) -> bool {
    // Parameters after the URI (outside <...>).
    let after = header.rsplit_once('>').map_or(header, |(_, rest)| rest);
    after
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

/// Where a UDP response to a request with top Via `top` goes (RFC 3261 §18.2.2, RFC 3581 §4).
fn response_target(top: &Via<'_>, source: SocketAddr) -> SocketAddr {
    if top.param("rport").is_some() {
        return source;
    }
    SocketAddr::new(source.ip(), top.port.unwrap_or(5060))
}

/// The address a Via asks responses to go to: `received`/`rport` if present, else its sent-by.
fn via_address(via: &Via<'_>) -> Option<SocketAddr> {
    let host = match via.param("received") {
        Some(Some(r)) => r,
        _ => via.host,
    };
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let port = match via.param("rport") {
        Some(Some(p)) => p.parse().ok()?,
        _ => via.port.unwrap_or(5060),
    };
    Some(SocketAddr::new(ip, port))
}

/// Whether unparseable bytes at least start like a request line (for counting).
fn looks_like_request(bytes: &[u8]) -> bool {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    line.windows(7).any(|w| w.eq_ignore_ascii_case(b"SIP/2.0")) && !line.starts_with(b"SIP/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Network;
    use crate::recognition::Change;
    use crate::sid::{AccountSid, SipDomainSid};
    use crate::sip::message::Header;
    use std::sync::atomic::Ordering;

    const EDGE: &str = "127.0.0.1:5060";
    const UPSTREAM: &str = "127.0.0.1:5080";

    fn target() -> Target {
        Target {
            domain_sid: SipDomainSid::parse("SD0000000000000000000000000000000a").unwrap(),
            account_sid: AccountSid::parse("AC0000000000000000000000000000000a").unwrap(),
            domain_name: "acme.sip.twilio.com".into(),
        }
    }

    fn edge(upstream: bool) -> Edge {
        edge_with_table(upstream).0
    }

    /// An edge and the writer of its table.
    fn edge_with_table(upstream: bool) -> (Edge, crate::recognition::RecognitionWriter) {
        let w = crate::recognition::table();
        w.load(crate::recognition::State::from_sids(
            vec![target()],
            vec![(
                Network::new("10.1.0.0".parse().unwrap(), 16),
                target().domain_sid,
            )],
        ));
        let edge = Edge::with_branch_key(
            w.reader(),
            upstream.then(|| UPSTREAM.parse().unwrap()),
            EDGE.parse().unwrap(),
            Arc::new(Metrics::default()),
            [7; 32],
        );
        (edge, w)
    }

    fn request(method: &str, uri: &str, extra: &str) -> Vec<u8> {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.2.3:5070;branch=z9hG4bKabc;rport\r\n\
             From: <sip:a@10.1.2.3>;tag=1\r\nTo: <{uri}>\r\nCall-ID: c1@10.1.2.3\r\n\
             CSeq: 1 {method}\r\n{extra}Content-Length: 4\r\n\r\nbody"
        )
        .into_bytes()
    }

    fn send(action: Action) -> (SocketAddr, String) {
        match action {
            Action::Send { to, bytes, .. } => (to, String::from_utf8(bytes).unwrap()),
            Action::Drop => panic!("expected a message, got Drop"),
        }
    }

    fn from(ip: &str) -> SocketAddr {
        format!("{ip}:5070").parse().unwrap()
    }

    #[test]
    fn unmapped_source_gets_404_and_ack_is_never_answered() {
        let e = edge(true);
        let (to, text) = send(e.handle(
            &request("OPTIONS", "sip:x@127.0.0.1", ""),
            from("192.0.2.1"),
            Transport::Udp,
        ));
        assert!(text.starts_with("SIP/2.0 404 Not Found\r\n"), "{text}");
        assert_eq!(to, from("192.0.2.1"), "rport: back to the source");
        assert!(text.contains("received=192.0.2.1;rport=5070"), "{text}");
        assert!(text.contains("To: <sip:x@127.0.0.1>;tag="), "{text}");
        assert_eq!(
            e.handle(
                &request("ACK", "sip:x@127.0.0.1", ""),
                from("192.0.2.1"),
                Transport::Udp
            ),
            Action::Drop
        );
    }

    #[test]
    fn recognised_options_gets_200_with_the_sipmap_headers() {
        let e = edge(false);
        for (source, uri) in [
            ("10.1.9.9", "sip:127.0.0.1"),
            ("192.0.2.1", "sip:bob@ACME.sip.twilio.com"),
        ] {
            let (_, text) =
                send(e.handle(&request("OPTIONS", uri, ""), from(source), Transport::Udp));
            assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
            assert!(text.contains("X-Sipmap-Account-Sid: AC0000000000000000000000000000000a\r\n"));
            assert!(text.contains("X-Sipmap-Domain-Sid: SD0000000000000000000000000000000a\r\n"));
            assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text}");
        }
        let m = &e.metrics;
        assert_eq!(
            m.recognized_by_source
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        assert_eq!(
            m.recognized_by_uri
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn other_requests_are_forwarded_rewritten() {
        let e = edge(true);
        let invite = request(
            "INVITE",
            "sip:+15551234@10.0.0.1:5060;user=phone",
            "Max-Forwards: 10\r\nX-Sipmap-Domain-Sid: SDspoofed\r\nv: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKold\r\n",
        );
        let (to, text) = send(e.handle(&invite, from("10.1.2.3"), Transport::Udp));
        assert_eq!(to, UPSTREAM.parse().unwrap());
        let mut lines = text.split("\r\n");
        assert_eq!(
            lines.next(),
            Some("INVITE sip:+15551234@acme.sip.twilio.com;user=phone SIP/2.0")
        );
        let via = lines.next().unwrap();
        assert!(
            via.starts_with(&format!("Via: SIP/2.0/UDP {EDGE};branch={BRANCH_PREFIX}")),
            "{via}"
        );
        assert!(
            text.contains(
                "Via: SIP/2.0/UDP 10.1.2.3:5070;branch=z9hG4bKabc;received=10.1.2.3;rport=5070\r\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("v: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKold\r\n"),
            "later Vias untouched"
        );
        assert!(text.contains("Max-Forwards: 9\r\n"));
        assert!(
            !text.contains("SDspoofed"),
            "a client's own X-Sipmap headers are dropped"
        );
        assert!(text.contains("X-Sipmap-Domain-Sid: SD0000000000000000000000000000000a\r\n"));
        assert!(
            text.ends_with("Content-Length: 4\r\n\r\nbody"),
            "body passed through: {text}"
        );
        // A retransmission gets the same branch.
        let (_, again) = send(e.handle(&invite, from("10.1.2.3"), Transport::Udp));
        assert_eq!(again.split("\r\n").nth(1), Some(via));
    }

    #[test]
    fn a_value_with_crlf_cannot_add_a_header_line() {
        let e = edge(true);
        let evil = "x\r\nX-Evil: 1\r\n\r\nbody";
        let message = |method: &'static str, uri: &'static str| Message {
            start: StartLine::Request {
                method,
                uri,
                version: "SIP/2.0",
            },
            headers: [
                ("Via", "SIP/2.0/UDP 10.1.2.3:5070;branch=z9hG4bKabc;rport"),
                ("From", "<sip:a@10.1.2.3>;tag=1"),
                ("To", uri),
                ("Call-ID", "c1@10.1.2.3"),
                ("CSeq", "1 INVITE"),
                ("Subject", evil),
            ]
            .into_iter()
            .map(|(name, value)| Header {
                name,
                value: if name == "From" {
                    format!("<sip:a@10.1.2.3>;tag=1{evil}").into()
                } else {
                    value.into()
                },
            })
            .collect(),
            body: b"",
        };
        let check = |action: Action, lines: usize| {
            let (_, text) = send(action);
            let sent = Message::parse(text.as_bytes()).unwrap();
            assert!(sent.header("X-Evil").is_none(), "{text}");
            assert_eq!(sent.headers.len(), lines, "{text}");
            assert_eq!(sent.body, b"", "{text}");
            assert_eq!(text.matches("\r\n").count(), lines + 2, "{text}");
        };
        // Forwarded: sipmap's Via, the six, Max-Forwards, the two X-Sipmap, Content-Length.
        let invite = message("INVITE", "sip:a@acme.sip.twilio.com");
        check(
            e.handle_message(&invite, from("10.1.2.3"), Transport::Udp),
            11,
        );
        // Generated (404): Via, From, Call-ID, CSeq, To, Server, Content-Length.
        let options = message("OPTIONS", "sip:x@127.0.0.1");
        check(
            e.handle_message(&options, from("192.0.2.1"), Transport::Udp),
            7,
        );
    }

    #[test]
    fn hop_limits_missing_upstream_and_loops() {
        let e = edge(false);
        let (_, text) = send(e.handle(
            &request("INVITE", "sip:a@acme.sip.twilio.com", ""),
            from("192.0.2.1"),
            Transport::Udp,
        ));
        assert!(
            text.starts_with("SIP/2.0 480 Temporarily Unavailable"),
            "{text}"
        );
        let e = edge(true);
        let zero = request("INVITE", "sip:a@acme.sip.twilio.com", "Max-Forwards: 0\r\n");
        let (_, text) = send(e.handle(&zero, from("192.0.2.1"), Transport::Udp));
        assert!(text.starts_with("SIP/2.0 483 Too Many Hops"), "{text}");
        let looped = request(
            "INVITE",
            "sip:a@acme.sip.twilio.com",
            &format!("Via: SIP/2.0/UDP {EDGE};branch={BRANCH_PREFIX}1\r\n"),
        );
        let (_, text) = send(e.handle(&looped, from("192.0.2.1"), Transport::Udp));
        assert!(text.starts_with("SIP/2.0 482 Loop Detected"), "{text}");
    }

    #[test]
    fn malformed_requests_get_400_or_are_dropped() {
        let e = edge(true);
        let no_cseq = b"OPTIONS sip:a@acme.sip.twilio.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.2.3;branch=z9hG4bK1\r\n\
                        From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n";
        let (_, text) = send(e.handle(no_cseq, from("10.1.2.3"), Transport::Udp));
        assert!(text.starts_with("SIP/2.0 400 Bad Request"), "{text}");
        let no_via = b"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b>\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            e.handle(no_via, from("10.1.2.3"), Transport::Udp),
            Action::Drop
        );
        assert_eq!(
            e.handle(b"\x00\xffgarbage", from("10.1.2.3"), Transport::Udp),
            Action::Drop
        );
        assert_eq!(
            e.metrics
                .malformed
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
    }

    #[test]
    fn upstream_responses_go_back_along_the_via_path() {
        let e = edge(true);
        let (_, forwarded) = send(e.handle(
            &request("INVITE", "sip:a@acme.sip.twilio.com", ""),
            from("10.1.2.3"),
            Transport::Tcp(7),
        ));
        let msg = Message::parse(forwarded.as_bytes()).unwrap();
        let vias: Vec<String> = msg
            .headers_named("Via")
            .map(|h| h.value.to_string())
            .collect();
        assert!(vias[0].ends_with(";sm-conn=7"), "{vias:?}");
        let response = format!(
            "SIP/2.0 180 Ringing\r\nVia: {}\r\nVia: {}\r\nFrom: <sip:a@10.1.2.3>;tag=1\r\n\
             To: <sip:a@acme.sip.twilio.com>;tag=9\r\nCall-ID: c1@10.1.2.3\r\nCSeq: 1 INVITE\r\n\
             Content-Length: 0\r\n\r\n",
            vias[0], vias[1]
        );
        match e.handle(
            response.as_bytes(),
            UPSTREAM.parse().unwrap(),
            Transport::Udp,
        ) {
            Action::Send { to, via, bytes } => {
                assert_eq!(to, from("10.1.2.3"));
                // The client's Via says UDP here, so the answer goes by UDP.
                assert_eq!(via, Transport::Udp);
                let text = String::from_utf8(bytes).unwrap();
                assert!(
                    text.starts_with("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.1.2.3:5070"),
                    "{text}"
                );
                assert!(!text.contains(BRANCH_PREFIX), "our Via is gone: {text}");
            }
            Action::Drop => panic!("response dropped"),
        }
        // A response whose top Via is not ours is dropped.
        let stray = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKx\r\nVia: SIP/2.0/UDP 10.1.2.3\r\n\
                     From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            e.handle(stray.as_bytes(), UPSTREAM.parse().unwrap(), Transport::Udp),
            Action::Drop
        );
    }

    // --- Forged responses (finding 7) ---

    /// An INVITE from 10.1.2.3:5070 with a top Via of `transport`, forwarded over `via`; returns
    /// the forwarded request's Via values, sipmap's first.
    fn forwarded_vias(e: &Edge, transport: &str, via: Transport) -> Vec<String> {
        let invite = format!(
            "INVITE sip:a@acme.sip.twilio.com SIP/2.0\r\n\
             Via: SIP/2.0/{transport} 10.1.2.3:5070;branch=z9hG4bKabc;rport\r\n\
             From: <sip:a@10.1.2.3>;tag=1\r\nTo: <sip:a@acme.sip.twilio.com>\r\n\
             Call-ID: c1@10.1.2.3\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        let (to, forwarded) = send(e.handle(invite.as_bytes(), from("10.1.2.3"), via));
        assert_eq!(to, UPSTREAM.parse().unwrap());
        let msg = Message::parse(forwarded.as_bytes()).unwrap();
        let vias: Vec<String> = msg
            .headers_named("Via")
            .flat_map(|h| split_header_values(&h.value))
            .map(|v| v.trim().to_owned())
            .collect();
        assert!(vias[0].contains(BRANCH_PREFIX), "{vias:?}");
        vias
    }

    /// A 200 to the INVITE with these Via values (in one header) and a body.
    fn response_with(vias: &[String]) -> Vec<u8> {
        let mut r = format!("SIP/2.0 200 OK\r\nVia: {}\r\n", vias.join(", "));
        r.push_str(
            "From: <sip:a@10.1.2.3>;tag=1\r\nTo: <sip:a@acme.sip.twilio.com>;tag=9\r\n\
             Call-ID: c1@10.1.2.3\r\nCSeq: 1 INVITE\r\nContent-Length: 4\r\n\r\nbody",
        );
        r.into_bytes()
    }

    fn relayed(e: &Edge, response: &[u8], source: &str) -> Option<(SocketAddr, Transport)> {
        match e.handle(response, source.parse().unwrap(), Transport::Udp) {
            Action::Send { to, via, .. } => Some((to, via)),
            Action::Drop => None,
        }
    }

    #[test]
    fn responses_from_anyone_but_the_upstream_are_dropped() {
        let e = edge(true);
        let response = response_with(&forwarded_vias(&e, "UDP", Transport::Udp));
        for source in [
            "192.0.2.66:5080",
            "127.0.0.1:5081",
            "127.0.0.2:5080",
            "10.1.2.3:5070",
        ] {
            assert_eq!(relayed(&e, &response, source), None, "from {source}");
        }
        assert_eq!(
            relayed(&e, &response, UPSTREAM),
            Some((from("10.1.2.3"), Transport::Udp)),
            "the same response from the upstream is relayed"
        );
        let m = &e.metrics;
        assert_eq!(m.responses_dropped_source.load(Ordering::Relaxed), 4);
        assert_eq!(m.responses_relayed.load(Ordering::Relaxed), 1);
        assert!(
            m.render()
                .contains("sipmap_sip_responses_dropped_total{reason=\"source\"} 4\n")
        );
    }

    #[test]
    fn branches_are_keyed_and_stable_per_request() {
        let e = edge(true);
        let vias = forwarded_vias(&e, "UDP", Transport::Udp);
        // A CANCEL (same top Via, Call-ID and CSeq number) gets the INVITE's branch.
        let cancel = "CANCEL sip:a@acme.sip.twilio.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.1.2.3:5070;branch=z9hG4bKabc;rport\r\n\
             From: <sip:a@10.1.2.3>;tag=1\r\nTo: <sip:a@acme.sip.twilio.com>\r\n\
             Call-ID: c1@10.1.2.3\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
        let (_, text) = send(e.handle(cancel.as_bytes(), from("10.1.2.3"), Transport::Udp));
        let cancel_vias = Message::parse(text.as_bytes())
            .unwrap()
            .vias()
            .unwrap()
            .iter()
            .map(|v| v.param("branch").flatten().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert!(
            vias[0].ends_with(&cancel_vias[0]),
            "{vias:?} {cancel_vias:?}"
        );
        // The same request over a TCP connection gets another tag.
        let tcp = forwarded_vias(&e, "UDP", Transport::Tcp(1));
        assert_ne!(tcp[0].split(';').nth(1), vias[0].split(';').nth(1));
        // Another key (another process) makes other branches and refuses this one's.
        let other = Edge::with_branch_key(
            e.recognizer.clone(),
            e.upstream,
            e.local,
            Arc::new(Metrics::default()),
            [8; 32],
        );
        let theirs = forwarded_vias(&other, "UDP", Transport::Udp);
        assert_ne!(theirs[0], vias[0]);
        assert_eq!(relayed(&other, &response_with(&vias), UPSTREAM), None);
        assert_eq!(
            other
                .metrics
                .responses_dropped_branch
                .load(Ordering::Relaxed),
            1
        );
        assert!(relayed(&other, &response_with(&theirs), UPSTREAM).is_some());
    }

    #[test]
    fn a_tampered_branch_is_dropped() {
        let e = edge(true);
        let vias = forwarded_vias(&e, "UDP", Transport::Udp);
        let (head, branch) = vias[0].split_once(";branch=").unwrap();
        let branch = branch.split(';').next().unwrap();
        let mut flipped = branch.to_owned();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        let mut bare = String::from(BRANCH_PREFIX);
        bare.push_str(&branch[BRANCH_PREFIX.len()..BRANCH_PREFIX.len() + 16]);
        for forged in [
            flipped,
            bare,
            format!("{BRANCH_PREFIX}{}", "0".repeat(32)),
            format!("{BRANCH_PREFIX}x"),
            format!("{branch}0"),
        ] {
            let mut v = vias.clone();
            v[0] = format!("{head};branch={forged}");
            assert_eq!(
                relayed(&e, &response_with(&v), UPSTREAM),
                None,
                "branch {forged}"
            );
        }
        assert!(relayed(&e, &response_with(&vias), UPSTREAM).is_some());
    }

    #[test]
    fn a_response_rerouted_to_a_third_party_is_dropped() {
        let e = edge(true);
        let vias = forwarded_vias(&e, "UDP", Transport::Udp);
        for next in [
            "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKabc",
            "SIP/2.0/UDP 10.1.2.3:5070;branch=z9hG4bKabc;received=198.51.100.7;rport=5070",
            "SIP/2.0/UDP 10.1.2.3:5070;branch=z9hG4bKabc;received=10.1.2.3;rport=5071",
            "SIP/2.0/UDP 10.1.2.3:5071;branch=z9hG4bKabc;received=10.1.2.3",
        ] {
            let v = [vias[0].clone(), next.to_owned()];
            assert_eq!(relayed(&e, &response_with(&v), UPSTREAM), None, "{next}");
        }
    }

    #[test]
    fn a_response_for_another_tcp_connection_is_dropped() {
        let e = edge(true);
        let vias = forwarded_vias(&e, "TCP", Transport::Tcp(7));
        assert!(vias[0].ends_with(";sm-conn=7"), "{vias:?}");
        assert_eq!(
            relayed(&e, &response_with(&vias), UPSTREAM),
            Some((from("10.1.2.3"), Transport::Tcp(7)))
        );
        let mut other = vias.clone();
        other[0] = vias[0].replace(";sm-conn=7", ";sm-conn=8");
        assert_eq!(relayed(&e, &response_with(&other), UPSTREAM), None);
        let mut none = vias.clone();
        none[0] = vias[0].replace(";sm-conn=7", "");
        assert_eq!(relayed(&e, &response_with(&none), UPSTREAM), None);
        // And a UDP client's branch cannot be pointed at a connection.
        let udp = forwarded_vias(&e, "TCP", Transport::Udp);
        let mut onto = udp.clone();
        onto[0] = format!("{};sm-conn=7", udp[0]);
        assert_eq!(relayed(&e, &response_with(&onto), UPSTREAM), None);
        assert_eq!(
            relayed(&e, &response_with(&udp), UPSTREAM),
            Some((from("10.1.2.3"), Transport::Udp))
        );
    }

    #[test]
    fn the_edge_never_relays_to_itself() {
        let e = edge(true);
        let ours = our_via_to(&e, EDGE.parse().unwrap());
        // One datagram with many copies of the edge's own Via, as from the upstream.
        let copies: Vec<String> = std::iter::repeat_n(ours, 200).collect();
        assert_eq!(relayed(&e, &response_with(&copies), UPSTREAM), None);
        assert_eq!(
            e.metrics
                .responses_dropped_own_address
                .load(Ordering::Relaxed),
            1,
            "dropped for its target, not for its branch"
        );
        // Nor is a request answered or forwarded when its answer would come back to the edge.
        let invite = request("INVITE", "sip:a@acme.sip.twilio.com", "");
        assert_eq!(
            e.handle(&invite, EDGE.parse().unwrap(), Transport::Udp),
            Action::Drop
        );
        let no_rport = String::from_utf8(request("OPTIONS", "sip:x@127.0.0.1", ""))
            .unwrap()
            .replace(
                "10.1.2.3:5070;branch=z9hG4bKabc;rport",
                "127.0.0.1:5060;branch=z9hG4bKabc",
            );
        assert_eq!(
            e.handle(
                no_rport.as_bytes(),
                "127.0.0.1:40000".parse().unwrap(),
                Transport::Udp
            ),
            Action::Drop
        );
        // Listening on 0.0.0.0, any loopback or unspecified address with its port is its own.
        let any = Edge::new(
            crate::recognition::table().reader(),
            Some(UPSTREAM.parse().unwrap()),
            "0.0.0.0:5060".parse().unwrap(),
            Arc::new(Metrics::default()),
        );
        let ours = our_via_to(&any, "127.0.0.1:5060".parse().unwrap());
        for to in [
            "127.0.0.1:5060",
            "127.0.0.7:5060",
            "0.0.0.0:5060",
            "[::1]:5060",
        ] {
            let next = format!("SIP/2.0/UDP {to};branch=z9hG4bK1");
            let r = response_with(&[ours.clone(), next]);
            assert_eq!(relayed(&any, &r, UPSTREAM), None, "to {to}");
        }
    }

    #[test]
    fn changes_apply_to_the_next_request() {
        let (e, table) = edge_with_table(false);
        let options = request("OPTIONS", "sip:127.0.0.1", "");
        let (_, text) = send(e.handle(&options, from("172.16.0.1"), Transport::Udp));
        assert!(text.starts_with("SIP/2.0 404"));
        table.apply(&[Change::MappingSet(
            Network::new("172.16.0.0".parse().unwrap(), 12),
            target().domain_sid,
        )]);
        let (_, text) = send(e.handle(&options, from("172.16.0.1"), Transport::Udp));
        assert!(text.starts_with("SIP/2.0 200"));
    }

    /// A Via of this edge with a valid branch for a UDP response from the upstream to `to`.
    fn our_via_to(e: &Edge, to: SocketAddr) -> String {
        let mut v = format!("SIP/2.0/UDP {};branch=", e.local);
        e.push_branch(&mut v, 1, None, to, UPSTREAM.parse().unwrap());
        v
    }
}
