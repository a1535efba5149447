//! [`decide`]: the one sequence a recognisable SIP request goes through, as one value. The
//! edge acts on it, `/sipmap/v1/Resolve` reports it, and the decisions record keeps it.
//!
//! In order: recognise (by Request-URI host, else by the most specific network holding the
//! source; nothing: 404); the gate of the domain ([`gate`]: transport, access control lists,
//! which credentials are needed, registrations); the credentials when the gate asks for them
//! (checked by the caller, see [`Facts::credentials`]); for an `INVITE`, whether its media fits
//! the domain's `secure` setting ([`media`]); then the route: an `OPTIONS` is answered here, no
//! hops left is 483, an `INVITE` to a domain with a voice application starts a call when calls
//! are handed off, anything else goes to a target of the domain's connection policy or to the
//! upstream ([`next_hop`]), or gets 480 (482, 503 when the caller's [`Facts::hop`] refuses it).
//!
//! `decide` does no I/O and keeps no state: what it cannot know from the snapshot and the
//! request (whether credentials are right, which involves the throttle's counts; whether the
//! hop may be sent to, which spends the port budget) it asks [`Facts`] for, only when it gets
//! there, so the edge's costs stay where they were and Resolve can answer "what if".

use std::net::SocketAddr;

use super::RefusalReason;
use super::auth::{Exchange, Verdict};
use super::policy::{Gate, Media, Offer, gate, media};
use super::select::{Choice, NextHop, next_hop};
use super::throttle::Scope;
use crate::recognition::{Recognized, Snapshot};
use crate::sip::health::Health;
use crate::sip_syntax::Wire;

/// What `decide` needs of a request, read from it once.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Its method, as written.
    pub method: &'a str,
    /// Its Request-URI's host for matching (none: recognised by source only).
    pub uri_host: Option<&'a str>,
    /// Its Call-ID (empty if none): which target of equal ones.
    pub call_id: &'a str,
    /// Whether its `To` has a tag (an in-dialog request starts no call).
    pub to_tag: bool,
    /// Its `Max-Forwards` (or the default).
    pub max_forwards: u32,
    /// Where it came from.
    pub source: SocketAddr,
    /// How it came.
    pub wire: Wire,
}

/// The edge's settings a decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// Target health, as probes found it.
    pub health: &'a Health,
    /// The upstream, and how it is reached.
    pub upstream: Option<(SocketAddr, Wire)>,
    /// Whether new calls to domains with a voice application are handed to the call runtime.
    pub calls: bool,
}

/// What `decide` asks of its caller, only when the decision reaches it.
pub trait Facts {
    /// What the request's credentials for `realm` (the domain's, with settings `auth`) come to
    /// in `exchange`; `None`: not checked (Resolve: assumed right, to say what follows).
    fn credentials(
        &self,
        exchange: Exchange,
        realm: &str,
        auth: &crate::recognition::DomainAuth,
    ) -> Option<Verdict>;
    /// The `INVITE`'s media offer, if it has one.
    fn offer(&self) -> Option<Offer>;
    /// Whether the request may go to `hop` (`to_target`: a target's, else the upstream), or the
    /// status that answers it instead (482 to the edge itself, 503 past the port budget).
    fn hop(&self, hop: SocketAddr, to_target: bool) -> Result<(), u16>;
}

/// Where an admitted request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'s> {
    /// An `OPTIONS`, answered by the edge (200).
    Answered,
    /// A new call, handed to the domain's voice application.
    Application,
    /// A target of the domain's connection policy.
    Target(Choice<'s>),
    /// The upstream.
    Upstream(SocketAddr, Wire),
}

/// How the decision ends: the edge's answer, or where the request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 404: no domain by host or network.
    Unrecognised,
    /// 403 Secure Transport Required (32209).
    InsecureTransport,
    /// 403 by the gate: nothing mapped (`NoCallAuth`, `NoRegistrationAuth`), outside the lists
    /// (`OutsideAcl`), registrations off (`RegistrationDisabled`).
    Blocked(Gate),
    /// 407 (calls) or 401 (registrations), `stale` or not.
    Challenged(Exchange, bool),
    /// 403: credentials refused (32202), and why (never the credentials themselves).
    BadCredentials(&'static str),
    /// 503 with `Retry-After` of this many seconds: the source failed too often.
    Throttled(u64, Scope),
    /// 488: the media does not fit the domain's `secure` setting.
    Media(Media),
    /// 200: an admitted `OPTIONS`.
    Answered,
    /// 483: no hops left.
    TooManyHops,
    /// A new call, handed to the voice application.
    Application,
    /// Nowhere to send it: 480 (no target, no upstream), 482 (the hop is the edge), 503 (the
    /// target's address has had its new ports).
    NoRoute(u16),
    /// Forwarded (to a target or the upstream).
    Forwarded,
}

