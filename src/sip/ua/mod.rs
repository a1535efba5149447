//! The sans-IO SIP user agent core that sipmap's call engine will drive when it acts as a
//! back-to-back user agent. Like [`edge`](super::edge), it is pure logic over bytes: every state
//! machine takes an event (a message that matched it, a timer that fired, what the TU sends, a
//! failed send) and the time as [`Millis`], and returns [`Outputs`]: send these bytes over this
//! [`Flow`], arm this [`Timer`] for that instant, pass the message to the TU, report a timeout or
//! transport error, terminated. The driver owns the registries, the clock and the sockets.
//!
//! It holds RFC 3261 §17's transactions ([`txn`], with RFC 6026's Accepted state) and
//! [`TxnKey`], which matches messages to them; the UAS core's retransmission of a 2xx until its
//! ACK ([`Answer`], §13.3.1.4); CANCEL at the UAS ([`answer_cancel`], §9.2); and the
//! identifiers sipmap mints ([`Ids`]).
//!
//! ## Branches
//!
//! Every branch the call engine puts in a Via is [`CALL_BRANCH_PREFIX`] (`z9hG4bK-sm-c-`)
//! followed by 32 hex digits of 128 random bits ([`Ids::branch`]), so the edge can tell
//! responses for the call engine from those it relays: the edge's forwarded requests use
//! `z9hG4bK-sm-` + exactly 32 hex digits and its probes `z9hG4bK-sm-p`, and neither can contain
//! the `-` after `c`. The randomness makes a response impossible to forge without having seen
//! the request. The ACK of a 2xx uses the INVITE's branch + `-ack` ([`Ids::ack_branch`]), so
//! that the ACK sent again for a retransmitted 2xx is the same ACK.
//!
//! ## Memory
//!
//! A transaction holds one message it may have to send again, as an exact-size
//! [`Bytes`](bytes::Bytes) (the request for a client, the last response for a server; the INVITE
//! client also holds its ACK while Completed), and no parsed copy: later messages (ACK, CANCEL,
//! 487, 180, 200) are written by parsing that message again. Besides those bytes (on 64-bit
//! targets, the test `footprint` checks them): [`InviteServer`] 128 bytes, [`InviteClient`] 144,
//! [`NonInviteServer`] 112, [`NonInviteClient`] 136, [`Answer`] 136 (its 2xx is shared with the
//! server transaction, not copied), [`TxnKey`] 16 + its text (about 60 bytes).
//!
//! The files: `time` ([`Millis`], [`Timers`], [`Timer`]), `output` ([`Output`], [`Outputs`],
//! [`Flow`]), [`txn`] (the four transactions and [`TxnKey`]), `answer` ([`Answer`]), `cancel`
//! ([`answer_cancel`]), [`ids`] ([`Ids`]), [`build`] (responses and message pieces) and
//! [`name_addr`] (From, To, Contact and Route values).

mod answer;
pub mod build;
mod cancel;
pub mod ids;
pub mod name_addr;
mod output;
mod time;
pub mod txn;

pub use answer::Answer;
pub use cancel::{CancelAnswer, CancelEffect, answer_cancel};
pub use ids::{CALL_BRANCH_PREFIX, Ids};
pub use output::{Flow, Output, Outputs};
pub use time::{Millis, Timer, Timers};
pub use txn::{Cancel, InviteClient, InviteServer, NonInviteClient, NonInviteServer, TxnKey};

#[cfg(test)]
mod tests;
