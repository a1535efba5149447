//! The recognition engine: which SIP domain (and account) a SIP request belongs to.
//!
//! The engine answers two questions from an in-memory [`Snapshot`]: which domain has this
//! Request-URI host as its name, and which domain is mapped to the network containing this source
//! address (the most specific network wins, see [`lpm`]). Storage stays the source of truth, and
//! everything reaches the table as a [`Change`], through one code path (`Master::apply`): the
//! storage writer's changes right after each commit and before the API answers
//! ([`RecognitionWriter::apply`]), so the next SIP request after a 2xx sees the change; the
//! cluster's changes, read back from the change log; and the table built at start, from every
//! stored row read as the change that would have put it there ([`RecognitionWriter::loading`],
//! [`Loading::apply`], [`RecognitionWriter::publish`]). Readers load the current snapshot with
//! one atomic operation and never wait for a writer.

pub mod auth;
pub mod change;
pub mod lpm;
pub mod route;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::domain::{MappedList, Network, OutboundPolicy, VoiceApp};
use crate::sid::{AccountSid, AclSid, ByocTrunkSid, CredentialListSid, SipDomainSid};
use crate::sip_syntax::Wire;
use auth::AuthMaster;
pub use auth::{AuthKind, DomainAuth, Secret};
pub use change::Change;
use lpm::{Lpm, LpmBuilder};
use route::RouteMaster;
pub use route::{Destination, Destinations, DomainRoute, RouteTarget, Routes, routed_destinations};

/// What recognition resolves to: a SIP domain and its account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// The domain.
    pub domain_sid: SipDomainSid,
    /// Its account.
    pub account_sid: AccountSid,
    /// Its FQDN, as written by its owner.
    pub domain_name: String,
    /// Whether it accepts `REGISTER`.
    pub sip_registration: bool,
    /// Twilio's `Secure`: requests must arrive over TLS, and INVITEs must offer SRTP.
    #[serde(default)]
    pub secure: bool,
    /// Its BYOC trunk, whose connection policy routes its traffic.
    #[serde(default)]
    pub byoc_trunk_sid: Option<ByocTrunkSid>,
    /// Its voice application, when it has a `VoiceUrl`: an admitted INVITE then starts a call
    /// (see `call_runtime`) instead of being forwarded.
    #[serde(default)]
    pub voice: Option<Arc<VoiceApp>>,
}

/// How a request was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// The Request-URI host is the domain's name.
    RequestUri,
    /// The source address is inside a mapped network.
    SourceIp,
}

impl MatchedBy {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestUri => "request_uri",
            Self::SourceIp => "source_ip",
        }
    }
}

/// Everything recognition knows of one account: its SIP domains and its mapped networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRows {
    /// Its SIP domains.
    pub domains: Vec<Target>,
    /// Its mapped networks and their domains.
    pub mappings: Vec<(Network, SipDomainSid)>,
    /// The lists mapped to its domains.
    pub auth: Vec<(SipDomainSid, AuthKind, MappedList)>,
}

/// The changes that take one account's SIP domains and mapped networks out of the table
/// (`recognised == false`, when it is suspended or closed) or put them back (when it is
/// reactivated). Networks leave before their domains and domains arrive before their networks, so
/// no network ever points at a missing domain.
pub fn account_changes(rows: AccountRows, recognised: bool) -> Vec<Change> {
    let AccountRows {
        domains,
        mappings,
        auth,
    } = rows;
    let mut out = Vec::with_capacity(domains.len() + mappings.len() + auth.len());
    if recognised {
        out.extend(domains.into_iter().map(Change::DomainSet));
        out.extend(mappings.into_iter().map(|(n, d)| Change::MappingSet(n, d)));
        out.extend(
            auth.into_iter()
                .map(|(d, k, l)| Change::AuthMapped(d, k, l)),
        );
    } else {
        out.extend(mappings.into_iter().map(|(n, _)| Change::MappingRemoved(n)));
        out.extend(
            domains
                .into_iter()
                .map(|t| Change::DomainRemoved(t.domain_sid)),
        );
    }
    out
}

