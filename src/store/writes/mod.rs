//! Every write, written once over [`Tx`]: open with the facts a rule needs (locking the rows it
//! depends on), ask the rule in [`crate::domain`], persist what it decided, and say what changes
//! in recognition. The back ends only run the statements.

pub mod accounts;
pub mod ip_records;
pub mod mappings;
pub mod sip_domains;

use super::backend::{Lock, Tx};
use super::queries::{accounts as account_sql, recognition};
use super::value::Params;
use super::{Missing, Result, StoreError};
use crate::domain::Account;
use crate::recognition::AccountRows;
use crate::sid::{AccountSid, MappingSid};

/// An account, its row locked as `lock` says; 404 when it does not exist.
pub async fn locked_account(tx: &mut dyn Tx, sid: &AccountSid, lock: Lock) -> Result<Account> {
    let rows = tx
        .query_locked(account_sql::BY_SID, vec![sid.as_str().into()], lock)
        .await?;
    match rows.first() {
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
    recognition::account_rows(&domains, &mappings)
}
