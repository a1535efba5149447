//! The SIP edge's recent decisions and traffic, from this node's record
//! ([`crate::sip::edge::record`]), the caller's account's only: `GET /sipmap/v1/Decisions`
//! (filters `CallId`, `Source`, `Domain`, `Outcome`, `StartTime`, `StartTime>`, `StartTime<`;
//! `PageSize`; newest first; each decision with its steps) and `GET /sipmap/v1/Traffic`
//! (requests and refusals per domain per minute over the last hour).
//!
//! The record is per node, in memory: these answer what this node decided (`meta.node_only`
//! says so). A decision recognised by source network names the mapping and IP record that
//! hold the source now, read from storage as the page is answered.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use serde_json::Value;

use super::calls::filters_of;
use super::extract::{Ctx, Query};
use super::paging::MAX_PAGE_SIZE;
use super::wire::{DECISIONS, TRAFFIC};
use super::{Answer, json};
use crate::domain::{Params, Reason, TimeRange};
use crate::error::ApiError;
use crate::recognition::MatchedBy;
use crate::sid::{IpRecordSid, MappingSid};
use crate::sip::edge::decide::Outcome;
use crate::sip::edge::record::{Checked, Entry, Field, Filter, Hop, user_at_host};
use crate::sip::edge::{Exchange, policy::Gate};
use crate::timefmt::iso8601;

/// The routes of decisions and traffic.
pub fn router() -> Router<super::AppState> {
    Router::new()
        .route(DECISIONS, get(list))
        .route(TRAFFIC, get(traffic))
}

/// The query parameters a list repeats in its URLs.
const NAMES: [&str; 7] = [
    "CallId",
    "Source",
    "Domain",
    "Outcome",
    "StartTime",
    "StartTime>",
    "StartTime<",
];

/// The default `PageSize`.
const DEFAULT_PAGE_SIZE: usize = 50;

/// One step of a decision, as the list shows it.
#[derive(Serialize)]
struct Step {
    stage: &'static str,
    result: String,
    detail: String,
}

fn step(stage: &'static str, result: impl Into<String>, detail: impl Into<String>) -> Step {
    Step {
        stage,
        result: result.into(),
        detail: detail.into(),
    }
}

/// A decision's wire form.
#[derive(Serialize)]
struct View<'a> {
    id: u64,
    account_sid: &'a str,
    date_created: String,
    call_id: &'a str,
    method: &'a str,
    transport: &'static str,
    source: String,
    request_uri: &'a str,
    from: &'a str,
    to: &'a str,
    domain_sid: &'a str,
    domain_name: &'a str,
    recognised_by: &'static str,
    ip_record_sid: Option<&'a str>,
    mapping_sid: Option<&'a str>,
    outcome: &'static str,
    response_code: Option<u16>,
    error_code: Option<u32>,
    reason: &'static str,
    target: Option<String>,
    steps: Vec<Step>,
}

/// Where a decision's request went, as `target` says it: a target's URI (and SID), the
/// upstream's address, the application, or the edge itself.
fn target_of(e: &Entry) -> Option<String> {
    Some(match e.hop? {
        Hop::Answered => "edge".to_owned(),
        Hop::Application => "application".to_owned(),
        Hop::Target(addr, wire) => format!(
            "{} ({}, {addr} over {})",
            e.text(Field::TargetUri),
            e.text(Field::TargetSid),
            wire.label()
        ),
        Hop::Upstream(addr, wire) => format!("upstream {addr} over {}", wire.label()),
    })
}

