//! The IP addresses of SIP IP access control lists: statements and rows (the lists' own are
//! [`super::sip_lists::ACLS`]).

use super::super::value::{Params, Row};
use super::super::{PageQuery, Result};
use crate::domain::IpAddress;
use crate::sid::{AccountSid, AclAddressSid, AclSid};

macro_rules! address_columns {
    () => {
        "sid, account_sid, ip_access_control_list_sid, friendly_name, ip_address, \
         cidr_prefix_length, date_created, date_updated"
    };
}

/// One address of a list of an account: `$1` SID, `$2` list, `$3` account.
pub const ADDRESS_BY_SID: &str = concat!(
    "SELECT ",
    address_columns!(),
    " FROM sip_ip_addresses WHERE sid = $1 AND ip_access_control_list_sid = $2 \
     AND account_sid = $3"
);
/// How many addresses a list holds.
pub const ADDRESS_COUNT: &str =
    "SELECT COUNT(*) FROM sip_ip_addresses WHERE ip_access_control_list_sid = $1";
/// A new address.
pub const ADDRESS_INSERT: &str = concat!(
    "INSERT INTO sip_ip_addresses (",
    address_columns!(),
    ", network) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
);
/// Every field of an address.
pub const ADDRESS_UPDATE: &str = "UPDATE sip_ip_addresses SET friendly_name = $2, \
    ip_address = $3, cidr_prefix_length = $4, date_updated = $5, network = $6 WHERE sid = $1";
/// Deletes an address.
pub const ADDRESS_DELETE: &str = "DELETE FROM sip_ip_addresses WHERE sid = $1";
/// Every network of a list.
pub const NETWORKS_OF_LIST: &str = "SELECT network, cidr_prefix_length FROM sip_ip_addresses \
    WHERE ip_access_control_list_sid = $1";
const ADDRESS_LIST: &str = concat!(
    "SELECT ",
    address_columns!(),
    " FROM sip_ip_addresses WHERE ip_access_control_list_sid = $1"
);

/// A page of a list's addresses.
pub fn address_list(list: &AclSid, page: &PageQuery) -> (String, Params) {
    super::page(ADDRESS_LIST, vec![list.as_str().into()], page)
}

/// The parameters of [`ADDRESS_BY_SID`].
pub fn address_by_sid(account: &AccountSid, list: &AclSid, sid: &AclAddressSid) -> Params {
    vec![
        sid.as_str().into(),
        list.as_str().into(),
        account.as_str().into(),
    ]
}

/// The parameters of [`ADDRESS_UPDATE`].
pub fn address_update(a: &IpAddress) -> Params {
    vec![
        a.sid.as_str().into(),
        a.friendly_name.as_str().into(),
        a.ip_address.to_string().into(),
        a.cidr_prefix_length.into(),
        a.date_updated.into(),
        a.network().addr.into(),
    ]
}

/// The parameters of [`ADDRESS_INSERT`].
pub fn address_insert(a: &IpAddress) -> Params {
    vec![
        a.sid.as_str().into(),
        a.account_sid.as_str().into(),
        a.list_sid.as_str().into(),
        a.friendly_name.as_str().into(),
        a.ip_address.to_string().into(),
        a.cidr_prefix_length.into(),
        a.date_created.into(),
        a.date_updated.into(),
        a.network().addr.into(),
    ]
}

/// An address from a row.
pub fn address(mut r: Row) -> Result<IpAddress> {
    Ok(IpAddress {
        sid: r.sid(0, AclAddressSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        list_sid: r.sid(2, AclSid::parse)?,
        friendly_name: r.text(3)?,
        ip_address: r.ipv4(4)?,
        cidr_prefix_length: u8::try_from(r.int(5)?).unwrap_or(32),
        date_created: r.int(6)?,
        date_updated: r.int(7)?,
    })
}
