//! The recognition engine: which SIP domain (and account) a SIP request belongs to.
//!
//! The engine answers two questions from an in-memory [`Snapshot`]: which domain has this
//! Request-URI host as its name, and which domain is mapped to the network containing this source
//! address (the most specific network wins, see [`lpm`]). Storage stays the source of truth: the
//! table is built from it at start ([`RecognitionWriter::load`]) and changed by the storage writer
//! right after each commit and before the API answers ([`RecognitionWriter::apply`]), so the next SIP request
//! after a 2xx sees the change. Readers load the current snapshot with one atomic operation and
//! never wait for a writer.

pub mod auth;
pub mod lpm;
pub mod route;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::domain::{Network, OutboundPolicy};
use crate::sid::{AccountSid, SipDomainSid};
use auth::AuthMaster;
pub use auth::{AuthKind, DomainAuth, Secret};
use lpm::{Lpm, LpmBuilder};
use route::RouteMaster;
pub use route::{Destination, Destinations, DomainRoute, RouteTarget, Routes, routed_destinations};

/// What recognition resolves to: a SIP domain and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The domain.
    pub domain_sid: SipDomainSid,
    /// Its account.
    pub account_sid: AccountSid,
    /// Its FQDN, as written by its owner.
    pub domain_name: String,
    /// Whether it accepts `REGISTER`.
    pub sip_registration: bool,
    /// Its BYOC trunk (`BY…`), whose connection policy routes its traffic.
    pub byoc_trunk_sid: Option<String>,
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

/// A change to what recognition knows, produced by a committed write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A domain was created or renamed.
    DomainSet(Target),
    /// A domain was deleted.
    DomainRemoved(SipDomainSid),
    /// A network was mapped (or re-pointed) to a domain.
    MappingSet(Network, SipDomainSid),
    /// A network's mapping was deleted.
    MappingRemoved(Network),
    /// A network was added to an IP access control list (SID `AL…`).
    AclNetworkAdded(String, Network),
    /// A network was removed from an IP access control list.
    AclNetworkRemoved(String, Network),
    /// A credential of a credential list (SID `CL…`) was created or given a new password.
    CredentialSet(String, String, Secret),
    /// A credential was removed from a credential list.
    CredentialRemoved(String, String),
    /// A list was mapped to a domain.
    AuthMapped(SipDomainSid, AuthKind, String),
    /// A list was unmapped from a domain.
    AuthUnmapped(SipDomainSid, AuthKind, String),
    /// A BYOC trunk (`BY…`) was created or changed: the connection policy it names, if any.
    TrunkSet(String, Option<String>),
    /// A BYOC trunk was deleted.
    TrunkRemoved(String),
    /// A target of a connection policy (`NY…`) was created or changed.
    RouteTargetSet(String, RouteTarget),
    /// A target (`NE…`) was deleted from a connection policy.
    RouteTargetRemoved(String, String),
}

/// Everything recognition knows of one account: its SIP domains and its mapped networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRows {
    /// Its SIP domains.
    pub domains: Vec<Target>,
    /// Its mapped networks and their domains.
    pub mappings: Vec<(Network, SipDomainSid)>,
    /// The lists mapped to its domains.
    pub auth: Vec<(SipDomainSid, AuthKind, String)>,
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

/// Everything recognition needs from storage, as storage reads it at start.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State {
    /// Every SIP domain.
    pub domains: Vec<Target>,
    /// Every mapped network, with the position of its domain in `domains` (a number, not a SID,
    /// so that a million mappings cost a few bytes each while loading).
    pub mappings: Vec<(Network, u32)>,
    /// Every IP access control list with its networks (one SID per list, not per network, so
    /// that a million networks cost a few bytes each while loading).
    pub acl_networks: Vec<(String, Vec<Network>)>,
    /// Every credential: list, username, password.
    pub credentials: Vec<(String, String, Secret)>,
    /// Every list mapped to a recognised domain, with the domain's position in `domains`.
    pub auth: Vec<(u32, AuthKind, String)>,
    /// Every BYOC trunk and the connection policy it names.
    pub trunks: Vec<(String, Option<String>)>,
    /// Every target, with its connection policy.
    pub route_targets: Vec<(String, RouteTarget)>,
}

impl State {
    /// Builds a state from mappings that name their domain by SID; a mapping whose domain is not
    /// in `domains` is left out.
    pub fn from_sids(
        domains: Vec<Target>,
        mappings: impl IntoIterator<Item = (Network, SipDomainSid)>,
    ) -> Self {
        let mut builder = StateBuilder::new(domains);
        for (net, sid) in mappings {
            builder.mapping(net, sid.as_str());
        }
        builder.finish()
    }
}

/// Assembles a [`State`] row by row, turning domain SIDs into positions as it goes.
#[derive(Debug)]
pub struct StateBuilder {
    state: State,
    position: HashMap<String, u32>,
    /// Each access control list's position in `state.acl_networks`.
    acl_position: HashMap<String, usize>,
}

