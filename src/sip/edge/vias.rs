//! Via values as the edge reads and rewrites them: its own Via, the client's Via stamped with
//! `received`/`rport`, and where a response goes.

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

    /// Headers of `msg` with the first Via value replaced by `first_via` (and optionally
    /// `X-Sipmap-*` headers removed).
    pub(super) fn rewritten_headers<'m>(
        msg: &'m Message<'_>,
        first_via: &str,
        drop_sipmap: bool,
    ) -> Vec<(&'m str, String)> {
        let mut out = Vec::with_capacity(msg.headers.len() + 3);
        let mut first_done = false;
        for h in &msg.headers {
            let canonical = canonical_name(h.name);
            if drop_sipmap && h.name.len() > 9 && h.name[..9].eq_ignore_ascii_case("x-sipmap-") {
                continue;
            }
            if !first_done && canonical.eq_ignore_ascii_case("Via") {
                first_done = true;
                let mut values = split_header_values(&h.value);
                if !values.is_empty() {
                    values.remove(0);
                }
                let mut v = first_via.to_owned();
                for rest in values {
                    v.push_str(", ");
                    v.push_str(rest.trim());
                }
                out.push(("Via", v));
                continue;
            }
            out.push((h.name, h.value.to_string()));
        }
        out
    }
}

/// The first value of the first Via header, as written.
pub(super) fn first_via_value(msg: &Message<'_>) -> Option<String> {
    let h = msg.headers_named("Via").next()?;
    split_header_values(&h.value)
        .first()
        .map(|v| v.trim().to_owned())
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
