//! Voice v1 Connection Policies (`/v1/ConnectionPolicies`, `…/{Sid}`) and their Targets
//! (`/v1/ConnectionPolicies/{Sid}/Targets`, `…/Targets/{Sid}`).

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{Ctx, Form, Query};
use super::paging::to_value;
use super::wire::{CONNECTION_POLICIES as POLICIES, POLICY_TARGETS as TARGETS};
use super::{Answer, AppState, json, v1};
use crate::domain::{ConnectionPolicy, PolicyName, PolicyTarget, TargetPatch};
use crate::error::ApiError;
use crate::sid::{ConnectionPolicySid, PolicyTargetSid};
use crate::store::StoreError;
use crate::timefmt::V1Date;

/// The routes of policies and their targets.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&POLICIES.list_route(), get(list).post(create))
        .route(
            &POLICIES.instance_route(),
            get(fetch).post(update).delete(remove),
        )
        .route(&TARGETS.list_route(), get(list_targets).post(create_target))
        .route(
            &TARGETS.instance_route(),
            get(fetch_target).post(update_target).delete(remove_target),
        )
}

#[derive(Serialize)]
struct Links {
    targets: String,
}

#[derive(Serialize)]
struct PolicyView<'a> {
    account_sid: &'a str,
    sid: &'a str,
    friendly_name: Option<&'a str>,
    date_created: V1Date,
    date_updated: V1Date,
    url: String,
    links: Links,
}

fn view<'a>(public_url: &str, p: &'a ConnectionPolicy) -> PolicyView<'a> {
    PolicyView {
        account_sid: p.account_sid.as_str(),
        sid: p.sid.as_str(),
        friendly_name: p.friendly_name.as_deref(),
        date_created: V1Date(p.date_created),
        date_updated: V1Date(p.date_updated),
        url: POLICIES.url(public_url, &p.sid),
        links: Links {
            targets: TARGETS.list_url(public_url, &p.sid),
        },
    }
}

#[derive(Serialize)]
struct TargetView<'a> {
    account_sid: &'a str,
    connection_policy_sid: &'a str,
    sid: &'a str,
    friendly_name: Option<&'a str>,
    target: &'a str,
    priority: u16,
    weight: u16,
    enabled: bool,
    date_created: V1Date,
    date_updated: V1Date,
    url: String,
}

fn target_view<'a>(public_url: &str, t: &'a PolicyTarget) -> TargetView<'a> {
    TargetView {
        account_sid: t.account_sid.as_str(),
        connection_policy_sid: t.policy_sid.as_str(),
        sid: t.sid.as_str(),
        friendly_name: t.friendly_name.as_deref(),
        target: &t.target,
        priority: t.priority,
        weight: t.weight,
        enabled: t.enabled,
        date_created: V1Date(t.date_created),
        date_updated: V1Date(t.date_updated),
        url: TARGETS.url(public_url, &t.policy_sid, &t.sid),
    }
}

async fn create(Ctx { app, caller }: Ctx, form: Form) -> Answer {
    let name = PolicyName::parse(&form)?;
    let policy = app
        .store
        .create_connection_policy(caller.sid(), name)
        .await?;
    Ok(json(StatusCode::CREATED, &view(&app.public_url, &policy)))
}

async fn fetch(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Answer {
    let sid: ConnectionPolicySid = v1::path_sid(POLICIES, &raw)?;
    let found = app.store.get_connection_policy(caller.sid(), &sid).await?;
    let policy = v1::found(POLICIES, &sid, found)?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &policy)))
}

async fn list(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let (request, page) = v1::page_request::<ConnectionPolicySid>(&query)?;
    let rows = app.store.list_connection_policies(caller.sid(), &page);
    let rows = rows.await?;
    let public = &app.public_url;
    Ok(v1::list(
        POLICIES,
        public,
        &request,
        rows,
        |r| r.sid.as_str(),
        |p| to_value(&view(public, p)),
    ))
}

async fn update(Ctx { app, caller }: Ctx, Path(raw): Path<String>, form: Form) -> Answer {
    let sid: ConnectionPolicySid = v1::path_sid(POLICIES, &raw)?;
    let name = PolicyName::parse(&form)?;
    let policy = app.store.update_connection_policy(caller.sid(), &sid, name);
    Ok(json(StatusCode::OK, &view(&app.public_url, &policy.await?)))
}

