//! Counters of what the SIP edge does, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::health::Health;

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
    /// Messages refused for being over the size limit (`513` when answered).
    pub over_limit_message: AtomicU64,
    /// Messages refused for a header field or request line over its size limit.
    pub over_limit_line: AtomicU64,
    /// Messages refused for having too many header fields.
    pub over_limit_headers: AtomicU64,
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
    /// Requests answered 503 without their credentials being evaluated, because their source
    /// (or their source and username) is blocked after too many failures (see
    /// `edge::throttle`).
    pub auth_throttled: AtomicU64,
    /// Blocks started on a source, after its failures across usernames.
    pub auth_blocks_source: AtomicU64,
    /// Blocks started on one username from one source.
    pub auth_blocks_user: AtomicU64,
    /// Entries of the failure table given up while they still counted, to make room (the table
    /// has a fixed size).
    pub auth_throttle_evictions: AtomicU64,
    /// Requests to a `secure` domain refused (403) because they did not arrive over TLS.
    pub secure_refused_transport: AtomicU64,
    /// INVITEs refused (488) because their offer's media security does not fit their domain's
    /// `secure` setting (no SRTP for a secure domain, only SRTP for another).
    pub secure_refused_media: AtomicU64,
    /// TLS handshakes completed on the TLS listener.
    pub tls_handshakes: AtomicU64,
    /// TLS handshakes on the listener that failed (bad records, no shared version or suite).
    pub tls_handshakes_failed: AtomicU64,
    /// TLS connections closed because their handshake was not done by its deadline.
    pub tls_handshakes_timed_out: AtomicU64,
    /// TLS connections refused because their source had its handshakes in progress.
    pub tls_handshakes_refused: AtomicU64,
    /// The edge's TLS connections to targets given up at the handshake (a certificate that
    /// does not verify for the target's address, among others).
    pub tls_out_refused: AtomicU64,
    /// Target health and the probes' counters.
    pub health: Health,
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_traffic(&mut out);
        write_counter(
            &mut out,
            "sipmap_sip_forwards_refused_total",
            "SIP requests answered by sipmap instead of forwarded to their next hop, by why.",
            &[
                (
                    "{reason=\"own_address\"}",
                    &self.forwards_refused_own_address,
                ),
                ("{reason=\"new_ports\"}", &self.forwards_refused_new_ports),
            ],
        );
        self.render_auth(&mut out);
        self.render_tls(&mut out);
        self.health.render(&mut out);
        out
    }

    /// What came in, and what became of it.
    fn render_traffic(&self, out: &mut String) {
        let mut counter = |name: &str, help: &str, samples: &[(&str, &AtomicU64)]| {
            write_counter(out, name, help, samples);
        };
        counter(
            "sipmap_sip_requests_received_total",
            "SIP requests received.",
            &[("", &self.received)],
        );
        counter(
            "sipmap_sip_requests_recognized_total",
            "SIP requests recognised, by how.",
            &[
                ("{by=\"request_uri\"}", &self.recognized_by_uri),
                ("{by=\"source_ip\"}", &self.recognized_by_source),
            ],
        );
        counter(
            "sipmap_sip_requests_not_recognized_total",
            "SIP requests that matched no SIP domain.",
            &[("", &self.not_recognized)],
        );
        counter(
            "sipmap_sip_requests_forwarded_total",
            "SIP requests forwarded (to a target or to the upstream).",
            &[("", &self.forwarded)],
        );
        counter(
            "sipmap_sip_requests_forwarded_to_target_total",
            "SIP requests forwarded to a target of their domain's connection policy.",
            &[("", &self.forwarded_to_target)],
        );
        counter(
            "sipmap_sip_messages_malformed_total",
            "SIP messages that could not be parsed or lacked mandatory headers.",
            &[("", &self.malformed)],
        );
        counter(
            "sipmap_sip_messages_over_limit_total",
            "SIP messages refused for a size limit, by limit (also counted as malformed).",
            &[
                ("{limit=\"message_bytes\"}", &self.over_limit_message),
                ("{limit=\"line_bytes\"}", &self.over_limit_line),
                ("{limit=\"header_count\"}", &self.over_limit_headers),
            ],
        );
        counter(
            "sipmap_sip_responses_relayed_total",
            "Upstream SIP responses relayed to clients.",
            &[("", &self.responses_relayed)],
        );
        counter(
            "sipmap_sip_responses_sent_total",
            "SIP responses generated by sipmap.",
            &[("", &self.responses_sent)],
        );
        counter(
            "sipmap_sip_responses_dropped_total",
            "SIP responses dropped instead of relayed, by why.",
            &[
                ("{reason=\"source\"}", &self.responses_dropped_source),
                ("{reason=\"branch\"}", &self.responses_dropped_branch),
                (
                    "{reason=\"own_address\"}",
                    &self.responses_dropped_own_address,
                ),
            ],
        );
    }

    /// The TLS listener's handshakes, the edge's own TLS connections, and `secure` domains.
    fn render_tls(&self, out: &mut String) {
        write_counter(
            out,
            "sipmap_sip_tls_handshakes_total",
            "TLS handshakes on the SIP TLS listener, by outcome.",
            &[
                ("{transport=\"tls\",outcome=\"done\"}", &self.tls_handshakes),
                (
                    "{transport=\"tls\",outcome=\"failed\"}",
                    &self.tls_handshakes_failed,
                ),
                (
                    "{transport=\"tls\",outcome=\"timed_out\"}",
                    &self.tls_handshakes_timed_out,
                ),
                (
                    "{transport=\"tls\",outcome=\"refused_per_source\"}",
                    &self.tls_handshakes_refused,
                ),
            ],
        );
        write_counter(
            out,
            "sipmap_sip_tls_outbound_refused_total",
            "The edge's TLS connections to targets given up at the handshake.",
            &[("{transport=\"tls\"}", &self.tls_out_refused)],
        );
        write_counter(
            out,
            "sipmap_sip_secure_refused_total",
            "SIP requests refused by a domain's secure setting, by why.",
            &[
                ("{reason=\"transport\"}", &self.secure_refused_transport),
                ("{reason=\"media\"}", &self.secure_refused_media),
            ],
        );
    }

    /// What the domains' security settings decided, and the failed-authentication throttle.
    fn render_auth(&self, out: &mut String) {
        let mut counter = |name: &str, help: &str, samples: &[(&str, &AtomicU64)]| {
            write_counter(out, name, help, samples);
        };
        counter(
            "sipmap_sip_auth_decisions_total",
            "What recognised SIP requests met at their domain's security settings, by decision.",
            &[
                ("{decision=\"acl_allowed\"}", &self.auth_acl_allowed),
                ("{decision=\"challenged\"}", &self.auth_challenged),
                ("{decision=\"authenticated\"}", &self.auth_authenticated),
                ("{decision=\"refused\"}", &self.auth_refused),
                ("{decision=\"blocked\"}", &self.auth_blocked),
                ("{decision=\"throttled\"}", &self.auth_throttled),
            ],
        );
        counter(
            "sipmap_sip_auth_blocks_total",
            "Blocks started after too many failed digest authentications, by what is blocked.",
            &[
                ("{by=\"source\"}", &self.auth_blocks_source),
                ("{by=\"source_username\"}", &self.auth_blocks_user),
            ],
        );
        counter(
            "sipmap_sip_auth_throttle_evictions_total",
            "Entries of the failed-authentication table given up while still counting.",
            &[("", &self.auth_throttle_evictions)],
        );
    }
}

/// One counter, with its help line, type line and one line per labelled sample.
fn write_counter(out: &mut String, name: &str, help: &str, samples: &[(&str, &AtomicU64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {}", value.load(Ordering::Relaxed));
    }
}
