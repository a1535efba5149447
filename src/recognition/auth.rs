//! What a recognised domain lets in: the IP access control lists and credential lists mapped to
//! it, as the SIP edge reads them from the snapshot, and the writer's master copy of them.
//!
//! An access control list is published as a [`NetworkSet`]: its networks merged into sorted,
//! disjoint address ranges (8 bytes each), with a 16-bit slot index over large lists, so a
//! membership test is one indexing and a short binary search. A credential list is a map from
//! username to [`Secret`]. A domain's [`DomainAuth`] holds the lists mapped to it, shared with
//! every other domain that maps them.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

pub use crate::domain::AuthKind;
use crate::domain::Network;

/// Lists with more ranges than this get a slot index.
const INDEXED_FROM: usize = 1024;

/// A set of IPv4 networks as sorted, disjoint, non-adjacent ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSet {
    /// `(first, last)` address of each range, ascending.
    ranges: Vec<(u32, u32)>,
    /// For large sets: `slots[s]` is the index of the first range whose last address is in or
    /// after slot `s` (the addresses with `s` as their top 16 bits); 65,537 entries.
    slots: Vec<u32>,
}

impl NetworkSet {
    /// The union of `networks`.
    pub fn from_networks<'a>(networks: impl IntoIterator<Item = &'a Network>) -> Self {
        let mut ranges: Vec<(u32, u32)> =
            networks.into_iter().map(|n| (n.addr, n.last())).collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (first, last) in ranges {
            match merged.last_mut() {
                Some((_, end)) if u64::from(first) <= u64::from(*end) + 1 => {
                    *end = (*end).max(last)
                }
                _ => merged.push((first, last)),
            }
        }
        merged.shrink_to_fit();
        let slots = if merged.len() > INDEXED_FROM {
            let mut slots = Vec::with_capacity(65_537);
            let mut i = 0usize;
            for s in 0..=65_536u64 {
                let slot_start = s << 16;
                while i < merged.len() && u64::from(merged[i].1) < slot_start {
                    i += 1;
                }
                slots.push(i as u32);
            }
            slots
        } else {
            Vec::new()
        };
        Self {
            ranges: merged,
            slots,
        }
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: u32) -> bool {
        let (lo, hi) = if self.slots.is_empty() {
            (0, self.ranges.len())
        } else {
            let s = (ip >> 16) as usize;
            (self.slots[s] as usize, self.slots[s + 1] as usize + 1)
        };
        let window = &self.ranges[lo..hi.min(self.ranges.len())];
        // The last range that starts at or before `ip`.
        let after = window.partition_point(|(first, _)| *first <= ip);
        after > 0 && window[after - 1].1 >= ip
    }

    /// How many ranges the set holds (networks merged where they touch).
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }
}

/// A credential's password as storage holds it: sealed with the server key (see
/// [`crate::secret`]). The edge opens it only to check a digest; it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// Wraps a sealed password.
    pub fn sealed(bytes: &[u8]) -> Self {
        Self(Arc::from(bytes))
    }

    /// The sealed bytes.
    pub fn as_sealed(&self) -> &[u8] {
        &self.0
    }
}

/// Serialised as base64 of the sealed bytes: the change log holds a password exactly as sealed
/// as storage and the table hold it.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text = String::deserialize(d)?;
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| serde::de::Error::custom("a sealed secret is base64"))?;
        Ok(Self::sealed(&sealed))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<sealed>)")
    }
}

/// One credential list: username to sealed password.
pub type CredentialSet = HashMap<String, Secret>;

/// What the edge needs to authorise requests to one domain.
#[derive(Debug, Clone, Default)]
pub struct DomainAuth {
    /// The access control lists mapped for calls.
    pub call_acls: Vec<Arc<NetworkSet>>,
    /// The credential lists mapped for calls.
    pub call_credentials: Vec<Arc<CredentialSet>>,
    /// The credential lists mapped for registrations.
    pub registration_credentials: Vec<Arc<CredentialSet>>,
    /// The SIDs of the lists above, index for index (what a decision names).
    pub sids: MappedSids,
}

