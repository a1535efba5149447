//! Monitor v1 Events, the audit log: `GET /v1/Events` (Twilio's filters `ActorSid`,
//! `EventType`, `ResourceSid`, `SourceIpAddress`, `StartDate`, `EndDate`, and `PageToken`
//! paging as the Voice v1 lists) and `GET /v1/Events/{Sid}`, the caller's account's only. The
//! SDKs call `https://monitor.twilio.com/v1/Events`; pointed at sipmap, that is `/v1/Events` on
//! the one listener. Events are written by storage with each API write (see
//! [`crate::store::audit`]); nothing here writes.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use serde_json::value::RawValue;

use super::calls::filters_of;
use super::extract::{Ctx, Query};
use super::paging::to_value;
use super::wire::{
    AccountsResource, BYOC_TRUNKS, CALLS, CONNECTION_POLICIES, EVENTS, IP_RECORDS, KEYS,
    POLICY_TARGETS, SIP_CREDENTIAL_LISTS, SIP_CREDENTIALS, SIP_DOMAINS,
    SIP_IP_ACCESS_CONTROL_LISTS, SIP_IP_ADDRESSES, SOURCE_IP_MAPPINGS, auth_mappings,
};
use super::{Answer, AppState, json, v1};
use crate::domain::{AuthKind, Event, EventFilter};
use crate::sid::EventSid;
use crate::timefmt::V1Date;

/// The routes of events.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&EVENTS.list_route(), get(list))
        .route(&EVENTS.instance_route(), get(fetch))
}

#[derive(Serialize)]
struct Links {
    actor: Option<String>,
    resource: Option<String>,
}

/// The wire form of an event: Twilio's fields, in its schema's order.
#[derive(Serialize)]
struct EventView<'a> {
    account_sid: &'a str,
    actor_sid: Option<&'a str>,
    actor_type: Option<&'a str>,
    description: Option<&'a str>,
    event_data: &'a RawValue,
    event_date: V1Date,
    event_type: &'a str,
    resource_sid: &'a str,
    resource_type: &'a str,
    sid: &'a str,
    source: &'a str,
    source_ip_address: Option<&'a str>,
    url: String,
    links: Links,
}

/// What an event's data says a child resource's parent is.
fn data_field(data: &serde_json::Value, name: &str) -> Option<String> {
    data.get(name)?.as_str().map(str::to_owned)
}

/// The absolute URL of the resource an event is about, when its path can be told from the
/// event (a child's parent is in its data).
fn resource_url(public: &str, e: &Event) -> Option<String> {
    let (account, sid) = (&e.account_sid, &e.resource_sid);
    let data: serde_json::Value = serde_json::from_str(&e.event_data).ok()?;
    let uri = match e.resource_type.as_str() {
        "account" => AccountsResource::uri(sid),
        "api-key" => KEYS.uri(account, sid),
        "call" => CALLS.uri(account, sid),
        "sip-domain" => SIP_DOMAINS.uri(account, sid),
        "sip-ip-access-control-list" => SIP_IP_ACCESS_CONTROL_LISTS.uri(account, sid),
        "sip-credential-list" => SIP_CREDENTIAL_LISTS.uri(account, sid),
        "sip-ip-address" => {
            let list = data_field(&data, "ip_access_control_list_sid")?;
            SIP_IP_ADDRESSES.uri(account, &list, sid)
        }
        "sip-credential" => {
            let list = data_field(&data, "credential_list_sid")?;
            SIP_CREDENTIALS.uri(account, &list, sid)
        }
        "sip-domain-auth-mapping" => {
            let domain = data_field(&data, "domain_sid")?;
            let kind = data_field(&data, "kind")?;
            let kind = [
                AuthKind::CallsAcl,
                AuthKind::CallsCredentials,
                AuthKind::RegistrationCredentials,
            ]
            .into_iter()
            .find(|k| k.as_str() == kind)?;
            auth_mappings(kind).uri(account, &domain, sid)
        }
        "ip-record" => return Some(IP_RECORDS.url(public, sid)),
        "source-ip-mapping" => return Some(SOURCE_IP_MAPPINGS.url(public, sid)),
        "byoc-trunk" => return Some(BYOC_TRUNKS.url(public, sid)),
        "connection-policy" => return Some(CONNECTION_POLICIES.url(public, sid)),
        "connection-policy-target" => {
            let policy = data_field(&data, "connection_policy_sid")?;
            return Some(POLICY_TARGETS.url(public, &policy, sid));
        }
        _ => return None,
    };
    Some(format!("{public}{uri}"))
}

/// The absolute URL of who acted: the account, or the API key.
fn actor_url(public: &str, e: &Event) -> Option<String> {
    let actor = e.actor_sid.as_deref()?;
    let uri = if actor.starts_with("SK") {
        KEYS.uri(&e.account_sid, &actor)
    } else {
        AccountsResource::uri(&actor)
    };
    Some(format!("{public}{uri}"))
}

/// Renders `e`; its data is stored as a JSON object (an empty one if it ever is not).
fn view<'a>(public: &str, e: &'a Event, data: &'a RawValue) -> EventView<'a> {
    EventView {
        account_sid: e.account_sid.as_str(),
        actor_sid: e.actor_sid.as_deref(),
        actor_type: e.actor_type.as_deref(),
        description: e.description.as_deref(),
        event_data: data,
        event_date: V1Date(e.event_ms.div_euclid(1000)),
        event_type: &e.event_type,
        resource_sid: &e.resource_sid,
        resource_type: &e.resource_type,
        sid: e.sid.as_str(),
        source: &e.source,
        source_ip_address: e.source_ip_address.as_deref(),
        url: EVENTS.url(public, &e.sid),
        links: Links {
            actor: actor_url(public, e),
            resource: resource_url(public, e),
        },
    }
}

/// The stored data as JSON text, or `{}` should a row hold something else.
fn data_of(e: &Event) -> Box<RawValue> {
    RawValue::from_string(e.event_data.clone())
        .ok()
        .filter(|raw| raw.get().starts_with('{'))
        .unwrap_or_else(|| RawValue::from_string("{}".into()).expect("{} is JSON"))
}

async fn fetch(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Answer {
    let sid: EventSid = v1::path_sid(EVENTS, &raw)?;
    let found = app.store.get_event(caller.sid(), &sid).await?;
    let event = v1::found(EVENTS, &sid, found)?;
    let data = data_of(&event);
    Ok(json(StatusCode::OK, &view(&app.public_url, &event, &data)))
}

async fn list(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let filter = EventFilter::parse(&query)?;
    let (request, page) = v1::page_request::<EventSid>(&query)?;
    let rows = app.store.list_events(caller.sid(), &filter, &page).await?;
    let public = &app.public_url;
    let page = request.finish(rows, |e| e.sid.as_str());
    let filters = filters_of(&query, &EventFilter::NAMES);
    let body = page.v1_envelope_filtered(EVENTS.key, &EVENTS.list_url(public), &filters, |e| {
        to_value(&view(public, e, &data_of(e)))
    });
    Ok(json(StatusCode::OK, &body))
}
