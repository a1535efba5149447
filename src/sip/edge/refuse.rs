//! Messages the parser (or, on TCP, the framing) refuses: answered when they can be.
//!
//! A refused message is answered when it is a request (never a response, never an `ACK`) whose
//! request line and top Via can be read: the Via says where the answer goes (RFC 3261 §18.2.2)
//! and carries the branch a client matches it by (§17.1.3), so without one there is nobody to
//! answer. From, To, Call-ID and CSeq are copied into the answer when they can be read
//! ([`salvage`] reads them past the field that broke the parse, within the message size limit).
//! The answer is `513 Message Too Large` for a message over [`MAX_MESSAGE_BYTES`] (on TCP, also
//! one whose `Content-Length` or unterminated header section says it would be), `414
//! Request-URI Too Long` for a request line over [`MAX_FIELD_BYTES`], and otherwise `400` with a
//! reason phrase saying what is wrong (`Header Field Longer Than 16384 Bytes`, `More Than 128
//! Header Fields`, `Body Shorter Than Content-Length`…; RFC 3261 §21.4.1).
//!
//! Each of the three size limits logs through `limit_log` when it bites and is counted in
//! `sipmap_sip_messages_over_limit_total`; every refused message is counted as malformed.

use std::net::SocketAddr;

use super::{Action, Edge, Transport};
use crate::limit_log::LimitLog;
use crate::sip::message::{
    MAX_FIELD_BYTES, MAX_HEADERS, MAX_MESSAGE_BYTES, ParseError, StartLine, salvage,
};
use crate::sip::metrics::Metrics;

static MESSAGE_SIZE: LimitLog = LimitLog::new("SIP message size limit");
static LINE_SIZE: LimitLog = LimitLog::new("SIP header field and request line size limit");
static HEADER_COUNT: LimitLog = LimitLog::new("SIP header field count limit");

impl Edge {
    /// `bytes` from `source` that could not be parsed (or, on a TCP connection, framed) for
    /// `error`: the answer, or nothing (see the module docs).
    pub fn refuse(
        &self,
        bytes: &[u8],
        error: ParseError,
        source: SocketAddr,
        transport: Transport,
    ) -> Action {
        self.note_limit(error, source);
        if looks_like_request(bytes) {
            Metrics::inc(&self.metrics.received);
        }
        Metrics::inc(&self.metrics.malformed);
        let Some(msg) = salvage(bytes) else {
            tracing::debug!(%source, %error, "unparseable SIP message dropped");
            return Action::Drop;
        };
        let StartLine::Request { method, .. } = msg.start else {
            return Action::Drop;
        };
        let vias = msg.vias().unwrap_or_default();
        let Some(top) = vias.first() else {
            tracing::debug!(%source, %error, "unparseable SIP request without a Via dropped");
            return Action::Drop;
        };
        let Some(req) = self.inbound(&msg, method, top, (source, transport, bytes)) else {
            return Action::Drop;
        };
        tracing::debug!(%source, %error, "unparseable SIP request answered");
        self.reply_saying(&req, error.status(), error.reason(), &[])
    }

    /// Counts and logs `error` if it is a size limit biting.
    fn note_limit(&self, error: ParseError, source: SocketAddr) {
        let m = &self.metrics;
        let (log, counter, what) = match error {
            ParseError::TooLarge => (
                &MESSAGE_SIZE,
                &m.over_limit_message,
                format_args!("a message over {MAX_MESSAGE_BYTES} bytes"),
            ),
            ParseError::FieldTooLong | ParseError::StartLineTooLong => (
                &LINE_SIZE,
                &m.over_limit_line,
                format_args!("a header field or request line over {MAX_FIELD_BYTES} bytes"),
            ),
            ParseError::TooManyHeaders => (
                &HEADER_COUNT,
                &m.over_limit_headers,
                format_args!("a message with over {MAX_HEADERS} header fields"),
            ),
            _ => return,
        };
        Metrics::inc(counter);
        log.hit(&format_args!("{} sent {what}", source.ip().to_canonical()));
    }
}

/// Whether unparseable bytes at least start like a request line (for counting). Looks at the
/// first line only, and at most at its first [`MAX_FIELD_BYTES`] bytes.
fn looks_like_request(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(MAX_FIELD_BYTES)];
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    line.windows(7).any(|w| w.eq_ignore_ascii_case(b"SIP/2.0")) && !line.starts_with(b"SIP/")
}
