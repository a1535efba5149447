//! The events a runtime gives a call ([`Call::start`], [`Call::on_message`],
//! [`Call::on_timer`], [`Call::on_webhook`], [`Call::on_resolved`], [`Call::on_command`],
//! [`Call::on_send_failed`]), each sorted to the leg and the transaction it concerns; and when
//! an ended call may be dropped (`settle`: once its transactions and webhooks are done).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::params::{self, dial_action};
use super::record::unix_ms;
use super::txns::{Machine, Role, Signals, Txn, Txns};
use super::{Call, CallTimer, Caller, Command, Inbound, Out, Purpose, Settings};
use crate::domain::call::{Call as CallRecord, CallStatus, Direction};
use crate::recognition::Destination;
use crate::sid::CallSid;
use crate::sip::edge::Transport;
use crate::sip::message::Message;
use crate::sip::ua::build::{self, Reply, cseq, top_via};
use crate::sip::ua::{
    CancelEffect, Dialog, DialogKey, Flow, Ids, InviteServer, Millis, Timers, TxnKey,
    answer_cancel, unknown_dialog,
};
use crate::voice::webhook::Exchange;

impl Call {
    /// A new call for `inbound`, an INVITE to a domain whose application is `app`: `100
    /// Trying`, the record (`ringing`), `180 Ringing`, and the voice URL's webhook.
    ///
    /// # Errors
    ///
    /// What to send instead when the INVITE cannot start a call: nothing for one that is not
    /// an INVITE or has no readable Via; a 400 when its dialog's headers are unreadable.
    pub fn start(
        inbound: Inbound<'_>,
        app: Arc<Settings>,
        timers: Timers,
        now: Millis,
    ) -> Result<(Self, Vec<Out>), Vec<Out>> {
        let msg = Message::parse(inbound.invite).map_err(|_| Vec::new())?;
        let (ist, outputs) = InviteServer::new(&msg, inbound.source, inbound.transport, timers)
            .ok_or_else(Vec::new)?;
        let key = TxnKey::server(&msg).ok_or_else(Vec::new)?;
        let tag = Ids::tag();
        let parts = Dialog::uas(&msg, &tag, ist.flow())
            .ok()
            .zip(cseq(&msg))
            .zip(params::from_party(&msg).zip(msg.uri()));
        let Some(((dialog, (n, _)), (from, to))) = parts else {
            let flow = ist.flow();
            let refusal = build::response(&msg, Some(inbound.source), &Reply::new(400).tag(&tag));
            return Err(vec![Out::Send {
                to: flow.to,
                via: flow.via,
                bytes: refusal,
            }]);
        };
        let record = CallRecord::ringing(
            CallSid::generate_at(unix_ms(now)),
            app.account_sid.clone(),
            app.domain_sid.clone(),
            Direction::Inbound,
            (from, to.to_owned()),
            dialog.call_id().to_owned(),
            unix_ms(now),
        );
        let params = params::inbound(
            &record,
            &app.domain_name,
            &msg,
            inbound.source,
            inbound.sip_username,
        );
        let offer = (!msg.body.is_empty()).then(|| {
            let content_type = msg.header("Content-Type").unwrap_or("application/sdp");
            (content_type.into(), Bytes::copy_from_slice(msg.body))
        });
        let caller = Caller {
            ist: 1,
            dialog,
            cseq: n,
            offer,
            answered: false,
            ended: false,
        };
        let mut call = Self::new(app, record, inbound.local, timers, (params, caller));
        let txn = Txn {
            id: 1,
            key: Some(key),
            child: false,
            role: Role::CallerInvite,
            machine: Machine::Ist(ist),
        };
        call.txns.add(txn, outputs, &mut call.out);
        call.begin(now);
        let out = call.settle(now);
        Ok((call, out))
    }

    /// A call in its first state, its INVITE transaction numbered 1.
    fn new(
        app: Arc<Settings>,
        record: CallRecord,
        local: SocketAddr,
        timers: Timers,
        (params, caller): (params::Params, Caller),
    ) -> Self {
        Self {
            app,
            record,
            local,
            timers,
            caller,
            txns: Txns::default(),
            params,
            verbs: VecDeque::new(),
            pending: None,
            current: None,
            documents: 0,
            child: None,
            deferred_ack: None,
            next_id: 1,
            sequence: 0,
            ended: false,
            gone: false,
            out: Vec::new(),
        }
    }

