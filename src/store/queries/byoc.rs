//! BYOC trunks, connection policies and their targets: statements and rows.

use super::super::value::{Params, Row};
use super::super::{PageQuery, Result};
use crate::domain::{ByocTrunk, ConnectionPolicy, PolicyTarget};
use crate::sid::{AccountSid, ByocTrunkSid, ConnectionPolicySid, PolicyTargetSid, SipDomainSid};

macro_rules! trunk_columns {
    () => {
        "sid, account_sid, friendly_name, voice_url, voice_method, voice_fallback_url, \
         voice_fallback_method, status_callback_url, status_callback_method, \
         cnam_lookup_enabled, connection_policy_sid, from_domain_sid, date_created, date_updated"
    };
}

/// One trunk of an account: `$1` SID, `$2` account.
pub const TRUNK_BY_SID: &str = concat!(
    "SELECT ",
    trunk_columns!(),
    " FROM byoc_trunks WHERE sid = $1 AND account_sid = $2"
);
/// A new trunk.
pub const TRUNK_INSERT: &str = concat!(
    "INSERT INTO byoc_trunks (",
    trunk_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
);
/// Every field of a trunk.
pub const TRUNK_UPDATE: &str = "UPDATE byoc_trunks SET friendly_name = $3, voice_url = $4, \
    voice_method = $5, voice_fallback_url = $6, voice_fallback_method = $7, \
    status_callback_url = $8, status_callback_method = $9, cnam_lookup_enabled = $10, \
    connection_policy_sid = $11, from_domain_sid = $12, date_created = $13, date_updated = $14 \
    WHERE sid = $1 AND account_sid = $2";
/// How many trunks an account holds.
pub const TRUNK_COUNT_OF_ACCOUNT: &str = "SELECT COUNT(*) FROM byoc_trunks WHERE account_sid = $1";
/// Deletes a trunk.
pub const TRUNK_DELETE: &str = "DELETE FROM byoc_trunks WHERE sid = $1";
/// A trunk that names a policy, if any.
pub const TRUNK_OF_POLICY: &str = "SELECT sid FROM byoc_trunks \
    WHERE connection_policy_sid = $1 ORDER BY sid LIMIT 1";
/// A trunk that names a domain as its From domain, if any.
pub const TRUNK_OF_FROM_DOMAIN: &str =
    "SELECT sid FROM byoc_trunks WHERE from_domain_sid = $1 ORDER BY sid LIMIT 1";
/// A SIP domain that names a trunk, if any.
pub const DOMAIN_OF_TRUNK: &str =
    "SELECT sid FROM sip_domains WHERE byoc_trunk_sid = $1 ORDER BY sid LIMIT 1";
const TRUNK_LIST: &str = concat!(
    "SELECT ",
    trunk_columns!(),
    " FROM byoc_trunks WHERE account_sid = $1"
);

/// A page of an account's trunks.
pub fn trunk_list(account: &AccountSid, page: &PageQuery) -> (String, Params) {
    super::page(TRUNK_LIST, vec![account.as_str().into()], page)
}

/// The parameters of [`TRUNK_BY_SID`].
pub fn trunk_by_sid(account: &AccountSid, sid: &ByocTrunkSid) -> Params {
    vec![sid.as_str().into(), account.as_str().into()]
}

/// The parameters of [`TRUNK_INSERT`] and [`TRUNK_UPDATE`].
pub fn trunk_values(t: &ByocTrunk) -> Params {
    vec![
        t.sid.as_str().into(),
        t.account_sid.as_str().into(),
        t.friendly_name.clone().into(),
        t.voice_url.clone().into(),
        t.voice_method.as_str().into(),
        t.voice_fallback_url.clone().into(),
        t.voice_fallback_method.as_str().into(),
        t.status_callback_url.clone().into(),
        t.status_callback_method.as_str().into(),
        t.cnam_lookup_enabled.into(),
        t.connection_policy_sid.as_ref().map(|s| s.as_str()).into(),
        t.from_domain_sid.as_ref().map(|s| s.as_str()).into(),
        t.date_created.into(),
        t.date_updated.into(),
    ]
}

