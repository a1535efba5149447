//! What a domain's security settings decide at the edge: blocked, let in by an IP access control
//! list, challenged, authenticated, refused; `REGISTER`, `ACK`, `CANCEL` and `OPTIONS`; what a
//! forwarded request carries and what it loses. Expected digest responses are computed here
//! from the RFC 7616 formulas with the hash crates directly, not with the edge's own code.

use super::*;
use crate::secret::CREDENTIAL_PASSWORD;
use md5::Md5;
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

pub(super) const ALICE_PASSWORD: &str = "CorrectHorse1Battery";
const BOB_PASSWORD: &str = "Registrar2Password";
/// A source outside every access control list here.
pub(super) const OUTSIDE: &str = "198.51.100.1";
/// A source inside `AL2`.
const INSIDE: &str = "10.9.1.1";

fn domain(n: char, name: &str, sip_registration: bool) -> Target {
    Target {
        domain_sid: SipDomainSid::parse(&format!("SD000000000000000000000000000000{n}{n}"))
            .unwrap(),
        account_sid: AccountSid::parse("AC0000000000000000000000000000000a").unwrap(),
        domain_name: name.into(),
        sip_registration,
        secure: false,
        byoc_trunk_sid: None,
        voice: None,
    }
}

/// Five domains (by Request-URI host): `creds` (credential list `CL1` for calls, `CL2` for
/// registrations), `both` (`AL2` and `CL1` for calls, `CL2` for registrations), `aclonly` (`AL2`),
/// `blocked` (nothing), `other` (`CL1`). `CL1` holds alice, `CL2` bob; `AL2` is 10.9.0.0/16.
pub(super) fn auth_edge() -> (Edge, RecognitionWriter, Arc<FixedClock>) {
    let domains = vec![
        domain('b', "creds.sip.twilio.com", true),
        domain('c', "Both.sip.twilio.com", true),
        domain('d', "aclonly.sip.twilio.com", false),
        domain('e', "blocked.sip.twilio.com", false),
        domain('f', "other.sip.twilio.com", false),
    ];
    let sids: Vec<SipDomainSid> = domains.iter().map(|d| d.domain_sid.clone()).collect();
    let mut state: Vec<Change> = domains.into_iter().map(Change::DomainSet).collect();
    let key = server_key();
    let (cl1, cl2) = (
        MappedList::Credentials(test_sid(1)),
        MappedList::Credentials(test_sid(2)),
    );
    let al2 = MappedList::Acl(test_sid(2));
    state.extend([
        Change::CredentialSet(test_sid(1), "alice".into(), seal(&key, ALICE_PASSWORD)),
        Change::CredentialSet(test_sid(2), "bob".into(), seal(&key, BOB_PASSWORD)),
        Change::AclNetworkAdded(test_sid(2), Network::new("10.9.0.0".parse().unwrap(), 16)),
    ]);
    for (i, kind, list) in [
        (0, AuthKind::CallsCredentials, &cl1),
        (0, AuthKind::RegistrationCredentials, &cl2),
        (1, AuthKind::CallsAcl, &al2),
        (1, AuthKind::CallsCredentials, &cl1),
        (1, AuthKind::RegistrationCredentials, &cl2),
        (2, AuthKind::CallsAcl, &al2),
        (4, AuthKind::CallsCredentials, &cl1),
    ] {
        state.push(Change::AuthMapped(sids[i].clone(), kind, list.clone()));
    }
    edge_over(state, true)
}

