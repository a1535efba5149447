//! The HTTP API: routes, shared state and the conventions every response follows.
//!
//! Each resource module owns its routes ([`ip_records`], [`mappings`], [`sip_domains`],
//! [`accounts`], [`keys`], …); [`router`] merges them and wraps them in [`twilio_conventions`],
//! which answers CORS preflights, stamps `Twilio-Request-Id` and the CORS headers on every
//! response, and turns any error the framework produced itself (unknown route, wrong method, …)
//! into a Twilio error.

pub mod accounts;
pub mod alerts;
pub mod auth_mappings;
pub mod byoc_trunks;
pub mod call_events;
pub mod calls;
pub mod connection_policies;
pub mod console;
pub mod console_session;
pub mod credential_lists;
pub mod decisions;
pub mod events;
pub mod extract;
pub mod ip_access_control_lists;
pub mod ip_records;
pub mod keys;
pub mod mappings;
pub mod ops;
pub mod paging;
pub mod server;
pub mod sip_domains;
pub mod sip_lists;
pub mod target_health;
pub mod throttle;
pub mod v1;
pub mod v2010;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{Credential, CredentialList, IpAccessControlList, IpAddress};
use crate::error::{ApiError, BodyProblem, RenderedError};
use crate::store::Store;

/// What a handler answers: a response, or the error that becomes one.
pub type Answer = Result<Response, ApiError>;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<AppContext>);

/// The shared parts of the running server.
pub struct AppContext {
    /// Storage, the source of truth, acting for no one: authentication and reads. A handler
    /// writes through its request's store (`extract::RequestApp::store`), which records the
    /// write's events in the audit log.
    pub store: Arc<Store>,
    /// Base of absolute URLs in Voice v1 responses, without a trailing slash.
    pub public_url: String,
    /// SIP domain names must end with `.{domain_suffix}`.
    pub domain_suffix: String,
    /// Counters of the SIP edge, and target health.
    pub metrics: Arc<crate::sip::metrics::Metrics>,
    /// Where the SIP edge forwards what no target takes (`--sip-upstream`), and over what.
    pub sip_upstream: Option<crate::domain::Destination>,
    /// Limits of the HTTP listener (the body timeout is applied per request here).
    pub limits: server::HttpLimits,
    /// Failed-authentication throttling.
    pub throttle: throttle::AuthThrottle,
    /// Where an update of a live call goes: the node's call runtime.
    pub calls: Arc<dyn crate::calls::Control>,
    /// The call runtime of this node (its metrics), when the SIP edge is on.
    pub runtime: Option<crate::call_runtime::CallRuntime>,
    /// The console's sign-in sessions on this node.
    pub sessions: console_session::Sessions,
    /// This node's record of the SIP edge's recent decisions, and the traffic series.
    pub decisions: Arc<crate::sip::edge::record::Decisions>,
}

impl std::ops::Deref for AppState {
    type Target = AppContext;
    fn deref(&self) -> &AppContext {
        &self.0
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(ip_records::router())
        .merge(mappings::router())
        .merge(sip_domains::router())
        .merge(v2010::router::<IpAccessControlList>())
        .merge(v2010::router::<IpAddress>())
        .merge(v2010::router::<CredentialList>())
        .merge(v2010::router::<Credential>())
        .merge(auth_mappings::router())
        .merge(byoc_trunks::router())
        .merge(connection_policies::router())
        .merge(accounts::router())
        .merge(keys::router())
        .merge(calls::router())
        .merge(call_events::router())
        .merge(events::router())
        .merge(alerts::router())
        .merge(ops::router())
        .merge(console::router())
        .merge(target_health::router())
        .merge(decisions::router())
        .fallback(|req: Request| async move { ApiError::NotFound(req.uri().path().to_owned()) })
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(
            state,
            twilio_conventions,
        ))
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let content_type = [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )];
            let mut response = (status, content_type, bytes).into_response();
            response.extensions_mut().insert(RenderedError);
            response
        }
        Err(e) => ApiError::Internal(format!("cannot serialise a response: {e}")).into_response(),
    }
}

/// Twilio's CORS headers, less one: Twilio also sends `Access-Control-Allow-Credentials: true`
/// beside `Allow-Origin: *`, a pair browsers refuse (a credentialed request needs the exact
/// origin). sipmap leaves it out: a page on another origin may still call the API with an
/// explicit `Authorization` header (a non-credentialed request), and no browser ever attaches
/// sipmap's cookies or a cached Basic login to a cross-origin request.
const CORS_HEADERS: [(&str, &str); 4] = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS"),
    (
        "access-control-allow-headers",
        "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, \
         If-Unmodified-Since, Idempotency-Key",
    ),
    ("access-control-expose-headers", "ETag"),
];

/// The longest request target (path and query) accepted, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most bytes of request headers accepted (names and values).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Applies Twilio's response conventions to every request (see the module doc). Before anything
/// else it enforces the request limits and reads the whole body (bounded in size and time), so
/// that whatever the answer, the connection is left at the start of the next request: an early
/// 401 or 503 never strands an unread body on a keep-alive connection.
pub async fn twilio_conventions(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let quiet = console::quiet_challenge(req.headers(), &path);
    let mut response = match within_limits(req, &app.limits).await {
        Err(e) => e.into_response(),
        Ok(req) if req.method() == Method::OPTIONS => StatusCode::NO_CONTENT.into_response(),
        Ok(req) => {
            let response = next.run(req).await;
            let status = response.status();
            if (status.is_client_error() || status.is_server_error())
                && response.extensions().get::<RenderedError>().is_none()
            {
                framework_error(status, path).into_response()
            } else {
                response
            }
        }
    };
    let headers = response.headers_mut();
    if quiet {
        headers.remove(header::WWW_AUTHENTICATE);
    }
    if let Ok(id) = HeaderValue::from_str(&format!("RQ{}", crate::sid::random_hex32())) {
        headers.insert("twilio-request-id", id);
    }
    for (name, value) in CORS_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Checks the request's size limits and reads its whole body into memory.
async fn within_limits(req: Request, limits: &server::HttpLimits) -> Result<Request, ApiError> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::UriTooLong(MAX_URI_BYTES));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if req.headers().len() > server::MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::HeadersTooLarge(
            server::MAX_HEADERS,
            MAX_HEADER_BYTES,
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > crate::error::MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(limits.body_timeout, read_body(body)).await {
        Ok(read) => read?,
        Err(_) => {
            tracing::debug!("request body timed out");
            return Err(ApiError::RequestTimeout(limits.body_timeout.as_secs()));
        }
    };
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// The whole body, refused once it passes [`crate::error::MAX_BODY_BYTES`].
async fn read_body(mut body: axum::body::Body) -> Result<Vec<u8>, ApiError> {
    use axum::body::HttpBody;
    let mut out = Vec::new();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame =
            frame.map_err(|e| ApiError::InvalidBody(BodyProblem::Unreadable(e.to_string())))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > crate::error::MAX_BODY_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The Twilio error for a status the framework produced without going through [`ApiError`].
fn framework_error(status: StatusCode, path: String) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(path),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        s if s.is_server_error() => ApiError::Internal(format!("framework answered {s}")),
        s => ApiError::InvalidBody(BodyProblem::Refused(s)),
    }
}
