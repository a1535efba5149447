//! The responses the edge generates itself (RFC 3261 §8.2.6): 200 to a recognised `OPTIONS`,
//! and the errors.

use std::net::SocketAddr;

use super::vias::{first_via_value, response_target, stamped_top_via, with_top_via};
use super::{Action, Edge, Transport, short_hash};
use crate::sip::message::{Message, Via, Writer, canonical_name};
use crate::sip::metrics::Metrics;

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
    /// A response generated here.
    pub(super) fn reply(
        &self,
        msg: &Message<'_>,
        top: &Via<'_>,
        code: u16,
        extra: &[(&str, &str)],
        source: SocketAddr,
        transport: Transport,
    ) -> Action {
        let top_value = first_via_value(msg).unwrap_or_default();
        let stamped = stamped_top_via(top_value, top, source);
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
        let to = match transport {
            Transport::Tcp(_) => source,
            Transport::Udp => response_target(top, source),
        };
        Action::Send {
            to,
            via: transport,
            bytes: w.finish(&[]),
        }
    }
}

fn has_tag(header: &str) -> bool {
    // Parameters after the URI (outside <...>).
    let after = header.rsplit_once('>').map_or(header, |(_, rest)| rest);
    after
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}