fn seal(key: &ServerKey, password: &str) -> crate::recognition::Secret {
    crate::recognition::Secret::sealed(&key.seal(CREDENTIAL_PASSWORD, password.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `H(text)` as lowercase hex for the algorithm named `algorithm`.
fn h(algorithm: &str, text: &str) -> String {
    match algorithm {
        "SHA-256" => hex(&Sha256::digest(text.as_bytes())),
        "MD5" => hex(&Md5::digest(text.as_bytes())),
        other => panic!("no {other}"),
    }
}

/// A client's digest answer, computed from RFC 7616 §3.4.1 (or RFC 2069 without `qop`).
#[derive(Clone)]
pub(super) struct Answer<'a> {
    pub(super) method: &'a str,
    pub(super) uri: &'a str,
    pub(super) realm: &'a str,
    pub(super) nonce: String,
    pub(super) username: &'a str,
    pub(super) password: &'a str,
    pub(super) algorithm: &'a str,
    pub(super) qop: bool,
}

impl Answer<'_> {
    fn header(&self) -> String {
        let ha1 = h(
            self.algorithm,
            &format!("{}:{}:{}", self.username, self.realm, self.password),
        );
        let ha2 = h(self.algorithm, &format!("{}:{}", self.method, self.uri));
        let (nc, cnonce) = ("00000001", "0a4f113b");
        let (response, qop) = if self.qop {
            let r = h(
                self.algorithm,
                &format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce),
            );
            (r, format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""))
        } else {
            (
                h(self.algorithm, &format!("{ha1}:{}:{ha2}", self.nonce)),
                String::new(),
            )
        };
        format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", \
             algorithm={}{qop}",
            self.username, self.realm, self.nonce, self.uri, self.algorithm
        )
    }
}

/// Sends `method` to `uri` from `source` with extra header lines `extra`.
pub(super) fn send_from(e: &Edge, method: &str, uri: &str, source: &str, extra: &str) -> Action {
    e.handle(&request(method, uri, extra), from(source), Transport::Udp)
}

/// The text of what the edge sent, asserting it went to the upstream (forwarded).
pub(super) fn forwarded(action: Action) -> String {
    let (to, text) = send(action);
    assert_eq!(to, UPSTREAM.parse().unwrap(), "not forwarded: {text}");
    text
}

/// The status of a response the edge generated (sent back to the client).
pub(super) fn status(action: Action) -> (u16, String) {
    let (to, text) = send(action);
    assert_ne!(to, UPSTREAM.parse().unwrap(), "forwarded: {text}");
    let code = text[8..11].parse().unwrap();
    (code, text)
}

/// The values of every header `name` in `text`, in order.
pub(super) fn header_values<'t>(text: &'t str, name: &str) -> Vec<&'t str> {
    text.split("\r\n")
        .filter_map(|l| l.split_once(": "))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

/// The nonce of the first challenge in `text`.
pub(super) fn nonce_of(text: &str) -> String {
    let challenge = text
        .split("\r\n")
        .find(|l| l.contains("Authenticate: Digest"))
        .unwrap_or_else(|| panic!("no challenge in {text}"));
    let after = challenge.split_once("nonce=\"").unwrap().1;
    after.split('"').next().unwrap().to_owned()
}

/// An answer for alice to a fresh challenge of `INVITE sip:bob@{host}` from OUTSIDE.
pub(super) fn alice<'a>(e: &Edge, uri: &'a str, realm: &'a str, algorithm: &'a str) -> Answer<'a> {
    let (code, text) = status(send_from(e, "INVITE", uri, OUTSIDE, ""));
    assert_eq!(code, 407, "{text}");
    Answer {
        method: "INVITE",
        uri,
        realm,
        nonce: nonce_of(&text),
        username: "alice",
        password: ALICE_PASSWORD,
        algorithm,
        qop: true,
    }
}

pub(super) fn with_credentials(answer: &Answer<'_>) -> String {
    format!("Proxy-Authorization: {}\r\n", answer.header())
}

