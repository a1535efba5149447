//! The connection caps of [`SipLimits`]: open TCP and TLS connections counted in total and by source, and
//! the rate-limited warnings about the connections refused.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::SipLimits;

/// At most one warning line per cap about refused TCP connections this often.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Open TCP connections counted against the caps of [`SipLimits`].
#[derive(Debug)]
pub(super) struct Admission {
    max_connections: usize,
    max_per_source: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The cap that refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cap {
    Global,
    PerSource,
}

/// An admitted connection's place; dropping it frees the place.
#[derive(Debug)]
pub(super) struct Slot {
    admission: Arc<Admission>,
    source: IpAddr,
}

impl Admission {
    pub(super) fn new(limits: &SipLimits) -> Arc<Self> {
        Self::with_caps(limits.max_connections, limits.max_connections_per_source)
    }

    /// Places for at most `total` at once, `per_source` from one source (the TLS handshakes in
    /// progress are counted by one of these too).
    pub(super) fn with_caps(total: usize, per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            max_connections: total,
            max_per_source: per_source,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A place for a connection from `peer`, or the cap that refuses it.
    pub(super) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Cap> {
        let source = source_key(peer);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.total >= self.max_connections {
            return Err(Cap::Global);
        }
        let from_source = counts.by_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.max_per_source {
            return Err(Cap::PerSource);
        }
        counts.by_source.insert(source, from_source + 1);
        counts.total += 1;
        Ok(Slot {
            admission: self.clone(),
            source,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .admission
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Entry::Occupied(mut e) = counts.by_source.entry(self.source) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// What the per-source cap counts by: the address, or for IPv6 its /64 (one host usually has a
/// whole /64). IPv4-mapped IPv6 addresses count as IPv4.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Refusals under one cap, logged at most once per [`REFUSAL_LOG_EVERY`] so that an attack does
/// not flood the log.
#[derive(Debug, Default)]
struct RefusalLog {
    last_line: Option<Instant>,
    unreported: u64,
}

impl RefusalLog {
    /// Notes one refusal at `now`; if a line is due, returns how many refusals it reports (this
    /// one and those since the last line).
    fn note(&mut self, now: Instant) -> Option<u64> {
        self.unreported += 1;
        match self.last_line {
            Some(t) if now.saturating_duration_since(t) < REFUSAL_LOG_EVERY => None,
            _ => {
                self.last_line = Some(now);
                Some(std::mem::take(&mut self.unreported))
            }
        }
    }
}

/// The warnings about refused connections: one [`RefusalLog`] per cap.
#[derive(Debug, Default)]
pub(super) struct Refusals {
    global: RefusalLog,
    per_source: RefusalLog,
}

impl Refusals {
    pub(super) fn note(&mut self, cap: Cap, peer: SocketAddr, limits: &SipLimits) {
        let now = Instant::now();
        match cap {
            Cap::Global => {
                if let Some(refused) = self.global.note(now) {
                    tracing::warn!(
                        %peer,
                        refused,
                        cap = limits.max_connections,
                        "SIP TCP and TLS connections refused: the edge is at its connection cap \
                         (refused: how many since the last such line)"
                    );
                }
            }
            Cap::PerSource => {
                if let Some(refused) = self.per_source.note(now) {
                    tracing::warn!(
                        %peer,
                        refused,
                        cap = limits.max_connections_per_source,
                        "SIP TCP and TLS connections refused: a source is at its per-source cap \
                         (refused: how many since the last such line, from any source)"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn admission_counts_per_source_and_in_total_and_frees_on_drop() {
        let admission = Admission::new(&SipLimits {
            max_connections: 3,
            max_connections_per_source: 2,
            ..SipLimits::default()
        });
        let a1 = admission.admit(ip("192.0.2.1")).unwrap();
        let _a2 = admission.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert_eq!(
            admission.admit(ip("192.0.2.1")).unwrap_err(),
            Cap::PerSource,
            "the IPv4-mapped form is the same source"
        );
        let _b = admission.admit(ip("2001:db8::1")).unwrap();
        assert_eq!(admission.admit(ip("192.0.2.9")).unwrap_err(), Cap::Global);
        drop(a1);
        let _a3 = admission.admit(ip("192.0.2.1")).unwrap();
        // One IPv6 /64 is one source.
        let admission = Admission::new(&SipLimits {
            max_connections_per_source: 1,
            ..SipLimits::default()
        });
        let _c = admission.admit(ip("2001:db8:0:1::1")).unwrap();
        assert_eq!(
            admission.admit(ip("2001:db8:0:1:ffff::2")).unwrap_err(),
            Cap::PerSource
        );
        let d = admission.admit(ip("2001:db8:0:2::1")).unwrap();
        drop(d);
        let counts = admission.counts.lock().unwrap();
        assert_eq!((counts.total, counts.by_source.len()), (1, 1), "{counts:?}");
    }

    #[test]
    fn refusals_are_logged_at_most_once_per_interval_with_a_count() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        assert_eq!(
            log.note(t0),
            Some(1),
            "the first refusal is reported at once"
        );
        for i in 1..=500u64 {
            assert_eq!(log.note(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(
            log.note(t0 + REFUSAL_LOG_EVERY),
            Some(501),
            "the next line counts every refusal since the last one"
        );
        assert_eq!(
            log.note(t0 + REFUSAL_LOG_EVERY + Duration::from_secs(1)),
            None
        );
        assert_eq!(log.note(t0 + 3 * REFUSAL_LOG_EVERY), Some(2));
    }
}
