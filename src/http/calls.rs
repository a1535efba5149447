//! API 2010 Calls: `/2010-04-01/Accounts/{AccountSid}/Calls.json` (list, with Twilio's
//! filters) and `…/Calls/{Sid}.json` (fetch, update of a live call, delete of an ended one).
//! Calls are made by the call runtime, not by the API: `POST …/Calls.json` (an outbound API
//! call) is not routed, so it gets the answer of any method a path does not serve (405, 20004).
//! An update becomes a [`Command`] given to the node's [`crate::calls::Control`].

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use url::Url;

use super::extract::{AccountPath, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::{CALL_EVENTS, CALL_NOTIFICATIONS, CALLS};
use super::{Answer, json};
use crate::calls::{Command, Delivery};
use crate::domain::{Audit, Call, CallFilter, CallStatus, CallUpdate, Params, Reason, Refusal};
use crate::error::ApiError;
use crate::sid::CallSid;
use crate::timefmt::V2010Date;
use crate::voice::twiml::Method;

/// Routes of this resource.
pub fn router() -> Router<super::AppState> {
    Router::new().route(&CALLS.list_route(), get(list)).route(
        &CALLS.instance_route(),
        get(fetch).post(update).delete(remove),
    )
}

/// `subresource_uris`: Twilio's keys, all of them (sipmap serves `events` and
/// `notifications`; the others name resources it does not have, as their 404 says).
#[derive(Serialize)]
struct SubresourceUris {
    notifications: String,
    recordings: String,
    payments: String,
    events: String,
    siprec: String,
    streams: String,
    transcriptions: String,
    user_defined_message_subscriptions: String,
    user_defined_messages: String,
}

impl SubresourceUris {
    fn of(c: &Call) -> Self {
        let base = CALLS.base(&c.account_sid, &c.sid);
        let at = |name: &str| format!("{base}/{name}.json");
        Self {
            notifications: CALL_NOTIFICATIONS.list_uri(&c.account_sid, &c.sid),
            recordings: at("Recordings"),
            payments: at("Payments"),
            events: CALL_EVENTS.list_uri(&c.account_sid, &c.sid),
            siprec: at("Siprec"),
            streams: at("Streams"),
            transcriptions: at("Transcriptions"),
            user_defined_message_subscriptions: at("UserDefinedMessageSubscriptions"),
            user_defined_messages: at("UserDefinedMessages"),
        }
    }
}

/// The wire form of a call: every field of Twilio's schema, in its order. What sipmap has no
/// notion of is Twilio's value for a call without it: `price` and `answered_by` null,
/// `price_unit` `USD`, `queue_time` `"0"`.
#[derive(Serialize)]
pub struct CallView<'a> {
    sid: &'a str,
    date_created: V2010Date,
    date_updated: V2010Date,
    parent_call_sid: Option<&'a str>,
    account_sid: &'a str,
    to: &'a str,
    to_formatted: String,
    from: &'a str,
    from_formatted: String,
    phone_number_sid: Option<&'a str>,
    status: &'static str,
    start_time: V2010Date,
    end_time: Option<V2010Date>,
    duration: Option<String>,
    price: Option<&'a str>,
    price_unit: &'static str,
    direction: &'static str,
    answered_by: Option<&'a str>,
    api_version: &'static str,
    forwarded_from: Option<&'a str>,
    group_sid: Option<&'a str>,
    caller_name: Option<&'a str>,
    queue_time: &'static str,
    trunk_sid: Option<&'a str>,
    uri: String,
    subresource_uris: SubresourceUris,
}

/// A Unix time in milliseconds as an API 2010 date (whole seconds).
pub fn date(ms: i64) -> V2010Date {
    V2010Date(ms.div_euclid(1000))
}

/// Renders `c`.
pub fn view(c: &Call) -> CallView<'_> {
    CallView {
        sid: c.sid.as_str(),
        date_created: date(c.created_ms),
        date_updated: date(c.updated_ms),
        parent_call_sid: c.parent_call_sid.as_ref().map(CallSid::as_str),
        account_sid: c.account_sid.as_str(),
        to: &c.to,
        to_formatted: c.to_formatted(),
        from: &c.from,
        from_formatted: c.from_formatted(),
        phone_number_sid: None,
        status: c.status.as_str(),
        start_time: date(c.created_ms),
        end_time: c.ended_ms.map(date),
        duration: c.duration_secs().map(|s| s.to_string()),
        price: None,
        price_unit: "USD",
        direction: c.direction.as_str(),
        answered_by: None,
        api_version: "2010-04-01",
        forwarded_from: None,
        group_sid: None,
        caller_name: None,
        queue_time: "0",
        trunk_sid: None,
        uri: CALLS.uri(&c.account_sid, &c.sid),
        subresource_uris: SubresourceUris::of(c),
    }
}

