//! Voice v1 IP Records: `/v1/IpRecords` and `/v1/IpRecords/{Sid}`.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{Ctx, Form, Query};
use super::paging::to_value;
use super::wire::IP_RECORDS;
use super::{Answer, AppState, json, v1};
use crate::domain::{IpRecord, IpRecordPatch, NewIpRecord};
use crate::error::ApiError;
use crate::sid::IpRecordSid;
use crate::timefmt::V1Date;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&IP_RECORDS.list_route(), get(list).post(create))
        .route(
            &IP_RECORDS.instance_route(),
            get(fetch).post(update).delete(remove),
        )
}

/// The wire form of an IP record.
#[derive(Serialize)]
pub struct IpRecordView<'a> {
    account_sid: &'a str,
    sid: &'a str,
    friendly_name: Option<&'a str>,
    ip_address: String,
    cidr_prefix_length: u8,
    date_created: V1Date,
    date_updated: V1Date,
    url: String,
}

/// Renders `r` with absolute URLs on `public_url`.
pub fn view<'a>(public_url: &str, r: &'a IpRecord) -> IpRecordView<'a> {
    IpRecordView {
        account_sid: r.account_sid.as_str(),
        sid: r.sid.as_str(),
        friendly_name: r.friendly_name.as_deref(),
        ip_address: r.ip_address.to_string(),
        cidr_prefix_length: r.cidr_prefix_length,
        date_created: V1Date(r.date_created),
        date_updated: V1Date(r.date_updated),
        url: IP_RECORDS.url(public_url, &r.sid),
    }
}

async fn create(Ctx { app, caller }: Ctx, form: Form) -> Answer {
    let new = NewIpRecord::parse(&form)?;
    let record = app.store.create_ip_record(caller.sid(), new).await?;
    Ok(json(StatusCode::CREATED, &view(&app.public_url, &record)))
}

async fn fetch(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Answer {
    let sid: IpRecordSid = v1::path_sid(IP_RECORDS, &raw)?;
    let found = app.store.get_ip_record(caller.sid(), &sid).await?;
    let record = v1::found(IP_RECORDS, &sid, found)?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &record)))
}

async fn list(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let (request, page) = v1::page_request::<IpRecordSid>(&query)?;
    let rows = app.store.list_ip_records(caller.sid(), &page).await?;
    let public = &app.public_url;
    Ok(v1::list(
        IP_RECORDS,
        public,
        &request,
        rows,
        |r| r.sid.as_str(),
        |r| to_value(&view(public, r)),
    ))
}

async fn update(Ctx { app, caller }: Ctx, Path(raw): Path<String>, form: Form) -> Answer {
    let sid: IpRecordSid = v1::path_sid(IP_RECORDS, &raw)?;
    let patch = IpRecordPatch::parse(&form)?;
    let record = app.store.update_ip_record(caller.sid(), &sid, patch);
    Ok(json(StatusCode::OK, &view(&app.public_url, &record.await?)))
}

async fn remove(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let sid: IpRecordSid = v1::path_sid(IP_RECORDS, &raw)?;
    app.store.delete_ip_record(caller.sid(), &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
