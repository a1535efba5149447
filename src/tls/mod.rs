//! TLS certificates: the server's pair (PEM chain and PEM key), reloadable while serving, and the
//! roots outbound TLS trusts.
//!
//! - [`ServerCerts::load`] reads a pair and refuses it, with an error naming the file, when a file
//!   is missing or unreadable, holds no certificate or no key, the first (leaf) certificate is
//!   expired or not yet valid, or the key does not belong to the leaf certificate.
//! - [`ServerCerts::server_config`] builds a rustls `ServerConfig` (ring provider, TLS 1.2 and 1.3
//!   only) whose certificate is looked up at each handshake from the current pair, so a reload
//!   reaches every new handshake while established connections go on untouched.
//! - [`ServerCerts::reload`] reads the files again; a bad pair is refused with a warning and the
//!   old pair kept. [`spawn_reloader`] reloads on SIGHUP and when a file's modification time or
//!   length changes (polled every [`POLL_INTERVAL`]), and logs each reload (paths and validity,
//!   never the key).
//! - [`client_config`] is what every outbound TLS connection trusts: the system's roots
//!   (`rustls-native-certs`) plus the CA certificates of an optional PEM file (`--tls-ca`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::timefmt::iso8601;

/// How often [`spawn_reloader`] looks at the certificate files.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// A certificate pair's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate chain, PEM, the server's own certificate first.
    pub cert: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a certificate pair or a CA file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} file {}: not found", path.display())]
    Missing { what: &'static str, path: PathBuf },
    #[error("{what} file {}: cannot be read: {source}", path.display())]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} file {}: no PEM certificate in it", path.display())]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("{what} file {}: a certificate cannot be read ({reason})", path.display())]
    BadCertificate {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("key file {}: no PEM private key in it", path.display())]
    NoKey { path: PathBuf },
    #[error("key file {}: the private key cannot be used ({reason})", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("certificate file {}: the certificate expired at {not_after}", path.display())]
    Expired { path: PathBuf, not_after: String },
    #[error("certificate file {}: the certificate is not valid before {not_before}", path.display())]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("key file {} does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

/// The crypto provider every TLS configuration of sipmap uses. ring rather than aws-lc-rs
/// (which needs cmake and builds far longer); rustls marks ring's provider deprecated only
/// because it has no post-quantum key exchange, which X25519, P-256 and P-384 do without.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 and 1.2, nothing older.
static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A loaded pair and when its leaf certificate expires.
struct Pair {
    key: Arc<CertifiedKey>,
    not_after: i64,
}

impl std::fmt::Debug for Pair {
    // The expiry only: nothing of the key, whatever its type's own `Debug` would print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("not_after", &iso8601(self.not_after))
            .finish_non_exhaustive()
    }
}

/// A file's identity for change detection: modification time and length.
type Stamp = Option<(SystemTime, u64)>;

#[derive(Debug)]
struct Inner {
    files: CertFiles,
    current: ArcSwap<Pair>,
    /// The files' stamps when last looked at by the reloader.
    seen: Mutex<(Stamp, Stamp)>,
}

/// The server's certificate pair, shared by every listener using it. Cloning is cheap; a
/// [`reload`](Self::reload) through any clone reaches every `ServerConfig` made from it.
#[derive(Debug, Clone)]
pub struct ServerCerts {
    inner: Arc<Inner>,
}

impl ServerCerts {
    /// Reads and checks the pair named by `files`.
    pub fn load(files: CertFiles) -> Result<ServerCerts, TlsError> {
        let seen = (stamp(&files.cert), stamp(&files.key));
        let pair = read_pair(&files, now())?;
        Ok(ServerCerts {
            inner: Arc::new(Inner {
                files,
                current: ArcSwap::from_pointee(pair),
                seen: Mutex::new(seen),
            }),
        })
    }

    /// The files this pair is read from.
    pub fn files(&self) -> &CertFiles {
        &self.inner.files
    }

    /// When the current leaf certificate expires (Unix seconds).
    pub fn not_after(&self) -> i64 {
        self.inner.current.load().not_after
    }

    /// Reads the files again. A good pair replaces the current one for every new handshake; a
    /// bad one is refused (logged as a warning) and the current pair kept.
    pub fn reload(&self) -> Result<(), TlsError> {
        let files = &self.inner.files;
        match read_pair(files, now()) {
            Ok(pair) => {
                tracing::info!(
                    cert = %files.cert.display(),
                    key = %files.key.display(),
                    not_after = %iso8601(pair.not_after),
                    "TLS certificate reloaded"
                );
                self.inner.current.store(Arc::new(pair));
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate not reloaded; still serving the previous one");
                Err(e)
            }
        }
    }

    /// A server configuration presenting the current pair at each handshake: TLS 1.2 and 1.3,
    /// the ring provider, no client authentication, `alpn` offered in order of preference.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.inner.clone())));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// Reloads if either file's stamp changed since last looked at. Returns whether it tried.
    fn reload_if_changed(&self) -> bool {
        let files = &self.inner.files;
        let now_seen = (stamp(&files.cert), stamp(&files.key));
        {
            let mut seen = self.inner.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now_seen {
                return false;
            }
            *seen = now_seen;
        }
        let _ = self.reload();
        true
    }
}

/// Hands rustls the current pair at each handshake.
#[derive(Debug)]
struct Resolver(Arc<Inner>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current.load().key.clone())
    }
}

