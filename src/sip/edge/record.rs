//! The decisions record: each node keeps, in memory, the recent decisions of the edge per
//! account ([`Decisions`]), and per domain the requests and refusals of each minute of the last
//! hour (the traffic series). Only requests that were recognised as an account's domain are
//! recorded: nothing is attributed to an account for an unknown source.
//!
//! Bounded three ways, each logged once a minute when it bites: a ring of
//! [`RecordSettings::per_account`] decisions per account (the oldest goes), at most
//! [`RecordSettings::max_accounts`] accounts (a new one past it is not recorded), and at most
//! [`RecordSettings::max_total`] decisions in all (past it, an account's new decision replaces
//! its own oldest, and one with none is not recorded); every text field is cut at
//! [`MAX_FIELD`] bytes; at most [`MAX_DOMAINS`] traffic series.
//!
//! Cheap on the request path: an entry is one allocation (its text fields in one string), one
//! `Arc` of the domain, the steps kept as the decision's enums (worded only when read); a read
//! lock on the account table and one account's mutex. What an entry holds never includes a
//! password, a digest response or a nonce: the username a request authenticated as at most.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::auth::{Exchange, Verdict};
use super::decide::{Decision, Outcome, Route};
use super::policy::{Gate, Media};
use super::throttle::Scope;
use crate::clock::Clock;
use crate::limit_log::LimitLog;
use crate::recognition::{MatchedBy, Target};
use crate::sid::AccountSid;
use crate::sip_syntax::Wire;

/// The longest text field kept (cut at a character boundary).
pub const MAX_FIELD: usize = 256;
/// The most traffic series (domains) counted at once.
pub const MAX_DOMAINS: usize = 10_000;
/// Minutes of traffic kept per domain.
pub const MINUTES: usize = 60;

static LIMITED: LimitLog = LimitLog::new("decisions record");

/// How much the record keeps.
#[derive(Debug, Clone, Copy)]
pub struct RecordSettings {
    /// Decisions kept per account.
    pub per_account: usize,
    /// Accounts recorded at once.
    pub max_accounts: usize,
    /// Decisions kept in all.
    pub max_total: usize,
}

impl Default for RecordSettings {
    fn default() -> Self {
        Self {
            per_account: 1000,
            max_accounts: 1000,
            max_total: 200_000,
        }
    }
}

/// What a decision's credentials came to, without the username (kept with the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Right: the request authenticated.
    Authenticated,
    /// None for the realm, or right with an expired nonce (`stale`): challenged.
    Challenged(bool),
    /// Refused, and why.
    Refused(&'static str),
    /// Not evaluated: the source is throttled.
    Throttled(Scope),
}

/// Where an admitted request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// Answered here (`OPTIONS`).
    Answered,
    /// Handed to the voice application.
    Application,
    /// To a target (its SID and URI are text fields), at this address.
    Target(SocketAddr, Wire),
    /// To the upstream.
    Upstream(SocketAddr, Wire),
}

/// The text fields of an entry, in the order they are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The method.
    Method,
    /// The Call-ID.
    CallId,
    /// The Request-URI as written.
    RequestUri,
    /// `From` as received (without a URI password; [`user_at_host`] reads it).
    From,
    /// `To` as received (the same).
    To,
    /// The username it authenticated as.
    Username,
    /// The list that let it in.
    List,
    /// The chosen target's SID.
    TargetSid,
    /// The chosen target's URI.
    TargetUri,
}

const FIELDS: usize = 9;

/// The request's text an entry keeps, as read from it.
#[derive(Debug, Clone, Copy)]
pub struct Said<'a> {
    /// Its method.
    pub method: &'a str,
    /// Its Call-ID.
    pub call_id: &'a str,
    /// Its Request-URI.
    pub request_uri: &'a str,
    /// Its `From` value.
    pub from: &'a str,
    /// Its `To` value.
    pub to: &'a str,
}

