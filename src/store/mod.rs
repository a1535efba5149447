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

use crate::auth_token::{AuthToken, TokenHash};
use crate::clock::{Clock, SystemClock};
use crate::domain::{
    Account, AccountPatch, AccountStatus, AclName, ApiKey, AuthMapping, ByocTrunk, ByocTrunkPatch,
    Conflict, ConnectionPolicy, Credential, CredentialList, CredentialListName, CredentialPatch,
    Invalid, IpAccessControlList, IpAddress, IpAddressPatch, IpRecord, IpRecordPatch, KeyName,
    Limits, MappedList, Mapping, NewAccount, NewApiKey, NewCredential, NewIpRecord, OutboundPolicy,
    PolicyName, PolicyTarget, Refusal, SipDomain, SipDomainPatch, TargetPatch,
};
use crate::recognition::{AuthKind, Recognition, State};
use crate::secret::{KeySource, ServerKey, key_file_beside};
use crate::sid::{
    AccountSid, AclAddressSid, AclSid, ApiKeySid, ByocTrunkSid, ConnectionPolicySid,
    CredentialListSid, CredentialSid, IpRecordSid, MappingSid, PolicyTargetSid, SipDomainSid,
};

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
    /// An IP access control list of the given account.
    Acl(AccountSid, AclSid),
    /// An IP address of a list of the given account.
    AclAddress(AccountSid, AclSid, AclAddressSid),
    /// A credential list of the given account.
    CredentialList(AccountSid, CredentialListSid),
    /// A credential of a list of the given account.
    Credential(AccountSid, CredentialListSid, CredentialSid),
    /// A list mapped to a domain of the given account.
    AuthMapping(AccountSid, SipDomainSid, AuthKind, MappedList),
    /// A BYOC trunk.
    ByocTrunk(ByocTrunkSid),
    /// A connection policy.
    ConnectionPolicy(ConnectionPolicySid),
    /// A target of a connection policy.
    PolicyTarget(ConnectionPolicySid, PolicyTargetSid),
    /// An API key of the given account.
    ApiKey(AccountSid, ApiKeySid),
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

/// What a server key rotation resealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Credential passwords.
    pub passwords: u64,
    /// Auth tokens.
    pub tokens: u64,
}

