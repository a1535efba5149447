//! API 2010 SIP Domains: `/2010-04-01/Accounts/{AccountSid}/SIP/Domains.json` and
//! `…/SIP/Domains/{Sid}.json`.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{AccountPath, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::SIP_DOMAINS;
use super::{Answer, AppState, json};
use crate::domain::{SipDomain, SipDomainPatch};
use crate::error::ApiError;
use crate::sid::SipDomainSid;
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
        auth_type: d.calls_auth.auth_type(),
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

async fn create(at: AccountPath, form: Form) -> Answer {
    let new = SipDomainPatch::parse(&form, &at.app.domain_suffix, true)?;
    let domain = at.app.store.create_sip_domain(&at.account, new).await?;
    Ok(json(StatusCode::CREATED, &view(&domain)))
}

async fn fetch(at: AccountPath) -> Answer {
    let sid: SipDomainSid = at.instance()?;
    let found = at.app.store.get_sip_domain(&at.account, &sid).await?;
    let domain = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &view(&domain)))
}

async fn list(at: AccountPath, query: Query) -> Answer {
    let request = PageRequest::parse(&query, SipDomainSid::PREFIX)?;
    let rows = at
        .app
        .store
        .list_sip_domains(&at.account, &request.query())
        .await?;
    let page = request.finish(rows, |d| d.sid.as_str());
    let path = SIP_DOMAINS.list_uri(&at.account);
    let body = page.v2010_envelope(SIP_DOMAINS.key, &path, "", |d| to_value(&view(d)));
    Ok(json(StatusCode::OK, &body))
}

async fn update(at: AccountPath, form: Form) -> Answer {
    let sid: SipDomainSid = at.instance()?;
    let patch = SipDomainPatch::parse(&form, &at.app.domain_suffix, false)?;
    let domain = at.app.store.update_sip_domain(&at.account, &sid, patch);
    Ok(json(StatusCode::OK, &view(&domain.await?)))
}

async fn remove(at: AccountPath) -> Result<StatusCode, ApiError> {
    let sid: SipDomainSid = at.instance()?;
    at.app.store.delete_sip_domain(&at.account, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
