//! Where a recognised domain's traffic goes: the targets of the connection policy of the domain's
//! BYOC trunk, as the SIP edge reads them from the snapshot, and the writer's master copy of the
//! trunks and policies.
//!
//! A domain names a trunk (`byoc_trunk_sid`), a trunk names a policy, a policy lists targets. The
//! snapshot holds, per domain, the [`DomainRoute`] of its policy (shared by every domain whose
//! trunk names that policy), or nothing: then the edge falls back to `--sip-upstream`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// One target of a connection policy, as the API stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    /// Its SID (`NE…`).
    pub sid: String,
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainRoute {
    /// The connection policy (`NY…`).
    pub policy_sid: String,
    /// Its targets, by SID.
    pub targets: Vec<RouteTarget>,
}

/// The writer's master copy of trunks, policies and which domain uses which trunk.
#[derive(Debug, Default)]
pub struct RouteMaster {
    /// Each trunk's policy, if it names one.
    trunks: HashMap<String, Option<String>>,
    /// Each policy's targets, by target SID.
    policies: HashMap<String, BTreeMap<String, RouteTarget>>,
    /// Each policy's published route.
    published: HashMap<String, Arc<DomainRoute>>,
    /// Each domain's trunk, by domain index.
    domain_trunk: HashMap<u32, String>,
    /// Domains whose published route must be rebuilt.
    dirty: HashSet<u32>,
    /// Policies whose published route must be rebuilt.
    dirty_policies: HashSet<String>,
}

impl RouteMaster {
    /// The domain at `index` names `trunk` (or none).
    pub fn set_domain(&mut self, index: u32, trunk: Option<&str>) {
        match trunk {
            Some(t) => self.domain_trunk.insert(index, t.to_owned()),
            None => self.domain_trunk.remove(&index),
        };
        self.dirty.insert(index);
    }

    /// The domain at `index` is gone.
    pub fn forget_domain(&mut self, index: u32) {
        self.domain_trunk.remove(&index);
        self.dirty.insert(index);
    }

    /// A trunk created or changed: it names `policy` (or none).
    pub fn trunk_set(&mut self, trunk: &str, policy: Option<&str>) {
        self.trunks
            .insert(trunk.to_owned(), policy.map(str::to_owned));
        self.mark_trunk_users(trunk);
    }

    /// A trunk deleted.
    pub fn trunk_removed(&mut self, trunk: &str) {
        self.trunks.remove(trunk);
        self.mark_trunk_users(trunk);
    }

    /// A target created or changed.
    pub fn target_set(&mut self, policy: &str, target: RouteTarget) {
        self.policies
            .entry(policy.to_owned())
            .or_default()
            .insert(target.sid.clone(), target);
        self.dirty_policies.insert(policy.to_owned());
    }

    /// A target deleted.
    pub fn target_removed(&mut self, policy: &str, target: &str) {
        if let Some(targets) = self.policies.get_mut(policy) {
            targets.remove(target);
            if targets.is_empty() {
                self.policies.remove(policy);
            }
        }
        self.dirty_policies.insert(policy.to_owned());
    }

    fn mark_trunk_users(&mut self, trunk: &str) {
        let users = self
            .domain_trunk
            .iter()
            .filter(|(_, t)| t.as_str() == trunk)
            .map(|(i, _)| *i);
        self.dirty.extend(users);
    }

    /// Publishes what changed: rebuilds changed policies, then the route of every domain whose
    /// trunk or policy changed. Returns the domains to republish.
    pub fn take_changed(&mut self) -> Vec<(u32, Option<Arc<DomainRoute>>)> {
        if !self.dirty_policies.is_empty() {
            for policy in std::mem::take(&mut self.dirty_policies) {
                match self.policies.get(&policy) {
                    Some(targets) => {
                        let route = DomainRoute {
                            policy_sid: policy.clone(),
                            targets: targets.values().cloned().collect(),
                        };
                        self.published.insert(policy.clone(), Arc::new(route));
                    }
                    None => {
                        self.published.remove(&policy);
                    }
                }
                let users = self
                    .domain_trunk
                    .iter()
                    .filter(|(_, t)| {
                        self.trunks.get(t.as_str()).and_then(Option::as_deref)
                            == Some(policy.as_str())
                    })
                    .map(|(i, _)| *i);
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
            Arc::new(DomainRoute {
                policy_sid: policy.clone(),
                targets: Vec::new(),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(sid: &str, priority: u16) -> RouteTarget {
        RouteTarget {
            sid: sid.into(),
            uri: format!("sip:{sid}.example.com"),
            priority,
            weight: 10,
            enabled: true,
        }
    }

    #[test]
    fn a_domain_follows_its_trunk_and_policy() {
        let mut m = RouteMaster::default();
        m.set_domain(0, Some("BY1"));
        m.set_domain(1, None);
        m.target_set("NY1", target("NE1", 10));
        let changed: HashMap<u32, Option<Arc<DomainRoute>>> =
            m.take_changed().into_iter().collect();
        assert_eq!(changed[&0], None, "the trunk is not known yet");
        m.trunk_set("BY1", Some("NY1"));
        let changed = m.take_changed();
        assert_eq!(changed.len(), 1);
        let route = changed[0].1.clone().unwrap();
        assert_eq!((route.policy_sid.as_str(), route.targets.len()), ("NY1", 1));
        // A new target reaches the domain, and only that domain.
        m.target_set("NY1", target("NE2", 5));
        let changed = m.take_changed();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].1.as_ref().unwrap().targets.len(), 2);
        // The trunk loses its policy: no route.
        m.trunk_set("BY1", None);
        assert_eq!(m.take_changed(), vec![(0, None)]);
        m.trunk_set("BY1", Some("NY1"));
        m.target_removed("NY1", "NE1");
        m.target_removed("NY1", "NE2");
        let changed = m.take_changed();
        assert_eq!(changed[0].1.as_ref().unwrap().targets, vec![]);
        m.forget_domain(0);
        assert_eq!(m.take_changed(), vec![(0, None)]);
    }
}
