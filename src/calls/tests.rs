//! Tests of the call engine, without sockets: a caller's messages as bytes, fake time, and
//! fake webhook exchanges. Fixtures here; the paths in `tests/`: `app` (webhooks, fallback,
//! verbs, CANCEL, commands), `dial` (the B2BUA), `memory` (what a live call holds), `random` (random event sequences).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use url::Url;

use super::*;
use crate::domain::call::CallStatus;
use crate::voice::webhook::{Exchange, Failure, Response};

/// The UA core's fixtures: the caller's and sipmap's addresses, the caller's SDP offer, SIP text
/// as wire bytes, parsing, the caller's requests matching its INVITE, a message's first line and
/// headers.
pub(super) use crate::sip::ua::tests::{
    CALLER, LOCAL, SDP, addr, first_line, header_of, parse, sibling, wire,
};

/// The callee's address.
pub(super) const CALLEE: &str = "192.0.2.7:5070";
/// When the call starts (Unix ms).
pub(super) const T0: u64 = 1_700_000_000_000;

pub(super) const CALLEE_SDP: &str = "v=0\no=bob 2 2 IN IP4 192.0.2.7\ns=-\nc=IN IP4 192.0.2.7\n\
                                     t=0 0\nm=audio 5000 RTP/AVP 0\n";

pub(super) fn at(ms: u64) -> Millis {
    Millis(T0 + ms)
}

/// The caller's INVITE over UDP, with two X- headers and an SDP offer.
pub(super) fn invite() -> Vec<u8> {
    wire(&format!(
        "INVITE sip:+15551234567@acme.sip.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;rport\n\
         Max-Forwards: 70\n\
         To: <sip:+15551234567@acme.sip.example.com>\n\
         From: \"Alice\" <sip:alice@192.0.2.10>;tag=1928301774\n\
         Call-ID: a84b4c76e66710@192.0.2.10\n\
         CSeq: 314159 INVITE\n\
         Contact: <sip:alice@192.0.2.10:5062>\n\
         X-Customer: 42\n\
         x-trace: abc\n\
         Content-Type: application/sdp\n\
         \n{SDP}"
    ))
}

/// A request from the caller in its dialog (sipmap's tag `tag`), with a branch of its own.
pub(super) fn in_dialog(method: &str, cseq: u32, tag: &str, body: &str) -> Vec<u8> {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    };
    wire(&format!(
        "{method} sip:sipmap@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{method}{cseq};rport\n\
         Max-Forwards: 70\n\
         From: \"Alice\" <sip:alice@192.0.2.10>;tag=1928301774\n\
         To: <sip:+15551234567@acme.sip.example.com>;tag={tag}\n\
         Call-ID: a84b4c76e66710@192.0.2.10\nCSeq: {cseq} {method}\n\
         Contact: <sip:alice@192.0.2.10:5062>\n{content_type}\n{body}"
    ))
}

/// The callee's response `code` to `request` (a child INVITE, BYE…), with `body` as SDP and
/// `extra` headers.
pub(super) fn callee_response(request: &[u8], code: u16, body: &str, extra: &str) -> Vec<u8> {
    let m = parse(request);
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    };
    wire(&format!(
        "SIP/2.0 {code} {}\nVia: {}\nFrom: {}\nTo: {};tag=bob1\nCall-ID: {}\nCSeq: {}\n\
         Contact: <sip:bob@192.0.2.7:5070>\n{extra}{content_type}\n{body}",
        crate::sip::message::reason_phrase(code),
        m.header("Via").unwrap(),
        m.header("From").unwrap(),
        m.header("To").unwrap().split(";tag=").next().unwrap(),
        m.header("Call-ID").unwrap(),
        m.header("CSeq").unwrap(),
    ))
}

/// The domain's application: a voice URL, a status callback, and a fallback when `fallback`.
pub(super) fn settings(fallback: bool) -> Arc<Settings> {
    Arc::new(Settings {
        account_sid: crate::sid::AccountSid::generate(),
        domain_sid: crate::sid::SipDomainSid::generate(),
        domain_name: "acme.sip.example.com".into(),
        voice: (
            Url::parse("https://app.example.com/voice").unwrap(),
            Method::Post,
        ),
        fallback: fallback.then(|| {
            (
                Url::parse("https://backup.example.com/voice").unwrap(),
                Method::Post,
            )
        }),
        status_callback: Some((
            Url::parse("https://app.example.com/status").unwrap(),
            Method::Post,
        )),
        outbound: Arc::new(crate::domain::OutboundPolicy::default()),
    })
}

