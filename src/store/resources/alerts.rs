//! Monitor Alerts' storage: [`record`], the write of an alert in the transaction of what
//! produced it (a call's notification, [`super::calls::add_notification`]) with the retention
//! that keeps each account's alerts bounded; `Store::put_alerts`, a batch of alerts made
//! outside a call (the SIP edge's refusals, aggregated by `crate::monitor`); and the API's
//! reads.

use crate::domain::{Alert, AlertRetention};
use crate::limit_log::LimitLog;
use crate::sid::AccountSid;
use crate::store::Result;
use crate::store::audit::{Kept, prune};
use crate::store::backend::{Tx, Written};
use crate::store::queries::alerts as sql;

/// Logged when the retention deletes alerts to make room or because of their age.
static RETENTION: LimitLog = LimitLog::new("alert retention");

/// Stores `alert`, then deletes the account's alerts the retention no longer keeps: those
/// older than its age bound (through `alerts_by_date`), then the oldest past its count bound
/// (the count kept by triggers). Neither reads more rows than it deletes.
pub async fn record(
    tx: &mut dyn Tx,
    alert: &Alert,
    retention: AlertRetention,
    now_ms: i64,
) -> Result<()> {
    tx.execute(sql::INSERT, sql::insert(alert)).await?;
    prune(
        tx,
        Vec::new(),
        &alert.account_sid,
        retention,
        now_ms,
        &ALERTS,
    )
    .await
}

/// Stores `alerts` (new ones inserted, known ones' text replaced: aggregated alerts whose count
/// grew), then applies the retention once to each account among them.
async fn put(
    tx: &mut dyn Tx,
    alerts: Vec<Alert>,
    retention: AlertRetention,
    now_ms: i64,
) -> Result<Written<()>> {
    let mut accounts: Vec<&AccountSid> = Vec::new();
    for alert in &alerts {
        tx.execute(sql::UPSERT, sql::insert(alert)).await?;
        if !accounts.contains(&&alert.account_sid) {
            accounts.push(&alert.account_sid);
        }
    }
    for account in accounts {
        prune(tx, Vec::new(), account, retention, now_ms, &ALERTS).await?;
    }
    Ok(Written::quiet(()))
}

/// The alerts' retention.
const ALERTS: Kept = Kept {
    before: sql::PRUNE_BEFORE,
    count: sql::COUNT_OF_ACCOUNT,
    oldest: sql::PRUNE_OLDEST,
    log: &RETENTION,
    noun: "alerts",
    flags: ("--alert-retention-secs", "--max-alerts-per-account"),
};

/// The store's operations on alerts.
mod operations {
    use crate::domain::{Alert, AlertFilter};
    use crate::sid::{AccountSid, NotificationSid};
    use crate::store::engine::run_write;
    use crate::store::queries::alerts as sql;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// Stores a batch of alerts made outside a call (the SIP edge's refusals, aggregated),
        /// in one transaction: a new SID is inserted, a known one's text replaced.
        pub async fn put_alerts(&self, alerts: Vec<Alert>) -> Result<()> {
            let (_, now_ms) = self.now();
            let retention = self.limits.alerts;
            run_write!(self, (alerts), |tx| super::put(
                tx, alerts, retention, now_ms
            ))
        }

        /// One alert of `account`.
        pub async fn get_alert(
            &self,
            account: &AccountSid,
            sid: &NotificationSid,
        ) -> Result<Option<Alert>> {
            self.read_one(sql::BY_SID, sql::by_sid(account, sid), sql::alert)
                .await
        }

        /// A page of `account`'s alerts that pass `filter`, oldest first.
        pub async fn list_alerts(
            &self,
            account: &AccountSid,
            filter: &AlertFilter,
            page: &PageQuery,
        ) -> Result<Vec<Alert>> {
            self.read_all(sql::list(account, filter, page), sql::alert)
                .await
        }
    }
}
