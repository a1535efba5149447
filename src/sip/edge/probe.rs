//! Health probes: the `OPTIONS` the edge sends to a target's destination, and how it knows an
//! answer to one.
//!
//! A probe carries one Via, sipmap's, with the branch `z9hG4bK-sm-p` + 16 hex digits of its
//! sequence number + 16 of a tag (the branch key's HMAC over that number, the edge's address and
//! the probed address, as for forwarded requests). A response from that address whose only Via
//! is that one is the answer: it marks the destination up and is not relayed. Since the branch
//! starts like every sipmap branch, a probe that comes back to the edge is a loop (482).

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::branch::{BRANCH_PREFIX, parse_hex_pair};
use super::{Action, Edge, Transport};
use crate::recognition::{Destination, Destinations, Routes, routed_destinations};
use crate::sip::message::{Via, Writer, write_via_head};

/// What follows [`BRANCH_PREFIX`] in a probe's branch, before the digits.
const PROBE_MARK: &str = "p";

/// Whether the head of `message` carries a probe's branch: the edge's `OPTIONS` probe or an
/// answer to it. A draining connection does not wait for those (the probes stop when the edge
/// drains; see `tcp::Pending`).
pub fn carries_probe_branch(message: &[u8]) -> bool {
    let head = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message, |end| &message[..end]);
    let mark = [BRANCH_PREFIX, PROBE_MARK].concat();
    head.windows(mark.len()).any(|w| w == mark.as_bytes())
}

impl Edge {
    /// The `OPTIONS` probe number `seq` to `dest`, over its transport; nothing if `dest` is the
    /// edge's own address.
    pub fn probe(&self, dest: Destination, seq: u64) -> Action {
        if self.is_own_address(dest.addr) {
            return Action::Drop;
        }
        let tag = self.branch_tag(seq, None, self.local, dest.addr);
        let via = Transport::outbound(dest.wire);
        let mut top = String::with_capacity(80);
        write_via_head(&mut top, self.local, dest.wire);
        let _ = write!(top, "{BRANCH_PREFIX}{PROBE_MARK}{seq:016x}{tag:016x}");
        let uri = format!("sip:{}", dest.addr);
        let mut w = Writer::request("OPTIONS", &uri);
        w.header("Via", &top);
        w.header("Max-Forwards", "70");
        w.header("From", &format!("<sip:sipmap@{}>;tag={seq:x}", self.local));
        w.header("To", &format!("<{uri}>"));
        w.header("Call-ID", &format!("sipmap-probe-{seq:x}-{tag:x}"));
        w.header("CSeq", "1 OPTIONS");
        w.header("User-Agent", "sipmap");
        Action::Send {
            to: dest.addr,
            via,
            bytes: w.finish(b""),
        }
    }

    /// Whether a response from `source` whose only Via is `top` answers a probe to `source`.
    pub(super) fn is_probe_answer(&self, top: &Via<'_>, source: SocketAddr) -> bool {
        let Some(Some(branch)) = top.param("branch") else {
            return false;
        };
        let Some(digits) = branch
            .strip_prefix(BRANCH_PREFIX)
            .and_then(|b| b.strip_prefix(PROBE_MARK))
        else {
            return false;
        };
        let Some((seq, tag)) = parse_hex_pair(digits) else {
            return false;
        };
        self.is_ours(top) && self.branch_tag(seq, None, self.local, source) == tag
    }

    /// The destinations of the targets some domain routes to, in the current snapshot.
    pub fn routed_destinations(&self) -> Vec<Destination> {
        routed_destinations(self.recognizer.peek().routes())
    }

    /// Every destination of every target, and every domain's route, from one snapshot.
    pub fn routing(&self) -> (std::sync::Arc<Destinations>, Routes) {
        let snapshot = self.recognizer.peek();
        (snapshot.destinations().clone(), snapshot.routes().clone())
    }

    /// Every destination of every target in the current snapshot.
    pub fn destinations(&self) -> std::sync::Arc<Destinations> {
        self.recognizer.peek().destinations().clone()
    }
}
