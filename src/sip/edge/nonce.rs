//! Digest nonces that any node can check without remembering them.
//!
//! A nonce is 64 lowercase hex digits of 32 bytes: the second it was issued (8 bytes, big-endian
//! seconds since the Unix epoch), 8 random bytes, and the first 16 bytes of HMAC-SHA-256 over
//! those 16 bytes and the realm, under a key derived from the server key
//! ([`crate::secret::DIGEST_NONCE`]). Every node of a cluster shares the server key, so a nonce
//! issued by one node is checked by any other; nothing is stored per nonce.
//!
//! A nonce is fresh for [`NONCE_LIFETIME_SECS`] after it was issued (and from
//! [`NONCE_CLOCK_SKEW_SECS`] before, for a node whose clock runs ahead); after that it is stale,
//! and a request carrying it is challenged again with `stale=true`. Within its lifetime a nonce
//! may be used again (a stateless edge cannot count uses): a replayed request with the same
//! credentials passes until the nonce expires, and never after.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a nonce stays fresh, in seconds.
pub const NONCE_LIFETIME_SECS: i64 = 300;

/// How far in the future a nonce's issue time may be and still be fresh, in seconds (the clocks
/// of cluster nodes differ a little).
pub const NONCE_CLOCK_SKEW_SECS: i64 = 30;

/// The length of a nonce in hex digits.
const NONCE_HEX_LEN: usize = 64;

/// What a nonce presented by a client turns out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by a node with this server key, for this realm, and still within its lifetime.
    Fresh,
    /// Issued by a node with this server key for this realm, but expired (or issued too far in
    /// the future).
    Stale,
    /// Not a nonce issued for this realm under this server key.
    Forged,
}

