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

/// The store's operations on API keys.
mod operations {
    use crate::auth_token::TokenHash;
    use crate::domain::{Account, ApiKey, KeyName, NewApiKey};
    use crate::sid::{AccountSid, ApiKeySid};
    use crate::store::engine::run_write;
    use crate::store::queries::{accounts, api_keys};
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// The account an API key authenticates as and the key's secret hash, for
        /// authentication (read from the database each time, so a deleted key fails at once on
        /// every node).
        pub async fn key_credentials(
            &self,
            sid: &ApiKeySid,
        ) -> Result<Option<(Account, TokenHash)>> {
            let params = vec![sid.as_str().into()];
            self.read_one(accounts::BY_KEY, params, accounts::credential)
                .await
        }

        /// Creates an API key of `account` (its secret already hashed), unless the account is
        /// closed or holds as many keys as it may.
        pub async fn create_api_key(&self, account: &AccountSid, new: NewApiKey) -> Result<ApiKey> {
            let (now, millis) = self.now();
            let (key, secret) = new.into_key(ApiKeySid::generate_at(millis), account.clone(), now);
            let limits = self.limits.clone();
            run_write!(self, (key, secret, limits), |tx| super::create(
                tx, key, secret, limits
            ))
        }

        /// One API key.
        pub async fn get_api_key(
            &self,
            account: &AccountSid,
            sid: &ApiKeySid,
        ) -> Result<Option<ApiKey>> {
            let params = api_keys::by_sid(account, sid);
            self.read_one(api_keys::BY_SID, params, api_keys::key).await
        }

        /// A page of an account's API keys.
        pub async fn list_api_keys(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<ApiKey>> {
            self.read_all(api_keys::list(account, page), api_keys::key)
                .await
        }

        /// Renames an API key.
        pub async fn update_api_key(
            &self,
            account: &AccountSid,
            sid: &ApiKeySid,
            name: KeyName,
        ) -> Result<ApiKey> {
            let (now, _) = self.now();
            let (account, sid) = (account.clone(), sid.clone());
            run_write!(self, (account, sid, name), |tx| super::update(
                tx, &account, &sid, name, now
            ))
        }

        /// Deletes an API key; requests made with it fail from the next one on.
        pub async fn delete_api_key(&self, account: &AccountSid, sid: &ApiKeySid) -> Result<()> {
            let (account, sid) = (account.clone(), sid.clone());
            run_write!(self, (account, sid), |tx| super::delete(tx, &account, &sid))
        }
    }
}
