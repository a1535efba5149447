//! The one way errors reach HTTP clients: [`ApiError`], rendered as Twilio's JSON error body.
//!
//! Every variant owns its HTTP status and Twilio error code, so this file is the whole error
//! catalogue (documented for users in `docs/api.md`). Internal failures are logged here, once, and
//! reach the client only as a generic 500.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::sip_domain::Nesting;
use crate::domain::{
    CallRefusal, Conflict, Denied, DenyingRule, Invalid, Limited, MappedList, Reason, Refusal,
};
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
    InvalidBody(BodyProblem),
    /// A SIP domain name is malformed, lacks the suffix, is already taken, or lies under or above
    /// another family's name.
    #[error("Invalid Domain: {0}")]
    InvalidDomain(String),
    /// Missing or wrong credentials, or an API 2010 account path that the credentials may not
    /// act on (Twilio's answer to a subaccount's credentials on its parent's or a sibling's
    /// path, whether or not that account exists).
    #[error("Authenticate")]
    Unauthorized,
    /// A console request that changes something, authenticated by the session cookie, without
    /// its session's `X-CSRF-Token`.
    #[error(
        "Forbidden: a console request that changes something needs its session's X-CSRF-Token header"
    )]
    CsrfRejected,
    /// A console sign-in sent by another site's page (its `Origin` or `Sec-Fetch-Site` says so).
    #[error("Forbidden: a console sign-in must come from the console's own page")]
    CrossSiteSignIn,
    /// The console holds as many sessions as it keeps; a sign-in must wait for one to end.
    #[error("Service Unavailable: the console holds as many sessions as it keeps; try again later")]
    SessionsFull,
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
    /// The call is not in a state that allows this: an update of an ended call (Twilio's own
    /// words), or the deletion of a call that has not ended.
    #[error("{}", call_state_message(*.0))]
    CallState(CallRefusal),
    /// The call is live, but not on this node, and this node cannot reach the one holding it.
    #[error(
        "Service Unavailable: the call is not held by this node, which cannot reach the one that holds it"
    )]
    CallElsewhere,
    /// The call is live on this node but busy: its inbox is full, so the update was not given.
    #[error("Service Unavailable: the call is busy handling other messages; retry the update")]
    CallBusy,
    /// A fault inside sipmap; the cause is logged, never returned.
    #[error("Internal Server Error")]
    Internal(String),
}

/// Why a request body is not a form the API can read.
#[derive(Debug)]
pub enum BodyProblem {
    /// The body did not arrive whole: the transport's error.
    Unreadable(String),
    /// The framework refused the request with this status before a handler saw it.
    Refused(StatusCode),
    /// The body is not UTF-8.
    NotUtf8,
    /// A decoded name or value holds a NUL character.
    Nul,
    /// A percent-decoded name or value is not UTF-8.
    NotUtf8Value,
}

impl fmt::Display for BodyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(cause) => write!(f, "it could not be read: {cause}"),
            Self::Refused(status) => write!(f, "the request was refused ({status})"),
            Self::NotUtf8 => f.write_str("it is not valid UTF-8"),
            Self::Nul => {
                f.write_str("a parameter contains a NUL character, which no parameter may hold")
            }
            Self::NotUtf8Value => f.write_str("a percent-encoded value is not valid UTF-8"),
        }
    }
}

impl ApiError {
    /// [`ApiError::InvalidParameter`] for `name`, worded here from `reason`.
    pub fn invalid(name: &'static str, reason: Reason) -> Self {
        Invalid::Value(name, reason).into()
    }

    /// The HTTP status and the Twilio error code of this error.
    pub fn status_and_code(&self) -> (StatusCode, u32) {
        match self {
            Self::MissingParameter(_) | Self::InvalidParameter { .. } | Self::InvalidBody(_) => {
                (StatusCode::BAD_REQUEST, 20001)
            }
            Self::InvalidDomain(_) => (StatusCode::BAD_REQUEST, 21232),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, 20003),
            Self::SubaccountCannotCreate | Self::CsrfRejected | Self::CrossSiteSignIn => {
                (StatusCode::FORBIDDEN, 20403)
            }
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
            Self::CallState(_) => (StatusCode::BAD_REQUEST, 21220),
            Self::Unavailable
            | Self::StorageExhausted
            | Self::Busy
            | Self::CallElsewhere
            | Self::CallBusy
            | Self::SessionsFull => (StatusCode::SERVICE_UNAVAILABLE, 20503),
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
        if let Self::CallBusy = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
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
            Refusal::Call(CallRefusal::Backwards(bad)) => {
                Self::Internal(format!("a call's record would go backwards: {bad}"))
            }
            Refusal::Call(refusal) => Self::CallState(refusal),
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
            Invalid::Value(name, reason) => Self::InvalidParameter {
                name,
                reason: reason.to_string(),
            },
            Invalid::Domain(reason) => Self::InvalidDomain(reason.to_string()),
        }
    }
}

