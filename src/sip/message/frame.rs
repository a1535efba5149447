//! [`frame_len`]: where the first message of a TCP byte stream ends (RFC 3261 §18.3).

use super::headers::{is_content_length_name, note_content_length};
use super::syntax::{is_wsp, keepalive_len, line_at, trim_wsp_bytes};
use super::{MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, ParseError};

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
///
/// [`Message::parse`]: super::Message::parse
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
