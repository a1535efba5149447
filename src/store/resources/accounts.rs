//! Writes of accounts: create, make sure of, update (with what a status change does to the
//! account's resources), and resealing their auth tokens under a new server key.

use super::super::backend::{Lock, Serial, Tx, Written};
use super::super::queries::{accounts, mappings, sip_domains};
use super::super::{Missing, Result, StoreError};
use super::{account_rows, locked_account};
use crate::auth_token::TokenHash;
use crate::domain::{Account, AccountPatch, Audit, StatusChange};
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
    let audit = Audit::created(&account);
    Ok(Written::quiet(account).audited([audit]))
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
            let before = existing.clone();
            let sealed = account.sealed_token.as_deref();
            tx.execute(
                accounts::SET_TOKEN,
                accounts::set_token(&existing.sid, &credential, sealed),
            )
            .await?;
            existing.sealed_token = account.sealed_token;
            credentials_changed(tx).await?;
            let audit = Audit::updated(&before, &existing);
            Ok(Written::quiet(existing).audited(audit))
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
    let before = account.clone();
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
    credentials_changed(tx).await?;
    let audit = Audit::updated(&before, &account);
    Ok(Written::changing(account, changes).audited(audit))
}

/// Tells every node of a cluster, when this transaction commits, that what authentication
/// reads may have changed: each empties its credential cache ([`crate::store::credentials`]).
/// The node that wrote empties its own as well, before the write is acknowledged.
pub async fn credentials_changed(tx: &mut dyn Tx) -> Result<()> {
    tx.notify(crate::store::credentials::CHANNEL, "").await
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

/// The store's operations on accounts.
mod operations {
    use crate::auth_token::{AuthToken, TokenHash};
    use crate::domain::{Account, AccountPatch, NewAccount};
    use crate::sid::AccountSid;
    use crate::store::engine::{run_read, run_write};
    use crate::store::queries::accounts;
    use crate::store::{AccountFilter, PageQuery, Result, Store, reads};

    impl Store {
        /// An account and its credential hash, for authentication (from the credential cache
        /// when it has them).
        pub async fn account_credentials(
            &self,
            sid: &AccountSid,
        ) -> Result<Option<(Account, TokenHash)>> {
            self.credential(sid.as_str(), accounts::BY_SID, accounts::credential)
                .await
        }

        /// An account.
        pub async fn get_account(&self, sid: &AccountSid) -> Result<Option<Account>> {
            run_read!(self, (sid), |tx| reads::account(tx, &sid))
        }

        /// How many accounts exist.
        pub async fn count_accounts(&self) -> Result<u64> {
            run_read!(self, |tx| reads::count_accounts(tx))
        }

        /// Creates an account.
        pub async fn create_account(&self, new: NewAccount) -> Result<Account> {
            let (now, millis) = self.now();
            let (credential, sealed) = self.token_credential(&new.token);
            let account = new.into_account(AccountSid::generate_at(millis), now, sealed);
            run_write!(self, (account, credential), |tx| super::create(
                tx, account, credential
            ))
        }

        /// Creates the top-level account `sid` if it is missing (named `friendly_name`), or
        /// gives it `token` if it exists.
        pub async fn ensure_account(
            &self,
            sid: &AccountSid,
            friendly_name: &str,
            token: &AuthToken,
        ) -> Result<Account> {
            let (now, _) = self.now();
            let (credential, sealed) = self.token_credential(token);
            let new = NewAccount {
                owner_sid: None,
                friendly_name: Some(friendly_name.to_owned()),
                token: token.clone(),
            };
            let account = new.into_account(sid.clone(), now, sealed);
            let written = run_write!(self, (account, credential), |tx| super::ensure(
                tx, account, credential
            ));
            self.forget_credentials();
            written
        }

        /// Creates the account only if no account exists at all, atomically (several cluster
        /// nodes may start on an empty database at once); `None` when one existed.
        pub async fn create_first_account(&self, new: NewAccount) -> Result<Option<Account>> {
            let (now, millis) = self.now();
            let (credential, sealed) = self.token_credential(&new.token);
            let account = new.into_account(AccountSid::generate_at(millis), now, sealed);
            run_write!(self, (account, credential), |tx| super::create_first(
                tx, account, credential
            ))
        }

        /// `caller` and its subaccounts, filtered.
        pub async fn list_accounts(
            &self,
            caller: &AccountSid,
            filter: &AccountFilter,
            page: &PageQuery,
        ) -> Result<Vec<Account>> {
            let query = accounts::list(caller, filter, page);
            self.read_all(query, accounts::account).await
        }

        /// Changes an account's friendly name and status, as [`Account::status_change`]
        /// decides: suspending takes its SIP domains and mappings out of recognition,
        /// reactivating puts them back, closing (which is final) deletes them, all in the same
        /// transaction.
        pub async fn update_account(
            &self,
            sid: &AccountSid,
            patch: AccountPatch,
        ) -> Result<Account> {
            let (now, _) = self.now();
            let written = run_write!(self, (sid, patch), |tx| super::update(tx, &sid, patch, now));
            self.forget_credentials();
            written
        }
    }
}
