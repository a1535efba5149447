//! Responses from the upstream and the targets: relayed along the Via path if the edge asked for
//! them, consumed if they answer a health probe, else dropped.

use std::net::SocketAddr;

use super::vias::with_top_via;
use super::{Action, Edge, Transport};
use crate::sip::message::{Message, StartLine, Writer};
use crate::sip::metrics::Metrics;
use crate::sip_syntax::Wire;

impl Edge {
    /// An upstream response: check that the edge asked for it, strip our Via, send to the next
    /// one.
    pub(super) fn response(&self, msg: &Message<'_>, source: SocketAddr) -> Action {
        let Some(forwarded_to) = self.forward_target_for(source) else {
            tracing::debug!(%source, "SIP response from outside the forwarding targets dropped");
            Metrics::inc(&self.metrics.responses_dropped_source);
            return Action::Drop;
        };
        let forged = |why: &str| {
            tracing::debug!(%source, why, "SIP response dropped");
            Metrics::inc(&self.metrics.responses_dropped_branch);
            Action::Drop
        };
        let vias = msg.vias().unwrap_or_default();
        if let [only] = vias.as_slice()
            && self.is_probe_answer(only, forwarded_to)
        {
            self.metrics.health.answered(forwarded_to);
            return Action::Drop;
        }
        let (Some(top), Some(next)) = (vias.first(), vias.get(1)) else {
            return forged("no Via for the client");
        };
        let (to, conn) = match self.check_branch(top, next, forwarded_to) {
            Ok(checked) => checked,
            Err(why) => return forged(why),
        };
        let via = match (conn, Wire::from_via_name(next.transport)) {
            (Some(id), Some(wire)) => Transport::connection(wire, id),
            _ => Transport::Udp,
        };
        if via == Transport::Udp && self.is_own_address(to) {
            tracing::debug!(%source, %to, "SIP response addressed to the edge itself dropped");
            Metrics::inc(&self.metrics.responses_dropped_own_address);
            return Action::Drop;
        }
        let code = msg.status().unwrap_or(500);
        let reason_phrase = match &msg.start {
            StartLine::Response { reason, .. } => *reason,
            StartLine::Request { .. } => "",
        };
        let mut w = Writer::response(code, reason_phrase);
        for (name, value) in with_top_via(msg, None) {
            w.header(name, &value);
        }
        Metrics::inc(&self.metrics.responses_relayed);
        Action::Send {
            to,
            via,
            bytes: w.finish(msg.body),
        }
    }
}
