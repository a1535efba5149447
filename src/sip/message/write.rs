//! Serialising a message: [`write_message`] and [`Message::to_bytes`].

use super::headers::is_content_length_name;
use super::{Message, StartLine};

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
