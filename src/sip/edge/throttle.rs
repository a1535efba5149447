//! Throttling of failed digest authentication at the edge, per source and per source and
//! username, so that a password cannot be guessed at the speed of the edge's CPU.
//!
//! Every request whose credentials the edge refuses (`403`: a wrong response, an unknown
//! username, a forged nonce, unreadable credentials) is a failure of its source, and of its
//! source and the username it claimed in that realm (whether or not that username exists, so
//! that a block tells nothing about which usernames exist). A source with
//! [`ThrottleSettings::failures_per_source`] failures, or a source and username with
//! [`ThrottleSettings::failures_per_user`], within [`ThrottleSettings::window`] of the first is
//! blocked for [`ThrottleSettings::block`]: while it is, credentials it sends (for that username,
//! or for any) are not evaluated at all, and the request is answered `503` with a `Retry-After`,
//! so the right password is refused too. The same username from any other source is not
//! affected. After a block the count starts again. A request without credentials for the realm,
//! and correct credentials with an expired nonce, get a challenge and are not failures.
//!
//! A source is an IPv4 address, or an IPv6 /64 (a host usually holds a whole /64, so counting
//! its addresses one by one would give it 2^64 budgets; IPv4-mapped addresses count as IPv4).
//! Counts are per node: each node of a cluster keeps its own table.
//!
//! Memory is fixed: a table of [`TRACKED`] entries (about 2 MiB), in buckets of [`WAYS`] chosen
//! by a keyed hash (a random key per process, so no one can aim at a bucket). A new key takes an
//! empty or expired entry of its bucket, else the one with the fewest failures; a blocked entry
//! is given up only when its whole bucket is blocked, and then the one whose block ends first.
//! Giving up an entry that still counted is logged and counted.
//!
//! Cost: only failures write. A check reads one atomic (the latest end of any block) and, while
//! no block is running anywhere, nothing else; otherwise it locks the one bucket of each of its
//! two keys (source; source and username) for a scan of [`WAYS`] entries.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::limit_log::LimitLog;
use crate::sip::metrics::Metrics;

/// Keys (sources, and sources with usernames) tracked at once.
pub const TRACKED: usize = 65_536;
/// Entries per bucket.
pub const WAYS: usize = 8;
const BUCKETS: usize = TRACKED / WAYS;

static SOURCE_LIMIT: LimitLog = LimitLog::new("SIP failed-authentication limit per source");
static USER_LIMIT: LimitLog =
    LimitLog::new("SIP failed-authentication limit per source and username");
static SOURCE_BLOCKS: LimitLog = LimitLog::new("SIP sources blocked after failed authentication");
static USER_BLOCKS: LimitLog =
    LimitLog::new("SIP usernames blocked for a source after failed authentication");
static TABLE_LIMIT: LimitLog = LimitLog::new("SIP failed-authentication table size");

/// How many failures block a source, within what window, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failures from one source (any username) that block it.
    pub failures_per_source: u32,
    /// Failures from one source for one username of one realm that block that username there.
    pub failures_per_user: u32,
    /// The failures count within this long of the first.
    pub window: Duration,
    /// How long a block lasts.
    pub block: Duration,
}

impl Default for ThrottleSettings {
    /// 20 failures per source or 10 per source and username within 60 s block for 60 s.
    fn default() -> Self {
        Self {
            failures_per_source: 20,
            failures_per_user: 10,
            window: Duration::from_secs(60),
            block: Duration::from_secs(60),
        }
    }
}

/// Which count a block is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The source, whatever the username.
    Source,
    /// The source, for one username of one realm.
    SourceAndUser,
}

/// One tracked key: its failures in the current window, and its block.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The keyed hash of the key; 0 for an empty slot.
    key: u64,
    /// When the current window began (ms since the epoch).
    window_start: i64,
    failures: u32,
    /// When its block ends (ms); in the past when it is not blocked.
    blocked_until: i64,
}

impl Slot {
    const EMPTY: Self = Self {
        key: 0,
        window_start: i64::MIN,
        failures: 0,
        blocked_until: i64::MIN,
    };

