//! `<Dial>` as a back-to-back user agent: the child call, relayed responses, the bridge, both
//! hang-ups, busy, timeout, digest, BYOC routes, re-INVITEs, `timeLimit`, the action and the
//! child's status callback events.

use super::*;
use crate::recognition::Destination;
use crate::sip_syntax::Wire;

/// A call whose document dials `dial` (a `<Dial>` element), with the child's INVITE.
pub(in crate::calls) struct Dialled {
    pub call: Call,
    pub invite: Bytes,
    pub out: Vec<Out>,
}

pub(in crate::calls) fn dialled(dial: &str) -> Dialled {
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let twiml = format!("<Response>{dial}</Response>");
    let out = reply(&mut call, id, &req.url, &twiml, at(100));
    let invite = messages(&out)
        .into_iter()
        .find(|b| first_line(b).starts_with("INVITE "))
        .unwrap_or_default();
    Dialled { call, invite, out }
}

const SIP_DIAL: &str = r#"<Dial action="/after" timeout="20"><Sip statusCallback="/child" statusCallbackEvent="initiated ringing answered completed">sip:bob@192.0.2.7:5070?X-Room=7</Sip></Dial>"#;

impl Dialled {
    /// The callee's response `code` to the child's INVITE.
    pub fn callee(&mut self, code: u16, body: &str, extra: &str, ms: u64) -> Vec<Out> {
        let resp = callee_response(&self.invite, code, body, extra);
        self.call
            .on_message(&resp, addr(CALLEE), Transport::Udp, at(ms))
    }

    /// The callee answers and the caller ACKs: the bridge.
    pub fn bridge(&mut self) -> Vec<Out> {
        self.bridge_with("")
    }

    /// The same, the callee's 200 carrying `extra` headers.
    pub fn bridge_with(&mut self, extra: &str) -> Vec<Out> {
        let mut out = self.callee(200, CALLEE_SDP, extra, 1_000);
        let ok = sent_one(&out, "SIP/2.0 200");
        let tag = header_of(&ok, "To").unwrap();
        let tag = tag.split(";tag=").nth(1).unwrap().to_owned();
        let ack = in_dialog("ACK", 314159, &tag, "");
        out.extend(
            self.call
                .on_message(&ack, addr(CALLER), Transport::Udp, at(1_100)),
        );
        out
    }

    /// sipmap's tag in the caller's dialog.
    pub fn caller_tag(&self) -> String {
        self.call.caller.dialog.local_tag().to_owned()
    }

    pub fn child_sid(&self) -> crate::sid::CallSid {
        self.call.child_record().unwrap().sid.clone()
    }
}

#[test]
fn dial_sip_sends_the_child_invite_with_the_callers_sdp() {
    let d = dialled(SIP_DIAL);
    let inv = parse(&d.invite);
    assert_eq!(inv.uri(), Some("sip:bob@192.0.2.7:5070"));
    assert_eq!(inv.body, SDP.replace('\n', "\r\n").as_bytes());
    assert_eq!(inv.header("X-Room"), Some("7"));
    assert!(
        inv.header("From")
            .unwrap()
            .starts_with("<sip:alice@acme.sip.example.com>;tag=")
    );
    let via = inv.header("Via").unwrap();
    assert!(via.contains("branch=z9hG4bK-sm-c-"), "{via}");
    assert_ne!(inv.header("Call-ID"), Some("a84b4c76e66710@192.0.2.10"));
    let child = d.call.child_record().unwrap();
    assert!(child.sid.as_str().starts_with("CA"));
    assert_ne!(&child.sid, d.call.sid());
    assert_eq!(child.parent_call_sid.as_ref(), Some(d.call.sid()));
    assert_eq!(
        child.direction,
        crate::domain::call::Direction::OutboundDial
    );
    assert_eq!(child.status, CallStatus::Queued);
    // Its leg is registered for the edge, its ring timer armed, its initiated event sent.
    let key = RouteKey::of(&inv);
    assert!(d.out.contains(&Out::Register(key[0].clone())));
    assert!(timers(&d.out).contains(&(CallTimer::DialTimeout(child_dial(&d)), at(100 + 20_000))));
    let cbs = callbacks(&d.out);
    assert_eq!(param(&cbs[0].1, "CallStatus"), Some("initiated"));
    assert_eq!(
        param(&cbs[0].1, "ParentCallSid"),
        Some(d.call.sid().as_str())
    );
    assert_eq!(cbs[0].0, child.sid);
}

fn child_dial(d: &Dialled) -> u32 {
    d.call.child.as_ref().unwrap().dial
}

