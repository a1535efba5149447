//! What recognition is built from: every active account's SIP domains and mapped networks, and
//! every access control list's networks, credential and authentication mapping.

use super::super::Result;
use super::super::value::{Row, Value};
use super::{auth_mappings, byoc};
use crate::recognition::{AccountRows, RouteTarget, Secret, State, StateBuilder, Target};
use crate::sid::{AccountSid, SipDomainSid};

/// Every SIP domain of an active account (only active accounts are recognised).
pub const ACTIVE_DOMAINS: &str = "SELECT d.sid, d.account_sid, d.domain_name, \
    d.sip_registration, d.byoc_trunk_sid FROM sip_domains d \
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
    byoc_trunk_sid FROM sip_domains WHERE account_sid = $1";
/// One account's mapped networks.
pub const ACCOUNT_MAPPINGS: &str =
    "SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings WHERE account_sid = $1";

/// The statements the whole state is read with, in the order [`Loader::row`] takes them.
pub const STATE: [&str; 7] = [
    ACTIVE_DOMAINS,
    ALL_MAPPINGS,
    ALL_ACL_NETWORKS,
    ALL_CREDENTIALS,
    auth_mappings::ALL,
    byoc::ALL_TRUNKS,
    byoc::ALL_TARGETS,
];

/// A domain as recognition knows it, from a row of [`ACTIVE_DOMAINS`] or [`ACCOUNT_DOMAINS`].
pub fn target(mut r: Row) -> Result<Target> {
    Ok(Target {
        domain_sid: r.sid(0, SipDomainSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        domain_name: r.text(2)?,
        sip_registration: r.bool(3)?,
        byoc_trunk_sid: r.opt_text(4)?,
    })
}

/// A text column borrowed (SIDs are not parsed while loading: there may be millions).
fn text(r: &Row, i: usize) -> &str {
    match r.0.get(i) {
        Some(Value::Text(s)) => s.as_str(),
        _ => "",
    }
}

/// A target for recognition, from a row of [`byoc::ALL_TARGETS`] (after its policy).
pub fn route_target(mut r: Row) -> Result<RouteTarget> {
    let small = |n: i64| u16::try_from(n).unwrap_or(u16::MAX);
    Ok(RouteTarget {
        sid: r.text(1)?,
        uri: r.text(2)?,
        priority: small(r.int(3)?),
        weight: small(r.int(4)?),
        enabled: r.bool(5)?,
    })
}

/// Builds the recognition state from the rows of the [`STATE`] statements, one statement after
/// another, row by row.
#[derive(Debug, Default)]
pub struct Loader {
    domains: Vec<Target>,
    builder: Option<StateBuilder>,
}

impl Loader {
    /// Takes one row of statement number `statement` of [`STATE`].
    pub fn row(&mut self, statement: usize, r: Row) -> Result<()> {
        if statement == 0 {
            self.domains.push(target(r)?);
            return Ok(());
        }
        let domains = &mut self.domains;
        let builder = self
            .builder
            .get_or_insert_with(|| StateBuilder::new(std::mem::take(domains)));
        match statement {
            1 => builder.mapping(r.network(0)?, text(&r, 2)),
            2 => builder.acl_network(text(&r, 2), r.network(0)?),
            3 => builder.credential(text(&r, 0), text(&r, 1), Secret::sealed(r.blob(2)?)),
            5 => builder.trunk(text(&r, 0), r.opt_str(1)?),
            6 => {
                let policy = text(&r, 0).to_owned();
                builder.route_target(&policy, route_target(r)?);
            }
            _ => {
                let (domain, kind, list) = auth_mappings::recognised(r)?;
                builder.auth(domain.as_str(), kind, &list);
            }
        }
        Ok(())
    }

    /// The state read.
    pub fn finish(self) -> State {
        self.builder
            .unwrap_or_else(|| StateBuilder::new(self.domains))
            .finish()
    }
}

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
