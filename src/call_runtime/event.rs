//! [`Event`]: what a call's inbox carries.

use std::net::SocketAddr;

use tokio::sync::oneshot;

use crate::calls::Command;
use crate::recognition::Destination;
use crate::sip::edge::Transport;
use crate::voice::webhook::Exchange;

/// What a call's inbox carries.
#[derive(Debug)]
pub(super) enum Event {
    /// A SIP message of the call.
    Message {
        /// As received.
        bytes: Vec<u8>,
        /// From.
        source: SocketAddr,
        /// How.
        transport: Transport,
    },
    /// Webhook `id`'s exchange.
    Webhook(u32, Box<Exchange>),
    /// Route request `id`'s destinations.
    Resolved(u32, Vec<Destination>),
    /// An API command; the answer says whether the call was live and took it.
    Command(Command, oneshot::Sender<bool>),
}
