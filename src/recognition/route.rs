//! Where a recognised domain's traffic goes: the targets of the connection policy of the domain's
//! BYOC trunk, as the SIP edge reads them from the snapshot, and the writer's master copy of the
//! trunks and policies.
//!
//! A domain names a trunk (`byoc_trunk_sid`), a trunk names a policy, a policy lists targets. The
//! snapshot holds, per domain, the [`DomainRoute`] of its policy (shared by every domain whose
//! trunk names that policy), or nothing: then the edge falls back to `--sip-upstream`.
//!
//! Each target's URI is parsed once, when its policy's route is built, into a [`Destination`]
//! (an IP address, a port and UDP or TCP), so the edge reads addresses, not URIs. A target whose
//! host is not an IP literal has no destination (sipmap does not resolve names on the data
//! path): the edge never chooses it. The snapshot also holds every destination of every target,
//! with the targets that name it ([`Destinations`]): what the edge probes, and the only addresses
//! besides the upstream that it takes responses from.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

pub use crate::domain::Destination;
use crate::domain::OutboundPolicy;
use crate::sid::{ByocTrunkSid, ConnectionPolicySid, PolicyTargetSid};

/// Every destination of every target, with the SIDs of the targets that name it.
pub type Destinations = HashMap<Destination, Arc<[String]>>;

/// Each domain's route, by domain index (`None`: no trunk, no policy, or no target).
pub type Routes = Arc<Vec<Option<Arc<DomainRoute>>>>;

/// The destinations of the targets that some domain of `routes` routes to (each policy's route
/// is shared by its domains, so it is read once; a destination of several policies is repeated).
pub fn routed_destinations(routes: &[Option<Arc<DomainRoute>>]) -> Vec<Destination> {
    let mut seen: HashSet<*const DomainRoute> = HashSet::new();
    let mut out = Vec::new();
    for route in routes.iter().flatten() {
        if seen.insert(Arc::as_ptr(route)) {
            out.extend(route.destinations.iter().flatten().copied());
        }
    }
    out
}

/// One target of a connection policy, as the API stores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouteTarget {
    /// Its SID.
    pub sid: PolicyTargetSid,
    /// A `sip:` URI (`transport=tcp` selects TCP).
    pub uri: String,
    /// Lower is tried first.
    pub priority: u16,
    /// Share of the traffic among targets of equal priority.
    pub weight: u16,
    /// A disabled target is never chosen.
    pub enabled: bool,
}

/// The targets a domain's traffic may go to: its trunk's policy's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRoute {
    /// The connection policy.
    pub policy_sid: ConnectionPolicySid,
    /// Its targets, by SID.
    pub targets: Vec<RouteTarget>,
    /// Each target's destination, by the same index (`None`: its host is not an IP literal, or
    /// the operator's outbound policy refuses its address).
    pub destinations: Vec<Option<Destination>>,
}

impl DomainRoute {
    /// The route of policy `policy_sid` with `targets`, their URIs parsed and their addresses
    /// checked against `outbound`.
    pub fn new(
        policy_sid: ConnectionPolicySid,
        targets: Vec<RouteTarget>,
        outbound: &OutboundPolicy,
    ) -> Self {
        let destinations = targets
            .iter()
            .map(|t| Destination::allowed_from_uri(&t.uri, outbound))
            .collect();
        Self {
            policy_sid,
            targets,
            destinations,
        }
    }
}

