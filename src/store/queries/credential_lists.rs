//! The credentials of SIP credential lists: statements and rows (the lists' own are
//! [`super::sip_lists::CREDENTIAL_LISTS`]). Passwords are stored and read only sealed.

use super::super::value::{Params, Row};
use super::super::{PageQuery, Result};
use crate::domain::Credential;
use crate::sid::{AccountSid, CredentialListSid, CredentialSid};

macro_rules! credential_columns {
    () => {
        "sid, account_sid, credential_list_sid, username, password_sealed, date_created, \
         date_updated"
    };
}

/// One credential of a list of an account: `$1` SID, `$2` list, `$3` account.
pub const CREDENTIAL_BY_SID: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM sip_credentials WHERE sid = $1 AND credential_list_sid = $2 AND account_sid = $3"
);
/// The credential of a list that holds a username: `$1` list, `$2` username.
pub const CREDENTIAL_NAMED: &str =
    "SELECT sid FROM sip_credentials WHERE credential_list_sid = $1 AND username = $2";
/// How many credentials a list holds.
pub const CREDENTIAL_COUNT: &str =
    "SELECT COUNT(*) FROM sip_credentials WHERE credential_list_sid = $1";
/// A new credential.
pub const CREDENTIAL_INSERT: &str = concat!(
    "INSERT INTO sip_credentials (",
    credential_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
/// A credential's sealed password and update time.
pub const CREDENTIAL_UPDATE: &str =
    "UPDATE sip_credentials SET password_sealed = $2, date_updated = $3 WHERE sid = $1";
/// Deletes a credential.
pub const CREDENTIAL_DELETE: &str = "DELETE FROM sip_credentials WHERE sid = $1";
/// Every credential's sealed password, for a key rotation.
pub const ALL_SEALED: &str = "SELECT sid, password_sealed FROM sip_credentials";
/// A credential's password sealed anew (the key rotated; the update time stays).
pub const RESEAL: &str = "UPDATE sip_credentials SET password_sealed = $2 WHERE sid = $1";
/// Every username of a list.
pub const USERNAMES_OF_LIST: &str =
    "SELECT username FROM sip_credentials WHERE credential_list_sid = $1";
const CREDENTIAL_LIST: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM sip_credentials WHERE credential_list_sid = $1"
);

/// A page of a list's credentials.
pub fn credential_page(list: &CredentialListSid, page: &PageQuery) -> (String, Params) {
    super::page(CREDENTIAL_LIST, vec![list.as_str().into()], page)
}

/// The parameters of [`CREDENTIAL_BY_SID`].
pub fn credential_by_sid(
    account: &AccountSid,
    list: &CredentialListSid,
    sid: &CredentialSid,
) -> Params {
    vec![
        sid.as_str().into(),
        list.as_str().into(),
        account.as_str().into(),
    ]
}

/// The parameters of [`CREDENTIAL_INSERT`].
pub fn credential_insert(c: &Credential) -> Params {
    vec![
        c.sid.as_str().into(),
        c.account_sid.as_str().into(),
        c.list_sid.as_str().into(),
        c.username.as_str().into(),
        c.password_sealed.as_slice().into(),
        c.date_created.into(),
        c.date_updated.into(),
    ]
}

/// The parameters of [`CREDENTIAL_UPDATE`].
pub fn credential_update(c: &Credential) -> Params {
    vec![
        c.sid.as_str().into(),
        c.password_sealed.as_slice().into(),
        c.date_updated.into(),
    ]
}

/// A credential from a row.
pub fn credential(mut r: Row) -> Result<Credential> {
    Ok(Credential {
        sid: r.sid(0, CredentialSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        list_sid: r.sid(2, CredentialListSid::parse)?,
        username: r.text(3)?,
        password_sealed: r.blob(4)?.to_vec(),
        date_created: r.int(5)?,
        date_updated: r.int(6)?,
    })
}