/// What storage holds for recognition, grouped by kind: the changes that build the table from
/// nothing ([`State::gather`]), for a look at them (`Store::recognition_state`). The table itself
/// is built by applying them one by one as they are read ([`Loading`]), not from this.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State {
    /// Every recognised SIP domain.
    pub domains: Vec<Target>,
    /// Every mapped network of a recognised domain, with the domain.
    pub mappings: Vec<(Network, SipDomainSid)>,
    /// Every IP access control list with its networks.
    pub acl_networks: Vec<(AclSid, Vec<Network>)>,
    /// Every credential: list, username, password.
    pub credentials: Vec<(CredentialListSid, String, Secret)>,
    /// Every list mapped to a recognised domain.
    pub auth: Vec<(SipDomainSid, AuthKind, MappedList)>,
    /// Every other change (BYOC trunks and targets).
    pub other: Vec<Change>,
}

impl State {
    /// Gathers the changes that build a table, as [`Loading`] applies them: a mapping (of a
    /// network or a list) to a domain not set before it is left out.
    pub fn gather(changes: impl IntoIterator<Item = Change>) -> Self {
        let mut state = Self::default();
        let mut acl_position: HashMap<AclSid, usize> = HashMap::new();
        let mut known: HashSet<SipDomainSid> = HashSet::new();
        for change in changes {
            match change {
                Change::DomainSet(t) => {
                    known.insert(t.domain_sid.clone());
                    state.domains.push(t);
                }
                Change::MappingSet(n, d) if known.contains(&d) => state.mappings.push((n, d)),
                Change::AuthMapped(d, k, l) if known.contains(&d) => state.auth.push((d, k, l)),
                Change::MappingSet(..) | Change::AuthMapped(..) => {}
                Change::AclNetworkAdded(list, net) => {
                    let lists = &mut state.acl_networks;
                    let i = *acl_position.entry(list.clone()).or_insert_with(|| {
                        lists.push((list, Vec::new()));
                        lists.len() - 1
                    });
                    lists[i].1.push(net);
                }
                Change::CredentialSet(l, u, s) => state.credentials.push((l, u, s)),
                other => state.other.push(other),
            }
        }
        state
    }
}

/// Domains by index (the values stored in the prefix table) and by lower-case name.
#[derive(Debug, Default, Clone)]
struct Domains {
    by_index: Vec<Option<Arc<Target>>>,
    by_name: HashMap<String, u32>,
}

/// One consistent view of everything recognition knows.
#[derive(Debug)]
pub struct Snapshot {
    v4: Arc<Lpm<u32>>,
    domains: Arc<Domains>,
    /// Each domain's authentication settings, by the same index as `domains`.
    auth: Arc<Vec<Arc<DomainAuth>>>,
    /// Each domain's route, by the same index, when its trunk names a policy.
    routes: Routes,
    /// Every target's destination, with the targets that name it.
    destinations: Arc<Destinations>,
}

/// A recognised request: its domain, what lets requests into it, and how it was recognised.
#[derive(Debug, Clone, Copy)]
pub struct Recognized<'a> {
    /// The domain.
    pub target: &'a Arc<Target>,
    /// Its IP access control lists and credential lists.
    pub auth: &'a DomainAuth,
    /// The targets of its trunk's connection policy, when it has both.
    pub route: Option<&'a DomainRoute>,
    /// By Request-URI host or by source address.
    pub matched_by: MatchedBy,
}

