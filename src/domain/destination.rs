//! [`Destination`]: where a target's traffic goes (an IP address and port, over UDP or TCP), read
//! from the target's URI, and whether the operator's [`OutboundPolicy`] lets sipmap send there.
//!
//! The domain checks a target against the policy with it when the target is written; the
//! recognition table parses each target's URI into one once, when its route is built, so the SIP
//! edge reads addresses, not URIs.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::OutboundPolicy;

/// The port of a target URI that names none (RFC 3261 §19.1.2).
const DEFAULT_PORT: u16 = 5060;

/// Where a target's traffic goes: an address and port, over UDP or TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    /// The address and port (IPv4 addresses in their plain form, never IPv4-mapped).
    pub addr: SocketAddr,
    /// `transport=tcp` in the URI.
    pub tcp: bool,
}

impl Destination {
    /// The destination of a target URI `sip:[user@]host[:port][;params][?headers]`, when `host`
    /// is an IP literal (IPv6 in brackets); `None` for a host name or anything unreadable.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let rest = uri.get(..4).filter(|s| s.eq_ignore_ascii_case("sip:"))?;
        let rest = &uri[rest.len()..];
        let rest = rest.split('?').next().unwrap_or("");
        let mut parts = rest.split(';');
        let hostport = parts.next().unwrap_or("");
        let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
        let tcp = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("transport") && v.trim().eq_ignore_ascii_case("tcp")
            })
        });
        let (host, port) = split_host_port(hostport)?;
        let ip: IpAddr = host.parse().ok()?;
        if ip.is_unspecified() || ip.is_multicast() {
            return None;
        }
        Some(Self {
            addr: SocketAddr::new(ip.to_canonical(), port),
            tcp,
        })
    }

    /// The destination of a target URI (see [`Destination::from_uri`]) when `outbound` lets
    /// sipmap send there; `None` otherwise, so such a target is never chosen nor probed.
    pub fn allowed_from_uri(uri: &str, outbound: &OutboundPolicy) -> Option<Self> {
        Self::from_uri(uri).filter(|d| outbound.allows(d.addr.ip()))
    }

    /// The transport's name, as in a metric label: `udp` or `tcp`.
    pub fn transport(&self) -> &'static str {
        if self.tcp { "tcp" } else { "udp" }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.addr, self.transport())
    }
}

/// `host[:port]` or `[v6][:port]` split; the port defaults to 5060 and must not be 0.
fn split_host_port(hostport: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':')?)),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0)?,
    };
    Some((host, port))
}