#[test]
fn the_bridge_relays_early_media_answers_with_the_callees_sdp_and_acks_both() {
    let mut d = dialled(SIP_DIAL);
    let out = d.callee(180, "", "", 300);
    assert_eq!(sent(&out), ["SIP/2.0 180 Ringing"]);
    assert_eq!(statuses(&out, &d.child_sid()), [CallStatus::Ringing]);
    let out = d.callee(183, CALLEE_SDP, "", 400);
    let early = sent_one(&out, "SIP/2.0 183");
    assert_eq!(
        parse(&early).body,
        CALLEE_SDP.replace('\n', "\r\n").as_bytes()
    );
    let out = d.callee(200, CALLEE_SDP, "", 1_000);
    assert_eq!(
        sent(&out),
        ["ACK sip:bob@192.0.2.7:5070 SIP/2.0", "SIP/2.0 200 OK"]
    );
    let ok = sent_one(&out, "SIP/2.0 200");
    assert_eq!(parse(&ok).body, CALLEE_SDP.replace('\n', "\r\n").as_bytes());
    assert_eq!(statuses(&out, &d.child_sid()), [CallStatus::InProgress]);
    assert_eq!(statuses(&out, d.call.sid()), [CallStatus::InProgress]);
    let events: Vec<_> = callbacks(&out)
        .iter()
        .map(|(_, p)| param(p, "CallStatus").unwrap().to_owned())
        .collect();
    assert_eq!(events, ["in-progress"]);
    // The callee resends its 200: ACKed again, the caller not answered twice.
    let again = d.callee(200, CALLEE_SDP, "", 1_500);
    assert_eq!(sent(&again), ["ACK sip:bob@192.0.2.7:5070 SIP/2.0"]);
    // The 200 to the caller is resent until its ACK.
    let resent = run_timers(&mut d.call, &out, at(1_000 + 500));
    assert!(
        sent(&resent).contains(&"SIP/2.0 200 OK".to_owned()),
        "{resent:#?}"
    );
    let ack = in_dialog("ACK", 314159, &d.caller_tag(), "");
    let acked = d
        .call
        .on_message(&ack, addr(CALLER), Transport::Udp, at(1_600));
    assert!(sent(&acked).is_empty());
    let later = run_timers(&mut d.call, &out, at(1_000 + 8_000));
    assert!(
        !sent(&later).contains(&"SIP/2.0 200 OK".to_owned()),
        "{later:#?}"
    );
}

#[test]
fn the_callee_hangs_up_and_the_action_continues_the_call() {
    let mut d = dialled(SIP_DIAL);
    d.bridge_with("X-Agent: 7\n");
    let bye = wire(&format!(
        "BYE sip:sipmap@192.0.2.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bKbye1\n\
         From: <sip:bob@192.0.2.7:5070>;tag=bob1\nTo: {}\nCall-ID: {}\nCSeq: 7 BYE\n\n",
        parse(&d.invite).header("From").unwrap(),
        parse(&d.invite).header("Call-ID").unwrap(),
    ));
    let out = d
        .call
        .on_message(&bye, addr(CALLEE), Transport::Udp, at(61_000));
    assert_eq!(sent(&out), ["SIP/2.0 200 OK"]);
    assert_eq!(statuses(&out, &d.child_sid()), [CallStatus::Completed]);
    let (id, action) = webhook(&out);
    assert_eq!(action.url.as_str(), "https://app.example.com/after");
    let p = &action.params;
    assert_eq!(param(p, "DialCallStatus"), Some("completed"));
    assert_eq!(param(p, "DialCallSid"), Some(d.child_sid().as_str()));
    assert_eq!(param(p, "DialCallDuration"), Some("60"));
    assert_eq!(
        param(p, "DialSipCallId"),
        parse(&d.invite).header("Call-ID")
    );
    assert_eq!(param(p, "DialSipResponseCode"), Some("200"));
    assert_eq!(param(p, "DialSipHeader_X-Agent"), Some("7"));
    assert_eq!(param(p, "CallStatus"), Some("in-progress"));
    let out = reply(
        &mut d.call,
        id,
        &action.url,
        "<Response><Hangup/></Response>",
        at(61_100),
    );
    assert_eq!(sent(&out), ["BYE sip:alice@192.0.2.10:5062 SIP/2.0"]);
    assert_eq!(statuses(&out, d.call.sid()), [CallStatus::Completed]);
    assert_eq!(d.call.record().duration_secs(), Some(60));
    let (_, end) = callbacks(&out).into_iter().next().unwrap();
    assert_eq!(param(&end, "CallDuration"), Some("60"));
}

