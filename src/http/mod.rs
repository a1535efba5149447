//! The HTTP API: routes, shared state and the conventions every response follows.
//!
//! Each resource module owns its routes ([`ip_records`], [`mappings`], [`sip_domains`],
//! [`accounts`]); [`router`] merges them and wraps them in [`twilio_conventions`], which answers
//! CORS preflights, stamps `Twilio-Request-Id` and the CORS headers on every response, and turns
//! any error the framework produced itself (unknown route, wrong method, …) into a Twilio error.

pub mod accounts;
pub mod extract;
pub mod ip_records;
pub mod mappings;
pub mod ops;
pub mod paging;
pub mod sip_domains;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{ApiError, RenderedError};
use crate::store::Store;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<AppContext>);

/// The shared parts of the running server.
pub struct AppContext {
    /// Storage, the source of truth.
    pub store: Arc<dyn Store>,
    /// Base of absolute URLs in Voice v1 responses, without a trailing slash.
    pub public_url: String,
    /// SIP domain names must end with `.{domain_suffix}`.
    pub domain_suffix: String,
    /// Counters of the SIP edge.
    pub metrics: Arc<crate::sip::metrics::Metrics>,
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
        .merge(accounts::router())
        .merge(ops::router())
        .fallback(|req: Request| async move { ApiError::NotFound(req.uri().path().to_owned()) })
        .with_state(state)
        .layer(axum::middleware::from_fn(twilio_conventions))
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

const CORS_HEADERS: [(&str, &str); 5] = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS"),
    (
        "access-control-allow-headers",
        "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, \
         If-Unmodified-Since, Idempotency-Key",
    ),
    ("access-control-allow-credentials", "true"),
    ("access-control-expose-headers", "ETag"),
];

/// Applies Twilio's response conventions to every request (see the module doc).
pub async fn twilio_conventions(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut response = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let response = next.run(req).await;
        let status = response.status();
        if (status.is_client_error() || status.is_server_error())
            && response.extensions().get::<RenderedError>().is_none()
        {
            framework_error(status, path).into_response()
        } else {
            response
        }
    };
    let headers = response.headers_mut();
    if let Ok(id) = HeaderValue::from_str(&format!("RQ{}", crate::sid::random_hex32())) {
        headers.insert("twilio-request-id", id);
    }
    for (name, value) in CORS_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The Twilio error for a status the framework produced without going through [`ApiError`].
fn framework_error(status: StatusCode, path: String) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(path),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        s if s.is_server_error() => ApiError::Internal(format!("framework answered {s}")),
        s => ApiError::InvalidBody(format!("the request was refused ({s})")),
    }
}
