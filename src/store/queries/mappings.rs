//! Source IP mappings: statements and rows.

use std::sync::OnceLock;

use super::super::value::{Params, Row, Value};
use super::super::{PageQuery, Result};
use crate::domain::{Account, Mapping, Network};
use crate::sid::{AccountSid, IpRecordSid, MappingSid, SipDomainSid};

macro_rules! columns {
    () => {
        "sid, account_sid, ip_record_sid, sip_domain_sid, date_created, date_updated"
    };
}

/// One mapping of an account and its network: `$1` SID, `$2` account.
pub const BY_SID: &str = concat!(
    "SELECT ",
    columns!(),
    ", network, prefix_length FROM source_ip_mappings WHERE sid = $1 AND account_sid = $2"
);
/// The mapping of an IP record, if any.
pub const OF_RECORD: &str = "SELECT sid FROM source_ip_mappings WHERE ip_record_sid = $1 LIMIT 1";
/// A mapping of a SIP domain, if any.
pub const OF_DOMAIN: &str = "SELECT sid FROM source_ip_mappings WHERE sip_domain_sid = $1 LIMIT 1";
/// The mapping of account `$1`'s domain `$2` whose network holds the IPv4 address `$3` (as a
/// number), the most specific first: its SID and its IP record's.
pub const HOLDING: &str = "SELECT sid, ip_record_sid FROM source_ip_mappings \
     WHERE account_sid = $1 AND sip_domain_sid = $2 AND network <= $3 \
     AND $3 - network < (CAST(1 AS BIGINT) << (32 - prefix_length)) \
     ORDER BY prefix_length DESC LIMIT 1";
/// Whether a network is mapped: `$1` address, `$2` prefix length.
pub const NETWORK_TAKEN: &str =
    "SELECT 1 FROM source_ip_mappings WHERE network = $1 AND prefix_length = $2";
/// A new mapping.
pub const INSERT: &str = concat!(
    "INSERT INTO source_ip_mappings (",
    columns!(),
    ", network, prefix_length) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);
/// A mapping's domain and update time.
pub const UPDATE: &str =
    "UPDATE source_ip_mappings SET sip_domain_sid = $2, date_updated = $3 WHERE sid = $1";
/// Deletes a mapping.
pub const DELETE: &str = "DELETE FROM source_ip_mappings WHERE sid = $1";
/// Deletes every mapping of an account.
pub const DELETE_OF_ACCOUNT: &str = "DELETE FROM source_ip_mappings WHERE account_sid = $1";
const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM source_ip_mappings WHERE account_sid = $1"
);

/// A page of an account's mappings.
pub fn list(account: &AccountSid, page: &PageQuery) -> (String, Params) {
    super::page(LIST, vec![account.as_str().into()], page)
}

/// The parameters of [`BY_SID`].
pub fn by_sid(account: &AccountSid, sid: &MappingSid) -> Params {
    vec![sid.as_str().into(), account.as_str().into()]
}

/// The parameters of [`INSERT`].
pub fn insert(m: &Mapping, network: Network) -> Params {
    vec![
        m.sid.as_str().into(),
        m.account_sid.as_str().into(),
        m.ip_record_sid.as_str().into(),
        m.sip_domain_sid.as_str().into(),
        m.date_created.into(),
        m.date_updated.into(),
        network.addr.into(),
        network.prefix.into(),
    ]
}

/// The parameters of [`UPDATE`].
pub fn update(m: &Mapping) -> Params {
    vec![
        m.sid.as_str().into(),
        m.sip_domain_sid.as_str().into(),
        m.date_updated.into(),
    ]
}

/// The parameters of a statement about one network.
pub fn network(n: Network) -> Params {
    vec![n.addr.into(), n.prefix.into()]
}

/// A mapping from a row.
pub fn mapping(r: Row) -> Result<Mapping> {
    Ok(Mapping {
        sid: r.sid(0, MappingSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        ip_record_sid: r.sid(2, IpRecordSid::parse)?,
        sip_domain_sid: r.sid(3, SipDomainSid::parse)?,
        date_created: r.int(4)?,
        date_updated: r.int(5)?,
    })
}

/// A mapping and its network from a row of [`BY_SID`].
pub fn mapping_and_network(r: Row) -> Result<(Mapping, Network)> {
    let network = r.network(6)?;
    Ok((mapping(r)?, network))
}

/// The statement for [`overlapping_owners`] with `n` containing networks: one text per prefix
/// length, built once.
fn overlapping_sql(n: usize) -> &'static str {
    static TEXTS: [OnceLock<String>; 33] = [const { OnceLock::new() }; 33];
    TEXTS[n.min(32)].get_or_init(|| {
        let mut sql = String::new();
        if n > 0 {
            // The networks that could contain the new one, as a table to join (an index lookup
            // each; a row-value IN list would not use the index on SQLite).
            sql.push_str("WITH s(n, p) AS (VALUES ");
            for i in 0..n {
                let (a, p) = (5 + 2 * i, 6 + 2 * i);
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(CAST(${a} AS BIGINT), CAST(${p} AS SMALLINT))"));
            }
            sql.push_str(") ");
        }
        // The networks that start inside the new one (one index range, skipping the caller's
        // own and its parent's from the index alone) …
        sql.push_str(
            "SELECT m.account_sid, a.owner_sid FROM source_ip_mappings m \
             JOIN accounts a ON a.sid = m.account_sid \
             WHERE m.network BETWEEN $1 AND $2 AND m.account_sid <> $3 \
             AND m.account_sid IS DISTINCT FROM $4",
        );
        // … and the ones that contain it.
        if n > 0 {
            sql.push_str(
                " UNION SELECT m.account_sid, a.owner_sid FROM s \
                 JOIN source_ip_mappings m ON m.network = s.n AND m.prefix_length = s.p \
                 JOIN accounts a ON a.sid = m.account_sid \
                 WHERE m.account_sid <> $3 AND m.account_sid IS DISTINCT FROM $4",
            );
        }
        sql
    })
}

/// The owners (account and parent) of the mapped networks that overlap `network`, other than
/// `caller` and its parent, which are family whatever the network.
pub fn overlapping_owners(network: Network, caller: &Account) -> (&'static str, Params) {
    let supernets: Vec<Network> = network.supernets().collect();
    let mut params: Params = vec![
        network.addr.into(),
        network.last().into(),
        caller.sid.as_str().into(),
        caller.owner_sid.as_ref().map(AccountSid::as_str).into(),
    ];
    for s in &supernets {
        params.push(Value::from(s.addr));
        params.push(Value::from(s.prefix));
    }
    (overlapping_sql(supernets.len()), params)
}

/// An owner from a row of [`overlapping_owners`].
pub fn owner(r: Row) -> Result<(AccountSid, Option<AccountSid>)> {
    Ok((
        r.sid(0, AccountSid::parse)?,
        r.opt_sid(1, AccountSid::parse)?,
    ))
}
