//! Header names and values: compact forms and canonical spellings, splitting a value into its
//! comma-separated elements, and reading `Content-Length` values.

use super::ParseError;
use crate::sip_syntax::trim_wsp;

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
pub(super) fn same_header_name(name: &str, target: &str) -> bool {
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

/// Whether a header name is `Content-Length` or its compact form `l`, in any case.
pub(super) fn is_content_length_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")
}

/// Records one `Content-Length` value, rejecting one that disagrees with an earlier one.
pub(super) fn note_content_length(seen: &mut Option<u64>, value: &[u8]) -> Result<(), ParseError> {
    let n = parse_content_length(value).ok_or(ParseError::BadContentLength)?;
    match *seen {
        Some(prev) if prev != n => Err(ParseError::BadContentLength),
        _ => {
            *seen = Some(n);
            Ok(())
        }
    }
}
