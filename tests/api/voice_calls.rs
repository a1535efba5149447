//! Calls to a SIP domain with a `VoiceUrl` run its TwiML on the real server: a loopback HTTP
//! server in the test is the application, raw UDP sockets are the caller and the callee. The
//! webhook is signed with the account's token (checked with `voice::signature`), a
//! retransmitted INVITE starts no second webhook, `<Reject>`s answer 486 and 404, and `<Dial>
//! <Sip>` bridges the caller to the callee (the callee's SDP answers the caller; ACK and BYE
//! cross between the legs, both ways). A webhook to an https:// URL trusts `--tls-ca`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::timeout;

use sipmap::call_runtime::MemoryLog;
use sipmap::calls::Command;
use sipmap::domain::CallStatus;
use sipmap::sid::{AccountSid, CallSid};

use crate::helpers::{SID, TOKEN, TestApp};
use crate::routing::{BASE, WAIT, loopback_domain};

/// One request the application received.
#[derive(Debug)]
struct Hook {
    url: String,
    headers: HashMap<String, String>,
    params: Vec<(String, String)>,
}

/// The application: answers every request with its current TwiML, hands each to the test.
struct App {
    base: String,
    twiml: Arc<Mutex<String>>,
    hooks: mpsc::Receiver<Hook>,
}

impl App {
    async fn start(twiml: &str) -> Self {
        Self::start_with(twiml, None).await
    }

    /// The application, over HTTPS with `tls` when given.
    async fn start_with(twiml: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let twiml = Arc::new(Mutex::new(twiml.to_owned()));
        let (tx, hooks) = mpsc::channel(64);
        let (doc, root) = (twiml.clone(), base.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (doc, tx, root) = (doc.clone(), tx.clone(), root.clone());
                match &tls {
                    None => drop(tokio::spawn(serve_hook(stream, doc, tx, root))),
                    Some(tls) => {
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            if let Ok(stream) = tls.accept(stream).await {
                                serve_hook(stream, doc, tx, root).await;
                            }
                        });
                    }
                }
            }
        });
        Self { base, twiml, hooks }
    }

    /// Answers `twiml` from now on.
    fn answer(&self, twiml: &str) {
        *self.twiml.lock().unwrap() = twiml.to_owned();
    }

    async fn next(&mut self) -> Hook {
        timeout(WAIT, self.hooks.recv())
            .await
            .expect("a webhook reaches the application")
            .unwrap()
    }
}

