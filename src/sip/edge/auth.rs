//! Digest authentication at the edge: the [`Authenticator`] (keys, clock and algorithms), the
//! check of a request's credentials against a domain's credential lists, and the challenge.
//!
//! A request that needs credentials (see `policy`) is checked like this:
//! 1. The credentials for the domain's realm are the first `Proxy-Authorization` (for
//!    `REGISTER`, `Authorization`) value of the `Digest` scheme whose `realm` is the domain's
//!    name exactly as its owner wrote it. Values for other realms, and of other schemes, are
//!    someone else's: left alone, and passed on if the request is forwarded. With none for the
//!    realm the request is challenged (`407`/`401`), unless a value cannot be read at all (not
//!    even its scheme and parameters): then it is refused (`403`).
//! 2. They must name an offered algorithm (`MD5` when none is named), carry `qop=auth` with an
//!    8-hex-digit `nc` and a `cnonce` (or, for `MD5` only, no `qop`, as RFC 2069 clients do),
//!    a `uri` equal to the Request-URI as written (no equivalence rules: clients copy it), and
//!    a nonce this cluster issued for the realm (`nonce`); otherwise `403`.
//! 3. The username must be in a credential list mapped for the purpose, and the response must
//!    be the one its password gives (compared in constant time); otherwise `403`.
//! 4. If the nonce has expired, a client that got all of that right is challenged again with
//!    `stale=true`; otherwise the request is let in.
//!
//! Each refusal in 2 and 3 (and unreadable credentials) is a failure for the [`Throttle`]: once
//! the request's source, or its source and the username it names, has failed too often, its
//! credentials are not evaluated at all (step 1 still applies, so a request without any is
//! challenged) and it gets `503` with `Retry-After`, the right password included.
//!
//! A challenge carries one `Proxy-Authenticate` (or `WWW-Authenticate`) value per offered
//! algorithm, `SHA-256` before `MD5` by default (RFC 8760), with the realm, a fresh nonce and
//! `qop="auth"`. No `opaque` is sent: the nonce carries everything the edge needs.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::digest::{self, Algorithm, Credentials, Parsed, ResponseInput};
use super::inbound::Inbound;
use super::nonce::{NonceCheck, NonceKey};
use super::throttle::{Scope, Throttle, ThrottleSettings};
use super::{Action, Edge};
use crate::clock::{Clock, SystemClock};
use crate::recognition::{DomainAuth, Secret};
use crate::secret::{self, Sealer, ServerKey};

/// What the edge needs for digest authentication: the nonce key and the password cipher (both
/// derived once from the server key), the clock nonces and failures are dated by, the
/// algorithms offered, and the failures counted (see `throttle`).
#[derive(Debug, Clone)]
pub struct Authenticator {
    nonces: NonceKey,
    passwords: Sealer,
    clock: Arc<dyn Clock>,
    algorithms: Vec<Algorithm>,
    throttle: Arc<Throttle>,
}

impl Authenticator {
    /// Authentication with keys derived from `key`, offering `algorithms` in that order (the
    /// defaults when empty), dated by the system clock, failures throttled with the default
    /// settings.
    pub fn new(key: &ServerKey, algorithms: &[Algorithm]) -> Self {
        let mut offered: Vec<Algorithm> = Vec::with_capacity(2);
        for a in algorithms {
            if !offered.contains(a) {
                offered.push(*a);
            }
        }
        if offered.is_empty() {
            offered.extend(Algorithm::DEFAULT);
        }
        Self {
            nonces: NonceKey::new(&key.derive(secret::DIGEST_NONCE)),
            passwords: key.sealer(secret::CREDENTIAL_PASSWORD),
            clock: Arc::new(SystemClock),
            algorithms: offered,
            throttle: Arc::new(Throttle::new(ThrottleSettings::default())),
        }
    }

    /// The same, dated by `clock` (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same, throttling failures with `settings` (and a table of its own).
    pub fn with_throttle(mut self, settings: ThrottleSettings) -> Self {
        self.throttle = Arc::new(Throttle::new(settings));
        self
    }
}

