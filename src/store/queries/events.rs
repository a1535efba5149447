//! Monitor Events' statements and rows: written by the store's write path
//! ([`crate::store::audit`]), read by the Events operations
//! ([`crate::store::resources::events`]).

use crate::domain::{Event, EventFilter};
use crate::sid::{AccountSid, EventSid};
use crate::store::value::{Params, Row, Value};
use crate::store::{PageQuery, Result, queries};

macro_rules! columns {
    () => {
        "sid, account_sid, actor_sid, actor_type, description, event_data, event_ms, \
         event_type, resource_sid, resource_type, source, source_ip_address"
    };
}

/// A new event.
pub const INSERT: &str = concat!(
    "INSERT INTO events (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);
/// One event of an account: `$1` SID, `$2` account.
pub const BY_SID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM events WHERE sid = $1 AND account_sid = $2"
);
const LIST: &str = concat!("SELECT ", columns!(), " FROM events WHERE account_sid = $1");
/// How many events an account keeps: the sum of its rows, kept by the triggers of migrations 12
/// and 14 (on PostgreSQL, up to 64 rows per account). `$1` account.
pub const COUNT_OF_ACCOUNT: &str =
    "SELECT CAST(coalesce(sum(held), 0) AS BIGINT) FROM event_counts WHERE account_sid = $1";
/// Deletes an account's events from before `$2` (Unix ms), through `events_by_date`.
pub const PRUNE_BEFORE: &str = "DELETE FROM events WHERE account_sid = $1 AND event_ms < $2";
/// Deletes an account's `$2` oldest events, through `events_by_account`.
pub const PRUNE_OLDEST: &str = "DELETE FROM events WHERE sid IN (SELECT sid FROM events \
     WHERE account_sid = $1 ORDER BY sid LIMIT $2)";

/// The parameters of [`INSERT`].
pub fn insert(e: &Event) -> Params {
    vec![
        e.sid.as_str().into(),
        e.account_sid.as_str().into(),
        e.actor_sid.clone().map_or(Value::Null, Value::Text),
        e.actor_type.clone().map_or(Value::Null, Value::Text),
        e.description.clone().map_or(Value::Null, Value::Text),
        e.event_data.clone().into(),
        e.event_ms.into(),
        e.event_type.clone().into(),
        e.resource_sid.clone().into(),
        e.resource_type.clone().into(),
        e.source.clone().into(),
        e.source_ip_address.clone().map_or(Value::Null, Value::Text),
    ]
}

/// The parameters of [`BY_SID`].
pub fn by_sid(account: &AccountSid, sid: &EventSid) -> Params {
    vec![sid.as_str().into(), account.as_str().into()]
}

/// A page of an account's events that pass `filter`.
pub fn list(account: &AccountSid, filter: &EventFilter, page: &PageQuery) -> (String, Params) {
    let mut sql = String::from(LIST);
    let mut params: Params = vec![account.as_str().into()];
    let text = |v: &Option<String>| v.clone().map(Value::Text);
    let conditions = [
        ("actor_sid =", text(&filter.actor_sid)),
        ("event_type =", text(&filter.event_type)),
        ("resource_sid =", text(&filter.resource_sid)),
        ("source_ip_address =", text(&filter.source_ip_address)),
        ("event_ms >=", filter.date.from_ms.map(Value::Int)),
        ("event_ms <", filter.date.until_ms.map(Value::Int)),
    ];
    for (expr, value) in conditions {
        if let Some(v) = value {
            params.push(v);
            sql.push_str(&format!(" AND {expr} ${}", params.len()));
        }
    }
    queries::page(&sql, params, page)
}

/// An event from a row.
pub fn event(mut r: Row) -> Result<Event> {
    Ok(Event {
        sid: r.sid(0, EventSid::parse)?,
        account_sid: r.sid(1, AccountSid::parse)?,
        actor_sid: r.opt_text(2)?,
        actor_type: r.opt_text(3)?,
        description: r.opt_text(4)?,
        event_data: r.text(5)?,
        event_ms: r.int(6)?,
        event_type: r.text(7)?,
        resource_sid: r.text(8)?,
        resource_type: r.text(9)?,
        source: r.text(10)?,
        source_ip_address: r.opt_text(11)?,
    })
}
