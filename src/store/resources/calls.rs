//! Calls' storage (API 2010 `Calls`, their `Events` and `Notifications`): their statements, the
//! writes the call runtime makes (a call's record, inserted or moved forward by the status
//! rule; an event; a notification), the API's deletion of an ended call, the retention that
//! bounds what an account keeps, and the store's operations on them. Every read is scoped by
//! account: another account's call is missing. A notification is also stored as an alert
//! ([`super::alerts`]) in its own transaction.

use super::super::backend::{Lock, Tx, Written};
use super::super::value::Params;
use super::super::{Missing, Result, StoreError};
use super::{count, locked_account};
use crate::domain::{
    Alert, AlertRetention, Audit, Call, CallEvent, CallRetention, Notification, Refusal,
};
use crate::limit_log::LimitLog;
use crate::sid::{AccountSid, CallSid};

/// One write of the call runtime, in [`log`]'s batch: what `save`, `add_event` and
/// `add_notification` store one at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// A call's record as it now is.
    Call(Call),
    /// An HTTP request made for a call.
    Event(CallEvent),
    /// An error or warning of a call.
    Notification(Notification),
}

/// Logged when the retention deletes ended calls to make room or because of their age.
static RETENTION: LimitLog = LimitLog::new("call retention");

/// Calls', events' and notifications' statements and rows.
mod sql {
    use crate::domain::{
        Call, CallEvent, CallFilter, CallStatus, Direction, LogLevel, Notification,
        NotificationFilter,
    };
    use crate::sid::{AccountSid, CallSid, NotificationSid, SipDomainSid};
    use crate::store::queries;
    use crate::store::value::{Params, Row, Value};
    use crate::store::{PageQuery, Result, StoreError};

    macro_rules! columns {
        () => {
            "sid, account_sid, parent_call_sid, domain_sid, from_party, to_party, status, \
             direction, sip_call_id, created_ms, updated_ms, answered_ms, ended_ms"
        };
    }

    macro_rules! event_columns {
        () => {
            "sid, call_sid, account_sid, method, url, parameters, started_ms, duration_ms, \
             response_status, response_headers, response_body, error_code"
        };
    }

    macro_rules! notification_columns {
        () => {
            "sid, account_sid, call_sid, error_code, log, message_text, request_url, \
             request_method, request_variables, created_ms"
        };
    }