/// The writer's master copy of trunks, policies and which domain uses which trunk.
#[derive(Debug, Default)]
pub struct RouteMaster {
    /// Each trunk's policy, if it names one.
    trunks: HashMap<ByocTrunkSid, Option<ConnectionPolicySid>>,
    /// Each policy's targets, by target SID.
    policies: HashMap<ConnectionPolicySid, BTreeMap<PolicyTargetSid, RouteTarget>>,
    /// Each policy's published route.
    published: HashMap<ConnectionPolicySid, Arc<DomainRoute>>,
    /// Each domain's trunk, by domain index.
    domain_trunk: HashMap<u32, ByocTrunkSid>,
    /// The domains naming each trunk (the reverse of `domain_trunk`).
    trunk_domains: HashMap<ByocTrunkSid, HashSet<u32>>,
    /// The trunks naming each policy (the reverse of `trunks`).
    policy_trunks: HashMap<ConnectionPolicySid, HashSet<ByocTrunkSid>>,
    /// Domains whose published route must be rebuilt.
    dirty: HashSet<u32>,
    /// Policies whose published route must be rebuilt.
    dirty_policies: HashSet<ConnectionPolicySid>,
    /// Each target's destination, by target SID.
    target_destination: HashMap<PolicyTargetSid, Destination>,
    /// Each destination's targets.
    destinations: HashMap<Destination, BTreeSet<PolicyTargetSid>>,
    /// The destinations whose targets changed since they were last published.
    dirty_destinations: HashSet<Destination>,
    /// `destinations` as last published: a change rewrites its entries, and publishing copies
    /// this table, not every target's SID.
    published_destinations: Destinations,
    /// Where sipmap may send: a target whose address it refuses has no destination.
    outbound: Arc<OutboundPolicy>,
}

impl RouteMaster {
    /// An empty master copy whose targets' addresses are checked against `outbound`.
    pub fn new(outbound: Arc<OutboundPolicy>) -> Self {
        Self {
            outbound,
            ..Self::default()
        }
    }

    /// The domain at `index` names `trunk` (or none).
    pub fn set_domain(&mut self, index: u32, trunk: Option<&ByocTrunkSid>) {
        self.forget_domain(index);
        if let Some(t) = trunk {
            self.domain_trunk.insert(index, t.clone());
            self.trunk_domains
                .entry(t.clone())
                .or_default()
                .insert(index);
        }
    }

    /// The domain at `index` is gone.
    pub fn forget_domain(&mut self, index: u32) {
        if let Some(old) = self.domain_trunk.remove(&index) {
            remove_from(&mut self.trunk_domains, &old, &index);
        }
        self.dirty.insert(index);
    }

    /// A trunk created or changed: it names `policy` (or none).
    pub fn trunk_set(&mut self, trunk: &ByocTrunkSid, policy: Option<&ConnectionPolicySid>) {
        self.unlink_trunk(trunk);
        if let Some(p) = policy {
            self.policy_trunks
                .entry(p.clone())
                .or_default()
                .insert(trunk.clone());
        }
        self.trunks.insert(trunk.clone(), policy.cloned());
        self.mark_trunk_users(trunk);
    }

    /// A trunk deleted.
    pub fn trunk_removed(&mut self, trunk: &ByocTrunkSid) {
        self.unlink_trunk(trunk);
        self.trunks.remove(trunk);
        self.mark_trunk_users(trunk);
    }

    /// Forgets which policy `trunk` named, in the reverse index.
    fn unlink_trunk(&mut self, trunk: &ByocTrunkSid) {
        if let Some(Some(old)) = self.trunks.get(trunk) {
            let old = old.clone();
            remove_from(&mut self.policy_trunks, &old, trunk);
        }
    }

    /// A target created or changed.
    pub fn target_set(&mut self, policy: &ConnectionPolicySid, target: RouteTarget) {
        let dest = Destination::allowed_from_uri(&target.uri, &self.outbound);
        // A change that keeps the destination (enabled, priority, weight) leaves the list of
        // destinations as it is: rebuilding it costs a pass over every target.
        if self.target_destination.get(&target.sid).copied() != dest {
            self.unindex_target(&target.sid);
            if let Some(dest) = dest {
                self.target_destination.insert(target.sid.clone(), dest);
                self.destinations
                    .entry(dest)
                    .or_default()
                    .insert(target.sid.clone());
                self.dirty_destinations.insert(dest);
            }
        }
        self.policies
            .entry(policy.clone())
            .or_default()
            .insert(target.sid.clone(), target);
        self.dirty_policies.insert(policy.clone());
    }

