//! Operator endpoints beside the Twilio API: `/metrics` (Prometheus text, for scraping),
//! `/livez`, `/healthz` and `/readyz` (for load balancers; no credentials), and
//! `/sipmap/v1/Resolve` (which SIP domain a source address and Request-URI resolve to, what
//! the SIP edge would decide for a request with that method, and which target of the domain's
//! connection policy, or the upstream, it would forward it to; answered only within the caller's
//! account).

use std::net::{IpAddr, SocketAddr};

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
use crate::recognition::{DomainAuth, DomainRoute, Recognized};
use crate::sip::edge::decide::{Decision, Facts, Outcome, Request, Settings, decide};
use crate::sip::edge::policy::{Gate, Offer, media};
use crate::sip::edge::select::{NextHop, next_hop};
use crate::sip::edge::{Exchange, Verdict};
use crate::sip_syntax::Wire;
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
    if let Some(calls) = &app.runtime {
        calls.render_metrics(&mut body);
    }
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
    #[serde(flatten)]
    domain: DomainFields<'a>,
    #[serde(flatten)]
    hop: HopFields<'a>,
    #[serde(flatten)]
    outcome: OutcomeFields,
}

/// How the edge would end a request without credentials (see `sip::edge::decide`): all `null`
/// when nothing of the caller's is recognised.
#[derive(Serialize, Default)]
struct OutcomeFields {
    /// `Outcome::kind`: `admitted`, `forwarded`, `application`, `challenged`, `refused`,
    /// `unroutable`.
    outcome: Option<&'static str>,
    /// The status the edge answers with (null when it forwards or starts a call).
    response_code: Option<u16>,
    /// Twilio's error code of a refusal.
    error_code: Option<u32>,
    reason: Option<&'static str>,
}

impl OutcomeFields {
    fn of(o: Outcome) -> Self {
        Self {
            outcome: Some(o.kind()),
            response_code: Some(o.code()).filter(|c| *c != 0),
            error_code: o.error_code(),
            reason: Some(o.reason()),
        }
    }
}

/// What a resolution says of the domain it found (all `null` when it found none).
#[derive(Serialize, Default)]
struct DomainFields<'a> {
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
    /// The domain's `secure` setting.
    secure: Option<bool>,
    /// For an INVITE with a `Media` offer: whether its media fits the domain's `secure`
    /// setting (`accepted`, `srtp_required`, `srtp_refused`: the 488s).
    media_decision: Option<&'static str>,
}

impl<'a> DomainFields<'a> {
    /// The fields of the domain of decision `d` for a request with `method` from `ip`,
    /// offering `offer`: the media decision is the decision's, or, for a request the gate keeps
    /// out, what it would be once let in.
    fn of(
        d: &Decision<'a>,
        found: &Recognized<'a>,
        method: &str,
        ip: IpAddr,
        offer: Option<Offer>,
    ) -> Self {
        let (target, auth) = (found.target, found.auth);
        Self {
            matched_by: Some(found.matched_by.as_str()),
            sip_domain_sid: Some(target.domain_sid.as_str()),
            domain_name: Some(target.domain_name.as_str()),
            account_sid: Some(target.account_sid.as_str()),
            auth_type: auth_type(
                !auth.call_acls.is_empty(),
                !auth.call_credentials.is_empty(),
            ),
            acl_match: Some(auth.acl_allows(ip)),
            decision: d.gate.map(Gate::decision),
            secure: Some(target.secure),
            media_decision: offer.filter(|_| method == "INVITE").map(|o| {
                d.media
                    .unwrap_or_else(|| media(target.secure, Some(o)))
                    .decision()
            }),
        }
    }
}

/// The facts of a request beyond its source and Request-URI: how it arrives, and its media offer.
type Given = (Wire, Option<Offer>);

/// How the request arrives, `Transport` (`udp`, `tcp`, `tls`; UDP if none), and what its media
/// offers, `Media` (`rtp`, `srtp`, `both`; none: no offer).
fn facts_of(query: &Query) -> Result<Given, ApiError> {
    let wire = match query.get("Transport").filter(|v| !v.is_empty()) {
        None => Wire::Udp,
        Some(t) => Wire::ALL
            .into_iter()
            .find(|w| w.label().eq_ignore_ascii_case(t))
            .ok_or_else(|| {
                ApiError::invalid("Transport", Reason::NotOneOf(t.to_owned(), "udp, tcp, tls"))
            })?,
    };
    let offer = match query.get("Media").filter(|v| !v.is_empty()) {
        None => None,
        Some(m) => Some(match m.to_ascii_lowercase().as_str() {
            "rtp" => Offer {
                plain: true,
                secure_profile: false,
                sdes: false,
            },
            "srtp" => Offer {
                plain: false,
                secure_profile: true,
                sdes: true,
            },
            "both" => Offer {
                plain: true,
                secure_profile: true,
                sdes: true,
            },
            _ => {
                let reason = Reason::NotOneOf(m.to_owned(), "rtp, srtp, both");
                return Err(ApiError::invalid("Media", reason));
            }
        }),
    };
    Ok((wire, offer))
}