pub(super) fn count(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

pub(super) const CREDS: &str = "sip:bob@creds.sip.twilio.com";
pub(super) const CREDS_REALM: &str = "creds.sip.twilio.com";

#[test]
fn a_domain_with_nothing_mapped_is_blocked() {
    let (e, _, _) = auth_edge();
    for method in ["INVITE", "OPTIONS", "MESSAGE", "SUBSCRIBE"] {
        let (code, text) = status(send_from(
            &e,
            method,
            "sip:bob@blocked.sip.twilio.com",
            INSIDE,
            "",
        ));
        assert_eq!(code, 403, "{text}");
        assert!(text.starts_with("SIP/2.0 403 Forbidden\r\n"), "{text}");
        assert!(!text.contains("X-Sipmap"), "{text}");
    }
    assert_eq!(count(&e.metrics.auth_blocked), 4);
    assert_eq!(count(&e.metrics.forwarded), 0);
}

#[test]
fn a_source_in_a_mapped_acl_is_let_in_and_others_are_refused() {
    let (e, _, _) = auth_edge();
    let uri = "sip:bob@aclonly.sip.twilio.com";
    let text = forwarded(send_from(&e, "INVITE", uri, INSIDE, ""));
    assert_eq!(header_values(&text, "X-Sipmap-Auth"), ["ip-acl"]);
    assert_eq!(
        header_values(&text, "X-Sipmap-Domain-Sid"),
        ["SD000000000000000000000000000000dd"]
    );
    // Outside the list, with no credential list mapped: 403, not a challenge.
    let (code, text) = status(send_from(&e, "INVITE", uri, OUTSIDE, ""));
    assert_eq!(code, 403, "{text}");
    assert!(!text.contains("Authenticate"), "{text}");
    // An IPv4-mapped IPv6 source is its IPv4 address.
    let mapped: SocketAddr = "[::ffff:10.9.1.1]:5070".parse().unwrap();
    forwarded(e.handle(&request("INVITE", uri, ""), mapped, Transport::Udp));
    // With both mapped, the list lets its sources in without a challenge.
    let text = forwarded(send_from(
        &e,
        "MESSAGE",
        "sip:x@both.sip.twilio.com",
        INSIDE,
        "",
    ));
    assert_eq!(header_values(&text, "X-Sipmap-Auth"), ["ip-acl"]);
    assert_eq!(count(&e.metrics.auth_acl_allowed), 3);
    assert_eq!(count(&e.metrics.auth_blocked), 1);
}

#[test]
fn a_challenge_offers_sha256_then_md5_with_one_fresh_nonce() {
    let (e, _, _) = auth_edge();
    let (code, text) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, ""));
    assert_eq!(code, 407);
    assert!(
        text.starts_with("SIP/2.0 407 Proxy Authentication Required\r\n"),
        "{text}"
    );
    let nonce = nonce_of(&text);
    assert_eq!(nonce.len(), 64);
    assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()), "{nonce}");
    assert!(
        nonce.starts_with(&format!("{NOW:016x}")),
        "dated by the clock: {nonce}"
    );
    assert_eq!(
        header_values(&text, "Proxy-Authenticate"),
        [
            format!(
                "Digest realm=\"creds.sip.twilio.com\", nonce=\"{nonce}\", algorithm=SHA-256, \
                 qop=\"auth\""
            ),
            format!(
                "Digest realm=\"creds.sip.twilio.com\", nonce=\"{nonce}\", algorithm=MD5, \
                 qop=\"auth\""
            ),
        ]
    );
    assert!(
        text.contains("To: <sip:bob@creds.sip.twilio.com>;tag="),
        "{text}"
    );
    assert!(!text.contains("X-Sipmap") && !text.contains("SD0") && !text.contains("AC0"));
    // Every challenge has a nonce of its own.
    let (_, again) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, ""));
    assert_ne!(nonce_of(&again), nonce);
    // The realm is the domain's name as its owner wrote it, whatever case the client used.
    let (_, text) = status(send_from(
        &e,
        "INVITE",
        "sip:x@BOTH.sip.twilio.com",
        OUTSIDE,
        "",
    ));
    assert!(text.contains("realm=\"Both.sip.twilio.com\""), "{text}");
    assert_eq!(count(&e.metrics.auth_challenged), 3);
}

