//! Voice v1 Source IP Mappings: `/v1/SourceIpMappings` and `/v1/SourceIpMappings/{Sid}`.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{Ctx, Form, Query};
use super::paging::to_value;
use super::wire::SOURCE_IP_MAPPINGS;
use super::{Answer, AppState, json, v1};
use crate::domain::Mapping;
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

async fn create(Ctx { app, caller }: Ctx, form: Form) -> Answer {
    let record: IpRecordSid = v1::sid_param(&form, "IpRecordSid")?;
    let domain: SipDomainSid = v1::sid_param(&form, "SipDomainSid")?;
    let mapping = app.store.create_mapping(caller.sid(), &record, &domain);
    Ok(json(
        StatusCode::CREATED,
        &view(&app.public_url, &mapping.await?),
    ))
}

async fn fetch(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Answer {
    let sid: MappingSid = v1::path_sid(SOURCE_IP_MAPPINGS, &raw)?;
    let found = app.store.get_mapping(caller.sid(), &sid).await?;
    let mapping = v1::found(SOURCE_IP_MAPPINGS, &sid, found)?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &mapping)))
}

async fn list(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let (request, page) = v1::page_request::<MappingSid>(&query)?;
    let rows = app.store.list_mappings(caller.sid(), &page).await?;
    let public = &app.public_url;
    let wire = SOURCE_IP_MAPPINGS;
    Ok(v1::list(
        wire,
        public,
        &request,
        rows,
        |r| r.sid.as_str(),
        |m| to_value(&view(public, m)),
    ))
}

async fn update(Ctx { app, caller }: Ctx, Path(raw): Path<String>, form: Form) -> Answer {
    let sid: MappingSid = v1::path_sid(SOURCE_IP_MAPPINGS, &raw)?;
    let domain: SipDomainSid = v1::sid_param(&form, "SipDomainSid")?;
    let mapping = app.store.update_mapping(caller.sid(), &sid, &domain);
    Ok(json(
        StatusCode::OK,
        &view(&app.public_url, &mapping.await?),
    ))
}

async fn remove(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let sid: MappingSid = v1::path_sid(SOURCE_IP_MAPPINGS, &raw)?;
    app.store.delete_mapping(caller.sid(), &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
