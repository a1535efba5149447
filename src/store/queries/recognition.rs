//! What recognition is built from: every active account's SIP domains and mapped networks.

use super::super::Result;
use super::super::value::Row;
use crate::domain::Network;
use crate::recognition::{AccountRows, Target};
use crate::sid::{AccountSid, SipDomainSid};

/// Every SIP domain of an active account (only active accounts are recognised).
pub const ACTIVE_DOMAINS: &str = "SELECT d.sid, d.account_sid, d.domain_name FROM sip_domains d \
    JOIN accounts a ON a.sid = d.account_sid WHERE a.status = 'active'";
/// Every mapped network and its domain. Mappings whose domain is not recognised are left out
/// when the table is built, so suspended accounts' mappings drop out with their domains.
pub const ALL_MAPPINGS: &str =
    "SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings";
/// One account's domains.
pub const ACCOUNT_DOMAINS: &str =
    "SELECT sid, account_sid, domain_name FROM sip_domains WHERE account_sid = $1";
/// One account's mapped networks.
pub const ACCOUNT_MAPPINGS: &str =
    "SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings WHERE account_sid = $1";

/// A domain as recognition knows it, from a row of [`ACTIVE_DOMAINS`] or [`ACCOUNT_DOMAINS`].
pub fn target(r: &Row) -> Result<Target> {
    Ok(Target {
        domain_sid: r.sid(0, SipDomainSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        domain_name: r.text(2)?,
    })
}

/// A mapped network and its domain's SID (as text, not parsed: there may be a million).
pub fn mapped(r: &Row) -> Result<(Network, &str)> {
    let domain = match r.0.get(2) {
        Some(super::super::value::Value::Text(s)) => s.as_str(),
        _ => "",
    };
    Ok((r.network(0)?, domain))
}

/// An account's rows, from [`ACCOUNT_DOMAINS`] and [`ACCOUNT_MAPPINGS`].
pub fn account_rows(domains: &[Row], mappings: &[Row]) -> Result<AccountRows> {
    Ok(AccountRows {
        domains: domains.iter().map(target).collect::<Result<_>>()?,
        mappings: mappings
            .iter()
            .map(|r| Ok((r.network(0)?, r.sid(2, SipDomainSid::parse)?)))
            .collect::<Result<_>>()?,
    })
}
