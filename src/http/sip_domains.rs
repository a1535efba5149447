//! API 2010 SIP Domains: `/2010-04-01/Accounts/{AccountSid}/SIP/Domains.json` and
//! `…/SIP/Domains/{Sid}.json`.

use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::accounts::path_account;
use super::extract::{Caller, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::{SIP_DOMAINS, json_sid};
use super::{AppState, json};
use crate::domain::{SipDomain, SipDomainPatch};
use crate::error::ApiError;
use crate::sid::{AccountSid, SipDomainSid};
use crate::timefmt::V2010Date;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&SIP_DOMAINS.list_route(), get(list).post(create))
        .route(
            &SIP_DOMAINS.instance_route(),
            get(fetch).post(update).delete(remove),
        )
}

#[derive(Serialize)]
struct SubresourceUris {
    credential_list_mappings: String,
    ip_access_control_list_mappings: String,
}

/// The wire form of a SIP domain: every field of Twilio's schema.
#[derive(Serialize)]
pub struct SipDomainView<'a> {
    account_sid: &'a str,
    api_version: &'static str,
    auth_type: Option<&'static str>,
    date_created: V2010Date,
    date_updated: V2010Date,
    domain_name: &'a str,
    friendly_name: Option<&'a str>,
    sid: &'a str,
    uri: String,
    voice_fallback_method: &'a str,
    voice_fallback_url: Option<&'a str>,
    voice_method: &'a str,
    voice_status_callback_method: &'a str,
    voice_status_callback_url: Option<&'a str>,
    voice_url: Option<&'a str>,
    subresource_uris: SubresourceUris,
    sip_registration: bool,
    emergency_calling_enabled: bool,
    secure: bool,
    byoc_trunk_sid: Option<&'a str>,
    emergency_caller_sid: Option<&'a str>,
}

/// Renders `d`.
pub fn view(d: &SipDomain) -> SipDomainView<'_> {
    let base = SIP_DOMAINS.base(&d.account_sid, &d.sid);
    SipDomainView {
        account_sid: d.account_sid.as_str(),
        api_version: "2010-04-01",
        // IP ACL and credential list mappings are not modelled, so no auth type is defined.
        auth_type: None,
        date_created: V2010Date(d.date_created),
        date_updated: V2010Date(d.date_updated),
        domain_name: &d.domain_name,
        friendly_name: d.friendly_name.as_deref(),
        sid: d.sid.as_str(),
        uri: format!("{base}.json"),
        voice_fallback_method: &d.voice_fallback_method,
        voice_fallback_url: d.voice_fallback_url.as_deref(),
        voice_method: &d.voice_method,
        voice_status_callback_method: &d.voice_status_callback_method,
        voice_status_callback_url: d.voice_status_callback_url.as_deref(),
        voice_url: d.voice_url.as_deref(),
        subresource_uris: SubresourceUris {
            credential_list_mappings: format!("{base}/CredentialListMappings.json"),
            ip_access_control_list_mappings: format!("{base}/IpAccessControlListMappings.json"),
        },
        sip_registration: d.sip_registration,
        emergency_calling_enabled: d.emergency_calling_enabled,
        secure: d.secure,
        byoc_trunk_sid: d.byoc_trunk_sid.as_deref(),
        emergency_caller_sid: d.emergency_caller_sid.as_deref(),
    }
}

/// The account named by the path and the domain SID of an instance path (`SD….json`).
async fn instance(
    app: &AppState,
    caller: &Caller,
    account: &str,
    file: &str,
    uri: &str,
) -> Result<(AccountSid, SipDomainSid), ApiError> {
    let account = path_account(app, caller, account, uri).await?;
    let sid =
        json_sid(file, SipDomainSid::parse).ok_or_else(|| ApiError::NotFound(uri.to_owned()))?;
    Ok((account, sid))
}

async fn create(
    State(app): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
    form: Form,
) -> Result<Response, ApiError> {
    let account = path_account(&app, &caller, &account, uri.path()).await?;
    let new = SipDomainPatch::parse(&form, &app.domain_suffix, true)?;
    let domain = app.store.create_sip_domain(&account, new).await?;
    Ok(json(StatusCode::CREATED, &view(&domain)))
}

async fn fetch(
    State(app): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let (account, sid) = instance(&app, &caller, &account, &file, uri.path()).await?;
    let domain = app
        .store
        .get_sip_domain(&account, &sid)
        .await?
        .ok_or_else(|| ApiError::NotFound(uri.path().to_owned()))?;
    Ok(json(StatusCode::OK, &view(&domain)))
}

async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
    query: Query,
) -> Result<Response, ApiError> {
    let account = path_account(&app, &caller, &account, uri.path()).await?;
    let request = PageRequest::parse(&query, SipDomainSid::PREFIX)?;
    let rows = app
        .store
        .list_sip_domains(&account, &request.query())
        .await?;
    let page = request.finish(rows, |d| d.sid.as_str());
    let path = SIP_DOMAINS.list_uri(&account);
    Ok(json(
        StatusCode::OK,
        &page.v2010_envelope(SIP_DOMAINS.key, &path, "", |d| to_value(&view(d))),
    ))
}

async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    form: Form,
) -> Result<Response, ApiError> {
    let (account, sid) = instance(&app, &caller, &account, &file, uri.path()).await?;
    let patch = SipDomainPatch::parse(&form, &app.domain_suffix, false)?;
    let domain = app.store.update_sip_domain(&account, &sid, patch).await?;
    Ok(json(StatusCode::OK, &view(&domain)))
}

async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
) -> Result<StatusCode, ApiError> {
    let (account, sid) = instance(&app, &caller, &account, &file, uri.path()).await?;
    app.store.delete_sip_domain(&account, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
