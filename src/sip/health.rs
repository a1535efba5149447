//! Target health, as the probes (`probe`) see it and the edge reads it.
//!
//! Every probed destination has a [`DestinationHealth`]: up, or down after `failures` probes in a
//! row went unanswered; any SIP response to a probe makes it up again at once. A destination is
//! up until probes say otherwise, and so is one that is not probed (over the limit, see
//! [`Health::rebuild`]). The edge reads this on every forwarded request without a lock: one
//! atomic load of the map, and none at all while no destination is down.
//!
//! Each probed destination also keeps its [`History`] over the last hour (state changes, and
//! per minute the probes sent and answered), bounded in time and count, for the API's
//! `TargetHealth` and the console's pictures; it is written by the probes and their answers
//! only (a lock per probe and per answer), never read on the forwarding path.

mod history;

pub use history::{History, MAX_MINUTES, MAX_TRANSITIONS, MinuteSample, SPAN_MS, Transition};

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::clock::{Clock, SystemClock};
use crate::limit_log::LimitLog;
use crate::recognition::{Destination, Destinations};
use crate::sip_syntax::Wire;

/// Most target lines `/metrics` shows (one per target of a probed destination); the rest are
/// counted in `sipmap_sip_target_lines_omitted`.
const MAX_TARGET_LINES: usize = 1_000;

/// The probe limit's log line.
static PROBE_LIMIT: LimitLog = LimitLog::new("SIP target probe limit");
/// The metric line limit's log line.
static LINE_LIMIT: LimitLog = LimitLog::new("sipmap_sip_target_up line limit");

/// The health of one probed destination.
#[derive(Debug)]
pub struct DestinationHealth {
    up: AtomicBool,
    /// Probes sent since the last answer.
    unanswered: AtomicU32,
    /// The targets that name this destination.
    targets: Arc<[String]>,
    /// Its health over the last hour.
    history: Mutex<History>,
}

impl DestinationHealth {
    fn new(targets: Arc<[String]>, now_ms: i64) -> Self {
        Self {
            up: AtomicBool::new(true),
            unanswered: AtomicU32::new(0),
            targets,
            history: Mutex::new(History::starting(now_ms)),
        }
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether it answers (or has not yet missed enough probes to be taken out).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

/// The health of every probed destination, and the probes' counters.
#[derive(Debug)]
pub struct Health {
    /// What dates the histories.
    clock: Arc<dyn Clock>,
    probed: ArcSwap<HashMap<Destination, Arc<DestinationHealth>>>,
    /// False only when no probed destination is down: the edge then looks nothing up.
    any_down: AtomicBool,
    /// Destinations not probed because of the limit, at the last rebuild.
    unprobed: AtomicUsize,
    /// Probed destinations that wait for a later round (their address has more than fit in one
    /// at its probe rate), at the last round.
    deferred: AtomicUsize,
    /// `OPTIONS` probes sent.
    pub probes_sent: AtomicU64,
    /// Probes answered (any SIP response).
    pub probes_answered: AtomicU64,
    /// Destinations marked down (transitions from up).
    pub marked_down: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
}

/// One target's destination as the probes see it (see [`Health::of_targets`]).
#[derive(Debug, Clone)]
pub struct TargetHealth {
    /// The target's SID.
    pub target: String,
    /// The destination its URI names.
    pub destination: Destination,
    /// Whether it is up now.
    pub up: bool,
    /// Its last hour.
    pub history: History,
}

/// A look at target health for one request: nothing to look up while no destination is down,
/// else the map as it is now (one atomic load, however many targets are asked about).
pub enum HealthView {
    /// No probed destination is down.
    AllUp,
    /// The probed destinations.
    Probed(arc_swap::Guard<Arc<HashMap<Destination, Arc<DestinationHealth>>>>),
}

impl HealthView {
    /// Whether `dest` may be chosen: it is not probed, or it is up.
    pub fn is_up(&self, dest: &Destination) -> bool {
        match self {
            Self::AllUp => true,
            Self::Probed(map) => map.get(dest).is_none_or(|h| h.is_up()),
        }
    }
}

impl Health {
    /// No destination probed yet; histories dated by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            probed: ArcSwap::default(),
            any_down: AtomicBool::new(false),
            unprobed: AtomicUsize::new(0),
            deferred: AtomicUsize::new(0),
            probes_sent: AtomicU64::new(0),
            probes_answered: AtomicU64::new(0),
            marked_down: AtomicU64::new(0),
        }
    }

