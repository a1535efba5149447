//! The exact wire format: response bodies pinned with snapshots (SIDs, dates and the port
//! redacted), and the headers every response carries.

use insta::assert_snapshot;
use reqwest::{Method, StatusCode};

use crate::helpers::{SID, TestApp};

#[tokio::test]
async fn ip_record_lifecycle_bodies() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/v1/IpRecords",
            "FriendlyName=friendly_name&IpAddress=10.2.3.4&CidrPrefixLength=30",
        )
        .await;
    assert_snapshot!("ip_record_create", app.redact(&created));
    let sid = created.field("sid");
    let path = format!("/v1/IpRecords/{sid}");
    assert_eq!(app.get(&path).await.text, created.text);
    let updated = app.post(&path, "FriendlyName=update_name").await;
    assert_snapshot!("ip_record_update", app.redact(&updated));
    app.ip_record("IpAddress=192.168.0.1").await;
    assert_snapshot!(
        "ip_record_list_page0",
        app.redact(&app.get("/v1/IpRecords?PageSize=1").await)
    );
    let deleted = app.delete(&path).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.text, "");
    assert_snapshot!("ip_record_fetch_deleted", app.redact(&app.get(&path).await));
}

#[tokio::test]
async fn mapping_and_domain_bodies() {
    let app = TestApp::spawn().await;
    let record = app
        .ip_record("IpAddress=10.0.0.0&CidrPrefixLength=24")
        .await;
    let domain = app.domain("scranton.sip.twilio.com").await;
    let created = app
        .post(
            "/v1/SourceIpMappings",
            &format!("IpRecordSid={record}&SipDomainSid={domain}"),
        )
        .await;
    assert_snapshot!("mapping_create", app.redact(&created));
    assert_snapshot!(
        "mapping_list",
        app.redact(&app.get("/v1/SourceIpMappings").await)
    );
    let trunk = app.post("/v1/ByocTrunks", "FriendlyName=carrier").await;
    let trunk = trunk.field("sid");
    let domains = app
        .post(
            &format!("/2010-04-01/Accounts/{SID}/SIP/Domains.json"),
            &format!(
                "DomainName=dunder-mifflin.sip.twilio.com&FriendlyName=Scranton+Office\
                 &VoiceUrl=https%3A%2F%2Fdundermifflin.example.com%2Ftwilio%2Fapp.php\
                 &VoiceMethod=POST&VoiceFallbackUrl=&SipRegistration=true&Secure=true\
                 &EmergencyCallingEnabled=true&ByocTrunkSid={trunk}\
                 &EmergencyCallerSid=PNaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            ),
        )
        .await;
    assert_snapshot!("domain_create_all_fields", app.redact(&domains));
    assert_snapshot!(
        "domain_list_page",
        app.redact(
            &app.get(&format!(
                "/2010-04-01/Accounts/{SID}/SIP/Domains.json?PageSize=1"
            ))
            .await
        )
    );
}

#[tokio::test]
async fn account_bodies() {
    let app = TestApp::spawn().await;
    let created = app
        .post("/2010-04-01/Accounts.json", "FriendlyName=child")
        .await;
    let token = created.field("auth_token");
    assert_eq!(token.len(), 32);
    let mut shown = app.redact(&created);
    shown = shown.replace(&token, "[token]");
    assert_snapshot!("account_create", shown);
    assert_snapshot!(
        "account_fetch_self",
        app.redact(&app.get(&format!("/2010-04-01/Accounts/{SID}.json")).await)
    );
}

#[tokio::test]
async fn error_bodies() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, Method, &str, Option<&str>)> = vec![
        (
            "missing_ip_address",
            Method::POST,
            "/v1/IpRecords",
            Some("FriendlyName=x"),
        ),
        (
            "invalid_ip_address",
            Method::POST,
            "/v1/IpRecords",
            Some("IpAddress=10.0.0"),
        ),
        (
            "invalid_prefix",
            Method::POST,
            "/v1/IpRecords",
            Some("IpAddress=10.0.0.1&CidrPrefixLength=33"),
        ),
        (
            "missing_sip_domain_sid",
            Method::POST,
            "/v1/SourceIpMappings",
            Some("IpRecordSid=IL00000000000000000000000000000001"),
        ),
        (
            "unknown_ip_record",
            Method::POST,
            "/v1/SourceIpMappings",
            Some(
                "IpRecordSid=IL00000000000000000000000000000001&SipDomainSid=SD00000000000000000000000000000001",
            ),
        ),
        (
            "malformed_path_sid",
            Method::GET,
            "/v1/SourceIpMappings/XXnotfound",
            None,
        ),
        ("unknown_route", Method::GET, "/v1/Nothing", None),
        ("wrong_method", Method::DELETE, "/v1/IpRecords", None),
        (
            "bad_domain_suffix",
            Method::POST,
            "/2010-04-01/Accounts/AC00000000000000000000000000000001/SIP/Domains.json",
            Some("DomainName=acme.example.com"),
        ),
        (
            "unknown_domain",
            Method::GET,
            "/2010-04-01/Accounts/AC00000000000000000000000000000001/SIP/Domains/SD00000000000000000000000000000009.json",
            None,
        ),
        (
            "other_account_path",
            Method::GET,
            "/2010-04-01/Accounts/AC00000000000000000000000000000009/SIP/Domains.json",
            None,
        ),
        (
            "page_size_zero",
            Method::GET,
            "/v1/IpRecords?PageSize=0",
            None,
        ),
        (
            "bad_page_token",
            Method::GET,
            "/v1/IpRecords?PageToken=PAxyz",
            None,
        ),
    ];
    for (name, method, path, body) in cases {
        let reply = app.call(method, path, body).await;
        assert_snapshot!(name, app.redact(&reply));
    }
    let unauthorized = app
        .call_as(SID, "wrong", Method::GET, "/v1/IpRecords", None)
        .await;
    assert_eq!(
        unauthorized.headers["www-authenticate"],
        "Basic realm=\"Twilio API\""
    );
    assert_snapshot!("unauthorized", app.redact(&unauthorized));
    let big = format!("IpAddress=10.0.0.1&FriendlyName={}", "x".repeat(70_000));
    assert_snapshot!(
        "body_too_large",
        app.redact(&app.post("/v1/IpRecords", &big).await)
    );
}