    /// One call of an account: `$1` SID, `$2` account.
    pub const BY_SID: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM calls WHERE sid = $1 AND account_sid = $2"
    );
    /// One call, whatever its account: `$1` SID.
    pub const BY_SID_ANY: &str = concat!("SELECT ", columns!(), " FROM calls WHERE sid = $1");
    /// A new call.
    pub const INSERT: &str = concat!(
        "INSERT INTO calls (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    /// Call `$1` is held by node `$2`.
    pub const HELD: &str = "INSERT INTO call_holders (call_sid, node_id) VALUES ($1, $2)";
    /// Call `$1` has ended: no node holds it any more.
    pub const RELEASED: &str = "DELETE FROM call_holders WHERE call_sid = $1";
    /// A call's record as it now is (its SID, account, domain, direction and creation stay).
    pub const UPDATE: &str = "UPDATE calls SET parent_call_sid = $2, from_party = $3, \
         to_party = $4, status = $5, sip_call_id = $6, updated_ms = $7, answered_ms = $8, \
         ended_ms = $9 WHERE sid = $1";
    /// The live calls of nodes other than `$1` (a single node's start: every one).
    pub const LIVE_ELSEWHERE: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM calls WHERE ended_ms IS NULL AND sid NOT IN \
         (SELECT call_sid FROM call_holders WHERE node_id = $1)"
    );
    /// The live calls of nodes other than `$1` whose heartbeat is older than `$2` (Unix ms), or
    /// that beat no more.
    pub const LIVE_ON_SILENT_NODES: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM calls WHERE ended_ms IS NULL AND sid IN (SELECT call_sid FROM call_holders \
         WHERE node_id <> $1 AND node_id NOT IN \
         (SELECT node_id FROM call_nodes WHERE beat_ms >= $2))"
    );
    /// Deletes a call (its events and notifications go with it).
    pub const DELETE: &str = "DELETE FROM calls WHERE sid = $1";
    /// How many calls an account holds (kept by the triggers of migration 11, so no count of
    /// its calls runs at each new one): `$1` account.
    pub const COUNT_OF_ACCOUNT: &str = "SELECT held FROM call_counts WHERE account_sid = $1";
    /// Deletes an account's calls that ended before `$2` (Unix ms).
    pub const PRUNE_ENDED_BEFORE: &str =
        "DELETE FROM calls WHERE account_sid = $1 AND ended_ms < $2";
    /// Deletes an account's `$2` calls that ended first (found through `calls_by_end`, so the
    /// live calls, which have no end, are not read).
    pub const PRUNE_OLDEST: &str = "DELETE FROM calls WHERE sid IN (SELECT sid FROM calls \
         WHERE account_sid = $1 AND ended_ms IS NOT NULL ORDER BY ended_ms, sid LIMIT $2)";
    const LIST: &str = concat!("SELECT ", columns!(), " FROM calls WHERE account_sid = $1");

    /// How many events a call has: `$1` call.
    pub const EVENT_COUNT: &str = "SELECT count(*) FROM call_events WHERE call_sid = $1";
    /// A new event.
    pub const EVENT_INSERT: &str = concat!(
        "INSERT INTO call_events (",
        event_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    const EVENTS: &str = concat!(
        "SELECT ",
        event_columns!(),
        " FROM call_events WHERE call_sid = $1 AND account_sid = $2"
    );

    /// A new notification.
    pub const NOTIFICATION_INSERT: &str = concat!(
        "INSERT INTO call_notifications (",
        notification_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    /// One notification of an account: `$1` SID, `$2` account.
    pub const NOTIFICATION: &str = concat!(
        "SELECT ",
        notification_columns!(),
        " FROM call_notifications WHERE sid = $1 AND account_sid = $2"
    );
    /// One notification of a call of an account: `$1` SID, `$2` account, `$3` call.
    pub const CALL_NOTIFICATION: &str = concat!(
        "SELECT ",
        notification_columns!(),
        " FROM call_notifications WHERE sid = $1 AND account_sid = $2 AND call_sid = $3"
    );
    const NOTIFICATIONS: &str = concat!(
        "SELECT ",
        notification_columns!(),
        " FROM call_notifications WHERE account_sid = $1"
    );

    /// The parameters of [`BY_SID`].
    pub fn by_sid(account: &AccountSid, sid: &CallSid) -> Params {
        vec![sid.as_str().into(), account.as_str().into()]
    }

    /// A page of an account's calls that pass `filter`.
    pub fn list(account: &AccountSid, filter: &CallFilter, page: &PageQuery) -> (String, Params) {
        let mut sql = String::from(LIST);
        let mut params: Params = vec![account.as_str().into()];
        let mut and = |expr: &str, value: Value| {
            params.push(value);
            sql.push_str(&format!(" AND {expr} ${}", params.len()));
        };
        let text = |v: &Option<String>| v.clone().map(Value::Text);
        let conditions = [
            ("to_party =", text(&filter.to)),
            ("from_party =", text(&filter.from)),
            (
                "parent_call_sid =",
                filter.parent.as_ref().map(|p| p.as_str().into()),
            ),
            ("status =", filter.status.map(|s| s.as_str().into())),
            ("created_ms >=", filter.start.from_ms.map(Value::Int)),
            ("created_ms <", filter.start.until_ms.map(Value::Int)),
            ("ended_ms >=", filter.end.from_ms.map(Value::Int)),
            ("ended_ms <", filter.end.until_ms.map(Value::Int)),
        ];
        for (expr, value) in conditions {
            if let Some(v) = value {
                and(expr, v);
            }
        }
        queries::page(&sql, params, page)
    }

    /// A page of a call's events.
    pub fn events(account: &AccountSid, call: &CallSid, page: &PageQuery) -> (String, Params) {
        let params = vec![call.as_str().into(), account.as_str().into()];
        queries::page(EVENTS, params, page)
    }

    /// A page of an account's notifications that pass `filter`, or of one call's.
    pub fn notifications(
        account: &AccountSid,
        call: Option<&CallSid>,
        filter: &NotificationFilter,
        page: &PageQuery,
    ) -> (String, Params) {
        let mut sql = String::from(NOTIFICATIONS);
        let mut params: Params = vec![account.as_str().into()];
        let conditions = [
            ("call_sid =", call.map(|c| c.as_str().into())),
            ("log =", filter.log.map(|l| l.as_str().into())),
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

    /// The parameters of [`INSERT`].
    pub fn insert(c: &Call) -> Params {
        vec![
            c.sid.as_str().into(),
            c.account_sid.as_str().into(),
            c.parent_call_sid.as_ref().map(|p| p.as_str()).into(),
            c.domain_sid.as_str().into(),
            c.from.clone().into(),
            c.to.clone().into(),
            c.status.as_str().into(),
            c.direction.as_str().into(),
            c.sip_call_id.clone().into(),
            c.created_ms.into(),
            c.updated_ms.into(),
            c.answered_ms.into(),
            c.ended_ms.into(),
        ]
    }

    /// The parameters of [`UPDATE`].
    pub fn update(c: &Call) -> Params {
        vec![
            c.sid.as_str().into(),
            c.parent_call_sid.as_ref().map(|p| p.as_str()).into(),
            c.from.clone().into(),
            c.to.clone().into(),
            c.status.as_str().into(),
            c.sip_call_id.clone().into(),
            c.updated_ms.into(),
            c.answered_ms.into(),
            c.ended_ms.into(),
        ]
    }

    fn pairs_json(pairs: &[(String, String)]) -> Result<Value> {
        serde_json::to_string(pairs)
            .map(Value::Text)
            .map_err(|e| StoreError::Internal(format!("cannot encode pairs: {e}")))
    }

    fn pairs(text: &str) -> Result<Vec<(String, String)>> {
        serde_json::from_str(text)
            .map_err(|e| StoreError::Internal(format!("stored pairs are not JSON pairs: {e}")))
    }

    /// The parameters of [`EVENT_INSERT`]: the event's key in its call, the call, the event.
    pub fn event(key: &str, call: &CallSid, e: &CallEvent) -> Result<Params> {
        Ok(vec![
            key.into(),
            call.as_str().into(),
            e.account_sid.as_str().into(),
            e.method.clone().into(),
            e.url.clone().into(),
            pairs_json(&e.parameters)?,
            e.started_ms.into(),
            Value::Int(i64::try_from(e.duration_ms).unwrap_or(i64::MAX)),
            e.response_status.map(|s| Value::Int(i64::from(s))).into(),
            pairs_json(&e.response_headers)?,
            e.response_body.clone().into(),
            e.error_code.into(),
        ])
    }

    /// The parameters of [`NOTIFICATION_INSERT`].
    pub fn notification(n: &Notification) -> Params {
        vec![
            n.sid.as_str().into(),
            n.account_sid.as_str().into(),
            n.call_sid.as_str().into(),
            n.error_code.into(),
            n.log.as_str().into(),
            n.message_text.clone().into(),
            n.request_url.clone().into(),
            n.request_method.clone().into(),
            n.request_variables.clone().into(),
            n.created_ms.into(),
        ]
    }

    fn bad(what: &str, value: &str) -> StoreError {
        StoreError::Internal(format!("stored {what} {value:?} is not one sipmap writes"))
    }

    /// A call from a row.
    pub fn call(mut r: Row) -> Result<Call> {
        let status = r.str(6)?;
        let status = CallStatus::parse(status).ok_or_else(|| bad("call status", status))?;
        let direction = r.str(7)?;
        let direction = Direction::parse(direction).ok_or_else(|| bad("direction", direction))?;
        Ok(Call {
            sid: r.sid(0, CallSid::parse)?,
            account_sid: r.sid(1, AccountSid::parse)?,
            parent_call_sid: r.opt_sid(2, CallSid::parse)?,
            domain_sid: r.sid(3, SipDomainSid::parse)?,
            from: r.text(4)?,
            to: r.text(5)?,
            status,
            direction,
            sip_call_id: r.text(8)?,
            created_ms: r.int(9)?,
            updated_ms: r.int(10)?,
            answered_ms: r.opt_int(11)?,
            ended_ms: r.opt_int(12)?,
        })
    }

    /// An event from a row, with its key in its call (the list's cursor).
    pub fn event_row(mut r: Row) -> Result<(String, CallEvent)> {
        let small = |n: Option<i64>, what: &str| {
            n.map(|n| u32::try_from(n).map_err(|_| bad(what, &n.to_string())))
                .transpose()
        };
        let status = small(r.opt_int(8)?, "response status")?;
        let event = CallEvent {
            call_sid: r.sid(1, CallSid::parse)?,
            account_sid: r.sid(2, AccountSid::parse)?,
            method: r.text(3)?,
            url: r.text(4)?,
            parameters: pairs(r.str(5)?)?,
            started_ms: r.int(6)?,
            duration_ms: u64::try_from(r.int(7)?).unwrap_or(0),
            response_status: status.map(|s| u16::try_from(s).unwrap_or(u16::MAX)),
            response_headers: pairs(r.str(9)?)?,
            response_body: r.text(10)?,
            error_code: small(r.opt_int(11)?, "error code")?,
        };
        Ok((r.text(0)?, event))
    }

    /// A notification from a row.
    pub fn notification_row(mut r: Row) -> Result<Notification> {
        let log = r.str(4)?;
        let log = LogLevel::parse(log).ok_or_else(|| bad("log level", log))?;
        let code = r.int(3)?;
        Ok(Notification {
            sid: r.sid(0, NotificationSid::parse)?,
            account_sid: r.sid(1, AccountSid::parse)?,
            call_sid: r.sid(2, CallSid::parse)?,
            error_code: u32::try_from(code).map_err(|_| bad("error code", &code.to_string()))?,
            log,
            message_text: r.text(5)?,
            request_url: r.opt_text(6)?,
            request_method: r.opt_text(7)?,
            request_variables: r.text(8)?,
            created_ms: r.int(9)?,
        })
    }
}

/// The call `sid` of `account`, its row locked as `lock` says; the call's 404 when the account
/// has no such call.
async fn locked_call(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &CallSid,
    lock: Lock,
) -> Result<Call> {
    let rows = tx
        .query_locked(sql::BY_SID, sql::by_sid(account, sid), lock)
        .await?;
    match rows.into_iter().next() {
        Some(r) => sql::call(r),
        None => Err(missing(account, sid)),
    }
}

fn missing(account: &AccountSid, sid: &CallSid) -> StoreError {
    StoreError::NotFound(Missing::Call(account.clone(), sid.clone()))
}

/// Stores `call`: a new call is inserted, held by `node` while it lasts (after the retention made
/// room in its account); a known one is updated when its status stays or moves forward
/// ([`Call::may_become`]), and refused when it would go backwards; a call that ends is held by
/// no node any more.
pub async fn save(
    tx: &mut dyn Tx,
    (call, node): (Call, Option<String>),
    retention: CallRetention,
    now_ms: i64,
) -> Result<Written<Call>> {
    let params = vec![call.sid.as_str().into()];
    let rows = tx
        .query_locked(sql::BY_SID_ANY, params, Lock::Update)
        .await?;
    match rows.into_iter().next() {
        Some(r) => {
            let stored = sql::call(r)?;
            if stored.account_sid != call.account_sid {
                return Err(missing(&call.account_sid, &call.sid));
            }
            stored.may_become(&call).map_err(Refusal::from)?;
            tx.execute(sql::UPDATE, sql::update(&call)).await?;
            if call.status.is_final() {
                release(tx, &call.sid).await?;
            }
        }
        None => {
            locked_account(tx, &call.account_sid, Lock::Share).await?;
            prune(tx, &call.account_sid, retention, now_ms).await?;
            tx.execute(sql::INSERT, sql::insert(&call)).await?;
            if let Some(node) = node.filter(|_| !call.status.is_final()) {
                let params = vec![call.sid.as_str().into(), node.into()];
                tx.execute(sql::HELD, params).await?;
            }
        }
    }
    Ok(Written::quiet(call))
}

/// Stores `writes` in order in one transaction (the call runtime's writes between two points
/// where it owes durability, [`Store::save_call_log`]), each as its own procedure would; the
/// first that fails fails them all (nothing of the batch is stored).
pub async fn log(
    tx: &mut dyn Tx,
    (writes, node): (Vec<Logged>, Option<String>),
    (retention, alerts): (CallRetention, AlertRetention),
    now_ms: i64,
) -> Result<Written<()>> {
    for write in writes {
        match write {
            Logged::Call(call) => {
                save(tx, (call, node.clone()), retention, now_ms).await?;
            }
            Logged::Event(event) => {
                add_event(tx, event.call_sid.clone(), event).await?;
            }
            Logged::Notification(n) => {
                add_notification(tx, n, alerts, now_ms).await?;
            }
        }
    }
    Ok(Written::quiet(()))
}

/// Ends the live calls no runtime will end any more, as of `now_ms` ([`Call::abandon`]): with
/// `silent_before` none (a single node's start), every live call of a node other than `node`;
/// otherwise those of the nodes other than `node` whose heartbeat is older than it. Returns
/// them as they now are.
pub async fn end_abandoned(
    tx: &mut dyn Tx,
    node: String,
    silent_before: Option<i64>,
    now_ms: i64,
) -> Result<Written<Vec<Call>>> {
    let rows = match silent_before {
        None => {
            let params = vec![node.into()];
            tx.query_locked(sql::LIVE_ELSEWHERE, params, Lock::Update)
                .await?
        }
        Some(before) => {
            let params = vec![node.into(), before.into()];
            tx.query_locked(sql::LIVE_ON_SILENT_NODES, params, Lock::Update)
                .await?
        }
    };
    let mut ended = Vec::with_capacity(rows.len());
    for r in rows {
        let mut call = sql::call(r)?;
        if call.abandon(now_ms) {
            tx.execute(sql::UPDATE, sql::update(&call)).await?;
            release(tx, &call.sid).await?;
            ended.push(call);
        }
    }
    Ok(Written::quiet(ended))
}

/// Call `sid` has ended: its `call_holders` row goes, so that the table holds live calls only.
async fn release(tx: &mut dyn Tx, sid: &CallSid) -> Result<()> {
    tx.execute(sql::RELEASED, vec![sid.as_str().into()]).await?;
    Ok(())
}

/// Deletes the account's ended calls the retention no longer keeps: those that ended too long
/// ago, then the oldest ended ones past the account's bound (room for one more). Logs when it
/// deletes any.
async fn prune(
    tx: &mut dyn Tx,
    account: &AccountSid,
    retention: CallRetention,
    now_ms: i64,
) -> Result<()> {
    let mut deleted = 0;
    if let Some(before) = retention.ended_before(now_ms) {
        let params: Params = vec![account.as_str().into(), before.into()];
        deleted += tx.execute(sql::PRUNE_ENDED_BEFORE, params).await?;
    }
    let held = count(tx, sql::COUNT_OF_ACCOUNT, account.as_str()).await?;
    let excess = retention.excess(held);
    if excess > 0 {
        let n = i64::try_from(excess).unwrap_or(i64::MAX);
        let params: Params = vec![account.as_str().into(), n.into()];
        deleted += tx.execute(sql::PRUNE_OLDEST, params).await?;
    }
    if deleted > 0 {
        RETENTION.hit(&format_args!(
            "deleted {deleted} ended calls of {account} (--call-retention-secs {}, \
             --max-call-records-per-account {})",
            retention.max_age_secs, retention.per_account
        ));
    }
    Ok(())
}

/// Adds `event` to the call `call` of the event's account, after its other events.
pub async fn add_event(tx: &mut dyn Tx, call: CallSid, event: CallEvent) -> Result<Written<()>> {
    locked_call(tx, &event.account_sid, &call, Lock::Update).await?;
    let held = count(tx, sql::EVENT_COUNT, call.as_str()).await?;
    let key = format!("EV{:032x}", held + 1);
    tx.execute(sql::EVENT_INSERT, sql::event(&key, &call, &event)?)
        .await?;
    Ok(Written::quiet(()))
}

/// Adds `notification` to its call, and stores it as the account's Monitor Alert too (same
/// SID, same transaction: one is never without the other), under `retention`.
pub async fn add_notification(
    tx: &mut dyn Tx,
    n: Notification,
    retention: AlertRetention,
    now_ms: i64,
) -> Result<Written<()>> {
    locked_call(tx, &n.account_sid, &n.call_sid, Lock::Share).await?;
    tx.execute(sql::NOTIFICATION_INSERT, sql::notification(&n))
        .await?;
    let alert = Alert::of_notification(&n, now_ms);
    super::alerts::record(tx, &alert, retention, now_ms).await?;
    Ok(Written::quiet(()))
}

/// Deletes an ended call of `account` with its events and notifications; a call that has not
/// ended is refused.
pub async fn delete(tx: &mut dyn Tx, account: &AccountSid, sid: &CallSid) -> Result<Written<()>> {
    let call = locked_call(tx, account, sid, Lock::Update).await?;
    call.may_delete().map_err(Refusal::from)?;
    tx.execute(sql::DELETE, vec![sid.as_str().into()]).await?;
    Ok(Written::quiet(()).audited([Audit::deleted(&call)]))
}

/// A page of the rows `query` finds, once the call `call` of `account` is known to exist (the
/// call's 404 otherwise).
async fn of_call<T: Send + 'static>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    call: &CallSid,
    query: (String, Params),
    map: fn(crate::store::value::Row) -> Result<T>,
) -> Result<Vec<T>> {
    locked_call(tx, account, call, Lock::None).await?;
    super::super::reads::all(tx, query, map).await
}

/// The store's operations on calls, their events and their notifications.
mod operations {
    use super::sql;
    use crate::domain::{Call, CallEvent, CallFilter, Notification, NotificationFilter};
    use crate::sid::{AccountSid, CallSid, NotificationSid};
    use crate::store::engine::{run_read, run_write};
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// Stores a call's record as it now is (the call runtime's write): inserted when new,
        /// after the account's ended calls past the retention are deleted; updated when its
        /// status stays or moves forward; refused when it would go backwards.
        pub async fn save_call(&self, call: &Call) -> Result<Call> {
            self.save_held_call(call, None).await
        }

        /// [`Store::save_call`] by the call runtime of node `node`, which holds the call: a
        /// new record names it (an update of a known record leaves its node as it is).
        pub async fn save_held_call(&self, call: &Call, node: Option<&str>) -> Result<Call> {
            let (_, now_ms) = self.now();
            let retention = self.limits.calls;
            let held = (call.clone(), node.map(str::to_owned));
            run_write!(self, (held), |tx| super::save(tx, held, retention, now_ms))
        }

        /// Stores a call runtime's `writes` (records, events, notifications) in order, in one
        /// transaction, by the runtime of `node` (as [`Store::save_held_call`]): all are stored
        /// or, when one is refused or fails, none.
        pub async fn save_call_log(
            &self,
            writes: Vec<super::Logged>,
            node: Option<&str>,
        ) -> Result<()> {
            let (_, now_ms) = self.now();
            let retention = (self.limits.calls, self.limits.alerts);
            let batch = (writes, node.map(str::to_owned));
            run_write!(self, (batch), |tx| super::log(tx, batch, retention, now_ms))
        }

        /// Ends the live calls that no runtime will end any more (see [`super::end_abandoned`]):
        /// `silent_for_ms` none ends every live call of a node other than `node` (a single
        /// node's start); some ends those of nodes whose heartbeat is older than that.
        pub async fn end_abandoned_calls(
            &self,
            node: &str,
            silent_for_ms: Option<i64>,
        ) -> Result<Vec<Call>> {
            let (_, now_ms) = self.now();
            let before = silent_for_ms.map(|ms| now_ms.saturating_sub(ms));
            let node = node.to_owned();
            run_write!(self, (node), |tx| super::end_abandoned(
                tx, node, before, now_ms
            ))
        }

        /// Adds an HTTP request made for the call `call` (after its others).
        pub async fn add_call_event(&self, call: &CallSid, event: &CallEvent) -> Result<()> {
            let (call, event) = (call.clone(), event.clone());
            run_write!(self, (call, event), |tx| super::add_event(tx, call, event))
        }

        /// Adds an error or warning of a call (and its alert).
        pub async fn add_notification(&self, notification: &Notification) -> Result<()> {
            let (_, now_ms) = self.now();
            let retention = self.limits.alerts;
            let n = notification.clone();
            run_write!(self, (n), |tx| super::add_notification(
                tx, n, retention, now_ms
            ))
        }

        /// One call of `account`.
        pub async fn get_call(&self, account: &AccountSid, sid: &CallSid) -> Result<Option<Call>> {
            self.read_one(sql::BY_SID, sql::by_sid(account, sid), sql::call)
                .await
        }

        /// A page of the calls of `account` that pass `filter`.
        pub async fn list_calls(
            &self,
            account: &AccountSid,
            filter: &CallFilter,
            page: &PageQuery,
        ) -> Result<Vec<Call>> {
            self.read_all(sql::list(account, filter, page), sql::call)
                .await
        }

        /// Deletes an ended call of `account` with its events and notifications.
        pub async fn delete_call(&self, account: &AccountSid, sid: &CallSid) -> Result<()> {
            run_write!(self, (account, sid), |tx| super::delete(tx, &account, &sid))
        }

        /// A page of the events of the call `call` of `account`, each with its key in the call
        /// (the page cursor); the call's 404 when the account has no such call.
        pub async fn list_call_events(
            &self,
            account: &AccountSid,
            call: &CallSid,
            page: &PageQuery,
        ) -> Result<Vec<(String, CallEvent)>> {
            let query = sql::events(account, call, page);
            run_read!(self, (account, call), |tx| super::of_call(
                tx,
                &account,
                &call,
                query,
                sql::event_row
            ))
        }

        /// A page of the notifications of the call `call` of `account` that pass `filter`;
        /// the call's 404 when the account has no such call.
        pub async fn list_call_notifications(
            &self,
            account: &AccountSid,
            call: &CallSid,
            filter: &NotificationFilter,
            page: &PageQuery,
        ) -> Result<Vec<Notification>> {
            let query = sql::notifications(account, Some(call), filter, page);
            run_read!(self, (account, call), |tx| super::of_call(
                tx,
                &account,
                &call,
                query,
                sql::notification_row
            ))
        }

        /// A page of the notifications of all the calls of `account` that pass `filter`.
        pub async fn list_notifications(
            &self,
            account: &AccountSid,
            filter: &NotificationFilter,
            page: &PageQuery,
        ) -> Result<Vec<Notification>> {
            let query = sql::notifications(account, None, filter, page);
            self.read_all(query, sql::notification_row).await
        }

        /// One notification of `account`, of the call `call` when one is named.
        pub async fn get_notification(
            &self,
            account: &AccountSid,
            call: Option<&CallSid>,
            sid: &NotificationSid,
        ) -> Result<Option<Notification>> {
            let mut params = vec![sid.as_str().into(), account.as_str().into()];
            match call {
                Some(call) => {
                    params.push(call.as_str().into());
                    self.read_one(sql::CALL_NOTIFICATION, params, sql::notification_row)
                        .await
                }
                None => {
                    self.read_one(sql::NOTIFICATION, params, sql::notification_row)
                        .await
                }
            }
        }
    }
}
