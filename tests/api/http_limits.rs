//! The HTTP listener's limits, tried with raw sockets the way a slow, idle, greedy or careless
//! client would: header, body and idle timeouts, connection caps in total and per client,
//! keep-alive after an early refusal, failed-authentication throttling, and Twilio bodies for the
//! errors the HTTP library would otherwise answer bare.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::{Method, StatusCode};
use sipmap::http::server::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{SID, TOKEN, TestApp};

fn short_limits() -> HttpLimits {
    HttpLimits {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(400),
        max_connections: 16,
        max_connections_per_client: 3,
        ..HttpLimits::default()
    }
}

fn addr(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection to the app from the loopback address `from`.
async fn connect_from(app: &TestApp, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from.parse().unwrap(), 0))
        .unwrap();
    socket.connect(addr(app)).await.unwrap()
}

/// Reads until the peer closes (or `limit` passes); returns what arrived and whether it closed.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + limit;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into(), false),
        }
    }
}

fn basic(sid: &str, token: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"))
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed() {
    let app = TestApp::spawn_with(|c| c.http_limits = short_limits()).await;
    // One header byte every 100 ms never completes the head within 500 ms.
    let mut slow = connect_from(&app, "127.0.0.1").await;
    let started = Instant::now();
    let mut closed = false;
    for b in
        b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    {
        if slow.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    if !closed {
        closed = read_until_closed(&mut slow, Duration::from_secs(2)).await.1;
    }
    assert!(closed, "a trickled head kept its connection");
    assert!(started.elapsed() < Duration::from_secs(4));

    // An idle keep-alive connection is closed after the same time.
    let mut idle = connect_from(&app, "127.0.0.1").await;
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle connection stayed open");
}

#[tokio::test]
async fn a_slow_body_gets_408_with_a_twilio_body_and_the_connection_closes() {
    let app = TestApp::spawn_with(|c| c.http_limits = short_limits()).await;
    let mut s = connect_from(&app, "127.0.0.1").await;
    let head = format!(
        "POST /v1/IpRecords HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nIpAdd",
        basic(SID, TOKEN)
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":20408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(closed);
}

#[tokio::test]
async fn one_client_cannot_take_every_connection() {
    let app = TestApp::spawn_with(|c| c.http_limits = short_limits()).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(&app, "127.0.0.1").await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fourth = connect_from(&app, "127.0.0.1").await;
    let (answer, closed) = read_until_closed(&mut fourth, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("\"code\":20429"), "{answer}");
    assert!(closed);
    // Another client is still served.
    let mut other = connect_from(&app, "127.0.0.2").await;
    other
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut other, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Freed places are reused.
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = connect_from(&app, "127.0.0.1").await;
    again
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut again, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn the_total_cap_answers_503() {
    let limits = HttpLimits {
        max_connections: 4,
        max_connections_per_client: 1,
        ..short_limits()
    };
    let app = TestApp::spawn_with(|c| c.http_limits = limits).await;
    let mut held = Vec::new();
    for n in 1..=4 {
        held.push(connect_from(&app, &format!("127.0.0.{n}")).await);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut fifth = connect_from(&app, "127.0.0.5").await;
    let (answer, _) = read_until_closed(&mut fifth, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":20503"), "{answer}");
}

/// Pipelined requests behind an early 401 or 404 (whose bodies the handler never reads) are
/// all answered on the same connection.
#[tokio::test]
async fn an_early_refusal_keeps_the_connection_usable() {
    let app = TestApp::spawn().await;
    let mut s = connect_from(&app, "127.0.0.1").await;
    let body = format!("IpAddress=10.0.0.1&Padding={}", "x".repeat(3000));
    let mut batch = String::new();
    for auth in [basic(SID, "wrong"), basic(SID, TOKEN)] {
        for path in ["/v1/IpRecords", "/v1/NoSuchThing"] {
            batch.push_str(&format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        }
    }
    batch.push_str("GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(batch.as_bytes()).await.unwrap();
    let (answers, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let statuses: Vec<&str> = answers
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|r| &r[..3])
        .collect();
    assert_eq!(statuses, ["401", "404", "201", "404", "200"], "{answers}");

    // The body arrives after the head, as a large upload from a real client does: the refusal
    // waits for it instead of leaving it (and the request behind it) unread.
    let mut s = connect_from(&app, "127.0.0.1").await;
    let body = format!("IpAddress=10.0.0.2&Padding={}", "y".repeat(40_000));
    let head = format!(
        "POST /v1/IpRecords HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        basic(SID, "wrong"),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rest = format!("{body}GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(rest.as_bytes()).await;
    let (answers, _) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    let statuses: Vec<&str> = answers
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|r| &r[..3])
        .collect();
    assert_eq!(statuses, ["401", "200"], "{answers}");
}

/// Wrong tokens from one address end in 429 with `Retry-After`; correct credentials from
/// another address are not slowed. An account attacked from many addresses refuses new
/// addresses but keeps serving one that authenticated before.
#[tokio::test]
async fn failed_authentication_is_throttled_per_client_and_per_account() {
    let app = TestApp::spawn().await;
    let client_from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let get = |c: reqwest::Client, token: &'static str| {
        let url = format!("{}/v1/IpRecords", app.base);
        async move {
            let r = c
                .get(url)
                .basic_auth(SID, Some(token))
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").cloned();
            (r.status(), retry, r.text().await.unwrap())
        }
    };
    let known = client_from("127.0.0.2");
    assert_eq!(get(known.clone(), TOKEN).await.0, StatusCode::OK);

    let attacker = client_from("127.0.0.1");
    let mut throttled = None;
    for _ in 0..60 {
        let (status, retry, text) = get(attacker.clone(), "wrong").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some((retry, text));
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (retry, text) = throttled.expect("wrong tokens were never throttled");
    assert!(retry.is_some(), "429 without Retry-After");
    assert!(text.contains("\"code\":20429"), "{text}");
    assert_eq!(get(known.clone(), TOKEN).await.0, StatusCode::OK);

    // Many addresses, each under its own limit, guessing one account's token.
    for n in 10..20 {
        let c = client_from(&format!("127.0.0.{n}"));
        for _ in 0..15 {
            get(c.clone(), "wrong").await;
        }
    }
    let (status, _, _) = get(client_from("127.0.0.30"), TOKEN).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a new address waits");
    assert_eq!(
        get(known, TOKEN).await.0,
        StatusCode::OK,
        "an address that authenticated before is not locked out"
    );
}

/// Limits sipmap enforces itself answer with Twilio bodies; what hyper refuses before sipmap
/// sees the request (a target over 64 KiB, a malformed Content-Length) stays a bare status.
#[tokio::test]
async fn oversized_requests_get_twilio_bodies_where_sipmap_sees_them() {
    let app = TestApp::spawn().await;
    let long = format!("/v1/IpRecords?X={}", "a".repeat(10_000));
    let r = app.get(&long).await;
    assert_eq!(r.status, StatusCode::URI_TOO_LONG);
    assert_eq!(r.json()["code"], 20414);
    assert!(r.headers.contains_key("twilio-request-id"));

    let mut req = app
        .raw(Method::GET, "/v1/IpRecords")
        .basic_auth(SID, Some(TOKEN));
    for i in 0..80 {
        req = req.header(format!("x-extra-{i}"), "1");
    }
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(r.json()["code"], 20431);

    let mut s = connect_from(&app, "127.0.0.1").await;
    s.write_all(b"POST /v1/IpRecords HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}