#[tokio::test]
async fn every_response_carries_request_id_and_cors() {
    let app = TestApp::spawn().await;
    let replies = vec![
        app.get("/v1/IpRecords").await,
        app.get("/v1/Nope").await,
        app.call(Method::PUT, "/v1/IpRecords", Some("")).await,
        app.send(app.raw(Method::GET, "/v1/IpRecords")).await,
        app.send(app.raw(Method::OPTIONS, "/v1/IpRecords")).await,
    ];
    for r in &replies {
        let id = r.headers["twilio-request-id"].to_str().unwrap();
        assert!(id.starts_with("RQ") && id.len() == 34, "{id}");
        assert_eq!(r.headers["access-control-allow-origin"], "*");
        assert_eq!(
            r.headers["access-control-allow-methods"],
            "GET, POST, DELETE, OPTIONS"
        );
        // `*` with credentials allowed is a pair browsers refuse; cookies never cross origins.
        assert!(!r.headers.contains_key("access-control-allow-credentials"));
    }
    assert_eq!(replies[4].status, StatusCode::NO_CONTENT);
    for r in &replies[1..4] {
        assert_eq!(r.headers["content-type"], "application/json");
        let keys: Vec<_> = r.json().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["code", "message", "more_info", "status"]);
    }
}

/// The SIP security family: an access control list with an address, a credential list with a
/// credential (no password anywhere), a domain's mappings by the older and the `Auth` paths,
/// the domain's `auth_type`, and the refusals Twilio documents nothing for.
#[tokio::test]
async fn sip_security_bodies() {
    let app = TestApp::spawn().await;
    let base = format!("/2010-04-01/Accounts/{SID}/SIP");
    let domain = app.domain("secure.sip.twilio.com").await;
    let acl = app
        .post(
            &format!("{base}/IpAccessControlLists.json"),
            "FriendlyName=office",
        )
        .await;
    assert_snapshot!("acl_create", app.redact(&acl));
    let al = acl.field("sid");
    let ip = app
        .post(
            &format!("{base}/IpAccessControlLists/{al}/IpAddresses.json"),
            "FriendlyName=pbx&IpAddress=192.0.2.10&CidrPrefixLength=31",
        )
        .await;
    assert_snapshot!("ip_address_create", app.redact(&ip));
    let list = app
        .get(&format!(
            "{base}/IpAccessControlLists/{al}/IpAddresses.json"
        ))
        .await;
    assert_snapshot!("ip_address_list", app.redact(&list));
    let cl = app
        .post(
            &format!("{base}/CredentialLists.json"),
            "FriendlyName=staff",
        )
        .await;
    assert_snapshot!("credential_list_create", app.redact(&cl));
    let cl = cl.field("sid");
    let cred = app
        .post(
            &format!("{base}/CredentialLists/{cl}/Credentials.json"),
            "Username=alice&Password=IWasAtSignal2018",
        )
        .await;
    assert_snapshot!("credential_create", app.redact(&cred));
    assert!(!cred.text.contains("IWasAtSignal2018"));
    let weak = app
        .post(
            &format!("{base}/CredentialLists/{cl}/Credentials.json"),
            "Username=bob&Password=alllowercase123",
        )
        .await;
    assert_snapshot!("credential_weak_password", app.redact(&weak));
    let domain_base = format!("{base}/Domains/{domain}");
    let legacy = app
        .post(
            &format!("{domain_base}/IpAccessControlListMappings.json"),
            &format!("IpAccessControlListSid={al}"),
        )
        .await;
    assert_snapshot!("acl_mapping_create_legacy", app.redact(&legacy));
    let auth_calls = app
        .get(&format!(
            "{domain_base}/Auth/Calls/IpAccessControlListMappings.json"
        ))
        .await;
    assert_snapshot!("acl_mapping_list_auth_calls", app.redact(&auth_calls));
    let twice = app
        .post(
            &format!("{domain_base}/Auth/Calls/IpAccessControlListMappings.json"),
            &format!("IpAccessControlListSid={al}"),
        )
        .await;
    assert_snapshot!("acl_mapping_twice", app.redact(&twice));
    let registrations = app
        .post(
            &format!("{domain_base}/Auth/Registrations/CredentialListMappings.json"),
            &format!("CredentialListSid={cl}"),
        )
        .await;
    assert_snapshot!("registrations_mapping_create", app.redact(&registrations));
    app.post(
        &format!("{domain_base}/CredentialListMappings.json"),
        &format!("CredentialListSid={cl}"),
    )
    .await;
    let fetched = app.get(&format!("{domain_base}.json")).await;
    assert_eq!(fetched.json()["auth_type"], "IP_ACL,CREDENTIAL_LIST");
    let in_use = app
        .delete(&format!("{base}/IpAccessControlLists/{al}.json"))
        .await;
    assert_snapshot!("acl_delete_in_use", app.redact(&in_use));
    // Every link a list or a domain shows answers.
    for body in [&acl, &fetched] {
        for (_, uri) in body.json()["subresource_uris"].as_object().unwrap() {
            let r = app.get(uri.as_str().unwrap()).await;
            assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text);
        }
    }
}

