//! Operator endpoints beside the Twilio API: `/metrics` (Prometheus text, for scraping),
//! `/livez`, `/healthz` and `/readyz` (for load balancers; no credentials), and
//! `/sipmap/v1/Resolve` (which SIP domain a source address and Request-URI resolve to, what
//! the SIP edge would decide for a request with that method, and which target of the domain's
//! connection policy, or the upstream, it would forward it to; answered only within the caller's
//! account).

use std::net::IpAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::extract::{Caller, Query};
use super::wire::RESOLVE;
use super::{AppState, json};
use crate::domain::auth_mapping::auth_type;
use crate::domain::{Params, Reason};
use crate::error::ApiError;
use crate::recognition::DomainRoute;
use crate::sip::edge::policy::gate;
use crate::sip::edge::select::{Choice, NextHop, next_hop};
use crate::sip_syntax::{SipUri, is_token_byte};
use crate::store::StoreError;

/// Routes of the operator endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(live))
        .route("/healthz", get(health))
        .route("/readyz", get(health))
        .route(RESOLVE, get(resolve))
}

async fn metrics(State(app): State<AppState>) -> Response {
    let mut body = app.metrics.render();
    let snapshot = app.store.recognition().snapshot();
    body.push_str(
        "# HELP sipmap_recognition_networks Networks in the recognition table.\n\
         # TYPE sipmap_recognition_networks gauge\n",
    );
    body.push_str(&format!(
        "sipmap_recognition_networks {}\n",
        snapshot.networks()
    ));
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

/// The process is up (it may still be unable to reach its database).
async fn live() -> Response {
    json(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

/// Healthy: the database answers and the recognition table is being kept current. Unhealthy
/// (503) otherwise; the SIP edge then keeps recognising traffic from its last table.
async fn health(State(app): State<AppState>) -> Response {
    let networks = app.store.recognition().snapshot().networks();
    match app.store.check_health().await {
        Ok(()) => json(
            StatusCode::OK,
            &serde_json::json!({ "status": "healthy", "recognition_networks": networks }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            let reason = match e {
                StoreError::Exhausted(_) => {
                    "storage is full or failing: the last write could not be stored"
                }
                _ => "the database cannot be reached",
            };
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({
                    "status": "unhealthy",
                    "reason": reason,
                    "recognition_networks": networks,
                }),
            )
        }
    }
}

#[derive(Serialize)]
struct Resolution<'a> {
    ip_address: String,
    request_uri: Option<&'a str>,
    method: &'a str,
    recognized: bool,
    matched_by: Option<&'static str>,
    sip_domain_sid: Option<&'a str>,
    domain_name: Option<&'a str>,
    account_sid: Option<&'a str>,
    /// The domain's `auth_type` (what is mapped for calls).
    auth_type: Option<&'static str>,
    /// Whether the source is inside an IP access control list mapped to the domain for calls.
    acl_match: Option<bool>,
    /// What the edge decides before reading credentials (see `sip::edge::policy`).
    decision: Option<&'static str>,
    /// Where the edge forwards an admitted request (other than `OPTIONS`, which it answers):
    /// `target`, `upstream`, or `none` (480).
    route: Option<&'static str>,
    /// The domain's connection policy, when its trunk names one.
    connection_policy_sid: Option<&'a str>,
    /// The chosen target (`route` is `target`).
    target_sid: Option<&'a str>,
    target_uri: Option<&'a str>,
    /// Where the request goes (`route` is `target` or `upstream`), and over what.
    destination: Option<String>,
    transport: Option<&'static str>,
}

/// Where the edge would forward an admitted request of the domain with `route` and Call-ID
/// `call_id` ([`next_hop`]): `(route, target, destination, transport)`.
fn hop_fields<'r>(
    app: &AppState,
    route: Option<&'r DomainRoute>,
    call_id: &str,
) -> (
    &'static str,
    Option<Choice<'r>>,
    Option<String>,
    Option<&'static str>,
) {
    match next_hop(route, &app.metrics.health, call_id, app.sip_upstream) {
        NextHop::Target(c) => (
            "target",
            Some(c),
            Some(c.destination.addr.to_string()),
            Some(c.destination.transport()),
        ),
        NextHop::Upstream(u) => ("upstream", None, Some(u.to_string()), Some("udp")),
        NextHop::Nowhere => ("none", None, None, None),
    }
}

/// The method a resolution is for: `Method` (a SIP method token, case-sensitive) or `INVITE`.
fn method_of(query: &Query) -> Result<&str, ApiError> {
    match query.get("Method").filter(|v| !v.is_empty()) {
        None => Ok("INVITE"),
        Some(m) if m.bytes().all(is_token_byte) => Ok(m),
        Some(m) => Err(ApiError::invalid(
            "Method",
            Reason::NotSipMethod(m.to_owned()),
        )),
    }
}

async fn resolve(
    State(app): State<AppState>,
    caller: Caller,
    query: Query,
) -> Result<Response, ApiError> {
    let raw_ip = query
        .get("IpAddress")
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::MissingParameter("IpAddress"))?;
    let ip: IpAddr = raw_ip
        .parse()
        .map_err(|_| ApiError::invalid("IpAddress", Reason::NotIp(raw_ip.to_owned())))?;
    let uri = query.get("RequestUri").filter(|v| !v.is_empty());
    let method = method_of(&query)?;
    let host = match uri {
        None => None,
        Some(u) => Some(
            SipUri::parse(u)
                .map_err(|_| ApiError::invalid("RequestUri", Reason::NotSipUri(u.to_owned())))?,
        ),
    };
    let snapshot = app.store.recognition().snapshot();
    let found = snapshot
        .recognise(host.as_ref().map(|h| h.host_for_match()), ip)
        .filter(|r| &r.target.account_sid == caller.sid());
    let call_id = query.get("CallId").unwrap_or("");
    let hop = found.map(|r| hop_fields(&app, r.route, call_id));
    let chosen = hop.as_ref().and_then(|h| h.1);
    let body = Resolution {
        ip_address: ip.to_string(),
        request_uri: uri,
        method,
        recognized: found.is_some(),
        matched_by: found.map(|r| r.matched_by.as_str()),
        sip_domain_sid: found.map(|r| r.target.domain_sid.as_str()),
        domain_name: found.map(|r| r.target.domain_name.as_str()),
        account_sid: found.map(|r| r.target.account_sid.as_str()),
        auth_type: found.and_then(|r| {
            auth_type(
                !r.auth.call_acls.is_empty(),
                !r.auth.call_credentials.is_empty(),
            )
        }),
        acl_match: found.map(|r| r.auth.acl_allows(ip)),
        decision: found.map(|r| gate(method, r.target, r.auth, ip).decision()),
        route: hop.as_ref().map(|h| h.0),
        connection_policy_sid: found.and_then(|r| r.route).map(|r| r.policy_sid.as_str()),
        target_sid: chosen.map(|c| c.target.sid.as_str()),
        target_uri: chosen.map(|c| c.target.uri.as_str()),
        destination: hop.as_ref().and_then(|h| h.2.clone()),
        transport: hop.as_ref().and_then(|h| h.3),
    };
    Ok(json(StatusCode::OK, &body))
}
