//! SIP's grammar below every layer that reads it: [`SipUri`] (a `sip:`/`sips:` URI taken apart,
//! RFC 3261 §19.1), [`Wire`] (the transport protocol: UDP or TCP), and the lexical pieces every SIP parser shares: character classes (RFC 3261
//! §25.1), whitespace, lines and CRLF keep-alives in a byte buffer, port numbers, and a cursor
//! for walking a value.
//!
//! It imports nothing of the project, so that everything that reads SIP text uses the same rules:
//! the SIP message parser ([`crate::sip::message`], which re-exports [`SipUri`]), the domain (a
//! target's URI), the HTTP API (Resolve's Request-URI) and the voice applications (a `<Sip>`
//! noun's URI).

mod uri;
mod wire;

pub use uri::{BadUri, SipUri};
pub use wire::Wire;

/// Bytes allowed in a `token` (RFC 3261 §25.1): methods, header names, Via protocol parts,
/// parameter names.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

pub(crate) fn trim_wsp(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

pub(crate) fn trim_wsp_bytes(mut b: &[u8]) -> &[u8] {
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
pub(crate) fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// Bytes allowed between the brackets of an IPv6 reference (hex, colons, and a dotted IPv4 tail).
pub(crate) fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Length of the CRLF (or bare LF) keep-alives at the start of `buf`.
pub(crate) fn keepalive_len(buf: &[u8]) -> usize {
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
pub(crate) fn line_at(buf: &[u8], pos: usize, limit: usize) -> Option<(usize, usize)> {
    let lf = pos + buf.get(pos..limit)?.iter().position(|&b| b == b'\n')?;
    let end = if lf > pos && buf[lf - 1] == b'\r' {
        lf - 1
    } else {
        lf
    };
    Some((end, lf + 1))
}

/// A digit string that fits a port number; `err` otherwise.
pub(crate) fn parse_port<E>(digits: &str, err: E) -> Result<u16, E> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err);
    }
    digits.parse().map_err(|_| err)
}

/// A cursor over ASCII-delimited text.
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Skips spaces and tabs, returning whether there were any.
    pub(crate) fn skip_wsp(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_wsp) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Takes the longest run of ASCII bytes satisfying `f` (`f` must reject non-ASCII bytes so
    /// the cut falls on a character boundary).
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii() && f(b)) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
}
