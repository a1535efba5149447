//! [`Answer`]: the UA core's retransmission of its 2xx to an INVITE until the ACK comes (RFC 3261
//! §13.3.1.4); the INVITE server transaction only sends it once (RFC 6026).

use bytes::Bytes;

use super::build::cseq;
use super::output::{Flow, Output, Outputs};
use super::time::{Millis, Retry, Timer, Timers};
use crate::sip::message::Message;

/// A 2xx to an INVITE (initial or re-INVITE) waiting for its ACK: resent at T1, 2*T1, … up to
/// T2 apart on unreliable transports; after 64*T1 without the ACK it times out, and the call
/// engine should end the session with a BYE (§13.3.1.4). On reliable transports nothing is
/// resent, but the ACK is still awaited for 64*T1.
///
/// It shares the 2xx's bytes with the server transaction (no copy).
#[derive(Debug, Clone)]
pub struct Answer {
    flow: Flow,
    timers: Timers,
    ok: Bytes,
    /// The INVITE's CSeq number, which its ACK repeats.
    cseq: u32,
    retry: Option<Retry>,
    /// When it gives up; `None` once ended.
    give_up: Option<Millis>,
}

impl Answer {
    /// Starts waiting for the ACK of `ok`, the 2xx to the INVITE with CSeq number `cseq`, which
    /// the [`InviteServer`](super::InviteServer) has just sent over `flow`: arms
    /// [`Timer::Answer`] (unreliable transports) and [`Timer::AnswerTimeout`]. It sends nothing
    /// itself now.
    pub fn start(ok: Bytes, cseq: u32, flow: Flow, timers: Timers, now: Millis) -> (Self, Outputs) {
        let mut out = Outputs::new();
        let (retry, give_up) =
            out.arm_resends(flow, timers, now, (Timer::Answer, Timer::AnswerTimeout));
        let answer = Self {
            flow,
            timers,
            ok,
            cseq,
            retry,
            give_up: Some(give_up),
        };
        (answer, out)
    }

    /// An ACK in the dialog (the driver matched it by Call-ID and tags): if it acknowledges this
    /// 2xx (same CSeq number) the retransmissions stop and this ends.
    pub fn on_ack(&mut self, ack: &Message<'_>) -> Outputs {
        let mut out = Outputs::new();
        let acks_this = ack.method() == Some("ACK") && cseq(ack).map(|(n, _)| n) == Some(self.cseq);
        if acks_this && self.give_up.is_some() {
            self.end(&mut out);
        }
        out
    }

    /// A timer fired at `now`: [`Timer::Answer`] resends the 2xx (the interval doubling up to
    /// T2), [`Timer::AnswerTimeout`] gives up (timeout: send a BYE). Anything else, or a timer
    /// delivered before it is due, does nothing.
    pub fn on_timer(&mut self, timer: Timer, now: Millis) -> Outputs {
        let mut out = Outputs::new();
        let Some(give_up) = self.give_up else {
            return out;
        };
        match (timer, self.retry) {
            (Timer::Answer, Some(r)) if now >= r.at => {
                let next = Retry::start(now, self.timers.backoff(r.every));
                out.push(self.flow.send(&self.ok));
                out.push(Output::Arm {
                    timer: Timer::Answer,
                    at: next.at,
                });
                self.retry = Some(next);
            }
            (Timer::AnswerTimeout, _) if now >= give_up => {
                out.push(Output::Timeout);
                self.end(&mut out);
            }
            _ => {}
        }
        out
    }

    /// Whether the ACK came or the wait ended.
    pub fn is_terminated(&self) -> bool {
        self.give_up.is_none()
    }

    fn end(&mut self, out: &mut Outputs) {
        self.give_up = None;
        self.retry = None;
        self.ok = Bytes::new();
        out.push(Output::Terminated);
    }
}
