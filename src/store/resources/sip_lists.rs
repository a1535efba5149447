//! Writes of IP access control lists and credential lists, written once for both kinds (see
//! [`ListKind`]): create under a per-account limit, rename, delete unless a domain maps it.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::sip_lists::{self, ListKind};
use super::super::value::{Params, Row};
use super::super::{Missing, Result, StoreError, reads};
use super::{count, locked_account, owner_accepts_writes};
use crate::domain::sip_list::may_create_list;
use crate::domain::{Audit, Limits, ListName, MappedList, SipList, auth_mapping};
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
    let audit = Audit::created(&list);
    Ok(Written::quiet(list).audited([audit]))
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
        None => Err(StoreError::NotFound(missing(account, sid))),
    }
}

/// A missing list of `account`.
pub fn missing<S: ListKind>(account: &AccountSid, sid: &S) -> Missing {
    match sid.mapped() {
        MappedList::Acl(sid) => Missing::Acl(account.clone(), sid),
        MappedList::Credentials(sid) => Missing::CredentialList(account.clone(), sid),
    }
}

/// A page of what a list of `account` holds (`query`, rows mapped by `map`); 404 when the list
/// is not the account's.
pub async fn list_contents<S: ListKind, T>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &S,
    query: (String, Params),
    map: impl FnMut(Row) -> Result<T>,
) -> Result<Vec<T>> {
    if reads::sip_list(tx, account, list).await?.is_none() {
        return Err(StoreError::NotFound(missing(account, list)));
    }
    reads::all(tx, query, map).await
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
    let before = list.clone();
    name.apply(&mut list, now);
    if list.friendly_name != before.friendly_name {
        tx.execute(S::TABLE.update, sip_lists::update(&list))
            .await?;
    }
    let audit = Audit::updated(&before, &list);
    Ok(Written::quiet(list).audited(audit))
}

/// Deletes a list of `account` that no domain maps, with what it holds (which leaves
/// recognition with it).
pub async fn delete<S: ListKind>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &S,
) -> Result<Written<()>> {
    let list = locked(tx, account, sid, Lock::Update).await?;
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
    Ok(Written::changing((), changes).audited([Audit::deleted(&list)]))
}

/// The store's operations on IP access control lists and credential lists, written once over
/// [`ListKind`].
mod operations {
    use crate::domain::{
        AclName, CredentialList, CredentialListName, IpAccessControlList, ListName, SipList,
    };
    use crate::sid::{AccountSid, AclSid, CredentialListSid};
    use crate::store::engine::{run_read, run_write};
    use crate::store::queries::sip_lists::{ListKind, list};
    use crate::store::{PageQuery, Result, Store, reads};

    impl Store {
        /// Creates a list of kind `S` (its SID minted by `mint`), unless the account holds as
        /// many as it may.
        async fn create_list<S: ListKind, const MAX: usize>(
            &self,
            account: &AccountSid,
            name: ListName<MAX>,
            mint: fn(i64) -> S,
        ) -> Result<SipList<S>> {
            let (now, millis) = self.now();
            let list = name.into_list(mint(millis), account.clone(), now);
            let limits = &self.limits;
            run_write!(self, (list, limits), |tx| super::create(tx, list, limits))
        }

        /// One list of kind `S`.
        async fn get_list<S: ListKind>(
            &self,
            account: &AccountSid,
            sid: &S,
        ) -> Result<Option<SipList<S>>> {
            run_read!(self, (account, sid), |tx| reads::sip_list(
                tx, &account, &sid
            ))
        }

        /// A page of lists of kind `S`.
        async fn list_lists<S: ListKind>(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<SipList<S>>> {
            self.read_all(S::TABLE.page(account, page), list).await
        }

        /// Renames a list of kind `S`.
        async fn rename_list<S: ListKind, const MAX: usize>(
            &self,
            account: &AccountSid,
            sid: &S,
            name: ListName<MAX>,
        ) -> Result<SipList<S>> {
            let (now, _) = self.now();
            run_write!(self, (account, sid, name), |tx| super::update(
                tx, &account, &sid, name, now
            ))
        }

        /// Deletes a list of kind `S` that no domain maps, with what it holds.
        async fn delete_list<S: ListKind>(&self, account: &AccountSid, sid: &S) -> Result<()> {
            run_write!(self, (account, sid), |tx| super::delete(tx, &account, &sid))
        }

        /// Creates an IP access control list, unless the account holds as many as it may.
        pub async fn create_acl(
            &self,
            account: &AccountSid,
            name: AclName,
        ) -> Result<IpAccessControlList> {
            self.create_list(account, name, AclSid::generate_at).await
        }

        /// One IP access control list.
        pub async fn get_acl(
            &self,
            account: &AccountSid,
            sid: &AclSid,
        ) -> Result<Option<IpAccessControlList>> {
            self.get_list(account, sid).await
        }

        /// A page of IP access control lists.
        pub async fn list_acls(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<IpAccessControlList>> {
            self.list_lists(account, page).await
        }

        /// Renames an IP access control list.
        pub async fn update_acl(
            &self,
            account: &AccountSid,
            sid: &AclSid,
            name: AclName,
        ) -> Result<IpAccessControlList> {
            self.rename_list(account, sid, name).await
        }

        /// Deletes an IP access control list that no domain maps, with its addresses.
        pub async fn delete_acl(&self, account: &AccountSid, sid: &AclSid) -> Result<()> {
            self.delete_list(account, sid).await
        }

        /// Creates a credential list, unless the account holds as many as it may.
        pub async fn create_credential_list(
            &self,
            account: &AccountSid,
            name: CredentialListName,
        ) -> Result<CredentialList> {
            self.create_list(account, name, CredentialListSid::generate_at)
                .await
        }

        /// One credential list.
        pub async fn get_credential_list(
            &self,
            account: &AccountSid,
            sid: &CredentialListSid,
        ) -> Result<Option<CredentialList>> {
            self.get_list(account, sid).await
        }

        /// A page of credential lists.
        pub async fn list_credential_lists(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<CredentialList>> {
            self.list_lists(account, page).await
        }

        /// Renames a credential list.
        pub async fn update_credential_list(
            &self,
            account: &AccountSid,
            sid: &CredentialListSid,
            name: CredentialListName,
        ) -> Result<CredentialList> {
            self.rename_list(account, sid, name).await
        }

        /// Deletes a credential list that no domain maps, with its credentials.
        pub async fn delete_credential_list(
            &self,
            account: &AccountSid,
            sid: &CredentialListSid,
        ) -> Result<()> {
            self.delete_list(account, sid).await
        }
    }
}
