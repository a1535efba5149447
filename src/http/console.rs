//! The web console at `/console`: one page, its script and its style sheet, built into the binary
//! (no CDN, nothing fetched at install or run time), and the sign-in session they use.
//!
//! - `GET /console`: the page. Everything it shows it reads from the API itself (the same API
//!   2010, Voice v1, Monitor v1 and sipmap paths the SDKs call), authenticated by the session
//!   cookie instead of Basic auth (see [`super::extract::Caller`]).
//! - `POST /console/session` (form: `AccountSid`, `Secret`, and `ApiKeySid` to sign in with an API
//!   key): checks the credentials as Basic auth does ([`super::extract::authenticate`], with its
//!   throttle), opens a session ([`super::console_session`]) and sets its cookie
//!   (`HttpOnly; SameSite=Strict; Path=/`, and `Secure` when the request came over HTTPS).
//!   Answers the account, the user and the session's CSRF token.
//! - `GET /console/session`: the same answer for the cookie's session (a page reloaded).
//! - `DELETE /console/session`: signs out (with the CSRF token, as every cookie write): the
//!   session is deleted and the cookie cleared.

use axum::Router;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::console_session::{ABSOLUTE, COOKIE};
use super::extract::{Caller, Form, authenticate, session_cookie};
use super::server::{ClientAddr, OverTls};
use super::{Answer, AppState, json};
use crate::domain::{Account, Params};
use crate::error::ApiError;

const PAGE: &str = include_str!("console_assets/index.html");
const SCRIPT: &str = include_str!("console_assets/console.js");
const STYLE: &str = include_str!("console_assets/console.css");

/// What the page may load and do: only its own script, style and API, never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The embedded files: path, content type, content.
const ASSETS: [(&str, &str, &str); 4] = [
    ("/console", "text/html; charset=utf-8", PAGE),
    ("/console/", "text/html; charset=utf-8", PAGE),
    (
        "/console/console.js",
        "text/javascript; charset=utf-8",
        SCRIPT,
    ),
    ("/console/console.css", "text/css; charset=utf-8", STYLE),
];

/// The console's routes.
pub fn router() -> Router<AppState> {
    ASSETS.into_iter().fold(
        Router::new().route(
            "/console/session",
            get(current).post(sign_in).delete(sign_out),
        ),
        |router, (path, kind, body)| {
            router.route(path, get(move || async move { asset(kind, body) }))
        },
    )
}

/// One embedded file, with the headers that keep it to itself.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    (StatusCode::OK, headers, body).into_response()
}

/// What the page learns of its session.
#[derive(Serialize)]
struct SessionView<'a> {
    account_sid: &'a str,
    friendly_name: &'a str,
    /// The Account SID or API key SID signed in with.
    user_sid: &'a str,
    csrf_token: &'a str,
}

fn view(account: &Account, user: &str, csrf: &str) -> serde_json::Value {
    serde_json::json!(SessionView {
        account_sid: account.sid.as_str(),
        friendly_name: &account.friendly_name,
        user_sid: user,
        csrf_token: csrf,
    })
}

/// The `Set-Cookie` value for a session id (`None`: clears the cookie).
fn cookie(parts: &Parts, id: Option<&str>) -> Result<HeaderValue, ApiError> {
    let secure = if parts.extensions.get::<OverTls>().is_some() {
        "; Secure"
    } else {
        ""
    };
    let (value, age) = match id {
        Some(id) => (id, ABSOLUTE.as_secs()),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={age}{secure}"
    ))
    .map_err(|e| ApiError::Internal(format!("cannot write the session cookie: {e}")))
}

/// `POST /console/session`: signs in.
async fn sign_in(State(state): State<AppState>, parts: Parts, form: Form) -> Answer {
    let client = parts
        .extensions
        .get::<ClientAddr>()
        .map(|ClientAddr(a)| a.ip());
    if !from_own_page(&parts) {
        tracing::debug!("console sign-in from another site's page");
        return Err(ApiError::CrossSiteSignIn);
    }
    let named_account = form.get("AccountSid").filter(|v| !v.is_empty());
    let key = form.get("ApiKeySid").filter(|v| !v.is_empty());
    let user = match (key, named_account) {
        (Some(key), _) => key,
        (None, Some(account)) => account,
        (None, None) => return Err(ApiError::MissingParameter("AccountSid")),
    };
    let secret = form
        .get("Secret")
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::MissingParameter("Secret"))?;
    let (account, verifier) = authenticate(&state, client, user, secret.as_bytes()).await?;
    if named_account.is_some_and(|named| named != account.sid.as_str()) {
        tracing::debug!(account.sid = %account.sid, "console sign-in: the key is another account's");
        return Err(ApiError::Unauthorized);
    }
    let issued = state
        .sessions
        .open(user, verifier, std::time::Instant::now())
        .map_err(|_| ApiError::SessionsFull)?;
    tracing::info!(account.sid = %account.sid, user, "console sign-in");
    let mut response = json(StatusCode::CREATED, &view(&account, user, &issued.csrf));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&parts, Some(&issued.id))?);
    no_store(&mut response);
    Ok(response)
}

/// Whether a sign-in may come from where the browser says it comes from: `Sec-Fetch-Site`, when
/// sent, is `same-origin` or `none` (typed or bookmarked), and `Origin`, when sent, names this
/// server's host and port (the `Host` header, or HTTP/2's `:authority`). A request with neither
/// header is not a browser's cross-site form.
fn from_own_page(parts: &Parts) -> bool {
    let headers = &parts.headers;
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// `GET /console/session`: the cookie's session.
async fn current(State(state): State<AppState>, parts: Parts, caller: Caller) -> Answer {
    let id = session_cookie(&parts.headers).ok_or(ApiError::Unauthorized)?;
    let session = state
        .sessions
        .touch(&id, std::time::Instant::now())
        .filter(|session| session.user == caller.1.sid)
        .ok_or(ApiError::Unauthorized)?;
    let mut response = json(
        StatusCode::OK,
        &view(&caller.0, &session.user, session.csrf()),
    );
    no_store(&mut response);
    Ok(response)
}

/// `DELETE /console/session`: signs out.
async fn sign_out(State(state): State<AppState>, parts: Parts, caller: Caller) -> Answer {
    let id = session_cookie(&parts.headers).ok_or(ApiError::Unauthorized)?;
    state.sessions.close(&id);
    tracing::info!(account.sid = %caller.sid(), "console sign-out");
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(&parts, None)?);
    Ok(response)
}

fn no_store(response: &mut Response) {
    response.headers_mut().insert(
        HeaderName::from_static("cache-control"),
        HeaderValue::from_static("no-store"),
    );
}

/// Whether an answer to this request should leave out `WWW-Authenticate`: a request that sent
/// no `Authorization` but came from the console (its path, or its session cookie), so that a
/// browser shows the console's sign-in form rather than its own Basic login dialog.
pub fn quiet_challenge(headers: &axum::http::HeaderMap, path: &str) -> bool {
    !headers.contains_key(header::AUTHORIZATION)
        && (path.starts_with("/console") || session_cookie(headers).is_some())
}
