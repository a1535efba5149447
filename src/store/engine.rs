//! [`Engine`]: the one implementation of [`Store`], over any [`Backend`]. It mints every new
//! SID and timestamp from its [`Clock`], runs the procedures of [`super::reads`] and
//! [`super::writes`], and, when a constraint refused a write because another node got there
//! first, runs the write again: the second time the facts include the other node's row, so the
//! rule gives the same typed refusal a single node gives.

use std::sync::Arc;

use async_trait::async_trait;

use super::backend::{Backend, BoxFuture, ReadFn, Tx, WriteFn, Written};
use super::{AccountFilter, PageQuery, Resealed, Result, Store, StoreError, reads, writes};
use crate::auth_token::{AuthToken, TokenHash};
use crate::clock::Clock;
use crate::domain::{
    Account, AccountPatch, AclName, ApiKey, AuthMapping, ByocTrunk, ByocTrunkPatch,
    ConnectionPolicy, Credential, CredentialList, CredentialListName, CredentialPatch,
    IpAccessControlList, IpAddress, IpAddressPatch, IpRecord, IpRecordPatch, KeyName, Limits,
    MappedList, Mapping, NewAccount, NewApiKey, NewCredential, NewIpRecord, OutboundPolicy,
    PolicyName, PolicyTarget, SipDomain, SipDomainPatch, TargetPatch,
};
use crate::recognition::{AuthKind, Recognition, State};
use crate::secret::{AUTH_TOKEN, CREDENTIAL_PASSWORD, Sealer, ServerKey};
use crate::sid::{
    AccountSid, AclAddressSid, AclSid, ApiKeySid, ByocTrunkSid, ConnectionPolicySid,
    CredentialListSid, CredentialSid, IpRecordSid, MappingSid, PolicyTargetSid, SipDomainSid,
};

/// How often a write is tried when constraints keep refusing it (each refusal means another
/// node committed a conflicting row in between, so a second try sees it).
const ATTEMPTS: u32 = 3;

/// A write procedure, boxed for the back end (the closure's type states the borrow of the
/// transaction that the future keeps).
fn write_fn<T, F>(f: F) -> WriteFn<T>
where
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<Written<T>>> + Send + 'static,
{
    Box::new(f)
}

/// A read procedure, boxed for the back end.
fn read_fn<T, F>(f: F) -> ReadFn<T>
where
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    Box::new(f)
}

/// Storage: a back end, the clock that dates what it stores, what seals credential passwords
/// and auth tokens, and the limits on what an account may store.
pub struct Engine<B> {
    backend: B,
    clock: Arc<dyn Clock>,
    key: Option<ServerKey>,
    sealer: Option<Sealer>,
    token_sealer: Option<Sealer>,
    limits: Limits,
    /// Where sipmap may send for a tenant: targets must be inside it.
    outbound: Arc<OutboundPolicy>,
}

impl<B: Backend> Engine<B> {
    /// An engine over `backend`, dating rows with `clock`, sealing passwords with `key`
    /// (`None` for one-off commands, which store none) and refusing writes past `limits`.
    pub fn new(backend: B, clock: Arc<dyn Clock>, key: Option<ServerKey>, limits: Limits) -> Self {
        let sealer = key.as_ref().map(|k| k.sealer(CREDENTIAL_PASSWORD));
        let token_sealer = key.as_ref().map(|k| k.sealer(AUTH_TOKEN));
        Self {
            backend,
            clock,
            key,
            sealer,
            token_sealer,
            limits,
            outbound: Arc::default(),
        }
    }

    /// The same engine, refusing targets outside `outbound`.
    pub fn with_outbound(mut self, outbound: Arc<OutboundPolicy>) -> Self {
        self.outbound = outbound;
        self
    }

    /// Records the server key's check value on first start; afterwards, whether `check` is
    /// the one recorded (the key the stored secrets were sealed with).
    pub async fn adopt_server_key(&self, check: [u8; 32]) -> Result<bool> {
        self.write(|| write_fn(move |tx| Box::pin(writes::adopt_server_key(tx, check))))
            .await
    }