#[test]
fn the_caller_hangs_up_and_the_callee_gets_a_bye() {
    let mut d = dialled(SIP_DIAL);
    let mut all = d.out.clone();
    all.extend(d.bridge());
    let bye = in_dialog("BYE", 314160, &d.caller_tag(), "");
    let out = d
        .call
        .on_message(&bye, addr(CALLER), Transport::Udp, at(5_000));
    assert_eq!(
        sent(&out),
        ["SIP/2.0 200 OK", "BYE sip:bob@192.0.2.7:5070 SIP/2.0"]
    );
    assert_eq!(statuses(&out, &d.child_sid()), [CallStatus::Completed]);
    assert_eq!(statuses(&out, d.call.sid()), [CallStatus::Completed]);
    // The action is still requested; its document is not run.
    let (id, action) = webhook(&out);
    assert_eq!(param(&action.params, "DialCallStatus"), Some("completed"));
    let out2 = reply(
        &mut d.call,
        id,
        &action.url,
        "<Response><Hangup/></Response>",
        at(5_100),
    );
    assert!(sent(&out2).is_empty());
    assert!(!out2.contains(&Out::Ended));
    // The callee's 200 to the BYE, then the transactions end and so does the call.
    let their_bye = sent_one(&out, "BYE ");
    let ok = callee_response(&their_bye, 200, "", "");
    all.extend(out.clone());
    all.extend(out2);
    all.extend(
        d.call
            .on_message(&ok, addr(CALLEE), Transport::Udp, at(5_200)),
    );
    let rest = run_timers(&mut d.call, &all, at(200_000));
    assert!(rest.contains(&Out::Ended), "{rest:#?}");
}

#[test]
fn a_busy_callee_goes_to_the_action_whose_reject_reaches_the_caller() {
    let mut d = dialled(SIP_DIAL);
    let out = d.callee(486, "", "X-Reason: in a meeting\n", 500);
    assert_eq!(sent(&out), ["ACK sip:bob@192.0.2.7:5070 SIP/2.0"]);
    assert_eq!(statuses(&out, &d.child_sid()), [CallStatus::Busy]);
    let (id, action) = webhook(&out);
    let p = &action.params;
    assert_eq!(param(p, "DialCallStatus"), Some("busy"));
    assert_eq!(param(p, "DialSipResponseCode"), Some("486"));
    assert_eq!(param(p, "DialSipHeader_X-Reason"), Some("in a meeting"));
    assert_eq!(param(p, "CallStatus"), Some("ringing"));
    let out = reply(
        &mut d.call,
        id,
        &action.url,
        r#"<Response><Reject reason="busy"/></Response>"#,
        at(600),
    );
    assert_eq!(sent(&out), ["SIP/2.0 486 Busy Here"]);
    assert_eq!(d.call.record().status, CallStatus::Busy);
}

#[test]
fn other_failures_are_failed_with_the_sip_code() {
    let mut d = dialled(SIP_DIAL);
    let out = d.callee(404, "", "", 500);
    let (_, action) = webhook(&out);
    assert_eq!(param(&action.params, "DialCallStatus"), Some("failed"));
    assert_eq!(param(&action.params, "DialSipResponseCode"), Some("404"));
}

