//! Requests the parser refuses, answered when their request line and top Via can be read: 513
//! over the message size limit, 414 for a long request line, 400 with a reason phrase for a
//! header field over its limit, too many header fields, a body shorter than its Content-Length;
//! never a response, never an ACK, never without a readable Via.

use super::*;
use crate::sip::message::{MAX_FIELD_BYTES, MAX_HEADERS, MAX_MESSAGE_BYTES};

const VIA: &str = "Via: SIP/2.0/UDP 10.1.2.3:5070;branch=z9hG4bKabc;rport\r\n";
const REST: &str = "From: <sip:a@10.1.2.3>;tag=1\r\nTo: <sip:b@acme.sip.twilio.com>\r\n\
                    Call-ID: big@10.1.2.3\r\nCSeq: 7 INVITE\r\n";

/// `INVITE` with `before` between its request line and its Via, `middle` between its Via and
/// the rest of its headers, and `body` (with its Content-Length).
fn invite(before: &str, middle: &str, body: &str) -> Vec<u8> {
    format!(
        "INVITE sip:b@acme.sip.twilio.com SIP/2.0\r\n{before}{VIA}{middle}{REST}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A header field `X-Big` of `n` bytes, with its line break.
fn field(n: usize) -> String {
    format!("X-Big: {}\r\n", "x".repeat(n - 7))
}

/// The answer to `bytes` from 10.1.2.3:5070 over `transport`: where it went and its text.
fn answer(e: &Edge, bytes: &[u8], transport: Transport) -> (SocketAddr, String) {
    send(e.handle(bytes, from("10.1.2.3"), transport))
}

/// Asserts `text` is an answer `status` to the `INVITE` above, copying what a response copies.
fn assert_answers(text: &str, status: &str) {
    assert!(text.starts_with(&format!("SIP/2.0 {status}\r\n")), "{text}");
    for line in [
        "Via: SIP/2.0/UDP 10.1.2.3:5070;branch=z9hG4bKabc;received=10.1.2.3;rport=5070\r\n",
        "From: <sip:a@10.1.2.3>;tag=1\r\n",
        "To: <sip:b@acme.sip.twilio.com>;tag=",
        "Call-ID: big@10.1.2.3\r\n",
        "CSeq: 7 INVITE\r\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(text.len() < 1024, "the answer is small: {}", text.len());
}

#[test]
fn a_60_kb_header_field_gets_400_naming_the_limit_over_udp_and_tcp() {
    let e = edge(true);
    let bytes = invite("", &field(60_000), "");
    assert!(bytes.len() < MAX_MESSAGE_BYTES);
    let (to, text) = answer(&e, &bytes, Transport::Udp);
    assert_eq!(to, from("10.1.2.3"), "to the Via's rport");
    assert_answers(&text, "400 Header Field Longer Than 16384 Bytes");
    let (to, text) = answer(&e, &bytes, Transport::Tcp(9));
    assert_eq!(to, from("10.1.2.3"));
    assert_answers(&text, "400 Header Field Longer Than 16384 Bytes");
    // Before the Via, and folded over many lines, the same.
    let folded = format!("X-Big: x\r\n{}", " yyyyyyyy\r\n".repeat(1600));
    for before in [field(MAX_FIELD_BYTES + 1), folded] {
        let (_, text) = answer(&e, &invite(&before, "", ""), Transport::Udp);
        assert_answers(&text, "400 Header Field Longer Than 16384 Bytes");
    }
    // At the limit, the request is read as usual (and let in: 10.1.2.3 is in the list).
    let (to, _) = answer(&e, &invite("", &field(MAX_FIELD_BYTES), ""), Transport::Udp);
    assert_eq!(to, UPSTREAM.parse().unwrap());
}

#[test]
fn too_many_header_fields_get_400() {
    let e = edge(true);
    let many = "X-N: 1\r\n".repeat(MAX_HEADERS);
    let (_, text) = answer(&e, &invite("", &many, ""), Transport::Udp);
    assert_answers(&text, "400 More Than 128 Header Fields");
    let fits = "X-N: 1\r\n".repeat(MAX_HEADERS - 7);
    let (to, _) = answer(&e, &invite("", &fits, ""), Transport::Udp);
    assert_eq!(to, UPSTREAM.parse().unwrap());
}

#[test]
fn a_message_over_the_size_limit_gets_513() {
    let e = edge(true);
    let body = "v".repeat(MAX_MESSAGE_BYTES);
    // What a UDP reader hands over when a datagram fills its buffer: the limit and one byte.
    let mut bytes = invite("", "", &body);
    bytes.truncate(MAX_MESSAGE_BYTES + 1);
    let (_, text) = answer(&e, &bytes, Transport::Udp);
    assert_answers(&text, "513 Message Too Large");
    // Found within the first MAX_MESSAGE_BYTES, even behind 60 KB of headers.
    let padded = invite("", &(field(8000).repeat(8)), &"v".repeat(8000));
    let (_, text) = answer(&e, &padded, Transport::Tcp(3));
    assert_answers(&text, "513 Message Too Large");
}

#[test]
fn a_request_line_over_its_limit_gets_414() {
    let e = edge(true);
    let uri = format!("sip:{}@acme.sip.twilio.com", "u".repeat(MAX_FIELD_BYTES));
    let bytes = format!("INVITE {uri} SIP/2.0\r\n{VIA}{REST}Content-Length: 0\r\n\r\n");
    let (_, text) = answer(&e, bytes.as_bytes(), Transport::Udp);
    assert_answers(&text, "414 Request-URI Too Long");
}

#[test]
fn other_malformed_requests_get_400_saying_what_is_wrong() {
    let e = edge(true);
    let mut short = invite("", "", "abcd");
    short.truncate(short.len() - 2);
    let (_, text) = answer(&e, &short, Transport::Udp);
    assert_answers(&text, "400 Body Shorter Than Content-Length");
    let bad_line = invite("", "Bad header line\r\n", "");
    let (_, text) = answer(&e, &bad_line, Transport::Udp);
    assert_answers(&text, "400 Malformed Header Field");
    let unterminated = &invite("", "", "")[..200];
    let (_, text) = answer(&e, unterminated, Transport::Udp);
    assert!(
        text.starts_with("SIP/2.0 400 Header Section Not Terminated\r\n"),
        "{text}"
    );
}

#[test]
fn responses_acks_and_requests_without_a_readable_via_are_never_answered() {
    let e = edge(true);
    let big = field(60_000);
    let ack = String::from_utf8(invite("", &big, ""))
        .unwrap()
        .replacen("INVITE", "ACK", 1);
    let response = format!("SIP/2.0 200 OK\r\n{VIA}{big}{REST}Content-Length: 0\r\n\r\n");
    let big_via = format!(
        "Via: SIP/2.0/UDP 10.1.2.3:5070;branch={}\r\n",
        "z".repeat(60_000)
    );
    let no_via = String::from_utf8(invite("", &big, ""))
        .unwrap()
        .replace(VIA, "");
    let bad_via = String::from_utf8(invite("", &big, ""))
        .unwrap()
        .replace(VIA, "Via: nonsense\r\n");
    for (what, bytes) in [
        ("ACK", ack.into_bytes()),
        ("response", response.into_bytes()),
        ("Via over the limit", invite(&big_via, "", "")),
        ("no Via", no_via.into_bytes()),
        ("unreadable Via", bad_via.into_bytes()),
    ] {
        assert_eq!(
            e.handle(&bytes, from("10.1.2.3"), Transport::Udp),
            Action::Drop,
            "{what}"
        );
    }
    // Nor from the edge's own address (spoofed: the answer would go to the edge itself).
    assert_eq!(
        e.handle(&invite("", &big, ""), EDGE.parse().unwrap(), Transport::Udp),
        Action::Drop
    );
    // A Via over the limit below a good one: the good one is the top, and is answered.
    let (_, text) = answer(&e, &invite("", &big_via, ""), Transport::Udp);
    assert!(text.starts_with("SIP/2.0 400 "), "{}", &text[..60]);
    assert_eq!(text.matches("\r\nVia: ").count(), 1);
}

#[test]
fn size_limits_are_counted() {
    let e = edge(true);
    answer(&e, &invite("", &field(60_000), ""), Transport::Udp);
    answer(
        &e,
        &invite("", &"X-N: 1\r\n".repeat(200), ""),
        Transport::Udp,
    );
    let mut over = invite("", "", &"v".repeat(MAX_MESSAGE_BYTES));
    over.truncate(MAX_MESSAGE_BYTES + 1);
    answer(&e, &over, Transport::Udp);
    let text = e.metrics.render();
    for line in [
        "sipmap_sip_messages_over_limit_total{limit=\"message_bytes\"} 1\n",
        "sipmap_sip_messages_over_limit_total{limit=\"line_bytes\"} 1\n",
        "sipmap_sip_messages_over_limit_total{limit=\"header_count\"} 1\n",
        "sipmap_sip_messages_malformed_total 3\n",
        "sipmap_sip_requests_received_total 3\n",
        "sipmap_sip_responses_sent_total 3\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}
