//! Writes of accounts: create, make sure of, update (with what a status change does to the
//! account's resources), and resealing their auth tokens under a new server key.

use super::super::backend::{Lock, Serial, Tx, Written};
use super::super::queries::{accounts, mappings, sip_domains};
use super::super::{Missing, Result, StoreError};
use super::{account_rows, locked_account};
use crate::auth_token::TokenHash;
use crate::domain::{Account, AccountPatch, StatusChange};
use crate::recognition::account_changes;
use crate::secret::Sealer;

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

/// Creates `account` if it is missing, or gives the existing one `credential` and the sealed
/// token `account` carries.
pub async fn ensure(
    tx: &mut dyn Tx,
    account: Account,
    credential: TokenHash,
) -> Result<Written<Account>> {
    match locked_account(tx, &account.sid, Lock::Update).await {
        Ok(mut existing) => {
            let sealed = account.sealed_token.as_deref();
            tx.execute(
                accounts::SET_TOKEN,
                accounts::set_token(&existing.sid, &credential, sealed),
            )
            .await?;
            existing.sealed_token = account.sealed_token;
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

/// Opens every sealed auth token with `old` and seals it again with `new`; returns how many.
pub async fn reseal_tokens(tx: &mut dyn Tx, old: &Sealer, new: &Sealer) -> Result<u64> {
    let rows = tx.query(accounts::ALL_SEALED, vec![]).await?;
    let mut resealed = 0;
    for row in rows {
        let sid = row.str(0)?.to_owned();
        let token = old.open(row.blob(1)?).map_err(|_| {
            StoreError::Internal(format!(
                "account {sid}'s auth token cannot be opened with the current key"
            ))
        })?;
        let sealed = new.seal(&token);
        tx.execute(accounts::RESEAL, vec![sid.into(), sealed.as_slice().into()])
            .await?;
        resealed += 1;
    }
    Ok(resealed)
}
