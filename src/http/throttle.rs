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
use std::sync::Mutex;
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

    fn refill(&mut self, rate: Rate, now: Instant) {
        let gained = now.duration_since(self.at).as_secs_f64() * rate.per_second;
        self.tokens = (self.tokens + gained).min(rate.burst);
        self.at = now;
    }

    /// Seconds until one failure is allowed again, if none is now.
    fn wait(&self, rate: Rate) -> Option<u64> {
        (self.tokens < 1.0).then(|| ((1.0 - self.tokens) / rate.per_second).ceil().max(1.0) as u64)
    }
}

#[derive(Debug)]
struct AccountEntry {
    bucket: Bucket,
    trusted: Vec<(IpAddr, Instant)>,
}

/// The throttle, shared by every request.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    config: ThrottleConfig,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
    accounts: Mutex<HashMap<String, AccountEntry>>,
}

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

/// Forgets refilled buckets when a map grows large; refuses to grow past the cap.
fn room<V>(map: &mut HashMap<impl std::hash::Hash + Eq, V>, is_idle: impl Fn(&V) -> bool) -> bool {
    if map.len() >= MAX_TRACKED / 2 {
        map.retain(|_, v| !is_idle(v));
    }
    map.len() < MAX_TRACKED
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
        if let Some(ip) = client.map(key) {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(b) = clients.get_mut(&ip) {
                b.refill(self.config.per_client, now);
                if let Some(wait) = b.wait(self.config.per_client) {
                    SOURCE_LIMIT.hit(&format_args!("{ip} is refused for {wait} s"));
                    return Err(wait);
                }
            }
        }
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = accounts.get_mut(account) {
            entry.bucket.refill(self.config.per_account, now);
            if let Some(wait) = entry.bucket.wait(self.config.per_account) {
                let trusted = client.map(key).is_some_and(|ip| {
                    entry
                        .trusted
                        .iter()
                        .any(|(t, at)| *t == ip && now.duration_since(*at) < TRUST_FOR)
                });
                if !trusted {
                    ACCOUNT_LIMIT.hit(&format_args!(
                        "{account} is refused for {wait} s to addresses it does not know"
                    ));
                    return Err(wait);
                }
            }
        }
        Ok(())
    }

    /// A failed authentication from `client`, naming `account` when that account exists.
    pub fn failed(&self, client: Option<IpAddr>, account: Option<&str>) {
        let now = Instant::now();
        if let Some(ip) = client.map(key) {
            let rate = self.config.per_client;
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            let idle = |b: &Bucket| {
                let mut b = *b;
                b.refill(rate, now);
                b.tokens >= rate.burst
            };
            if clients.contains_key(&ip) || room(&mut clients, idle) {
                let b = clients.entry(ip).or_insert_with(|| Bucket::full(rate, now));
                b.refill(rate, now);
                b.tokens -= 1.0;
            }
        }
        if let Some(account) = account {
            let rate = self.config.per_account;
            let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
            let idle = |e: &AccountEntry| {
                let mut b = e.bucket;
                b.refill(rate, now);
                b.tokens >= rate.burst
                    && e.trusted
                        .iter()
                        .all(|(_, at)| now.duration_since(*at) >= TRUST_FOR)
            };
            if accounts.contains_key(account) || room(&mut accounts, idle) {
                let e = accounts
                    .entry(account.to_owned())
                    .or_insert_with(|| AccountEntry {
                        bucket: Bucket::full(rate, now),
                        trusted: Vec::new(),
                    });
                e.bucket.refill(rate, now);
                e.bucket.tokens -= 1.0;
            }
        }
    }

    /// A successful authentication: `client` stays trusted for `account` for a day, so that a
    /// later attack on the account does not lock it out.
    pub fn succeeded(&self, client: Option<IpAddr>, account: &str) {
        let Some(ip) = client.map(key) else { return };
        let now = Instant::now();
        let rate = self.config.per_account;
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = accounts.get_mut(account) {
            match entry.trusted.iter_mut().find(|(t, _)| *t == ip) {
                Some((_, at)) => *at = now,
                None => {
                    if entry.trusted.len() >= TRUSTED_PER_ACCOUNT {
                        entry.trusted.remove(0);
                    }
                    entry.trusted.push((ip, now));
                }
            }
            return;
        }
        let idle = |e: &AccountEntry| {
            let mut b = e.bucket;
            b.refill(rate, now);
            b.tokens >= rate.burst
                && e.trusted
                    .iter()
                    .all(|(_, at)| now.duration_since(*at) >= TRUST_FOR)
        };
        if room(&mut accounts, idle) {
            accounts.insert(
                account.to_owned(),
                AccountEntry {
                    bucket: Bucket::full(rate, now),
                    trusted: vec![(ip, now)],
                },
            );
        }
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
