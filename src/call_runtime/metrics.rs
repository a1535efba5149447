//! The runtime's counters, for `/metrics`: calls started, refused and ended (by final status),
//! live calls, webhooks and status callbacks by outcome.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::CallStatus;

/// The final statuses a call ends with, in the order they are rendered.
const FINAL: [CallStatus; 5] = [
    CallStatus::Completed,
    CallStatus::Busy,
    CallStatus::Failed,
    CallStatus::NoAnswer,
    CallStatus::Canceled,
];

/// The runtime's counters.
#[derive(Debug, Default)]
pub struct CallMetrics {
    /// Calls started.
    pub(super) started: AtomicU64,
    /// INVITEs answered 503 for `--max-calls`.
    pub(super) refused_global: AtomicU64,
    /// INVITEs answered 503 for `--max-calls-per-account`.
    pub(super) refused_account: AtomicU64,
    /// Calls ended, by [`FINAL`] (index 5: any other status).
    ended: [AtomicU64; 6],
    /// Webhooks whose exchange succeeded (a 2xx read whole).
    pub(super) webhooks_ok: AtomicU64,
    /// Webhooks that failed (connection, timeout, status, size…).
    pub(super) webhooks_failed: AtomicU64,
    /// Status callbacks sent.
    pub(super) callbacks_sent: AtomicU64,
    /// Status callbacks dropped because too many were in flight.
    pub(super) callbacks_dropped: AtomicU64,
    /// Messages for a live call dropped because its inbox was full.
    pub(super) inbox_full: AtomicU64,
    /// Calls the runtime ended for outliving `--max-call-secs`.
    pub(super) past_bound: AtomicU64,
    /// Live calls of stopped nodes ended (on this node's start, or for a silent node).
    pub(super) abandoned: AtomicU64,
}

/// Adds one to `counter`.
pub(super) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl CallMetrics {
    /// Counts a call that ended with `status`.
    pub(super) fn ended(&self, status: CallStatus) {
        let i = FINAL.iter().position(|s| *s == status).unwrap_or(5);
        inc(&self.ended[i]);
    }

    /// Appends the Prometheus text exposition of the counters, and `live` calls, to `out`.
    pub fn render(&self, live: usize, out: &mut String) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        counter(
            "sipmap_calls_started_total",
            "Calls to SIP domains with a voice application started.",
            &[("", get(&self.started))],
        );
        counter(
            "sipmap_calls_refused_total",
            "INVITEs answered 503 instead of starting a call, by limit.",
            &[
                ("{limit=\"max_calls\"}", get(&self.refused_global)),
                (
                    "{limit=\"max_calls_per_account\"}",
                    get(&self.refused_account),
                ),
            ],
        );
        let ended: Vec<(String, u64)> = FINAL
            .iter()
            .map(|s| s.as_str())
            .chain(["other"])
            .zip(&self.ended)
            .map(|(s, c)| (format!("{{status=\"{s}\"}}"), get(c)))
            .collect();
        let ended: Vec<(&str, u64)> = ended.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        counter(
            "sipmap_calls_ended_total",
            "Calls ended, by final status.",
            &ended,
        );
        counter(
            "sipmap_call_webhooks_total",
            "Webhooks (voice URL, fallback, redirects, actions) by outcome.",
            &[
                ("{outcome=\"ok\"}", get(&self.webhooks_ok)),
                ("{outcome=\"failed\"}", get(&self.webhooks_failed)),
            ],
        );
        counter(
            "sipmap_call_status_callbacks_total",
            "Status callbacks, sent or dropped (too many in flight).",
            &[
                ("{outcome=\"sent\"}", get(&self.callbacks_sent)),
                ("{outcome=\"dropped\"}", get(&self.callbacks_dropped)),
            ],
        );
        counter(
            "sipmap_call_messages_dropped_total",
            "SIP messages of a live call dropped because its inbox was full.",
            &[("", get(&self.inbox_full))],
        );
        counter(
            "sipmap_calls_ended_by_runtime_total",
            "Calls ended by the runtime itself: past --max-call-secs, or left live by a stopped node.",
            &[
                ("{reason=\"max_call_secs\"}", get(&self.past_bound)),
                ("{reason=\"node_stopped\"}", get(&self.abandoned)),
            ],
        );
        let _ = writeln!(out, "# HELP sipmap_calls_live Calls live on this node.");
        let _ = writeln!(out, "# TYPE sipmap_calls_live gauge");
        let _ = writeln!(out, "sipmap_calls_live {live}");
    }
}