/// One recorded decision.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its number on this node, from 1, in the order recorded.
    pub id: u64,
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
    /// The domain (and its account).
    pub target: Arc<Target>,
    /// How it was recognised.
    pub matched_by: MatchedBy,
    /// Where the request came from.
    pub source: SocketAddr,
    /// How.
    pub wire: Wire,
    /// The gate it met.
    pub gate: Option<Gate>,
    /// Its credentials' check.
    pub digest: Option<(Exchange, Checked)>,
    /// Its media's.
    pub media: Option<Media>,
    /// Where it went.
    pub hop: Option<Hop>,
    /// How it ended.
    pub outcome: Outcome,
    text: String,
    ends: [u16; FIELDS],
}

impl Entry {
    /// The text field `f` (empty when the request had none).
    pub fn text(&self, f: Field) -> &str {
        let i = f as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The entry of `d` (recognised: `target`) for a request that said `said`, from `source`
    /// over `wire`, numbered `id`, at `at_ms`; its text written into `buf` (an evicted entry's,
    /// so that a full ring allocates nothing).
    fn of(
        buf: String,
        d: &Decision<'_>,
        target: &Arc<Target>,
        said: &Said<'_>,
        (source, wire): (SocketAddr, Wire),
        (id, at_ms): (u64, i64),
    ) -> Entry {
        let found = d.found.as_ref().map(|f| f.matched_by);
        let (target_sid, target_uri) = match d.route {
            Some(Route::Target(c)) => (c.target.sid.as_str(), c.target.uri.as_str()),
            _ => ("", ""),
        };
        let fields: [&str; FIELDS] = [
            said.method,
            said.call_id,
            said.request_uri,
            without_password(said.from),
            without_password(said.to),
            d.username().unwrap_or(""),
            d.list.unwrap_or(""),
            target_sid,
            target_uri,
        ];
        let mut text = buf;
        text.clear();
        let mut ends = [0u16; FIELDS];
        for (end, f) in ends.iter_mut().zip(fields) {
            text.push_str(cut(f));
            *end = text.len() as u16;
        }
        Entry {
            id,
            at_ms,
            target: target.clone(),
            matched_by: found.unwrap_or(MatchedBy::SourceIp),
            source,
            wire,
            gate: d.gate,
            digest: d.digest.as_ref().map(|(e, v)| (*e, checked(v.as_ref()))),
            media: d.media,
            hop: d.route.map(hop),
            outcome: d.outcome,
            text,
            ends,
        }
    }
}

/// What a credentials' verdict is recorded as (`None`: not checked, which the edge never
/// records: Resolve's "what if").
fn checked(v: Option<&Verdict>) -> Checked {
    match v {
        None | Some(Verdict::Authenticated(_)) => Checked::Authenticated,
        Some(Verdict::Challenge { stale }) => Checked::Challenged(*stale),
        Some(Verdict::Refused(why)) => Checked::Refused(why),
        Some(Verdict::Throttled(_, scope)) => Checked::Throttled(*scope),
    }
}

fn hop(r: Route<'_>) -> Hop {
    match r {
        Route::Answered => Hop::Answered,
        Route::Application => Hop::Application,
        Route::Target(c) => Hop::Target(c.destination.addr, c.destination.wire),
        Route::Upstream(a, w) => Hop::Upstream(a, w),
    }
}

/// `s` cut at [`MAX_FIELD`] bytes, at a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_FIELD {
        return s;
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A `From` or `To` value as received, or nothing when its URI may carry a password
/// (`sip:user:password@host`): more than one `:` before the first `@`. A cheap test on the
/// request path (a display name with a `:` before the address is dropped too); the value is
/// read into `user@host` only when shown ([`user_at_host`]).
fn without_password(value: &str) -> &str {
    let mut colons = 0u8;
    for b in value.bytes() {
        match b {
            b':' => colons = colons.saturating_add(1),
            b'@' if colons > 1 => return "",
            b'@' => return value,
            _ => {}
        }
    }
    value
}

/// `user@host` of a `From` or `To` value (no display name, no password, no parameters); empty
/// when it cannot be read.
pub fn user_at_host(value: &str) -> &str {
    let Some(na) = crate::sip::message::NameAddr::parse(value) else {
        return "";
    };
    let uri = na.uri;
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    let rest = rest.split([';', '?', '>']).next().unwrap_or(rest);
    match rest.split_once('@') {
        // A user part may carry a password (`user:password@host`): never shown.
        Some((user, _)) if user.contains(':') => "",
        _ => rest,
    }
}

/// One domain's requests and refusals per minute, in a ring of [`MINUTES`].
#[derive(Debug, Clone)]
pub struct Series {
    /// The domain.
    pub target: Arc<Target>,
    /// `(minute since the epoch, requests, refused)` by `minute % MINUTES`.
    buckets: [(i64, u32, u32); MINUTES],
}

impl Series {
    /// The last [`MINUTES`] minutes up to `now_minute`, oldest first: `(minute, requests,
    /// refused)`, zeros for minutes without traffic.
    pub fn minutes(&self, now_minute: i64) -> Vec<(i64, u32, u32)> {
        (now_minute - MINUTES as i64 + 1..=now_minute)
            .map(|m| {
                let (at, req, refused) = self.buckets[m.rem_euclid(MINUTES as i64) as usize];
                if at == m {
                    (m, req, refused)
                } else {
                    (m, 0, 0)
                }
            })
            .collect()
    }

