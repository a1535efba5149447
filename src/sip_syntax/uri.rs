//! [`SipUri`]: a `sip:` or `sips:` URI taken apart (RFC 3261 §19.1), and rewritten with another
//! host.

use std::fmt;

use super::{Cursor, is_host_byte, is_ipv6_byte, parse_port};

/// Why a value is not a SIP URI: it is not a well-formed `sip:` or `sips:` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadUri;

impl fmt::Display for BadUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed SIP URI")
    }
}

impl std::error::Error for BadUri {}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1), split into the parts the edge needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sip` or `sips`, as written (any case).
    pub scheme: &'a str,
    /// The userinfo before `@`, password included, still %-escaped; `None` if there is no `@`.
    pub user: Option<&'a str>,
    /// The host as written: a name, an IPv4 address, or an IPv6 reference in brackets.
    pub host: &'a str,
    /// The port, if given.
    pub port: Option<u16>,
    /// Everything after `host[:port]`: empty, or `;params` and/or `?headers` as written.
    pub rest: &'a str,
}

/// Bytes allowed in userinfo: unreserved, escaped, user-unreserved and password characters.
fn is_userinfo_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()%&=+$,;?/:".contains(&b)
}

impl<'a> SipUri<'a> {
    /// Parses a SIP or SIPS URI such as `sip:alice:secret@[2001:db8::1]:5060;transport=tcp`.
    ///
    /// The whole URI must be printable ASCII without `<`, `>` or `"` (strip any `<…>` from a
    /// name-addr first). The userinfo ends at the first `@`. Escapes are not decoded.
    ///
    /// # Errors
    ///
    /// [`BadUri`] for another scheme, an empty user or host, a port above 65535,
    /// disallowed characters, or text after the host that is not `;params` or `?headers`.
    pub fn parse(uri: &'a str) -> Result<Self, BadUri> {
        let bad = BadUri;
        let (scheme, after) = uri.split_once(':').ok_or(bad)?;
        if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
            return Err(bad);
        }
        if !after
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'))
        {
            return Err(bad);
        }
        let (user, hostport) = match after.split_once('@') {
            Some((user, hostport)) => {
                if user.is_empty() || !user.bytes().all(is_userinfo_byte) {
                    return Err(bad);
                }
                (Some(user), hostport)
            }
            None => (None, after),
        };
        let mut c = Cursor {
            s: hostport,
            pos: 0,
        };
        if c.eat(b'[') {
            let inner = c.take_while(is_ipv6_byte);
            if !inner.contains(':') || !c.eat(b']') {
                return Err(bad);
            }
        } else if c.take_while(is_host_byte).is_empty() {
            return Err(bad);
        }
        let host = &hostport[..c.pos];
        let port = if c.eat(b':') {
            Some(parse_port(c.take_while(|b| b.is_ascii_digit()), bad)?)
        } else {
            None
        };
        let rest = c.rest();
        if !(rest.is_empty() || rest.starts_with([';', '?'])) {
            return Err(bad);
        }
        Ok(SipUri {
            scheme,
            user,
            host,
            port,
            rest,
        })
    }

    /// The URI with its host replaced by `host` and its port removed, keeping the scheme,
    /// userinfo, parameters and headers: `sip:alice@10.0.0.1:5070;transport=udp` with
    /// `acme.sip.twilio.com` gives `sip:alice@acme.sip.twilio.com;transport=udp`. An IPv6
    /// address given without brackets is bracketed. `host` is inserted as given otherwise.
    pub fn with_host(&self, host: &str) -> String {
        let bracket = host.contains(':') && !host.starts_with('[');
        let user_len = self.user.map_or(0, |u| u.len() + 1);
        let mut out =
            String::with_capacity(self.scheme.len() + 3 + user_len + host.len() + self.rest.len());
        out.push_str(self.scheme);
        out.push(':');
        if let Some(user) = self.user {
            out.push_str(user);
            out.push('@');
        }
        if bracket {
            out.push('[');
        }
        out.push_str(host);
        if bracket {
            out.push(']');
        }
        out.push_str(self.rest);
        out
    }

    /// The value of URI parameter `name` (any case), when the URI has it with a value:
    /// `transport` of `sip:10.0.0.1;transport=TCP` is `TCP`. Parameters end at `?`.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        let params = self.rest.split('?').next().unwrap_or("");
        params.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The host for comparison with domain names: without IPv6 brackets and without one trailing
    /// dot (`Example.COM.` gives `Example.COM`). Compare it case-insensitively.
    pub fn host_for_match(&self) -> &'a str {
        let host = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(self.host);
        host.strip_suffix('.').unwrap_or(host)
    }
}

#[cfg(test)]
mod tests {
    use super::SipUri;

    #[test]
    fn a_parameter_is_read_by_name_up_to_the_headers() {
        let u =
            SipUri::parse("sip:bob@10.0.0.1:5070;lr;Transport=TCP?X-A=b;transport=udp").unwrap();
        assert_eq!(u.param("transport"), Some("TCP"));
        assert_eq!(u.param("lr"), None);
        assert_eq!(u.param("maddr"), None);
        assert_eq!(
            SipUri::parse("sip:10.0.0.1").unwrap().param("transport"),
            None
        );
    }
}
