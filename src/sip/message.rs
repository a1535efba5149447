//! SIP message parsing and serialisation for the stateless SIP edge (RFC 3261).
//!
//! Everything here works on bytes a peer sent, so every function is total: malformed input gives
//! a [`ParseError`], never a panic, an unbounded allocation or super-linear work.
//!
//! - [`Message::parse`] parses one complete message: a UDP datagram, or a TCP frame cut by
//!   [`frame_len`]. The start line and headers borrow from the buffer; only folded header values
//!   (RFC 3261 §7.3.1) are copied, to unfold them. The body is passed through as bytes.
//! - [`frame_len`] finds where the first message of a TCP byte stream ends (RFC 3261 §18.3).
//! - [`Via`], [`SipUri`] and [`split_header_values`] take apart the values the edge needs:
//!   Via values (to add `received`/`rport` and to relay responses) and the Request-URI (to find
//!   the domain and rewrite the host).
//! - [`write_message`] and [`Message::to_bytes`] serialise a message with CRLF line endings and a
//!   correct `Content-Length`.
//!
//! Limits ([`MAX_MESSAGE_BYTES`], [`MAX_HEADERS`], [`MAX_HEADER_BYTES`]) bound the work and memory
//! any one message can cost.
//!
//! Header values are checked only as far as framing needs: a header value may hold any UTF-8 text
//! except a bare CR (RFC 4475 §3.1.1.2 even puts NUL, BEL and DEL in a quoted display name). The
//! grammar of individual header fields is the caller's concern, with [`Via::parse`] and
//! [`SipUri::parse`] for the fields the edge interprets.

use std::borrow::Cow;
use std::fmt;

/// Largest message accepted, in bytes, not counting CRLF keep-alives before it.
pub const MAX_MESSAGE_BYTES: usize = 65_535;

/// Most header fields accepted in one message (a folded field counts once).
pub const MAX_HEADERS: usize = 128;

