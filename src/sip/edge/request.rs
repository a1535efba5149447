//! What the edge does with a request: the checks, recognition, and whether it answers the
//! request itself or forwards it.

use std::net::SocketAddr;

use super::vias::response_target;
use super::{Action, Edge, Transport};
use crate::recognition::MatchedBy;
use crate::sip::message::{Message, SipUri};
use crate::sip::metrics::Metrics;

impl Edge {
    pub(super) fn request(
        &self,
        msg: &Message<'_>,
        method: &str,
        uri: &str,
        source: SocketAddr,
        transport: Transport,
    ) -> Action {
        let vias = msg.vias().unwrap_or_default();
        let Some(top) = vias.first() else {
            // Without a usable Via there is no way to address a response.
            Metrics::inc(&self.metrics.malformed);
            return Action::Drop;
        };
        if transport == Transport::Udp
            && (self.is_own_address(source) || self.is_own_address(response_target(top, source)))
        {
            // Spoofed, or built to make the edge answer itself.
            tracing::debug!(%source, "SIP request whose answer would reach the edge dropped");
            return Action::Drop;
        }
        let is_ack = method.eq_ignore_ascii_case("ACK");
        let reply = |code: u16, extra: &[(&str, &str)]| {
            if is_ack {
                return Action::Drop;
            }
            self.reply(msg, top, code, extra, source, transport)
        };
        let mandatory = ["From", "To", "Call-ID", "CSeq"];
        if mandatory.iter().any(|h| msg.header(h).is_none()) {
            Metrics::inc(&self.metrics.malformed);
            return reply(400, &[]);
        }
        let max_forwards = match msg.header("Max-Forwards").map(str::parse::<u32>) {
            None => 70,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                Metrics::inc(&self.metrics.malformed);
                return reply(400, &[]);
            }
        };
        let Ok(parsed_uri) = SipUri::parse(uri) else {
            Metrics::inc(&self.metrics.malformed);
            return reply(416, &[]);
        };
        if vias.iter().skip(1).any(|v| self.is_ours(v)) || self.is_ours(top) {
            return reply(482, &[]);
        }
        let snapshot = self.recognizer.peek();
        let Some((target, how)) =
            snapshot.recognise(Some(parsed_uri.host_for_match()), source.ip())
        else {
            Metrics::inc(&self.metrics.not_recognized);
            return reply(404, &[]);
        };
        Metrics::inc(match how {
            MatchedBy::RequestUri => &self.metrics.recognized_by_uri,
            MatchedBy::SourceIp => &self.metrics.recognized_by_source,
        });
        if method.eq_ignore_ascii_case("OPTIONS") {
            return reply(
                200,
                &[
                    ("X-Sipmap-Account-Sid", target.account_sid.as_str()),
                    ("X-Sipmap-Domain-Sid", target.domain_sid.as_str()),
                ],
            );
        }
        if max_forwards == 0 {
            return reply(483, &[]);
        }
        let Some(upstream) = self.upstream else {
            return reply(480, &[]);
        };
        let bytes = self.forward(
            msg,
            method,
            &parsed_uri,
            target,
            top,
            max_forwards,
            source,
            transport,
            upstream,
        );
        Metrics::inc(&self.metrics.forwarded);
        Action::Send {
            to: upstream,
            via: Transport::Udp,
            bytes,
        }
    }
}
