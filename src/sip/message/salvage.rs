//! [`salvage`]: what can be read of a request that [`Message::parse`] refuses, to answer it.

use std::borrow::Cow;

use super::headers::same_header_name;
use super::parse::{parse_header_line, parse_start_line, unfold};
use super::{Header, MAX_FIELD_BYTES, MAX_HEADERS, MAX_MESSAGE_BYTES, Message, StartLine};
use crate::sip_syntax::{is_wsp, keepalive_len, line_at};

/// The headers an answer is built from (RFC 3261 §8.2.6.2): every Via, and the first of the
/// others.
const ANSWER_HEADERS: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];

/// Where Via is in [`ANSWER_HEADERS`].
const VIA: usize = 0;

/// Whether an unreadable header line (too long, or malformed) seems to be a Via: its text before
/// the first colon, looked for in its first 64 bytes only, names Via.
fn names_via(line: &[u8]) -> bool {
    let head = &line[..line.len().min(64)];
    head.iter().position(|&b| b == b':').is_some_and(|colon| {
        std::str::from_utf8(&head[..colon])
            .is_ok_and(|name| same_header_name(name.trim_matches([' ', '\t']), "Via"))
    })
}

/// Which of [`ANSWER_HEADERS`] a header named `name` (any case, compact or long form) is.
fn answer_header(name: &str) -> Option<usize> {
    ANSWER_HEADERS
        .iter()
        .position(|w| same_header_name(name, w))
}

/// The request in `buf` reduced to what an answer needs, when [`Message::parse`] refuses it: its
/// request line, and of its header fields every Via and the first From, To, Call-ID and CSeq
/// that can be read (no body). `None` when the first line is not a request line (a response is
/// never answered).
///
/// It reads at most [`MAX_MESSAGE_BYTES`] (after any keep-alives) line by line, up to the empty
/// line that ends the header section or the last complete line. A field is taken only if it
/// parses as [`Message::parse`] would parse it and is at most [`MAX_FIELD_BYTES`] long; any
/// other line (too long, malformed, a header past [`MAX_HEADERS`], a field not needed) is
/// skipped with its continuation lines, so a request refused for one of its headers can still
/// be answered. Vias are taken from the top down to the first that cannot be read, and no
/// further (skipping one would make the next look like the top Via, where the answer goes), and
/// at most [`MAX_HEADERS`] of them. Whether what it found is enough to answer (a top Via that
/// parses, at least) is the caller's to decide.
pub fn salvage(buf: &[u8]) -> Option<Message<'_>> {
    let msg = &buf[keepalive_len(buf)..];
    let msg = &msg[..msg.len().min(MAX_MESSAGE_BYTES)];
    let (end, mut pos) = line_at(msg, 0, msg.len())?;
    let start = parse_start_line(&msg[..end]).ok()?;
    if !matches!(start, StartLine::Request { .. }) {
        return None;
    }
    let mut headers: Vec<Header<'_>> = Vec::with_capacity(8);
    // How many of each of ANSWER_HEADERS are taken; MAX_HEADERS Vias once one cannot be read.
    let mut taken = [0usize; ANSWER_HEADERS.len()];
    // The wanted field being read: which one, and where it starts; `None` while skipping.
    let mut current: Option<(Header<'_>, usize, usize)> = None;
    while let Some((end, next)) = line_at(msg, pos, msg.len()) {
        let line = &msg[pos..end];
        let line_start = std::mem::replace(&mut pos, next);
        if line.first().is_some_and(|&b| is_wsp(b)) {
            if let Some((header, which, field_start)) = current.as_mut()
                && (end - *field_start > MAX_FIELD_BYTES || unfold(header, line).is_err())
            {
                if *which == VIA {
                    taken[VIA] = MAX_HEADERS;
                }
                current = None;
            }
            continue;
        }
        if let Some((header, which, _)) = current.take() {
            keep(&mut headers, &mut taken, header, which);
        }
        if line.is_empty() {
            break;
        }
        let parsed = (line.len() <= MAX_FIELD_BYTES)
            .then(|| parse_header_line(line).ok())
            .flatten();
        match parsed {
            Some((name, value)) => {
                if let Some(which) = answer_header(name) {
                    let header = Header {
                        name,
                        value: Cow::Borrowed(value),
                    };
                    current = Some((header, which, line_start));
                }
            }
            None if names_via(line) => taken[VIA] = MAX_HEADERS,
            None => {}
        }
    }
    if let Some((header, which, _)) = current {
        keep(&mut headers, &mut taken, header, which);
    }
    Some(Message {
        start,
        headers,
        body: &[],
    })
}

/// Adds `header`, the `which`th of [`ANSWER_HEADERS`], to `headers` unless as many as an answer
/// takes are there already: every Via up to [`MAX_HEADERS`], one of each other.
fn keep<'a>(
    headers: &mut Vec<Header<'a>>,
    taken: &mut [usize; ANSWER_HEADERS.len()],
    header: Header<'a>,
    which: usize,
) {
    let room = if which == VIA { MAX_HEADERS } else { 1 };
    if taken[which] < room {
        taken[which] += 1;
        headers.push(header);
    }
}
