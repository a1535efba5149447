//! [`answer_cancel`]: what a UAS does with a CANCEL (RFC 3261 §9.2).

use std::net::SocketAddr;

use super::build::{self, Reply};
use super::output::{Output, Outputs};
use super::time::{Millis, Timers};
use super::txn::{InviteServer, NonInviteServer};
use crate::sip::edge::Transport;
use crate::sip::message::Message;

/// What a CANCEL did to the INVITE it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelEffect {
    /// The INVITE had no final response: it got 487 (Request Terminated) and the call is over;
    /// stop whatever the call engine was doing for it.
    Cancelled,
    /// The INVITE already had a final response: the CANCEL changes nothing (it still gets 200).
    TooLate,
    /// No INVITE server transaction matches: 481.
    NoTransaction,
}

/// A CANCEL answered.
#[derive(Debug)]
pub struct CancelAnswer {
    /// The CANCEL's own transaction, answered: keep it under the CANCEL's key to answer its
    /// retransmissions, until it terminates.
    pub server: NonInviteServer,
    /// What the CANCEL's transaction sends (200, or 481).
    pub outputs: Outputs,
    /// What the INVITE's transaction sends: its 487 when cancelled, else nothing.
    pub invite_outputs: Outputs,
    /// What happened to the INVITE.
    pub effect: CancelEffect,
}

/// Answers a new `cancel` (from `source` over `transport`) for `invite`, the INVITE server
/// transaction it matched ([`TxnKey::cancelled`](super::TxnKey::cancelled)), if any: 200 to the
/// CANCEL and 487 to an INVITE still without a final response; 200 alone if the INVITE has one
/// (a CANCEL that lost the race with a 200 does not undo it); 481 if there is no INVITE. Both
/// responses carry `to_tag` (§9.2: the same tag as the INVITE's responses). `None` if `cancel`
/// is not a CANCEL with a readable top Via.
pub fn answer_cancel(
    cancel: &Message<'_>,
    source: SocketAddr,
    transport: Transport,
    invite: Option<&mut InviteServer>,
    to_tag: &str,
    timers: Timers,
    now: Millis,
) -> Option<CancelAnswer> {
    if cancel.method() != Some("CANCEL") {
        return None;
    }
    let (mut server, passed) = NonInviteServer::new(cancel, source, transport, timers)?;
    debug_assert!(passed.iter().eq([&Output::Pass]));
    let mut invite_outputs = Outputs::new();
    let effect = match invite {
        None => CancelEffect::NoTransaction,
        Some(ist) if ist.final_sent() => CancelEffect::TooLate,
        Some(ist) => match ist.response(&Reply::new(487).tag(to_tag)) {
            Some(terminated) => {
                invite_outputs = ist.respond(terminated, now);
                CancelEffect::Cancelled
            }
            None => CancelEffect::TooLate,
        },
    };
    let code = if effect == CancelEffect::NoTransaction {
        481
    } else {
        200
    };
    let reply = build::response(cancel, Some(source), &Reply::new(code).tag(to_tag));
    let outputs = server.respond(reply, now);
    Some(CancelAnswer {
        server,
        outputs,
        invite_outputs,
        effect,
    })
}