    /// The record, `180 Ringing`, the voice URL.
    fn begin(&mut self, now: Millis) {
        let record = self.record.clone();
        self.persist_record(&record);
        self.respond_caller(180, None, None, now);
        let (url, method) = self.app.voice.clone();
        let params = self.current_params();
        self.fetch((&url, method), params, Purpose::Voice, now);
    }

    /// A SIP message of the call (see [`RouteKey::of`](super::RouteKey::of)), received from
    /// `source` over `transport`. Unreadable messages are ignored.
    pub fn on_message(
        &mut self,
        bytes: &[u8],
        source: SocketAddr,
        transport: Transport,
        now: Millis,
    ) -> Vec<Out> {
        match Message::parse(bytes) {
            Ok(msg) => self.on_parsed(&msg, source, transport, now),
            Err(_) => self.settle(now),
        }
    }

    /// [`Call::on_message`] for a message the runtime already parsed (to find its call).
    pub fn on_parsed(
        &mut self,
        msg: &Message<'_>,
        source: SocketAddr,
        transport: Transport,
        now: Millis,
    ) -> Vec<Out> {
        if msg.is_request() {
            self.request(msg, (source, transport), now);
        } else {
            self.response(msg, now);
        }
        self.settle(now)
    }

    /// A timer of the call fired.
    pub fn on_timer(&mut self, timer: CallTimer, now: Millis) -> Vec<Out> {
        match timer {
            CallTimer::Sip { txn, timer } => {
                let Some(role) = self.txns.get(txn).map(|t| t.role) else {
                    return self.settle(now);
                };
                let s = self
                    .txns
                    .feed(txn, |m| m.on_timer(timer, now), &mut self.out);
                self.signals((txn, role), s, now);
            }
            CallTimer::DialTimeout(dial) => {
                if let Some(end) = self.dial_timeout(dial, now) {
                    self.dial_ended(end, now);
                }
            }
            CallTimer::TimeLimit(dial) => {
                if let Some(end) = self.time_limit(dial, now) {
                    self.dial_ended(end, now);
                }
            }
        }
        self.settle(now)
    }

    /// Webhook `id` ended with `exchange`.
    pub fn on_webhook(&mut self, id: u32, exchange: &Exchange, now: Millis) -> Vec<Out> {
        self.webhook_done(id, exchange, now);
        self.settle(now)
    }

    /// Route request `id` resolved to `destinations`, in the order to try (none: the dial
    /// fails).
    pub fn on_resolved(
        &mut self,
        id: u32,
        destinations: Vec<Destination>,
        now: Millis,
    ) -> Vec<Out> {
        if let Some(end) = self.child_routed(id, destinations, now) {
            self.dial_ended(end, now);
        }
        self.settle(now)
    }

    /// An update of the call through the API. Nothing for an ended call, nor for `Cancel` on
    /// an answered one.
    pub fn on_command(&mut self, command: Command, now: Millis) -> Vec<Out> {
        if self.ended {
            return self.settle(now);
        }
        match command {
            Command::Cancel if self.caller.answered => {}
            Command::Complete | Command::Cancel => {
                self.end_call(CallStatus::Canceled, 487, None, now);
            }
            Command::Redirect(url, method) => {
                self.interrupt(now);
                let params = self.current_params();
                self.fetch((&url, method), params, Purpose::Redirect, now);
            }
            Command::Twiml(text) => {
                self.interrupt(now);
                self.run_twiml(&text, now);
            }
        }
        self.settle(now)
    }

    /// A send of this call to `to` failed: every transaction sending there learns it.
    pub fn on_send_failed(&mut self, to: SocketAddr, now: Millis) -> Vec<Out> {
        let ids = self
            .txns
            .ids(|t| t.machine.flow().is_some_and(|f| f.to == to));
        for id in ids {
            let Some(role) = self.txns.get(id).map(|t| t.role) else {
                continue;
            };
            let s = self
                .txns
                .feed(id, Machine::on_transport_error, &mut self.out);
            self.signals((id, role), s, now);
        }
        self.settle(now)
    }

    /// What the document was doing stops (an API redirect): the webhook in flight is
    /// forgotten, a dial is dropped (its action is not requested), the verbs left are not run.
    fn interrupt(&mut self, now: Millis) {
        self.pending = None;
        self.verbs.clear();
        let _ = self.drop_child(now);
    }

