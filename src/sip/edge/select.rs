//! Which target of a domain's connection policy a request goes to.
//!
//! The eligible targets are the enabled ones with a destination (an IP literal host, see
//! [`crate::recognition::route`]) that is up ([`Health`]). Of those, only the ones with the lowest
//! `priority` value count; among them the request's Call-ID picks one, each target getting a
//! share of Call-IDs in proportion to its `weight`. The pick is a hash of the Call-ID, not a
//! random draw: every request of a dialog, and every retransmission, goes to the same target as
//! long as the eligible set stays the same. No eligible target: no choice (the edge then falls
//! back to the upstream). Two passes over the targets, no allocation; health is read with one
//! atomic load per request (none while no destination is down) and looked up once per target
//! (for the first 128 targets of a policy; twice beyond).

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use crate::recognition::{Destination, DomainRoute, RouteTarget};
use crate::sip::health::Health;

/// The target a request goes to, and where that is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<'r> {
    /// The target.
    pub target: &'r RouteTarget,
    /// Its destination.
    pub destination: Destination,
}

/// The target of `route` for a request with Call-ID `call_id`, given target `health`.
pub fn choose<'r>(route: &'r DomainRoute, health: &Health, call_id: &str) -> Option<Choice<'r>> {
    let view = health.view();
    let targets = || route.targets.iter().zip(&route.destinations).enumerate();
    // First pass: which targets are eligible (a bit each for the first 128, so that health is
    // looked up once per target), the lowest priority value, and the total weight at it.
    let mut bits: u128 = 0;
    let mut best: Option<(u16, u64)> = None;
    for (i, (t, d)) in targets() {
        match d {
            Some(d) if t.enabled && view.is_up(d) => {}
            _ => continue,
        }
        if i < 128 {
            bits |= 1 << i;
        }
        let weight = u64::from(t.weight.max(1));
        best = match best {
            Some((p, total)) if p == t.priority => Some((p, total + weight)),
            Some((p, _)) if p < t.priority => best,
            _ => Some((t.priority, weight)),
        };
    }
    let (priority, total) = best?;
    let eligible = targets().filter_map(|(i, (t, d))| {
        let ok = if i < 128 {
            bits & (1 << i) != 0
        } else {
            t.enabled && d.is_some_and(|d| view.is_up(&d))
        };
        Some((t, (*d)?)).filter(|_| ok)
    });
    // Second pass: the target whose share of [0, total) holds the Call-ID's point.
    let mut point = call_id_hash(call_id) % total;
    for (t, d) in eligible.filter(|(t, _)| t.priority == priority) {
        let weight = u64::from(t.weight.max(1));
        if point < weight {
            return Some(Choice {
                target: t,
                destination: d,
            });
        }
        point -= weight;
    }
    // Only if health changed between the two passes: the upstream then takes this one.
    None
}

/// Where an admitted request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop<'r> {
    /// A target of its domain's connection policy.
    Target(Choice<'r>),
    /// No target to choose: the upstream (over UDP).
    Upstream(SocketAddr),
    /// Neither: the request gets 480.
    Nowhere,
}

/// Where a request of a domain with `route` and Call-ID `call_id` goes: the target [`choose`]
/// picks, else `upstream`, else nowhere. The edge forwards by it and Resolve reports it.
pub fn next_hop<'r>(
    route: Option<&'r DomainRoute>,
    health: &Health,
    call_id: &str,
    upstream: Option<SocketAddr>,
) -> NextHop<'r> {
    match (route.and_then(|r| choose(r, health, call_id)), upstream) {
        (Some(c), _) => NextHop::Target(c),
        (None, Some(u)) => NextHop::Upstream(u),
        (None, None) => NextHop::Nowhere,
    }
}

