//! sipmap's Via branch: how the edge marks the requests it forwards so that it relays only the
//! responses it asked for.
//!
//! ## The branch
//!
//! sipmap's Via branch is `z9hG4bK-sm-` followed by 16 hex digits of a hash of the client's top
//! Via, Call-ID and CSeq number (so a retransmission or a CANCEL gets the same branch) and 16 hex
//! digits of a tag: HMAC-SHA-256, truncated to 64 bits, over that hash, the client's TCP
//! connection id (the `sm-conn` Via parameter, if any), the address the response will be relayed
//! to and the address the request was forwarded to. The key is 32 random bytes per process. On a
//! response the tag is computed again from what the response says (its `sm-conn`, the address
//! its next Via yields, the address it came from) and compared in constant time, so a response
//! cannot be redirected to a third address or another client's connection, nor accepted from
//! another sender, without the key. The edge stays stateless: nothing is stored per request.
//!
//! A health probe's branch is `z9hG4bK-sm-p` followed by the probe's sequence number and a tag
//! over it, the edge's own address and the probed address (see `probe`).

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::inbound::Inbound;
use super::vias::{response_target, via_address};
use super::{Edge, short_hash};
use crate::sip::message::{Via, write_via_head};
use crate::sip_syntax::Wire;

/// The branch prefix of every Via sipmap adds (RFC 3261 magic cookie + our mark).
pub(super) const BRANCH_PREFIX: &str = "z9hG4bK-sm-";
/// The Via parameter that carries the id of the client's TCP connection.
const CONN_PARAM: &str = "sm-conn";

/// The key that authenticates branches: HMAC-SHA-256 with the key already absorbed, cloned for
/// each use. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub(super) struct BranchKey(Hmac<Sha256>);

impl BranchKey {
    pub(super) fn new(key: &[u8; 32]) -> Self {
        Self(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length"),
        )
    }
}

impl fmt::Debug for BranchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BranchKey(..)")
    }
}

impl Edge {
    /// Whether a Via was put there by this edge.
    pub(super) fn is_ours(&self, via: &Via<'_>) -> bool {
        matches!(via.param("branch"), Some(Some(b)) if b.starts_with(BRANCH_PREFIX))
            && via.host.parse::<IpAddr>().ok() == Some(self.local.ip())
            && via.port.unwrap_or(5060) == self.local.port()
    }

    /// sipmap's Via for `req` forwarded to `forwarded_to` (over `wire`), with its branch
    /// (and the client's connection id when `req` came over TCP).
    pub(super) fn our_via(
        &self,
        req: &Inbound<'_>,
        forwarded_to: SocketAddr,
        wire: Wire,
    ) -> String {
        let msg = req.msg;
        let hash = short_hash(&[
            req.top_value,
            msg.header("Call-ID").unwrap_or(""),
            msg.header("CSeq")
                .and_then(|c| c.split_whitespace().next())
                .unwrap_or(""),
        ]);
        let conn = req.transport.connection_id();
        // The stamped client Via makes `via_address` yield exactly this at response time.
        let back_to = response_target(req.top, req.source);
        let mut ours = String::with_capacity(100);
        write_via_head(&mut ours, self.local, wire);
        self.push_branch(&mut ours, hash, conn, back_to, forwarded_to);
        if let Some(id) = conn {
            let _ = write!(ours, ";{CONN_PARAM}={id}");
        }
        ours
    }

    /// Checks that a response with top Via `top` and next Via `next`, from `forwarded_to`, is one
    /// this edge asked for: gives where it goes and the client's TCP connection id, if any, or
    /// why it is refused.
    pub(super) fn check_branch(
        &self,
        top: &Via<'_>,
        next: &Via<'_>,
        forwarded_to: SocketAddr,
    ) -> Result<(SocketAddr, Option<u64>), &'static str> {
        if !self.is_ours(top) {
            return Err("top Via is not this edge's");
        }
        let Some((hash, tag)) = top.param("branch").flatten().and_then(parse_branch) else {
            return Err("not a branch of this edge");
        };
        let conn = match top.param(CONN_PARAM) {
            None => None,
            Some(Some(id)) => Some(id.parse::<u64>().map_err(|_| "bad connection id")?),
            Some(None) => return Err("bad connection id"),
        };
        let Some(to) = via_address(next) else {
            return Err("the client's Via has no usable address");
        };
        let expected = self.branch_tag(hash, conn, to, forwarded_to);
        if !bool::from(expected.ct_eq(&tag)) {
            return Err("branch tag does not match");
        }
        Ok((to, conn))
    }

    /// The branch tag: what binds a branch to the request it was made for. See the module docs.
    pub(super) fn branch_tag(
        &self,
        hash: u64,
        conn: Option<u64>,
        back_to: SocketAddr,
        forwarded_to: SocketAddr,
    ) -> u64 {
        // 8 + 9 + 19 + 19 = 55 bytes: one SHA-256 block for the inner hash.
        let mut input = [0u8; 55];
        input[..8].copy_from_slice(&hash.to_be_bytes());
        if let Some(id) = conn {
            input[8] = 1;
            input[9..17].copy_from_slice(&id.to_be_bytes());
        }
        put_address(&mut input[17..36], back_to);
        put_address(&mut input[36..55], forwarded_to);
        let mut mac = self.key.0.clone();
        mac.update(&input);
        let out = mac.finalize().into_bytes();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&out[..8]);
        u64::from_be_bytes(tag)
    }

    /// Appends sipmap's branch value for these inputs to `out`.
    pub(super) fn push_branch(
        &self,
        out: &mut String,
        hash: u64,
        conn: Option<u64>,
        back_to: SocketAddr,
        forwarded_to: SocketAddr,
    ) {
        let tag = self.branch_tag(hash, conn, back_to, forwarded_to);
        let _ = write!(out, "{BRANCH_PREFIX}{hash:016x}{tag:016x}");
    }
}

/// Writes `addr` into 19 bytes: the family (4 or 6), 16 address bytes, the port.
fn put_address(out: &mut [u8], addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out[0] = 6;
            out[1..17].copy_from_slice(&ip.octets());
        }
    }
    out[17..19].copy_from_slice(&addr.port().to_be_bytes());
}

/// The hash and tag of a branch of this edge: the prefix and exactly 32 hex digits.
fn parse_branch(branch: &str) -> Option<(u64, u64)> {
    parse_hex_pair(branch.strip_prefix(BRANCH_PREFIX)?)
}

/// Exactly 32 hex digits read as two 64-bit numbers.
pub(super) fn parse_hex_pair(hex: &str) -> Option<(u64, u64)> {
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let hash = u64::from_str_radix(&hex[..16], 16).ok()?;
    let tag = u64::from_str_radix(&hex[16..], 16).ok()?;
    Some((hash, tag))
}
