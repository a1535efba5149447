//! What a request to a recognised SIP domain needs to be let in, decided from the domain's
//! security settings before any credentials are read: the [`Gate`] it meets; and, once let in,
//! whether an INVITE's media offer fits the domain's `secure` setting: [`media`].
//!
//! In order:
//! 0. A request to a `secure` domain that did not arrive over TLS is refused (`403 Secure
//!    Transport Required`, Twilio's 32209), whatever its method, before any challenge: no nonce
//!    is issued in clear.
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
//!
//! Media, as on Twilio (its "Secure Media"): an INVITE to a `secure` domain must offer SRTP with
//! SDES keys (an `m=` line of `RTP/SAVP` or `RTP/SAVPF` with an `a=crypto` line of
//! `AES_CM_128_HMAC_SHA1_80` or `AES_CM_128_HMAC_SHA1_32`), else `488` (32207); an INVITE to a
//! domain that is not `secure` whose offer has only secure profiles (every `m=` line `…/SAVP` or
//! `…/SAVPF`) is refused `488` too (32208). An INVITE without an offer (the offer comes in the
//! ACK) is let through; a body that is not `application/sdp` offers no SRTP.

use std::net::IpAddr;

use crate::recognition::{DomainAuth, Target};
use crate::sip_syntax::Wire;

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
    /// `403 Secure Transport Required`: a request to a `secure` domain not over TLS.
    InsecureTransport,
}

impl Gate {
    /// The decision as `/sipmap/v1/Resolve` reports it: `acl`, `challenge`, `blocked` (nothing
    /// mapped to authenticate with), `refused` (the source is outside the access control lists
    /// and no credential list is mapped), `registration_disabled`, `unchallenged` or
    /// `secure_transport_required`.
    pub fn decision(self) -> &'static str {
        match self {
            Self::InsecureTransport => "secure_transport_required",
            Self::Unchallenged => "unchallenged",
            Self::Acl => "acl",
            Self::CallDigest | Self::RegistrationDigest => "challenge",
            Self::NoCallAuth | Self::NoRegistrationAuth => "blocked",
            Self::OutsideAcl => "refused",
            Self::RegistrationDisabled => "registration_disabled",
        }
    }
}

/// The gate a request with `method` from `source`, arrived over `wire`, meets at the domain
/// `target`, whose settings are `auth`.
pub fn gate(method: &str, target: &Target, auth: &DomainAuth, source: IpAddr, wire: Wire) -> Gate {
    if target.secure && wire != Wire::Tls {
        return Gate::InsecureTransport;
    }
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

/// The SRTP crypto suites Twilio accepts (RFC 4568 names).
const SUITES: [&str; 2] = ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"];

/// What an SDP offer says about media security, line by line (RFC 4566, RFC 4568).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offer {
    /// Some `m=` line has a profile that is not secure (`RTP/AVP`, …).
    pub plain: bool,
    /// Some `m=` line has a secure profile (`…/SAVP`, `…/SAVPF`).
    pub secure_profile: bool,
    /// Some `RTP/SAVP` or `RTP/SAVPF` line has an `a=crypto` line of a suite Twilio accepts, at
    /// its own level or the session's: SRTP with SDES keys.
    pub sdes: bool,
}