/// Largest header section accepted, in bytes: the start line, the header fields and the empty
/// line that ends them, with their line endings.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Why bytes could not be parsed as a SIP message, or a value as a Via or SIP URI.
///
/// Every variant means the input is unusable as sent. An edge answers a request that fails with
/// anything but [`ParseError::Empty`] with `400 Bad Request` (or `513 Message Too Large` for the
/// size limits) where it can, or drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The buffer is empty or holds nothing but CRLF keep-alives (RFC 5626 §4.4.1): not a message,
    /// and not an error worth answering.
    Empty,
    /// The message is larger than [`MAX_MESSAGE_BYTES`] (or its `Content-Length` says it will be).
    TooLarge,
    /// The start line and headers are larger than [`MAX_HEADER_BYTES`].
    HeadersTooLarge,
    /// The message has more than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// The header section is not terminated by an empty line.
    Incomplete,
    /// The start line is neither `Method SP Request-URI SP SIP/2.0` nor
    /// `SIP/2.0 SP 3DIGIT SP Reason-Phrase`, or is not valid UTF-8 free of control characters.
    BadStartLine,
    /// A header line has no colon, a name that is not a token, a bare CR, or is not valid UTF-8;
    /// or a continuation line comes before any header.
    BadHeader,
    /// A `Content-Length` is not a decimal integer, overflows, or disagrees with another one.
    BadContentLength,
    /// A message on a stream transport has no `Content-Length` (RFC 3261 §18.3).
    MissingContentLength,
    /// The body is shorter than `Content-Length` says.
    BodyTooShort,
    /// A Via value does not follow `sent-protocol LWS sent-by *( SEMI via-params )`.
    BadVia,
    /// A URI is not a well-formed `sip:` or `sips:` URI.
    BadUri,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("no SIP message: empty or only CRLF keep-alives"),
            ParseError::TooLarge => {
                write!(f, "SIP message larger than {MAX_MESSAGE_BYTES} bytes")
            }
            ParseError::HeadersTooLarge => {
                write!(f, "SIP header section larger than {MAX_HEADER_BYTES} bytes")
            }
            ParseError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} SIP header fields"),
            ParseError::Incomplete => {
                f.write_str("SIP header section not terminated by an empty line")
            }
            ParseError::BadStartLine => f.write_str("malformed SIP start line"),
            ParseError::BadHeader => f.write_str("malformed SIP header field"),
            ParseError::BadContentLength => f.write_str("malformed or conflicting Content-Length"),
            ParseError::MissingContentLength => {
                f.write_str("Content-Length is required on stream transports")
            }
            ParseError::BodyTooShort => f.write_str("SIP body shorter than its Content-Length"),
            ParseError::BadVia => f.write_str("malformed Via value"),
            ParseError::BadUri => f.write_str("malformed SIP URI"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version`.
    Request {
        /// The method, a token, as written (methods are case-sensitive and extensible).
        method: &'a str,
        /// The Request-URI as written: any `scheme:` URI of printable ASCII (no whitespace);
        /// see [`SipUri`].
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

/// Bytes allowed in a `token` (RFC 3261 §25.1): methods, header names, Via protocol parts,
/// parameter names.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_wsp(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

fn trim_wsp_bytes(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if !is_wsp(*first) {
            break;
        }
        b = rest;
    }
    while let [rest @ .., last] = b {
        if !is_wsp(*last) {
            break;
        }
        b = rest;
    }
    b
}

/// Bytes allowed in a host name or IPv4 address (plus `_`, seen in the wild).
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// Bytes allowed between the brackets of an IPv6 reference (hex, colons, and a dotted IPv4 tail).
fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Length of the CRLF (or bare LF) keep-alives at the start of `buf`.
fn keepalive_len(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i) {
            Some(b'\n') => i += 1,
            Some(b'\r') if buf.get(i + 1) == Some(&b'\n') => i += 2,
            _ => return i,
        }
    }
}

/// The line starting at `pos` and ending with LF before `limit`: returns the end of its content
/// (without the LF and one CR before it) and where the next line starts.
fn line_at(buf: &[u8], pos: usize, limit: usize) -> Option<(usize, usize)> {
    let lf = pos + buf.get(pos..limit)?.iter().position(|&b| b == b'\n')?;
    let end = if lf > pos && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

/// Where the header section of `msg` ends (just after the empty line), looking no further than
/// `msg`. `msg` must not start with an empty line.
fn head_end(msg: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = msg[i..].iter().position(|&b| b == b'\n') {
        let lf = i + off;
        match msg.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if msg.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}

/// A `Content-Length` value: one or more decimal digits, no sign, no overflow of `u64`.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

fn is_content_length_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")
}

/// Records one `Content-Length` value, rejecting one that disagrees with an earlier one.
fn note_content_length(seen: &mut Option<u64>, value: &[u8]) -> Result<(), ParseError> {
    let n = parse_content_length(value).ok_or(ParseError::BadContentLength)?;
    match *seen {
        Some(prev) if prev != n => Err(ParseError::BadContentLength),
        _ => {
            *seen = Some(n);
            Ok(())
        }
    }
}

/// A digit string that fits a port number.
fn parse_port(digits: &str, err: ParseError) -> Result<u16, ParseError> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err);
    }
    digits.parse().map_err(|_| err)
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
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
fn parse_header_line(line: &[u8]) -> Result<(&str, &str), ParseError> {
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
    /// [`ParseError::HeadersTooLarge`] or [`ParseError::TooManyHeaders`] past the limits;
    /// [`ParseError::Incomplete`] if no empty line ends the headers; [`ParseError::BadStartLine`]
    /// or [`ParseError::BadHeader`] for malformed lines; [`ParseError::BadContentLength`] or
    /// [`ParseError::BodyTooShort`] if `Content-Length` is malformed, conflicting or too large.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let msg = &buf[keepalive_len(buf)..];
        if msg.is_empty() {
            return Err(ParseError::Empty);
        }
        if msg.len() > MAX_MESSAGE_BYTES {
            return Err(ParseError::TooLarge);
        }
        // The header section, empty line included, must end within `limit`.
        let limit = msg.len().min(MAX_HEADER_BYTES);
        let unterminated = if msg.len() > MAX_HEADER_BYTES {
            ParseError::HeadersTooLarge
        } else {
            ParseError::Incomplete
        };

        let (end, mut pos) = line_at(msg, 0, limit).ok_or(unterminated)?;
        let start = parse_start_line(&msg[..end])?;

        let mut headers: Vec<Header<'a>> = Vec::with_capacity(16);
        let mut content_length: Option<u64> = None;
        // The header being read: its continuation lines may still follow.
        let mut current: Option<Header<'a>> = None;
        loop {
            let (end, next) = line_at(msg, pos, limit).ok_or(unterminated)?;
            let line = &msg[pos..end];
            pos = next;
            if let Some(&first) = line.first()
                && is_wsp(first)
            {
                let header = current.as_mut().ok_or(ParseError::BadHeader)?;
                let text = std::str::from_utf8(line).map_err(|_| ParseError::BadHeader)?;
                if line.contains(&b'\r') {
                    return Err(ParseError::BadHeader);
                }
                let segment = trim_wsp(text);
                if segment.is_empty() {
                    continue;
                }
                if header.value.is_empty() {
                    header.value = Cow::Borrowed(segment);
                } else {
                    let value = header.value.to_mut();
                    value.push(' ');
                    value.push_str(segment);
                }
                continue;
            }
            if let Some(done) = current.take() {
                if is_content_length_name(done.name.as_bytes()) {
                    note_content_length(&mut content_length, done.value.as_bytes())?;
                }
                headers.push(done);
            }
            if line.is_empty() {
                break;
            }
            if headers.len() == MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            let (name, value) = parse_header_line(line)?;
            current = Some(Header {
                name,
                value: Cow::Borrowed(value),
            });
        }

        let rest = &msg[pos..];
        let body = match content_length {
            None => rest,
            Some(n) => match usize::try_from(n) {
                Ok(n) if n <= rest.len() => &rest[..n],
                _ => return Err(ParseError::BodyTooShort),
            },
        };
        Ok(Message {
            start,
            headers,
            body,
        })
    }

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

/// The compact forms of RFC 3261 §7.3.3 and its extensions.
fn compact_form(name: &str) -> Option<&'static str> {
    let &[b] = name.as_bytes() else {
        return None;
    };
    Some(match b.to_ascii_lowercase() {
        b'a' => "Accept-Contact",
        b'b' => "Referred-By",
        b'c' => "Content-Type",
        b'd' => "Request-Disposition",
        b'e' => "Content-Encoding",
        b'f' => "From",
        b'i' => "Call-ID",
        b'j' => "Reject-Contact",
        b'k' => "Supported",
        b'l' => "Content-Length",
        b'm' => "Contact",
        b'n' => "Identity-Info",
        b'o' => "Event",
        b'r' => "Refer-To",
        b's' => "Subject",
        b't' => "To",
        b'u' => "Allow-Events",
        b'v' => "Via",
        b'x' => "Session-Expires",
        b'y' => "Identity",
        _ => return None,
    })
}

/// The canonical spelling of well-known header names.
const KNOWN_HEADERS: &[&str] = &[
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Join",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Remote-Party-ID",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Target-Dialog",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

/// The canonical spelling of a header name: compact forms are expanded (`v` → `Via`, `i` →
/// `Call-ID`) and well-known names are spelled as in their RFCs whatever their case (`via` →
/// `Via`, `CALL-ID` → `Call-ID`). Any other name is returned unchanged, borrowed from the
/// argument; canonical spellings are `'static`.
///
/// Header names are case-insensitive, so compare results with `eq_ignore_ascii_case`.
pub fn canonical_name(name: &str) -> &str {
    if let Some(long) = compact_form(name) {
        return long;
    }
    KNOWN_HEADERS
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(name))
        .unwrap_or(name)
}

