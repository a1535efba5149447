//! The parameters of the requests a call makes, with Twilio's names
//! (twilio.com/docs/voice/twiml#request-parameters, /voice/api/sip-twiml,
//! /voice/twiml/dial#dial-action, /voice/api/call-resource#statuscallback).

use std::net::SocketAddr;

use crate::domain::call::Call as CallRecord;
use crate::sip::message::{Message, NameAddr, canonical_name};
use crate::timefmt::rfc2822;

/// Twilio's API version, which every request names.
pub(super) const API_VERSION: &str = "2010-04-01";

/// A parameter list.
pub(super) type Params = Vec<(String, String)>;

fn push(params: &mut Params, name: &str, value: &str) {
    params.push((name.to_owned(), value.to_owned()));
}

/// The caller's party as Twilio's `From` shows it: the URI of the INVITE's From.
pub(super) fn from_party(invite: &Message<'_>) -> Option<String> {
    Some(NameAddr::parse(invite.header("From")?)?.uri.to_owned())
}

/// What the inbound call's requests carry besides `CallStatus`: `CallSid`, `AccountSid`,
/// `From`, `To`, `Caller`, `Called`, `Direction`, `ApiVersion`, `SipDomain`, `SipDomainSid`,
/// `SipCallId`, `SipSourceIp`, `SipUsername` (only when given), and `SipHeader_<name>` for
/// every `X-` header of the INVITE.
pub(super) fn inbound(
    record: &CallRecord,
    domain_name: &str,
    invite: &Message<'_>,
    source: SocketAddr,
    sip_username: Option<&str>,
) -> Params {
    let mut p = Params::with_capacity(16);
    push(&mut p, "CallSid", record.sid.as_str());
    standard(&mut p, record);
    push(&mut p, "SipDomain", domain_name);
    push(&mut p, "SipDomainSid", record.domain_sid.as_str());
    push(&mut p, "SipCallId", &record.sip_call_id);
    push(&mut p, "SipSourceIp", &source.ip().to_string());
    if let Some(user) = sip_username {
        push(&mut p, "SipUsername", user);
    }
    x_headers(&mut p, "SipHeader_", invite);
    p
}

/// `<prefix><name>` for every `X-` header of `msg`, with its value.
pub(super) fn x_headers(params: &mut Params, prefix: &str, msg: &Message<'_>) {
    for h in &msg.headers {
        let name = canonical_name(h.name);
        if name.len() > 2 && name[..2].eq_ignore_ascii_case("X-") {
            params.push((format!("{prefix}{name}"), h.value.to_string()));
        }
    }
}

/// `base` with `CallStatus`.
pub(super) fn with_status(base: &Params, status: &str) -> Params {
    let mut p = base.clone();
    push(&mut p, "CallStatus", status);
    p
}

/// The outcome of a `<Dial>`, as its `action` receives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DialOutcome {
    /// `DialCallStatus`.
    pub status: &'static str,
    /// `DialCallSid`, if a child call was made.
    pub call_sid: Option<String>,
    /// `DialCallDuration`, in seconds.
    pub duration: u64,
    /// `DialSipCallId`.
    pub sip_call_id: Option<String>,
    /// `DialSipResponseCode`: the child's final SIP status.
    pub response_code: Option<u16>,
    /// `DialSipHeader_X-…`: the X- headers of the child's final response.
    pub headers: Params,
}

/// The parameters of a `<Dial action>` request: the call's, its status, and the outcome.
pub(super) fn dial_action(base: &Params, status: &str, outcome: &DialOutcome) -> Params {
    let mut p = with_status(base, status);
    push(&mut p, "DialCallStatus", outcome.status);
    if let Some(sid) = &outcome.call_sid {
        push(&mut p, "DialCallSid", sid);
        push(&mut p, "DialCallDuration", &outcome.duration.to_string());
    }
    if let Some(id) = &outcome.sip_call_id {
        push(&mut p, "DialSipCallId", id);
    }
    if let Some(code) = outcome.response_code {
        push(&mut p, "DialSipResponseCode", &code.to_string());
    }
    p.extend(outcome.headers.iter().cloned());
    p
}

/// A status callback's parameters (call progress events): `base` with `CallStatus`,
/// `CallbackSource`, `SequenceNumber`, `Timestamp` and, once ended, `CallDuration`.
pub(super) fn progress(base: &Params, record: &CallRecord, status: &str, seq: u32) -> Params {
    let mut p = with_status(base, status);
    push(&mut p, "CallbackSource", "call-progress-events");
    push(&mut p, "SequenceNumber", &seq.to_string());
    push(
        &mut p,
        "Timestamp",
        &rfc2822(record.updated_ms.div_euclid(1000)),
    );
    if let Some(d) = record.duration_secs() {
        push(&mut p, "CallDuration", &d.to_string());
    }
    p
}

/// Twilio's standard parameters after `CallSid` (and a child's `ParentCallSid`): `AccountSid`,
/// `From`, `To`, `Caller`, `Called`, `Direction`, `ApiVersion`.
fn standard(p: &mut Params, record: &CallRecord) {
    push(p, "AccountSid", record.account_sid.as_str());
    push(p, "From", &record.from);
    push(p, "To", &record.to);
    push(p, "Caller", &record.from);
    push(p, "Called", &record.to);
    push(p, "Direction", record.direction.as_str());
    push(p, "ApiVersion", API_VERSION);
}

/// What a child call's requests carry besides `CallStatus`.
pub(super) fn child(record: &CallRecord) -> Params {
    let mut p = Params::with_capacity(10);
    push(&mut p, "CallSid", record.sid.as_str());
    if let Some(parent) = &record.parent_call_sid {
        push(&mut p, "ParentCallSid", parent.as_str());
    }
    standard(&mut p, record);
    push(&mut p, "SipCallId", &record.sip_call_id);
    p
}