/// Which digest exchange: a proxy's for calls, or a registrar's for `REGISTER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// `407 Proxy Authentication Required`, `Proxy-Authenticate`, `Proxy-Authorization`; the
    /// lists mapped for calls.
    Calls,
    /// `401 Unauthorized`, `WWW-Authenticate`, `Authorization`; the lists mapped for
    /// registrations.
    Registrations,
}

impl Exchange {
    /// The status of a challenge.
    pub fn status(self) -> u16 {
        match self {
            Self::Calls => 407,
            Self::Registrations => 401,
        }
    }

    /// The header a challenge goes in.
    fn challenge_header(self) -> &'static str {
        match self {
            Self::Calls => "Proxy-Authenticate",
            Self::Registrations => "WWW-Authenticate",
        }
    }

    /// The header credentials come in.
    pub(super) fn credentials_header(self) -> &'static str {
        match self {
            Self::Calls => "Proxy-Authorization",
            Self::Registrations => "Authorization",
        }
    }

    /// The sealed password of `username` in a list mapped for this exchange.
    fn secret<'a>(self, auth: &'a DomainAuth, username: &str) -> Option<&'a Secret> {
        match self {
            Self::Calls => auth.call_secret(username),
            Self::Registrations => auth.registration_secret(username),
        }
    }
}

/// What the credentials of a request come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as this username.
    Authenticated(String),
    /// No credentials for the realm (`stale: false`), or right ones with an expired nonce
    /// (`stale: true`): challenge.
    Challenge {
        /// Whether to say `stale=true`.
        stale: bool,
    },
    /// Wrong, unknown or unreadable: `403`. Says why, for the debug log.
    Refused(&'static str),
    /// Not evaluated: the source (or the source and username) has failed too often. `503`
    /// with `Retry-After` of this many seconds.
    Throttled(u64, Scope),
}

/// Whether a header `name: value` holds `Digest` credentials for `realm` in the header that
/// `exchange` reads: what the edge consumes, and removes before forwarding.
pub(super) fn is_consumed(exchange: Exchange, name: &str, value: &str, realm: &str) -> bool {
    name.eq_ignore_ascii_case(exchange.credentials_header())
        && matches!(Credentials::parse(value), Parsed::Digest(c) if c.get("realm") == Some(realm))
}

/// The first credentials for `realm` in the `exchange`'s header of `req`: `Ok(None)` when there
/// are none, `Err` when there are none but some value cannot be read.
fn credentials_for<'m>(
    req: &'m Inbound<'_>,
    exchange: Exchange,
    realm: &str,
) -> Result<Option<Credentials<'m>>, ()> {
    let mut unreadable = false;
    for h in req.msg.headers_named(exchange.credentials_header()) {
        match Credentials::parse(&h.value) {
            Parsed::Digest(c) if c.get("realm") == Some(realm) => return Ok(Some(c)),
            Parsed::Digest(_) | Parsed::OtherScheme => {}
            Parsed::Malformed => unreadable = true,
        }
    }
    if unreadable { Err(()) } else { Ok(None) }
}

/// The `nc` and `cnonce` of credentials with `qop=auth`, `None` without `qop`; `Err` for any
/// other `qop`, a malformed `nc`, an empty `cnonce`, or no `qop` with an algorithm other than MD5.
fn qop_auth<'c>(
    c: &'c Credentials<'_>,
    algorithm: Algorithm,
) -> Result<Option<(&'c str, &'c str)>, &'static str> {
    match c.get("qop") {
        None if algorithm == Algorithm::Md5 => Ok(None),
        None => Err("no qop"),
        Some(q) if q.eq_ignore_ascii_case("auth") => {
            let nc = c.get("nc").ok_or("no nc")?;
            let cnonce = c
                .get("cnonce")
                .filter(|v| !v.is_empty())
                .ok_or("no cnonce")?;
            if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("malformed nc");
            }
            Ok(Some((nc, cnonce)))
        }
        Some(_) => Err("unsupported qop"),
    }
}

