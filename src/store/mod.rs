//! Storage: [`Store`], what the API uses, over a back end per database.
//!
//! Storage is the source of truth. Layers, from the API down:
//! - [`resources`]: each resource's storage in one file (or one per family): its operations, as an
//!   `impl Store` block (the API's calls, with their typed SIDs), and its write procedures,
//!   written once over [`backend::Tx`]: fetch the facts, ask the rule in [`crate::domain`],
//!   persist what it decided, name the recognition changes; [`Missing`] is declared there, beside
//!   the list of resources; [`reads`] holds the reads several resources share;
//! - [`engine`]: [`Store`] and what every operation shares: minting SIDs and timestamps from
//!   the clock, sealing secrets, running a read or a write on the back end, retrying a write
//!   that lost a race so that the rule can explain the loss;
//! - [`queries`]: the statements and row mappings several files run (a resource's own are in its
//!   file of [`resources`]), shared by both dialects ([`value`] carries the values);
//! - [`credentials`]: what authentication read, kept in memory and emptied by every write that
//!   could change it (and, in a cluster, by every node's change feed);
//! - [`sqlite`] (default) and [`postgres`] (clusters): run statements, commit durably, keep the
//!   recognition table current. No rule and no client wording lives below [`crate::domain`].
//!
//! The URL scheme picks the back end ([`connect`]). The schema's migrations are the files of
//! `migrations/sqlite/` and `migrations/postgres/`, found and ordered by `build.rs`.

pub mod audit;
pub mod backend;
pub mod credentials;
pub mod engine;
pub mod postgres;
pub mod queries;
pub mod reads;
pub mod resources;
pub mod sqlite;
pub mod value;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use engine::Store;
pub use resources::Missing;

use crate::clock::{Clock, SystemClock};
use crate::domain::{AccountStatus, Conflict, Invalid, Limits, OutboundPolicy, Refusal};
use crate::secret::{KeySource, ServerKey, key_file_beside};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist for this account.
    #[error("not found: {0:?}")]
    NotFound(Missing),
    /// A rule refused the write.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A database constraint refused the write because another writer got there first; the
    /// engine decides the write again, so that the rule explains the loss.
    #[error("constraint violated: {0}")]
    Violation(String),
    /// The database cannot be reached now.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database is reachable but cannot write: its disk is full or failing.
    #[error("storage full or failing: {0}")]
    Exhausted(String),
    /// Anything else; logged, never shown to clients.
    #[error("storage error: {0}")]
    Internal(String),
}

impl From<Invalid> for StoreError {
    fn from(e: Invalid) -> Self {
        Self::Refused(e.into())
    }
}

impl From<Conflict> for StoreError {
    fn from(e: Conflict) -> Self {
        Self::Refused(e.into())
    }
}

/// Shorthand for storage results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a list page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Skip this many rows (a `Page` without a `PageToken`).
    Offset(u64),
    /// Rows after this SID (`PageToken=PA…`).
    After(String),
    /// Rows before this SID (`PageToken=PB…`).
    Before(String),
}

/// One page request. A back end returns up to `limit` rows in walking order: ascending SIDs, or
/// descending for [`Cursor::Before`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// How many rows at most.
    pub limit: u32,
    /// Where to start.
    pub cursor: Cursor,
}

/// Filters of the account list.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Exact friendly name.
    pub friendly_name: Option<String>,
    /// Exact status.
    pub status: Option<AccountStatus>,
}

/// What a server key rotation resealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Credential passwords.
    pub passwords: u64,
    /// Auth tokens.
    pub tokens: u64,
}

/// What the store is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// A server: build the recognition table and keep it current (on PostgreSQL, follow the
    /// cluster's change feed and prune it).
    #[default]
    Serve,
    /// A one-off command (`accounts create`): no table, no feed.
    Admin,
}

