//! One test per branch of [`decide`], over a table built from `Change`s, with the facts the
//! edge would give stubbed: no socket, no clock.

use std::sync::Arc;

use super::*;
use crate::domain::VoiceApp;
use crate::domain::{MappedList, Network};
use crate::recognition::{AuthKind, Change, MatchedBy, RouteTarget, Secret, Target};
use crate::sid::{AccountSid, AclSid, ConnectionPolicySid, CredentialListSid, Sid, SipDomainSid};

const DOMAIN: &str = "acme.sip.twilio.com";

fn sid<S: Sid>(n: u8) -> S {
    S::parse(&format!("{}{n:032x}", S::PREFIX)).unwrap()
}

fn target() -> Target {
    Target {
        domain_sid: sid::<SipDomainSid>(10),
        account_sid: sid::<AccountSid>(10),
        domain_name: DOMAIN.into(),
        sip_registration: false,
        secure: false,
        byoc_trunk_sid: None,
        voice: None,
    }
}

/// The domain mapped to 10.1.0.0/16, plus `more`.
fn snapshot(domain: Target, more: Vec<Change>) -> Arc<Snapshot> {
    let w = crate::recognition::table();
    let net = Network::new("10.1.0.0".parse().unwrap(), 16);
    let mut state = vec![
        Change::MappingSet(net, domain.domain_sid.clone()),
        Change::DomainSet(domain),
    ];
    state.reverse();
    state.extend(more);
    w.load(state);
    w.reader().snapshot()
}

/// An access control list (AL…01) of 10.0.0.0/8 mapped for calls.
fn acl() -> Vec<Change> {
    vec![
        Change::AclNetworkAdded(sid(1), Network::new("10.0.0.0".parse().unwrap(), 8)),
        Change::AuthMapped(
            target().domain_sid,
            AuthKind::CallsAcl,
            MappedList::Acl(sid::<AclSid>(1)),
        ),
    ]
}

/// A credential list (CL…02) holding `alice`, mapped as `kind`.
fn credentials(kind: AuthKind) -> Vec<Change> {
    vec![
        Change::CredentialSet(sid(2), "alice".into(), Secret::sealed(b"sealed")),
        Change::AuthMapped(
            target().domain_sid,
            kind,
            MappedList::Credentials(sid::<CredentialListSid>(2)),
        ),
    ]
}

/// What the edge would tell `decide`, fixed.
struct Stub {
    verdict: Option<Verdict>,
    offer: Option<Offer>,
    hop: Result<(), u16>,
}

impl Default for Stub {
    fn default() -> Self {
        Self {
            verdict: None,
            offer: None,
            hop: Ok(()),
        }
    }
}

impl Facts for Stub {
    fn credentials(
        &self,
        _: Exchange,
        realm: &str,
        _: &crate::recognition::DomainAuth,
    ) -> Option<Verdict> {
        assert_eq!(
            realm, DOMAIN,
            "credentials are checked for the domain's realm"
        );
        self.verdict.clone()
    }
    fn offer(&self) -> Option<Offer> {
        self.offer
    }
    fn hop(&self, _: SocketAddr, _: bool) -> Result<(), u16> {
        self.hop
    }
}

fn request<'a>(method: &'a str, host: Option<&'a str>, source: &str) -> Request<'a> {
    Request {
        method,
        uri_host: host,
        call_id: "c1",
        to_tag: false,
        max_forwards: 70,
        source: format!("{source}:5070").parse().unwrap(),
        wire: Wire::Udp,
    }
}

fn upstream() -> Settings<'static> {
    static HEALTH: std::sync::LazyLock<Health> = std::sync::LazyLock::new(Health::default);
    Settings {
        health: &HEALTH,
        upstream: Some(("127.0.0.1:5080".parse().unwrap(), Wire::Udp)),
        calls: false,
    }
}

fn run<'s>(s: &'s Snapshot, req: Request<'_>, settings: Settings<'_>, stub: Stub) -> Decision<'s> {
    decide(s, &req, &settings, &stub)
}