impl Edge {
    /// Checks the credentials of `req` (Request-URI `uri` as written) for `realm`, the domain
    /// whose settings are `auth`, in `exchange`, unless its source is throttled; counts a
    /// refusal as a failure. See the module docs.
    pub(super) fn verify(
        &self,
        req: &Inbound<'_>,
        uri: &str,
        realm: &str,
        auth: &DomainAuth,
        exchange: Exchange,
    ) -> Verdict {
        let c = match credentials_for(req, exchange, realm) {
            Ok(None) => return Verdict::Challenge { stale: false },
            Ok(Some(c)) => Some(c),
            Err(()) => None,
        };
        let username = c.as_ref().and_then(|c| c.get("username"));
        let (source, now) = (req.source.ip(), self.digest.clock.now_millis());
        let throttle = &self.digest.throttle;
        if let Some((wait, scope)) = throttle.blocked(source, realm, username, now) {
            return Verdict::Throttled(wait, scope);
        }
        let verdict = match &c {
            Some(c) => self.evaluate(req, c, uri, realm, auth, exchange),
            None => Verdict::Refused("unreadable credentials"),
        };
        if matches!(verdict, Verdict::Refused(_)) {
            throttle.failed(source, realm, username, now, &self.metrics);
        }
        verdict
    }

    /// What the credentials `c` of `req` come to (steps 2 to 4 of the module docs).
    fn evaluate(
        &self,
        req: &Inbound<'_>,
        c: &Credentials<'_>,
        uri: &str,
        realm: &str,
        auth: &DomainAuth,
        exchange: Exchange,
    ) -> Verdict {
        let (Some(username), Some(nonce), Some(digest_uri), Some(sent)) = (
            c.get("username"),
            c.get("nonce"),
            c.get("uri"),
            c.get("response"),
        ) else {
            return Verdict::Refused("incomplete credentials");
        };
        let algorithm = match c.get("algorithm") {
            None => Some(Algorithm::Md5),
            Some(name) => Algorithm::parse(name),
        };
        let Some(algorithm) = algorithm.filter(|a| self.digest.algorithms.contains(a)) else {
            return Verdict::Refused("algorithm not offered");
        };
        let qop = match qop_auth(c, algorithm) {
            Ok(q) => q,
            Err(why) => return Verdict::Refused(why),
        };
        if digest_uri != uri {
            return Verdict::Refused("uri is not the Request-URI");
        }
        let freshness = self
            .digest
            .nonces
            .check(nonce, realm, self.digest.clock.now());
        if freshness == NonceCheck::Forged {
            return Verdict::Refused("nonce not issued for this realm");
        }
        let Some(sealed) = exchange.secret(auth, username) else {
            return Verdict::Refused("unknown username");
        };
        let Ok(password) = self.digest.passwords.open(sealed.as_sealed()) else {
            tracing::warn!("a credential's password cannot be opened with the server key");
            return Verdict::Refused("password cannot be opened");
        };
        let expected = digest::response(&ResponseInput {
            algorithm,
            username,
            realm,
            password: &password,
            method: req.method,
            uri,
            nonce,
            qop_auth: qop,
        });
        let sent = sent.to_ascii_lowercase();
        if !bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) {
            return Verdict::Refused("wrong response");
        }
        match freshness {
            NonceCheck::Fresh => Verdict::Authenticated(username.to_owned()),
            _ => Verdict::Challenge { stale: true },
        }
    }

    /// A challenge to `req` for `realm`: `407` or `401` with one challenge per offered
    /// algorithm, all with one fresh nonce.
    pub(super) fn challenge(
        &self,
        req: &Inbound<'_>,
        realm: &str,
        exchange: Exchange,
        stale: bool,
    ) -> Action {
        let nonce = self
            .digest
            .nonces
            .issue(realm, self.digest.clock.now(), rand::random());
        let values: Vec<String> = self
            .digest
            .algorithms
            .iter()
            .map(|a| digest::challenge(realm, &nonce, *a, stale))
            .collect();
        let headers: Vec<(&str, &str)> = values
            .iter()
            .map(|v| (exchange.challenge_header(), v.as_str()))
            .collect();
        self.reply(req, exchange.status(), &headers)
    }
}
