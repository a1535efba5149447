//! The SIP edge's TCP limits against real sockets: a `SipServer` on 127.0.0.1:0 with limits of a
//! few hundred milliseconds, and clients that trickle a message, never read their answers, or open
//! too many connections. No mapping exists, so every request is answered `404 Not Found`.
//!
//! Every loop here is bounded and every wait has a timeout; the bounds are generous (seconds) and
//! only say "was disconnected by then", never how fast.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sipmap::secret::ServerKey;
use sipmap::sip::edge::Authenticator;
use sipmap::sip::metrics::Metrics;
use sipmap::sip::{SipLimits, SipServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// A running SIP edge.
struct Edge {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Edge {
    async fn start(limits: SipLimits) -> Self {
        let server = SipServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            None,
            sipmap::recognition::table().reader(),
            Arc::new(Metrics::default()),
            limits,
            Authenticator::new(&ServerKey::generate(), &[]),
            None,
        )
        .await
        .expect("SIP edge binds");
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        timeout(Duration::from_secs(10), task)
            .await
            .expect("the SIP edge stops")
            .expect("the SIP edge task did not panic")
            .expect("the SIP edge ran without error");
    }

    /// A connection from `ip` (a loopback address).
    async fn connect_from(&self, ip: &str) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        timeout(Duration::from_secs(5), socket.connect(self.addr))
            .await
            .expect("connect does not hang")
            .expect("connect succeeds")
    }
}

/// Limits too long to matter, to be shortened one at a time.
fn relaxed() -> SipLimits {
    SipLimits {
        idle: Duration::from_secs(60),
        message: Duration::from_secs(60),
        write: Duration::from_secs(60),
        max_connections: 100,
        max_connections_per_source: 100,
        ..SipLimits::default()
    }
}

/// An OPTIONS request over TCP, with `vias` extra Via values to make its answer larger.
fn options(n: usize, vias: usize) -> Vec<u8> {
    let mut r = format!(
        "OPTIONS sip:nobody@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-test-{n}\r\n"
    );
    for i in 0..vias {
        let pad = "x".repeat(24);
        r.push_str(&format!(
            "Via: SIP/2.0/UDP 192.0.2.{}:5060;branch=z9hG4bK-padding-{i:04}-{pad}\r\n",
            i % 250
        ));
    }
    r.push_str(&format!(
        "From: <sip:test@127.0.0.1>;tag={n}\r\nTo: <sip:nobody@127.0.0.1>\r\n\
         Call-ID: tcp-limits-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ));
    r.into_bytes()
}

/// Sends one OPTIONS and returns the start of the answer: `Ok(text)` if one arrived, `Err(why)`
/// if the connection was closed (or reset) instead. Panics if neither happens within 3 s.
async fn ask(c: &mut TcpStream) -> Result<String, String> {
    if let Err(e) = c.write_all(&options(0, 0)).await {
        return Err(format!("write failed: {e}"));
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(3);
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, c.read(&mut chunk)).await {
            Err(_) => panic!("neither an answer nor a close within 3 s"),
            Ok(Ok(0)) => return Err("closed".into()),
            Ok(Err(e)) => return Err(format!("read failed: {e}")),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test]
async fn a_message_trickled_byte_by_byte_is_cut_off_by_its_deadline() {
    let message_deadline = Duration::from_millis(500);
    let edge = Edge::start(SipLimits {
        message: message_deadline,
        ..relaxed()
    })
    .await;
    let mut c = edge.connect_from("127.0.0.1").await;
    // A header section that never ends, one byte every 100 ms: each read is well within 500 ms
    // of the one before, so only a deadline for the whole message can end it.
    let partial =
        b"OPTIONS sip:nobody@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK";
    let started = Instant::now();
    let mut closed_after = None;
    for &byte in partial.iter().take(50) {
        if c.write_all(&[byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut one = [0u8; 1];
        match timeout(Duration::from_millis(100), c.read(&mut one)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(_)) => panic!("an incomplete message got an answer"),
        }
    }
    let closed_after =
        closed_after.expect("still connected after 50 bytes over 5 s of a 500 ms message");
    assert!(
        closed_after >= message_deadline,
        "closed after {closed_after:?}, before the message deadline"
    );
    // The edge still serves others.
    let mut fresh = edge.connect_from("127.0.0.1").await;
    let answer = ask(&mut fresh).await.expect("a new connection is served");
    assert!(answer.starts_with("SIP/2.0 404 "), "{answer}");
    edge.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_after_the_write_deadline() {
    let edge = Edge::start(SipLimits {
        write: Duration::from_millis(300),
        ..relaxed()
    })
    .await;
    // A small receive buffer, and no reads at all: the edge's answers (a few KB each, as they
    // copy the request's Vias) pile up until its writes cannot complete.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_send_buffer_size(64 * 1024).unwrap();
    let mut c = timeout(Duration::from_secs(5), socket.connect(edge.addr))
        .await
        .unwrap()
        .unwrap();
    let request = options(1, 40);
    assert!(request.len() > 3000, "{}", request.len());
    let started = Instant::now();
    let (mut pos, mut requests, mut blocked_since) = (0usize, 0u64, None);
    let closed = loop {
        if started.elapsed() > Duration::from_secs(10) {
            break None;
        }
        // `write` writes some bytes or none, so the stream stays framed across timeouts.
        match timeout(Duration::from_millis(100), c.write(&request[pos..])).await {
            Err(_) => {
                blocked_since.get_or_insert_with(Instant::now);
            }
            Ok(Ok(0)) => break Some("write returned 0".to_owned()),
            Ok(Ok(n)) => {
                blocked_since = None;
                pos += n;
                if pos == request.len() {
                    pos = 0;
                    requests += 1;
                }
            }
            Ok(Err(e)) => break Some(e.to_string()),
        }
    };
    let why = closed.unwrap_or_else(|| {
        panic!(
            "still connected after 10 s ({requests} requests written, blocked for {:?})",
            blocked_since.map(|b| b.elapsed())
        )
    });
    assert!(
        requests > 100,
        "closed ({why}) before its answers could fill the buffers: {requests} requests"
    );
    edge.shutdown().await;
}

#[tokio::test]
async fn one_source_cannot_take_every_connection() {
    let edge = Edge::start(SipLimits {
        max_connections_per_source: 2,
        max_connections: 3,
        ..relaxed()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = edge.connect_from("127.0.0.1").await;
        let answer = ask(&mut c)
            .await
            .expect("within the per-source cap: served");
        assert!(answer.starts_with("SIP/2.0 404 "), "{answer}");
        held.push(c);
    }
    let mut third = edge.connect_from("127.0.0.1").await;
    let refused = ask(&mut third).await;
    assert!(
        refused.is_err(),
        "a third connection from 127.0.0.1 was served: {refused:?}"
    );
    // Another source still gets in.
    let mut other = edge.connect_from("127.0.0.2").await;
    let answer = ask(&mut other)
        .await
        .expect("another source is served while 127.0.0.1 is at its cap");
    assert!(answer.starts_with("SIP/2.0 404 "), "{answer}");
    // Now 3 are open: the global cap refuses a fourth source too.
    let mut fourth = edge.connect_from("127.0.0.3").await;
    let refused = ask(&mut fourth).await;
    assert!(
        refused.is_err(),
        "the global cap let a 4th connection in: {refused:?}"
    );
    // Closing one of 127.0.0.1's connections gives it a slot back (once the edge has noticed).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = edge.connect_from("127.0.0.1").await;
        if ask(&mut c).await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a freed slot was not reusable within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    edge.shutdown().await;
}
