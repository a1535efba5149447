//! Storage: the [`Store`] interface the API uses, implemented once ([`engine::Engine`]) over a
//! back end per database.
//!
//! Storage is the source of truth. Layers, from the API down:
//! - [`engine`]: mints SIDs and timestamps, runs the procedures below, retries a write that lost
//!   a race so that the rule can explain the loss;
//! - [`writes`] and [`reads`]: every procedure, written once over [`backend::Tx`]: fetch the facts,
//!   ask the rule in [`crate::domain`], persist what it decided, name the recognition changes;
//! - [`queries`]: every statement and row mapping, shared by both dialects ([`value`] carries the
//!   values);
//! - [`sqlite`] (default) and [`postgres`] (clusters): run statements, commit durably, keep the
//!   recognition table current. No rule and no client wording lives below [`crate::domain`].
//!
//! The URL scheme picks the back end ([`connect`]).

pub mod backend;
pub mod engine;
pub mod postgres;
pub mod queries;
pub mod reads;
pub mod sqlite;
pub mod value;
pub mod writes;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::auth_token::TokenHash;
use crate::clock::{Clock, SystemClock};
use crate::domain::{
    Account, AccountPatch, AccountStatus, Conflict, Invalid, IpRecord, IpRecordPatch, Mapping,
    NewAccount, NewIpRecord, Refusal, SipDomain, SipDomainPatch,
};
use crate::recognition::{Recognition, State};
use crate::sid::{AccountSid, IpRecordSid, MappingSid, SipDomainSid};

/// A missing resource, named so the API can say which path was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// An account.
    Account(AccountSid),
    /// An IP record.
    IpRecord(IpRecordSid),
    /// A SIP domain of the given account.
    SipDomain(AccountSid, SipDomainSid),
    /// A mapping.
    Mapping(MappingSid),
}

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

/// The storage interface. Every method is scoped by account where the resource has one: a
/// resource of another account is reported exactly like a missing one. New SIDs and timestamps
/// are minted here, from the store's clock.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A read handle on the recognition table this store keeps current (empty unless the store
    /// was opened to serve).
    fn recognition(&self) -> Recognition;
    /// Every recognised SIP domain and mapped network, read from the database.
    async fn recognition_state(&self) -> Result<State>;
    /// Whether the database is reachable, can write, and the recognition table is being kept
    /// current.
    async fn check_health(&self) -> Result<()>;

    /// An account and its credential hash, for authentication.
    async fn account_credentials(&self, sid: &AccountSid) -> Result<Option<(Account, TokenHash)>>;
    /// An account.
    async fn get_account(&self, sid: &AccountSid) -> Result<Option<Account>>;
    /// How many accounts exist.
    async fn count_accounts(&self) -> Result<u64>;
    /// Creates an account.
    async fn create_account(&self, new: NewAccount) -> Result<Account>;
    /// Creates the top-level account `sid` if it is missing (named `friendly_name`), or replaces
    /// its credential hash if it exists.
    async fn ensure_account(
        &self,
        sid: &AccountSid,
        friendly_name: &str,
        credential: TokenHash,
    ) -> Result<Account>;
    /// Creates the account only if no account exists at all, atomically (several cluster nodes
    /// may start on an empty database at once); `None` when one existed.
    async fn create_first_account(&self, new: NewAccount) -> Result<Option<Account>>;
    /// `caller` and its subaccounts, filtered.
    async fn list_accounts(
        &self,
        caller: &AccountSid,
        filter: &AccountFilter,
        page: &PageQuery,
    ) -> Result<Vec<Account>>;
    /// Changes an account's friendly name and status, as [`Account::status_change`] decides:
    /// suspending takes its SIP domains and mappings out of recognition, reactivating puts them
    /// back, closing (which is final) deletes them, all in the same transaction.
    async fn update_account(&self, sid: &AccountSid, patch: AccountPatch) -> Result<Account>;

    /// Creates an IP record.
    async fn create_ip_record(&self, account: &AccountSid, new: NewIpRecord) -> Result<IpRecord>;
    /// One IP record.
    async fn get_ip_record(
        &self,
        account: &AccountSid,
        sid: &IpRecordSid,
    ) -> Result<Option<IpRecord>>;
    /// A page of IP records.
    async fn list_ip_records(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<IpRecord>>;
    /// Updates an IP record's friendly name.
    async fn update_ip_record(
        &self,
        account: &AccountSid,
        sid: &IpRecordSid,
        patch: IpRecordPatch,
    ) -> Result<IpRecord>;
    /// Deletes an IP record that no mapping references.
    async fn delete_ip_record(&self, account: &AccountSid, sid: &IpRecordSid) -> Result<()>;

    /// Creates a SIP domain from a create's parameters (its name must be free across all
    /// accounts).
    async fn create_sip_domain(
        &self,
        account: &AccountSid,
        new: SipDomainPatch,
    ) -> Result<SipDomain>;
    /// One SIP domain.
    async fn get_sip_domain(
        &self,
        account: &AccountSid,
        sid: &SipDomainSid,
    ) -> Result<Option<SipDomain>>;
    /// A page of SIP domains.
    async fn list_sip_domains(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<SipDomain>>;
    /// Updates a SIP domain.
    async fn update_sip_domain(
        &self,
        account: &AccountSid,
        sid: &SipDomainSid,
        patch: SipDomainPatch,
    ) -> Result<SipDomain>;
    /// Deletes a SIP domain that no mapping references.
    async fn delete_sip_domain(&self, account: &AccountSid, sid: &SipDomainSid) -> Result<()>;

    /// Maps an IP record to a SIP domain, both of `account`.
    async fn create_mapping(
        &self,
        account: &AccountSid,
        ip_record_sid: &IpRecordSid,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping>;
    /// One mapping.
    async fn get_mapping(&self, account: &AccountSid, sid: &MappingSid) -> Result<Option<Mapping>>;
    /// A page of mappings.
    async fn list_mappings(&self, account: &AccountSid, page: &PageQuery) -> Result<Vec<Mapping>>;
    /// Points a mapping at another SIP domain of the same account.
    async fn update_mapping(
        &self,
        account: &AccountSid,
        sid: &MappingSid,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping>;
    /// Deletes a mapping.
    async fn delete_mapping(&self, account: &AccountSid, sid: &MappingSid) -> Result<()>;
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
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            role: Role::Serve,
            clock: Arc::new(SystemClock),
            max_database_bytes: None,
            change_log_retention: None,
        }
    }
}

/// Opens the store named by `url` (`sqlite://PATH`, created if missing, or `postgres://…`),
/// migrates it and builds its recognition table from what it holds.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    connect_with(url, &StoreOptions::default()).await
}

/// [`connect`] with options.
pub async fn connect_with(url: &str, options: &StoreOptions) -> anyhow::Result<Arc<dyn Store>> {
    let clock = options.clock.clone();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let retention = options
            .change_log_retention
            .unwrap_or(postgres::DEFAULT_CHANGE_LOG_RETENTION);
        let backend = postgres::PgBackend::open(url, options.role, retention).await?;
        return Ok(Arc::new(engine::Engine::new(backend, clock)));
    }
    match sqlite_path(url) {
        Some(path) => {
            let backend =
                sqlite::SqliteBackend::open(&path, options.role, options.max_database_bytes)?;
            Ok(Arc::new(engine::Engine::new(backend, clock)))
        }
        None => anyhow::bail!(
            "unsupported database URL {:?}: expected sqlite://PATH or postgres://…",
            redact_url(url)
        ),
    }
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
