//! Throttling of failed authentication, per client address and per account.
//!
//! Each client address (an IPv6 client by its /64) and each existing account has a token bucket
//! that only failed authentications drain. A client whose bucket is empty gets 429 (20429) with a
//! `Retry-After` before its credentials are even checked. An account whose bucket is empty (its
//! token is being guessed from many addresses) gets the same answer for every address that has
//! not authenticated as it recently; addresses that have keep working, so an attack on an
//! account does not lock out its own clients. Correct credentials never drain anything.
//!
//! Memory is bounded: buckets that have refilled are forgotten, and at most
//! [`MAX_TRACKED`] addresses and accounts are tracked at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::limit_log::LimitLog;

/// Most addresses (and, separately, accounts) tracked at once.
pub const MAX_TRACKED: usize = 100_000;
/// Addresses remembered per account as having authenticated recently.
const TRUSTED_PER_ACCOUNT: usize = 32;
/// How long a successful authentication keeps an address trusted for its account.
const TRUST_FOR: Duration = Duration::from_secs(24 * 3600);

static SOURCE_LIMIT: LimitLog = LimitLog::new("failed-authentication limit per client");
static ACCOUNT_LIMIT: LimitLog = LimitLog::new("failed-authentication limit per account");

/// How many failures a bucket holds and how fast it refills.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Failures allowed in a burst.
    pub burst: f64,
    /// Failures forgiven per second.
    pub per_second: f64,
}

/// The throttle's settings.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// Per client address.
    pub per_client: Rate,
    /// Per account, across addresses.
    pub per_account: Rate,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_client: Rate {
                burst: 20.0,
                per_second: 1.0,
            },
            per_account: Rate {
                burst: 100.0,
                per_second: 2.0,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            at: now,
        }
    }

    /// The tokens the bucket holds at `now`.
    fn available(&self, rate: Rate, now: Instant) -> f64 {
        let gained = now.duration_since(self.at).as_secs_f64() * rate.per_second;
        (self.tokens + gained).min(rate.burst)
    }

    /// Takes one token (going negative: a client that keeps failing waits longer).
    fn take(&mut self, rate: Rate, now: Instant) {
        self.tokens = self.available(rate, now) - 1.0;
        self.at = now;
    }

    /// Seconds until one failure is allowed again, if none is now.
    fn wait(&self, rate: Rate, now: Instant) -> Option<u64> {
        let tokens = self.available(rate, now);
        (tokens < 1.0).then(|| ((1.0 - tokens) / rate.per_second).ceil().max(1.0) as u64)
    }
}

#[derive(Debug)]
struct AccountEntry {
    bucket: Bucket,
    trusted: Vec<(IpAddr, Instant)>,
}

impl AccountEntry {
    fn new(rate: Rate, now: Instant) -> Self {
        Self {
            bucket: Bucket::full(rate, now),
            trusted: Vec::new(),
        }
    }

    /// Nothing to remember: the bucket has refilled and no address is trusted any more.
    fn is_idle(&self, rate: Rate, now: Instant) -> bool {
        self.bucket.available(rate, now) >= rate.burst
            && self
                .trusted
                .iter()
                .all(|(_, at)| now.duration_since(*at) >= TRUST_FOR)
    }

    fn trusts(&self, ip: IpAddr, now: Instant) -> bool {
        self.trusted
            .iter()
            .any(|(t, at)| *t == ip && now.duration_since(*at) < TRUST_FOR)
    }

    /// Trusts `ip` from `now`.
    fn trust(&mut self, ip: IpAddr, now: Instant) {
        match self.trusted.iter_mut().find(|(t, _)| *t == ip) {
            Some((_, at)) => *at = now,
            None => {
                if self.trusted.len() >= TRUSTED_PER_ACCOUNT {
                    self.trusted.remove(0);
                }
                self.trusted.push((ip, now));
            }
        }
    }
}

/// The throttle, shared by every request. Correct credentials only take read locks (and, once a
/// minute per address and account, one short write), so they are not slowed by each other.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    config: ThrottleConfig,
    clients: RwLock<HashMap<IpAddr, Bucket>>,
    accounts: RwLock<HashMap<String, Mutex<AccountEntry>>>,
}

/// How often a trusted address's timestamp is refreshed.
const REFRESH_TRUST: Duration = Duration::from_secs(60);

/// IPv6 clients are keyed by their /64, which one host usually holds whole.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