/// Where the edge forwards an admitted request (other than `OPTIONS`, which it answers).
#[derive(Serialize, Default)]
struct HopFields<'a> {
    /// `target`, `upstream`, or `none` (480).
    route: Option<&'static str>,
    /// The domain's connection policy, when its trunk names one.
    connection_policy_sid: Option<&'a str>,
    /// The chosen target (`route` is `target`).
    #[serde(flatten)]
    target: TargetFields<'a>,
    /// Where the request goes (`route` is `target` or `upstream`), and over what.
    destination: Option<String>,
    transport: Option<&'static str>,
}

impl<'a> HopFields<'a> {
    /// Where the edge would forward an admitted request of a domain with `route` and Call-ID
    /// `call_id` ([`next_hop`]).
    fn of(app: &AppState, route: Option<&'a DomainRoute>, call_id: &str) -> Self {
        let policy = route.map(|r| r.policy_sid.as_str());
        let (name, chosen, destination, transport) = match next_hop(
            route,
            &app.metrics.health,
            call_id,
            app.sip_upstream.map(|u| u.addr),
        ) {
            NextHop::Target(c) => {
                let d = c.destination;
                ("target", Some(c), Some(d.addr.to_string()), d.transport())
            }
            NextHop::Upstream(u) => {
                let wire = app.sip_upstream.map_or(Wire::Udp, |d| d.wire);
                ("upstream", None, Some(u.to_string()), wire.label())
            }
            NextHop::Nowhere => {
                return Self {
                    route: Some("none"),
                    connection_policy_sid: policy,
                    ..Self::default()
                };
            }
        };
        Self {
            route: Some(name),
            connection_policy_sid: policy,
            target: TargetFields {
                target_sid: chosen.map(|c| c.target.sid.as_str()),
                target_uri: chosen.map(|c| c.target.uri.as_str()),
            },
            destination,
            transport: Some(transport),
        }
    }
}

/// The target the edge would choose: its SID and URI, both `null` when it chooses none.
#[derive(Serialize, Default)]
struct TargetFields<'a> {
    target_sid: Option<&'a str>,
    target_uri: Option<&'a str>,
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
    let (wire, offer) = facts_of(&query)?;
    let host = match uri {
        None => None,
        Some(u) => Some(
            SipUri::parse(u)
                .map_err(|_| ApiError::invalid("RequestUri", Reason::NotSipUri(u.to_owned())))?,
        ),
    };
    let snapshot = app.store.recognition().snapshot();
    let call_id = query.get("CallId").unwrap_or("");
    let request = Request {
        method,
        uri_host: host.as_ref().map(|h| h.host_for_match()),
        call_id,
        to_tag: false,
        max_forwards: 70,
        source: SocketAddr::new(ip, 0),
        wire,
    };
    let settings = Settings {
        health: &app.metrics.health,
        upstream: app.sip_upstream.map(|d| (d.addr, d.wire)),
        calls: app.runtime.is_some(),
    };
    let d = decide(&snapshot, &request, &settings, &WithoutCredentials(offer));
    let found = d.found.filter(|r| &r.target.account_sid == caller.sid());
    let body = Resolution {
        ip_address: ip.to_string(),
        request_uri: uri,
        method,
        recognized: found.is_some(),
        domain: found
            .as_ref()
            .map(|r| DomainFields::of(&d, r, method, ip, offer))
            .unwrap_or_default(),
        hop: found
            .as_ref()
            .map(|r| HopFields::of(&app, r.route, call_id))
            .unwrap_or_default(),
        outcome: found
            .map(|_| OutcomeFields::of(d.outcome))
            .unwrap_or_default(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// What Resolve tells `decide`: a request that carries no credentials (it is challenged, as
/// the edge would), offering this media, whose hop would be sent to.
struct WithoutCredentials(Option<Offer>);

impl Facts for WithoutCredentials {
    fn credentials(&self, _: Exchange, _: &str, _: &DomainAuth) -> Option<Verdict> {
        Some(Verdict::Challenge { stale: false })
    }

    fn offer(&self) -> Option<Offer> {
        self.0
    }

    fn hop(&self, _: SocketAddr, _: bool) -> Result<(), u16> {
        Ok(())
    }
}
