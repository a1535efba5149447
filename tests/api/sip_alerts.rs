//! The SIP edge's refusals as Monitor Alerts, at the real edge: a source outside a domain's
//! access control list sends 1,000 requests, each refused (403), and the account gets one
//! alert (32201) naming the count, the source and the domain, never one per datagram; a request
//! for which nothing was recognised makes none; another account sees none. Wrong digest answers
//! are one 32202 alert. The minute is the
//! store's clock's (fixed), so the count cannot straddle two minutes; the test waits for the
//! count to be written (every second) without asserting any time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use sipmap::clock::FixedClock;
use tokio::net::UdpSocket;
use tokio::time::{Instant, sleep, timeout};

use crate::helpers::{SID, TestApp};
use crate::sip_auth_throttle::{PASSWORD, Phone, domain_with_alice};

const DOMAIN: &str = "acme.sip.twilio.com";
const WAIT: Duration = Duration::from_secs(5);

async fn created(app: &TestApp, path: &str, body: &str) -> String {
    let path = format!("/2010-04-01/Accounts/{SID}/{path}");
    let r = app.post(&path, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text);
    r.field("sid")
}

/// `acme.sip.twilio.com`, letting calls in from 10.0.0.1 only (an IP access control list mapped
/// for calls): a request from loopback is refused (32201). Gives its SID.
pub async fn office_domain(app: &TestApp) -> String {
    let domain = app.domain(DOMAIN).await;
    let acl = created(app, "SIP/IpAccessControlLists.json", "FriendlyName=office").await;
    created(
        app,
        &format!("SIP/IpAccessControlLists/{acl}/IpAddresses.json"),
        "FriendlyName=office&IpAddress=10.0.0.1",
    )
    .await;
    created(
        app,
        &format!("SIP/Domains/{domain}/Auth/Calls/IpAccessControlListMappings.json"),
        &format!("IpAccessControlListSid={acl}"),
    )
    .await;
    domain
}

