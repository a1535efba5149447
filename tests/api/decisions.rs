//! The decisions record and the traffic series at the real edge: a request refused from
//! 127.0.0.2 is found through `/sipmap/v1/Decisions` (by source, Call-ID, domain and outcome,
//! with its steps) and through the `sipmap trace` binary; a request nothing recognised is
//! nobody's; another account sees nothing; a source recognised by network names its mapping
//! and IP record; a refused digest leaves no secret in the record; `/sipmap/v1/Traffic` counts
//! the minute's requests and refusals.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::helpers::{SID, TOKEN, TestApp};
use crate::sip_alerts::office_domain;
use crate::sip_auth_throttle::{PASSWORD, Phone, domain_with_alice};

const DOMAIN: &str = "acme.sip.twilio.com";

/// Sends one `INVITE` to `host` with Call-ID `call_id` from `socket`; gives the answer's code.
async fn invite(socket: &UdpSocket, edge: SocketAddr, host: &str, call_id: &str) -> u16 {
    let me = socket.local_addr().unwrap();
    let uri = format!("sip:bob@{host}");
    let branch: String = call_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let request = format!(
        "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{branch};rport\r\n\
         From: \"Alice\" <sip:alice@example.com>;tag=1\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(request.as_bytes(), edge).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (len, _) = timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("{call_id} is answered"))
        .unwrap();
    String::from_utf8_lossy(&buf[8..11.min(len)])
        .parse()
        .unwrap()
}

async fn decisions(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/sipmap/v1/Decisions?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["decisions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_refused_request_is_found_by_the_api_and_by_sipmap_trace() {
    let app = TestApp::spawn().await;
    let domain = office_domain(&app).await;
    let edge = app.sip_addr.expect("the SIP edge is on");
    let stranger = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    assert_eq!(
        invite(&stranger, edge, "nobody.example.com", "lost-1").await,
        404
    );
    let caller = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    assert_eq!(invite(&caller, edge, DOMAIN, "refused-1@x").await, 403);
    let source = caller.local_addr().unwrap().to_string();

    let all = decisions(&app, "").await;
    assert_eq!(all.len(), 1, "the unknown source is nobody's: {all:?}");
    let d = &all[0];
    for (field, want) in [
        ("account_sid", SID),
        ("call_id", "refused-1@x"),
        ("method", "INVITE"),
        ("transport", "udp"),
        ("source", source.as_str()),
        ("request_uri", "sip:bob@acme.sip.twilio.com"),
        ("from", "alice@example.com"),
        ("to", "bob@acme.sip.twilio.com"),
        ("domain_sid", domain.as_str()),
        ("domain_name", DOMAIN),
        ("recognised_by", "request_uri"),
        ("outcome", "refused"),
    ] {
        assert_eq!(d[field], field_value(want), "{field}: {d}");
    }
    assert_eq!(
        (d["response_code"].as_u64(), d["error_code"].as_u64()),
        (Some(403), Some(32201))
    );
    assert_eq!(d["mapping_sid"], Value::Null);
    let stages: Vec<&str> = d["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["recognise", "gate", "outcome"], "{d}");
    assert_eq!(d["steps"][1]["result"], "refused");

    for (query, found) in [
        (format!("Source={source}"), 1),
        ("Source=127.0.0.2".to_owned(), 1),
        ("Source=127.0.0.9".to_owned(), 0),
        ("CallId=refused-1%40x".to_owned(), 1),
        ("CallId=other".to_owned(), 0),
        (format!("Domain={domain}"), 1),
        ("Domain=ACME.sip.twilio.com".to_owned(), 1),
        ("Outcome=refused".to_owned(), 1),
        ("Outcome=forwarded".to_owned(), 0),
        ("StartTime%3E=2000-01-01".to_owned(), 1),
        ("StartTime%3C=2000-01-01".to_owned(), 0),
    ] {
        assert_eq!(decisions(&app, &query).await.len(), found, "{query}");
    }
    let bad = app.get("/sipmap/v1/Decisions?Outcome=maybe").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let bad = app.get("/sipmap/v1/Decisions?Source=here").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);

    let (sub, token) = app.subaccount("tenant").await;
    let theirs = app
        .call_as(
            &sub,
            &token,
            reqwest::Method::GET,
            "/sipmap/v1/Decisions",
            None,
        )
        .await;
    assert_eq!(theirs.json()["decisions"], serde_json::json!([]));

    let traffic = app
        .get(&format!("/sipmap/v1/Traffic?Domain={DOMAIN}"))
        .await
        .json();
    let minutes = traffic["domains"][0]["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let counted: (u64, u64) = minutes.iter().fold((0, 0), |(r, f), m| {
        (
            r + m["requests"].as_u64().unwrap(),
            f + m["refused"].as_u64().unwrap(),
        )
    });
    assert_eq!(counted, (1, 1));
    assert_eq!(traffic["domains"][0]["domain_sid"], domain.as_str());

    // On a thread of its own: the server answers on this test's runtime meanwhile.
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sipmap"))
            .args(["trace", "--source", "127.0.0.2", "--url", &base])
            .env_clear()
            .env("TWILIO_ACCOUNT_SID", SID)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "INVITE from {source} over udp: refused 403 (error 32201)"
        )),
        "{text}"
    );
    assert!(
        text.contains("refused-1@x") && text.contains("2. gate"),
        "{text}"
    );
    assert!(!text.contains("lost-1"), "{text}");
}

