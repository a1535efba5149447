//! The one SIP serialiser, [`Writer`], and [`write_message`] and [`Message::to_bytes`] built on it.
//!
//! Whatever it is given, what it writes is one message: every line ends in CRLF, a CR or LF
//! inside a start-line part, a header name or a header value is written as a space (so no value
//! can add a line, a header or a body), and `Content-Length` is the length of the body written.
//! Everything goes straight into one `Vec<u8>`, with no other allocation.

use super::headers::is_content_length_name;
use super::{Message, StartLine};

/// The reason phrase for a status code sipmap sends (RFC 3261 §21): the edge's answers and the
/// UA core's responses alike; a code without its own gets its class's.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => match code / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirection",
            4 => "Request Failure",
            5 => "Server Failure",
            _ => "Global Failure",
        },
    }
}

/// Serialises a SIP message into one buffer: [`Writer::request`] or [`Writer::response`], then
/// [`Writer::header`] for each header in the order they are to appear, then [`Writer::finish`]
/// with the body.
///
/// A `Content-Length` header given to [`Writer::header`] is skipped: [`Writer::finish`] writes
/// the right one, last, just before the body. This is what the edge sends (see `sip::edge`).
#[derive(Debug)]
pub struct Writer {
    out: Vec<u8>,
    /// Whether a `Content-Length` line is written already (only [`write_message`] places one
    /// among the headers).
    length_written: bool,
}

impl Writer {
    /// Starts a request: `method SP uri SP SIP/2.0`.
    pub fn request(method: &str, uri: &str) -> Self {
        let start = StartLine::Request {
            method,
            uri,
            version: "SIP/2.0",
        };
        Self::start(&start, 1024)
    }

    /// Starts a response: `SIP/2.0 SP code SP reason`.
    pub fn response(code: u16, reason: &str) -> Self {
        let start = StartLine::Response {
            version: "SIP/2.0",
            code,
            reason,
        };
        Self::start(&start, 512)
    }

    /// Starts a message with `start` as written, in a buffer of `capacity` bytes to begin with.
    fn start(start: &StartLine<'_>, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        match *start {
            StartLine::Request {
                method,
                uri,
                version,
            } => {
                push_clean(&mut out, method);
                out.push(b' ');
                push_clean(&mut out, uri);
                out.push(b' ');
                push_clean(&mut out, version);
            }
            StartLine::Response {
                version,
                code,
                reason,
            } => {
                push_clean(&mut out, version);
                out.push(b' ');
                push_decimal(&mut out, usize::from(code));
                out.push(b' ');
                push_clean(&mut out, reason);
            }
        }
        out.extend_from_slice(b"\r\n");
        Self {
            out,
            length_written: false,
        }
    }

    /// Adds the header `name: value`; a `Content-Length` (or `l`, any case) is skipped, since
    /// [`Writer::finish`] writes it.
    pub fn header(&mut self, name: &str, value: &str) {
        if is_content_length_name(name.as_bytes()) {
            return;
        }
        push_clean(&mut self.out, name);
        self.out.extend_from_slice(b": ");
        push_clean(&mut self.out, value);
        self.out.extend_from_slice(b"\r\n");
    }

    /// Adds `name: body_len` here, so that [`Writer::finish`] writes no other `Content-Length`.
    fn content_length_as(&mut self, name: &str, body_len: usize) {
        push_clean(&mut self.out, name);
        self.out.extend_from_slice(b": ");
        push_decimal(&mut self.out, body_len);
        self.out.extend_from_slice(b"\r\n");
        self.length_written = true;
    }

    /// Ends the headers with `Content-Length: ` and the length of `body` (unless already written
    /// in place), then the empty line and the body; returns the message.
    pub fn finish(mut self, body: &[u8]) -> Vec<u8> {
        if !self.length_written {
            self.content_length_as("Content-Length", body.len());
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(body);
        self.out
    }
}

/// Serialises a message: the start line, each `(name, value)` header as `name: value`, and the
/// body, with CRLF line endings.
///
/// `Content-Length` is always right: the first header named `Content-Length` or `l` (any case)
/// keeps its position and name but gets the body length as its value, later ones are dropped,
/// and if there was none `Content-Length` is added after the other headers. CR and LF inside a
/// start-line part, name or value are written as spaces so they cannot break the framing; names
/// are otherwise written as given and should be tokens.
pub fn write_message(start: &StartLine<'_>, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    write_impl(start, headers.iter().copied(), body)
}

fn write_impl<'h, I>(start: &StartLine<'_>, headers: I, body: &[u8]) -> Vec<u8>
where
    I: Iterator<Item = (&'h str, &'h str)> + Clone,
{
    let start_len = match start {
        StartLine::Request {
            method,
            uri,
            version,
        } => method.len() + uri.len() + version.len(),
        StartLine::Response {
            version, reason, ..
        } => version.len() + 5 + reason.len(),
    };
    let header_len: usize = headers.clone().map(|(n, v)| n.len() + v.len() + 4).sum();
    // Start line separators and CRLF, a `Content-Length: n` line, the empty line.
    let mut w = Writer::start(start, start_len + 4 + header_len + 40 + 2 + body.len());
    for (name, value) in headers {
        if !is_content_length_name(name.as_bytes()) {
            w.header(name, value);
        } else if !w.length_written {
            w.content_length_as(name, body.len());
        }
    }
    w.finish(body)
}

/// Appends `s`, with any CR or LF written as a space. Other control characters, NUL among them,
/// are written as given: they cannot end a line, and the parser accepts them in a header value
/// (a quoted-pair may escape NUL, RFC 3261 §25.1; RFC 4475 §3.1.1.2), so a well-formed message
/// passes through unchanged.
fn push_clean(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if bytes.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            bytes
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(bytes);
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

impl Message<'_> {
    /// Serialises the message with [`write_message`]: CRLF line endings, folded values written
    /// unfolded, keep-alives dropped, and `Content-Length` set to the body length.
    pub fn to_bytes(&self) -> Vec<u8> {
        write_impl(
            &self.start,
            self.headers.iter().map(|h| (h.name, &*h.value)),
            self.body,
        )
    }
}