/// Whether a header name as written denotes `target`, a canonical name.
fn same_header_name(name: &str, target: &str) -> bool {
    compact_form(name)
        .unwrap_or(name)
        .eq_ignore_ascii_case(target)
}

/// Splits a header value at the commas that separate list elements, ignoring commas inside
/// quoted strings (with `\` escapes), `<…>` and `[…]`. Elements are trimmed of spaces and tabs;
/// empty elements are kept (`"a,,b"` gives `["a", "", "b"]`, and `""` gives `[""]`), so callers
/// can reject them.
pub fn split_header_values(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let (mut in_quote, mut escaped) = (false, false);
    let (mut angle, mut bracket) = (0usize, 0usize);
    for (i, b) in value.bytes().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
            continue;
        }
        match b {
            b'"' => in_quote = true,
            b'<' => angle += 1,
            b'>' => angle = angle.saturating_sub(1),
            b'[' => bracket += 1,
            b']' => bracket = bracket.saturating_sub(1),
            b',' if angle == 0 && bracket == 0 => {
                out.push(trim_wsp(&value[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(trim_wsp(&value[start..]));
    out
}

/// A cursor over ASCII-delimited text.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Skips spaces and tabs, returning whether there were any.
    fn skip_wsp(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_wsp) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Takes the longest run of ASCII bytes satisfying `f` (`f` must reject non-ASCII bytes so
    /// the cut falls on a character boundary).
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii() && f(b)) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
}

/// One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// The sent-protocol as written, from the protocol name to the transport: `SIP/2.0/UDP`, or
    /// `SIP / 2.0 / UDP` if the sender put whitespace around the slashes.
    pub protocol: &'a str,
    /// The transport as written, e.g. `UDP`, `TCP`, `TLS` (any token is accepted).
    pub transport: &'a str,
    /// The sent-by host: a host name, IPv4 address, or IPv6 address without its brackets.
    pub host: &'a str,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// The parameters in order: name and, if it has one, the value as written (a quoted-string
    /// value keeps its quotes).
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Via<'a> {
    /// Parses one Via value (one element of [`split_header_values`]), allowing whitespace around
    /// `/`, `:`, `;` and `=` as the RFC 3261 grammar does. Parameter values may be tokens, hosts
    /// (including IPv6 with or without brackets) or quoted strings.
    ///
    /// # Errors
    ///
    /// [`ParseError::BadVia`] if the value does not follow the grammar, including a port above
    /// 65535 or trailing text.
    pub fn parse(value: &'a str) -> Result<Via<'a>, ParseError> {
        let bad = ParseError::BadVia;
        let mut c = Cursor {
            s: trim_wsp(value),
            pos: 0,
        };
        let nonempty = |s: &'a str| if s.is_empty() { Err(bad) } else { Ok(s) };

        // protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS.
        let mut transport = nonempty(c.take_while(is_token_byte))?;
        for _ in 0..2 {
            c.skip_wsp();
            if !c.eat(b'/') {
                return Err(bad);
            }
            c.skip_wsp();
            transport = nonempty(c.take_while(is_token_byte))?;
        }
        let protocol = &c.s[..c.pos];
        if !c.skip_wsp() {
            return Err(bad);
        }

        let host = if c.eat(b'[') {
            let host = c.take_while(is_ipv6_byte);
            if !host.contains(':') || !c.eat(b']') {
                return Err(bad);
            }
            host
        } else {
            nonempty(c.take_while(is_host_byte))?
        };

        let before_colon = c.pos;
        c.skip_wsp();
        let port = if c.eat(b':') {
            c.skip_wsp();
            Some(parse_port(c.take_while(|b| b.is_ascii_digit()), bad)?)
        } else {
            c.pos = before_colon;
            None
        };

        let mut params = Vec::new();
        loop {
            c.skip_wsp();
            if c.peek().is_none() {
                break;
            }
            if !c.eat(b';') {
                return Err(bad);
            }
            c.skip_wsp();
            let name = nonempty(c.take_while(is_token_byte))?;
            let before_equal = c.pos;
            c.skip_wsp();
            let value = if c.eat(b'=') {
                c.skip_wsp();
                Some(param_value(&mut c).ok_or(bad)?)
            } else {
                c.pos = before_equal;
                None
            };
            params.push((name, value));
        }

        Ok(Via {
            protocol,
            transport,
            host,
            port,
            params,
        })
    }

    /// The first parameter named `name` (case-insensitive): `None` if absent, `Some(None)` if
    /// present without a value (like `rport` in a request), `Some(Some(value))` otherwise.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }
}

/// A `gen-value`: a quoted string (returned with its quotes), or a token or host.
fn param_value<'a>(c: &mut Cursor<'a>) -> Option<&'a str> {
    if c.peek() == Some(b'"') {
        let rest = c.rest().as_bytes();
        let mut escaped = false;
        for (i, &b) in rest.iter().enumerate().skip(1) {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                let quoted = &c.rest()[..=i];
                c.pos += i + 1;
                return Some(quoted);
            }
        }
        return None;
    }
    let v = c.take_while(|b| is_token_byte(b) || matches!(b, b':' | b'[' | b']'));
    (!v.is_empty()).then_some(v)
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1), split into the parts the edge needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sip` or `sips`, as written (any case).
    pub scheme: &'a str,
    /// The userinfo before `@`, password included, still %-escaped; `None` if there is no `@`.
    pub user: Option<&'a str>,
    /// The host as written: a name, an IPv4 address, or an IPv6 reference in brackets.
    pub host: &'a str,
    /// The port, if given.
    pub port: Option<u16>,
    /// Everything after `host[:port]`: empty, or `;params` and/or `?headers` as written.
    pub rest: &'a str,
}

/// Bytes allowed in userinfo: unreserved, escaped, user-unreserved and password characters.
fn is_userinfo_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()%&=+$,;?/:".contains(&b)
}

impl<'a> SipUri<'a> {
    /// Parses a SIP or SIPS URI such as `sip:alice:secret@[2001:db8::1]:5060;transport=tcp`.
    ///
    /// The whole URI must be printable ASCII without `<`, `>` or `"` (strip any `<…>` from a
    /// name-addr first). The userinfo ends at the first `@`. Escapes are not decoded.
    ///
    /// # Errors
    ///
    /// [`ParseError::BadUri`] for another scheme, an empty user or host, a port above 65535,
    /// disallowed characters, or text after the host that is not `;params` or `?headers`.
    pub fn parse(uri: &'a str) -> Result<Self, ParseError> {
        let bad = ParseError::BadUri;
        let (scheme, after) = uri.split_once(':').ok_or(bad)?;
        if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
            return Err(bad);
        }
        if !after
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'))
        {
            return Err(bad);
        }
        let (user, hostport) = match after.split_once('@') {
            Some((user, hostport)) => {
                if user.is_empty() || !user.bytes().all(is_userinfo_byte) {
                    return Err(bad);
                }
                (Some(user), hostport)
            }
            None => (None, after),
        };
        let mut c = Cursor {
            s: hostport,
            pos: 0,
        };
        if c.eat(b'[') {
            let inner = c.take_while(is_ipv6_byte);
            if !inner.contains(':') || !c.eat(b']') {
                return Err(bad);
            }
        } else if c.take_while(is_host_byte).is_empty() {
            return Err(bad);
        }
        let host = &hostport[..c.pos];
        let port = if c.eat(b':') {
            Some(parse_port(c.take_while(|b| b.is_ascii_digit()), bad)?)
        } else {
            None
        };
        let rest = c.rest();
        if !(rest.is_empty() || rest.starts_with([';', '?'])) {
            return Err(bad);
        }
        Ok(SipUri {
            scheme,
            user,
            host,
            port,
            rest,
        })
    }

    /// The URI with its host replaced by `host` and its port removed, keeping the scheme,
    /// userinfo, parameters and headers: `sip:alice@10.0.0.1:5070;transport=udp` with
    /// `acme.sip.twilio.com` gives `sip:alice@acme.sip.twilio.com;transport=udp`. An IPv6
    /// address given without brackets is bracketed. `host` is inserted as given otherwise.
    pub fn with_host(&self, host: &str) -> String {
        let bracket = host.contains(':') && !host.starts_with('[');
        let user_len = self.user.map_or(0, |u| u.len() + 1);
        let mut out =
            String::with_capacity(self.scheme.len() + 3 + user_len + host.len() + self.rest.len());
        out.push_str(self.scheme);
        out.push(':');
        if let Some(user) = self.user {
            out.push_str(user);
            out.push('@');
        }
        if bracket {
            out.push('[');
        }
        out.push_str(host);
        if bracket {
            out.push(']');
        }
        out.push_str(self.rest);
        out
    }

    /// The host for comparison with domain names: without IPv6 brackets and without one trailing
    /// dot (`Example.COM.` gives `Example.COM`). Compare it case-insensitively.
    pub fn host_for_match(&self) -> &'a str {
        let host = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(self.host);
        host.strip_suffix('.').unwrap_or(host)
    }
}

