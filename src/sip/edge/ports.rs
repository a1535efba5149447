//! How many ports of one destination address the edge forwards to: a bound that stops an account
//! from making the edge sweep a host's ports with requests (each to a target on another port of
//! that host) without slowing a trunk that sends thousands of requests per second to a few ports.
//!
//! Per destination IP address the edge remembers the ports it forwarded to in the last [`KEEP`]
//! seconds (its *known* ports, at most [`PORTS_PER_ADDRESS`]). A request to a known port always
//! goes. A request to another port goes only while that address has had fewer than
//! `new_per_second` new ports in this second and fewer than [`PORTS_PER_ADDRESS`] known ones;
//! otherwise it is refused (the edge answers 503 with `Retry-After: 1`), counted and logged.
//! So a host receives requests on at most `new_per_second` new ports a second and on at most
//! [`PORTS_PER_ADDRESS`] ports in any [`KEEP`] seconds, whatever the number of targets naming it,
//! while the ports a trunk uses stay known as long as it uses them, and an attacker cannot push
//! them out (only ports unused for [`KEEP`] seconds are forgotten). During a sweep of a host, a
//! port of that host that no one used in the last [`KEEP`] seconds may be refused: the price of
//! a bound on the host rather than on the account.
//!
//! Memory is bounded: at most [`ADDRESSES`] addresses are remembered (in [`SHARDS`] locked
//! shards, so the UDP readers rarely wait on each other), each with at most
//! [`PORTS_PER_ADDRESS`] ports. A full shard forgets the addresses with no port used in the last
//! [`KEEP`] seconds (at most once a second); if it is still full, requests to an address it does
//! not know are refused too (fail closed, logged).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::clock::{Clock, SystemClock};
use crate::limit_log::LimitLog;

/// New ports of one address per second, unless the operator says otherwise.
pub const DEFAULT_NEW_PER_SECOND: u32 = 16;
/// How long a port stays known after the last request to it, in seconds.
pub const KEEP: u32 = 10;
/// Most ports remembered per address.
pub const PORTS_PER_ADDRESS: usize = 64;
/// Locked shards of the table.
const SHARDS: usize = 16;
/// Most addresses remembered per shard.
const ADDRESSES_PER_SHARD: usize = 1024;
/// Most addresses remembered.
pub const ADDRESSES: usize = SHARDS * ADDRESSES_PER_SHARD;

/// The log line of the bound.
static NEW_PORTS: LimitLog = LimitLog::new("SIP forwards to new ports of one address");

/// One address: its known ports (port, last second used), and its new ports this second.
#[derive(Debug, Default)]
struct Address {
    ports: Vec<(u16, u32)>,
    second: u32,
    new: u32,
}

impl Address {
    /// Whether any port was used in the last [`KEEP`] seconds before `now`.
    fn is_live(&self, now: u32) -> bool {
        self.ports.iter().any(|(_, t)| t.saturating_add(KEEP) > now)
    }
}

/// One shard of the table.
#[derive(Debug, Default)]
struct Shard {
    addresses: HashMap<IpAddr, Address>,
    /// The second the shard last forgot its idle addresses.
    pruned: Option<u32>,
}

/// Why a forward was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The address has had its new ports for this second, or has as many known ports as are
    /// remembered.
    NewPorts,
    /// The table remembers as many addresses as it may, all used in the last [`KEEP`] seconds.
    Addresses,
}

/// The bound on new ports per destination address.
#[derive(Debug)]
pub struct PortLimit {
    new_per_second: u32,
    clock: Arc<dyn Clock>,
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
}

