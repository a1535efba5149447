//! The webhook client against small HTTP and HTTPS servers on loopback addresses: what it
//! sends, and how each way a server can fail is classified.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use super::*;
use crate::voice::twiml::Verb;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>";
const CA: &str = include_str!("../../../tests/data/webhook_tls/ca.pem");
const CERT: &str = include_str!("../../../tests/data/webhook_tls/localhost.pem");
const KEY: &str = include_str!("../../../tests/data/webhook_tls/localhost.key");

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the server does with the `n`th request (from 0).
enum Reply {
    /// Writes these and closes.
    Bytes(Vec<u8>),
    /// Writes these and reads the next request on the same connection.
    Keep(Vec<u8>),
    /// Closes the connection without a word.
    Close,
    /// Never answers (holds the connection until the test ends).
    Hang,
}

type Script = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

/// A scripted HTTP/1.1 server; stops when dropped.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }
}

async fn serve(bind: SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>, script: Script) -> Server {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, s) = (accepted.clone(), seen.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            a.fetch_add(1, Ordering::SeqCst);
            let (s, script, tls) = (s.clone(), script.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            answer(stream, &s, &*script).await;
                        }
                    }
                    None => answer(tcp, &s, &*script).await,
                }
            });
        }
    });
    Server {
        addr,
        accepted,
        seen,
        task,
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    seen: &Mutex<Vec<Seen>>,
    script: &(dyn Fn(&Seen, usize) -> Reply + Send + Sync),
) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_one(&mut stream, &mut buf).await else {
            return;
        };
        let n = {
            let mut all = seen.lock().unwrap();
            all.push(request.clone());
            all.len() - 1
        };
        match script(&request, n) {
            Reply::Bytes(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
                return;
            }
            Reply::Keep(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Close => return,
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
        }
    }
}

/// The next request on `stream` (`buf` holds what was read past the previous one).
async fn read_one<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Option<Seen> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        assert!(buf.len() < 65_536, "request head too large");
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap().split(' ');
    let (method, target) = (
        start.next().unwrap().to_owned(),
        start.next().unwrap().to_owned(),
    );
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    while buf.len() < head_end + 4 + len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf[head_end + 4..head_end + 4 + len].to_vec();
    buf.drain(..head_end + 4 + len);
    Some(Seen {
        method,
        target,
        headers,
        body: String::from_utf8(body).unwrap(),
    })
}

fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Bytes(response(status, headers, body))
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// Answers TwiML and keeps the connection open for the next request.
fn kept(_: &Seen, _: usize) -> Reply {
    Reply::Keep(response("200 OK", &[("Content-Type", "text/xml")], TWIML))
}

fn twiml_ok() -> Script {
    Arc::new(|_, _| http("200 OK", &[("Content-Type", "text/xml")], TWIML))
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn loopback_only() -> DestinationPolicy {
    Arc::new(|ip: IpAddr| ip.is_loopback())
}

fn quick() -> WebhookConfig {
    WebhookConfig {
        connect_timeout: Duration::from_millis(500),
        total_timeout: Duration::from_secs(5),
        ..WebhookConfig::default()
    }
}

/// Resolves the names in `map` (any port), and nothing else.
fn resolver(map: &[(&str, &[IpAddr])]) -> Resolver {
    let map: HashMap<String, Vec<IpAddr>> = map
        .iter()
        .map(|(n, ips)| ((*n).to_owned(), ips.to_vec()))
        .collect();
    Arc::new(move |name: String, port: u16| {
        let found = map.get(&name).cloned();
        Box::pin(async move {
            let ips =
                found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))?;
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect())
        })
    })
}

fn client(config: WebhookConfig, policy: DestinationPolicy) -> WebhookClient {
    WebhookClient::with_roots(config, policy, RootCertStore::empty())
        .with_resolver(resolver(&[("localhost", &[IpAddr::from([127, 0, 0, 1])])]))
}

fn post(url: Url) -> WebhookRequest {
    WebhookRequest {
        url,
        method: Method::Post,
        params: vec![
            ("CallSid".to_owned(), "CA0123".to_owned()),
            ("From".to_owned(), "sip:alice@198.51.100.7".to_owned()),
            ("To".to_owned(), "+15551230000".to_owned()),
            ("SipHeader_X-Note".to_owned(), "a b&c=d ☎".to_owned()),
        ],
    }
}

