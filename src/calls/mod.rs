//! The call engine (issue 17): one [`Call`] per call to a SIP domain with a `VoiceUrl`, a
//! sans-IO state machine like [`Edge`](crate::sip::edge::Edge): every event (a SIP message of
//! the call, a timer, a webhook's outcome, BYOC targets resolved, a command from the API, a
//! failed send) goes in with the time, and what the runtime must do comes out as [`Out`]s,
//! in order. No socket, clock, database or HTTP client here: the runtime owns them.
//!
//! ## What a runtime does
//!
//! - An admitted INVITE without To tag for a domain with a `VoiceUrl` whose [`RouteKey`]s
//!   ([`RouteKey::of`]) match no live call: [`Call::start`]; register the call under
//!   [`Call::keys`] (and each [`Out::Register`] that comes later). Any later message whose
//!   [`RouteKey::of`] finds the call: [`Call::on_message`] (or [`Call::on_parsed`], with the
//!   message the runtime parsed to find it). Retransmitted INVITEs find their call this way
//!   too, so they never start a second one (nor a second webhook).
//! - Perform every [`Out`] in order. [`Out::Persist`] must be durable before anything after it
//!   is reported: a status change is stored before its status callback goes out (the
//!   persists between two outputs seen outside may be stored together, in one transaction).
//!   [`Out::Webhook`]: sign with the account's auth token (the call never holds it), send with
//!   [`WebhookClient`](crate::voice::webhook::WebhookClient), and give the
//!   [`Exchange`](crate::voice::webhook::Exchange) back to
//!   [`Call::on_webhook`]. [`Out::Callback`]: send it, never wait for it, and store its event
//!   ([`event_of`]). [`Out::Arm`]: call [`Call::on_timer`] at that instant or later (timers are
//!   never cancelled; a stale one is ignored). [`Out::Route`]: resolve and call
//!   [`Call::on_resolved`]. [`Out::Ended`]: drop the call and its keys.
//! - [`Call::on_command`] for an update through the API (the runtime implements [`Control`],
//!   through which the API's updates arrive); [`Call::on_send_failed`] when a send
//!   of this call failed.
//!
//! Time is [`Millis`] since the Unix epoch: the same number is a SIP timer's instant and a
//! record's date.
//!
//! ## The call flow
//!
//! `100 Trying` at once and `180 Ringing`, then the `VoiceUrl` (Twilio's parameters: `params`);
//! its failure tries `VoiceFallbackUrl` once, with `ErrorCode` and `ErrorUrl`. The document's
//! verbs run in order (`script`): `<Reject reason="busy">` 486 (status `busy`), `<Reject>` 404
//! (`no-answer`), `<Redirect>` fetches the next document (at most [`MAX_DOCUMENTS`] per call,
//! then 11215), `<Hangup>` or the end of the document ends the call (603 Decline before the
//! answer, BYE after it; `completed`). A verb that needs media gets `501 Not Implemented`, a
//! notification naming it and status `failed`; an application that gives no usable document
//! gets `500` and `failed`, with the notification of its error code.
//!
//! `<Dial>` makes the call a back-to-back user agent (`child`): a child call with its own
//! `CA…`, Call-ID and tags calls the first party of the `<Dial>` (`<Sip>`, or `<Number byoc>`
//! through the targets [`Call::on_resolved`] gives, tried in order); its provisional responses
//! are relayed to the caller (SDP included), its `200` answers the caller with the callee's
//! SDP, both ACKs are sent, and BYE, re-INVITE (its SDP relayed both ways, delayed offers
//! included: `relay`) and CANCEL are mapped between the legs; OPTIONS is answered, other
//! methods get 405. `timeout` (ring time) ends it `no-answer`, 486/600 `busy`, any other failure `failed`,
//! `timeLimit` ends the bridged call. Then `action` gets `DialCallStatus`, `DialCallSid`,
//! `DialCallDuration`, `DialSipCallId`, `DialSipResponseCode` and `DialSipHeader_X-…`, and its
//! document continues the call; without `action` the verbs after the `<Dial>` run.
//!
//! Decisions where Twilio's behaviour cannot be followed without media: the caller is always
//! answered when the callee answers, as with `answerOnBridge="true"` (sipmap has no SDP of its
//! own to answer with earlier); only the first party of a `<Dial>` is called (the others get a
//! warning); a `<Dial>` after the caller was answered cannot renegotiate the caller's media and
//! ends the call with a notification.
//!
//! The files, each using only those before it: `params` (Twilio's request parameters), `txns`
//! (the call's SIP transactions and how their outputs become [`Out`]s), `record` (status
//! changes, events, notifications, status callbacks), `caller` (the caller's leg), `child`
//! (the `<Dial>` leg), `relay` (requests between the bridged legs), `script` (webhooks and
//! verbs), `dispatch` (the events); and beside them `control`, the API's way in ([`Control`]). The memory a live call holds is measured by the test
//! `a_live_bridged_call_holds_less_than_16_kb` (about 10 KB).