/// The steps that explain `e`, in order.
fn steps(e: &Entry, mapping: Option<&(MappingSid, IpRecordSid)>) -> Vec<Step> {
    let t = &e.target;
    let mut out = vec![match (e.matched_by, mapping) {
        (MatchedBy::RequestUri, _) => step(
            "recognise",
            "request_uri",
            format!("Request-URI host is {} ({})", t.domain_name, t.domain_sid),
        ),
        (MatchedBy::SourceIp, Some((m, r))) => step(
            "recognise",
            "source_ip",
            format!(
                "source {} is in IP record {r}, mapped by {m} to {} ({})",
                e.source.ip(),
                t.domain_name,
                t.domain_sid
            ),
        ),
        (MatchedBy::SourceIp, None) => step(
            "recognise",
            "source_ip",
            format!(
                "source {} is in a network mapped to {} ({})",
                e.source.ip(),
                t.domain_name,
                t.domain_sid
            ),
        ),
    }];
    if let Some(g) = e.gate {
        out.push(gate_step(e, g));
    }
    if let Some((exchange, checked)) = e.digest {
        out.push(digest_step(e, exchange, checked));
    }
    if let Some(m) = e.media {
        out.push(step("media", m.decision(), "the INVITE's SDP offer"));
    }
    out.push(step(
        "outcome",
        e.outcome.kind(),
        match e.outcome.code() {
            0 => e.outcome.reason().to_owned(),
            code => format!("{code}: {}", e.outcome.reason()),
        },
    ));
    out
}

fn gate_step(e: &Entry, g: Gate) -> Step {
    let list = e.text(Field::List);
    let detail = match g {
        Gate::InsecureTransport => format!("secure domain; arrived over {}", e.wire.label()),
        Gate::Unchallenged => format!("{} is never challenged", e.text(Field::Method)),
        Gate::Acl => format!("source inside IP access control list {list}"),
        Gate::CallDigest => "credentials of a list mapped for calls needed".to_owned(),
        Gate::RegistrationDigest => {
            "credentials of a list mapped for registrations needed".to_owned()
        }
        Gate::NoCallAuth => "nothing mapped to the domain for calls".to_owned(),
        Gate::OutsideAcl => {
            "source outside every IP access control list mapped for calls".to_owned()
        }
        Gate::RegistrationDisabled => "the domain's SipRegistration is false".to_owned(),
        Gate::NoRegistrationAuth => "no credential list mapped for registrations".to_owned(),
    };
    step("gate", g.decision(), detail)
}

fn digest_step(e: &Entry, exchange: Exchange, checked: Checked) -> Step {
    let header = match exchange {
        Exchange::Calls => "Proxy-Authorization",
        Exchange::Registrations => "Authorization",
    };
    let (result, detail) = match checked {
        Checked::Authenticated => (
            "authenticated",
            format!(
                "username {} in credential list {}",
                e.text(Field::Username),
                e.text(Field::List)
            ),
        ),
        Checked::Challenged(false) => ("challenged", format!("no {header} for the realm")),
        Checked::Challenged(true) => ("challenged", "right credentials, expired nonce".into()),
        Checked::Refused(why) => ("refused", why.to_owned()),
        Checked::Throttled(_) => (
            "throttled",
            "too many failures from the source: credentials not checked".into(),
        ),
    };
    step("credentials", result, detail)
}

fn view<'a>(e: &'a Entry, mapping: Option<&'a (MappingSid, IpRecordSid)>) -> View<'a> {
    let t = &e.target;
    let code = e.outcome.code();
    View {
        id: e.id,
        account_sid: t.account_sid.as_str(),
        date_created: format!(
            "{}.{:03}Z",
            iso8601(e.at_ms.div_euclid(1000)).trim_end_matches('Z'),
            e.at_ms.rem_euclid(1000)
        ),
        call_id: e.text(Field::CallId),
        method: e.text(Field::Method),
        transport: e.wire.label(),
        source: e.source.to_string(),
        request_uri: e.text(Field::RequestUri),
        from: user_at_host(e.text(Field::From)),
        to: user_at_host(e.text(Field::To)),
        domain_sid: t.domain_sid.as_str(),
        domain_name: &t.domain_name,
        recognised_by: e.matched_by.as_str(),
        ip_record_sid: mapping.map(|(_, r)| r.as_str()),
        mapping_sid: mapping.map(|(m, _)| m.as_str()),
        outcome: e.outcome.kind(),
        response_code: (code != 0).then_some(code),
        error_code: e.outcome.error_code(),
        reason: e.outcome.reason(),
        target: target_of(e),
        steps: steps(e, mapping),
    }
}

