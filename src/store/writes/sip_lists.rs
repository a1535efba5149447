//! Writes of IP access control lists and credential lists, written once for both kinds (see
//! [`ListKind`]): create under a per-account limit, rename, delete unless a domain maps it.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::sip_lists::{self, ListKind};
use super::super::{Result, StoreError};
use super::{count, locked_account, owner_accepts_writes};
use crate::domain::sip_list::may_create_list;
use crate::domain::{Limits, ListName, SipList, auth_mapping};
use crate::sid::{AccountSid, SipDomainSid};

/// Creates `list`, unless its account holds as many lists of its kind as it may.
pub async fn create<S: ListKind>(
    tx: &mut dyn Tx,
    list: SipList<S>,
    limits: Limits,
) -> Result<Written<SipList<S>>> {
    // The account's row stays locked, so two creates cannot both pass the count.
    locked_account(tx, &list.account_sid, Lock::Update)
        .await?
        .accepts_writes()?;
    let held = count(tx, S::TABLE.count_of_account, list.account_sid.as_str()).await?;
    may_create_list(held, &limits)?;
    tx.execute(S::TABLE.insert, sip_lists::insert(&list))
        .await?;
    Ok(Written::quiet(list))
}

/// A list of `account`, its row locked as `lock` says; 404 when it is not the account's.
pub async fn locked<S: ListKind>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &S,
    lock: Lock,
) -> Result<SipList<S>> {
    let params = sip_lists::by_sid(account, sid);
    let rows = tx.query_locked(S::TABLE.by_sid, params, lock).await?;
    match rows.into_iter().next() {
        Some(r) => sip_lists::list(r),
        None => Err(StoreError::NotFound(S::missing(account, sid))),
    }
}

/// Renames a list of `account`.
pub async fn update<S: ListKind, const MAX: usize>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &S,
    name: ListName<MAX>,
    now: i64,
) -> Result<Written<SipList<S>>> {
    owner_accepts_writes(tx, account).await?;
    let mut list = locked(tx, account, sid, Lock::Update).await?;
    let before = list.friendly_name.clone();
    name.apply(&mut list, now);
    if list.friendly_name != before {
        tx.execute(S::TABLE.update, sip_lists::update(&list))
            .await?;
    }
    Ok(Written::quiet(list))
}

/// Deletes a list of `account` that no domain maps, with what it holds (which leaves
/// recognition with it).
pub async fn delete<S: ListKind>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &S,
) -> Result<Written<()>> {
    locked(tx, account, sid, Lock::Update).await?;
    let mapped_to = tx
        .query(S::TABLE.mapped_to, vec![sid.as_str().into()])
        .await?
        .first()
        .map(|r| r.sid(0, SipDomainSid::parse))
        .transpose()?;
    auth_mapping::may_delete_list(&sid.mapped(), mapped_to)?;
    let contents = tx.query(S::CONTENTS, vec![sid.as_str().into()]).await?;
    let changes = contents
        .into_iter()
        .map(|row| sid.removed(row))
        .collect::<Result<Vec<_>>>()?;
    tx.execute(S::TABLE.delete, vec![sid.as_str().into()])
        .await?;
    Ok(Written { value: (), changes })
}