/// The client-facing sentence of a refused value (after `Invalid parameter Name: `, or
/// `Invalid Domain: `).
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { max } => write!(f, "must be at most {max} characters long"),
            Self::TooShort { min } => write!(f, "must be at least {min} characters long"),
            Self::NotUrl(v) => write!(f, "{v:?} is not an absolute http or https URL"),
            Self::NotOneOf(v, allowed) => write!(f, "{v:?} is not one of {allowed}"),
            Self::NotBoolean(v) => write!(f, "{v:?} is not true or false"),
            Self::NotInteger { value, min, max } => match max {
                Some(max) => write!(f, "{value:?} is not an integer from {min} to {max}"),
                None => write!(f, "{value:?} is not an integer of at least {min}"),
            },
            Self::NotSid {
                value,
                prefix,
                explained,
            } => {
                write!(f, "{value:?} is not a {prefix} SID")?;
                if *explained {
                    write!(f, " ({prefix} followed by 32 hex digits)")?;
                }
                Ok(())
            }
            Self::NotIpv4(v) => {
                write!(f, "{v:?} is not an IPv4 address in dotted decimal notation")
            }
            Self::NotIp(v) => write!(f, "{v:?} is not an IP address"),
            Self::NotSipMethod(v) => write!(f, "{v:?} is not a SIP method"),
            Self::NotSipUri(v) => write!(f, "{v:?} is not a SIP URI"),
            Self::NotTargetUri(v) => write!(f, "{v:?} is not a sip: URI"),
            Self::SipsTarget(v) => write!(f, "{v:?} is not a sip: URI (sips: is not supported)"),
            Self::NotSendable { target, denied } => {
                write!(
                    f,
                    "{target:?} is not a destination sipmap may send to: {denied}"
                )
            }
            Self::NotPageToken(v) => write!(f, "{v:?} is not a token this list issued"),
            Self::ControlCharacters => f.write_str("must not contain control characters"),
            Self::NoDigit => f.write_str("must contain at least one digit"),
            Self::NotMixedCase => f.write_str("must have mixed case"),
            Self::BadUsername { max } => write!(
                f,
                "must be 1 to {max} visible ASCII characters, without '\"', '\\' or ':'"
            ),
            Self::TopLevelStatus => {
                f.write_str("the status of a top-level account cannot be changed")
            }
            Self::Reopening => f.write_str("a closed account cannot be reopened"),
            Self::NotUnder { name, suffix } => write!(f, "{name} must be a subdomain of {suffix}"),
            Self::NotDate(v) => write!(
                f,
                "{v:?} is not a date (YYYY-MM-DD) nor a date and time (YYYY-MM-DDTHH:MM:SSZ)"
            ),
            Self::BadLabels(name) => write!(
                f,
                "{name} may contain only letters, digits and \"-\" in dot-separated labels"
            ),
        }
    }
}

/// Why the outbound policy refuses an address, as a client reads it (and the log).
impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = self.ip;
        match self.rule() {
            DenyingRule::LinkLocal(net) => write!(
                f,
                "{ip} is link-local ({net}), refused unless the operator allows it \
                 (--outbound-allow)"
            ),
            DenyingRule::Denied(net) => write!(f, "{ip} is in {net} (--outbound-deny)"),
            DenyingRule::OutsideAllowList => {
                write!(f, "{ip} is outside every --outbound-allow network")
            }
        }
    }
}

