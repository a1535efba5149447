//! API 2010 Accounts: `/2010-04-01/Accounts.json` and `/2010-04-01/Accounts/{Sid}.json`. Every
//! view shows the account's auth token, as Twilio's do (opened from its sealed form; `null` for
//! an account whose token is stored as a hash only).

use axum::Router;
use axum::extract::{OriginalUri, Path};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Serialize;

use super::extract::{Caller, Ctx, Form, Query, path_account};
use super::paging::{PageRequest, to_value};
use super::wire::AccountsResource;
use super::{Answer, AppContext, AppState, json};
use crate::auth_token::AuthToken;
use crate::domain::{
    Account, AccountPatch, AccountStatus, NewAccount, Params, Reason, friendly_name,
};
use crate::error::ApiError;
use crate::sid::AccountSid;
use crate::store::AccountFilter;
use crate::timefmt::V2010Date;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(AccountsResource::LIST, get(list).post(create))
        .route(AccountsResource::INSTANCE_ROUTE, post(update).get(fetch))
}

const SUBRESOURCES: [(&str, &str); 16] = [
    ("addresses", "Addresses"),
    ("applications", "Applications"),
    ("authorized_connect_apps", "AuthorizedConnectApps"),
    ("available_phone_numbers", "AvailablePhoneNumbers"),
    ("balance", "Balance"),
    ("calls", "Calls"),
    ("conferences", "Conferences"),
    ("connect_apps", "ConnectApps"),
    ("incoming_phone_numbers", "IncomingPhoneNumbers"),
    ("keys", "Keys"),
    ("notifications", "Notifications"),
    ("outgoing_caller_ids", "OutgoingCallerIds"),
    ("queues", "Queues"),
    ("recordings", "Recordings"),
    ("sip", "SIP"),
    ("usage", "Usage"),
];

/// The wire form of an account.
#[derive(Serialize)]
pub struct AccountView<'a> {
    auth_token: Option<&'a str>,
    date_created: V2010Date,
    date_updated: V2010Date,
    friendly_name: &'a str,
    owner_account_sid: &'a str,
    sid: &'a str,
    status: &'static str,
    subresource_uris: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "type")]
    kind: &'static str,
    uri: String,
}

/// Renders `a` with its auth token (`None` for an account whose token is stored as a hash only).
pub fn view<'a>(a: &'a Account, token: Option<&'a str>) -> AccountView<'a> {
    let base = AccountsResource::base(&a.sid);
    AccountView {
        auth_token: token,
        date_created: V2010Date(a.date_created),
        date_updated: V2010Date(a.date_updated),
        friendly_name: &a.friendly_name,
        owner_account_sid: a.owner_sid.as_ref().unwrap_or(&a.sid).as_str(),
        sid: a.sid.as_str(),
        status: a.status.as_str(),
        subresource_uris: SUBRESOURCES
            .iter()
            .map(|(k, p)| ((*k).to_owned(), format!("{base}/{p}.json").into()))
            .collect(),
        kind: "Full",
        uri: AccountsResource::uri(&a.sid),
    }
}

fn status_param(p: &dyn Params) -> Result<Option<AccountStatus>, ApiError> {
    match p.get("Status") {
        None | Some("") => Ok(None),
        Some(v) => AccountStatus::parse(v).map(Some).ok_or_else(|| {
            let reason = Reason::NotOneOf(v.to_owned(), "active, suspended, closed");
            ApiError::invalid("Status", reason)
        }),
    }
}

async fn create(Ctx { app, caller }: Ctx, form: Form) -> Answer {
    if caller.0.owner_sid.is_some() {
        return Err(ApiError::SubaccountCannotCreate);
    }
    let token = AuthToken::generate();
    let account = app
        .store
        .create_account(NewAccount {
            owner_sid: Some(caller.sid().clone()),
            friendly_name: friendly_name(&form, "FriendlyName", 64)?,
            token: token.clone(),
        })
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &view(&account, Some(token.expose())),
    ))
}

/// An account's view with its auth token, opened with the server key.
fn shown(app: &AppContext, status: StatusCode, a: &Account) -> Answer {
    let token = app.store.reveal_token(a)?;
    Ok(json(
        status,
        &view(a, token.as_ref().map(AuthToken::expose)),
    ))
}

async fn list(Ctx { app, caller }: Ctx, query: Query) -> Answer {
    let filter = AccountFilter {
        friendly_name: crate::domain::text(&query, "FriendlyName").map(str::to_owned),
        status: status_param(&query)?,
    };
    let request = PageRequest::parse(&query, AccountSid::PREFIX)?;
    let rows = app
        .store
        .list_accounts(caller.sid(), &filter, &request.query())
        .await?;
    let rows = rows
        .into_iter()
        .map(|a| Ok((app.store.reveal_token(&a)?, a)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let page = request.finish(rows, |(_, a)| a.sid.as_str());
    let mut filters = String::new();
    for (key, value) in [
        ("FriendlyName", filter.friendly_name.as_deref()),
        ("Status", filter.status.map(AccountStatus::as_str)),
    ] {
        if let Some(v) = value {
            filters.push_str(key);
            filters.push('=');
            filters.extend(form_urlencoded::byte_serialize(v.as_bytes()));
            filters.push('&');
        }
    }
    Ok(json(
        StatusCode::OK,
        &page.v2010_envelope(
            AccountsResource::KEY,
            AccountsResource::LIST,
            &filters,
            |(token, a)| to_value(&view(a, token.as_ref().map(AuthToken::expose))),
        ),
    ))
}

/// The account of an instance path (`AC….json`) if the caller may act on it (else 401, see
/// [`path_account`]).
async fn instance(
    app: &AppContext,
    caller: &Caller,
    file: &str,
    uri: &str,
) -> Result<AccountSid, ApiError> {
    let raw = file
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::NotFound(uri.to_owned()))?;
    path_account(app, caller, raw).await
}

async fn fetch(
    Ctx { app, caller }: Ctx,
    Path(file): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Answer {
    let sid = instance(&app, &caller, &file, uri.path()).await?;
    let account = app
        .store
        .get_account(&sid)
        .await?
        .ok_or_else(|| ApiError::NotFound(uri.path().to_owned()))?;
    shown(&app, StatusCode::OK, &account)
}

async fn update(
    Ctx { app, caller }: Ctx,
    Path(file): Path<String>,
    OriginalUri(uri): OriginalUri,
    form: Form,
) -> Answer {
    let sid = instance(&app, &caller, &file, uri.path()).await?;
    let name = friendly_name(&form, "FriendlyName", 64)?;
    let status = status_param(&form)?;
    let patch = AccountPatch {
        friendly_name: name,
        status,
    };
    let account = app.store.update_account(&sid, patch).await?;
    shown(&app, StatusCode::OK, &account)
}
