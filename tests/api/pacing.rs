//! However many targets name one address, on as many ports, the edge sends that address at
//! most `--sip-probe-rate-per-ip` probes per second, and probes its ports in turn so that each is
//! probed in time. Counted in datagrams received on real sockets.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sipmap::sip::ProbeSettings;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::helpers::TestApp;
use crate::routing::created;

/// UDP sockets on `count` ports of `ip`, each reporting what it receives (the port, and when).
async fn listeners(ip: &str, count: usize) -> (Vec<SocketAddr>, mpsc::Receiver<(u16, Instant)>) {
    let (tx, rx) = mpsc::channel(4096);
    let mut addrs = Vec::new();
    for _ in 0..count {
        let socket = UdpSocket::bind(format!("{ip}:0")).await.unwrap();
        let addr = socket.local_addr().unwrap();
        addrs.push(addr);
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, _)) = socket.recv_from(&mut buf).await {
                if buf[..n].starts_with(b"OPTIONS ") {
                    let _ = tx.send((addr.port(), Instant::now())).await;
                }
            }
        });
    }
    (addrs, rx)
}

/// The most of `times` (sorted) within any one second.
fn most_in_a_second(times: &[Instant]) -> usize {
    let mut most = 0;
    let mut start = 0;
    for (end, t) in times.iter().enumerate() {
        while t.duration_since(times[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_gets_at_most_the_probe_rate_and_its_ports_in_turn() {
    const RATE: u32 = 5;
    let app = TestApp::spawn_with(|c| {
        c.sip_probes = ProbeSettings {
            interval: Duration::from_secs(1),
            rate_per_ip: RATE,
            ..ProbeSettings::default()
        };
    })
    .await;
    let (swept, mut probes) = listeners("127.0.0.77", 30).await;
    let (other, mut other_probes) = listeners("127.0.0.78", 1).await;
    let policy = created(&app, "/v1/ConnectionPolicies", "FriendlyName=sweep").await;
    for addr in swept.iter().chain(&other) {
        created(
            &app,
            &format!("/v1/ConnectionPolicies/{policy}/Targets"),
            &format!("Target=sip%3A{addr}"),
        )
        .await;
    }
    // Until every port of the swept address has been probed.
    let mut times = Vec::new();
    let mut ports = HashSet::new();
    while ports.len() < swept.len() {
        let (port, at) = timeout(Duration::from_secs(30), probes.recv())
            .await
            .expect("probes keep coming")
            .unwrap();
        times.push(at);
        ports.insert(port);
    }
    let most = most_in_a_second(&times);
    // At most RATE per second (the slack absorbs the receiving tasks' scheduling), where every
    // port at once would be 30.
    assert!(most <= 2 * RATE as usize, "{most} probes within one second");
    // The other address is probed as before.
    timeout(Duration::from_secs(10), other_probes.recv())
        .await
        .expect("the other address is probed")
        .unwrap();
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains(&format!(
            "sipmap_sip_probe_destinations_deferred {}\n",
            30 - RATE
        )),
        "{metrics}"
    );
}

/// UDP SIP targets on `count` ports of `ip` that answer every request 200, reporting the port
/// each INVITE reached.
async fn answering(ip: &str, count: usize) -> (Vec<SocketAddr>, mpsc::Receiver<u16>) {
    let (tx, rx) = mpsc::channel(4096);
    let mut addrs = Vec::new();
    for _ in 0..count {
        let socket = UdpSocket::bind(format!("{ip}:0")).await.unwrap();
        let addr = socket.local_addr().unwrap();
        addrs.push(addr);
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if text.starts_with("ACK ") {
                    continue;
                }
                // Reported before it is answered, so the test knows of it once answered.
                if text.starts_with("INVITE ") {
                    let _ = tx.send(addr.port()).await;
                }
                let reply = crate::routing::answer(&text, 200);
                let _ = socket.send_to(reply.as_bytes(), from).await;
            }
        });
    }
    (addrs, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_reach_few_new_ports_of_one_address_a_second() {
    const NEW: u32 = 2;
    let app = TestApp::spawn_with(|c| {
        c.sip_new_ports_per_ip = NEW;
        c.sip_probes = ProbeSettings {
            interval: Duration::from_secs(3600),
            ..ProbeSettings::default()
        };
    })
    .await;
    let (ports, mut invites) = answering("127.0.0.79", 20).await;
    let targets: Vec<(String, u16)> = ports.iter().map(|a| (format!("sip:{a}"), 10)).collect();
    crate::routing::routed_domain(&app, &targets).await;
    let client = crate::routing::Client::new(&app).await;
    let started = Instant::now();
    let mut refused = 0;
    for i in 0..60 {
        let response = client.invite(&format!("sweep-{i}")).await;
        if response.starts_with("SIP/2.0 503 Service Unavailable\r\n") {
            assert!(response.contains("\r\nRetry-After: 1\r\n"), "{response}");
            refused += 1;
        } else {
            assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
        }
    }
    let seconds = started.elapsed().as_secs() + 1;
    let mut reached = HashSet::new();
    let mut forwarded = 0;
    while let Ok(port) = invites.try_recv() {
        reached.insert(port);
        forwarded += 1;
    }
    // Each 200 came from a target, each 503 from the edge.
    assert_eq!(forwarded + refused, 60);
    // The edge's clock turned at most `seconds` times while the requests went: at most NEW new
    // ports in each of those seconds (all 20 at once before).
    let bound = NEW as usize * (seconds as usize + 1);
    assert!(
        reached.len() <= bound,
        "{} ports reached in {seconds} s",
        reached.len()
    );
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains(&format!(
            "sipmap_sip_forwards_refused_total{{reason=\"new_ports\"}} {refused}\n"
        )),
        "{metrics}"
    );
}
