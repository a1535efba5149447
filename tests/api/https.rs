//! The API over HTTPS: the real server on port 0 with certificates made by rcgen (a test CA and
//! leaves it signs; no key is ever written outside a temporary folder). HTTP/1.1 and HTTP/2 by
//! ALPN and the bounds HTTP/2 announces, the listener's limits over TLS (handshake deadline, body
//! timeout, caps, idle), certificate reload under load with no failed request, what a verifying
//! client refuses, start-up errors, SIGHUP, `sipmap resolve` over https:// URLs, and the console's
//! session cookie marked `Secure`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    date_time_ymd,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sipmap::app::{App, ServeConfig};
use sipmap::http::server::HttpLimits;
use sipmap::tls::CertFiles;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{SID, TOKEN, TestApp};

/// A test certificate authority.
pub(crate) struct Ca {
    pub(crate) pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `localhost` and 127.0.0.1, valid from `from` to `to` (years): (cert, key) PEM.
    pub(crate) fn leaf(&self, from: i32, to: i32) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(to, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Certificate files in a temporary folder.
pub(crate) struct Files {
    dir: tempfile::TempDir,
    pub(crate) files: CertFiles,
}

impl Files {
    pub(crate) fn new(cert: &str, key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = CertFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let f = Self { dir, files };
        f.replace(cert, key);
        f
    }

    /// Replaces both files as a certificate tool does: written beside, then renamed.
    fn replace(&self, cert: &str, key: &str) {
        for (path, text) in [(&self.files.cert, cert), (&self.files.key, key)] {
            let tmp = path.with_extension("new");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// A server with the HTTPS listener only.
async fn https_app(files: &Files, limits: HttpLimits) -> TestApp {
    let tls = files.files.clone();
    TestApp::spawn_with(move |c| {
        c.listen = None;
        c.https_listen = Some("127.0.0.1:0".into());
        c.tls = Some(tls);
        c.http_limits = limits;
    })
    .await
}

fn addr(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("https://").parse().unwrap()
}

/// A client trusting `ca_pem` only, offering `alpn`.
fn client(ca_pem: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let mut config = sipmap::tls::client_config_with_roots(roots);
    // Every connection a full handshake: a resumed session shows no certificate anew.
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

/// An HTTPS connection to the server: what it negotiated and the certificate it was shown.
struct Conn {
    sender: Sender,
    cert: Vec<u8>,
    h2: bool,
}

/// Connects to `addr` as `name`, verifying with `config`.
async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    name: &str,
) -> Result<Conn, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, session) = tls.get_ref();
    let cert = session.peer_certificates().unwrap()[0].to_vec();
    let h2 = session.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    let sender = if h2 {
        let (s, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Sender::H2(s)
    } else {
        let (s, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Sender::H1(s)
    };
    Ok(Conn { sender, cert, h2 })
}

impl Conn {
    /// Whether the server closed the connection.
    fn is_closed(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    /// An authenticated GET: (status, body).
    async fn get(&mut self, path: &str) -> Result<(u16, String), String> {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
        let req = hyper::Request::get(path)
            .header("host", "localhost")
            .header("authorization", format!("Basic {auth}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = match &mut self.sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
        .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let expected = if self.h2 {
            hyper::Version::HTTP_2
        } else {
            hyper::Version::HTTP_11
        };
        assert_eq!(response.version(), expected);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

const ACCOUNT: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001.json";

#[tokio::test]
async fn the_api_answers_over_http1_and_http2() {
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let app = https_app(&files, HttpLimits::default()).await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    const H2: &[u8] = b"h2";
    const H1: &[u8] = b"http/1.1";
    let offers: [(&[&[u8]], bool); 3] = [(&[H2, H1], true), (&[H1], false), (&[], false)];
    for (alpn, h2) in offers {
        let mut conn = connect(addr(&app), client(&ca.pem, alpn), "localhost")
            .await
            .unwrap();
        assert_eq!(conn.h2, h2);
        assert_eq!(conn.cert, der(&cert));
        for _ in 0..3 {
            let (status, body) = conn.get(ACCOUNT).await.unwrap();
            assert_eq!(status, 200, "{body}");
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["sid"], SID);
            // Absolute URLs in responses name the HTTPS listener.
            assert!(json["uri"].as_str().is_some());
        }
        let (status, body) = conn.get("/2010-04-01/Nothing.json").await.unwrap();
        assert_eq!(status, 404, "{body}");
        assert!(
            body.contains("\"code\""),
            "a Twilio error over HTTPS too: {body}"
        );
    }
}

#[tokio::test]
async fn http2_announces_its_bounds() {
    use sipmap::http::server::{H2_MAX_HEADER_LIST, H2_MAX_STREAMS};
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let app = https_app(&files, HttpLimits::default()).await;
    let tcp = TcpStream::connect(addr(&app)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(client(&ca.pem, &[b"h2"]))
        .connect(name, tcp)
        .await
        .unwrap();
    // The client preface and an empty SETTINGS frame; the server's first frame is its SETTINGS.
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut head = [0u8; 9];
    tls.read_exact(&mut head).await.unwrap();
    assert_eq!(head[3], 0x4, "a SETTINGS frame");
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    tls.read_exact(&mut payload).await.unwrap();
    let settings: std::collections::HashMap<u16, u32> = payload
        .chunks_exact(6)
        .map(|c| {
            let id = u16::from_be_bytes([c[0], c[1]]);
            (id, u32::from_be_bytes([c[2], c[3], c[4], c[5]]))
        })
        .collect();
    assert_eq!(settings.get(&0x3), Some(&H2_MAX_STREAMS), "{settings:?}");
    assert_eq!(
        settings.get(&0x4),
        Some(&(64 * 1024)),
        "stream window: {settings:?}"
    );
    assert_eq!(
        settings.get(&0x6),
        Some(&H2_MAX_HEADER_LIST),
        "{settings:?}"
    );
}

#[tokio::test]
async fn a_trickled_handshake_is_cut_at_its_deadline() {
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let limits = HttpLimits {
        handshake_timeout: Duration::from_millis(500),
        ..HttpLimits::default()
    };
    let app = https_app(&files, limits).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    // A TLS record header announcing a 512-byte ClientHello, then a byte at a time: never idle
    // for long, never done. Bounded so that a server that never cuts fails rather than hangs.
    s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let mut closed = false;
    for _ in 0..200 {
        if s.write_all(&[0x00]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "the trickling handshake was never cut");
    // The server goes on serving others.
    let mut conn = connect(addr(&app), client(&ca.pem, &[b"h2"]), "localhost")
        .await
        .unwrap();
    assert_eq!(conn.get(ACCOUNT).await.unwrap().0, 200);
}

#[tokio::test]
async fn the_connection_caps_and_idle_timeout_hold_over_tls() {
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let limits = HttpLimits {
        header_timeout: Duration::from_millis(600),
        max_connections: 16,
        max_connections_per_client: 1,
        ..HttpLimits::default()
    };
    let app = https_app(&files, limits).await;
    let config = client(&ca.pem, &[b"h2", b"http/1.1"]);
    let mut first = connect(addr(&app), config.clone(), "localhost")
        .await
        .unwrap();
    assert_eq!(first.get(ACCOUNT).await.unwrap().0, 200);
    // A second connection from the same address is answered 429 (Twilio's 20429), over TLS.
    let mut second = connect(
        addr(&app),
        client(&ca.pem, &[b"h2", b"http/1.1"]),
        "localhost",
    )
    .await
    .unwrap();
    assert!(!second.h2, "a refusal is written as HTTP/1.1");
    let (status, body) = second.get(ACCOUNT).await.unwrap();
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("20429"), "{body}");
    drop(second);
    // The first, HTTP/2 and idle, is closed past the header timeout; its slot frees.
    let mut freed = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if first.is_closed() {
            freed = true;
            break;
        }
    }
    assert!(freed, "an idle HTTP/2 connection stayed open");
    let mut again = None;
    for _ in 0..50 {
        let mut c = connect(addr(&app), config.clone(), "localhost")
            .await
            .unwrap();
        if c.get(ACCOUNT).await.unwrap().0 == 200 {
            again = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        again.is_some(),
        "the slot of the closed connection was not freed"
    );
}

/// A request body that sends its first bytes, then nothing more, ever; or, `Stalled(None)`, an
/// empty one.
struct Stalled(Option<bool>);

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.0 {
            None => return std::task::Poll::Ready(None),
            Some(true) => return std::task::Poll::Pending,
            Some(false) => self.0 = Some(true),
        }
        let first = Bytes::from_static(b"FriendlyName=slow");
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(first))))
    }
}

#[tokio::test]
async fn a_stalled_body_over_http2_gets_408_and_the_connection_serves_on() {
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let limits = HttpLimits {
        body_timeout: Duration::from_millis(400),
        ..HttpLimits::default()
    };
    let app = https_app(&files, limits).await;
    let tcp = TcpStream::connect(addr(&app)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(client(&ca.pem, &[b"h2"]))
        .connect(name, tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake::<_, _, Stalled>(
        TokioExecutor::new(),
        TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    let post = |body| {
        hyper::Request::post(
            "/2010-04-01/Accounts/AC00000000000000000000000000000001/SIP/Domains.json",
        )
        .header("authorization", format!("Basic {auth}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .unwrap()
    };
    // Bounded so that a server that never times the body out fails rather than hangs.
    let response = tokio::time::timeout(
        Duration::from_secs(15),
        sender.send_request(post(Stalled(Some(false)))),
    )
    .await
    .expect("the server answered within the bound")
    .unwrap();
    assert_eq!(response.status(), 408);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("\"code\""), "a Twilio error: {text}");
    // The connection goes on: the next stream is answered.
    let get = hyper::Request::get(ACCOUNT)
        .header("authorization", format!("Basic {auth}"))
        .body(Stalled(None))
        .unwrap();
    let response = sender.send_request(get).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_idle_tls_connection_without_a_request_is_closed() {
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let limits = HttpLimits {
        header_timeout: Duration::from_millis(500),
        ..HttpLimits::default()
    };
    let app = https_app(&files, limits).await;
    for alpn in [b"h2" as &[u8], b"http/1.1"] {
        let tcp = TcpStream::connect(addr(&app)).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(client(&ca.pem, &[alpn]))
            .connect(name, tcp)
            .await
            .unwrap();
        // Handshake done, then nothing: the server must close (bounded, never a hang).
        let mut buf = [0u8; 256];
        let closed = loop {
            match tokio::time::timeout(Duration::from_secs(15), tls.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => continue, // HTTP/2's SETTINGS, then GOAWAY
                Err(_) => break false,
            }
        };
        assert!(
            closed,
            "{} connection without a request stayed open",
            String::from_utf8_lossy(alpn)
        );
    }
}

#[tokio::test]
async fn a_reload_under_load_fails_no_request_and_reaches_new_handshakes() {
    let ca = Ca::new("sipmap test CA");
    let (cert_a, key_a) = ca.leaf(2020, 2090);
    let files = Files::new(&cert_a, &key_a);
    let app = https_app(&files, HttpLimits::default()).await;
    let target = addr(&app);
    let config = client(&ca.pem, &[b"h2", b"http/1.1"]);
    // Established connections, one of each protocol, used throughout.
    let mut h2 = connect(target, config.clone(), "localhost").await.unwrap();
    let mut h1 = connect(target, client(&ca.pem, &[b"http/1.1"]), "localhost")
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (config, stop, done) = (config.clone(), stop.clone(), done.clone());
        load.spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                // A new connection, so a full handshake, each time.
                match connect(target, config.clone(), "localhost").await {
                    Ok(mut c) => match c.get(ACCOUNT).await {
                        Ok((200, _)) => {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures.push(format!("{other:?}")),
                    },
                    Err(e) => failures.push(e),
                }
            }
            failures
        });
    }
    while done.load(Ordering::Relaxed) < 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (cert_b, key_b) = ca.leaf(2021, 2091);
    files.replace(&cert_b, &key_b);
    // The file change is noticed within a poll (2 s); bounded so that a broken reload fails.
    let mut seen_new = false;
    for _ in 0..150 {
        let mut c = connect(target, config.clone(), "localhost").await.unwrap();
        assert_eq!(c.get(ACCOUNT).await.unwrap().0, 200);
        if c.cert == der(&cert_b) {
            seen_new = true;
            break;
        }
        assert_eq!(c.cert, der(&cert_a));
        assert_eq!(h2.get(ACCOUNT).await.unwrap().0, 200);
        assert_eq!(h1.get(ACCOUNT).await.unwrap().0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_new, "no new handshake saw the new certificate");
    let before = done.load(Ordering::Relaxed);
    while done.load(Ordering::Relaxed) < before + 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(failures) = load.join_next().await {
        let failures = failures.unwrap();
        assert!(failures.is_empty(), "failed requests: {failures:?}");
    }
    // The connections established before the reload go on, with the certificate they had.
    assert_eq!(h2.get(ACCOUNT).await.unwrap().0, 200);
    assert_eq!(h1.get(ACCOUNT).await.unwrap().0, 200);
    assert_eq!(h2.cert, der(&cert_a));
}

#[tokio::test]
async fn a_verifying_client_refuses_a_wrong_host_an_unknown_ca_and_an_expired_certificate() {
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let app = https_app(&files, HttpLimits::default()).await;
    let e = connect(addr(&app), client(&ca.pem, &[]), "example.com")
        .await
        .err()
        .unwrap();
    assert!(e.contains("not valid for name"), "{e}");
    let other = Ca::new("another CA");
    let e = connect(addr(&app), client(&other.pem, &[]), "localhost")
        .await
        .err()
        .unwrap();
    assert!(e.contains("UnknownIssuer"), "{e}");
    // sipmap never serves an expired certificate (see the start-up test), so a bare rustls
    // server presents one to the client configuration sipmap's clients use.
    let (old, old_key) = ca.leaf(2000, 2001);
    let expired = bare_server(&old, &old_key).await;
    let e = connect(expired, client(&ca.pem, &[]), "localhost")
        .await
        .err()
        .unwrap();
    assert!(e.contains("expired"), "{e}");
}

/// A TLS server outside sipmap presenting `cert` (whatever its dates) to one client at a time.
async fn bare_server(cert: &str, key: &str) -> SocketAddr {
    let certs = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(sipmap::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let _ = acceptor.accept(s).await;
        }
    });
    addr
}

fn base_config(dir: &Path) -> ServeConfig {
    ServeConfig {
        listen: None,
        https_listen: Some("127.0.0.1:0".into()),
        database_url: format!("sqlite://{}", dir.join("sipmap.db").display()),
        public_url: None,
        domain_suffix: "sip.twilio.com".into(),
        sip_listen: None,
        sip_upstream: None,
        sip_tls_listen: None,
        sip_digest_algorithms: Vec::new(),
        store: Default::default(),
        http_limits: Default::default(),
        sip_limits: Default::default(),
        sip_probes: Default::default(),
        sip_new_ports_per_ip: sipmap::sip::edge::ports::DEFAULT_NEW_PER_SECOND,
        sip_auth_throttle: Default::default(),
        call_limits: Default::default(),
        call_log: None,
        decisions: Default::default(),
        tls: None,
        tls_ca: None,
    }
}

async fn build_error(config: &ServeConfig) -> String {
    match App::build(config).await {
        Ok(_) => panic!("the server started"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn start_up_refuses_what_cannot_serve() {
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let mut config = base_config(files.dir.path());
    let e = build_error(&config).await;
    assert!(e.contains("--https-listen needs a certificate"), "{e}");

    config.https_listen = None;
    let e = build_error(&config).await;
    assert!(e.contains("no API listener"), "{e}");

    config.https_listen = Some("127.0.0.1:0".into());
    config.tls = Some(CertFiles {
        cert: files.path("absent.pem"),
        key: files.files.key.clone(),
    });
    let e = build_error(&config).await;
    assert!(e.contains("absent.pem: not found"), "{e}");

    let (old, old_key) = ca.leaf(2000, 2001);
    let expired = Files::new(&old, &old_key);
    config.tls = Some(expired.files.clone());
    let e = build_error(&config).await;
    assert!(e.contains("expired at 2001-01-01T00:00:00Z"), "{e}");

    let (_, other_key) = ca.leaf(2020, 2090);
    let mismatched = Files::new(&cert, &other_key);
    config.tls = Some(mismatched.files.clone());
    let e = build_error(&config).await;
    assert!(e.contains("does not match the certificate"), "{e}");
    assert!(!e.contains("PRIVATE KEY"), "{e}");

    config.tls = Some(files.files.clone());
    let app = App::build(&config).await.expect("a good pair serves");
    assert!(app.http_addr().is_none() && app.https_addr().is_some());
}

#[cfg(unix)]
mod process {
    //! The binary itself: `serve --listen off --https-listen`, SIGHUP, and `resolve` over
    //! https:// with and without `--tls-ca`.

    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    use super::*;

    struct Served(Child);

    impl Drop for Served {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts `sipmap serve` with HTTPS only; returns it and its HTTPS address.
    fn serve(files: &Files) -> (Served, SocketAddr) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sipmap"))
            .args(["serve", "--listen", "off", "--https-listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(&files.files.cert)
            .arg("--tls-key")
            .arg(&files.files.key)
            .arg("--database-url")
            .arg(format!("sqlite://{}", files.path("sipmap.db").display()))
            .env_clear()
            .env("TWILIO_ACCOUNT_SID", SID)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipmap starts");
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut addr = None;
        for line in out.lines().map_while(Result::ok) {
            assert!(!line.contains("http://"), "no plain listener: {line}");
            if let Some(a) = line.strip_prefix("sipmap: HTTP API listening on https://") {
                addr = Some(a.parse().unwrap());
                break;
            }
        }
        (Served(child), addr.expect("sipmap exited before listening"))
    }

    /// `sipmap resolve` against `url`: (succeeded, stdout and stderr).
    fn resolve(url: &str, ca: Option<&Path>) -> (bool, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sipmap"));
        cmd.args(["resolve", "192.0.2.1", "--url", url])
            .env_clear()
            .env("TWILIO_ACCOUNT_SID", SID)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            // An empty system store, so that only --tls-ca can make the test CA trusted.
            .env("SSL_CERT_FILE", "/dev/null")
            .env("SSL_CERT_DIR", "/nonexistent");
        if let Some(ca) = ca {
            cmd.env("SIPMAP_TLS_CA", ca);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// Pads a PEM text with newlines (outside its blocks, so ignored) to `len` bytes.
    fn padded(pem: &str, len: usize) -> String {
        assert!(pem.len() <= len);
        format!("{pem}{}", "\n".repeat(len - pem.len()))
    }

    #[tokio::test]
    async fn sighup_reloads_and_resolve_speaks_https() {
        let ca = Ca::new("sipmap test CA");
        let (cert_a, key_a) = ca.leaf(2020, 2090);
        // Both pairs padded to the same lengths, and the files' times put back after the swap,
        // so that only SIGHUP, not the file watcher, can notice the change.
        let (cert_b, key_b) = ca.leaf(2021, 2091);
        let (cl, kl) = (
            cert_a.len().max(cert_b.len()) + 8,
            key_a.len().max(key_b.len()) + 8,
        );
        let files = Files::new(&padded(&cert_a, cl), &padded(&key_a, kl));
        let ca_file = files.path("ca.pem");
        std::fs::write(&ca_file, &ca.pem).unwrap();
        let (served, addr) = serve(&files);
        let url = format!("https://localhost:{}", addr.port());

        let (ok, text) = resolve(&url, Some(&ca_file));
        assert!(ok, "{text}");
        assert!(text.contains("\"decision\""), "{text}");
        let (ok, text) = resolve(&url, None);
        assert!(!ok, "an unknown CA is refused: {text}");
        assert!(text.contains("TLS with localhost"), "{text}");
        let (ok, text) = resolve(
            &format!("https://127.0.0.2:{}", addr.port()),
            Some(&ca_file),
        );
        assert!(
            !ok,
            "a name the certificate does not hold is refused: {text}"
        );

        let config = client(&ca.pem, &[]);
        let conn = connect(addr, config.clone(), "localhost").await.unwrap();
        assert_eq!(conn.cert, der(&cert_a));
        let times: Vec<_> = [&files.files.cert, &files.files.key]
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
            .collect();
        files.replace(&padded(&cert_b, cl), &padded(&key_b, kl));
        for (p, t) in [&files.files.cert, &files.files.key].iter().zip(times) {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let conn = connect(addr, config.clone(), "localhost").await.unwrap();
        assert_eq!(
            conn.cert,
            der(&cert_a),
            "the watcher cannot see this change"
        );
        let pid = served.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
        let mut seen = false;
        for _ in 0..100 {
            let conn = connect(addr, config.clone(), "localhost").await.unwrap();
            if conn.cert == der(&cert_b) {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(seen, "SIGHUP did not reload the certificate");
        let (ok, text) = resolve(&url, Some(&ca_file));
        assert!(ok, "the server still serves after SIGHUP: {text}");
    }
}

#[tokio::test]
async fn the_console_cookie_is_secure_over_https() {
    let ca = Ca::new("sipmap test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = Files::new(&cert, &key);
    let app = https_app(&files, HttpLimits::default()).await;
    let tcp = TcpStream::connect(addr(&app)).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(client(&ca.pem, &[]))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post("/console/session")
        .header("host", "localhost")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(Bytes::from(format!(
            "AccountSid={SID}&Secret={TOKEN}"
        ))))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 201);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly; SameSite=Strict; Path=/"),
        "{cookie}"
    );
}
