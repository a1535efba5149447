//! The application's paths: the webhook and its parameters, retransmissions, fallback,
//! `<Reject>`, `<Hangup>`, `<Redirect>` and its bound, media verbs, CANCEL, API commands,
//! and the domain's status callback.

use super::*;

const BUSY: &str = r#"<Response><Reject reason="busy"/></Response>"#;

#[test]
fn an_invite_gets_trying_ringing_and_one_webhook_with_twilios_parameters() {
    let (mut call, out) = started(false, Some("alice"));
    assert_eq!(
        sent(&out),
        ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing"],
        "{out:#?}"
    );
    assert_eq!(statuses(&out, call.sid()), [CallStatus::Ringing]);
    let (_, req) = webhook(&out);
    assert_eq!(req.url.as_str(), "https://app.example.com/voice");
    assert_eq!(req.method, Method::Post);
    let p = &req.params;
    assert_eq!(param(p, "CallSid"), Some(call.sid().as_str()));
    assert!(param(p, "CallSid").unwrap().starts_with("CA"));
    assert_eq!(
        param(p, "AccountSid"),
        Some(call.record().account_sid.as_str())
    );
    assert_eq!(param(p, "From"), Some("sip:alice@192.0.2.10"));
    assert_eq!(param(p, "Caller"), Some("sip:alice@192.0.2.10"));
    assert_eq!(
        param(p, "To"),
        Some("sip:+15551234567@acme.sip.example.com")
    );
    assert_eq!(
        param(p, "Called"),
        Some("sip:+15551234567@acme.sip.example.com")
    );
    assert_eq!(param(p, "CallStatus"), Some("ringing"));
    assert_eq!(param(p, "Direction"), Some("inbound"));
    assert_eq!(param(p, "ApiVersion"), Some("2010-04-01"));
    assert_eq!(param(p, "SipDomain"), Some("acme.sip.example.com"));
    assert!(param(p, "SipDomainSid").unwrap().starts_with("SD"));
    assert_eq!(param(p, "SipCallId"), Some("a84b4c76e66710@192.0.2.10"));
    assert_eq!(param(p, "SipSourceIp"), Some("192.0.2.10"));
    assert_eq!(param(p, "SipUsername"), Some("alice"));
    assert_eq!(param(p, "SipHeader_X-Customer"), Some("42"));
    assert_eq!(param(p, "SipHeader_x-trace"), Some("abc"));
    // The caller retransmits its INVITE: 180 again, no second webhook, no new record.
    let again = call.on_message(&invite(), addr(CALLER), Transport::Udp, at(500));
    assert_eq!(sent(&again), ["SIP/2.0 180 Ringing"]);
    assert!(webhooks(&again).is_empty());
    assert!(statuses(&again, call.sid()).is_empty());
    // Its 180 carries sipmap's tag, which the keys and later responses keep.
    let ringing = sent_one(&out, "SIP/2.0 180");
    assert!(header_of(&ringing, "To").unwrap().contains(";tag="));
    let keys = call.keys();
    assert_eq!(RouteKey::of(&parse(&invite())), keys);
}

#[test]
fn sip_username_is_sent_only_when_a_credential_list_admitted_the_call() {
    let (_, out) = started(false, None);
    let (_, req) = webhook(&out);
    assert_eq!(param(&req.params, "SipUsername"), None);
}

#[test]
fn reject_busy_is_486_and_busy_persisted_before_the_status_callback() {
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let out = reply(&mut call, id, &req.url, BUSY, at(100));
    assert_eq!(sent(&out), ["SIP/2.0 486 Busy Here"]);
    assert_eq!(statuses(&out, call.sid()), [CallStatus::Busy]);
    // The event of the webhook, then the status, then its callback.
    let event = out
        .iter()
        .position(|o| matches!(o, Out::Persist(Persist::Event(_))));
    let persisted = out
        .iter()
        .position(|o| matches!(o, Out::Persist(Persist::Call(_))));
    let reported = out.iter().position(|o| matches!(o, Out::Callback { .. }));
    assert!(event < persisted && persisted < reported, "{out:#?}");
    let (sid, params) = &callbacks(&out)[0];
    assert_eq!(sid, call.sid());
    assert_eq!(param(params, "CallStatus"), Some("busy"));
    assert_eq!(param(params, "CallDuration"), Some("0"));
    assert_eq!(
        param(params, "CallbackSource"),
        Some("call-progress-events")
    );
    assert_eq!(param(params, "SequenceNumber"), Some("0"));
    assert!(call.is_ended());
    assert!(!out.contains(&Out::Ended));
    // The caller's ACK, then timer I: the call can go.
    let tag = header_of(&sent_one(&out, "SIP/2.0 486"), "To").unwrap();
    let ack = sibling("ACK", &tag);
    let acked = call.on_message(&ack, addr(CALLER), Transport::Udp, at(200));
    let done = run_timers(&mut call, &acked, at(60_000));
    assert_eq!(done.last(), Some(&Out::Ended), "{done:#?}");
}