async fn remove(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let sid: ConnectionPolicySid = v1::path_sid(POLICIES, &raw)?;
    app.store
        .delete_connection_policy(caller.sid(), &sid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The policy SID of a target path; a malformed one is the collection's 404.
fn policy_sid(raw: &str) -> Result<ConnectionPolicySid, ApiError> {
    ConnectionPolicySid::parse(raw).ok_or_else(|| ApiError::NotFound(TARGETS.missing_list(&raw)))
}

/// The policy and target SIDs of a target's path; a malformed one is the path's 404.
fn target_sids(
    policy: &str,
    target: &str,
) -> Result<(ConnectionPolicySid, PolicyTargetSid), ApiError> {
    let missing = || ApiError::NotFound(TARGETS.missing(&policy, &target));
    let p = ConnectionPolicySid::parse(policy).ok_or_else(missing)?;
    let t = PolicyTargetSid::parse(target).ok_or_else(missing)?;
    Ok((p, t))
}

/// Anything missing on a target's path is that path's 404.
fn on_path(
    policy: &ConnectionPolicySid,
    target: Option<&PolicyTargetSid>,
    e: StoreError,
) -> ApiError {
    match (e, target) {
        (StoreError::NotFound(_), Some(t)) => ApiError::NotFound(TARGETS.missing(policy, t)),
        (StoreError::NotFound(_), None) => ApiError::NotFound(TARGETS.missing_list(policy)),
        (e, _) => e.into(),
    }
}

async fn create_target(Ctx { app, caller }: Ctx, Path(raw): Path<String>, form: Form) -> Answer {
    let policy = policy_sid(&raw)?;
    let new = TargetPatch::parse(&form, true)?;
    let created = app.store.create_policy_target(caller.sid(), &policy, new);
    let target = created.await.map_err(|e| on_path(&policy, None, e))?;
    Ok(json(
        StatusCode::CREATED,
        &target_view(&app.public_url, &target),
    ))
}

async fn fetch_target(
    Ctx { app, caller }: Ctx,
    Path((policy, target)): Path<(String, String)>,
) -> Answer {
    let (policy, sid) = target_sids(&policy, &target)?;
    let found = app
        .store
        .get_policy_target(caller.sid(), &policy, &sid)
        .await?;
    let target = found.ok_or_else(|| ApiError::NotFound(TARGETS.missing(&policy, &sid)))?;
    Ok(json(StatusCode::OK, &target_view(&app.public_url, &target)))
}

async fn list_targets(Ctx { app, caller }: Ctx, Path(raw): Path<String>, query: Query) -> Answer {
    let policy = policy_sid(&raw)?;
    let (request, page) = v1::page_request::<PolicyTargetSid>(&query)?;
    let rows = app.store.list_policy_targets(caller.sid(), &policy, &page);
    let rows = rows.await.map_err(|e| on_path(&policy, None, e))?;
    let public = &app.public_url;
    let page = request.finish(rows, |t| t.sid.as_str());
    let base = TARGETS.list_url(public, &policy);
    let body = page.v1_envelope(TARGETS.key, &base, |t| to_value(&target_view(public, t)));
    Ok(json(StatusCode::OK, &body))
}

async fn update_target(
    Ctx { app, caller }: Ctx,
    Path((policy, target)): Path<(String, String)>,
    form: Form,
) -> Answer {
    let (policy, sid) = target_sids(&policy, &target)?;
    let patch = TargetPatch::parse(&form, false)?;
    let updated = app
        .store
        .update_policy_target(caller.sid(), &policy, &sid, patch);
    let target = updated.await.map_err(|e| on_path(&policy, Some(&sid), e))?;
    Ok(json(StatusCode::OK, &target_view(&app.public_url, &target)))
}

async fn remove_target(
    Ctx { app, caller }: Ctx,
    Path((policy, target)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (policy, sid) = target_sids(&policy, &target)?;
    let removed = app.store.delete_policy_target(caller.sid(), &policy, &sid);
    removed.await.map_err(|e| on_path(&policy, Some(&sid), e))?;
    Ok(StatusCode::NO_CONTENT)
}
