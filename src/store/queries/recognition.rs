//! What recognition is built from: every active account's SIP domains and mapped networks, and
//! every access control list's networks, credential and authentication mapping, trunk and target,
//! each row read as the [`Change`] that would have put it there ([`LOAD`]).

use std::sync::Arc;

use super::super::value::Row;
use super::super::{Result, StoreError};
use super::{auth_mappings, byoc};
use crate::domain::VoiceApp;
use crate::recognition::{AccountRows, Change, RouteTarget, Secret, Target};
use crate::sid::{
    AccountSid, AclSid, ByocTrunkSid, ConnectionPolicySid, CredentialListSid, PolicyTargetSid,
    SipDomainSid,
};

/// Every SIP domain of an active account (only active accounts are recognised).
pub const ACTIVE_DOMAINS: &str = "SELECT d.sid, d.account_sid, d.domain_name, \
    d.sip_registration, d.byoc_trunk_sid, d.voice_url, d.voice_method, d.voice_fallback_url, \
    d.voice_fallback_method, d.voice_status_callback_url, d.voice_status_callback_method, d.secure \
    FROM sip_domains d \
    JOIN accounts a ON a.sid = d.account_sid WHERE a.status = 'active'";
/// Every mapped network and its domain. Mappings whose domain is not recognised are left out
/// when the table is built, so suspended accounts' mappings drop out with their domains.
pub const ALL_MAPPINGS: &str =
    "SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings";
/// Every network of every access control list: network, prefix, list.
pub const ALL_ACL_NETWORKS: &str =
    "SELECT network, cidr_prefix_length, ip_access_control_list_sid FROM sip_ip_addresses";
/// Every credential: list, username, sealed password.
pub const ALL_CREDENTIALS: &str =
    "SELECT credential_list_sid, username, password_sealed FROM sip_credentials";
/// One account's domains.
pub const ACCOUNT_DOMAINS: &str = "SELECT sid, account_sid, domain_name, sip_registration, \
    byoc_trunk_sid, voice_url, voice_method, voice_fallback_url, voice_fallback_method, \
    voice_status_callback_url, voice_status_callback_method, secure FROM sip_domains \
    WHERE account_sid = $1";
/// One account's mapped networks.
pub const ACCOUNT_MAPPINGS: &str =
    "SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings WHERE account_sid = $1";

/// A domain as recognition knows it, from a row of [`ACTIVE_DOMAINS`] or [`ACCOUNT_DOMAINS`].
pub fn target(mut r: Row) -> Result<Target> {
    Ok(Target {
        domain_sid: r.sid(0, SipDomainSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        domain_name: r.text(2)?,
        sip_registration: r.bool(3)?,
        secure: r.bool(11)?,
        byoc_trunk_sid: r.opt_sid(4, ByocTrunkSid::parse)?,
        voice: voice_app(&mut r)?.map(Arc::new),
    })
}

/// The domain's voice application, from columns 5 to 10 of the same rows.
fn voice_app(r: &mut Row) -> Result<Option<VoiceApp>> {
    let mut pair = |url: usize| -> Result<(Option<String>, String)> {
        Ok((r.opt_text(url)?, r.text(url + 1)?))
    };
    let (voice, fallback, callback) = (pair(5)?, pair(7)?, pair(9)?);
    Ok(VoiceApp::of(
        (voice.0.as_deref(), &voice.1),
        (fallback.0.as_deref(), &fallback.1),
        (callback.0.as_deref(), &callback.1),
    ))
}

/// The SID in column `i`, moved out of the row (there may be millions of rows).
fn owned_sid<T>(r: &mut Row, i: usize, parse: fn(String) -> Option<T>) -> Result<T> {
    let text = r.text(i)?;
    parse(text).ok_or_else(|| StoreError::Internal(format!("column {i} is not a stored SID")))
}

/// A target for recognition, from a row of [`byoc::ALL_TARGETS`] (after its policy).
pub fn route_target(mut r: Row) -> Result<RouteTarget> {
    let small = |n: i64| u16::try_from(n).unwrap_or(u16::MAX);
    Ok(RouteTarget {
        sid: r.sid(1, PolicyTargetSid::parse)?,
        uri: r.text(2)?,
        priority: small(r.int(3)?),
        weight: small(r.int(4)?),
        enabled: r.bool(5)?,
    })
}

/// The change a row stands for.
pub type RowChange = fn(Row) -> Result<Change>;

/// Every statement the table is built from at start, in order (domains before what names them),
/// each with the change a row of it stands for. A new kind of recognition data adds its statement
/// and row here; the table applies the change as it applies a write's.
pub const LOAD: [(&str, RowChange); 7] = [
    (ACTIVE_DOMAINS, |r| Ok(Change::DomainSet(target(r)?))),
    (ALL_MAPPINGS, |mut r| {
        let domain = owned_sid(&mut r, 2, SipDomainSid::parse_owned)?;
        Ok(Change::MappingSet(r.network(0)?, domain))
    }),
    (ALL_ACL_NETWORKS, |mut r| {
        let list = owned_sid(&mut r, 2, AclSid::parse_owned)?;
        Ok(Change::AclNetworkAdded(list, r.network(0)?))
    }),
    (ALL_CREDENTIALS, |mut r| {
        let list = owned_sid(&mut r, 0, CredentialListSid::parse_owned)?;
        Ok(Change::CredentialSet(
            list,
            r.text(1)?,
            Secret::sealed(r.blob(2)?),
        ))
    }),
    (auth_mappings::ALL, |r| {
        let (domain, kind, list) = auth_mappings::recognised(r)?;
        Ok(Change::AuthMapped(domain, kind, list))
    }),
    (byoc::ALL_TRUNKS, |r| {
        let trunk = r.sid(0, ByocTrunkSid::parse)?;
        Ok(Change::TrunkSet(
            trunk,
            r.opt_sid(1, ConnectionPolicySid::parse)?,
        ))
    }),
    (byoc::ALL_TARGETS, |r| {
        let policy = r.sid(0, ConnectionPolicySid::parse)?;
        Ok(Change::RouteTargetSet(policy, route_target(r)?))
    }),
];

/// An account's rows, from [`ACCOUNT_DOMAINS`], [`ACCOUNT_MAPPINGS`] and
/// [`auth_mappings::OF_ACCOUNT`].
pub fn account_rows(domains: Vec<Row>, mappings: Vec<Row>, auth: Vec<Row>) -> Result<AccountRows> {
    Ok(AccountRows {
        domains: domains.into_iter().map(target).collect::<Result<_>>()?,
        mappings: mappings
            .into_iter()
            .map(|r| Ok((r.network(0)?, r.sid(2, SipDomainSid::parse)?)))
            .collect::<Result<_>>()?,
        auth: auth
            .into_iter()
            .map(auth_mappings::recognised)
            .collect::<Result<_>>()?,
    })
}
