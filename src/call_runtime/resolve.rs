//! Where a `<Dial>` goes ([`RouteRequest`] to destinations): a `<Number byoc>` through its
//! trunk's connection policy (read from storage, scoped to the call's account, whether or not a
//! domain names the trunk), as the edge selects (the target the edge would pick first, then
//! the other enabled, healthy targets by priority); a `<Sip>` host name through the system's
//! resolver, each address as the operator's outbound policy allows. A `<Number>` without
//! `byoc` goes nowhere on sipmap (the dial fails).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::calls::RouteRequest;
use crate::domain::OutboundPolicy;
use crate::recognition::Destination;
use crate::sid::AccountSid;
use crate::sip::edge::select;
use crate::sip::health::Health;
use crate::sip_syntax::Wire;

/// How long a host name's resolution may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many addresses of one host name are tried.
const MAX_ADDRESSES: usize = 8;

/// What resolving needs.
#[derive(Debug, Clone)]
pub(super) struct Resolver {
    pub(super) trunks: Arc<dyn super::TrunkRoutes>,
    pub(super) health: Arc<crate::sip::metrics::Metrics>,
    pub(super) outbound: Arc<OutboundPolicy>,
}

impl Resolver {
    /// The destinations of `request` for a call of `account`, in the order to try.
    pub(super) async fn resolve(
        &self,
        account: &AccountSid,
        request: &RouteRequest,
    ) -> Vec<Destination> {
        match request {
            RouteRequest::Byoc { trunk, number } => {
                let route = self.trunks.route(account, trunk, &self.outbound).await;
                route.map_or_else(Vec::new, |r| in_order(&r, &self.health.health, number))
            }
            RouteRequest::Number { .. } => Vec::new(),
            RouteRequest::Host { host, port, wire } => self.host(host, *port, *wire).await,
        }
    }

    /// The addresses of `host` the outbound policy allows.
    async fn host(&self, host: &str, port: u16, wire: Wire) -> Vec<Destination> {
        let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)));
        let addrs: Vec<SocketAddr> = match found.await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => {
                tracing::debug!(host, error = %e, "a <Sip> host name did not resolve");
                return Vec::new();
            }
            Err(_) => {
                tracing::debug!(host, "a <Sip> host name's resolution timed out");
                return Vec::new();
            }
        };
        let mut out: Vec<Destination> = Vec::new();
        for addr in addrs {
            let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
            let dest = Destination { addr, wire };
            if self.outbound.allows(addr.ip()) && !out.contains(&dest) {
                out.push(dest);
            }
            if out.len() == MAX_ADDRESSES {
                break;
            }
        }
        out
    }
}

/// The targets of `route` to try for a dial of `key`: the one the edge would choose first,
/// then the other enabled, healthy ones by priority.
fn in_order(
    route: &crate::recognition::DomainRoute,
    health: &Health,
    key: &str,
) -> Vec<Destination> {
    let view = health.view();
    let first = select::choose(route, health, key).map(|c| c.destination);
    let mut rest: Vec<(u16, Destination)> = route
        .targets
        .iter()
        .zip(&route.destinations)
        .filter_map(|(t, d)| Some((t, (*d)?)))
        .filter(|(t, d)| t.enabled && view.is_up(d) && Some(*d) != first)
        .map(|(t, d)| (t.priority, d))
        .collect();
    rest.sort_by_key(|(p, _)| *p);
    first
        .into_iter()
        .chain(rest.into_iter().map(|(_, d)| d))
        .collect()
}
