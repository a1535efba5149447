//! Nothing is ever sent to the edge's own address: a target or `--sip-upstream` that names it,
//! in any spelling, makes the edge answer `482 Loop Detected` instead of sending the request to
//! itself (where it would be dropped as its own copy, and the caller would get no answer at all).

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use sipmap::sip::ProbeSettings;

use crate::helpers::TestApp;
use crate::routing::{Client, routed_domain};

/// Probes far apart: no round after the first can take a target down during a test.
fn slow_probes(c: &mut sipmap::app::ServeConfig) {
    c.sip_probes = ProbeSettings {
        interval: Duration::from_secs(3600),
        ..ProbeSettings::default()
    };
}

/// Points the only target of `policy` at `uri`.
async fn retarget(app: &TestApp, policy: &str, target: &str, uri: &str) {
    let body = format!(
        "Target={}",
        form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    );
    let r = app
        .post(
            &format!("/v1/ConnectionPolicies/{policy}/Targets/{target}"),
            &body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

fn loop_detected(response: &str) -> bool {
    response.starts_with("SIP/2.0 482 Loop Detected\r\n")
}

#[tokio::test]
async fn a_target_naming_the_edge_itself_gets_482() {
    let app = TestApp::spawn_with(slow_probes).await;
    let port = app.sip_addr.unwrap().port();
    let (sids, policy) = routed_domain(&app, &[(format!("sip:127.0.0.1:{port}"), 10)]).await;
    let client = Client::new(&app).await;
    let spellings = [
        format!("sip:127.0.0.1:{port}"),
        format!("sip:[::ffff:127.0.0.1]:{port}"),
        format!("sip:bob@[::ffff:7f00:1]:{port};transport=udp"),
        format!("sip:127.0.0.1:{port};transport=tcp"),
    ];
    for (i, uri) in spellings.iter().enumerate() {
        retarget(&app, &policy, &sids[0], uri).await;
        let response = client.invite(&format!("loop-{i}")).await;
        assert!(loop_detected(&response), "{uri}: {response}");
    }
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains("sipmap_sip_forwards_refused_total{reason=\"own_address\"} 4\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sipmap_sip_requests_forwarded_total 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn listening_on_a_wildcard_a_loopback_target_on_its_port_gets_482() {
    let app = TestApp::spawn_with(|c| {
        slow_probes(c);
        c.sip_listen = Some("0.0.0.0:0".into());
    })
    .await;
    let port = app.sip_addr.unwrap().port();
    let (sids, policy) = routed_domain(&app, &[(format!("sip:127.0.0.1:{port}"), 10)]).await;
    let client = Client::to(SocketAddr::from(([127, 0, 0, 1], port))).await;
    let spellings = [
        format!("sip:127.0.0.1:{port}"),
        format!("sip:127.0.0.2:{port}"),
        format!("sip:[::ffff:127.0.0.3]:{port}"),
    ];
    for (i, uri) in spellings.iter().enumerate() {
        retarget(&app, &policy, &sids[0], uri).await;
        let response = client.invite(&format!("wild-{i}")).await;
        assert!(loop_detected(&response), "{uri}: {response}");
    }
}

/// A port on 127.0.0.1 free for UDP and TCP a moment ago.
fn free_port() -> u16 {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    std::net::UdpSocket::bind(("127.0.0.1", port)).expect("UDP is free on that port too");
    port
}

#[tokio::test]
async fn an_upstream_naming_the_edge_itself_gets_482() {
    for spelling in ["127.0.0.1", "[::ffff:127.0.0.1]"] {
        let port = free_port();
        let app = TestApp::spawn_with(|c| {
            slow_probes(c);
            c.sip_listen = Some(format!("127.0.0.1:{port}"));
            c.sip_upstream = Some(format!("{spelling}:{port}"));
        })
        .await;
        // A domain with no trunk: its requests go to the upstream.
        routed_domain(&app, &[]).await;
        let client = Client::new(&app).await;
        let response = client.invite("upstream-loop").await;
        assert!(loop_detected(&response), "{spelling}: {response}");
    }
}
