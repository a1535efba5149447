//! Writes of a domain's authentication mappings: a list of the domain's account mapped for
//! calls or for registrations, and unmapped again.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::auth_mappings;
use super::super::{Missing, Result, StoreError};
use super::sip_lists::locked;
use super::{owner_accepts_writes, require_domain};
use crate::domain::{Audit, AuthMapping, MappedList, auth_mapping};
use crate::recognition::{AuthKind, Change};
use crate::sid::{AccountSid, SipDomainSid};

/// The friendly name of a list of `account`, its row share-locked (so it cannot be deleted
/// before this transaction ends); 404 when it is not the account's.
async fn list_name(tx: &mut dyn Tx, account: &AccountSid, list: &MappedList) -> Result<String> {
    Ok(match list {
        MappedList::Acl(sid) => locked(tx, account, sid, Lock::Share).await?.friendly_name,
        MappedList::Credentials(sid) => locked(tx, account, sid, Lock::Share).await?.friendly_name,
    })
}

/// Maps `list` to `domain` for `kind`; both must be `account`'s.
pub async fn create(
    tx: &mut dyn Tx,
    account: &AccountSid,
    domain: &SipDomainSid,
    kind: AuthKind,
    list: MappedList,
    now: i64,
) -> Result<Written<AuthMapping>> {
    let recognised = owner_accepts_writes(tx, account).await?;
    require_domain(tx, account, domain).await?;
    let friendly_name = list_name(tx, account, &list).await?;
    let statements = auth_mappings::statements(kind);
    let existing = tx
        .query(
            statements.by_sid,
            auth_mappings::by_sid(account, domain, kind, &list),
        )
        .await?;
    auth_mapping::may_map(domain, &list, !existing.is_empty())?;
    let mapping = AuthMapping {
        domain_sid: domain.clone(),
        kind,
        list,
        account_sid: account.clone(),
        friendly_name,
        date_created: now,
        date_updated: now,
    };
    tx.execute(statements.insert, auth_mappings::insert(&mapping))
        .await?;
    let change = Change::AuthMapped(domain.clone(), kind, mapping.list.clone());
    let audit = Audit::created(&mapping);
    Ok(Written::recognised_if(mapping, recognised, change).audited([audit]))
}

/// Unmaps `list` from `domain` for `kind`.
pub async fn delete(
    tx: &mut dyn Tx,
    account: &AccountSid,
    domain: &SipDomainSid,
    kind: AuthKind,
    list: MappedList,
) -> Result<Written<()>> {
    require_domain(tx, account, domain).await?;
    let statements = auth_mappings::statements(kind);
    let existing = tx
        .query(
            statements.by_sid,
            auth_mappings::by_sid(account, domain, kind, &list),
        )
        .await?;
    let Some(row) = existing.into_iter().next() else {
        return Err(StoreError::NotFound(Missing::AuthMapping(
            account.clone(),
            domain.clone(),
            kind,
            list,
        )));
    };
    let mapping = auth_mappings::mapping(row)?;
    tx.execute(statements.delete, auth_mappings::key(domain, kind, &list))
        .await?;
    let change = Change::AuthUnmapped(domain.clone(), kind, list);
    Ok(Written::changing((), vec![change]).audited([Audit::deleted(&mapping)]))
}

/// The store's operations on a domain's authentication mappings.
mod operations {
    use crate::domain::{AuthMapping, MappedList, SipDomain};
    use crate::recognition::AuthKind;
    use crate::sid::{AccountSid, SipDomainSid};
    use crate::store::backend::Tx;
    use crate::store::engine::{run_read, run_write};
    use crate::store::queries::{auth_mappings, sip_domains};
    use crate::store::{Missing, PageQuery, Result, Store, StoreError, reads};

    /// A SIP domain of `account`; 404 when it is not the account's.
    async fn existing_domain(
        tx: &mut dyn Tx,
        account: &AccountSid,
        sid: &SipDomainSid,
    ) -> Result<SipDomain> {
        let params = sip_domains::by_sid(account, sid);
        reads::one(tx, sip_domains::BY_SID, params, sip_domains::domain)
            .await?
            .ok_or_else(|| StoreError::NotFound(Missing::SipDomain(account.clone(), sid.clone())))
    }

    /// A list mapped to a domain of `account` for `kind`; 404 when the domain is not the
    /// account's.
    async fn find(
        tx: &mut dyn Tx,
        (account, domain, kind, list): (AccountSid, SipDomainSid, AuthKind, MappedList),
    ) -> Result<Option<AuthMapping>> {
        existing_domain(tx, &account, &domain).await?;
        let sql = auth_mappings::statements(kind).by_sid;
        let params = auth_mappings::by_sid(&account, &domain, kind, &list);
        reads::one(tx, sql, params, auth_mappings::mapping).await
    }

    /// A page of the lists mapped to a domain of `account` for `kind`; 404 when the domain is
    /// not the account's.
    async fn page_of(
        tx: &mut dyn Tx,
        (account, domain, kind, page): (AccountSid, SipDomainSid, AuthKind, PageQuery),
    ) -> Result<Vec<AuthMapping>> {
        existing_domain(tx, &account, &domain).await?;
        let query = auth_mappings::list(&domain, kind, &page);
        reads::all(tx, query, auth_mappings::mapping).await
    }

    impl Store {
        /// Maps a list to a domain for `kind`; both must be the account's, and the list not
        /// mapped to the domain for `kind` already.
        pub async fn create_auth_mapping(
            &self,
            account: &AccountSid,
            domain: &SipDomainSid,
            kind: AuthKind,
            list: &MappedList,
        ) -> Result<AuthMapping> {
            let (now, _) = self.now();
            run_write!(self, (account, domain, list), |tx| {
                super::create(tx, &account, &domain, kind, list, now)
            })
        }

        /// A list mapped to a domain for `kind`; 404 when the domain is not the account's.
        pub async fn get_auth_mapping(
            &self,
            account: &AccountSid,
            domain: &SipDomainSid,
            kind: AuthKind,
            list: &MappedList,
        ) -> Result<Option<AuthMapping>> {
            let key = (account.clone(), domain.clone(), kind, list.clone());
            run_read!(self, |tx| find(tx, key))
        }

        /// A page of the lists mapped to a domain for `kind`; 404 when the domain is not the
        /// account's.
        pub async fn list_auth_mappings(
            &self,
            account: &AccountSid,
            domain: &SipDomainSid,
            kind: AuthKind,
            page: &PageQuery,
        ) -> Result<Vec<AuthMapping>> {
            let key = (account.clone(), domain.clone(), kind, page.clone());
            run_read!(self, |tx| page_of(tx, key))
        }

        /// Unmaps a list from a domain for `kind`.
        pub async fn delete_auth_mapping(
            &self,
            account: &AccountSid,
            domain: &SipDomainSid,
            kind: AuthKind,
            list: &MappedList,
        ) -> Result<()> {
            run_write!(self, (account, domain, list), |tx| {
                super::delete(tx, &account, &domain, kind, list)
            })
        }
    }
}
