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
//! - A response whose top Via is sipmap's loses that Via and goes to the next one's address.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::message::{Message, SipUri, StartLine, Via, split_header_values};
use super::metrics::Metrics;
use crate::recognition::{MatchedBy, Recognizer, Target};

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

/// The edge's configuration and shared state.
#[derive(Debug)]
pub struct Edge {
    recognizer: Arc<Recognizer>,
    upstream: Option<SocketAddr>,
    /// The address sipmap puts in its Via (its UDP listening address).
    local: SocketAddr,
    metrics: Arc<Metrics>,
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
    /// its Via.
    pub fn new(
        recognizer: Arc<Recognizer>,
        upstream: Option<SocketAddr>,
        local: SocketAddr,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            recognizer,
            upstream,
            local,
            metrics,
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
        match msg.start {
            StartLine::Request { method, uri, .. } => {
                Metrics::inc(&self.metrics.received);
                self.request(&msg, method, uri, source, transport)
            }
            StartLine::Response { .. } => self.response(&msg, source),
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
        );
        Metrics::inc(&self.metrics.forwarded);
        Action::Send {
            to: upstream,
            via: Transport::Udp,
            bytes,
        }
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
    ) -> Vec<u8> {
        let top_value = first_via_value(msg).unwrap_or_default();
        let branch = short_hash(&[
            &top_value,
            msg.header("Call-ID").unwrap_or(""),
            msg.header("CSeq")
                .and_then(|c| c.split_whitespace().next())
                .unwrap_or(""),
        ]);
        let mut ours = format!(
            "SIP/2.0/UDP {};branch={BRANCH_PREFIX}{branch:016x}",
            self.local
        );
        if let Transport::Tcp(id) = transport {
            ours.push_str(&format!(";{CONN_PARAM}={id}"));
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

    /// An upstream response: strip our Via, send to the next one.
    fn response(&self, msg: &Message<'_>, source: SocketAddr) -> Action {
        let vias = msg.vias().unwrap_or_default();
        let (Some(top), Some(next)) = (vias.first(), vias.get(1)) else {
            tracing::debug!(%source, "response without a Via for the client dropped");
            return Action::Drop;
        };
        if !self.is_ours(top) {
            tracing::debug!(%source, "response not addressed to this edge dropped");
            return Action::Drop;
        }
        let via = match top.param(CONN_PARAM) {
            Some(Some(id)) if next.transport.eq_ignore_ascii_case("TCP") => match id.parse() {
                Ok(id) => Transport::Tcp(id),
                Err(_) => return Action::Drop,
            },
            _ => Transport::Udp,
        };
        let Some(to) = via_address(next) else {
            return Action::Drop;
        };
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

/// Serialises a SIP message straight into one buffer, with CRLF line ends and a correct
/// `Content-Length`.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn request(method: &str, uri: &str) -> Self {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(uri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        Self { out }
    }

    fn response(code: u16, reason: &str) -> Self {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(format!("SIP/2.0 {code} {reason}\r\n").as_bytes());
        Self { out }
    }

    /// Adds a header; any `Content-Length` given is skipped ([`Self::finish`] writes it).
    fn header(&mut self, name: &str, value: &str) {
        if super::message::canonical_name(name).eq_ignore_ascii_case("Content-Length") {
            return;
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn finish(mut self, body: &[u8]) -> Vec<u8> {
        self.out
            .extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        self.out.extend_from_slice(body);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Network;
    use crate::recognition::Change;
    use crate::sid::{AccountSid, SipDomainSid};

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
        let r = Recognizer::new();
        r.load(crate::recognition::State::from_sids(
            vec![target()],
            vec![(
                Network::new("10.1.0.0".parse().unwrap(), 16),
                target().domain_sid,
            )],
        ));
        Edge::new(
            r,
            upstream.then(|| UPSTREAM.parse().unwrap()),
            EDGE.parse().unwrap(),
            Arc::new(Metrics::default()),
        )
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

    #[test]
    fn changes_apply_to_the_next_request() {
        let e = edge(false);
        let options = request("OPTIONS", "sip:127.0.0.1", "");
        let (_, text) = send(e.handle(&options, from("172.16.0.1"), Transport::Udp));
        assert!(text.starts_with("SIP/2.0 404"));
        e.recognizer.apply(&[Change::MappingSet(
            Network::new("172.16.0.0".parse().unwrap(), 12),
            target().domain_sid,
        )]);
        let (_, text) = send(e.handle(&options, from("172.16.0.1"), Transport::Udp));
        assert!(text.starts_with("SIP/2.0 200"));
    }
}
