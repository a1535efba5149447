//! [`NonInviteServer`]: the non-INVITE server transaction (RFC 3261 §17.2.2): BYE, CANCEL,
//! OPTIONS… that sipmap answers.

use std::net::SocketAddr;

use bytes::Bytes;

use super::State;
use crate::sip::edge::Transport;
use crate::sip::message::Message;
use crate::sip::ua::build::{status_code, top_via};
use crate::sip::ua::output::{Flow, Output, Outputs};
use crate::sip::ua::time::{Millis, Timer, Timers};

/// The non-INVITE server transaction: passes the request to the TU once, absorbs its
/// retransmissions until the TU answers, then answers them with the last response sent, until
/// timer J (64*T1 on unreliable transports; at once on reliable ones).
///
/// It holds the last response it sent (one [`Bytes`]), nothing before.
#[derive(Debug, Clone)]
pub struct NonInviteServer {
    flow: Flow,
    timers: Timers,
    last: Option<Bytes>,
    state: Nist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nist {
    Trying,
    Proceeding,
    Completed { j: Millis },
    Terminated,
}

impl NonInviteServer {
    /// The transaction of a new request `req` from `source` over `transport`: the request goes
    /// to the TU, which answers it with [`NonInviteServer::respond`] (a response written with
    /// [`response`](crate::sip::ua::build::response)). `None` for an INVITE or an ACK (neither
    /// has a non-INVITE transaction), a response, or a request without a readable top Via.
    pub fn new(
        req: &Message<'_>,
        source: SocketAddr,
        transport: Transport,
        timers: Timers,
    ) -> Option<(Self, Outputs)> {
        if matches!(req.method()?, "INVITE" | "ACK") {
            return None;
        }
        let flow = Flow::for_response(&top_via(req)?, source, transport);
        let txn = Self {
            flow,
            timers,
            last: None,
            state: Nist::Trying,
        };
        Some((txn, Outputs::from([Output::Pass])))
    }

    /// A retransmission of the request: absorbed while Trying, answered with the last response
    /// afterwards.
    pub fn on_request(&mut self, _req: &Message<'_>, _now: Millis) -> Outputs {
        let mut out = Outputs::new();
        if let (Nist::Proceeding | Nist::Completed { .. }, Some(last)) = (self.state, &self.last) {
            out.push(self.flow.send(last));
        }
        out
    }

    /// The TU sends `response`: a provisional one (→ Proceeding) or a final one (→ Completed,
    /// timer J; Terminated at once on a reliable transport). Ignored after a final response, or
    /// when the bytes show no status.
    pub fn respond(&mut self, response: Bytes, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        let Some(code) = status_code(&response) else {
            return out;
        };
        if !matches!(self.state, Nist::Trying | Nist::Proceeding) {
            return out;
        }
        out.push(self.flow.send(&response));
        if code < 200 {
            self.state = Nist::Proceeding;
            self.last = Some(response);
        } else if self.flow.reliable() {
            self.terminate(&mut out);
        } else {
            let j = now.after(self.timers.long());
            self.state = Nist::Completed { j };
            self.last = Some(response);
            out.push(Output::Arm {
                timer: Timer::J,
                at: j,
            });
        }
        out
    }

    /// Timer J fired at `now`: the transaction ends. Anything else does nothing.
    pub fn on_timer(&mut self, timer: Timer, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        if let (Timer::J, Nist::Completed { j }) = (timer, self.state)
            && now >= j
        {
            self.terminate(&mut out);
        }
        out
    }

    /// The driver could not send a response: the TU is told and the transaction ends.
    pub fn on_transport_error(&mut self) -> Outputs {
        let live = matches!(self.state, Nist::Proceeding | Nist::Completed { .. });
        Outputs::failed_send(live, |out| self.terminate(out))
    }

    /// Where the responses go.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// The current state.
    pub fn state(&self) -> State {
        match self.state {
            Nist::Trying => State::Trying,
            Nist::Proceeding => State::Proceeding,
            Nist::Completed { .. } => State::Completed,
            Nist::Terminated => State::Terminated,
        }
    }

    fn terminate(&mut self, out: &mut Outputs) {
        self.state = Nist::Terminated;
        self.last = None;
        out.push(Output::Terminated);
    }
}