/// The client-facing sentence of a refused write.
/// What a client reads when a call's state refuses an update or a deletion. An update of an
/// ended call reads as Twilio words it (observed, 400 with 21220); the deletion of a live call
/// is sipmap's wording under the same code.
fn call_state_message(r: CallRefusal) -> &'static str {
    match r {
        CallRefusal::NotLive => "Call is not in-progress. Cannot redirect.",
        CallRefusal::Live => "Call is in-progress. Cannot delete a call that has not ended.",
        CallRefusal::Backwards(_) => "Internal Server Error",
    }
}

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
            ApiError::invalid("X", Reason::NoDigit),
            ApiError::InvalidBody(BodyProblem::NotUtf8),
            ApiError::InvalidDomain("x".into()),
            ApiError::Unauthorized,
            ApiError::SubaccountCannotCreate,
            ApiError::CsrfRejected,
            ApiError::CrossSiteSignIn,
            ApiError::SessionsFull,
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
            ApiError::CallState(CallRefusal::NotLive),
            ApiError::CallElsewhere,
            ApiError::CallBusy,
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
                | ApiError::CsrfRejected
                | ApiError::CrossSiteSignIn
                | ApiError::SessionsFull
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
                | ApiError::CallState(_)
                | ApiError::CallElsewhere
                | ApiError::CallBusy
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

    /// Every reason a value is refused, with the sentence a client reads (as the domain and the
    /// HTTP layer wrote them before the catalogue did). No wildcard: a new reason does not
    /// compile until its sentence is pinned here.
    #[test]
    fn every_reason_is_worded_here() {
        use crate::domain::OutboundPolicy;
        let denied = OutboundPolicy::default()
            .check("169.254.1.1".parse().unwrap())
            .unwrap_err();
        let v = || "x y".to_owned();
        let cases = [
            (
                Reason::TooLong { max: 64 },
                "must be at most 64 characters long",
            ),
            (
                Reason::TooShort { min: 12 },
                "must be at least 12 characters long",
            ),
            (
                Reason::NotUrl(v()),
                r#""x y" is not an absolute http or https URL"#,
            ),
            (
                Reason::NotOneOf(v(), "GET, POST"),
                r#""x y" is not one of GET, POST"#,
            ),
            (Reason::NotBoolean(v()), r#""x y" is not true or false"#),
            (
                Reason::integer("x y", 1, Some(32)),
                r#""x y" is not an integer from 1 to 32"#,
            ),
            (
                Reason::integer("x y", 1, None),
                r#""x y" is not an integer of at least 1"#,
            ),
            (
                Reason::NotSid {
                    value: v(),
                    prefix: "NY",
                    explained: true,
                },
                r#""x y" is not a NY SID (NY followed by 32 hex digits)"#,
            ),
            (
                Reason::NotSid {
                    value: v(),
                    prefix: "AL",
                    explained: false,
                },
                r#""x y" is not a AL SID"#,
            ),
            (
                Reason::NotIpv4(v()),
                r#""x y" is not an IPv4 address in dotted decimal notation"#,
            ),
            (Reason::NotIp(v()), r#""x y" is not an IP address"#),
            (Reason::NotSipMethod(v()), r#""x y" is not a SIP method"#),
            (Reason::NotSipUri(v()), r#""x y" is not a SIP URI"#),
            (Reason::NotTargetUri(v()), r#""x y" is not a sip: URI"#),
            (
                Reason::SipsTarget(v()),
                r#""x y" is not a sip: URI (sips: is not supported)"#,
            ),
            (
                Reason::NotSendable {
                    target: v(),
                    denied,
                },
                r#""x y" is not a destination sipmap may send to: 169.254.1.1 is link-local (169.254.0.0/16), refused unless the operator allows it (--outbound-allow)"#,
            ),
            (
                Reason::NotPageToken(v()),
                r#""x y" is not a token this list issued"#,
            ),
            (
                Reason::ControlCharacters,
                "must not contain control characters",
            ),
            (Reason::NoDigit, "must contain at least one digit"),
            (Reason::NotMixedCase, "must have mixed case"),
            (
                Reason::BadUsername { max: 32 },
                r#"must be 1 to 32 visible ASCII characters, without '"', '\' or ':'"#,
            ),
            (
                Reason::TopLevelStatus,
                "the status of a top-level account cannot be changed",
            ),
            (Reason::Reopening, "a closed account cannot be reopened"),
            (
                Reason::NotUnder {
                    name: "a.example.com".into(),
                    suffix: "sip.twilio.com".into(),
                },
                "a.example.com must be a subdomain of sip.twilio.com",
            ),
            (
                Reason::BadLabels("a_b.sip.twilio.com".into()),
                r#"a_b.sip.twilio.com may contain only letters, digits and "-" in dot-separated labels"#,
            ),
            (
                Reason::NotDate("2024-13-01".into()),
                r#""2024-13-01" is not a date (YYYY-MM-DD) nor a date and time (YYYY-MM-DDTHH:MM:SSZ)"#,
            ),
        ];
        for (reason, sentence) in &cases {
            match reason {
                Reason::TooLong { .. }
                | Reason::TooShort { .. }
                | Reason::NotUrl(_)
                | Reason::NotOneOf(..)
                | Reason::NotBoolean(_)
                | Reason::NotInteger { .. }
                | Reason::NotSid { .. }
                | Reason::NotIpv4(_)
                | Reason::NotIp(_)
                | Reason::NotSipMethod(_)
                | Reason::NotSipUri(_)
                | Reason::NotTargetUri(_)
                | Reason::SipsTarget(_)
                | Reason::NotSendable { .. }
                | Reason::NotPageToken(_)
                | Reason::ControlCharacters
                | Reason::NoDigit
                | Reason::NotMixedCase
                | Reason::BadUsername { .. }
                | Reason::TopLevelStatus
                | Reason::Reopening
                | Reason::NotUnder { .. }
                | Reason::BadLabels(_)
                | Reason::NotDate(_) => assert_eq!(&reason.to_string(), sentence),
            }
        }
        assert_eq!(
            ApiError::invalid("Weight", Reason::integer("0", 1, Some(65535))).to_string(),
            r#"Invalid parameter Weight: "0" is not an integer from 1 to 65535"#
        );
        assert_eq!(
            ApiError::from(Invalid::Domain(Reason::BadLabels("-.x".into()))).to_string(),
            r#"Invalid Domain: -.x may contain only letters, digits and "-" in dot-separated labels"#
        );
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
