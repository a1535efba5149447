//! Monitor Alerts' storage: [`record`], the write of an alert in the transaction of what
//! produced it (a call's notification, [`super::calls::add_notification`]) with the retention
//! that keeps each account's alerts bounded, and the API's reads.

use crate::domain::{Alert, AlertRetention};
use crate::limit_log::LimitLog;
use crate::sid::AccountSid;
use crate::store::Result;
use crate::store::backend::Tx;
use crate::store::queries::alerts as sql;
use crate::store::value::Params;

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
    prune(tx, &alert.account_sid, retention, now_ms).await
}

async fn prune(
    tx: &mut dyn Tx,
    account: &AccountSid,
    retention: AlertRetention,
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
    let excess = retention.excess(u64::try_from(held).unwrap_or(0));
    if excess > 0 {
        let n = i64::try_from(excess).unwrap_or(i64::MAX);
        let params: Params = vec![account.as_str().into(), n.into()];
        deleted += tx.execute(sql::PRUNE_OLDEST, params).await?;
    }
    if deleted > 0 {
        RETENTION.hit(&format_args!(
            "deleted {deleted} alerts of {account} (--alert-retention-secs {}, \
             --max-alerts-per-account {})",
            retention.max_age_secs, retention.per_account
        ));
    }
    Ok(())
}

/// The store's operations on alerts.
mod operations {
    use crate::domain::{Alert, AlertFilter};
    use crate::sid::{AccountSid, NotificationSid};
    use crate::store::queries::alerts as sql;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
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
