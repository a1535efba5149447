//! Failed digest authentication, throttled: after too many wrong answers from one source (for
//! one username, or for any), that source's credentials are not evaluated for a while (503 with
//! `Retry-After`), the right password included, while other sources are not affected; the
//! injected clock ends the block. Challenges (no credentials, a stale nonce) are not failures.
//! The edge here has the default settings: 10 failures per source and username, 20 per source,
//! within 60 s, block 60 s.

use super::auth::{
    ALICE_PASSWORD, Answer, CREDS, CREDS_REALM, OUTSIDE, alice, auth_edge, count, forwarded,
    header_values, nonce_of, send_from, status, with_credentials,
};
use super::*;

/// A second source, outside every access control list too.
const ELSEWHERE: &str = "198.51.100.2";

/// alice's answer to a fresh challenge from `source`, with `password`.
fn answer_from<'a>(e: &Edge, source: SocketAddr, password: &'a str) -> Answer<'a> {
    let (code, text) = status(e.handle(&request("INVITE", CREDS, ""), source, Transport::Udp));
    assert_eq!(code, 407, "{text}");
    Answer {
        nonce: nonce_of(&text),
        password,
        ..alice(e, CREDS, CREDS_REALM, "SHA-256")
    }
}

/// Sends `answer` from `source`.
fn send_answer(e: &Edge, source: SocketAddr, answer: &Answer<'_>) -> Action {
    let invite = request("INVITE", CREDS, &with_credentials(answer));
    e.handle(&invite, source, Transport::Udp)
}

/// Sends `n` wrong answers for `username` from `source`, each answered 403.
fn fail(e: &Edge, source: SocketAddr, username: &str, n: usize) {
    for i in 0..n {
        let wrong = Answer {
            username,
            ..answer_from(e, source, "WrongHorse1Battery")
        };
        let (code, text) = status(send_answer(e, source, &wrong));
        assert_eq!(code, 403, "failure {i}: {text}");
    }
}

/// Asserts `action` is a 503 with `Retry-After: seconds`, no challenge and no SID.
fn throttled(action: Action, seconds: u64) {
    let (code, text) = status(action);
    assert_eq!(code, 503, "{text}");
    assert!(
        text.starts_with("SIP/2.0 503 Service Unavailable\r\n"),
        "{text}"
    );
    assert_eq!(
        header_values(&text, "Retry-After"),
        [seconds.to_string()],
        "{text}"
    );
    assert!(
        !text.contains("Authenticate") && !text.contains("SD0"),
        "{text}"
    );
}

#[test]
fn ten_wrong_answers_for_a_user_refuse_even_the_right_one_from_that_source_only() {
    let (e, _, _) = auth_edge();
    fail(&e, from(OUTSIDE), "alice", 10);
    let right = answer_from(&e, from(OUTSIDE), ALICE_PASSWORD);
    throttled(send_answer(&e, from(OUTSIDE), &right), 60);
    // The same user from another source gets in.
    let there = answer_from(&e, from(ELSEWHERE), ALICE_PASSWORD);
    forwarded(send_answer(&e, from(ELSEWHERE), &there));
    // Another username from the blocked source is still checked (and refused: 403, not 503).
    let (code, _) = status(send_answer(
        &e,
        from(OUTSIDE),
        &Answer {
            username: "mallory",
            ..right.clone()
        },
    ));
    assert_eq!(code, 403);
    let m = &e.metrics;
    assert_eq!(count(&m.auth_throttled), 1);
    assert_eq!(count(&m.auth_blocks_user), 1);
    assert_eq!(count(&m.auth_blocks_source), 0);
    assert_eq!(count(&m.auth_refused), 11);
    assert_eq!(count(&m.auth_authenticated), 1);
    let text = m.render();
    for line in [
        "sipmap_sip_auth_decisions_total{decision=\"throttled\"} 1\n",
        "sipmap_sip_auth_blocks_total{by=\"source_username\"} 1\n",
        "sipmap_sip_auth_blocks_total{by=\"source\"} 0\n",
        "sipmap_sip_auth_throttle_evictions_total 0\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

#[test]
fn nine_wrong_answers_do_not_block() {
    let (e, _, _) = auth_edge();
    fail(&e, from(OUTSIDE), "alice", 9);
    let right = answer_from(&e, from(OUTSIDE), ALICE_PASSWORD);
    forwarded(send_answer(&e, from(OUTSIDE), &right));
    assert_eq!(count(&e.metrics.auth_throttled), 0);
}

#[test]
fn the_block_ends_with_its_time_and_retry_after_counts_down() {
    let (e, _, clock) = auth_edge();
    fail(&e, from(OUTSIDE), "alice", 10);
    let right = answer_from(&e, from(OUTSIDE), ALICE_PASSWORD);
    clock.set_millis((NOW + 45) * 1000);
    throttled(send_answer(&e, from(OUTSIDE), &right), 15);
    clock.set_millis((NOW + 59) * 1000 + 500);
    throttled(send_answer(&e, from(OUTSIDE), &right), 1);
    clock.set_millis((NOW + 60) * 1000);
    forwarded(send_answer(&e, from(OUTSIDE), &right));
}

#[test]
fn twenty_failures_across_usernames_block_the_source_for_every_username() {
    let (e, _, _) = auth_edge();
    let names: Vec<String> = (0..20).map(|i| format!("user{i}")).collect();
    for name in &names {
        fail(&e, from(OUTSIDE), name, 1);
    }
    let right = answer_from(&e, from(OUTSIDE), ALICE_PASSWORD);
    throttled(send_answer(&e, from(OUTSIDE), &right), 60);
    // Unreadable credentials are not read either.
    let unreadable = "Proxy-Authorization: Digest username=\"alice\r\n";
    throttled(send_from(&e, "INVITE", CREDS, OUTSIDE, unreadable), 60);
    // A request without credentials is still challenged: a challenge is no guess.
    let (code, _) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, ""));
    assert_eq!(code, 407);
    let there = answer_from(&e, from(ELSEWHERE), ALICE_PASSWORD);
    forwarded(send_answer(&e, from(ELSEWHERE), &there));
    assert_eq!(count(&e.metrics.auth_blocks_source), 1);
    assert_eq!(count(&e.metrics.auth_blocks_user), 0);
}