/// A trunk from a row.
pub fn trunk(mut r: Row) -> Result<ByocTrunk> {
    Ok(ByocTrunk {
        sid: r.sid(0, ByocTrunkSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        friendly_name: r.opt_text(2)?,
        voice_url: r.opt_text(3)?,
        voice_method: r.text(4)?,
        voice_fallback_url: r.opt_text(5)?,
        voice_fallback_method: r.text(6)?,
        status_callback_url: r.opt_text(7)?,
        status_callback_method: r.text(8)?,
        cnam_lookup_enabled: r.bool(9)?,
        connection_policy_sid: r.opt_sid(10, ConnectionPolicySid::parse)?,
        from_domain_sid: r.opt_sid(11, SipDomainSid::parse)?,
        date_created: r.int(12)?,
        date_updated: r.int(13)?,
    })
}

/// One policy of an account: `$1` SID, `$2` account.
pub const POLICY_BY_SID: &str = "SELECT sid, account_sid, friendly_name, date_created, \
    date_updated FROM connection_policies WHERE sid = $1 AND account_sid = $2";
/// A new policy.
pub const POLICY_INSERT: &str = "INSERT INTO connection_policies (sid, account_sid, \
    friendly_name, date_created, date_updated) VALUES ($1, $2, $3, $4, $5)";
/// A policy's name and update time.
pub const POLICY_UPDATE: &str = "UPDATE connection_policies SET friendly_name = $2, \
    date_updated = $3 WHERE sid = $1";
/// How many policies an account holds.
pub const POLICY_COUNT_OF_ACCOUNT: &str =
    "SELECT COUNT(*) FROM connection_policies WHERE account_sid = $1";
/// Deletes a policy (its targets go with it).
pub const POLICY_DELETE: &str = "DELETE FROM connection_policies WHERE sid = $1";
const POLICY_LIST: &str = "SELECT sid, account_sid, friendly_name, date_created, date_updated \
    FROM connection_policies WHERE account_sid = $1";

/// A page of an account's policies.
pub fn policy_list(account: &AccountSid, page: &PageQuery) -> (String, Params) {
    super::page(POLICY_LIST, vec![account.as_str().into()], page)
}

/// The parameters of [`POLICY_BY_SID`].
pub fn policy_by_sid(account: &AccountSid, sid: &ConnectionPolicySid) -> Params {
    vec![sid.as_str().into(), account.as_str().into()]
}

/// The parameters of [`POLICY_INSERT`].
pub fn policy_insert(p: &ConnectionPolicy) -> Params {
    vec![
        p.sid.as_str().into(),
        p.account_sid.as_str().into(),
        p.friendly_name.clone().into(),
        p.date_created.into(),
        p.date_updated.into(),
    ]
}

/// The parameters of [`POLICY_UPDATE`].
pub fn policy_update(p: &ConnectionPolicy) -> Params {
    vec![
        p.sid.as_str().into(),
        p.friendly_name.clone().into(),
        p.date_updated.into(),
    ]
}

/// A policy from a row.
pub fn policy(mut r: Row) -> Result<ConnectionPolicy> {
    Ok(ConnectionPolicy {
        sid: r.sid(0, ConnectionPolicySid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        friendly_name: r.opt_text(2)?,
        date_created: r.int(3)?,
        date_updated: r.int(4)?,
    })
}

macro_rules! target_columns {
    () => {
        "sid, account_sid, connection_policy_sid, friendly_name, target, priority, weight, \
         enabled, date_created, date_updated"
    };
}

/// One target of a policy of an account: `$1` SID, `$2` policy, `$3` account.
pub const TARGET_BY_SID: &str = concat!(
    "SELECT ",
    target_columns!(),
    " FROM connection_policy_targets WHERE sid = $1 AND connection_policy_sid = $2 \
     AND account_sid = $3"
);
/// How many targets a policy has.
pub const TARGET_COUNT: &str =
    "SELECT COUNT(*) FROM connection_policy_targets WHERE connection_policy_sid = $1";
/// How many targets an account holds, all its policies together.
pub const TARGET_COUNT_OF_ACCOUNT: &str =
    "SELECT COUNT(*) FROM connection_policy_targets WHERE account_sid = $1";
/// A new target.
pub const TARGET_INSERT: &str = concat!(
    "INSERT INTO connection_policy_targets (",
    target_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);
/// Every changeable field of a target.
pub const TARGET_UPDATE: &str = "UPDATE connection_policy_targets SET friendly_name = $2, \
    target = $3, priority = $4, weight = $5, enabled = $6, date_updated = $7 WHERE sid = $1";
/// Deletes a target.
pub const TARGET_DELETE: &str = "DELETE FROM connection_policy_targets WHERE sid = $1";
/// Every target SID of a policy.
pub const TARGETS_OF_POLICY: &str =
    "SELECT sid FROM connection_policy_targets WHERE connection_policy_sid = $1";
const TARGET_LIST: &str = concat!(
    "SELECT ",
    target_columns!(),
    " FROM connection_policy_targets WHERE connection_policy_sid = $1"
);

/// A page of a policy's targets.
pub fn target_list(policy: &ConnectionPolicySid, page: &PageQuery) -> (String, Params) {
    super::page(TARGET_LIST, vec![policy.as_str().into()], page)
}

/// The parameters of [`TARGET_BY_SID`].
pub fn target_by_sid(
    account: &AccountSid,
    policy: &ConnectionPolicySid,
    sid: &PolicyTargetSid,
) -> Params {
    vec![
        sid.as_str().into(),
        policy.as_str().into(),
        account.as_str().into(),
    ]
}

/// The parameters of [`TARGET_INSERT`].
pub fn target_insert(t: &PolicyTarget) -> Params {
    vec![
        t.sid.as_str().into(),
        t.account_sid.as_str().into(),
        t.policy_sid.as_str().into(),
        t.friendly_name.clone().into(),
        t.target.as_str().into(),
        i64::from(t.priority).into(),
        i64::from(t.weight).into(),
        t.enabled.into(),
        t.date_created.into(),
        t.date_updated.into(),
    ]
}

/// The parameters of [`TARGET_UPDATE`].
pub fn target_update(t: &PolicyTarget) -> Params {
    vec![
        t.sid.as_str().into(),
        t.friendly_name.clone().into(),
        t.target.as_str().into(),
        i64::from(t.priority).into(),
        i64::from(t.weight).into(),
        t.enabled.into(),
        t.date_updated.into(),
    ]
}

/// A target from a row.
pub fn target(mut r: Row) -> Result<PolicyTarget> {
    let small = |n: i64| u16::try_from(n).unwrap_or(u16::MAX);
    Ok(PolicyTarget {
        sid: r.sid(0, PolicyTargetSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        policy_sid: r.sid(2, ConnectionPolicySid::parse)?,
        friendly_name: r.opt_text(3)?,
        target: r.text(4)?,
        priority: small(r.int(5)?),
        weight: small(r.int(6)?),
        enabled: r.bool(7)?,
        date_created: r.int(8)?,
        date_updated: r.int(9)?,
    })
}

/// Every trunk and the policy it names, for recognition.
pub const ALL_TRUNKS: &str = "SELECT sid, connection_policy_sid FROM byoc_trunks";
/// Every target, for recognition: policy, SID, URI, priority, weight, enabled.
pub const ALL_TARGETS: &str = "SELECT connection_policy_sid, sid, target, priority, weight, \
    enabled FROM connection_policy_targets";
