//! [`Destination`]: where a target's traffic goes (an IP address and port, over UDP or TCP), read
//! from the target's URI, and whether the operator's [`OutboundPolicy`] lets sipmap send there.
//!
//! The domain checks a target against the policy with it when the target is written; the
//! recognition table parses each target's URI into one once, when its route is built, so the SIP
//! edge reads addresses, not URIs.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::OutboundPolicy;
use crate::sip_syntax::{SipUri, Wire};

/// The port of a target URI that names none (RFC 3261 §19.1.2).
const DEFAULT_PORT: u16 = 5060;

/// Where a target's traffic goes: an address and port, over UDP or TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    /// The address and port (IPv4 addresses in their plain form, never IPv4-mapped).
    pub addr: SocketAddr,
    /// UDP, or TCP for `transport=tcp` in the URI.
    pub wire: Wire,
}

impl Destination {
    /// The destination of a target URI `sip:[user@]host[:port][;params][?headers]` (read by
    /// [`SipUri`], as the target was when it was written), when `host` is an IP literal (IPv6
    /// in brackets); `None` for a host name, a `sips:` URI, port 0 or anything unreadable.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let parsed = SipUri::parse(uri).ok()?;
        if !parsed.scheme.eq_ignore_ascii_case("sip") {
            return None;
        }
        let host = parsed.host;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = host.parse().ok()?;
        let port = parsed.port.unwrap_or(DEFAULT_PORT);
        if port == 0 || ip.is_unspecified() || ip.is_multicast() {
            return None;
        }
        Some(Self {
            addr: SocketAddr::new(ip.to_canonical(), port),
            wire: Wire::of_uri_param(parsed.param("transport")),
        })
    }

    /// The destination of a target URI (see [`Destination::from_uri`]) when `outbound` lets
    /// sipmap send there; `None` otherwise, so such a target is never chosen nor probed.
    pub fn allowed_from_uri(uri: &str, outbound: &OutboundPolicy) -> Option<Self> {
        Self::from_uri(uri).filter(|d| outbound.allows(d.addr.ip()))
    }

    /// The transport's name, as in a metric label: `udp` or `tcp`.
    pub fn transport(&self) -> &'static str {
        self.wire.label()
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.addr, self.transport())
    }
}
