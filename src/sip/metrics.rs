//! Counters of what the SIP edge does, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::health::Health;

/// A counter family: its name, its help text, and its samples (labels, value).
type Family<'a> = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'a AtomicU64)>,
);

/// Monotonic counters, shared by every SIP transport task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// SIP requests received (well-formed or not).
    pub received: AtomicU64,
    /// Requests recognised by their Request-URI host.
    pub recognized_by_uri: AtomicU64,
    /// Requests recognised by their source address.
    pub recognized_by_source: AtomicU64,
    /// Requests that matched no domain.
    pub not_recognized: AtomicU64,
    /// Requests forwarded (to a target or to the upstream).
    pub forwarded: AtomicU64,
    /// Of those, requests forwarded to a target of the domain's connection policy.
    pub forwarded_to_target: AtomicU64,
    /// Messages that could not be parsed or lacked mandatory headers.
    pub malformed: AtomicU64,
    /// Upstream responses relayed back towards the client.
    pub responses_relayed: AtomicU64,
    /// Responses sipmap generated itself.
    pub responses_sent: AtomicU64,
    /// Responses dropped because they came from an address no request was forwarded to.
    pub responses_dropped_source: AtomicU64,
    /// Responses dropped because their top Via was not a branch this edge issued for the address
    /// they would go to (forged, tampered, or from before a restart).
    pub responses_dropped_branch: AtomicU64,
    /// Responses dropped because they would have been relayed to the edge itself.
    pub responses_dropped_own_address: AtomicU64,
    /// Requests answered 482 instead of forwarded because their next hop (a target or the
    /// upstream) is the edge's own address.
    pub forwards_refused_own_address: AtomicU64,
    /// Requests answered 503 instead of forwarded to a target because its address had had its
    /// new ports for the moment (see `edge::ports`).
    pub forwards_refused_new_ports: AtomicU64,
    /// Requests let in because their source is inside an IP access control list of the domain.
    pub auth_acl_allowed: AtomicU64,
    /// Challenges sent (407 or 401, including `stale=true` ones).
    pub auth_challenged: AtomicU64,
    /// Requests let in with correct digest credentials.
    pub auth_authenticated: AtomicU64,
    /// Requests refused (403) for wrong, unknown or unreadable credentials.
    pub auth_refused: AtomicU64,
    /// Requests refused (403) with nothing to authenticate with: a domain with nothing mapped for
    /// calls, a source outside its access control lists with no credential list mapped, or a
    /// `REGISTER` to a domain that takes none.
    pub auth_blocked: AtomicU64,
    /// Target health and the probes' counters.
    pub health: Health,
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter family: its name, its help text, and its samples (labels, value).
    fn families(&self) -> Vec<Family<'_>> {
        let mut all = self.request_families();
        all.extend(self.response_families());
        all
    }

    /// The families about requests: received, recognised, forwarded, malformed.
    fn request_families(&self) -> Vec<Family<'_>> {
        vec![
            (
                "sipmap_sip_requests_received_total",
                "SIP requests received.",
                vec![("", &self.received)],
            ),
            (
                "sipmap_sip_requests_recognized_total",
                "SIP requests recognised, by how.",
                vec![
                    ("{by=\"request_uri\"}", &self.recognized_by_uri),
                    ("{by=\"source_ip\"}", &self.recognized_by_source),
                ],
            ),
            (
                "sipmap_sip_requests_not_recognized_total",
                "SIP requests that matched no SIP domain.",
                vec![("", &self.not_recognized)],
            ),
            (
                "sipmap_sip_requests_forwarded_total",
                "SIP requests forwarded (to a target or to the upstream).",
                vec![("", &self.forwarded)],
            ),
            (
                "sipmap_sip_requests_forwarded_to_target_total",
                "SIP requests forwarded to a target of their domain's connection policy.",
                vec![("", &self.forwarded_to_target)],
            ),
            (
                "sipmap_sip_messages_malformed_total",
                "SIP messages that could not be parsed or lacked mandatory headers.",
                vec![("", &self.malformed)],
            ),
        ]
    }

    /// The families about responses, refused forwards and admission decisions.
    fn response_families(&self) -> Vec<Family<'_>> {
        vec![
            (
                "sipmap_sip_responses_relayed_total",
                "Upstream SIP responses relayed to clients.",
                vec![("", &self.responses_relayed)],
            ),
            (
                "sipmap_sip_responses_sent_total",
                "SIP responses generated by sipmap.",
                vec![("", &self.responses_sent)],
            ),
            (
                "sipmap_sip_responses_dropped_total",
                "SIP responses dropped instead of relayed, by why.",
                vec![
                    ("{reason=\"source\"}", &self.responses_dropped_source),
                    ("{reason=\"branch\"}", &self.responses_dropped_branch),
                    (
                        "{reason=\"own_address\"}",
                        &self.responses_dropped_own_address,
                    ),
                ],
            ),
            (
                "sipmap_sip_forwards_refused_total",
                "SIP requests answered by sipmap instead of forwarded to their next hop, by why.",
                vec![
                    (
                        "{reason=\"own_address\"}",
                        &self.forwards_refused_own_address,
                    ),
                    ("{reason=\"new_ports\"}", &self.forwards_refused_new_ports),
                ],
            ),
            (
                "sipmap_sip_auth_decisions_total",
                "What recognised SIP requests met at their domain's security settings, by decision.",
                vec![
                    ("{decision=\"acl_allowed\"}", &self.auth_acl_allowed),
                    ("{decision=\"challenged\"}", &self.auth_challenged),
                    ("{decision=\"authenticated\"}", &self.auth_authenticated),
                    ("{decision=\"refused\"}", &self.auth_refused),
                    ("{decision=\"blocked\"}", &self.auth_blocked),
                ],
            ),
        ]
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, samples) in self.families() {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {}", value.load(Ordering::Relaxed));
            }
        }
        self.health.render(&mut out);
        out
    }
}
