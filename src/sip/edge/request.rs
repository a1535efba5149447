//! What the edge does with a request: the checks, recognition, admission (see `policy` and
//! `auth`), and whether it answers the request itself or forwards it.

use std::net::SocketAddr;
use std::sync::Arc;

use super::auth::{Exchange, Verdict};
use super::decide::{Decision, Facts, Outcome, Request, Route, Settings, decide};
use super::forward::{Admission, Forwarding};
use super::inbound::Inbound;
use super::policy::{Gate, Offer};
use super::record::Said;
use super::reply::acks_own_response;
use super::{Action, DomainRefusal, Edge, NewCall, RefusalReason, Transport};
use crate::recognition::{DomainAuth, MatchedBy, Target};
use crate::sip::message::{Message, Via, header_tag};
use crate::sip::metrics::Metrics;
use crate::sip_syntax::SipUri;

/// The headers a request must have to be answered with anything but 400 (RFC 3261 §8.1.1).
const MANDATORY: [&str; 4] = ["From", "To", "Call-ID", "CSeq"];

/// The reason phrase of the `403` a `secure` domain answers a request not over TLS with.
pub const SECURE_TRANSPORT_REQUIRED: &str = "Secure Transport Required";

/// `Max-Forwards` when a request has none (RFC 3261 §8.1.1.6).
const DEFAULT_MAX_FORWARDS: u32 = 70;

impl Edge {
    /// A request with Request-URI `uri`: dropped, answered here, or forwarded.
    pub(super) fn request(
        &self,
        msg: &Message<'_>,
        raw: &[u8],
        (method, uri): (&str, &str),
        source: SocketAddr,
        transport: Transport,
    ) -> Action {
        let vias = msg.vias().unwrap_or_default();
        let Some(top) = vias.first() else {
            // Without a usable Via there is no way to address a response.
            Metrics::inc(&self.metrics.malformed);
            return Action::Drop;
        };
        let Some(req) = self.inbound(msg, method, top, (source, transport, raw)) else {
            return Action::Drop;
        };
        match self.check(&req, &vias, uri) {
            Ok((parsed, max_forwards)) => self.route(&req, uri, parsed, max_forwards),
            Err(code) => self.reply(&req, code, &[]),
        }
    }

    /// The checks before recognition, in order: the mandatory headers and `Max-Forwards` (400),
    /// the Request-URI `uri` (416), a loop through this edge (482). Gives the parsed Request-URI
    /// and `Max-Forwards`, or the status to answer with.
    fn check<'u>(
        &self,
        req: &Inbound<'_>,
        vias: &[Via<'_>],
        uri: &'u str,
    ) -> Result<(SipUri<'u>, u32), u16> {
        let malformed = |code: u16| {
            Metrics::inc(&self.metrics.malformed);
            code
        };
        if MANDATORY.iter().any(|h| req.msg.header(h).is_none()) {
            return Err(malformed(400));
        }
        let max_forwards = match req.msg.header("Max-Forwards").map(str::parse::<u32>) {
            None => DEFAULT_MAX_FORWARDS,
            Some(Ok(n)) => n,
            Some(Err(_)) => return Err(malformed(400)),
        };
        let uri = SipUri::parse(uri).map_err(|_| malformed(416))?;
        if vias.iter().any(|v| self.is_ours(v)) {
            return Err(482);
        }
        Ok((uri, max_forwards))
    }