#[test]
fn nothing_recognised_is_a_404_with_nothing_else_decided() {
    let s = snapshot(target(), acl());
    let d = run(
        &s,
        request("INVITE", Some("other.example.com"), "192.0.2.1"),
        upstream(),
        Stub::default(),
    );
    assert!(d.found.is_none());
    assert_eq!(
        (d.outcome, d.outcome.code(), d.outcome.kind()),
        (Outcome::Unrecognised, 404, "unrecognised")
    );
    assert!(d.gate.is_none() && d.route.is_none() && d.outcome.error_code().is_none());
}

#[test]
fn the_host_is_recognised_before_the_source_network() {
    let s = snapshot(target(), acl());
    let by_host = run(
        &s,
        request("INVITE", Some(DOMAIN), "192.0.2.1"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(by_host.found.unwrap().matched_by, MatchedBy::RequestUri);
    let by_source = run(
        &s,
        request("INVITE", Some("10.1.2.3"), "10.1.2.3"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(by_source.found.unwrap().matched_by, MatchedBy::SourceIp);
}

#[test]
fn a_secure_domain_refuses_what_is_not_over_tls_before_any_challenge() {
    let s = snapshot(
        Target {
            secure: true,
            ..target()
        },
        credentials(AuthKind::CallsCredentials),
    );
    let d = run(
        &s,
        request("INVITE", Some(DOMAIN), "10.1.2.3"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(d.outcome, Outcome::InsecureTransport);
    assert_eq!(
        (d.outcome.code(), d.outcome.error_code()),
        (403, Some(32209))
    );
    assert!(d.digest.is_none(), "no credentials looked at");
}

#[test]
fn an_acl_lets_in_and_names_the_list_then_the_upstream_takes_it() {
    let s = snapshot(target(), acl());
    let d = run(
        &s,
        request("INVITE", Some(DOMAIN), "10.9.9.9"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(d.gate, Some(Gate::Acl));
    assert_eq!(d.list, Some(sid::<AclSid>(1).as_str()));
    assert_eq!(d.outcome, Outcome::Forwarded);
    assert_eq!(
        d.route,
        Some(Route::Upstream(
            "127.0.0.1:5080".parse().unwrap(),
            Wire::Udp
        ))
    );
    assert_eq!((d.outcome.code(), d.outcome.kind()), (0, "forwarded"));
}

#[test]
fn outside_every_acl_without_credential_lists_is_32201() {
    let s = snapshot(target(), acl());
    let d = run(
        &s,
        request("INVITE", Some(DOMAIN), "192.0.2.1"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(d.outcome, Outcome::Blocked(Gate::OutsideAcl));
    assert_eq!(
        (d.outcome.code(), d.outcome.error_code(), d.outcome.kind()),
        (403, Some(32201), "refused")
    );
    assert_eq!(d.outcome.refusal(), Some(RefusalReason::SourceNotInAcl));
}

#[test]
fn a_domain_with_nothing_mapped_blocks_calls() {
    let s = snapshot(target(), vec![]);
    let d = run(
        &s,
        request("INVITE", Some(DOMAIN), "10.1.2.3"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(d.outcome, Outcome::Blocked(Gate::NoCallAuth));
    assert_eq!(d.outcome.error_code(), Some(32201));
}

#[test]
fn a_register_to_a_domain_without_registrations_is_32210() {
    let s = snapshot(target(), credentials(AuthKind::RegistrationCredentials));
    let d = run(
        &s,
        request("REGISTER", Some(DOMAIN), "10.1.2.3"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(d.outcome, Outcome::Blocked(Gate::RegistrationDisabled));
    assert_eq!(
        d.outcome.refusal(),
        Some(RefusalReason::RegistrationRefused)
    );
    assert_eq!(
        (d.outcome.code(), d.outcome.error_code()),
        (403, Some(32210))
    );
    let s = snapshot(
        Target {
            sip_registration: true,
            ..target()
        },
        vec![],
    );
    let d = run(
        &s,
        request("REGISTER", Some(DOMAIN), "10.1.2.3"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(d.outcome, Outcome::Blocked(Gate::NoRegistrationAuth));
    assert_eq!(d.outcome.error_code(), Some(32210));
}

#[test]
fn digest_verdicts_end_the_decision_as_they_say() {
    let s = snapshot(target(), credentials(AuthKind::CallsCredentials));
    let with = |verdict| Stub {
        verdict: Some(verdict),
        ..Stub::default()
    };
    let req = request("INVITE", Some(DOMAIN), "192.0.2.1");
    let d = run(
        &s,
        req,
        upstream(),
        with(Verdict::Challenge { stale: false }),
    );
    assert_eq!(d.outcome, Outcome::Challenged(Exchange::Calls, false));
    assert_eq!(
        (d.outcome.code(), d.outcome.kind(), d.outcome.refusal()),
        (407, "challenged", None)
    );
    let d = run(
        &s,
        req,
        upstream(),
        with(Verdict::Refused("wrong response")),
    );
    assert_eq!(d.outcome, Outcome::BadCredentials("wrong response"));
    assert_eq!(
        (d.outcome.code(), d.outcome.error_code()),
        (403, Some(32202))
    );
    let d = run(
        &s,
        req,
        upstream(),
        with(Verdict::Throttled(30, Scope::Source)),
    );
    assert_eq!(d.outcome.code(), 503);
    assert_eq!(d.outcome.refusal(), Some(RefusalReason::Throttled));
    let d = run(
        &s,
        req,
        upstream(),
        with(Verdict::Authenticated("alice".into())),
    );
    assert_eq!(d.outcome, Outcome::Forwarded);
    assert_eq!(d.username(), Some("alice"));
    assert_eq!(d.list, Some(sid::<CredentialListSid>(2).as_str()));
}

#[test]
fn a_register_is_challenged_in_the_registrars_exchange() {
    let s = snapshot(
        Target {
            sip_registration: true,
            ..target()
        },
        credentials(AuthKind::RegistrationCredentials),
    );
    let stub = Stub {
        verdict: Some(Verdict::Challenge { stale: true }),
        ..Stub::default()
    };
    let d = run(
        &s,
        request("REGISTER", Some(DOMAIN), "10.1.2.3"),
        upstream(),
        stub,
    );
    assert_eq!(
        d.outcome,
        Outcome::Challenged(Exchange::Registrations, true)
    );
    assert_eq!(d.outcome.code(), 401);
}

#[test]
fn an_ack_is_never_challenged() {
    let s = snapshot(target(), credentials(AuthKind::CallsCredentials));
    let stub = Stub {
        verdict: Some(Verdict::Refused("never asked")),
        ..Stub::default()
    };
    let d = run(
        &s,
        request("ACK", Some(DOMAIN), "192.0.2.1"),
        upstream(),
        stub,
    );
    assert_eq!(
        (d.gate, d.outcome),
        (Some(Gate::Unchallenged), Outcome::Forwarded)
    );
    assert!(d.digest.is_none());
}

#[test]
fn an_admitted_options_is_answered_here() {
    let s = snapshot(target(), acl());
    let d = run(
        &s,
        request("OPTIONS", Some(DOMAIN), "10.1.2.3"),
        upstream(),
        Stub::default(),
    );
    assert_eq!(
        (d.outcome, d.route),
        (Outcome::Answered, Some(Route::Answered))
    );
    assert_eq!((d.outcome.code(), d.outcome.kind()), (200, "admitted"));
}

#[test]
fn media_that_does_not_fit_is_488() {
    let s = snapshot(
        Target {
            secure: true,
            ..target()
        },
        acl(),
    );
    let plain = Offer {
        plain: true,
        secure_profile: false,
        sdes: false,
    };
    let mut req = request("INVITE", Some(DOMAIN), "10.1.2.3");
    req.wire = Wire::Tls;
    let d = run(
        &s,
        req,
        upstream(),
        Stub {
            offer: Some(plain),
            ..Stub::default()
        },
    );
    assert_eq!(d.outcome, Outcome::Media(Media::SrtpRequired));
    assert_eq!(
        (d.outcome.code(), d.outcome.error_code()),
        (488, Some(32207))
    );
    let s = snapshot(target(), acl());
    let srtp = Offer {
        plain: false,
        secure_profile: true,
        sdes: true,
    };
    let d = run(
        &s,
        request("INVITE", Some(DOMAIN), "10.1.2.3"),
        upstream(),
        Stub {
            offer: Some(srtp),
            ..Stub::default()
        },
    );
    assert_eq!(d.outcome.error_code(), Some(32208));
}

#[test]
fn no_hops_left_is_483() {
    let s = snapshot(target(), acl());
    let mut req = request("INVITE", Some(DOMAIN), "10.1.2.3");
    req.max_forwards = 0;
    let d = run(&s, req, upstream(), Stub::default());
    assert_eq!(
        (d.outcome, d.outcome.kind()),
        (Outcome::TooManyHops, "unroutable")
    );
}

#[test]
fn a_new_invite_to_a_voice_application_starts_a_call_when_calls_are_handed_off() {
    let app = VoiceApp::of(
        (Some("https://app.example.com/voice"), "POST"),
        (None, "POST"),
        (None, "POST"),
    );
    let s = snapshot(
        Target {
            voice: app.map(Arc::new),
            ..target()
        },
        acl(),
    );
    let req = request("INVITE", Some(DOMAIN), "10.1.2.3");
    let calls = Settings {
        calls: true,
        ..upstream()
    };
    let d = run(&s, req, calls, Stub::default());
    assert_eq!(
        (d.outcome, d.outcome.kind()),
        (Outcome::Application, "application")
    );
    let d = run(
        &s,
        Request {
            to_tag: true,
            ..req
        },
        calls,
        Stub::default(),
    );
    assert_eq!(d.outcome, Outcome::Forwarded, "in-dialog: forwarded");
    let d = run(&s, req, upstream(), Stub::default());
    assert_eq!(d.outcome, Outcome::Forwarded, "no call runtime: forwarded");
}

#[test]
fn with_nowhere_to_go_or_a_hop_refused_it_is_unroutable() {
    let s = snapshot(target(), acl());
    let req = request("INVITE", Some(DOMAIN), "10.1.2.3");
    let nowhere = Settings {
        upstream: None,
        ..upstream()
    };
    let d = run(&s, req, nowhere, Stub::default());
    assert_eq!((d.outcome, d.route), (Outcome::NoRoute(480), None));
    let d = run(
        &s,
        req,
        upstream(),
        Stub {
            hop: Err(482),
            ..Stub::default()
        },
    );
    assert_eq!((d.outcome.code(), d.outcome.kind()), (482, "unroutable"));
    assert!(d.route.is_some(), "the route chosen is kept");
}

#[test]
fn a_target_of_the_domains_policy_is_chosen_before_the_upstream() {
    let policy = sid::<ConnectionPolicySid>(3);
    let trunk = sid(4);
    let t = RouteTarget {
        sid: sid(5),
        uri: "sip:127.0.0.9:5099".into(),
        priority: 10,
        weight: 10,
        enabled: true,
    };
    let s = snapshot(
        Target {
            byoc_trunk_sid: Some(sid(4)),
            ..target()
        },
        [
            acl(),
            vec![
                Change::TrunkSet(trunk, Some(policy.clone())),
                Change::RouteTargetSet(policy, t.clone()),
            ],
        ]
        .concat(),
    );
    let d = run(
        &s,
        request("INVITE", Some(DOMAIN), "10.1.2.3"),
        upstream(),
        Stub::default(),
    );
    match d.route {
        Some(Route::Target(c)) => {
            assert_eq!(c.target.sid, t.sid);
            assert_eq!(c.destination.addr, "127.0.0.9:5099".parse().unwrap());
        }
        other => panic!("expected the target, got {other:?}"),
    }
}
