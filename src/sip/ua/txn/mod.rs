//! RFC 3261 §17 transactions (with RFC 6026's corrections) as state machines: each is driven by
//! events (a matching message arrived, a timer fired, the TU sends, the transport failed) and
//! returns [`Outputs`](super::Outputs). Nothing here does I/O, reads a clock or allocates beyond
//! the message a transaction must be able to send again.
//!
//! | Machine | States (then Terminated) | Timers (unreliable / reliable transport) |
//! | --- | --- | --- |
//! | [`InviteServer`] | Proceeding, Completed, Confirmed, Accepted | G, H, I, L / H, L |
//! | [`InviteClient`] | Calling, Proceeding, Completed, Accepted | A, B, D, M / B, M |
//! | [`NonInviteServer`] | Trying, Proceeding, Completed | J / none |
//! | [`NonInviteClient`] | Trying, Proceeding, Completed | E, F, K / F |
//!
//! Timers D, I, J and K are zero on reliable transports: the machine goes straight to Terminated
//! instead of arming them. Accepted is RFC 6026's: an `INVITE` server transaction that sent a 2xx
//! absorbs retransmitted `INVITE`s (so they never reach the TU as new calls) until timer L; an
//! `INVITE` client transaction that received a 2xx passes every retransmitted 2xx to the TU
//! (which ACKs each, RFC 3261 §13.2.2.4) until timer M. The 2xx itself is retransmitted by the
//! TU core ([`Answer`](super::Answer)), not by the transaction.
//!
//! Which transaction a message belongs to is [`TxnKey`]'s business; the registry (a map from key
//! to machine) is the driver's.

mod invite_client;
mod invite_server;
mod key;
mod non_invite_client;
mod non_invite_server;

pub use invite_client::{Cancel, InviteClient};
pub use invite_server::InviteServer;
pub use key::{MAGIC_COOKIE, TxnKey};
pub use non_invite_client::NonInviteClient;
pub use non_invite_server::NonInviteServer;

/// The state a transaction is in (RFC 3261 §17 and RFC 6026 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// INVITE client: the INVITE is out, nothing came back yet.
    Calling,
    /// Non-INVITE client and server: the request is out (in), nothing final yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final response (a non-2xx one for INVITE) was received or sent.
    Completed,
    /// INVITE server: the ACK of a non-2xx response arrived.
    Confirmed,
    /// INVITE (RFC 6026): a 2xx was received or sent.
    Accepted,
    /// Ended: drop the machine.
    Terminated,
}

#[cfg(test)]
mod tests;