mod caller;
mod child;
pub mod control;
mod dispatch;
mod params;
mod record;
mod relay;
mod script;
mod txns;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use url::Url;

use crate::domain::OutboundPolicy;
use crate::domain::call::{Call as CallRecord, CallEvent, Notification};
use crate::sid::{AccountSid, ByocTrunkSid, CallSid, SipDomainSid};
use crate::sip::edge::Transport;
use crate::sip::message::{Message, NameAddr};
use crate::sip::ua::{Dialog, Millis, Timer, Timers};
use crate::sip_syntax::Wire;
use crate::voice::twiml::{Method, Verb};
use crate::voice::webhook::WebhookRequest;

pub use control::{Control, Delivery, NoRuntime};
pub use record::event_of;

/// How many TwiML documents one call may fetch (the voice URL, fallbacks, redirects, dial
/// actions, API redirects); the next is refused with 11215.
pub const MAX_DOCUMENTS: u32 = 50;

/// A domain's voice application, as the call needs it (the auth token is not here: the
/// runtime signs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The domain's account.
    pub account_sid: AccountSid,
    /// The domain.
    pub domain_sid: SipDomainSid,
    /// Its name (`SipDomain`).
    pub domain_name: String,
    /// `VoiceUrl` and `VoiceMethod`.
    pub voice: (Url, Method),
    /// `VoiceFallbackUrl` and `VoiceFallbackMethod`.
    pub fallback: Option<(Url, Method)>,
    /// `VoiceStatusCallbackUrl` and `VoiceStatusCallbackMethod`.
    pub status_callback: Option<(Url, Method)>,
    /// Where the operator lets sipmap send for a tenant: a `<Sip>` URI's IP address outside it
    /// is never called (a host name's addresses are judged where it is resolved).
    pub outbound: Arc<OutboundPolicy>,
}

/// The INVITE that starts a call, and what the edge knows about it.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The INVITE as received.
    pub invite: &'a [u8],
    /// Where it came from.
    pub source: SocketAddr,
    /// UDP or the TCP connection it came on.
    pub transport: Transport,
    /// sipmap's address (Via, Contact).
    pub local: SocketAddr,
    /// The digest username, when a credential list admitted the call (`SipUsername`).
    pub sip_username: Option<&'a str>,
}

/// Which dialog leg of a call a message belongs to: its Call-ID and a tag (the caller's From
/// tag, or the tag sipmap gave its own child INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteKey {
    /// The Call-ID.
    pub call_id: Box<str>,
    /// The tag.
    pub tag: Box<str>,
}

impl RouteKey {
    /// The keys a message may be registered under, to look up in turn: (Call-ID, From tag),
    /// then (Call-ID, To tag). A request from the caller carries the caller's From tag; a
    /// response from the callee and a request to sipmap in the child dialog carry the child's
    /// tag in From or To.
    pub fn of(msg: &Message<'_>) -> Vec<RouteKey> {
        let Some(call_id) = msg.header("Call-ID") else {
            return Vec::new();
        };
        ["From", "To"]
            .into_iter()
            .filter_map(|h| NameAddr::parse(msg.header(h)?)?.tag())
            .map(|tag| RouteKey::new(call_id, tag))
            .collect()
    }

    fn new(call_id: &str, tag: &str) -> Self {
        Self {
            call_id: call_id.into(),
            tag: tag.into(),
        }
    }
}

/// A timer of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallTimer {
    /// A timer of the call's SIP transaction `txn`.
    Sip {
        /// The transaction's number within the call.
        txn: u32,
        /// Which of its timers.
        timer: Timer,
    },
    /// `<Dial timeout>`: the child rang too long (the dial's number within the call).
    DialTimeout(u32),
    /// `<Dial timeLimit>`: the bridged call lasted too long.
    TimeLimit(u32),
}

/// Something a `<Dial>` must have resolved: a BYOC trunk's targets, or a SIP URI's host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteRequest {
    /// `<Number byoc>`: the destinations of the trunk's connection policy, in the order to try
    /// (priority, weight, health, as the edge selects).
    Byoc {
        /// The trunk.
        trunk: ByocTrunkSid,
        /// The number dialled.
        number: String,
    },
    /// `<Number>` without `byoc`: where numbers go on this deployment (none: the dial fails).
    Number {
        /// The number dialled.
        number: String,
    },
    /// `<Sip>` whose host is a name: its addresses (as the outbound policy allows).
    Host {
        /// The host name.
        host: String,
        /// The port (5060 if the URI names none).
        port: u16,
        /// UDP, or TCP for `transport=tcp`.
        wire: Wire,
    },
}

/// An update of a live call through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `Status=completed`: end the call, answered or not, on both legs.
    Complete,
    /// `Status=canceled`: end the call if it is not answered yet.
    Cancel,
    /// `Url` and `Method`: fetch that document and run it instead.
    Redirect(Url, Method),
    /// `Twiml`: run this document instead.
    Twiml(String),
}