/// The SIDs of a domain's mapped lists, in the order of [`DomainAuth`]'s lists.
#[derive(Debug, Clone, Default)]
pub struct MappedSids {
    /// Of `call_acls`.
    pub call_acls: Vec<String>,
    /// Of `call_credentials`.
    pub call_credentials: Vec<String>,
    /// Of `registration_credentials`.
    pub registration_credentials: Vec<String>,
}

impl DomainAuth {
    /// Whether anything is mapped for calls (a domain with nothing is blocked).
    pub fn has_call_auth(&self) -> bool {
        !self.call_acls.is_empty() || !self.call_credentials.is_empty()
    }

    /// Whether `ip` is inside a network of an access control list mapped for calls.
    pub fn acl_allows(&self, ip: IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4,
                None => return false,
            },
        };
        let ip = u32::from(v4);
        self.call_acls.iter().any(|set| set.contains(ip))
    }

    /// The SID of the first access control list mapped for calls that holds `ip`.
    pub fn acl_holding(&self, ip: IpAddr) -> Option<&str> {
        let ip = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => v6.to_ipv4_mapped()?,
        };
        let i = self
            .call_acls
            .iter()
            .position(|set| set.contains(u32::from(ip)))?;
        self.sids.call_acls.get(i).map(String::as_str)
    }

    /// The SID of the first credential list mapped for calls (`registrations`: for
    /// registrations) that holds `username`: the one whose password is checked.
    pub fn credential_list_of(&self, username: &str, registrations: bool) -> Option<&str> {
        let (lists, sids) = if registrations {
            (
                &self.registration_credentials,
                &self.sids.registration_credentials,
            )
        } else {
            (&self.call_credentials, &self.sids.call_credentials)
        };
        let i = lists.iter().position(|l| l.contains_key(username))?;
        sids.get(i).map(String::as_str)
    }

    /// The password of `username` in a credential list mapped for calls.
    pub fn call_secret(&self, username: &str) -> Option<&Secret> {
        self.call_credentials.iter().find_map(|l| l.get(username))
    }

    /// The password of `username` in a credential list mapped for registrations.
    pub fn registration_secret(&self, username: &str) -> Option<&Secret> {
        self.registration_credentials
            .iter()
            .find_map(|l| l.get(username))
    }
}

/// The writer's master copy of one access control list.
#[derive(Debug, Default)]
struct Acl {
    /// Its networks, once per address giving each (two addresses may give one network), in no
    /// order: adding one costs a push (a million are added at start), removing one a scan, less
    /// than publishing the list again costs anyway.
    nets: Vec<Network>,
    /// Its published set.
    published: Arc<NetworkSet>,
    /// Whether it is in `dirty_lists` (so that adding its networks one by one at start looks
    /// the list up once per network, not twice).
    dirty: bool,
}

/// The writer's master copy of every access control list, credential list and mapping.
#[derive(Debug, Default)]
pub struct AuthMaster {
    /// Each access control list.
    acls: HashMap<String, Acl>,
    /// Each credential list.
    credentials: HashMap<String, Arc<CredentialSet>>,
    /// Each domain's mapped lists, by domain index.
    mapped: HashMap<u32, Vec<(AuthKind, String)>>,
    /// The domains each list is mapped to.
    users: HashMap<String, HashSet<u32>>,
    /// Domains whose published auth must be rebuilt.
    dirty: HashSet<u32>,
    /// Lists whose published form must be rebuilt.
    dirty_lists: HashSet<String>,
}

impl AuthMaster {
    /// A network added to an access control list (once per address: two addresses may give one
    /// network). At start this runs once per stored network, so a list already known costs no
    /// allocation.
    pub fn acl_add(&mut self, list: &str, net: Network) {
        let acl = match self.acls.get_mut(list) {
            Some(acl) => acl,
            None => self.acls.entry(list.to_owned()).or_default(),
        };
        acl.nets.push(net);
        if !acl.dirty {
            acl.dirty = true;
            self.dirty_lists.insert(list.to_owned());
        }
    }

    /// Marks `list` to be published again.
    fn list_changed(&mut self, list: &str) {
        if !self.dirty_lists.contains(list) {
            self.dirty_lists.insert(list.to_owned());
        }
    }

    /// A network removed from an access control list.
    pub fn acl_remove(&mut self, list: &str, net: Network) {
        if let Some(acl) = self.acls.get_mut(list) {
            if let Some(i) = acl.nets.iter().position(|n| *n == net) {
                acl.nets.swap_remove(i);
            }
            acl.dirty = true;
            self.dirty_lists.insert(list.to_owned());
        }
    }