    /// Transaction `id` (for `role`) timed out or could not send.
    fn signals(&mut self, (id, role): (u32, Role), s: Signals, now: Millis) {
        if !(s.timeout || s.transport_error) {
            return;
        }
        match role {
            Role::ChildInvite if self.child.as_ref().is_some_and(|c| c.ict == Some(id)) => {
                if let Some(end) = self.child_lost(s, now) {
                    self.dial_ended(end, now);
                }
            }
            Role::CallerAnswer => {
                // No ACK for the answer (RFC 3261 §13.3.1.4): the session ends.
                self.end_call(CallStatus::Completed, 500, None, now);
            }
            Role::Relay { peer, .. } => self.answer_relayed(peer, 408, None, now),
            Role::CallerInvite if s.transport_error => {
                self.caller.ended = true;
                self.end_call(CallStatus::Failed, 500, None, now);
            }
            _ => {}
        }
    }

    /// A request: a retransmission or non-2xx ACK to its transaction, else by method.
    fn request(&mut self, req: &Message<'_>, src: (SocketAddr, Transport), now: Millis) {
        let known = TxnKey::server(req).and_then(|k| self.txns.by_key(&k).map(|t| t.id));
        if let Some(id) = known {
            let s = self.txns.feed(
                id,
                |m| match m {
                    Machine::Ist(t) => t.on_request(req, now),
                    Machine::Nist(t) => t.on_request(req, now),
                    _ => Default::default(),
                },
                &mut self.out,
            );
            if s.pass && req.method() == Some("ACK") {
                self.ack(req);
            }
            return;
        }
        match req.method() {
            Some("CANCEL") => self.cancel(req, src, now),
            Some("ACK") => self.ack(req),
            Some("INVITE") if DialogKey::incoming(req).is_none() => {}
            Some(_) => self.in_dialog(req, src, now),
            None => {}
        }
    }

    /// A CANCEL: 200, and 487 to the caller's INVITE if it has no final response yet; the
    /// call is then `canceled` (its dial too).
    fn cancel(
        &mut self,
        req: &Message<'_>,
        (source, transport): (SocketAddr, Transport),
        now: Millis,
    ) {
        let Some(key) = TxnKey::server(req) else {
            return;
        };
        let cancelled = TxnKey::cancelled(req);
        let tag = self.caller.dialog.local_tag().to_owned();
        let ist_id = self.caller.ist;
        let ist = match self.txns.get(ist_id) {
            Some(Txn {
                key,
                machine: Machine::Ist(ist),
                ..
            }) if *key == cancelled => Some(ist),
            _ => None,
        };
        let Some(answer) = answer_cancel(req, source, transport, ist, &tag, self.timers, now)
        else {
            return;
        };
        let id = self.id();
        let txn = Txn {
            id,
            key: Some(key),
            child: false,
            role: Role::Plain,
            machine: Machine::Nist(answer.server),
        };
        self.txns.add(txn, answer.outputs, &mut self.out);
        self.txns
            .absorb(ist_id, answer.invite_outputs, &mut self.out);
        if answer.effect == CancelEffect::Cancelled {
            self.caller.ended = true;
            self.caller_gone(now);
        }
    }

    /// The caller left (CANCEL, BYE): the dial is dropped (its action still requested, its
    /// document not run), the call `canceled` or, once answered, `completed`.
    fn caller_gone(&mut self, now: Millis) {
        let end = self.drop_child(now);
        let status = if self.caller.answered {
            CallStatus::Completed
        } else {
            CallStatus::Canceled
        };
        self.set_status(status, now);
        self.finish();
        if let Some((url, method)) = end.as_ref().and_then(|e| e.action.clone()) {
            let outcome = end.map(|e| e.outcome).unwrap_or_default();
            let params = dial_action(&self.params, status.as_str(), &outcome);
            self.fetch((&url, method), params, Purpose::Action, now);
        }
    }

    /// An ACK of a 2xx: to the answers waiting on its leg, and its answer to the other leg
    /// when an ACK waits for it there.
    fn ack(&mut self, req: &Message<'_>) {
        let Some(child) = self.leg_of(req) else {
            return;
        };
        self.complete_deferred_ack(req, child);
        let ids = self
            .txns
            .ids(|t| t.child == child && matches!(t.machine, Machine::Answer(_)));
        for id in ids {
            self.txns.feed(
                id,
                |m| match m {
                    Machine::Answer(a) => a.on_ack(req),
                    _ => Default::default(),
                },
                &mut self.out,
            );
        }
    }

