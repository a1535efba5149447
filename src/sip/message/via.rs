//! [`Via`]: one Via value taken apart (RFC 3261 §20.42); and the two ways sipmap writes one: its
//! own ([`write_via_head`]) and a sender's, stamped with where it came from ([`stamp_via`]).

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::ParseError;
use crate::sip_syntax::Wire;
use crate::sip_syntax::{Cursor, is_host_byte, is_ipv6_byte, is_token_byte, parse_port, trim_wsp};

/// One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// The sent-protocol as written, from the protocol name to the transport: `SIP/2.0/UDP`, or
    /// `SIP / 2.0 / UDP` if the sender put whitespace around the slashes.
    pub protocol: &'a str,
    /// The transport as written, e.g. `UDP`, `TCP`, `TLS` (any token is accepted).
    pub transport: &'a str,
    /// The sent-by host: a host name, IPv4 address, or IPv6 address without its brackets.
    pub host: &'a str,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// The parameters in order: name and, if it has one, the value as written (a quoted-string
    /// value keeps its quotes).
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Via<'a> {
    /// Parses one Via value (one element of [`split_header_values`]), allowing whitespace around
    /// `/`, `:`, `;` and `=` as the RFC 3261 grammar does. Parameter values may be tokens, hosts
    /// (including IPv6 with or without brackets) or quoted strings.
    ///
    /// # Errors
    ///
    /// [`ParseError::BadVia`] if the value does not follow the grammar, including a port above
    /// 65535 or trailing text.
    ///
    /// [`split_header_values`]: super::split_header_values
    pub fn parse(value: &'a str) -> Result<Via<'a>, ParseError> {
        let bad = ParseError::BadVia;
        let mut c = Cursor {
            s: trim_wsp(value),
            pos: 0,
        };
        let nonempty = |s: &'a str| if s.is_empty() { Err(bad) } else { Ok(s) };

        // protocol-name SLASH protocol-version SLASH transport, SLASH = SWS "/" SWS.
        let mut transport = nonempty(c.take_while(is_token_byte))?;
        for _ in 0..2 {
            c.skip_wsp();
            if !c.eat(b'/') {
                return Err(bad);
            }
            c.skip_wsp();
            transport = nonempty(c.take_while(is_token_byte))?;
        }
        let protocol = &c.s[..c.pos];
        if !c.skip_wsp() {
            return Err(bad);
        }

        let host = if c.eat(b'[') {
            let host = c.take_while(is_ipv6_byte);
            if !host.contains(':') || !c.eat(b']') {
                return Err(bad);
            }
            host
        } else {
            nonempty(c.take_while(is_host_byte))?
        };

        let before_colon = c.pos;
        c.skip_wsp();
        let port = if c.eat(b':') {
            c.skip_wsp();
            Some(parse_port(c.take_while(|b| b.is_ascii_digit()), bad)?)
        } else {
            c.pos = before_colon;
            None
        };

        let mut params = Vec::new();
        loop {
            c.skip_wsp();
            if c.peek().is_none() {
                break;
            }
            if !c.eat(b';') {
                return Err(bad);
            }
            c.skip_wsp();
            let name = nonempty(c.take_while(is_token_byte))?;
            let before_equal = c.pos;
            c.skip_wsp();
            let value = if c.eat(b'=') {
                c.skip_wsp();
                Some(param_value(&mut c).ok_or(bad)?)
            } else {
                c.pos = before_equal;
                None
            };
            params.push((name, value));
        }

        Ok(Via {
            protocol,
            transport,
            host,
            port,
            params,
        })
    }

    /// The first parameter named `name` (case-insensitive): `None` if absent, `Some(None)` if
    /// present without a value (like `rport` in a request), `Some(Some(value))` otherwise.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }
}

/// A `gen-value`: a quoted string (returned with its quotes), or a token or host.
fn param_value<'a>(c: &mut Cursor<'a>) -> Option<&'a str> {
    if c.peek() == Some(b'"') {
        let rest = c.rest().as_bytes();
        let mut escaped = false;
        for (i, &b) in rest.iter().enumerate().skip(1) {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                let quoted = &c.rest()[..=i];
                c.pos += i + 1;
                return Some(quoted);
            }
        }
        return None;
    }
    let v = c.take_while(|b| is_token_byte(b) || matches!(b, b':' | b'[' | b']'));
    (!v.is_empty()).then_some(v)
}

/// Appends the head of a Via value for a request sipmap sends from `local` over `wire`, up to
/// its branch: `SIP/2.0/UDP 192.0.2.1:5060;branch=`. The caller appends the
/// branch and any other parameters.
pub fn write_via_head(out: &mut String, local: SocketAddr, wire: Wire) {
    let _ = write!(out, "SIP/2.0/{} {local};branch=", wire.via_name());
}

/// Appends the Via value `value` (parsed: `via`) of a request that came from `source`, stamped
/// (RFC 3261 §18.2.1, RFC 3581 §4): `received` is the source address and, when the value asks
/// for it with `rport`, `rport` its port; any `received` or `rport` it had is replaced, every
/// other parameter kept in order.
pub fn stamp_via(out: &mut String, value: &str, via: &Via<'_>, source: SocketAddr) {
    let head = value.split_once(';').map_or(value, |(h, _)| h);
    out.push_str(head.trim_end());
    for (name, v) in &via.params {
        if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
            continue;
        }
        out.push(';');
        out.push_str(name);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
    let _ = write!(out, ";received={}", source.ip());
    if via.param("rport").is_some() {
        let _ = write!(out, ";rport={}", source.port());
    }
}
