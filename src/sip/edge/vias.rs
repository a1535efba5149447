//! Via values as the edge reads and rewrites them: the client's Via stamped with
//! `received`/`rport`, the top value replaced or removed, and where a response goes. Pure
//! functions over parsed messages, at the bottom of the edge: they use none of its other files
//! (whether a Via is the edge's own is the branch's business, see `branch`).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use crate::sip::message::{Message, Via, canonical_name, split_header_values, stamp_via};

/// The client's top Via value with `received` and, when asked for, `rport` filled in.
pub(super) fn stamped_top_via(top_value: &str, top: &Via<'_>, source: SocketAddr) -> String {
    let mut value = String::with_capacity(top_value.len() + 40);
    stamp_via(&mut value, top_value, top, source);
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
