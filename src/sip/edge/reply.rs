//! The responses the edge generates itself (RFC 3261 §8.2.6): 200 to a recognised `OPTIONS`,
//! and the errors.

use super::request::Inbound;
use super::vias::{response_target, stamped_top_via, with_top_via};
use super::{Action, Edge, Transport, short_hash};
use crate::sip::message::{Writer, canonical_name};
use crate::sip::metrics::Metrics;

/// The reason phrase sipmap writes for a status code it sends.
fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        416 => "Unsupported URI Scheme",
        480 => "Temporarily Unavailable",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        _ => "Unknown",
    }
}

impl Edge {
    /// A response generated here to `req`, with `extra` headers; nothing for an ACK, which is
    /// never answered.
    pub(super) fn reply(&self, req: &Inbound<'_>, code: u16, extra: &[(&str, &str)]) -> Action {
        if req.method.eq_ignore_ascii_case("ACK") {
            return Action::Drop;
        }
        let msg = req.msg;
        let stamped = stamped_top_via(req.top_value, req.top, req.source);
        let mut w = Writer::response(code, reason(code));
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
            if code > 100 && !has_tag(to) {
                let tag = short_hash(&[
                    msg.header("Call-ID").unwrap_or(""),
                    msg.header("From").unwrap_or(""),
                ]);
                w.header("To", &format!("{to};tag={tag:016x}"));
            } else {
                w.header("To", to);
            }
        }
        for (name, value) in extra {
            w.header(name, value);
        }
        w.header("Server", "sipmap");
        Metrics::inc(&self.metrics.responses_sent);
        let to = match req.transport {
            Transport::Tcp(_) => req.source,
            Transport::Udp => response_target(req.top, req.source),
        };
        Action::Send {
            to,
            via: req.transport,
            bytes: w.finish(&[]),
        }
    }
}

/// Whether a `To` (or `From`) value has a `tag` parameter.
fn has_tag(header: &str) -> bool {
    // Parameters after the URI (outside <...>).
    let after = header.rsplit_once('>').map_or(header, |(_, rest)| rest);
    after
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}
