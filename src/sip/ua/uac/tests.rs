//! The child leg's INVITE, and its retry with digest credentials.

use super::*;
use crate::sip::edge::digest::{Credentials, Parsed};
use crate::sip::ua::tests::{
    LOCAL, addr, first_line, header_of, headers_of, parse, round_trips, wire,
};
use crate::sip_syntax::Wire;

fn ids() -> Ids {
    Ids {
        call_id: "c0ffee".into(),
        tag: "ours".into(),
        branch: "z9hG4bK-sm-c-0123".into(),
    }
}

fn new_invite(target: &str) -> NewInvite<'_> {
    NewInvite {
        target,
        from_user: "+1 (555) 010-0000",
        from_host: "acme.sip.example.com",
        display_name: Some("Alice \"A\""),
        local: addr(LOCAL),
        body: Some(("application/sdp", b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\n")),
        headers: &[("X-Twilio-CallSid", "CA01")],
    }
}

#[test]
fn the_child_invite_follows_the_sip_noun() {
    let target = "sip:bob@192.0.2.7:5070;transport=tcp?X-Foo=bar%20baz&Subject=ignored&x-lower=1";
    let out = new_invite(target).build(&ids()).unwrap();
    round_trips(&out.bytes);
    assert_eq!(
        first_line(&out.bytes),
        "INVITE sip:bob@192.0.2.7:5070;transport=tcp SIP/2.0"
    );
    assert_eq!(out.uri, "sip:bob@192.0.2.7:5070;transport=tcp");
    assert_eq!(out.wire, Wire::Tcp);
    assert_eq!(
        out.destination,
        Some(Destination {
            addr: addr("192.0.2.7:5070"),
            wire: Wire::Tcp
        })
    );
    let m = parse(&out.bytes);
    assert_eq!(
        m.header("Via"),
        Some("SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123;rport")
    );
    assert_eq!(
        m.header("From"),
        Some(r#""Alice \"A\"" <sip:+1%20(555)%20010-0000@acme.sip.example.com>;tag=ours"#)
    );
    assert_eq!(
        m.header("To"),
        Some("<sip:bob@192.0.2.7:5070;transport=tcp>")
    );
    assert_eq!(m.header("Call-ID"), Some("c0ffee"));
    assert_eq!(m.header("CSeq"), Some("1 INVITE"));
    assert_eq!(m.header("Max-Forwards"), Some("70"));
    assert_eq!(
        m.header("Contact"),
        Some("<sip:sipmap@192.0.2.1:5060;transport=tcp>")
    );
    assert_eq!(m.header("X-Foo"), Some("bar baz"));
    assert_eq!(m.header("x-lower"), Some("1"));
    assert_eq!(m.header("Subject"), None);
    assert_eq!(m.header("X-Twilio-CallSid"), Some("CA01"));
    assert_eq!(m.header("Content-Type"), Some("application/sdp"));
    assert_eq!(m.body, b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\n");
    // Its responses belong to the call engine.
    assert!(Ids::is_call_branch(
        crate::sip::ua::build::top_via(&m)
            .unwrap()
            .param("branch")
            .unwrap()
            .unwrap()
    ));
}

#[test]
fn a_host_name_target_has_no_destination_and_bad_targets_are_refused() {
    let mut plain = new_invite("sip:bob@pbx.example.com");
    plain.body = None;
    plain.display_name = None;
    let out = plain.build(&ids()).unwrap();
    assert_eq!(out.destination, None);
    assert_eq!(out.wire, Wire::Udp);
    assert_eq!(header_of(&out.bytes, "Content-Type"), None);
    assert_eq!(header_of(&out.bytes, "Content-Length").unwrap(), "0");
    assert!(
        header_of(&out.bytes, "Via")
            .unwrap()
            .starts_with("SIP/2.0/UDP ")
    );
    for bad in [
        "sips:bob@192.0.2.7",
        "tel:+15550100",
        "bob@192.0.2.7",
        "sip:",
        "sip:a b@c",
    ] {
        assert_eq!(
            new_invite(bad).build(&ids()),
            Err(UacError::BadTarget(bad.into())),
            "{bad}"
        );
    }
    for bad in [
        "sip:bob@h?X-A=%zz",
        "sip:bob@h?X-A=%0d%0aVia:x",
        "sip:bob@h?X%20A=1",
    ] {
        assert!(
            matches!(new_invite(bad).build(&ids()), Err(UacError::BadHeader(_))),
            "{bad}"
        );
    }
}

/// sipmap's INVITE to bob, as sent: one Via, CSeq 1, credentials of another realm.
fn sent_invite() -> Bytes {
    Bytes::from(wire(
        "INVITE sip:bob@192.0.2.7:5070 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123;rport\n\
         From: <sip:alice@acme.sip.example.com>;tag=ours\n\
         To: <sip:bob@192.0.2.7:5070>\n\
         Call-ID: c0ffee\n\
         CSeq: 1 INVITE\n\
         Proxy-Authorization: Digest username=\"x\", realm=\"other.example.com\", nonce=\"n\", uri=\"sip:bob@192.0.2.7:5070\", response=\"00\"\n\
         Content-Type: application/sdp\n\
         \nv=0\n",
    ))
}

fn challenge(code: u16, header: &str, values: &[&str]) -> Vec<u8> {
    let mut text = format!(
        "SIP/2.0 {code} Auth\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123\n\
         From: <sip:alice@acme.sip.example.com>;tag=ours\n\
         To: <sip:bob@192.0.2.7:5070>;tag=t\n\
         Call-ID: c0ffee\nCSeq: 1 INVITE\n"
    );
    for v in values {
        text.push_str(&format!("{header}: {v}\n"));
    }
    text.push('\n');
    wire(&text)
}

fn credentials_of(bytes: &[u8], name: &str) -> Vec<String> {
    headers_of(bytes, name)
}

/// The response values were computed independently (Python's hashlib) for username `bob`,
/// password `secret`, realm `callee.example.com`, nonce `abc123`, cnonce `0a4f113b`, method
/// INVITE and uri `sip:bob@192.0.2.7:5070`.
#[test]
fn a_407_is_answered_with_proxy_credentials_for_the_first_algorithm_offered() {
    let resp = challenge(
        407,
        "Proxy-Authenticate",
        &[
            "Digest realm=\"callee.example.com\", nonce=\"abc123\", algorithm=SHA-512-256, qop=\"auth\"",
            "Digest realm=\"callee.example.com\", nonce=\"abc123\", algorithm=SHA-256, qop=\"auth,auth-int\", opaque=\"op\"",
            "Digest realm=\"callee.example.com\", nonce=\"abc123\", algorithm=MD5, qop=\"auth\"",
        ],
    );
    let retry = with_credentials(
        &sent_invite(),
        &parse(&resp),
        "bob",
        "secret",
        "z9hG4bK-sm-c-4567",
        "0a4f113b",
    )
    .unwrap();
    assert!(!retry.stale);
    round_trips(&retry.request);
    let m = parse(&retry.request);
    assert_eq!(
        first_line(&retry.request),
        "INVITE sip:bob@192.0.2.7:5070 SIP/2.0"
    );
    assert_eq!(
        m.header("Via"),
        Some("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-4567;rport")
    );
    assert_eq!(m.header("CSeq"), Some("2 INVITE"));
    assert_eq!(m.header("To"), Some("<sip:bob@192.0.2.7:5070>"));
    assert_eq!(m.body, b"v=0\r\n");
    let all = credentials_of(&retry.request, "Proxy-Authorization");
    assert_eq!(all.len(), 2, "the other realm's credentials stay: {all:?}");
    assert!(all[0].contains("realm=\"other.example.com\""));
    let Parsed::Digest(c) = Credentials::parse(&all[1]) else {
        panic!("{all:?}")
    };
    assert_eq!(c.get("username"), Some("bob"));
    assert_eq!(c.get("realm"), Some("callee.example.com"));
    assert_eq!(c.get("uri"), Some("sip:bob@192.0.2.7:5070"));
    assert_eq!(c.get("algorithm"), Some("SHA-256"));
    assert_eq!(c.get("qop"), Some("auth"));
    assert_eq!(c.get("nc"), Some("00000001"));
    assert_eq!(c.get("cnonce"), Some("0a4f113b"));
    assert_eq!(c.get("opaque"), Some("op"));
    assert_eq!(
        c.get("response"),
        Some("763e14ef51f5b0a3179a374a2f7cdcd2559c0efb34dd97ae40fe2827f1b51da6")
    );
}

#[test]
fn a_401_is_answered_with_authorization_and_replaces_the_same_realms_credentials() {
    let resp = challenge(
        401,
        "WWW-Authenticate",
        &["Digest realm=\"callee.example.com\", nonce=\"abc123\", qop=\"auth\", stale=TRUE"],
    );
    let first = with_credentials(
        &sent_invite(),
        &parse(&resp),
        "bob",
        "secret",
        "z9hG4bK-sm-c-1",
        "0a4f113b",
    )
    .unwrap();
    assert!(first.stale);
    let auth = credentials_of(&first.request, "Authorization");
    assert_eq!(auth.len(), 1);
    assert!(
        auth[0].contains("response=\"6d235a96473e08e8ec6ce77f41f2f31a\""),
        "{auth:?}"
    );
    assert!(auth[0].contains("algorithm=MD5"));
    // Challenged again: the new credentials replace those for the same realm; CSeq goes on.
    let second = with_credentials(
        &first.request,
        &parse(&resp),
        "bob",
        "secret",
        "z9hG4bK-sm-c-2",
        "0a4f113b",
    )
    .unwrap();
    assert_eq!(credentials_of(&second.request, "Authorization").len(), 1);
    assert_eq!(header_of(&second.request, "CSeq").unwrap(), "3 INVITE");
    // RFC 2069: no qop.
    let old = challenge(
        401,
        "WWW-Authenticate",
        &["Digest realm=\"callee.example.com\", nonce=\"abc123\""],
    );
    let retry = with_credentials(
        &sent_invite(),
        &parse(&old),
        "bob",
        "secret",
        "b",
        "0a4f113b",
    )
    .unwrap();
    let auth = credentials_of(&retry.request, "Authorization");
    assert!(
        auth[0].contains("response=\"6e9ebf26445f0832e58efe395512c52b\""),
        "{auth:?}"
    );
    assert!(!auth[0].contains("qop"));
}

#[test]
fn challenges_sipmap_cannot_answer_are_refused() {
    let invite = sent_invite();
    let cases = [
        challenge(
            407,
            "Proxy-Authenticate",
            &["Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"],
        ),
        challenge(
            407,
            "Proxy-Authenticate",
            &["Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""],
        ),
        challenge(407, "Proxy-Authenticate", &["Basic realm=\"r\""]),
        challenge(407, "Proxy-Authenticate", &["Digest realm=\"r\""]),
        challenge(
            401,
            "Proxy-Authenticate",
            &["Digest realm=\"r\", nonce=\"n\""],
        ),
        challenge(
            403,
            "Proxy-Authenticate",
            &["Digest realm=\"r\", nonce=\"n\""],
        ),
    ];
    for resp in cases {
        assert_eq!(
            with_credentials(&invite, &parse(&resp), "u", "p", "b", "c"),
            Err(UacError::NoChallenge),
            "{}",
            String::from_utf8_lossy(&resp)
        );
    }
    let ok = challenge(
        407,
        "Proxy-Authenticate",
        &["Digest realm=\"r\", nonce=\"n\""],
    );
    assert_eq!(
        with_credentials(b"garbage", &parse(&ok), "u", "p", "b", "c"),
        Err(UacError::BadInvite)
    );
}
