//! Voice v1 IP Records: `/v1/IpRecords` and `/v1/IpRecords/{Sid}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::extract::{Caller, Form, Query};
use super::paging::{PageRequest, to_value};
use super::{AppState, json};
use crate::domain::{IpRecord, IpRecordPatch, NewIpRecord};
use crate::error::ApiError;
use crate::sid::IpRecordSid;
use crate::timefmt;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/IpRecords", get(list).post(create))
        .route(
            "/v1/IpRecords/{sid}",
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
    date_created: String,
    date_updated: String,
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
        date_created: timefmt::iso8601(r.date_created),
        date_updated: timefmt::iso8601(r.date_updated),
        url: format!("{public_url}/v1/IpRecords/{}", r.sid),
    }
}

fn not_found(sid: &str) -> ApiError {
    ApiError::NotFound(format!("/IpRecords/{sid}"))
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
    let base = format!("{}/v1/IpRecords", app.public_url);
    let body = page.v1_envelope("ip_records", &base, |r| to_value(&view(&app.public_url, r)));
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