    /// Sends the ACK waiting on the other leg than `from_child`'s, with `ack`'s body.
    fn complete_deferred_ack(&mut self, ack: &Message<'_>, from_child: bool) {
        let local = self.local;
        let Some(d) = self
            .deferred_ack
            .as_mut()
            .filter(|d| d.sent.is_none() && d.to_child != from_child)
        else {
            return;
        };
        let dialog = if d.to_child {
            self.child.as_ref().and_then(|c| c.dialog.as_ref())
        } else {
            Some(&self.caller.dialog)
        };
        let Some(dialog) = dialog else {
            return;
        };
        let headers: Vec<(&str, &str)> = ack
            .header("Content-Type")
            .filter(|_| !ack.body.is_empty())
            .map(|t| ("Content-Type", t))
            .into_iter()
            .collect();
        let bytes = dialog.ack(d.cseq, local, &d.branch, &headers, ack.body);
        let flow = dialog.flow();
        d.sent = Some(bytes.clone());
        self.out.push(Out::Send {
            to: flow.to,
            via: flow.via,
            bytes,
        });
    }

    /// Which leg's dialog a request belongs to: `Some(false)` the caller's, `Some(true)` the
    /// child's.
    fn leg_of(&self, req: &Message<'_>) -> Option<bool> {
        let key = DialogKey::incoming(req)?;
        if key == self.caller.dialog.key() {
            return Some(false);
        }
        let child = self.child.as_ref()?;
        (child.dialog.as_ref().map(Dialog::key) == Some(key)).then_some(true)
    }

    /// A request in a dialog: BYE ends a leg; anything else is relayed or answered; a dialog
    /// sipmap does not know gets 481.
    fn in_dialog(&mut self, req: &Message<'_>, src: (SocketAddr, Transport), now: Millis) {
        let Some(child) = self.leg_of(req) else {
            if let (Some(reply), Some(via)) = (unknown_dialog(req, src.0), top_via(req)) {
                let flow = Flow::for_response(&via, src.0, src.1);
                self.out.push(Out::Send {
                    to: flow.to,
                    via: flow.via,
                    bytes: reply,
                });
            }
            return;
        };
        let checked = if child {
            self.child
                .as_mut()
                .and_then(|c| c.dialog.as_mut())
                .map_or(Ok(()), |d| d.check_request(req))
        } else {
            self.caller.dialog.check_request(req)
        };
        if let Err(code) = checked {
            self.serve(req, src, child, Some(code), now);
            return;
        }
        if req.method() != Some("BYE") {
            return self.relay_request(req, child, src, now);
        }
        self.serve(req, src, child, Some(200), now);
        if child {
            if let Some(end) = self.child_hung_up(now) {
                self.dial_ended(end, now);
            }
        } else if !self.caller.ended {
            if !self.caller.answered {
                self.respond_caller(487, None, None, now);
            }
            self.caller.ended = true;
            self.caller_gone(now);
        }
    }

    /// A response: to its transaction, then to what the transaction is for.
    fn response(&mut self, resp: &Message<'_>, now: Millis) {
        let Some(key) = TxnKey::client_response(resp) else {
            return;
        };
        let Some((id, role, child)) = self.txns.by_key(&key).map(|t| (t.id, t.role, t.child))
        else {
            return;
        };
        let s = self.txns.feed(
            id,
            |m| match m {
                Machine::Ict(t) => t.on_response(resp, now),
                Machine::Nict(t) => t.on_response(resp, now),
                _ => Default::default(),
            },
            &mut self.out,
        );
        if !s.pass {
            return;
        }
        match role {
            // Only the child's current INVITE: not one a challenge or another destination
            // replaced, nor an earlier dial's.
            Role::ChildInvite if self.child.as_ref().is_some_and(|c| c.ict == Some(id)) => {
                if let Some(end) = self.child_response(resp, id, now) {
                    self.dial_ended(end, now);
                }
            }
            Role::Relay { peer, offerless } => {
                self.relay_response(resp, (child, offerless), peer, now);
            }
            _ => {}
        }
    }

    /// The outputs of the event; [`Out::Ended`] once an ended call has nothing left to finish
    /// (no transaction, no webhook in flight; relays still waiting are closed).
    fn settle(&mut self, now: Millis) -> Vec<Out> {
        if self.ended && !self.gone {
            self.close_relays(now);
        }
        if self.ended && !self.gone && self.pending.is_none() && self.txns.len() == 0 {
            self.gone = true;
            self.out.push(Out::Ended);
        }
        self.take()
    }
}