    /// The probed destinations of the targets named in `targets`, one entry per target and
    /// destination, each with its history over the last hour (a target not probed has none).
    pub fn of_targets(&self, targets: &HashSet<&str>) -> Vec<TargetHealth> {
        let now = self.clock.now_millis();
        let probed = self.probed.load();
        let mut found = Vec::new();
        for (dest, h) in probed.iter() {
            for sid in h.targets.iter().filter(|t| targets.contains(t.as_str())) {
                found.push(TargetHealth {
                    target: sid.clone(),
                    destination: *dest,
                    up: h.is_up(),
                    history: h.history().as_of(now),
                });
            }
        }
        found.sort_unstable_by(|a, b| (&a.target, a.destination).cmp(&(&b.target, b.destination)));
        found
    }

    /// Whether `dest` may be chosen: it is not probed, or it is up.
    pub fn is_up(&self, dest: &Destination) -> bool {
        self.view().is_up(dest)
    }

    /// A look at health for one request.
    pub fn view(&self) -> HealthView {
        if self.any_down.load(Ordering::Relaxed) {
            HealthView::Probed(self.probed.load())
        } else {
            HealthView::AllUp
        }
    }

    /// Follows the snapshot's destinations: keeps the state of those still there, adds the new
    /// ones (up), drops the gone ones. At most `limit` are probed: over the limit, first the
    /// destinations of targets that some domain routes to (`routed`, asked only then), then the
    /// others, each by address; the limit's refusal is logged. Gives the probed destinations.
    pub fn rebuild(
        &self,
        all: &Destinations,
        limit: usize,
        routed: impl FnOnce() -> Vec<Destination>,
    ) -> Vec<Destination> {
        let unprobed = all.len().saturating_sub(limit);
        let mut dests = if unprobed > 0 {
            PROBE_LIMIT.hit(&format_args!(
                "{} target destinations, {limit} probed (those some domain routes to first); \
                 the other {unprobed} count as up",
                all.len()
            ));
            within_limit(all, limit, routed())
        } else {
            all.keys().copied().collect()
        };
        // `routed` comes from the snapshot `all` comes from; a destination of neither is dropped.
        dests.retain(|d| all.contains_key(d));
        dests.sort_unstable();
        let old = self.probed.load();
        let now = self.clock.now_millis();
        let next: HashMap<Destination, Arc<DestinationHealth>> = dests
            .iter()
            .map(|d| {
                let targets = all[d].clone();
                let state = match old.get(d) {
                    Some(h) if h.targets == targets => h.clone(),
                    Some(h) => Arc::new(DestinationHealth {
                        up: AtomicBool::new(h.is_up()),
                        unanswered: AtomicU32::new(h.unanswered.load(Ordering::Relaxed)),
                        targets,
                        history: Mutex::new(h.history().clone()),
                    }),
                    None => Arc::new(DestinationHealth::new(targets, now)),
                };
                (*d, state)
            })
            .collect();
        let any_down = next.values().any(|h| !h.is_up());
        self.probed.store(Arc::new(next));
        self.any_down.store(any_down, Ordering::Relaxed);
        self.unprobed.store(unprobed, Ordering::Relaxed);
        dests
    }

    /// Before a round of probes: every probed destination that has `failures` probes unanswered
    /// is marked down, and each counts one more probe sent (a round that probes them all; see
    /// [`Health::probing`]).
    pub fn before_probes(&self, failures: u32) {
        let probed = self.probed.load();
        for dest in probed.keys() {
            self.probing(dest, failures);
        }
        self.recount();
    }