#[test]
fn correct_credentials_pass_with_sha256_md5_and_md5_without_qop() {
    let (e, _, _) = auth_edge();
    for (algorithm, qop) in [("SHA-256", true), ("MD5", true), ("MD5", false)] {
        let answer = Answer {
            qop,
            ..alice(&e, CREDS, CREDS_REALM, algorithm)
        };
        let text = forwarded(send_from(
            &e,
            "INVITE",
            CREDS,
            OUTSIDE,
            &with_credentials(&answer),
        ));
        assert_eq!(
            header_values(&text, "X-Sipmap-Auth"),
            ["digest;username=alice"],
            "{algorithm} qop={qop}"
        );
        assert!(!text.contains("Proxy-Authorization"), "consumed: {text}");
    }
    // SHA-256 without qop is not a thing (RFC 7616 needs qop): refused.
    let answer = Answer {
        qop: false,
        ..alice(&e, CREDS, CREDS_REALM, "SHA-256")
    };
    let (code, _) = status(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&answer),
    ));
    assert_eq!(code, 403);
    assert_eq!(count(&e.metrics.auth_authenticated), 3);
    assert_eq!(count(&e.metrics.auth_refused), 1);
}

#[test]
fn only_the_consumed_credentials_and_the_clients_sipmap_headers_are_removed() {
    let (e, _, _) = auth_edge();
    let answer = alice(&e, CREDS, CREDS_REALM, "SHA-256");
    let other = "Digest username=\"carol\", realm=\"upstream.example\", nonce=\"n\", \
                 uri=\"sip:bob@creds.sip.twilio.com\", response=\"00\"";
    let extra = format!(
        "Proxy-Authorization: {other}\r\nX-Sipmap-Auth: digest;username=mallory\r\n\
         x-sipmap-account-sid: ACspoofed\r\nX-SIPMAP-Whatever: 1\r\n{}",
        with_credentials(&answer)
    );
    let text = forwarded(send_from(&e, "INVITE", CREDS, OUTSIDE, &extra));
    assert_eq!(header_values(&text, "Proxy-Authorization"), [other]);
    assert_eq!(
        header_values(&text, "X-Sipmap-Auth"),
        ["digest;username=alice"]
    );
    assert_eq!(
        header_values(&text, "X-Sipmap-Account-Sid"),
        ["AC0000000000000000000000000000000a"]
    );
    assert!(
        !text.contains("mallory") && !text.contains("ACspoofed"),
        "{text}"
    );
    assert!(
        !text.to_ascii_lowercase().contains("x-sipmap-whatever"),
        "{text}"
    );
    // Credentials for another realm only are not the edge's: it challenges.
    let extra = format!("Proxy-Authorization: {other}\r\n");
    let (code, _) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, &extra));
    assert_eq!(code, 407);
    // Another scheme is someone else's too.
    let (code, _) = status(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        "Proxy-Authorization: Basic YWxpY2U6eA==\r\n",
    ));
    assert_eq!(code, 407);
}

