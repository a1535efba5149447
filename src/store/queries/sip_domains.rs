//! SIP domains: statements and rows.

use std::sync::OnceLock;

use super::super::value::{Params, Row, Value};
use super::super::{PageQuery, Result};
use crate::domain::Account;
use crate::domain::SipDomain;
use crate::domain::sip_domain::CallsAuth;
use crate::domain::sip_domain::{domain_key, names_above, reversed_key};
use crate::sid::{AccountSid, SipDomainSid};

macro_rules! columns {
    () => {
        "sid, account_sid, domain_name, friendly_name, voice_url, voice_method, \
         voice_fallback_url, voice_fallback_method, voice_status_callback_url, \
         voice_status_callback_method, sip_registration, emergency_calling_enabled, secure, \
         byoc_trunk_sid, emergency_caller_sid, date_created, date_updated"
    };
}

/// What is mapped to the domain for calls, after its columns (the source of its `auth_type`).
macro_rules! calls_auth {
    () => {
        ", EXISTS (SELECT 1 FROM sip_domain_acl_mappings a \
         WHERE a.sip_domain_sid = sip_domains.sid), \
         EXISTS (SELECT 1 FROM sip_domain_credential_list_mappings c \
         WHERE c.sip_domain_sid = sip_domains.sid AND c.kind = 'calls_credentials')"
    };
}

/// One domain of an account: `$1` SID, `$2` account.
pub const BY_SID: &str = concat!(
    "SELECT ",
    columns!(),
    calls_auth!(),
    " FROM sip_domains WHERE sid = $1 AND account_sid = $2"
);
/// The domain that holds a name (its lower-cased key), if any.
pub const NAMED: &str = "SELECT sid FROM sip_domains WHERE domain_key = $1";
/// The owners (account and parent) of the domains whose names lie under a name: `$3` and `$4`
/// bound the range of reversed keys (one index range), other than `$1`, the owner of the new
/// name, and `$2`, its parent, which are family whatever the name.
pub const OWNERS_BELOW: &str = "SELECT d.account_sid, a.owner_sid FROM sip_domains d \
    JOIN accounts a ON a.sid = d.account_sid \
    WHERE d.domain_rkey > $3 AND d.domain_rkey < $4 \
    AND d.account_sid <> $1 AND d.account_sid IS DISTINCT FROM $2";
/// A new domain.
pub const INSERT: &str = concat!(
    "INSERT INTO sip_domains (",
    columns!(),
    ", domain_key, domain_rkey) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
     $14, $15, $16, $17, $18, $19)"
);
/// Every field of a domain.
pub const UPDATE: &str = "UPDATE sip_domains SET account_sid = $2, domain_name = $3, \
    friendly_name = $4, voice_url = $5, voice_method = $6, voice_fallback_url = $7, \
    voice_fallback_method = $8, voice_status_callback_url = $9, \
    voice_status_callback_method = $10, sip_registration = $11, emergency_calling_enabled = $12, \
    secure = $13, byoc_trunk_sid = $14, emergency_caller_sid = $15, date_created = $16, \
    date_updated = $17, domain_key = $18, domain_rkey = $19 WHERE sid = $1";
/// Deletes a domain.
pub const DELETE: &str = "DELETE FROM sip_domains WHERE sid = $1";
/// Deletes every domain of an account.
pub const DELETE_OF_ACCOUNT: &str = "DELETE FROM sip_domains WHERE account_sid = $1";
const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    calls_auth!(),
    " FROM sip_domains WHERE account_sid = $1"
);

/// A page of an account's domains.
pub fn list(account: &AccountSid, page: &PageQuery) -> (String, Params) {
    super::page(LIST, vec![account.as_str().into()], page)
}

/// The parameters of [`BY_SID`].
pub fn by_sid(account: &AccountSid, sid: &SipDomainSid) -> Params {
    vec![sid.as_str().into(), account.as_str().into()]
}