impl Snapshot {
    fn host_index(&self, host: &str) -> Option<u32> {
        let idx = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            self.domains.by_name.get(&host.to_ascii_lowercase())
        } else {
            self.domains.by_name.get(host)
        }?;
        Some(*idx)
    }

    fn source_index(&self, ip: IpAddr) -> Option<u32> {
        let v4 = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => v6.to_ipv4_mapped()?,
        };
        self.v4.lookup(u32::from(v4))
    }

    /// The domain whose name is `host` (case-insensitive).
    pub fn by_host(&self, host: &str) -> Option<&Arc<Target>> {
        self.target(self.host_index(host)?)
    }

    /// The domain mapped to the most specific network containing `ip`.
    pub fn by_source(&self, ip: IpAddr) -> Option<&Arc<Target>> {
        self.target(self.source_index(ip)?)
    }

    /// Recognises a request: by Request-URI host first, then by source address.
    pub fn recognise(&self, uri_host: Option<&str>, source: IpAddr) -> Option<Recognized<'_>> {
        let by_host = uri_host
            .and_then(|h| self.host_index(h))
            .and_then(|i| self.recognized(i, MatchedBy::RequestUri));
        by_host.or_else(|| self.recognized(self.source_index(source)?, MatchedBy::SourceIp))
    }

    fn recognized(&self, idx: u32, matched_by: MatchedBy) -> Option<Recognized<'_>> {
        Some(Recognized {
            target: self.target(idx)?,
            auth: self.auth.get(idx as usize).map_or(&NO_AUTH, |a| a.as_ref()),
            route: self.routes.get(idx as usize).and_then(|r| r.as_deref()),
            matched_by,
        })
    }

    /// Every destination of every target, with the SIDs of the targets that name it.
    pub fn destinations(&self) -> &Arc<Destinations> {
        &self.destinations
    }

    /// Each domain's route, by domain index: the same `Arc` until a route changes.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Whether `addr` is the destination of a target, over either transport.
    pub fn is_destination(&self, addr: SocketAddr) -> bool {
        if self.destinations.is_empty() {
            return false;
        }
        let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
        Wire::ALL
            .into_iter()
            .any(|wire| self.destinations.contains_key(&Destination { addr, wire }))
    }

    /// How many networks are mapped.
    pub fn networks(&self) -> usize {
        self.v4.len()
    }

    fn target(&self, idx: u32) -> Option<&Arc<Target>> {
        self.domains.by_index.get(idx as usize)?.as_ref()
    }
}

/// The settings of a domain with nothing mapped.
static NO_AUTH: DomainAuth = DomainAuth {
    call_acls: Vec::new(),
    call_credentials: Vec::new(),
    registration_credentials: Vec::new(),
    sids: auth::MappedSids {
        call_acls: Vec::new(),
        call_credentials: Vec::new(),
        registration_credentials: Vec::new(),
    },
};

/// The writer's state: the prefix table master copy, the domain index and the auth lists.
#[derive(Debug, Default)]
struct Master {
    v4: LpmBuilder<u32>,
    domains: Domains,
    index_of: HashMap<SipDomainSid, u32>,
    free: Vec<u32>,
    auth: AuthMaster,
    route: RouteMaster,
}

impl Master {
    /// An empty master copy checking targets' addresses against `outbound`.
    fn new(outbound: Arc<OutboundPolicy>) -> Self {
        Self {
            route: RouteMaster::new(outbound),
            ..Self::default()
        }
    }