#[test]
fn a_final_response_is_resent_until_the_ack() {
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let out = reply(&mut call, id, &req.url, BUSY, at(100));
    let again = run_timers(&mut call, &out, at(100 + 500));
    assert_eq!(sent(&again), ["SIP/2.0 486 Busy Here"]);
    // Without any ACK, timer H ends the transaction and the call goes.
    let rest = run_timers(&mut call, &out, at(100 + 64_000));
    assert!(rest.contains(&Out::Ended), "{rest:#?}");
}

#[test]
fn reject_is_404_and_no_answer() {
    for twiml in [
        "<Response><Reject/></Response>",
        r#"<Response><Reject reason="rejected"/><Hangup/></Response>"#,
    ] {
        let (mut call, out) = started(false, None);
        let (id, req) = webhook(&out);
        let out = reply(&mut call, id, &req.url, twiml, at(100));
        assert_eq!(sent(&out), ["SIP/2.0 404 Not Found"]);
        assert_eq!(call.record().status, CallStatus::NoAnswer);
    }
}

#[test]
fn hangup_and_an_empty_document_decline_an_unanswered_call() {
    for twiml in ["<Response><Hangup/></Response>", "<Response/>"] {
        let (mut call, out) = started(false, None);
        let (id, req) = webhook(&out);
        let out = reply(&mut call, id, &req.url, twiml, at(100));
        assert_eq!(sent(&out), ["SIP/2.0 603 Decline"]);
        assert_eq!(statuses(&out, call.sid()), [CallStatus::Completed]);
        assert_eq!(call.record().duration_secs(), Some(0));
    }
}

#[test]
fn redirect_fetches_the_next_document_still_ringing() {
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let twiml = r#"<Response><Redirect method="GET">/next</Redirect><Reject/></Response>"#;
    let out = reply(&mut call, id, &req.url, twiml, at(100));
    assert!(sent(&out).is_empty());
    let (id2, next) = webhook(&out);
    assert_eq!(next.url.as_str(), "https://app.example.com/next");
    assert_eq!(next.method, Method::Get);
    assert_eq!(param(&next.params, "CallStatus"), Some("ringing"));
    let out = reply(&mut call, id2, &next.url, BUSY, at(200));
    assert_eq!(sent(&out), ["SIP/2.0 486 Busy Here"]);
}

#[test]
fn a_redirect_loop_stops_at_the_document_bound_with_11215() {
    let (mut call, out) = started(false, None);
    let (mut id, mut req) = webhook(&out);
    let twiml = "<Response><Redirect>/voice</Redirect></Response>";
    for n in 1..MAX_DOCUMENTS {
        let out = reply(&mut call, id, &req.url, twiml, at(u64::from(n)));
        (id, req) = webhook(&out);
    }
    let out = reply(&mut call, id, &req.url, twiml, at(100));
    assert!(webhooks(&out).is_empty());
    assert_eq!(sent(&out), ["SIP/2.0 500 Server Internal Error"]);
    assert_eq!(notifications(&out)[0].0, 11215);
    assert_eq!(call.record().status, CallStatus::Failed);
}

#[test]
fn a_failed_voice_url_goes_to_the_fallback_with_error_code_and_url() {
    let (mut call, out) = started(true, None);
    let (id, req) = webhook(&out);
    let out = call.on_webhook(id, &answered(&req.url, 500, "oops"), at(100));
    assert_eq!(notifications(&out)[0].0, 11200);
    assert!(sent(&out).is_empty());
    let (id2, fb) = webhook(&out);
    assert_eq!(fb.url.as_str(), "https://backup.example.com/voice");
    assert_eq!(param(&fb.params, "ErrorCode"), Some("11200"));
    assert_eq!(
        param(&fb.params, "ErrorUrl"),
        Some("https://app.example.com/voice")
    );
    assert_eq!(param(&fb.params, "CallSid"), Some(call.sid().as_str()));
    let out = reply(&mut call, id2, &fb.url, BUSY, at(200));
    assert_eq!(sent(&out), ["SIP/2.0 486 Busy Here"]);
}

#[test]
fn both_urls_failing_end_the_call_with_500_and_the_codes() {
    let (mut call, out) = started(true, None);
    let (id, req) = webhook(&out);
    let out = call.on_webhook(id, &answered(&req.url, 200, "not xml"), at(100));
    assert_eq!(notifications(&out)[0].0, 12100);
    let (id2, fb) = webhook(&out);
    let out = call.on_webhook(id2, &answered(&fb.url, 404, ""), at(200));
    assert_eq!(notifications(&out)[0].0, 11200);
    assert!(webhooks(&out).is_empty());
    assert_eq!(sent(&out), ["SIP/2.0 500 Server Internal Error"]);
    assert_eq!(statuses(&out, call.sid()), [CallStatus::Failed]);
    // Without a fallback, the first failure ends it.
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let out = call.on_webhook(id, &answered(&req.url, 503, ""), at(100));
    assert_eq!(sent(&out), ["SIP/2.0 500 Server Internal Error"]);
}

