//! Tests of the call record, its status rule, updates, filters and retention.

use super::*;
use CallStatus::*;

fn call() -> Call {
    Call::ringing(
        CallSid::generate_at(1_000),
        AccountSid::generate(),
        SipDomainSid::generate(),
        Direction::Inbound,
        (
            "sip:alice@192.0.2.10".into(),
            "sip:+15551234567@acme".into(),
        ),
        "abc@192.0.2.10".into(),
        1_000,
    )
}

#[test]
fn an_abandoned_call_fails_unless_answered_and_an_ended_one_stays() {
    let mut ringing = call();
    assert!(ringing.abandon(5_000));
    assert_eq!((ringing.status, ringing.ended_ms), (Failed, Some(5_000)));
    assert!(!ringing.abandon(9_000), "ended already");
    assert_eq!(ringing.ended_ms, Some(5_000));
    let mut answered = call();
    answered.set_status(InProgress, 2_000).unwrap();
    assert!(answered.abandon(62_000));
    assert_eq!(
        (answered.status, answered.duration_secs()),
        (Completed, Some(60))
    );
}

struct P(Vec<(&'static str, &'static str)>);
impl Params for P {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

#[test]
fn filter_times_read_as_twilio_reads_them() {
    const MARCH_1: i64 = 1_709_251_200_000;
    let day = 86_400_000;
    assert_eq!(span_of("2024-03-01"), Some((MARCH_1, MARCH_1 + day)));
    assert_eq!(
        span_of("2024-03-01T00:00:05Z"),
        Some((MARCH_1 + 5_000, MARCH_1 + 6_000))
    );
    assert_eq!(
        span_of("2024-03-01T00:00:05+00:00"),
        span_of("2024-03-01T00:00:05Z")
    );
    assert_eq!(span_of("1970-01-01"), Some((0, day)));
    assert_eq!(span_of("2024-02-29").map(|s| s.0), Some(MARCH_1 - day));
    for bad in [
        "2023-02-29",
        "2024-13-01",
        "2024-3-01",
        "20240301",
        "2024-03-01T24:00:00Z",
        "2024-03-01T00:00:00",
        "2024-03-01T00:00Z",
        "yesterday",
        "2024-03-01T00:00:0aZ",
        "",
    ] {
        assert_eq!(span_of(bad), None, "{bad}");
    }
    let f = CallFilter::parse(&P(vec![
        ("StartTime>", "2024-03-01"),
        ("StartTime<", "2024-03-02"),
        ("EndTime", "2024-03-01T00:00:05Z"),
    ]))
    .unwrap();
    assert_eq!(f.start.from_ms, Some(MARCH_1));
    assert_eq!(f.start.until_ms, Some(MARCH_1 + 2 * day));
    assert_eq!(f.end.from_ms, Some(MARCH_1 + 5_000));
    assert!(CallFilter::parse(&P(vec![])).unwrap().start.is_open());
    let refused = CallFilter::parse(&P(vec![("EndTime<", "soon")])).unwrap_err();
    assert_eq!(
        refused,
        Invalid::Value("EndTime<", Reason::NotDate("soon".into()))
    );
    let refused = CallFilter::parse(&P(vec![("Status", "answered")])).unwrap_err();
    assert!(matches!(
        refused,
        Invalid::Value("Status", Reason::NotOneOf(..))
    ));
    assert!(CallFilter::parse(&P(vec![("ParentCallSid", "CA1")])).is_err());
}

#[test]
fn notification_filters_read_the_level_and_the_date() {
    let f = NotificationFilter::parse(&P(vec![("Log", "1"), ("MessageDate<", "1970-01-01")]));
    let f = f.unwrap();
    assert_eq!(f.log, Some(LogLevel::Warning));
    assert_eq!((f.date.from_ms, f.date.until_ms), (None, Some(86_400_000)));
    assert!(NotificationFilter::parse(&P(vec![("Log", "2")])).is_err());
    assert!(NotificationFilter::parse(&P(vec![("MessageDate", "x")])).is_err());
    assert_eq!(
        NotificationFilter::parse(&P(vec![])),
        Ok(NotificationFilter::default())
    );
}

proptest::proptest! {
    #[test]
    fn any_filter_time_is_read_or_refused_without_panic(v in "\\PC{0,24}") {
        if let Some((start, end)) = span_of(&v) {
            proptest::prop_assert!(start < end);
        }
    }

    #[test]
    fn every_day_reads_back_as_its_own_span(days in 0i64..2_932_897) {
        let text = crate::timefmt::iso8601(days * 86_400);
        let (start, end) = span_of(&text[..10]).unwrap();
        proptest::prop_assert_eq!((start, end), (days * 86_400_000, (days + 1) * 86_400_000));
        let (at, _) = span_of(&text).unwrap();
        proptest::prop_assert_eq!(at, start);
    }
}

#[test]
fn an_update_reads_status_then_twiml_then_url() {
    let read = |pairs| CallUpdate::parse(&P(pairs));
    assert_eq!(read(vec![]), Ok(CallUpdate::Nothing));
    assert_eq!(
        read(vec![("Status", "canceled"), ("Twiml", "<Response/>")]),
        Ok(CallUpdate::End(Canceled))
    );
    assert_eq!(
        read(vec![
            ("Twiml", "<Response/>"),
            ("Url", "https://a.example/x")
        ]),
        Ok(CallUpdate::Twiml("<Response/>".into()))
    );
    assert_eq!(
        read(vec![("Url", "https://a.example/x"), ("Method", "get")]),
        Ok(CallUpdate::Redirect {
            url: "https://a.example/x".into(),
            method: "GET".into()
        })
    );
    assert!(matches!(
        read(vec![("Url", "https://a.example/x")]),
        Ok(CallUpdate::Redirect { method, .. }) if method == "POST"
    ));
    for bad in [
        vec![("Status", "in-progress")],
        vec![("Status", "busy")],
        vec![("Url", "ftp://a.example/")],
        vec![("Url", "https://a.example/"), ("Method", "PUT")],
    ] {
        assert!(read(bad.clone()).is_err(), "{bad:?}");
    }
}

#[test]
fn only_a_live_call_is_updated_and_only_an_ended_one_deleted() {
    let mut c = call();
    assert_eq!(c.may_update(), Ok(()));
    assert_eq!(c.may_delete(), Err(CallRefusal::Live));
    let before = c.clone();
    c.set_status(InProgress, 2_000).unwrap();
    assert_eq!(before.may_become(&c), Ok(()));
    assert_eq!(c.may_become(&c), Ok(()));
    assert!(matches!(
        c.may_become(&before),
        Err(CallRefusal::Backwards(_))
    ));
    c.set_status(Completed, 3_000).unwrap();
    assert_eq!(c.may_update(), Err(CallRefusal::NotLive));
    assert_eq!(c.may_delete(), Ok(()));
}

#[test]
fn the_retention_makes_room_and_ages_out() {
    let r = CallRetention {
        max_age_secs: 60,
        per_account: 3,
    };
    assert_eq!(r.ended_before(100_000), Some(40_000));
    assert_eq!(
        (r.excess(0), r.excess(2), r.excess(3), r.excess(5)),
        (0, 0, 1, 3)
    );
    let off = CallRetention {
        max_age_secs: 0,
        per_account: 0,
    };
    assert_eq!(
        (off.ended_before(100_000), off.excess(1_000_000)),
        (None, 0)
    );
    assert_eq!(
        Direction::parse("outbound-dial"),
        Some(Direction::OutboundDial)
    );
    assert_eq!(LogLevel::parse("0"), Some(LogLevel::Error));
    assert_eq!(LogLevel::parse("2"), None);
}

#[test]
fn statuses_read_and_write_as_twilio_does() {
    for s in CallStatus::ALL {
        assert_eq!(CallStatus::parse(s.as_str()), Some(s));
    }
    assert_eq!(InProgress.as_str(), "in-progress");
    assert_eq!(NoAnswer.as_str(), "no-answer");
    assert_eq!(CallStatus::parse("answered"), None);
    assert_eq!(Direction::OutboundDial.as_str(), "outbound-dial");
}

#[test]
fn a_call_moves_forward_only() {
    assert!(Ringing.may_become(InProgress));
    assert!(Ringing.may_become(Busy));
    assert!(Ringing.may_become(Canceled));
    assert!(Queued.may_become(Ringing));
    assert!(InProgress.may_become(Completed));
    assert!(!InProgress.may_become(Busy));
    assert!(!InProgress.may_become(Canceled));
    assert!(!InProgress.may_become(Ringing));
    assert!(!Ringing.may_become(Queued));
    assert!(!Ringing.may_become(Ringing));
    for end in CallStatus::ALL.into_iter().filter(|s| s.is_final()) {
        for next in CallStatus::ALL {
            assert!(!end.may_become(next), "{end:?} → {next:?}");
        }
    }
}

#[test]
fn answer_and_end_set_the_times_and_the_duration() {
    let mut c = call();
    assert_eq!(c.duration_secs(), None);
    c.set_status(InProgress, 3_000).unwrap();
    assert_eq!(c.answered_ms, Some(3_000));
    c.set_status(Completed, 65_999).unwrap();
    assert_eq!((c.ended_ms, c.updated_ms), (Some(65_999), 65_999));
    assert_eq!(c.duration_secs(), Some(62));
    let refused = c.set_status(Failed, 70_000).unwrap_err();
    assert_eq!((refused.from, refused.to), (Completed, Failed));
    assert_eq!(c.updated_ms, 65_999);
}

#[test]
fn a_call_never_answered_lasts_zero_seconds() {
    let mut c = call();
    c.set_status(Busy, 9_000).unwrap();
    assert_eq!(c.duration_secs(), Some(0));
    assert_eq!(c.answered_ms, None);
}

#[test]
fn north_american_numbers_are_formatted() {
    assert_eq!(formatted("+14155550100"), "(415) 555-0100");
    assert_eq!(formatted("+442071234567"), "+442071234567");
    assert_eq!(formatted("sip:bob@example.com"), "sip:bob@example.com");
    assert_eq!(formatted("+1415555010"), "+1415555010");
    let c = call();
    assert_eq!(c.to_formatted(), "sip:+15551234567@acme");
}

#[test]
fn an_event_keeps_a_bounded_excerpt_cut_at_a_character() {
    let body = "é".repeat(EVENT_BODY_BYTES);
    let e = CallEvent::excerpt(body.as_bytes());
    assert!(e.len() <= EVENT_BODY_BYTES);
    assert!(e.chars().all(|c| c == 'é'));
    assert_eq!(CallEvent::excerpt(b"<Response/>"), "<Response/>");
    // Cut inside a character: the broken character is dropped, not replaced.
    let odd = format!("a{body}");
    let e = CallEvent::excerpt(odd.as_bytes());
    assert_eq!(e.len(), EVENT_BODY_BYTES - 1);
    assert!(!e.contains('\u{FFFD}'));
    assert_eq!(LogLevel::Warning.as_str(), "1");
}
