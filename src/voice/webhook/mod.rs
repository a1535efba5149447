//! The one HTTP client for webhooks ([`WebhookClient`]): a voice URL's TwiML, and later status
//! callbacks, requested as Twilio requests them, with every failure classified into Twilio's
//! error codes and every exchange recorded for the call's events.
//!
//! As Twilio does (twilio.com/docs/usage/webhooks, error pages 11200–11237):
//! - `POST` with the parameters form-encoded, or `GET` with them appended to the URL's query;
//!   `X-Twilio-Signature` over the URL requested (without credentials or fragment) and the
//!   `POST` parameters; `User-Agent: TwilioProxy/1.1`, `Accept: */*`, and a fresh
//!   `I-Twilio-Idempotency-Token`; credentials in the URL (`https://user:pass@host/`) are sent
//!   as HTTP Basic authentication; a fragment (Twilio's connection overrides) is never sent;
//! - a connection within 5 s, tried twice (11205), and the whole exchange within 15 s (11205);
//!   a name that does not resolve is 11210; TLS failures are 11220, 11235 (name), 11236
//!   (expired), 11237 (untrusted); an answer that is not HTTP is 11206;
//! - 301, 302 and 303 are followed with `GET`, 307 with the same method and parameters
//!   (signed again for the new URL), at most [`WebhookConfig::max_redirects`] times (11215);
//!   any other 3xx is 11216; any other non-2xx status is 11200;
//! - a body over 64 KiB is 11750; for TwiML, a `Content-Type` other than `text/xml`,
//!   `application/xml` or `text/html` is 12300, and a document that cannot be read is 12100
//!   or 12102 ([`twiml`]).
//!
//! The destination policy ([`DestinationPolicy`], the operator's outbound allow and deny
//! rules) judges every address the client is about to connect to, after resolution and for
//! every redirect, so neither DNS (rebinding included) nor a redirect can lead it elsewhere;
//! a refusal is an 11205 failure naming the address. Plain HTTP and HTTPS (rustls with the
//! ring provider, the system's root certificates) only; no proxy is ever used.
//!
//! Connections are kept alive, as Twilio keeps its own (`pool`: at most
//! [`WebhookConfig::max_idle`] idle, each for at most [`WebhookConfig::idle_timeout`], reused
//! only for the origin they were opened to); a kept connection found closed before anything was
//! answered is replaced once by a new one, the request sent again with the same
//! `I-Twilio-Idempotency-Token`.
//!
//! [`fallback`] decides when the `VoiceFallbackUrl` is requested after a failure.

mod connect;
pub mod fallback;
mod http;
mod pool;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rustls::RootCertStore;
use tokio_rustls::TlsConnector;
use url::Url;

use crate::limit_log::LimitLog;
use crate::voice::code::Code;
use crate::voice::signature::sign;
use crate::voice::twiml::{self, Method};

/// Whether sipmap may connect to an address (the operator's outbound policy).
pub type DestinationPolicy = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Resolves a host name and port to the addresses to try, in order.
pub type Resolver = Arc<
    dyn Fn(String, u16) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The `User-Agent` Twilio's webhooks carry.
pub const USER_AGENT: &str = "TwilioProxy/1.1";

/// The webhook client's bounds.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// How long one connection attempt may take (Twilio: 5 s).
    pub connect_timeout: Duration,
    /// How many times the server's addresses are tried (Twilio: two attempts).
    pub connect_attempts: u32,
    /// How long the whole exchange may take, connection, redirects and body included
    /// (Twilio: 15 s).
    pub total_timeout: Duration,
    /// The largest response body read (Twilio: 64 kB; larger is error 11750).
    pub max_response_bytes: usize,
    /// How many redirects are followed (Twilio does not document its limit).
    pub max_redirects: u32,
    /// The `User-Agent` sent.
    pub user_agent: String,
    /// How many connections may be kept alive, idle, for later requests to the same origin
    /// (0: every request on its own connection, `Connection: close`).
    pub max_idle: usize,
    /// How long a connection may stay idle before it is closed (below the idle timeouts of
    /// common servers, 5 s and more, so that sipmap rarely finds one closed).
    pub idle_timeout: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            connect_attempts: 2,
            total_timeout: Duration::from_secs(15),
            max_response_bytes: twiml::MAX_DOCUMENT_BYTES,
            max_redirects: 5,
            user_agent: USER_AGENT.to_owned(),
            max_idle: 64,
            idle_timeout: Duration::from_secs(4),
        }
    }
}