/// How to open a store, beyond its URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// What the store is opened for.
    pub role: Role,
    /// Where every new timestamp and SID's time comes from.
    pub clock: Arc<dyn Clock>,
    /// SQLite only: the most bytes the database file may grow to; writes beyond it are refused
    /// with 503, as on a full disk.
    pub max_database_bytes: Option<u64>,
    /// PostgreSQL only: how long the cluster's change log keeps entries (default
    /// [`postgres::DEFAULT_CHANGE_LOG_RETENTION`]).
    pub change_log_retention: Option<Duration>,
    /// The server key, which seals credential passwords. `None`: a server on SQLite uses (or
    /// creates) `<database>.key` beside its database; a server on PostgreSQL refuses to open,
    /// as cluster nodes must be given one shared key; a one-off command opens without one.
    pub key: Option<ServerKey>,
    /// What one account may store.
    pub limits: Limits,
    /// Where sipmap may send for a tenant: targets outside it are refused at creation and update,
    /// and any already stored have no destination in the recognition table.
    pub outbound: Arc<OutboundPolicy>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            role: Role::Serve,
            clock: Arc::new(SystemClock),
            max_database_bytes: None,
            change_log_retention: None,
            key: None,
            limits: Limits::default(),
            outbound: Arc::default(),
        }
    }
}

/// Opens the store named by `url` (`sqlite://PATH`, created if missing, or `postgres://…`),
/// migrates it and builds its recognition table from what it holds.
pub async fn connect(url: &str) -> anyhow::Result<Arc<Store>> {
    connect_with(url, &StoreOptions::default()).await
}

/// [`connect`] with options.
pub async fn connect_with(url: &str, options: &StoreOptions) -> anyhow::Result<Arc<Store>> {
    let clock = options.clock.clone();
    let limits = options.limits.clone();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let retention = options
            .change_log_retention
            .unwrap_or(postgres::DEFAULT_CHANGE_LOG_RETENTION);
        let outbound = options.outbound.clone();
        let backend =
            postgres::PgBackend::open(url, options.role, retention, outbound.clone()).await?;
        let key = server_key(url, options)?;
        let store = Store::new(backend, clock, key.clone(), limits, outbound);
        adopt(&store, key.as_ref()).await?;
        return Ok(Arc::new(store));
    }
    match sqlite_path(url) {
        Some(path) => {
            let key = server_key(url, options)?;
            let outbound = options.outbound.clone();
            let backend = sqlite::SqliteBackend::open(
                &path,
                options.role,
                options.max_database_bytes,
                outbound.clone(),
            )?;
            let store = Store::new(backend, clock, key.clone(), limits, outbound);
            adopt(&store, key.as_ref()).await?;
            Ok(Arc::new(store))
        }
        None => anyhow::bail!(
            "unsupported database URL {:?}: expected sqlite://PATH or postgres://…",
            redact_url(url)
        ),
    }
}

/// The server key the store at `url` opens with: the one in `options`, else (for a server) the
/// SQLite database's own key file beside it (created on first start), else none for a one-off
/// command. A server on PostgreSQL must be given one: cluster nodes share it.
pub fn server_key(url: &str, options: &StoreOptions) -> anyhow::Result<Option<ServerKey>> {
    if let Some(key) = &options.key {
        return Ok(Some(key.clone()));
    }
    if options.role == Role::Admin {
        return Ok(None);
    }
    let source = KeySource {
        create_at: sqlite_path(url).map(|p| key_file_beside(&p)),
        ..KeySource::default()
    };
    ServerKey::load(&source).map(Some)
}

/// Checks `key` against the one the database's secrets were sealed with (recording it on
/// first start).
async fn adopt(store: &Store, key: Option<&ServerKey>) -> anyhow::Result<()> {
    let Some(key) = key else { return Ok(()) };
    let same = store
        .adopt_server_key(key.check_value())
        .await
        .map_err(|e| anyhow::anyhow!("cannot check the server key: {e}"))?;
    anyhow::ensure!(
        same,
        "the server key is not the one this database's secrets were sealed with: start with \
         the key it was created with (SIPMAP_SECRET_KEY, --secret-key-file, or the key file \
         beside a SQLite database); see \"Secrets and the server key\" in the README"
    );
    Ok(())
}

/// The file a `sqlite://PATH` (or `sqlite:PATH`) URL names, if it is one.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// A database URL with any password replaced by `***`, safe to log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
