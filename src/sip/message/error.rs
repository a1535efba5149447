//! [`ParseError`]: why bytes are not a SIP message, or a value not a Via.

use std::fmt;

use super::{MAX_FIELD_BYTES, MAX_HEADERS, MAX_MESSAGE_BYTES};

/// Why bytes could not be parsed as a SIP message, or a value as a Via.
///
/// Every variant means the input is unusable as sent. An edge answers a request that fails with
/// anything but [`ParseError::Empty`] where it can read enough of it (see [`super::salvage`]):
/// `513 Message Too Large` for [`ParseError::TooLarge`], `414 Request-URI Too Long` for
/// [`ParseError::StartLineTooLong`], otherwise `400` with a reason phrase that says what is wrong
/// ([`ParseError::reason`]); it drops it otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The buffer is empty or holds nothing but CRLF keep-alives (RFC 5626 §4.4.1): not a message,
    /// and not an error worth answering.
    Empty,
    /// The message is larger than [`MAX_MESSAGE_BYTES`] (or, on a stream, its `Content-Length`
    /// says it will be, or its header section does not end within that many bytes).
    TooLarge,
    /// The start line is longer than [`MAX_FIELD_BYTES`].
    StartLineTooLong,
    /// A header field is longer than [`MAX_FIELD_BYTES`].
    FieldTooLong,
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
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("no SIP message: empty or only CRLF keep-alives"),
            ParseError::TooLarge => {
                write!(f, "SIP message larger than {MAX_MESSAGE_BYTES} bytes")
            }
            ParseError::StartLineTooLong => {
                write!(f, "SIP start line longer than {MAX_FIELD_BYTES} bytes")
            }
            ParseError::FieldTooLong => {
                write!(f, "SIP header field longer than {MAX_FIELD_BYTES} bytes")
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
        }
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    /// The reason phrase of the answer to a request refused for this (RFC 3261 §21.4.1: "SHOULD
    /// identify the syntax problem in more detail").
    pub fn reason(self) -> &'static str {
        match self {
            ParseError::TooLarge => "Message Too Large",
            ParseError::StartLineTooLong => "Request-URI Too Long",
            ParseError::FieldTooLong => "Header Field Longer Than 16384 Bytes",
            ParseError::TooManyHeaders => "More Than 128 Header Fields",
            ParseError::Incomplete => "Header Section Not Terminated",
            ParseError::BadHeader => "Malformed Header Field",
            ParseError::BadContentLength => "Malformed Content-Length",
            ParseError::MissingContentLength => "Missing Content-Length",
            ParseError::BodyTooShort => "Body Shorter Than Content-Length",
            ParseError::BadStartLine => "Malformed Request Line",
            ParseError::BadVia => "Malformed Via",
            ParseError::Empty => "Bad Request",
        }
    }

    /// The status of the answer to a request refused for this: 513, 414 or 400.
    pub fn status(self) -> u16 {
        match self {
            ParseError::TooLarge => 513,
            ParseError::StartLineTooLong => 414,
            _ => 400,
        }
    }
}
