//! Voice v1 IP Records: `/v1/IpRecords` and `/v1/IpRecords/{Sid}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::extract::{Caller, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::IP_RECORDS;
use super::{AppState, json};
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

fn not_found(sid: &str) -> ApiError {
    ApiError::NotFound(IP_RECORDS.missing(&sid))
}

/// Validates a path SID, answering 404 for one that cannot exist.
fn path_sid(sid: &str) -> Result<IpRecordSid, ApiError> {
    IpRecordSid::parse(sid).ok_or_else(|| not_found(sid))
}

async fn create(
    State(app): State<AppState>,
    caller: Caller,
    form: Form,
) -> Result<Response, ApiError> {
    let new = NewIpRecord::parse(&form)?;
    let record = app.store.create_ip_record(caller.sid(), new).await?;
    Ok(json(StatusCode::CREATED, &view(&app.public_url, &record)))
}

async fn fetch(
    State(app): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Response, ApiError> {
    let sid = path_sid(&sid)?;
    let record = app
        .store
        .get_ip_record(caller.sid(), &sid)
        .await?
        .ok_or_else(|| not_found(sid.as_str()))?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &record)))
}

async fn list(
    State(app): State<AppState>,
    caller: Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let request = PageRequest::parse(&query, IpRecordSid::PREFIX)?;
    let rows = app
        .store
        .list_ip_records(caller.sid(), &request.query())
        .await?;
    let page = request.finish(rows, |r| r.sid.as_str());
    let base = IP_RECORDS.list_url(&app.public_url);
    let body = page.v1_envelope(IP_RECORDS.key, &base, |r| {
        to_value(&view(&app.public_url, r))
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
    let patch = IpRecordPatch::parse(&form)?;
    let record = app
        .store
        .update_ip_record(caller.sid(), &sid, patch)
        .await?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &record)))
}

async fn remove(
    State(app): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = path_sid(&sid)?;
    app.store.delete_ip_record(caller.sid(), &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
