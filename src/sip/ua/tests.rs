//! The UA core's shared test fixtures (the call engine's tests use them too), and the tests that span modules: CANCEL, the 2xx
//! retransmission, whole call flows, the memory footprint, and random event sequences.

use std::net::SocketAddr;

use proptest::prelude::*;

use super::*;
use crate::sip::edge::Transport;
use crate::sip::message::Message;

/// The caller's address (UDP).
pub(crate) const CALLER: &str = "192.0.2.10:5062";
/// sipmap's address.
pub(crate) const LOCAL: &str = "192.0.2.1:5060";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Text with `\n` line endings as CRLF, and the right Content-Length for what follows the
/// empty line.
pub(crate) fn wire(text: &str) -> Vec<u8> {
    let text = text.replace('\n', "\r\n");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

pub(crate) fn parse(bytes: &[u8]) -> Message<'_> {
    Message::parse(bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

pub(crate) const SDP: &str = "v=0\no=- 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\n\
                              m=audio 4000 RTP/AVP 0\n";

/// The caller's INVITE, with `branch` and `cseq`, over `transport` (`UDP` or `TCP`).
pub(super) fn invite_with(branch: &str, transport: &str) -> Vec<u8> {
    wire(&format!(
        "INVITE sip:+15551234567@acme.sip.example.com SIP/2.0\n\
         Via: SIP/2.0/{transport} 192.0.2.10:5062;branch={branch};rport\n\
         Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold\n\
         Max-Forwards: 70\n\
         To: <sip:+15551234567@acme.sip.example.com>\n\
         From: \"Alice\" <sip:alice@192.0.2.10>;tag=1928301774\n\
         Call-ID: a84b4c76e66710@192.0.2.10\n\
         CSeq: 314159 INVITE\n\
         Contact: <sip:alice@192.0.2.10:5062>\n\
         Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\n\
         Timestamp: 54\n\
         Content-Type: application/sdp\n\
         \n{SDP}"
    ))
}

/// The caller's INVITE over UDP.
pub(super) fn invite() -> Vec<u8> {
    invite_with("z9hG4bK776asdhds", "UDP")
}

/// A request `method` matching the caller's INVITE (same branch, CSeq number), with `to` as its
/// To value.
pub(crate) fn sibling(method: &str, to: &str) -> Vec<u8> {
    wire(&format!(
        "{method} sip:+15551234567@acme.sip.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport\n\
         Max-Forwards: 70\n\
         To: {to}\n\
         From: \"Alice\" <sip:alice@192.0.2.10>;tag=1928301774\n\
         Call-ID: a84b4c76e66710@192.0.2.10\n\
         CSeq: 314159 {method}\n\
         \n"
    ))
}

/// The first line of a message.
pub(crate) fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// The first lines of the messages sent.
pub(super) fn sent(out: &Outputs) -> Vec<String> {
    out.sent().map(|b| first_line(b)).collect()
}

/// The timers armed, with when (ms).
pub(super) fn armed(out: &Outputs) -> Vec<(Timer, u64)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Arm { timer, at } => Some((*timer, at.0)),
            _ => None,
        })
        .collect()
}

/// Asserts that a message sipmap wrote parses, and serialises back to the same bytes.
pub(super) fn round_trips(bytes: &[u8]) {
    let m = parse(bytes);
    assert_eq!(m.to_bytes(), bytes, "{}", String::from_utf8_lossy(bytes));
}

/// The value of header `name` in `bytes`.
pub(crate) fn header_of(bytes: &[u8], name: &str) -> Option<String> {
    parse(bytes).header(name).map(str::to_owned)
}

/// Every value of header `name` in `bytes`, in order.
pub(super) fn headers_of(bytes: &[u8], name: &str) -> Vec<String> {
    parse(bytes)
        .headers_named(name)
        .map(|h| h.value.to_string())
        .collect()
}

pub(super) fn udp() -> Flow {
    Flow {
        to: addr("192.0.2.7:5070"),
        via: Transport::Udp,
    }
}

pub(super) fn tcp() -> Flow {
    Flow {
        to: addr("192.0.2.7:5070"),
        via: Transport::TcpOut,
    }
}

/// An INVITE server transaction for the caller's INVITE over UDP, with its first outputs.
pub(super) fn ist() -> (InviteServer, Outputs) {
    let bytes = invite();
    InviteServer::new(
        &parse(&bytes),
        addr(CALLER),
        Transport::Udp,
        Timers::default(),
    )
    .unwrap()
}

mod cancel_and_answer;
mod flows;
mod random;
