//! The server key, and every secret sealed with it.
//!
//! One 256-bit key protects every secret sipmap must be able to read back (credential passwords,
//! for SIP digest authentication; auth tokens, which fetching an account shows) and signs what
//! it hands out and checks later (digest nonces). Secrets are sealed with ChaCha20-Poly1305
//! under a key derived for their purpose, with a fresh random nonce each time, so a stolen
//! database file alone reveals nothing. The key comes from `SIPMAP_SECRET_KEY` (64 hex digits)
//! or `--secret-key-file`; a single node on SQLite without either creates `<database>.key`
//! beside its database on first start. The database keeps a check value of the key, so a node
//! started with another key than the one its data was sealed with refuses to start instead of
//! failing every authentication.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a sealed secret could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The bytes are not a sealed secret, or were sealed under another key or for another use.
    #[error("the secret cannot be opened with this server key")]
    Unopenable,
}

/// The server key. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct ServerKey([u8; 32]);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(<redacted>)")
    }
}

/// Where the key comes from, in order of preference.
#[derive(Debug, Clone, Default)]
pub struct KeySource {
    /// The key itself (`SIPMAP_SECRET_KEY`): 64 hex digits.
    pub text: Option<String>,
    /// A file holding it (`--secret-key-file`).
    pub file: Option<PathBuf>,
    /// Where to create one when neither is given (beside a SQLite database); `None` for a
    /// cluster, whose nodes must share one key and so must be given it.
    pub create_at: Option<PathBuf>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ServerKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// A key from its text form: 64 hex digits (surrounding whitespace ignored).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let t = text.trim();
        anyhow::ensure!(
            t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()),
            "a server key is 64 hex digits (32 bytes); generate one with `openssl rand -hex 32`"
        );
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)?;
        }
        Ok(Self(key))
    }

    /// The key's text form (for writing a new key file).
    pub fn to_text(&self) -> String {
        hex(&self.0)
    }

    /// Loads the key from `source`, creating a key file where it says to when none is given.
    pub fn load(source: &KeySource) -> anyhow::Result<Self> {
        use anyhow::Context;
        if let Some(text) = &source.text {
            return Self::parse(text).context("SIPMAP_SECRET_KEY");
        }
        if let Some(file) = &source.file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the server key file {}", file.display()))?;
            return Self::parse(&text).with_context(|| file.display().to_string());
        }
        let Some(path) = &source.create_at else {
            anyhow::bail!(
                "a cluster needs a server key shared by every node: set SIPMAP_SECRET_KEY \
                 (64 hex digits, e.g. from `openssl rand -hex 32`) or --secret-key-file"
            );
        };
        if path.exists() {
            return Self::load(&KeySource {
                file: Some(path.clone()),
                ..KeySource::default()
            });
        }
        let key = Self::generate();
        write_private(path, &format!("{}\n", key.to_text()))
            .with_context(|| format!("cannot create the server key file {}", path.display()))?;
        tracing::info!(file = %path.display(), "created a server key beside the database");
        Ok(key)
    }

    /// A key for one purpose, derived from this one (HMAC-SHA-256 of the purpose's label).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.0).expect("any key length");
        mac.update(b"sipmap/");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A value that identifies this key without revealing it: stored in the database, so that
    /// a node with another key is noticed at start.
    pub fn check_value(&self) -> [u8; 32] {
        self.derive("key-check/v1")
    }

    /// Seals `plaintext` for `purpose`: 12 bytes of random nonce, then the ciphertext and tag.
    pub fn seal(&self, purpose: &'static str, plaintext: &[u8]) -> Vec<u8> {
        self.sealer(purpose).seal(plaintext)
    }

    /// Opens what [`Self::seal`] sealed for `purpose`.
    pub fn open(&self, purpose: &'static str, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        self.sealer(purpose).open(sealed)
    }

    /// A cipher for one purpose, its key derived once.
    pub fn sealer(&self, purpose: &'static str) -> Sealer {
        Sealer {
            cipher: ChaCha20Poly1305::new(&self.derive(purpose).into()),
            purpose,
        }
    }
}

/// What credential passwords are sealed for.
pub const CREDENTIAL_PASSWORD: &str = "sip-credential-password/v1";

/// What auth tokens are sealed for, so that fetching an account can show its token.
pub const AUTH_TOKEN: &str = "auth-token/v1";

/// What the SIP edge's digest nonces are signed for (an HMAC key, not a cipher).
pub const DIGEST_NONCE: &str = "sip-digest-nonce/v1";

/// Seals and opens secrets for one purpose (the purpose is also authenticated data, so a secret
/// sealed for one use cannot be passed off as another's).
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    purpose: &'static str,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({})", self.purpose)
    }
}

impl Sealer {
    /// Seals `plaintext`: 12 bytes of random nonce, then the ciphertext and tag.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; 12] = rand::random();
        let payload = Payload {
            msg: plaintext,
            aad: self.purpose.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .expect("sealing a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Self::seal`] sealed.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        if sealed.len() < 12 + 16 {
            return Err(SecretError::Unopenable);
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SecretError::Unopenable)?;
        let payload = Payload {
            msg: body,
            aad: self.purpose.as_bytes(),
        };
        self.cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SecretError::Unopenable)
    }
}

/// Writes `text` to a new file that only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Replaces a key file's contents with `key`, atomically (a new file renamed over the old one).
pub fn replace_key_file(path: &Path, key: &ServerKey) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &format!("{}\n", key.to_text()))?;
    std::fs::rename(&tmp, path)
}

/// Where a SQLite database's own key file goes: beside it, named after it.
pub fn key_file_beside(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push(".key");
    database.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_purpose() {
        let key = ServerKey::generate();
        let sealed = key.seal("password", b"IWasAtSignal2018");
        assert_ne!(&sealed[12..], b"IWasAtSignal2018".as_slice());
        assert_eq!(key.open("password", &sealed).unwrap(), b"IWasAtSignal2018");
        assert!(key.open("other", &sealed).is_err());
        assert!(ServerKey::generate().open("password", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(key.open("password", &tampered).is_err());
        assert!(key.open("password", b"short").is_err());
        assert_ne!(
            key.seal("password", b"x"),
            key.seal("password", b"x"),
            "fresh nonces"
        );
    }

    #[test]
    fn keys_parse_from_hex_only_and_never_print() {
        let key = ServerKey::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(key.to_text(), "ab".repeat(32));
        assert!(ServerKey::parse("abc").is_err());
        assert!(ServerKey::parse(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{key:?}"), "ServerKey(<redacted>)");
        assert_ne!(key.derive("a"), key.derive("b"));
        assert_eq!(
            key.check_value(),
            ServerKey::parse(&"ab".repeat(32)).unwrap().check_value()
        );
    }

    #[test]
    fn a_node_on_sqlite_creates_its_key_once_and_a_cluster_must_be_given_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = key_file_beside(&dir.path().join("sipmap.db"));
        assert!(file.ends_with("sipmap.db.key"));
        let source = KeySource {
            create_at: Some(file.clone()),
            ..KeySource::default()
        };
        let first = ServerKey::load(&source).unwrap();
        let again = ServerKey::load(&source).unwrap();
        assert_eq!(first.check_value(), again.check_value());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(ServerKey::load(&KeySource::default()).is_err());
    }
}