/// Forgets idle entries when a map grows large; refuses to grow past the cap.
fn room<V>(map: &mut HashMap<impl std::hash::Hash + Eq, V>, is_idle: impl Fn(&V) -> bool) -> bool {
    if map.len() >= MAX_TRACKED / 2 {
        map.retain(|_, v| !is_idle(v));
    }
    map.len() < MAX_TRACKED
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn entry(m: &Mutex<AccountEntry>) -> std::sync::MutexGuard<'_, AccountEntry> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AuthThrottle {
    /// A throttle with the given settings.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Before checking credentials for `account` from `client`: `Err(seconds)` when the check
    /// must be refused with 429 and `Retry-After: seconds`.
    pub fn check(&self, client: Option<IpAddr>, account: &str) -> Result<(), u64> {
        let now = Instant::now();
        let ip = client.map(key);
        if let Some(ip) = ip
            && let Some(wait) = read(&self.clients)
                .get(&ip)
                .and_then(|b| b.wait(self.config.per_client, now))
        {
            SOURCE_LIMIT.hit(&format_args!("{ip} is refused for {wait} s"));
            return Err(wait);
        }
        let accounts = read(&self.accounts);
        let Some(e) = accounts.get(account) else {
            return Ok(());
        };
        let e = entry(e);
        match e.bucket.wait(self.config.per_account, now) {
            Some(wait) if !ip.is_some_and(|ip| e.trusts(ip, now)) => {
                ACCOUNT_LIMIT.hit(&format_args!(
                    "{account} is refused for {wait} s to addresses it does not know"
                ));
                Err(wait)
            }
            _ => Ok(()),
        }
    }

    /// A failed authentication from `client`, naming `account` when that account exists.
    pub fn failed(&self, client: Option<IpAddr>, account: Option<&str>) {
        let now = Instant::now();
        if let Some(ip) = client.map(key) {
            let rate = self.config.per_client;
            let mut clients = write(&self.clients);
            if clients.contains_key(&ip)
                || room(&mut clients, |b: &Bucket| {
                    b.available(rate, now) >= rate.burst
                })
            {
                clients
                    .entry(ip)
                    .or_insert_with(|| Bucket::full(rate, now))
                    .take(rate, now);
            }
        }
        if let Some(account) = account {
            let rate = self.config.per_account;
            self.with_account(account, now, |e| e.bucket.take(rate, now));
        }
    }

    /// Runs `f` on `account`'s entry, creating it when there is room for one.
    fn with_account(&self, account: &str, now: Instant, f: impl FnOnce(&mut AccountEntry)) {
        let rate = self.config.per_account;
        let mut accounts = write(&self.accounts);
        if accounts.contains_key(account)
            || room(&mut accounts, |e: &Mutex<AccountEntry>| {
                entry(e).is_idle(rate, now)
            })
        {
            let e = accounts
                .entry(account.to_owned())
                .or_insert_with(|| Mutex::new(AccountEntry::new(rate, now)));
            f(&mut entry(e));
        }
    }

    /// A successful authentication: `client` stays trusted for `account` for a day, so that a
    /// later attack on the account does not lock it out.
    pub fn succeeded(&self, client: Option<IpAddr>, account: &str) {
        let Some(ip) = client.map(key) else { return };
        let now = Instant::now();
        if let Some(e) = read(&self.accounts).get(account) {
            let mut e = entry(e);
            let fresh = e
                .trusted
                .iter()
                .any(|(t, at)| *t == ip && now.duration_since(*at) < REFRESH_TRUST);
            if !fresh {
                e.trust(ip, now);
            }
            return;
        }
        self.with_account(account, now, |e| e.trust(ip, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> AuthThrottle {
        AuthThrottle::new(ThrottleConfig {
            per_client: Rate {
                burst: 3.0,
                per_second: 0.001,
            },
            per_account: Rate {
                burst: 5.0,
                per_second: 0.001,
            },
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_client_is_refused_after_its_burst_and_others_are_not() {
        let t = throttle();
        for _ in 0..3 {
            assert!(t.check(ip("10.0.0.1"), "AC1").is_ok());
            t.failed(ip("10.0.0.1"), Some("AC1"));
        }
        let wait = t.check(ip("10.0.0.1"), "AC2").unwrap_err();
        assert!(wait >= 1);
        assert!(t.check(ip("10.0.0.2"), "AC1").is_ok());
        // One host's IPv6 addresses share one bucket.
        for _ in 0..3 {
            t.failed(ip("2001:db8::1"), None);
        }
        assert!(t.check(ip("2001:db8::ffff"), "AC3").is_err());
        assert!(t.check(ip("2001:db8:0:1::1"), "AC3").is_ok());
    }

    #[test]
    fn an_attacked_account_still_serves_addresses_that_authenticated_before() {
        let t = throttle();
        t.succeeded(ip("10.0.0.9"), "AC1");
        for n in 0..5 {
            t.failed(ip(&format!("10.1.0.{n}")), Some("AC1"));
        }
        assert!(
            t.check(ip("10.2.0.1"), "AC1").is_err(),
            "a new address waits"
        );
        assert!(
            t.check(ip("10.0.0.9"), "AC1").is_ok(),
            "a known one does not"
        );
        assert!(
            t.check(ip("10.2.0.1"), "AC2").is_ok(),
            "other accounts are untouched"
        );
    }
}
