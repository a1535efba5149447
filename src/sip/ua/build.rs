//! The messages the UA core writes, all with the one serialiser ([`Writer`]): responses to a
//! request or derived from an earlier response ([`response`], [`Reply`]), and the pieces of
//! requests (Via values, CSeq). Also reads what it needs back: the top Via, CSeq, a status code.
//!
//! Every message is returned as one exact-size [`Bytes`], so that a state machine holds it (and
//! hands it to its driver) without a copy or spare capacity.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::sip::message::{
    Message, Via, Writer, canonical_name, header_tag, split_header_values, stamp_via,
    write_via_head,
};
use crate::sip_syntax::Wire;

/// A written message as exact-size bytes.
pub(super) fn freeze(message: Vec<u8>) -> Bytes {
    Bytes::from(message.into_boxed_slice())
}

pub use crate::sip::message::reason_phrase;

/// What a response says beyond what it copies (see [`response`]).
#[derive(Debug, Clone, Copy)]
pub struct Reply<'a> {
    /// The status code.
    pub code: u16,
    /// The reason phrase; [`reason_phrase`] when `None`.
    pub reason: Option<&'a str>,
    /// The `To` tag to add when the copied `To` has none (ignored for 100, RFC 3261 §8.2.6.2).
    pub to_tag: Option<&'a str>,
    /// More headers, in order, after the copied ones.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body (give its `Content-Type` in `headers`).
    pub body: &'a [u8],
}

impl<'a> Reply<'a> {
    /// A response with `code`, its usual reason phrase, no tag, no extra header, no body.
    pub fn new(code: u16) -> Self {
        Self {
            code,
            reason: None,
            to_tag: None,
            headers: &[],
            body: b"",
        }
    }

    /// The same, adding `tag` to a `To` without one.
    pub fn tag(self, tag: &'a str) -> Self {
        Self {
            to_tag: Some(tag),
            ..self
        }
    }

    /// The same, with `headers` after the copied ones.
    pub fn headers(self, headers: &'a [(&'a str, &'a str)]) -> Self {
        Self { headers, ..self }
    }

    /// The same, with `body`.
    pub fn body(self, body: &'a [u8]) -> Self {
        Self { body, ..self }
    }
}

/// A response built from `from` (RFC 3261 §8.2.6.2): every Via value in order, `From`, `To`
/// (with [`Reply::to_tag`] added if it has no tag and the code is above 100), `Call-ID`, `CSeq`
/// and, for a 100, `Timestamp` (§8.2.6.1); then the reply's headers and body.
///
/// `from` is the request, with `stamp` its source address: the top Via then gets `received`
/// and, if it asks for it, `rport` (RFC 3261 §18.2.1, RFC 3581). Or `from` is an earlier
/// response to the same request (already stamped; `stamp` is `None`): how a server transaction
/// writes its later responses from the one it holds, without keeping the request.
pub fn response(from: &Message<'_>, stamp: Option<SocketAddr>, reply: &Reply<'_>) -> Bytes {
    let reason = reply.reason.unwrap_or_else(|| reason_phrase(reply.code));
    let mut w = Writer::response(reply.code, reason);
    let mut first_via = true;
    for h in &from.headers {
        let name = canonical_name(h.name);
        if name.eq_ignore_ascii_case("Via") {
            match (first_via, stamp) {
                (true, Some(source)) => w.header("Via", &stamp_first_value(&h.value, source)),
                _ => w.header("Via", &h.value),
            }
            first_via = false;
        } else if name.eq_ignore_ascii_case("To") {
            match reply.to_tag {
                Some(tag) if reply.code > 100 && header_tag(&h.value).is_none() => {
                    w.header("To", &format!("{};tag={tag}", h.value));
                }
                _ => w.header("To", &h.value),
            }
        } else if ["From", "Call-ID", "CSeq"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
            || (reply.code == 100 && name.eq_ignore_ascii_case("Timestamp"))
        {
            w.header(name, &h.value);
        }
    }
    for (name, value) in reply.headers {
        w.header(name, value);
    }
    freeze(w.finish(reply.body))
}

/// A Via header value whose first value gets `received` (and `rport` if asked for) for `source`.
fn stamp_first_value(value: &str, source: SocketAddr) -> String {
    let values = split_header_values(value);
    let mut out = String::with_capacity(value.len() + 48);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match (i, Via::parse(v)) {
            (0, Ok(via)) => stamp_via(&mut out, v, &via, source),
            _ => out.push_str(v),
        }
    }
    out
}

/// The top Via of a message: its first value, parsed.
pub fn top_via<'m>(msg: &'m Message<'_>) -> Option<Via<'m>> {
    Via::parse(top_via_value(msg)?).ok()
}

/// The top Via value of a message, as written.
pub fn top_via_value<'m>(msg: &'m Message<'_>) -> Option<&'m str> {
    split_header_values(msg.header("Via")?).into_iter().next()
}

/// The `CSeq` of a message: its number and method.
pub fn cseq<'m>(msg: &'m Message<'_>) -> Option<(u32, &'m str)> {
    let mut parts = msg.header("CSeq")?.split_ascii_whitespace();
    let number = parts.next()?.parse().ok()?;
    let method = parts.next()?;
    parts.next().is_none().then_some((number, method))
}

/// The status code of a response written by [`Writer`] (`SIP/2.0 NNN …`); `None` for anything
/// else.
pub fn status_code(bytes: &[u8]) -> Option<u16> {
    let digits = bytes.strip_prefix(b"SIP/2.0 ")?.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || bytes.get(11).is_some_and(|&b| b != b' ') {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    (100..=699).contains(&code).then_some(code)
}

/// A Via value for a request sipmap sends from `local` over `wire`: `SIP/2.0/UDP` (or `TCP`),
/// the branch, and `rport` (RFC 3581) so that answers come back to the port it sent from.
pub fn via_value(local: SocketAddr, wire: Wire, branch: &str) -> String {
    let mut out = String::with_capacity(64 + branch.len());
    write_via_head(&mut out, local, wire);
    out.push_str(branch);
    out.push_str(";rport");
    out
}

/// sipmap's Contact value for `local`: `<sip:sipmap@address:port>`, with `;transport=tcp` when
/// its peer reaches it over TCP.
pub fn contact_value(local: SocketAddr, wire: Wire) -> String {
    let transport = wire.uri_param();
    format!("<sip:sipmap@{local}{transport}>")
}

/// The headers a request derived from `from` keeps: the given canonical names, in order.
pub(super) fn copy_headers(w: &mut Writer, from: &Message<'_>, names: &[&str]) {
    for h in &from.headers {
        let name = canonical_name(h.name);
        if names.iter().any(|n| name.eq_ignore_ascii_case(n)) {
            w.header(name, &h.value);
        }
    }
}

#[cfg(test)]
mod tests;
