//! The one way errors reach HTTP clients: [`ApiError`], rendered as Twilio's JSON error body.
//!
//! Every variant owns its HTTP status and Twilio error code, so this file is the whole error
//! catalogue (documented for users in `docs/api.md`). Internal failures are logged here, once, and
//! reach the client only as a generic 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::sip_domain::Nesting;
use crate::domain::{Conflict, Invalid, Limited, MappedList, Refusal};
use crate::store::{Missing, StoreError};

/// Maximum accepted request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every error the HTTP API can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A required form parameter is absent or empty.
    #[error("Missing required parameter {0} in the post body")]
    MissingParameter(&'static str),
    /// A parameter has a value that is not allowed.
    #[error("Invalid parameter {name}: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// The request body could not be read as a form.
    #[error("Invalid request body: {0}")]
    InvalidBody(String),
    /// A SIP domain name is malformed, lacks the suffix, is already taken, or lies under or above
    /// another family's name.
    #[error("Invalid Domain: {0}")]
    InvalidDomain(String),
    /// Missing or wrong credentials, or an API 2010 account path that the credentials may not
    /// act on (Twilio's answer to a subaccount's credentials on its parent's or a sibling's
    /// path, whether or not that account exists).
    #[error("Authenticate")]
    Unauthorized,
    /// A subaccount tried to create a subaccount.
    #[error("Subaccounts cannot create subaccounts")]
    SubaccountCannotCreate,
    /// Nothing at this path for this caller (also: another account's resource).
    #[error("The requested resource {0} was not found")]
    NotFound(String),
    /// The path exists but not with this method.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// The write would break a uniqueness or reference rule.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("Request body exceeds {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    /// The request body did not arrive in time; the connection is closed.
    #[error("Request Timeout: the request body did not arrive within {0} seconds")]
    RequestTimeout(u64),
    /// The request line's target is longer than sipmap accepts.
    #[error("URI Too Long: request targets are limited to {0} bytes")]
    UriTooLong(usize),
    /// Too many request headers, or too many bytes of them.
    #[error("Request Header Fields Too Large: at most {0} headers and {1} bytes of them")]
    HeadersTooLarge(usize, usize),
    /// Too many failed authentications from this client or for this account: try again after
    /// the given number of seconds.
    #[error("Too Many Requests: too many failed authentications; retry after {0} seconds")]
    TooManyRequests(u64),
    /// This client has too many connections open.
    #[error("Too Many Requests: this client has too many connections open")]
    TooManyConnections,
    /// sipmap has as many connections open as it serves.
    #[error("Service Unavailable: the server has too many connections open")]
    Busy,
    /// Storage cannot be reached at the moment.
    #[error("Service Unavailable")]
    Unavailable,
    /// Storage is reachable but cannot write (disk full or failing); nothing was changed.
    #[error("Service Unavailable: storage is full or failing, so nothing was written")]
    StorageExhausted,
    /// The account a write belongs to is suspended or closed.
    #[error("Account {0} is not active")]
    AccountNotActive(String),
    /// The list is mapped to the SIP domain already (Twilio's "Domain Validation Error").
    #[error("Domain Validation Error: {0}")]
    DomainValidation(String),
    /// One more would pass a limit on what an account may store.
    #[error("Limit reached: {0}")]
    LimitReached(String),
    /// A fault inside sipmap; the cause is logged, never returned.
    #[error("Internal Server Error")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for [`ApiError::InvalidParameter`].
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }

    /// The HTTP status and the Twilio error code of this error.
    pub fn status_and_code(&self) -> (StatusCode, u32) {
        match self {
            Self::MissingParameter(_) | Self::InvalidParameter { .. } | Self::InvalidBody(_) => {
                (StatusCode::BAD_REQUEST, 20001)
            }
            Self::InvalidDomain(_) => (StatusCode::BAD_REQUEST, 21232),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, 20003),
            Self::SubaccountCannotCreate => (StatusCode::FORBIDDEN, 20403),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, 20404),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 20004),
            Self::Conflict(_) => (StatusCode::CONFLICT, 20409),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, 20413),
            Self::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, 20408),
            Self::UriTooLong(_) => (StatusCode::URI_TOO_LONG, 20414),
            Self::HeadersTooLarge(..) => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, 20431),
            Self::TooManyRequests(_) | Self::TooManyConnections => {
                (StatusCode::TOO_MANY_REQUESTS, 20429)
            }
            Self::Unavailable | Self::StorageExhausted | Self::Busy => {
                (StatusCode::SERVICE_UNAVAILABLE, 20503)
            }
            Self::AccountNotActive(_) => (StatusCode::FORBIDDEN, 10001),
            Self::DomainValidation(_) => (StatusCode::BAD_REQUEST, 21231),
            Self::LimitReached(_) => (StatusCode::BAD_REQUEST, 20001),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 20500),
        }
    }
}