    /// A target deleted.
    pub fn target_removed(&mut self, policy: &ConnectionPolicySid, target: &PolicyTargetSid) {
        self.unindex_target(target);
        if let Some(targets) = self.policies.get_mut(policy) {
            targets.remove(target);
            if targets.is_empty() {
                self.policies.remove(policy);
            }
        }
        self.dirty_policies.insert(policy.clone());
    }

    /// Forgets the destination of the target `sid`, if it had one.
    fn unindex_target(&mut self, sid: &PolicyTargetSid) {
        let Some(dest) = self.target_destination.remove(sid) else {
            return;
        };
        if let Some(sids) = self.destinations.get_mut(&dest) {
            sids.remove(sid);
            if sids.is_empty() {
                self.destinations.remove(&dest);
            }
        }
        self.dirty_destinations.insert(dest);
    }

    /// Every destination with its targets' SIDs, when that changed since the last call.
    pub fn take_destinations(&mut self) -> Option<Arc<Destinations>> {
        if self.dirty_destinations.is_empty() {
            return None;
        }
        for dest in std::mem::take(&mut self.dirty_destinations) {
            match self.destinations.get(&dest) {
                Some(sids) => {
                    let sids: Arc<[String]> = sids.iter().map(ToString::to_string).collect();
                    self.published_destinations.insert(dest, sids);
                }
                None => {
                    self.published_destinations.remove(&dest);
                }
            }
        }
        Some(Arc::new(self.published_destinations.clone()))
    }

    /// Marks the domains naming `trunk` for republishing.
    fn mark_trunk_users(&mut self, trunk: &ByocTrunkSid) {
        if let Some(users) = self.trunk_domains.get(trunk) {
            self.dirty.extend(users.iter().copied());
        }
    }

    /// Publishes what changed: rebuilds changed policies, then the route of every domain whose
    /// trunk or policy changed. Returns the domains to republish.
    pub fn take_changed(&mut self) -> Vec<(u32, Option<Arc<DomainRoute>>)> {
        if !self.dirty_policies.is_empty() {
            for policy in std::mem::take(&mut self.dirty_policies) {
                match self.policies.get(&policy) {
                    Some(targets) => {
                        let targets = targets.values().cloned().collect();
                        let route = DomainRoute::new(policy.clone(), targets, &self.outbound);
                        self.published.insert(policy.clone(), Arc::new(route));
                    }
                    None => {
                        self.published.remove(&policy);
                    }
                }
                let users = self
                    .policy_trunks
                    .get(&policy)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| self.trunk_domains.get(t))
                    .flatten()
                    .copied();
                self.dirty.extend(users);
            }
        }
        let dirty: Vec<u32> = self.dirty.drain().collect();
        dirty
            .into_iter()
            .map(|index| (index, self.route_of(index)))
            .collect()
    }

    /// The route of the domain at `index`: its trunk's policy's, when both exist (a policy
    /// without targets gives a route without targets).
    fn route_of(&self, index: u32) -> Option<Arc<DomainRoute>> {
        let trunk = self.domain_trunk.get(&index)?;
        let policy = self.trunks.get(trunk)?.as_ref()?;
        Some(self.published.get(policy).cloned().unwrap_or_else(|| {
            Arc::new(DomainRoute::new(policy.clone(), Vec::new(), &self.outbound))
        }))
    }
}

