//! API 2010 Keys: an account's API keys (`/2010-04-01/Accounts/{AccountSid}/Keys.json` and
//! `…/Keys/{Sid}.json`). A key's secret appears once, in the create response (Twilio's
//! `new_key`); fetch, list and update show `sid`, `friendly_name` and the dates only.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use super::extract::{AccountPath, Form, Query};
use super::paging::{PageRequest, to_value};
use super::wire::KEYS;
use super::{Answer, AppState, json};
use crate::auth_token::KeySecret;
use crate::domain::{ApiKey, KeyName, NewApiKey};
use crate::error::ApiError;
use crate::sid::ApiKeySid;
use crate::timefmt::V2010Date;

/// The routes of keys.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&KEYS.list_route(), get(list).post(create))
        .route(
            &KEYS.instance_route(),
            get(fetch).post(update).delete(remove),
        )
}

/// Twilio's `api.v2010.account.key`.
#[derive(Serialize)]
struct KeyView<'a> {
    sid: &'a str,
    friendly_name: Option<&'a str>,
    date_created: V2010Date,
    date_updated: V2010Date,
}

/// Twilio's `api.v2010.account.new_key`: the key and, this once, its secret.
#[derive(Serialize)]
struct NewKeyView<'a> {
    #[serde(flatten)]
    key: KeyView<'a>,
    secret: &'a str,
}

fn view(k: &ApiKey) -> KeyView<'_> {
    KeyView {
        sid: k.sid.as_str(),
        friendly_name: k.friendly_name.as_deref(),
        date_created: V2010Date(k.date_created),
        date_updated: V2010Date(k.date_updated),
    }
}

async fn create(at: AccountPath, form: Form) -> Answer {
    let name = KeyName::parse(&form)?;
    let secret = KeySecret::generate();
    let new = NewApiKey {
        name,
        secret: secret.hash(),
    };
    let key = at.app.store.create_api_key(&at.account, new).await?;
    let body = NewKeyView {
        key: view(&key),
        secret: secret.expose(),
    };
    Ok(json(StatusCode::CREATED, &body))
}

async fn fetch(at: AccountPath) -> Answer {
    let sid: ApiKeySid = at.instance()?;
    let found = at.app.store.get_api_key(&at.account, &sid).await?;
    let key = found.ok_or_else(|| at.not_found())?;
    Ok(json(StatusCode::OK, &view(&key)))
}

async fn list(at: AccountPath, query: Query) -> Answer {
    let request = PageRequest::parse(&query, ApiKeySid::PREFIX)?;
    let query = request.query();
    let rows = at.app.store.list_api_keys(&at.account, &query);
    let page = request.finish(rows.await?, |k| k.sid.as_str());
    let path = KEYS.list_uri(&at.account);
    let body = page.v2010_envelope(KEYS.key, &path, "", |k| to_value(&view(k)));
    Ok(json(StatusCode::OK, &body))
}

async fn update(at: AccountPath, form: Form) -> Answer {
    let sid: ApiKeySid = at.instance()?;
    let name = KeyName::parse(&form)?;
    let key = at.app.store.update_api_key(&at.account, &sid, name);
    Ok(json(StatusCode::OK, &view(&key.await?)))
}

async fn remove(at: AccountPath) -> Result<StatusCode, ApiError> {
    let sid: ApiKeySid = at.instance()?;
    at.app.store.delete_api_key(&at.account, &sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