/// BYOC: a connection policy with a target, a trunk naming it, and the refusals.
#[tokio::test]
async fn byoc_bodies() {
    let app = TestApp::spawn().await;
    let policy = app
        .post("/v1/ConnectionPolicies", "FriendlyName=carrier")
        .await;
    assert_snapshot!("policy_create", app.redact(&policy));
    let ny = policy.field("sid");
    let target = app
        .post(
            &format!("/v1/ConnectionPolicies/{ny}/Targets"),
            "Target=sip%3Asip-box.com%3A1234&Priority=1&Weight=20&FriendlyName=box",
        )
        .await;
    assert_snapshot!("target_create", app.redact(&target));
    let sips = app
        .post(
            &format!("/v1/ConnectionPolicies/{ny}/Targets"),
            "Target=sips%3Asip-box.com",
        )
        .await;
    assert_snapshot!("target_sips_refused", app.redact(&sips));
    let trunk = app
        .post(
            "/v1/ByocTrunks",
            &format!(
                "FriendlyName=trunk&VoiceUrl=https%3A%2F%2Fbyoc.example.com%2Ftwilio%2Fapp\
                 &CnamLookupEnabled=true&ConnectionPolicySid={ny}"
            ),
        )
        .await;
    assert_snapshot!("trunk_create", app.redact(&trunk));
    let missing = app
        .post(
            "/v1/ByocTrunks",
            "ConnectionPolicySid=NY00000000000000000000000000000000",
        )
        .await;
    assert_snapshot!("trunk_missing_policy", app.redact(&missing));
    let in_use = app.delete(&format!("/v1/ConnectionPolicies/{ny}")).await;
    assert_snapshot!("policy_delete_in_use", app.redact(&in_use));
    assert_snapshot!(
        "target_list",
        app.redact(
            &app.get(&format!("/v1/ConnectionPolicies/{ny}/Targets"))
                .await
        )
    );
}