#[test]
fn wrong_unknown_or_malformed_credentials_get_403() {
    let (e, _, _) = auth_edge();
    let good = alice(&e, CREDS, CREDS_REALM, "SHA-256");
    let vary = |change: &dyn Fn(&mut Answer<'static>)| {
        let mut answer = good.clone();
        change(&mut answer);
        answer.header()
    };
    let replaced = |from: &str, to: &str| good.header().replace(from, to);
    let mut cases: Vec<(&str, String)> = vec![
        (
            "wrong password",
            vary(&|a| a.password = "WrongHorse1Battery"),
        ),
        ("unknown user", vary(&|a| a.username = "mallory")),
        (
            "registration-only user",
            vary(&|a| (a.username, a.password) = ("bob", BOB_PASSWORD)),
        ),
        ("other method", vary(&|a| a.method = "MESSAGE")),
        (
            "uri is not the Request-URI",
            vary(&|a| a.uri = "sip:bob@creds.sip.twilio.com;x=1"),
        ),
        (
            "algorithm not offered",
            replaced("algorithm=SHA-256", "algorithm=SHA-512-256"),
        ),
        ("qop auth-int", replaced("qop=auth", "qop=auth-int")),
        ("bad nc", replaced("nc=00000001", "nc=1")),
        ("no response", replaced("response=", "responze=")),
        ("unreadable", "Digest username=\"alice".to_owned()),
    ];
    let response = good.header().split("response=\"").nth(1).unwrap()[..64].to_owned();
    cases.push((
        "a response of zeros",
        good.header().replace(&response, &"0".repeat(64)),
    ));
    for (why, value) in &cases {
        let extra = format!("Proxy-Authorization: {value}\r\n");
        let (code, text) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, &extra));
        assert_eq!(code, 403, "{why}: {text}");
        assert!(
            !text.contains("SD0") && !text.contains("Authenticate"),
            "{why}: {text}"
        );
    }
    assert_eq!(count(&e.metrics.auth_refused), cases.len() as u64);
    // The right answer, with its response in capitals, passes.
    let upper = good
        .header()
        .replace(&response, &response.to_ascii_uppercase());
    let extra = format!("Proxy-Authorization: {upper}\r\n");
    forwarded(send_from(&e, "INVITE", CREDS, OUTSIDE, &extra));
}

#[test]
fn an_expired_nonce_gets_a_stale_challenge_and_never_passes() {
    let (e, _, clock) = auth_edge();
    let answer = alice(&e, CREDS, CREDS_REALM, "MD5");
    let extra = with_credentials(&answer);
    // Replayed within its lifetime, it passes (the edge is stateless).
    clock.set_millis((NOW + nonce::NONCE_LIFETIME_SECS) * 1000);
    forwarded(send_from(&e, "INVITE", CREDS, OUTSIDE, &extra));
    forwarded(send_from(&e, "INVITE", CREDS, OUTSIDE, &extra));
    clock.set_millis((NOW + nonce::NONCE_LIFETIME_SECS + 1) * 1000);
    let (code, text) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, &extra));
    assert_eq!(code, 407, "{text}");
    let challenges = header_values(&text, "Proxy-Authenticate");
    assert_eq!(challenges.len(), 2);
    assert!(
        challenges.iter().all(|c| c.ends_with(", stale=true")),
        "{text}"
    );
    let fresh = nonce_of(&text);
    assert_ne!(fresh, answer.nonce);
    // A wrong password with the expired nonce is refused, not told "stale".
    let wrong = Answer {
        password: "WrongHorse1Battery",
        ..answer.clone()
    };
    let (code, _) = status(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&wrong),
    ));
    assert_eq!(code, 403);
    // The new nonce works.
    let retry = Answer {
        nonce: fresh,
        ..answer
    };
    forwarded(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&retry),
    ));
}

#[test]
fn nonces_of_another_realm_or_key_and_forged_nonces_are_refused() {
    let (e, _, clock) = auth_edge();
    // alice is in CL1, mapped to both domains: a nonce issued for "other" is useless on "creds".
    let theirs = alice(
        &e,
        "sip:bob@other.sip.twilio.com",
        "other.sip.twilio.com",
        "SHA-256",
    );
    let moved = Answer {
        uri: CREDS,
        realm: CREDS_REALM,
        ..theirs.clone()
    };
    let (code, _) = status(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&moved),
    ));
    assert_eq!(code, 403);
    // One character changed.
    let good = alice(&e, CREDS, CREDS_REALM, "SHA-256");
    let mut forged = good.nonce.clone().into_bytes();
    forged[20] = if forged[20] == b'0' { b'1' } else { b'0' };
    let flipped = Answer {
        nonce: String::from_utf8(forged).unwrap(),
        ..good.clone()
    };
    let (code, _) = status(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&flipped),
    ));
    assert_eq!(code, 403);
    // A nonce from an edge with another server key, same realm and time.
    let foreign = Edge::new(
        e.recognizer.clone(),
        e.upstream,
        e.local,
        Arc::new(Metrics::default()),
        Authenticator::new(&ServerKey::from_bytes([6; 32]), &[]).with_clock(clock.clone()),
    );
    let (_, text) = status(send_from(&foreign, "INVITE", CREDS, OUTSIDE, ""));
    let alien = Answer {
        nonce: nonce_of(&text),
        ..good.clone()
    };
    let (code, _) = status(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&alien),
    ));
    assert_eq!(code, 403);
    // An edge with the same key (another node of the cluster) accepts this one's nonce.
    let node = Edge::new(
        e.recognizer.clone(),
        e.upstream,
        e.local,
        Arc::new(Metrics::default()),
        authenticator(&clock),
    );
    forwarded(send_from(
        &node,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&good),
    ));
}