fn field_value(s: &str) -> Value {
    Value::String(s.to_owned())
}

#[tokio::test]
async fn a_source_recognised_by_network_names_its_mapping_and_ip_record() {
    let app = TestApp::spawn().await;
    let domain = office_domain(&app).await;
    let record = app
        .ip_record("FriendlyName=lab&IpAddress=127.0.0.0&CidrPrefixLength=24")
        .await;
    let r = app
        .post(
            "/v1/SourceIpMappings",
            &format!("IpRecordSid={record}&SipDomainSid={domain}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mapping = r.field("sid");
    let caller = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let edge = app.sip_addr.unwrap();
    assert_eq!(invite(&caller, edge, "127.0.0.1", "by-net").await, 403);
    let d = &decisions(&app, "CallId=by-net").await[0];
    assert_eq!(d["recognised_by"], "source_ip");
    assert_eq!(d["mapping_sid"], mapping.as_str());
    assert_eq!(d["ip_record_sid"], record.as_str());
    let detail = d["steps"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&record) && detail.contains(&mapping),
        "{detail}"
    );
}

#[tokio::test]
async fn a_refused_digest_leaves_no_secret_in_the_record() {
    let app = TestApp::spawn().await;
    domain_with_alice(&app).await;
    let mut phone = Phone::on("127.0.0.2", &app).await;
    let (code, _) = phone.login("WrongPassword1").await;
    assert_eq!(code, 403);
    let (code, _) = phone.login(PASSWORD).await;
    assert_eq!(code, 200);
    let r = app.get("/sipmap/v1/Decisions").await;
    assert_eq!(r.status, StatusCode::OK);
    for secret in [PASSWORD, "WrongPassword1", "Digest", "nonce", "response="] {
        assert!(!r.text.contains(secret), "{secret}: {}", r.text);
    }
    let all = r.json()["decisions"].as_array().unwrap().clone();
    let outcomes: Vec<&str> = all.iter().map(|d| d["outcome"].as_str().unwrap()).collect();
    assert!(
        outcomes.contains(&"refused") && outcomes.contains(&"admitted"),
        "{outcomes:?}"
    );
    let admitted = all.iter().find(|d| d["outcome"] == "admitted").unwrap();
    let credentials = &admitted["steps"][2];
    assert_eq!(credentials["stage"], "credentials");
    assert_eq!(credentials["result"], "authenticated");
    assert!(
        credentials["detail"]
            .as_str()
            .unwrap()
            .contains("username alice in credential list CL")
    );
}
