//! API 2010 SIP IP Addresses, an IP access control list's
//! (`…/IpAccessControlLists/{Sid}/IpAddresses.json`, `…/{Sid}.json`; the lists themselves are
//! in `sip_lists`).

use serde::Serialize;

use super::wire::SIP_IP_ADDRESSES as ADDRESSES;
use crate::domain::{IpAddress, IpAddressPatch};
use crate::sid::{AclAddressSid, AclSid};
use crate::timefmt::V2010Date;

/// What a client sees of an IP address.
#[derive(Serialize)]
pub struct AddressView<'a> {
    sid: &'a str,
    account_sid: &'a str,
    friendly_name: &'a str,
    ip_address: String,
    cidr_prefix_length: u8,
    ip_access_control_list_sid: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    uri: String,
}

fn address_view(a: &IpAddress) -> AddressView<'_> {
    AddressView {
        sid: a.sid.as_str(),
        account_sid: a.account_sid.as_str(),
        friendly_name: &a.friendly_name,
        ip_address: a.ip_address.to_string(),
        cidr_prefix_length: a.cidr_prefix_length,
        ip_access_control_list_sid: a.list_sid.as_str(),
        date_created: V2010Date(a.date_created),
        date_updated: V2010Date(a.date_updated),
        uri: ADDRESSES.uri(&a.account_sid, &a.list_sid, &a.sid),
    }
}

crate::crud!(IpAddress in AclSid, AclAddressSid, ADDRESSES;
    IpAddressPatch = |p| IpAddressPatch::parse(p, true), IpAddressPatch = |p| IpAddressPatch::parse(p, false);
    address_view => AddressView;
    parent: create_ip_address, get_ip_address, list_ip_addresses, update_ip_address, delete_ip_address);