    /// A password, sealed.
    fn seal(&self, password: &str) -> Result<Vec<u8>> {
        match &self.sealer {
            Some(sealer) => Ok(sealer.seal(password.as_bytes())),
            None => Err(StoreError::Internal(
                "this store was opened without the server key".into(),
            )),
        }
    }

    /// An auth token's hash, and the token sealed when the store has the server key (a store
    /// opened without it, for a one-off command, stores the hash alone: the token then reads
    /// as `null`).
    fn token_credential(&self, token: &AuthToken) -> (TokenHash, Option<Vec<u8>>) {
        let sealed = self
            .token_sealer
            .as_ref()
            .map(|s| s.seal(token.expose().as_bytes()));
        (token.hash(), sealed)
    }

    /// Runs the write `make` builds, again when a constraint refused it (see the module doc).
    async fn write<T, F>(&self, make: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn() -> WriteFn<T> + Send + Sync,
    {
        let mut attempt = 1;
        loop {
            match self.backend.write(make()).await {
                Err(StoreError::Violation(constraint)) if attempt < ATTEMPTS => {
                    tracing::debug!(
                        constraint,
                        attempt,
                        "a concurrent write won; deciding again"
                    );
                    attempt += 1;
                }
                Err(StoreError::Violation(constraint)) => {
                    return Err(StoreError::Internal(format!(
                        "constraint {constraint} refused {ATTEMPTS} attempts"
                    )));
                }
                other => return other,
            }
        }
    }

    /// The time now, and a moment in milliseconds for new SIDs, from one reading of the clock.
    fn now(&self) -> (i64, i64) {
        let millis = self.clock.now_millis();
        (millis.div_euclid(1000), millis)
    }
}

/// A read of one call to a procedure of [`reads`] with owned arguments.
macro_rules! run_read {
    ($engine:expr, |$tx:ident| $body:expr) => {
        $engine
            .backend
            .read(read_fn(move |$tx| Box::pin(async move { $body.await })))
            .await
    };
}

/// A write of one call to a procedure of [`writes`] whose arguments are cloned per attempt.
macro_rules! run_write {
    ($engine:expr, ($($arg:ident),*), |$tx:ident| $body:expr) => {
        $engine
            .write(|| {
                $(let $arg = $arg.clone();)*
                write_fn(move |$tx| Box::pin(async move { $body.await }))
            })
            .await
    };
}

#[async_trait]
impl<B: Backend> Store for Engine<B> {
    fn recognition(&self) -> Recognition {
        self.backend.recognition()
    }

    fn server_key(&self) -> Option<&ServerKey> {
        self.key.as_ref()
    }

    async fn rotate_server_key(&self, new: &ServerKey) -> Result<Resealed> {
        let Some(old) = self.key.as_ref() else {
            return Err(StoreError::Internal(
                "this store was opened without the server key".into(),
            ));
        };
        let old = (old.sealer(CREDENTIAL_PASSWORD), old.sealer(AUTH_TOKEN));
        let new = (
            new.sealer(CREDENTIAL_PASSWORD),
            new.sealer(AUTH_TOKEN),
            new.check_value(),
        );
        run_write!(self, (old, new), |tx| writes::reseal_all(tx, old, new))
    }

    fn reveal_token(&self, account: &Account) -> Result<Option<AuthToken>> {
        let Some(sealed) = &account.sealed_token else {
            return Ok(None);
        };
        let sealer = self.token_sealer.as_ref().ok_or_else(|| {
            StoreError::Internal("this store was opened without the server key".into())
        })?;
        let opened = sealer.open(sealed).map_err(|_| {
            StoreError::Internal(format!(
                "account {}'s auth token cannot be opened with the server key",
                account.sid
            ))
        })?;
        let token = String::from_utf8(opened).map_err(|_| {
            StoreError::Internal(format!("account {}'s auth token is not text", account.sid))
        })?;
        Ok(Some(AuthToken::from_string(token)))
    }

    async fn recognition_state(&self) -> Result<State> {
        run_read!(self, |tx| reads::recognition_state(tx))
    }