/// Removes `item` from the set at `key`, and the set when it is left empty.
fn remove_from<K, Q, T, R>(index: &mut HashMap<K, HashSet<T>>, key: &Q, item: &R)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
    T: std::borrow::Borrow<R> + std::hash::Hash + Eq,
    R: std::hash::Hash + Eq + ?Sized,
{
    if let Some(set) = index.get_mut(key) {
        set.remove(item);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::Sid;
    use crate::sip_syntax::Wire;

    /// The SID of kind `S` numbered `n`.
    fn sid<S: Sid>(n: u8) -> S {
        S::parse(&format!("{}{n:032x}", S::PREFIX)).unwrap()
    }

    fn by(n: u8) -> ByocTrunkSid {
        sid(n)
    }

    fn ny(n: u8) -> ConnectionPolicySid {
        sid(n)
    }

    fn ne(n: u8) -> PolicyTargetSid {
        sid(n)
    }

    fn target(n: u8, priority: u16) -> RouteTarget {
        RouteTarget {
            sid: ne(n),
            uri: format!("sip:ne{n}.example.com"),
            priority,
            weight: 10,
            enabled: true,
        }
    }

    #[test]
    fn a_domain_follows_its_trunk_and_policy() {
        let mut m = RouteMaster::default();
        m.set_domain(0, Some(&by(1)));
        m.set_domain(1, None);
        m.target_set(&ny(1), target(1, 10));
        let changed: HashMap<u32, Option<Arc<DomainRoute>>> =
            m.take_changed().into_iter().collect();
        assert_eq!(changed[&0], None, "the trunk is not known yet");
        m.trunk_set(&by(1), Some(&ny(1)));
        let changed = m.take_changed();
        assert_eq!(changed.len(), 1);
        let route = changed[0].1.clone().unwrap();
        assert_eq!((&route.policy_sid, route.targets.len()), (&ny(1), 1));
        // A new target reaches the domain, and only that domain.
        m.target_set(&ny(1), target(2, 5));
        let changed = m.take_changed();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].1.as_ref().unwrap().targets.len(), 2);
        // The trunk loses its policy: no route.
        m.trunk_set(&by(1), None);
        assert_eq!(m.take_changed(), vec![(0, None)]);
        m.trunk_set(&by(1), Some(&ny(1)));
        m.target_removed(&ny(1), &ne(1));
        m.target_removed(&ny(1), &ne(2));
        let changed = m.take_changed();
        assert_eq!(changed[0].1.as_ref().unwrap().targets, vec![]);
        m.forget_domain(0);
        assert_eq!(m.take_changed(), vec![(0, None)]);
    }

    #[test]
    fn changes_reach_exactly_the_domains_that_use_them() {
        let mut m = RouteMaster::default();
        for i in 0..4 {
            m.set_domain(i, Some(&by(if i < 2 { 1 } else { 2 })));
        }
        m.trunk_set(&by(1), Some(&ny(1)));
        m.trunk_set(&by(2), Some(&ny(2)));
        m.target_set(&ny(1), target(1, 1));
        m.target_set(&ny(2), target(2, 1));
        assert_eq!(m.take_changed().len(), 4);
        let changed = |m: &mut RouteMaster| {
            let mut v: Vec<u32> = m.take_changed().into_iter().map(|(i, _)| i).collect();
            v.sort_unstable();
            v
        };
        m.target_set(&ny(1), target(3, 1));
        assert_eq!(changed(&mut m), [0, 1]);
        // Domain 1 moves to BY2, BY2 moves to NY1: NY2's changes reach no one.
        m.set_domain(1, Some(&by(2)));
        m.trunk_set(&by(2), Some(&ny(1)));
        assert_eq!(changed(&mut m), [1, 2, 3]);
        m.target_set(&ny(2), target(4, 1));
        assert_eq!(changed(&mut m), Vec::<u32>::new());
        m.target_set(&ny(1), target(5, 1));
        assert_eq!(changed(&mut m), [0, 1, 2, 3]);
        m.trunk_removed(&by(1));
        assert_eq!(changed(&mut m), [0]);
        m.forget_domain(3);
        m.target_set(&ny(1), target(6, 1));
        assert_eq!(changed(&mut m), [1, 2, 3]);
        assert!(m.trunk_domains[&by(2)].len() == 2 && m.policy_trunks[&ny(1)].len() == 1);
    }

    #[test]
    fn target_uris_are_parsed_once_into_destinations() {
        let d = |uri: &str| {
            Destination::from_uri(uri).map(|d| (d.addr.to_string(), d.wire == Wire::Tcp))
        };
        let some = |a: &str, tcp: bool| Some((a.to_owned(), tcp));
        assert_eq!(d("sip:127.0.0.2"), some("127.0.0.2:5060", false));
        assert_eq!(d("SIP:bob@10.0.0.1:5070"), some("10.0.0.1:5070", false));
        assert_eq!(
            d("sip:10.0.0.1:5070;transport=TCP"),
            some("10.0.0.1:5070", true)
        );
        assert_eq!(
            d("sip:10.0.0.1;lr;transport=udp"),
            some("10.0.0.1:5060", false)
        );
        assert_eq!(
            d("sip:[2001:db8::1]:5080"),
            some("[2001:db8::1]:5080", false)
        );
        assert_eq!(d("sip:[::ffff:10.0.0.9]"), some("10.0.0.9:5060", false));
        assert_eq!(
            d("sip:10.0.0.1?transport=tcp"),
            some("10.0.0.1:5060", false)
        );
        for bad in [
            "sip:carrier.example.com",
            "sips:10.0.0.1",
            "sip:10.0.0.1:0",
            "sip:10.0.0.1:99999",
            "sip:0.0.0.0",
            "sip:224.0.0.1",
            "sip:[2001:db8::1",
            "sip:",
            "s",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn destinations_follow_targets() {
        let mut m = RouteMaster::default();
        let mut t = target(1, 10);
        t.uri = "sip:127.0.0.2".into();
        m.target_set(&ny(1), t.clone());
        let mut u = target(2, 10);
        u.uri = "sip:127.0.0.2:5060".into();
        m.target_set(&ny(2), u);
        let all = m.take_destinations().expect("changed");
        assert_eq!(all.len(), 1);
        assert_eq!(
            all.values().next().unwrap().to_vec(),
            [ne(1).to_string(), ne(2).to_string()]
        );
        assert!(m.take_destinations().is_none(), "nothing changed since");
        t.enabled = false;
        t.priority = 1;
        m.target_set(&ny(1), t.clone());
        assert!(m.take_destinations().is_none(), "the same destination");
        t.uri = "sip:127.0.0.3;transport=tcp".into();
        m.target_set(&ny(1), t);
        let all = m.take_destinations().unwrap();
        assert_eq!(all.len(), 2);
        m.target_removed(&ny(1), &ne(1));
        m.target_removed(&ny(2), &ne(2));
        assert!(m.take_destinations().unwrap().is_empty());
    }

    #[test]
    fn targets_the_outbound_policy_refuses_have_no_destination() {
        let deny = vec!["10.0.0.0/8".parse().unwrap()];
        let mut m = RouteMaster::new(Arc::new(OutboundPolicy::new(&[], &deny)));
        m.trunk_set(&by(1), Some(&ny(1)));
        m.set_domain(0, Some(&by(1)));
        for (n, uri) in [
            (1, "sip:10.1.2.3"),
            (2, "sip:[::ffff:10.0.0.9]:5070"),
            (3, "sip:169.254.169.254"),
            (4, "sip:[fe80::1]"),
            (5, "sip:192.0.2.7"),
        ] {
            let mut t = target(n, 10);
            t.uri = uri.into();
            m.target_set(&ny(1), t);
        }
        let all = m.take_destinations().unwrap();
        let only: Vec<String> = all.keys().map(|d| d.addr.to_string()).collect();
        assert_eq!(only, ["192.0.2.7:5060"], "nothing refused is probed");
        let (_, route) = m.take_changed().pop().unwrap();
        let route = route.unwrap();
        let dests: Vec<bool> = route.destinations.iter().map(Option::is_some).collect();
        assert_eq!(dests, [false, false, false, false, true], "nor chosen");
        // By default only link-local addresses are refused.
        let open = OutboundPolicy::default();
        assert!(Destination::allowed_from_uri("sip:10.1.2.3", &open).is_some());
        assert!(Destination::allowed_from_uri("sip:169.254.1.1", &open).is_none());
    }
}