/// A hash of a Call-ID, the same in every process of this build (SipHash with fixed keys).
fn call_id_hash(call_id: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    call_id.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recognition::Destinations;
    use crate::sip_syntax::Wire;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Target `n`: its SID is `NE` and `n` in 32 decimal digits, which [`pick`] shortens to
    /// `NE{n}`.
    fn target(n: u8, priority: u16, weight: u16, enabled: bool) -> RouteTarget {
        RouteTarget {
            sid: crate::sid::PolicyTargetSid::parse(&format!("NE{n:032}")).unwrap(),
            uri: format!("sip:127.0.0.{n}"),
            priority,
            weight,
            enabled,
        }
    }

    fn route(targets: Vec<RouteTarget>) -> DomainRoute {
        DomainRoute::new(
            crate::sid::ConnectionPolicySid::parse(&format!("NY{:032}", 1)).unwrap(),
            targets,
            &crate::domain::OutboundPolicy::default(),
        )
    }

    fn pick(r: &DomainRoute, health: &Health, call_id: &str) -> Option<String> {
        let short = |sid: &str| format!("NE{}", sid[2..].parse::<u128>().unwrap());
        choose(r, health, call_id).map(|c| short(c.target.sid.as_str()))
    }

    /// How many of `n` Call-IDs go to each target.
    fn spread(r: &DomainRoute, health: &Health, n: usize) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for i in 0..n {
            let sid = pick(r, health, &format!("{i:x}-call@10.1.2.3")).unwrap();
            *counts.entry(sid).or_default() += 1;
        }
        counts
    }

    /// Health in which every destination of `r` is probed (at most `limit`) and down.
    fn all_down(r: &DomainRoute, limit: usize) -> Health {
        let health = Health::default();
        let all: Destinations = r
            .destinations
            .iter()
            .flatten()
            .map(|d| (*d, Arc::from(Vec::<String>::new())))
            .collect();
        health.rebuild(&all, limit, Vec::new);
        for _ in 0..2 {
            health.before_probes(1);
        }
        health
    }

    /// Health in which the destinations of targets `down` (by number) are down.
    fn health_with_down(r: &DomainRoute, down: &[u8]) -> Health {
        let health = all_down(r, 100);
        for d in r.destinations.iter().flatten() {
            let n = match d.addr.ip() {
                std::net::IpAddr::V4(ip) => ip.octets()[3],
                std::net::IpAddr::V6(_) => 0,
            };
            if !down.contains(&n) {
                health.answered(d.addr);
            }
        }
        health
    }

    #[test]
    fn the_lowest_priority_value_wins() {
        let r = route(vec![
            target(1, 20, 10, true),
            target(2, 5, 10, true),
            target(3, 10, 10, true),
        ]);
        let h = Health::default();
        assert_eq!(spread(&r, &h, 1000), HashMap::from([("NE2".into(), 1000)]));
    }

    #[test]
    fn equal_priorities_share_by_weight() {
        let r = route(vec![
            target(1, 10, 10, true),
            target(2, 10, 30, true),
            target(3, 10, 60, true),
            target(4, 11, 100, true),
        ]);
        let n = 20_000;
        let counts = spread(&r, &Health::default(), n);
        for (sid, share) in [("NE1", 0.1), ("NE2", 0.3), ("NE3", 0.6)] {
            let got = counts[sid] as f64 / n as f64;
            assert!(
                (got - share).abs() < 0.02,
                "{sid}: {got} of the calls, {counts:?}"
            );
        }
        assert!(!counts.contains_key("NE4"), "a higher priority value waits");
    }

    #[test]
    fn disabled_and_unusable_targets_are_never_chosen() {
        let mut unusable = target(3, 1, 10, true);
        unusable.uri = "sip:carrier.example.com".into();
        let r = route(vec![
            target(1, 1, 100, false),
            unusable,
            target(2, 10, 10, true),
        ]);
        assert_eq!(
            spread(&r, &Health::default(), 1000),
            HashMap::from([("NE2".into(), 1000)])
        );
        let none = route(vec![target(1, 1, 100, false)]);
        assert_eq!(pick(&none, &Health::default(), "c"), None);
        assert_eq!(pick(&route(vec![]), &Health::default(), "c"), None);
    }

    #[test]
    fn unhealthy_targets_are_skipped_and_the_next_priority_takes_over() {
        let r = route(vec![
            target(1, 1, 10, true),
            target(2, 1, 10, true),
            target(3, 2, 10, true),
        ]);
        let h = health_with_down(&r, &[1]);
        assert_eq!(spread(&r, &h, 500), HashMap::from([("NE2".into(), 500)]));
        let h = health_with_down(&r, &[1, 2]);
        assert_eq!(spread(&r, &h, 500), HashMap::from([("NE3".into(), 500)]));
        let h = health_with_down(&r, &[1, 2, 3]);
        assert_eq!(pick(&r, &h, "c"), None, "nothing up: the upstream's turn");
        let h = health_with_down(&r, &[]);
        assert_eq!(spread(&r, &h, 1000).len(), 2);
    }

    #[test]
    fn targets_past_the_128th_are_weighed_too() {
        let mut targets: Vec<RouteTarget> = (0..140u8)
            .map(|n| {
                let mut t = target(n, 1, 10, n >= 130);
                t.uri = format!("sip:127.0.{}.{}", n / 100 + 1, n % 100 + 1);
                t
            })
            .collect();
        targets[135].uri = "sip:127.0.9.9".into();
        let r = route(targets);
        let counts = spread(&r, &Health::default(), 2000);
        assert_eq!(counts.len(), 10, "the ten enabled targets: {counts:?}");
        assert!(
            counts
                .keys()
                .all(|sid| sid[2..].parse::<u32>().unwrap() >= 130),
            "{counts:?}"
        );
        let h = health_with_down(&r, &[]);
        let down = all_down(&r, 200);
        down.answered("127.0.9.9:5060".parse().unwrap());
        assert_eq!(
            spread(&r, &down, 300),
            HashMap::from([("NE135".into(), 300)])
        );
        assert_eq!(spread(&r, &h, 2000).len(), 10);
    }

    #[test]
    fn tcp_targets_keep_their_transport() {
        let mut t = target(1, 1, 10, true);
        t.uri = "sip:127.0.0.1:5070;transport=tcp".into();
        let r = route(vec![t]);
        let c = choose(&r, &Health::default(), "c").unwrap();
        assert_eq!(c.destination.wire, Wire::Tcp);
        assert_eq!(c.destination.addr, "127.0.0.1:5070".parse().unwrap());
    }

    proptest! {
        /// Whatever the targets, the choice is stable per Call-ID, enabled, of the lowest
        /// priority value among the enabled ones.
        #[test]
        fn the_choice_is_stable_enabled_and_of_the_best_priority(
            specs in prop::collection::vec((0u16..4, 1u16..100, any::<bool>()), 0..8),
            call_id in "[a-z0-9@.-]{1,40}",
        ) {
            let targets: Vec<RouteTarget> = specs
                .iter()
                .enumerate()
                .map(|(i, (p, w, e))| target(i as u8 + 1, *p, *w, *e))
                .collect();
            let r = route(targets.clone());
            let h = Health::default();
            let first = choose(&r, &h, &call_id);
            prop_assert_eq!(first, choose(&r, &h, &call_id));
            let best = targets.iter().filter(|t| t.enabled).map(|t| t.priority).min();
            match first {
                None => prop_assert_eq!(best, None),
                Some(c) => {
                    prop_assert!(c.target.enabled);
                    prop_assert_eq!(Some(c.target.priority), best);
                }
            }
        }
    }
}