    /// A credential set (created or given a new password).
    pub fn credential_set(&mut self, list: &str, username: &str, secret: Secret) {
        let set = match self.credentials.get_mut(list) {
            Some(set) => set,
            None => self.credentials.entry(list.to_owned()).or_default(),
        };
        Arc::make_mut(set).insert(username.to_owned(), secret);
        self.list_changed(list);
    }

    /// A credential removed.
    pub fn credential_remove(&mut self, list: &str, username: &str) {
        if let Some(set) = self.credentials.get_mut(list) {
            Arc::make_mut(set).remove(username);
            self.list_changed(list);
        }
    }

    /// A list mapped to the domain at `index` for `kind`.
    pub fn map(&mut self, index: u32, kind: AuthKind, list: &str) {
        let mapped = self.mapped.entry(index).or_default();
        if !mapped.iter().any(|(k, l)| *k == kind && l == list) {
            mapped.push((kind, list.to_owned()));
        }
        self.users.entry(list.to_owned()).or_default().insert(index);
        self.dirty.insert(index);
    }

    /// A list unmapped from the domain at `index` for `kind`.
    pub fn unmap(&mut self, index: u32, kind: AuthKind, list: &str) {
        if let Some(mapped) = self.mapped.get_mut(&index) {
            mapped.retain(|(k, l)| !(*k == kind && l == list));
            if !mapped.iter().any(|(_, l)| l == list)
                && let Some(users) = self.users.get_mut(list)
            {
                users.remove(&index);
            }
        }
        self.dirty.insert(index);
    }

    /// Everything mapped to the domain at `index` goes (the domain was removed).
    pub fn forget_domain(&mut self, index: u32) {
        if let Some(mapped) = self.mapped.remove(&index) {
            for (_, list) in mapped {
                if let Some(users) = self.users.get_mut(&list) {
                    users.remove(&index);
                }
            }
        }
        self.dirty.insert(index);
    }

    /// Publishes what changed: rebuilds changed lists, then the auth of every domain that maps
    /// a changed list or whose mappings changed. Returns the domains to republish.
    pub fn take_changed(&mut self) -> Vec<(u32, Arc<DomainAuth>)> {
        for list in std::mem::take(&mut self.dirty_lists) {
            if let Some(acl) = self.acls.get_mut(&list) {
                acl.nets.shrink_to_fit();
                acl.published = Arc::new(NetworkSet::from_networks(&acl.nets));
                acl.dirty = false;
            }
            if let Some(users) = self.users.get(&list) {
                self.dirty.extend(users.iter().copied());
            }
        }
        let dirty: Vec<u32> = self.dirty.drain().collect();
        dirty
            .into_iter()
            .map(|index| (index, Arc::new(self.domain_auth(index))))
            .collect()
    }

    /// The published auth of the domain at `index`.
    pub fn domain_auth(&self, index: u32) -> DomainAuth {
        let mut auth = DomainAuth::default();
        for (kind, list) in self.mapped.get(&index).into_iter().flatten() {
            let sids = match kind {
                AuthKind::CallsAcl => &mut auth.sids.call_acls,
                AuthKind::CallsCredentials => &mut auth.sids.call_credentials,
                AuthKind::RegistrationCredentials => &mut auth.sids.registration_credentials,
            };
            sids.push(list.clone());
            match kind {
                AuthKind::CallsAcl => auth.call_acls.push(
                    self.acls
                        .get(list)
                        .map(|acl| acl.published.clone())
                        .unwrap_or_default(),
                ),
                AuthKind::CallsCredentials => auth
                    .call_credentials
                    .push(self.credentials.get(list).cloned().unwrap_or_default()),
                AuthKind::RegistrationCredentials => auth
                    .registration_credentials
                    .push(self.credentials.get(list).cloned().unwrap_or_default()),
            }
        }
        auth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str, p: u8) -> Network {
        Network::new(s.parse().unwrap(), p)
    }

