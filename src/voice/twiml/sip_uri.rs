//! A `<Sip>` noun's URI taken apart: the URI to send the INVITE to, its `transport`, and the
//! headers written in its query (`sip:bob@example.com;transport=tcp?X-Account=42`).

use percent_encoding::percent_decode_str;

use super::model::Transport;
use crate::sip_syntax::{SipUri, is_token_byte};

/// Twilio's bound: "a valid SIP URI under 255 characters".
const MAX_URI_LEN: usize = 255;

/// A `<Sip>` URI, split.
#[derive(Debug)]
pub(super) struct SplitUri {
    /// The URI without its `?headers` part and without an invalid `transport` parameter.
    pub uri: String,
    /// The `transport` parameter, if valid.
    pub transport: Option<Transport>,
    /// The headers of the query, %-decoded, in order.
    pub headers: Vec<(String, String)>,
    /// What was dropped, one sentence each (for 32110 warnings).
    pub dropped: Vec<String>,
}

/// Splits `text`, the noun's body, trimmed.
///
/// # Errors
///
/// Why the text is not a SIP URI at all (a 13243 warning).
pub(super) fn split(text: &str) -> Result<SplitUri, &'static str> {
    if text.len() >= MAX_URI_LEN {
        return Err("it is 255 characters or longer");
    }
    let parsed = SipUri::parse(text).map_err(|_| "it is not a sip: or sips: URI")?;
    let head = &text[..text.len() - parsed.rest.len()];
    let (params, query) = match parsed.rest.split_once('?') {
        Some((params, query)) => (params, query),
        None => (parsed.rest, ""),
    };
    let mut out = SplitUri {
        uri: head.to_owned(),
        transport: None,
        headers: Vec::new(),
        dropped: Vec::new(),
    };
    for param in params.split(';').skip(1) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        if name.eq_ignore_ascii_case("transport") {
            match transport(value) {
                Some(t) => out.transport = Some(t),
                None => {
                    out.dropped.push(format!(
                        "the parameter transport={value} is not udp, tcp or tls; it is ignored"
                    ));
                    continue;
                }
            }
        }
        out.uri.push(';');
        out.uri.push_str(param);
    }
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match header(pair) {
            Ok(h) => out.headers.push(h),
            Err(why) => out
                .dropped
                .push(format!("the header {pair} {why}; it is ignored")),
        }
    }
    Ok(out)
}

fn transport(value: &str) -> Option<Transport> {
    match value.to_ascii_lowercase().as_str() {
        "udp" => Some(Transport::Udp),
        "tcp" => Some(Transport::Tcp),
        "tls" => Some(Transport::Tls),
        _ => None,
    }
}

/// One `name=value` of the query, decoded: a custom (`X-`) header or `User-to-User`, with a
/// value that cannot break a SIP message (no control characters).
fn header(pair: &str) -> Result<(String, String), &'static str> {
    let (name, value) = pair.split_once('=').ok_or("has no value")?;
    let name = percent_decode_str(name)
        .decode_utf8()
        .map_err(|_| "is not UTF-8")?;
    let value = percent_decode_str(value)
        .decode_utf8()
        .map_err(|_| "is not UTF-8")?;
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err("has an invalid name");
    }
    let custom = name.len() > 2 && name[..2].eq_ignore_ascii_case("X-");
    if !custom && !name.eq_ignore_ascii_case("User-to-User") {
        return Err("is neither a custom X- header nor User-to-User");
    }
    if value.chars().any(char::is_control) {
        return Err("has a control character in its value");
    }
    Ok((name.into_owned(), value.into_owned()))
}
