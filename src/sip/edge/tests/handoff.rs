//! The hand-off to the call runtime ([`CallHandoff`]): an admitted INVITE without To tag for a
//! domain with a voice application becomes [`Action::Call`]; other requests, domains without
//! one, and an edge without a hook forward as before; while a call is live, messages it takes
//! go no further.

use std::sync::Mutex;

use super::*;
use crate::domain::VoiceApp;

/// A hook that takes messages whose Call-ID is `taken`, and remembers the calls it is given.
#[derive(Debug, Default)]
struct Hook {
    live: bool,
    taken: &'static str,
    offered: Mutex<Vec<String>>,
}

impl CallHandoff for Hook {
    fn live(&self) -> bool {
        self.live
    }

    fn offer(&self, msg: &Message<'_>, _: &[u8], _: SocketAddr, _: Transport) -> bool {
        let call_id = msg.header("Call-ID").unwrap_or("").to_owned();
        let took = call_id == self.taken;
        self.offered.lock().unwrap().push(call_id);
        took
    }

    fn start(&self, _: &NewCall) -> Result<(), Refused> {
        Err(Refused {
            code: 503,
            retry_after: Some(5),
        })
    }
}

/// The edge of `edge_with_table`, its domain with a `VoiceUrl` when `voice`, and `hook` given.
fn edge_with(voice: bool, hook: Option<Arc<Hook>>) -> Edge {
    let (edge, table) = edge_with_table(true);
    if voice {
        let app = VoiceApp::of(
            (Some("https://app.example.com/voice"), "POST"),
            (None, "POST"),
            (None, "POST"),
        );
        table.apply(&[Change::DomainSet(Target {
            voice: app.map(Arc::new),
            ..target()
        })]);
    }
    match hook {
        Some(h) => edge.with_calls(h),
        None => edge,
    }
}

#[test]
fn an_invite_to_a_domain_with_a_voice_url_is_handed_off_with_what_the_call_needs() {
    let hook = Arc::new(Hook::default());
    let e = edge_with(true, Some(hook.clone()));
    let invite = request("INVITE", "sip:bob@acme.sip.twilio.com", "");
    match e.handle(&invite, from("10.1.2.3"), Transport::Tcp(7)) {
        Action::Call(call) => {
            assert_eq!(call.invite, invite);
            assert_eq!(call.source, from("10.1.2.3"));
            assert_eq!(call.transport, Transport::Tcp(7));
            assert_eq!(call.local, EDGE.parse().unwrap());
            assert_eq!(call.sip_username, None, "let in by an access control list");
            assert!(call.target.voice.is_some());
        }
        other => panic!("not handed off: {other:?}"),
    }
    // No call live: nothing was offered.
    assert!(hook.offered.lock().unwrap().is_empty());
}

#[test]
fn other_requests_domains_without_a_voice_url_and_an_edge_without_a_hook_forward() {
    let forwarded =
        |a: Action| matches!(a, Action::Send { to, .. } if to == UPSTREAM.parse().unwrap());
    let invite = request("INVITE", "sip:bob@acme.sip.twilio.com", "");
    let hook = Arc::new(Hook::default());
    assert!(forwarded(edge_with(false, Some(hook)).handle(
        &invite,
        from("10.1.2.3"),
        Transport::Udp
    )));
    assert!(forwarded(edge_with(true, None).handle(
        &invite,
        from("10.1.2.3"),
        Transport::Udp
    )));
    let e = edge_with(true, Some(Arc::new(Hook::default())));
    let in_dialog = String::from_utf8(invite.clone()).unwrap().replacen(
        "To: <sip:bob@acme.sip.twilio.com>",
        "To: <sip:bob@acme.sip.twilio.com>;tag=x",
        1,
    );
    assert!(in_dialog.contains(";tag=x"), "{in_dialog}");
    assert!(
        forwarded(e.handle(in_dialog.as_bytes(), from("10.1.2.3"), Transport::Udp)),
        "{in_dialog}"
    );
    let bye = request("BYE", "sip:bob@acme.sip.twilio.com", "");
    assert!(forwarded(e.handle(&bye, from("10.1.2.3"), Transport::Udp)));
}

#[test]
fn while_a_call_is_live_its_messages_are_taken_and_others_go_on() {
    let hook = Arc::new(Hook {
        live: true,
        taken: "mine",
        ..Hook::default()
    });
    let e = edge_with(false, Some(hook.clone()));
    let ours = String::from_utf8(request("BYE", "sip:bob@acme.sip.twilio.com", ""))
        .unwrap()
        .replacen("Call-ID: c1@10.1.2.3", "Call-ID: mine", 1);
    assert!(ours.contains("Call-ID: mine"), "{ours}");
    assert_eq!(
        e.handle(ours.as_bytes(), from("10.1.2.3"), Transport::Udp),
        Action::Drop
    );
    let other = request("BYE", "sip:bob@acme.sip.twilio.com", "");
    assert!(matches!(
        e.handle(&other, from("10.1.2.3"), Transport::Udp),
        Action::Send { .. }
    ));
    assert_eq!(hook.offered.lock().unwrap().len(), 2);
}

#[test]
fn a_refused_call_is_answered_by_the_edge_and_the_ack_of_that_answer_is_dropped() {
    let hook = Arc::new(Hook::default());
    let e = edge_with(true, Some(hook.clone()));
    let invite = request("INVITE", "sip:bob@acme.sip.twilio.com", "");
    let Action::Call(call) = e.handle(&invite, from("10.1.2.3"), Transport::Udp) else {
        panic!("not handed off");
    };
    let refused = hook.start(&call).unwrap_err();
    let (to, text) = send(e.answer_call(&call, refused));
    assert_eq!(to, from("10.1.2.3"));
    assert!(text.starts_with("SIP/2.0 503"), "{text}");
    assert!(text.contains("Retry-After: 5\r\n"), "{text}");
    let to_header = text
        .split("\r\n")
        .find(|l| l.starts_with("To: "))
        .unwrap()
        .to_owned();
    let ack = String::from_utf8(request("ACK", "sip:bob@acme.sip.twilio.com", ""))
        .unwrap()
        .replacen("To: <sip:bob@acme.sip.twilio.com>", &to_header, 1);
    assert!(ack.contains(";tag="), "{ack}");
    assert_eq!(
        e.handle(ack.as_bytes(), from("10.1.2.3"), Transport::Udp),
        Action::Drop
    );
}