/// The parameters of [`INSERT`] and [`UPDATE`].
pub fn values(d: &SipDomain) -> Params {
    vec![
        d.sid.as_str().into(),
        d.account_sid.as_str().into(),
        d.domain_name.as_str().into(),
        d.friendly_name.clone().into(),
        d.voice_url.clone().into(),
        d.voice_method.as_str().into(),
        d.voice_fallback_url.clone().into(),
        d.voice_fallback_method.as_str().into(),
        d.voice_status_callback_url.clone().into(),
        d.voice_status_callback_method.as_str().into(),
        d.sip_registration.into(),
        d.emergency_calling_enabled.into(),
        d.secure.into(),
        d.byoc_trunk_sid.clone().into(),
        d.emergency_caller_sid.clone().into(),
        d.date_created.into(),
        d.date_updated.into(),
        domain_key(&d.domain_name).into(),
        reversed_key(&d.domain_name).into(),
    ]
}

/// A domain from a row.
pub fn domain(mut r: Row) -> Result<SipDomain> {
    Ok(SipDomain {
        sid: r.sid(0, SipDomainSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        domain_name: r.text(2)?,
        friendly_name: r.opt_text(3)?,
        voice_url: r.opt_text(4)?,
        voice_method: r.text(5)?,
        voice_fallback_url: r.opt_text(6)?,
        voice_fallback_method: r.text(7)?,
        voice_status_callback_url: r.opt_text(8)?,
        voice_status_callback_method: r.text(9)?,
        sip_registration: r.bool(10)?,
        emergency_calling_enabled: r.bool(11)?,
        secure: r.bool(12)?,
        byoc_trunk_sid: r.opt_text(13)?,
        emergency_caller_sid: r.opt_text(14)?,
        date_created: r.int(15)?,
        date_updated: r.int(16)?,
        calls_auth: CallsAuth {
            acl: r.bool(17)?,
            credentials: r.bool(18)?,
        },
    })
}

/// The statement for [`owners_above`] with `n` names above: one text per count, built once.
fn owners_above_sql(n: usize) -> &'static str {
    static TEXTS: [OnceLock<String>; 128] = [const { OnceLock::new() }; 128];
    TEXTS[n.min(127)].get_or_init(|| {
        let keys: Vec<String> = (0..n).map(|i| format!("${}", i + 3)).collect();
        format!(
            "SELECT d.account_sid, a.owner_sid FROM sip_domains d \
             JOIN accounts a ON a.sid = d.account_sid \
             WHERE d.domain_key IN ({}) \
             AND d.account_sid <> $1 AND d.account_sid IS DISTINCT FROM $2",
            keys.join(", ")
        )
    })
}

/// The owners (account and parent) of the domains whose names `name` lies under (at most 126
/// unique-key lookups), other than `owner` and its parent; `None` when nothing can lie above.
pub fn owners_above(name: &str, owner: &Account) -> Option<(&'static str, Params)> {
    let key = domain_key(name);
    let above = names_above(&key);
    if above.is_empty() || above.len() > 127 {
        return None;
    }
    let mut params = family(owner);
    params.extend(above.iter().map(|k| Value::from(*k)));
    Some((owners_above_sql(above.len()), params))
}

/// The parameters of [`OWNERS_BELOW`] for `name` and `owner`: the reversed keys strictly
/// between `reversed + "."` and `reversed + "/"` (the character after `.`) are those of the
/// names under it.
pub fn owners_below(name: &str, owner: &Account) -> Params {
    let reversed = reversed_key(name);
    let mut params = family(owner);
    params.push(format!("{reversed}.").into());
    params.push(format!("{reversed}/").into());
    params
}

fn family(owner: &Account) -> Params {
    vec![
        owner.sid.as_str().into(),
        owner.owner_sid.as_ref().map(AccountSid::as_str).into(),
    ]
}

/// An owner from a row of [`owners_above`] or [`OWNERS_BELOW`].
pub fn owner(r: Row) -> Result<(AccountSid, Option<AccountSid>)> {
    Ok((
        r.sid(0, AccountSid::parse)?,
        r.opt_sid(1, AccountSid::parse)?,
    ))
}