/// Reloads `certs` on SIGHUP and when their files change, until `shutdown` completes.
pub fn spawn_reloader(
    certs: Vec<ServerCerts>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if certs.is_empty() {
        return;
    }
    // Listening for SIGHUP starts now, not when the task first runs: once this returns, a
    // SIGHUP reloads rather than ending the process.
    let mut hangup = hangup_signal();
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let forced = tokio::select! {
                () = &mut shutdown => return,
                _ = poll.tick() => false,
                () = next_hangup(&mut hangup) => true,
            };
            if forced {
                tracing::info!("SIGHUP: reloading TLS certificates");
            }
            let certs = certs.clone();
            // File reads are blocking; they are small, but keep them off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                for c in &certs {
                    if forced {
                        // The stamps are taken first so that the poll does not reload again.
                        let f = &c.inner.files;
                        *c.inner.seen.lock().unwrap_or_else(|e| e.into_inner()) =
                            (stamp(&f.cert), stamp(&f.key));
                        let _ = c.reload();
                    } else {
                        c.reload_if_changed();
                    }
                }
            })
            .await;
        }
    });
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS certificates reload on file changes only");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {}

#[cfg(unix)]
async fn next_hangup(h: &mut Hangup) {
    match h {
        Some(s) => {
            if s.recv().await.is_none() {
                std::future::pending::<()>().await
            }
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}

/// The system's roots (`rustls-native-certs`), read once per process: reading and parsing the
/// system's store is the same work for every listener and client (the webhook client, the SIP
/// edge, the command line), and a process started before the system's store changes keeps the
/// roots it started with, as a restart takes the new ones. Also the number of files that could
/// not be read, for the warning below.
fn system_roots() -> &'static (RootCertStore, usize) {
    static ROOTS: OnceLock<(RootCertStore, usize)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let loaded = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(loaded.certs);
        (roots, loaded.errors.len())
    })
}

/// What outbound TLS trusts: the system's roots plus the CA certificates in `extra_ca` (PEM).
pub fn client_roots(extra_ca: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let (system_store, errors) = system_roots();
    let mut roots = system_store.clone();
    let system = roots.len();
    let mut extra = 0;
    if let Some(path) = extra_ca {
        const WHAT: &str = "CA";
        let pem = read(WHAT, path)?;
        let certs = read_certs(WHAT, path, &pem)?;
        for cert in certs {
            roots.add(cert).map_err(|e| TlsError::BadCertificate {
                what: WHAT,
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            extra += 1;
        }
    }
    if system == 0 && extra == 0 {
        tracing::warn!(
            errors,
            "no system root certificate found and no --tls-ca: outbound TLS will fail"
        );
    }
    Ok(roots)
}

/// A client configuration for outbound TLS: TLS 1.2 and 1.3, the ring provider, the roots of
/// [`client_roots`], no client certificate, no ALPN (callers set theirs on a clone).
pub fn client_config(extra_ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let roots = client_roots(extra_ca)?;
    Ok(Arc::new(client_config_with_roots(roots)))
}

/// A client configuration trusting `roots` only (TLS 1.2 and 1.3, the ring provider).
pub fn client_config_with_roots(roots: RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => TlsError::Missing {
            what,
            path: path.to_owned(),
        },
        _ => TlsError::Unreadable {
            what,
            path: path.to_owned(),
            source,
        },
    })
}

fn read_certs(
    what: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            what,
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Reads and checks a pair at time `now` (Unix seconds).
fn read_pair(files: &CertFiles, now: i64) -> Result<Pair, TlsError> {
    const WHAT: &str = "certificate";
    let cert_pem = read(WHAT, &files.cert)?;
    let key_pem = read("key", &files.key)?;
    let chain = read_certs(WHAT, &files.cert, &cert_pem)?;
    let (not_before, not_after) = validity(&chain[0]).ok_or_else(|| TlsError::BadCertificate {
        what: WHAT,
        path: files.cert.clone(),
        reason: "no validity period found".into(),
    })?;
    if now < not_before {
        return Err(TlsError::NotYetValid {
            path: files.cert.clone(),
            not_before: iso8601(not_before),
        });
    }
    if now > not_after {
        return Err(TlsError::Expired {
            path: files.cert.clone(),
            not_after: iso8601(not_after),
        });
    }
    // The key's PEM error would say nothing useful (and nothing of the key): "no key" it is.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
        path: files.key.clone(),
    })?;
    let signer = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadKey {
            path: files.key.clone(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            tracing::debug!(key = %files.key.display(), "cannot tell whether the key matches the certificate");
        }
        Err(_) => {
            return Err(TlsError::KeyMismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            });
        }
    }
    Ok(Pair {
        key: Arc::new(certified),
        not_after,
    })
}

/// One DER element: (tag, contents, what follows it).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

/// A certificate's validity period (notBefore, notAfter) in Unix seconds (RFC 5280 §4.1).
fn validity(cert: &[u8]) -> Option<(i64, i64)> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = der(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der(rest)?.2; // [0] version
    }
    rest = der(rest)?.2; // serialNumber
    rest = der(rest)?.2; // signature
    rest = der(rest)?.2; // issuer
    let (SEQUENCE, period, _) = der(rest)? else {
        return None;
    };
    let (tag, not_before, rest) = der(period)?;
    let not_before = time(tag, not_before)?;
    let (tag, not_after, _) = der(rest)?;
    Some((not_before, time(tag, not_after)?))
}

/// A UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) in Unix seconds.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, rest) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (0x18, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Howard Hinnant's days-from-civil algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(60))
}

#[cfg(test)]
mod tests;