    /// A request that passed the checks, with Request-URI `raw` (parsed: `uri`): decided (see
    /// [`decide`]), counted, recorded, a refusal of a recognised domain's request reported, then
    /// answered here or forwarded as decided.
    fn route(&self, req: &Inbound<'_>, raw: &str, uri: SipUri<'_>, max_forwards: u32) -> Action {
        if req.method == "ACK" && acks_own_response(req.msg) {
            return Action::Drop;
        }
        let snapshot = self.recognizer.peek();
        let call_id = req.msg.header("Call-ID").unwrap_or("");
        let request = Request {
            method: req.method,
            uri_host: Some(uri.host_for_match()),
            call_id,
            to_tag: req.method == "INVITE" && req.msg.header("To").and_then(header_tag).is_some(),
            max_forwards,
            source: req.source,
            wire: req.transport.wire(),
        };
        let settings = Settings {
            health: &self.metrics.health,
            upstream: self.upstream.map(|u| (u, self.upstream_wire)),
            calls: self.calls.is_some(),
        };
        let facts = EdgeFacts {
            edge: self,
            req,
            uri: raw,
        };
        let d = decide(&snapshot, &request, &settings, &facts);
        self.count(&d);
        if let Some(log) = &self.decisions
            && d.found.is_some()
        {
            let (from, to) = req.msg.from_and_to();
            let said = Said {
                method: req.method,
                call_id,
                request_uri: raw,
                from: from.unwrap_or(""),
                to: to.unwrap_or(""),
            };
            log.record(&d, &said, req.source, request.wire);
        }
        let Some(found) = &d.found else {
            return self.reply(req, 404, &[]);
        };
        if let Some(reason) = d.outcome.refusal() {
            tracing::debug!(source = %req.source, why = d.outcome.reason(), "SIP request refused");
            self.report(req, found.target, reason);
        }
        self.act(req, uri, max_forwards, &d, found.target)
    }

    /// What the edge does for a request to `target` as `d` decided.
    fn act(
        &self,
        req: &Inbound<'_>,
        uri: SipUri<'_>,
        max_forwards: u32,
        d: &Decision<'_>,
        target: &Arc<Target>,
    ) -> Action {
        let (upstream, wire) = match (d.outcome, d.route) {
            (Outcome::Forwarded, Some(Route::Target(c))) => {
                (c.destination.addr, c.destination.wire)
            }
            (Outcome::Forwarded, Some(Route::Upstream(addr, wire))) => (addr, wire),
            (Outcome::InsecureTransport, _) => {
                return self.reply_saying(req, 403, SECURE_TRANSPORT_REQUIRED, &[]);
            }
            (Outcome::Challenged(exchange, stale), _) => {
                return self.challenge(req, &target.domain_name, exchange, stale);
            }
            (Outcome::Throttled(wait, _), _) => {
                let wait = wait.to_string();
                return self.reply(req, 503, &[("Retry-After", &wait)]);
            }
            (Outcome::Answered, _) => {
                let sids = [
                    ("X-Sipmap-Account-Sid", target.account_sid.as_str()),
                    ("X-Sipmap-Domain-Sid", target.domain_sid.as_str()),
                ];
                return self.reply(req, 200, &sids);
            }
            (Outcome::Application, _) => return self.hand_off(req, target, &admission(d)),
            (Outcome::NoRoute(503), _) => return self.reply(req, 503, &[("Retry-After", "1")]),
            (outcome, _) => return self.reply(req, outcome.code(), &[]),
        };
        let admission = admission(d);
        let forwarding = Forwarding {
            uri,
            target,
            max_forwards,
            upstream,
            wire,
            admission: &admission,
        };
        let bytes = self.forward(req, &forwarding);
        Metrics::inc(&self.metrics.forwarded);
        Action::Send {
            to: upstream,
            via: Transport::outbound(wire),
            bytes,
        }
    }

