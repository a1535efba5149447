//! Request extractors whose every rejection is an [`ApiError`]: form bodies, query strings and the
//! authenticated caller.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;

use super::console_session;
use super::server::ClientAddr;
use super::{AppContext, AppState};
use crate::auth_token::TokenHash;
use crate::domain::{Account, AccountStatus, Actor, Params};
use crate::error::{ApiError, BodyProblem, MAX_BODY_BYTES};
use crate::sid::{AccountSid, ApiKeySid};
use crate::store::Store;

/// Decoded `application/x-www-form-urlencoded` pairs, in order. Twilio's SDKs send form bodies;
/// the body is parsed as a form whatever its `Content-Type`, so a JSON body simply lacks the
/// parameters, as on Twilio.
#[derive(Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Params for Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `application/x-www-form-urlencoded` bytes as the WHATWG URL standard does (`+` is a
/// space; `%` followed by two hex digits is that byte; any other `%` stays as it is), except that
/// it is strict where the standard is lenient: the decoded bytes of every name and value must be
/// UTF-8 (no U+FFFD substitution), and no name or value may hold a NUL character, which no
/// parameter of the API can contain and which some databases cannot store.
fn parse_pairs(raw: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    std::str::from_utf8(raw).map_err(|_| ApiError::InvalidBody(BodyProblem::NotUtf8))?;
    raw.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

/// One percent-decoded name or value (see [`parse_pairs`]).
fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = match raw[i] {
            b'+' => b' ',
            b'%' => match (
                raw.get(i + 1).and_then(|b| hex(*b)),
                raw.get(i + 2).and_then(|b| hex(*b)),
            ) {
                (Some(hi), Some(lo)) => {
                    i += 2;
                    (hi * 16 + lo) as u8
                }
                _ => b'%',
            },
            b => b,
        };
        out.push(byte);
        i += 1;
    }
    if out.contains(&0) {
        return Err(ApiError::InvalidBody(BodyProblem::Nul));
    }
    String::from_utf8(out).map_err(|_| ApiError::InvalidBody(BodyProblem::NotUtf8Value))
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        Ok(Self(parse_pairs(&bytes)?))
    }
}

/// Decoded query-string pairs.
#[derive(Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Params for Query {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        Ok(Self(parse_pairs(raw.as_bytes())?))
    }
}

/// The server's shared state as one authenticated request sees it: its `store` acts for the
/// caller ([`Store::acting`]), so that every write a handler makes through it is recorded in the
/// audit log (Monitor Events) with the caller's identity and address, in the write's own
/// transaction. Everything else is the server's ([`AppContext`], through `Deref`).
#[derive(Clone)]
pub struct RequestApp {
    state: AppState,
    /// Storage, acting for the caller.
    pub store: Store,
}

impl RequestApp {
    fn new(state: &AppState, caller: &Caller) -> Self {
        Self {
            state: state.clone(),
            store: state.store.acting(caller.1.clone()),
        }
    }

    /// The server's shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }
}

impl std::ops::Deref for RequestApp {
    type Target = AppContext;
    fn deref(&self) -> &AppContext {
        &self.state
    }
}

/// What every authenticated handler needs: the server (its storage acting for the caller) and
/// the caller.
pub struct Ctx {
    /// The server's shared state, storage acting for the caller.
    pub app: RequestApp,
    /// The authenticated caller.
    pub caller: Caller,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Self {
            app: RequestApp::new(state, &caller),
            caller,
        })
    }
}

/// The authenticated, active account making the request (HTTP Basic: the Account SID and its
/// Auth Token, or an API key's SID and its secret, which authenticate as the key's account; or
/// the console's session cookie, which stands for the credentials it signed in with),
/// and who acted, as the audit log names it: the account or the key, and the client's address.
#[derive(Debug, Clone)]
pub struct Caller(pub Account, pub Actor);

impl Caller {
    /// The caller's SID.
    pub fn sid(&self) -> &AccountSid {
        &self.0.sid
    }
}

