//! Accounts: statements and rows.

use super::super::value::{Params, Row};
use super::super::{AccountFilter, PageQuery, Result, StoreError};
use crate::auth_token::TokenHash;
use crate::domain::{Account, AccountStatus};
use crate::sid::AccountSid;

macro_rules! columns {
    () => {
        "sid, owner_sid, friendly_name, status, date_created, date_updated, token_salt, token_hash, \
         token_sealed"
    };
}

/// One account by SID.
pub const BY_SID: &str = concat!("SELECT ", columns!(), " FROM accounts WHERE sid = $1");
/// The account an API key authenticates as, with the key's secret hash in the columns of the
/// account's own ([`credential`] reads both): `$1` the key's SID. Written with scalar subqueries
/// rather than a join: SQLite prepares this join again at every run (about 12 µs instead of
/// 2.5 µs), which would make a key cost more than a token.
pub const BY_KEY: &str = "SELECT sid, owner_sid, friendly_name, status, date_created, \
    date_updated, (SELECT secret_salt FROM api_keys WHERE sid = $1), \
    (SELECT secret_hash FROM api_keys WHERE sid = $1), token_sealed \
    FROM accounts WHERE sid = (SELECT account_sid FROM api_keys WHERE sid = $1)";
/// How many accounts exist.
pub const COUNT: &str = "SELECT count(*) FROM accounts";
/// A new account.
pub const INSERT: &str = "INSERT INTO accounts (sid, owner_sid, friendly_name, status, \
    token_salt, token_hash, date_created, date_updated, token_sealed) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// A new credential for an account: its hash and its sealed form.
pub const SET_TOKEN: &str =
    "UPDATE accounts SET token_salt = $2, token_hash = $3, token_sealed = $4 WHERE sid = $1";
/// Every sealed auth token, to reseal under a new server key.
pub const ALL_SEALED: &str =
    "SELECT sid, token_sealed FROM accounts WHERE token_sealed IS NOT NULL ORDER BY sid";
/// A token sealed again: `$1` account, `$2` the new sealed form.
pub const RESEAL: &str = "UPDATE accounts SET token_sealed = $2 WHERE sid = $1";
/// An account's name, status and update time.
pub const UPDATE: &str =
    "UPDATE accounts SET friendly_name = $2, status = $3, date_updated = $4 WHERE sid = $1";
const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM accounts WHERE (sid = $1 OR owner_sid = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR friendly_name = $2) \
     AND (CAST($3 AS TEXT) IS NULL OR status = $3)"
);

/// A page of `caller` and its subaccounts, filtered.
pub fn list(caller: &AccountSid, filter: &AccountFilter, page: &PageQuery) -> (String, Params) {
    super::page(
        LIST,
        vec![
            caller.as_str().into(),
            filter.friendly_name.clone().into(),
            filter.status.map(AccountStatus::as_str).into(),
        ],
        page,
    )
}

/// The parameters of [`INSERT`].
pub fn insert(a: &Account, credential: &TokenHash) -> Params {
    vec![
        a.sid.as_str().into(),
        a.owner_sid.as_ref().map(AccountSid::as_str).into(),
        a.friendly_name.as_str().into(),
        a.status.as_str().into(),
        credential.salt.as_slice().into(),
        credential.hash.as_slice().into(),
        a.date_created.into(),
        a.date_updated.into(),
        a.sealed_token.as_deref().into(),
    ]
}

/// The parameters of [`UPDATE`].
pub fn update(a: &Account) -> Params {
    vec![
        a.sid.as_str().into(),
        a.friendly_name.as_str().into(),
        a.status.as_str().into(),
        a.date_updated.into(),
    ]
}

/// The parameters of [`SET_TOKEN`].
pub fn set_token(sid: &AccountSid, credential: &TokenHash, sealed: Option<&[u8]>) -> Params {
    vec![
        sid.as_str().into(),
        credential.salt.as_slice().into(),
        credential.hash.as_slice().into(),
        sealed.into(),
    ]
}

/// An account from a row of [`BY_SID`] or a list.
pub fn account(mut r: Row) -> Result<Account> {
    let status = r.text(3)?;
    Ok(Account {
        sid: r.sid(0, AccountSid::parse)?,
        owner_sid: r.opt_sid(1, AccountSid::parse)?,
        friendly_name: r.text(2)?,
        status: AccountStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("stored status {status:?}")))?,
        date_created: r.int(4)?,
        date_updated: r.int(5)?,
        sealed_token: r.take_opt_blob(8)?,
    })
}

/// An account and its credential from a row of [`BY_SID`] (its auth token's hash) or [`BY_KEY`]
/// (the key's secret hash).
pub fn credential(r: Row) -> Result<(Account, TokenHash)> {
    let hash = TokenHash {
        salt: r.bytes(6)?,
        hash: r.bytes(7)?,
    };
    Ok((account(r)?, hash))
}
