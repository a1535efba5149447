//! A domain's authentication mappings: statements and rows. Access control lists are mapped
//! in one table (for calls), credential lists in another (for calls or for registrations, by
//! `kind`); both read as rows of (list SID as `sid`, domain, kind, account, the list's friendly
//! name, dates).

use super::super::value::{Params, Row};
use super::super::{PageQuery, Result};
use crate::domain::{AuthMapping, MappedList};
use crate::recognition::AuthKind;
use crate::sid::{AccountSid, AclSid, CredentialListSid, SipDomainSid};

macro_rules! acl_rows {
    () => {
        "SELECT m.ip_access_control_list_sid AS sid, m.sip_domain_sid AS sip_domain_sid, \
         'calls_acl' AS kind, m.account_sid AS account_sid, l.friendly_name AS friendly_name, \
         m.date_created AS date_created, m.date_updated AS date_updated \
         FROM sip_domain_acl_mappings m \
         JOIN sip_ip_access_control_lists l ON l.sid = m.ip_access_control_list_sid"
    };
}

macro_rules! credential_rows {
    () => {
        "SELECT m.credential_list_sid AS sid, m.sip_domain_sid AS sip_domain_sid, \
         m.kind AS kind, m.account_sid AS account_sid, l.friendly_name AS friendly_name, \
         m.date_created AS date_created, m.date_updated AS date_updated \
         FROM sip_domain_credential_list_mappings m \
         JOIN sip_credential_lists l ON l.sid = m.credential_list_sid"
    };
}

macro_rules! columns {
    () => {
        "SELECT sid, sip_domain_sid, kind, account_sid, friendly_name, date_created, \
         date_updated FROM ("
    };
}

/// The statements of one table. The access control list table has no `kind` (its lists are
/// mapped for calls only), so its statements take one parameter fewer; [`key`] and [`insert`]
/// give each the parameters it takes.
#[derive(Debug)]
pub struct Statements {
    /// One mapping of a domain of an account: the key, then the account.
    pub by_sid: &'static str,
    /// The base of a page of a domain's mappings: the key without the list.
    list: &'static str,
    /// A new mapping: the key, the account, the two dates.
    pub insert: &'static str,
    /// Deletes a mapping: the key.
    pub delete: &'static str,
    /// Whether the key holds the kind.
    with_kind: bool,
}

const ACL: Statements = Statements {
    by_sid: concat!(
        columns!(),
        acl_rows!(),
        ") q WHERE sip_domain_sid = $1 AND sid = $2 AND account_sid = $3"
    ),
    list: concat!(columns!(), acl_rows!(), ") q WHERE sip_domain_sid = $1"),
    insert: "INSERT INTO sip_domain_acl_mappings (sip_domain_sid, ip_access_control_list_sid, \
        account_sid, date_created, date_updated) VALUES ($1, $2, $3, $4, $5)",
    delete: "DELETE FROM sip_domain_acl_mappings WHERE sip_domain_sid = $1 \
        AND ip_access_control_list_sid = $2",
    with_kind: false,
};

const CREDENTIALS: Statements = Statements {
    by_sid: concat!(
        columns!(),
        credential_rows!(),
        ") q WHERE sip_domain_sid = $1 AND kind = $2 AND sid = $3 AND account_sid = $4"
    ),
    list: concat!(
        columns!(),
        credential_rows!(),
        ") q WHERE sip_domain_sid = $1 AND kind = $2"
    ),
    insert: "INSERT INTO sip_domain_credential_list_mappings (sip_domain_sid, kind, \
        credential_list_sid, account_sid, date_created, date_updated) \
        VALUES ($1, $2, $3, $4, $5, $6)",
    delete: "DELETE FROM sip_domain_credential_list_mappings WHERE sip_domain_sid = $1 \
        AND kind = $2 AND credential_list_sid = $3",
    with_kind: true,
};

