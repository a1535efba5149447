//! Auth tokens: generated, hashed for storage, and checked in constant time.
//!
//! Only a salted SHA-256 of each token is stored. Tokens made by sipmap carry 128 random bits, so a
//! fast hash is enough (as crates.io does for its API tokens); a slow password hash would only cost
//! every request time. Tokens are never logged: [`AuthToken`] has a redacting `Debug`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A plaintext auth token, shown to its owner once and never logged.
#[derive(Clone)]
pub struct AuthToken(String);

impl AuthToken {
    /// A new random token: 32 lowercase hex digits, like Twilio's.
    pub fn generate() -> Self {
        Self(crate::sid::random_hex32())
    }

    /// Wraps a token given by the operator (for example `TWILIO_AUTH_TOKEN`).
    pub fn from_string(s: String) -> Self {
        Self(s)
    }

    /// The token itself, for the one place that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh salted hash of this token, for storage.
    pub fn hash(&self) -> TokenHash {
        let salt: [u8; 16] = rand::random();
        TokenHash {
            salt,
            hash: digest(&salt, self.0.as_bytes()),
        }
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// A stored credential: a random salt and SHA-256(salt ‖ token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHash {
    /// 16 random bytes.
    pub salt: [u8; 16],
    /// SHA-256 of the salt followed by the token.
    pub hash: [u8; 32],
}

impl TokenHash {
    /// Whether `candidate` is the token this hash was made from, compared in constant time.
    pub fn verify(&self, candidate: &[u8]) -> bool {
        digest(&self.salt, candidate).ct_eq(&self.hash).into()
    }

    /// A hash no token matches, verified against when the account does not exist so that the
    /// time taken does not tell whether it does.
    pub fn dummy() -> Self {
        Self {
            salt: [0; 16],
            hash: [0; 32],
        }
    }
}

fn digest(salt: &[u8; 16], token: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(token);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_right_token() {
        let t = AuthToken::generate();
        let h = t.hash();
        assert!(h.verify(t.expose().as_bytes()));
        assert!(!h.verify(b"wrong"));
        assert!(!TokenHash::dummy().verify(b""));
        assert_ne!(t.hash().salt, h.salt, "each hash gets its own salt");
        assert_eq!(format!("{t:?}"), "AuthToken(<redacted>)");
    }
}