/// Splits an `Authorization: Basic …` header into user and password.
fn basic_credentials(parts: &Parts) -> Option<(String, Vec<u8>)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = parts
            .extensions
            .get::<ClientAddr>()
            .map(|ClientAddr(a)| a.ip());
        let (account, user) = match basic_credentials(parts) {
            Some((user, secret)) => (authenticate(state, client, &user, &secret).await?.0, user),
            None => match session_cookie(&parts.headers) {
                Some(id) => session_caller(parts, state, &id).await?,
                None => {
                    // No guess was made, so nothing counts against the client.
                    tracing::debug!("no usable Basic credentials");
                    return Err(ApiError::Unauthorized);
                }
            },
        };
        let actor = Actor {
            sid: user,
            ip: client.map(|ip| ip.to_string()),
        };
        Ok(Self(account, actor))
    }
}

/// Checks a Basic user name (an Account SID or an API key SID) and its password (the auth token
/// or the key secret): the account it authenticates as, active, and the stored hash the password
/// matched. The one credential check, for the API's Basic auth and the console's sign-in alike.
pub async fn authenticate(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    user: &str,
    secret: &[u8],
) -> Result<(Account, TokenHash), ApiError> {
    // Refused before any check while this client, or this account from an address it does
    // not know, has failed too often.
    state
        .throttle
        .check(client, user)
        .map_err(ApiError::TooManyRequests)?;
    let found = credentials_of(state, user).await?;
    let Some((account, hash)) = found else {
        // Same work as a real check, so timing does not reveal which accounts (or keys)
        // exist.
        TokenHash::dummy().verify(secret);
        tracing::debug!("unknown account or API key");
        state.throttle.failed(client, None);
        return Err(ApiError::Unauthorized);
    };
    if !hash.verify(secret) {
        tracing::debug!(account.sid = %account.sid, "wrong auth token or key secret");
        state.throttle.failed(client, Some(user));
        return Err(ApiError::Unauthorized);
    }
    if account.status != AccountStatus::Active {
        tracing::debug!(account.sid = %account.sid, "account is not active");
        return Err(ApiError::Unauthorized);
    }
    state.throttle.succeeded(client, user);
    Ok((account, hash))
}

/// The console's session cookie, when the request carries one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(console_session::cookie_value)
        .map(str::to_owned)
}

/// The account and user of a console session (see [`console_session`]): the session must be
/// live, its user's credential still the one it signed in with and the account active, or the
/// session ends here; a request that changes something must carry the session's CSRF token.
async fn session_caller(
    parts: &Parts,
    state: &AppState,
    id: &str,
) -> Result<(Account, String), ApiError> {
    let Some(session) = state.sessions.touch(id, std::time::Instant::now()) else {
        tracing::debug!("no such console session, or it expired");
        return Err(ApiError::Unauthorized);
    };
    let current = credentials_of(state, &session.user).await?;
    let Some((account, _)) = current.filter(|(account, hash)| {
        *hash == session.verifier && account.status == AccountStatus::Active
    }) else {
        tracing::debug!("a console session's credential changed or its account is not active");
        state.sessions.close(id);
        return Err(ApiError::Unauthorized);
    };
    if !parts.method.is_safe() {
        let token = parts.headers.get(CSRF_HEADER).map(|v| v.as_bytes());
        if !token.is_some_and(|t| session.csrf_matches(t)) {
            tracing::debug!(account.sid = %account.sid, "console write without its CSRF token");
            return Err(ApiError::CsrfRejected);
        }
    }
    Ok((account, session.user))
}

/// The header a cookie-authenticated write carries its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The account a Basic user name authenticates as and the hash its password must match: an
/// Account SID's auth token, or an API key's (`SK…`) secret. From the node's credential cache
/// when it has them, else one indexed read (`store::credentials`): a deleted key, a changed
/// token or a closed account applies at the next request on the node that wrote it, and on
/// the other nodes of a cluster within the change feed's delay.
async fn credentials_of(
    state: &AppState,
    user: &str,
) -> Result<Option<(Account, TokenHash)>, ApiError> {
    if let Some(key) = ApiKeySid::parse(user) {
        return Ok(state.store.key_credentials(&key).await?);
    }
    match AccountSid::parse(user) {
        Some(sid) => Ok(state.store.account_credentials(&sid).await?),
        None => Ok(None),
    }
}

