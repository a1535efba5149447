//! The SIP edge routes a domain's requests by its trunk's connection policy, over real sockets:
//! the best target gets the request and its response comes back to the client; an API change
//! routes the next request; a target that stops answering probes is taken out and comes back
//! when it answers; a `transport=tcp` target is reached over a connection the edge opens;
//! `/sipmap/v1/Resolve` names the target.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use sipmap::sip::ProbeSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::helpers::TestApp;

pub const BASE: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001";
pub const WAIT: Duration = Duration::from_secs(10);

/// A SIP target on loopback: answers every request 200 (probes only while `answering`), and
/// hands each request other than a probe to the test.
pub struct SipTarget {
    pub addr: SocketAddr,
    pub answering: Arc<AtomicBool>,
    requests: mpsc::Receiver<String>,
}

/// The response `code` to `request`: its Vias, From, To (with a tag), Call-ID and CSeq.
pub fn answer(request: &str, code: u16) -> String {
    let mut out = format!("SIP/2.0 {code} OK\r\n");
    for line in request.split("\r\n").take_while(|l| !l.is_empty()).skip(1) {
        let name = line.split(':').next().unwrap_or("").trim();
        match name.to_ascii_lowercase().as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag=target\r\n")),
            _ => {}
        }
    }
    out + "Content-Length: 0\r\n\r\n"
}

/// Whether `request` is to be answered, and whether the test wants to see it.
fn triage(request: &str, answering: &AtomicBool) -> (bool, bool) {
    let probe = request.starts_with("OPTIONS ") && request.contains("User-Agent: sipmap");
    if probe {
        (answering.load(Ordering::SeqCst), false)
    } else {
        (!request.starts_with("ACK "), true)
    }
}

impl SipTarget {
    /// A UDP target on 127.0.0.1.
    pub async fn udp() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let answering = Arc::new(AtomicBool::new(true));
        let (tx, requests) = mpsc::channel(64);
        let flag = answering.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let (reply, show) = triage(&text, &flag);
                if reply {
                    let _ = socket.send_to(answer(&text, 200).as_bytes(), from).await;
                }
                if show {
                    let _ = tx.send(text).await;
                }
            }
        });
        Self {
            addr,
            answering,
            requests,
        }
    }

    /// A TCP target on 127.0.0.1 that answers on the connection a request came on.
    pub async fn tcp() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answering = Arc::new(AtomicBool::new(true));
        let (tx, requests) = mpsc::channel(64);
        let flag = answering.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (tx, flag) = (tx.clone(), flag.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(text) = take_message(&mut buf) {
                            let (reply, show) = triage(&text, &flag);
                            if reply {
                                let _ = stream.write_all(answer(&text, 200).as_bytes()).await;
                            }
                            if show {
                                let _ = tx.send(text).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            addr,
            answering,
            requests,
        }
    }

    /// The next request that is not a probe.
    pub async fn next(&mut self) -> String {
        timeout(WAIT, self.requests.recv())
            .await
            .expect("a request reaches the target")
            .unwrap()
    }
}

/// The first whole message in `buf` (by `Content-Length`), taken out of it.
fn take_message(buf: &mut Vec<u8>) -> Option<String> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length:"))
        .map_or(0, |v| v.trim().parse().unwrap_or(0));
    if buf.len() < end + length {
        return None;
    }
    let whole: Vec<u8> = buf.drain(..end + length).collect();
    Some(String::from_utf8_lossy(&whole).into_owned())
}

/// A client of the edge on 127.0.0.1.
pub struct Client {
    socket: UdpSocket,
    edge: SocketAddr,
}

impl Client {
    pub async fn new(app: &TestApp) -> Self {
        Self::to(app.sip_addr.expect("the SIP edge is on")).await
    }