#[test]
fn register_is_refused_unless_enabled_then_challenged_with_401() {
    let (e, _, _) = auth_edge();
    // Registration off: 403, even from inside an access control list.
    for uri in ["sip:aclonly.sip.twilio.com", "sip:blocked.sip.twilio.com"] {
        let (code, _) = status(send_from(&e, "REGISTER", uri, INSIDE, ""));
        assert_eq!(code, 403, "{uri}");
    }
    // Registration on: challenged even from inside the domain's access control list.
    let uri = "sip:Both.sip.twilio.com";
    let (code, text) = status(send_from(&e, "REGISTER", uri, INSIDE, ""));
    assert_eq!(code, 401, "{text}");
    assert!(text.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{text}");
    assert_eq!(header_values(&text, "WWW-Authenticate").len(), 2);
    assert!(header_values(&text, "Proxy-Authenticate").is_empty());
    let bob = Answer {
        method: "REGISTER",
        uri,
        realm: "Both.sip.twilio.com",
        nonce: nonce_of(&text),
        username: "bob",
        password: BOB_PASSWORD,
        algorithm: "SHA-256",
        qop: true,
    };
    // In Proxy-Authorization it is not a registrar's answer: challenged again.
    let (code, _) = status(send_from(
        &e,
        "REGISTER",
        uri,
        INSIDE,
        &with_credentials(&bob),
    ));
    assert_eq!(code, 401);
    let extra = format!("Authorization: {}\r\n", bob.header());
    let text = forwarded(send_from(&e, "REGISTER", uri, INSIDE, &extra));
    assert_eq!(
        header_values(&text, "X-Sipmap-Auth"),
        ["digest;username=bob"]
    );
    assert!(!text.contains("Authorization:"), "consumed: {text}");
    // alice is in the calls list only.
    let alice = Answer {
        username: "alice",
        password: ALICE_PASSWORD,
        ..bob
    };
    let extra = format!("Authorization: {}\r\n", alice.header());
    let (code, _) = status(send_from(&e, "REGISTER", uri, INSIDE, &extra));
    assert_eq!(code, 403);
}

#[test]
fn ack_and_cancel_are_never_challenged() {
    let (e, _, _) = auth_edge();
    for uri in [CREDS, "sip:bob@blocked.sip.twilio.com"] {
        for method in ["ACK", "CANCEL"] {
            let text = forwarded(send_from(&e, method, uri, OUTSIDE, ""));
            assert_eq!(
                header_values(&text, "X-Sipmap-Auth"),
                ["none"],
                "{method} {uri}"
            );
        }
    }
    assert_eq!(
        count(&e.metrics.auth_challenged) + count(&e.metrics.auth_blocked),
        0
    );
    // The ACK to the edge's own 407 ends there: the upstream never saw that transaction.
    let (_, text) = status(send_from(&e, "INVITE", CREDS, OUTSIDE, ""));
    let to = header_values(&text, "To")[0];
    let ack = String::from_utf8(request("ACK", CREDS, ""))
        .unwrap()
        .replace(&format!("To: <{CREDS}>\r\n"), &format!("To: {to}\r\n"));
    assert_eq!(
        e.handle(ack.as_bytes(), from(OUTSIDE), Transport::Udp),
        Action::Drop
    );
    // One with the upstream's tag goes on.
    let theirs = ack.replace(to, &format!("<{CREDS}>;tag=upstream1"));
    forwarded(e.handle(theirs.as_bytes(), from(OUTSIDE), Transport::Udp));
}

/// A request inside a dialog (its `To` has a tag) is admitted like any other: by an access
/// control list, or with credentials.
#[test]
fn in_dialog_requests_need_the_same_admission() {
    let (e, _, _) = auth_edge();
    let bye = |uri: &str| {
        String::from_utf8(request("BYE", uri, ""))
            .unwrap()
            .replace(&format!("To: <{uri}>"), &format!("To: <{uri}>;tag=abc"))
    };
    let (code, text) = status(e.handle(bye(CREDS).as_bytes(), from(OUTSIDE), Transport::Udp));
    assert_eq!(code, 407, "{text}");
    assert!(
        text.contains(";tag=abc\r\n"),
        "the dialog's tag is kept: {text}"
    );
    let both = bye("sip:bob@Both.sip.twilio.com");
    let text = forwarded(e.handle(both.as_bytes(), from(INSIDE), Transport::Udp));
    assert_eq!(header_values(&text, "X-Sipmap-Auth"), ["ip-acl"]);
}

#[test]
fn options_reveals_the_sids_only_to_admitted_sources() {
    let (e, _, _) = auth_edge();
    let sids = |text: &str| text.contains("SD0") || text.contains("AC0");
    let unadmitted = [
        (CREDS, OUTSIDE, 407),
        ("sip:x@aclonly.sip.twilio.com", OUTSIDE, 403),
        ("sip:x@blocked.sip.twilio.com", INSIDE, 403),
        ("sip:x@unknown.sip.twilio.com", INSIDE, 404),
    ];
    for (uri, source, want) in unadmitted {
        let (code, text) = status(send_from(&e, "OPTIONS", uri, source, ""));
        assert_eq!(code, want, "{uri}: {text}");
        assert!(!sids(&text), "{uri}: {text}");
    }
    let (code, text) = status(send_from(
        &e,
        "OPTIONS",
        "sip:x@aclonly.sip.twilio.com",
        INSIDE,
        "",
    ));
    assert_eq!(code, 200);
    assert!(sids(&text));
    let (_, challenge) = status(send_from(&e, "OPTIONS", CREDS, OUTSIDE, ""));
    let answer = Answer {
        method: "OPTIONS",
        uri: CREDS,
        realm: CREDS_REALM,
        nonce: nonce_of(&challenge),
        username: "alice",
        password: ALICE_PASSWORD,
        algorithm: "MD5",
        qop: true,
    };
    let (code, text) = status(send_from(
        &e,
        "OPTIONS",
        CREDS,
        OUTSIDE,
        &with_credentials(&answer),
    ));
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        header_values(&text, "X-Sipmap-Domain-Sid"),
        ["SD000000000000000000000000000000bb"]
    );
}

