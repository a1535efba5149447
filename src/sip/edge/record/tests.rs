//! The record's bounds, filters and traffic series, over decisions `decide` makes for two
//! domains of two accounts (nothing mapped: an `INVITE` is refused, an `ACK` has nowhere to
//! go), dated by a fixed clock.

use super::*;
use crate::clock::FixedClock;
use crate::recognition::{Change, DomainAuth, Snapshot};
use crate::sid::{Sid, SipDomainSid};
use crate::sip::edge::decide::{Facts, Request, Settings, decide};
use crate::sip::edge::policy::Offer;
use crate::sip::health::Health;

fn sid<S: Sid>(n: u8) -> S {
    S::parse(&format!("{}{n:032x}", S::PREFIX)).unwrap()
}

/// Domain `n` (`d{n}.sip.twilio.com`) of account `n`.
fn domain(n: u8) -> Target {
    Target {
        domain_sid: sid::<SipDomainSid>(n),
        account_sid: sid::<AccountSid>(n),
        domain_name: format!("d{n}.sip.twilio.com"),
        sip_registration: false,
        secure: false,
        byoc_trunk_sid: None,
        voice: None,
    }
}

fn snapshot() -> Arc<Snapshot> {
    let w = crate::recognition::table();
    w.load(vec![
        Change::DomainSet(domain(1)),
        Change::DomainSet(domain(2)),
    ]);
    w.reader().snapshot()
}

struct NoFacts;

impl Facts for NoFacts {
    fn credentials(&self, _: Exchange, _: &str, _: &DomainAuth) -> Option<Verdict> {
        None
    }
    fn offer(&self) -> Option<Offer> {
        None
    }
    fn hop(&self, _: SocketAddr, _: bool) -> Result<(), u16> {
        Ok(())
    }
}

const AT: i64 = 1_800_000_000_000;

/// A record with `settings`, its clock, and the snapshot its decisions are made over.
fn record(settings: RecordSettings) -> (Decisions, Arc<FixedClock>, Arc<Snapshot>) {
    let clock = Arc::new(FixedClock::at_millis(AT));
    (Decisions::new(settings, clock.clone()), clock, snapshot())
}

/// Records `method` to `host` from `source` with Call-ID `call_id`.
fn send(log: &Decisions, s: &Snapshot, (method, host): (&str, &str), source: &str, call_id: &str) {
    let health = Health::default();
    let source: SocketAddr = source.parse().unwrap();
    let req = Request {
        method,
        uri_host: Some(host),
        call_id,
        to_tag: false,
        max_forwards: 70,
        source,
        wire: Wire::Udp,
    };
    let settings = Settings {
        health: &health,
        upstream: None,
        calls: false,
    };
    let d = decide(s, &req, &settings, &NoFacts);
    let uri = format!("sip:bob@{host}");
    let said = Said {
        method,
        call_id,
        request_uri: &uri,
        from: "\"Alice\" <sip:alice:secret@example.com;transport=tcp>;tag=9",
        to: &format!("<{uri}>"),
    };
    log.record(&d, &said, source, Wire::Udp);
}

fn all(log: &Decisions, n: u8) -> Vec<Entry> {
    log.list(&sid(n), &Filter::default(), usize::MAX)
}

#[test]
fn what_nothing_recognised_is_recorded_for_no_one() {
    let (log, _, s) = record(RecordSettings::default());
    send(
        &log,
        &s,
        ("INVITE", "nobody.example.com"),
        "192.0.2.1:5060",
        "c",
    );
    assert!(all(&log, 1).is_empty() && all(&log, 2).is_empty());
    assert!(log.traffic(&sid(1), None).is_empty());
}