    fn index(&mut self, sid: &SipDomainSid) -> u32 {
        if let Some(i) = self.index_of.get(sid) {
            return *i;
        }
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.domains.by_index.push(None);
                (self.domains.by_index.len() - 1) as u32
            }
        };
        self.index_of.insert(sid.clone(), i);
        i
    }

    fn set_domain(&mut self, t: &Target) {
        let i = self.index(&t.domain_sid);
        if let Some(Some(old)) = self.domains.by_index.get(i as usize) {
            let old_key = old.domain_name.to_ascii_lowercase();
            if self.domains.by_name.get(&old_key) == Some(&i) {
                self.domains.by_name.remove(&old_key);
            }
        }
        self.domains.by_index[i as usize] = Some(Arc::new(t.clone()));
        self.domains
            .by_name
            .insert(t.domain_name.to_ascii_lowercase(), i);
        self.route.set_domain(i, t.byoc_trunk_sid.as_ref());
    }

    fn remove_domain(&mut self, sid: &SipDomainSid) {
        if let Some(i) = self.index_of.remove(sid) {
            if let Some(Some(old)) = self.domains.by_index.get(i as usize) {
                let key = old.domain_name.to_ascii_lowercase();
                if self.domains.by_name.get(&key) == Some(&i) {
                    self.domains.by_name.remove(&key);
                }
            }
            self.domains.by_index[i as usize] = None;
            self.auth.forget_domain(i);
            self.route.forget_domain(i);
            self.free.push(i);
        }
    }

    /// Applies one change. A mapping (of a network or a list) to a domain the table does not
    /// hold is left out: so are those of suspended accounts' domains when the table is loaded.
    fn apply(&mut self, change: &Change, domains_changed: &mut bool) {
        match change {
            Change::DomainSet(t) => {
                self.set_domain(t);
                *domains_changed = true;
            }
            Change::DomainRemoved(sid) => {
                self.remove_domain(sid);
                *domains_changed = true;
            }
            Change::MappingSet(net, sid) => {
                if let Some(i) = self.index_of.get(sid).copied() {
                    self.v4.insert(net.addr, net.prefix, i);
                }
            }
            Change::MappingRemoved(net) => {
                self.v4.remove(net.addr, net.prefix);
            }
            Change::AclNetworkAdded(list, net) => self.auth.acl_add(list.as_str(), *net),
            Change::AclNetworkRemoved(list, net) => self.auth.acl_remove(list.as_str(), *net),
            Change::CredentialSet(list, user, secret) => {
                self.auth
                    .credential_set(list.as_str(), user, secret.clone());
            }
            Change::CredentialRemoved(list, user) => {
                self.auth.credential_remove(list.as_str(), user);
            }
            Change::AuthMapped(domain, kind, list) => {
                if let Some(i) = self.index_of.get(domain).copied() {
                    self.auth.map(i, *kind, list.as_str());
                }
            }
            Change::AuthUnmapped(domain, kind, list) => {
                if let Some(i) = self.index_of.get(domain).copied() {
                    self.auth.unmap(i, *kind, list.as_str());
                }
            }
            Change::TrunkSet(trunk, policy) => self.route.trunk_set(trunk, policy.as_ref()),
            Change::TrunkRemoved(trunk) => self.route.trunk_removed(trunk),
            Change::RouteTargetSet(policy, target) => {
                self.route.target_set(policy, target.clone());
            }
            Change::RouteTargetRemoved(policy, target) => {
                self.route.target_removed(policy, target);
            }
        }
    }

    /// The routes vector to publish: `previous` with the changed domains replaced (and grown to
    /// the number of domain slots), or `previous` itself when nothing changed.
    fn publish_routes(
        &mut self,
        previous: &Arc<Vec<Option<Arc<DomainRoute>>>>,
    ) -> Arc<Vec<Option<Arc<DomainRoute>>>> {
        let changed = self.route.take_changed();
        let slots = self.domains.by_index.len();
        if changed.is_empty() && previous.len() == slots {
            return previous.clone();
        }
        let mut next: Vec<Option<Arc<DomainRoute>>> = previous.as_ref().clone();
        next.resize(slots, None);
        for (i, route) in changed {
            if let Some(slot) = next.get_mut(i as usize) {
                *slot = route;
            }
        }
        Arc::new(next)
    }

    /// The auth vector to publish: `previous` with the changed domains replaced (and grown to
    /// the number of domain slots), or `previous` itself when nothing changed.
    fn publish_auth(&mut self, previous: &Arc<Vec<Arc<DomainAuth>>>) -> Arc<Vec<Arc<DomainAuth>>> {
        let changed = self.auth.take_changed();
        let slots = self.domains.by_index.len();
        if changed.is_empty() && previous.len() == slots {
            return previous.clone();
        }
        let mut next: Vec<Arc<DomainAuth>> = previous.as_ref().clone();
        next.resize_with(slots, Arc::default);
        for (i, auth) in changed {
            if let Some(slot) = next.get_mut(i as usize) {
                *slot = auth;
            }
        }
        Arc::new(next)
    }
}

