//! Auth tokens and API key secrets: generated, hashed for storage, and checked in constant time.
//!
//! Requests are checked against a salted SHA-256 of each token or key secret. Tokens made by
//! sipmap carry 128 random bits and key secrets about 190, so a fast hash is enough (as crates.io
//! does for its API tokens); a slow password hash would only cost every request time. An auth
//! token is also stored sealed under the server key so that fetching its account can show it (see
//! [`crate::secret`]); a key secret is shown once, when the key is created, and never stored in a
//! readable form. Neither is ever logged: [`AuthToken`] and [`KeySecret`] have a redacting
//! `Debug`.

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

/// An API key's secret, shown to its owner once (in the create response) and never logged.
#[derive(Clone)]
pub struct KeySecret(String);

impl KeySecret {
    /// A new random secret: 32 letters and digits, like Twilio's (about 190 random bits).
    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut out = String::with_capacity(32);
        while out.len() < 32 {
            // Bytes of 248 and above are dropped, so that every character is equally likely.
            let byte: u8 = rand::random();
            if usize::from(byte) < ALPHABET.len() * 4 {
                out.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
            }
        }
        Self(out)
    }

    /// The secret itself, for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh salted hash of this secret, for storage.
    pub fn hash(&self) -> TokenHash {
        AuthToken(self.0.clone()).hash()
    }
}

impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySecret(<redacted>)")
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

    #[test]
    fn key_secrets_are_32_letters_and_digits_and_verify_only_themselves() {
        let s = KeySecret::generate();
        assert_eq!(s.expose().len(), 32);
        assert!(s.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(s.expose(), KeySecret::generate().expose());
        let h = s.hash();
        assert!(h.verify(s.expose().as_bytes()));
        assert!(!h.verify(KeySecret::generate().expose().as_bytes()));
        assert_eq!(format!("{s:?}"), "KeySecret(<redacted>)");
    }
}
