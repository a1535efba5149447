//! `GET /sipmap/v1/TargetHealth?ConnectionPolicySid=NY…`: sipmap's own operator view of the
//! health of a connection policy's targets over the last hour, as this node's probes saw it
//! (`sip::health`): for each target, its probed destination (none when it is not probed: the
//! probe limit left it out, its destination is not known yet, or this node runs no SIP edge),
//! whether it is up and since when, its state changes and per-minute probe counts. Answered only for a policy of the caller's account (another's is
//! the policy's 404). Twilio has no such resource, so it lives beside Resolve rather than in
//! Twilio's Targets, whose shape stays Twilio's.

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{Ctx, Query};
use super::wire::{CONNECTION_POLICIES, TARGET_HEALTH};
use super::{Answer, json, v1};
use crate::domain::PolicyTarget;
use crate::limit_log::LimitLog;
use crate::sid::{AccountSid, ConnectionPolicySid};
use crate::sip::health::{History, SPAN_MS, TargetHealth};
use crate::store::{Cursor, PageQuery, Store};
use crate::timefmt::iso8601;

/// Most targets one answer shows (a policy holds at most `--max-targets-per-policy`, 100 by
/// default); past it the answer says `truncated`.
pub const MAX_TARGETS: usize = 1_000;
/// Targets read per page from storage.
const PAGE: u32 = 200;

static TRUNCATED: LimitLog = LimitLog::new("TargetHealth targets per answer");

/// The route.
pub fn router() -> Router<super::AppState> {
    Router::new().route(TARGET_HEALTH, get(target_health))
}

#[derive(Serialize)]
struct Answered {
    account_sid: String,
    connection_policy_sid: String,
    /// How far back the histories reach.
    span_seconds: i64,
    targets: Vec<TargetView>,
    truncated: bool,
}

#[derive(Serialize)]
struct TargetView {
    sid: String,
    target: String,
    enabled: bool,
    /// `up`, `down`, or `unprobed` (the edge counts it up).
    status: &'static str,
    destinations: Vec<DestinationView>,
}

#[derive(Serialize)]
struct DestinationView {
    address: String,
    transport: &'static str,
    status: &'static str,
    since: String,
    transitions: Vec<TransitionView>,
    minutes: Vec<MinuteView>,
}

#[derive(Serialize)]
struct TransitionView {
    date: String,
    status: &'static str,
}

#[derive(Serialize)]
struct MinuteView {
    start: String,
    probes: u32,
    answered: u32,
    down: bool,
}

fn status(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

fn date(ms: i64) -> String {
    iso8601(ms.div_euclid(1000))
}

fn destination_view(t: &TargetHealth) -> DestinationView {
    let History {
        since_ms,
        transitions,
        minutes,
    } = &t.history;
    DestinationView {
        address: t.destination.addr.to_string(),
        transport: t.destination.transport(),
        status: status(t.up),
        since: date(*since_ms),
        transitions: transitions
            .iter()
            .map(|x| TransitionView {
                date: date(x.at_ms),
                status: status(x.up),
            })
            .collect(),
        minutes: minutes
            .iter()
            .map(|m| MinuteView {
                start: date(m.start_ms),
                probes: m.probes,
                answered: m.answered,
                down: m.down,
            })
            .collect(),
    }
}

/// The policy's targets, at most [`MAX_TARGETS`], and whether there were more.
async fn targets_of(
    store: &Store,
    account: &AccountSid,
    policy: &ConnectionPolicySid,
) -> Result<(Vec<PolicyTarget>, bool), crate::error::ApiError> {
    let mut all: Vec<PolicyTarget> = Vec::new();
    let mut cursor = Cursor::Offset(0);
    loop {
        let page = PageQuery {
            limit: PAGE,
            cursor,
        };
        let rows = store.list_policy_targets(account, policy, &page).await?;
        let full = rows.len() == PAGE as usize;
        let Some(last) = rows.last().map(|t| t.sid.as_str().to_owned()) else {
            return Ok((all, false));
        };
        all.extend(rows);
        if all.len() > MAX_TARGETS {
            all.truncate(MAX_TARGETS);
            TRUNCATED.hit(&format_args!(
                "connection policy {policy} has more than {MAX_TARGETS} targets; the answer \
                 shows the first"
            ));
            return Ok((all, true));
        }
        if !full {
            return Ok((all, false));
        }
        cursor = Cursor::After(last);
    }
}

async fn target_health(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let policy: ConnectionPolicySid = v1::sid_param(&query, "ConnectionPolicySid")?;
    let found = app
        .store
        .get_connection_policy(caller.sid(), &policy)
        .await?;
    v1::found(CONNECTION_POLICIES, &policy, found)?;
    let (targets, truncated) = targets_of(&app.store, caller.sid(), &policy).await?;
    let sids: HashSet<&str> = targets.iter().map(|t| t.sid.as_str()).collect();
    let mut probed: HashMap<String, Vec<DestinationView>> = HashMap::new();
    for h in app.metrics.health.of_targets(&sids) {
        probed
            .entry(h.target.clone())
            .or_default()
            .push(destination_view(&h));
    }
    let views = targets
        .iter()
        .map(|t| {
            let destinations = probed.remove(t.sid.as_str()).unwrap_or_default();
            let status = if destinations.is_empty() {
                "unprobed"
            } else if destinations.iter().any(|d| d.status == "down") {
                "down"
            } else {
                "up"
            };
            TargetView {
                sid: t.sid.as_str().to_owned(),
                target: t.target.clone(),
                enabled: t.enabled,
                status,
                destinations,
            }
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &Answered {
            account_sid: caller.sid().as_str().to_owned(),
            connection_policy_sid: policy.as_str().to_owned(),
            span_seconds: SPAN_MS / 1000,
            targets: views,
            truncated,
        },
    ))
}
