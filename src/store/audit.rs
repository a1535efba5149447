//! The audit log's write: the Monitor Events of an API write, stored by [`record`] in the write's
//! own transaction (so a change without its event, or an event without its change, cannot be
//! committed), and the retention that keeps each account's log bounded.
//!
//! Procedures name what they changed ([`super::backend::Written::audit`]); the engine calls
//! [`record`] once, after the procedure, for every write of a store acting for an API caller
//! ([`super::Store::acting`]). Writes of the SIP side and the call runtime have no actor and
//! record nothing.

use super::Result;
use super::backend::Tx;
use super::queries::events as sql;
use super::value::Params;
use crate::domain::{Actor, Audit, EventRetention, MonitorRetention};
use crate::limit_log::LimitLog;
use crate::sid::{AccountSid, EventSid};

/// Logged when the retention deletes events to make room or because of their age.
static RETENTION: LimitLog = LimitLog::new("event retention");

/// Stores `audit` as events made by `actor` at `now_ms`, then applies the retention to each
/// account whose log grew.
pub async fn record(
    tx: &mut dyn Tx,
    actor: &Actor,
    audit: &[Audit],
    now_ms: i64,
    retention: EventRetention,
) -> Result<()> {
    let mut accounts: Vec<AccountSid> = Vec::new();
    let mut inserts = Vec::with_capacity(audit.len());
    for change in audit {
        if !accounts.contains(&change.account_sid) {
            accounts.push(change.account_sid.clone());
        }
        let event = change
            .clone()
            .into_event(EventSid::generate_at(now_ms), actor, now_ms);
        inserts.push((sql::INSERT, sql::insert(&event)));
    }
    // The inserts go with the first account's retention (one round trip on PostgreSQL), so
    // every account's count that follows includes them.
    for account in &accounts {
        let first = std::mem::take(&mut inserts);
        prune(tx, first, account, retention, now_ms, &EVENTS).await?;
    }
    Ok(())
}

/// The retention of one kind of Monitor record (events here, alerts in
/// `resources::alerts`): its statements (each bound to the account first) and what its log line
/// names.
pub(in crate::store) struct Kept {
    /// Deletes the account's records older than `$2` (Unix ms).
    pub before: &'static str,
    /// The account's count of records, kept by triggers.
    pub count: &'static str,
    /// Deletes the account's `$2` oldest records.
    pub oldest: &'static str,
    /// The log line when records go, the records' noun, and the two flags that bound them.
    pub log: &'static LimitLog,
    pub noun: &'static str,
    pub flags: (&'static str, &'static str),
}

/// The audit log's retention.
const EVENTS: Kept = Kept {
    before: sql::PRUNE_BEFORE,
    count: sql::COUNT_OF_ACCOUNT,
    oldest: sql::PRUNE_OLDEST,
    log: &RETENTION,
    noun: "events",
    flags: ("--event-retention-secs", "--max-events-per-account"),
};

/// Runs `first` (statements that add the account's records, or none), then deletes the
/// account's records `kept` no longer keeps under `retention`: those older than its age bound,
/// then the oldest past its count bound. Logs when it deletes any. Everything up to the count
/// is one round trip on PostgreSQL ([`Tx::execute_then_query`]).
pub(in crate::store) async fn prune(
    tx: &mut dyn Tx,
    first: Vec<(&'static str, Params)>,
    account: &AccountSid,
    retention: MonitorRetention,
    now_ms: i64,
    kept: &Kept,
) -> Result<()> {
    let mut statements = first;
    let aged = retention.older_than(now_ms).map(|before| {
        let params: Params = vec![account.as_str().into(), before.into()];
        statements.push((kept.before, params));
        statements.len() - 1
    });
    let count = (kept.count, vec![account.as_str().into()]);
    let (counts, rows) = tx.execute_then_query(statements, count).await?;
    let mut deleted = aged.and_then(|i| counts.get(i).copied()).unwrap_or(0);
    let held = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
    let excess = retention.excess(u64::try_from(held).unwrap_or(0));
    if excess > 0 {
        let n = i64::try_from(excess).unwrap_or(i64::MAX);
        let params: Params = vec![account.as_str().into(), n.into()];
        deleted += tx.execute(kept.oldest, params).await?;
    }
    if deleted > 0 {
        let (age, count) = kept.flags;
        kept.log.hit(&format_args!(
            "deleted {deleted} {} of {account} ({age} {}, {count} {})",
            kept.noun, retention.max_age_secs, retention.per_account
        ));
    }
    Ok(())
}
