//! The console's sign-in sessions: a table in memory per node, bounded in count and in time.
//!
//! A session is made when a console user signs in with credentials the API accepts (checked by
//! [`super::extract::authenticate`], as Basic auth is). The browser holds a random 256-bit id in a
//! cookie; the table holds only its SHA-256, so a dump of memory does not give a usable cookie. A
//! session holds no secret: it keeps the user (an Account SID or an API key SID) and the stored
//! hash of the credential as it was at sign-in (the *verifier*). Every request the cookie
//! authenticates reads the user's credential again (the same indexed read Basic auth makes) and
//! requires the stored hash to be the same one, the account active: a changed auth token (a new
//! salted hash), a deleted API key or a closed account ends the session at its next request,
//! on every node, with no secret kept to re-verify.
//!
//! Bounds: at most [`Sessions::max`] sessions (`--console-sessions`); a sign-in past it, once
//! expired sessions are dropped, is refused (503) and logged. At most [`PER_USER`] sessions per
//! user: the user's least recently used one gives way. A session ends after [`IDLE`] without a
//! request, after [`ABSOLUTE`] in any case, or at sign-out.
//!
//! Each session has its own CSRF token, which every cookie-authenticated request that changes
//! something must carry in `X-CSRF-Token` (compared in constant time).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth_token::TokenHash;
use crate::limit_log::LimitLog;

/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions one user (account or API key) may hold at once.
pub const PER_USER: usize = 16;
/// Sessions a node keeps at most, unless `--console-sessions` says otherwise.
pub const DEFAULT_MAX: usize = 1000;
/// The cookie holding the session id.
pub const COOKIE: &str = "sipmap_session";

static FULL: LimitLog = LimitLog::new("console session table");

/// What a cookie's session says about its user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The Basic user the session signed in as: an Account SID or an API key SID.
    pub user: String,
    /// The stored hash of the credential at sign-in.
    pub verifier: TokenHash,
    csrf: String,
    created: Instant,
    last_used: Instant,
}

impl Session {
    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, token: &[u8]) -> bool {
        self.csrf.as_bytes().ct_eq(token).into()
    }

    /// The session's CSRF token, for the page that holds the session.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_used) < IDLE
            && now.saturating_duration_since(self.created) < ABSOLUTE
    }
}

/// A new session's cookie value and its CSRF token.
pub struct Issued {
    /// The cookie value (64 hex digits); never stored.
    pub id: String,
    /// The session's CSRF token.
    pub csrf: String,
}

/// The table is full of live sessions.
#[derive(Debug)]
pub struct Full;

/// The sessions of this node.
#[derive(Debug)]
pub struct Sessions {
    max: usize,
    table: Mutex<HashMap<[u8; 32], Session>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(DEFAULT_MAX)
    }
}

/// The key a cookie value is stored under.
fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_hex64() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    /// A table of at most `max` sessions (at least one).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The most sessions this table keeps.
    pub fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `user`, whose stored credential hash is `verifier`.
    pub fn open(&self, user: &str, verifier: TokenHash, now: Instant) -> Result<Issued, Full> {
        let mut table = self.lock();
        table.retain(|_, s| s.live(now));
        let mine: Vec<([u8; 32], Instant)> = table
            .iter()
            .filter(|(_, s)| s.user == user)
            .map(|(k, s)| (*k, s.last_used))
            .collect();
        if mine.len() >= PER_USER
            && let Some((oldest, _)) = mine.iter().min_by_key(|(_, used)| *used)
        {
            table.remove(oldest);
        }
        if table.len() >= self.max {
            FULL.hit(&format_args!(
                "{} live sessions; a sign-in was refused",
                self.max
            ));
            return Err(Full);
        }
        let issued = Issued {
            id: random_hex64(),
            csrf: random_hex64(),
        };
        table.insert(
            key(&issued.id),
            Session {
                user: user.to_owned(),
                verifier,
                csrf: issued.csrf.clone(),
                created: now,
                last_used: now,
            },
        );
        Ok(issued)
    }

    /// The live session a cookie value names, marked used now; an expired one is dropped.
    pub fn touch(&self, id: &str, now: Instant) -> Option<Session> {
        let mut table = self.lock();
        let k = key(id);
        let session = table.get_mut(&k)?;
        if !session.live(now) {
            table.remove(&k);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// Ends the session a cookie value names, if there is one.
    pub fn close(&self, id: &str) {
        self.lock().remove(&key(id));
    }

    /// Sessions held now (live or not yet swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value of the session cookie in a `Cookie` header, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> TokenHash {
        crate::auth_token::AuthToken::generate().hash()
    }

    #[test]
    fn a_session_is_found_by_its_cookie_only_and_ends_at_close() {
        let sessions = Sessions::new(10);
        let now = Instant::now();
        let issued = sessions.open("AC1", verifier(), now).unwrap();
        let found = sessions.touch(&issued.id, now).expect("open session");
        assert_eq!(found.user, "AC1");
        assert!(found.csrf_matches(issued.csrf.as_bytes()));
        assert!(!found.csrf_matches(b"nope"));
        assert!(
            sessions.touch(&issued.csrf, now).is_none(),
            "the CSRF token is no cookie"
        );
        assert_eq!(issued.id.len(), 64);
        sessions.close(&issued.id);
        assert!(sessions.touch(&issued.id, now).is_none());
    }

    #[test]
    fn sessions_end_when_idle_and_at_their_absolute_bound() {
        let sessions = Sessions::new(10);
        let t0 = Instant::now();
        let idle = sessions.open("AC1", verifier(), t0).unwrap();
        assert!(sessions.touch(&idle.id, t0 + IDLE).is_none());
        let busy = sessions.open("AC1", verifier(), t0).unwrap();
        let mut t = t0;
        while t < t0 + ABSOLUTE - IDLE / 2 {
            t += IDLE / 2;
            assert!(sessions.touch(&busy.id, t).is_some());
        }
        assert!(sessions.touch(&busy.id, t0 + ABSOLUTE).is_none());
    }

    #[test]
    fn the_table_is_bounded_in_total_and_per_user() {
        let sessions = Sessions::new(3);
        let now = Instant::now();
        for user in ["AC1", "AC2", "AC3"] {
            sessions.open(user, verifier(), now).unwrap();
        }
        assert!(sessions.open("AC4", verifier(), now).is_err());
        assert!(
            sessions.open("AC4", verifier(), now + IDLE).is_ok(),
            "expired sessions make room"
        );

        let sessions = Sessions::new(1000);
        let first = sessions.open("AC1", verifier(), now).unwrap();
        for n in 1..=PER_USER {
            let at = now + Duration::from_secs(n as u64);
            sessions.open("AC1", verifier(), at).unwrap();
        }
        assert_eq!(sessions.len(), PER_USER);
        assert!(
            sessions.touch(&first.id, now).is_none(),
            "the least recently used gave way"
        );
    }

    #[test]
    fn reads_the_session_cookie_among_others() {
        assert_eq!(cookie_value("a=1; sipmap_session=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("sipmap_session="), None);
        assert_eq!(cookie_value("xsipmap_session=abc"), None);
    }
}
