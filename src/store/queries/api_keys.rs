//! API keys: statements and rows. The secret's hash is written here and read only by
//! [`super::accounts::BY_KEY`], for authentication.

use super::super::value::{Params, Row};
use super::super::{PageQuery, Result};
use crate::auth_token::TokenHash;
use crate::domain::ApiKey;
use crate::sid::{AccountSid, ApiKeySid};

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
pub const UPDATE: &str = "UPDATE api_keys SET friendly_name = $2, date_updated = $3 WHERE sid = $1";
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
    super::page(LIST, vec![account.as_str().into()], page)
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
