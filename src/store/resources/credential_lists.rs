//! Writes of the credentials of SIP credential lists (the lists' own are [`super::sip_lists`]).
//! Passwords arrive sealed (the engine seals them with the server key) and reach recognition
//! sealed.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::credential_lists as cls;
use super::super::{Missing, Result, StoreError};
use super::sip_lists::locked;
use super::{count, owner_accepts_writes};
use crate::domain::credential_list::may_add_credential;
use crate::domain::{Audit, Credential, Limits};
use crate::recognition::{Change, Secret};
use crate::secret::Sealer;
use crate::sid::{AccountSid, CredentialListSid, CredentialSid};

/// Adds `credential` to its list (which must be `account`'s): its username must be free in the
/// list, and the list not full.
pub async fn create_credential(
    tx: &mut dyn Tx,
    credential: Credential,
    limits: Limits,
) -> Result<Written<Credential>> {
    let account = &credential.account_sid;
    owner_accepts_writes(tx, account).await?;
    let list = locked(tx, account, &credential.list_sid, Lock::Update).await?;
    let taken_by = tx
        .query(
            cls::CREDENTIAL_NAMED,
            vec![
                list.sid.as_str().into(),
                credential.username.as_str().into(),
            ],
        )
        .await?
        .first()
        .map(|r| r.sid(0, CredentialSid::parse))
        .transpose()?;
    let held = count(tx, cls::CREDENTIAL_COUNT, list.sid.as_str()).await?;
    may_add_credential(&list, &credential.username, taken_by, held, &limits)?;
    tx.execute(cls::CREDENTIAL_INSERT, cls::credential_insert(&credential))
        .await?;
    let change = set(&credential);
    let audit = Audit::created(&credential);
    Ok(Written::changing(credential, vec![change]).audited([audit]))
}

fn set(c: &Credential) -> Change {
    Change::CredentialSet(
        c.list_sid.clone(),
        c.username.clone(),
        Secret::sealed(&c.password_sealed),
    )
}

async fn locked_credential(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &CredentialListSid,
    sid: &CredentialSid,
) -> Result<Credential> {
    let params = cls::credential_by_sid(account, list, sid);
    let rows = tx
        .query_locked(cls::CREDENTIAL_BY_SID, params, Lock::Update)
        .await?;
    match rows.into_iter().next() {
        Some(r) => cls::credential(r),
        None => Err(StoreError::NotFound(Missing::Credential(
            account.clone(),
            list.clone(),
            sid.clone(),
        ))),
    }
}

/// Gives a credential of a list of `account` a new (sealed) password, if one was sent.
pub async fn update_credential(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &CredentialListSid,
    sid: &CredentialSid,
    password_sealed: Option<Vec<u8>>,
    now: i64,
) -> Result<Written<Credential>> {
    owner_accepts_writes(tx, account).await?;
    let mut credential = locked_credential(tx, account, list, sid).await?;
    let Some(sealed) = password_sealed else {
        return Ok(Written::quiet(credential));
    };
    let before = credential.clone();
    credential.password_sealed = sealed;
    credential.date_updated = now;
    tx.execute(cls::CREDENTIAL_UPDATE, cls::credential_update(&credential))
        .await?;
    let change = set(&credential);
    let audit = Audit::updated(&before, &credential);
    Ok(Written::changing(credential, vec![change]).audited(audit))
}

/// Deletes a credential of a list of `account`.
pub async fn delete_credential(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &CredentialListSid,
    sid: &CredentialSid,
) -> Result<Written<()>> {
    let credential = locked_credential(tx, account, list, sid).await?;
    tx.execute(cls::CREDENTIAL_DELETE, vec![sid.as_str().into()])
        .await?;
    let audit = Audit::deleted(&credential);
    let change = Change::CredentialRemoved(list.clone(), credential.username);
    Ok(Written::changing((), vec![change]).audited([audit]))
}

/// Reseals every credential password from `old` to `new`; returns how many. A password that
/// `old` cannot open fails the whole rotation.
pub async fn reseal_passwords(tx: &mut dyn Tx, old: &Sealer, new: &Sealer) -> Result<u64> {
    let rows = tx.query(cls::ALL_SEALED, vec![]).await?;
    let mut resealed = 0;
    for row in rows {
        let sid = row.str(0)?.to_owned();
        let password = old.open(row.blob(1)?).map_err(|_| {
            StoreError::Internal(format!(
                "credential {sid}'s password cannot be opened with the current key"
            ))
        })?;
        let sealed = new.seal(&password);
        tx.execute(cls::RESEAL, vec![sid.into(), sealed.as_slice().into()])
            .await?;
        resealed += 1;
    }
    Ok(resealed)
}

/// The store's operations on the credentials of credential lists.
mod operations {
    use crate::domain::{Credential, CredentialPatch, NewCredential};
    use crate::sid::{AccountSid, CredentialListSid, CredentialSid};
    use crate::store::engine::{run_read, run_write};
    use crate::store::queries::credential_lists as cls;
    use crate::store::resources::sip_lists::list_contents;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// Adds a credential to a list (its password sealed with the server key): the username
        /// must be free in the list, and the list not full.
        pub async fn create_credential(
            &self,
            account: &AccountSid,
            list: &CredentialListSid,
            new: NewCredential,
        ) -> Result<Credential> {
            let (now, millis) = self.now();
            let credential = Credential {
                sid: CredentialSid::generate_at(millis),
                account_sid: account.clone(),
                list_sid: list.clone(),
                username: new.username,
                password_sealed: self.seal(new.password.expose())?,
                date_created: now,
                date_updated: now,
            };
            let limits = &self.limits;
            run_write!(self, (credential, limits), |tx| {
                super::create_credential(tx, credential, limits)
            })
        }

        /// One credential of a list.
        pub async fn get_credential(
            &self,
            account: &AccountSid,
            list: &CredentialListSid,
            sid: &CredentialSid,
        ) -> Result<Option<Credential>> {
            let params = cls::credential_by_sid(account, list, sid);
            self.read_one(cls::CREDENTIAL_BY_SID, params, cls::credential)
                .await
        }

        /// A page of a list's credentials; 404 when the list is not the account's.
        pub async fn list_credentials(
            &self,
            account: &AccountSid,
            list: &CredentialListSid,
            page: &PageQuery,
        ) -> Result<Vec<Credential>> {
            let query = cls::credential_page(list, page);
            run_read!(self, (account, list), |tx| list_contents(
                tx,
                &account,
                &list,
                query,
                cls::credential
            ))
        }

        /// Gives a credential a new password, if the patch has one.
        pub async fn update_credential(
            &self,
            account: &AccountSid,
            list: &CredentialListSid,
            sid: &CredentialSid,
            patch: CredentialPatch,
        ) -> Result<Credential> {
            let (now, _) = self.now();
            let sealed = match &patch.password {
                Some(p) => Some(self.seal(p.expose())?),
                None => None,
            };
            run_write!(self, (account, list, sid, sealed), |tx| {
                super::update_credential(tx, &account, &list, &sid, sealed, now)
            })
        }

        /// Deletes a credential of a list.
        pub async fn delete_credential(
            &self,
            account: &AccountSid,
            list: &CredentialListSid,
            sid: &CredentialSid,
        ) -> Result<()> {
            run_write!(self, (account, list, sid), |tx| {
                super::delete_credential(tx, &account, &list, &sid)
            })
        }
    }
}