impl StateBuilder {
    /// Starts from the list of every domain.
    pub fn new(domains: Vec<Target>) -> Self {
        let position = domains
            .iter()
            .enumerate()
            .map(|(i, d)| (d.domain_sid.as_str().to_owned(), i as u32))
            .collect();
        Self {
            state: State {
                domains,
                ..State::default()
            },
            position,
            acl_position: HashMap::new(),
        }
    }

    /// Adds one network of an IP access control list.
    pub fn acl_network(&mut self, list: &str, net: Network) {
        let lists = &mut self.state.acl_networks;
        let i = match self.acl_position.get(list) {
            Some(&i) => i,
            None => {
                lists.push((list.to_owned(), Vec::new()));
                self.acl_position.insert(list.to_owned(), lists.len() - 1);
                lists.len() - 1
            }
        };
        lists[i].1.push(net);
    }

    /// Adds one credential.
    pub fn credential(&mut self, list: &str, username: &str, secret: Secret) {
        self.state
            .credentials
            .push((list.to_owned(), username.to_owned(), secret));
    }

    /// Adds one list mapped to the domain with SID `domain_sid` (left out if the domain is not
    /// recognised).
    pub fn auth(&mut self, domain_sid: &str, kind: AuthKind, list: &str) {
        if let Some(i) = self.position.get(domain_sid) {
            self.state.auth.push((*i, kind, list.to_owned()));
        }
    }

    /// Adds one BYOC trunk.
    pub fn trunk(&mut self, trunk: &str, policy: Option<&str>) {
        self.state
            .trunks
            .push((trunk.to_owned(), policy.map(str::to_owned)));
    }

    /// Adds one target of a connection policy.
    pub fn route_target(&mut self, policy: &str, target: RouteTarget) {
        self.state.route_targets.push((policy.to_owned(), target));
    }

    /// Adds one mapped network of the domain with SID `domain_sid`.
    pub fn mapping(&mut self, net: Network, domain_sid: &str) {
        if let Some(i) = self.position.get(domain_sid) {
            self.state.mappings.push((net, *i));
        }
    }

    /// The finished state.
    pub fn finish(self) -> State {
        self.state
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
        [false, true]
            .into_iter()
            .any(|tcp| self.destinations.contains_key(&Destination { addr, tcp }))
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
        self.route.set_domain(i, t.byoc_trunk_sid.as_deref());
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
                let i = self.index(sid);
                self.v4.insert(net.addr, net.prefix, i);
            }
            Change::MappingRemoved(net) => {
                self.v4.remove(net.addr, net.prefix);
            }
            Change::AclNetworkAdded(list, net) => self.auth.acl_add(list, *net),
            Change::AclNetworkRemoved(list, net) => self.auth.acl_remove(list, *net),
            Change::CredentialSet(list, user, secret) => {
                self.auth.credential_set(list, user, secret.clone());
            }
            Change::CredentialRemoved(list, user) => self.auth.credential_remove(list, user),
            Change::AuthMapped(domain, kind, list) => {
                if let Some(i) = self.index_of.get(domain).copied() {
                    self.auth.map(i, *kind, list);
                }
            }
            Change::AuthUnmapped(domain, kind, list) => {
                if let Some(i) = self.index_of.get(domain).copied() {
                    self.auth.unmap(i, *kind, list);
                }
            }
            Change::TrunkSet(trunk, policy) => self.route.trunk_set(trunk, policy.as_deref()),
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

    /// Replaces everything with what storage holds (at start, or to resynchronise).
    pub fn load(&self, state: State) {
        let mut master = Master::new(self.outbound.clone());
        let mut index = Vec::with_capacity(state.domains.len());
        for d in &state.domains {
            index.push(master.index(&d.domain_sid));
            master.set_domain(d);
        }
        for (net, domain) in state.mappings {
            if let Some(i) = index.get(domain as usize) {
                master.v4.insert(net.addr, net.prefix, *i);
            }
        }
        for (list, nets) in &state.acl_networks {
            master.auth.acl_add_all(list, nets);
        }
        for (list, user, secret) in state.credentials {
            master.auth.credential_set(&list, &user, secret);
        }
        for (domain, kind, list) in &state.auth {
            if let Some(i) = index.get(*domain as usize) {
                master.auth.map(*i, *kind, list);
            }
        }
        for (trunk, policy) in &state.trunks {
            master.route.trunk_set(trunk, policy.as_deref());
        }
        for (policy, target) in state.route_targets {
            master.route.target_set(&policy, target);
        }
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
            byoc_trunk_sid: None,
        }
    }

    fn net(s: &str, len: u8) -> Network {
        Network::new(s.parse().unwrap(), len)
    }

    #[test]
    fn uri_host_wins_over_source_and_changes_publish_atomically() {
        let writer = table();
        let r = writer.reader();
        writer.load(State::from_sids(
            vec![target(1), target(2)],
            vec![(net("127.0.0.0", 8), target(1).domain_sid)],
        ));
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
}