    async fn check_health(&self) -> Result<()> {
        self.backend.health().await
    }

    async fn account_credentials(&self, sid: &AccountSid) -> Result<Option<(Account, TokenHash)>> {
        let sid = sid.clone();
        run_read!(self, |tx| reads::credentials(tx, &sid))
    }

    async fn key_credentials(&self, sid: &ApiKeySid) -> Result<Option<(Account, TokenHash)>> {
        let sid = sid.clone();
        run_read!(self, |tx| reads::key_credentials(tx, &sid))
    }

    async fn get_account(&self, sid: &AccountSid) -> Result<Option<Account>> {
        let sid = sid.clone();
        run_read!(self, |tx| reads::account(tx, &sid))
    }

    async fn count_accounts(&self) -> Result<u64> {
        run_read!(self, |tx| reads::count_accounts(tx))
    }

    async fn create_account(&self, new: NewAccount) -> Result<Account> {
        let (now, millis) = self.now();
        let (credential, sealed) = self.token_credential(&new.token);
        let account = new.into_account(AccountSid::generate_at(millis), now, sealed);
        run_write!(self, (account, credential), |tx| writes::accounts::create(
            tx, account, credential
        ))
    }

    async fn ensure_account(
        &self,
        sid: &AccountSid,
        friendly_name: &str,
        token: &AuthToken,
    ) -> Result<Account> {
        let (now, _) = self.now();
        let (credential, sealed) = self.token_credential(token);
        let new = NewAccount {
            owner_sid: None,
            friendly_name: Some(friendly_name.to_owned()),
            token: token.clone(),
        };
        let account = new.into_account(sid.clone(), now, sealed);
        run_write!(self, (account, credential), |tx| writes::accounts::ensure(
            tx, account, credential
        ))
    }

    async fn create_first_account(&self, new: NewAccount) -> Result<Option<Account>> {
        let (now, millis) = self.now();
        let (credential, sealed) = self.token_credential(&new.token);
        let account = new.into_account(AccountSid::generate_at(millis), now, sealed);
        run_write!(self, (account, credential), |tx| {
            writes::accounts::create_first(tx, account, credential)
        })
    }

    async fn list_accounts(
        &self,
        caller: &AccountSid,
        filter: &AccountFilter,
        page: &PageQuery,
    ) -> Result<Vec<Account>> {
        let (caller, filter, page) = (caller.clone(), filter.clone(), page.clone());
        run_read!(self, |tx| reads::list_accounts(tx, &caller, &filter, &page))
    }

    async fn update_account(&self, sid: &AccountSid, patch: AccountPatch) -> Result<Account> {
        let (now, _) = self.now();
        let sid = sid.clone();
        run_write!(self, (sid, patch), |tx| writes::accounts::update(
            tx, &sid, patch, now
        ))
    }

    async fn create_api_key(&self, account: &AccountSid, new: NewApiKey) -> Result<ApiKey> {
        let (now, millis) = self.now();
        let (key, secret) = new.into_key(ApiKeySid::generate_at(millis), account.clone(), now);
        let limits = self.limits.clone();
        run_write!(self, (key, secret, limits), |tx| writes::api_keys::create(
            tx, key, secret, limits
        ))
    }

