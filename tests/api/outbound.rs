//! The operator's outbound policy (`--outbound-allow`, `--outbound-deny`): a target outside it is
//! refused at creation and update (400, 20001, naming the rule), on both back ends; link-local
//! addresses are refused by default; and a target stored before the policy changed is never
//! contacted after a restart: no probe, no request (another target, or the upstream, takes them).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use insta::assert_snapshot;
use reqwest::StatusCode;
use sipmap::app::ServeConfig;
use sipmap::domain::OutboundPolicy;
use sipmap::sip::ProbeSettings;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::timeout;

use crate::helpers::TestApp;
use crate::routing::{Client, answer, created, routed_domain};
use crate::storage::{TestDb, test_key};

fn deny(nets: &str) -> Arc<OutboundPolicy> {
    let nets: Vec<_> = nets.split(',').map(|n| n.parse().unwrap()).collect();
    Arc::new(OutboundPolicy::new(&[], &nets))
}

fn target_body(uri: &str) -> String {
    format!(
        "Target={}",
        form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
    )
}

/// A server on `db` (SQLite or PostgreSQL) that may not send to 10.0.0.0/8.
async fn server_on(db: &TestDb) -> TestApp {
    let url = db.url.clone();
    TestApp::spawn_with(move |c| {
        c.database_url = url;
        c.store.key = Some(test_key());
        c.sip_listen = None;
        c.store.outbound = deny("10.0.0.0/8");
    })
    .await
}

crate::on_both_backends!(targets_outside_the_outbound_policy_are_refused);

