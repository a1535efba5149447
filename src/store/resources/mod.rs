//! Each resource's storage, one file per resource (or family): its operations, an `impl Store`
//! block that mints SIDs and times and runs a read or a write, and its write procedures, written
//! once over [`Tx`]: open with the facts a rule needs (locking the rows it depends on), ask the
//! rule in [`crate::domain`], persist what it decided, and say what changes in recognition. Its
//! statements are in its own `sql` module ([`api_keys`]), or in [`super::queries`] when other
//! files run them too; the back ends only run them. This file lists the resources, says what a
//! missing one is ([`Missing`]), and holds what several resources' procedures share and the
//! store's own operations (the server key, the recognition state).

pub mod accounts;
pub mod api_keys;
pub mod auth_mappings;
pub mod byoc;
pub mod call_nodes;
pub mod calls;
pub mod credential_lists;
pub mod events;
pub mod ip_access_control_lists;
pub mod ip_records;
pub mod mappings;
pub mod sip_domains;
pub mod sip_lists;

use super::backend::{Lock, Tx, Written};
use super::engine::{run_read, run_write};
use super::queries::{
    accounts as account_sql, auth_mappings as auth_sql, recognition, sip_domains as domain_sql,
};
use super::value::Params;
use super::{Resealed, Result, Store, StoreError, reads};
use crate::domain::{Account, MappedList};
use crate::recognition::{AccountRows, AuthKind, State};
use crate::secret::{Sealer, ServerKey};
use crate::sid::{
    AccountSid, AclAddressSid, AclSid, ApiKeySid, ByocTrunkSid, CallSid, ConnectionPolicySid,
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
    /// A call of the given account.
    Call(AccountSid, CallSid),
}

impl Store {
    /// Records the server key's check value on first start; afterwards, whether `check` is
    /// the one recorded (the key the stored secrets were sealed with).
    pub async fn adopt_server_key(&self, check: [u8; 32]) -> Result<bool> {
        run_write!(self, (check), |tx| adopt_server_key(tx, check))
    }

    /// Reseals every credential password and auth token under `new` and records its check
    /// value, in one transaction; says how many of each were resealed.
    pub async fn rotate_server_key(&self, new: &ServerKey) -> Result<Resealed> {
        let (old, new) = self.rotation(new)?;
        run_write!(self, (old, new), |tx| reseal_all(tx, old, new))
    }

    /// Every recognised SIP domain and mapped network, read from the database.
    pub async fn recognition_state(&self) -> Result<State> {
        run_read!(self, |tx| reads::recognition_state(tx))
    }
}

/// Reseals every credential password and auth token from the `old` sealers to the `new` ones
/// and records `new`'s check value as the server key's, in this transaction. A secret that the
/// old key cannot open fails the whole rotation.
pub async fn reseal_all(
    tx: &mut dyn Tx,
    old: (Sealer, Sealer),
    new: (Sealer, Sealer, [u8; 32]),
) -> Result<Written<Resealed>> {
    let passwords = credential_lists::reseal_passwords(tx, &old.0, &new.0).await?;
    let tokens = accounts::reseal_tokens(tx, &old.1, &new.1).await?;
    tx.execute(
        "UPDATE server_key SET check_value = $1",
        vec![new.2.as_slice().into()],
    )
    .await?;
    Ok(Written::quiet(Resealed { passwords, tokens }))
}

/// An account, its row locked as `lock` says; 404 when it does not exist.
pub async fn locked_account(tx: &mut dyn Tx, sid: &AccountSid, lock: Lock) -> Result<Account> {
    let rows = tx
        .query_locked(account_sql::BY_SID, vec![sid.as_str().into()], lock)
        .await?;
    match rows.into_iter().next() {
        Some(r) => account_sql::account(r),
        None => Err(StoreError::NotFound(Missing::Account(sid.clone()))),
    }
}

/// Whether the owner of a write takes writes, and whether they are recognised (see
/// [`Account::accepts_writes`]). Its row stays share-locked, so its status cannot change
/// before this transaction ends.
pub async fn owner_accepts_writes(tx: &mut dyn Tx, account: &AccountSid) -> Result<bool> {
    Ok(locked_account(tx, account, Lock::Share)
        .await?
        .accepts_writes()?)
}

/// The mapping a query about one SID finds, if any.
pub async fn some_mapping(
    tx: &mut dyn Tx,
    sql: &str,
    params: Params,
) -> Result<Option<MappingSid>> {
    match tx.query(sql, params).await?.first() {
        Some(r) => r.sid(0, MappingSid::parse).map(Some),
        None => Ok(None),
    }
}

/// Everything recognition knows of one account.
pub async fn account_rows(tx: &mut dyn Tx, account: &AccountSid) -> Result<AccountRows> {
    let params = || vec![account.as_str().into()];
    let domains = tx.query(recognition::ACCOUNT_DOMAINS, params()).await?;
    let mappings = tx.query(recognition::ACCOUNT_MAPPINGS, params()).await?;
    let auth = tx.query(auth_sql::OF_ACCOUNT, params()).await?;
    recognition::account_rows(domains, mappings, auth)
}

/// A count (the first column of the first row) of a query about one SID.
pub async fn count(tx: &mut dyn Tx, sql: &str, sid: &str) -> Result<u64> {
    let rows = tx.query(sql, vec![sid.into()]).await?;
    let n = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Fails with the domain's 404 unless `sid` is a SIP domain of `account`; share-locks it.
pub async fn require_domain(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &SipDomainSid,
) -> Result<()> {
    let found = tx
        .query_locked(
            domain_sql::BY_SID,
            domain_sql::by_sid(account, sid),
            Lock::Share,
        )
        .await?;
    if found.is_empty() {
        return Err(StoreError::NotFound(Missing::SipDomain(
            account.clone(),
            sid.clone(),
        )));
    }
    Ok(())
}

/// Records the server key's check value if none is recorded yet; whether the recorded one is
/// `check`.
pub async fn adopt_server_key(tx: &mut dyn Tx, check: [u8; 32]) -> Result<Written<bool>> {
    let rows = tx
        .query("SELECT check_value FROM server_key", vec![])
        .await?;
    let same = match rows.into_iter().next() {
        Some(r) => r.blob(0)? == check.as_slice(),
        None => {
            tx.execute(
                "INSERT INTO server_key (check_value) VALUES ($1)",
                vec![check.as_slice().into()],
            )
            .await?;
            true
        }
    };
    Ok(Written::quiet(same))
}
