//! Stopping drains: the real binary, sent SIGTERM (and SIGINT) while a request is in flight,
//! closes its listener (a new connection is refused), finishes the request, flushes storage and
//! exits 0, and what it acknowledged is there after a restart; the SIP edge, stopped while a
//! request of a TCP client is forwarded and unanswered, keeps the connection until the answer
//! is relayed and then closes it. And `sipmap health`, the container image's HEALTHCHECK,
//! succeeds only on a 200 from the URL it asks; and SIP refusals counted for Monitor Alerts just
//! before the stop are stored by it.
//!
//! Every wait is bounded (seconds) and says only "by then", never how fast.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::helpers::{Process, SID, TOKEN, TestApp};
use crate::routing::{WAIT, answer, loopback_domain};
use crate::sip_alerts::{office_domain, options};

/// The real binary serving HTTP on 127.0.0.1:0 with `db`, and its address.
struct Served {
    process: Process,
    addr: SocketAddr,
}

impl Served {
    fn start(db: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sipmap"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--drain-timeout-secs",
                "30",
            ])
            .arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .env_clear()
            .env("TWILIO_ACCOUNT_SID", SID)
            .env("TWILIO_AUTH_TOKEN", TOKEN)
            .env("RUST_LOG", "info");
        let (process, out) = Process::start(command);
        let addr = out
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("sipmap: HTTP API listening on http://")
                    .map(|a| a.parse().expect("an address"))
            })
            .expect("sipmap listens");
        Self { process, addr }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.process.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits (at most 60 s) for the process to exit: its exit status and what it logged.
    fn wait(mut self) -> (std::process::ExitStatus, String) {
        for _ in 0..600 {
            if let Some(status) = self.process.child.try_wait().unwrap() {
                return (status, self.process.logged());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("sipmap did not exit within 60 s of the signal");
    }
}

fn basic() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
}

/// Reads one HTTP/1.1 response head from `stream` (at most 10 s): its status line.
fn read_head(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("the head arrives");
        assert_eq!(n, 1, "the connection closed in a head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Whether a connection to `addr` is refused (not accepted) by the end of 10 s.
fn refused_by_then(addr: SocketAddr) -> bool {
    for _ in 0..100 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return true,
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    false
}

/// `signal` while a POST is in flight (its handler reading a body that is still coming: the
/// server's `100 Continue` says it got that far): the listener closes, the POST finishes with
/// 201, the process logs each phase and exits 0, and the record is there after a restart.
fn drains_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let served = Served::start(&db);
    let body = "IpAddress=10.9.8.7&FriendlyName=drained";
    let (first, rest) = body.split_at(10);
    let mut stream = TcpStream::connect(served.addr).unwrap();
    write!(
        stream,
        "POST /v1/IpRecords HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        served.addr,
        basic(),
        body.len()
    )
    .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 100"), "{head}");
    stream.write_all(first.as_bytes()).unwrap();
    served.signal(signal);
    assert!(
        refused_by_then(served.addr),
        "the listener closes at {signal}"
    );
    stream.write_all(rest.as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 201"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("a length");
    let mut json = vec![0u8; length];
    stream.read_exact(&mut json).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let sid = json["sid"].as_str().expect("a SID").to_owned();
    let (status, log) = served.wait();
    assert_eq!(status.code(), Some(0), "{log}");
    for phase in [
        &format!("shutting down: draining signal=\"SIG{signal}\"") as &str,
        "HTTP: listeners closed; letting in-flight requests finish open=",
        "HTTP: in-flight requests finished",
        "storage flushed; stopped",
    ] {
        assert!(log.contains(phase), "{phase:?} not logged:\n{log}");
    }

    let again = Served::start(&db);
    let mut stream = TcpStream::connect(again.addr).unwrap();
    write!(
        stream,
        "GET /v1/IpRecords/{sid} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\n\
         Connection: close\r\n\r\n",
        again.addr,
        basic()
    )
    .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[test]
fn sigterm_drains_an_in_flight_request_and_exits_0() {
    drains_on("TERM");
}

#[test]
fn sigint_drains_the_same_way() {
    drains_on("INT");
}

/// A TCP client's INVITE, forwarded to a silent upstream, is in progress when the server stops:
/// the listener closes, the upstream's answer (over UDP) still reaches the client over its
/// connection, and then the edge closes the connection and the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_connection_finishes_its_transaction_before_the_edge_stops() {
    let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let up = upstream.local_addr().unwrap();
    let app = TestApp::spawn_with(|c| {
        c.sip_upstream = Some(up.to_string());
        // Long enough that only the answer can end the drain.
        c.http_limits.shutdown_grace = Duration::from_secs(120);
    })
    .await;
    loopback_domain(&app).await;
    let edge = app.sip_addr.unwrap();
    let mut client = tokio::net::TcpStream::connect(edge).await.unwrap();
    let me = client.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:bob@acme.sip.twilio.com SIP/2.0\r\n\
         Via: SIP/2.0/TCP {me};branch=z9hG4bK-drain\r\n\
         From: <sip:alice@{me}>;tag=1\r\nTo: <sip:bob@acme.sip.twilio.com>\r\n\
         Call-ID: drain\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    client.write_all(invite.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, from) = timeout(WAIT, upstream.recv_from(&mut buf))
        .await
        .expect("the INVITE is forwarded")
        .unwrap();
    let forwarded = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(forwarded.starts_with("INVITE "), "{forwarded}");

    let stopping = tokio::spawn(app.stop());
    let mut refused = false;
    for _ in 0..100 {
        match tokio::net::TcpStream::connect(edge).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(refused, "the SIP TCP listener closes at shutdown");
    assert!(!stopping.is_finished(), "the edge waits for the connection");

    upstream
        .send_to(answer(&forwarded, 486).as_bytes(), from)
        .await
        .unwrap();
    let mut got = Vec::new();
    let closed = timeout(WAIT, async {
        loop {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the edge closes the drained connection");
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("SIP/2.0 486"), "{got}");
    let (_, _dir) = timeout(WAIT, stopping)
        .await
        .expect("the server stops once drained")
        .unwrap();
}

/// `sipmap health` exits 0 on `/livez`'s 200, and 1 on another status or no server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_command_succeeds_only_on_a_200() {
    let app = TestApp::spawn().await;
    let health = |url: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_sipmap"))
                .args(["health", "--url", &url])
                .env_clear()
                .output()
                .expect("sipmap runs")
        })
    };
    let ok = health(format!("{}/livez", app.base)).await.unwrap();
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains(": 200"),
        "{ok:?}"
    );
    let missing = health(format!("{}/nope", app.base)).await.unwrap();
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("answered 404"),
        "{missing:?}"
    );
    let (_, _dir) = app.stop().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let refused = health(format!("http://{addr}/livez")).await.unwrap();
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
}

/// Refusals counted for Monitor Alerts in the last moment before the stop are written by the
/// drain, not lost with the second the counting task had not written yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_counted_before_the_stop_are_alerts_after_it() {
    let app = TestApp::spawn().await;
    office_domain(&app).await;
    let stranger = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let codes = options(&stranger, app.sip_addr.unwrap(), "acme.sip.twilio.com", 3).await;
    assert_eq!(codes, [403; 3]);
    let (db, dir) = app.stop().await;
    let again = TestApp::start(db).await;
    let alerts = again.get("/v1/Alerts").await.json()["alerts"].clone();
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let text = alerts[0]["alert_text"].as_str().unwrap();
    assert!(text.contains("3 requests from 127.0.0.2"), "{text}");
    again.stop().await;
    drop(dir);
}
