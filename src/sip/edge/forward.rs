//! The request as the edge forwards it to the upstream (RFC 3261 §16.11, stateless).

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::branch::CONN_PARAM;
use super::vias::{first_via_value, response_target, stamped_top_via, with_top_via};
use super::{Edge, Transport, short_hash};
use crate::recognition::Target;
use crate::sip::message::{Message, SipUri, Via, Writer, canonical_name};

impl Edge {
    /// The request as forwarded to the upstream.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &self,
        msg: &Message<'_>,
        method: &str,
        uri: &SipUri<'_>,
        target: &Target,
        top: &Via<'_>,
        max_forwards: u32,
        source: SocketAddr,
        transport: Transport,
        upstream: SocketAddr,
    ) -> Vec<u8> {
        let top_value = first_via_value(msg).unwrap_or_default();
        let hash = short_hash(&[
            top_value,
            msg.header("Call-ID").unwrap_or(""),
            msg.header("CSeq")
                .and_then(|c| c.split_whitespace().next())
                .unwrap_or(""),
        ]);
        let conn = match transport {
            Transport::Tcp(id) => Some(id),
            Transport::Udp => None,
        };
        // The stamped client Via below makes `via_address` yield exactly this at response time.
        let back_to = response_target(top, source);
        let mut ours = String::with_capacity(100);
        let _ = write!(ours, "SIP/2.0/UDP {};branch=", self.local);
        self.push_branch(&mut ours, hash, conn, back_to, upstream);
        if let Some(id) = conn {
            let _ = write!(ours, ";{CONN_PARAM}={id}");
        }
        let stamped = stamped_top_via(top_value, top, source);
        let mut w = Writer::request(method, &uri.with_host(&target.domain_name));
        w.header("Via", &ours);
        let mut saw_max_forwards = false;
        for (name, value) in with_top_via(msg, Some(&stamped)) {
            if is_sipmap_header(name) {
                // A client's own X-Sipmap headers are not passed on.
                continue;
            }
            if canonical_name(name).eq_ignore_ascii_case("Max-Forwards") {
                if !saw_max_forwards {
                    saw_max_forwards = true;
                    w.header(name, &(max_forwards - 1).to_string());
                }
                continue;
            }
            w.header(name, &value);
        }
        if !saw_max_forwards {
            w.header("Max-Forwards", &(max_forwards - 1).to_string());
        }
        w.header("X-Sipmap-Account-Sid", target.account_sid.as_str());
        w.header("X-Sipmap-Domain-Sid", target.domain_sid.as_str());
        w.finish(msg.body)
    }
}

/// Whether a header is one of sipmap's own, `X-Sipmap-*` in any case.
fn is_sipmap_header(name: &str) -> bool {
    name.len() > 9 && name.as_bytes()[..9].eq_ignore_ascii_case(b"x-sipmap-")
}