#[test]
fn an_invalid_verb_is_reported_and_goes_to_the_fallback() {
    let (mut call, out) = started(true, None);
    let (id, req) = webhook(&out);
    let twiml = r#"<Response><Redirect>ftp://nope/</Redirect></Response>"#;
    let out = reply(&mut call, id, &req.url, twiml, at(100));
    assert_eq!(notifications(&out)[0].0, 11100);
    let (_, fb) = webhook(&out);
    assert_eq!(param(&fb.params, "ErrorCode"), Some("11100"));
}

#[test]
fn a_media_verb_gets_501_and_a_notification_naming_it() {
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let twiml = "<Response><Say>Hello</Say><Reject/></Response>";
    let out = reply(&mut call, id, &req.url, twiml, at(100));
    assert_eq!(sent(&out), ["SIP/2.0 501 Not Implemented: <Say>"]);
    let notes = notifications(&out);
    assert!(notes[0].1.contains("<Say>"), "{notes:?}");
    let level = out.iter().find_map(|o| match o {
        Out::Persist(Persist::Notification(n)) => Some(n.log),
        _ => None,
    });
    assert_eq!(level, Some(crate::domain::call::LogLevel::Error));
    assert_eq!(call.record().status, CallStatus::Failed);
}

#[test]
fn warnings_of_a_document_become_notifications() {
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let twiml = r#"<Response><Reject reason="busy" colour="red"/></Response>"#;
    let out = reply(&mut call, id, &req.url, twiml, at(100));
    assert_eq!(notifications(&out)[0].0, 12200);
    assert_eq!(sent(&out), ["SIP/2.0 486 Busy Here"]);
}

#[test]
fn cancel_gets_200_and_487_and_the_late_document_is_ignored() {
    let (mut call, out) = started(false, None);
    let (id, req) = webhook(&out);
    let cancel = sibling("CANCEL", "<sip:+15551234567@acme.sip.example.com>");
    let out = call.on_message(&cancel, addr(CALLER), Transport::Udp, at(300));
    assert_eq!(
        sent(&out),
        ["SIP/2.0 200 OK", "SIP/2.0 487 Request Terminated"]
    );
    assert_eq!(statuses(&out, call.sid()), [CallStatus::Canceled]);
    assert_eq!(param(&callbacks(&out)[0].1, "CallStatus"), Some("canceled"));
    // The retransmitted CANCEL gets its 200 again.
    let again = call.on_message(&cancel, addr(CALLER), Transport::Udp, at(400));
    assert_eq!(sent(&again), ["SIP/2.0 200 OK"]);
    let late = reply(&mut call, id, &req.url, BUSY, at(500));
    assert!(sent(&late).is_empty());
    assert!(statuses(&late, call.sid()).is_empty());
}

#[test]
fn the_api_ends_a_ringing_call_and_redirects_a_live_one() {
    let (mut call, out) = started(false, None);
    let _ = webhook(&out);
    let out = call.on_command(Command::Complete, at(100));
    assert_eq!(sent(&out), ["SIP/2.0 487 Request Terminated"]);
    assert_eq!(call.record().status, CallStatus::Canceled);
    assert!(call.on_command(Command::Cancel, at(200)).is_empty());

    let (mut call, out) = started(false, None);
    let (old, req) = webhook(&out);
    let url = Url::parse("https://other.example.com/twiml").unwrap();
    let out = call.on_command(Command::Redirect(url.clone(), Method::Get), at(100));
    let (id, next) = webhook(&out);
    assert_eq!(next.url, url);
    assert!(reply(&mut call, old, &req.url, BUSY, at(150)).is_empty());
    let out = reply(
        &mut call,
        id,
        &url,
        "<Response><Reject/></Response>",
        at(200),
    );
    assert_eq!(sent(&out), ["SIP/2.0 404 Not Found"]);

    let (mut call, _) = started(false, None);
    let out = call.on_command(Command::Twiml(BUSY.into()), at(100));
    assert_eq!(sent(&out), ["SIP/2.0 486 Busy Here"]);
    let (mut call, _) = started(false, None);
    let out = call.on_command(Command::Twiml("<Nope/>".into()), at(100));
    assert_eq!(notifications(&out)[0].0, 12102);
    assert_eq!(sent(&out), ["SIP/2.0 500 Server Internal Error"]);
}

