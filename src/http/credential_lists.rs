//! API 2010 SIP Credential Lists (`…/SIP/CredentialLists.json`, `…/{Sid}.json`) and their
//! Credentials (`…/CredentialLists/{Sid}/Credentials.json`, `…/{Sid}.json`). No view shows a
//! password.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{AccountPath, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::{SIP_CREDENTIAL_LISTS as LISTS, SIP_CREDENTIALS as CREDENTIALS};
use super::{Answer, AppState, json};
use crate::domain::{
    Credential, CredentialList, CredentialListName, CredentialPatch, NewCredential,
};
use crate::error::ApiError;
use crate::sid::{CredentialListSid, CredentialSid};
use crate::timefmt::V2010Date;

/// The routes of lists and their credentials.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&LISTS.list_route(), get(list).post(create))
        .route(
            &LISTS.instance_route(),
            get(fetch).post(update).delete(remove),
        )
        .route(
            &CREDENTIALS.list_route(),
            get(list_credentials).post(create_credential),
        )
        .route(
            &CREDENTIALS.instance_route(),
            get(fetch_credential)
                .post(update_credential)
                .delete(remove_credential),
        )
}

#[derive(Serialize)]
struct ListUris {
    credentials: String,
}

#[derive(Serialize)]
struct ListView<'a> {
    account_sid: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    friendly_name: &'a str,
    sid: &'a str,
    subresource_uris: ListUris,
    uri: String,
}

fn view(l: &CredentialList) -> ListView<'_> {
    ListView {
        account_sid: l.account_sid.as_str(),
        date_created: V2010Date(l.date_created),
        date_updated: V2010Date(l.date_updated),
        friendly_name: &l.friendly_name,
        sid: l.sid.as_str(),
        subresource_uris: ListUris {
            credentials: CREDENTIALS.list_uri(&l.account_sid, &l.sid),
        },
        uri: LISTS.uri(&l.account_sid, &l.sid),
    }
}

#[derive(Serialize)]
struct CredentialView<'a> {
    sid: &'a str,
    account_sid: &'a str,
    credential_list_sid: &'a str,
    username: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    uri: String,
}

fn credential_view(c: &Credential) -> CredentialView<'_> {
    CredentialView {
        sid: c.sid.as_str(),
        account_sid: c.account_sid.as_str(),
        credential_list_sid: c.list_sid.as_str(),
        username: &c.username,
        date_created: V2010Date(c.date_created),
        date_updated: V2010Date(c.date_updated),
        uri: CREDENTIALS.uri(&c.account_sid, &c.list_sid, &c.sid),
    }
}

async fn create(at: AccountPath, form: Form) -> Answer {
    let name = CredentialListName::parse(&form)?;
    let list = at
        .app
        .store
        .create_credential_list(&at.account, name)
        .await?;
    Ok(json(StatusCode::CREATED, &view(&list)))
}

async fn fetch(at: AccountPath) -> Answer {
    let sid: CredentialListSid = at.instance()?;
    let found = at.app.store.get_credential_list(&at.account, &sid).await?;
    let list = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &view(&list)))
}

async fn list(at: AccountPath, query: Query) -> Answer {
    let request = PageRequest::parse(&query, CredentialListSid::PREFIX)?;
    let query = request.query();
    let rows = at.app.store.list_credential_lists(&at.account, &query);
    let page = request.finish(rows.await?, |l| l.sid.as_str());
    let path = LISTS.list_uri(&at.account);
    let body = page.v2010_envelope(LISTS.key, &path, "", |l| to_value(&view(l)));
    Ok(json(StatusCode::OK, &body))
}

async fn update(at: AccountPath, form: Form) -> Answer {
    let sid: CredentialListSid = at.instance()?;
    let name = CredentialListName::parse(&form)?;
    let list = at.app.store.update_credential_list(&at.account, &sid, name);
    Ok(json(StatusCode::OK, &view(&list.await?)))
}

async fn remove(at: AccountPath) -> Result<StatusCode, ApiError> {
    let sid: CredentialListSid = at.instance()?;
    at.app
        .store
        .delete_credential_list(&at.account, &sid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_credential(at: AccountPath, form: Form) -> Answer {
    let list: CredentialListSid = at.parent()?;
    let new = NewCredential::parse(&form)?;
    let credential = at.app.store.create_credential(&at.account, &list, new);
    Ok(json(
        StatusCode::CREATED,
        &credential_view(&at.here(credential.await)?),
    ))
}

async fn fetch_credential(at: AccountPath) -> Answer {
    let (list, sid): (CredentialListSid, CredentialSid) = (at.parent()?, at.child()?);
    let found = at
        .app
        .store
        .get_credential(&at.account, &list, &sid)
        .await?;
    let credential = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &credential_view(&credential)))
}

async fn list_credentials(at: AccountPath, query: Query) -> Answer {
    let list: CredentialListSid = at.parent()?;
    let request = PageRequest::parse(&query, CredentialSid::PREFIX)?;
    let query = request.query();
    let rows = at.app.store.list_credentials(&at.account, &list, &query);
    let page = request.finish(at.here(rows.await)?, |c| c.sid.as_str());
    let path = CREDENTIALS.list_uri(&at.account, &list);
    let body = page.v2010_envelope(CREDENTIALS.key, &path, "", |c| {
        to_value(&credential_view(c))
    });
    Ok(json(StatusCode::OK, &body))
}

async fn update_credential(at: AccountPath, form: Form) -> Answer {
    let (list, sid): (CredentialListSid, CredentialSid) = (at.parent()?, at.child()?);
    let patch = CredentialPatch::parse(&form)?;
    let credential = at
        .app
        .store
        .update_credential(&at.account, &list, &sid, patch);
    Ok(json(
        StatusCode::OK,
        &credential_view(&at.here(credential.await)?),
    ))
}

async fn remove_credential(at: AccountPath) -> Result<StatusCode, ApiError> {
    let (list, sid): (CredentialListSid, CredentialSid) = (at.parent()?, at.child()?);
    at.app
        .store
        .delete_credential(&at.account, &list, &sid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