impl Outcome {
    /// The SIP status the edge answers with; 0 when it forwards or hands off (no answer of its
    /// own).
    pub fn code(self) -> u16 {
        match self {
            Self::Unrecognised => 404,
            Self::InsecureTransport | Self::Blocked(_) | Self::BadCredentials(_) => 403,
            Self::Challenged(exchange, _) => exchange.status(),
            Self::Throttled(..) => 503,
            Self::Media(_) => 488,
            Self::Answered => 200,
            Self::TooManyHops => 483,
            Self::NoRoute(code) => code,
            Self::Application | Self::Forwarded => 0,
        }
    }

    /// The refusal of an account's request it is, as Monitor Alerts report it, if it is one.
    pub fn refusal(self) -> Option<RefusalReason> {
        Some(match self {
            Self::Blocked(Gate::OutsideAcl | Gate::NoCallAuth) => RefusalReason::SourceNotInAcl,
            Self::Blocked(_) => RefusalReason::RegistrationRefused,
            Self::BadCredentials(_) => RefusalReason::BadCredentials,
            Self::Throttled(..) => RefusalReason::Throttled,
            Self::InsecureTransport => RefusalReason::InsecureTransport,
            Self::Media(Media::SrtpRequired) => RefusalReason::SrtpRequired,
            Self::Media(_) => RefusalReason::SrtpRefused,
            _ => return None,
        })
    }

    /// Twilio's error code for a refusal of an account's request, if it has one.
    pub fn error_code(self) -> Option<u32> {
        self.refusal().map(RefusalReason::code)
    }

    /// What kind of end it is, as the decisions record filters by it: `admitted` (answered
    /// here: an `OPTIONS`), `forwarded`, `application`, `challenged`, `refused` (by the gate,
    /// credentials, throttle or media), `unroutable` (admitted, with nowhere to go or no hops
    /// left) or `unrecognised`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Unrecognised => "unrecognised",
            Self::Challenged(..) => "challenged",
            Self::Answered => "admitted",
            Self::Application => "application",
            Self::Forwarded => "forwarded",
            Self::TooManyHops | Self::NoRoute(_) => "unroutable",
            Self::InsecureTransport
            | Self::Blocked(_)
            | Self::BadCredentials(_)
            | Self::Throttled(..)
            | Self::Media(_) => "refused",
        }
    }

    /// Every kind [`Outcome::kind`] gives.
    pub const KINDS: [&'static str; 7] = [
        "admitted",
        "forwarded",
        "application",
        "challenged",
        "refused",
        "unroutable",
        "unrecognised",
    ];

    /// Why, in a few words.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unrecognised => "no SIP domain by Request-URI host or source network",
            Self::InsecureTransport => "secure domain: request not over TLS",
            Self::Blocked(Gate::NoCallAuth) => "nothing mapped to the domain for calls",
            Self::Blocked(Gate::OutsideAcl) => {
                "source not in an IP access control list mapped for calls"
            }
            Self::Blocked(Gate::RegistrationDisabled) => "registration not enabled on the domain",
            Self::Blocked(_) => "no credential list mapped for registrations",
            Self::Challenged(_, false) => "credentials needed: challenged",
            Self::Challenged(_, true) => "nonce expired: challenged again (stale)",
            Self::BadCredentials(why) => why,
            Self::Throttled(_, Scope::Source) => "too many failed authentications from the source",
            Self::Throttled(_, Scope::SourceAndUser) => {
                "too many failed authentications from the source for the username"
            }
            Self::Media(Media::SrtpRequired) => "secure domain: the offer has no SRTP",
            Self::Media(_) => "the offer is SRTP only and the domain is not secure",
            Self::Answered => "OPTIONS answered by the edge",
            Self::TooManyHops => "Max-Forwards is 0",
            Self::Application => "new call handed to the domain's voice application",
            Self::NoRoute(482) => "the next hop is the edge itself",
            Self::NoRoute(503) => "the target's address has had its new ports for now",
            Self::NoRoute(_) => "no target and no upstream to forward to",
            Self::Forwarded => "forwarded",
        }
    }
}

/// One request's decision: what was recognised, the gate and credentials it met, its media, its
/// route and how it ended. Holds no credential, digest response or nonce: a username at most.
#[derive(Debug, Clone)]
pub struct Decision<'s> {
    /// The domain, if one was recognised.
    pub found: Option<Recognized<'s>>,
    /// The gate it met there.
    pub gate: Option<Gate>,
    /// The credentials' check, when the gate asked for one: the exchange, and what they came
    /// to (`None`: not checked, assumed right).
    pub digest: Option<(Exchange, Option<Verdict>)>,
    /// The list that let it in: the access control list holding its source, or the credential
    /// list holding the username it authenticated as.
    pub list: Option<&'s str>,
    /// For an admitted `INVITE` with an offer: whether its media fits.
    pub media: Option<Media>,
    /// Where it went, once admitted.
    pub route: Option<Route<'s>>,
    /// How it ended.
    pub outcome: Outcome,
}