/// A webhook to send: where, how, and the parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The URL as configured (a fragment is dropped, credentials become Basic auth).
    pub url: Url,
    /// `GET` or `POST`.
    pub method: Method,
    /// The parameters, in the order they are sent.
    pub params: Vec<(String, String)>,
}

/// Why a webhook gave nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Failure {
    /// Twilio's code for it.
    pub code: Code,
    /// What happened.
    pub message: String,
}

impl Failure {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A response received.
#[derive(Debug, Clone)]
pub struct Response {
    /// The URL that answered (after redirects), which relative URLs in its TwiML resolve
    /// against.
    pub url: Url,
    /// The HTTP status.
    pub status: u16,
    /// The headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`WebhookConfig::max_response_bytes`]).
    pub body: Bytes,
}

impl Response {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One webhook, as the call's events record it: what was sent, what came back, how long it
/// took, and how it ended.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The method of the first request.
    pub method: Method,
    /// The first URL requested (a `GET`'s parameters in its query), without credentials.
    pub url: String,
    /// The parameters sent.
    pub params: Vec<(String, String)>,
    /// When the exchange began.
    pub started_at: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// The last response received, if any (also a failed one: a 500, a too large body).
    pub response: Option<Response>,
    /// `Ok` when the last response was a 2xx read whole.
    pub result: Result<(), Failure>,
}

impl Exchange {
    /// The TwiML document the exchange brought: checks its `Content-Type` (12300) and reads
    /// it (12100, 12102, 11750).
    ///
    /// # Errors
    ///
    /// The exchange's own failure, or why its body is not a TwiML document.
    pub fn twiml(&self) -> Result<twiml::Document, Failure> {
        self.result.clone()?;
        let response = self.response.as_ref().ok_or_else(|| {
            Failure::new(Code::HTTP_RETRIEVAL_FAILURE, "no response was received")
        })?;
        let content_type = response.header("content-type");
        if !is_twiml_type(content_type) {
            return Err(Failure::new(
                Code::INVALID_CONTENT_TYPE,
                format!(
                    "the Content-Type {} is not text/xml, application/xml or text/html",
                    content_type.map_or("(none)".to_owned(), |c| format!("'{c}'"))
                ),
            ));
        }
        twiml::parse(&response.body, &response.url)
            .map_err(|e| Failure::new(e.code(), e.to_string()))
    }
}

/// Whether a `Content-Type` is one TwiML is served with.
fn is_twiml_type(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    ["text/xml", "application/xml", "text/html"]
        .iter()
        .any(|t| essence.eq_ignore_ascii_case(t))
}

static POLICY_DENIALS: LimitLog =
    LimitLog::new("webhook destination denied by the outbound policy");
static RESPONSE_TOO_LARGE: LimitLog = LimitLog::new("webhook response body size");
static TIMEOUTS: LimitLog = LimitLog::new("webhook total timeout");
static REDIRECTS: LimitLog = LimitLog::new("webhook redirect limit");

/// One request of an exchange: the first, or one after a redirect.
struct Hop {
    url: Url,
    method: Method,
    params: Vec<(String, String)>,
}

/// The webhook client. Cheap to share (`Arc`); a connection is kept alive for the next request
/// to the same origin (`pool`).
pub struct WebhookClient {
    config: WebhookConfig,
    connector: connect::Connector,
    pool: pool::Pool,
}

impl WebhookClient {
    /// A client trusting the system's root certificates.
    pub fn new(config: WebhookConfig, policy: DestinationPolicy) -> Self {
        Self::with_roots(config, policy, native_roots())
    }