/// The length of the first message in a stream buffer (RFC 3261 §18.3), for TCP and TLS.
///
/// - `Ok(Some(n))`: the first `n` bytes are a frame for [`Message::parse`]; drain them. A frame
///   starts with any CRLF keep-alives before the message. When keep-alives are followed by an
///   incomplete message (or by nothing), the frame is the keep-alives alone, and parsing it gives
///   [`ParseError::Empty`]: answer an RFC 5626 `CRLFCRLF` ping with a `CRLF` pong if wanted, and
///   drain it. (A ping split across reads shows up as two such frames.)
/// - `Ok(None)`: more bytes are needed.
/// - `Err(_)`: the stream cannot be framed; close the connection. [`ParseError::HeadersTooLarge`]
///   if no empty line ends the headers within [`MAX_HEADER_BYTES`];
///   [`ParseError::MissingContentLength`] or [`ParseError::BadContentLength`] if the headers do not
///   give one valid length; [`ParseError::TooLarge`] if the message would exceed
///   [`MAX_MESSAGE_BYTES`] (reported as soon as the headers are in, before the body arrives).
///
/// It looks only at the keep-alives, the header section (at most [`MAX_HEADER_BYTES`]) and the
/// `Content-Length` lines, never at the body. Other header lines are not validated here; a frame
/// can still fail [`Message::parse`] (and the stream stays framed: the next message starts
/// right after it). Each call scans from the start of `buf`, so a peer trickling bytes costs one
/// scan of at most [`MAX_HEADER_BYTES`] (plus keep-alives) per read.
///
/// # Errors
///
/// As listed above: [`ParseError::HeadersTooLarge`], [`ParseError::MissingContentLength`],
/// [`ParseError::BadContentLength`] or [`ParseError::TooLarge`].
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let skip = keepalive_len(buf);
    let keepalives = (skip > 0).then_some(skip);
    let msg = &buf[skip..];
    let Some(head) = head_end(&msg[..msg.len().min(MAX_HEADER_BYTES)]) else {
        return if msg.len() >= MAX_HEADER_BYTES {
            Err(ParseError::HeadersTooLarge)
        } else {
            Ok(keepalives)
        };
    };
    let body = stream_content_length(&msg[..head])?;
    let total = u64::try_from(head).unwrap_or(u64::MAX).saturating_add(body);
    if total > MAX_MESSAGE_BYTES as u64 {
        return Err(ParseError::TooLarge);
    }
    // `total` fits in usize: it is at most MAX_MESSAGE_BYTES.
    let total = total as usize;
    Ok(if msg.len() >= total {
        Some(skip + total)
    } else {
        keepalives
    })
}