impl Decision<'_> {
    /// The username the request authenticated as, if it did.
    pub fn username(&self) -> Option<&str> {
        match &self.digest {
            Some((_, Some(Verdict::Authenticated(u)))) => Some(u),
            _ => None,
        }
    }
}

/// The decision for `req` given the recognition table `snapshot` and the edge's `settings`.
pub fn decide<'s>(
    snapshot: &'s Snapshot,
    req: &Request<'_>,
    settings: &Settings<'_>,
    facts: &dyn Facts,
) -> Decision<'s> {
    let mut d = Decision {
        found: snapshot.recognise(req.uri_host, req.source.ip()),
        gate: None,
        digest: None,
        list: None,
        media: None,
        route: None,
        outcome: Outcome::Unrecognised,
    };
    let Some(found) = d.found else {
        return d;
    };
    match admit(&mut d, &found, req, facts) {
        Ok(()) => d.outcome = admitted(&mut d, &found, req, settings, facts),
        Err(outcome) => d.outcome = outcome,
    }
    d
}

/// The gate and credentials: `Ok` when the request is let in.
fn admit<'s>(
    d: &mut Decision<'s>,
    found: &Recognized<'s>,
    req: &Request<'_>,
    facts: &dyn Facts,
) -> Result<(), Outcome> {
    let (target, auth) = (found.target, found.auth);
    let g = gate(req.method, target, auth, req.source.ip(), req.wire);
    d.gate = Some(g);
    let exchange = match g {
        Gate::Unchallenged => return Ok(()),
        Gate::Acl => {
            d.list = auth.acl_holding(req.source.ip());
            return Ok(());
        }
        Gate::InsecureTransport => return Err(Outcome::InsecureTransport),
        Gate::CallDigest => Exchange::Calls,
        Gate::RegistrationDigest => Exchange::Registrations,
        blocked => return Err(Outcome::Blocked(blocked)),
    };
    let verdict = facts.credentials(exchange, &target.domain_name, auth);
    let outcome = match &verdict {
        None => None,
        Some(Verdict::Authenticated(user)) => {
            let registrations = exchange == Exchange::Registrations;
            d.list = auth.credential_list_of(user, registrations);
            None
        }
        Some(Verdict::Challenge { stale }) => Some(Outcome::Challenged(exchange, *stale)),
        Some(Verdict::Refused(why)) => Some(Outcome::BadCredentials(why)),
        Some(Verdict::Throttled(wait, scope)) => Some(Outcome::Throttled(*wait, *scope)),
    };
    d.digest = Some((exchange, verdict));
    outcome.map_or(Ok(()), Err)
}

/// What becomes of an admitted request (see the module docs).
fn admitted<'s>(
    d: &mut Decision<'s>,
    found: &Recognized<'s>,
    req: &Request<'_>,
    settings: &Settings<'_>,
    facts: &dyn Facts,
) -> Outcome {
    let target = found.target;
    if req.method.eq_ignore_ascii_case("OPTIONS") {
        d.route = Some(Route::Answered);
        return Outcome::Answered;
    }
    if req.method == "INVITE"
        && let Some(offer) = facts.offer()
    {
        let fits = media(target.secure, Some(offer));
        d.media = Some(fits);
        if fits != Media::Accepted {
            return Outcome::Media(fits);
        }
    }
    if req.max_forwards == 0 {
        return Outcome::TooManyHops;
    }
    if req.method == "INVITE" && target.voice.is_some() && settings.calls && !req.to_tag {
        d.route = Some(Route::Application);
        return Outcome::Application;
    }
    let upstream = settings.upstream.map(|(addr, _)| addr);
    let (route, hop, to_target) =
        match next_hop(found.route, settings.health, req.call_id, upstream) {
            NextHop::Target(c) => (Route::Target(c), c.destination.addr, true),
            NextHop::Upstream(u) => {
                let wire = settings.upstream.map_or(Wire::Udp, |(_, w)| w);
                (Route::Upstream(u, wire), u, false)
            }
            NextHop::Nowhere => return Outcome::NoRoute(480),
        };
    d.route = Some(route);
    match facts.hop(hop, to_target) {
        Ok(()) => Outcome::Forwarded,
        Err(code) => Outcome::NoRoute(code),
    }
}

#[cfg(test)]
mod tests;