impl Offer {
    /// The offer in the body of a request with `content_type`: `None` without a body; an offer
    /// with no `m=` line for a body that is not SDP.
    pub fn of_body(content_type: Option<&str>, body: &[u8]) -> Option<Offer> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let media_type = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
        if !media_type.is_some_and(|t| t.eq_ignore_ascii_case("application/sdp")) {
            return Some(Offer::default());
        }
        Some(Offer::of_sdp(&String::from_utf8_lossy(body)))
    }

    /// The offer an SDP text makes.
    pub fn of_sdp(sdp: &str) -> Offer {
        let mut offer = Offer::default();
        let mut session_crypto = false;
        // The current `m=` line: whether it is RTP/SAVP(F), and whether it has a crypto line.
        let mut media: Option<(bool, bool)> = None;
        let close = |offer: &mut Offer, media: Option<(bool, bool)>, session: bool| {
            if let Some((sdes_profile, crypto)) = media {
                offer.sdes |= sdes_profile && (crypto || session);
            }
        };
        for line in sdp.lines().map(str::trim) {
            if let Some(m) = line.strip_prefix("m=") {
                close(&mut offer, media, session_crypto);
                let proto = m.split_whitespace().nth(2).unwrap_or("");
                let upper = proto.to_ascii_uppercase();
                let secure = upper.ends_with("/SAVP") || upper.ends_with("/SAVPF");
                offer.secure_profile |= secure;
                offer.plain |= !secure;
                media = Some((upper == "RTP/SAVP" || upper == "RTP/SAVPF", false));
            } else if let Some(crypto) = line.strip_prefix("a=crypto:") {
                let suite = crypto.split_whitespace().nth(1).unwrap_or("");
                if SUITES.iter().any(|s| s.eq_ignore_ascii_case(suite)) {
                    match media.as_mut() {
                        Some((_, has)) => *has = true,
                        None => session_crypto = true,
                    }
                }
            }
        }
        close(&mut offer, media, session_crypto);
        offer
    }
}

/// Whether an INVITE's media offer fits its domain's `secure` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// It fits (or there is no offer to judge).
    Accepted,
    /// `488`: the domain is `secure` and the offer has no SRTP with SDES keys (32207).
    SrtpRequired,
    /// `488`: the domain is not `secure` and the offer is SRTP only (32208).
    SrtpRefused,
}

impl Media {
    /// The decision as `/sipmap/v1/Resolve` reports it: `accepted`, `srtp_required`,
    /// `srtp_refused`.
    pub fn decision(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::SrtpRequired => "srtp_required",
            Self::SrtpRefused => "srtp_refused",
        }
    }
}