/// The filter and page size a query asks for.
fn filter_of(query: &Query) -> Result<(Filter, usize), ApiError> {
    let given = |name| query.get(name).filter(|v| !v.is_empty());
    let source = match given("Source") {
        None => None,
        Some(s) => Some(match s.parse::<SocketAddr>() {
            Ok(a) => (a.ip(), Some(a.port())),
            Err(_) => {
                let ip = s.parse::<IpAddr>();
                (
                    ip.map_err(|_| ApiError::invalid("Source", Reason::NotIp(s.to_owned())))?,
                    None,
                )
            }
        }),
    };
    let outcome = match given("Outcome") {
        None => None,
        Some(o) if Outcome::KINDS.contains(&o) => Some(o.to_owned()),
        Some(o) => {
            let kinds = "admitted, forwarded, application, challenged, refused, unroutable";
            return Err(ApiError::invalid(
                "Outcome",
                Reason::NotOneOf(o.to_owned(), kinds),
            ));
        }
    };
    let time = TimeRange::parse(query, ["StartTime", "StartTime>", "StartTime<"])?;
    let size = match given("PageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => n.min(u64::from(MAX_PAGE_SIZE)) as usize,
            _ => return Err(ApiError::invalid("PageSize", Reason::integer(v, 1, None))),
        },
    };
    let filter = Filter {
        call_id: given("CallId").map(str::to_owned),
        source,
        domain: given("Domain").map(str::to_owned),
        outcome,
        after_ms: time.from_ms.map(|f| f - 1),
        before_ms: time.until_ms,
    };
    Ok((filter, size))
}

async fn list(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let (filter, size) = filter_of(&query)?;
    let entries = app.decisions.list(caller.sid(), &filter, size);
    let mut mappings: HashMap<(IpAddr, &str), Option<(MappingSid, IpRecordSid)>> = HashMap::new();
    for e in entries
        .iter()
        .filter(|e| e.matched_by == MatchedBy::SourceIp)
    {
        let ip = e.source.ip().to_canonical();
        let key = (ip, e.target.domain_sid.as_str());
        if mappings.contains_key(&key) {
            continue;
        }
        let found = match ip {
            IpAddr::V4(v4) => {
                let store = &app.store;
                store
                    .mapping_holding(caller.sid(), &e.target.domain_sid, v4)
                    .await?
            }
            IpAddr::V6(_) => None,
        };
        mappings.insert(key, found);
    }
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let key = (e.source.ip().to_canonical(), e.target.domain_sid.as_str());
            let mapping = mappings.get(&key).and_then(Option::as_ref);
            serde_json::to_value(view(e, mapping)).unwrap_or(Value::Null)
        })
        .collect();
    let filters = filters_of(&query, &NAMES);
    let url = format!("{}{DECISIONS}?{filters}PageSize={size}", app.public_url);
    let body = serde_json::json!({
        "decisions": rows,
        "meta": {
            "page": 0,
            "page_size": size,
            "first_page_url": url,
            "previous_page_url": null,
            "url": url,
            "next_page_url": null,
            "key": "decisions",
            "node_only": true,
        },
    });
    Ok(json(StatusCode::OK, &body))
}

async fn traffic(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let domain = query.get("Domain").filter(|v| !v.is_empty());
    let now_minute = app.decisions.clock().now_millis().div_euclid(60_000);
    let domains: Vec<Value> = app
        .decisions
        .traffic(caller.sid(), domain)
        .iter()
        .map(|s| {
            let minutes: Vec<Value> = s
                .minutes(now_minute)
                .into_iter()
                .map(|(m, requests, refused)| {
                    serde_json::json!({
                        "start": iso8601(m * 60),
                        "requests": requests,
                        "refused": refused,
                    })
                })
                .collect();
            serde_json::json!({
                "domain_sid": s.target.domain_sid.as_str(),
                "domain_name": s.target.domain_name,
                "minutes": minutes,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "domains": domains, "node_only": true }),
    ))
}
