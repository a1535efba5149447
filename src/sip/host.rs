//! The host's own addresses, for an edge that listens on a wildcard address (`0.0.0.0` or `::`):
//! a datagram sent to any of them on the edge's port reaches the edge itself, so the edge must
//! treat them all as its own (see `Edge::is_own_address`).
//!
//! The set is read from the host's interfaces (`getifaddrs`, through the `if-addrs` crate) when
//! the edge binds, and again every [`REFRESH`] off the hot path (a blocking thread), so an
//! address added later is known within that time. The edge reads it with one atomic load, and
//! only for an address on its own port.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

/// How often the set is read again from the interfaces.
pub const REFRESH: Duration = Duration::from_secs(30);

/// The host's interface addresses (IPv4 ones in their plain form), sorted.
#[derive(Debug, Default)]
pub struct HostAddresses(ArcSwap<Vec<IpAddr>>);

impl HostAddresses {
    /// A set holding exactly `addrs` (for tests, and for a host whose interfaces cannot be read).
    pub fn of(addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        let set = Self::default();
        set.replace(addrs);
        set
    }

    /// Whether `ip` (IPv4-mapped or not) is one of the host's addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.load().binary_search(&ip.to_canonical()).is_ok()
    }

    /// Replaces the set with `addrs`.
    pub fn replace(&self, addrs: impl IntoIterator<Item = IpAddr>) {
        let mut all: Vec<IpAddr> = addrs.into_iter().map(|ip| ip.to_canonical()).collect();
        all.sort_unstable();
        all.dedup();
        if **self.0.load() != all {
            self.0.store(Arc::new(all));
        }
    }

    /// Reads the interfaces again (a blocking system call); keeps the last set if they cannot
    /// be read.
    pub fn refresh(&self) {
        match if_addrs::get_if_addrs() {
            Ok(interfaces) => self.replace(interfaces.iter().map(if_addrs::Interface::ip)),
            Err(e) => tracing::warn!(error = %e, "cannot read the host's interface addresses"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_addresses_in_their_plain_form() {
        let set = HostAddresses::of(["10.9.8.7".parse().unwrap(), "2001:db8::1".parse().unwrap()]);
        assert!(set.contains("10.9.8.7".parse().unwrap()));
        assert!(set.contains("::ffff:10.9.8.7".parse().unwrap()));
        assert!(set.contains("2001:db8::1".parse().unwrap()));
        assert!(!set.contains("10.9.8.8".parse().unwrap()));
        set.replace(["::ffff:192.0.2.5".parse().unwrap()]);
        assert!(set.contains("192.0.2.5".parse().unwrap()));
        assert!(!set.contains("10.9.8.7".parse().unwrap()));
    }

    #[test]
    fn the_interfaces_include_loopback() {
        let set = HostAddresses::default();
        set.refresh();
        assert!(set.contains("127.0.0.1".parse().unwrap()));
    }
}