/// Every list mapped to an account's domains, for recognition: domain, kind, list.
pub const OF_ACCOUNT: &str = concat!(
    "SELECT sip_domain_sid, kind, sid FROM (",
    acl_rows!(),
    " UNION ALL ",
    credential_rows!(),
    ") q WHERE account_sid = $1"
);
/// Every list mapped to a domain, for recognition: domain, kind, list.
pub const ALL: &str = concat!(
    "SELECT sip_domain_sid, kind, sid FROM (",
    acl_rows!(),
    " UNION ALL ",
    credential_rows!(),
    ") q"
);

/// The statements of the table that maps lists of `kind`.
pub fn statements(kind: AuthKind) -> &'static Statements {
    match kind {
        AuthKind::CallsAcl => &ACL,
        AuthKind::CallsCredentials | AuthKind::RegistrationCredentials => &CREDENTIALS,
    }
}

/// The domain and, for tables that hold it, the kind.
fn domain_key(domain: &SipDomainSid, kind: AuthKind) -> Params {
    let mut p: Params = vec![domain.as_str().into()];
    if statements(kind).with_kind {
        p.push(kind.as_str().into());
    }
    p
}

/// A page of a domain's mappings of `kind`.
pub fn list(domain: &SipDomainSid, kind: AuthKind, page: &PageQuery) -> (String, Params) {
    super::page(statements(kind).list, domain_key(domain, kind), page)
}

/// The parameters that name one mapping (of `delete`; `by_sid` adds the account).
pub fn key(domain: &SipDomainSid, kind: AuthKind, list: &MappedList) -> Params {
    let mut p = domain_key(domain, kind);
    p.push(list.as_str().into());
    p
}

/// The parameters of `by_sid`.
pub fn by_sid(
    account: &AccountSid,
    domain: &SipDomainSid,
    kind: AuthKind,
    list: &MappedList,
) -> Params {
    let mut p = key(domain, kind, list);
    p.push(account.as_str().into());
    p
}

/// The parameters of `insert`.
pub fn insert(m: &AuthMapping) -> Params {
    let mut p = key(&m.domain_sid, m.kind, &m.list);
    p.extend([
        m.account_sid.as_str().into(),
        m.date_created.into(),
        m.date_updated.into(),
    ]);
    p
}

/// The list a mapping of `kind` names, from its SID's text.
pub fn mapped_list(kind: AuthKind, sid: &str) -> Option<MappedList> {
    match kind {
        AuthKind::CallsAcl => AclSid::parse(sid).map(MappedList::Acl),
        AuthKind::CallsCredentials | AuthKind::RegistrationCredentials => {
            CredentialListSid::parse(sid).map(MappedList::Credentials)
        }
    }
}

fn kind(r: &Row, i: usize) -> Result<AuthKind> {
    let k = r.str(i)?;
    AuthKind::parse(k).ok_or_else(|| {
        super::super::StoreError::Internal(format!("stored mapping kind {k:?} is unknown"))
    })
}

/// A mapping from a row.
pub fn mapping(mut r: Row) -> Result<AuthMapping> {
    let kind = kind(&r, 2)?;
    let sid = r.text(0)?;
    let list = mapped_list(kind, &sid).ok_or_else(|| {
        super::super::StoreError::Internal(format!("stored mapped list {sid:?} is malformed"))
    })?;
    Ok(AuthMapping {
        domain_sid: r.sid(1, SipDomainSid::parse)?,
        kind,
        list,
        account_sid: r.sid(3, AccountSid::parse)?,
        friendly_name: r.text(4)?,
        date_created: r.int(5)?,
        date_updated: r.int(6)?,
    })
}

/// A mapping for recognition, from a row of [`OF_ACCOUNT`] or [`ALL`]: domain, kind, list.
pub fn recognised(r: Row) -> Result<(SipDomainSid, AuthKind, MappedList)> {
    let kind = kind(&r, 1)?;
    let sid = r.str(2)?;
    let list = mapped_list(kind, sid).ok_or_else(|| {
        super::super::StoreError::Internal(format!("stored mapped list {sid:?} is malformed"))
    })?;
    Ok((r.sid(0, SipDomainSid::parse)?, kind, list))
}
