//! Online password guessing at the real SIP edge: a domain whose calls need alice's password,
//! set up through the API; a client on 127.0.0.2 sends ten wrong digest answers for alice (the
//! default limit per source and username), then the right one, which is refused too (503 with
//! `Retry-After`, its credentials unread); the right one from 127.0.0.3 gets in. Every request
//! gets exactly one answer, and the answers are counted by status: no timing is asserted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::helpers::{SID, TestApp};

pub(crate) const PASSWORD: &str = "IWasAtSignal2018";
const REALM: &str = "acme.sip.twilio.com";
const URI: &str = "sip:alice@acme.sip.twilio.com";
const WAIT: Duration = Duration::from_secs(5);

async fn created(app: &TestApp, path: &str, body: &str) -> String {
    let path = format!("/2010-04-01/Accounts/{SID}/{path}");
    let r = app.post(&path, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text);
    r.field("sid")
}

/// `acme.sip.twilio.com`, whose calls need the password of alice (a credential list mapped for
/// calls, and nothing else).
pub(crate) async fn domain_with_alice(app: &TestApp) {
    let domain = app.domain(REALM).await;
    let list = created(app, "SIP/CredentialLists.json", "FriendlyName=phones").await;
    created(
        app,
        &format!("SIP/CredentialLists/{list}/Credentials.json"),
        &format!("Username=alice&Password={PASSWORD}"),
    )
    .await;
    created(
        app,
        &format!("SIP/Domains/{domain}/Auth/Calls/CredentialListMappings.json"),
        &format!("CredentialListSid={list}"),
    )
    .await;
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A SIP client on one loopback address, counting the answers it gets by status.
pub(crate) struct Phone {
    socket: UdpSocket,
    edge: SocketAddr,
    sent: u32,
    answers: BTreeMap<u16, u32>,
}

impl Phone {
    pub(crate) async fn on(ip: &str, app: &TestApp) -> Self {
        Self {
            socket: UdpSocket::bind(format!("{ip}:0")).await.unwrap(),
            edge: app.sip_addr.expect("the SIP edge is on"),
            sent: 0,
            answers: BTreeMap::new(),
        }
    }

    /// Sends an `OPTIONS` with `extra` header lines; gives its answer's status and text.
    async fn options(&mut self, extra: &str) -> (u16, String) {
        self.sent += 1;
        let (me, n) = (self.socket.local_addr().unwrap(), self.sent);
        let request = format!(
            "OPTIONS {URI} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{n};rport\r\n\
             From: <{URI}>;tag={n}\r\nTo: <{URI}>\r\nCall-ID: {n}@{me}\r\nCSeq: {n} OPTIONS\r\n\
             Max-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        self.socket
            .send_to(request.as_bytes(), self.edge)
            .await
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let (len, _) = timeout(WAIT, self.socket.recv_from(&mut buf))
            .await
            .expect("every request is answered")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..len]).into_owned();
        let code: u16 = text[8..11].parse().unwrap();
        *self.answers.entry(code).or_default() += 1;
        (code, text)
    }

    /// Gets a challenge, then answers it as alice with `password`: the answer's status and
    /// text.
    pub(crate) async fn login(&mut self, password: &str) -> (u16, String) {
        let (code, challenge) = self.options("").await;
        assert_eq!(code, 407, "{challenge}");
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a nonce")
            .to_owned();
        let ha1 = sha256_hex(&format!("alice:{REALM}:{password}"));
        let ha2 = sha256_hex(&format!("OPTIONS:{URI}"));
        let response = sha256_hex(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        let credentials = format!(
            "Proxy-Authorization: Digest username=\"alice\", realm=\"{REALM}\", \
             nonce=\"{nonce}\", uri=\"{URI}\", response=\"{response}\", algorithm=SHA-256, \
             qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n"
        );
        self.options(&credentials).await
    }
}

#[tokio::test]
async fn wrong_answers_block_one_source_and_not_the_others() {
    let app = TestApp::spawn().await;
    domain_with_alice(&app).await;
    let mut guesser = Phone::on("127.0.0.2", &app).await;
    let (code, text) = guesser.login(PASSWORD).await;
    assert_eq!(code, 200, "the right password gets in at first: {text}");
    for i in 0..10 {
        let (code, text) = guesser.login(&format!("Guess{i}Password")).await;
        assert_eq!(code, 403, "wrong answer {i}: {text}");
    }
    let (code, text) = guesser.login(PASSWORD).await;
    assert_eq!(
        code, 503,
        "the right password is refused during the block: {text}"
    );
    assert!(text.contains("\r\nRetry-After: 60\r\n"), "{text}");
    assert!(!text.contains("X-Sipmap"), "{text}");
    // 12 challenges, one 200, ten 403s, one 503: one answer per request.
    assert_eq!(
        guesser.answers,
        BTreeMap::from([(200, 1), (403, 10), (407, 12), (503, 1)])
    );
    assert_eq!(guesser.sent, 24);

    let mut phone = Phone::on("127.0.0.3", &app).await;
    let (code, text) = phone.login(PASSWORD).await;
    assert_eq!(code, 200, "another source gets in: {text}");
    assert!(text.contains("X-Sipmap-Account-Sid: "), "{text}");

    let metrics = app.raw(reqwest::Method::GET, "/metrics").send().await;
    let metrics = metrics.unwrap().text().await.unwrap();
    for line in [
        "sipmap_sip_auth_decisions_total{decision=\"throttled\"} 1\n",
        "sipmap_sip_auth_decisions_total{decision=\"refused\"} 10\n",
        "sipmap_sip_auth_blocks_total{by=\"source_username\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}
