//! The reads several resources' operations share, written once over [`Tx`]: fetch rows, map
//! them. No rule lives here; scoping is in the statements (another account's row is simply not
//! found). A resource's own reads are in its file of [`super::writes`].

use super::Result;
use super::backend::Tx;
use super::queries::sip_lists::{self, ListKind};
use super::queries::{accounts, ip_records, recognition};
use super::value::{Params, Row};
use crate::domain::{Account, IpRecord, SipList};
use crate::recognition::{Change, State};
use crate::sid::{AccountSid, IpRecordSid};

/// The first row of a query, mapped (by a function the compiler sees, so that it can inline it).
pub async fn one<T>(
    tx: &mut dyn Tx,
    sql: &str,
    params: Params,
    map: impl FnOnce(Row) -> Result<T>,
) -> Result<Option<T>> {
    tx.query(sql, params)
        .await?
        .into_iter()
        .next()
        .map(map)
        .transpose()
}

/// Every row of a query, mapped (by a function the compiler sees, so that it can inline it).
pub async fn all<T>(
    tx: &mut dyn Tx,
    (sql, params): (String, Params),
    mut map: impl FnMut(Row) -> Result<T>,
) -> Result<Vec<T>> {
    let rows = tx.query(&sql, params).await?;
    let mut mapped = Vec::with_capacity(rows.len());
    for row in rows {
        mapped.push(map(row)?);
    }
    Ok(mapped)
}

/// An account.
pub async fn account(tx: &mut dyn Tx, sid: &AccountSid) -> Result<Option<Account>> {
    one(
        tx,
        accounts::BY_SID,
        vec![sid.as_str().into()],
        accounts::account,
    )
    .await
}

/// How many accounts exist.
pub async fn count_accounts(tx: &mut dyn Tx) -> Result<u64> {
    let n = one(tx, accounts::COUNT, vec![], |r| r.int(0)).await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// An IP record of an account.
pub async fn ip_record(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &IpRecordSid,
) -> Result<Option<IpRecord>> {
    one(
        tx,
        ip_records::BY_SID,
        ip_records::by_sid(account, sid),
        ip_records::record,
    )
    .await
}

/// Everything recognition is built from, each row handed to `each` as the change that would have
/// put it there, as it is read (a table may hold a million mappings).
pub async fn recognition_changes(
    tx: &mut dyn Tx,
    each: &mut (dyn FnMut(Change) + Send),
) -> Result<()> {
    for (sql, change) in recognition::LOAD {
        tx.query_each(sql, vec![], &mut |r| {
            each(change(r)?);
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Everything recognition is built from, gathered by kind.
pub async fn recognition_state(tx: &mut dyn Tx) -> Result<State> {
    let mut changes = Vec::new();
    recognition_changes(tx, &mut |c| changes.push(c)).await?;
    Ok(State::gather(changes))
}

/// A list of an account (an IP access control list or a credential list, by `S`).
pub async fn sip_list<S: ListKind>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &S,
) -> Result<Option<SipList<S>>> {
    let params = sip_lists::by_sid(account, sid);
    one(tx, S::TABLE.by_sid, params, sip_lists::list).await
}
