//! What a request to a recognised SIP domain needs to be let in, decided from the domain's
//! security settings before any credentials are read: the [`Gate`] it meets.
//!
//! In order:
//! 1. `ACK` and `CANCEL` are never challenged (RFC 3261 §22.1: neither can be answered with a
//!    challenge the client could act on); they are forwarded, whatever the domain maps, so that
//!    they reach the transaction upstream they belong to.
//! 2. `REGISTER` is refused when the domain's `sip_registration` is false, and otherwise needs
//!    digest credentials of a list mapped for registrations (`401`); no IP access control list
//!    admits a `REGISTER` (Twilio authenticates registrations with credential lists only).
//! 3. Any other request (dialog-creating, out-of-dialog or in-dialog alike, `OPTIONS` included)
//!    to a domain with nothing mapped for calls is blocked; one whose source is inside an access
//!    control list mapped for calls is let in; otherwise, with credential lists mapped for calls,
//!    it needs digest credentials (`407`); otherwise it is refused.
//!
//! Methods are compared case-sensitively (RFC 3261 §7.1): `ack` is not `ACK`, and is challenged.

use std::net::IpAddr;

use crate::recognition::{DomainAuth, Target};

/// What a request meets at the gate of its domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `ACK` or `CANCEL`: forwarded unchallenged.
    Unchallenged,
    /// The source is inside an access control list mapped for calls: let in.
    Acl,
    /// Digest credentials of a list mapped for calls are needed (`407`, `Proxy-Authorization`).
    CallDigest,
    /// A `REGISTER` needs digest credentials of a list mapped for registrations (`401`,
    /// `Authorization`).
    RegistrationDigest,
    /// `403`: the domain has nothing mapped for calls.
    NoCallAuth,
    /// `403`: the source is outside every access control list mapped for calls, and no
    /// credential list is mapped for calls.
    OutsideAcl,
    /// `403`: a `REGISTER` to a domain whose `sip_registration` is false.
    RegistrationDisabled,
    /// `403`: a `REGISTER` to a domain that accepts registrations but maps no credential list
    /// for them.
    NoRegistrationAuth,
}

impl Gate {
    /// The decision as `/sipmap/v1/Resolve` reports it: `acl`, `challenge`, `blocked` (nothing
    /// mapped to authenticate with), `refused` (the source is outside the access control lists
    /// and no credential list is mapped), `registration_disabled` or `unchallenged`.
    pub fn decision(self) -> &'static str {
        match self {
            Self::Unchallenged => "unchallenged",
            Self::Acl => "acl",
            Self::CallDigest | Self::RegistrationDigest => "challenge",
            Self::NoCallAuth | Self::NoRegistrationAuth => "blocked",
            Self::OutsideAcl => "refused",
            Self::RegistrationDisabled => "registration_disabled",
        }
    }
}

/// The gate a request with `method` from `source` meets at the domain `target`, whose settings
/// are `auth`.
pub fn gate(method: &str, target: &Target, auth: &DomainAuth, source: IpAddr) -> Gate {
    match method {
        "ACK" | "CANCEL" => Gate::Unchallenged,
        "REGISTER" if !target.sip_registration => Gate::RegistrationDisabled,
        "REGISTER" if auth.registration_credentials.is_empty() => Gate::NoRegistrationAuth,
        "REGISTER" => Gate::RegistrationDigest,
        _ if !auth.has_call_auth() => Gate::NoCallAuth,
        _ if auth.acl_allows(source) => Gate::Acl,
        _ if !auth.call_credentials.is_empty() => Gate::CallDigest,
        _ => Gate::OutsideAcl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Network;
    use crate::recognition::auth::NetworkSet;
    use crate::sid::{AccountSid, SipDomainSid};
    use std::sync::Arc;

    fn target(sip_registration: bool) -> Target {
        Target {
            domain_sid: SipDomainSid::parse("SD0000000000000000000000000000000a").unwrap(),
            account_sid: AccountSid::parse("AC0000000000000000000000000000000a").unwrap(),
            domain_name: "acme.sip.twilio.com".into(),
            sip_registration,
            byoc_trunk_sid: None,
            voice: None,
        }
    }

    fn auth(acl: bool, calls: bool, registrations: bool) -> DomainAuth {
        let net = Network::new("10.0.0.0".parse().unwrap(), 8);
        DomainAuth {
            call_acls: if acl {
                vec![Arc::new(NetworkSet::from_networks(&[net]))]
            } else {
                vec![]
            },
            call_credentials: if calls { vec![Arc::default()] } else { vec![] },
            registration_credentials: if registrations {
                vec![Arc::default()]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn each_setting_gives_its_gate() {
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        let on = target(true);
        let off = target(false);
        let cases = [
            (
                "INVITE",
                &off,
                auth(false, false, false),
                inside,
                Gate::NoCallAuth,
            ),
            ("INVITE", &off, auth(true, false, false), inside, Gate::Acl),
            (
                "INVITE",
                &off,
                auth(true, false, false),
                outside,
                Gate::OutsideAcl,
            ),
            (
                "INVITE",
                &off,
                auth(true, true, false),
                outside,
                Gate::CallDigest,
            ),
            (
                "MESSAGE",
                &off,
                auth(false, true, false),
                inside,
                Gate::CallDigest,
            ),
            ("OPTIONS", &off, auth(true, true, false), inside, Gate::Acl),
            (
                "BYE",
                &off,
                auth(false, false, true),
                inside,
                Gate::NoCallAuth,
            ),
            (
                "ack",
                &off,
                auth(false, true, false),
                inside,
                Gate::CallDigest,
            ),
            (
                "ACK",
                &off,
                auth(false, false, false),
                outside,
                Gate::Unchallenged,
            ),
            (
                "CANCEL",
                &off,
                auth(false, true, false),
                outside,
                Gate::Unchallenged,
            ),
            (
                "REGISTER",
                &off,
                auth(true, true, true),
                inside,
                Gate::RegistrationDisabled,
            ),
            (
                "REGISTER",
                &on,
                auth(true, true, false),
                inside,
                Gate::NoRegistrationAuth,
            ),
            (
                "REGISTER",
                &on,
                auth(false, false, true),
                outside,
                Gate::RegistrationDigest,
            ),
        ];
        for (method, target, auth, source, want) in cases {
            assert_eq!(
                gate(method, target, &auth, source),
                want,
                "{method} {source}"
            );
        }
        let decisions: Vec<&str> = [
            Gate::Unchallenged,
            Gate::Acl,
            Gate::CallDigest,
            Gate::NoCallAuth,
            Gate::OutsideAcl,
            Gate::RegistrationDisabled,
        ]
        .into_iter()
        .map(Gate::decision)
        .collect();
        assert_eq!(
            decisions,
            [
                "unchallenged",
                "acl",
                "challenge",
                "blocked",
                "refused",
                "registration_disabled"
            ]
        );
    }
}