/// The account an API 2010 path names, if the caller may act on it: itself or one of its
/// subaccounts. Any other account path (the caller's parent, a sibling, an unrelated account, an
/// account that does not exist, or no Account SID at all) is answered 401 with code 20003, as
/// Twilio answers a subaccount's credentials on its parent's resources: the same answer whether
/// or not the account exists, so it reveals nothing.
pub async fn path_account(
    app: &AppContext,
    caller: &Caller,
    raw: &str,
) -> Result<AccountSid, ApiError> {
    let refused = || {
        tracing::debug!(account.sid = %caller.sid(), "an account path the caller may not act on");
        ApiError::Unauthorized
    };
    let sid = AccountSid::parse(raw).ok_or_else(refused)?;
    if &sid == caller.sid() {
        return Ok(sid);
    }
    match app.store.get_account(&sid).await? {
        Some(account) if account.is_reachable_by(caller.sid()) => Ok(sid),
        _ => Err(refused()),
    }
}

/// A request to an API 2010 resource under `/2010-04-01/Accounts/{account}/…`: the server, the
/// caller, the account the path names (one the caller may act on; see [`path_account`]), the instance SID segment if
/// the route has one (`{sid}`, with its `.json`), and the path as requested, which a 404 names.
pub struct AccountPath {
    /// The server's shared state, storage acting for the caller.
    pub app: RequestApp,
    /// The authenticated caller.
    pub caller: Caller,
    /// The account the path names.
    pub account: AccountSid,
    /// The `{sid}` segment, when the route has one.
    pub sid: Option<String>,
    /// The `{child}` segment of a sub-resource's instance route.
    pub child: Option<String>,
    /// The request's path.
    pub path: String,
}

impl AccountPath {
    /// The resource's 404 for this path.
    pub fn not_found(&self) -> ApiError {
        ApiError::NotFound(self.path.clone())
    }

    /// The instance SID of the path (`SD….json`), parsed; a malformed one is this path's 404.
    pub fn instance<S: crate::sid::Sid>(&self) -> Result<S, ApiError> {
        let sid = self.sid.as_deref().unwrap_or_default();
        super::wire::json_sid(sid, S::parse).ok_or_else(|| self.not_found())
    }

    /// `result`, with anything storage did not find reported as this path's 404 (for paths
    /// that name every resource the call depends on).
    pub fn here<T>(&self, result: Result<T, crate::store::StoreError>) -> Result<T, ApiError> {
        result.map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => self.not_found(),
            e => e.into(),
        })
    }

    /// The parent's SID of a sub-resource's path (the `{sid}` segment, without `.json`),
    /// parsed; a malformed one is this path's 404.
    pub fn parent<S: crate::sid::Sid>(&self) -> Result<S, ApiError> {
        S::parse(self.sid.as_deref().unwrap_or_default()).ok_or_else(|| self.not_found())
    }

    /// The sub-resource's instance SID (`{child}`, with its `.json`), parsed; a malformed one
    /// is this path's 404.
    pub fn child<S: crate::sid::Sid>(&self) -> Result<S, ApiError> {
        let sid = self.child.as_deref().unwrap_or_default();
        super::wire::json_sid(sid, S::parse).ok_or_else(|| self.not_found())
    }
}

impl FromRequestParts<AppState> for AccountPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        use axum::extract::Path;
        let Ctx { app, caller } = Ctx::from_request_parts(parts, state).await?;
        let path = parts.uri.path().to_owned();
        let Path(params) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound(path.clone()))?;
        let raw = params
            .get("account")
            .map(String::as_str)
            .unwrap_or_default();
        let account = path_account(&app, &caller, raw).await?;
        Ok(Self {
            app,
            caller,
            account,
            sid: params.get("sid").cloned(),
            child: params.get("child").cloned(),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_pairs;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        parse_pairs(raw.as_bytes()).expect("parses")
    }

    #[test]
    fn decodes_as_the_url_standard_does() {
        assert_eq!(
            pairs("A=1&B=x+y&C=%41%e2%82%ac&&D&E=50%&F=%zz"),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x y".into()),
                ("C".into(), "A\u{20ac}".into()),
                ("D".into(), String::new()),
                ("E".into(), "50%".into()),
                ("F".into(), "%zz".into()),
            ]
        );
        assert_eq!(pairs("N=%EF%BF%BD"), vec![("N".into(), "\u{fffd}".into())]);
    }

    #[test]
    fn refuses_invalid_utf8_and_nul_exactly() {
        for bad in [
            "A=%FF",
            "A=%FF&B=\u{fffd}",
            "B=\u{fffd}&A=%C3",
            "%FF=1",
            "A=%00",
            "A=x%00y",
            "%00=1",
        ] {
            assert!(parse_pairs(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_pairs(b"A=\xff").is_err(), "raw invalid UTF-8");
    }
}