/// Reads one HTTP/1.1 request from `stream`, answers it with `doc`.
async fn serve_hook<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    doc: Arc<Mutex<String>>,
    tx: mpsc::Sender<Hook>,
    root: String,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let Ok(n @ 1..) = stream.read(&mut chunk).await else {
            return;
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines.next().unwrap().split(' ').nth(1).unwrap().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    while buf.len() < head_end + length {
        let Ok(n @ 1..) = stream.read(&mut chunk).await else {
            return;
        };
        buf.extend_from_slice(&chunk[..n]);
    }
    let params = form_urlencoded::parse(&buf[head_end..head_end + length])
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let _ = tx
        .send(Hook {
            url: format!("{root}{path}"),
            headers,
            params,
        })
        .await;
    let body = doc.lock().unwrap().clone();
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// `acme.sip.twilio.com`, letting calls in from 127.0.0.0/8, with `VoiceUrl` `voice_url`.
async fn voice_domain(app: &TestApp, voice_url: &str) {
    let domain = loopback_domain(app).await;
    let url: String = form_urlencoded::byte_serialize(voice_url.as_bytes()).collect();
    let r = app
        .post(
            &format!("{BASE}/SIP/Domains/{domain}.json"),
            &format!("VoiceUrl={url}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// A raw SIP endpoint on a UDP socket.
struct Peer {
    socket: UdpSocket,
}

const SDP_CALLER: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const SDP_CALLEE: &str = "v=0\r\no=bob 2 2 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

impl Peer {
    async fn on(ip: &str) -> Self {
        Self {
            socket: UdpSocket::bind(format!("{ip}:0")).await.unwrap(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    async fn send(&self, text: &str, to: SocketAddr) {
        self.socket.send_to(text.as_bytes(), to).await.unwrap();
    }

    /// The next message, with where it came from.
    async fn recv(&self) -> (String, SocketAddr) {
        let mut buf = vec![0u8; 65536];
        let (n, from) = timeout(WAIT, self.socket.recv_from(&mut buf))
            .await
            .expect("a SIP message arrives")
            .unwrap();
        (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
    }

    /// Messages until one starts with `prefix` (a status line or a method).
    async fn until(&self, prefix: &str) -> (String, SocketAddr) {
        loop {
            let (m, from) = self.recv().await;
            if m.starts_with(prefix) {
                return (m, from);
            }
        }
    }

    /// Nothing arrives within `wait` (the caller's messages are absorbed).
    async fn quiet(&self, wait: Duration) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        match timeout(wait, self.socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => None,
        }
    }
}

/// The INVITE from `me`, Call-ID `call_id`, with the caller's SDP.
fn invite(me: SocketAddr, call_id: &str) -> String {
    format!(
        "INVITE sip:bob@acme.sip.twilio.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id};rport\r\n\
         From: <sip:alice@{me}>;tag=caller1\r\nTo: <sip:bob@acme.sip.twilio.com>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
         Contact: <sip:alice@{me}>\r\nX-Case: 42\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP_CALLER}",
        SDP_CALLER.len()
    )
}

/// A header's value in `msg`.
fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
}

/// The body of `msg`.
fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// The response `code` to `request`, with `to_tag`, `extra` headers and `sdp`.
fn respond(request: &str, code: u16, to_tag: &str, extra: &str, sdp: &str) -> String {
    let mut out = format!("SIP/2.0 {code} Whatever\r\n");
    for line in request.split("\r\n").take_while(|l| !l.is_empty()).skip(1) {
        let name = line.split(':').next().unwrap_or("").trim();
        match name.to_ascii_lowercase().as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" if line.contains("tag=") => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag={to_tag}\r\n")),
            _ => {}
        }
    }
    let ct = if sdp.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_owned()
    };
    format!("{out}{extra}{ct}Content-Length: {}\r\n\r\n{sdp}", sdp.len())
}

/// An in-dialog request `method` from the caller after the 2xx `ok` (CSeq `cseq`).
fn in_dialog(me: SocketAddr, ok: &str, method: &str, cseq: u32) -> String {
    let contact = header(ok, "Contact").unwrap();
    let target = contact.trim_start_matches('<').split('>').next().unwrap();
    let to = header(ok, "To").unwrap();
    let call_id = header(ok, "Call-ID").unwrap();
    let from = header(ok, "From").unwrap();
    let branch = if method == "ACK" {
        "z9hG4bK-ack".to_owned()
    } else {
        format!("z9hG4bK-{method}-{cseq}")
    };
    format!(
        "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\n\
         From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The server, the application answering `twiml`, and the domain.
async fn setup(twiml: &str) -> (TestApp, App, SocketAddr) {
    setup_with(twiml, |_| {}).await
}

/// [`setup`] with the server's configuration adjusted by `tweak`.
async fn setup_with(
    twiml: &str,
    tweak: impl FnOnce(&mut sipmap::app::ServeConfig),
) -> (TestApp, App, SocketAddr) {
    let server = TestApp::spawn_with(tweak).await;
    let app = App::start(twiml).await;
    voice_domain(&server, &format!("{}/voice", app.base)).await;
    let edge = server.sip_addr.expect("the SIP edge is on");
    (server, app, edge)
}

#[tokio::test]
async fn reject_busy_answers_486_after_one_signed_webhook_for_a_retransmitted_invite() {
    let (_server, mut app, edge) = setup(r#"<Response><Reject reason="busy"/></Response>"#).await;
    let caller = Peer::on("127.0.0.1").await;
    let inv = invite(caller.addr(), "busy-1");
    caller.send(&inv, edge).await;
    caller.send(&inv, edge).await;
    let (trying, _) = caller.recv().await;
    assert!(trying.starts_with("SIP/2.0 100"), "{trying}");
    let (busy, _) = caller.until("SIP/2.0 486").await;
    assert_eq!(header(&busy, "Call-ID"), Some("busy-1"));
    let hook = app.next().await;
    assert_eq!(hook.url, format!("{}/voice", app.base));
    let param = |name: &str| {
        hook.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(param("AccountSid"), Some(SID));
    assert_eq!(param("CallStatus"), Some("ringing"));
    assert_eq!(param("Direction"), Some("inbound"));
    assert_eq!(param("SipCallId"), Some("busy-1"));
    assert_eq!(param("SipDomain"), Some("acme.sip.twilio.com"));
    assert_eq!(param("SipHeader_X-Case"), Some("42"));
    assert!(param("CallSid").is_some_and(|s| s.starts_with("CA")));
    let expected = sipmap::voice::signature::sign(
        TOKEN,
        &hook.url,
        hook.params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    assert_eq!(
        hook.headers.get("x-twilio-signature"),
        Some(&expected),
        "the webhook is signed with the account's token"
    );
    // The retransmission was absorbed by the call: no second webhook.
    assert!(
        timeout(Duration::from_millis(700), app.hooks.recv())
            .await
            .is_err(),
        "one INVITE, retransmitted, makes one webhook"
    );
}

#[tokio::test]
async fn an_https_webhook_is_verified_against_the_tls_ca_roots() {
    // The application's certificate comes from a CA only --tls-ca names: with the system's
    // roots alone the webhook could not be made.
    let ca = crate::https::Ca::new("webhook test CA");
    let (cert, key) = ca.leaf(2020, 2090);
    let files = crate::https::Files::new(&ca.pem, "");
    let acceptor = sipmap::tls::ServerCerts::load(crate::https::Files::new(&cert, &key).files)
        .unwrap()
        .server_config(&[b"http/1.1"]);
    let ca_file = files.files.cert.clone();
    let server = TestApp::spawn_with(move |c| c.tls_ca = Some(ca_file)).await;
    let mut app = App::start_with(
        "<Response><Reject/></Response>",
        Some(tokio_rustls::TlsAcceptor::from(acceptor)),
    )
    .await;
    assert!(app.base.starts_with("https://127.0.0.1:"), "{}", app.base);
    voice_domain(&server, &format!("{}/voice", app.base)).await;
    let edge = server.sip_addr.expect("the SIP edge is on");
    let caller = Peer::on("127.0.0.1").await;
    caller
        .send(&invite(caller.addr(), "tls-hook-1"), edge)
        .await;
    let hook = app.next().await;
    assert_eq!(hook.url, format!("{}/voice", app.base));
    let (not_found, _) = caller.until("SIP/2.0 404").await;
    assert_eq!(header(&not_found, "Call-ID"), Some("tls-hook-1"));
}

#[tokio::test]
async fn reject_answers_404() {
    let (_server, mut app, edge) = setup("<Response><Reject/></Response>").await;
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "reject-1"), edge).await;
    let (not_found, _) = caller.until("SIP/2.0 404").await;
    assert_eq!(header(&not_found, "Call-ID"), Some("reject-1"));
    app.next().await;
    // Its ACK is absorbed by the call, not forwarded nor answered.
    let ack = respond(&not_found, 0, "", "", "")
        .replacen(
            "SIP/2.0 0 Whatever",
            "ACK sip:bob@acme.sip.twilio.com SIP/2.0",
            1,
        )
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
    caller.send(&ack, edge).await;
    assert_eq!(caller.quiet(Duration::from_millis(300)).await, None);
}

/// The callee: answers the child INVITE 180 then 200 with its SDP; gives the INVITE and 200.
async fn callee_answers(callee: &Peer) -> (String, SocketAddr) {
    let (inv, from) = callee.until("INVITE ").await;
    let contact = format!("Contact: <sip:bob@{}>\r\n", callee.addr());
    callee
        .send(&respond(&inv, 180, "callee", &contact, ""), from)
        .await;
    callee
        .send(&respond(&inv, 200, "callee", &contact, SDP_CALLEE), from)
        .await;
    (inv, from)
}

#[tokio::test]
async fn dial_sip_bridges_the_caller_to_the_callee_and_bye_ends_both_legs() {
    let callee = Peer::on("127.0.0.3").await;
    let twiml = format!(
        "<Response><Dial><Sip>sip:bob@{}</Sip></Dial></Response>",
        callee.addr()
    );
    let (_server, mut app, edge) = setup(&twiml).await;
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "dial-1"), edge).await;
    app.next().await;
    let (child_invite, sipmap) = callee_answers(&callee).await;
    assert_eq!(
        body(&child_invite),
        SDP_CALLER,
        "the caller's offer goes to the callee"
    );
    assert_ne!(header(&child_invite, "Call-ID"), Some("dial-1"));
    let (ok, _) = caller.until("SIP/2.0 200").await;
    assert_eq!(
        body(&ok),
        SDP_CALLEE,
        "the callee's answer reaches the caller"
    );
    // sipmap ACKs the callee's 200; the caller ACKs sipmap's.
    let (ack, _) = callee.until("ACK ").await;
    assert_eq!(header(&ack, "Call-ID"), header(&child_invite, "Call-ID"));
    caller
        .send(&in_dialog(caller.addr(), &ok, "ACK", 1), edge)
        .await;
    // The caller hangs up: the callee gets a BYE, and the caller its 200.
    caller
        .send(&in_dialog(caller.addr(), &ok, "BYE", 2), edge)
        .await;
    let (bye, from) = callee.until("BYE ").await;
    assert_eq!(from, sipmap);
    callee
        .send(&respond(&bye, 200, "callee", "", ""), from)
        .await;
    let (bye_ok, _) = caller.until("SIP/2.0 200").await;
    assert!(
        header(&bye_ok, "CSeq").unwrap().ends_with("BYE"),
        "{bye_ok}"
    );
}

#[tokio::test]
async fn a_bye_from_the_callee_ends_the_callers_leg() {
    let callee = Peer::on("127.0.0.3").await;
    let twiml = format!(
        "<Response><Dial><Sip>sip:bob@{}</Sip></Dial></Response>",
        callee.addr()
    );
    let (_server, mut app, edge) = setup(&twiml).await;
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "dial-2"), edge).await;
    app.next().await;
    let (child_invite, sipmap) = callee_answers(&callee).await;
    let (ok, _) = caller.until("SIP/2.0 200").await;
    callee.until("ACK ").await;
    caller
        .send(&in_dialog(caller.addr(), &ok, "ACK", 1), edge)
        .await;
    // The callee hangs up: a BYE in the child dialog, from the callee to sipmap.
    let to = header(&child_invite, "From").unwrap();
    let from = format!("{};tag=callee", header(&child_invite, "To").unwrap());
    let me = callee.addr();
    let bye = format!(
        "BYE sip:sipmap@{sipmap} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-cbye;rport\r\n\
         From: {from}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        header(&child_invite, "Call-ID").unwrap()
    );
    callee.send(&bye, sipmap).await;
    let (answered, _) = callee.until("SIP/2.0 200").await;
    assert!(header(&answered, "CSeq").unwrap().ends_with("BYE"));
    let (caller_bye, from) = caller.until("BYE ").await;
    assert_eq!(header(&caller_bye, "Call-ID"), Some("dial-2"));
    caller
        .send(&respond(&caller_bye, 200, "x", "", ""), from)
        .await;
}

