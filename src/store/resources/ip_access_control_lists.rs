//! Writes of the IP addresses of SIP IP access control lists (the lists' own are
//! [`super::sip_lists`]). Every network added to or removed from a list reaches recognition,
//! which publishes it to the domains that map the list.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::ip_access_control_lists as acls;
use super::super::{Missing, Result, StoreError};
use super::sip_lists::locked;
use super::{count, owner_accepts_writes};
use crate::domain::ip_access_control_list::may_add_address;
use crate::domain::{Audit, IpAddress, IpAddressPatch, Limits};
use crate::recognition::Change;
use crate::sid::{AccountSid, AclAddressSid, AclSid};

/// Adds `address` to its list (which must be `account`'s), unless the list is full.
pub async fn create_address(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &AclSid,
    address: IpAddressPatch,
    sid: AclAddressSid,
    now: i64,
    limits: Limits,
) -> Result<Written<IpAddress>> {
    owner_accepts_writes(tx, account).await?;
    // The list's row stays locked, so two adds cannot both pass the count.
    let list = locked(tx, account, list, Lock::Update).await?;
    let held = count(tx, acls::ADDRESS_COUNT, list.sid.as_str()).await?;
    may_add_address(held, &limits)?;
    let address = address.into_address(sid, &list, now);
    tx.execute(acls::ADDRESS_INSERT, acls::address_insert(&address))
        .await?;
    let change = Change::AclNetworkAdded(list.sid.clone(), address.network());
    let audit = Audit::created(&address);
    Ok(Written::changing(address, vec![change]).audited([audit]))
}

async fn locked_address(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &AclSid,
    sid: &AclAddressSid,
) -> Result<IpAddress> {
    let params = acls::address_by_sid(account, list, sid);
    let rows = tx
        .query_locked(acls::ADDRESS_BY_SID, params, Lock::Update)
        .await?;
    match rows.into_iter().next() {
        Some(r) => acls::address(r),
        None => Err(StoreError::NotFound(Missing::AclAddress(
            account.clone(),
            list.clone(),
            sid.clone(),
        ))),
    }
}

/// Applies `patch` to an address of a list of `account`.
pub async fn update_address(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &AclSid,
    sid: &AclAddressSid,
    patch: IpAddressPatch,
    now: i64,
) -> Result<Written<IpAddress>> {
    owner_accepts_writes(tx, account).await?;
    let mut address = locked_address(tx, account, list, sid).await?;
    let before = address.clone();
    patch.apply(&mut address, now);
    if address == before {
        return Ok(Written::quiet(address));
    }
    tx.execute(acls::ADDRESS_UPDATE, acls::address_update(&address))
        .await?;
    let mut changes = Vec::new();
    if address.network() != before.network() {
        changes.push(Change::AclNetworkRemoved(list.clone(), before.network()));
        changes.push(Change::AclNetworkAdded(list.clone(), address.network()));
    }
    let audit = Audit::updated(&before, &address);
    Ok(Written::changing(address, changes).audited(audit))
}

/// Deletes an address of a list of `account`.
pub async fn delete_address(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &AclSid,
    sid: &AclAddressSid,
) -> Result<Written<()>> {
    let address = locked_address(tx, account, list, sid).await?;
    tx.execute(acls::ADDRESS_DELETE, vec![sid.as_str().into()])
        .await?;
    let change = Change::AclNetworkRemoved(list.clone(), address.network());
    Ok(Written::changing((), vec![change]).audited([Audit::deleted(&address)]))
}

/// The store's operations on the IP addresses of IP access control lists.
mod operations {
    use crate::domain::{IpAddress, IpAddressPatch};
    use crate::sid::{AccountSid, AclAddressSid, AclSid};
    use crate::store::engine::{run_read, run_write};
    use crate::store::queries::ip_access_control_lists as acls;
    use crate::store::resources::sip_lists::list_contents;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// Adds an IP address to a list, unless the list is full.
        pub async fn create_ip_address(
            &self,
            account: &AccountSid,
            list: &AclSid,
            new: IpAddressPatch,
        ) -> Result<IpAddress> {
            let (now, millis) = self.now();
            let sid = AclAddressSid::generate_at(millis);
            let limits = &self.limits;
            run_write!(self, (account, list, new, sid, limits), |tx| {
                super::create_address(tx, &account, &list, new, sid, now, limits)
            })
        }

        /// One IP address of a list.
        pub async fn get_ip_address(
            &self,
            account: &AccountSid,
            list: &AclSid,
            sid: &AclAddressSid,
        ) -> Result<Option<IpAddress>> {
            let params = acls::address_by_sid(account, list, sid);
            self.read_one(acls::ADDRESS_BY_SID, params, acls::address)
                .await
        }

        /// A page of a list's IP addresses; 404 when the list is not the account's.
        pub async fn list_ip_addresses(
            &self,
            account: &AccountSid,
            list: &AclSid,
            page: &PageQuery,
        ) -> Result<Vec<IpAddress>> {
            let query = acls::address_list(list, page);
            run_read!(self, (account, list), |tx| list_contents(
                tx,
                &account,
                &list,
                query,
                acls::address
            ))
        }

        /// Changes an IP address of a list.
        pub async fn update_ip_address(
            &self,
            account: &AccountSid,
            list: &AclSid,
            sid: &AclAddressSid,
            patch: IpAddressPatch,
        ) -> Result<IpAddress> {
            let (now, _) = self.now();
            run_write!(self, (account, list, sid, patch), |tx| {
                super::update_address(tx, &account, &list, &sid, patch, now)
            })
        }

        /// Deletes an IP address of a list.
        pub async fn delete_ip_address(
            &self,
            account: &AccountSid,
            list: &AclSid,
            sid: &AclAddressSid,
        ) -> Result<()> {
            run_write!(self, (account, list, sid), |tx| {
                super::delete_address(tx, &account, &list, &sid)
            })
        }
    }
}