/// Marks a response whose body sipmap wrote itself (a Twilio error, or a JSON answer such as an
/// unhealthy `/healthz`), so the error-normalising middleware leaves it alone.
#[derive(Clone, Copy, Debug)]
pub struct RenderedError;

impl ApiError {
    /// The Twilio JSON error body.
    pub fn body(&self) -> String {
        let (status, code) = self.status_and_code();
        serde_json::json!({
            "code": code,
            "message": self.to_string(),
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })
        .to_string()
    }

    /// Whether the connection must be closed after this answer (the rest of the request may
    /// still be on its way, so the connection cannot carry another one).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            Self::RequestTimeout(_)
                | Self::PayloadTooLarge
                | Self::UriTooLong(_)
                | Self::HeadersTooLarge(..)
                | Self::TooManyConnections
                | Self::Busy
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error.cause = %cause, "internal error");
        }
        let (status, _) = self.status_and_code();
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body(),
        )
            .into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
        }
        if let Self::TooManyRequests(secs) = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*secs));
        }
        if self.closes_connection() {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response.extensions_mut().insert(RenderedError);
        response
    }
}

impl ApiError {
    /// The error a storage failure is for the client. A missing resource's 404 names its path,
    /// which `path` spells (the HTTP layer passes `http::wire::missing_path`: paths are its
    /// vocabulary, and this catalogue imports nothing of it).
    pub fn from_store(e: StoreError, path: impl FnOnce(&Missing) -> String) -> Self {
        match e {
            StoreError::NotFound(missing) => Self::NotFound(path(&missing)),
            StoreError::Refused(refusal) => refusal.into(),
            StoreError::Exhausted(cause) => {
                tracing::error!(error.cause = %cause, "storage is full or failing");
                Self::StorageExhausted
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause, "storage unavailable");
                Self::Unavailable
            }
            StoreError::Internal(cause) => Self::Internal(cause),
            StoreError::Violation(constraint) => {
                Self::Internal(format!("unexplained constraint violation: {constraint}"))
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(invalid) => invalid.into(),
            Refusal::Conflict(conflict) => Self::Conflict(conflict_message(&conflict)),
            Refusal::AccountNotActive(sid) => Self::AccountNotActive(sid.to_string()),
            Refusal::DomainTaken(name) => Self::InvalidDomain(format!("{name} is already in use")),
            Refusal::DomainNested { name, nesting } => Self::InvalidDomain(match nesting {
                Nesting::Under => format!("{name} is a subdomain of a domain you do not control"),
                Nesting::Above => format!("{name} has a subdomain that you do not control"),
            }),
            Refusal::AlreadyMapped { list, domain } => Self::DomainValidation(format!(
                "{} {list} is already associated with SIP Domain {domain}",
                list_noun(&list)
            )),
            Refusal::LimitReached { what, limit } => Self::LimitReached(match what {
                Limited::ListsPerAccount => {
                    format!("an account may hold at most {limit} lists of each kind")
                }
                Limited::AddressesPerList => {
                    format!("an IP Access Control List may hold at most {limit} IP Addresses")
                }
                Limited::CredentialsPerList => {
                    format!("a Credential List may hold at most {limit} Credentials")
                }
                Limited::TargetsPerPolicy => {
                    format!("a Connection Policy may hold at most {limit} Targets")
                }
                Limited::TargetsPerAccount => format!(
                    "an account may hold at most {limit} Targets, all its Connection Policies \
                     together"
                ),
                Limited::KeysPerAccount => {
                    format!("an account may hold at most {limit} API Keys")
                }
            }),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::Missing(name) => Self::MissingParameter(name),
            Invalid::Value(name, reason) => Self::InvalidParameter { name, reason },
            Invalid::Domain(reason) => Self::InvalidDomain(reason),
        }
    }
}

