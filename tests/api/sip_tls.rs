//! SIP over TLS against the real server on 127.0.0.1:0, with certificates made here by rcgen (a
//! test CA and leaves for 127.0.0.1): the TLS listener answers on the connection a request came
//! on; a handshake that trickles is cut at its deadline and the handshakes in progress from one
//! source are capped; a `secure` domain refuses UDP and TCP with 403 and no challenge, and SRTP
//! is required of it and refused elsewhere (488); the edge forwards to a `transport=tls` target,
//! refusing one whose certificate names another address; a reloaded certificate reaches new
//! connections while an open one goes on.
//!
//! Every wait is bounded (seconds), and no test asserts how fast anything happens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reqwest::StatusCode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use sipmap::sip::SipLimits;
use sipmap::tls::CertFiles;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::helpers::TestApp;
use crate::routing::{BASE, answer, loopback_domain, routed_domain, wait_for_health};

const WAIT: Duration = Duration::from_secs(10);

/// A test CA and the files of a server certificate it issued.
pub struct Pki {
    dir: tempfile::TempDir,
    ca_params: CertificateParams,
    ca_key: KeyPair,
    ca_pem: String,
}

impl Pki {
    pub fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
        Self {
            dir,
            ca_params,
            ca_key,
            ca_pem,
        }
    }

    /// A leaf for `names` (IP addresses become IP subject alternative names): PEM chain, PEM key.
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).unwrap();
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes the server's pair (renamed into place, as a certificate tool does).
    pub fn write_server(&self, (cert, key): &(String, String)) -> CertFiles {
        let files = CertFiles {
            cert: self.dir.path().join("server.pem"),
            key: self.dir.path().join("server.key"),
        };
        for (path, text) in [(&files.cert, cert), (&files.key, key)] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        files
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A client trusting the CA only.
    fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        TlsConnector::from(Arc::new(sipmap::tls::client_config_with_roots(roots)))
    }

    /// A TLS server configuration presenting `pair`.
    pub fn acceptor(pair: &(String, String)) -> TlsAcceptor {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pair.0.as_bytes())
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_slice(pair.1.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(sipmap::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

/// The server with a TLS listener on 127.0.0.1:0 presenting a certificate for 127.0.0.1, the
/// test CA trusted for its own TLS connections, and `limits`.
async fn tls_app(pki: &Pki, limits: SipLimits) -> TestApp {
    let files = pki.write_server(&pki.leaf(&["127.0.0.1"]));
    let ca = pki.ca_path();
    TestApp::spawn_with(move |c| {
        c.sip_tls_listen = Some("127.0.0.1:0".into());
        c.tls = Some(files);
        c.tls_ca = Some(ca);
        c.sip_limits = limits;
        c.sip_probes = sipmap::sip::ProbeSettings {
            interval: Duration::from_millis(100),
            ..sipmap::sip::ProbeSettings::default()
        };
    })
    .await
}

/// A TLS client connection to `addr`, verified for 127.0.0.1.
async fn connect(pki: &Pki, addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    timeout(WAIT, pki.connector().connect(name, tcp))
        .await
        .expect("the handshake does not hang")
        .expect("the handshake succeeds")
}

/// A request over a stream transport `via` from `me`, with `body` (SDP when not empty).
fn request(
    method: &str,
    domain: &str,
    via: &str,
    me: SocketAddr,
    call: &str,
    body: &str,
) -> String {
    let content_type = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_owned()
    };
    format!(
        "{method} sip:bob@{domain} SIP/2.0\r\n\
         Via: SIP/2.0/{via} {me};branch=z9hG4bK-{call};rport\r\n\
         From: <sip:alice@{me}>;tag=1\r\nTo: <sip:bob@{domain}>\r\n\
         Call-ID: {call}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
         {content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one message (headers and `Content-Length` body) from `stream`.
pub async fn read_message(stream: &mut (impl AsyncRead + Unpin)) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return String::from_utf8_lossy(&got[..end + 4 + len]).into_owned();
            }
        }
        let n = timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("a message arrives")
            .expect("the read succeeds");
        assert!(
            n > 0,
            "closed before a whole message: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `text` on `stream` and reads the answer on it.
async fn exchange(stream: &mut (impl AsyncRead + AsyncWrite + Unpin), text: &str) -> String {
    stream.write_all(text.as_bytes()).await.unwrap();
    read_message(stream).await
}

/// The answer to `text` sent over UDP to `edge`.
async fn udp_exchange(edge: SocketAddr, text: impl Fn(SocketAddr) -> String) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = socket.local_addr().unwrap();
    socket.send_to(text(me).as_bytes(), edge).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The answer to `text` over a TCP connection to `edge`.
async fn tcp_exchange(edge: SocketAddr, text: impl Fn(SocketAddr) -> String) -> String {
    let mut stream = TcpStream::connect(edge).await.unwrap();
    let me = stream.local_addr().unwrap();
    exchange(&mut stream, &text(me)).await
}

const RTP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
const SRTP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/SAVP 0\r\n\
                    a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";

/// A counter of `/metrics`, by its whole sample name.
async fn metric(app: &TestApp, sample: &str) -> u64 {
    let text = app.get("/metrics").await.text;
    text.lines()
        .find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {sample} in {text}"))
}

/// Waits (boundedly) until the counter `sample` is at least 1.
async fn wait_for_metric(app: &TestApp, sample: &str) {
    for _ in 0..200 {
        if metric(app, sample).await > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sample} stayed 0");
}

#[tokio::test]
async fn options_and_invites_over_tls_are_answered_on_their_connection() {
    let pki = Pki::new();
    let app = tls_app(&pki, SipLimits::default()).await;
    loopback_domain(&app).await;
    let tls_addr = app.sip_tls_addr.expect("the TLS listener is on");
    let mut conn = connect(&pki, tls_addr).await;
    let me = conn.get_ref().0.local_addr().unwrap();
    let domain = "acme.sip.twilio.com";
    let ok = exchange(
        &mut conn,
        &request("OPTIONS", domain, "TLS", me, "tls-1", ""),
    )
    .await;
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    assert!(ok.contains("X-Sipmap-Account-Sid: AC"), "{ok}");
    assert!(ok.contains("Via: SIP/2.0/TLS "), "{ok}");
    assert!(ok.contains(&format!(";received={}", me.ip())), "{ok}");
    // An INVITE on the same connection: no target nor upstream, so 480, on this connection.
    let invite = request("INVITE", domain, "TLS", me, "tls-2", RTP);
    let answer = exchange(&mut conn, &invite).await;
    assert!(answer.starts_with("SIP/2.0 480 "), "{answer}");
    assert!(answer.contains("Call-ID: tls-2\r\n"), "{answer}");
    assert_eq!(
        metric(
            &app,
            "sipmap_sip_tls_handshakes_total{transport=\"tls\",outcome=\"done\"}"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_trickled_handshake_is_cut_at_its_deadline() {
    let pki = Pki::new();
    let limits = SipLimits {
        handshake: Duration::from_millis(300),
        ..SipLimits::default()
    };
    let app = tls_app(&pki, limits).await;
    let mut raw = TcpStream::connect(app.sip_tls_addr.unwrap()).await.unwrap();
    // The first bytes of a ClientHello record, then nothing more.
    raw.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let closed = timeout(WAIT, async {
        loop {
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection is closed after the handshake deadline"
    );
    wait_for_metric(
        &app,
        "sipmap_sip_tls_handshakes_total{transport=\"tls\",outcome=\"timed_out\"}",
    )
    .await;
}

#[tokio::test]
async fn handshakes_in_progress_are_capped_per_source() {
    let pki = Pki::new();
    let limits = SipLimits {
        handshake: Duration::from_secs(60),
        max_handshakes_per_source: 2,
        ..SipLimits::default()
    };
    let app = tls_app(&pki, limits).await;
    let addr = app.sip_tls_addr.unwrap();
    // Two connections that never start their handshake hold the source's places.
    let _held = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    // A third from the same source is closed at once, whatever it sends.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = timeout(WAIT, third.read(&mut buf))
        .await
        .expect("closed, not left waiting");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(
        metric(
            &app,
            "sipmap_sip_tls_handshakes_total{transport=\"tls\",outcome=\"refused_per_source\"}"
        )
        .await,
        1
    );
    // Another source still gets its handshake done.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let tcp = other.connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = timeout(WAIT, pki.connector().connect(name, tcp))
        .await
        .unwrap();
    assert!(tls.is_ok(), "{tls:?}");
}

/// A domain `name` that is `secure`, letting calls in with credentials only.
async fn secure_digest_domain(app: &TestApp, name: &str) -> String {
    let domain = app.domain(name).await;
    let r = app
        .post(&format!("{BASE}/SIP/Domains/{domain}.json"), "Secure=true")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = app
        .post(
            &format!("{BASE}/SIP/CredentialLists.json"),
            "FriendlyName=phones",
        )
        .await;
    assert_eq!(list.status, StatusCode::CREATED, "{}", list.text);
    let list = list.field("sid");
    let r = app
        .post(
            &format!("{BASE}/SIP/CredentialLists/{list}/Credentials.json"),
            "Username=alice&Password=Secret1234567",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .post(
            &format!("{BASE}/SIP/Domains/{domain}/Auth/Calls/CredentialListMappings.json"),
            &format!("CredentialListSid={list}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    domain
}

#[tokio::test]
async fn a_secure_domain_refuses_udp_and_tcp_before_any_challenge_and_challenges_over_tls() {
    let pki = Pki::new();
    let app = tls_app(&pki, SipLimits::default()).await;
    let name = "vault.sip.twilio.com";
    secure_digest_domain(&app, name).await;
    let sip = app.sip_addr.unwrap();
    let udp = udp_exchange(sip, |me| request("INVITE", name, "UDP", me, "s-1", SRTP)).await;
    let tcp = tcp_exchange(sip, |me| request("INVITE", name, "TCP", me, "s-2", SRTP)).await;
    for refused in [&udp, &tcp] {
        assert!(
            refused.starts_with("SIP/2.0 403 Secure Transport Required\r\n"),
            "{refused}"
        );
        assert!(
            !refused.contains("Authenticate"),
            "no challenge, no nonce: {refused}"
        );
        assert!(!refused.contains("X-Sipmap-"), "{refused}");
    }
    let mut conn = connect(&pki, app.sip_tls_addr.unwrap()).await;
    let me = conn.get_ref().0.local_addr().unwrap();
    let challenged = exchange(&mut conn, &request("INVITE", name, "TLS", me, "s-3", SRTP)).await;
    assert!(challenged.starts_with("SIP/2.0 407 "), "{challenged}");
    assert!(
        challenged.contains("Proxy-Authenticate: Digest "),
        "{challenged}"
    );
    assert_eq!(
        metric(
            &app,
            "sipmap_sip_secure_refused_total{reason=\"transport\"}"
        )
        .await,
        2
    );
    // Resolve says why.
    let q = "/sipmap/v1/Resolve?IpAddress=127.0.0.1&RequestUri=sip%3Abob%40vault.sip.twilio.com";
    let r = app.get(&format!("{q}&Transport=udp")).await.json();
    assert_eq!(r["decision"], "secure_transport_required", "{r}");
    assert_eq!(r["secure"], true, "{r}");
    let r = app
        .get(&format!("{q}&Transport=tls&Media=rtp"))
        .await
        .json();
    assert_eq!(r["decision"], "challenge", "{r}");
    assert_eq!(r["media_decision"], "srtp_required", "{r}");
    let r = app.get(&format!("{q}&Transport=sctp")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // The account's Monitor Alerts say it: one 32209 for the source, counting both requests.
    let alerts = alerts_with_code(&app, 32209).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0]["alert_text"]
            .as_str()
            .unwrap()
            .contains("2 requests"),
        "{alerts:?}"
    );
}

/// The account's alerts with `code`, once the edge's refusals were written (each second).
async fn alerts_with_code(app: &TestApp, code: u16) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    for _ in 0..50 {
        let listed = app.get("/v1/Alerts").await.json();
        found = listed["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["error_code"].as_str() == Some(code.to_string().as_str()))
            .cloned()
            .collect();
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    found
}

#[tokio::test]
async fn srtp_is_required_by_a_secure_domain_and_refused_by_another() {
    let pki = Pki::new();
    let app = tls_app(&pki, SipLimits::default()).await;
    let domain = loopback_domain(&app).await;
    let name = "acme.sip.twilio.com";
    // Not secure: an SRTP-only offer is refused, an RTP one goes on (480: nowhere to go).
    let sip = app.sip_addr.unwrap();
    let srtp = udp_exchange(sip, |me| request("INVITE", name, "UDP", me, "m-1", SRTP)).await;
    assert!(
        srtp.starts_with("SIP/2.0 488 Not Acceptable Here\r\n"),
        "{srtp}"
    );
    let rtp = udp_exchange(sip, |me| request("INVITE", name, "UDP", me, "m-2", RTP)).await;
    assert!(rtp.starts_with("SIP/2.0 480 "), "{rtp}");
    // Secure: over TLS, an RTP offer is refused, an SRTP one goes on.
    let r = app
        .post(&format!("{BASE}/SIP/Domains/{domain}.json"), "Secure=true")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut conn = connect(&pki, app.sip_tls_addr.unwrap()).await;
    let me = conn.get_ref().0.local_addr().unwrap();
    let rtp = exchange(&mut conn, &request("INVITE", name, "TLS", me, "m-3", RTP)).await;
    assert!(
        rtp.starts_with("SIP/2.0 488 Not Acceptable Here\r\n"),
        "{rtp}"
    );
    let srtp = exchange(&mut conn, &request("INVITE", name, "TLS", me, "m-4", SRTP)).await;
    assert!(srtp.starts_with("SIP/2.0 480 "), "{srtp}");
    assert_eq!(
        metric(&app, "sipmap_sip_secure_refused_total{reason=\"media\"}").await,
        2
    );
    assert_eq!(alerts_with_code(&app, 32208).await.len(), 1);
    assert_eq!(alerts_with_code(&app, 32207).await.len(), 1);
}

/// A TLS SIP target on 127.0.0.1 presenting `pair`: answers every request 200 on its
/// connection, and tells the test each request (other than probes) and each failed handshake.
async fn tls_target(pair: &(String, String)) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = Pki::acceptor(pair);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let mut stream = match acceptor.accept(tcp).await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(format!("handshake failed: {e}")).await;
                        return;
                    }
                };
                loop {
                    let text = read_message(&mut stream).await;
                    if !text.starts_with("ACK ") {
                        let _ = stream.write_all(answer(&text, 200).as_bytes()).await;
                    }
                    let probe = text.starts_with("OPTIONS ") && text.contains("User-Agent: sipmap");
                    if !probe {
                        let _ = tx.send(text).await;
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn requests_reach_a_tls_target_whose_certificate_names_its_address() {
    let pki = Pki::new();
    let app = tls_app(&pki, SipLimits::default()).await;
    let (good, mut good_rx) = tls_target(&pki.leaf(&["127.0.0.1"])).await;
    let (sids, _) = routed_domain(&app, &[(format!("sip:{good};transport=tls"), 10)]).await;
    let sip = app.sip_addr.unwrap();
    let name = "acme.sip.twilio.com";
    let ok = udp_exchange(sip, |me| request("INVITE", name, "UDP", me, "t-1", RTP)).await;
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    let got = timeout(WAIT, good_rx.recv()).await.unwrap().unwrap();
    assert!(
        got.starts_with("INVITE sip:bob@acme.sip.twilio.com"),
        "{got}"
    );
    assert!(got.contains("Via: SIP/2.0/TLS "), "{got}");
    let r = app
        .get("/sipmap/v1/Resolve?IpAddress=127.0.0.1&RequestUri=sip%3Abob%40acme.sip.twilio.com")
        .await
        .json();
    assert_eq!(r["transport"], "tls", "{r}");
    // The probes go over TLS too, and their answers keep the target up.
    wait_for_health(&app, &sids[0], true).await;
}

#[tokio::test]
async fn a_tls_target_whose_certificate_names_another_host_gets_nothing() {
    let pki = Pki::new();
    let app = tls_app(&pki, SipLimits::default()).await;
    let (wrong, mut wrong_rx) = tls_target(&pki.leaf(&["127.0.0.2", "sip.example.com"])).await;
    routed_domain(&app, &[(format!("sip:{wrong};transport=tls"), 10)]).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = socket.local_addr().unwrap();
    let invite = request("INVITE", "acme.sip.twilio.com", "UDP", me, "w-1", RTP);
    socket
        .send_to(invite.as_bytes(), app.sip_addr.unwrap())
        .await
        .unwrap();
    let seen = timeout(WAIT, wrong_rx.recv()).await.unwrap().unwrap();
    assert!(seen.starts_with("handshake failed"), "{seen}");
    wait_for_metric(
        &app,
        "sipmap_sip_tls_outbound_refused_total{transport=\"tls\"}",
    )
    .await;
}

#[tokio::test]
async fn a_reloaded_certificate_reaches_new_connections_and_open_ones_go_on() {
    let pki = Pki::new();
    let app = tls_app(&pki, SipLimits::default()).await;
    loopback_domain(&app).await;
    let addr = app.sip_tls_addr.unwrap();
    let mut open = connect(&pki, addr).await;
    let first_cert = open.get_ref().1.peer_certificates().unwrap()[0].clone();
    let me = open.get_ref().0.local_addr().unwrap();
    let name = "acme.sip.twilio.com";
    let ok = exchange(&mut open, &request("OPTIONS", name, "TLS", me, "r-1", "")).await;
    assert!(ok.starts_with("SIP/2.0 200 OK\r\n"), "{ok}");
    // A new pair written over the files: picked up by the file watch (or SIGHUP).
    pki.write_server(&pki.leaf(&["127.0.0.1", "sip.example.com"]));
    let mut renewed = false;
    for _ in 0..100 {
        let fresh = connect(&pki, addr).await;
        if fresh.get_ref().1.peer_certificates().unwrap()[0] != first_cert {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(renewed, "new connections get the new certificate");
    let again = exchange(&mut open, &request("OPTIONS", name, "TLS", me, "r-2", "")).await;
    assert!(
        again.starts_with("SIP/2.0 200 OK\r\n"),
        "the open connection goes on: {again}"
    );
}