#[tokio::test]
async fn past_max_calls_an_invite_gets_503_with_retry_after_and_metrics_count_it() {
    past_a_call_limit("max_calls", |c| c.call_limits.calls = 1).await;
}

#[tokio::test]
async fn past_max_calls_per_account_an_invite_gets_503_with_retry_after_and_metrics_count_it() {
    past_a_call_limit("max_calls_per_account", |c| {
        c.call_limits.calls_per_account = 1;
    })
    .await;
}

/// With the call bound `limit` set to one (by `tweak`), a second INVITE while the first call
/// is live gets 503 with Retry-After from the edge, and /metrics counts it under `limit`.
async fn past_a_call_limit(limit: &str, tweak: impl FnOnce(&mut sipmap::app::ServeConfig)) {
    // The callee never answers, so the first call stays live (ringing).
    let callee = Peer::on("127.0.0.3").await;
    let twiml = format!(
        "<Response><Dial><Sip>sip:bob@{}</Sip></Dial></Response>",
        callee.addr()
    );
    let (server, mut app, edge) = setup_with(&twiml, tweak).await;
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "live-1"), edge).await;
    app.next().await;
    callee.until("INVITE ").await;
    let second = Peer::on("127.0.0.1").await;
    second.send(&invite(second.addr(), "live-2"), edge).await;
    let (refused, _) = second.until("SIP/2.0 503").await;
    assert_eq!(header(&refused, "Retry-After"), Some("5"));
    assert_eq!(header(&refused, "Call-ID"), Some("live-2"));
    // The edge answered it, so it drops the ACK of that answer (never forwarded nor answered).
    let ack = respond(&refused, 0, "", "", "")
        .replacen(
            "SIP/2.0 0 Whatever",
            "ACK sip:bob@acme.sip.twilio.com SIP/2.0",
            1,
        )
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
    second.send(&ack, edge).await;
    assert_eq!(second.quiet(Duration::from_millis(300)).await, None);
    let metrics = server.get("/metrics").await.text;
    for line in [
        "sipmap_calls_started_total 1".to_owned(),
        format!("sipmap_calls_refused_total{{limit=\"{limit}\"}} 1"),
        "sipmap_calls_live 1".to_owned(),
        "sipmap_call_webhooks_total{outcome=\"ok\"} 1".to_owned(),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_restarted_server_still_runs_the_domains_application() {
    let (server, mut app, _) = setup("<Response><Reject/></Response>").await;
    let (db, dir) = server.stop().await;
    let server = TestApp::start(db).await;
    let edge = server.sip_addr.expect("the SIP edge is on");
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "restart-1"), edge).await;
    caller.until("SIP/2.0 404").await;
    assert_eq!(app.next().await.url, format!("{}/voice", app.base));
    drop(dir);
}

