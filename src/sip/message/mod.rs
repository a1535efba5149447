//! SIP message parsing and serialisation for the stateless SIP edge (RFC 3261).
//!
//! Everything here works on bytes a peer sent, so every function is total: malformed input gives
//! a [`ParseError`], never a panic, an unbounded allocation or super-linear work.
//!
//! - [`Message::parse`] parses one complete message: a UDP datagram, or a TCP frame cut by
//!   [`frame_len`]. The start line and headers borrow from the buffer; only folded header values
//!   (RFC 3261 §7.3.1) are copied, to unfold them. The body is passed through as bytes.
//! - [`frame_len`] finds where the first message of a TCP byte stream ends (RFC 3261 §18.3).
//! - [`Via`] and [`split_header_values`] take apart the values the edge needs: Via values (to
//!   add `received`/`rport` and to relay responses); the Request-URI is read with
//!   [`SipUri`](crate::sip_syntax::SipUri), which lives below (in [`crate::sip_syntax`], with the
//!   character classes and the cursor these parsers share) so that the domain and the voice
//!   applications read URIs by the same rules without importing the SIP edge.
//! - [`Writer`] is the one serialiser: what the edge sends, and [`write_message`] and
//!   [`Message::to_bytes`], are written by it, with CRLF line endings, a correct
//!   `Content-Length`, and no CR or LF inside a name or value.
//!
//! - [`salvage`] reads what it can of a request that does not parse whole (its request line,
//!   Via, From, To, Call-ID and CSeq), so that the edge can still answer it.
//!
//! Limits ([`MAX_MESSAGE_BYTES`], [`MAX_HEADERS`], [`MAX_FIELD_BYTES`]) bound the work and memory
//! any one message can cost.
//!
//! Header values are checked only as far as framing needs: a header value may hold any UTF-8 text
//! except a bare CR (RFC 4475 §3.1.1.2 even puts NUL, BEL and DEL in a quoted display name). The
//! grammar of individual header fields is the caller's concern, with [`Via::parse`] and
//! [`SipUri::parse`](crate::sip_syntax::SipUri::parse) for the fields the edge interprets.
//!
//! The files: `parse` (start line and header lines), `salvage` (a refused request, read for its
//! answer), `headers` (names, compact forms, value splitting, `Content-Length` values), `via`,
//! `name_addr` (`From`, `To`, `Contact` and `Route` values, and [`header_tag`]), `frame` (stream
//! framing), `write` (the one serialiser, and [`reason_phrase`]) and `error`.

mod error;
mod frame;
mod headers;
pub mod name_addr;
mod parse;
mod salvage;
mod via;
mod write;

use std::borrow::Cow;

pub use error::ParseError;
pub use frame::{Framer, frame_len};
pub use headers::{canonical_name, split_header_values};
pub use name_addr::{NameAddr, header_tag};
pub use salvage::salvage;
pub use via::{Via, stamp_via, write_via_head};
pub use write::{Writer, reason_phrase, write_message};

use headers::same_header_name;
// What the tests (in `tests.rs`) use of the private helpers.
#[cfg(test)]
use {
    crate::sip_syntax::{BadUri, SipUri, is_token, keepalive_len, trim_wsp},
    headers::is_content_length_name,
};

/// Largest message accepted, in bytes (64 KiB less one), start line, headers and body, not
/// counting CRLF keep-alives before it. No UDP datagram is larger (the most an IPv4 datagram
/// carries is 65,507 bytes, IPv6 65,527), so over UDP only the other limits can bite.
pub const MAX_MESSAGE_BYTES: usize = 65_535;

/// Most header fields accepted in one message (a folded field counts once).
pub const MAX_HEADERS: usize = 128;

/// Longest header field accepted, in bytes: its name, colon and value, continuation lines and
/// the line breaks between them included (not the one that ends it). The start line has the
/// same bound. (The header section as a whole is bounded only by [`MAX_MESSAGE_BYTES`].) It is
/// what the header section as a whole was held to before, so no field that was accepted then is
/// refused now.
pub const MAX_FIELD_BYTES: usize = 16 * 1024;

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method, a token, as written (methods are case-sensitive and extensible).
        method: &'a str,
        /// The Request-URI as written: any `scheme:` URI of printable ASCII (no whitespace);
        /// see [`SipUri`](crate::sip_syntax::SipUri).
        uri: &'a str,
        /// The version as written: `SIP/2.0` in any case.
        version: &'a str,
    },
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response {
        /// The version as written: `SIP/2.0` in any case.
        version: &'a str,
        /// The status code, 100 to 699.
        code: u16,
        /// The reason phrase as written; may be empty or contain spaces and UTF-8.
        reason: &'a str,
    },
}

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name as written (compact or long form, any case), without whitespace.
    pub name: &'a str,
    /// The value, trimmed of spaces and tabs. Folded continuation lines are unfolded: each line
    /// break and the whitespace around it become one space (RFC 3261 §7.3.1); only then is the
    /// value copied instead of borrowed.
    pub value: Cow<'a, str>,
}

/// A parsed SIP message borrowing from the buffer it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The request or status line.
    pub start: StartLine<'a>,
    /// The header fields in the order received.
    pub headers: Vec<Header<'a>>,
    /// The body: `Content-Length` bytes if that header is present, else the rest of the buffer.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// Whether this is a request (rather than a response).
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request; `None` for a response.
    pub fn method(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request as written; `None` for a response.
    pub fn uri(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response; `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The value of the first header named `name`, compared case-insensitively and with compact
    /// forms expanded on both sides (`header("v")`, `header("VIA")` and `header("Via")` all find
    /// a `v:` or a `Via:` header; see [`canonical_name`]).
    pub fn header(&self, name: &str) -> Option<&str> {
        let target = canonical_name(name);
        self.headers
            .iter()
            .find(|h| same_header_name(h.name, target))
            .map(|h| &*h.value)
    }

    /// The first `From` and `To` values (long or compact form, any case), in one pass over the
    /// headers: what the decisions record keeps of every request, cheaper than two lookups.
    pub fn from_and_to(&self) -> (Option<&str>, Option<&str>) {
        let (mut from, mut to) = (None, None);
        for h in &self.headers {
            let n = h.name.as_bytes();
            let slot = match n.len() {
                1 if n[0].eq_ignore_ascii_case(&b'f') => &mut from,
                1 if n[0].eq_ignore_ascii_case(&b't') => &mut to,
                2 if n.eq_ignore_ascii_case(b"to") => &mut to,
                4 if n.eq_ignore_ascii_case(b"from") => &mut from,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(&*h.value);
            }
            if from.is_some() && to.is_some() {
                break;
            }
        }
        (from, to)
    }

    /// Every header named `name` (as for [`Message::header`]), in order.
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Header<'a>> {
        let target = canonical_name(name);
        self.headers
            .iter()
            .filter(move |h| same_header_name(h.name, target))
    }

    /// Every Via value, top first, across all Via headers and the comma-separated values within
    /// each.
    ///
    /// Fails with [`ParseError::BadVia`] if any value is malformed (or empty, as in `Via: a,,b`):
    /// silently skipping one would make the next value look like the top Via.
    ///
    /// # Errors
    ///
    /// [`ParseError::BadVia`] if any Via value does not parse with [`Via::parse`].
    pub fn vias(&self) -> Result<Vec<Via<'_>>, ParseError> {
        let mut out = Vec::new();
        for header in self.headers_named("Via") {
            for value in split_header_values(&header.value) {
                out.push(Via::parse(value)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
