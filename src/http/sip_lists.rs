//! API 2010 SIP IP Access Control Lists (`…/SIP/IpAccessControlLists.json`, `…/{Sid}.json`) and
//! Credential Lists (`…/SIP/CredentialLists.json`, `…/{Sid}.json`): both a named list of an
//! account ([`SipList`]), with one view, the same fields in the order Twilio's OpenAPI file
//! gives each resource, and `subresource_uris` naming the list's one kind of child (their IP
//! Addresses, in `ip_access_control_lists`, and their Credentials, in `credential_lists`).

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct};

use super::v2010::Account;
use super::wire::{
    SIP_CREDENTIAL_LISTS, SIP_CREDENTIALS, SIP_IP_ACCESS_CONTROL_LISTS, SIP_IP_ADDRESSES,
    V2010Child,
};
use crate::domain::{AclName, CredentialList, CredentialListName, IpAccessControlList, SipList};
use crate::sid::{AclSid, CredentialListSid, Sid};
use crate::timefmt::V2010Date;

crate::crud!(IpAccessControlList in Account, AclSid, SIP_IP_ACCESS_CONTROL_LISTS;
    AclName = AclName::parse, AclName = AclName::parse;
    |l| ListView::new(l, &SIP_IP_ADDRESSES, Order::SidFirst) => ListView;
    account: create_acl, get_acl, list_acls, update_acl, delete_acl);

crate::crud!(CredentialList in Account, CredentialListSid, SIP_CREDENTIAL_LISTS;
    CredentialListName = CredentialListName::parse, CredentialListName = CredentialListName::parse;
    |l| ListView::new(l, &SIP_CREDENTIALS, Order::Alphabetical) => ListView;
    account: create_credential_list, get_credential_list, list_credential_lists, update_credential_list, delete_credential_list);

/// The order of a list view's fields.
#[derive(Debug, Clone, Copy)]
pub enum Order {
    /// `account_sid`, `date_created`, `date_updated`, `friendly_name`, `sid`, then the links.
    Alphabetical,
    /// `sid`, `account_sid`, `friendly_name`, `date_created`, `date_updated`, then the links.
    SidFirst,
}

/// What a client sees of a list.
#[derive(Debug)]
pub struct ListView<'a> {
    order: Order,
    sid: &'a str,
    account_sid: &'a str,
    friendly_name: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    /// The collection of its children, and its own URI.
    children: (&'static str, String),
    uri: String,
}

impl<'a> ListView<'a> {
    /// The view of `list`, whose children are `children`, with its fields in `order`.
    pub fn new<S: Sid>(list: &'a SipList<S>, children: &V2010Child, order: Order) -> Self {
        let (account, sid) = (&list.account_sid, &list.sid.as_str());
        Self {
            order,
            sid: list.sid.as_str(),
            account_sid: list.account_sid.as_str(),
            friendly_name: &list.friendly_name,
            date_created: V2010Date(list.date_created),
            date_updated: V2010Date(list.date_updated),
            children: (children.key, children.list_uri(account, sid)),
            uri: children.parent.uri(account, sid),
        }
    }
}

/// `subresource_uris`: `{"key": "uri"}`.
struct Children<'v>(&'v (&'static str, String));

impl Serialize for Children<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0.0, &self.0.1)?;
        map.end()
    }
}

impl Serialize for ListView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = s.serialize_struct("ListView", 7)?;
        match self.order {
            Order::Alphabetical => {
                v.serialize_field("account_sid", self.account_sid)?;
                v.serialize_field("date_created", &self.date_created)?;
                v.serialize_field("date_updated", &self.date_updated)?;
                v.serialize_field("friendly_name", self.friendly_name)?;
                v.serialize_field("sid", self.sid)?;
            }
            Order::SidFirst => {
                v.serialize_field("sid", self.sid)?;
                v.serialize_field("account_sid", self.account_sid)?;
                v.serialize_field("friendly_name", self.friendly_name)?;
                v.serialize_field("date_created", &self.date_created)?;
                v.serialize_field("date_updated", &self.date_updated)?;
            }
        }
        v.serialize_field("subresource_uris", &Children(&self.children))?;
        v.serialize_field("uri", &self.uri)?;
        v.end()
    }
}
