//! [`Message::parse`]: one complete message from bytes, with its start line and header lines.

use std::borrow::Cow;

use super::headers::{is_content_length_name, note_content_length};
use super::{
    Header, MAX_FIELD_BYTES, MAX_HEADERS, MAX_MESSAGE_BYTES, Message, ParseError, StartLine,
};
use crate::sip_syntax::{is_token, is_wsp, keepalive_len, line_at, trim_wsp};

pub(super) fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    let bad = ParseError::BadStartLine;
    let text = std::str::from_utf8(line).map_err(|_| bad)?;
    if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(bad);
    }
    if text.len() >= 4 && text.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        let (version, after) = text.split_once(' ').ok_or(bad)?;
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(bad);
        }
        let ab = after.as_bytes();
        if ab.len() < 3 || !ab[..3].iter().all(u8::is_ascii_digit) {
            return Err(bad);
        }
        let reason = match ab.get(3) {
            None => "",
            Some(b' ') => &after[4..],
            Some(_) => return Err(bad),
        };
        let code = ab[..3]
            .iter()
            .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        if !(100..=699).contains(&code) {
            return Err(bad);
        }
        Ok(StartLine::Response {
            version,
            code,
            reason,
        })
    } else {
        let (method, rest) = text.split_once(' ').ok_or(bad)?;
        let (uri, version) = rest.rsplit_once(' ').ok_or(bad)?;
        if !is_token(method) || !version.eq_ignore_ascii_case("SIP/2.0") || !is_request_uri(uri) {
            return Err(bad);
        }
        Ok(StartLine::Request {
            method,
            uri,
            version,
        })
    }
}

/// `scheme ":" …` with printable ASCII only (SIP-URI, SIPS-URI or absoluteURI; RFC 3261 §25.1).
fn is_request_uri(uri: &str) -> bool {
    let b = uri.as_bytes();
    let Some(colon) = b.iter().position(|&c| c == b':') else {
        return false;
    };
    colon > 0
        && b[0].is_ascii_alphabetic()
        && b[..colon]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        && b.iter().all(|&c| c.is_ascii_graphic())
}

/// Splits a header line (not a continuation) into its name and trimmed value.
pub(super) fn parse_header_line(line: &[u8]) -> Result<(&str, &str), ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::BadHeader)?;
    if line.contains(&b'\r') {
        return Err(ParseError::BadHeader);
    }
    let (name, value) = text.split_once(':').ok_or(ParseError::BadHeader)?;
    let name = name.trim_end_matches([' ', '\t']);
    if !is_token(name) {
        return Err(ParseError::BadHeader);
    }
    Ok((name, trim_wsp(value)))
}

impl<'a> Message<'a> {
    /// Parses one complete message: a UDP datagram, or a stream frame cut by [`frame_len`].
    ///
    /// CRLF keep-alives before the start line are skipped; a buffer holding nothing else gives
    /// [`ParseError::Empty`]. Lines may end in CRLF or a bare LF. If `Content-Length` is present
    /// the body is exactly that many bytes and anything after it is ignored (RFC 3261 §18.3 for
    /// datagrams); otherwise the body is the rest of the buffer.
    ///
    /// # Errors
    ///
    /// [`ParseError::Empty`] for keep-alives only; [`ParseError::TooLarge`],
    /// [`ParseError::StartLineTooLong`], [`ParseError::FieldTooLong`] or
    /// [`ParseError::TooManyHeaders`] past the limits (the first met, reading from the start);
    /// [`ParseError::Incomplete`] if no empty line ends the headers; [`ParseError::BadStartLine`]
    /// or [`ParseError::BadHeader`] for malformed lines; [`ParseError::BadContentLength`] or
    /// [`ParseError::BodyTooShort`] if `Content-Length` is malformed, conflicting or too large.
    ///
    /// [`frame_len`]: super::frame_len
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let msg = &buf[keepalive_len(buf)..];
        if msg.is_empty() {
            return Err(ParseError::Empty);
        }
        if msg.len() > MAX_MESSAGE_BYTES {
            return Err(ParseError::TooLarge);
        }
        let (end, pos) = line_at(msg, 0, msg.len()).ok_or(ParseError::Incomplete)?;
        if end > MAX_FIELD_BYTES {
            return Err(ParseError::StartLineTooLong);
        }
        let start = parse_start_line(&msg[..end])?;
        let section = parse_headers(msg, pos)?;
        let rest = &msg[section.end..];
        let body = match section.content_length {
            None => rest,
            Some(n) => match usize::try_from(n) {
                Ok(n) if n <= rest.len() => &rest[..n],
                _ => return Err(ParseError::BodyTooShort),
            },
        };
        Ok(Message {
            start,
            headers: section.headers,
            body,
        })
    }
}

/// The header fields of a message, parsed.
struct HeaderSection<'a> {
    headers: Vec<Header<'a>>,
    /// The `Content-Length`, if given (all given agree).
    content_length: Option<u64>,
    /// Where the body starts: just after the empty line.
    end: usize,
}

/// Parses the header lines of `msg` from `pos` through the empty line, which must come before
/// the end of `msg` (else [`ParseError::Incomplete`]). Continuation lines are unfolded into the
/// header before them; no field may be longer than [`MAX_FIELD_BYTES`].
fn parse_headers(msg: &[u8], mut pos: usize) -> Result<HeaderSection<'_>, ParseError> {
    let mut headers: Vec<Header<'_>> = Vec::with_capacity(16);
    let mut content_length: Option<u64> = None;
    // The header being read (its continuation lines may still follow), and where it starts.
    let mut current: Option<Header<'_>> = None;
    let mut field_start = pos;
    loop {
        let (end, next) = line_at(msg, pos, msg.len()).ok_or(ParseError::Incomplete)?;
        let line = &msg[pos..end];
        if let Some(&first) = line.first()
            && is_wsp(first)
        {
            let header = current.as_mut().ok_or(ParseError::BadHeader)?;
            if end - field_start > MAX_FIELD_BYTES {
                return Err(ParseError::FieldTooLong);
            }
            unfold(header, line)?;
            pos = next;
            continue;
        }
        (field_start, pos) = (pos, next);
        if let Some(done) = current.take() {
            if is_content_length_name(done.name.as_bytes()) {
                note_content_length(&mut content_length, done.value.as_bytes())?;
            }
            headers.push(done);
        }
        if line.is_empty() {
            return Ok(HeaderSection {
                headers,
                content_length,
                end: pos,
            });
        }
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        if line.len() > MAX_FIELD_BYTES {
            return Err(ParseError::FieldTooLong);
        }
        let (name, value) = parse_header_line(line)?;
        current = Some(Header {
            name,
            value: Cow::Borrowed(value),
        });
    }
}

/// Adds a continuation line (RFC 3261 §7.3.1) to `header`: its text, trimmed, after one space.
pub(super) fn unfold<'a>(header: &mut Header<'a>, line: &'a [u8]) -> Result<(), ParseError> {
    let text = std::str::from_utf8(line).map_err(|_| ParseError::BadHeader)?;
    if line.contains(&b'\r') {
        return Err(ParseError::BadHeader);
    }
    let segment = trim_wsp(text);
    if segment.is_empty() {
        return Ok(());
    }
    if header.value.is_empty() {
        header.value = Cow::Borrowed(segment);
    } else {
        let value = header.value.to_mut();
        value.push(' ');
        value.push_str(segment);
    }
    Ok(())
}
