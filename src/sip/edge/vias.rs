//! Via values as the edge reads and rewrites them: its own Via, the client's Via stamped with
//! `received`/`rport`, and where a response goes.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use super::Edge;
use super::branch::BRANCH_PREFIX;
use crate::sip::message::{Message, Via, canonical_name, split_header_values};

impl Edge {
    /// Whether a Via was put there by this edge.
    pub(super) fn is_ours(&self, via: &Via<'_>) -> bool {
        matches!(via.param("branch"), Some(Some(b)) if b.starts_with(BRANCH_PREFIX))
            && via.host.parse::<IpAddr>().ok() == Some(self.local.ip())
            && via.port.unwrap_or(5060) == self.local.port()
    }
}

/// The client's top Via value with `received` and, when asked for, `rport` filled in.
pub(super) fn stamped_top_via(top_value: &str, top: &Via<'_>, source: SocketAddr) -> String {
    let mut value = String::with_capacity(top_value.len() + 40);
    let wants_rport = top.param("rport").is_some();
    // Rebuild without any received/rport already there, then add ours.
    let (head, _) = top_value.split_once(';').unwrap_or((top_value, ""));
    value.push_str(head.trim_end());
    for (name, v) in &top.params {
        if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
            continue;
        }
        value.push(';');
        value.push_str(name);
        if let Some(v) = v {
            value.push('=');
            value.push_str(v);
        }
    }
    value.push_str(";received=");
    value.push_str(&source.ip().to_string());
    if wants_rport {
        value.push_str(";rport=");
        value.push_str(&source.port().to_string());
    }
    value
}

/// The headers of `msg` in order, as `(name, value)`, with the top Via value (the first value of
/// the first Via header) replaced by `top`, or removed when `top` is `None`: see
/// [`replace_top_value`]. That header is named `Via`, and left out if no value is left in it.
pub(super) fn with_top_via<'m>(
    msg: &'m Message<'_>,
    top: Option<&'m str>,
) -> impl Iterator<Item = (&'m str, Cow<'m, str>)> {
    let mut rewritten = false;
    msg.headers.iter().filter_map(move |h| {
        if rewritten || !canonical_name(h.name).eq_ignore_ascii_case("Via") {
            return Some((h.name, Cow::Borrowed(&*h.value)));
        }
        rewritten = true;
        replace_top_value(&h.value, top).map(|v| ("Via", Cow::Owned(v)))
    })
}

/// A Via header value with its first value replaced by `top`, or removed when `top` is `None`,
/// and the other values kept, joined by `, `; `None` if no value is left.
fn replace_top_value(value: &str, top: Option<&str>) -> Option<String> {
    let values = split_header_values(value);
    if top.is_none() && values.len() < 2 {
        return None;
    }
    let mut out = String::with_capacity(value.len() + top.map_or(0, str::len));
    for (i, v) in top
        .into_iter()
        .chain(values.into_iter().skip(1))
        .enumerate()
    {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(v);
    }
    Some(out)
}

/// The first value of the first Via header, as written.
pub(super) fn first_via_value<'m>(msg: &'m Message<'_>) -> Option<&'m str> {
    let h = msg.headers_named("Via").next()?;
    split_header_values(&h.value).first().map(|v| v.trim())
}

/// Where a UDP response to a request with top Via `top` goes (RFC 3261 §18.2.2, RFC 3581 §4).
pub(super) fn response_target(top: &Via<'_>, source: SocketAddr) -> SocketAddr {
    if top.param("rport").is_some() {
        return source;
    }
    SocketAddr::new(source.ip(), top.port.unwrap_or(5060))
}

/// The address a Via asks responses to go to: `received`/`rport` if present, else its sent-by.
pub(super) fn via_address(via: &Via<'_>) -> Option<SocketAddr> {
    let host = match via.param("received") {
        Some(Some(r)) => r,
        _ => via.host,
    };
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    let port = match via.param("rport") {
        Some(Some(p)) => p.parse().ok()?,
        _ => via.port.unwrap_or(5060),
    };
    Some(SocketAddr::new(ip, port))
}