fn empty_snapshot() -> Snapshot {
    Snapshot {
        v4: Arc::new(Lpm::empty()),
        domains: Arc::new(Domains::default()),
        auth: Arc::new(Vec::new()),
        routes: Arc::new(Vec::new()),
        destinations: Arc::default(),
    }
}

/// A table being built off to the side ([`RecognitionWriter::loading`]): nobody reads it until
/// it is published.
#[derive(Debug)]
pub struct Loading {
    master: Master,
}

impl Loading {
    /// Applies one change, as [`RecognitionWriter::apply`] would.
    pub fn apply(&mut self, change: &Change) {
        self.master.apply(change, &mut false);
    }
}

/// The read side of the table: what the HTTP API and the SIP edge hold. It can only look.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recognition(Arc<ArcSwap<Snapshot>>);

impl Recognition {
    /// The current snapshot; cheap, never blocks.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// The current snapshot for a short look (the hot path): no reference count is touched.
    pub fn peek(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.0.load()
    }
}

/// The write side of the table: the master copy and the right to publish. Storage creates one
/// with [`table`] and keeps it to itself, applying each committed write; everyone else gets the
/// [`Recognition`] it hands out.
#[derive(Debug)]
pub struct RecognitionWriter {
    current: Arc<ArcSwap<Snapshot>>,
    master: Mutex<Master>,
    /// Where sipmap may send: targets whose address it refuses get no destination.
    outbound: Arc<OutboundPolicy>,
}

/// A new, empty table: its writer, from which readers are made (the default outbound policy).
pub fn table() -> RecognitionWriter {
    table_with(Arc::default())
}

/// A new, empty table whose targets' addresses are checked against `outbound`: a target it
/// refuses has no destination, so the edge never chooses, probes or hears from it.
pub fn table_with(outbound: Arc<OutboundPolicy>) -> RecognitionWriter {
    RecognitionWriter {
        current: Arc::new(ArcSwap::from_pointee(empty_snapshot())),
        master: Mutex::new(Master::new(outbound.clone())),
        outbound,
    }
}

impl RecognitionWriter {
    /// A read handle on this table.
    pub fn reader(&self) -> Recognition {
        Recognition(self.current.clone())
    }

    /// A new, empty table to build off to the side (at start, or to resynchronise): storage
    /// applies to it every stored row as the change that would have put it there, then
    /// [`Self::publish`]es it. Readers go on with the current table meanwhile.
    pub fn loading(&self) -> Loading {
        Loading {
            master: Master::new(self.outbound.clone()),
        }
    }

    /// Replaces everything with the table `loading` built.
    pub fn publish(&self, loading: Loading) {
        let mut master = loading.master;
        let auth = master.publish_auth(&Arc::new(Vec::new()));
        let routes = master.publish_routes(&Arc::new(Vec::new()));
        let snapshot = Snapshot {
            v4: master.v4.publish(),
            domains: Arc::new(master.domains.clone()),
            auth,
            routes,
            destinations: master.route.take_destinations().unwrap_or_default(),
        };
        let mut guard = self.master.lock().unwrap_or_else(|e| e.into_inner());
        *guard = master;
        self.current.store(Arc::new(snapshot));
    }

    /// Replaces everything with the table `changes` build from nothing.
    pub fn load(&self, changes: impl IntoIterator<Item = Change>) {
        let mut loading = self.loading();
        for change in changes {
            loading.apply(&change);
        }
        self.publish(loading);
    }