#[tokio::test]
async fn over_tcp_the_caller_is_answered_on_its_connection() {
    let (_server, mut app, edge) = setup(r#"<Response><Reject reason="busy"/></Response>"#).await;
    let mut stream = tokio::net::TcpStream::connect(edge).await.unwrap();
    let me = stream.local_addr().unwrap();
    let inv = invite(me, "tcp-1").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    stream.write_all(inv.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut chunk = [0u8; 4096];
    while !seen.contains("SIP/2.0 486") {
        let n = timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("the answer comes on the connection")
            .unwrap();
        assert!(n > 0, "the connection stays open: {seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(seen.starts_with("SIP/2.0 100"), "{seen}");
    assert!(seen.contains("SIP/2.0 180"), "{seen}");
    app.next().await;
}

/// `name`'s value among the webhook's parameters.
fn param<'a>(hook: &'a Hook, name: &str) -> Option<&'a str> {
    hook.params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_call_log_gets_the_record_and_the_webhooks_event_before_the_answer_is_final() {
    let log = Arc::new(MemoryLog::new(10));
    let given = log.clone();
    let (_server, mut app, edge) =
        setup_with(r#"<Response><Reject reason="busy"/></Response>"#, |c| {
            c.call_log = Some(given)
        })
        .await;
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "log-1"), edge).await;
    caller.until("SIP/2.0 486").await;
    let hook = app.next().await;
    let sid = CallSid::parse(param(&hook, "CallSid").unwrap()).unwrap();
    // Persisted before the 486 went out.
    let record = log.call(&sid).expect("the call is stored");
    assert_eq!(record.status, CallStatus::Busy);
    assert_eq!(record.sip_call_id, "log-1");
    let events = log.events(&sid);
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn an_api_command_ends_a_ringing_call_with_487() {
    let callee = Peer::on("127.0.0.3").await;
    let twiml = format!(
        "<Response><Dial><Sip>sip:bob@{}</Sip></Dial></Response>",
        callee.addr()
    );
    let (server, mut app, edge) = setup(&twiml).await;
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "cmd-1"), edge).await;
    let hook = app.next().await;
    let (child, sipmap) = callee.until("INVITE ").await;
    // Ringing: a CANCEL may follow a provisional response only (RFC 3261 §9.1).
    callee
        .send(&respond(&child, 180, "callee", "", ""), sipmap)
        .await;
    caller.until("SIP/2.0 180").await;
    let sid = CallSid::parse(param(&hook, "CallSid").unwrap()).unwrap();
    let calls = server.calls.as_ref().expect("calls run");
    let other = AccountSid::parse("AC00000000000000000000000000000002").unwrap();
    assert_eq!(
        calls.command(&other, &sid, Command::Complete).await,
        Ok(false),
        "another account's call is not found"
    );
    let account = AccountSid::parse(SID).unwrap();
    assert_eq!(
        calls.command(&account, &sid, Command::Complete).await,
        Ok(true)
    );
    let (terminated, _) = caller.until("SIP/2.0 487").await;
    assert_eq!(header(&terminated, "Call-ID"), Some("cmd-1"));
    callee.until("CANCEL ").await;
}