/// A call started by the caller's INVITE, with the outputs of its start.
pub(super) fn started(fallback: bool, username: Option<&str>) -> (Call, Vec<Out>) {
    let bytes = invite();
    Call::start(
        Inbound {
            invite: &bytes,
            source: addr(CALLER),
            transport: crate::sip::edge::Transport::Udp,
            local: addr(LOCAL),
            sip_username: username,
        },
        settings(fallback),
        Timers::default(),
        at(0),
    )
    .unwrap()
}

/// An exchange that brought `body` as TwiML from `url` with `status`.
pub(super) fn answered(url: &Url, status: u16, body: &str) -> Exchange {
    Exchange {
        method: Method::Post,
        url: url.to_string(),
        params: Vec::new(),
        started_at: SystemTime::UNIX_EPOCH + Duration::from_millis(T0),
        duration: Duration::from_millis(12),
        response: Some(Response {
            url: url.clone(),
            status,
            headers: vec![("content-type".into(), "text/xml".into())],
            body: Bytes::copy_from_slice(body.as_bytes()),
        }),
        result: if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(Failure {
                code: crate::voice::Code::HTTP_RETRIEVAL_FAILURE,
                message: format!("the server answered {status}"),
            })
        },
    }
}

/// The webhooks asked for.
pub(super) fn webhooks(out: &[Out]) -> Vec<(u32, WebhookRequest)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Webhook { id, request } => Some((*id, request.clone())),
            _ => None,
        })
        .collect()
}

/// The one webhook asked for.
pub(super) fn webhook(out: &[Out]) -> (u32, WebhookRequest) {
    let w = webhooks(out);
    assert_eq!(w.len(), 1, "{out:#?}");
    w.into_iter().next().unwrap()
}

/// Gives webhook `id` the document `twiml` from `url`.
pub(super) fn reply(call: &mut Call, id: u32, url: &Url, twiml: &str, now: Millis) -> Vec<Out> {
    call.on_webhook(id, &answered(url, 200, twiml), now)
}

/// The first lines of the messages sent.
pub(super) fn sent(out: &[Out]) -> Vec<String> {
    messages(out).iter().map(|b| first_line(b)).collect()
}

/// The messages sent.
pub(super) fn messages(out: &[Out]) -> Vec<Bytes> {
    out.iter()
        .filter_map(|o| match o {
            Out::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// The message sent whose first line starts with `start`.
pub(super) fn sent_one(out: &[Out], start: &str) -> Bytes {
    messages(out)
        .into_iter()
        .find(|b| first_line(b).starts_with(start))
        .unwrap_or_else(|| panic!("no {start} in {:?}", sent(out)))
}

/// The statuses persisted, in order, for the call `sid`.
pub(super) fn statuses(out: &[Out], sid: &crate::sid::CallSid) -> Vec<CallStatus> {
    out.iter()
        .filter_map(|o| match o {
            Out::Persist(Persist::Call(c)) if &c.sid == sid => Some(c.status),
            _ => None,
        })
        .collect()
}

/// The notifications persisted: code and text.
pub(super) fn notifications(out: &[Out]) -> Vec<(u32, String)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Persist(Persist::Notification(n)) => Some((n.error_code, n.message_text.clone())),
            _ => None,
        })
        .collect()
}

/// The status callbacks sent: call and parameters.
pub(super) fn callbacks(out: &[Out]) -> Vec<(crate::sid::CallSid, Vec<(String, String)>)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Callback { call_sid, request } => Some((call_sid.clone(), request.params.clone())),
            _ => None,
        })
        .collect()
}

/// The value of parameter `name`.
pub(super) fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The timers armed.
pub(super) fn timers(out: &[Out]) -> Vec<(CallTimer, Millis)> {
    out.iter()
        .filter_map(|o| match o {
            Out::Arm { timer, at } => Some((*timer, *at)),
            _ => None,
        })
        .collect()
}

/// Fires every timer armed in `out` that is due by `now`, repeatedly, gathering outputs.
pub(super) fn run_timers(call: &mut Call, out: &[Out], now: Millis) -> Vec<Out> {
    let mut pending: Vec<(CallTimer, Millis)> = timers(out);
    let mut all = Vec::new();
    while let Some(i) = pending.iter().position(|(_, at)| *at <= now) {
        let (timer, at) = pending.remove(i);
        let more = call.on_timer(timer, at);
        pending.extend(timers(&more));
        all.extend(more);
    }
    all
}

mod app;
mod dial;
mod memory;
mod random;
