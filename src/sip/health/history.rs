//! What one probed destination's health was over the last hour, for pictures of it: its state
//! changes ([`Transition`]) and, per minute with probes, how many went out, how many were
//! answered and whether it was down ([`MinuteSample`]). Bounded in time ([`SPAN_MS`]) and in
//! count ([`MAX_TRANSITIONS`], [`MAX_MINUTES`]); pure, the time given by the caller.

use std::collections::VecDeque;

use crate::limit_log::LimitLog;

/// How far back a history reaches.
pub const SPAN_MS: i64 = 60 * 60 * 1000;
/// Most state changes one history keeps (a destination flapping faster keeps its latest).
pub const MAX_TRANSITIONS: usize = 120;
/// Most minute samples one history keeps: an hour's.
pub const MAX_MINUTES: usize = 60;
const MINUTE_MS: i64 = 60_000;

/// The transition bound's log line.
static TRANSITIONS_CAP: LimitLog = LimitLog::new("SIP target health history transitions");

/// A state change: up or down from `at_ms` (milliseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub at_ms: i64,
    pub up: bool,
}

/// One minute's probes of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteSample {
    /// The minute's start (milliseconds since the Unix epoch, a multiple of 60,000).
    pub start_ms: i64,
    /// Probes sent in it.
    pub probes: u32,
    /// Answers to probes received in it.
    pub answered: u32,
    /// Whether the destination was down at some point in it.
    pub down: bool,
}

/// A destination's health over the last [`SPAN_MS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Since when the current state holds: the last change, or when probing began.
    pub since_ms: i64,
    /// State changes, oldest first.
    pub transitions: VecDeque<Transition>,
    /// Minutes with probes, oldest first.
    pub minutes: VecDeque<MinuteSample>,
}

impl History {
    /// The history of a destination probed from `now_ms` on, up.
    pub fn starting(now_ms: i64) -> Self {
        Self {
            since_ms: now_ms,
            ..Self::default()
        }
    }

    /// The destination became `up` (or down) at `now_ms`.
    pub fn changed(&mut self, now_ms: i64, up: bool) {
        self.since_ms = now_ms;
        if self.transitions.len() == MAX_TRANSITIONS {
            self.transitions.pop_front();
            TRANSITIONS_CAP.hit(&format_args!(
                "a target destination changed state more than {MAX_TRANSITIONS} times in an \
                 hour; its history keeps the latest"
            ));
        }
        self.transitions.push_back(Transition { at_ms: now_ms, up });
        if !up {
            self.minute(now_ms).down = true;
        }
        self.prune(now_ms);
    }

    /// A probe went out at `now_ms` while the destination was `up` (or down).
    pub fn probed(&mut self, now_ms: i64, up: bool) {
        let minute = self.minute(now_ms);
        minute.probes = minute.probes.saturating_add(1);
        minute.down |= !up;
        self.prune(now_ms);
    }

    /// An answer to a probe came at `now_ms`.
    pub fn answered(&mut self, now_ms: i64) {
        let minute = self.minute(now_ms);
        minute.answered = minute.answered.saturating_add(1);
    }

    /// What is within the span at `now_ms`.
    pub fn as_of(&self, now_ms: i64) -> Self {
        let mut copy = self.clone();
        copy.prune(now_ms);
        copy
    }

    /// The sample of `now_ms`'s minute, added (the oldest dropped past [`MAX_MINUTES`]) if
    /// there is none yet.
    fn minute(&mut self, now_ms: i64) -> &mut MinuteSample {
        let start_ms = now_ms - now_ms.rem_euclid(MINUTE_MS);
        let fresh = self.minutes.back().is_none_or(|m| m.start_ms < start_ms);
        if fresh {
            if self.minutes.len() == MAX_MINUTES {
                self.minutes.pop_front();
            }
            self.minutes.push_back(MinuteSample {
                start_ms,
                probes: 0,
                answered: 0,
                down: false,
            });
        }
        // A clock that went back writes into the latest minute.
        self.minutes.back_mut().expect("a minute was just ensured")
    }

    /// Drops what is older than [`SPAN_MS`] before `now_ms`.
    fn prune(&mut self, now_ms: i64) {
        let oldest = now_ms - SPAN_MS;
        while self.transitions.front().is_some_and(|t| t.at_ms < oldest) {
            self.transitions.pop_front();
        }
        while self
            .minutes
            .front()
            .is_some_and(|m| m.start_ms + MINUTE_MS <= oldest)
        {
            self.minutes.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_040_000; // a minute's start

    #[test]
    fn minutes_count_probes_answers_and_downtime() {
        let mut h = History::starting(T0);
        h.probed(T0 + 1_000, true);
        h.answered(T0 + 1_100);
        h.probed(T0 + 31_000, true);
        h.changed(T0 + 61_000, false);
        h.probed(T0 + 61_000, false);
        h.changed(T0 + 95_000, true);
        h.answered(T0 + 95_000);
        assert_eq!(
            Vec::from(h.minutes.clone()),
            vec![
                MinuteSample {
                    start_ms: T0,
                    probes: 2,
                    answered: 1,
                    down: false
                },
                MinuteSample {
                    start_ms: T0 + 60_000,
                    probes: 1,
                    answered: 1,
                    down: true
                },
            ]
        );
        assert_eq!(
            Vec::from(h.transitions.clone()),
            vec![
                Transition {
                    at_ms: T0 + 61_000,
                    up: false
                },
                Transition {
                    at_ms: T0 + 95_000,
                    up: true
                },
            ]
        );
        assert_eq!(h.since_ms, T0 + 95_000);
    }

    #[test]
    fn the_history_keeps_an_hour_and_a_bounded_count() {
        let mut h = History::starting(T0);
        // A probe every 10 s for two hours, down and up every other minute.
        for i in 0..720i64 {
            let now = T0 + i * 10_000;
            if i % 6 == 0 {
                h.changed(now, (i / 6) % 2 == 0);
            }
            h.probed(now, true);
        }
        let end = T0 + 719 * 10_000;
        let kept = h.as_of(end);
        assert!(kept.minutes.len() <= MAX_MINUTES);
        assert!(
            kept.minutes
                .iter()
                .all(|m| m.start_ms + 60_000 > end - SPAN_MS)
        );
        assert!(kept.transitions.len() <= MAX_TRANSITIONS);
        assert!(kept.transitions.iter().all(|t| t.at_ms >= end - SPAN_MS));
        assert_eq!(kept.transitions.back().unwrap().at_ms, T0 + 714 * 10_000);
        // An hour later with nothing new, nothing is left but the current state's start.
        let later = h.as_of(end + SPAN_MS + MINUTE_MS);
        assert!(later.minutes.is_empty() && later.transitions.is_empty());
        assert_eq!(later.since_ms, T0 + 714 * 10_000);
        // Flapping faster than the bound keeps the latest changes.
        let mut f = History::starting(T0);
        for i in 0..(MAX_TRANSITIONS as i64 + 30) {
            f.changed(T0 + i, i % 2 == 1);
        }
        assert_eq!(f.transitions.len(), MAX_TRANSITIONS);
        assert_eq!(
            f.transitions.back().unwrap().at_ms,
            T0 + MAX_TRANSITIONS as i64 + 29
        );
    }
}