    /// Which slot of a bucket a new key takes: the lowest rank (empty or expired, then fewest
    /// failures, then blocked, the block that ends first first).
    fn rank(&self, now: i64, window: i64) -> (u8, i64) {
        let blocked = self.blocked_until > now;
        let expired = now.saturating_sub(self.window_start) >= window;
        if self.key == 0 || (!blocked && expired) {
            (0, 0)
        } else if !blocked {
            (1, i64::from(self.failures))
        } else {
            (2, self.blocked_until)
        }
    }
}

/// The failure counts of one edge (see the module docs).
#[derive(Debug)]
pub struct Throttle {
    settings: ThrottleSettings,
    hasher: RandomState,
    buckets: Box<[Mutex<[Slot; WAYS]>]>,
    /// The latest end of any block (ms): while the clock is past it, nothing is blocked.
    latest_block_end: AtomicI64,
}

/// A key's source part: an IPv4 address, or an IPv6 /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Throttle {
    /// An empty table with `settings`.
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            hasher: RandomState::new(),
            buckets: (0..BUCKETS)
                .map(|_| Mutex::new([Slot::EMPTY; WAYS]))
                .collect(),
            latest_block_end: AtomicI64::new(i64::MIN),
        }
    }

    /// The keyed hash of `source` (with `user`: a realm and username), never 0.
    fn key(&self, source: IpAddr, user: Option<(&str, &str)>) -> u64 {
        let mut h = self.hasher.build_hasher();
        source_key(source).hash(&mut h);
        user.hash(&mut h);
        h.finish().max(1)
    }

    fn bucket(&self, key: u64) -> MutexGuard<'_, [Slot; WAYS]> {
        // BUCKETS is a power of two; the low bits of a keyed hash are as good as any.
        let i = (key as usize) & (BUCKETS - 1);
        self.buckets[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the block on `key` ends, if it is blocked at `now`.
    fn block_end(&self, key: u64, now: i64) -> Option<i64> {
        self.bucket(key)
            .iter()
            .find(|s| s.key == key)
            .map(|s| s.blocked_until)
            .filter(|&end| end > now)
    }

    /// Whether credentials from `source` for `username` in `realm` must not be evaluated at
    /// `now` (ms): the seconds until they may be (at least 1), and which block says so (the
    /// source's first). `username` is `None` when the credentials name none.
    pub fn blocked(
        &self,
        source: IpAddr,
        realm: &str,
        username: Option<&str>,
        now: i64,
    ) -> Option<(u64, Scope)> {
        if now >= self.latest_block_end.load(Ordering::Relaxed) {
            return None;
        }
        let (end, scope) = match self.block_end(self.key(source, None), now) {
            Some(end) => (end, Scope::Source),
            None => {
                let user = username.map(|u| (realm, u))?;
                let key = self.key(source, Some(user));
                (self.block_end(key, now)?, Scope::SourceAndUser)
            }
        };
        let wait = u64::try_from(end - now).unwrap_or(0).div_ceil(1000).max(1);
        let log = match scope {
            Scope::Source => &SOURCE_LIMIT,
            Scope::SourceAndUser => &USER_LIMIT,
        };
        log.hit(&format_args!(
            "credentials from {} in realm {realm} not checked for {wait} s more",
            source.to_canonical()
        ));
        Some((wait, scope))
    }

    /// A failure from `source` for `username` (if the credentials named one) in `realm` at
    /// `now` (ms): counted for the source, and for the source and username. Blocks started and
    /// entries given up are counted in `metrics`.
    pub fn failed(
        &self,
        source: IpAddr,
        realm: &str,
        username: Option<&str>,
        now: i64,
        metrics: &Metrics,
    ) {
        let (source, seconds) = (source.to_canonical(), self.settings.block.as_secs());
        let limit = self.settings.failures_per_source;
        if self.count(self.key(source, None), limit, now, metrics) {
            Metrics::inc(&metrics.auth_blocks_source);
            SOURCE_BLOCKS.hit(&format_args!(
                "{source} blocked for {seconds} s after {limit} failures"
            ));
        }
        if let Some(username) = username {
            let limit = self.settings.failures_per_user;
            let key = self.key(source, Some((realm, username)));
            if self.count(key, limit, now, metrics) {
                Metrics::inc(&metrics.auth_blocks_user);
                // The username is not logged: people type passwords into username fields.
                USER_BLOCKS.hit(&format_args!(
                    "a username of realm {realm} blocked for {source} for {seconds} s after \
                     {limit} failures"
                ));
            }
        }
    }

    /// Counts one failure of `key` against `limit`; true when that starts a block.
    fn count(&self, key: u64, limit: u32, now: i64, metrics: &Metrics) -> bool {
        let window = millis(self.settings.window);
        let mut bucket = self.bucket(key);
        let i = match bucket.iter().position(|s| s.key == key) {
            Some(i) => i,
            None => {
                let (i, victim) = bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.rank(now, window))
                    .expect("a bucket has slots");
                if victim.rank(now, window).0 > 0 {
                    Metrics::inc(&metrics.auth_throttle_evictions);
                    TABLE_LIMIT.hit(&format_args!(
                        "{TRACKED} entries: one with {} failures given up",
                        victim.failures
                    ));
                }
                bucket[i] = Slot { key, ..Slot::EMPTY };
                i
            }
        };
        let slot = &mut bucket[i];
        if slot.blocked_until > now {
            // Checked before the block began (another thread): already blocked.
            return false;
        }
        if now.saturating_sub(slot.window_start) >= window {
            slot.window_start = now;
            slot.failures = 0;
        }
        slot.failures += 1;
        if slot.failures < limit {
            return false;
        }
        let end = now.saturating_add(millis(self.settings.block));
        slot.blocked_until = end;
        // The next window opens when the block ends.
        slot.window_start = end;
        slot.failures = 0;
        drop(bucket);
        self.latest_block_end.fetch_max(end, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    fn settings() -> ThrottleSettings {
        ThrottleSettings {
            failures_per_source: 5,
            failures_per_user: 3,
            window: Duration::from_secs(60),
            block: Duration::from_secs(30),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn fail(t: &Throttle, source: &str, user: &str, now: i64) {
        t.failed(ip(source), "r", Some(user), now, &Metrics::default());
    }

    #[test]
    fn a_source_and_user_is_blocked_after_its_failures_and_only_it() {
        let t = Throttle::new(settings());
        for n in 0..3 {
            assert_eq!(t.blocked(ip("10.0.0.1"), "r", Some("alice"), T0 + n), None);
            fail(&t, "10.0.0.1", "alice", T0 + n);
        }
        let now = T0 + 3;
        assert_eq!(
            t.blocked(ip("10.0.0.1"), "r", Some("alice"), now),
            Some((30, Scope::SourceAndUser))
        );
        assert_eq!(t.blocked(ip("10.0.0.2"), "r", Some("alice"), now), None);
        assert_eq!(t.blocked(ip("10.0.0.1"), "r", Some("bob"), now), None);
        assert_eq!(t.blocked(ip("10.0.0.1"), "other", Some("alice"), now), None);
        assert_eq!(t.blocked(ip("10.0.0.1"), "r", None, now), None);
        // Retry-After counts down, and the block ends.
        let later = T0 + 2 + 29_500;
        assert_eq!(
            t.blocked(ip("10.0.0.1"), "r", Some("alice"), later),
            Some((1, Scope::SourceAndUser))
        );
        assert_eq!(
            t.blocked(ip("10.0.0.1"), "r", Some("alice"), T0 + 2 + 30_000),
            None
        );
    }

    #[test]
    fn a_source_is_blocked_across_usernames_and_an_ipv6_host_by_its_64() {
        let t = Throttle::new(settings());
        for (n, user) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            fail(&t, "2001:db8::1", user, T0 + n as i64);
        }
        for source in ["2001:db8::1", "2001:db8::ffff:1"] {
            assert_eq!(
                t.blocked(ip(source), "r", Some("zed"), T0 + 10),
                Some((30, Scope::Source)),
                "{source}"
            );
            assert_eq!(
                t.blocked(ip(source), "r", None, T0 + 10).map(|b| b.1),
                Some(Scope::Source)
            );
        }
        assert_eq!(t.blocked(ip("2001:db8:0:1::1"), "r", Some("a"), T0), None);
        // An IPv4-mapped address is its IPv4 address.
        for n in 0..5 {
            t.failed(ip("192.0.2.9"), "r", None, T0 + n, &Metrics::default());
        }
        assert!(
            t.blocked(ip("::ffff:192.0.2.9"), "r", None, T0 + 9)
                .is_some()
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = Throttle::new(settings());
        let metrics = Metrics::default();
        for n in 0..10 {
            // A failure every 30 s: never three within one 60 s window.
            let now = T0 + n * 30_001;
            t.failed(ip("10.0.0.1"), "r", Some("alice"), now, &metrics);
            assert_eq!(t.blocked(ip("10.0.0.1"), "r", Some("alice"), now), None);
        }
        assert_eq!(metrics.auth_blocks_user.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn after_a_block_the_count_starts_again() {
        let t = Throttle::new(ThrottleSettings {
            failures_per_source: 100,
            ..settings()
        });
        for n in 0..3 {
            fail(&t, "10.0.0.1", "alice", T0 + n);
        }
        let end = T0 + 2 + 30_000;
        assert!(
            t.blocked(ip("10.0.0.1"), "r", Some("alice"), end - 1)
                .is_some()
        );
        assert_eq!(t.blocked(ip("10.0.0.1"), "r", Some("alice"), end), None);
        for n in 0..2 {
            fail(&t, "10.0.0.1", "alice", end + n);
        }
        assert_eq!(t.blocked(ip("10.0.0.1"), "r", Some("alice"), end + 5), None);
        fail(&t, "10.0.0.1", "alice", end + 6);
        assert!(
            t.blocked(ip("10.0.0.1"), "r", Some("alice"), end + 7)
                .is_some()
        );
    }

    #[test]
    fn the_table_stays_its_size_and_gives_up_counting_entries_before_blocked_ones() {
        let t = Throttle::new(ThrottleSettings {
            failures_per_source: 2,
            ..settings()
        });
        let metrics = Metrics::default();
        // Block one source, then fail once from four times as many sources as the table holds.
        for n in 0..2 {
            t.failed(ip("10.0.0.1"), "r", None, T0 + n, &metrics);
        }
        for n in 0..(4 * TRACKED as u32) {
            let source = IpAddr::V4((0x0b00_0000 + n).into());
            t.failed(source, "r", None, T0 + 10, &metrics);
        }
        assert_eq!(t.buckets.len() * WAYS, TRACKED);
        let bytes = std::mem::size_of_val(&*t.buckets);
        assert!(bytes < 2_200_000, "about 2 MiB: {bytes}");
        assert!(t.blocked(ip("10.0.0.1"), "r", None, T0 + 20).is_some());
        let evicted = metrics.auth_throttle_evictions.load(Ordering::Relaxed);
        assert!(evicted >= 3 * TRACKED as u64, "{evicted}");
        assert_eq!(metrics.auth_blocks_source.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn nothing_is_probed_while_nothing_is_blocked() {
        let t = Throttle::new(settings());
        assert_eq!(t.latest_block_end.load(Ordering::Relaxed), i64::MIN);
        fail(&t, "10.0.0.1", "alice", T0);
        assert_eq!(
            t.latest_block_end.load(Ordering::Relaxed),
            i64::MIN,
            "a failure that blocks nothing moves nothing"
        );
        for n in 1..3 {
            fail(&t, "10.0.0.1", "alice", T0 + n);
        }
        assert_eq!(t.latest_block_end.load(Ordering::Relaxed), T0 + 2 + 30_000);
    }
}