    /// Applies committed changes and publishes one new snapshot for all of them.
    pub fn apply(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let mut master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        let mut domains_changed = false;
        for change in changes {
            master.apply(change, &mut domains_changed);
        }
        let previous = self.current.load();
        let domains = if domains_changed {
            Arc::new(master.domains.clone())
        } else {
            previous.domains.clone()
        };
        let snapshot = Snapshot {
            v4: master.v4.publish(),
            domains,
            auth: master.publish_auth(&previous.auth),
            routes: master.publish_routes(&previous.routes),
            destinations: master
                .route
                .take_destinations()
                .unwrap_or_else(|| previous.destinations.clone()),
        };
        self.current.store(Arc::new(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(n: u8) -> Target {
        Target {
            domain_sid: SipDomainSid::parse(&format!("SD{n:032x}")).unwrap(),
            account_sid: AccountSid::parse(&format!("AC{n:032x}")).unwrap(),
            domain_name: format!("d{n}.sip.twilio.com"),
            sip_registration: false,
            secure: false,
            byoc_trunk_sid: None,
            voice: None,
        }
    }

    fn net(s: &str, len: u8) -> Network {
        Network::new(s.parse().unwrap(), len)
    }

    #[test]
    fn uri_host_wins_over_source_and_changes_publish_atomically() {
        let writer = table();
        let r = writer.reader();
        writer.load([
            Change::DomainSet(target(1)),
            Change::DomainSet(target(2)),
            Change::MappingSet(net("127.0.0.0", 8), target(1).domain_sid),
        ]);
        let before = r.snapshot();
        let src: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(
            before.recognise(None, src).unwrap().target.domain_sid,
            target(1).domain_sid
        );
        let by_uri = before.recognise(Some("D2.sip.twilio.com"), src).unwrap();
        assert_eq!(
            (by_uri.target, by_uri.matched_by),
            (&Arc::new(target(2)), MatchedBy::RequestUri)
        );
        writer.apply(&[Change::MappingSet(
            net("127.0.0.2", 32),
            target(2).domain_sid,
        )]);
        let after = r.snapshot();
        assert_eq!(
            after.by_source(src).unwrap().domain_sid,
            target(2).domain_sid
        );
        assert_eq!(
            before.by_source(src).unwrap().domain_sid,
            target(1).domain_sid
        );
        writer.apply(&[
            Change::MappingRemoved(net("127.0.0.0", 8)),
            Change::MappingRemoved(net("127.0.0.2", 32)),
        ]);
        assert!(r.snapshot().by_source(src).is_none());
        let mut renamed = target(2);
        renamed.domain_name = "renamed.sip.twilio.com".into();
        writer.apply(&[Change::DomainSet(renamed)]);
        assert!(r.snapshot().by_host("d2.sip.twilio.com").is_none());
        assert!(r.snapshot().by_host("renamed.sip.twilio.com").is_some());
        writer.apply(&[Change::DomainRemoved(target(2).domain_sid)]);
        assert!(r.snapshot().by_host("renamed.sip.twilio.com").is_none());
    }

    #[test]
    fn a_load_leaves_out_what_names_a_domain_it_does_not_hold() {
        // Storage reads every mapping, but only active accounts' domains: a suspended account's
        // mappings name domains the table does not hold, and stay out of it and of the state.
        let changes = vec![
            Change::DomainSet(target(1)),
            Change::MappingSet(net("10.0.0.0", 8), target(1).domain_sid),
            Change::MappingSet(net("11.0.0.0", 8), target(2).domain_sid),
            Change::AuthMapped(
                target(2).domain_sid,
                AuthKind::CallsAcl,
                MappedList::Acl(AclSid::parse(&format!("AL{:032x}", 1)).unwrap()),
            ),
        ];
        let writer = table();
        writer.load(changes.clone());
        let snapshot = writer.reader().snapshot();
        assert_eq!(snapshot.networks(), 1);
        assert!(snapshot.by_source("11.0.0.1".parse().unwrap()).is_none());
        let state = State::gather(changes);
        assert_eq!((state.domains.len(), state.mappings.len()), (1, 1));
        assert!(state.auth.is_empty() && state.other.is_empty());
    }
}