/// Whether `offer` (`None`: the INVITE had none) fits a domain whose `secure` setting is
/// `secure`.
pub fn media(secure: bool, offer: Option<Offer>) -> Media {
    match offer {
        None => Media::Accepted,
        Some(o) if secure && !o.sdes => Media::SrtpRequired,
        Some(o) if !secure && o.secure_profile && !o.plain => Media::SrtpRefused,
        Some(_) => Media::Accepted,
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
            secure: false,
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
            sids: Default::default(),
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
                gate(method, target, &auth, source, Wire::Udp),
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

    #[test]
    fn a_secure_domain_refuses_every_method_not_over_tls_before_anything_else() {
        let mut secure = target(true);
        secure.secure = true;
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        for method in ["INVITE", "OPTIONS", "REGISTER", "ACK", "CANCEL", "BYE"] {
            for wire in [Wire::Udp, Wire::Tcp] {
                let got = gate(method, &secure, &auth(true, true, true), inside, wire);
                assert_eq!(got, Gate::InsecureTransport, "{method} over {wire:?}");
                assert_eq!(got.decision(), "secure_transport_required");
            }
        }
        let over_tls = |method| gate(method, &secure, &auth(true, true, true), inside, Wire::Tls);
        assert_eq!(over_tls("INVITE"), Gate::Acl);
        assert_eq!(over_tls("REGISTER"), Gate::RegistrationDigest);
        assert_eq!(over_tls("ACK"), Gate::Unchallenged);
        // A domain that is not secure takes TLS like any transport.
        let plain = gate(
            "INVITE",
            &target(false),
            &auth(true, false, false),
            inside,
            Wire::Tls,
        );
        assert_eq!(plain, Gate::Acl);
    }

    const RTP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                       m=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n";
    const SRTP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                        m=audio 4000 RTP/SAVP 0\r\n\
                        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";

    #[test]
    fn offers_are_read_line_by_line() {
        assert_eq!(
            Offer::of_sdp(RTP),
            Offer {
                plain: true,
                secure_profile: false,
                sdes: false
            }
        );
        assert_eq!(
            Offer::of_sdp(SRTP),
            Offer {
                plain: false,
                secure_profile: true,
                sdes: true
            }
        );
        let suite_32 = SRTP.replace("_80", "_32").replace("RTP/SAVP", "RTP/SAVPF");
        assert!(Offer::of_sdp(&suite_32).sdes);
        // A suite Twilio does not take, and a crypto line on another m= line, are not SDES here.
        let other_suite = SRTP.replace("AES_CM_128_HMAC_SHA1_80", "AEAD_AES_256_GCM");
        assert_eq!(
            Offer::of_sdp(&other_suite),
            Offer {
                plain: false,
                secure_profile: true,
                sdes: false
            }
        );
        let misplaced = format!(
            "{}m=video 5000 RTP/SAVP 96\r\n",
            RTP.to_owned() + "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"
        );
        assert!(
            !Offer::of_sdp(&misplaced).sdes,
            "the crypto line belongs to the RTP/AVP line"
        );
        // A session-level crypto line covers the media lines.
        let session =
            "v=0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:x\r\nm=audio 1 RTP/SAVP 0\r\n";
        assert!(Offer::of_sdp(session).sdes);
        // DTLS-SRTP is a secure profile without SDES keys.
        let dtls = "v=0\r\nm=audio 1 UDP/TLS/RTP/SAVPF 0\r\na=fingerprint:sha-256 00\r\n";
        assert_eq!(
            Offer::of_sdp(dtls),
            Offer {
                plain: false,
                secure_profile: true,
                sdes: false
            }
        );
        // Both kinds offered.
        let both = format!(
            "{RTP}m=audio 4002 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"
        );
        assert_eq!(
            Offer::of_sdp(&both),
            Offer {
                plain: true,
                secure_profile: true,
                sdes: true
            }
        );
    }

    #[test]
    fn bodies_give_offers_by_their_type() {
        assert_eq!(Offer::of_body(None, b""), None);
        assert_eq!(Offer::of_body(Some("application/sdp"), b"\r\n"), None);
        assert_eq!(
            Offer::of_body(Some("Application/SDP; charset=utf-8"), SRTP.as_bytes()),
            Some(Offer::of_sdp(SRTP))
        );
        assert_eq!(
            Offer::of_body(Some("multipart/mixed;boundary=x"), SRTP.as_bytes()),
            Some(Offer::default())
        );
        assert_eq!(Offer::of_body(None, b"\xff\xfe"), Some(Offer::default()));
    }

    #[test]
    fn media_fits_the_domains_secure_setting() {
        let rtp = Some(Offer::of_sdp(RTP));
        let srtp = Some(Offer::of_sdp(SRTP));
        let both = Some(Offer {
            plain: true,
            secure_profile: true,
            sdes: true,
        });
        let dtls = Some(Offer {
            plain: false,
            secure_profile: true,
            sdes: false,
        });
        let cases = [
            (true, rtp, Media::SrtpRequired),
            (true, srtp, Media::Accepted),
            (true, both, Media::Accepted),
            (true, dtls, Media::SrtpRequired),
            (true, Some(Offer::default()), Media::SrtpRequired),
            (true, None, Media::Accepted),
            (false, rtp, Media::Accepted),
            (false, srtp, Media::SrtpRefused),
            (false, both, Media::Accepted),
            (false, dtls, Media::SrtpRefused),
            (false, Some(Offer::default()), Media::Accepted),
            (false, None, Media::Accepted),
        ];
        for (secure, offer, want) in cases {
            assert_eq!(media(secure, offer), want, "secure={secure} {offer:?}");
        }
        let words: Vec<_> = [Media::Accepted, Media::SrtpRequired, Media::SrtpRefused]
            .map(Media::decision)
            .to_vec();
        assert_eq!(words, ["accepted", "srtp_required", "srtp_refused"]);
    }
}
