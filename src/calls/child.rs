//! The `<Dial>` leg ([`Child`]): the child call's record and INVITE, where it goes (a `<Sip>`
//! URI's address, or the destinations resolved for a `<Number>`, tried in order), its
//! responses relayed to the caller, its answer bridged, its digest retry, its end; and the
//! child's status callback events. How a dial ended goes up as a [`DialEnd`] for the script.

use bytes::Bytes;
use url::Url;

use super::params::{self, DialOutcome, Params};
use super::record::{request, unix_ms};
use super::txns::{Machine, Role, Signals, Txn};
use super::{Call, CallTimer, DeferredAck, Out, RouteKey, RouteRequest};
use crate::domain::call::{Call as CallRecord, CallStatus, Direction};
use crate::recognition::Destination;
use crate::sid::{ByocTrunkSid, CallSid};
use crate::sip::edge::Transport;
use crate::sip::message::Message;
use crate::sip::ua::build::cseq;
use crate::sip::ua::uac::with_credentials;
use crate::sip::ua::{Cancel, Dialog, Flow, Ids, InviteClient, Millis, NewInvite, TxnKey};
use crate::sip_syntax::Wire;
use crate::voice::twiml::{Events, Method, StatusCallback};

/// Whom a `<Dial>` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// `<Sip>`: the URI (without headers), its headers, and credentials for a challenge.
    Sip {
        uri: String,
        headers: Vec<(String, String)>,
        credentials: Option<(String, String)>,
    },
    /// `<Number>`, through a BYOC trunk's targets when `byoc`.
    Number {
        number: String,
        byoc: Option<ByocTrunkSid>,
    },
}

/// A `<Dial>` to make, as the script read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Spec {
    pub target: Target,
    pub action: Option<(Url, Method)>,
    pub timeout_secs: u32,
    pub time_limit_secs: u32,
    pub caller_id: Option<String>,
    pub callback: Option<StatusCallback>,
}

/// How a dial ended: what its `action` gets, and the `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DialEnd {
    pub outcome: DialOutcome,
    pub action: Option<(Url, Method)>,
}

/// Where the child leg is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for [`Call::on_resolved`](super::Call::on_resolved) with this number.
    Routing(u32),
    /// The INVITE is out.
    Calling,
    /// The callee answered; the legs are bridged.
    Answered,
    /// Over (what is left are transactions finishing).
    Ended,
}

/// The child call of a `<Dial>`.
#[derive(Debug)]
pub(super) struct Child {
    pub record: CallRecord,
    pub params: Params,
    /// The dial's number (its timers name it).
    pub dial: u32,
    pub spec: Spec,
    pub ids: Ids,
    pub flow: Flow,
    /// The INVITE as last sent, and its client transaction's number.
    pub invite: Bytes,
    pub ict: Option<u32>,
    pub dialog: Option<Dialog>,
    /// The destinations not tried yet.
    pub remaining: Vec<Destination>,
    pub phase: Phase,
    pub auth_tried: bool,
    /// The ring timeout passed before any provisional response: CANCEL at the first one.
    pub cancel_pending: bool,
    pub final_code: Option<u16>,
    pub final_headers: Params,
    /// The status callback events' `SequenceNumber`.
    pub sequence: u32,
}

impl Call {
    /// Starts the child call of a `<Dial>`: its record (queued), its `initiated` event, its
    /// ring timer, then its INVITE or the route request it needs first.
    pub(super) fn begin_dial(&mut self, spec: Spec, now: Millis) -> Option<DialEnd> {
        let ids = Ids::random();
        let to = match &spec.target {
            Target::Sip { uri, .. } => uri.clone(),
            Target::Number { number, .. } => number.clone(),
        };
        let from = spec
            .caller_id
            .clone()
            .unwrap_or_else(|| self.record.from.clone());
        let mut record = CallRecord::ringing(
            CallSid::generate_at(unix_ms(now)),
            self.record.account_sid.clone(),
            self.record.domain_sid.clone(),
            Direction::OutboundDial,
            (from, to),
            ids.call_id.clone(),
            unix_ms(now),
        );
        record.status = CallStatus::Queued;
        record.parent_call_sid = Some(self.record.sid.clone());
        let dial = self.id();
        self.deferred_ack = None;
        let timeout = spec.timeout_secs.saturating_mul(1000);
        self.out
            .push(Out::Register(RouteKey::new(&ids.call_id, &ids.tag)));
        self.out.push(Out::Arm {
            timer: CallTimer::DialTimeout(dial),
            at: now.after(timeout),
        });
        self.persist_record(&record);
        self.child = Some(Box::new(Child {
            params: params::child(&record),
            record,
            dial,
            spec,
            ids,
            flow: Flow {
                to: self.local,
                via: Transport::Udp,
            },
            invite: Bytes::new(),
            ict: None,
            dialog: None,
            remaining: Vec::new(),
            phase: Phase::Calling,
            auth_tried: false,
            cancel_pending: false,
            final_code: None,
            final_headers: Params::new(),
            sequence: 0,
        }));
        self.child_event(Events::INITIATED, "initiated");
        self.route_child(now)
    }