#[test]
fn an_unreadable_invite_gets_400_and_no_call() {
    let bad = wire(
        "INVITE sip:bob@acme.sip.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKbad\n\
         To: <sip:bob@acme.sip.example.com>\nCall-ID: x\nCSeq: 1 INVITE\n\n",
    );
    let refused = Call::start(
        Inbound {
            invite: &bad,
            source: addr(CALLER),
            transport: Transport::Udp,
            local: addr(LOCAL),
            sip_username: None,
        },
        settings(false),
        Timers::default(),
        at(0),
    )
    .unwrap_err();
    assert_eq!(sent(&refused), ["SIP/2.0 400 Bad Request"]);
    let not_invite = sibling("BYE", "<sip:x@y>");
    let refused = Call::start(
        Inbound {
            invite: &not_invite,
            source: addr(CALLER),
            transport: Transport::Udp,
            local: addr(LOCAL),
            sip_username: None,
        },
        settings(false),
        Timers::default(),
        at(0),
    )
    .unwrap_err();
    assert!(refused.is_empty());
}

#[test]
fn garbage_and_unknown_dialogs_never_panic() {
    let (mut call, _) = started(false, None);
    assert!(
        call.on_message(b"\x00\xffgarbage", addr(CALLER), Transport::Udp, at(1))
            .is_empty()
    );
    let stray = in_dialog("BYE", 5, "nottheirs", "");
    let out = call.on_message(&stray, addr(CALLER), Transport::Udp, at(2));
    assert_eq!(sent(&out), ["SIP/2.0 481 Call/Transaction Does Not Exist"]);
    assert!(call.on_timer(CallTimer::DialTimeout(99), at(3)).is_empty());
    assert!(call.on_resolved(77, Vec::new(), at(4)).is_empty());
}

#[test]
fn over_tcp_nothing_is_resent_and_the_call_goes_once_acked() {
    let bytes = String::from_utf8(invite())
        .unwrap()
        .replace("SIP/2.0/UDP 192.0.2.10", "SIP/2.0/TCP 192.0.2.10")
        .into_bytes();
    let (mut call, out) = Call::start(
        Inbound {
            invite: &bytes,
            source: addr(CALLER),
            transport: Transport::Tcp(9),
            local: addr(LOCAL),
            sip_username: None,
        },
        settings(false),
        Timers::default(),
        at(0),
    )
    .unwrap();
    assert!(
        out.iter()
            .all(|o| !matches!(o, Out::Send { via, .. } if *via != Transport::Tcp(9)))
    );
    let (id, req) = webhook(&out);
    let out = reply(&mut call, id, &req.url, BUSY, at(100));
    assert!(!timers(&out).iter().any(|(t, _)| matches!(
        t,
        CallTimer::Sip {
            timer: crate::sip::ua::Timer::G,
            ..
        }
    )));
    let tag = header_of(&sent_one(&out, "SIP/2.0 486"), "To").unwrap();
    let ack = String::from_utf8(sibling("ACK", &tag))
        .unwrap()
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
        .into_bytes();
    let done = call.on_message(&ack, addr(CALLER), Transport::Tcp(9), at(200));
    assert_eq!(done.last(), Some(&Out::Ended), "{done:#?}");
}

#[test]
fn each_webhook_is_an_event_and_each_failure_a_notification_naming_its_request() {
    let (mut call, out) = started(true, None);
    let (id, req) = webhook(&out);
    let mut exchange = answered(&req.url, 500, "<h1>oops</h1>");
    exchange.params = req.params.clone();
    let out = call.on_webhook(id, &exchange, at(100));
    let event = out
        .iter()
        .find_map(|o| match o {
            Out::Persist(Persist::Event(e)) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(&event.call_sid, call.sid());
    assert_eq!(event.method, "POST");
    assert_eq!(event.url, "https://app.example.com/voice");
    assert_eq!(param(&event.parameters, "CallStatus"), Some("ringing"));
    assert_eq!(event.response_status, Some(500));
    assert_eq!(event.response_body, "<h1>oops</h1>");
    assert_eq!(event.error_code, Some(11200));
    assert_eq!((event.started_ms, event.duration_ms), (T0 as i64, 12));
    let note = out
        .iter()
        .find_map(|o| match o {
            Out::Persist(Persist::Notification(n)) => Some(n.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(&note.call_sid, call.sid());
    assert!(note.sid.as_str().starts_with("NO"));
    assert_eq!(note.log, crate::domain::call::LogLevel::Error);
    assert_eq!(
        note.request_url.as_deref(),
        Some("https://app.example.com/voice")
    );
    assert_eq!(note.request_method.as_deref(), Some("POST"));
    assert!(
        note.request_variables.contains("CallStatus=ringing"),
        "{}",
        note.request_variables
    );
    assert_eq!(note.created_ms, (T0 + 100) as i64);
}