/// What to persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persist {
    /// The call's record, or its child's, as it now is.
    Call(Box<CallRecord>),
    /// An HTTP request made for a call.
    Event(Box<CallEvent>),
    /// An error or warning of a call.
    Notification(Box<Notification>),
}

/// One thing the runtime must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Send `bytes` to `to` over `via`.
    Send {
        /// The address.
        to: SocketAddr,
        /// UDP, the TCP connection, or the edge's own connection to `to`.
        via: Transport,
        /// The message.
        bytes: Bytes,
    },
    /// Call [`Call::on_timer`] with `timer` at `at` or later.
    Arm {
        /// Which timer.
        timer: CallTimer,
        /// When.
        at: Millis,
    },
    /// Sign and send this webhook and give its exchange to [`Call::on_webhook`] with `id`.
    Webhook {
        /// Its number within the call.
        id: u32,
        /// The request.
        request: WebhookRequest,
    },
    /// Sign and send this status callback; do not wait for it.
    Callback {
        /// The call it reports on (the parent or its child).
        call_sid: CallSid,
        /// The request.
        request: WebhookRequest,
    },
    /// Store this, durably, before going on.
    Persist(Persist),
    /// Resolve this and give the destinations to [`Call::on_resolved`] with `id`.
    Route {
        /// Its number within the call.
        id: u32,
        /// What to resolve.
        request: RouteRequest,
    },
    /// Route the messages of this key to this call too (the child leg's).
    Register(RouteKey),
    /// The call is over: drop it and its keys.
    Ended,
}

/// The caller's leg: its INVITE transaction, its dialog, and the offer its INVITE carried.
#[derive(Debug)]
struct Caller {
    /// The INVITE server transaction's number (see `txns`).
    ist: u32,
    /// The dialog, sipmap as UAS.
    dialog: Dialog,
    /// The INVITE's CSeq number.
    cseq: u32,
    /// The INVITE's body and `Content-Type` (the SDP offer the child INVITE carries).
    offer: Option<(Box<str>, Bytes)>,
    /// Whether sipmap answered it (a 2xx went out).
    answered: bool,
    /// Whether a final response or a BYE ended its side.
    ended: bool,
}

/// What the call is waiting for from its application.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    /// The voice URL's document.
    Voice,
    /// The fallback URL's.
    Fallback,
    /// A `<Redirect>`'s or an API redirect's.
    Redirect,
    /// A `<Dial action>`'s.
    Action,
}

/// A webhook in flight, or the one the running document came from.
#[derive(Debug, Clone)]
struct Pending {
    id: u32,
    purpose: Purpose,
    request: WebhookRequest,
}

/// The ACK of a 2xx to an INVITE that carried no offer (delayed offer, RFC 3264): the 2xx
/// carried the offer, so the ACK must carry the answer, which only the other leg's ACK brings.
#[derive(Debug)]
struct DeferredAck {
    /// Whether it goes to the child's leg (else the caller's).
    to_child: bool,
    /// The CSeq number of the INVITE it acknowledges.
    cseq: u32,
    /// Its branch.
    branch: String,
    /// The ACK once sent, resent for each retransmitted 2xx.
    sent: Option<Bytes>,
}

/// One call: the caller's leg, at most one `<Dial>` leg, the application's state, and the
/// stored record. See the module documentation.
#[derive(Debug)]
pub struct Call {
    app: std::sync::Arc<Settings>,
    record: CallRecord,
    local: SocketAddr,
    timers: Timers,
    caller: Caller,
    txns: txns::Txns,
    /// The parameters every request about the call carries (all but `CallStatus`).
    params: Vec<(String, String)>,
    /// The verbs still to run.
    verbs: VecDeque<Verb>,
    pending: Option<Pending>,
    /// The request the running document came from.
    current: Option<Pending>,
    documents: u32,
    child: Option<Box<child::Child>>,
    /// An ACK waiting for the answer the other leg's ACK carries.
    deferred_ack: Option<Box<DeferredAck>>,
    /// Numbers for webhooks, routes, dials and transactions.
    next_id: u32,
    /// The status callbacks' `SequenceNumber`.
    sequence: u32,
    ended: bool,
    /// Whether [`Out::Ended`] went out.
    gone: bool,
    out: Vec<Out>,
}

impl Call {
    /// The call's SID.
    pub fn sid(&self) -> &CallSid {
        &self.record.sid
    }

    /// The call's record as it now is.
    pub fn record(&self) -> &CallRecord {
        &self.record
    }

    /// The child call's record, while a `<Dial>` leg exists.
    pub fn child_record(&self) -> Option<&CallRecord> {
        self.child.as_ref().map(|c| &c.record)
    }

    /// Whether the call has ended.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The keys to route the caller's messages to this call by (see [`RouteKey::of`]).
    pub fn keys(&self) -> Vec<RouteKey> {
        vec![RouteKey::new(
            self.caller.dialog.call_id(),
            self.caller.dialog.remote_tag(),
        )]
    }

    /// A new number for a webhook, route, dial or transaction.
    fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// The outputs gathered since the last event.
    fn take(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests;
