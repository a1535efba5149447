//! [`Wire`]: the transport protocol a SIP message travels by, named once for every layer that
//! writes or reads it (a Via's `SIP/2.0/UDP`, a URI's `;transport=tcp`, a metric's `udp`).
//!
//! TLS (RFC 3261 §26.2, RFC 5630) is a stream like TCP: framed by `Content-Length`, reliable (no
//! retransmissions), named `TLS` in a Via and `tls` in a URI.

/// The transport protocol of a SIP hop (RFC 3261 §18): what a target's URI asks for, what a Via
/// names, what sipmap sends by. UDP unless something says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Wire {
    /// Datagrams.
    #[default]
    Udp,
    /// A TCP connection.
    Tcp,
    /// A TLS connection over TCP.
    Tls,
}

impl Wire {
    /// Every protocol, in order.
    pub const ALL: [Wire; 3] = [Wire::Udp, Wire::Tcp, Wire::Tls];

    /// The name in a Via's sent-protocol: `UDP`, `TCP`, `TLS`.
    pub fn via_name(self) -> &'static str {
        match self {
            Wire::Udp => "UDP",
            Wire::Tcp => "TCP",
            Wire::Tls => "TLS",
        }
    }

    /// The name in a URI's `transport` parameter and in metric labels: `udp`, `tcp`, `tls`.
    pub fn label(self) -> &'static str {
        match self {
            Wire::Udp => "udp",
            Wire::Tcp => "tcp",
            Wire::Tls => "tls",
        }
    }

    /// Whether it is a stream (TCP, TLS): framed by `Content-Length`, reliable, so nothing is
    /// retransmitted (RFC 3261 §17.1.1.2), and responses go back over the connection.
    pub fn is_stream(self) -> bool {
        self != Wire::Udp
    }

    /// The protocol a Via's transport names (`UDP`, `tcp`…, any case); `None` for another.
    pub fn from_via_name(name: &str) -> Option<Wire> {
        Wire::ALL
            .into_iter()
            .find(|w| w.via_name().eq_ignore_ascii_case(name))
    }

    /// The protocol a URI's `transport` parameter asks for: TCP for `tcp`, TLS for `tls` (any
    /// case), UDP for anything else or none (RFC 3261 §19.1.1's default).
    pub fn of_uri_param(value: Option<&str>) -> Wire {
        match value {
            Some(v) if v.eq_ignore_ascii_case("tcp") => Wire::Tcp,
            Some(v) if v.eq_ignore_ascii_case("tls") => Wire::Tls,
            _ => Wire::Udp,
        }
    }

    /// The URI parameter that asks for this protocol: none for UDP, `;transport=tcp`,
    /// `;transport=tls`.
    pub fn uri_param(self) -> &'static str {
        match self {
            Wire::Udp => "",
            Wire::Tcp => ";transport=tcp",
            Wire::Tls => ";transport=tls",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for w in Wire::ALL {
            assert_eq!(Wire::from_via_name(w.via_name()), Some(w));
            assert_eq!(Wire::from_via_name(w.label()), Some(w));
            let param = w.uri_param().strip_prefix(";transport=");
            assert_eq!(Wire::of_uri_param(param), w);
        }
        assert_eq!(Wire::from_via_name("SCTP"), None);
        assert_eq!(Wire::of_uri_param(Some("TCP")), Wire::Tcp);
        assert_eq!(Wire::of_uri_param(Some("TLS")), Wire::Tls);
        assert_eq!(Wire::from_via_name("tls"), Some(Wire::Tls));
        assert_eq!(Wire::of_uri_param(Some("sctp")), Wire::Udp);
        assert!(Wire::Tls.is_stream() && Wire::Tcp.is_stream() && !Wire::Udp.is_stream());
    }
}