    /// The child's first destination: a `<Sip>` URI's IP address at once (none, and the dial
    /// fails, when the operator's outbound policy refuses it), anything else through a route
    /// request.
    fn route_child(&mut self, now: Millis) -> Option<DialEnd> {
        let child = self.child.as_mut()?;
        let request = match &child.spec.target {
            Target::Sip { uri, .. } => match (Destination::from_uri(uri), host_of(uri)) {
                (Some(d), _) if self.app.outbound.allows(d.addr.ip()) => {
                    return self.invite_child(d, now);
                }
                (None, Some(host)) => host,
                _ => return self.finish_child(CallStatus::Failed, now),
            },
            Target::Number { number, byoc } => match byoc {
                Some(trunk) => RouteRequest::Byoc {
                    trunk: trunk.clone(),
                    number: number.clone(),
                },
                None => RouteRequest::Number {
                    number: number.clone(),
                },
            },
        };
        let id = self.id();
        if let Some(child) = self.child.as_mut() {
            child.phase = Phase::Routing(id);
        }
        self.out.push(Out::Route { id, request });
        None
    }

    /// The destinations of route request `id`, in the order to try them.
    pub(super) fn child_routed(
        &mut self,
        id: u32,
        mut destinations: Vec<Destination>,
        now: Millis,
    ) -> Option<DialEnd> {
        let child = self.child.as_mut()?;
        if child.phase != Phase::Routing(id) {
            return None;
        }
        child.phase = Phase::Calling;
        destinations.reverse();
        child.remaining = destinations;
        match child.remaining.pop() {
            Some(d) => self.invite_child(d, now),
            None => self.finish_child(CallStatus::Failed, now),
        }
    }

    /// Sends the child's INVITE to `dest`.
    fn invite_child(&mut self, dest: Destination, now: Millis) -> Option<DialEnd> {
        let local = self.local;
        let from_user = self.child_from_user();
        let offer = self.caller.offer.clone();
        let domain = self.app.domain_name.clone();
        let child = self.child.as_mut()?;
        let (uri, headers) = match &child.spec.target {
            Target::Sip { uri, headers, .. } => (uri.clone(), headers.clone()),
            Target::Number { number, .. } => (number_uri(number, dest), Vec::new()),
        };
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        child.ids.branch = Ids::branch();
        // A new destination starts afresh: no early dialog, no challenge answered yet.
        child.dialog = None;
        child.auth_tried = false;
        let built = NewInvite {
            target: &uri,
            from_user: &from_user,
            from_host: &domain,
            display_name: None,
            local,
            body: offer.as_ref().map(|(t, b)| (&**t, &b[..])),
            headers: &headers,
        }
        .build(&child.ids);
        let Ok(built) = built else {
            return self.finish_child(CallStatus::Failed, now);
        };
        child.flow = Flow {
            to: dest.addr,
            via: Transport::outbound(dest.wire),
        };
        child.invite = built.bytes.clone();
        self.start_child_ict(built.bytes, now);
        None
    }

    /// The user part of the child's From: `callerId` (the user of a SIP URI, else as
    /// written), else the user of the caller's From URI.
    fn child_from_user(&self) -> String {
        let caller_id = self
            .child
            .as_ref()
            .and_then(|c| c.spec.caller_id.as_deref());
        let party = caller_id.unwrap_or(&self.record.from);
        match crate::sip_syntax::SipUri::parse(party) {
            Ok(uri) => uri.user.unwrap_or("anonymous").to_owned(),
            Err(_) if caller_id.is_some() => party.to_owned(),
            Err(_) => "anonymous".to_owned(),
        }
    }

