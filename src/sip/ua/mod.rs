//! The sans-IO SIP user agent core that sipmap's call engine will drive when it acts as a
//! back-to-back user agent. Like [`edge`](super::edge), it is pure logic over bytes: every state
//! machine takes an event (a message that matched it, a timer that fired, what the TU sends, a
//! failed send) and the time as [`Millis`], and returns [`Outputs`]: send these bytes over this
//! [`Flow`], arm this [`Timer`] for that instant, pass the message to the TU, report a timeout or
//! transport error, terminated. The driver owns the registries, the clock and the sockets.
//!
//! This first part holds RFC 3261 §17's transactions ([`txn`], with RFC 6026's Accepted state)
//! and [`TxnKey`], which matches messages to them.
//!
//! ## Memory
//!
//! A transaction holds one message it may have to send again, as an exact-size
//! [`Bytes`](bytes::Bytes) (the request for a client, the last response for a server; the INVITE
//! client also holds its ACK while Completed), and no parsed copy: later messages (ACK, CANCEL,
//! 487, 180, 200) are written by parsing that message again.
//!
//! The files: `time` ([`Millis`], [`Timers`], [`Timer`]), `output` ([`Output`], [`Outputs`],
//! [`Flow`]), [`txn`] (the four transactions and [`TxnKey`]), [`build`] (responses and message
//! pieces) and [`name_addr`] (From, To, Contact and Route values).

pub mod build;
pub mod name_addr;
mod output;
mod time;
pub mod txn;

pub use output::{Flow, Output, Outputs};
pub use time::{Millis, Timer, Timers};
pub use txn::{Cancel, InviteClient, InviteServer, NonInviteClient, NonInviteServer, TxnKey};

#[cfg(test)]
mod tests;
