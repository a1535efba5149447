//! What the edge does with a request: the checks, recognition, admission (see `policy` and
//! `auth`), and whether it answers the request itself or forwards it.

use std::net::SocketAddr;
use std::sync::Arc;

use super::auth::{Exchange, Verdict};
use super::forward::{Admission, Forwarding};
use super::inbound::Inbound;
use super::policy::{Gate, Media, Offer, gate, media};
use super::reply::acks_own_response;
use super::select::NextHop;
use super::{Action, DomainRefusal, Edge, NewCall, RefusalReason, Transport, select};
use crate::recognition::{DomainRoute, MatchedBy, Recognized, Target};
use crate::sip::message::{Message, Via, header_tag};
use crate::sip::metrics::Metrics;
use crate::sip_syntax::SipUri;
use crate::sip_syntax::Wire;

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

    /// A request that passed the checks, with Request-URI `raw` (parsed: `uri`): recognised (404
    /// if not), admitted (or challenged or refused), then answered here (`OPTIONS`, 488 for an
    /// INVITE whose media does not fit its domain's `secure` setting, 483 at no hops left, 480
    /// without an upstream) or forwarded.
    fn route(&self, req: &Inbound<'_>, raw: &str, uri: SipUri<'_>, max_forwards: u32) -> Action {
        if req.method == "ACK" && acks_own_response(req.msg) {
            return Action::Drop;
        }
        let snapshot = self.recognizer.peek();
        let Some(found) = snapshot.recognise(Some(uri.host_for_match()), req.source.ip()) else {
            Metrics::inc(&self.metrics.not_recognized);
            return self.reply(req, 404, &[]);
        };
        let target = found.target;
        Metrics::inc(match found.matched_by {
            MatchedBy::RequestUri => &self.metrics.recognized_by_uri,
            MatchedBy::SourceIp => &self.metrics.recognized_by_source,
        });
        let admission = match self.admit(req, raw, &found) {
            Ok(admission) => admission,
            Err(answer) => return answer,
        };
        if req.method.eq_ignore_ascii_case("OPTIONS") {
            let sids = [
                ("X-Sipmap-Account-Sid", target.account_sid.as_str()),
                ("X-Sipmap-Domain-Sid", target.domain_sid.as_str()),
            ];
            return self.reply(req, 200, &sids);
        }
        if req.method == "INVITE" {
            let offer = Offer::of_body(req.msg.header("Content-Type"), req.msg.body);
            let fits = media(target.secure, offer);
            if fits != Media::Accepted {
                tracing::debug!(source = %req.source, why = fits.decision(), "SIP INVITE refused");
                Metrics::inc(&self.metrics.secure_refused_media);
                let reason = match fits {
                    Media::SrtpRequired => RefusalReason::SrtpRequired,
                    _ => RefusalReason::SrtpRefused,
                };
                self.report(req, target, reason);
                return self.reply(req, 488, &[]);
            }
        }
        if max_forwards == 0 {
            return self.reply(req, 483, &[]);
        }
        if let Some(call) = self.hand_off(req, target, &admission) {
            return call;
        }
        let (upstream, wire) = match self.next_hop(req, found.route) {
            Ok(hop) => hop,
            Err(503) => return self.reply(req, 503, &[("Retry-After", "1")]),
            Err(code) => return self.reply(req, code, &[]),
        };
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

    /// Where a request of a domain with `route` goes, and over which protocol (see
    /// [`select::next_hop`]); or the status that answers it instead: 480 with nowhere to go, 482
    /// when the hop is the edge itself (a target or the upstream naming its own address, in any
    /// spelling: the request would come back as its own copy and no one would answer it), 503
    /// when the target is on a port of an address that has had its new ports for now (see
    /// [`super::ports`]; the upstream, the operator's own, is not bounded).
    fn next_hop(
        &self,
        req: &Inbound<'_>,
        route: Option<&DomainRoute>,
    ) -> Result<(SocketAddr, Wire), u16> {
        let call_id = req.msg.header("Call-ID").unwrap_or("");
        let (hop, to_target) =
            match select::next_hop(route, &self.metrics.health, call_id, self.upstream) {
                NextHop::Target(c) => ((c.destination.addr, c.destination.wire), true),
                NextHop::Upstream(u) => ((u, self.upstream_wire), false),
                NextHop::Nowhere => return Err(480),
            };
        if self.is_own_address(hop.0) {
            tracing::debug!(to = %hop.0, "SIP request whose next hop is the edge itself: 482");
            Metrics::inc(&self.metrics.forwards_refused_own_address);
            return Err(482);
        }
        if to_target {
            if self.ports.admit(hop.0.ip(), hop.0.port()).is_err() {
                Metrics::inc(&self.metrics.forwards_refused_new_ports);
                return Err(503);
            }
            Metrics::inc(&self.metrics.forwarded_to_target);
        }
        Ok(hop)
    }

    /// A new call, when `req` is an INVITE without To tag for a domain with a voice application
    /// and calls are handed off; `None`: forward it.
    fn hand_off(
        &self,
        req: &Inbound<'_>,
        target: &Arc<Target>,
        admission: &Admission,
    ) -> Option<Action> {
        if req.method != "INVITE" || target.voice.is_none() || self.calls.is_none() {
            return None;
        }
        let to_tag = req.msg.header("To").and_then(header_tag);
        if to_tag.is_some() {
            return None;
        }
        Some(Action::Call(Box::new(NewCall {
            invite: req.raw.to_vec(),
            source: req.source,
            transport: req.transport,
            local: self.local,
            sip_username: match admission {
                Admission::Digest(username, _) => Some(username.clone()),
                _ => None,
            },
            target: target.clone(),
        })))
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

    /// Whether the recognised request `req` (Request-URI `raw`) is let in, and how; or the answer
    /// that keeps it out: a challenge or 403.
    fn admit(
        &self,
        req: &Inbound<'_>,
        raw: &str,
        found: &Recognized<'_>,
    ) -> Result<Admission, Action> {
        let wire = req.transport.wire();
        let exchange = match gate(req.method, found.target, found.auth, req.source.ip(), wire) {
            Gate::InsecureTransport => {
                tracing::debug!(source = %req.source, "SIP request to a secure domain not over TLS");
                Metrics::inc(&self.metrics.secure_refused_transport);
                self.report(req, found.target, RefusalReason::InsecureTransport);
                return Err(self.reply_saying(req, 403, SECURE_TRANSPORT_REQUIRED, &[]));
            }
            Gate::Unchallenged => return Ok(Admission::Unchallenged),
            Gate::Acl => {
                Metrics::inc(&self.metrics.auth_acl_allowed);
                return Ok(Admission::Acl);
            }
            Gate::CallDigest => Exchange::Calls,
            Gate::RegistrationDigest => Exchange::Registrations,
            blocked => {
                tracing::debug!(source = %req.source, gate = ?blocked, "SIP request blocked");
                Metrics::inc(&self.metrics.auth_blocked);
                if matches!(blocked, Gate::OutsideAcl | Gate::NoCallAuth) {
                    self.report(req, found.target, RefusalReason::SourceNotInAcl);
                }
                return Err(self.reply(req, 403, &[]));
            }
        };
        let realm = found.target.domain_name.as_str();
        match self.verify(req, raw, realm, found.auth, exchange) {
            Verdict::Authenticated(username) => {
                Metrics::inc(&self.metrics.auth_authenticated);
                Ok(Admission::Digest(username, exchange))
            }
            Verdict::Challenge { stale } => {
                Metrics::inc(&self.metrics.auth_challenged);
                Err(self.challenge(req, realm, exchange, stale))
            }
            Verdict::Refused(why) => {
                tracing::debug!(source = %req.source, why, "SIP credentials refused");
                Metrics::inc(&self.metrics.auth_refused);
                self.report(req, found.target, RefusalReason::BadCredentials);
                Err(self.reply(req, 403, &[]))
            }
            Verdict::Throttled(wait, scope) => {
                tracing::debug!(source = %req.source, ?scope, wait, "SIP credentials not checked");
                Metrics::inc(&self.metrics.auth_throttled);
                let wait = wait.to_string();
                Err(self.reply(req, 503, &[("Retry-After", &wait)]))
            }
        }
    }
}