#[test]
fn changes_to_lists_apply_to_the_next_request() {
    let (e, table, _) = auth_edge();
    let uri = "sip:bob@aclonly.sip.twilio.com";
    let (code, _) = status(send_from(&e, "INVITE", uri, OUTSIDE, ""));
    assert_eq!(code, 403);
    let net = Network::new(OUTSIDE.parse().unwrap(), 32);
    table.apply(&[Change::AclNetworkAdded(test_sid(2), net)]);
    forwarded(send_from(&e, "INVITE", uri, OUTSIDE, ""));
    table.apply(&[Change::AclNetworkRemoved(test_sid(2), net)]);
    let (code, _) = status(send_from(&e, "INVITE", uri, OUTSIDE, ""));
    assert_eq!(code, 403);
    // A deleted credential stops working at once, even with a nonce issued before.
    let answer = alice(&e, CREDS, CREDS_REALM, "SHA-256");
    forwarded(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&answer),
    ));
    table.apply(&[Change::CredentialRemoved(test_sid(1), "alice".into())]);
    let (code, _) = status(send_from(
        &e,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&answer),
    ));
    assert_eq!(code, 403);
}

#[test]
fn metrics_count_each_decision() {
    let (e, _, _) = auth_edge();
    send_from(&e, "INVITE", "sip:x@aclonly.sip.twilio.com", INSIDE, "");
    send_from(&e, "INVITE", "sip:x@blocked.sip.twilio.com", INSIDE, "");
    let answer = alice(&e, CREDS, CREDS_REALM, "MD5");
    send_from(&e, "INVITE", CREDS, OUTSIDE, &with_credentials(&answer));
    let wrong = Answer {
        password: "nope",
        ..answer
    };
    send_from(&e, "INVITE", CREDS, OUTSIDE, &with_credentials(&wrong));
    let text = e.metrics.render();
    for line in [
        "sipmap_sip_auth_decisions_total{decision=\"acl_allowed\"} 1\n",
        "sipmap_sip_auth_decisions_total{decision=\"challenged\"} 1\n",
        "sipmap_sip_auth_decisions_total{decision=\"authenticated\"} 1\n",
        "sipmap_sip_auth_decisions_total{decision=\"refused\"} 1\n",
        "sipmap_sip_auth_decisions_total{decision=\"blocked\"} 1\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

#[test]
fn only_the_offered_algorithms_are_accepted() {
    let clock = Arc::new(FixedClock::at_millis(NOW * 1000));
    let (e, _, _) = auth_edge();
    let md5_only = Edge::new(
        e.recognizer.clone(),
        e.upstream,
        e.local,
        Arc::new(Metrics::default()),
        Authenticator::new(&server_key(), &[digest::Algorithm::Md5]).with_clock(clock),
    );
    let (_, text) = status(send_from(&md5_only, "INVITE", CREDS, OUTSIDE, ""));
    let challenges = header_values(&text, "Proxy-Authenticate");
    assert_eq!(challenges.len(), 1);
    assert!(challenges[0].contains("algorithm=MD5"), "{text}");
    let sha = Answer {
        nonce: nonce_of(&text),
        ..alice(&e, CREDS, CREDS_REALM, "SHA-256")
    };
    let (code, _) = status(send_from(
        &md5_only,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&sha),
    ));
    assert_eq!(code, 403);
    let md5 = Answer {
        algorithm: "MD5",
        ..sha
    };
    forwarded(send_from(
        &md5_only,
        "INVITE",
        CREDS,
        OUTSIDE,
        &with_credentials(&md5),
    ));
}

proptest! {
    /// Whatever a client puts in `Proxy-Authorization`, the edge answers 403 or 407 and never
    /// forwards the request, and never panics.
    #[test]
    fn arbitrary_credentials_never_get_in(
        value in prop_oneof![
            ".{0,200}",
            "Digest [a-z]{1,8}=(\"[ -~]{0,40}\"|[a-zA-Z0-9-]{1,20})(, ?[a-z]{1,8}=(\"[ -~]{0,40}\"|[a-zA-Z0-9-]{1,20})){0,10}",
        ],
        realm_ours in any::<bool>(),
    ) {
        let (e, _, _) = auth_edge();
        let value = value.replace(['\r', '\n'], " ");
        let value = if realm_ours {
            format!("{value}, realm=\"{CREDS_REALM}\"")
        } else {
            value
        };
        let extra = format!("Proxy-Authorization: {value}\r\n");
        match send_from(&e, "INVITE", CREDS, OUTSIDE, &extra) {
            Action::Send { to, bytes, .. } => {
                prop_assert_ne!(to, UPSTREAM.parse::<SocketAddr>().unwrap());
                let text = String::from_utf8_lossy(&bytes);
                prop_assert!(
                    text.starts_with("SIP/2.0 403") || text.starts_with("SIP/2.0 407"),
                    "{}", text
                );
            }
            Action::Drop => {}
            Action::Call(_) => prop_assert!(false, "no domain here has a voice application"),
        }
    }
}