/// The `Content-Length` of a complete header section (start line through empty line), read the
/// way [`Message::parse`] reads it: folded values are unfolded, duplicates must agree.
fn stream_content_length(head: &[u8]) -> Result<u64, ParseError> {
    let mut seen: Option<u64> = None;
    // The value segments of the Content-Length header being read: the first non-empty one, and
    // whether there was a second (which makes the unfolded value contain a space, so invalid).
    let mut current: Option<(&[u8], bool)> = None;
    let Some((_, mut pos)) = line_at(head, 0, head.len()) else {
        return Err(ParseError::MissingContentLength);
    };
    while let Some((end, next)) = line_at(head, pos, head.len()) {
        let line = &head[pos..end];
        pos = next;
        if line.first().is_some_and(|&b| is_wsp(b)) {
            if let Some((value, more)) = current.as_mut() {
                let segment = trim_wsp_bytes(line);
                if value.is_empty() {
                    *value = segment;
                } else if !segment.is_empty() {
                    *more = true;
                }
            }
            continue;
        }
        if let Some((value, more)) = current.take() {
            if more {
                return Err(ParseError::BadContentLength);
            }
            note_content_length(&mut seen, value)?;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':')
            && is_content_length_name(trim_wsp_bytes(&line[..colon]))
        {
            current = Some((trim_wsp_bytes(&line[colon + 1..]), false));
        }
    }
    seen.ok_or(ParseError::MissingContentLength)
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
    let mut out = Vec::with_capacity(start_len + 4 + header_len + 40 + 2 + body.len());

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

    let mut wrote_length = false;
    for (name, value) in headers {
        let is_length = is_content_length_name(name.as_bytes());
        if is_length && wrote_length {
            continue;
        }
        push_clean(&mut out, name);
        out.extend_from_slice(b": ");
        if is_length {
            push_decimal(&mut out, body.len());
            wrote_length = true;
        } else {
            push_clean(&mut out, value);
        }
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(&mut out, body.len());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Appends `s`, with any CR or LF written as a space.
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

#[cfg(test)]
mod tests;