#[test]
fn an_ipv6_source_counts_by_its_64() {
    let (e, _, _) = auth_edge();
    let at = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 5070);
    for i in 0..10 {
        // Each failure from another address of the same /64.
        fail(&e, at(&format!("2001:db8::{:x}", i + 1)), "alice", 1);
    }
    let right = answer_from(&e, at("2001:db8::ffff"), ALICE_PASSWORD);
    throttled(send_answer(&e, at("2001:db8::ffff"), &right), 60);
    let next = answer_from(&e, at("2001:db8:0:1::1"), ALICE_PASSWORD);
    forwarded(send_answer(&e, at("2001:db8:0:1::1"), &next));
}

#[test]
fn challenges_and_stale_nonces_are_not_failures() {
    let (e, _, clock) = auth_edge();
    for _ in 0..30 {
        let (code, _) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, ""));
        assert_eq!(code, 407);
    }
    // Credentials for another realm only: a challenge too.
    let other = "Proxy-Authorization: Digest username=\"alice\", realm=\"x.example\", \
                 nonce=\"1\", uri=\"sip:x\", response=\"0\"\r\n";
    for _ in 0..30 {
        let (code, _) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, other));
        assert_eq!(code, 407);
    }
    // The right password with an expired nonce gets a stale challenge, 30 times over.
    let old = answer_from(&e, from(OUTSIDE), ALICE_PASSWORD);
    clock.set_millis((NOW + nonce::NONCE_LIFETIME_SECS + 1) * 1000);
    for _ in 0..30 {
        let (code, text) = status(send_answer(&e, from(OUTSIDE), &old));
        assert_eq!(code, 407, "{text}");
        assert!(text.contains("stale=true"), "{text}");
    }
    let fresh = answer_from(&e, from(OUTSIDE), ALICE_PASSWORD);
    forwarded(send_answer(&e, from(OUTSIDE), &fresh));
    assert_eq!(count(&e.metrics.auth_refused), 0);
    assert_eq!(count(&e.metrics.auth_throttled), 0);
}

#[test]
fn settings_apply() {
    let clock = Arc::new(FixedClock::at_millis(NOW * 1000));
    let (e, table, _) = auth_edge();
    drop(e);
    let e = Edge::with_branch_key(
        table.reader(),
        Some(UPSTREAM.parse().unwrap()),
        EDGE.parse().unwrap(),
        Arc::new(Metrics::default()),
        authenticator(&clock).with_throttle(ThrottleSettings {
            failures_per_source: 100,
            failures_per_user: 2,
            window: std::time::Duration::from_secs(10),
            block: std::time::Duration::from_secs(5),
        }),
        [7; 32],
    );
    fail(&e, from(OUTSIDE), "alice", 2);
    let right = answer_from(&e, from(OUTSIDE), ALICE_PASSWORD);
    throttled(send_answer(&e, from(OUTSIDE), &right), 5);
    clock.set_millis((NOW + 5) * 1000);
    forwarded(send_answer(&e, from(OUTSIDE), &right));
    // Two failures more than 10 s apart do not add up.
    fail(&e, from(OUTSIDE), "alice", 1);
    clock.set_millis((NOW + 16) * 1000);
    fail(&e, from(OUTSIDE), "alice", 1);
    let right = answer_from(&e, from(OUTSIDE), ALICE_PASSWORD);
    forwarded(send_answer(&e, from(OUTSIDE), &right));
}