#[tokio::test]
async fn dial_number_byoc_calls_the_trunks_target() {
    let callee = Peer::on("127.0.0.3").await;
    let server = TestApp::spawn().await;
    let mut app = App::start("<Response/>").await;
    let (targets, _) =
        crate::routing::routed_domain(&server, &[(format!("sip:{}", callee.addr()), 10)]).await;
    assert_eq!(targets.len(), 1);
    let domains = server.get(&format!("{BASE}/SIP/Domains.json")).await.json();
    let domain = &domains["domains"][0];
    let trunk = domain["byoc_trunk_sid"].as_str().unwrap().to_owned();
    let sid = domain["sid"].as_str().unwrap().to_owned();
    let url: String =
        form_urlencoded::byte_serialize(format!("{}/voice", app.base).as_bytes()).collect();
    let r = server
        .post(
            &format!("{BASE}/SIP/Domains/{sid}.json"),
            &format!("VoiceUrl={url}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    app.answer(&format!(
        "<Response><Dial><Number byoc=\"{trunk}\">+15551230000</Number></Dial></Response>"
    ));
    let edge = server.sip_addr.expect("the SIP edge is on");
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "byoc-1"), edge).await;
    app.next().await;
    let (child, _) = callee_answers(&callee).await;
    assert!(child.starts_with("INVITE sip:+15551230000@"), "{child}");
    let (ok, _) = caller.until("SIP/2.0 200").await;
    assert_eq!(body(&ok), SDP_CALLEE);
}

#[tokio::test]
async fn the_api_lists_a_bridged_call_and_its_child_and_status_completed_hangs_both_up() {
    let callee = Peer::on("127.0.0.3").await;
    let twiml = format!(
        "<Response><Dial><Sip>sip:bob@{}</Sip></Dial></Response>",
        callee.addr()
    );
    let (server, mut app, edge) = setup(&twiml).await;
    let caller = Peer::on("127.0.0.1").await;
    caller.send(&invite(caller.addr(), "api-1"), edge).await;
    let hook = app.next().await;
    let sid = param(&hook, "CallSid").unwrap().to_owned();
    callee_answers(&callee).await;
    let (ok, _) = caller.until("SIP/2.0 200").await;
    callee.until("ACK ").await;
    caller
        .send(&in_dialog(caller.addr(), &ok, "ACK", 1), edge)
        .await;
    // The records follow the SIP answers as soon as they are stored.
    let mut listed = Vec::new();
    for _ in 0..100 {
        let calls = server.get(&format!("{BASE}/Calls.json")).await.json();
        listed = calls["calls"].as_array().expect("a list of calls").clone();
        if listed.len() == 2 && listed.iter().all(|c| c["status"] == "in-progress") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listed.len(), 2, "{listed:?}");
    let parent = listed
        .iter()
        .find(|c| c["sid"] == sid.as_str())
        .expect("the call");
    let child = listed
        .iter()
        .find(|c| c["sid"] != sid.as_str())
        .expect("its child");
    assert_eq!(parent["status"], "in-progress");
    assert_eq!(parent["direction"], "inbound");
    assert_eq!(child["parent_call_sid"], sid.as_str());
    assert_eq!(child["direction"], "outbound-dial");
    assert_eq!(child["status"], "in-progress");
    let r = server
        .post(&format!("{BASE}/Calls/{sid}.json"), "Status=completed")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The reply is the record as the update left it (stored before the answer), as Twilio's.
    assert_eq!(r.json()["status"], "completed", "{}", r.text);
    let (bye, from) = callee.until("BYE ").await;
    callee
        .send(&respond(&bye, 200, "callee", "", ""), from)
        .await;
    let (caller_bye, from) = caller.until("BYE ").await;
    assert_eq!(header(&caller_bye, "Call-ID"), Some("api-1"));
    caller
        .send(&respond(&caller_bye, 200, "x", "", ""), from)
        .await;
    let mut status = String::new();
    for _ in 0..100 {
        let call = server.get(&format!("{BASE}/Calls/{sid}.json")).await.json();
        status = call["status"].as_str().unwrap_or("").to_owned();
        if status == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "completed");
}

/// The caller's INVITE reaches `edge`, the callee rings: the call is ringing, its child too.
async fn ringing_call(
    app: &mut App,
    edge: SocketAddr,
    caller: &Peer,
    callee: &Peer,
    call_id: &str,
) -> String {
    caller.send(&invite(caller.addr(), call_id), edge).await;
    let hook = app.next().await;
    let (child, sipmap) = callee.until("INVITE ").await;
    callee
        .send(&respond(&child, 180, "callee", "", ""), sipmap)
        .await;
    caller.until("SIP/2.0 180").await;
    param(&hook, "CallSid").unwrap().to_owned()
}

