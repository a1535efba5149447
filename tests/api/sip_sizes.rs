//! Oversized and malformed SIP requests at the real edge, over UDP and TCP: each is answered
//! (400 with a reason phrase, or 513 Message Too Large) when its request line and Via can be
//! read, never dropped in silence; a response is never answered. No domain exists, so a
//! well-formed request gets `404 Not Found`.
//!
//! Silence is shown without timing: over UDP, the next datagram a client gets after a message
//! that must not be answered is the answer to the request it sent after it; over TCP, the
//! answers come in order on the connection.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::helpers::TestApp;

const WAIT: Duration = Duration::from_secs(5);

/// A request with `extra` header lines after its Via, and `body` with a Content-Length (none
/// when `length` is false).
fn request(n: u32, me: SocketAddr, extra: &str, body: &str, length: bool) -> Vec<u8> {
    let transport = if length { "TCP" } else { "UDP" };
    let length = if length {
        format!("Content-Length: {}\r\n", body.len())
    } else {
        String::new()
    };
    format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{transport} {me};branch=z9hG4bK-{n};rport\r\n\
         {extra}From: <sip:a@{me}>;tag={n}\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: {n}@{me}\r\n\
         CSeq: {n} OPTIONS\r\n{length}\r\n{body}"
    )
    .into_bytes()
}

/// A header field of `n` bytes, with its line break.
fn field(n: usize) -> String {
    format!("X-Big: {}\r\n", "x".repeat(n - 7))
}

/// The status line of `answer` and its CSeq number.
fn summary(answer: &str) -> (String, String) {
    let status = answer.lines().next().unwrap_or("").to_owned();
    let cseq = answer
        .lines()
        .find_map(|l| l.strip_prefix("CSeq: "))
        .unwrap_or("none")
        .to_owned();
    (status, cseq)
}

struct UdpClient {
    socket: UdpSocket,
    edge: SocketAddr,
}

impl UdpClient {
    async fn send(&self, datagram: &[u8]) {
        self.socket.send_to(datagram, self.edge).await.unwrap();
    }

    async fn answer(&self) -> (String, String) {
        let mut buf = vec![0u8; 65536];
        let (n, _) = timeout(WAIT, self.socket.recv_from(&mut buf))
            .await
            .expect("an answer comes")
            .unwrap();
        summary(&String::from_utf8_lossy(&buf[..n]))
    }
}

#[tokio::test]
async fn oversized_udp_requests_are_answered_and_responses_are_not() {
    let app = TestApp::spawn().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = socket.local_addr().unwrap();
    let c = UdpClient {
        socket,
        edge: app.sip_addr.unwrap(),
    };
    let big = request(1, me, &field(60_000), "", false);
    assert!(big.len() > 60_000 && big.len() < 65_507);
    c.send(&big).await;
    let want = |status: &str, n: u32| (status.to_owned(), format!("{n} OPTIONS"));
    assert_eq!(
        c.answer().await,
        want("SIP/2.0 400 Header Field Longer Than 16384 Bytes", 1)
    );
    c.send(&request(2, me, &"X-N: 1\r\n".repeat(130), "", false))
        .await;
    assert_eq!(
        c.answer().await,
        want("SIP/2.0 400 More Than 128 Header Fields", 2)
    );
    let mut short = request(3, me, "", "", false);
    short.truncate(short.len() - 2);
    short.extend_from_slice(b"Content-Length: 500\r\n\r\nabc");
    c.send(&short).await;
    assert_eq!(
        c.answer().await,
        want("SIP/2.0 400 Body Shorter Than Content-Length", 3)
    );
    // A response with a 60 KB header, and an ACK: no answer; the next answer is request 4's.
    let response = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-9\r\n{}CSeq: 9 OPTIONS\r\n\r\n",
        field(60_000)
    );
    c.send(response.as_bytes()).await;
    let ack = String::from_utf8(request(8, me, &field(60_000), "", false))
        .unwrap()
        .replacen("OPTIONS", "ACK", 1);
    c.send(ack.as_bytes()).await;
    c.send(&request(4, me, "", "", false)).await;
    assert_eq!(c.answer().await, want("SIP/2.0 404 Not Found", 4));

    let metrics = app.raw(reqwest::Method::GET, "/metrics").send().await;
    let metrics = metrics.unwrap().text().await.unwrap();
    for line in [
        // The request, the response and the ACK with a 60 KB header.
        "sipmap_sip_messages_over_limit_total{limit=\"line_bytes\"} 3\n",
        "sipmap_sip_messages_over_limit_total{limit=\"header_count\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// Reads one answer (its head; no answer here has a body) from `stream`.
async fn tcp_answer(stream: &mut TcpStream) -> (String, String) {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = timeout(WAIT, stream.read(&mut byte))
            .await
            .expect("an answer comes")
            .expect("the connection is readable");
        assert_eq!(
            n,
            1,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.push(byte[0]);
        assert!(got.len() < 4096);
    }
    summary(&String::from_utf8_lossy(&got))
}

/// Whether the edge closes `stream` (EOF) without sending anything more.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    matches!(timeout(WAIT, stream.read(&mut buf)).await, Ok(Ok(0)))
}

