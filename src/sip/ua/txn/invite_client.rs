//! [`InviteClient`]: the INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2), with the
//! ACK of a non-2xx response (§17.1.1.3) and the CANCEL (§9.1) it builds from its INVITE.

use bytes::Bytes;

use super::State;
use crate::sip::message::{Message, Writer};
use crate::sip::ua::build::{copy_headers, cseq, freeze, top_via_value};
use crate::sip::ua::output::{Flow, Output, Outputs};
use crate::sip::ua::time::{Millis, Retry, Timer, Timers};

/// The INVITE client transaction: retransmits the INVITE until a response (timer A, unreliable
/// transports), gives up without one (timer B), passes responses to the TU, ACKs a non-2xx
/// final response itself with the INVITE's branch and absorbs its retransmissions (timer D),
/// and after a 2xx passes retransmitted 2xx to the TU, which ACKs them (timer M).
///
/// It holds the INVITE it sends (one [`Bytes`]) until a final response, and the ACK while
/// Completed.
#[derive(Debug, Clone)]
pub struct InviteClient {
    flow: Flow,
    timers: Timers,
    request: Bytes,
    state: Ict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ict {
    Calling {
        a: Option<Retry>,
        b: Millis,
    },
    /// `guard`: when an INVITE cancelled without a final response is given up.
    Proceeding {
        guard: Option<Millis>,
    },
    Completed {
        d: Millis,
        ack: Bytes,
    },
    Accepted {
        m: Millis,
    },
    Terminated,
}

/// What [`InviteClient::cancel`] says to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancel {
    /// Send this CANCEL in a [`NonInviteClient`](super::NonInviteClient) of its own (same
    /// branch as the INVITE, method CANCEL).
    Send(Bytes),
    /// No provisional response yet: a CANCEL must not be sent (RFC 3261 §9.1). Ask again when
    /// one arrives (timer B ends the INVITE if none does).
    AfterProvisional,
    /// The CANCEL was sent already (its own transaction retransmits it).
    AlreadySent,
    /// A final response arrived (or the transaction ended): nothing to cancel.
    TooLate,
}

impl InviteClient {
    /// Sends `invite` over `flow`: arms timer A (unreliable transports) and timer B.
    pub fn start(invite: Bytes, flow: Flow, timers: Timers, now: Millis) -> (Self, Outputs) {
        let mut out = Outputs::from([flow.send(&invite)]);
        let (a, b) = out.arm_resends(flow, timers, now, (Timer::A, Timer::B));
        let txn = Self {
            flow,
            timers,
            request: invite,
            state: Ict::Calling { a, b },
        };
        (txn, out)
    }

