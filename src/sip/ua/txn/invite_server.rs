//! [`InviteServer`]: the INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).

use std::net::SocketAddr;

use bytes::Bytes;

use super::State;
use crate::sip::edge::Transport;
use crate::sip::message::Message;
use crate::sip::ua::build::{self, Reply, status_code, top_via};
use crate::sip::ua::output::{Flow, Output, Outputs};
use crate::sip::ua::time::{Millis, Retry, Timer, Timers};

/// The INVITE server transaction: sends 100 Trying at once, resends the last response for a
/// retransmitted INVITE, retransmits a non-2xx final response until its ACK (timers G, H),
/// absorbs ACK retransmissions (timer I), and after a 2xx absorbs retransmitted INVITEs
/// (timer L) while the TU core retransmits the 2xx.
///
/// It holds one message, the last response it sent (at first the 100 Trying), which is also
/// the template of the responses the TU writes with [`InviteServer::response`]: the request
/// itself is not kept.
#[derive(Debug, Clone)]
pub struct InviteServer {
    flow: Flow,
    timers: Timers,
    last: Bytes,
    state: Ist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ist {
    Proceeding,
    Completed { g: Option<Retry>, h: Millis },
    Confirmed { i: Millis },
    Accepted { l: Millis },
    Terminated,
}

impl InviteServer {
    /// The transaction of a new `invite` from `source` over `transport`: sends 100 Trying and
    /// passes the INVITE to the TU. `None` if `invite` is not an INVITE with a readable top Via
    /// (there is nowhere to answer; drop it).
    pub fn new(
        invite: &Message<'_>,
        source: SocketAddr,
        transport: Transport,
        timers: Timers,
    ) -> Option<(Self, Outputs)> {
        if invite.method() != Some("INVITE") {
            return None;
        }
        let flow = Flow::for_response(&top_via(invite)?, source, transport);
        let trying = build::response(invite, Some(source), &Reply::new(100));
        let out = Outputs::from([flow.send(&trying), Output::Pass]);
        let txn = Self {
            flow,
            timers,
            last: trying,
            state: Ist::Proceeding,
        };
        Some((txn, out))
    }

    /// A request that matched this transaction: a retransmitted INVITE (the last response is
    /// sent again, except once a 2xx went out: RFC 6026) or an ACK (ends a non-2xx exchange;
    /// after a 2xx it is the TU's, and passed to it).
    pub fn on_request(&mut self, req: &Message<'_>, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        match (req.method(), self.state) {
            (Some("INVITE"), Ist::Proceeding | Ist::Completed { .. }) => {
                out.push(self.flow.send(&self.last));
            }
            (Some("ACK"), Ist::Completed { .. }) => {
                if self.flow.reliable() {
                    self.terminate(&mut out);
                } else {
                    let i = now.after(self.timers.t4());
                    self.state = Ist::Confirmed { i };
                    out.push(Output::Arm {
                        timer: Timer::I,
                        at: i,
                    });
                }
            }
            (Some("ACK"), Ist::Accepted { .. }) => out.push(Output::Pass),
            _ => {}
        }
        out
    }

    /// The TU sends `response` (written with [`InviteServer::response`]): a provisional one
    /// while Proceeding; a 2xx (→ Accepted, timer L) or another final one (→ Completed, timers G
    /// and H) once. Anything else (a second final response, a status the bytes do not show) is
    /// ignored: nothing is sent.
    pub fn respond(&mut self, response: Bytes, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        let Some(code) = status_code(&response) else {
            return out;
        };
        if self.state != Ist::Proceeding {
            return out;
        }
        out.push(self.flow.send(&response));
        self.last = response;
        match code {
            100..=199 => {}
            200..=299 => {
                let l = now.after(self.timers.long());
                self.state = Ist::Accepted { l };
                out.push(Output::Arm {
                    timer: Timer::L,
                    at: l,
                });
            }
            _ => {
                let h = now.after(self.timers.long());
                let g = (!self.flow.reliable()).then(|| Retry::start(now, self.timers.t1()));
                if let Some(g) = g {
                    out.push(Output::Arm {
                        timer: Timer::G,
                        at: g.at,
                    });
                }
                out.push(Output::Arm {
                    timer: Timer::H,
                    at: h,
                });
                self.state = Ist::Completed { g, h };
            }
        }
        out
    }

    /// Timer `timer` fired at `now`: G resends the final response (the interval doubling up to
    /// T2); H gives up waiting for the ACK (timeout); I and L end the transaction. A timer the
    /// current state does not wait for, or one delivered before it is due, does nothing.
    pub fn on_timer(&mut self, timer: Timer, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        match (timer, self.state) {
            (Timer::G, Ist::Completed { g: Some(g), h }) if now >= g.at => {
                let next = Retry::start(now, self.timers.backoff(g.every));
                out.push(self.flow.send(&self.last));
                out.push(Output::Arm {
                    timer: Timer::G,
                    at: next.at,
                });
                self.state = Ist::Completed { g: Some(next), h };
            }
            (Timer::H, Ist::Completed { h, .. }) if now >= h => {
                out.push(Output::Timeout);
                self.terminate(&mut out);
            }
            (Timer::I, Ist::Confirmed { i }) if now >= i => self.terminate(&mut out),
            (Timer::L, Ist::Accepted { l }) if now >= l => self.terminate(&mut out),
            _ => {}
        }
        out
    }

    /// The driver could not send a message of this transaction: the TU is told and the
    /// transaction ends (after Confirmed there is nothing left to send, and nothing happens).
    pub fn on_transport_error(&mut self) -> Outputs {
        let live = matches!(
            self.state,
            Ist::Proceeding | Ist::Completed { .. } | Ist::Accepted { .. }
        );
        Outputs::failed_send(live, |out| self.terminate(out))
    }

    /// A response to the INVITE for the TU to send with [`InviteServer::respond`], written from
    /// the last response sent (its Via, From, To, Call-ID and CSeq; the `To` tag from `reply` if
    /// that response had none). `None` once the transaction has terminated.
    pub fn response(&self, reply: &Reply<'_>) -> Option<Bytes> {
        let last = Message::parse(&self.last).ok()?;
        Some(build::response(&last, None, reply))
    }

    /// Whether a final response was sent (a CANCEL then changes nothing, RFC 3261 §9.2).
    pub fn final_sent(&self) -> bool {
        self.state != Ist::Proceeding
    }

    /// Where the responses go.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// The last response sent.
    pub fn last_response(&self) -> &Bytes {
        &self.last
    }

    /// The current state.
    pub fn state(&self) -> State {
        match self.state {
            Ist::Proceeding => State::Proceeding,
            Ist::Completed { .. } => State::Completed,
            Ist::Confirmed { .. } => State::Confirmed,
            Ist::Accepted { .. } => State::Accepted,
            Ist::Terminated => State::Terminated,
        }
    }

    fn terminate(&mut self, out: &mut Outputs) {
        self.state = Ist::Terminated;
        self.last = Bytes::new();
        out.push(Output::Terminated);
    }
}
