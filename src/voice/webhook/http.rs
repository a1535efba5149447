//! One HTTP/1.1 request and its response over a connection (new or kept alive), the body read
//! up to a bound.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use url::{Position, Url};

use super::Failure;
use super::connect::Io;
use super::pool::{AbortOnDrop, Conn};
use crate::voice::code::Code;
use crate::voice::signature::SIGNATURE_HEADER;
use crate::voice::twiml::Method;

/// What one request sends.
pub(super) struct Request<'a> {
    pub url: &'a Url,
    pub method: Method,
    /// The form-encoded body of a POST.
    pub body: Option<String>,
    pub signature: String,
    pub user_agent: &'a str,
    /// The most body bytes read.
    pub max_body: usize,
    /// `I-Twilio-Idempotency-Token`: one per request, the same if it is sent again.
    pub idempotency: &'a str,
    /// Whether the connection may be kept for another request (else `Connection: close`).
    pub keep_alive: bool,
}

/// What came back.
pub(super) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// At most `max_body` bytes of the body.
    pub body: Bytes,
    /// Whether the body was longer than `max_body`.
    pub too_large: bool,
}

/// How long a kept connection may take to be ready for its next request.
const READY: std::time::Duration = std::time::Duration::from_secs(1);

/// How an exchange over one connection ended.
pub(super) enum Sent {
    /// A response read: the answer, and the connection if it can take another request.
    Answered(Answer, Option<Conn>),
    /// It failed once the server had begun to answer: never sent again.
    Failed(Failure),
    /// It failed before any response came (the connection was closed or broke first).
    Unanswered(Failure),
}

/// An HTTP/1.1 connection over `io`.
pub(super) async fn handshake(io: Box<dyn Io>) -> Result<Conn, Failure> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| http_failure(&e))?;
    let driver = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    Ok(Conn {
        sender,
        _driver: driver,
    })
}

/// Sends `request` over `conn` and reads the answer.
pub(super) async fn send(mut conn: Conn, request: &Request<'_>) -> Sent {
    match tokio::time::timeout(READY, conn.sender.ready()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Sent::Unanswered(http_failure(&e)),
        Err(_) => {
            return Sent::Unanswered(Failure::new(
                Code::HTTP_RETRIEVAL_FAILURE,
                "the connection was not ready for a request",
            ));
        }
    }
    let built = match build(request) {
        Ok(built) => built,
        Err(f) => return Sent::Failed(f),
    };
    let response = match conn.sender.send_request(built).await {
        Ok(response) => response,
        Err(e) => return Sent::Unanswered(http_failure(&e)),
    };
    let status = response.status().as_u16();
    let closes = response.version() != hyper::Version::HTTP_11
        || response
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = response.into_body();
    let mut buf = BytesMut::new();
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => return Sent::Failed(http_failure(&e)),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let room = request.max_body - buf.len();
        if data.len() > room {
            buf.extend_from_slice(&data[..room]);
            too_large = true;
            break;
        }
        buf.extend_from_slice(&data);
    }
    let answer = Answer {
        status,
        headers,
        body: buf.freeze(),
        too_large,
    };
    let reusable = request.keep_alive && !too_large && !closes;
    Sent::Answered(answer, reusable.then_some(conn))
}

fn build(request: &Request<'_>) -> Result<hyper::Request<Full<Bytes>>, Failure> {
    let url = request.url;
    let invalid = |what: &str| {
        Failure::new(
            Code::INVALID_URL,
            format!("the URL's {what} cannot be sent"),
        )
    };
    let mut builder = hyper::Request::builder()
        .method(request.method.as_str())
        .uri(&url[Position::BeforePath..Position::AfterQuery])
        .header(
            header::HOST,
            &url[Position::BeforeHost..Position::AfterPort],
        )
        .header(header::USER_AGENT, request.user_agent)
        .header(header::ACCEPT, "*/*")
        .header(SIGNATURE_HEADER, &request.signature)
        .header("I-Twilio-Idempotency-Token", request.idempotency);
    if !request.keep_alive {
        builder = builder.header(header::CONNECTION, "close");
    }
    if !url.username().is_empty() {
        let user = percent_decode_str(url.username()).decode_utf8_lossy();
        let password = percent_decode_str(url.password().unwrap_or_default()).decode_utf8_lossy();
        let credentials = STANDARD.encode(format!("{user}:{password}"));
        let value = HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|_| invalid("credentials"))?;
        builder = builder.header(header::AUTHORIZATION, value);
    }
    let body = match &request.body {
        Some(form) => {
            builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Bytes::from(form.clone())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(body)).map_err(|_| invalid("path"))
}

/// A random token in UUID form, new for every request, as Twilio sends one.
pub(super) fn idempotency_token() -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A failure of the HTTP exchange itself.
fn http_failure(e: &hyper::Error) -> Failure {
    if e.is_parse() || e.is_parse_status() {
        Failure::new(
            Code::HTTP_PROTOCOL_VIOLATION,
            format!("the server's answer is not HTTP/1.1: {e}"),
        )
    } else {
        Failure::new(
            Code::HTTP_RETRIEVAL_FAILURE,
            format!("the exchange with the server failed: {e}"),
        )
    }
}
