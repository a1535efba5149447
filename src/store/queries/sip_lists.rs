//! What IP access control lists and credential lists share: the statements of a table of named
//! lists of an account (one [`ListTable`] per kind), and their rows.

use super::super::value::{Params, Row};
use super::super::{PageQuery, Result};
use super::{credential_lists, ip_access_control_lists};
use crate::domain::{MappedList, SipList};
use crate::recognition::Change;
use crate::sid::{AccountSid, AclSid, CredentialListSid, Sid};

/// A kind of list, named by its SID type: its table, what it holds.
pub trait ListKind: Sid {
    /// Its statements.
    const TABLE: &'static ListTable;
    /// What a list holds, one row each, for the recognition changes its deletion makes: `$1`
    /// the list.
    const CONTENTS: &'static str;
    /// The list as a domain maps it.
    fn mapped(&self) -> MappedList;
    /// The recognition change of one row of [`Self::CONTENTS`] leaving with its list.
    fn removed(&self, row: Row) -> Result<Change>;
}

impl ListKind for AclSid {
    const TABLE: &'static ListTable = &ACLS;
    const CONTENTS: &'static str = ip_access_control_lists::NETWORKS_OF_LIST;

    fn mapped(&self) -> MappedList {
        MappedList::Acl(self.clone())
    }

    fn removed(&self, row: Row) -> Result<Change> {
        Ok(Change::AclNetworkRemoved(self.clone(), row.network(0)?))
    }
}

impl ListKind for CredentialListSid {
    const TABLE: &'static ListTable = &CREDENTIAL_LISTS;
    const CONTENTS: &'static str = credential_lists::USERNAMES_OF_LIST;

    fn mapped(&self) -> MappedList {
        MappedList::Credentials(self.clone())
    }

    fn removed(&self, mut row: Row) -> Result<Change> {
        Ok(Change::CredentialRemoved(self.clone(), row.text(0)?))
    }
}

/// The statements of one kind of list.
#[derive(Debug)]
pub struct ListTable {
    /// One list of an account: `$1` SID, `$2` account.
    pub by_sid: &'static str,
    /// How many lists an account holds: `$1` account.
    pub count_of_account: &'static str,
    /// A new list: SID, account, name, dates.
    pub insert: &'static str,
    /// A list's name and update time: `$1` SID, `$2` name, `$3` time.
    pub update: &'static str,
    /// Deletes a list (what it holds goes with it): `$1` SID.
    pub delete: &'static str,
    /// A domain that maps a list, if any: `$1` SID.
    pub mapped_to: &'static str,
    /// The base of a page of an account's lists: `$1` account.
    list: &'static str,
}

macro_rules! list_table {
    ($table:literal, $mappings:literal, $column:literal) => {
        ListTable {
            by_sid: concat!(
                "SELECT sid, account_sid, friendly_name, date_created, date_updated FROM ",
                $table,
                " WHERE sid = $1 AND account_sid = $2"
            ),
            count_of_account: concat!("SELECT COUNT(*) FROM ", $table, " WHERE account_sid = $1"),
            insert: concat!(
                "INSERT INTO ",
                $table,
                " (sid, account_sid, friendly_name, date_created, date_updated) \
                 VALUES ($1, $2, $3, $4, $5)"
            ),
            update: concat!(
                "UPDATE ",
                $table,
                " SET friendly_name = $2, date_updated = $3 WHERE sid = $1"
            ),
            delete: concat!("DELETE FROM ", $table, " WHERE sid = $1"),
            mapped_to: concat!(
                "SELECT sip_domain_sid FROM ",
                $mappings,
                " WHERE ",
                $column,
                " = $1 ORDER BY sip_domain_sid LIMIT 1"
            ),
            list: concat!(
                "SELECT sid, account_sid, friendly_name, date_created, date_updated FROM ",
                $table,
                " WHERE account_sid = $1"
            ),
        }
    };
}

/// IP access control lists.
pub const ACLS: ListTable = list_table!(
    "sip_ip_access_control_lists",
    "sip_domain_acl_mappings",
    "ip_access_control_list_sid"
);

/// Credential lists.
pub const CREDENTIAL_LISTS: ListTable = list_table!(
    "sip_credential_lists",
    "sip_domain_credential_list_mappings",
    "credential_list_sid"
);

impl ListTable {
    /// A page of an account's lists.
    pub fn page(&self, account: &AccountSid, page: &PageQuery) -> (String, Params) {
        super::page(self.list, vec![account.as_str().into()], page)
    }
}

/// The parameters of `by_sid`.
pub fn by_sid(account: &AccountSid, sid: &impl Sid) -> Params {
    vec![sid.as_str().into(), account.as_str().into()]
}

/// The parameters of `insert`.
pub fn insert<S: Sid>(l: &SipList<S>) -> Params {
    vec![
        l.sid.as_str().into(),
        l.account_sid.as_str().into(),
        l.friendly_name.as_str().into(),
        l.date_created.into(),
        l.date_updated.into(),
    ]
}

/// The parameters of `update`.
pub fn update<S: Sid>(l: &SipList<S>) -> Params {
    vec![
        l.sid.as_str().into(),
        l.friendly_name.as_str().into(),
        l.date_updated.into(),
    ]
}

/// A list from a row of `by_sid` or a page.
pub fn list<S: Sid>(mut r: Row) -> Result<SipList<S>> {
    Ok(SipList {
        sid: r.sid(0, S::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        friendly_name: r.text(2)?,
        date_created: r.int(3)?,
        date_updated: r.int(4)?,
    })
}