fn code(exchange: &Exchange) -> u32 {
    exchange.result.as_ref().unwrap_err().code.number()
}

#[tokio::test]
async fn a_post_carries_the_parameters_the_signature_and_twilios_headers() {
    let server = serve(local(0), None, twiml_ok()).await;
    let request = post(server.url("/voice?tenant=7"));
    let exchange = client(quick(), loopback_only()).send(TOKEN, &request).await;
    assert_eq!(exchange.result, Ok(()));
    let seen = server.seen();
    let [got] = seen.as_slice() else {
        panic!("{seen:?}")
    };
    assert_eq!(
        (got.method.as_str(), got.target.as_str()),
        ("POST", "/voice?tenant=7")
    );
    assert_eq!(
        got.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let sent: Vec<(String, String)> = form_urlencoded::parse(got.body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(sent, request.params);
    let url = server.url("/voice?tenant=7");
    let pairs = request.params.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    assert_eq!(
        got.header("x-twilio-signature"),
        Some(sign(TOKEN, url.as_str(), pairs).as_str())
    );
    assert_eq!(got.header("user-agent"), Some("TwilioProxy/1.1"));
    assert_eq!(got.header("accept"), Some("*/*"));
    assert_eq!(got.header("host"), Some(server.addr.to_string().as_str()));
    assert_eq!(
        got.header("i-twilio-idempotency-token").map(str::len),
        Some(36)
    );
    assert_eq!(exchange.url, url.as_str());
    assert_eq!(exchange.params, request.params);
    let response = exchange.response.as_ref().unwrap();
    assert_eq!(
        (response.status, response.header("content-type")),
        (200, Some("text/xml"))
    );
    assert_eq!(exchange.twiml().unwrap().verbs, [Verb::Hangup]);
}

#[tokio::test]
async fn a_get_puts_the_parameters_in_the_query_and_signs_that_url_alone() {
    let server = serve(local(0), None, twiml_ok()).await;
    let mut request = post(server.url("/voice?tenant=7#ct=1000&rc=2"));
    request.method = Method::Get;
    let exchange = client(quick(), loopback_only()).send(TOKEN, &request).await;
    assert_eq!(exchange.result, Ok(()));
    let got = &server.seen()[0];
    assert_eq!(got.method, "GET");
    assert_eq!(got.body, "");
    let (path, query) = got.target.split_once('?').unwrap();
    assert_eq!(path, "/voice");
    let sent: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(sent[0], ("tenant".to_owned(), "7".to_owned()));
    assert_eq!(sent[1..], request.params[..]);
    let full = format!("http://{}{}", server.addr, got.target);
    assert_eq!(exchange.url, full);
    let none: [(&str, &str); 0] = [];
    assert_eq!(
        got.header("x-twilio-signature"),
        Some(sign(TOKEN, &full, none).as_str())
    );
}

#[tokio::test]
async fn credentials_in_the_url_are_basic_auth_and_are_neither_signed_nor_recorded() {
    let server = serve(local(0), None, twiml_ok()).await;
    let url = Url::parse(&format!("http://user:p%40ss@{}/voice", server.addr)).unwrap();
    let request = post(url);
    let exchange = client(quick(), loopback_only()).send(TOKEN, &request).await;
    assert_eq!(exchange.result, Ok(()));
    let got = &server.seen()[0];
    assert_eq!(got.header("authorization"), Some("Basic dXNlcjpwQHNz"));
    let bare = server.url("/voice");
    let pairs = request.params.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    assert_eq!(
        got.header("x-twilio-signature"),
        Some(sign(TOKEN, bare.as_str(), pairs).as_str())
    );
    assert_eq!(exchange.url, bare.as_str());
}

#[tokio::test]
async fn a_status_other_than_2xx_is_11200_with_the_response_recorded() {
    for status in [
        "500 Internal Server Error",
        "404 Not Found",
        "204 No Content",
    ] {
        let script: Script =
            Arc::new(move |_, _| http(status, &[("Content-Type", "text/plain")], "oops"));
        let server = serve(local(0), None, script).await;
        let exchange = client(quick(), loopback_only())
            .send(TOKEN, &post(server.url("/")))
            .await;
        if status.starts_with("204") {
            assert_eq!(exchange.result, Ok(()));
            assert_eq!(exchange.twiml().unwrap_err().code.number(), 12300);
            continue;
        }
        assert_eq!(code(&exchange), 11200, "{status}");
        let response = exchange.response.as_ref().unwrap();
        assert_eq!(response.status.to_string(), status[..3]);
        assert_eq!(response.body.as_ref(), b"oops");
        assert_eq!(exchange.twiml().unwrap_err().code.number(), 11200);
    }
}

#[tokio::test]
async fn twiml_needs_an_xml_or_html_content_type() {
    for (content_type, ok) in [
        (Some("text/xml"), true),
        (Some("application/xml; charset=utf-8"), true),
        (Some("TEXT/HTML;charset=UTF-8"), true),
        (Some("text/plain"), false),
        (Some("application/json"), false),
        (Some("audio/mpeg"), false),
        (None, false),
    ] {
        let script: Script = Arc::new(move |_, _| match content_type {
            Some(ct) => http("200 OK", &[("Content-Type", ct)], TWIML),
            None => http("200 OK", &[], TWIML),
        });
        let server = serve(local(0), None, script).await;
        let exchange = client(quick(), loopback_only())
            .send(TOKEN, &post(server.url("/")))
            .await;
        assert_eq!(exchange.result, Ok(()));
        match exchange.twiml() {
            Ok(doc) => assert!(ok, "{content_type:?}: {doc:?}"),
            Err(f) => {
                assert!(!ok, "{content_type:?}: {f}");
                assert_eq!(f.code.number(), 12300);
            }
        }
    }
}

#[tokio::test]
async fn relative_urls_in_the_twiml_resolve_against_the_url_that_answered() {
    let script: Script = Arc::new(|seen, _| {
        if seen.target == "/start" {
            http("302 Found", &[("Location", "/app/voice")], "")
        } else {
            http(
                "200 OK",
                &[("Content-Type", "text/xml")],
                "<Response><Redirect>next</Redirect></Response>",
            )
        }
    });
    let server = serve(local(0), None, script).await;
    let exchange = client(quick(), loopback_only())
        .send(TOKEN, &post(server.url("/start")))
        .await;
    let doc = exchange.twiml().unwrap();
    match doc.verbs.as_slice() {
        [Verb::Redirect(r)] => assert_eq!(r.url, server.url("/app/next")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_body_over_64_kib_is_11750() {
    for (len, want) in [(65_536, None), (65_537, Some(11750))] {
        let body = "x".repeat(len);
        let script: Script =
            Arc::new(move |_, _| http("200 OK", &[("Content-Type", "text/xml")], &body));
        let server = serve(local(0), None, script).await;
        let exchange = client(quick(), loopback_only())
            .send(TOKEN, &post(server.url("/")))
            .await;
        match want {
            None => assert_eq!(exchange.result, Ok(())),
            Some(c) => assert_eq!(code(&exchange), c),
        }
        assert_eq!(exchange.response.as_ref().unwrap().body.len(), 65_536);
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_11205_after_the_total_timeout() {
    let server = serve(local(0), None, Arc::new(|_, _| Reply::Hang)).await;
    let config = WebhookConfig {
        total_timeout: Duration::from_millis(300),
        ..quick()
    };
    let exchange = client(config, loopback_only())
        .send(TOKEN, &post(server.url("/")))
        .await;
    assert_eq!(code(&exchange), 11205);
    assert!(exchange.response.is_none());
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_11205_after_every_attempt() {
    let port = {
        let l = std::net::TcpListener::bind(local(0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let url = Url::parse(&format!("http://127.0.0.1:{port}/voice")).unwrap();
    let exchange = client(quick(), loopback_only())
        .send(TOKEN, &post(url))
        .await;
    assert_eq!(code(&exchange), 11205);
    assert!(
        exchange
            .result
            .unwrap_err()
            .message
            .contains(&port.to_string())
    );
}

#[tokio::test]
async fn an_address_the_policy_denies_is_never_contacted() {
    let server = serve(local(0), None, twiml_ok()).await;
    let deny_all: DestinationPolicy = Arc::new(|_| false);
    let exchange = client(quick(), deny_all)
        .send(TOKEN, &post(server.url("/")))
        .await;
    assert_eq!(code(&exchange), 11205);
    assert!(
        exchange
            .result
            .as_ref()
            .unwrap_err()
            .message
            .contains("outbound policy")
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_policy_judges_each_resolved_address_and_only_allowed_ones_are_tried() {
    let good = serve(local(0), None, twiml_ok()).await;
    let port = good.addr.port();
    let bad = serve(SocketAddr::from(([127, 0, 0, 2], port)), None, twiml_ok()).await;
    let only_one: DestinationPolicy = Arc::new(|ip: IpAddr| ip == IpAddr::from([127, 0, 0, 1]));
    let ips = [IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 1])];
    let c = client(quick(), only_one.clone()).with_resolver(resolver(&[("app.test", &ips)]));
    let url = Url::parse(&format!("http://app.test:{port}/voice")).unwrap();
    let exchange = c.send(TOKEN, &post(url)).await;
    assert_eq!(exchange.result, Ok(()));
    assert_eq!(good.seen().len(), 1);
    assert_eq!(
        good.seen()[0].header("host"),
        Some(format!("app.test:{port}").as_str())
    );
    assert_eq!(bad.accepted.load(Ordering::SeqCst), 0);
    let c = client(quick(), only_one).with_resolver(resolver(&[("evil.test", &ips[..1])]));
    let url = Url::parse(&format!("http://evil.test:{port}/voice")).unwrap();
    let exchange = c.send(TOKEN, &post(url)).await;
    assert_eq!(code(&exchange), 11205);
    assert!(exchange.result.unwrap_err().message.contains("127.0.0.2"));
    assert_eq!(bad.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_11210() {
    let c = client(quick(), loopback_only()).with_resolver(resolver(&[("empty.test", &[])]));
    for host in ["nowhere.test", "empty.test"] {
        let url = Url::parse(&format!("http://{host}/voice")).unwrap();
        let exchange = c.send(TOKEN, &post(url)).await;
        assert_eq!(code(&exchange), 11210, "{host}");
    }
}

#[tokio::test]
async fn redirects_301_302_303_get_and_307_posts_again_signed_for_the_new_url() {
    for (status, method) in [
        ("301", "GET"),
        ("302", "GET"),
        ("303", "GET"),
        ("307", "POST"),
    ] {
        let script: Script = Arc::new(move |seen, _| {
            if seen.target == "/old" {
                http(&format!("{status} Moved"), &[("Location", "/new?x=1")], "")
            } else {
                http("200 OK", &[("Content-Type", "text/xml")], TWIML)
            }
        });
        let server = serve(local(0), None, script).await;
        let request = post(server.url("/old"));
        let exchange = client(quick(), loopback_only()).send(TOKEN, &request).await;
        assert_eq!(exchange.result, Ok(()), "{status}");
        let seen = server.seen();
        assert_eq!(seen.len(), 2, "{status}");
        assert_eq!(
            (seen[1].method.as_str(), seen[1].target.as_str()),
            (method, "/new?x=1")
        );
        let new = server.url("/new?x=1");
        let signature = if method == "POST" {
            assert_eq!(seen[1].body, seen[0].body);
            sign(
                TOKEN,
                new.as_str(),
                request.params.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            )
        } else {
            assert_eq!(seen[1].body, "");
            sign(TOKEN, new.as_str(), std::iter::empty())
        };
        assert_eq!(
            seen[1].header("x-twilio-signature"),
            Some(signature.as_str())
        );
        assert_eq!(exchange.url, server.url("/old").as_str());
        assert_eq!(exchange.response.as_ref().unwrap().url, new);
    }
}

#[tokio::test]
async fn other_3xx_answers_and_bad_locations_are_11216() {
    for (status, location) in [
        ("308 Permanent Redirect", Some("/new")),
        ("300 Multiple Choices", Some("/new")),
        ("304 Not Modified", None),
        ("302 Found", None),
        ("302 Found", Some("ftp://files.example.com/x")),
        ("301 Moved", Some("http://[::1")),
    ] {
        let script: Script = Arc::new(move |_, _| match location {
            Some(l) => http(status, &[("Location", l)], ""),
            None => http(status, &[], ""),
        });
        let server = serve(local(0), None, script).await;
        let exchange = client(quick(), loopback_only())
            .send(TOKEN, &post(server.url("/")))
            .await;
        assert_eq!(code(&exchange), 11216, "{status} {location:?}");
        assert_eq!(server.seen().len(), 1);
    }
}

#[tokio::test]
async fn a_redirect_loop_is_11215_after_the_limit() {
    let script: Script =
        Arc::new(|_, n| http("302 Found", &[("Location", &format!("/hop{n}"))], ""));
    let server = serve(local(0), None, script).await;
    let config = WebhookConfig {
        max_redirects: 2,
        ..quick()
    };
    let exchange = client(config, loopback_only())
        .send(TOKEN, &post(server.url("/")))
        .await;
    assert_eq!(code(&exchange), 11215);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn a_redirect_to_a_denied_address_is_not_followed() {
    let target = serve(SocketAddr::from(([127, 0, 0, 3], 0)), None, twiml_ok()).await;
    let location = format!("http://{}/inside", target.addr);
    let script: Script = Arc::new(move |_, _| http("302 Found", &[("Location", &location)], ""));
    let server = serve(local(0), None, script).await;
    let only_one: DestinationPolicy = Arc::new(|ip: IpAddr| ip == IpAddr::from([127, 0, 0, 1]));
    let exchange = client(quick(), only_one)
        .send(TOKEN, &post(server.url("/")))
        .await;
    assert_eq!(code(&exchange), 11205);
    assert_eq!(target.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_answer_that_is_not_http_is_11206_and_a_cut_body_11200() {
    let server = serve(
        local(0),
        None,
        Arc::new(|_, _| Reply::Bytes(b"SIP/2.0 200 OK\r\n\r\n".to_vec())),
    )
    .await;
    let exchange = client(quick(), loopback_only())
        .send(TOKEN, &post(server.url("/")))
        .await;
    assert_eq!(code(&exchange), 11206);
    let cut = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n<Response>"
        .to_vec();
    let server = serve(
        local(0),
        None,
        Arc::new(move |_, _| Reply::Bytes(cut.clone())),
    )
    .await;
    let exchange = client(quick(), loopback_only())
        .send(TOKEN, &post(server.url("/")))
        .await;
    assert_eq!(code(&exchange), 11200);
}

#[tokio::test]
async fn a_url_that_is_not_http_is_11100() {
    let url = Url::parse("ftp://127.0.0.1/voice").unwrap();
    let exchange = client(quick(), loopback_only())
        .send(TOKEN, &post(url))
        .await;
    assert_eq!(code(&exchange), 11100);
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let certs = vec![CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn test_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CA.as_bytes()).unwrap())
        .unwrap();
    roots
}

#[tokio::test]
async fn https_with_a_trusted_certificate_for_the_name() {
    let server = serve(local(0), Some(tls_acceptor()), twiml_ok()).await;
    let c = WebhookClient::with_roots(quick(), loopback_only(), test_roots())
        .with_resolver(resolver(&[("localhost", &[IpAddr::from([127, 0, 0, 1])])]));
    let url = Url::parse(&format!("https://localhost:{}/voice", server.addr.port())).unwrap();
    let request = post(url.clone());
    let exchange = c.send(TOKEN, &request).await;
    assert_eq!(exchange.result, Ok(()));
    assert_eq!(exchange.twiml().unwrap().verbs, [Verb::Hangup]);
    let got = &server.seen()[0];
    let pairs = request.params.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    assert_eq!(
        got.header("x-twilio-signature"),
        Some(sign(TOKEN, url.as_str(), pairs).as_str())
    );
}

#[tokio::test]
async fn https_certificate_failures_have_their_codes() {
    let server = serve(local(0), Some(tls_acceptor()), twiml_ok()).await;
    let port = server.addr.port();
    let trusting = WebhookClient::with_roots(quick(), loopback_only(), test_roots())
        .with_resolver(resolver(&[("localhost", &[IpAddr::from([127, 0, 0, 1])])]));
    let by_ip = Url::parse(&format!("https://127.0.0.1:{port}/voice")).unwrap();
    assert_eq!(code(&trusting.send(TOKEN, &post(by_ip)).await), 11235);
    let by_name = Url::parse(&format!("https://localhost:{port}/voice")).unwrap();
    let untrusting = client(quick(), loopback_only());
    assert_eq!(code(&untrusting.send(TOKEN, &post(by_name)).await), 11237);
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn a_kept_alive_connection_serves_the_next_requests_to_the_same_origin() {
    let server = serve(local(0), None, Arc::new(kept)).await;
    let client = client(quick(), loopback_only());
    for _ in 0..3 {
        let exchange = client.send(TOKEN, &post(server.url("/voice"))).await;
        assert!(exchange.result.is_ok(), "{:?}", exchange.result);
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.header("connection").is_none()));
    assert_eq!(client.pool.idle(), 1);
}

#[tokio::test]
async fn a_kept_connection_closed_unanswered_is_replaced_once_with_the_same_request() {
    // The second request finds its connection closed without an answer: it goes once more,
    // on a new connection, with the same idempotency token.
    let script: Script = Arc::new(|seen, n| match n {
        1 => Reply::Close,
        _ => kept(seen, n),
    });
    let server = serve(local(0), None, script).await;
    let client = client(quick(), loopback_only());
    for _ in 0..2 {
        let exchange = client.send(TOKEN, &post(server.url("/voice"))).await;
        assert!(exchange.result.is_ok(), "{:?}", exchange.result);
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    let token = |s: &Seen| s.header("i-twilio-idempotency-token").unwrap().to_owned();
    assert_eq!(token(&seen[1]), token(&seen[2]));
    assert_ne!(token(&seen[0]), token(&seen[1]));
}

#[tokio::test]
async fn a_connection_the_server_closes_or_a_cut_answer_is_not_kept() {
    let script: Script = Arc::new(|_, n| match n {
        0 => Reply::Keep(response(
            "200 OK",
            &[("Content-Type", "text/xml"), ("Connection", "close")],
            TWIML,
        )),
        _ => Reply::Keep(response("500 Oops", &[], "x")),
    });
    let server = serve(local(0), None, script).await;
    let client = client(quick(), loopback_only());
    let exchange = client.send(TOKEN, &post(server.url("/voice"))).await;
    assert!(exchange.result.is_ok(), "{:?}", exchange.result);
    assert_eq!(client.pool.idle(), 0);
    // A 500 read whole leaves the connection usable: it is kept.
    let exchange = client.send(TOKEN, &post(server.url("/voice"))).await;
    assert_eq!(code(&exchange), 11200);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(client.pool.idle(), 1);
}

#[tokio::test]
async fn the_pool_is_bounded_and_without_it_every_request_says_connection_close() {
    let (a, b) = (
        serve(local(0), None, Arc::new(kept)).await,
        serve(local(0), None, Arc::new(kept)).await,
    );
    let bounded = WebhookConfig {
        max_idle: 1,
        ..quick()
    };
    let client = client(bounded, loopback_only());
    for url in [a.url("/"), b.url("/"), b.url("/"), a.url("/")] {
        let exchange = client.send(TOKEN, &post(url)).await;
        assert!(exchange.result.is_ok(), "{:?}", exchange.result);
    }
    // a's connection was kept; b's, returned to a full pool, was closed each time.
    assert_eq!(a.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(b.accepted.load(Ordering::SeqCst), 2);
    assert_eq!(client.pool.idle(), 1);
    let none = WebhookConfig {
        max_idle: 0,
        ..quick()
    };
    let client = super::tests::client(none, loopback_only());
    let c = serve(local(0), None, Arc::new(kept)).await;
    for _ in 0..2 {
        let exchange = client.send(TOKEN, &post(c.url("/"))).await;
        assert!(exchange.result.is_ok(), "{:?}", exchange.result);
    }
    assert_eq!(c.accepted.load(Ordering::SeqCst), 2);
    assert!(
        c.seen()
            .iter()
            .all(|s| s.header("connection") == Some("close"))
    );
}
