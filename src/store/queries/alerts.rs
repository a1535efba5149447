//! Monitor Alerts' statements and rows: written with each notification of a call
//! ([`crate::store::resources::alerts::record`]), read by the Alerts operations.

use crate::domain::{Alert, AlertFilter};
use crate::sid::{AccountSid, NotificationSid};
use crate::store::value::{Params, Row, Value};
use crate::store::{PageQuery, Result, queries};

macro_rules! columns {
    () => {
        "sid, account_sid, error_code, log_level, alert_text, api_version, request_method, \
         request_url, request_variables, resource_sid, generated_ms, created_ms"
    };
}

/// A new alert.
pub const INSERT: &str = concat!(
    "INSERT INTO alerts (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);
/// A new alert, or the new text of one already stored under its SID (an aggregated alert whose
/// count grew) by the same account: never another account's.
pub const UPSERT: &str = concat!(
    "INSERT INTO alerts (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (sid) DO UPDATE \
     SET alert_text = excluded.alert_text, request_variables = excluded.request_variables \
     WHERE alerts.account_sid = excluded.account_sid"
);
/// One alert of an account: `$1` SID, `$2` account.
pub const BY_SID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM alerts WHERE sid = $1 AND account_sid = $2"
);
const LIST: &str = concat!("SELECT ", columns!(), " FROM alerts WHERE account_sid = $1");
/// How many alerts an account keeps (kept by the triggers of migration 13): `$1` account.
pub const COUNT_OF_ACCOUNT: &str = "SELECT held FROM alert_counts WHERE account_sid = $1";
/// Deletes an account's alerts stored before `$2` (Unix ms), through `alerts_by_date`.
pub const PRUNE_BEFORE: &str = "DELETE FROM alerts WHERE account_sid = $1 AND created_ms < $2";
/// Deletes an account's `$2` oldest alerts, through `alerts_by_account`.
pub const PRUNE_OLDEST: &str = "DELETE FROM alerts WHERE sid IN (SELECT sid FROM alerts \
     WHERE account_sid = $1 ORDER BY sid LIMIT $2)";

fn opt(v: &Option<String>) -> Value {
    v.clone().map_or(Value::Null, Value::Text)
}

/// The parameters of [`INSERT`].
pub fn insert(a: &Alert) -> Params {
    vec![
        a.sid.as_str().into(),
        a.account_sid.as_str().into(),
        i64::from(a.error_code).into(),
        a.log_level.clone().into(),
        a.alert_text.clone().into(),
        a.api_version.clone().into(),
        opt(&a.request_method),
        opt(&a.request_url),
        opt(&a.request_variables),
        opt(&a.resource_sid),
        a.generated_ms.into(),
        a.created_ms.into(),
    ]
}

/// The parameters of [`BY_SID`].
pub fn by_sid(account: &AccountSid, sid: &NotificationSid) -> Params {
    vec![sid.as_str().into(), account.as_str().into()]
}

/// A page of an account's alerts that pass `filter`.
pub fn list(account: &AccountSid, filter: &AlertFilter, page: &PageQuery) -> (String, Params) {
    let mut sql = String::from(LIST);
    let mut params: Params = vec![account.as_str().into()];
    let conditions = [
        ("log_level =", filter.log_level.clone().map(Value::Text)),
        ("created_ms >=", filter.date.from_ms.map(Value::Int)),
        ("created_ms <", filter.date.until_ms.map(Value::Int)),
    ];
    for (expr, value) in conditions {
        if let Some(v) = value {
            params.push(v);
            sql.push_str(&format!(" AND {expr} ${}", params.len()));
        }
    }
    queries::page(&sql, params, page)
}

/// An alert from a row.
pub fn alert(mut r: Row) -> Result<Alert> {
    Ok(Alert {
        sid: r.sid(0, NotificationSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        error_code: u32::try_from(r.int(2)?).unwrap_or(0),
        log_level: r.text(3)?,
        alert_text: r.text(4)?,
        api_version: r.text(5)?,
        request_method: r.opt_text(6)?,
        request_url: r.opt_text(7)?,
        request_variables: r.opt_text(8)?,
        resource_sid: r.opt_text(9)?,
        generated_ms: r.int(10)?,
        created_ms: r.int(11)?,
    })
}
