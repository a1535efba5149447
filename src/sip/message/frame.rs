//! [`Framer`] and [`frame_len`]: where the first message of a TCP byte stream ends (RFC 3261
//! §18.3).

use super::headers::{is_content_length_name, note_content_length};
use super::{MAX_MESSAGE_BYTES, ParseError};
use crate::sip_syntax::{is_wsp, keepalive_len, line_at, trim_wsp_bytes};

/// Where one stream's message under way stands, so that bytes that trickle in are each looked at
/// once: how far the search for the end of its header section got, or, once that is found, how
/// long the whole message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The first `searched` bytes of the message (after any keep-alives) hold no end of the
    /// header section.
    Head { searched: usize },
    /// The header section is in; the message is `total` bytes long.
    Body { total: usize },
}

/// The framing of one TCP (or TLS) stream (RFC 3261 §18.3): call [`Framer::next`] with the
/// stream's buffered bytes after every read, and drain the frames it gives.
#[derive(Debug, Clone)]
pub struct Framer {
    state: State,
}

impl Default for Framer {
    fn default() -> Self {
        Self {
            state: State::Head { searched: 0 },
        }
    }
}

/// The length of the first message in a stream buffer, for a buffer looked at once: see
/// [`Framer::next`], which this calls on a new [`Framer`].
///
/// # Errors
///
/// As [`Framer::next`].
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    Framer::default().next(buf)
}

impl Framer {
    /// The length of the first message in `buf`, the stream's bytes not yet drained (the same
    /// bytes as at the previous call, and perhaps more).
    ///
    /// - `Ok(Some(n))`: the first `n` bytes are a frame for [`Message::parse`]; drain them. A
    ///   frame starts with any CRLF keep-alives before the message. When keep-alives are followed
    ///   by an incomplete message (or by nothing), the frame is the keep-alives alone, and
    ///   parsing it gives [`ParseError::Empty`]: answer an RFC 5626 `CRLFCRLF` ping with a `CRLF`
    ///   pong if wanted, and drain it. (A ping split across reads shows up as two such frames.)
    /// - `Ok(None)`: more bytes are needed.
    /// - `Err(_)`: the stream cannot be framed; answer if the request can be read (see
    ///   [`super::salvage`]) and close the connection. [`ParseError::TooLarge`] if no empty line
    ///   ends the headers within [`MAX_MESSAGE_BYTES`], or if the headers say the message would
    ///   be longer (reported as soon as the headers are in, before the body arrives);
    ///   [`ParseError::MissingContentLength`] or [`ParseError::BadContentLength`] if the headers
    ///   do not give one valid length.
    ///
    /// It looks only at the keep-alives, the header section (at most [`MAX_MESSAGE_BYTES`]) and
    /// the `Content-Length` lines, never at the body. Other header lines are not validated here;
    /// a frame can still fail [`Message::parse`] (and the stream stays framed: the next message
    /// starts right after it). Each byte of a header section is searched once however the bytes
    /// trickle in (the search goes on where it stopped), and the `Content-Length` lines are read
    /// once, when the header section is complete.
    ///
    /// # Errors
    ///
    /// As listed above: [`ParseError::TooLarge`], [`ParseError::MissingContentLength`] or
    /// [`ParseError::BadContentLength`].
    ///
    /// [`Message::parse`]: super::Message::parse
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<usize>, ParseError> {
        let skip = keepalive_len(buf);
        let keepalives = (skip > 0).then_some(skip);
        let msg = &buf[skip..];
        let total = match self.state {
            State::Body { total } => total,
            State::Head { searched } => {
                let window = &msg[..msg.len().min(MAX_MESSAGE_BYTES)];
                // An end may straddle the previous search's last bytes ("\n\r" + "\n").
                let Some(head) = head_end(window, searched.saturating_sub(2)) else {
                    if msg.len() >= MAX_MESSAGE_BYTES {
                        return Err(ParseError::TooLarge);
                    }
                    self.state = State::Head {
                        searched: msg.len(),
                    };
                    return Ok(keepalives);
                };
                let body = stream_content_length(&msg[..head])?;
                let total = u64::try_from(head).unwrap_or(u64::MAX).saturating_add(body);
                if total > MAX_MESSAGE_BYTES as u64 {
                    return Err(ParseError::TooLarge);
                }
                // `total` fits in usize: it is at most MAX_MESSAGE_BYTES.
                let total = total as usize;
                self.state = State::Body { total };
                total
            }
        };
        if msg.len() >= total {
            self.state = State::Head { searched: 0 };
            Ok(Some(skip + total))
        } else {
            Ok(keepalives)
        }
    }
}

/// The `Content-Length` of a complete header section (start line through empty line), read the
/// way [`Message::parse`] reads it: folded values are unfolded, duplicates must agree.
///
/// [`Message::parse`]: super::Message::parse
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

/// Where the header section of `msg` ends (just after the empty line), looking no further than
/// `msg` and for a line break no earlier than `from`. `msg` must not start with an empty line.
fn head_end(msg: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = msg.get(i..)?.iter().position(|&b| b == b'\n') {
        let lf = i + off;
        match msg.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if msg.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}
