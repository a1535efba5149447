//! [`NonInviteClient`]: the non-INVITE client transaction (RFC 3261 §17.1.2): BYE, CANCEL,
//! OPTIONS, INFO… that sipmap sends.

use bytes::Bytes;

use super::State;
use crate::sip::message::Message;
use crate::sip::ua::output::{Flow, Output, Outputs};
use crate::sip::ua::time::{Millis, Retry, Timer, Timers};

/// The non-INVITE client transaction: retransmits the request (timer E: T1 doubling up to T2,
/// then every T2 once a provisional response came; unreliable transports only) until a final
/// response or timer F, passes responses to the TU, and absorbs retransmitted final responses
/// (timer K; nothing on reliable transports). Not for ACK, which has no transaction.
///
/// It holds the request it sends (one [`Bytes`]) until a final response.
#[derive(Debug, Clone)]
pub struct NonInviteClient {
    flow: Flow,
    timers: Timers,
    request: Bytes,
    state: Nict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nict {
    Trying { e: Option<Retry>, f: Millis },
    Proceeding { e: Option<Retry>, f: Millis },
    Completed { k: Millis },
    Terminated,
}

impl NonInviteClient {
    /// Sends `request` over `flow`: arms timer E (unreliable transports) and timer F.
    pub fn start(request: Bytes, flow: Flow, timers: Timers, now: Millis) -> (Self, Outputs) {
        let mut out = Outputs::from([flow.send(&request)]);
        let (e, f) = out.arm_resends(flow, timers, now, (Timer::E, Timer::F));
        let txn = Self {
            flow,
            timers,
            request,
            state: Nict::Trying { e, f },
        };
        (txn, out)
    }

    /// A response that matched this transaction: passed to the TU while Trying or Proceeding (a
    /// final one completes the transaction); absorbed once Completed.
    pub fn on_response(&mut self, resp: &Message<'_>, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        let (Some(code), Nict::Trying { e, f } | Nict::Proceeding { e, f }) =
            (resp.status(), self.state)
        else {
            return out;
        };
        out.push(Output::Pass);
        if code < 200 {
            self.state = Nict::Proceeding { e, f };
        } else if self.flow.reliable() {
            self.terminate(&mut out);
        } else {
            let k = now.after(self.timers.t4());
            self.request = Bytes::new();
            self.state = Nict::Completed { k };
            out.push(Output::Arm {
                timer: Timer::K,
                at: k,
            });
        }
        out
    }

    /// Timer `timer` fired at `now`: E resends the request (doubling up to T2 while Trying,
    /// every T2 while Proceeding); F times the transaction out; K ends it. Timers the state does
    /// not wait for, or delivered before they are due, do nothing.
    pub fn on_timer(&mut self, timer: Timer, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        match (timer, self.state) {
            (Timer::E, Nict::Trying { e: Some(e), f }) if now >= e.at => {
                let next = Retry::start(now, self.timers.backoff(e.every));
                self.resend(next, &mut out);
                self.state = Nict::Trying { e: Some(next), f };
            }
            (Timer::E, Nict::Proceeding { e: Some(e), f }) if now >= e.at => {
                let next = Retry::start(now, self.timers.t2());
                self.resend(next, &mut out);
                self.state = Nict::Proceeding { e: Some(next), f };
            }
            (Timer::F, Nict::Trying { f, .. } | Nict::Proceeding { f, .. }) if now >= f => {
                out.push(Output::Timeout);
                self.terminate(&mut out);
            }
            (Timer::K, Nict::Completed { k }) if now >= k => self.terminate(&mut out),
            _ => {}
        }
        out
    }

    fn resend(&self, next: Retry, out: &mut Outputs) {
        out.push(self.flow.send(&self.request));
        out.push(Output::Arm {
            timer: Timer::E,
            at: next.at,
        });
    }

    /// The driver could not send the request: the TU is told and the transaction ends.
    pub fn on_transport_error(&mut self) -> Outputs {
        let live = matches!(self.state, Nict::Trying { .. } | Nict::Proceeding { .. });
        Outputs::failed_send(live, |out| self.terminate(out))
    }

    /// Where the request goes.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// The current state.
    pub fn state(&self) -> State {
        match self.state {
            Nict::Trying { .. } => State::Trying,
            Nict::Proceeding { .. } => State::Proceeding,
            Nict::Completed { .. } => State::Completed,
            Nict::Terminated => State::Terminated,
        }
    }

    fn terminate(&mut self, out: &mut Outputs) {
        self.state = Nict::Terminated;
        self.request = Bytes::new();
        out.push(Output::Terminated);
    }
}