#[test]
fn an_entry_keeps_the_request_as_said_without_secrets_and_newest_first() {
    let (log, clock, s) = record(RecordSettings::default());
    send(
        &log,
        &s,
        ("INVITE", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        "first",
    );
    clock.set_millis(AT + 5);
    send(
        &log,
        &s,
        ("ACK", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        "second",
    );
    let got = all(&log, 1);
    assert_eq!(got.len(), 2);
    let (newest, oldest) = (&got[0], &got[1]);
    assert_eq!(
        (newest.id, newest.text(Field::CallId), newest.at_ms),
        (2, "second", AT + 5)
    );
    assert_eq!(oldest.text(Field::Method), "INVITE");
    assert_eq!(oldest.outcome.kind(), "refused");
    assert_eq!(newest.outcome.kind(), "unroutable");
    assert_eq!(
        user_at_host(oldest.text(Field::To)),
        "bob@d1.sip.twilio.com"
    );
    assert_eq!(
        oldest.text(Field::From),
        "",
        "a user part with a password is not kept"
    );
    assert_eq!(oldest.source, "192.0.2.1:5060".parse().unwrap());
    assert!(all(&log, 2).is_empty(), "the other account has none");
}

#[test]
fn from_and_to_are_user_at_host() {
    assert_eq!(
        user_at_host("\"Bob\" <sip:bob@example.com;transport=tcp>;tag=1"),
        "bob@example.com"
    );
    assert_eq!(user_at_host("sip:bob@example.com;tag=1"), "bob@example.com");
    assert_eq!(user_at_host("<sips:example.com:5061>"), "example.com:5061");
    assert_eq!(user_at_host("<sip:bob:pw@example.com>"), "");
    assert_eq!(user_at_host("<unclosed"), "");
}

#[test]
fn a_value_whose_uri_may_hold_a_password_is_not_kept() {
    assert_eq!(without_password("<sip:bob:pw@example.com>"), "");
    let named = "\"Bob\" <sip:bob@example.com>;tag=1";
    assert_eq!(without_password(named), named);
    assert_eq!(without_password("<sip:example.com>"), "<sip:example.com>");
}

#[test]
fn long_fields_are_cut_at_a_character_boundary() {
    let long = format!("{}é", "x".repeat(MAX_FIELD - 1));
    assert_eq!(cut(&long).len(), MAX_FIELD - 1);
    let (log, _, s) = record(RecordSettings::default());
    send(
        &log,
        &s,
        ("INVITE", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        &"c".repeat(5000),
    );
    assert_eq!(all(&log, 1)[0].text(Field::CallId).len(), MAX_FIELD);
}

#[test]
fn each_account_keeps_its_last_n() {
    let settings = RecordSettings {
        per_account: 3,
        ..RecordSettings::default()
    };
    let (log, _, s) = record(settings);
    for i in 0..10 {
        send(
            &log,
            &s,
            ("INVITE", "d1.sip.twilio.com"),
            "192.0.2.1:5060",
            &format!("c{i}"),
        );
    }
    let kept = all(&log, 1);
    let ids: Vec<&str> = kept.iter().map(|e| e.text(Field::CallId)).collect();
    assert_eq!(ids, ["c9", "c8", "c7"]);
}

#[test]
fn past_the_accounts_bound_a_new_account_is_not_recorded() {
    let settings = RecordSettings {
        max_accounts: 1,
        ..RecordSettings::default()
    };
    let (log, _, s) = record(settings);
    send(
        &log,
        &s,
        ("INVITE", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        "a",
    );
    send(
        &log,
        &s,
        ("INVITE", "d2.sip.twilio.com"),
        "192.0.2.1:5060",
        "b",
    );
    assert_eq!(all(&log, 1).len(), 1);
    assert!(all(&log, 2).is_empty());
}

#[test]
fn past_the_total_an_account_replaces_its_own_oldest_and_one_with_none_records_nothing() {
    let settings = RecordSettings {
        max_total: 2,
        ..RecordSettings::default()
    };
    let (log, _, s) = record(settings);
    for i in 0..3 {
        send(
            &log,
            &s,
            ("INVITE", "d1.sip.twilio.com"),
            "192.0.2.1:5060",
            &format!("c{i}"),
        );
    }
    assert_eq!(all(&log, 1).len(), 2);
    assert_eq!(all(&log, 1)[0].text(Field::CallId), "c2");
    send(
        &log,
        &s,
        ("INVITE", "d2.sip.twilio.com"),
        "192.0.2.1:5060",
        "other",
    );
    assert!(all(&log, 2).is_empty());
}

#[test]
fn filters_each_narrow_the_list() {
    let (log, clock, s) = record(RecordSettings::default());
    send(
        &log,
        &s,
        ("INVITE", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        "a",
    );
    clock.set_millis(AT + 1000);
    send(
        &log,
        &s,
        ("ACK", "D1.sip.twilio.com"),
        "192.0.2.2:5070",
        "b",
    );
    let count = |f: Filter| log.list(&sid(1), &f, 10).len();
    let ip = |s: &str| s.parse().unwrap();
    assert_eq!(
        count(Filter {
            call_id: Some("a".into()),
            ..Filter::default()
        }),
        1
    );
    assert_eq!(
        count(Filter {
            source: Some((ip("192.0.2.2"), None)),
            ..Filter::default()
        }),
        1
    );
    assert_eq!(
        count(Filter {
            source: Some((ip("192.0.2.2"), Some(5060))),
            ..Filter::default()
        }),
        0
    );
    assert_eq!(
        count(Filter {
            source: Some((ip("::ffff:192.0.2.1"), Some(5060))),
            ..Filter::default()
        }),
        1
    );
    assert_eq!(
        count(Filter {
            domain: Some("D1.SIP.twilio.com".into()),
            ..Filter::default()
        }),
        2
    );
    assert_eq!(
        count(Filter {
            domain: Some(sid::<SipDomainSid>(1).as_str().into()),
            ..Filter::default()
        }),
        2
    );
    assert_eq!(
        count(Filter {
            domain: Some("d2.sip.twilio.com".into()),
            ..Filter::default()
        }),
        0
    );
    assert_eq!(
        count(Filter {
            outcome: Some("refused".into()),
            ..Filter::default()
        }),
        1
    );
    assert_eq!(
        count(Filter {
            after_ms: Some(AT),
            ..Filter::default()
        }),
        1
    );
    assert_eq!(
        count(Filter {
            before_ms: Some(AT + 1000),
            ..Filter::default()
        }),
        1
    );
    assert_eq!(
        log.list(&sid(1), &Filter::default(), 1).len(),
        1,
        "the limit holds"
    );
}

#[test]
fn traffic_counts_requests_and_refusals_per_minute_for_the_last_hour() {
    let (log, clock, s) = record(RecordSettings::default());
    send(
        &log,
        &s,
        ("INVITE", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        "a",
    );
    send(
        &log,
        &s,
        ("ACK", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        "b",
    );
    clock.set_millis(AT + 60_000);
    send(
        &log,
        &s,
        ("INVITE", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        "c",
    );
    let minute = (AT + 60_000) / 60_000;
    let series = log.traffic(&sid(1), Some("d1.sip.twilio.com"));
    assert_eq!(series.len(), 1);
    let minutes = series[0].minutes(minute);
    assert_eq!(minutes.len(), MINUTES);
    assert_eq!(minutes[MINUTES - 1], (minute, 1, 1));
    assert_eq!(minutes[MINUTES - 2], (minute - 1, 2, 1));
    assert_eq!(minutes[0], (minute - 59, 0, 0));
    // An hour later the old minute's bucket is reused, not added to.
    clock.set_millis(AT + 3_600_000);
    send(
        &log,
        &s,
        ("ACK", "d1.sip.twilio.com"),
        "192.0.2.1:5060",
        "d",
    );
    let later = log.traffic(&sid(1), None)[0].minutes(minute + 59);
    assert_eq!(later[MINUTES - 1], (minute + 59, 1, 0));
    assert!(log.traffic(&sid(1), Some("d2.sip.twilio.com")).is_empty());
}
