//! Log lines for limits that bite: every refusal is counted, but a limit logs at most one warning
//! per interval (saying how many refusals it stood for), so an attack cannot flood the log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often one limit may log.
const INTERVAL: Duration = Duration::from_secs(10);

/// One limit's log state.
#[derive(Debug)]
pub struct LimitLog {
    what: &'static str,
    last: Mutex<Option<Instant>>,
    since_last: AtomicU64,
    total: AtomicU64,
}

impl LimitLog {
    /// A limit described by `what` (e.g. "HTTP connection cap").
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            last: Mutex::new(None),
            since_last: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    /// Records one refusal; logs a warning with `detail` unless this limit logged recently.
    pub fn hit(&self, detail: &dyn std::fmt::Display) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let refused = self.since_last.fetch_add(1, Ordering::Relaxed) + 1;
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| now.duration_since(t) < INTERVAL) {
            return;
        }
        *last = Some(now);
        self.since_last.store(0, Ordering::Relaxed);
        drop(last);
        tracing::warn!(
            limit = self.what,
            refused_since_last_line = refused,
            "{}: {detail}",
            self.what
        );
    }

    /// Refusals since the process started.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::LimitLog;

    #[test]
    fn counts_every_hit() {
        let log = LimitLog::new("test limit");
        for i in 0..5 {
            log.hit(&format_args!("hit {i}"));
        }
        assert_eq!(log.total(), 5);
    }
}