/// Fetches call `sid` until `done` holds for it (5 s at most), and returns it.
async fn call_when(
    server: &TestApp,
    sid: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut call = serde_json::Value::Null;
    for _ in 0..100 {
        call = server.get(&format!("{BASE}/Calls/{sid}.json")).await.json();
        if done(&call) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    call
}

#[tokio::test]
async fn a_call_past_max_call_secs_is_ended_by_the_runtime() {
    let callee = Peer::on("127.0.0.3").await;
    let twiml = format!(
        "<Response><Dial timeout=\"60\"><Sip>sip:bob@{}</Sip></Dial></Response>",
        callee.addr()
    );
    let (server, mut app, edge) = setup_with(&twiml, |c| {
        c.call_limits.max_call = Duration::from_secs(1);
    })
    .await;
    let caller = Peer::on("127.0.0.1").await;
    let sid = ringing_call(&mut app, edge, &caller, &callee, "bound-1").await;
    // Nobody ends it: the bound does, as Status=completed would (487 to the caller, CANCEL to
    // the callee), and the record is final with an end time.
    let (terminated, _) = caller.until("SIP/2.0 487").await;
    assert_eq!(header(&terminated, "Call-ID"), Some("bound-1"));
    callee.until("CANCEL ").await;
    let call = call_when(&server, &sid, |c| c["end_time"].is_string()).await;
    assert!(call["end_time"].is_string(), "{call}");
    let calls = server.calls.as_ref().expect("calls run");
    for _ in 0..100 {
        if calls.live() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(calls.live(), 0, "the call is forgotten");
    let metrics = server.get("/metrics").await.text;
    assert!(
        metrics.contains("sipmap_calls_ended_by_runtime_total{reason=\"max_call_secs\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_restarted_single_node_ends_the_calls_it_left_live() {
    let callee = Peer::on("127.0.0.3").await;
    let twiml = format!(
        "<Response><Dial timeout=\"60\"><Sip>sip:bob@{}</Sip></Dial></Response>",
        callee.addr()
    );
    let (server, mut app, edge) = setup(&twiml).await;
    let caller = Peer::on("127.0.0.1").await;
    let sid = ringing_call(&mut app, edge, &caller, &callee, "stale-1").await;
    let path = format!("{BASE}/Calls/{sid}.json");
    assert_eq!(server.get(&path).await.json()["status"], "ringing");
    // The server stops mid-call (its call task is left behind, as a killed process leaves its
    // record) and a new one starts on the same database.
    let (db, dir) = server.stop().await;
    let again = TestApp::start(db).await;
    let call = again.get(&path).await.json();
    assert_eq!(call["status"], "failed", "{call}");
    assert!(call["end_time"].is_string(), "{call}");
    let r = again.post(&path, "Status=completed").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = again.delete(&path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    drop((again, dir));
}

/// Two nodes on one PostgreSQL database: node A's SIP edge holds a ringing call, an update
/// through node B's API ends it (B writes the command, A takes it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_update_through_another_node_reaches_the_call() {
    let Some(db) = crate::storage::TestDb::postgres().await else {
        return;
    };
    let on_db = |c: &mut sipmap::app::ServeConfig| {
        c.database_url = db.url.clone();
        c.store.key = Some(crate::storage::test_key());
    };
    let callee = Peer::on("127.0.0.3").await;
    let twiml = format!(
        "<Response><Dial timeout=\"60\"><Sip>sip:bob@{}</Sip></Dial></Response>",
        callee.addr()
    );
    let (a, mut app, edge) = setup_with(&twiml, on_db).await;
    let b = TestApp::spawn_with(on_db).await;
    let caller = Peer::on("127.0.0.1").await;
    let sid = ringing_call(&mut app, edge, &caller, &callee, "cluster-1").await;
    let path = format!("{BASE}/Calls/{sid}.json");
    let started = std::time::Instant::now();
    let r = b.post(&path, "Status=completed").await;
    let answered = started.elapsed();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["sid"], sid.as_str());
    let (terminated, _) = caller.until("SIP/2.0 487").await;
    let ended = started.elapsed();
    assert_eq!(header(&terminated, "Call-ID"), Some("cluster-1"));
    eprintln!(
        "update through node B: answered in {} ms, the caller's 487 from node A after {} ms",
        answered.as_millis(),
        ended.as_millis()
    );
    let call = call_when(&b, &sid, |c| c["status"] == "canceled").await;
    assert_eq!(call["status"], "canceled", "{call}");
    // An ended call: refused as on one node.
    let r = b.post(&path, "Status=completed").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    drop((a, b));
    db.drop_schema().await;
}

/// On PostgreSQL a node ends the live calls of a node whose heartbeat is older than
/// `call_runtime::SILENT` (here at its start; a running node at its next beat), and leaves
/// those of a node that beats.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_silent_nodes_live_calls_are_ended_by_another() {
    let Some(db) = crate::storage::TestDb::postgres().await else {
        return;
    };
    let on_db = |c: &mut sipmap::app::ServeConfig| {
        c.database_url = db.url.clone();
        c.store.key = Some(crate::storage::test_key());
    };
    let first = TestApp::spawn_with(on_db).await;
    let store = db.open().await;
    let account = AccountSid::parse(SID).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut answered = crate::calls::ringing(&account, now - 10_000, "sip:dead@example.com");
    answered
        .set_status(CallStatus::InProgress, now - 5_000)
        .unwrap();
    let alive = crate::calls::ringing(&account, now - 1_000, "sip:alive@example.com");
    store
        .save_held_call(&answered, Some("silent-node"))
        .await
        .unwrap();
    store
        .save_held_call(&alive, Some("live-node"))
        .await
        .unwrap();
    store.beat_call_node("silent-node").await.unwrap();
    store.beat_call_node("live-node").await.unwrap();
    let pg = db.pg_client().await.expect("a PostgreSQL test");
    let silent_for = sipmap::call_runtime::SILENT.as_millis() as i64 + 1_000;
    pg.execute(
        "UPDATE call_nodes SET beat_ms = beat_ms - $1 WHERE node_id = 'silent-node'",
        &[&silent_for],
    )
    .await
    .unwrap();
    let second = TestApp::spawn_with(on_db).await;
    let dead = second
        .get(&format!("{BASE}/Calls/{}.json", answered.sid))
        .await
        .json();
    assert_eq!(dead["status"], "completed", "answered: {dead}");
    assert!(dead["end_time"].is_string(), "{dead}");
    let live = second
        .get(&format!("{BASE}/Calls/{}.json", alive.sid))
        .await
        .json();
    assert_eq!(live["status"], "ringing", "{live}");
    // The holders' table keeps the live calls only.
    let held: Vec<String> = pg
        .query("SELECT node_id FROM call_holders", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(held, vec!["live-node".to_owned()]);
    drop((first, second, store));
    db.drop_schema().await;
}

/// An update of a call whose node does not take it within `call_runtime::TAKE_WITHIN` is
/// refused with 503, and its command is marked expired, so it never acts later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_an_update_the_holding_node_does_not_take_is_refused() {
    let Some(db) = crate::storage::TestDb::postgres().await else {
        return;
    };
    let node = TestApp::spawn_with(|c| {
        c.database_url = db.url.clone();
        c.store.key = Some(crate::storage::test_key());
    })
    .await;
    let store = db.open().await;
    let account = AccountSid::parse(SID).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let call = crate::calls::ringing(&account, now, "sip:mute@example.com");
    store
        .save_held_call(&call, Some("mute-node"))
        .await
        .unwrap();
    store.beat_call_node("mute-node").await.unwrap();
    let started = std::time::Instant::now();
    let r = node
        .post(
            &format!("{BASE}/Calls/{}.json", call.sid),
            "Status=completed",
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(started.elapsed() >= sipmap::call_runtime::TAKE_WITHIN);
    let pg = db.pg_client().await.expect("a PostgreSQL test");
    let rows = pg
        .query("SELECT node_id, outcome FROM call_commands", &[])
        .await
        .unwrap();
    let rows: Vec<(String, Option<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        rows,
        vec![("mute-node".to_owned(), Some("expired".to_owned()))]
    );
    drop((node, store));
    db.drop_schema().await;
}

#[tokio::test]
async fn dial_sip_over_tls_reaches_the_callee_on_a_verified_tls_connection() {
    use tokio::io::AsyncWriteExt;
    // The callee: a TLS SIP endpoint on 127.0.0.3 whose certificate (for that address) comes
    // from a CA the server trusts through --tls-ca.
    let pki = crate::sip_tls::Pki::new();
    let acceptor = crate::sip_tls::Pki::acceptor(&pki.leaf(&["127.0.0.3"]));
    let listener = TcpListener::bind("127.0.0.3:0").await.unwrap();
    let callee = listener.local_addr().unwrap();
    let (tx, mut invites) = mpsc::channel::<String>(4);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        loop {
            let msg = crate::sip_tls::read_message(&mut tls).await;
            if msg.starts_with("INVITE ") {
                let contact = format!("Contact: <sip:bob@{callee};transport=tls>\r\n");
                let ok = respond(&msg, 200, "callee", &contact, SDP_CALLEE);
                tls.write_all(ok.as_bytes()).await.unwrap();
                let _ = tx.send(msg).await;
            }
        }
    });
    let twiml =
        format!("<Response><Dial><Sip>sip:bob@{callee};transport=tls</Sip></Dial></Response>");
    let ca = pki.ca_path();
    let (_server, mut app, edge) = setup_with(&twiml, move |c| c.tls_ca = Some(ca)).await;
    let caller = Peer::on("127.0.0.1").await;
    caller
        .send(&invite(caller.addr(), "dial-tls-1"), edge)
        .await;
    app.next().await;
    let child = timeout(WAIT, invites.recv())
        .await
        .expect("the callee is called")
        .unwrap();
    assert!(
        header(&child, "Via").unwrap().starts_with("SIP/2.0/TLS "),
        "{child}"
    );
    assert!(
        header(&child, "Contact")
            .unwrap()
            .contains(";transport=tls"),
        "{child}"
    );
    let (ok, _) = caller.until("SIP/2.0 200").await;
    assert_eq!(
        body(&ok),
        SDP_CALLEE,
        "the callee's answer reaches the caller"
    );
}

/// The warnings the server logs, from any thread (the SIP readers are threads of their own):
/// one sink for the whole test binary, installed by the first test that asks for it.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logged {
    fn global() -> &'static Logged {
        static SINK: std::sync::OnceLock<Logged> = std::sync::OnceLock::new();
        SINK.get_or_init(|| {
            let logged = Logged::default();
            let sink = logged.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::WARN)
                .with_ansi(false)
                .with_writer(move || sink.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
            logged
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits (5 s at most) until a line contains `what`; the log so far.
    async fn until(&self, what: &str) -> String {
        for _ in 0..100 {
            if self.text().contains(what) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.text()
    }
}

/// Reads one HTTP request from `stream` (its head and `Content-Length` body).
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("the request arrives")
            .unwrap();
        assert!(n > 0, "the request is whole");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = header(&format!("{head}\r\n\r\n"), "Content-Length")
                .map_or(0, |v| v.parse().unwrap());
            if body.len() >= length {
                return text;
            }
        }
    }
}

