//! [`Event`]: what a call's inbox carries.

use std::net::SocketAddr;

use tokio::sync::oneshot;

use crate::calls::Command;
use crate::recognition::Destination;
use crate::sip::edge::Transport;
use crate::voice::webhook::Exchange;

/// What a call's inbox carries. Each variant's payload is boxed so that an `Event` is two
/// words: a call's inbox allocates room for 32 of them up front (tokio's first block), whatever
/// it will hold, and there is one inbox per live call.
#[derive(Debug)]
pub(super) enum Event {
    /// A SIP message of the call.
    Message(Box<Incoming>),
    /// Webhook `id`'s exchange.
    Webhook(u32, Box<Exchange>),
    /// Route request `id` and its destinations.
    Resolved(Box<(u32, Vec<Destination>)>),
    /// An API command; the answer says whether the call was live and took it.
    Command(Box<(Command, oneshot::Sender<bool>)>),
}

/// A SIP message for a call, as the transport received it.
#[derive(Debug)]
pub(super) struct Incoming {
    /// As received.
    pub bytes: Vec<u8>,
    /// From.
    pub source: SocketAddr,
    /// How.
    pub transport: Transport,
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_event_is_two_words() {
        assert_eq!(size_of::<super::Event>(), 2 * size_of::<usize>());
    }
}
