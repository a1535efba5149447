//! The health probes' clock: every `interval` a round of `OPTIONS` probes to the target
//! destinations in the snapshot (at most `max_destinations`, those some domain routes to first),
//! paced so that one address gets at most `rate_per_ip` per second (see [`super::pacing`]); a
//! destination that left `failures` probes in a row unanswered is marked down when its next
//! probe goes out (see [`super::health`]). The edge builds the probes and recognises their
//! answers; this task only times and sends them.

use std::sync::Arc;
use std::time::Duration;

use super::edge::Action;
use super::pacing::Pacer;
use super::{Io, perform};
use crate::limit_log::LimitLog;
use crate::recognition::{Destination, Destinations, Routes, routed_destinations};

/// The per-address pacing's log line.
static PACING: LimitLog = LimitLog::new("SIP probes per destination address");

/// How the edge probes targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Time between two rounds of probes.
    pub interval: Duration,
    /// Unanswered probes in a row that take a destination down.
    pub failures: u32,
    /// Most destinations probed; the others count as up (the limit logs when it bites).
    pub max_destinations: usize,
    /// Most probes per second to one destination address, whatever the number of its ports
    /// (see [`super::pacing`]).
    pub rate_per_ip: u32,
}

impl Default for ProbeSettings {
    /// Every 10 s, down after 3 unanswered, up to 1,024 destinations, at most 10 probes per
    /// second to one address.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            failures: 3,
            max_destinations: 1024,
            rate_per_ip: 10,
        }
    }
}

/// Probes until the task is dropped: a round every `interval` (see [`Pacer`] for the slots in
/// between).
pub(super) async fn run(io: Arc<Io>, settings: ProbeSettings) {
    let interval = settings.interval.max(Duration::from_millis(10));
    let mut round = tokio::time::interval(interval);
    round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let health = &io.edge.metrics().health;
    let mut pacer = Pacer::new(settings.rate_per_ip);
    let mut watched = Watched::default();
    let mut seq: u64 = rand::random::<u32>().into();
    // A slot runs no sooner than one slot after the previous one: at most `rate_per_ip` probes
    // per second to one address, however late the runtime wakes this task.
    let mut next_slot = tokio::time::Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = round.tick() => {
                if let Some(probed) = watched.probed(&io, settings.max_destinations).await {
                    pacer.set_destinations(&probed);
                }
                health.recount();
                let waiting = pacer.start_round(interval);
                health.set_deferred(waiting);
                if waiting > 0 {
                    PACING.hit(&format_args!(
                        "{waiting} target destinations wait for a later round: their addresses \
                         have more than {} per round at {} probes per second",
                        (interval.as_secs_f64() * f64::from(settings.rate_per_ip)).max(1.0) as u64,
                        settings.rate_per_ip
                    ));
                }
            }
            () = tokio::time::sleep_until(next_slot), if pacer.pending() => {
                for dest in pacer.next_slot() {
                    seq = seq.wrapping_add(1);
                    // Nothing goes to the edge's own address, and what is not sent is not counted.
                    let probe = io.edge.probe(dest, seq);
                    if probe != Action::Drop {
                        health.probing(&dest, settings.failures);
                        perform(probe, &io);
                    }
                }
                next_slot = tokio::time::Instant::now() + pacer.slot();
            }
        }
    }
}

/// The destinations last chosen for probing, and the snapshot they were chosen from.
#[derive(Default)]
struct Watched {
    seen: Option<(Arc<Destinations>, Routes)>,
}

impl Watched {
    /// The destinations to probe, when they may have changed since the last call: every
    /// destination in the snapshot, or over `max` those some domain routes to first (chosen again
    /// when the routes change, on a blocking thread: a pass over every destination).
    async fn probed(&mut self, io: &Arc<Io>, max: usize) -> Option<Vec<Destination>> {
        let (all, routes) = io.edge.routing();
        let over = all.len() > max;
        let changed = self
            .seen
            .as_ref()
            .is_none_or(|(d, r)| !Arc::ptr_eq(d, &all) || (over && !Arc::ptr_eq(r, &routes)));
        if !changed {
            return None;
        }
        self.seen = Some((all.clone(), routes.clone()));
        let io = io.clone();
        tokio::task::spawn_blocking(move || {
            let health = &io.edge.metrics().health;
            health.rebuild(&all, max, || routed_destinations(&routes))
        })
        .await
        .ok()
    }
}