impl PortLimit {
    /// At most `new_per_second` new ports of one address each second (at least 1), timed by
    /// `clock`.
    pub fn new(new_per_second: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            new_per_second: new_per_second.max(1),
            clock,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Whether a request may go to `port` of `ip` now; a refusal is counted and logged.
    pub fn admit(&self, ip: IpAddr, port: u16) -> Result<(), Refused> {
        let now = u32::try_from(self.clock.now().max(0)).unwrap_or(u32::MAX);
        let ip = ip.to_canonical();
        let shard = &self.shards[self.hasher.hash_one(ip) as usize % SHARDS];
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        let decided = shard.admit(ip, port, now, self.new_per_second);
        drop(shard);
        if let Err(why) = decided {
            NEW_PORTS.hit(&format_args!(
                "a request to {ip} port {port} refused (503): {}",
                match why {
                    Refused::NewPorts => format!(
                        "at most {} new ports of one address per second, and {PORTS_PER_ADDRESS} \
                         in {KEEP} s",
                        self.new_per_second
                    ),
                    Refused::Addresses => format!("{ADDRESSES} addresses are remembered"),
                }
            ));
        }
        decided
    }
}

impl Default for PortLimit {
    /// [`DEFAULT_NEW_PER_SECOND`] new ports of one address per second, by the system's clock.
    fn default() -> Self {
        Self::new(DEFAULT_NEW_PER_SECOND, Arc::new(SystemClock))
    }
}

impl Shard {
    fn admit(&mut self, ip: IpAddr, port: u16, now: u32, max_new: u32) -> Result<(), Refused> {
        if !self.addresses.contains_key(&ip) && self.addresses.len() >= ADDRESSES_PER_SHARD {
            if self.pruned != Some(now) {
                self.pruned = Some(now);
                self.addresses.retain(|_, a| a.is_live(now));
            }
            if self.addresses.len() >= ADDRESSES_PER_SHARD {
                return Err(Refused::Addresses);
            }
        }
        let a = self.addresses.entry(ip).or_default();
        let fresh = |t: u32| t.saturating_add(KEEP) > now;
        if let Some(known) = a.ports.iter_mut().find(|(p, t)| *p == port && fresh(*t)) {
            known.1 = now;
            return Ok(());
        }
        if a.second != now {
            a.second = now;
            a.new = 0;
        }
        if a.new >= max_new {
            return Err(Refused::NewPorts);
        }
        a.ports.retain(|(_, t)| fresh(*t));
        if a.ports.len() >= PORTS_PER_ADDRESS {
            return Err(Refused::NewPorts);
        }
        a.ports.push((port, now));
        a.new += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    fn limit(new_per_second: u32) -> (PortLimit, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::at_millis(1_000_000));
        (PortLimit::new(new_per_second, clock.clone()), clock)
    }

    fn at(clock: &FixedClock, second: i64) {
        clock.set_millis((1_000 + second) * 1000);
    }

    #[test]
    fn a_sweep_gets_a_few_new_ports_a_second_and_a_busy_trunk_is_never_refused() {
        let (l, clock) = limit(3);
        let host: IpAddr = "192.0.2.9".parse().unwrap();
        let trunk: IpAddr = "192.0.2.10".parse().unwrap();
        let mut reached = 0;
        for second in 0..4 {
            at(&clock, second);
            // Thousands of requests to the trunk's two ports: all go.
            for _ in 0..2000 {
                assert_eq!(l.admit(trunk, 5060), Ok(()));
                assert_eq!(l.admit(trunk, 5080), Ok(()));
            }
            // A sweep of the host: three new ports a second.
            for port in 1000..1100 {
                if l.admit(host, port + second as u16 * 100).is_ok() {
                    reached += 1;
                }
            }
        }
        assert_eq!(reached, 12);
        // The ports reached stay known, and so reachable, while used; a new second has three
        // new ones again.
        at(&clock, 5);
        assert_eq!(l.admit(host, 1000), Ok(()));
        for port in 2000..2003 {
            assert_eq!(l.admit(host, port), Ok(()));
        }
        assert_eq!(l.admit(host, 2003), Err(Refused::NewPorts));
        assert_eq!(l.admit(host, 1000), Ok(()), "known ports still go");
    }

    #[test]
    fn known_ports_are_forgotten_after_keep_seconds_and_at_most_so_many_are_known() {
        let (l, clock) = limit(64);
        let host: IpAddr = "::ffff:192.0.2.9".parse().unwrap();
        at(&clock, 0);
        for port in 0..PORTS_PER_ADDRESS as u16 {
            assert_eq!(l.admit(host, port), Ok(()));
        }
        at(&clock, 1);
        assert_eq!(
            l.admit(host, 9999),
            Err(Refused::NewPorts),
            "as many known as kept"
        );
        assert_eq!(
            l.admit("192.0.2.9".parse().unwrap(), 5),
            Ok(()),
            "the same address"
        );
        // KEEP seconds later the unused ones are forgotten, and new ports may come.
        at(&clock, i64::from(KEEP));
        assert_eq!(l.admit(host, 9999), Ok(()));
        assert_eq!(l.admit(host, 5), Ok(()), "port 5 was used at second 1");
    }

    #[test]
    fn the_table_forgets_idle_addresses_and_refuses_new_ones_when_full_of_busy_ones() {
        let (l, clock) = limit(1);
        at(&clock, 0);
        let mut shard = Shard::default();
        for i in 0..ADDRESSES_PER_SHARD as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(shard.admit(ip, 5060, 0, 1), Ok(()));
        }
        let newcomer: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(shard.admit(newcomer, 5060, 1, 1), Err(Refused::Addresses));
        // Once the others have been idle for KEEP seconds, they make room.
        assert_eq!(shard.admit(newcomer, 5060, KEEP, 1), Ok(()));
        assert_eq!(shard.addresses.len(), 1);
        // Through the limit: counted and logged, not a panic.
        assert_eq!(l.admit(newcomer, 1), Ok(()));
        assert_eq!(l.admit(newcomer, 2), Err(Refused::NewPorts));
    }
}