#[tokio::test]
async fn oversized_tcp_requests_are_answered_before_the_connection_closes() {
    let app = TestApp::spawn().await;
    let edge = app.sip_addr.unwrap();
    let want = |status: &str, n: u32| (status.to_owned(), format!("{n} OPTIONS"));

    // A 60 KB header in a message under the size limit: 400, and the connection goes on.
    let mut s = TcpStream::connect(edge).await.unwrap();
    let me = s.local_addr().unwrap();
    s.write_all(&request(1, me, &field(60_000), "", true))
        .await
        .unwrap();
    s.write_all(&request(2, me, "", "", true)).await.unwrap();
    assert_eq!(
        tcp_answer(&mut s).await,
        want("SIP/2.0 400 Header Field Longer Than 16384 Bytes", 1)
    );
    assert_eq!(tcp_answer(&mut s).await, want("SIP/2.0 404 Not Found", 2));

    // A body that takes the message over 64 KiB: 513 as soon as the headers are in, then the
    // connection is closed (after the client has sent it all).
    let mut s = TcpStream::connect(edge).await.unwrap();
    let me = s.local_addr().unwrap();
    s.write_all(&request(3, me, "", &"b".repeat(70_000), true))
        .await
        .unwrap();
    assert_eq!(
        tcp_answer(&mut s).await,
        want("SIP/2.0 513 Message Too Large", 3)
    );
    assert!(closed(&mut s).await);

    // Headers that do not end within 64 KiB: 513 from what was read, then closed.
    let mut s = TcpStream::connect(edge).await.unwrap();
    let me = s.local_addr().unwrap();
    let mut endless = request(4, me, "", "", true);
    endless.truncate(endless.len() - 2);
    for _ in 0..5 {
        endless.extend_from_slice(field(15_000).as_bytes());
    }
    s.write_all(&endless).await.unwrap();
    assert_eq!(
        tcp_answer(&mut s).await,
        want("SIP/2.0 513 Message Too Large", 4)
    );
    assert!(closed(&mut s).await);

    // No Content-Length on a stream: 400 saying so, then closed.
    let mut s = TcpStream::connect(edge).await.unwrap();
    let me = s.local_addr().unwrap();
    s.write_all(&request(5, me, "", "", false)).await.unwrap();
    assert_eq!(
        tcp_answer(&mut s).await,
        want("SIP/2.0 400 Missing Content-Length", 5)
    );
    assert!(closed(&mut s).await);

    // A response over the limit is not answered: the connection just closes.
    let mut s = TcpStream::connect(edge).await.unwrap();
    let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-9\r\n\
                    CSeq: 9 OPTIONS\r\nContent-Length: 70000\r\n\r\n";
    s.write_all(response.as_bytes()).await.unwrap();
    assert!(closed(&mut s).await);
}
