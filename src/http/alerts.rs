//! Monitor v1 Alerts (Twilio's Debugger): `GET /v1/Alerts` (Twilio's filters `LogLevel`,
//! `StartDate`, `EndDate`, and `PageToken` paging as the Voice v1 lists) and
//! `GET /v1/Alerts/{Sid}`, the caller's account's only. The SDKs call
//! `https://monitor.twilio.com/v1/Alerts`; pointed at sipmap, that is `/v1/Alerts` on the one
//! listener. Alerts are written by storage with each notification of a call (see
//! [`crate::store::resources::alerts`]); nothing here writes.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::calls::filters_of;
use super::extract::{Ctx, Query};
use super::paging::to_value;
use super::wire::ALERTS;
use super::{Answer, AppState, json, v1};
use crate::domain::{Alert, AlertFilter};
use crate::sid::NotificationSid;
use crate::timefmt::V1Date;

/// The routes of alerts.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&ALERTS.list_route(), get(list))
        .route(&ALERTS.instance_route(), get(fetch))
}

/// The wire form of an alert: Twilio's fields, in its schema's order; the instance's four
/// more only on fetch, as Twilio shows them.
#[derive(Serialize)]
struct AlertView<'a> {
    account_sid: &'a str,
    alert_text: &'a str,
    api_version: &'a str,
    date_created: V1Date,
    date_generated: V1Date,
    date_updated: V1Date,
    error_code: String,
    log_level: &'a str,
    more_info: String,
    request_method: Option<&'a str>,
    request_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_variables: Option<Option<&'a str>>,
    resource_sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_body: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_headers: Option<Option<&'a str>>,
    sid: &'a str,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_headers: Option<Option<&'a str>>,
    service_sid: Option<&'a str>,
}

/// Renders `a`; `instance` adds the fields only a fetch shows (sipmap records no response
/// nor request headers: `null`).
fn view<'a>(public: &str, a: &'a Alert, instance: bool) -> AlertView<'a> {
    let only_fetched = |v: Option<&'a str>| instance.then_some(v);
    AlertView {
        account_sid: a.account_sid.as_str(),
        alert_text: &a.alert_text,
        api_version: &a.api_version,
        date_created: V1Date(a.created_ms.div_euclid(1000)),
        date_generated: V1Date(a.generated_ms.div_euclid(1000)),
        date_updated: V1Date(a.created_ms.div_euclid(1000)),
        error_code: a.error_code.to_string(),
        log_level: &a.log_level,
        more_info: format!("https://www.twilio.com/docs/errors/{}", a.error_code),
        request_method: a.request_method.as_deref(),
        request_url: a.request_url.as_deref(),
        request_variables: only_fetched(a.request_variables.as_deref()),
        resource_sid: a.resource_sid.as_deref(),
        response_body: only_fetched(None),
        response_headers: only_fetched(None),
        sid: a.sid.as_str(),
        url: ALERTS.url(public, &a.sid),
        request_headers: only_fetched(None),
        service_sid: None,
    }
}

async fn fetch(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Answer {
    let sid: NotificationSid = v1::path_sid(ALERTS, &raw)?;
    let found = app.store.get_alert(caller.sid(), &sid).await?;
    let alert = v1::found(ALERTS, &sid, found)?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &alert, true)))
}

async fn list(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let filter = AlertFilter::parse(&query)?;
    let (request, page) = v1::page_request::<NotificationSid>(&query)?;
    let rows = app.store.list_alerts(caller.sid(), &filter, &page).await?;
    let public = &app.public_url;
    let page = request.finish(rows, |a| a.sid.as_str());
    let filters = filters_of(&query, &AlertFilter::NAMES);
    let body = page.v1_envelope_filtered(ALERTS.key, &ALERTS.list_url(public), &filters, |a| {
        to_value(&view(public, a, false))
    });
    Ok(json(StatusCode::OK, &body))
}