/// The key that signs nonces. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct NonceKey(Hmac<Sha256>);

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    /// A nonce key from 32 bytes (derived from the server key for [`crate::secret::DIGEST_NONCE`]).
    pub fn new(key: &[u8; 32]) -> Self {
        Self(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length"),
        )
    }

    /// A nonce for `realm`, issued at `now` (seconds since the epoch), with `salt` making it
    /// differ from others issued in the same second.
    pub fn issue(&self, realm: &str, now: i64, salt: [u8; 8]) -> String {
        let mut raw = [0u8; 32];
        raw[..8].copy_from_slice(&now.max(0).to_be_bytes());
        raw[8..16].copy_from_slice(&salt);
        let tag = self.tag(&raw[..16], realm);
        raw[16..].copy_from_slice(&tag);
        let mut out = String::with_capacity(NONCE_HEX_LEN);
        for b in raw {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        out
    }

    /// Checks `nonce` for `realm` at `now` (seconds since the epoch).
    pub fn check(&self, nonce: &str, realm: &str, now: i64) -> NonceCheck {
        let Some(raw) = decode(nonce) else {
            return NonceCheck::Forged;
        };
        let tag = self.tag(&raw[..16], realm);
        if !bool::from(tag.ct_eq(&raw[16..])) {
            return NonceCheck::Forged;
        }
        let mut time = [0u8; 8];
        time.copy_from_slice(&raw[..8]);
        let Ok(issued) = i64::try_from(u64::from_be_bytes(time)) else {
            return NonceCheck::Forged;
        };
        let age = now.saturating_sub(issued);
        if (-NONCE_CLOCK_SKEW_SECS..=NONCE_LIFETIME_SECS).contains(&age) {
            NonceCheck::Fresh
        } else {
            NonceCheck::Stale
        }
    }

    /// The 16-byte tag over a nonce's time and salt (`head`) and the realm.
    fn tag(&self, head: &[u8], realm: &str) -> [u8; 16] {
        let mut mac = self.0.clone();
        mac.update(head);
        mac.update(realm.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&out[..16]);
        tag
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The 32 bytes of a nonce written as 64 lowercase hex digits; `None` for anything else.
fn decode(nonce: &str) -> Option<[u8; 32]> {
    let bytes = nonce.as_bytes();
    if bytes.len() != NONCE_HEX_LEN {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut raw = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        raw[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;

    fn key(byte: u8) -> NonceKey {
        NonceKey::new(&[byte; 32])
    }

    #[test]
    fn a_nonce_is_fresh_for_its_lifetime_then_stale() {
        let k = key(1);
        let n = k.issue("acme.sip.twilio.com", NOW, [9; 8]);
        assert_eq!(n.len(), 64);
        assert!(n.starts_with(&format!("{NOW:016x}")), "{n}");
        for (at, want) in [
            (NOW, NonceCheck::Fresh),
            (NOW + NONCE_LIFETIME_SECS, NonceCheck::Fresh),
            (NOW + NONCE_LIFETIME_SECS + 1, NonceCheck::Stale),
            (NOW - NONCE_CLOCK_SKEW_SECS, NonceCheck::Fresh),
            (NOW - NONCE_CLOCK_SKEW_SECS - 1, NonceCheck::Stale),
            (i64::MAX, NonceCheck::Stale),
        ] {
            assert_eq!(k.check(&n, "acme.sip.twilio.com", at), want, "at {at}");
        }
        assert_eq!(format!("{k:?}"), "NonceKey(..)");
    }

    #[test]
    fn a_nonce_is_bound_to_its_realm_and_key() {
        let n = key(1).issue("acme.sip.twilio.com", NOW, [0; 8]);
        assert_eq!(
            key(1).check(&n, "other.sip.twilio.com", NOW),
            NonceCheck::Forged
        );
        assert_eq!(
            key(1).check(&n, "ACME.sip.twilio.com", NOW),
            NonceCheck::Forged
        );
        assert_eq!(
            key(2).check(&n, "acme.sip.twilio.com", NOW),
            NonceCheck::Forged
        );
        assert_eq!(
            key(1).check(&n.to_uppercase(), "acme.sip.twilio.com", NOW),
            NonceCheck::Forged
        );
        for bad in ["", "x", &n[..63], &format!("{n}0")] {
            assert_eq!(
                key(1).check(bad, "acme.sip.twilio.com", NOW),
                NonceCheck::Forged
            );
        }
    }

    proptest! {
        /// Random text, random bytes in nonce form, and every single-bit change of a valid nonce
        /// are all forged.
        #[test]
        fn forgeries_never_verify(
            text in ".{0,80}",
            raw in prop::array::uniform32(any::<u8>()),
            at in 0i64..2_000_000_000,
            salt in any::<[u8; 8]>(),
            bit in 0usize..256,
        ) {
            let k = key(7);
            let realm = "acme.sip.twilio.com";
            prop_assert_eq!(k.check(&text, realm, at), NonceCheck::Forged);
            let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(k.check(&hex, realm, at), NonceCheck::Forged);
            let good = k.issue(realm, at, salt);
            let mut bytes = decode(&good).unwrap();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let flipped: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            prop_assert_eq!(k.check(&flipped, realm, at), NonceCheck::Forged);
            // The same nonce made under another key is forged here.
            let theirs = key(8).issue(realm, at, salt);
            prop_assert_eq!(k.check(&theirs, realm, at), NonceCheck::Forged);
        }

        /// A nonce past its lifetime is never fresh, however far past.
        #[test]
        fn an_expired_nonce_never_verifies_as_fresh(
            issued in 0i64..4_000_000_000,
            late in 1i64..i64::MAX / 2,
            salt in any::<[u8; 8]>(),
        ) {
            let k = key(3);
            let n = k.issue("r.sip.twilio.com", issued, salt);
            let now = issued.saturating_add(NONCE_LIFETIME_SECS).saturating_add(late);
            prop_assert_eq!(k.check(&n, "r.sip.twilio.com", now), NonceCheck::Stale);
            prop_assert_eq!(k.check(&n, "r.sip.twilio.com", issued), NonceCheck::Fresh);
        }
    }
}