    /// A client trusting `roots` only.
    pub fn with_roots(
        config: WebhookConfig,
        policy: DestinationPolicy,
        roots: RootCertStore,
    ) -> Self {
        // TLS 1.2 and 1.3 with ring, as every TLS connection of sipmap.
        let mut tls = crate::tls::client_config_with_roots(roots);
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = connect::Connector {
            resolver: connect::system_resolver(),
            policy,
            connect_timeout: config.connect_timeout,
            connect_attempts: config.connect_attempts,
            tls: TlsConnector::from(Arc::new(tls)),
        };
        let pool = pool::Pool::new(config.max_idle, config.idle_timeout);
        Self {
            config,
            connector,
            pool,
        }
    }

    /// This client with another resolver (the system's by default).
    pub fn with_resolver(mut self, resolver: Resolver) -> Self {
        self.connector.resolver = resolver;
        self
    }

    /// Sends `request`, signed with the account's auth token `token`.
    pub async fn send(&self, token: &str, request: &WebhookRequest) -> Exchange {
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let first = first_hop(request);
        let mut exchange = Exchange {
            method: request.method,
            url: without_credentials(&first.url).to_string(),
            params: request.params.clone(),
            started_at,
            duration: Duration::ZERO,
            response: None,
            result: Ok(()),
        };
        let total = self.config.total_timeout;
        let followed =
            tokio::time::timeout(total, self.follow(token, first, &mut exchange.response));
        exchange.result = followed.await.unwrap_or_else(|_| {
            TIMEOUTS.hit(&format_args!(
                "{} after {} ms",
                exchange.url,
                total.as_millis()
            ));
            Err(Failure::new(
                Code::HTTP_CONNECTION_FAILURE,
                format!("no complete response within {} ms", total.as_millis()),
            ))
        });
        exchange.duration = clock.elapsed();
        exchange
    }

    /// Requests `hop`, then each redirect, recording the last response in `last`.
    async fn follow(
        &self,
        token: &str,
        mut hop: Hop,
        last: &mut Option<Response>,
    ) -> Result<(), Failure> {
        for _ in 0..=self.config.max_redirects {
            let answer = self.request(token, &hop).await?;
            let status = answer.status;
            let response = Response {
                url: hop.url.clone(),
                status,
                headers: answer.headers,
                body: answer.body,
            };
            let location = response.header("location").map(str::to_owned);
            *last = Some(response);
            if answer.too_large {
                RESPONSE_TOO_LARGE.hit(&hop.url.as_str());
                return Err(Failure::new(
                    Code::RESPONSE_TOO_LARGE,
                    format!(
                        "the response body is larger than {} bytes",
                        self.config.max_response_bytes
                    ),
                ));
            }
            hop = match status {
                200..=299 => return Ok(()),
                301 | 302 | 303 | 307 => redirect(hop, status, location.as_deref())?,
                300..=399 => {
                    return Err(Failure::new(
                        Code::HTTP_INVALID_REDIRECT,
                        format!(
                            "the server answered {status}, which is not a redirect sipmap follows (301, 302, 303, 307)"
                        ),
                    ));
                }
                _ => {
                    return Err(Failure::new(
                        Code::HTTP_RETRIEVAL_FAILURE,
                        format!("the server answered {status}"),
                    ));
                }
            };
        }
        REDIRECTS.hit(&hop.url.as_str());
        Err(Failure::new(
            Code::HTTP_TOO_MANY_REDIRECTS,
            format!("more than {} redirects", self.config.max_redirects),
        ))
    }

