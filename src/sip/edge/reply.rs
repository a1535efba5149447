//! The responses the edge generates itself (RFC 3261 §8.2.6): 200 to an admitted `OPTIONS`,
//! the challenges (401, 407), the errors, and the answers to requests that do not parse (with
//! the reason phrase the parser gives, see `refuse`).

use super::inbound::Inbound;
use super::vias::{response_target, stamped_top_via, with_top_via};
use super::{Action, Edge, short_hash};
use crate::sip::message::{Message, Writer, canonical_name, header_tag, reason_phrase};
use crate::sip::metrics::Metrics;

impl Edge {
    /// A response generated here to `req`, with `extra` headers; nothing for an ACK, which is
    /// never answered.
    pub(super) fn reply(&self, req: &Inbound<'_>, code: u16, extra: &[(&str, &str)]) -> Action {
        self.reply_saying(req, code, reason_phrase(code), extra)
    }

    /// The same, with the reason phrase `reason`.
    pub(super) fn reply_saying(
        &self,
        req: &Inbound<'_>,
        code: u16,
        reason: &str,
        extra: &[(&str, &str)],
    ) -> Action {
        if req.method.eq_ignore_ascii_case("ACK") {
            return Action::Drop;
        }
        let msg = req.msg;
        let stamped = stamped_top_via(req.top_value, req.top, req.source);
        let mut w = Writer::response(code, reason);
        for (name, value) in with_top_via(msg, Some(&stamped)) {
            if canonical_name(name).eq_ignore_ascii_case("Via") {
                w.header("Via", &value);
            }
        }
        for name in ["From", "Call-ID", "CSeq"] {
            if let Some(v) = msg.header(name) {
                w.header(name, v);
            }
        }
        if let Some(to) = msg.header("To") {
            if code > 100 && header_tag(to).is_none() {
                w.header("To", &format!("{to};tag={}", own_to_tag(msg)));
            } else {
                w.header("To", to);
            }
        }
        for (name, value) in extra {
            w.header(name, value);
        }
        w.header("Server", "sipmap");
        Metrics::inc(&self.metrics.responses_sent);
        let to = match req.transport.connection_id() {
            Some(_) => req.source,
            None => response_target(req.top, req.source),
        };
        Action::Send {
            to,
            via: req.transport,
            bytes: w.finish(&[]),
        }
    }
}

/// The `To` tag the edge gives a response it generates to `msg` (when the request's `To` has
/// none): 16 hex digits of a hash of its Call-ID and From, so the `ACK` to that response, which
/// repeats both, can be recognised without keeping state.
fn own_to_tag(msg: &Message<'_>) -> String {
    let tag = short_hash(&[
        msg.header("Call-ID").unwrap_or(""),
        msg.header("From").unwrap_or(""),
    ]);
    format!("{tag:016x}")
}

/// Whether `ack` acknowledges a response the edge generated (its `To` tag is the edge's own):
/// such an `ACK` ends a transaction that never went upstream.
pub(super) fn acks_own_response(ack: &Message<'_>) -> bool {
    ack.header("To")
        .and_then(header_tag)
        .is_some_and(|tag| tag == own_to_tag(ack))
}