/// The filters among `names` that `query` gives, as list URIs repeat them (each ending in
/// `&`).
pub fn filters_of(query: &Query, names: &[&str]) -> String {
    let mut out = String::new();
    for &name in names {
        if let Some(v) = query.get(name).filter(|v| !v.is_empty()) {
            out.extend(form_urlencoded::byte_serialize(name.as_bytes()));
            out.push('=');
            out.extend(form_urlencoded::byte_serialize(v.as_bytes()));
            out.push('&');
        }
    }
    out
}

async fn list(at: AccountPath, query: Query) -> Answer {
    let filter = CallFilter::parse(&query)?;
    let request = PageRequest::parse(&query, CallSid::PREFIX)?;
    let page_query = request.query();
    let rows = at.app.store.list_calls(&at.account, &filter, &page_query);
    let page = request.finish(rows.await?, |c| c.sid.as_str());
    let path = CALLS.list_uri(&at.account);
    let filters = filters_of(&query, &CallFilter::NAMES);
    let body = page.v2010_envelope(CALLS.key, &path, &filters, |c| to_value(&view(c)));
    Ok(json(StatusCode::OK, &body))
}

async fn fetch(at: AccountPath) -> Answer {
    let sid: CallSid = at.instance()?;
    let found = at.app.store.get_call(&at.account, &sid).await?;
    let call = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &view(&call)))
}

/// The command an update asks for, if any.
fn command_of(update: CallUpdate) -> Result<Option<Command>, ApiError> {
    Ok(Some(match update {
        CallUpdate::End(CallStatus::Canceled) => Command::Cancel,
        CallUpdate::End(_) => Command::Complete,
        CallUpdate::Twiml(text) => Command::Twiml(text),
        CallUpdate::Redirect { url, method } => {
            let parsed =
                Url::parse(&url).map_err(|_| ApiError::invalid("Url", Reason::NotUrl(url)))?;
            let method = if method == "GET" {
                Method::Get
            } else {
                Method::Post
            };
            Command::Redirect(parsed, method)
        }
        CallUpdate::Nothing => return Ok(None),
    }))
}

/// An update of a live call: `Status=completed` or `canceled` ends it, `Twiml` or `Url` (and
/// `Method`) sends it to new TwiML. An ended call is refused (21220); the command goes to the
/// node's [`crate::calls::Control`], which reaches the node holding the call (see
/// `ARCHITECTURE.md`, "Calls in a cluster"); a live call whose node did not take it is refused
/// with 503, and so is one held here whose inbox is full (with `Retry-After: 1`). The answer is the call's record as stored once the call took the command.
async fn update(at: AccountPath, form: Form) -> Answer {
    let sid: CallSid = at.instance()?;
    let update = CallUpdate::parse(&form)?;
    let command = command_of(update.clone())?;
    let found = at.app.store.get_call(&at.account, &sid).await?;
    let call = found.ok_or_else(|| at.not_found())?;
    let Some(command) = command else {
        return Ok(json(StatusCode::OK, &view(&call)));
    };
    call.may_update().map_err(Refusal::from)?;
    match at.app.calls.command(&at.account, &sid, command).await {
        Delivery::Taken => {}
        Delivery::Busy => return Err(ApiError::CallBusy),
        Delivery::NotLive => {
            let now = at.app.store.get_call(&at.account, &sid).await?;
            let now = now.ok_or_else(|| at.not_found())?;
            now.may_update().map_err(Refusal::from)?;
            return Err(ApiError::CallElsewhere);
        }
    }
    if let Some(audit) = Audit::call_updated(&call, &update) {
        at.app.store.record_event(audit).await?;
    }
    let now = at.app.store.get_call(&at.account, &sid).await?;
    Ok(json(
        StatusCode::OK,
        &view(&now.ok_or_else(|| at.not_found())?),
    ))
}

async fn remove(at: AccountPath) -> Result<StatusCode, ApiError> {
    let sid: CallSid = at.instance()?;
    at.app.store.delete_call(&at.account, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
