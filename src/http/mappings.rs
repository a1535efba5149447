//! Voice v1 Source IP Mappings: `/v1/SourceIpMappings` and `/v1/SourceIpMappings/{Sid}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::extract::{Caller, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::SOURCE_IP_MAPPINGS;
use super::{AppState, json};
use crate::domain::{Mapping, Params, required};
use crate::error::ApiError;
use crate::sid::{IpRecordSid, MappingSid, SipDomainSid};
use crate::timefmt::V1Date;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&SOURCE_IP_MAPPINGS.list_route(), get(list).post(create))
        .route(
            &SOURCE_IP_MAPPINGS.instance_route(),
            get(fetch).post(update).delete(remove),
        )
}

/// The wire form of a mapping: no `account_sid`, as in Twilio's schema.
#[derive(Serialize)]
pub struct MappingView<'a> {
    sid: &'a str,
    ip_record_sid: &'a str,
    sip_domain_sid: &'a str,
    date_created: V1Date,
    date_updated: V1Date,
    url: String,
}

/// Renders `m` with absolute URLs on `public_url`.
pub fn view<'a>(public_url: &str, m: &'a Mapping) -> MappingView<'a> {
    MappingView {
        sid: m.sid.as_str(),
        ip_record_sid: m.ip_record_sid.as_str(),
        sip_domain_sid: m.sip_domain_sid.as_str(),
        date_created: V1Date(m.date_created),
        date_updated: V1Date(m.date_updated),
        url: SOURCE_IP_MAPPINGS.url(public_url, &m.sid),
    }
}

fn not_found(sid: &str) -> ApiError {
    ApiError::NotFound(SOURCE_IP_MAPPINGS.missing(&sid))
}

fn path_sid(sid: &str) -> Result<MappingSid, ApiError> {
    MappingSid::parse(sid).ok_or_else(|| not_found(sid))
}

/// A required SID parameter of the given kind.
fn sid_param<T>(
    form: &dyn Params,
    name: &'static str,
    prefix: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, ApiError> {
    let raw = required(form, name)?;
    parse(raw).ok_or_else(|| {
        ApiError::invalid(
            name,
            format!("{raw:?} is not a {prefix} SID ({prefix} followed by 32 hex digits)"),
        )
    })
}

async fn create(
    State(app): State<AppState>,
    caller: Caller,
    form: Form,
) -> Result<Response, ApiError> {
    let record = sid_param(
        &form,
        "IpRecordSid",
        IpRecordSid::PREFIX,
        IpRecordSid::parse,
    )?;
    let domain = sid_param(
        &form,
        "SipDomainSid",
        SipDomainSid::PREFIX,
        SipDomainSid::parse,
    )?;
    let mapping = app
        .store
        .create_mapping(caller.sid(), &record, &domain)
        .await?;
    Ok(json(StatusCode::CREATED, &view(&app.public_url, &mapping)))
}

async fn fetch(
    State(app): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Response, ApiError> {
    let sid = path_sid(&sid)?;
    let mapping = app
        .store
        .get_mapping(caller.sid(), &sid)
        .await?
        .ok_or_else(|| not_found(sid.as_str()))?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &mapping)))
}

async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let request = PageRequest::parse(&query, MappingSid::PREFIX)?;
    let rows = app
        .store
        .list_mappings(caller.sid(), &request.query())
        .await?;
    let page = request.finish(rows, |m| m.sid.as_str());
    let base = SOURCE_IP_MAPPINGS.list_url(&app.public_url);
    let body = page.v1_envelope(SOURCE_IP_MAPPINGS.key, &base, |m| {
        to_value(&view(&app.public_url, m))
    });
    Ok(json(StatusCode::OK, &body))
}

async fn update(
    State(app): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    form: Form,
) -> Result<Response, ApiError> {
    let sid = path_sid(&sid)?;
    let domain = sid_param(
        &form,
        "SipDomainSid",
        SipDomainSid::PREFIX,
        SipDomainSid::parse,
    )?;
    let mapping = app
        .store
        .update_mapping(caller.sid(), &sid, &domain)
        .await?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &mapping)))
}

async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = path_sid(&sid)?;
    app.store.delete_mapping(caller.sid(), &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