    /// A client of the edge at `edge`.
    pub async fn to(edge: SocketAddr) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            edge,
        }
    }

    /// Sends an INVITE to `acme.sip.twilio.com` with `call_id`; gives the response.
    pub async fn invite(&self, call_id: &str) -> String {
        let me = self.socket.local_addr().unwrap();
        let invite = format!(
            "INVITE sip:bob@acme.sip.twilio.com SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id};rport\r\n\
             From: <sip:alice@{me}>;tag=1\r\nTo: <sip:bob@acme.sip.twilio.com>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        );
        self.socket
            .send_to(invite.as_bytes(), self.edge)
            .await
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let (n, _) = timeout(WAIT, self.socket.recv_from(&mut buf))
            .await
            .expect("a response reaches the client")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

pub async fn created(app: &TestApp, path: &str, body: &str) -> String {
    let r = app.post(path, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text);
    r.field("sid")
}

/// `acme.sip.twilio.com`, letting calls in from 127.0.0.0/8 (an IP access control list of
/// 127.0.0.0/8 mapped for calls); gives its SID.
pub async fn loopback_domain(app: &TestApp) -> String {
    let domain = app.domain("acme.sip.twilio.com").await;
    let acl = created(
        app,
        &format!("{BASE}/SIP/IpAccessControlLists.json"),
        "FriendlyName=lo",
    )
    .await;
    created(
        app,
        &format!("{BASE}/SIP/IpAccessControlLists/{acl}/IpAddresses.json"),
        "FriendlyName=lo&IpAddress=127.0.0.0&CidrPrefixLength=8",
    )
    .await;
    created(
        app,
        &format!("{BASE}/SIP/Domains/{domain}/Auth/Calls/IpAccessControlListMappings.json"),
        &format!("IpAccessControlListSid={acl}"),
    )
    .await;
    domain
}

/// `acme.sip.twilio.com`, letting calls in from 127.0.0.0/8, on a trunk whose policy lists
/// `targets` (URI, priority); gives the target SIDs and the policy's.
pub async fn routed_domain(app: &TestApp, targets: &[(String, u16)]) -> (Vec<String>, String) {
    let domain = loopback_domain(app).await;
    let policy = created(app, "/v1/ConnectionPolicies", "FriendlyName=carriers").await;
    let mut sids = Vec::new();
    for (uri, priority) in targets {
        let body = format!(
            "Target={}&Priority={priority}",
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        );
        sids.push(
            created(
                app,
                &format!("/v1/ConnectionPolicies/{policy}/Targets"),
                &body,
            )
            .await,
        );
    }
    let trunk = created(
        app,
        "/v1/ByocTrunks",
        &format!("ConnectionPolicySid={policy}"),
    )
    .await;
    let r = app
        .post(
            &format!("{BASE}/SIP/Domains/{domain}.json"),
            &format!("ByocTrunkSid={trunk}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (sids, policy)
}

/// Waits (boundedly) until `/metrics` says target `sid` is `up`.
pub async fn wait_for_health(app: &TestApp, sid: &str, up: bool) {
    let line = format!("sipmap_sip_target_up{{target=\"{sid}\",");
    for _ in 0..200 {
        let metrics = app.get("/metrics").await.text;
        let state = metrics
            .lines()
            .find(|l| l.starts_with(&line))
            .and_then(|l| l.rsplit(' ').next());
        if state == Some(if up { "1" } else { "0" }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sid} never became {}", if up { "up" } else { "down" });
}

pub fn fast_probes(c: &mut sipmap::app::ServeConfig) {
    c.sip_probes = ProbeSettings {
        interval: Duration::from_millis(100),
        failures: 2,
        max_destinations: 16,
        ..ProbeSettings::default()
    };
}

#[tokio::test]
async fn requests_follow_priority_api_changes_and_probe_health() {
    let app = TestApp::spawn_with(fast_probes).await;
    let mut first = SipTarget::udp().await;
    let mut second = SipTarget::udp().await;
    let (sids, policy) = routed_domain(
        &app,
        &[
            (format!("sip:{}", first.addr), 10),
            (format!("sip:{}", second.addr), 20),
        ],
    )
    .await;
    let client = Client::new(&app).await;
    let response = client.invite("call-1").await;
    assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
    let got = first.next().await;
    assert!(
        got.starts_with("INVITE sip:bob@acme.sip.twilio.com"),
        "{got}"
    );
    assert!(got.contains("X-Sipmap-Auth: ip-acl\r\n"), "{got}");

    let r = app
        .get("/sipmap/v1/Resolve?IpAddress=127.0.0.1&RequestUri=sip%3Abob%40acme.sip.twilio.com")
        .await
        .json();
    assert_eq!(r["route"], "target");
    assert_eq!(r["target_sid"], sids[0].as_str());
    assert_eq!(r["connection_policy_sid"], policy.as_str());
    assert_eq!(r["destination"], first.addr.to_string());
    assert_eq!(r["transport"], "udp");

    // Disabled through the API: the next request goes to the second.
    let target_path = |sid: &str| format!("/v1/ConnectionPolicies/{policy}/Targets/{sid}");
    let r = app.post(&target_path(&sids[0]), "Enabled=false").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    client.invite("call-2").await;
    assert!(second.next().await.contains("Call-ID: call-2\r\n"));
    let r = app.post(&target_path(&sids[0]), "Enabled=true").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    client.invite("call-3").await;
    assert!(first.next().await.contains("Call-ID: call-3\r\n"));

    // The first stops answering probes: taken out, then back when it answers again.
    wait_for_health(&app, &sids[0], true).await;
    first.answering.store(false, Ordering::SeqCst);
    wait_for_health(&app, &sids[0], false).await;
    client.invite("call-4").await;
    assert!(second.next().await.contains("Call-ID: call-4\r\n"));
    first.answering.store(true, Ordering::SeqCst);
    wait_for_health(&app, &sids[0], true).await;
    client.invite("call-5").await;
    assert!(first.next().await.contains("Call-ID: call-5\r\n"));
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains("sipmap_sip_requests_forwarded_to_target_total 5\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_tcp_target_is_reached_over_a_connection_the_edge_opens() {
    let app = TestApp::spawn_with(fast_probes).await;
    let mut target = SipTarget::tcp().await;
    let (sids, _) =
        routed_domain(&app, &[(format!("sip:{};transport=tcp", target.addr), 10)]).await;
    let client = Client::new(&app).await;
    for call in ["tcp-1", "tcp-2"] {
        let response = client.invite(call).await;
        assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
        assert!(
            response.contains(&format!("Call-ID: {call}\r\n")),
            "{response}"
        );
        let got = target.next().await;
        assert!(got.contains("Via: SIP/2.0/TCP "), "{got}");
    }
    // Probes go over TCP too, and their answers keep the target up.
    wait_for_health(&app, &sids[0], true).await;
    let metrics = app.get("/metrics").await.text;
    let answered = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sipmap_sip_probes_answered_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(answered.is_some_and(|n| n > 0), "{metrics}");
}
