//! The sans-IO SIP user agent core that sipmap's call engine drives when it acts as a
//! back-to-back user agent: RFC 3261 transactions (§17, with RFC 6026), dialogs (§12), the 2xx
//! retransmission of the UAS core (§13.3.1.4), CANCEL (§9), and the requests and responses a
//! B2BUA writes. Like [`edge`](super::edge), it is pure logic over bytes: every state machine
//! takes an event (a message that matched it, a timer that fired, what the TU sends, a failed
//! send) and the time as [`Millis`], and returns [`Outputs`]: send these bytes over this
//! [`Flow`], arm this [`Timer`] for that instant, pass the message to the TU, report a timeout or
//! transport error, terminated. The driver (the call engine) owns the registries, the clock and
//! the sockets.
//!
//! ## How the call engine uses it
//!
//! - A request comes in: parse it ([`Message::parse`](super::message::Message::parse)) and look
//!   its [`TxnKey::server`] up. A match is a retransmission or the ACK of a non-2xx response:
//!   `on_request`. Otherwise: a new INVITE without a To tag gets an [`InviteServer`] (100 Trying
//!   at once) and a [`Dialog::uas`]; a CANCEL goes to [`answer_cancel`] with the transaction of
//!   [`TxnKey::cancelled`]; a request with a To tag (the ACK of a 2xx, BYE, re-INVITE) goes to
//!   its dialog ([`DialogKey::incoming`]; [`Dialog::check_request`] gives 500 for an old CSeq;
//!   no dialog gives [`unknown_dialog`]'s 481), an ACK there to [`Answer::on_ack`]; any other
//!   request gets a [`NonInviteServer`].
//! - Answering the caller: [`Dialog::invite_response`] writes 180, 183, 200 or 486 from the
//!   transaction's last response ([`InviteServer::response`]) with the dialog's tag,
//!   Record-Route and Contact; [`InviteServer::respond`] sends it; a 2xx then starts an
//!   [`Answer`], which resends it until its ACK and times out (send a BYE) without one.
//! - Calling the callee: [`NewInvite`] writes the INVITE (with [`Ids::random`]), an
//!   [`InviteClient`] sends it, and responses find it by [`TxnKey::client_response`]. A 1xx
//!   with a To tag or a 2xx makes a [`Dialog::uac`] (a later 2xx [`Dialog::confirm`]s it);
//!   [`Dialog::ack`] ACKs every 2xx passed; a 401 or 407 is answered by [`with_credentials`] in
//!   a new [`InviteClient`]; [`InviteClient::cancel`] gives the CANCEL to send in a
//!   [`NonInviteClient`].
//! - In a dialog, [`Dialog::request`] writes BYE, re-INVITE and the rest, sent by a
//!   [`NonInviteClient`] or an [`InviteClient`].

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
//! server transaction, not copied), [`TxnKey`] 16 and its text (about 60 bytes); a [`Dialog`]
//! 104 and one allocation for all its text (Call-ID, tags, URIs, remote target, route set:
//! about 250 bytes for a typical call).
//! A B2BUA call holds, at its peak (answered, both INVITE transactions still absorbing
//! retransmissions, the 2xx waiting for its ACK), its two INVITE transactions, two dialogs, the
//! [`Answer`] and their keys: about 1.6 KB with SDPs of 35 and 80 bytes (measured by the test
//! `a_back_to_back_call_from_invite_to_bye`), plus at most twice the SDP (the caller's, in the
//! child INVITE until its final response; the callee's, in the 2xx to the caller until timer L),
//! well inside the 16 KB a live call may take.
//!
//! The files: `time` ([`Millis`], [`Timers`], [`Timer`]), `output` ([`Output`], [`Outputs`],
//! [`Flow`]), [`txn`] (the four transactions and [`TxnKey`]), `answer` ([`Answer`]), `cancel`
//! ([`answer_cancel`]), [`dialog`] ([`Dialog`], [`DialogKey`]), [`uac`] ([`NewInvite`],
//! [`with_credentials`]), [`ids`] ([`Ids`]) and [`build`] (responses and message pieces). What
//! it shares with the edge (reading `From`/`To` values and their tags, stamping a Via, writing
//! sipmap's own, reason phrases) is in [`message`](super::message).

mod answer;
pub mod build;
mod cancel;
pub mod dialog;
pub mod ids;
mod output;
mod packed;
mod time;
pub mod txn;
pub mod uac;

pub use answer::Answer;
pub use cancel::{CancelAnswer, CancelEffect, answer_cancel};
pub use dialog::{Dialog, DialogKey, unknown_dialog};
pub use ids::{CALL_BRANCH_PREFIX, Ids};
pub use output::{Flow, Output, Outputs};
pub use time::{Millis, Timer, Timers};
pub use txn::{Cancel, InviteClient, InviteServer, NonInviteClient, NonInviteServer, TxnKey};
pub use uac::{NewInvite, with_credentials};

#[cfg(test)]
pub(crate) mod tests;
