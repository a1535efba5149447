//! What a call recorded, as API 2010 shows it: its Events
//! (`…/Calls/{CallSid}/Events.json`, each HTTP request sipmap made for the call and its
//! response) and its Notifications (`…/Calls/{CallSid}/Notifications.json` and `/{Sid}.json`;
//! and the account's, of all its calls: `…/Notifications.json` and `/{Sid}.json`). A call of
//! another account, like a call that does not exist, is the path's 404.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value};

use super::calls::{date, filters_of};
use super::extract::{AccountPath, Query};
use super::paging::{PageRequest, to_value};
use super::wire::{CALL_EVENTS, CALL_NOTIFICATIONS, NOTIFICATIONS};
use super::{Answer, AppState, json};
use crate::domain::{CallEvent, Notification, NotificationFilter};
use crate::sid::{CallSid, NotificationSid};
use crate::timefmt::V2010Date;

/// The prefix of an event's key within its call (events have no SID; the key is the page
/// cursor).
const EVENT_KEY: &str = "EV";

/// Routes of these resources.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&CALL_EVENTS.list_route(), get(list_events))
        .route(&CALL_NOTIFICATIONS.list_route(), get(list_of_call))
        .route(&CALL_NOTIFICATIONS.instance_route(), get(fetch_of_call))
        .route(&NOTIFICATIONS.list_route(), get(list_of_account))
        .route(&NOTIFICATIONS.instance_route(), get(fetch_of_account))
}

#[derive(Serialize)]
struct EventRequest<'a> {
    method: &'a str,
    url: &'a str,
    parameters: Map<String, Value>,
}

#[derive(Serialize)]
struct EventResponse<'a> {
    response_code: Option<u16>,
    request_duration: u64,
    content_type: Option<&'a str>,
    response_body: &'a str,
    date_created: V2010Date,
}

/// The wire form of an event: Twilio's `request` and `response` objects.
#[derive(Serialize)]
pub struct EventView<'a> {
    request: EventRequest<'a>,
    response: EventResponse<'a>,
}

/// Renders `e`.
pub fn event_view(e: &CallEvent) -> EventView<'_> {
    let parameters = e
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let content_type = e
        .response_headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str());
    let took = i64::try_from(e.duration_ms).unwrap_or(i64::MAX);
    EventView {
        request: EventRequest {
            method: &e.method,
            url: &e.url,
            parameters,
        },
        response: EventResponse {
            response_code: e.response_status,
            request_duration: e.duration_ms,
            content_type,
            response_body: &e.response_body,
            date_created: date(e.started_ms.saturating_add(took)),
        },
    }
}

async fn list_events(at: AccountPath, query: Query) -> Answer {
    let call: CallSid = at.parent()?;
    let request = PageRequest::parse(&query, EVENT_KEY)?;
    let query = request.query();
    let rows = at.app.store.list_call_events(&at.account, &call, &query);
    let page = request.finish(at.here(rows.await)?, |(key, _)| key.as_str());
    let path = CALL_EVENTS.list_uri(&at.account, &call);
    let body = page.v2010_envelope(CALL_EVENTS.key, &path, "", |(_, e)| {
        to_value(&event_view(e))
    });
    Ok(json(StatusCode::OK, &body))
}

/// The wire form of a notification; an instance adds the request's variables and the
/// response's body and headers (empty: a notification's response is in the call's events).
#[derive(Serialize)]
pub struct NotificationView<'a> {
    account_sid: &'a str,
    api_version: &'static str,
    call_sid: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    error_code: String,
    log: &'static str,
    message_date: V2010Date,
    message_text: &'a str,
    more_info: String,
    request_method: Option<&'a str>,
    request_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_variables: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_body: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_headers: Option<&'static str>,
    sid: &'a str,
    uri: String,
}

/// Renders `n`, its URI under its call's path or the account's, with the instance's fields
/// when `instance`.
pub fn notification_view(n: &Notification, of_call: bool, instance: bool) -> NotificationView<'_> {
    let uri = if of_call {
        CALL_NOTIFICATIONS.uri(&n.account_sid, &n.call_sid, &n.sid)
    } else {
        NOTIFICATIONS.uri(&n.account_sid, &n.sid)
    };
    NotificationView {
        account_sid: n.account_sid.as_str(),
        api_version: "2010-04-01",
        call_sid: n.call_sid.as_str(),
        date_created: date(n.created_ms),
        date_updated: date(n.created_ms),
        error_code: n.error_code.to_string(),
        log: n.log.as_str(),
        message_date: date(n.created_ms),
        message_text: &n.message_text,
        more_info: format!("https://www.twilio.com/docs/errors/{}", n.error_code),
        request_method: n.request_method.as_deref(),
        request_url: n.request_url.as_deref().unwrap_or(""),
        request_variables: instance.then_some(n.request_variables.as_str()),
        response_body: instance.then_some(""),
        response_headers: instance.then_some(""),
        sid: n.sid.as_str(),
        uri,
    }
}

async fn list_of_call(at: AccountPath, query: Query) -> Answer {
    let call: CallSid = at.parent()?;
    let filter = NotificationFilter::parse(&query)?;
    let request = PageRequest::parse(&query, NotificationSid::PREFIX)?;
    let page_query = request.query();
    let rows = at
        .app
        .store
        .list_call_notifications(&at.account, &call, &filter, &page_query);
    let page = request.finish(at.here(rows.await)?, |n| n.sid.as_str());
    let path = CALL_NOTIFICATIONS.list_uri(&at.account, &call);
    let filters = filters_of(&query, &NotificationFilter::NAMES);
    let body = page.v2010_envelope(CALL_NOTIFICATIONS.key, &path, &filters, |n| {
        to_value(&notification_view(n, true, false))
    });
    Ok(json(StatusCode::OK, &body))
}

async fn fetch_of_call(at: AccountPath) -> Answer {
    let call: CallSid = at.parent()?;
    let sid: NotificationSid = at.child()?;
    let found = at
        .app
        .store
        .get_notification(&at.account, Some(&call), &sid)
        .await?;
    let n = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &notification_view(&n, true, true)))
}

async fn list_of_account(at: AccountPath, query: Query) -> Answer {
    let filter = NotificationFilter::parse(&query)?;
    let request = PageRequest::parse(&query, NotificationSid::PREFIX)?;
    let page_query = request.query();
    let rows = at
        .app
        .store
        .list_notifications(&at.account, &filter, &page_query);
    let page = request.finish(rows.await?, |n| n.sid.as_str());
    let path = NOTIFICATIONS.list_uri(&at.account);
    let filters = filters_of(&query, &NotificationFilter::NAMES);
    let body = page.v2010_envelope(NOTIFICATIONS.key, &path, &filters, |n| {
        to_value(&notification_view(n, false, false))
    });
    Ok(json(StatusCode::OK, &body))
}

async fn fetch_of_account(at: AccountPath) -> Answer {
    let sid: NotificationSid = at.instance()?;
    let found = at
        .app
        .store
        .get_notification(&at.account, None, &sid)
        .await?;
    let n = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &notification_view(&n, false, true)))
}
