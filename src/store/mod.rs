//! Storage: one interface, [`Store`], with a back end per database.
//!
//! Storage is the source of truth. Every write goes through a back end's single writer path, which
//! commits durably before it answers; the uniqueness and reference rules of the API are enforced
//! inside that write's transaction, so they hold however requests interleave.
//! The SQLite back end is in [`sqlite`], the PostgreSQL one (for clusters) in [`postgres`]; the
//! URL scheme picks the back end ([`connect`]).

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

use crate::auth_token::TokenHash;
use crate::domain::{
    Account, AccountStatus, Conflict, Invalid, IpRecord, IpRecordPatch, Mapping, NewAccount,
    NewIpRecord, SipDomain, SipDomainPatch,
};
use crate::recognition::{Recognition, RecognitionWriter, State};
use crate::sid::{AccountSid, IpRecordSid, SipDomainSid};

/// A missing resource, named so the API can say which path was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// An account.
    Account(AccountSid),
    /// An IP record.
    IpRecord(String),
    /// A SIP domain of the given account.
    SipDomain(AccountSid, String),
    /// A mapping.
    Mapping(String),
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist for this account.
    #[error("not found: {0:?}")]
    NotFound(Missing),
    /// A uniqueness, reference or tenancy rule refused the write.
    #[error("conflict: {0}")]
    Conflict(#[from] Conflict),
    /// The account the write belongs to is suspended or closed.
    #[error("account {0} is not active")]
    AccountNotActive(AccountSid),
    /// The SIP domain name is already used (by any account).
    #[error("domain name taken: {0}")]
    DomainTaken(String),
    /// The write is not allowed in the resource's current state.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A database constraint refused the write because another writer got there first; back
    /// ends turn it into the error a single node would give before it reaches a caller.
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

impl StoreError {
    /// Deleting an IP record that a mapping references.
    pub fn record_in_use(record: &str, mapping: &str) -> Self {
        Self::Conflict(Conflict::RecordInUse {
            record: record.to_owned(),
            mapping: mapping.to_owned(),
        })
    }

    /// Deleting a SIP domain that a mapping references.
    pub fn domain_in_use(domain: &str, mapping: &str) -> Self {
        Self::Conflict(Conflict::DomainInUse {
            domain: domain.to_owned(),
            mapping: mapping.to_owned(),
        })
    }

    /// Mapping an IP record that is mapped already.
    pub fn record_mapped(record: &str, mapping: &str) -> Self {
        Self::Conflict(Conflict::RecordMapped {
            record: record.to_owned(),
            mapping: mapping.to_owned(),
        })
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
/// resource of another account is reported exactly like a missing one.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Every SIP domain and every mapped network, to build the recognition table.
    async fn recognition_state(&self) -> Result<State>;
    /// A read handle on the recognition table this store's writer keeps up to date.
    fn recognition(&self) -> Recognition;
    /// Whether the database is reachable, can write, and the recognition table is being kept
    /// current.
    async fn check_health(&self) -> Result<()> {
        Ok(())
    }

    /// An account and its credential hash, for authentication.
    async fn account_credentials(&self, sid: &AccountSid) -> Result<Option<(Account, TokenHash)>>;
    /// An account.
    async fn get_account(&self, sid: &AccountSid) -> Result<Option<Account>>;
    /// How many accounts exist.
    async fn count_accounts(&self) -> Result<u64>;
    /// Creates an account.
    async fn create_account(&self, new: NewAccount) -> Result<Account>;
    /// Creates the account if it is missing, or replaces its credential hash if it exists.
    async fn ensure_account(&self, new: NewAccount) -> Result<Account>;
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
    async fn update_account(
        &self,
        sid: &AccountSid,
        friendly_name: Option<String>,
        status: Option<AccountStatus>,
    ) -> Result<Account>;

    /// Creates an IP record.
    async fn create_ip_record(&self, account: &AccountSid, new: NewIpRecord) -> Result<IpRecord>;
    /// One IP record.
    async fn get_ip_record(&self, account: &AccountSid, sid: &str) -> Result<Option<IpRecord>>;
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
        sid: &str,
        patch: IpRecordPatch,
    ) -> Result<IpRecord>;
    /// Deletes an IP record that no mapping references.
    async fn delete_ip_record(&self, account: &AccountSid, sid: &str) -> Result<()>;

    /// Creates a SIP domain (its name must be free across all accounts).
    async fn create_sip_domain(&self, domain: SipDomain) -> Result<SipDomain>;
    /// One SIP domain.
    async fn get_sip_domain(&self, account: &AccountSid, sid: &str) -> Result<Option<SipDomain>>;
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
        sid: &str,
        patch: SipDomainPatch,
    ) -> Result<SipDomain>;
    /// Deletes a SIP domain that no mapping references.
    async fn delete_sip_domain(&self, account: &AccountSid, sid: &str) -> Result<()>;

    /// Maps an IP record to a SIP domain, both of `account`.
    async fn create_mapping(
        &self,
        account: &AccountSid,
        ip_record_sid: &IpRecordSid,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping>;
    /// One mapping.
    async fn get_mapping(&self, account: &AccountSid, sid: &str) -> Result<Option<Mapping>>;
    /// A page of mappings.
    async fn list_mappings(&self, account: &AccountSid, page: &PageQuery) -> Result<Vec<Mapping>>;
    /// Points a mapping at another SIP domain of the same account.
    async fn update_mapping(
        &self,
        account: &AccountSid,
        sid: &str,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping>;
    /// Deletes a mapping.
    async fn delete_mapping(&self, account: &AccountSid, sid: &str) -> Result<()>;
}

/// How to open a store, beyond its URL.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// SQLite only: the most bytes the database file may grow to; writes beyond it are refused
    /// with 503, as on a full disk.
    pub max_database_bytes: Option<u64>,
    /// PostgreSQL only: how long the cluster's change log keeps entries (default
    /// [`postgres::DEFAULT_CHANGE_LOG_RETENTION`]).
    pub change_log_retention: Option<std::time::Duration>,
}

/// Opens the store named by `url` (`sqlite://PATH`, created if missing, or `postgres://…`),
/// migrates it and builds its recognition table from what it holds.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    connect_with(url, &StoreOptions::default()).await
}

/// [`connect`] with options.
pub async fn connect_with(url: &str, options: &StoreOptions) -> anyhow::Result<Arc<dyn Store>> {
    let is_sqlite = !(url.starts_with("postgres://") || url.starts_with("postgresql://"));
    let store = open(url, crate::recognition::table(), options).await?;
    let _ = is_sqlite;
    Ok(store)
}

async fn open(
    url: &str,
    recognizer: RecognitionWriter,
    options: &StoreOptions,
) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // The PostgreSQL store loads its table itself and follows the cluster's change feed.
        let retention = options
            .change_log_retention
            .unwrap_or(postgres::DEFAULT_CHANGE_LOG_RETENTION);
        return Ok(postgres::PgStore::open(url, recognizer, retention).await?);
    }
    match sqlite_path(url) {
        Some(path) => {
            let store = sqlite::SqliteStore::open(&path, recognizer, options.max_database_bytes)?;
            Ok(Arc::new(store))
        }
        None => anyhow::bail!(
            "unsupported database URL {:?}: expected sqlite://PATH or postgres://…",
            redact_url(url)
        ),
    }
}

/// The file a `sqlite://PATH` (or `sqlite:PATH`) URL names, if it is one.
pub fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty()).then(|| std::path::PathBuf::from(path))
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