    /// Starts the child's INVITE client transaction for `invite`.
    fn start_child_ict(&mut self, invite: Bytes, now: Millis) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let (flow, branch) = (child.flow, child.ids.branch.clone());
        let (ict, outputs) = InviteClient::start(invite, flow, self.timers, now);
        let id = self.id();
        if let Some(child) = self.child.as_mut() {
            child.ict = Some(id);
        }
        let txn = Txn {
            id,
            key: Some(TxnKey::client(&branch, "INVITE")),
            child: true,
            role: Role::ChildInvite,
            machine: Machine::Ict(ict),
        };
        self.txns.add(txn, outputs, &mut self.out);
    }

    /// A response the child's INVITE transaction passed (or its end: `signals`).
    pub(super) fn child_response(
        &mut self,
        resp: &Message<'_>,
        txn: u32,
        now: Millis,
    ) -> Option<DialEnd> {
        let code = resp.status()?;
        match code {
            100..=199 => {
                self.child_provisional(resp, txn, now);
                None
            }
            200..=299 => self.child_answered(resp, now),
            401 | 407 if self.retry_with_credentials(resp, now) => None,
            _ => self.child_refused(resp, now),
        }
    }

    /// A provisional response: a CANCEL waiting for one goes out (RFC 3261 §9.1: a 100 is
    /// enough); otherwise, above 100, the child rings (its first one), an early dialog, relayed
    /// to the caller with its SDP.
    fn child_provisional(&mut self, resp: &Message<'_>, txn: u32, now: Millis) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if child.dialog.is_none() {
            child.dialog = Message::parse(&child.invite)
                .ok()
                .and_then(|inv| Dialog::uac(&inv, resp, child.flow).ok());
        }
        if child.cancel_pending {
            child.cancel_pending = false;
            self.cancel_child_ict(txn, now);
            return;
        }
        if child.phase != Phase::Calling || resp.status() == Some(100) {
            return;
        }
        if child.record.status == CallStatus::Queued {
            let _ = child.record.set_status(CallStatus::Ringing, unix_ms(now));
            let record = child.record.clone();
            self.persist_record(&record);
            self.child_event(Events::RINGING, "ringing");
        }
        let code = resp.status().unwrap_or(180);
        let content_type = resp.header("Content-Type").unwrap_or("application/sdp");
        let body = (!resp.body.is_empty()).then_some((content_type, resp.body));
        self.respond_caller(code, None, body, now);
    }

    /// A 2xx: ACK it (again, for a retransmission); the first one bridges the call: the
    /// caller is answered with the callee's SDP, both become `in-progress`, `timeLimit` runs.
    fn child_answered(&mut self, resp: &Message<'_>, now: Millis) -> Option<DialEnd> {
        let child = self.child.as_mut()?;
        let invite = Message::parse(&child.invite).ok()?;
        match child.dialog.as_mut() {
            Some(d) => {
                let _ = d.confirm(resp);
            }
            None => child.dialog = Dialog::uac(&invite, resp, child.flow).ok(),
        }
        let (n, _) = cseq(&invite)?;
        let branch = Ids::ack_branch(&child.ids.branch);
        let delayed = self.caller.offer.is_none() && child.phase != Phase::Ended;
        self.ack_child(n, branch, delayed);
        let child = self.child.as_mut()?;
        match child.phase {
            Phase::Calling => {}
            Phase::Ended => {
                // Answered after the dial gave up on it: hang it up at once.
                self.bye_child(now);
                return None;
            }
            _ => return None,
        }
        child.phase = Phase::Answered;
        child.final_code = Some(resp.status().unwrap_or(200));
        child.final_headers.clear();
        params::x_headers(&mut child.final_headers, "DialSipHeader_", resp);
        let limit = child.spec.time_limit_secs.saturating_mul(1000);
        let dial = child.dial;
        let _ = child
            .record
            .set_status(CallStatus::InProgress, unix_ms(now));
        let record = child.record.clone();
        self.persist_record(&record);
        self.child_event(Events::ANSWERED, "in-progress");
        self.out.push(Out::Arm {
            timer: CallTimer::TimeLimit(dial),
            at: now.after(limit),
        });
        let content_type = resp.header("Content-Type").unwrap_or("application/sdp");
        let body = (!resp.body.is_empty()).then_some((content_type, resp.body));
        // Stored before the caller's 200 (the runtime stores both records in one write).
        self.set_status(CallStatus::InProgress, now);
        self.respond_caller(200, None, body, now);
        None
    }

    /// The ACK of the child's 2xx to its INVITE `cseq`: at once, or, when the INVITE carried
    /// no offer (`delayed`), once the caller's ACK brings the answer (then resent as it was for
    /// each retransmitted 2xx).
    fn ack_child(&mut self, cseq: u32, branch: String, delayed: bool) {
        let local = self.local;
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let bytes = match (&self.deferred_ack, delayed) {
            (Some(d), true) if d.to_child && d.cseq == cseq => d.sent.clone(),
            (_, true) => {
                self.deferred_ack = Some(Box::new(DeferredAck {
                    to_child: true,
                    cseq,
                    branch,
                    sent: None,
                }));
                None
            }
            (_, false) => child
                .dialog
                .as_ref()
                .map(|d| d.ack(cseq, local, &branch, &[], b"")),
        };
        if let Some(bytes) = bytes {
            self.out.push(Out::Send {
                to: child.flow.to,
                via: child.flow.via,
                bytes,
            });
        }
    }

    /// A 401 or 407: the INVITE again with the `<Sip>` credentials, once.
    fn retry_with_credentials(&mut self, resp: &Message<'_>, now: Millis) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        let Target::Sip {
            credentials: Some((user, password)),
            ..
        } = &child.spec.target
        else {
            return false;
        };
        if child.auth_tried || child.phase != Phase::Calling {
            return false;
        }
        let branch = Ids::branch();
        let Ok(retry) =
            with_credentials(&child.invite, resp, user, password, &branch, &Ids::cnonce())
        else {
            return false;
        };
        child.auth_tried = true;
        child.ids.branch = branch;
        child.invite = retry.request.clone();
        self.start_child_ict(retry.request, now);
        true
    }

    /// A final non-2xx: the next destination for a server failure, else the dial's end:
    /// 486 and 600 busy, anything else failed (unless the dial had already ended).
    fn child_refused(&mut self, resp: &Message<'_>, now: Millis) -> Option<DialEnd> {
        let code = resp.status()?;
        let child = self.child.as_mut()?;
        if child.phase != Phase::Calling {
            return None;
        }
        child.final_code = Some(code);
        child.final_headers.clear();
        params::x_headers(&mut child.final_headers, "DialSipHeader_", resp);
        if (code >= 500 || code == 408)
            && let Some(next) = child.remaining.pop()
        {
            return self.invite_child(next, now);
        }
        let status = match code {
            486 | 600 => CallStatus::Busy,
            _ => CallStatus::Failed,
        };
        self.finish_child(status, now)
    }

    /// The child's INVITE got no answer (timer B) or could not be sent: the next destination,
    /// else the dial failed (408 or 503).
    pub(super) fn child_lost(&mut self, signals: Signals, now: Millis) -> Option<DialEnd> {
        let child = self.child.as_mut()?;
        if child.phase != Phase::Calling {
            return None;
        }
        child.final_code = Some(if signals.timeout { 408 } else { 503 });
        if let Some(next) = child.remaining.pop() {
            return self.invite_child(next, now);
        }
        self.finish_child(CallStatus::Failed, now)
    }

    /// `<Dial timeout>` passed: a child not answered is cancelled, `no-answer`.
    pub(super) fn dial_timeout(&mut self, dial: u32, now: Millis) -> Option<DialEnd> {
        let child = self.child.as_ref()?;
        if child.dial != dial || !matches!(child.phase, Phase::Calling | Phase::Routing(_)) {
            return None;
        }
        self.cancel_child(now);
        self.finish_child(CallStatus::NoAnswer, now)
    }

    /// `<Dial timeLimit>` passed: the callee gets a BYE, the dial ends `completed`.
    pub(super) fn time_limit(&mut self, dial: u32, now: Millis) -> Option<DialEnd> {
        let child = self.child.as_ref()?;
        if child.dial != dial || child.phase != Phase::Answered {
            return None;
        }
        self.bye_child(now);
        self.finish_child(CallStatus::Completed, now)
    }

    /// The caller (or the API) ended the call: the child is cancelled or hung up.
    pub(super) fn drop_child(&mut self, now: Millis) -> Option<DialEnd> {
        let phase = self.child.as_ref()?.phase;
        match phase {
            Phase::Answered => {
                self.bye_child(now);
                self.finish_child(CallStatus::Completed, now)
            }
            Phase::Calling | Phase::Routing(_) => {
                self.cancel_child(now);
                self.finish_child(CallStatus::Canceled, now)
            }
            Phase::Ended => None,
        }
    }

    /// The callee hung up (its BYE, answered by the dispatcher).
    pub(super) fn child_hung_up(&mut self, now: Millis) -> Option<DialEnd> {
        if self.child.as_ref()?.phase != Phase::Answered {
            return None;
        }
        self.finish_child(CallStatus::Completed, now)
    }

    /// CANCELs the child's INVITE (once a provisional response came; before, at the first).
    fn cancel_child(&mut self, now: Millis) {
        if let Some(txn) = self.child.as_ref().and_then(|c| c.ict) {
            self.cancel_child_ict(txn, now);
        }
    }

    fn cancel_child_ict(&mut self, txn: u32, now: Millis) {
        let Some(Txn {
            machine: Machine::Ict(ict),
            ..
        }) = self.txns.get(txn)
        else {
            return;
        };
        let (cancel, outputs) = ict.cancel(now);
        self.txns.absorb(txn, outputs, &mut self.out);
        match cancel {
            Cancel::Send(bytes) => {
                let Some(child) = self.child.as_ref() else {
                    return;
                };
                let (flow, branch) = (child.flow, child.ids.branch.clone());
                self.send_in_dialog((true, flow), bytes, &branch, "CANCEL", Role::Plain, now);
            }
            Cancel::AfterProvisional => {
                if let Some(child) = self.child.as_mut() {
                    child.cancel_pending = true;
                }
            }
            Cancel::AlreadySent | Cancel::TooLate => {}
        }
    }

    /// A BYE to the callee in the child's dialog.
    fn bye_child(&mut self, now: Millis) {
        let local = self.local;
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let branch = Ids::branch();
        let flow = child.flow;
        let Some(bye) = child
            .dialog
            .as_mut()
            .and_then(|d| d.request("BYE", local, &branch, &[], b""))
        else {
            return;
        };
        self.send_in_dialog((true, flow), bye, &branch, "BYE", Role::Plain, now);
    }

    /// Ends the child with `status`: persisted, its `completed` event, and what the dial's
    /// `action` gets.
    fn finish_child(&mut self, status: CallStatus, now: Millis) -> Option<DialEnd> {
        let child = self.child.as_mut()?;
        child.phase = Phase::Ended;
        let _ = child.record.set_status(status, unix_ms(now));
        let record = child.record.clone();
        self.persist_record(&record);
        self.child_event(Events::COMPLETED, status.as_str());
        let child = self.child.as_ref()?;
        let outcome = DialOutcome {
            status: status.as_str(),
            call_sid: Some(child.record.sid.to_string()),
            duration: child.record.duration_secs().unwrap_or(0),
            sip_call_id: Some(child.ids.call_id.clone()),
            response_code: child.final_code,
            headers: child.final_headers.clone(),
        };
        Some(DialEnd {
            outcome,
            action: child.spec.action.clone(),
        })
    }

    /// The child's status callback for `event`, if its noun asked for it.
    fn child_event(&mut self, event: Events, status: &str) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let Some(cb) = child
            .spec
            .callback
            .as_ref()
            .filter(|c| c.events.contains(event))
        else {
            return;
        };
        let params = params::progress(&child.params, &child.record, status, child.sequence);
        child.sequence += 1;
        let req = request(&cb.url, cb.method, params);
        let sid = child.record.sid.clone();
        self.callback(&sid, req);
    }
}

/// The Request-URI for `number` at `dest`.
fn number_uri(number: &str, dest: Destination) -> String {
    format!("sip:{number}@{}{}", dest.addr, dest.wire.uri_param())
}

/// The route request for a `<Sip>` URI whose host is a name.
fn host_of(uri: &str) -> Option<RouteRequest> {
    let parsed = crate::sip_syntax::SipUri::parse(uri).ok()?;
    Some(RouteRequest::Host {
        host: parsed.host.to_owned(),
        port: parsed.port.unwrap_or(5060),
        wire: Wire::of_uri_param(parsed.param("transport")),
    })
}
