//! `/sipmap/v1/TargetHealth`: a target that stops answering probes and answers again shows
//! both changes and the minutes it was probed in; an unprobed target says so; the answer is
//! scoped to the caller's account and refuses a missing or malformed policy SID.

use std::sync::atomic::Ordering;

use reqwest::{Method, StatusCode};

use crate::helpers::TestApp;
use crate::routing::{SipTarget, created, fast_probes, routed_domain, wait_for_health};

#[tokio::test]
async fn a_targets_last_hour_shows_its_outage() {
    let app = TestApp::spawn_with(fast_probes).await;
    let target = SipTarget::udp().await;
    let (sids, policy) = routed_domain(&app, &[(format!("sip:{}", target.addr), 10)]).await;
    wait_for_health(&app, &sids[0], true).await;
    target.answering.store(false, Ordering::SeqCst);
    wait_for_health(&app, &sids[0], false).await;
    target.answering.store(true, Ordering::SeqCst);
    wait_for_health(&app, &sids[0], true).await;

    let r = app
        .get(&format!(
            "/sipmap/v1/TargetHealth?ConnectionPolicySid={policy}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.json();
    assert_eq!(body["connection_policy_sid"], policy.as_str());
    assert_eq!(body["span_seconds"], 3600);
    assert_eq!(body["truncated"], false);
    let targets = body["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{body}");
    let probed = targets
        .iter()
        .find(|t| t["sid"] == sids[0].as_str())
        .unwrap();
    assert_eq!(probed["status"], "up", "{probed}");
    let dests = probed["destinations"].as_array().unwrap();
    assert_eq!(dests.len(), 1, "{probed}");
    let d = &dests[0];
    assert_eq!(d["address"], target.addr.to_string());
    assert_eq!(d["transport"], "udp");
    assert_eq!(d["status"], "up");
    let changes: Vec<&str> = d["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["down", "up"], "{d}");
    assert_eq!(d["since"], d["transitions"][1]["date"]);
    let minutes = d["minutes"].as_array().unwrap();
    assert!(!minutes.is_empty(), "{d}");
    assert!(minutes.iter().any(|m| m["down"] == true), "{d}");
    let sum = |k: &str| minutes.iter().map(|m| m[k].as_u64().unwrap()).sum::<u64>();
    assert!(
        sum("probes") > sum("answered"),
        "unanswered probes counted: {d}"
    );

    // Another account sees the policy as missing.
    let (other, token) = app.subaccount("other").await;
    let r = app
        .call_as(
            &other,
            &token,
            Method::GET,
            &format!("/sipmap/v1/TargetHealth?ConnectionPolicySid={policy}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(r.json()["code"], 20404);
    for (query, code) in [
        ("", 400),
        ("?ConnectionPolicySid=", 400),
        ("?ConnectionPolicySid=NYnope", 400),
        (
            "?ConnectionPolicySid=NY00000000000000000000000000000009",
            404,
        ),
    ] {
        let r = app.get(&format!("/sipmap/v1/TargetHealth{query}")).await;
        assert_eq!(r.status.as_u16(), code, "{query}: {}", r.text);
    }
}

/// A node without a SIP edge probes nothing: every target is `unprobed`.
#[tokio::test]
async fn without_a_sip_edge_targets_are_unprobed() {
    let app = TestApp::spawn_with(|c| c.sip_listen = None).await;
    let policy = created(&app, "/v1/ConnectionPolicies", "FriendlyName=p").await;
    let target = created(
        &app,
        &format!("/v1/ConnectionPolicies/{policy}/Targets"),
        "Target=sip%3A127.0.0.1%3A5999&Enabled=false",
    )
    .await;
    let r = app
        .get(&format!(
            "/sipmap/v1/TargetHealth?ConnectionPolicySid={policy}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let t = &r.json()["targets"][0];
    assert_eq!(t["sid"], target.as_str());
    assert_eq!(t["status"], "unprobed", "{t}");
    assert_eq!(t["enabled"], false);
    assert_eq!(t["destinations"], serde_json::json!([]));
}