/// One target more than an account may hold, whichever policy it goes to.
#[tokio::test]
async fn target_limit_per_account() {
    let app = TestApp::spawn_with(|c| c.store.limits.targets_per_account = 2).await;
    let mut last = None;
    for n in 0..3 {
        let ny = app
            .post("/v1/ConnectionPolicies", "FriendlyName=carrier")
            .await
            .field("sid");
        last = Some(
            app.post(
                &format!("/v1/ConnectionPolicies/{ny}/Targets"),
                &format!("Target=sip%3At{n}.example.com"),
            )
            .await,
        );
    }
    let third = last.unwrap();
    assert_eq!(third.status, StatusCode::BAD_REQUEST);
    assert_snapshot!("target_limit_per_account", app.redact(&third));
}

#[tokio::test]
async fn call_bodies() {
    use crate::calls::{MARCH_1, completed, event, notification, ringing, runtime_store};
    use sipmap::domain::{CallStatus, Direction};
    let app = TestApp::spawn().await;
    let s = runtime_store(&app).await;
    let account = sipmap::sid::AccountSid::parse(SID).unwrap();
    let parent = completed(ringing(&account, MARCH_1, "+14155550100"));
    let mut child = ringing(&account, MARCH_1 + 1_000, "sip:bob@192.0.2.20");
    child.parent_call_sid = Some(parent.sid.clone());
    child.direction = Direction::OutboundDial;
    child.set_status(CallStatus::Busy, MARCH_1 + 4_000).unwrap();
    for c in [&parent, &child] {
        s.save_call(c).await.unwrap();
    }
    s.add_call_event(&parent.sid, &event(&parent, MARCH_1))
        .await
        .unwrap();
    let note = notification(&parent, MARCH_1 + 500);
    s.add_notification(&note).await.unwrap();
    let base = format!("/2010-04-01/Accounts/{SID}");
    let fetched = app.get(&format!("{base}/Calls/{}.json", parent.sid)).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    // The dates the redaction hides: start, end, and the duration from the answer.
    let body = fetched.json();
    assert_eq!(body["start_time"], "Fri, 01 Mar 2024 00:00:00 +0000");
    assert_eq!(body["end_time"], "Fri, 01 Mar 2024 00:01:02 +0000");
    assert_eq!(body["duration"], "60");
    assert_snapshot!("call_fetch", app.redact(&fetched));
    let list = app.get(&format!("{base}/Calls.json?Status=busy")).await;
    assert_snapshot!("call_list_busy", app.redact(&list));
    let events = format!("{base}/Calls/{}/Events.json", parent.sid);
    assert_snapshot!("call_events", app.redact(&app.get(&events).await));
    let notes = format!("{base}/Calls/{}/Notifications.json", parent.sid);
    assert_snapshot!("call_notifications", app.redact(&app.get(&notes).await));
    let one = format!(
        "{base}/Calls/{}/Notifications/{}.json",
        parent.sid, note.sid
    );
    assert_snapshot!("call_notification_fetch", app.redact(&app.get(&one).await));
    let of_account = format!("{base}/Notifications/{}.json", note.sid);
    let fetched = app.get(&of_account).await;
    assert_eq!(fetched.json()["uri"], of_account);
    assert_snapshot!("notification_fetch", app.redact(&fetched));
}
