//! The edge's tests: what it answers, forwards, relays and drops, from bytes in to bytes out.
//! What the security settings of a domain decide is in `tests/auth.rs`; how failed
//! authentication is throttled, in `tests/throttle.rs`; requests that do not parse, in
//! `tests/sizes.rs`; the hand-off of calls to the call runtime, in `tests/handoff.rs`.

mod auth;
mod handoff;
mod routing;
mod sizes;
mod throttle;

use super::branch::BRANCH_PREFIX;
use super::*;
use crate::clock::FixedClock;
use crate::domain::MappedList;
use crate::domain::Network;
use crate::recognition::{AuthKind, Change, RecognitionWriter, Target};
use crate::secret::ServerKey;
use crate::sid::{AccountSid, AclSid, Sid, SipDomainSid};
use crate::sip::message::{Header, split_header_values};
use std::sync::atomic::Ordering;

const EDGE: &str = "127.0.0.1:5060";
const UPSTREAM: &str = "127.0.0.1:5080";
/// When the tests' clock stands, in seconds since the epoch.
const NOW: i64 = 1_800_000_000;

fn target() -> Target {
    Target {
        domain_sid: SipDomainSid::parse("SD0000000000000000000000000000000a").unwrap(),
        account_sid: AccountSid::parse("AC0000000000000000000000000000000a").unwrap(),
        domain_name: "acme.sip.twilio.com".into(),
        sip_registration: false,
        secure: false,
        byoc_trunk_sid: None,
        voice: None,
    }
}

/// The server key of every test edge.
fn server_key() -> ServerKey {
    ServerKey::from_bytes([5; 32])
}

/// An authenticator with the tests' server key, offering the defaults, dated by `clock`.
fn authenticator(clock: &Arc<FixedClock>) -> Authenticator {
    Authenticator::new(&server_key(), &[]).with_clock(clock.clone())
}

fn edge(upstream: bool) -> Edge {
    edge_with_table(upstream).0
}

/// An edge and the writer of its table: `acme.sip.twilio.com`, mapped to 10.1.0.0/16, with an
/// IP access control list mapped for calls that holds every source these tests use but
/// 198.51.100.0/24.
fn edge_with_table(upstream: bool) -> (Edge, RecognitionWriter) {
    let mut state = vec![
        Change::DomainSet(target()),
        Change::MappingSet(
            Network::new("10.1.0.0".parse().unwrap(), 16),
            target().domain_sid,
        ),
    ];
    for (net, prefix) in [("10.0.0.0", 8), ("172.16.0.0", 12), ("192.0.2.0", 24)] {
        state.push(Change::AclNetworkAdded(
            test_sid(1),
            Network::new(net.parse().unwrap(), prefix),
        ));
    }
    state.push(Change::AuthMapped(
        target().domain_sid,
        AuthKind::CallsAcl,
        MappedList::Acl(test_sid::<AclSid>(1)),
    ));
    let (edge, table, _) = edge_over(state, upstream);
    (edge, table)
}

/// The SID of kind `S` numbered `n`.
fn test_sid<S: Sid>(n: u8) -> S {
    S::parse(&format!("{}{n:032x}", S::PREFIX)).unwrap()
}

/// An edge over the table `state` builds, with the writer of its table and the clock its nonces
/// are dated by (standing at [`NOW`]).
fn edge_over(state: Vec<Change>, upstream: bool) -> (Edge, RecognitionWriter, Arc<FixedClock>) {
    let w = crate::recognition::table();
    w.load(state);
    let clock = Arc::new(FixedClock::at_millis(NOW * 1000));
    let edge = Edge::with_branch_key(
        w.reader(),
        upstream.then(|| UPSTREAM.parse().unwrap()),
        EDGE.parse().unwrap(),
        Arc::new(Metrics::default()),
        authenticator(&clock),
        [7; 32],
    );
    (edge, w, clock)
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
        other => panic!("expected a message, got {other:?}"),
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
fn admitted_options_gets_200_with_the_sipmap_headers() {
    let e = edge(false);
    for (source, uri) in [
        ("10.1.9.9", "sip:127.0.0.1"),
        ("192.0.2.1", "sip:bob@ACME.sip.twilio.com"),
    ] {
        let (_, text) = send(e.handle(&request("OPTIONS", uri, ""), from(source), Transport::Udp));
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
    assert!(text.contains("X-Sipmap-Auth: ip-acl\r\n"), "{text}");
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
    // Forwarded: sipmap's Via, the six, Max-Forwards, the three X-Sipmap, Content-Length.
    let invite = message("INVITE", "sip:a@acme.sip.twilio.com");
    check(
        e.handle_message(&invite, b"", from("10.1.2.3"), Transport::Udp),
        12,
    );
    // Generated (404): Via, From, Call-ID, CSeq, To, Server, Content-Length.
    let options = message("OPTIONS", "sip:x@127.0.0.1");
    check(
        e.handle_message(&options, b"", from("192.0.2.1"), Transport::Udp),
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
        other => panic!("response not relayed: {other:?}"),
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
        Action::Drop | Action::Call(_) => None,
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
        e.digest.clone(),
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
fn a_response_for_a_tls_client_goes_back_over_its_tls_connection() {
    let e = edge(true);
    let vias = forwarded_vias(&e, "TLS", Transport::Tls(7));
    assert!(vias[0].ends_with(";sm-conn=7"), "{vias:?}");
    assert_eq!(
        relayed(&e, &response_with(&vias), UPSTREAM),
        Some((from("10.1.2.3"), Transport::Tls(7)))
    );
    let mut other = vias.clone();
    other[0] = vias[0].replace(";sm-conn=7", ";sm-conn=8");
    assert_eq!(relayed(&e, &response_with(&other), UPSTREAM), None);
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
        e.digest.clone(),
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
