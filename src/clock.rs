//! Time, injected: the store mints every timestamp and SID from a [`Clock`], so that tests can
//! fix time and a row's `date_created` and `date_updated` come from one reading.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;

    /// Whole seconds since the Unix epoch (the stored form of every date).
    fn now(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that says what it is told (for tests).
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock standing at `millis` since the epoch.
    pub fn at_millis(millis: i64) -> Self {
        Self(AtomicI64::new(millis))
    }

    /// Moves the clock to `millis`.
    pub fn set_millis(&self, millis: i64) {
        self.0.store(millis, Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_follow_milliseconds() {
        let c = FixedClock::at_millis(1_700_000_000_999);
        assert_eq!(c.now(), 1_700_000_000);
        c.set_millis(1_700_000_001_000);
        assert_eq!(c.now(), 1_700_000_001);
        assert!(SystemClock.now() > 1_700_000_000);
    }
}
