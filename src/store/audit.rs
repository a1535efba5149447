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
use crate::domain::{Actor, Audit, EventRetention};
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
    for change in audit {
        if !accounts.contains(&change.account_sid) {
            accounts.push(change.account_sid.clone());
        }
        let event = change
            .clone()
            .into_event(EventSid::generate_at(now_ms), actor, now_ms);
        tx.execute(sql::INSERT, sql::insert(&event)).await?;
    }
    for account in &accounts {
        prune(tx, account, retention, now_ms).await?;
    }
    Ok(())
}

/// Deletes the account's events the retention no longer keeps: those older than its age bound,
/// then the oldest past its count bound. Logs when it deletes any.
async fn prune(
    tx: &mut dyn Tx,
    account: &AccountSid,
    retention: EventRetention,
    now_ms: i64,
) -> Result<()> {
    let mut deleted = 0;
    if let Some(before) = retention.older_than(now_ms) {
        let params: Params = vec![account.as_str().into(), before.into()];
        deleted += tx.execute(sql::PRUNE_BEFORE, params).await?;
    }
    let rows = tx
        .query(sql::COUNT_OF_ACCOUNT, vec![account.as_str().into()])
        .await?;
    let held = rows.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
    let held = u64::try_from(held).unwrap_or(0);
    let excess = retention.excess(held);
    if excess > 0 {
        let n = i64::try_from(excess).unwrap_or(i64::MAX);
        let params: Params = vec![account.as_str().into(), n.into()];
        deleted += tx.execute(sql::PRUNE_OLDEST, params).await?;
    }
    if deleted > 0 {
        RETENTION.hit(&format_args!(
            "deleted {deleted} events of {account} (--event-retention-secs {}, \
             --max-events-per-account {})",
            retention.max_age_secs, retention.per_account
        ));
    }
    Ok(())
}