    /// Counts `d` in the edge's metrics.
    fn count(&self, d: &Decision<'_>) {
        let m = &self.metrics;
        let Some(found) = &d.found else {
            Metrics::inc(&m.not_recognized);
            return;
        };
        Metrics::inc(match found.matched_by {
            MatchedBy::RequestUri => &m.recognized_by_uri,
            MatchedBy::SourceIp => &m.recognized_by_source,
        });
        match d.gate {
            Some(Gate::InsecureTransport) => Metrics::inc(&m.secure_refused_transport),
            Some(Gate::Acl) => Metrics::inc(&m.auth_acl_allowed),
            Some(Gate::Unchallenged | Gate::CallDigest | Gate::RegistrationDigest) | None => {}
            Some(_) => Metrics::inc(&m.auth_blocked),
        }
        if let Some((_, Some(v))) = &d.digest {
            Metrics::inc(match v {
                Verdict::Authenticated(_) => &m.auth_authenticated,
                Verdict::Challenge { .. } => &m.auth_challenged,
                Verdict::Refused(_) => &m.auth_refused,
                Verdict::Throttled(..) => &m.auth_throttled,
            });
        }
        if let Outcome::Media(_) = d.outcome {
            Metrics::inc(&m.secure_refused_media);
        }
    }

    /// Whether the edge may send to `hop` (see [`Facts::hop`]): 482 when the hop is the edge
    /// itself (a target or the upstream naming its own address, in any spelling: the request
    /// would come back as its own copy and no one would answer it), 503 when the target is on a
    /// port of an address that has had its new ports for now (see [`super::ports`]; the
    /// upstream, the operator's own, is not bounded).
    fn may_send(&self, hop: SocketAddr, to_target: bool) -> Result<(), u16> {
        if self.is_own_address(hop) {
            tracing::debug!(to = %hop, "SIP request whose next hop is the edge itself: 482");
            Metrics::inc(&self.metrics.forwards_refused_own_address);
            return Err(482);
        }
        if to_target {
            if self.ports.admit(hop.ip(), hop.port()).is_err() {
                Metrics::inc(&self.metrics.forwards_refused_new_ports);
                return Err(503);
            }
            Metrics::inc(&self.metrics.forwarded_to_target);
        }
        Ok(())
    }

    /// The new call `req` (an INVITE without To tag, admitted as `admission`) starts at the
    /// voice application of `target`.
    fn hand_off(&self, req: &Inbound<'_>, target: &Arc<Target>, admission: &Admission) -> Action {
        Action::Call(Box::new(NewCall {
            invite: req.raw.to_vec(),
            source: req.source,
            transport: req.transport,
            local: self.local,
            sip_username: match admission {
                Admission::Digest(username, _) => Some(username.clone()),
                _ => None,
            },
            target: target.clone(),
        }))
    }

    /// Tells the refusal sink, if any, that `req` to `target` was refused for `reason`.
    fn report(&self, req: &Inbound<'_>, target: &Arc<Target>, reason: RefusalReason) {
        if let Some(sink) = &self.refusals {
            sink.refused(DomainRefusal {
                target: target.clone(),
                source: req.source.ip(),
                reason,
            });
        }
    }
}

/// How `d`, admitted, was let in.
fn admission(d: &Decision<'_>) -> Admission {
    match (&d.digest, d.gate) {
        (Some((exchange, Some(Verdict::Authenticated(user)))), _) => {
            Admission::Digest(user.clone(), *exchange)
        }
        (_, Some(Gate::Acl)) => Admission::Acl,
        _ => Admission::Unchallenged,
    }
}

/// What the edge tells [`decide`] as it gets there: the credentials checked (and counted by the
/// throttle), the offer read from the body, the hop checked.
struct EdgeFacts<'a, 'r> {
    edge: &'a Edge,
    req: &'a Inbound<'r>,
    /// The Request-URI as written (what credentials must name).
    uri: &'a str,
}

impl Facts for EdgeFacts<'_, '_> {
    fn credentials(&self, exchange: Exchange, realm: &str, auth: &DomainAuth) -> Option<Verdict> {
        Some(self.edge.verify(self.req, self.uri, realm, auth, exchange))
    }

    fn offer(&self) -> Option<Offer> {
        Offer::of_body(self.req.msg.header("Content-Type"), self.req.msg.body)
    }

    fn hop(&self, hop: SocketAddr, to_target: bool) -> Result<(), u16> {
        self.edge.may_send(hop, to_target)
    }
}
