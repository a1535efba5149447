//! The request as the edge forwards it to a target or the upstream (RFC 3261 §16.11, stateless).

use std::net::SocketAddr;

use super::Edge;
use super::auth::{Exchange, is_consumed};
use super::inbound::Inbound;
use super::vias::{stamped_top_via, with_top_via};
use crate::recognition::Target;
use crate::sip::message::{Writer, canonical_name};
use crate::sip_syntax::Wire;
use crate::sip_syntax::{SipUri, is_token_byte};

/// Where a recognised request is forwarded, and as what.
#[derive(Debug)]
pub(super) struct Forwarding<'a> {
    /// The Request-URI as received, parsed; its host becomes the domain's name.
    pub(super) uri: SipUri<'a>,
    /// The domain and account the request belongs to.
    pub(super) target: &'a Target,
    /// `Max-Forwards` as received (or its default); above 0, and decremented when forwarded.
    pub(super) max_forwards: u32,
    /// Where the request goes: a target's destination or the upstream.
    pub(super) upstream: SocketAddr,
    /// UDP, or TCP for a `transport=tcp` target.
    pub(super) wire: Wire,
    /// How it was let in.
    pub(super) admission: &'a Admission,
}

/// How a forwarded request was let in: what `X-Sipmap-Auth` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Admission {
    /// `ACK` or `CANCEL`, never challenged: `none`.
    Unchallenged,
    /// Its source is inside an IP access control list mapped for calls: `ip-acl`.
    Acl,
    /// Digest credentials of this username, in this exchange: `digest;username=…`.
    Digest(String, Exchange),
}

impl Admission {
    /// The `X-Sipmap-Auth` value. A username that is not a token is quoted (usernames hold no
    /// `"` or `\`).
    fn header_value(&self) -> String {
        match self {
            Self::Unchallenged => "none".to_owned(),
            Self::Acl => "ip-acl".to_owned(),
            Self::Digest(username, _) => {
                if username.bytes().all(is_token_byte) {
                    format!("digest;username={username}")
                } else {
                    format!("digest;username=\"{username}\"")
                }
            }
        }
    }
}

impl Edge {
    /// The request `req` as forwarded: the Request-URI's host is the domain's name, sipmap's Via
    /// is on top, the client's Via is stamped with `received`/`rport`, `Max-Forwards` is one
    /// lower, the credentials the edge consumed are gone, and the client's own `X-Sipmap-*`
    /// headers are replaced by sipmap's.
    pub(super) fn forward(&self, req: &Inbound<'_>, to: &Forwarding<'_>) -> Vec<u8> {
        let ours = self.our_via(req, to.upstream, to.wire);
        let stamped = stamped_top_via(req.top_value, req.top, req.source);
        let max_forwards = (to.max_forwards - 1).to_string();
        let mut w = Writer::request(req.method, &to.uri.with_host(&to.target.domain_name));
        w.header("Via", &ours);
        let mut saw_max_forwards = false;
        let consumed = match to.admission {
            Admission::Digest(_, exchange) => Some(*exchange),
            _ => None,
        };
        let realm = to.target.domain_name.as_str();
        for (name, value) in with_top_via(req.msg, Some(&stamped)) {
            if is_sipmap_header(name) {
                // A client's own X-Sipmap headers are not passed on.
                continue;
            }
            if consumed.is_some_and(|e| is_consumed(e, name, &value, realm)) {
                continue;
            }
            if canonical_name(name).eq_ignore_ascii_case("Max-Forwards") {
                if !saw_max_forwards {
                    saw_max_forwards = true;
                    w.header(name, &max_forwards);
                }
                continue;
            }
            w.header(name, &value);
        }
        if !saw_max_forwards {
            w.header("Max-Forwards", &max_forwards);
        }
        w.header("X-Sipmap-Account-Sid", to.target.account_sid.as_str());
        w.header("X-Sipmap-Domain-Sid", to.target.domain_sid.as_str());
        w.header("X-Sipmap-Auth", &to.admission.header_value());
        w.finish(req.msg.body)
    }
}

/// Whether a header is one of sipmap's own, `X-Sipmap-*` in any case.
fn is_sipmap_header(name: &str) -> bool {
    name.len() > 9 && name.as_bytes()[..9].eq_ignore_ascii_case(b"x-sipmap-")
}