async fn targets_outside_the_outbound_policy_are_refused(db: &TestDb) {
    let app = server_on(db).await;
    let policy = created(&app, "/v1/ConnectionPolicies", "FriendlyName=p").await;
    let targets = format!("/v1/ConnectionPolicies/{policy}/Targets");
    for refused in [
        "sip:10.1.2.3",
        "sip:bob@[::ffff:10.0.0.1]:5070;transport=tcp",
        "sip:169.254.169.254",
        "sip:[fe80::1]:5060",
    ] {
        let r = app.post(&targets, &target_body(refused)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{refused}: {}", r.text);
        assert_eq!(r.json()["code"], 20001, "{refused}");
        assert!(
            r.field("message").starts_with(&format!(
                "Invalid parameter Target: {refused:?} is not a destination"
            )),
            "{}",
            r.text
        );
    }
    // Allowed addresses, and host names (never looked up, so never contacted), are stored.
    let kept = created(&app, &targets, &target_body("sip:192.0.2.10")).await;
    created(&app, &targets, &target_body("sip:carrier.example.com")).await;
    // An update into a refused network is refused and changes nothing; other fields may change.
    let path = format!("{targets}/{kept}");
    let r = app.post(&path, &target_body("sip:10.9.9.9:5060")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(app.get(&path).await.field("target"), "sip:192.0.2.10");
    assert_eq!(app.post(&path, "Priority=3").await.status, StatusCode::OK);
    let listed = app.get(&targets).await.json();
    assert_eq!(listed["targets"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_refusal_names_the_rule() {
    let app = TestApp::spawn_with(|c| c.store.outbound = deny("10.0.0.0/8")).await;
    let policy = created(&app, "/v1/ConnectionPolicies", "FriendlyName=p").await;
    let targets = format!("/v1/ConnectionPolicies/{policy}/Targets");
    let denied = app.post(&targets, &target_body("sip:10.1.2.3:5060")).await;
    assert_snapshot!("target_outbound_denied", app.redact(&denied));
    let link_local = app
        .post(&targets, &target_body("sip:169.254.169.254"))
        .await;
    assert_snapshot!("target_outbound_link_local", app.redact(&link_local));
}

/// A UDP SIP target on `addr` that answers every request 200 and reports each one it receives.
async fn counting_target(ip: &str) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let socket = UdpSocket::bind(format!("{ip}:0")).await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = tx.send(text.clone());
            if !text.starts_with("ACK ") {
                let _ = socket.send_to(answer(&text, 200).as_bytes(), from).await;
            }
        }
    });
    (addr, rx)
}

fn fast_probes(c: &mut ServeConfig) {
    c.sip_probes = ProbeSettings {
        interval: Duration::from_millis(100),
        ..ProbeSettings::default()
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stored_target_the_policy_now_refuses_is_never_contacted() {
    let (denied, mut to_denied) = counting_target("127.0.0.81").await;
    let (allowed, mut to_allowed) = counting_target("127.0.0.82").await;
    // Stored while everything on loopback was allowed: the refused one is the better target.
    let app = TestApp::spawn_with(fast_probes).await;
    routed_domain(
        &app,
        &[
            (format!("sip:{denied}"), 10),
            (format!("sip:{allowed}"), 20),
        ],
    )
    .await;
    let response = Client::new(&app).await.invite("before").await;
    assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
    let (db, dir) = app.stop().await;
    // Restarted with 127.0.0.81 refused.
    let app = TestApp::start_with(db, |c| {
        fast_probes(c);
        c.store.outbound = deny("127.0.0.81/32");
    })
    .await;
    while to_denied.try_recv().is_ok() {}
    while to_allowed.try_recv().is_ok() {}
    let client = Client::new(&app).await;
    for i in 0..10 {
        let response = client.invite(&format!("after-{i}")).await;
        assert!(response.starts_with("SIP/2.0 200 OK\r\n"), "{response}");
    }
    // The allowed target took every request and gets its probes...
    let mut invites = 0;
    let mut probes = 0;
    // Bounded: probes keep coming, so a failing run must not wait for invites forever.
    for _ in 0..100 {
        if invites == 10 && probes >= 5 {
            break;
        }
        let got = timeout(Duration::from_secs(10), to_allowed.recv())
            .await
            .expect("the allowed target is contacted")
            .unwrap();
        if got.contains("Call-ID: after-") && got.starts_with("INVITE ") {
            invites += 1;
        } else if got.starts_with("OPTIONS ") {
            probes += 1;
        }
    }
    assert_eq!(invites, 10, "every request reached the allowed target");
    // ...while five rounds of probes later the refused one has had nothing at all.
    assert!(
        to_denied.try_recv().is_err(),
        "the refused target was contacted"
    );
    let r = app
        .get("/sipmap/v1/Resolve?IpAddress=127.0.0.1&RequestUri=sip%3Abob%40acme.sip.twilio.com")
        .await
        .json();
    assert_eq!(r["destination"], allowed.to_string());
    let metrics = app.get("/metrics").await.text;
    assert!(
        !metrics.contains(&denied.to_string()),
        "the refused destination is not even probed: {metrics}"
    );
    drop((app, dir));
}

#[tokio::test]
async fn with_only_refused_targets_480_takes_the_request() {
    let (denied, mut to_denied) = counting_target("127.0.0.83").await;
    let (other, mut to_other) = counting_target("127.0.0.84").await;
    let app = TestApp::spawn_with(fast_probes).await;
    routed_domain(&app, &[(format!("sip:{denied}"), 10)]).await;
    // A target of a policy no domain uses, probed all the same: its probes count the rounds.
    let unused = created(&app, "/v1/ConnectionPolicies", "FriendlyName=unused").await;
    created(
        &app,
        &format!("/v1/ConnectionPolicies/{unused}/Targets"),
        &target_body(&format!("sip:{other}")),
    )
    .await;
    let (db, dir) = app.stop().await;
    let app = TestApp::start_with(db, |c| {
        fast_probes(c);
        c.store.outbound = deny("127.0.0.83/32");
    })
    .await;
    while to_denied.try_recv().is_ok() {}
    let response = Client::new(&app).await.invite("nowhere").await;
    assert!(
        response.starts_with("SIP/2.0 480 Temporarily Unavailable\r\n"),
        "{response}"
    );
    // Five rounds of probes go by, and still nothing reached it.
    while to_other.try_recv().is_ok() {}
    for _ in 0..5 {
        timeout(Duration::from_secs(10), to_other.recv())
            .await
            .expect("the other target is probed")
            .unwrap();
    }
    assert!(
        to_denied.try_recv().is_err(),
        "the refused target was contacted"
    );
    drop((app, dir));
}
