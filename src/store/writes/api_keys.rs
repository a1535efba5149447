//! Writes of API keys: create (within the account's limit), rename, delete.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::api_keys;
use super::super::{Missing, Result, StoreError};
use super::{count, locked_account};
use crate::auth_token::TokenHash;
use crate::domain::{ApiKey, KeyName, Limits};
use crate::sid::{AccountSid, ApiKeySid};

/// Creates `key` with its secret's hash, unless its account is closed or holds as many keys as
/// it may (the account row stays locked, so two creates cannot both take the last place).
pub async fn create(
    tx: &mut dyn Tx,
    key: ApiKey,
    secret: TokenHash,
    limits: Limits,
) -> Result<Written<ApiKey>> {
    let owner = locked_account(tx, &key.account_sid, Lock::Update).await?;
    let held = count(tx, api_keys::COUNT_OF_ACCOUNT, key.account_sid.as_str()).await?;
    ApiKey::may_create(&owner, held, &limits)?;
    tx.execute(api_keys::INSERT, api_keys::insert(&key, &secret))
        .await?;
    Ok(Written::quiet(key))
}

async fn locked(tx: &mut dyn Tx, account: &AccountSid, sid: &ApiKeySid) -> Result<ApiKey> {
    let rows = tx
        .query_locked(
            api_keys::BY_SID,
            api_keys::by_sid(account, sid),
            Lock::Update,
        )
        .await?;
    match rows.into_iter().next() {
        Some(r) => api_keys::key(r),
        None => Err(StoreError::NotFound(Missing::ApiKey(
            account.clone(),
            sid.clone(),
        ))),
    }
}

/// Renames a key of `account` when a name was sent.
pub async fn update(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ApiKeySid,
    name: KeyName,
    now: i64,
) -> Result<Written<ApiKey>> {
    let mut key = locked(tx, account, sid).await?;
    let before = key.clone();
    key.rename(name, now);
    if key != before {
        tx.execute(api_keys::UPDATE, api_keys::update(&key)).await?;
    }
    Ok(Written::quiet(key))
}

/// Deletes a key of `account`; the next request made with it is refused, on every node, since
/// authentication reads the key's row each time.
pub async fn delete(tx: &mut dyn Tx, account: &AccountSid, sid: &ApiKeySid) -> Result<Written<()>> {
    locked(tx, account, sid).await?;
    tx.execute(api_keys::DELETE, vec![sid.as_str().into()])
        .await?;
    Ok(Written::quiet(()))
}
