//! API keys' storage: their statements, their writes (create within the account's limit,
//! rename, delete) and the store's operations on them.

use super::super::backend::{Lock, Tx, Written};
use super::super::{Missing, Result, StoreError};
use super::{count, locked_account};
use crate::auth_token::TokenHash;
use crate::domain::{ApiKey, Audit, KeyName, Limits};
use crate::sid::{AccountSid, ApiKeySid};

/// API keys' statements and rows. The secret's hash is written here and read only by
/// [`crate::store::queries::accounts::BY_KEY`], for authentication.
mod sql {
    use crate::auth_token::TokenHash;
    use crate::domain::ApiKey;
    use crate::sid::{AccountSid, ApiKeySid};
    use crate::store::queries;
    use crate::store::value::{Params, Row};
    use crate::store::{PageQuery, Result};

    macro_rules! columns {
        () => {
            "sid, account_sid, friendly_name, date_created, date_updated"
        };
    }

    /// One key of an account: `$1` SID, `$2` account.
    pub const BY_SID: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys WHERE sid = $1 AND account_sid = $2"
    );
    /// A new key with its secret's hash.
    pub const INSERT: &str = concat!(
        "INSERT INTO api_keys (",
        columns!(),
        ", secret_salt, secret_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    );
    /// A key's friendly name and update time.
    pub const UPDATE: &str =
        "UPDATE api_keys SET friendly_name = $2, date_updated = $3 WHERE sid = $1";
    /// Deletes a key.
    pub const DELETE: &str = "DELETE FROM api_keys WHERE sid = $1";
    /// How many keys an account holds: `$1` account.
    pub const COUNT_OF_ACCOUNT: &str = "SELECT count(*) FROM api_keys WHERE account_sid = $1";
    const LIST: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM api_keys WHERE account_sid = $1"
    );

    /// A page of an account's keys.
    pub fn list(account: &AccountSid, page: &PageQuery) -> (String, Params) {
        queries::page(LIST, vec![account.as_str().into()], page)
    }

    /// The parameters of [`BY_SID`].
    pub fn by_sid(account: &AccountSid, sid: &ApiKeySid) -> Params {
        vec![sid.as_str().into(), account.as_str().into()]
    }

    /// The parameters of [`INSERT`].
    pub fn insert(k: &ApiKey, secret: &TokenHash) -> Params {
        vec![
            k.sid.as_str().into(),
            k.account_sid.as_str().into(),
            k.friendly_name.clone().into(),
            k.date_created.into(),
            k.date_updated.into(),
            secret.salt.as_slice().into(),
            secret.hash.as_slice().into(),
        ]
    }

    /// The parameters of [`UPDATE`].
    pub fn update(k: &ApiKey) -> Params {
        vec![
            k.sid.as_str().into(),
            k.friendly_name.clone().into(),
            k.date_updated.into(),
        ]
    }

    /// A key from a row.
    pub fn key(mut r: Row) -> Result<ApiKey> {
        Ok(ApiKey {
            sid: r.sid(0, ApiKeySid::parse)?,
            account_sid: r.sid(1, AccountSid::parse)?,
            friendly_name: r.opt_text(2)?,
            date_created: r.int(3)?,
            date_updated: r.int(4)?,
        })
    }
}

/// Creates `key` with its secret's hash, unless its account is closed or holds as many keys as
/// it may (the account row stays locked, so two creates cannot both take the last place).
pub async fn create(
    tx: &mut dyn Tx,
    key: ApiKey,
    secret: TokenHash,
    limits: Limits,
) -> Result<Written<ApiKey>> {
    let owner = locked_account(tx, &key.account_sid, Lock::Update).await?;
    let held = count(tx, sql::COUNT_OF_ACCOUNT, key.account_sid.as_str()).await?;
    ApiKey::may_create(&owner, held, &limits)?;
    tx.execute(sql::INSERT, sql::insert(&key, &secret)).await?;
    let audit = Audit::created(&key);
    Ok(Written::quiet(key).audited([audit]))
}

async fn locked(tx: &mut dyn Tx, account: &AccountSid, sid: &ApiKeySid) -> Result<ApiKey> {
    let rows = tx
        .query_locked(sql::BY_SID, sql::by_sid(account, sid), Lock::Update)
        .await?;
    match rows.into_iter().next() {
        Some(r) => sql::key(r),
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
        tx.execute(sql::UPDATE, sql::update(&key)).await?;
    }
    let audit = Audit::updated(&before, &key);
    Ok(Written::quiet(key).audited(audit))
}

/// Deletes a key of `account`; the next request made with it is refused on this node, and on
/// every other within the change feed's delay (see [`crate::store::credentials`]).
pub async fn delete(tx: &mut dyn Tx, account: &AccountSid, sid: &ApiKeySid) -> Result<Written<()>> {
    let key = locked(tx, account, sid).await?;
    tx.execute(sql::DELETE, vec![sid.as_str().into()]).await?;
    super::accounts::credentials_changed(tx).await?;
    Ok(Written::quiet(()).audited([Audit::deleted(&key)]))
}

/// The store's operations on API keys.
mod operations {
    use super::sql;
    use crate::auth_token::TokenHash;
    use crate::domain::{Account, ApiKey, KeyName, NewApiKey};
    use crate::sid::{AccountSid, ApiKeySid};
    use crate::store::engine::run_write;
    use crate::store::queries::accounts;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// The account an API key authenticates as and the key's secret hash, for
        /// authentication (from the credential cache when it has them, which a deleted key
        /// leaves at once on this node and within the change feed's delay on the others).
        pub async fn key_credentials(
            &self,
            sid: &ApiKeySid,
        ) -> Result<Option<(Account, TokenHash)>> {
            self.credential(sid.as_str(), accounts::BY_KEY, accounts::credential)
                .await
        }

        /// Creates an API key of `account` (its secret already hashed), unless the account is
        /// closed or holds as many keys as it may.
        pub async fn create_api_key(&self, account: &AccountSid, new: NewApiKey) -> Result<ApiKey> {
            let (now, millis) = self.now();
            let (key, secret) = new.into_key(ApiKeySid::generate_at(millis), account.clone(), now);
            let limits = &self.limits;
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
            let params = sql::by_sid(account, sid);
            self.read_one(sql::BY_SID, params, sql::key).await
        }

        /// A page of an account's API keys.
        pub async fn list_api_keys(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<ApiKey>> {
            self.read_all(sql::list(account, page), sql::key).await
        }

        /// Renames an API key.
        pub async fn update_api_key(
            &self,
            account: &AccountSid,
            sid: &ApiKeySid,
            name: KeyName,
        ) -> Result<ApiKey> {
            let (now, _) = self.now();
            run_write!(self, (account, sid, name), |tx| super::update(
                tx, &account, &sid, name, now
            ))
        }

        /// Deletes an API key; requests made with it fail from the next one on.
        pub async fn delete_api_key(&self, account: &AccountSid, sid: &ApiKeySid) -> Result<()> {
            let written = run_write!(self, (account, sid), |tx| super::delete(tx, &account, &sid));
            self.forget_credentials();
            written
        }
    }
}