    #[test]
    fn sets_merge_touching_and_nested_networks() {
        let set = NetworkSet::from_networks(&[
            net("10.0.0.0", 8),
            net("10.1.0.0", 16),
            net("11.0.0.0", 8),
            net("192.0.2.7", 32),
        ]);
        assert_eq!(set.ranges(), 2, "10/8 and 11/8 touch; 10.1/16 is inside");
        for (ip, inside) in [
            ("10.1.2.3", true),
            ("11.255.255.255", true),
            ("12.0.0.0", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("0.0.0.0", false),
        ] {
            let ip: std::net::Ipv4Addr = ip.parse().unwrap();
            assert_eq!(set.contains(u32::from(ip)), inside, "{ip}");
        }
        assert!(!NetworkSet::default().contains(0));
    }

    proptest! {
        /// Membership equals "inside one of the networks", for small and slot-indexed sets.
        #[test]
        fn membership_matches_brute_force(
            nets in prop::collection::vec((any::<u32>(), 1u8..=32), 0..3000),
            probes in prop::collection::vec(any::<u32>(), 50),
        ) {
            let nets: Vec<Network> = nets
                .into_iter()
                .map(|(a, p)| Network::new(a.into(), p.max(12)))
                .collect();
            let set = NetworkSet::from_networks(&nets);
            let mut probes = probes;
            probes.extend(nets.iter().take(50).map(|n| n.addr));
            probes.extend(nets.iter().take(50).map(|n| n.last()));
            probes.extend(nets.iter().take(50).map(|n| n.last().wrapping_add(1)));
            for ip in probes {
                let brute = nets.iter().any(|n| n.addr <= ip && ip <= n.last());
                prop_assert_eq!(set.contains(ip), brute, "ip {}", ip);
            }
        }
    }

    #[test]
    fn a_network_two_addresses_give_stays_until_both_are_removed() {
        let mut m = AuthMaster::default();
        m.map(0, AuthKind::CallsAcl, "AL1");
        for _ in 0..2 {
            m.acl_add("AL1", net("10.0.0.0", 24));
        }
        m.acl_add("AL1", net("10.0.1.0", 24));
        let inside = |m: &mut AuthMaster, ip: &str| {
            let changed = m.take_changed();
            changed[0].1.acl_allows(ip.parse().unwrap())
        };
        assert!(inside(&mut m, "10.0.0.1"));
        m.acl_remove("AL1", net("10.0.0.0", 24));
        assert!(inside(&mut m, "10.0.0.1"), "one address still gives it");
        m.acl_remove("AL1", net("10.0.0.0", 24));
        assert!(!inside(&mut m, "10.0.0.1"));
        m.acl_remove("AL1", net("10.0.0.0", 24));
        assert!(
            inside(&mut m, "10.0.1.1"),
            "removing what is not there changes nothing"
        );
    }

    #[test]
    fn domains_see_list_changes_and_unmapping() {
        let mut m = AuthMaster::default();
        m.acl_add("AL1", net("10.0.0.0", 24));
        m.credential_set("CL1", "alice", Secret::sealed(b"sealed-1"));
        m.map(0, AuthKind::CallsAcl, "AL1");
        m.map(0, AuthKind::CallsCredentials, "CL1");
        m.map(1, AuthKind::RegistrationCredentials, "CL1");
        let published: HashMap<u32, Arc<DomainAuth>> = m.take_changed().into_iter().collect();
        let d0 = &published[&0];
        assert!(d0.has_call_auth() && d0.acl_allows("10.0.0.9".parse().unwrap()));
        assert!(!d0.acl_allows("10.0.1.9".parse().unwrap()));
        assert_eq!(d0.call_secret("alice").unwrap().as_sealed(), b"sealed-1");
        assert!(published[&1].registration_secret("alice").is_some());
        assert!(!published[&1].has_call_auth());
        // A network added to the list reaches the domain that maps it, and only that one.
        m.acl_add("AL1", net("10.0.1.0", 24));
        let changed = m.take_changed();
        assert_eq!(changed.len(), 1);
        assert!(changed[0].1.acl_allows("10.0.1.9".parse().unwrap()));
        m.unmap(0, AuthKind::CallsAcl, "AL1");
        let changed = m.take_changed();
        assert!(!changed[0].1.acl_allows("10.0.0.9".parse().unwrap()));
        assert_eq!(format!("{:?}", Secret::sealed(b"x")), "Secret(<sealed>)");
    }
}
