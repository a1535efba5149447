//! Writes of accounts: create, make sure of, update (with what a status change does to the
//! account's resources).

use super::super::backend::{Lock, Serial, Tx, Written};
use super::super::queries::{accounts, mappings, sip_domains};
use super::super::{Missing, Result, StoreError};
use super::{account_rows, locked_account};
use crate::auth_token::TokenHash;
use crate::domain::{Account, AccountPatch, StatusChange};
use crate::recognition::account_changes;

/// Creates `account`; a subaccount's parent must exist.
pub async fn create(
    tx: &mut dyn Tx,
    account: Account,
    credential: TokenHash,
) -> Result<Written<Account>> {
    if let Some(owner) = &account.owner_sid
        && super::super::reads::account(tx, owner).await?.is_none()
    {
        return Err(StoreError::NotFound(Missing::Account(owner.clone())));
    }
    tx.execute(accounts::INSERT, accounts::insert(&account, &credential))
        .await?;
    Ok(Written::quiet(account))
}

/// Creates `account` if it is missing, or gives the existing one `credential`.
pub async fn ensure(
    tx: &mut dyn Tx,
    account: Account,
    credential: TokenHash,
) -> Result<Written<Account>> {
    match locked_account(tx, &account.sid, Lock::Update).await {
        Ok(existing) => {
            tx.execute(
                accounts::SET_TOKEN,
                accounts::set_token(&existing.sid, &credential),
            )
            .await?;
            Ok(Written::quiet(existing))
        }
        Err(StoreError::NotFound(_)) => create(tx, account, credential).await,
        Err(e) => Err(e),
    }
}

/// Creates `account` only if the database has no account at all.
pub async fn create_first(
    tx: &mut dyn Tx,
    account: Account,
    credential: TokenHash,
) -> Result<Written<Option<Account>>> {
    tx.serialize(Serial::Bootstrap).await?;
    if super::super::reads::count_accounts(tx).await? > 0 {
        return Ok(Written::quiet(None));
    }
    let created = create(tx, account, credential).await?;
    Ok(Written::quiet(Some(created.value)))
}

/// Changes an account's name and status as [`Account::status_change`] decides: suspending takes
/// its domains and networks out of recognition, reactivating puts them back, closing deletes
/// them (freeing their networks and names), all in this transaction.
pub async fn update(
    tx: &mut dyn Tx,
    sid: &crate::sid::AccountSid,
    patch: AccountPatch,
    now: i64,
) -> Result<Written<Account>> {
    let mut account = locked_account(tx, sid, Lock::Update).await?;
    let change = account.status_change(patch.status)?;
    let mut changes = Vec::new();
    match change {
        StatusChange::Unchanged => {}
        StatusChange::Suspend | StatusChange::Reactivate => {
            let rows = account_rows(tx, sid).await?;
            changes = account_changes(rows, change == StatusChange::Reactivate);
        }
        StatusChange::Close { was_active } => {
            if was_active {
                changes = account_changes(account_rows(tx, sid).await?, false);
            }
            let params = || vec![sid.as_str().into()];
            tx.execute(mappings::DELETE_OF_ACCOUNT, params()).await?;
            tx.execute(sip_domains::DELETE_OF_ACCOUNT, params()).await?;
        }
    }
    if let Some(status) = patch.status {
        account.status = status;
    }
    if let Some(name) = patch.friendly_name {
        account.friendly_name = name;
    }
    account.date_updated = now;
    tx.execute(accounts::UPDATE, accounts::update(&account))
        .await?;
    Ok(Written {
        value: account,
        changes,
    })
}
