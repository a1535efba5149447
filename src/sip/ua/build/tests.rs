//! The pieces every message is written from: Via stamping, responses, CSeq and status reading.

use super::*;
use crate::sip::ua::tests::{parse, round_trips, wire};
use crate::sip_syntax::Wire;

fn request(via: &str) -> Vec<u8> {
    wire(&format!(
        "OPTIONS sip:a@b SIP/2.0\nVia: {via}\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKold\n\
         From: <sip:c@d>;tag=1\nTo: <sip:a@b>\nCall-ID: x\nCSeq: 7 OPTIONS\nTimestamp: 1.5\n\
         Subject: not copied\n\n"
    ))
}

#[test]
fn the_top_via_is_stamped_with_received_and_rport_and_the_others_kept() {
    let source: SocketAddr = "203.0.113.5:40000".parse().unwrap();
    let cases = [
        (
            "SIP/2.0/UDP pc33.example.com;branch=z9hG4bKa;rport",
            "SIP/2.0/UDP pc33.example.com;branch=z9hG4bKa;received=203.0.113.5;rport=40000",
        ),
        (
            "SIP/2.0/UDP 10.1.1.1:5060;received=1.2.3.4;branch=z9hG4bKa",
            "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKa;received=203.0.113.5",
        ),
        (
            "SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKa;rport=1, SIP/2.0/UDP 10.0.0.8;branch=z9hG4bKb",
            "SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKa;received=203.0.113.5;rport=40000, SIP/2.0/UDP 10.0.0.8;branch=z9hG4bKb",
        ),
    ];
    for (via, stamped) in cases {
        let bytes = request(via);
        let ok = response(&parse(&bytes), Some(source), &Reply::new(200).tag("x"));
        round_trips(&ok);
        let m = parse(&ok);
        let vias: Vec<_> = m
            .headers_named("Via")
            .map(|h| h.value.to_string())
            .collect();
        assert_eq!(vias, [stamped, "SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKold"]);
    }
}

#[test]
fn responses_copy_what_rfc_3261_says_and_add_what_they_are_given() {
    let bytes = request("SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKa");
    let req = parse(&bytes);
    let trying = response(&req, None, &Reply::new(100).tag("ignored"));
    let m = parse(&trying);
    assert_eq!(m.status(), Some(100));
    assert_eq!(m.header("To"), Some("<sip:a@b>"), "a 100 gets no tag");
    assert_eq!(m.header("Timestamp"), Some("1.5"));
    assert_eq!(m.header("Subject"), None);
    let headers = [("Allow", "INVITE, ACK"), ("Content-Type", "text/plain")];
    let reply = Reply {
        reason: Some("Fine"),
        ..Reply::new(200).tag("t9").headers(&headers).body(b"hello")
    };
    let ok = response(&req, None, &reply);
    round_trips(&ok);
    let m = parse(&ok);
    assert!(ok.starts_with(b"SIP/2.0 200 Fine\r\n"));
    assert_eq!(m.header("To"), Some("<sip:a@b>;tag=t9"));
    assert_eq!(m.header("From"), Some("<sip:c@d>;tag=1"));
    assert_eq!(m.header("Call-ID"), Some("x"));
    assert_eq!(m.header("CSeq"), Some("7 OPTIONS"));
    assert_eq!(m.header("Timestamp"), None);
    assert_eq!(m.header("Allow"), Some("INVITE, ACK"));
    assert_eq!(m.body, b"hello");
    assert_eq!(m.header("Content-Length"), Some("5"));
    // From an earlier response: the same headers, the tag kept, no stamping again.
    let again = response(&m, None, &Reply::new(486).tag("other"));
    let a = parse(&again);
    assert_eq!(a.header("To"), Some("<sip:a@b>;tag=t9"));
    assert_eq!(a.header("Via"), m.header("Via"));
    assert_eq!(a.header("Allow"), None);
    // Exact size: no spare capacity behind the bytes.
    assert_eq!(again.len(), a.to_bytes().len());
}

#[test]
fn status_cseq_and_pieces_are_read_and_written_exactly() {
    assert_eq!(
        status_code(b"SIP/2.0 487 Request Terminated\r\n"),
        Some(487)
    );
    assert_eq!(status_code(b"SIP/2.0 200\r\n"), None);
    for bad in [
        &b"SIP/2.0 099 x"[..],
        b"SIP/2.0 2000 x",
        b"INVITE sip:a SIP/2.0",
        b"",
        b"SIP/2.0 7x9 y",
    ] {
        assert_eq!(status_code(bad), None, "{}", String::from_utf8_lossy(bad));
    }
    let ok = wire("SIP/2.0 200 OK\nCSeq:  42   INVITE \n\n");
    assert_eq!(cseq(&parse(&ok)), Some((42, "INVITE")));
    for bad in [
        "CSeq: x INVITE",
        "CSeq: 1",
        "CSeq: 1 INVITE x",
        "CSeq: 99999999999 INVITE",
    ] {
        let m = wire(&format!("SIP/2.0 200 OK\n{bad}\n\n"));
        assert_eq!(cseq(&parse(&m)), None, "{bad}");
    }
    let v6: SocketAddr = "[2001:db8::5]:5060".parse().unwrap();
    assert_eq!(
        via_value(v6, Wire::Tcp, "z9hG4bK-sm-c-1"),
        "SIP/2.0/TCP [2001:db8::5]:5060;branch=z9hG4bK-sm-c-1;rport"
    );
    assert_eq!(
        contact_value(v6, Wire::Udp),
        "<sip:sipmap@[2001:db8::5]:5060>"
    );
    assert_eq!(
        contact_value("192.0.2.1:5060".parse().unwrap(), Wire::Tcp),
        "<sip:sipmap@192.0.2.1:5060;transport=tcp>"
    );
    assert_eq!(reason_phrase(487), "Request Terminated");
    assert_eq!(reason_phrase(499), "Request Failure");
    assert_eq!(reason_phrase(699), "Global Failure");
}
