//! What a state machine asks of its driver: [`Output`]s, at most four per event ([`Outputs`], no
//! allocation), and the [`Flow`] its messages travel on.

use std::net::SocketAddr;

use bytes::Bytes;

use super::time::{Millis, Retry, Timer, Timers};
use crate::sip::edge::Transport;
use crate::sip::message::Via;
use crate::sip_syntax::Wire;

/// Where a transaction's messages go: an address, and UDP or a TCP connection (the same
/// [`Transport`] the edge's transports carry out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// The address.
    pub to: SocketAddr,
    /// UDP, a TCP connection by id, or the edge's own connection to `to`.
    pub via: Transport,
}

impl Flow {
    /// Whether the transport is reliable (TCP): then nothing is retransmitted, and timers D, I, J
    /// and K are zero (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
    pub fn reliable(&self) -> bool {
        self.wire() != Wire::Udp
    }

    /// The protocol it carries messages by.
    pub fn wire(&self) -> Wire {
        self.via.wire()
    }

    /// Where the responses to a request with top Via `top`, received from `source` over
    /// `transport`, go (RFC 3261 §18.2.2, RFC 3581): back over the TCP connection it came on;
    /// over UDP to the source address, at the source port when the Via asks for `rport`, else at
    /// the Via's port (5060 if none).
    pub fn for_response(top: &Via<'_>, source: SocketAddr, transport: Transport) -> Self {
        let to = match transport {
            Transport::Udp if top.param("rport").is_none() => {
                SocketAddr::new(source.ip(), top.port.unwrap_or(5060))
            }
            _ => source,
        };
        Self { to, via: transport }
    }

    /// An output sending `bytes` over this flow.
    pub(super) fn send(&self, bytes: &Bytes) -> Output {
        Output::Send {
            to: self.to,
            via: self.via,
            bytes: bytes.clone(),
        }
    }
}

/// One thing a state machine asks of its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` to `to` over `via` (a clone of the stored message: no copy).
    Send {
        /// The address.
        to: SocketAddr,
        /// UDP or the TCP connection.
        via: Transport,
        /// The message.
        bytes: Bytes,
    },
    /// Deliver [`Timer`] `timer` back at `at` or later. Timers are never cancelled: one that
    /// fires when the state machine no longer waits for it (or before `at`) is ignored.
    Arm {
        /// Which timer.
        timer: Timer,
        /// When it is due.
        at: Millis,
    },
    /// Pass the message of this event to the TU: a new request (server transactions) or a
    /// response (client transactions), or an ACK for a 2xx that matched an INVITE server
    /// transaction.
    Pass,
    /// The transaction timed out (timers B, F, H, the CANCEL guard, or a 2xx never ACKed).
    Timeout,
    /// A send reported by the driver as failed ended the transaction.
    TransportError,
    /// The state machine ended: drop it. Nothing comes out of it any more.
    Terminated,
}

/// The outputs of one event, in order: at most four, held inline.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outputs {
    items: [Option<Output>; 4],
    len: usize,
}

impl Outputs {
    /// No outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms the timers of a message sent and then resent until it is answered (RFC 3261
    /// §17.1.1.2, §17.1.2.2, §13.3.1.4): `retry`, T1 from `now`, over an unreliable `flow` only,
    /// and `give_up`, 64·T1 from `now`. Gives the retransmission timer, if any, and when it
    /// gives up.
    pub(super) fn arm_resends(
        &mut self,
        flow: Flow,
        timers: Timers,
        now: Millis,
        (retry, give_up): (Timer, Timer),
    ) -> (Option<Retry>, Millis) {
        let resend = (!flow.reliable()).then(|| Retry::start(now, timers.t1()));
        let end = now.after(timers.long());
        if let Some(r) = resend {
            self.push(Output::Arm {
                timer: retry,
                at: r.at,
            });
        }
        self.push(Output::Arm {
            timer: give_up,
            at: end,
        });
        (resend, end)
    }

    /// What a failed send does to a transaction: while it is `live` (it still has something to
    /// send), the TU is told and `end` ends it; otherwise nothing.
    pub(super) fn failed_send(live: bool, end: impl FnOnce(&mut Outputs)) -> Outputs {
        let mut out = Outputs::new();
        if live {
            out.push(Output::TransportError);
            end(&mut out);
        }
        out
    }

    /// Adds `output`. No state machine produces more than four outputs for an event (the tests
    /// check each transition); a fifth would be a bug here, not in the input.
    pub(super) fn push(&mut self, output: Output) {
        debug_assert!(self.len < self.items.len(), "more than four outputs");
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(output);
            self.len += 1;
        }
    }

    /// The outputs, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Output> {
        self.items.iter().flatten()
    }

    /// How many outputs there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the state machine terminated with this event.
    pub fn terminated(&self) -> bool {
        self.iter().any(|o| *o == Output::Terminated)
    }

    /// The messages to send, in order.
    pub fn sent(&self) -> impl Iterator<Item = &Bytes> {
        self.iter().filter_map(|o| match o {
            Output::Send { bytes, .. } => Some(bytes),
            _ => None,
        })
    }
}

impl IntoIterator for Outputs {
    type Item = Output;
    type IntoIter = std::iter::Flatten<std::array::IntoIter<Option<Output>, 4>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter().flatten()
    }
}

impl<const N: usize> From<[Output; N]> for Outputs {
    fn from(outputs: [Output; N]) -> Self {
        let mut out = Self::new();
        for o in outputs {
            out.push(o);
        }
        out
    }
}
