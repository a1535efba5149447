//! `/sipmap/v1/Resolve` reports what the SIP edge would decide for a source and Request-URI:
//! the domain's `auth_type`, whether the source is in one of its access control lists, and the
//! decision, for calls and for `REGISTER`; every change through the API shows at once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

const BASE: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001";

async fn created(app: &TestApp, path: &str, body: &str) -> String {
    let r = app.post(&format!("{BASE}/{path}"), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text);
    r.field("sid")
}

async fn resolve(app: &TestApp, query: &str) -> Value {
    let r = app.get(&format!("/sipmap/v1/Resolve?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()
}

/// The decision fields of a resolution.
fn decision(v: &Value) -> Value {
    json!([v["auth_type"], v["acl_match"], v["decision"]])
}

#[tokio::test]
async fn resolve_reports_the_edge_decision() {
    let app = TestApp::spawn().await;
    let domain = app.domain("acme.sip.twilio.com").await;
    let uri = "RequestUri=sip%3Aalice%40acme.sip.twilio.com";
    let r = resolve(&app, &format!("IpAddress=10.20.3.4&{uri}")).await;
    assert_eq!(r["recognized"], true);
    assert_eq!(r["method"], "INVITE");
    assert_eq!(decision(&r), json!([null, false, "blocked"]));
    // No trunk and no upstream: nowhere to forward (480).
    assert_eq!(
        json!([r["route"], r["target_sid"], r["destination"]]),
        json!(["none", null, null])
    );

    let acl = created(&app, "SIP/IpAccessControlLists.json", "FriendlyName=office").await;
    created(
        &app,
        &format!("SIP/IpAccessControlLists/{acl}/IpAddresses.json"),
        "FriendlyName=lan&IpAddress=10.20.0.0&CidrPrefixLength=16",
    )
    .await;
    created(
        &app,
        &format!("SIP/Domains/{domain}/Auth/Calls/IpAccessControlListMappings.json"),
        &format!("IpAccessControlListSid={acl}"),
    )
    .await;
    let r = resolve(&app, &format!("IpAddress=10.20.3.4&{uri}")).await;
    assert_eq!(decision(&r), json!(["IP_ACL", true, "acl"]));
    let r = resolve(&app, &format!("IpAddress=192.0.2.1&{uri}")).await;
    assert_eq!(decision(&r), json!(["IP_ACL", false, "refused"]));

    let list = created(&app, "SIP/CredentialLists.json", "FriendlyName=phones").await;
    created(
        &app,
        &format!("SIP/Domains/{domain}/Auth/Calls/CredentialListMappings.json"),
        &format!("CredentialListSid={list}"),
    )
    .await;
    let r = resolve(&app, &format!("IpAddress=192.0.2.1&{uri}")).await;
    assert_eq!(
        decision(&r),
        json!(["IP_ACL,CREDENTIAL_LIST", false, "challenge"])
    );
    let r = resolve(&app, &format!("IpAddress=10.20.3.4&{uri}")).await;
    assert_eq!(decision(&r), json!(["IP_ACL,CREDENTIAL_LIST", true, "acl"]));

    // REGISTER: off by default; on, it needs a list mapped for registrations.
    let register = format!("IpAddress=10.20.3.4&{uri}&Method=REGISTER");
    let r = resolve(&app, &register).await;
    assert_eq!(r["method"], "REGISTER");
    assert_eq!(r["decision"], "registration_disabled");
    let r = app
        .post(
            &format!("{BASE}/SIP/Domains/{domain}.json"),
            "SipRegistration=true",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(resolve(&app, &register).await["decision"], "blocked");
    created(
        &app,
        &format!("SIP/Domains/{domain}/Auth/Registrations/CredentialListMappings.json"),
        &format!("CredentialListSid={list}"),
    )
    .await;
    assert_eq!(resolve(&app, &register).await["decision"], "challenge");
    let ack = format!("IpAddress=192.0.2.1&{uri}&Method=ACK");
    assert_eq!(resolve(&app, &ack).await["decision"], "unchallenged");
}

#[tokio::test]
async fn resolve_says_nothing_of_what_it_does_not_recognise() {
    let app = TestApp::spawn().await;
    let r = resolve(&app, "IpAddress=10.20.3.4").await;
    assert_eq!(r["recognized"], false);
    assert_eq!(decision(&r), json!([null, null, null]));
    assert_eq!(r["route"], json!(null));
    let r = app
        .get("/sipmap/v1/Resolve?IpAddress=10.20.3.4&Method=IN%20VITE")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("Method"), "{}", r.text);
}

#[tokio::test]
async fn resolve_names_the_upstream_when_no_target_takes_the_request() {
    let app = TestApp::spawn_with(|c| c.sip_upstream = Some("127.0.0.1:5999".into())).await;
    app.domain("acme.sip.twilio.com").await;
    let r = resolve(
        &app,
        "IpAddress=10.20.3.4&RequestUri=sip%3Aalice%40acme.sip.twilio.com&CallId=abc",
    )
    .await;
    assert_eq!(
        json!([
            r["route"],
            r["target_sid"],
            r["destination"],
            r["transport"]
        ]),
        json!(["upstream", null, "127.0.0.1:5999", "udp"])
    );
}
