//! Dialogs on both sides: made from the INVITE and our responses (UAS) or from the callee's
//! responses (UAC), the requests written in them, and the checks of requests received.

use super::*;
use crate::sip::edge::Transport;
use crate::sip::ua::tests::{
    CALLER, LOCAL, addr, first_line, header_of, headers_of, invite, ist, parse, round_trips, udp,
    wire,
};
use crate::sip::ua::{Ids, InviteClient, Millis, Timers};

fn local() -> SocketAddr {
    addr(LOCAL)
}

fn uas() -> Dialog {
    let bytes = invite();
    let flow = Flow {
        to: addr(CALLER),
        via: Transport::Udp,
    };
    Dialog::uas(&parse(&bytes), "t1", flow).unwrap()
}

#[test]
fn a_uas_dialog_takes_its_state_from_the_invite() {
    let d = uas();
    assert_eq!(d.call_id(), "a84b4c76e66710@192.0.2.10");
    assert_eq!(d.local_tag(), "t1");
    assert_eq!(d.remote_tag(), "1928301774");
    assert_eq!(d.local_uri(), "<sip:+15551234567@acme.sip.example.com>");
    assert_eq!(d.remote_uri(), "\"Alice\" <sip:alice@192.0.2.10>");
    assert_eq!(d.remote_target(), "sip:alice@192.0.2.10:5062");
    assert_eq!(
        d.routes().collect::<Vec<_>>(),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(d.next_hop(), "sip:p1.example.com;lr");
    assert_eq!((d.local_seq(), d.remote_seq()), (None, Some(314159)));
    assert!(!d.is_confirmed());
    // The caller's in-dialog requests find it.
    let bye = wire(
        "BYE sip:sipmap@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKb\n\
         From: \"Alice\" <sip:alice@192.0.2.10>;tag=1928301774\n\
         To: <sip:+15551234567@acme.sip.example.com>;tag=t1\n\
         Call-ID: a84b4c76e66710@192.0.2.10\nCSeq: 314160 BYE\n\n",
    );
    assert_eq!(DialogKey::incoming(&parse(&bye)), Some(d.key()));
    // Without a To tag a request belongs to no dialog.
    assert_eq!(DialogKey::incoming(&parse(&invite())), None);
}

/// §12.1.1: the UAS's responses that make the dialog carry its tag, the Record-Route values in
/// order and a Contact; once the 2xx is out, responses to later INVITEs carry no Record-Route.
#[test]
fn responses_from_a_uas_dialog_carry_tag_record_route_and_contact() {
    let (mut ist, _) = ist();
    let mut d = uas();
    let ringing = d.invite_response(&ist, local(), &Reply::new(180)).unwrap();
    round_trips(&ringing);
    assert_eq!(
        header_of(&ringing, "To").unwrap(),
        "<sip:+15551234567@acme.sip.example.com>;tag=t1"
    );
    assert_eq!(
        headers_of(&ringing, "Record-Route"),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(
        header_of(&ringing, "Contact").unwrap(),
        "<sip:sipmap@192.0.2.1:5060>"
    );
    ist.respond(ringing, Millis(0));
    let sdp: &[u8] = b"v=0\r\n";
    let headers = [("Content-Type", "application/sdp")];
    let reply = Reply::new(200).headers(&headers).body(sdp);
    let ok = d.invite_response(&ist, local(), &reply).unwrap();
    round_trips(&ok);
    assert!(d.is_confirmed());
    let m = parse(&ok);
    assert_eq!(m.header("Content-Type"), Some("application/sdp"));
    assert_eq!(m.body, sdp);
    assert_eq!(m.headers_named("Record-Route").count(), 2);
    // A 486 gets neither Contact nor (the dialog being confirmed) Record-Route.
    let busy = d.invite_response(&ist, local(), &Reply::new(486)).unwrap();
    assert_eq!(header_of(&busy, "Contact"), None);
    assert_eq!(header_of(&busy, "Record-Route"), None);
}

/// §12.2.1.1: a BYE from the UAS: Request-URI the remote target, Route the route set, From and
/// To swapped with the dialog's tags, a new CSeq counted from 1, sipmap's Via.
#[test]
fn a_bye_from_a_uas_dialog_is_addressed_by_the_dialog() {
    let mut d = uas();
    let bye = d
        .request("BYE", local(), "z9hG4bK-sm-c-1", &[], b"")
        .unwrap();
    round_trips(&bye);
    assert_eq!(first_line(&bye), "BYE sip:alice@192.0.2.10:5062 SIP/2.0");
    let m = parse(&bye);
    assert_eq!(
        m.header("Via"),
        Some("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-1;rport")
    );
    assert_eq!(
        m.header("From"),
        Some("<sip:+15551234567@acme.sip.example.com>;tag=t1")
    );
    assert_eq!(
        m.header("To"),
        Some("\"Alice\" <sip:alice@192.0.2.10>;tag=1928301774")
    );
    assert_eq!(m.header("Call-ID"), Some("a84b4c76e66710@192.0.2.10"));
    assert_eq!(m.header("CSeq"), Some("1 BYE"));
    assert_eq!(m.header("Max-Forwards"), Some("70"));
    assert_eq!(
        headers_of(&bye, "Route"),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(m.header("Contact"), None);
    let reinvite = d
        .request("INVITE", local(), "z9hG4bK-sm-c-2", &[], b"v=0\r\n")
        .unwrap();
    assert_eq!(header_of(&reinvite, "CSeq").unwrap(), "2 INVITE");
    assert_eq!(
        header_of(&reinvite, "Contact").unwrap(),
        "<sip:sipmap@192.0.2.1:5060>"
    );
    assert_eq!(d.local_seq(), Some(2));
    // ACK and CANCEL are not written this way.
    assert!(d.request("ACK", local(), "b", &[], b"").is_none());
    assert!(d.request("CANCEL", local(), "b", &[], b"").is_none());
}

/// sipmap's INVITE to the callee, written by the UAC builder, and a response to it.
fn leg() -> (bytes::Bytes, Ids) {
    let ids = Ids {
        call_id: "leg2".into(),
        tag: "ours".into(),
        branch: "z9hG4bK-sm-c-0123".into(),
    };
    let invite = crate::sip::ua::NewInvite {
        target: "sip:bob@192.0.2.7:5070",
        from_user: "alice",
        from_host: "acme.sip.example.com",
        display_name: None,
        local: local(),
        body: None,
        headers: &[],
    }
    .build(&ids)
    .unwrap();
    (invite.bytes, ids)
}

fn callee(code: u16, contact: &str, record_route: &str) -> Vec<u8> {
    wire(&format!(
        "SIP/2.0 {code} X\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123;rport=5060\n\
         Record-Route: {record_route}\n\
         From: <sip:alice@acme.sip.example.com>;tag=ours\n\
         To: <sip:bob@192.0.2.7:5070>;tag=b1\n\
         Call-ID: leg2\n\
         CSeq: 1 INVITE\n\
         Contact: {contact}\n\n"
    ))
}

/// §12.1.2: a UAC dialog from a 2xx: route set in reverse, remote target from Contact, local
/// CSeq from the INVITE. Its ACK keeps the INVITE's CSeq; its BYE takes the next one.
#[test]
fn a_uac_dialog_takes_its_state_from_the_2xx_and_acks_it() {
    let (invite, ids) = leg();
    let ok = callee(
        200,
        "<sip:bob@192.0.2.8:5080>",
        "<sip:a.example.com;lr>, <sip:b.example.com;lr>",
    );
    let mut d = Dialog::uac(&parse(&invite), &parse(&ok), udp()).unwrap();
    assert!(d.is_confirmed());
    assert_eq!(DialogKey::of_response(&parse(&ok)), Some(d.key()));
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.8:5080");
    assert_eq!(
        d.routes().collect::<Vec<_>>(),
        ["<sip:b.example.com;lr>", "<sip:a.example.com;lr>"]
    );
    assert_eq!((d.local_seq(), d.remote_seq()), (Some(1), None));
    let ack = d.ack(1, local(), &Ids::ack_branch(&ids.branch), &[], b"");
    round_trips(&ack);
    assert_eq!(first_line(&ack), "ACK sip:bob@192.0.2.8:5080 SIP/2.0");
    assert_eq!(header_of(&ack, "CSeq").unwrap(), "1 ACK");
    assert_eq!(
        header_of(&ack, "Via").unwrap(),
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123-ack;rport"
    );
    assert_eq!(
        header_of(&ack, "From").unwrap(),
        "<sip:alice@acme.sip.example.com>;tag=ours"
    );
    assert_eq!(
        header_of(&ack, "To").unwrap(),
        "<sip:bob@192.0.2.7:5070>;tag=b1"
    );
    // The same ACK for a retransmitted 2xx.
    assert_eq!(
        d.ack(1, local(), &Ids::ack_branch(&ids.branch), &[], b""),
        ack
    );
    let bye = d
        .request("BYE", local(), "z9hG4bK-sm-c-9", &[], b"")
        .unwrap();
    assert_eq!(header_of(&bye, "CSeq").unwrap(), "2 BYE");
    assert_eq!(
        headers_of(&bye, "Route"),
        ["<sip:b.example.com;lr>", "<sip:a.example.com;lr>"]
    );
}

/// An early dialog from a 180 with a To tag; the 2xx confirms it and takes the route set and
/// remote target again.
#[test]
fn an_early_dialog_is_confirmed_by_the_2xx() {
    let (invite, _) = leg();
    let ringing = callee(180, "<sip:bob@10.9.9.9>", "<sip:early.example.com;lr>");
    let mut d = Dialog::uac(&parse(&invite), &parse(&ringing), udp()).unwrap();
    assert!(!d.is_confirmed());
    assert_eq!(d.remote_target(), "sip:bob@10.9.9.9");
    let ok = callee(200, "<sip:bob@192.0.2.8>", "<sip:late.example.com;lr>");
    d.confirm(&parse(&ok)).unwrap();
    assert!(d.is_confirmed());
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.8");
    assert_eq!(
        d.routes().collect::<Vec<_>>(),
        ["<sip:late.example.com;lr>"]
    );
    // Confirmed is final: a later 2xx changes nothing.
    let other = callee(200, "<sip:bob@192.0.2.99>", "<sip:x.example.com;lr>");
    d.confirm(&parse(&other)).unwrap();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.8");
    // A provisional response without a To tag or Contact: no dialog, or the Request-URI.
    let untagged = String::from_utf8(ringing.clone())
        .unwrap()
        .replace(";tag=b1", "");
    assert_eq!(
        Dialog::uac(&parse(&invite), &parse(untagged.as_bytes()), udp()).unwrap_err(),
        DialogError::NotInitial
    );
    let no_contact = String::from_utf8(ringing)
        .unwrap()
        .replace("Contact: <sip:bob@10.9.9.9>\r\n", "");
    let d = Dialog::uac(&parse(&invite), &parse(no_contact.as_bytes()), udp()).unwrap();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.7:5070");
    // A 2xx without a Contact makes no dialog.
    let ok_no_contact = String::from_utf8(ok)
        .unwrap()
        .replace("Contact: <sip:bob@192.0.2.8>\r\n", "");
    assert_eq!(
        Dialog::uac(&parse(&invite), &parse(ok_no_contact.as_bytes()), udp()).unwrap_err(),
        DialogError::Header("Contact")
    );
}

/// §12.2.1.1: a route set whose first element is a strict router: it becomes the Request-URI
/// and the remote target goes last in the Route.
#[test]
fn a_strict_router_takes_the_request_uri() {
    let (invite, _) = leg();
    // Reversed by the UAC: the first is strict.hop.
    let ok = callee(
        200,
        "<sip:bob@192.0.2.8>",
        "<sip:loose.example.com;lr>, <sip:strict.example.com>",
    );
    let mut d = Dialog::uac(&parse(&invite), &parse(&ok), udp()).unwrap();
    let bye = d
        .request("BYE", local(), "z9hG4bK-sm-c-3", &[], b"")
        .unwrap();
    assert_eq!(first_line(&bye), "BYE sip:strict.example.com SIP/2.0");
    assert_eq!(
        headers_of(&bye, "Route"),
        ["<sip:loose.example.com;lr>", "<sip:bob@192.0.2.8>"]
    );
    assert_eq!(d.next_hop(), "sip:strict.example.com");
}

/// §12.2.2: a CSeq lower than the last one received gets 500; a higher one is taken.
#[test]
fn requests_with_an_old_cseq_get_500() {
    let mut d = uas();
    let request = |method: &str, cseq: &str| {
        wire(&format!(
            "{method} sip:sipmap@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK{cseq}\n\
             From: <sip:alice@192.0.2.10>;tag=1928301774\nTo: <sip:x@y>;tag=t1\n\
             Call-ID: a84b4c76e66710@192.0.2.10\nCSeq: {cseq} {method}\n\n"
        ))
    };
    assert_eq!(d.check_request(&parse(&request("BYE", "314158"))), Err(500));
    assert_eq!(d.remote_seq(), Some(314159));
    assert_eq!(d.check_request(&parse(&request("INFO", "314159"))), Ok(()));
    assert_eq!(
        d.check_request(&parse(&request("INVITE", "314200"))),
        Ok(())
    );
    assert_eq!(d.remote_seq(), Some(314200));
    // ACK and CANCEL repeat their INVITE's CSeq: not checked.
    assert_eq!(d.check_request(&parse(&request("ACK", "314159"))), Ok(()));
    assert_eq!(d.check_request(&parse(&request("BYE", "x"))), Err(400));
    assert_eq!(d.check_request(&parse(&request("BYE", "314199"))), Err(500));
}

/// §12.2.2: a request with a To tag that names no dialog gets 481; an ACK gets nothing.
#[test]
fn requests_for_unknown_dialogs_get_481() {
    let bye = wire(
        "BYE sip:sipmap@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKb;rport\n\
         From: <sip:alice@192.0.2.10>;tag=1\nTo: <sip:x@y>;tag=nobody\nCall-ID: gone\nCSeq: 2 BYE\n\n",
    );
    let m = parse(&bye);
    let known = uas().key();
    assert_ne!(DialogKey::incoming(&m), Some(known));
    let answer = unknown_dialog(&m, addr(CALLER)).unwrap();
    round_trips(&answer);
    assert_eq!(
        first_line(&answer),
        "SIP/2.0 481 Call/Transaction Does Not Exist"
    );
    assert_eq!(header_of(&answer, "To").unwrap(), "<sip:x@y>;tag=nobody");
    assert_eq!(
        header_of(&answer, "Via").unwrap(),
        "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKb;received=192.0.2.10;rport=5062"
    );
    let ack = String::from_utf8(bye).unwrap().replace("BYE", "ACK");
    assert!(unknown_dialog(&parse(ack.as_bytes()), addr(CALLER)).is_none());
}

#[test]
fn messages_that_cannot_make_a_dialog_are_refused() {
    let base = String::from_utf8(invite()).unwrap();
    let flow = udp();
    let cases = [
        (
            base.replace("Contact: <sip:alice@192.0.2.10:5062>\r\n", ""),
            DialogError::Header("Contact"),
        ),
        (
            base.replace("Contact: <sip:alice@192.0.2.10:5062>", "Contact: *"),
            DialogError::Header("Contact"),
        ),
        (
            base.replace(
                "To: <sip:+15551234567@acme.sip.example.com>",
                "To: <sip:x@y>;tag=z",
            ),
            DialogError::NotInitial,
        ),
        (
            base.replace("CSeq: 314159 INVITE", "CSeq: x INVITE"),
            DialogError::Header("CSeq"),
        ),
        (
            base.replace(
                "Record-Route: <sip:p1.example.com;lr>",
                "Record-Route: <tel:1>",
            ),
            DialogError::Header("Record-Route"),
        ),
    ];
    for (text, error) in cases {
        assert_eq!(
            Dialog::uas(&parse(text.as_bytes()), "t", flow).unwrap_err(),
            error,
            "{text}"
        );
        assert_eq!(error.status(), 400);
    }
    // The INVITE client's 100 makes no dialog.
    let (invite, _) = leg();
    let trying = callee(100, "<sip:bob@192.0.2.8>", "<sip:a.example.com;lr>");
    assert_eq!(
        Dialog::uac(&parse(&invite), &parse(&trying), flow).unwrap_err(),
        DialogError::NotInitial
    );
}

/// A target refresh: the re-INVITE's Contact becomes the remote target.
#[test]
fn a_target_refresh_replaces_the_remote_target() {
    let mut d = uas();
    let reinvite = wire(
        "INVITE sip:sipmap@192.0.2.1 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKr\n\
         From: <sip:alice@192.0.2.10>;tag=1928301774\nTo: <sip:x@y>;tag=t1\nCall-ID: c\n\
         CSeq: 314160 INVITE\nContact: <sip:alice@198.51.100.4:6000;transport=tcp>\n\n",
    );
    d.refresh_target(&parse(&reinvite));
    assert_eq!(
        d.remote_target(),
        "sip:alice@198.51.100.4:6000;transport=tcp"
    );
    assert_eq!(d.call_id(), "a84b4c76e66710@192.0.2.10");
    // The dialog's INVITE client for a re-INVITE works like any other.
    let bytes = d
        .request("INVITE", local(), "z9hG4bK-sm-c-r", &[], b"")
        .unwrap();
    let (txn, _) = InviteClient::start(bytes, d.flow(), Timers::default(), Millis(0));
    assert_eq!(
        first_line(txn.request()),
        "INVITE sip:alice@198.51.100.4:6000;transport=tcp SIP/2.0"
    );
}
