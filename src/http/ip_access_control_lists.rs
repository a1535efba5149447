//! API 2010 SIP IP Access Control Lists (`…/SIP/IpAccessControlLists.json`, `…/{Sid}.json`) and
//! their IP Addresses (`…/IpAccessControlLists/{Sid}/IpAddresses.json`, `…/{Sid}.json`).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{AccountPath, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::{SIP_IP_ACCESS_CONTROL_LISTS as LISTS, SIP_IP_ADDRESSES as ADDRESSES};
use super::{Answer, AppState, json};
use crate::domain::{AclName, IpAccessControlList, IpAddress, IpAddressPatch};
use crate::error::ApiError;
use crate::sid::{AclAddressSid, AclSid};
use crate::timefmt::V2010Date;

/// The routes of lists and their addresses.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&LISTS.list_route(), get(list).post(create))
        .route(
            &LISTS.instance_route(),
            get(fetch).post(update).delete(remove),
        )
        .route(
            &ADDRESSES.list_route(),
            get(list_addresses).post(create_address),
        )
        .route(
            &ADDRESSES.instance_route(),
            get(fetch_address)
                .post(update_address)
                .delete(remove_address),
        )
}

#[derive(Serialize)]
struct ListUris {
    ip_addresses: String,
}

#[derive(Serialize)]
struct ListView<'a> {
    sid: &'a str,
    account_sid: &'a str,
    friendly_name: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    subresource_uris: ListUris,
    uri: String,
}

fn view(l: &IpAccessControlList) -> ListView<'_> {
    ListView {
        sid: l.sid.as_str(),
        account_sid: l.account_sid.as_str(),
        friendly_name: &l.friendly_name,
        date_created: V2010Date(l.date_created),
        date_updated: V2010Date(l.date_updated),
        subresource_uris: ListUris {
            ip_addresses: ADDRESSES.list_uri(&l.account_sid, &l.sid),
        },
        uri: LISTS.uri(&l.account_sid, &l.sid),
    }
}

#[derive(Serialize)]
struct AddressView<'a> {
    sid: &'a str,
    account_sid: &'a str,
    friendly_name: &'a str,
    ip_address: String,
    cidr_prefix_length: u8,
    ip_access_control_list_sid: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    uri: String,
}

fn address_view(a: &IpAddress) -> AddressView<'_> {
    AddressView {
        sid: a.sid.as_str(),
        account_sid: a.account_sid.as_str(),
        friendly_name: &a.friendly_name,
        ip_address: a.ip_address.to_string(),
        cidr_prefix_length: a.cidr_prefix_length,
        ip_access_control_list_sid: a.list_sid.as_str(),
        date_created: V2010Date(a.date_created),
        date_updated: V2010Date(a.date_updated),
        uri: ADDRESSES.uri(&a.account_sid, &a.list_sid, &a.sid),
    }
}

async fn create(at: AccountPath, form: Form) -> Answer {
    let name = AclName::parse(&form)?;
    let list = at.app.store.create_acl(&at.account, name).await?;
    Ok(json(StatusCode::CREATED, &view(&list)))
}

async fn fetch(at: AccountPath) -> Answer {
    let sid: AclSid = at.instance()?;
    let found = at.app.store.get_acl(&at.account, &sid).await?;
    let list = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &view(&list)))
}

async fn list(at: AccountPath, query: Query) -> Answer {
    let request = PageRequest::parse(&query, AclSid::PREFIX)?;
    let rows = at.app.store.list_acls(&at.account, &request.query()).await;
    let page = request.finish(rows?, |l| l.sid.as_str());
    let path = LISTS.list_uri(&at.account);
    let body = page.v2010_envelope(LISTS.key, &path, "", |l| to_value(&view(l)));
    Ok(json(StatusCode::OK, &body))
}

async fn update(at: AccountPath, form: Form) -> Answer {
    let sid: AclSid = at.instance()?;
    let name = AclName::parse(&form)?;
    let list = at.app.store.update_acl(&at.account, &sid, name).await?;
    Ok(json(StatusCode::OK, &view(&list)))
}

async fn remove(at: AccountPath) -> Result<StatusCode, ApiError> {
    let sid: AclSid = at.instance()?;
    at.app.store.delete_acl(&at.account, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_address(at: AccountPath, form: Form) -> Answer {
    let list: AclSid = at.parent()?;
    let new = IpAddressPatch::parse(&form, true)?;
    let address = at.app.store.create_ip_address(&at.account, &list, new);
    Ok(json(
        StatusCode::CREATED,
        &address_view(&at.here(address.await)?),
    ))
}

async fn fetch_address(at: AccountPath) -> Answer {
    let (list, sid): (AclSid, AclAddressSid) = (at.parent()?, at.child()?);
    let found = at
        .app
        .store
        .get_ip_address(&at.account, &list, &sid)
        .await?;
    let address = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &address_view(&address)))
}

async fn list_addresses(at: AccountPath, query: Query) -> Answer {
    let list: AclSid = at.parent()?;
    let request = PageRequest::parse(&query, AclAddressSid::PREFIX)?;
    let query = request.query();
    let rows = at.app.store.list_ip_addresses(&at.account, &list, &query);
    let page = request.finish(at.here(rows.await)?, |a| a.sid.as_str());
    let path = ADDRESSES.list_uri(&at.account, &list);
    let body = page.v2010_envelope(ADDRESSES.key, &path, "", |a| to_value(&address_view(a)));
    Ok(json(StatusCode::OK, &body))
}

async fn update_address(at: AccountPath, form: Form) -> Answer {
    let (list, sid): (AclSid, AclAddressSid) = (at.parent()?, at.child()?);
    let patch = IpAddressPatch::parse(&form, false)?;
    let address = at
        .app
        .store
        .update_ip_address(&at.account, &list, &sid, patch);
    Ok(json(
        StatusCode::OK,
        &address_view(&at.here(address.await)?),
    ))
}

async fn remove_address(at: AccountPath) -> Result<StatusCode, ApiError> {
    let (list, sid): (AclSid, AclAddressSid) = (at.parent()?, at.child()?);
    at.app
        .store
        .delete_ip_address(&at.account, &list, &sid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