    async fn get_api_key(&self, account: &AccountSid, sid: &ApiKeySid) -> Result<Option<ApiKey>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::api_key(tx, &account, &sid))
    }

    async fn list_api_keys(&self, account: &AccountSid, page: &PageQuery) -> Result<Vec<ApiKey>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_api_keys(tx, &account, &page))
    }

    async fn update_api_key(
        &self,
        account: &AccountSid,
        sid: &ApiKeySid,
        name: KeyName,
    ) -> Result<ApiKey> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid, name), |tx| writes::api_keys::update(
            tx, &account, &sid, name, now
        ))
    }

    async fn delete_api_key(&self, account: &AccountSid, sid: &ApiKeySid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::api_keys::delete(
            tx, &account, &sid
        ))
    }

    async fn create_ip_record(&self, account: &AccountSid, new: NewIpRecord) -> Result<IpRecord> {
        let (now, millis) = self.now();
        let record = new.into_record(IpRecordSid::generate_at(millis), account.clone(), now);
        run_write!(self, (record), |tx| writes::ip_records::create(tx, record))
    }

    async fn get_ip_record(
        &self,
        account: &AccountSid,
        sid: &IpRecordSid,
    ) -> Result<Option<IpRecord>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::ip_record(tx, &account, &sid))
    }

    async fn list_ip_records(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<IpRecord>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_ip_records(tx, &account, &page))
    }

    async fn update_ip_record(
        &self,
        account: &AccountSid,
        sid: &IpRecordSid,
        patch: IpRecordPatch,
    ) -> Result<IpRecord> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(
            self,
            (account, sid, patch),
            |tx| writes::ip_records::update(tx, &account, &sid, patch, now)
        )
    }

    async fn delete_ip_record(&self, account: &AccountSid, sid: &IpRecordSid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::ip_records::delete(
            tx, &account, &sid
        ))
    }

    async fn create_sip_domain(
        &self,
        account: &AccountSid,
        new: SipDomainPatch,
    ) -> Result<SipDomain> {
        let (now, millis) = self.now();
        let domain = new.into_new(SipDomainSid::generate_at(millis), account.clone(), now);
        run_write!(self, (domain), |tx| writes::sip_domains::create(tx, domain))
    }

    async fn get_sip_domain(
        &self,
        account: &AccountSid,
        sid: &SipDomainSid,
    ) -> Result<Option<SipDomain>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::sip_domain(tx, &account, &sid))
    }

    async fn list_sip_domains(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<SipDomain>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_sip_domains(tx, &account, &page))
    }

    async fn update_sip_domain(
        &self,
        account: &AccountSid,
        sid: &SipDomainSid,
        patch: SipDomainPatch,
    ) -> Result<SipDomain> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid, patch), |tx| {
            writes::sip_domains::update(tx, &account, &sid, patch, now)
        })
    }

    async fn delete_sip_domain(&self, account: &AccountSid, sid: &SipDomainSid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::sip_domains::delete(
            tx, &account, &sid
        ))
    }

    async fn create_mapping(
        &self,
        account: &AccountSid,
        ip_record_sid: &IpRecordSid,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping> {
        let (now, millis) = self.now();
        let mapping = Mapping {
            sid: MappingSid::generate_at(millis),
            account_sid: account.clone(),
            ip_record_sid: ip_record_sid.clone(),
            sip_domain_sid: sip_domain_sid.clone(),
            date_created: now,
            date_updated: now,
        };
        run_write!(self, (mapping), |tx| writes::mappings::create(tx, mapping))
    }

    async fn get_mapping(&self, account: &AccountSid, sid: &MappingSid) -> Result<Option<Mapping>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::mapping(tx, &account, &sid))
    }

    async fn list_mappings(&self, account: &AccountSid, page: &PageQuery) -> Result<Vec<Mapping>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_mappings(tx, &account, &page))
    }

    async fn update_mapping(
        &self,
        account: &AccountSid,
        sid: &MappingSid,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping> {
        let (now, _) = self.now();
        let (account, sid, domain) = (account.clone(), sid.clone(), sip_domain_sid.clone());
        run_write!(self, (account, sid, domain), |tx| writes::mappings::update(
            tx, &account, &sid, &domain, now
        ))
    }

    async fn delete_mapping(&self, account: &AccountSid, sid: &MappingSid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::mappings::delete(
            tx, &account, &sid
        ))
    }

    async fn create_acl(&self, account: &AccountSid, name: AclName) -> Result<IpAccessControlList> {
        let (now, millis) = self.now();
        let list = name.into_list(AclSid::generate_at(millis), account.clone(), now);
        let limits = self.limits.clone();
        run_write!(self, (list, limits), |tx| {
            writes::sip_lists::create(tx, list, limits)
        })
    }

    async fn get_acl(
        &self,
        account: &AccountSid,
        sid: &AclSid,
    ) -> Result<Option<IpAccessControlList>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::sip_list(tx, &account, &sid))
    }

    async fn list_acls(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<IpAccessControlList>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_sip_lists(tx, &account, &page))
    }

    async fn update_acl(
        &self,
        account: &AccountSid,
        sid: &AclSid,
        name: AclName,
    ) -> Result<IpAccessControlList> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid, name), |tx| {
            writes::sip_lists::update(tx, &account, &sid, name, now)
        })
    }

    async fn delete_acl(&self, account: &AccountSid, sid: &AclSid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| {
            writes::sip_lists::delete(tx, &account, &sid)
        })
    }

    async fn create_ip_address(
        &self,
        account: &AccountSid,
        list: &AclSid,
        new: IpAddressPatch,
    ) -> Result<IpAddress> {
        let (now, millis) = self.now();
        let sid = AclAddressSid::generate_at(millis);
        let (account, list, limits) = (account.clone(), list.clone(), self.limits.clone());
        run_write!(self, (account, list, new, sid, limits), |tx| {
            writes::ip_access_control_lists::create_address(
                tx, &account, &list, new, sid, now, limits,
            )
        })
    }

    async fn get_ip_address(
        &self,
        account: &AccountSid,
        list: &AclSid,
        sid: &AclAddressSid,
    ) -> Result<Option<IpAddress>> {
        let (account, list, sid) = (account.clone(), list.clone(), sid.clone());
        run_read!(self, |tx| reads::ip_address(tx, &account, &list, &sid))
    }

    async fn list_ip_addresses(
        &self,
        account: &AccountSid,
        list: &AclSid,
        page: &PageQuery,
    ) -> Result<Vec<IpAddress>> {
        let (account, list, page) = (account.clone(), list.clone(), page.clone());
        run_read!(self, |tx| reads::list_ip_addresses(
            tx, &account, &list, &page
        ))
    }

    async fn update_ip_address(
        &self,
        account: &AccountSid,
        list: &AclSid,
        sid: &AclAddressSid,
        patch: IpAddressPatch,
    ) -> Result<IpAddress> {
        let (now, _) = self.now();
        let (account, list, sid) = (account.clone(), list.clone(), sid.clone());
        run_write!(self, (account, list, sid, patch), |tx| {
            writes::ip_access_control_lists::update_address(tx, &account, &list, &sid, patch, now)
        })
    }

    async fn delete_ip_address(
        &self,
        account: &AccountSid,
        list: &AclSid,
        sid: &AclAddressSid,
    ) -> Result<()> {
        let (account, list, sid) = (account.clone(), list.clone(), sid.clone());
        run_write!(self, (account, list, sid), |tx| {
            writes::ip_access_control_lists::delete_address(tx, &account, &list, &sid)
        })
    }

    async fn create_credential_list(
        &self,
        account: &AccountSid,
        name: CredentialListName,
    ) -> Result<CredentialList> {
        let (now, millis) = self.now();
        let list = name.into_list(CredentialListSid::generate_at(millis), account.clone(), now);
        let limits = self.limits.clone();
        run_write!(self, (list, limits), |tx| {
            writes::sip_lists::create(tx, list, limits)
        })
    }

    async fn get_credential_list(
        &self,
        account: &AccountSid,
        sid: &CredentialListSid,
    ) -> Result<Option<CredentialList>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::sip_list(tx, &account, &sid))
    }

    async fn list_credential_lists(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<CredentialList>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_sip_lists(tx, &account, &page))
    }

    async fn update_credential_list(
        &self,
        account: &AccountSid,
        sid: &CredentialListSid,
        name: CredentialListName,
    ) -> Result<CredentialList> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid, name), |tx| {
            writes::sip_lists::update(tx, &account, &sid, name, now)
        })
    }

    async fn delete_credential_list(
        &self,
        account: &AccountSid,
        sid: &CredentialListSid,
    ) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| {
            writes::sip_lists::delete(tx, &account, &sid)
        })
    }

    async fn create_credential(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        new: NewCredential,
    ) -> Result<Credential> {
        let (now, millis) = self.now();
        let credential = Credential {
            sid: CredentialSid::generate_at(millis),
            account_sid: account.clone(),
            list_sid: list.clone(),
            username: new.username,
            password_sealed: self.seal(new.password.expose())?,
            date_created: now,
            date_updated: now,
        };
        let limits = self.limits.clone();
        run_write!(self, (credential, limits), |tx| {
            writes::credential_lists::create_credential(tx, credential, limits)
        })
    }

    async fn get_credential(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        sid: &CredentialSid,
    ) -> Result<Option<Credential>> {
        let (account, list, sid) = (account.clone(), list.clone(), sid.clone());
        run_read!(self, |tx| reads::credential(tx, &account, &list, &sid))
    }

    async fn list_credentials(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        page: &PageQuery,
    ) -> Result<Vec<Credential>> {
        let (account, list, page) = (account.clone(), list.clone(), page.clone());
        run_read!(self, |tx| reads::list_credentials(
            tx, &account, &list, &page
        ))
    }

    async fn update_credential(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        sid: &CredentialSid,
        patch: CredentialPatch,
    ) -> Result<Credential> {
        let (now, _) = self.now();
        let sealed = match &patch.password {
            Some(p) => Some(self.seal(p.expose())?),
            None => None,
        };
        let (account, list, sid) = (account.clone(), list.clone(), sid.clone());
        run_write!(self, (account, list, sid, sealed), |tx| {
            writes::credential_lists::update_credential(tx, &account, &list, &sid, sealed, now)
        })
    }

    async fn delete_credential(
        &self,
        account: &AccountSid,
        list: &CredentialListSid,
        sid: &CredentialSid,
    ) -> Result<()> {
        let (account, list, sid) = (account.clone(), list.clone(), sid.clone());
        run_write!(self, (account, list, sid), |tx| {
            writes::credential_lists::delete_credential(tx, &account, &list, &sid)
        })
    }

    async fn create_auth_mapping(
        &self,
        account: &AccountSid,
        domain: &SipDomainSid,
        kind: AuthKind,
        list: &MappedList,
    ) -> Result<AuthMapping> {
        let (now, _) = self.now();
        let (account, domain, list) = (account.clone(), domain.clone(), list.clone());
        run_write!(self, (account, domain, list), |tx| {
            writes::auth_mappings::create(tx, &account, &domain, kind, list, now)
        })
    }

    async fn get_auth_mapping(
        &self,
        account: &AccountSid,
        domain: &SipDomainSid,
        kind: AuthKind,
        list: &MappedList,
    ) -> Result<Option<AuthMapping>> {
        let (account, domain, list) = (account.clone(), domain.clone(), list.clone());
        run_read!(self, |tx| reads::auth_mapping(
            tx, &account, &domain, kind, &list
        ))
    }

    async fn list_auth_mappings(
        &self,
        account: &AccountSid,
        domain: &SipDomainSid,
        kind: AuthKind,
        page: &PageQuery,
    ) -> Result<Vec<AuthMapping>> {
        let (account, domain, page) = (account.clone(), domain.clone(), page.clone());
        run_read!(self, |tx| {
            reads::list_auth_mappings(tx, &account, &domain, kind, &page)
        })
    }

    async fn delete_auth_mapping(
        &self,
        account: &AccountSid,
        domain: &SipDomainSid,
        kind: AuthKind,
        list: &MappedList,
    ) -> Result<()> {
        let (account, domain, list) = (account.clone(), domain.clone(), list.clone());
        run_write!(self, (account, domain, list), |tx| {
            writes::auth_mappings::delete(tx, &account, &domain, kind, list)
        })
    }

    async fn create_byoc_trunk(
        &self,
        account: &AccountSid,
        new: ByocTrunkPatch,
    ) -> Result<ByocTrunk> {
        let (now, millis) = self.now();
        let trunk = new.into_trunk(ByocTrunkSid::generate_at(millis), account.clone(), now);
        let limits = self.limits.clone();
        run_write!(self, (trunk, limits), |tx| writes::byoc::create_trunk(
            tx, trunk, limits
        ))
    }

    async fn get_byoc_trunk(
        &self,
        account: &AccountSid,
        sid: &ByocTrunkSid,
    ) -> Result<Option<ByocTrunk>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::byoc_trunk(tx, &account, &sid))
    }

    async fn list_byoc_trunks(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<ByocTrunk>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_byoc_trunks(tx, &account, &page))
    }

    async fn update_byoc_trunk(
        &self,
        account: &AccountSid,
        sid: &ByocTrunkSid,
        patch: ByocTrunkPatch,
    ) -> Result<ByocTrunk> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid, patch), |tx| {
            writes::byoc::update_trunk(tx, &account, &sid, patch, now)
        })
    }

    async fn delete_byoc_trunk(&self, account: &AccountSid, sid: &ByocTrunkSid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::byoc::delete_trunk(
            tx, &account, &sid
        ))
    }

    async fn create_connection_policy(
        &self,
        account: &AccountSid,
        name: PolicyName,
    ) -> Result<ConnectionPolicy> {
        let (now, millis) = self.now();
        let policy = name.into_policy(
            ConnectionPolicySid::generate_at(millis),
            account.clone(),
            now,
        );
        let limits = self.limits.clone();
        run_write!(self, (policy, limits), |tx| writes::byoc::create_policy(
            tx, policy, limits
        ))
    }

    async fn get_connection_policy(
        &self,
        account: &AccountSid,
        sid: &ConnectionPolicySid,
    ) -> Result<Option<ConnectionPolicy>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::connection_policy(tx, &account, &sid))
    }

    async fn list_connection_policies(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<ConnectionPolicy>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_connection_policies(
            tx, &account, &page
        ))
    }

    async fn update_connection_policy(
        &self,
        account: &AccountSid,
        sid: &ConnectionPolicySid,
        name: PolicyName,
    ) -> Result<ConnectionPolicy> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid, name), |tx| {
            writes::byoc::update_policy(tx, &account, &sid, name, now)
        })
    }

    async fn delete_connection_policy(
        &self,
        account: &AccountSid,
        sid: &ConnectionPolicySid,
    ) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::byoc::delete_policy(
            tx, &account, &sid
        ))
    }

    async fn create_policy_target(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        new: TargetPatch,
    ) -> Result<PolicyTarget> {
        new.check_outbound(&self.outbound)?;
        let (now, millis) = self.now();
        let sid = PolicyTargetSid::generate_at(millis);
        let (account, policy, limits) = (account.clone(), policy.clone(), self.limits.clone());
        run_write!(self, (account, policy, new, sid, limits), |tx| {
            writes::byoc::create_target(tx, &account, &policy, new, sid, now, limits)
        })
    }

    async fn get_policy_target(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        sid: &PolicyTargetSid,
    ) -> Result<Option<PolicyTarget>> {
        let (account, policy, sid) = (account.clone(), policy.clone(), sid.clone());
        run_read!(self, |tx| reads::policy_target(tx, &account, &policy, &sid))
    }

    async fn list_policy_targets(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        page: &PageQuery,
    ) -> Result<Vec<PolicyTarget>> {
        let (account, policy, page) = (account.clone(), policy.clone(), page.clone());
        run_read!(self, |tx| reads::list_policy_targets(
            tx, &account, &policy, &page
        ))
    }

    async fn update_policy_target(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        sid: &PolicyTargetSid,
        patch: TargetPatch,
    ) -> Result<PolicyTarget> {
        patch.check_outbound(&self.outbound)?;
        let (now, _) = self.now();
        let (account, policy, sid) = (account.clone(), policy.clone(), sid.clone());
        run_write!(self, (account, policy, sid, patch), |tx| {
            writes::byoc::update_target(tx, &account, &policy, &sid, patch, now)
        })
    }

    async fn delete_policy_target(
        &self,
        account: &AccountSid,
        policy: &ConnectionPolicySid,
        sid: &PolicyTargetSid,
    ) -> Result<()> {
        let (account, policy, sid) = (account.clone(), policy.clone(), sid.clone());
        run_write!(self, (account, policy, sid), |tx| {
            writes::byoc::delete_target(tx, &account, &policy, &sid)
        })
    }
}
