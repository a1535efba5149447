//! IP records: statements and rows.

use super::super::value::{Params, Row};
use super::super::{PageQuery, Result};
use crate::domain::IpRecord;
use crate::sid::{AccountSid, IpRecordSid};

macro_rules! columns {
    () => {
        "sid, account_sid, friendly_name, ip_address, cidr_prefix_length, date_created, \
         date_updated"
    };
}

/// One IP record of an account: `$1` SID, `$2` account.
pub const BY_SID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM ip_records WHERE sid = $1 AND account_sid = $2"
);
/// A new IP record.
pub const INSERT: &str = concat!(
    "INSERT INTO ip_records (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
/// A record's friendly name and update time.
pub const UPDATE: &str =
    "UPDATE ip_records SET friendly_name = $2, date_updated = $3 WHERE sid = $1";
/// Deletes a record.
pub const DELETE: &str = "DELETE FROM ip_records WHERE sid = $1";
const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM ip_records WHERE account_sid = $1"
);

/// A page of an account's records.
pub fn list(account: &AccountSid, page: &PageQuery) -> (String, Params) {
    super::page(LIST, vec![account.as_str().into()], page)
}

/// The parameters of [`BY_SID`].
pub fn by_sid(account: &AccountSid, sid: &IpRecordSid) -> Params {
    vec![sid.as_str().into(), account.as_str().into()]
}

/// The parameters of [`INSERT`].
pub fn insert(r: &IpRecord) -> Params {
    vec![
        r.sid.as_str().into(),
        r.account_sid.as_str().into(),
        r.friendly_name.clone().into(),
        r.ip_address.to_string().into(),
        r.cidr_prefix_length.into(),
        r.date_created.into(),
        r.date_updated.into(),
    ]
}

/// The parameters of [`UPDATE`].
pub fn update(r: &IpRecord) -> Params {
    vec![
        r.sid.as_str().into(),
        r.friendly_name.clone().into(),
        r.date_updated.into(),
    ]
}

/// A record from a row.
pub fn record(mut r: Row) -> Result<IpRecord> {
    Ok(IpRecord {
        sid: r.sid(0, IpRecordSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        friendly_name: r.opt_text(2)?,
        ip_address: r.ipv4(3)?,
        cidr_prefix_length: u8::try_from(r.int(4)?).unwrap_or(32),
        date_created: r.int(5)?,
        date_updated: r.int(6)?,
    })
}