/// Sends `OPTIONS` to `host` from `socket` `n` times, one at a time; gives the answers' codes.
pub async fn options(socket: &UdpSocket, edge: SocketAddr, host: &str, n: u32) -> Vec<u16> {
    let me = socket.local_addr().unwrap();
    let uri = format!("sip:alice@{host}");
    let mut codes = Vec::new();
    let mut buf = vec![0u8; 65536];
    for i in 0..n {
        let request = format!(
            "OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{i};rport\r\n\
             From: <{uri}>;tag={i}\r\nTo: <{uri}>\r\nCall-ID: {i}@{me}\r\nCSeq: 1 OPTIONS\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        socket.send_to(request.as_bytes(), edge).await.unwrap();
        let (len, _) = timeout(WAIT, socket.recv_from(&mut buf))
            .await
            .expect("every request is answered")
            .unwrap();
        codes.push(
            String::from_utf8_lossy(&buf[8..11.min(len)])
                .parse()
                .unwrap(),
        );
    }
    codes
}

/// The account's alerts once one says `until`, or what there is after a generous wait.
async fn alerts_once(app: &TestApp, until: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let listed = app.get("/v1/Alerts").await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
        let alerts = listed.json()["alerts"].as_array().unwrap().clone();
        let done = alerts
            .iter()
            .any(|a| a["alert_text"].as_str().is_some_and(|t| t.contains(until)));
        if done || Instant::now() > deadline {
            return alerts;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_flood_of_refused_requests_is_one_alert_with_its_count() {
    let clock = Arc::new(FixedClock::at_millis(1_765_000_000_000));
    let app = TestApp::spawn_with(|c| c.store.clock = clock.clone()).await;
    let domain = office_domain(&app).await;
    let edge = app.sip_addr.expect("the SIP edge is on");
    let stranger = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let unknown = options(&stranger, edge, "nobody.example.com", 5).await;
    assert_eq!(unknown, [404; 5], "nothing recognised: 404");
    let flooder = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let codes = options(&flooder, edge, DOMAIN, 1000).await;
    assert!(codes.iter().all(|c| *c == 403), "every request refused");

    let alerts = alerts_once(&app, "1000 requests").await;
    assert_eq!(
        alerts.len(),
        1,
        "one alert for the source and reason: {alerts:?}"
    );
    let a = &alerts[0];
    assert_eq!(a["error_code"], "32201");
    assert_eq!(a["log_level"], "error");
    assert_eq!(a["resource_sid"], domain.as_str());
    assert_eq!(a["account_sid"], SID);
    let text = a["alert_text"].as_str().unwrap();
    assert!(text.contains("1000 requests from 127.0.0.2"), "{text}");
    assert!(
        text.contains(DOMAIN) && !text.contains("127.0.0.3"),
        "{text}"
    );
    let sid = a["sid"].as_str().unwrap();
    let fetched = app.get(&format!("/v1/Alerts/{sid}")).await.json();
    let variables = fetched["request_variables"].as_str().unwrap();
    assert!(variables.contains("Count=1000"), "{variables}");
    assert!(variables.contains("SourceIp=127.0.0.2"), "{variables}");

    // Another account sees none of it.
    let (sub, token) = app.subaccount("tenant").await;
    let theirs = app
        .call_as(&sub, &token, reqwest::Method::GET, "/v1/Alerts", None)
        .await;
    assert_eq!(theirs.json()["alerts"], serde_json::json!([]));
}

#[tokio::test]
async fn refused_credentials_are_one_alert_and_hold_no_secret() {
    let clock = Arc::new(FixedClock::at_millis(1_765_000_000_000));
    let app = TestApp::spawn_with(|c| c.store.clock = clock.clone()).await;
    domain_with_alice(&app).await;
    let mut guesser = Phone::on("127.0.0.2", &app).await;
    for i in 0..5 {
        let (code, text) = guesser.login(&format!("Guess{i}Password")).await;
        assert_eq!(code, 403, "wrong answer {i}: {text}");
    }
    let (code, _) = guesser.login(PASSWORD).await;
    assert_eq!(code, 200, "the right answer is no refusal");
    let alerts = alerts_once(&app, "5 requests").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a["error_code"], "32202");
    let text = a["alert_text"].as_str().unwrap();
    assert!(
        text.contains("5 requests from 127.0.0.2 to acme.sip.twilio.com"),
        "{text}"
    );
    let fetched = app
        .get(&format!("/v1/Alerts/{}", a["sid"].as_str().unwrap()))
        .await;
    for secret in [PASSWORD, "Guess", "Digest", "nonce=", "alice"] {
        assert!(!fetched.text.contains(secret), "{secret}: {}", fetched.text);
    }
}

#[tokio::test]
async fn a_refused_register_and_a_throttled_source_are_alerts_too() {
    let clock = Arc::new(FixedClock::at_millis(1_765_000_000_000));
    let app = TestApp::spawn_with(|c| c.store.clock = clock.clone()).await;
    domain_with_alice(&app).await;
    let edge = app.sip_addr.expect("the SIP edge is on");
    let phone = UdpSocket::bind("127.0.0.4:0").await.unwrap();
    let me = phone.local_addr().unwrap();
    let uri = format!("sip:{DOMAIN}");
    let register = format!(
        "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-r1;rport\r\n\
         From: <sip:alice@{DOMAIN}>;tag=1\r\nTo: <sip:alice@{DOMAIN}>\r\nCall-ID: r1@{me}\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:alice@{me}>\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    phone.send_to(register.as_bytes(), edge).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (len, _) = timeout(WAIT, phone.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[8..11.min(len)], b"403", "registrations are off");

    let mut guesser = Phone::on("127.0.0.2", &app).await;
    for i in 0..10 {
        let (code, _) = guesser.login(&format!("Guess{i}Password")).await;
        assert_eq!(code, 403);
    }
    let (code, _) = guesser.login(PASSWORD).await;
    assert_eq!(code, 503, "throttled");

    let alerts = alerts_once(&app, "credentials not checked").await;
    let register = alerts
        .iter()
        .find(|a| a["error_code"] == "32210")
        .unwrap_or_else(|| panic!("a 32210 alert: {alerts:?}"));
    let text = register["alert_text"].as_str().unwrap();
    assert!(
        text.contains("Registration not enabled: 1 request from 127.0.0.4"),
        "{text}"
    );
    let throttled = alerts
        .iter()
        .find(|a| {
            a["alert_text"]
                .as_str()
                .unwrap()
                .contains("credentials not checked")
        })
        .unwrap_or_else(|| panic!("a throttled alert: {alerts:?}"));
    assert_eq!(throttled["error_code"], "32202");
    let text = throttled["alert_text"].as_str().unwrap();
    assert!(
        text.contains("from 127.0.0.2") && text.contains("(503)"),
        "{text}"
    );
}