    fn count(&mut self, minute: i64, refused: bool) {
        let b = &mut self.buckets[minute.rem_euclid(MINUTES as i64) as usize];
        if b.0 != minute {
            *b = (minute, 0, 0);
        }
        b.1 = b.1.saturating_add(1);
        b.2 = b.2.saturating_add(u32::from(refused));
    }
}

/// FNV-1a: the account table's hash. Its keys are account SIDs the server minted, not chosen by
/// a peer, so a keyed hash buys nothing there and costs twice the instructions per request.
#[derive(Debug, Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The account table.
type Accounts = HashMap<AccountSid, Arc<Mutex<Account>>, std::hash::BuildHasherDefault<Fnv>>;

/// One account's record.
#[derive(Debug, Default)]
struct Account {
    ring: VecDeque<Entry>,
    traffic: Vec<Series>,
}

/// What a list of decisions is filtered by.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The Call-ID, exactly.
    pub call_id: Option<String>,
    /// The source address, and port if given.
    pub source: Option<(IpAddr, Option<u16>)>,
    /// The domain's name (case-insensitive) or SID.
    pub domain: Option<String>,
    /// The outcome's kind ([`Outcome::kind`]).
    pub outcome: Option<String>,
    /// Only after this time (ms, exclusive).
    pub after_ms: Option<i64>,
    /// Only before this time (ms, exclusive).
    pub before_ms: Option<i64>,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        let t = &e.target;
        self.call_id
            .as_deref()
            .is_none_or(|c| e.text(Field::CallId) == c)
            && self.source.is_none_or(|(ip, port)| {
                e.source.ip().to_canonical() == ip.to_canonical()
                    && port.is_none_or(|p| p == e.source.port())
            })
            && self
                .domain
                .as_deref()
                .is_none_or(|d| t.domain_sid.as_str() == d || t.domain_name.eq_ignore_ascii_case(d))
            && self
                .outcome
                .as_deref()
                .is_none_or(|o| e.outcome.kind() == o)
            && self.after_ms.is_none_or(|a| e.at_ms > a)
            && self.before_ms.is_none_or(|b| e.at_ms < b)
    }
}

/// The record of one node (see the module docs).
#[derive(Debug)]
pub struct Decisions {
    settings: RecordSettings,
    clock: Arc<dyn Clock>,
    accounts: RwLock<Accounts>,
    total: AtomicUsize,
    domains: AtomicUsize,
    seq: AtomicU64,
}