/// The client-facing sentence of a refused write.
fn conflict_message(c: &Conflict) -> String {
    match c {
        Conflict::RecordInUse { record, mapping } => {
            format!("IP Record {record} is still referenced by Source IP Mapping {mapping}")
        }
        Conflict::DomainInUse { domain, mapping } => {
            format!("SIP Domain {domain} is still referenced by Source IP Mapping {mapping}")
        }
        Conflict::RecordMapped { record, mapping } => {
            format!("IP Record {record} is already mapped by Source IP Mapping {mapping}")
        }
        Conflict::NetworkMapped { network, record } => {
            format!("Network {network} of IP Record {record} is already mapped")
        }
        Conflict::ListInUse { list, domain } => format!(
            "{} {list} is still mapped to SIP Domain {domain}; remove the mapping first",
            list_noun(list)
        ),
        Conflict::PolicyInUse { policy, trunk } => format!(
            "Connection Policy {policy} is still used by BYOC Trunk {trunk}; point the trunk \
             elsewhere first"
        ),
        Conflict::TrunkInUse { trunk, domain } => format!(
            "BYOC Trunk {trunk} is still used by SIP Domain {domain}; point the domain \
             elsewhere first"
        ),
        Conflict::DomainIsFromDomain { domain, trunk } => {
            format!("SIP Domain {domain} is still the From domain of BYOC Trunk {trunk}")
        }
        Conflict::UsernameTaken {
            list,
            username,
            credential,
        } => format!(
            "Credential List {list} already has a Credential with Username {username:?} \
             ({credential})"
        ),
        Conflict::NetworkOverlaps { network, record } => format!(
            "Network {network} of IP Record {record} overlaps a network that another account \
             has mapped; networks may overlap only within one account, its parent and its \
             subaccounts"
        ),
    }
}

/// What Twilio calls a kind of list.
fn list_noun(list: &MappedList) -> &'static str {
    match list {
        MappedList::Acl(_) => "IP Access Control List",
        MappedList::Credentials(_) => "Credential List",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every variant. The match below has no wildcard, so a new variant does not compile
    /// until it is listed here, and so until `docs/api.md` has been checked for it.
    fn every_variant() -> Vec<ApiError> {
        let all = vec![
            ApiError::MissingParameter("X"),
            ApiError::invalid("X", "y"),
            ApiError::InvalidBody("x".into()),
            ApiError::InvalidDomain("x".into()),
            ApiError::Unauthorized,
            ApiError::SubaccountCannotCreate,
            ApiError::NotFound("/x".into()),
            ApiError::MethodNotAllowed,
            ApiError::Conflict("x".into()),
            ApiError::PayloadTooLarge,
            ApiError::RequestTimeout(10),
            ApiError::UriTooLong(1),
            ApiError::HeadersTooLarge(1, 1),
            ApiError::TooManyRequests(1),
            ApiError::TooManyConnections,
            ApiError::Busy,
            ApiError::Unavailable,
            ApiError::StorageExhausted,
            ApiError::AccountNotActive("AC".into()),
            ApiError::DomainValidation("x".into()),
            ApiError::LimitReached("x".into()),
            ApiError::Internal("x".into()),
        ];
        for e in &all {
            match e {
                ApiError::MissingParameter(_)
                | ApiError::InvalidParameter { .. }
                | ApiError::InvalidBody(_)
                | ApiError::InvalidDomain(_)
                | ApiError::Unauthorized
                | ApiError::SubaccountCannotCreate
                | ApiError::NotFound(_)
                | ApiError::MethodNotAllowed
                | ApiError::Conflict(_)
                | ApiError::PayloadTooLarge
                | ApiError::RequestTimeout(_)
                | ApiError::UriTooLong(_)
                | ApiError::HeadersTooLarge(..)
                | ApiError::TooManyRequests(_)
                | ApiError::TooManyConnections
                | ApiError::Busy
                | ApiError::Unavailable
                | ApiError::StorageExhausted
                | ApiError::AccountNotActive(_)
                | ApiError::DomainValidation(_)
                | ApiError::LimitReached(_)
                | ApiError::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn the_documented_catalogue_lists_every_error() {
        let doc = include_str!("../docs/api.md");
        for e in every_variant() {
            let (status, code) = e.status_and_code();
            let row = format!("| {} | {} |", status.as_u16(), code);
            assert!(doc.contains(&row), "docs/api.md has no row {row} for {e:?}");
        }
    }

    #[test]
    fn bodies_are_twilio_shaped() {
        for e in every_variant() {
            let body: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
            let (status, code) = e.status_and_code();
            assert_eq!(body["status"], status.as_u16());
            assert_eq!(body["code"], code);
            assert_eq!(
                body["more_info"],
                format!("https://www.twilio.com/docs/errors/{code}")
            );
            assert_eq!(body.as_object().unwrap().len(), 4);
        }
    }
}
