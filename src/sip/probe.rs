//! The health probes' clock: every `interval`, an `OPTIONS` to each target destination in the
//! snapshot (at most `max_destinations`, those some domain routes to first), after marking down those that left `failures` probes in
//! a row unanswered (see [`super::health`]). The edge builds the probes and recognises their
//! answers; this task only times and sends them.

use std::sync::Arc;
use std::time::Duration;

use super::edge::Action;
use super::{Io, perform};
use crate::recognition::{Routes, routed_destinations};

/// How the edge probes targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Time between two rounds of probes.
    pub interval: Duration,
    /// Unanswered probes in a row that take a destination down.
    pub failures: u32,
    /// Most destinations probed; the others count as up (the limit logs when it bites).
    pub max_destinations: usize,
}

impl Default for ProbeSettings {
    /// Every 10 s, down after 3 unanswered, up to 1,024 destinations.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            failures: 3,
            max_destinations: 1024,
        }
    }
}

/// Probes until the task is dropped.
pub(super) async fn run(io: Arc<Io>, settings: ProbeSettings) {
    let mut tick = tokio::time::interval(settings.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let health = &io.edge.metrics().health;
    let mut seen = None;
    let mut probed = Vec::new();
    let mut seq: u64 = rand::random::<u32>().into();
    loop {
        tick.tick().await;
        let (all, routes) = io.edge.routing();
        // Over the limit the routed destinations go first, and which those are changes with the
        // routes; the choice (a pass over every destination) runs off the async workers.
        let over = all.len() > settings.max_destinations;
        let changed = seen.as_ref().is_none_or(|(d, r): &(Arc<_>, Routes)| {
            !Arc::ptr_eq(d, &all) || (over && !Arc::ptr_eq(r, &routes))
        });
        if changed {
            seen = Some((all.clone(), routes.clone()));
            let (io, max) = (io.clone(), settings.max_destinations);
            let chosen = tokio::task::spawn_blocking(move || {
                let health = &io.edge.metrics().health;
                health.rebuild(&all, max, || routed_destinations(&routes))
            });
            if let Ok(chosen) = chosen.await {
                probed = chosen;
            }
        }
        health.recount();
        for dest in &probed {
            seq = seq.wrapping_add(1);
            // Nothing goes to the edge's own address, and what is not sent is not counted.
            let probe = io.edge.probe(*dest, seq);
            if probe != Action::Drop {
                health.probing(dest, settings.failures);
                perform(probe, &io);
            }
        }
    }
}