#[test]
fn a_callee_ringing_past_the_timeout_is_cancelled_as_no_answer() {
    let mut d = dialled(r#"<Dial timeout="5"><Sip>sip:bob@192.0.2.7:5070</Sip></Dial>"#);
    d.callee(180, "", "", 300);
    let timeout = CallTimer::DialTimeout(child_dial(&d));
    let out = d.call.on_timer(timeout, at(5_100));
    assert_eq!(
        sent(&out),
        [
            "CANCEL sip:bob@192.0.2.7:5070 SIP/2.0",
            "SIP/2.0 603 Decline"
        ]
    );
    assert_eq!(statuses(&out, &d.child_sid()), [CallStatus::NoAnswer]);
    // Without action the document goes on: nothing is left, so the call ends.
    assert_eq!(d.call.record().status, CallStatus::Completed);
    let out = d.callee(487, "", "", 5_200);
    assert_eq!(sent(&out), ["ACK sip:bob@192.0.2.7:5070 SIP/2.0"]);
}

#[test]
fn a_timeout_before_any_provisional_cancels_at_the_first_one() {
    let mut d =
        dialled(r#"<Dial timeout="5" action="/after"><Sip>sip:bob@192.0.2.7:5070</Sip></Dial>"#);
    let out = d
        .call
        .on_timer(CallTimer::DialTimeout(child_dial(&d)), at(5_100));
    assert!(sent(&out).iter().all(|l| !l.starts_with("CANCEL")));
    let (_, action) = webhook(&out);
    assert_eq!(param(&action.params, "DialCallStatus"), Some("no-answer"));
    let out = d.callee(180, "", "", 5_200);
    assert_eq!(sent(&out), ["CANCEL sip:bob@192.0.2.7:5070 SIP/2.0"]);
}

#[test]
fn a_callee_answering_after_the_timeout_gets_ack_and_bye() {
    let mut d =
        dialled(r#"<Dial timeout="5" action="/after"><Sip>sip:bob@192.0.2.7:5070</Sip></Dial>"#);
    d.callee(180, "", "", 300);
    d.call
        .on_timer(CallTimer::DialTimeout(child_dial(&d)), at(5_100));
    let out = d.callee(200, CALLEE_SDP, "", 5_150);
    assert_eq!(
        sent(&out),
        [
            "ACK sip:bob@192.0.2.7:5070 SIP/2.0",
            "BYE sip:bob@192.0.2.7:5070 SIP/2.0"
        ]
    );
}

#[test]
fn a_challenge_is_answered_with_the_sip_credentials_once() {
    let mut d = dialled(
        r#"<Dial><Sip username="bob" password="secret">sip:bob@192.0.2.7:5070</Sip></Dial>"#,
    );
    let challenge = r#"Proxy-Authenticate: Digest realm="pbx", nonce="abc", qop="auth", algorithm=MD5
"#;
    let out = d.callee(407, "", challenge, 300);
    let lines = sent(&out);
    assert_eq!(
        lines,
        [
            "ACK sip:bob@192.0.2.7:5070 SIP/2.0",
            "INVITE sip:bob@192.0.2.7:5070 SIP/2.0"
        ]
    );
    let retry = sent_one(&out, "INVITE ");
    let auth = header_of(&retry, "Proxy-Authorization").unwrap();
    assert!(
        auth.contains("username=\"bob\"") && auth.contains("realm=\"pbx\""),
        "{auth}"
    );
    assert_eq!(header_of(&retry, "CSeq").unwrap(), "2 INVITE");
    // A second challenge is a failure.
    d.invite = retry;
    let out = d.callee(407, "", challenge, 400);
    assert_eq!(statuses(&out, &d.child_sid()), [CallStatus::Failed]);
}

#[test]
fn number_byoc_is_routed_then_tried_in_order() {
    let trunk = crate::sid::ByocTrunkSid::generate();
    let mut d = dialled(&format!(
        r#"<Dial action="/after"><Number byoc="{trunk}">+14155550100</Number></Dial>"#
    ));
    let route = d.out.iter().find_map(|o| match o {
        Out::Route { id, request } => Some((*id, request.clone())),
        _ => None,
    });
    let (id, request) = route.expect("a route request");
    assert_eq!(
        request,
        RouteRequest::Byoc {
            trunk,
            number: "+14155550100".into()
        }
    );
    let first = Destination {
        addr: addr("192.0.2.20:5060"),
        wire: Wire::Udp,
    };
    let second = Destination {
        addr: addr("192.0.2.21:5080"),
        wire: Wire::Tcp,
    };
    let out = d.call.on_resolved(id, vec![first, second], at(200));
    assert_eq!(
        sent(&out),
        ["INVITE sip:+14155550100@192.0.2.20:5060 SIP/2.0"]
    );
    d.invite = sent_one(&out, "INVITE ");
    let out = d.callee(503, "", "", 300);
    let next = sent_one(&out, "INVITE ");
    assert_eq!(
        first_line(&next),
        "INVITE sip:+14155550100@192.0.2.21:5080;transport=tcp SIP/2.0"
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Out::Send {
            via: Transport::TcpOut,
            ..
        }
    )));
    d.invite = next;
    let out = d.callee(503, "", "", 400);
    let (_, action) = webhook(&out);
    assert_eq!(param(&action.params, "DialCallStatus"), Some("failed"));
    assert_eq!(param(&action.params, "DialSipResponseCode"), Some("503"));
}

#[test]
fn a_number_without_destinations_fails_the_dial() {
    let mut d = dialled(r#"<Dial action="/after"><Number>+14155550100</Number></Dial>"#);
    let id = d.out.iter().find_map(|o| match o {
        Out::Route {
            id,
            request: RouteRequest::Number { .. },
        } => Some(*id),
        _ => None,
    });
    let out = d.call.on_resolved(id.unwrap(), Vec::new(), at(200));
    let (_, action) = webhook(&out);
    assert_eq!(param(&action.params, "DialCallStatus"), Some("failed"));
}

#[test]
fn a_re_invite_is_relayed_between_the_legs() {
    let mut d = dialled(SIP_DIAL);
    d.bridge();
    let hold =
        "v=0\no=- 1 2 IN IP4 192.0.2.10\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 4000 RTP/AVP 0\n";
    let reinvite = in_dialog("INVITE", 314160, &d.caller_tag(), hold);
    let out = d
        .call
        .on_message(&reinvite, addr(CALLER), Transport::Udp, at(3_000));
    assert_eq!(
        sent(&out),
        [
            "SIP/2.0 100 Trying",
            "INVITE sip:bob@192.0.2.7:5070 SIP/2.0"
        ]
    );
    let theirs = sent_one(&out, "INVITE ");
    assert_eq!(parse(&theirs).body, hold.replace('\n', "\r\n").as_bytes());
    assert_eq!(header_of(&theirs, "CSeq").unwrap(), "2 INVITE");
    let ok = callee_response(&theirs, 200, CALLEE_SDP, "");
    let out = d
        .call
        .on_message(&ok, addr(CALLEE), Transport::Udp, at(3_100));
    assert_eq!(
        sent(&out),
        ["ACK sip:bob@192.0.2.7:5070 SIP/2.0", "SIP/2.0 200 OK"]
    );
    assert_eq!(header_of(&sent_one(&out, "ACK"), "CSeq").unwrap(), "2 ACK");
    let ack = in_dialog("ACK", 314160, &d.caller_tag(), "");
    let acked = d
        .call
        .on_message(&ack, addr(CALLER), Transport::Udp, at(3_200));
    assert!(sent(&acked).is_empty());
    // OPTIONS is answered here; INFO is not allowed.
    let options = in_dialog("OPTIONS", 314161, &d.caller_tag(), "");
    let out = d
        .call
        .on_message(&options, addr(CALLER), Transport::Udp, at(3_300));
    assert_eq!(sent(&out), ["SIP/2.0 200 OK"]);
    let info = in_dialog("INFO", 314162, &d.caller_tag(), "");
    let out = d
        .call
        .on_message(&info, addr(CALLER), Transport::Udp, at(3_400));
    assert_eq!(sent(&out), ["SIP/2.0 405 Method Not Allowed"]);
    // An old CSeq gets 500.
    let old = in_dialog("OPTIONS", 3, &d.caller_tag(), "");
    let out = d
        .call
        .on_message(&old, addr(CALLER), Transport::Udp, at(3_500));
    assert_eq!(sent(&out), ["SIP/2.0 500 Server Internal Error"]);
}

#[test]
fn the_time_limit_ends_the_bridge() {
    let mut d =
        dialled(r#"<Dial timeLimit="10" action="/after"><Sip>sip:bob@192.0.2.7:5070</Sip></Dial>"#);
    let out = d.bridge();
    let limit = timers(&out)
        .into_iter()
        .find(|(t, _)| matches!(t, CallTimer::TimeLimit(_)))
        .unwrap();
    assert_eq!(limit.1, at(1_000 + 10_000));
    let out = d.call.on_timer(limit.0, limit.1);
    assert_eq!(sent(&out), ["BYE sip:bob@192.0.2.7:5070 SIP/2.0"]);
    let (_, action) = webhook(&out);
    assert_eq!(param(&action.params, "DialCallStatus"), Some("completed"));
    assert_eq!(param(&action.params, "DialCallDuration"), Some("10"));
}

#[test]
fn cancel_while_dialling_cancels_the_child() {
    let mut d = dialled(SIP_DIAL);
    d.callee(180, "", "", 300);
    let cancel = sibling("CANCEL", "<sip:+15551234567@acme.sip.example.com>");
    let out = d
        .call
        .on_message(&cancel, addr(CALLER), Transport::Udp, at(400));
    assert_eq!(
        sent(&out),
        [
            "SIP/2.0 200 OK",
            "SIP/2.0 487 Request Terminated",
            "CANCEL sip:bob@192.0.2.7:5070 SIP/2.0"
        ]
    );
    assert_eq!(statuses(&out, &d.child_sid()), [CallStatus::Canceled]);
    assert_eq!(statuses(&out, d.call.sid()), [CallStatus::Canceled]);
    let (_, action) = webhook(&out);
    assert_eq!(param(&action.params, "DialCallStatus"), Some("canceled"));
}

#[test]
fn the_api_completes_a_bridged_call_on_both_legs() {
    let mut d = dialled(SIP_DIAL);
    d.bridge();
    let out = d.call.on_command(Command::Complete, at(2_000));
    assert_eq!(
        sent(&out),
        [
            "BYE sip:bob@192.0.2.7:5070 SIP/2.0",
            "BYE sip:alice@192.0.2.10:5062 SIP/2.0"
        ]
    );
    assert_eq!(statuses(&out, d.call.sid()), [CallStatus::Completed]);
}

#[test]
fn the_child_reports_the_events_it_asked_for_in_order() {
    let mut d = dialled(SIP_DIAL);
    let mut out = d.out.clone();
    out.extend(d.callee(180, "", "", 300));
    out.extend(d.bridge());
    let bye = in_dialog("BYE", 314160, &d.caller_tag(), "");
    out.extend(
        d.call
            .on_message(&bye, addr(CALLER), Transport::Udp, at(5_000)),
    );
    let child = d.child_sid();
    let events: Vec<(String, String)> = callbacks(&out)
        .into_iter()
        .filter(|(sid, _)| *sid == child)
        .map(|(_, p)| {
            (
                param(&p, "CallStatus").unwrap().to_owned(),
                param(&p, "SequenceNumber").unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("initiated", "0"),
        ("ringing", "1"),
        ("in-progress", "2"),
        ("completed", "3"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).into(), (*b).into()))
        .collect();
    assert_eq!(events, want);
}

#[test]
fn a_dial_without_a_party_fails_at_once() {
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let twiml = r#"<Response><Dial action="/after"><Client>bob</Client></Dial></Response>"#;
    let out = reply(&mut call, id, &req.url, twiml, at(100));
    let (_, action) = webhook(&out);
    assert_eq!(param(&action.params, "DialCallStatus"), Some("failed"));
    assert!(
        notifications(&out)
            .iter()
            .any(|(_, t)| t.contains("Client"))
    );
}

#[test]
fn a_caller_that_never_acks_the_answer_is_hung_up_on_both_legs() {
    let mut d = dialled(SIP_DIAL);
    let out = d.callee(200, CALLEE_SDP, "", 1_000);
    let rest = run_timers(&mut d.call, &out, at(1_000 + 32_000));
    let byes: Vec<String> = sent(&rest)
        .into_iter()
        .filter(|l| l.starts_with("BYE"))
        .collect();
    assert_eq!(
        byes,
        [
            "BYE sip:bob@192.0.2.7:5070 SIP/2.0",
            "BYE sip:alice@192.0.2.10:5062 SIP/2.0"
        ]
    );
    assert_eq!(d.call.record().status, CallStatus::Completed);
}

#[test]
fn caller_id_becomes_the_childs_from() {
    for (caller_id, user) in [
        ("+14155550100", "+14155550100"),
        ("sip:desk@pbx.example.com", "desk"),
    ] {
        let d = dialled(&format!(
            r#"<Dial callerId="{caller_id}"><Sip>sip:bob@192.0.2.7:5070</Sip></Dial>"#
        ));
        let from = header_of(&d.invite, "From").unwrap();
        assert!(
            from.starts_with(&format!("<sip:{user}@acme.sip.example.com>")),
            "{from}"
        );
        assert_eq!(d.call.child_record().unwrap().from, caller_id);
    }
}

#[test]
fn a_sip_host_name_is_resolved_first() {
    let mut d = dialled(r#"<Dial><Sip>sip:bob@pbx.example.com;transport=tcp</Sip></Dial>"#);
    let (id, request) = d
        .out
        .iter()
        .find_map(|o| match o {
            Out::Route { id, request } => Some((*id, request.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        request,
        RouteRequest::Host {
            host: "pbx.example.com".into(),
            port: 5060,
            wire: Wire::Tcp
        }
    );
    let dest = Destination {
        addr: addr("192.0.2.30:5060"),
        wire: Wire::Tcp,
    };
    let out = d.call.on_resolved(id, vec![dest], at(200));
    assert_eq!(
        sent(&out),
        ["INVITE sip:bob@pbx.example.com;transport=tcp SIP/2.0"]
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Out::Send { to, via: Transport::TcpOut, .. } if *to == addr("192.0.2.30:5060")
    )));
}

#[test]
fn cancel_through_the_api_leaves_an_answered_call_alone() {
    let mut d = dialled(SIP_DIAL);
    d.bridge();
    let out = d.call.on_command(Command::Cancel, at(2_000));
    assert!(out.is_empty(), "{out:#?}");
    assert_eq!(d.call.record().status, CallStatus::InProgress);
}

#[test]
fn the_timeout_cancels_the_invite_a_challenge_replaced() {
    let mut d = dialled(
        r#"<Dial timeout="5"><Sip username="bob" password="secret">sip:bob@192.0.2.7:5070</Sip></Dial>"#,
    );
    let challenge = "Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"abc\"\n";
    let out = d.callee(407, "", challenge, 300);
    d.invite = sent_one(&out, "INVITE ");
    d.callee(180, "", "", 400);
    let out = d
        .call
        .on_timer(CallTimer::DialTimeout(child_dial(&d)), at(5_100));
    let cancel = sent_one(&out, "CANCEL ");
    assert_eq!(header_of(&cancel, "CSeq").unwrap(), "2 CANCEL");
    assert_eq!(header_of(&cancel, "Via"), header_of(&d.invite, "Via"));
}

#[test]
fn a_delayed_offer_gets_its_answer_from_the_callers_ack() {
    let bytes = String::from_utf8(invite()).unwrap();
    let (head, _) = bytes.split_once("\r\n\r\n").unwrap();
    let head = head
        .replace("Content-Type: application/sdp\r\n", "")
        .replace(
            &format!("Content-Length: {}", SDP.replace('\n', "\r\n").len()),
            "Content-Length: 0",
        );
    let offerless = format!("{head}\r\n\r\n").into_bytes();
    let (mut call, out) = Call::start(
        Inbound {
            invite: &offerless,
            source: addr(CALLER),
            transport: Transport::Udp,
            local: addr(LOCAL),
            sip_username: None,
        },
        settings(false),
        Timers::default(),
        at(0),
    )
    .unwrap();
    let (id, req) = webhook(&out);
    let twiml = "<Response><Dial><Sip>sip:bob@192.0.2.7:5070</Sip></Dial></Response>";
    let out = reply(&mut call, id, &req.url, twiml, at(100));
    let child_invite = sent_one(&out, "INVITE ");
    assert!(parse(&child_invite).body.is_empty());
    let ok = callee_response(&child_invite, 200, CALLEE_SDP, "");
    let out = call.on_message(&ok, addr(CALLEE), Transport::Udp, at(500));
    assert_eq!(
        sent(&out),
        ["SIP/2.0 200 OK"],
        "no ACK before the caller's answer"
    );
    let tag = call.caller.dialog.local_tag().to_owned();
    let ack = in_dialog("ACK", 314159, &tag, SDP);
    let out = call.on_message(&ack, addr(CALLER), Transport::Udp, at(600));
    let theirs = sent_one(&out, "ACK ");
    assert_eq!(parse(&theirs).body, SDP.replace('\n', "\r\n").as_bytes());
    assert_eq!(
        header_of(&theirs, "Content-Type").as_deref(),
        Some("application/sdp")
    );
    // The callee resends its 200: the same ACK again.
    let again = call.on_message(&ok, addr(CALLEE), Transport::Udp, at(700));
    assert_eq!(messages(&again), [theirs]);
}

#[test]
fn an_offerless_re_invite_is_acked_with_the_other_legs_answer() {
    let mut d = dialled(SIP_DIAL);
    d.bridge();
    let reinvite = in_dialog("INVITE", 314160, &d.caller_tag(), "");
    let out = d
        .call
        .on_message(&reinvite, addr(CALLER), Transport::Udp, at(3_000));
    let theirs = sent_one(&out, "INVITE ");
    let ok = callee_response(&theirs, 200, CALLEE_SDP, "");
    let out = d
        .call
        .on_message(&ok, addr(CALLEE), Transport::Udp, at(3_100));
    assert_eq!(sent(&out), ["SIP/2.0 200 OK"]);
    let ack = in_dialog("ACK", 314160, &d.caller_tag(), SDP);
    let out = d
        .call
        .on_message(&ack, addr(CALLER), Transport::Udp, at(3_200));
    let acked = sent_one(&out, "ACK ");
    assert_eq!(header_of(&acked, "CSeq").unwrap(), "2 ACK");
    assert_eq!(parse(&acked).body, SDP.replace('\n', "\r\n").as_bytes());
    let again = d
        .call
        .on_message(&ok, addr(CALLEE), Transport::Udp, at(3_300));
    assert_eq!(messages(&again), [acked]);
}

/// A request from the callee in the child's dialog.
fn from_callee(d: &Dialled, method: &str, cseq: u32, body: &str) -> Vec<u8> {
    let inv = parse(&d.invite);
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    };
    wire(&format!(
        "{method} sip:sipmap@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK{method}{cseq}\n\
         From: <sip:bob@192.0.2.7:5070>;tag=bob1\nTo: {}\nCall-ID: {}\nCSeq: {cseq} {method}\n\
         Contact: <sip:bob@192.0.2.7:5070>\n{content_type}\n{body}",
        inv.header("From").unwrap(),
        inv.header("Call-ID").unwrap(),
    ))
}

#[test]
fn a_re_invite_from_the_callee_reaches_the_caller() {
    let mut d = dialled(SIP_DIAL);
    d.bridge();
    let reinvite = from_callee(&d, "INVITE", 20, CALLEE_SDP);
    let out = d
        .call
        .on_message(&reinvite, addr(CALLEE), Transport::Udp, at(3_000));
    assert_eq!(
        sent(&out),
        [
            "SIP/2.0 100 Trying",
            "INVITE sip:alice@192.0.2.10:5062 SIP/2.0"
        ]
    );
    let to_caller = sent_one(&out, "INVITE ");
    assert_eq!(header_of(&to_caller, "CSeq").unwrap(), "1 INVITE");
    assert_eq!(
        parse(&to_caller).body,
        CALLEE_SDP.replace('\n', "\r\n").as_bytes()
    );
    // The caller answers it.
    let m = parse(&to_caller);
    let ok = wire(&format!(
        "SIP/2.0 200 OK\nVia: {}\nFrom: {}\nTo: {}\nCall-ID: {}\nCSeq: 1 INVITE\n\
         Contact: <sip:alice@192.0.2.10:5062>\nContent-Type: application/sdp\n\n{SDP}",
        m.header("Via").unwrap(),
        m.header("From").unwrap(),
        m.header("To").unwrap(),
        m.header("Call-ID").unwrap(),
    ));
    let out = d
        .call
        .on_message(&ok, addr(CALLER), Transport::Udp, at(3_100));
    assert_eq!(
        sent(&out),
        ["ACK sip:alice@192.0.2.10:5062 SIP/2.0", "SIP/2.0 200 OK"]
    );
    let to_callee = sent_one(&out, "SIP/2.0 200");
    assert_eq!(parse(&to_callee).body, SDP.replace('\n', "\r\n").as_bytes());
    let ack = from_callee(&d, "ACK", 20, "");
    let out = d
        .call
        .on_message(&ack, addr(CALLEE), Transport::Udp, at(3_200));
    assert!(sent(&out).is_empty());
    // And a BYE from the callee with an older CSeq is refused.
    let old = from_callee(&d, "BYE", 3, "");
    let out = d
        .call
        .on_message(&old, addr(CALLEE), Transport::Udp, at(3_300));
    assert_eq!(sent(&out), ["SIP/2.0 500 Server Internal Error"]);
}

#[test]
fn attributes_sipmap_does_not_act_on_are_warned_about() {
    let d = dialled(
        r#"<Dial record="record-from-answer" ringTone="us"><Sip url="/whisper">sip:bob@192.0.2.7:5070</Sip><Sip>sip:carol@192.0.2.8</Sip></Dial>"#,
    );
    let notes = notifications(&d.out);
    assert!(notes.iter().all(|(code, _)| *code == 12200), "{notes:?}");
    let texts: Vec<&str> = notes.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        texts.iter().any(|t| t.contains("only the first")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("record") && t.contains("ringTone")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("url")), "{texts:?}");
    // The dial still goes out.
    assert_eq!(
        first_line(&d.invite),
        "INVITE sip:bob@192.0.2.7:5070 SIP/2.0"
    );
}

#[test]
fn a_sip_address_the_outbound_policy_refuses_is_never_called() {
    let deny = crate::domain::outbound::Cidr::new("192.0.2.0".parse().unwrap(), 24).unwrap();
    let app = Arc::new(Settings {
        outbound: Arc::new(crate::domain::OutboundPolicy::new(&[], &[deny])),
        ..(*settings(false)).clone()
    });
    let bytes = invite();
    let inbound = Inbound {
        invite: &bytes,
        source: addr(CALLER),
        transport: Transport::Udp,
        local: addr(LOCAL),
        sip_username: None,
    };
    let (mut call, out) = Call::start(inbound, app, Timers::default(), at(0)).unwrap();
    let (id, req) = webhook(&out);
    let twiml = format!("<Response>{SIP_DIAL}</Response>");
    let out = reply(&mut call, id, &req.url, &twiml, at(100));
    assert!(
        !sent(&out).iter().any(|l| l.starts_with("INVITE ")),
        "{:?}",
        sent(&out)
    );
    let child = call.child_record().unwrap().sid.clone();
    assert!(statuses(&out, &child).contains(&CallStatus::Failed));
}