    /// A response that matched this transaction (see [`TxnKey`](super::TxnKey)).
    ///
    /// Before a final response: a 1xx is passed to the TU; a 2xx is passed and the transaction
    /// waits in Accepted (timer M); a 300-699 is ACKed here, passed, and its retransmissions
    /// absorbed (timer D; nothing on reliable transports). In Completed a retransmitted final
    /// response gets the same ACK again; in Accepted every 2xx is passed (the TU ACKs it).
    pub fn on_response(&mut self, resp: &Message<'_>, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        let Some(code) = resp.status() else {
            return out;
        };
        match (&self.state, code) {
            (Ict::Calling { .. } | Ict::Proceeding { .. }, 100..=199) => {
                if let Ict::Calling { .. } = self.state {
                    self.state = Ict::Proceeding { guard: None };
                }
                out.push(Output::Pass);
            }
            (Ict::Calling { .. } | Ict::Proceeding { .. }, 200..=299) => {
                let m = now.after(self.timers.long());
                self.state = Ict::Accepted { m };
                // Nothing is sent again after a 2xx: the INVITE's memory goes.
                self.request = Bytes::new();
                out.push(Output::Pass);
                out.push(Output::Arm {
                    timer: Timer::M,
                    at: m,
                });
            }
            (Ict::Calling { .. } | Ict::Proceeding { .. }, _) => self.complete(resp, now, &mut out),
            (Ict::Completed { ack, .. }, 300..) => out.push(self.flow.send(ack)),
            (Ict::Accepted { .. }, 200..=299) => out.push(Output::Pass),
            _ => {}
        }
        out
    }

    /// A 300-699 response while Calling or Proceeding: ACK it, pass it, and wait in Completed.
    fn complete(&mut self, resp: &Message<'_>, now: Millis, out: &mut Outputs) {
        let ack = ack_for(&self.request, resp);
        if let Some(ack) = &ack {
            out.push(self.flow.send(ack));
        }
        out.push(Output::Pass);
        match ack {
            Some(ack) if !self.flow.reliable() => {
                let d = now.after(self.timers.d());
                out.push(Output::Arm {
                    timer: Timer::D,
                    at: d,
                });
                self.state = Ict::Completed { d, ack };
            }
            _ => self.terminate(out),
        }
    }

    /// Timer `timer` fired at `now`: A resends the INVITE (the interval doubling); B and the
    /// CANCEL guard time the transaction out; D and M end it. Timers the state does not wait
    /// for, or delivered before they are due, do nothing.
    pub fn on_timer(&mut self, timer: Timer, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        match (timer, &self.state) {
            (Timer::A, &Ict::Calling { a: Some(a), b }) if now >= a.at => {
                let next = Retry::start(now, a.every.saturating_mul(2));
                out.push(self.flow.send(&self.request));
                out.push(Output::Arm {
                    timer: Timer::A,
                    at: next.at,
                });
                self.state = Ict::Calling { a: Some(next), b };
            }
            (Timer::B, &Ict::Calling { b, .. }) if now >= b => {
                out.push(Output::Timeout);
                self.terminate(&mut out);
            }
            (Timer::CancelGuard, &Ict::Proceeding { guard: Some(g) }) if now >= g => {
                out.push(Output::Timeout);
                self.terminate(&mut out);
            }
            (Timer::D, &Ict::Completed { d, .. }) if now >= d => self.terminate(&mut out),
            (Timer::M, &Ict::Accepted { m }) if now >= m => self.terminate(&mut out),
            _ => {}
        }
        out
    }

    /// The driver could not send the INVITE (or the ACK): the TU is told and the transaction
    /// ends. In Accepted (the INVITE went through) nothing happens.
    pub fn on_transport_error(&mut self) -> Outputs {
        let live = matches!(
            self.state,
            Ict::Calling { .. } | Ict::Proceeding { .. } | Ict::Completed { .. }
        );
        Outputs::failed_send(live, |out| self.terminate(out))
    }

    /// The TU wants the INVITE cancelled (RFC 3261 §9.1). Once a provisional response came, the
    /// CANCEL to send (with `outputs` arming the guard: an INVITE still without a final response
    /// 64*T1 later times out), once; before, [`Cancel::AfterProvisional`]; after a final
    /// response, [`Cancel::TooLate`].
    pub fn cancel(&mut self, now: Millis) -> (Cancel, Outputs) {
        let mut out = Outputs::new();
        let answer = match self.state {
            Ict::Calling { .. } => Cancel::AfterProvisional,
            Ict::Proceeding { guard: Some(_) } => Cancel::AlreadySent,
            Ict::Proceeding { guard: None } => match cancel_for(&self.request) {
                Some(cancel) => {
                    let g = now.after(self.timers.long());
                    self.state = Ict::Proceeding { guard: Some(g) };
                    out.push(Output::Arm {
                        timer: Timer::CancelGuard,
                        at: g,
                    });
                    Cancel::Send(cancel)
                }
                None => Cancel::TooLate,
            },
            _ => Cancel::TooLate,
        };
        (answer, out)
    }

    /// The INVITE as sent (what a retry with credentials is written from, when a 401 or 407 is
    /// passed); empty once a 2xx came or the transaction ended.
    pub fn request(&self) -> &Bytes {
        &self.request
    }

    /// Where the INVITE goes.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// The current state.
    pub fn state(&self) -> State {
        match self.state {
            Ict::Calling { .. } => State::Calling,
            Ict::Proceeding { .. } => State::Proceeding,
            Ict::Completed { .. } => State::Completed,
            Ict::Accepted { .. } => State::Accepted,
            Ict::Terminated => State::Terminated,
        }
    }

    fn terminate(&mut self, out: &mut Outputs) {
        self.state = Ict::Terminated;
        self.request = Bytes::new();
        out.push(Output::Terminated);
    }
}

/// The ACK of a non-2xx final response `resp` to `invite` (RFC 3261 §17.1.1.3): the INVITE's
/// Request-URI, top Via (only), From, Call-ID and Route headers, the response's To, and CSeq
/// with the INVITE's number and method ACK.
fn ack_for(invite: &[u8], resp: &Message<'_>) -> Option<Bytes> {
    let invite = Message::parse(invite).ok()?;
    let (number, _) = cseq(&invite)?;
    let mut w = Writer::request("ACK", invite.uri()?);
    w.header("Via", top_via_value(&invite)?);
    w.header("Max-Forwards", "70");
    copy_headers(&mut w, &invite, &["From"]);
    w.header("To", resp.header("To")?);
    copy_headers(&mut w, &invite, &["Call-ID"]);
    w.header("CSeq", &format!("{number} ACK"));
    copy_headers(&mut w, &invite, &["Route"]);
    Some(freeze(w.finish(b"")))
}

/// The CANCEL of `invite` (RFC 3261 §9.1): its Request-URI, top Via (only), From, To, Call-ID
/// and Route headers, and CSeq with its number and method CANCEL.
fn cancel_for(invite: &[u8]) -> Option<Bytes> {
    let invite = Message::parse(invite).ok()?;
    let (number, _) = cseq(&invite)?;
    let mut w = Writer::request("CANCEL", invite.uri()?);
    w.header("Via", top_via_value(&invite)?);
    w.header("Max-Forwards", "70");
    copy_headers(&mut w, &invite, &["From", "To", "Call-ID"]);
    w.header("CSeq", &format!("{number} CANCEL"));
    copy_headers(&mut w, &invite, &["Route"]);
    Some(freeze(w.finish(b"")))
}