    /// A probe is about to go to `dest`: if it left `failures` probes in a row unanswered, it is
    /// down; then it has one more unanswered. Nothing for a destination that is not probed.
    pub fn probing(&self, dest: &Destination, failures: u32) {
        let probed = self.probed.load();
        let Some(h) = probed.get(dest) else {
            return;
        };
        self.probes_sent.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now_millis();
        let unanswered = h.unanswered.fetch_add(1, Ordering::Relaxed);
        let mut history = h.history();
        if unanswered >= failures && h.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(destination = %dest, unanswered, "SIP target down");
            self.marked_down.fetch_add(1, Ordering::Relaxed);
            self.any_down.store(true, Ordering::Relaxed);
            history.changed(now, false);
        }
        history.probed(now, h.is_up());
    }

    /// How many probed destinations wait for a later round (see `pacing`).
    pub fn set_deferred(&self, waiting: usize) {
        self.deferred.store(waiting, Ordering::Relaxed);
    }

    /// Looks again whether any probed destination is down (answers bring them up one by one;
    /// until this runs, the edge keeps looking health up).
    pub fn recount(&self) {
        let any_down = self.probed.load().values().any(|h| !h.is_up());
        self.any_down.store(any_down, Ordering::Relaxed);
    }

    /// A probe to `addr` was answered: every probed destination at that address is up.
    pub fn answered(&self, addr: SocketAddr) {
        self.probes_answered.fetch_add(1, Ordering::Relaxed);
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        let probed = self.probed.load();
        let now = self.clock.now_millis();
        for wire in Wire::ALL {
            if let Some(h) = probed.get(&Destination { addr, wire }) {
                h.unanswered.store(0, Ordering::Relaxed);
                let mut history = h.history();
                if !h.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(destination = %addr, "SIP target up");
                    history.changed(now, true);
                }
                history.answered(now);
            }
        }
    }

    /// The Prometheus text of target health and the probes' counters.
    pub fn render(&self, out: &mut String) {
        let probed = self.probed.load();
        let mut sorted: Vec<_> = probed.iter().collect();
        sorted.sort_unstable_by_key(|(d, _)| **d);
        let omitted = target_lines(out, &sorted);
        if omitted > 0 {
            LINE_LIMIT.hit(&format_args!(
                "{MAX_TARGET_LINES} targets shown in /metrics, {omitted} left out"
            ));
        }
        let gauges = [
            (
                "sipmap_sip_target_lines_omitted",
                "Targets left out of sipmap_sip_target_up (over its line limit).",
                omitted,
            ),
            (
                "sipmap_sip_probe_destinations",
                "Target destinations probed.",
                sorted.len(),
            ),
            (
                "sipmap_sip_probe_destinations_down",
                "Probed target destinations that are down.",
                sorted.iter().filter(|(_, h)| !h.is_up()).count(),
            ),
            (
                "sipmap_sip_probe_destinations_unprobed",
                "Target destinations not probed (over the limit; they count as up).",
                self.unprobed.load(Ordering::Relaxed),
            ),
            (
                "sipmap_sip_probe_destinations_deferred",
                "Probed destinations left for a later round: their address has more than fit \
                 in one round at its probe rate.",
                self.deferred.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let counters = [
            (
                "sipmap_sip_probes_sent_total",
                "OPTIONS probes sent to targets.",
                &self.probes_sent,
            ),
            (
                "sipmap_sip_probes_answered_total",
                "Probes answered by targets.",
                &self.probes_answered,
            ),
            (
                "sipmap_sip_targets_marked_down_total",
                "Times a target destination was marked down.",
                &self.marked_down,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
    }
}

/// Writes `sipmap_sip_target_up`, one line per target of each destination in `sorted`, at most
/// [`MAX_TARGET_LINES`]; gives how many were left out.
fn target_lines(out: &mut String, sorted: &[(&Destination, &Arc<DestinationHealth>)]) -> usize {
    let _ = writeln!(
        out,
        "# HELP sipmap_sip_target_up Whether a target's destination answers probes (1) or \
         not (0).\n# TYPE sipmap_sip_target_up gauge"
    );
    let mut lines = 0usize;
    let mut omitted = 0usize;
    for (dest, h) in sorted {
        for sid in h.targets.iter() {
            if lines == MAX_TARGET_LINES {
                omitted += 1;
                continue;
            }
            lines += 1;
            let _ = writeln!(
                out,
                "sipmap_sip_target_up{{target=\"{sid}\",destination=\"{}\",transport=\"{}\"}} {}",
                dest.addr,
                dest.transport(),
                u8::from(h.is_up())
            );
        }
    }
    omitted
}

/// The `limit` destinations probed when `all` holds more: those of `routed` (from the same
/// snapshot, so all in `all`) first, then the others, each by address.
fn within_limit(
    all: &Destinations,
    limit: usize,
    mut routed: Vec<Destination>,
) -> Vec<Destination> {
    // Usually there are more routed destinations than room: the first `limit` by address,
    // without sorting them all (unless repeats among those leave fewer).
    if routed.len() > limit && limit > 0 {
        let mut first = routed.clone();
        first.select_nth_unstable(limit - 1);
        first.truncate(limit);
        first.sort_unstable();
        first.dedup();
        if first.len() == limit {
            return first;
        }
    }
    routed.sort_unstable();
    routed.dedup();
    if routed.len() >= limit {
        routed.truncate(limit);
        return routed;
    }
    let chosen: HashSet<Destination> = routed.iter().copied().collect();
    let mut rest: Vec<Destination> = all
        .keys()
        .filter(|d| !chosen.contains(d))
        .copied()
        .collect();
    let room = limit - routed.len();
    if room < rest.len() {
        rest.select_nth_unstable(room - 1);
        rest.truncate(room);
    }
    routed.extend(rest);
    routed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(addr: &str, tcp: bool) -> Destination {
        Destination {
            addr: addr.parse().unwrap(),
            wire: if tcp { Wire::Tcp } else { Wire::Udp },
        }
    }

    fn all(dests: &[Destination]) -> Destinations {
        dests
            .iter()
            .enumerate()
            .map(|(i, d)| (*d, Arc::from(vec![format!("NE{i}")])))
            .collect()
    }

    #[test]
    fn down_after_failures_unanswered_probes_and_up_after_an_answer() {
        let h = Health::default();
        let a = dest("127.0.0.2:5060", false);
        let b = dest("127.0.0.3:5060", true);
        assert_eq!(h.rebuild(&all(&[a, b]), 10, Vec::new), vec![a, b]);
        // Three probes go unanswered: down at the fourth round.
        for round in 0..3 {
            h.before_probes(3);
            assert!(h.is_up(&a), "round {round}");
        }
        h.before_probes(3);
        assert!(!h.is_up(&a) && !h.is_up(&b));
        assert!(h.is_up(&dest("127.0.0.9:5060", false)), "not probed: up");
        h.answered("127.0.0.2:5060".parse().unwrap());
        assert!(h.is_up(&a) && !h.is_up(&b));
        // The answer reset the count: three more rounds before it is down again.
        for _ in 0..3 {
            h.before_probes(3);
        }
        assert!(h.is_up(&a));
        h.before_probes(3);
        assert!(!h.is_up(&a));
        assert_eq!(h.marked_down.load(Ordering::Relaxed), 3);
        // A rebuild keeps the state of what stays.
        h.rebuild(&all(&[a]), 10, Vec::new);
        assert!(!h.is_up(&a));
        assert!(h.is_up(&b), "no longer probed: up");
        let mut text = String::new();
        h.render(&mut text);
        assert!(
            text.contains(
                "sipmap_sip_target_up{target=\"NE0\",destination=\"127.0.0.2:5060\",transport=\"udp\"} 0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("sipmap_sip_probes_answered_total 1\n"),
            "{text}"
        );
    }

    #[test]
    fn each_target_shows_its_destinations_last_hour() {
        use crate::clock::FixedClock;
        const T0: i64 = 1_700_000_040_000;
        let clock = Arc::new(FixedClock::at_millis(T0));
        let h = Health::with_clock(clock.clone());
        let a = dest("127.0.0.2:5060", false);
        let b = dest("127.0.0.3:5060", true);
        h.rebuild(&all(&[a, b]), 10, Vec::new);
        // One failure takes a destination out: down at the second round, 10 s in.
        for round in 0..3 {
            clock.set_millis(T0 + round * 10_000);
            h.before_probes(1);
        }
        clock.set_millis(T0 + 25_000);
        h.answered(a.addr);
        let got = h.of_targets(&HashSet::from(["NE0"]));
        assert_eq!(got.len(), 1, "{got:?}");
        let (t, history) = (&got[0], &got[0].history);
        assert_eq!((t.target.as_str(), t.destination, t.up), ("NE0", a, true));
        assert_eq!(
            Vec::from(history.transitions.clone()),
            vec![
                Transition {
                    at_ms: T0 + 10_000,
                    up: false
                },
                Transition {
                    at_ms: T0 + 25_000,
                    up: true
                },
            ]
        );
        assert_eq!(
            Vec::from(history.minutes.clone()),
            vec![MinuteSample {
                start_ms: T0,
                probes: 3,
                answered: 1,
                down: true
            }]
        );
        let b_now = h.of_targets(&HashSet::from(["NE1", "NE9"]));
        assert_eq!(b_now.len(), 1);
        assert!(!b_now[0].up);
        assert_eq!(b_now[0].history.since_ms, T0 + 10_000);
        // A rebuild that renames the destination's targets keeps its history.
        let renamed: Destinations = [(a, Arc::from(vec!["NE7".to_owned()]))]
            .into_iter()
            .collect();
        h.rebuild(&renamed, 10, Vec::new);
        let kept = h.of_targets(&HashSet::from(["NE7"]));
        assert_eq!(kept[0].history, history.clone());
        // Past the hour, what is older is gone.
        clock.set_millis(T0 + SPAN_MS + 60_000);
        let old = h.of_targets(&HashSet::from(["NE7"]));
        assert!(old[0].history.transitions.is_empty() && old[0].history.minutes.is_empty());
    }

    #[test]
    fn the_probe_limit_bounds_what_is_probed() {
        let h = Health::default();
        let dests: Vec<Destination> = (1..=5)
            .map(|i| dest(&format!("127.0.0.{i}:5060"), false))
            .collect();
        let probed = h.rebuild(&all(&dests), 3, Vec::new);
        assert_eq!(probed, dests[..3]);
        let mut text = String::new();
        h.render(&mut text);
        assert!(text.contains("sipmap_sip_probe_destinations 3\n"), "{text}");
        assert!(
            text.contains("sipmap_sip_probe_destinations_unprobed 2\n"),
            "{text}"
        );
        for _ in 0..2 {
            h.before_probes(1);
        }
        assert!(!h.is_up(&dests[0]));
        assert!(h.is_up(&dests[4]), "not probed: up");
    }

    #[test]
    fn target_up_lines_are_bounded_and_the_rest_counted() {
        let h = Health::default();
        let dests: Vec<Destination> = (0..MAX_TARGET_LINES + 10)
            .map(|i| dest(&format!("127.0.{}.{}:5060", i / 250, i % 250 + 1), false))
            .collect();
        h.rebuild(&all(&dests), dests.len(), Vec::new);
        let mut text = String::new();
        h.render(&mut text);
        let lines = text
            .lines()
            .filter(|l| l.starts_with("sipmap_sip_target_up{"))
            .count();
        assert_eq!(lines, MAX_TARGET_LINES);
        assert!(
            text.contains("sipmap_sip_target_lines_omitted 10\n"),
            "{}",
            &text[text.len() - 600..]
        );
    }

    #[test]
    fn over_the_limit_routed_destinations_are_probed_first() {
        let h = Health::default();
        let dests: Vec<Destination> = (1..=6)
            .map(|i| dest(&format!("127.0.0.{i}:5060"), false))
            .collect();
        let routed = vec![dests[4], dests[1], dests[4]];
        let probed = h.rebuild(&all(&dests), 3, || routed.clone());
        assert_eq!(probed, vec![dests[0], dests[1], dests[4]]);
        // More routed than the limit: the first of them by address.
        let routed = vec![dests[5], dests[3], dests[2]];
        let probed = h.rebuild(&all(&dests), 2, || routed.clone());
        assert_eq!(probed, vec![dests[2], dests[3]]);
        // Under the limit nothing needs to know what is routed.
        let probed = h.rebuild(&all(&dests), 6, || unreachable!("not over the limit"));
        assert_eq!(probed, dests);
    }
}
