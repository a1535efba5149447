//! [`Wire`]: the transport protocol a SIP message travels by, named once for every layer that
//! writes or reads it (a Via's `SIP/2.0/UDP`, a URI's `;transport=tcp`, a metric's `udp`).

/// The transport protocol of a SIP hop (RFC 3261 §18): what a target's URI asks for, what a Via
/// names, what sipmap sends by. UDP unless something says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Wire {
    /// Datagrams.
    #[default]
    Udp,
    /// A TCP connection.
    Tcp,
}

impl Wire {
    /// The name in a Via's sent-protocol: `UDP`, `TCP`.
    pub fn via_name(self) -> &'static str {
        match self {
            Wire::Udp => "UDP",
            Wire::Tcp => "TCP",
        }
    }

    /// The name in a URI's `transport` parameter and in metric labels: `udp`, `tcp`.
    pub fn label(self) -> &'static str {
        match self {
            Wire::Udp => "udp",
            Wire::Tcp => "tcp",
        }
    }

    /// The protocol a Via's transport names (`UDP`, `tcp`…, any case); `None` for another.
    pub fn from_via_name(name: &str) -> Option<Wire> {
        [Wire::Udp, Wire::Tcp]
            .into_iter()
            .find(|w| w.via_name().eq_ignore_ascii_case(name))
    }

    /// The protocol a URI's `transport` parameter asks for: TCP for `tcp` (any case), UDP for
    /// anything else or none (RFC 3261 §19.1.1's default).
    pub fn of_uri_param(value: Option<&str>) -> Wire {
        match value {
            Some(v) if v.eq_ignore_ascii_case("tcp") => Wire::Tcp,
            _ => Wire::Udp,
        }
    }

    /// The URI parameter that asks for this protocol: none for UDP, `;transport=tcp`.
    pub fn uri_param(self) -> &'static str {
        match self {
            Wire::Udp => "",
            Wire::Tcp => ";transport=tcp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for w in [Wire::Udp, Wire::Tcp] {
            assert_eq!(Wire::from_via_name(w.via_name()), Some(w));
            assert_eq!(Wire::from_via_name(w.label()), Some(w));
            let param = w.uri_param().strip_prefix(";transport=");
            assert_eq!(Wire::of_uri_param(param), w);
        }
        assert_eq!(Wire::from_via_name("SCTP"), None);
        assert_eq!(Wire::of_uri_param(Some("TCP")), Wire::Tcp);
        assert_eq!(Wire::of_uri_param(Some("sctp")), Wire::Udp);
    }
}
