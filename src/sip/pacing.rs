//! Which probes go out when: at most one probe per destination IP address in each slot, so that
//! however many targets name one address (on as many ports), that address receives at most
//! `rate` probes per second.
//!
//! The probes' clock (`probe`) starts a round every `--sip-probe-interval` and then runs slots,
//! at least `1 / rate` seconds apart, while any probe of the round is due. In a round each
//! address is owed `min(ports, max(1, rate × interval))` probes (what fits at `rate` per second
//! in one interval), one per slot, taken in turn from its destinations (ordered by port) from
//! where its last round stopped: when an address has more destinations than fit in a round, the
//! next round goes on with the next ones, so every destination is probed in time, each less
//! often. The common case, a few ports per address, probes every destination in the first slot
//! of every round, as before. Pure logic: the clock is the caller's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::recognition::Destination;

/// One destination address's destinations and its place in turn.
#[derive(Debug)]
struct Address {
    /// Its destinations, ordered.
    dests: Vec<Destination>,
    /// The next one to probe.
    next: usize,
    /// Probes still owed in this round.
    due: usize,
}

/// The probes of each round, paced per destination address.
#[derive(Debug)]
pub struct Pacer {
    /// Most probes per second to one address (at least 1).
    rate: u32,
    /// The probed destinations, by address.
    addresses: HashMap<IpAddr, Address>,
}

impl Pacer {
    /// A pacer allowing `rate` probes per second to one address (0 counts as 1).
    pub fn new(rate: u32) -> Self {
        Self {
            rate: rate.max(1),
            addresses: HashMap::new(),
        }
    }

    /// The time between two slots: `1 / rate` seconds.
    pub fn slot(&self) -> Duration {
        Duration::from_secs(1) / self.rate
    }

    /// Probes these destinations from now on; an address that stays keeps its place in turn.
    pub fn set_destinations(&mut self, probed: &[Destination]) {
        let mut by_address: HashMap<IpAddr, Vec<Destination>> = HashMap::new();
        for d in probed {
            by_address.entry(d.addr.ip()).or_default().push(*d);
        }
        let mut old = std::mem::take(&mut self.addresses);
        for (ip, mut dests) in by_address {
            dests.sort_unstable();
            let (next, due) = old
                .remove(&ip)
                .map_or((0, 0), |a| (a.next % dests.len(), a.due.min(dests.len())));
            self.addresses.insert(ip, Address { dests, next, due });
        }
    }

    /// A new round, `interval` long: each address is owed what fits at `rate` per second (at
    /// least one probe), and no more than it has destinations. What the last round still owed
    /// is forgotten. Gives how many destinations wait for a later round.
    pub fn start_round(&mut self, interval: Duration) -> usize {
        let fits = (interval.as_secs_f64() * f64::from(self.rate)).floor();
        let fits = if fits >= 1.0 { fits as usize } else { 1 };
        let mut waiting = 0;
        for a in self.addresses.values_mut() {
            a.due = fits.min(a.dests.len());
            waiting += a.dests.len() - a.due;
        }
        waiting
    }

    /// Whether any probe of this round is still owed.
    pub fn pending(&self) -> bool {
        self.addresses.values().any(|a| a.due > 0)
    }

    /// The probes of the next slot: one for each address still owed one.
    pub fn next_slot(&mut self) -> Vec<Destination> {
        let mut out = Vec::new();
        for a in self.addresses.values_mut().filter(|a| a.due > 0) {
            out.push(a.dests[a.next]);
            a.next = (a.next + 1) % a.dests.len();
            a.due -= 1;
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip_syntax::Wire;
    use std::collections::HashSet;

    fn dest(ip: &str, port: u16) -> Destination {
        Destination {
            addr: std::net::SocketAddr::new(ip.parse().unwrap(), port),
            wire: Wire::Udp,
        }
    }

    /// Every slot of one round.
    fn round(p: &mut Pacer, interval: Duration) -> Vec<Vec<Destination>> {
        p.start_round(interval);
        let mut slots = Vec::new();
        while p.pending() {
            slots.push(p.next_slot());
        }
        slots
    }

    #[test]
    fn a_few_ports_per_address_are_all_probed_in_the_first_slot() {
        let mut p = Pacer::new(10);
        let all = [
            dest("10.0.0.1", 5060),
            dest("10.0.0.1", 5070),
            dest("10.0.0.2", 5060),
        ];
        p.set_destinations(&all);
        let slots = round(&mut p, Duration::from_secs(10));
        // Two slots: 10.0.0.1 gets one probe per slot.
        assert_eq!(slots.len(), 2);
        assert_eq!(slots[0], vec![all[0], all[2]]);
        assert_eq!(slots[1], vec![all[1]]);
    }

    #[test]
    fn one_address_gets_one_probe_per_slot_and_at_most_rate_times_interval_per_round() {
        let mut p = Pacer::new(10);
        let ports: Vec<Destination> = (0..1900).map(|i| dest("192.0.2.9", 1024 + i)).collect();
        let mut all = ports.clone();
        all.push(dest("192.0.2.10", 5060));
        p.set_destinations(&all);
        let mut seen = HashSet::new();
        for r in 0..19 {
            let slots = round(&mut p, Duration::from_secs(10));
            // 100 slots of 0.1 s: the whole interval, never more than one probe per slot to it.
            assert_eq!(slots.len(), 100, "round {r}");
            for slot in &slots {
                let to_it = slot
                    .iter()
                    .filter(|d| d.addr.ip() == ports[0].addr.ip())
                    .count();
                assert_eq!(to_it, 1);
                seen.extend(slot.iter().copied());
            }
        }
        // In turn: after 19 rounds of 100, each of the 1,900 ports was probed once.
        assert_eq!(seen.len(), 1901);
        assert_eq!(p.slot(), Duration::from_millis(100));
    }

    #[test]
    fn a_short_interval_owes_one_probe_per_round_and_a_changed_set_keeps_its_turn() {
        let mut p = Pacer::new(2);
        let ports: Vec<Destination> = (0..4).map(|i| dest("10.0.0.1", 5060 + i)).collect();
        p.set_destinations(&ports);
        assert_eq!(
            round(&mut p, Duration::from_millis(100)),
            vec![vec![ports[0]]]
        );
        assert_eq!(
            round(&mut p, Duration::from_millis(100)),
            vec![vec![ports[1]]]
        );
        // One port gone: the turn goes on from where it was.
        p.set_destinations(&ports[..3]);
        assert_eq!(
            round(&mut p, Duration::from_millis(100)),
            vec![vec![ports[2]]]
        );
        assert_eq!(
            round(&mut p, Duration::from_millis(100)),
            vec![vec![ports[0]]]
        );
        p.set_destinations(&[]);
        assert!(round(&mut p, Duration::from_secs(1)).is_empty());
    }
}