/// Answers the request read from `stream` with `twiml`, and closes.
async fn answer_with(mut stream: tokio::net::TcpStream, twiml: &str) {
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{twiml}",
        twiml.len()
    );
    stream.write_all(reply.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn past_max_webhooks_a_calls_webhook_waits_for_a_slot_and_the_wait_is_logged() {
    let logged = Logged::global();
    let server = TestApp::spawn_with(|c| c.call_limits.webhooks = 1).await;
    // The application: the test accepts its connections and answers them itself.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    voice_domain(
        &server,
        &format!("http://{}/voice", listener.local_addr().unwrap()),
    )
    .await;
    let edge = server.sip_addr.expect("the SIP edge is on");
    let (first, second) = (Peer::on("127.0.0.1").await, Peer::on("127.0.0.1").await);
    first.send(&invite(first.addr(), "slots-1"), edge).await;
    let (mut held, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let request = read_request(&mut held).await;
    assert!(request.contains("slots-1"), "{request}");
    // The one slot is taken: the second call rings, its webhook waits, and the wait is logged.
    second.send(&invite(second.addr(), "slots-2"), edge).await;
    second.until("SIP/2.0 180").await;
    let log = logged.until("concurrent webhooks").await;
    assert!(
        log.contains("concurrent webhooks: 1 in flight; waiting"),
        "{log}"
    );
    // The first webhook's answer frees the slot: the second call's webhook goes, and each call
    // runs its own document.
    answer_with(held, "<Response><Reject/></Response>").await;
    first.until("SIP/2.0 404").await;
    let (mut next, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let request = read_request(&mut next).await;
    assert!(request.contains("slots-2"), "{request}");
    answer_with(next, r#"<Response><Reject reason="busy"/></Response>"#).await;
    second.until("SIP/2.0 486").await;
    let metrics = server.get("/metrics").await.text;
    let line = "sipmap_call_webhooks_total{outcome=\"ok\"} 2";
    assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
}

/// A call log whose writes wait until the test opens its gate: a call's task stays busy, and
/// its inbox fills.
#[derive(Debug)]
struct Gated {
    log: MemoryLog,
    gate: tokio::sync::Semaphore,
}

#[async_trait::async_trait]
impl sipmap::call_runtime::CallLog for Gated {
    async fn save_call(&self, call: &sipmap::domain::Call) -> anyhow::Result<()> {
        let _open = self.gate.acquire().await?;
        self.log.save_call(call).await
    }
    async fn add_event(&self, event: &sipmap::domain::CallEvent) -> anyhow::Result<()> {
        let _open = self.gate.acquire().await?;
        self.log.add_event(event).await
    }
    async fn add_notification(&self, n: &sipmap::domain::Notification) -> anyhow::Result<()> {
        let _open = self.gate.acquire().await?;
        self.log.add_notification(n).await
    }
}

#[tokio::test]
async fn a_full_call_inbox_drops_messages_counted_and_logged_and_the_call_goes_on() {
    let logged = Logged::global();
    let gated = Arc::new(Gated {
        log: MemoryLog::new(10),
        gate: tokio::sync::Semaphore::new(0),
    });
    let given = gated.clone();
    let (server, mut app, edge) =
        setup_with(r#"<Response><Reject reason="busy"/></Response>"#, |c| {
            c.call_log = Some(given)
        })
        .await;
    let caller = Peer::on("127.0.0.1").await;
    let inv = invite(caller.addr(), "inbox-1");
    caller.send(&inv, edge).await;
    // The call's task waits for its first record to be stored (before its 180): what arrives
    // meanwhile queues in its inbox, 64 at most, and the rest is dropped.
    caller.until("SIP/2.0 100").await;
    let sent = sipmap::call_runtime::INBOX + 16;
    for _ in 0..sent {
        caller.send(&inv, edge).await;
    }
    let dropped = "sipmap_call_messages_dropped_total 16";
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = server.get("/metrics").await.text;
        if metrics.lines().any(|l| l == dropped) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        metrics.lines().any(|l| l == dropped),
        "{dropped} in\n{metrics}"
    );
    let log = logged.until("call inbox").await;
    assert!(
        log.contains("call inbox: 64 events waiting; a SIP message dropped"),
        "{log}"
    );
    // Once the writes go through, the call goes on: one webhook, the caller's 486.
    gated.gate.add_permits(1_000);
    caller.until("SIP/2.0 486").await;
    let hook = app.next().await;
    let sid = CallSid::parse(param(&hook, "CallSid").unwrap()).unwrap();
    assert_eq!(
        gated.log.call(&sid).map(|c| c.status),
        Some(CallStatus::Busy)
    );
    let metrics = server.get("/metrics").await.text;
    let line = "sipmap_call_webhooks_total{outcome=\"ok\"} 1";
    assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
}
