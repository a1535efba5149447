//! Voice v1 BYOC Trunks: `/v1/ByocTrunks` and `/v1/ByocTrunks/{Sid}`.

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{Ctx, Form, Query};
use super::paging::to_value;
use super::wire::BYOC_TRUNKS;
use super::{Answer, AppState, json, v1};
use crate::domain::{ByocTrunk, ByocTrunkPatch};
use crate::error::ApiError;
use crate::sid::ByocTrunkSid;
use crate::timefmt::V1Date;

/// The routes of trunks.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&BYOC_TRUNKS.list_route(), get(list).post(create))
        .route(
            &BYOC_TRUNKS.instance_route(),
            get(fetch).post(update).delete(remove),
        )
}

#[derive(Serialize)]
struct TrunkView<'a> {
    account_sid: &'a str,
    sid: &'a str,
    friendly_name: Option<&'a str>,
    voice_url: Option<&'a str>,
    voice_method: &'a str,
    voice_fallback_url: Option<&'a str>,
    voice_fallback_method: &'a str,
    status_callback_url: Option<&'a str>,
    status_callback_method: &'a str,
    cnam_lookup_enabled: bool,
    connection_policy_sid: Option<&'a str>,
    from_domain_sid: Option<&'a str>,
    date_created: V1Date,
    date_updated: V1Date,
    url: String,
}

fn view<'a>(public_url: &str, t: &'a ByocTrunk) -> TrunkView<'a> {
    TrunkView {
        account_sid: t.account_sid.as_str(),
        sid: t.sid.as_str(),
        friendly_name: t.friendly_name.as_deref(),
        voice_url: t.voice_url.as_deref(),
        voice_method: &t.voice_method,
        voice_fallback_url: t.voice_fallback_url.as_deref(),
        voice_fallback_method: &t.voice_fallback_method,
        status_callback_url: t.status_callback_url.as_deref(),
        status_callback_method: &t.status_callback_method,
        cnam_lookup_enabled: t.cnam_lookup_enabled,
        connection_policy_sid: t.connection_policy_sid.as_ref().map(|s| s.as_str()),
        from_domain_sid: t.from_domain_sid.as_ref().map(|s| s.as_str()),
        date_created: V1Date(t.date_created),
        date_updated: V1Date(t.date_updated),
        url: BYOC_TRUNKS.url(public_url, &t.sid),
    }
}

async fn create(Ctx { app, caller }: Ctx, form: Form) -> Answer {
    let new = ByocTrunkPatch::parse(&form)?;
    let trunk = app.store.create_byoc_trunk(caller.sid(), new).await?;
    Ok(json(StatusCode::CREATED, &view(&app.public_url, &trunk)))
}

async fn fetch(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Answer {
    let sid: ByocTrunkSid = v1::path_sid(BYOC_TRUNKS, &raw)?;
    let found = app.store.get_byoc_trunk(caller.sid(), &sid).await?;
    let trunk = v1::found(BYOC_TRUNKS, &sid, found)?;
    Ok(json(StatusCode::OK, &view(&app.public_url, &trunk)))
}

async fn list(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let (request, page) = v1::page_request::<ByocTrunkSid>(&query)?;
    let rows = app.store.list_byoc_trunks(caller.sid(), &page).await?;
    let public = &app.public_url;
    Ok(v1::list(
        BYOC_TRUNKS,
        public,
        &request,
        rows,
        |r| r.sid.as_str(),
        |t| to_value(&view(public, t)),
    ))
}

async fn update(Ctx { app, caller }: Ctx, Path(raw): Path<String>, form: Form) -> Answer {
    let sid: ByocTrunkSid = v1::path_sid(BYOC_TRUNKS, &raw)?;
    let patch = ByocTrunkPatch::parse(&form)?;
    let trunk = app.store.update_byoc_trunk(caller.sid(), &sid, patch);
    Ok(json(StatusCode::OK, &view(&app.public_url, &trunk.await?)))
}

async fn remove(Ctx { app, caller }: Ctx, Path(raw): Path<String>) -> Result<StatusCode, ApiError> {
    let sid: ByocTrunkSid = v1::path_sid(BYOC_TRUNKS, &raw)?;
    app.store.delete_byoc_trunk(caller.sid(), &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