/// The storage interface. Every method is scoped by account where the resource has one: a
/// resource of another account is reported exactly like a missing one. New SIDs and timestamps
/// are minted here, from the store's clock.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A read handle on the recognition table this store keeps current (empty unless the store
    /// was opened to serve).
    fn recognition(&self) -> Recognition;
    /// The server key the store seals secrets with (`None` for a one-off command's store); the
    /// SIP edge opens credential passwords and signs nonces with it.
    fn server_key(&self) -> Option<&ServerKey>;
    /// Reseals every credential password and auth token under `new` and records its check
    /// value, in one transaction; says how many of each were resealed.
    async fn rotate_server_key(&self, new: &ServerKey) -> Result<Resealed>;
    /// An account's auth token, opened with the server key; `None` when only its hash is stored
    /// (an account from before tokens were sealed, until its token is set again).
    fn reveal_token(&self, account: &Account) -> Result<Option<AuthToken>>;
    /// Every recognised SIP domain and mapped network, read from the database.
    async fn recognition_state(&self) -> Result<State>;
    /// Whether the database is reachable, can write, and the recognition table is being kept
    /// current.
    async fn check_health(&self) -> Result<()>;

    /// An account and its credential hash, for authentication.
    async fn account_credentials(&self, sid: &AccountSid) -> Result<Option<(Account, TokenHash)>>;
    /// The account an API key authenticates as and the key's secret hash, for authentication
    /// (read from the database each time, so a deleted key fails at once on every node).
    async fn key_credentials(&self, sid: &ApiKeySid) -> Result<Option<(Account, TokenHash)>>;
    /// An account.
    async fn get_account(&self, sid: &AccountSid) -> Result<Option<Account>>;
    /// How many accounts exist.
    async fn count_accounts(&self) -> Result<u64>;
    /// Creates an account.
    async fn create_account(&self, new: NewAccount) -> Result<Account>;
    /// Creates the top-level account `sid` if it is missing (named `friendly_name`), or gives it
    /// `token` if it exists.
    async fn ensure_account(
        &self,
        sid: &AccountSid,
        friendly_name: &str,
        token: &AuthToken,
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

    /// Creates an API key of `account` (its secret already hashed), unless the account is closed
    /// or holds as many keys as it may.
    async fn create_api_key(&self, account: &AccountSid, new: NewApiKey) -> Result<ApiKey>;
    /// One API key.
    async fn get_api_key(&self, account: &AccountSid, sid: &ApiKeySid) -> Result<Option<ApiKey>>;
    /// A page of an account's API keys.
    async fn list_api_keys(&self, account: &AccountSid, page: &PageQuery) -> Result<Vec<ApiKey>>;
    /// Renames an API key.
    async fn update_api_key(
        &self,
        account: &AccountSid,
        sid: &ApiKeySid,
        name: KeyName,
    ) -> Result<ApiKey>;
    /// Deletes an API key; requests made with it fail from the next one on.
    async fn delete_api_key(&self, account: &AccountSid, sid: &ApiKeySid) -> Result<()>;

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

    /// Creates an IP access control list, unless the account holds as many as it may.
    async fn create_acl(&self, account: &AccountSid, name: AclName) -> Result<IpAccessControlList>;
    /// One IP access control list.
    async fn get_acl(
        &self,
        account: &AccountSid,
        sid: &AclSid,
    ) -> Result<Option<IpAccessControlList>>;
    /// A page of IP access control lists.
    async fn list_acls(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<IpAccessControlList>>;
    /// Renames an IP access control list.
    async fn update_acl(
        &self,
        account: &AccountSid,
        sid: &AclSid,
        name: AclName,
    ) -> Result<IpAccessControlList>;
    /// Deletes an IP access control list that no domain maps, with its addresses.
    async fn delete_acl(&self, account: &AccountSid, sid: &AclSid) -> Result<()>;

    /// Adds an IP address to a list, unless the list is full.
    async fn create_ip_address(
        &self,
        account: &AccountSid,
        list: &AclSid,
        new: IpAddressPatch,
    ) -> Result<IpAddress>;
    /// One IP address of a list.
    async fn get_ip_address(
        &self,
        account: &AccountSid,
        list: &AclSid,
        sid: &AclAddressSid,
    ) -> Result<Option<IpAddress>>;
    /// A page of a list's IP addresses; 404 when the list is not the account's.
    async fn list_ip_addresses(
        &self,
        account: &AccountSid,
        list: &AclSid,
        page: &PageQuery,
    ) -> Result<Vec<IpAddress>>;
    /// Changes an IP address of a list.
    async fn update_ip_address(
        &self,
        account: &AccountSid,
        list: &AclSid,
        sid: &AclAddressSid,
        patch: IpAddressPatch,
    ) -> Result<IpAddress>;
    /// Deletes an IP address of a list.
    async fn delete_ip_address(
        &self,
        account: &AccountSid,
        list: &AclSid,
        sid: &AclAddressSid,
    ) -> Result<()>;

    /// Creates a credential list, unless the account holds as many as it may.
    async fn create_credential_list(
        &self,
        account: &AccountSid,
        name: CredentialListName,
    ) -> Result<CredentialList>;
    /// One credential list.
    async fn get_credential_list(
        &self,
        account: &AccountSid,
        sid: &CredentialListSid,
    ) -> Result<Option<CredentialList>>;
    /// A page of credential lists.
    async fn list_credential_lists(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<CredentialList>>;
    /// Renames a credential list.
    async fn update_credential_list(
        &self,
        account: &AccountSid,
        sid: &CredentialListSid,
        name: CredentialListName,
    ) -> Result<CredentialList>;
    /// Deletes a credential list that no domain maps, with its credentials.
    async fn delete_credential_list(
        &self,
        account: &AccountSid,
        sid: &CredentialListSid,
    ) -> Result<()>;

    /// Adds a credential to a list (its password sealed with the server key): the username must
    /// be free in the list, and the list not full.
    async fn create_credential(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        new: NewCredential,
    ) -> Result<Credential>;
    /// One credential of a list.
    async fn get_credential(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        sid: &CredentialSid,
    ) -> Result<Option<Credential>>;
    /// A page of a list's credentials; 404 when the list is not the account's.
    async fn list_credentials(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        page: &PageQuery,
    ) -> Result<Vec<Credential>>;
    /// Gives a credential a new password, if the patch has one.
    async fn update_credential(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        sid: &CredentialSid,
        patch: CredentialPatch,
    ) -> Result<Credential>;
    /// Deletes a credential of a list.
    async fn delete_credential(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        sid: &CredentialSid,
    ) -> Result<()>;

    /// Maps a list to a domain for `kind`; both must be the account's, and the list not mapped
    /// to the domain for `kind` already.
    async fn create_auth_mapping(
        &self,
        account: &AccountSid,
        domain: &SipDomainSid,
        kind: AuthKind,
        list: &MappedList,
    ) -> Result<AuthMapping>;
    /// A list mapped to a domain for `kind`; 404 when the domain is not the account's.
    async fn get_auth_mapping(
        &self,
        account: &AccountSid,
        domain: &SipDomainSid,
        kind: AuthKind,
        list: &MappedList,
    ) -> Result<Option<AuthMapping>>;
    /// A page of the lists mapped to a domain for `kind`; 404 when the domain is not the
    /// account's.
    async fn list_auth_mappings(
        &self,
        account: &AccountSid,
        domain: &SipDomainSid,
        kind: AuthKind,
        page: &PageQuery,
    ) -> Result<Vec<AuthMapping>>;
    /// Unmaps a list from a domain for `kind`.
    async fn delete_auth_mapping(
        &self,
        account: &AccountSid,
        domain: &SipDomainSid,
        kind: AuthKind,
        list: &MappedList,
    ) -> Result<()>;

    /// Creates a BYOC trunk (its policy and From domain must be the account's).
    async fn create_byoc_trunk(
        &self,
        account: &AccountSid,
        new: ByocTrunkPatch,
    ) -> Result<ByocTrunk>;
    /// One BYOC trunk.
    async fn get_byoc_trunk(
        &self,
        account: &AccountSid,
        sid: &ByocTrunkSid,
    ) -> Result<Option<ByocTrunk>>;
    /// A page of BYOC trunks.
    async fn list_byoc_trunks(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<ByocTrunk>>;
    /// Updates a BYOC trunk.
    async fn update_byoc_trunk(
        &self,
        account: &AccountSid,
        sid: &ByocTrunkSid,
        patch: ByocTrunkPatch,
    ) -> Result<ByocTrunk>;
    /// Deletes a BYOC trunk that no SIP domain names.
    async fn delete_byoc_trunk(&self, account: &AccountSid, sid: &ByocTrunkSid) -> Result<()>;

    /// Creates a connection policy.
    async fn create_connection_policy(
        &self,
        account: &AccountSid,
        name: PolicyName,
    ) -> Result<ConnectionPolicy>;
    /// One connection policy.
    async fn get_connection_policy(
        &self,
        account: &AccountSid,
        sid: &ConnectionPolicySid,
    ) -> Result<Option<ConnectionPolicy>>;
    /// A page of connection policies.
    async fn list_connection_policies(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<ConnectionPolicy>>;
    /// Renames a connection policy.
    async fn update_connection_policy(
        &self,
        account: &AccountSid,
        sid: &ConnectionPolicySid,
        name: PolicyName,
    ) -> Result<ConnectionPolicy>;
    /// Deletes a connection policy that no trunk names, with its targets.
    async fn delete_connection_policy(
        &self,
        account: &AccountSid,
        sid: &ConnectionPolicySid,
    ) -> Result<()>;

    /// Adds a target to a connection policy.
    async fn create_policy_target(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        new: TargetPatch,
    ) -> Result<PolicyTarget>;
    /// One target of a policy.
    async fn get_policy_target(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        sid: &PolicyTargetSid,
    ) -> Result<Option<PolicyTarget>>;
    /// A page of a policy's targets; 404 when the policy is not the account's.
    async fn list_policy_targets(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        page: &PageQuery,
    ) -> Result<Vec<PolicyTarget>>;
    /// Updates a target of a policy.
    async fn update_policy_target(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        sid: &PolicyTargetSid,
        patch: TargetPatch,
    ) -> Result<PolicyTarget>;
    /// Deletes a target of a policy.
    async fn delete_policy_target(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        sid: &PolicyTargetSid,
    ) -> Result<()>;
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
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    connect_with(url, &StoreOptions::default()).await
}

/// [`connect`] with options.
pub async fn connect_with(url: &str, options: &StoreOptions) -> anyhow::Result<Arc<dyn Store>> {
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
        let engine =
            engine::Engine::new(backend, clock, key.clone(), limits).with_outbound(outbound);
        adopt(&engine, key.as_ref()).await?;
        return Ok(Arc::new(engine));
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
            let engine =
                engine::Engine::new(backend, clock, key.clone(), limits).with_outbound(outbound);
            adopt(&engine, key.as_ref()).await?;
            Ok(Arc::new(engine))
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
async fn adopt<B: backend::Backend>(
    engine: &engine::Engine<B>,
    key: Option<&ServerKey>,
) -> anyhow::Result<()> {
    let Some(key) = key else { return Ok(()) };
    let same = engine
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
