//! Writes of SIP IP access control lists and their IP addresses. Every network added to or
//! removed from a list reaches recognition, which publishes it to the domains that map the list.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::ip_access_control_lists as acls;
use super::super::{Missing, Result, StoreError};
use super::{count, locked_account, owner_accepts_writes};
use crate::domain::ip_access_control_list::{may_add_address, may_create_list};
use crate::domain::{
    AclName, IpAccessControlList, IpAddress, IpAddressPatch, Limits, MappedList, auth_mapping,
};
use crate::recognition::Change;
use crate::sid::{AccountSid, AclAddressSid, AclSid, SipDomainSid};

/// Creates `list`, unless its account holds as many lists as it may.
pub async fn create(
    tx: &mut dyn Tx,
    list: IpAccessControlList,
    limits: Limits,
) -> Result<Written<IpAccessControlList>> {
    // The account's row stays locked, so two creates cannot both pass the count.
    locked_account(tx, &list.account_sid, Lock::Update)
        .await?
        .accepts_writes()?;
    let held = count(tx, acls::COUNT_OF_ACCOUNT, list.account_sid.as_str()).await?;
    may_create_list(held, &limits)?;
    tx.execute(acls::INSERT, acls::insert(&list)).await?;
    Ok(Written::quiet(list))
}

/// A list of `account`, its row locked as `lock` says; 404 when it is not the account's.
async fn locked(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &AclSid,
    lock: Lock,
) -> Result<IpAccessControlList> {
    let rows = tx
        .query_locked(acls::BY_SID, acls::by_sid(account, sid), lock)
        .await?;
    match rows.into_iter().next() {
        Some(r) => acls::acl(r),
        None => Err(StoreError::NotFound(Missing::Acl(
            account.clone(),
            sid.clone(),
        ))),
    }
}

/// Renames a list of `account`.
pub async fn update(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &AclSid,
    name: AclName,
    now: i64,
) -> Result<Written<IpAccessControlList>> {
    owner_accepts_writes(tx, account).await?;
    let mut list = locked(tx, account, sid, Lock::Update).await?;
    let before = list.clone();
    name.apply(&mut list, now);
    if list != before {
        tx.execute(acls::UPDATE, acls::update(&list)).await?;
    }
    Ok(Written::quiet(list))
}

/// Deletes a list of `account` that no domain maps, with its addresses.
pub async fn delete(tx: &mut dyn Tx, account: &AccountSid, sid: &AclSid) -> Result<Written<()>> {
    locked(tx, account, sid, Lock::Update).await?;
    let mapped_to = tx
        .query(acls::MAPPED_TO, vec![sid.as_str().into()])
        .await?
        .first()
        .map(|r| r.sid(0, SipDomainSid::parse))
        .transpose()?;
    auth_mapping::may_delete_list(&MappedList::Acl(sid.clone()), mapped_to)?;
    let networks = tx
        .query(acls::NETWORKS_OF_LIST, vec![sid.as_str().into()])
        .await?;
    let changes = networks
        .iter()
        .map(|r| Ok(Change::AclNetworkRemoved(sid.to_string(), r.network(0)?)))
        .collect::<Result<Vec<_>>>()?;
    tx.execute(acls::DELETE, vec![sid.as_str().into()]).await?;
    Ok(Written { value: (), changes })
}

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
    let change = Change::AclNetworkAdded(list.sid.to_string(), address.network());
    Ok(Written {
        value: address,
        changes: vec![change],
    })
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
        changes.push(Change::AclNetworkRemoved(
            list.to_string(),
            before.network(),
        ));
        changes.push(Change::AclNetworkAdded(list.to_string(), address.network()));
    }
    Ok(Written {
        value: address,
        changes,
    })
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
    Ok(Written {
        value: (),
        changes: vec![Change::AclNetworkRemoved(
            list.to_string(),
            address.network(),
        )],
    })
}