impl Decisions {
    /// An empty record keeping `settings`' worth, dated by `clock`.
    pub fn new(settings: RecordSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            clock,
            accounts: RwLock::default(),
            total: AtomicUsize::new(0),
            domains: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
        }
    }

    /// The clock decisions are dated by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Records `d` for a request from `source` over `wire` that said `said`, if it was
    /// recognised (nothing otherwise).
    pub fn record(&self, d: &Decision<'_>, said: &Said<'_>, source: SocketAddr, wire: Wire) {
        let Some(found) = &d.found else {
            return;
        };
        let Some(account) = self.account(&found.target.account_sid) else {
            return;
        };
        let at_ms = self.clock.now_millis();
        let mut a = account.lock().unwrap_or_else(|e| e.into_inner());
        self.count_traffic(&mut a, found.target, at_ms, d.outcome);
        if self.settings.per_account == 0 {
            return;
        }
        let evicted = if a.ring.len() >= self.settings.per_account {
            a.ring.pop_front()
        } else if self.total.load(Ordering::Relaxed) >= self.settings.max_total {
            let Some(oldest) = a.ring.pop_front() else {
                LIMITED.hit(&format_args!(
                    "{} decisions recorded in all: a decision of {} not recorded",
                    self.settings.max_total, found.target.account_sid
                ));
                return;
            };
            Some(oldest)
        } else {
            self.total.fetch_add(1, Ordering::Relaxed);
            None
        };
        let buf = evicted.map(|e| e.text).unwrap_or_default();
        let id = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Entry::of(buf, d, found.target, said, (source, wire), (id, at_ms));
        a.ring.push_back(entry);
    }

    /// The record of `sid`, made if there is room.
    fn account(&self, sid: &AccountSid) -> Option<Arc<Mutex<Account>>> {
        if let Some(a) = self.read().get(sid) {
            return Some(a.clone());
        }
        let mut all = self.accounts.write().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = all.get(sid) {
            return Some(a.clone());
        }
        if all.len() >= self.settings.max_accounts {
            LIMITED.hit(&format_args!(
                "{} accounts recorded: the decisions of {sid} are not",
                self.settings.max_accounts
            ));
            return None;
        }
        let a = Arc::new(Mutex::new(Account {
            ring: VecDeque::with_capacity(self.settings.per_account.min(64)),
            traffic: Vec::new(),
        }));
        all.insert(sid.clone(), a.clone());
        Some(a)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Accounts> {
        self.accounts.read().unwrap_or_else(|e| e.into_inner())
    }

    fn count_traffic(&self, a: &mut Account, target: &Arc<Target>, at_ms: i64, o: Outcome) {
        let minute = at_ms.div_euclid(60_000);
        let refused = o.kind() == "refused";
        if let Some(s) = a
            .traffic
            .iter_mut()
            .find(|s| s.target.domain_sid == target.domain_sid)
        {
            if !Arc::ptr_eq(&s.target, target) {
                s.target = target.clone();
            }
            s.count(minute, refused);
            return;
        }
        if self.domains.load(Ordering::Relaxed) >= MAX_DOMAINS {
            LIMITED.hit(&format_args!(
                "{MAX_DOMAINS} domains' traffic counted: {} not",
                target.domain_name
            ));
            return;
        }
        self.domains.fetch_add(1, Ordering::Relaxed);
        let mut s = Series {
            target: target.clone(),
            buckets: [(i64::MIN, 0, 0); MINUTES],
        };
        s.count(minute, refused);
        a.traffic.push(s);
    }

    /// The decisions of `account` that `filter` lets through, newest first, at most `limit`.
    pub fn list(&self, account: &AccountSid, filter: &Filter, limit: usize) -> Vec<Entry> {
        let Some(a) = self.read().get(account).cloned() else {
            return Vec::new();
        };
        let a = a.lock().unwrap_or_else(|e| e.into_inner());
        a.ring
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The traffic series of `account`'s domains (those matching `domain`, a name or SID, if
    /// given).
    pub fn traffic(&self, account: &AccountSid, domain: Option<&str>) -> Vec<Series> {
        let Some(a) = self.read().get(account).cloned() else {
            return Vec::new();
        };
        let a = a.lock().unwrap_or_else(|e| e.into_inner());
        a.traffic
            .iter()
            .filter(|s| {
                domain.is_none_or(|d| {
                    s.target.domain_sid.as_str() == d
                        || s.target.domain_name.eq_ignore_ascii_case(d)
                })
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests;