    /// One request and its answer.
    async fn request(&self, token: &str, hop: &Hop) -> Result<http::Answer, Failure> {
        if !matches!(hop.url.scheme(), "http" | "https") {
            return Err(Failure::new(
                Code::INVALID_URL,
                format!(
                    "{} is not an http or https URL",
                    without_credentials(&hop.url)
                ),
            ));
        }
        let signed = without_credentials(&hop.url);
        let pairs = hop.params.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        let signature = sign(token, signed.as_str(), pairs);
        let body = (hop.method == Method::Post).then(|| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&hop.params)
                .finish()
        });
        let idempotency = http::idempotency_token();
        let request = http::Request {
            url: &hop.url,
            method: hop.method,
            body,
            signature,
            user_agent: &self.config.user_agent,
            max_body: self.config.max_response_bytes,
            idempotency: &idempotency,
            keep_alive: self.config.max_idle > 0,
        };
        let origin = pool::Origin::of(&hop.url);
        if let Some(kept) = origin.as_ref().and_then(|o| self.pool.take(o)) {
            match http::send(kept, &request).await {
                http::Sent::Answered(answer, conn) => return Ok(self.keep(origin, conn, answer)),
                http::Sent::Failed(f) => return Err(f),
                // The kept connection was closed before anything was answered: the request
                // goes once more, on a new connection.
                http::Sent::Unanswered(_) => {}
            }
        }
        let io = self.connector.connect(&hop.url).await?;
        let conn = http::handshake(io).await?;
        match http::send(conn, &request).await {
            http::Sent::Answered(answer, conn) => Ok(self.keep(origin, conn, answer)),
            http::Sent::Failed(f) | http::Sent::Unanswered(f) => Err(f),
        }
    }

    /// Keeps `conn` (if it can take another request) for `origin`; returns `answer`.
    fn keep(
        &self,
        origin: Option<pool::Origin>,
        conn: Option<pool::Conn>,
        answer: http::Answer,
    ) -> http::Answer {
        if let (Some(origin), Some(conn)) = (origin, conn) {
            self.pool.put(origin, conn);
        }
        answer
    }
}

/// The first request of `request`: the fragment dropped, a `GET`'s parameters in the query.
fn first_hop(request: &WebhookRequest) -> Hop {
    let mut url = request.url.clone();
    url.set_fragment(None);
    match request.method {
        Method::Get => {
            if !request.params.is_empty() {
                url.query_pairs_mut().extend_pairs(&request.params);
            }
            Hop {
                url,
                method: Method::Get,
                params: Vec::new(),
            }
        }
        Method::Post => Hop {
            url,
            method: Method::Post,
            params: request.params.clone(),
        },
    }
}

/// The request a redirect leads to: 307 keeps the method and parameters, the others `GET`
/// the new URL as given.
fn redirect(hop: Hop, status: u16, location: Option<&str>) -> Result<Hop, Failure> {
    let invalid = || {
        Failure::new(
            Code::HTTP_INVALID_REDIRECT,
            format!(
                "the server answered {status} with the Location {}, which is not an http or https URL",
                location.map_or("(none)".to_owned(), |l| format!("'{l}'"))
            ),
        )
    };
    let mut url = hop
        .url
        .join(location.ok_or_else(invalid)?)
        .map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid());
    }
    url.set_fragment(None);
    Ok(if status == 307 {
        Hop { url, ..hop }
    } else {
        Hop {
            url,
            method: Method::Get,
            params: Vec::new(),
        }
    })
}

/// `url` without user name and password.
fn without_credentials(url: &Url) -> Url {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
}

/// The system's root certificates (`rustls-native-certs`); with none, every `https` webhook
/// fails with 11237, and a warning says so. `serve --tls-ca` adds its CAs through
/// [`WebhookClient::with_roots`].
fn native_roots() -> RootCertStore {
    // Without an extra file there is nothing to fail on: the system's roots are best effort.
    crate::tls::client_roots(None).unwrap_or_else(|_| RootCertStore::empty())
}

#[cfg(test)]
mod tests;
