//! Monitor Alerts: each notification of a call is also an alert of its account (same SID, same
//! write, both back ends), kept when the call's record goes; the list's filters and paging,
//! tenancy, the retention; and over HTTP, the wire form, scoping and 404s, no secret shown.

use std::sync::Arc;

use reqwest::StatusCode;
use sipmap::clock::FixedClock;
use sipmap::domain::{Alert, AlertFilter, AlertRetention, CallRetention, Limits, LogLevel};
use sipmap::sid::{AccountSid, NotificationSid};
use sipmap::store::{Cursor, PageQuery, Store, StoreOptions};

use crate::calls::{MARCH_1, completed, notification, ringing, runtime_store};
use crate::helpers::{SID, TOKEN, TestApp};
use crate::storage::{P, TestDb, account};

fn all() -> PageQuery {
    PageQuery {
        limit: 1000,
        cursor: Cursor::Offset(0),
    }
}

async fn alerts(s: &Store, account: &AccountSid, filter: &AlertFilter) -> Vec<Alert> {
    s.list_alerts(account, filter, &all())
        .await
        .expect("listed")
}

fn filter(pairs: &[(&'static str, &str)]) -> AlertFilter {
    let p = P(pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
    AlertFilter::parse(&p).expect("valid filters")
}

/// A store on `db` at `clock`, keeping every call, with `alerts` as the alerts' retention.
async fn open(db: &TestDb, clock: Arc<FixedClock>, alerts: AlertRetention) -> Arc<Store> {
    let options = StoreOptions {
        clock,
        limits: Limits {
            calls: CallRetention {
                max_age_secs: 0,
                per_account: 0,
            },
            alerts,
            ..Limits::default()
        },
        ..StoreOptions::default()
    };
    db.open_with(&options).await
}

crate::on_both_backends!(
    each_notification_is_an_alert_of_its_account,
    the_retention_bounds_each_accounts_alerts,
    a_batch_of_alerts_inserts_new_ones_and_rewrites_known_ones,
);

async fn each_notification_is_an_alert_of_its_account(db: &TestDb) {
    let clock = Arc::new(FixedClock::at_millis(MARCH_1 + 5_000));
    let s = open(db, clock, AlertRetention::default()).await;
    let (a, b) = (account(&s, None).await, account(&s, None).await);
    let call = ringing(&a, MARCH_1, "sip:bob@x");
    s.save_call(&call).await.unwrap();
    let warning = notification(&call, MARCH_1);
    let mut error = notification(&call, MARCH_1 + 1);
    error.error_code = 11200;
    error.log = LogLevel::Error;
    error.message_text = "HTTP retrieval failure".into();
    for n in [&warning, &error] {
        s.add_notification(n).await.unwrap();
    }
    let got = alerts(&s, &a, &AlertFilter::default()).await;
    let sids: Vec<&NotificationSid> = got.iter().map(|x| &x.sid).collect();
    assert_eq!(sids, [&warning.sid, &error.sid], "same SIDs, oldest first");
    assert_eq!(got[0], Alert::of_notification(&warning, MARCH_1 + 5_000));
    assert_eq!(got[1].resource_sid.as_deref(), Some(call.sid.as_str()));
    assert_eq!(
        (got[1].error_code, got[1].log_level.as_str()),
        (11200, "error")
    );
    // Filters: the level, and dates on when it was stored.
    let errors = alerts(&s, &a, &filter(&[("LogLevel", "error")])).await;
    assert_eq!(errors, [got[1].clone()]);
    let debug = alerts(&s, &a, &filter(&[("LogLevel", "debug")])).await;
    assert!(debug.is_empty());
    let that_day = filter(&[("StartDate", "2024-03-01"), ("EndDate", "2024-03-01")]);
    assert_eq!(alerts(&s, &a, &that_day).await.len(), 2);
    let next_day = filter(&[("StartDate", "2024-03-02")]);
    assert!(alerts(&s, &a, &next_day).await.is_empty());
    let before = filter(&[("EndDate", "2024-02-29")]);
    assert!(alerts(&s, &a, &before).await.is_empty());
    // Paging walks them in order.
    let first = PageQuery {
        limit: 1,
        cursor: Cursor::Offset(0),
    };
    let page = s.list_alerts(&a, &AlertFilter::default(), &first).await;
    let after = PageQuery {
        limit: 1,
        cursor: Cursor::After(warning.sid.as_str().to_owned()),
    };
    let rest = s.list_alerts(&a, &AlertFilter::default(), &after).await;
    let walked: Vec<Alert> = page.unwrap().into_iter().chain(rest.unwrap()).collect();
    assert_eq!(walked, got);
    // Another account sees none of them, by list or by SID.
    assert!(alerts(&s, &b, &AlertFilter::default()).await.is_empty());
    assert_eq!(s.get_alert(&b, &error.sid).await.unwrap(), None);
    assert_eq!(
        s.get_alert(&a, &error.sid).await.unwrap(),
        Some(got[1].clone())
    );
    // The alerts outlive the call's record.
    let done = completed(call);
    s.save_call(&done).await.unwrap();
    s.delete_call(&a, &done.sid).await.unwrap();
    assert_eq!(alerts(&s, &a, &AlertFilter::default()).await, got);
}

async fn the_retention_bounds_each_accounts_alerts(db: &TestDb) {
    let clock = Arc::new(FixedClock::at_millis(MARCH_1));
    let retention = AlertRetention {
        max_age_secs: 60,
        per_account: 3,
    };
    let s = open(db, clock.clone(), retention).await;
    let (a, b) = (account(&s, None).await, account(&s, None).await);
    let call = ringing(&a, MARCH_1, "sip:bob@x");
    let theirs = ringing(&b, MARCH_1, "sip:bob@x");
    s.save_call(&call).await.unwrap();
    s.save_call(&theirs).await.unwrap();
    s.add_notification(&notification(&theirs, MARCH_1))
        .await
        .unwrap();
    let mut made = Vec::new();
    for i in 0..5 {
        clock.set_millis(MARCH_1 + i);
        let n = notification(&call, MARCH_1 + i);
        s.add_notification(&n).await.unwrap();
        made.push(n.sid);
    }
    let kept = alerts(&s, &a, &AlertFilter::default()).await;
    let kept: Vec<&NotificationSid> = kept.iter().map(|x| &x.sid).collect();
    let newest: Vec<&NotificationSid> = made[2..].iter().collect();
    assert_eq!(kept, newest, "the newest three are kept");
    assert_eq!(alerts(&s, &b, &AlertFilter::default()).await.len(), 1);
    clock.set_millis(MARCH_1 + 61_000);
    let late = notification(&call, MARCH_1 + 61_000);
    s.add_notification(&late).await.unwrap();
    let kept = alerts(&s, &a, &AlertFilter::default()).await;
    assert_eq!(kept.len(), 1, "the older ones are past the age bound");
    assert_eq!(kept[0].sid, late.sid);
    // The call's own notifications are the calls' retention's business, not the alerts'.
    let notes = s.list_notifications(&a, &Default::default(), &all()).await;
    assert_eq!(notes.unwrap().len(), 6);
}

/// Over HTTP: the wire form the SDKs read (the instance's fields on fetch only), the account's
/// alerts only, another account's alert a 404, Twilio's filters checked.
#[tokio::test]
async fn alerts_over_http_are_the_callers_and_hold_no_secret() {
    let app = TestApp::spawn().await;
    let s = runtime_store(&app).await;
    let mine = AccountSid::parse(SID).unwrap();
    let (sub, sub_token) = app.subaccount("tenant").await;
    let sub_sid = AccountSid::parse(&sub).unwrap();
    let call = ringing(&mine, MARCH_1, "sip:bob@x");
    let theirs = ringing(&sub_sid, MARCH_1, "sip:bob@x");
    s.save_call(&call).await.unwrap();
    s.save_call(&theirs).await.unwrap();
    let mut note = notification(&call, MARCH_1);
    note.error_code = 11200;
    note.log = LogLevel::Error;
    s.add_notification(&note).await.unwrap();
    let their_note = notification(&theirs, MARCH_1);
    s.add_notification(&their_note).await.unwrap();

    let listed = app.get("/v1/Alerts").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert!(!listed.text.contains(TOKEN));
    let body = listed.json();
    let got = body["alerts"].as_array().expect("alerts").clone();
    assert_eq!(got.len(), 1, "{}", listed.text);
    let a = &got[0];
    assert_eq!(a["sid"], note.sid.as_str());
    assert_eq!(a["account_sid"], SID);
    assert_eq!(a["error_code"], "11200");
    assert_eq!(a["log_level"], "error");
    assert_eq!(a["alert_text"], note.message_text.as_str());
    assert_eq!(a["api_version"], "2010-04-01");
    assert_eq!(a["resource_sid"], call.sid.as_str());
    assert_eq!(a["request_url"], "https://app.example.com/voice");
    assert_eq!(a["request_method"], "POST");
    assert_eq!(a["more_info"], "https://www.twilio.com/docs/errors/11200");
    assert_eq!(a["date_generated"], "2024-03-01T00:00:00Z");
    assert!(a.get("request_variables").is_none(), "fetch only: {a}");
    let url = a["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/v1/Alerts/{}", note.sid)), "{url}");
    assert_eq!(body["meta"]["key"], "alerts");

    let fetched = app.get(&format!("/v1/Alerts/{}", note.sid)).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    let f = fetched.json();
    assert_eq!(f["request_variables"], note.request_variables.as_str());
    assert!(f["response_body"].is_null() && f["request_headers"].is_null());
    assert_eq!(f["resource_sid"], a["resource_sid"]);

    let warnings = app.get("/v1/Alerts?LogLevel=warning").await.json();
    assert_eq!(warnings["alerts"], serde_json::json!([]));
    assert!(
        warnings["meta"]["url"]
            .as_str()
            .unwrap()
            .contains("LogLevel=warning&"),
        "page URLs repeat the filters: {}",
        warnings["meta"]
    );
    for bad in ["LogLevel=fatal", "StartDate=yesterday", "PageSize=0"] {
        let r = app.get(&format!("/v1/Alerts?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    // The subaccount sees its own; the parent's is its 404, like a SID that never was.
    let own = app
        .call_as(&sub, &sub_token, reqwest::Method::GET, "/v1/Alerts", None)
        .await;
    let own = own.json()["alerts"].as_array().unwrap().clone();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["sid"], their_note.sid.as_str());
    let get_as_sub = |path: String| {
        let (sub, token) = (sub.clone(), sub_token.clone());
        let app = &app;
        async move {
            app.call_as(&sub, &token, reqwest::Method::GET, &path, None)
                .await
        }
    };
    let stranger = get_as_sub(format!("/v1/Alerts/{}", note.sid)).await;
    let never = get_as_sub(format!("/v1/Alerts/NO{}", "0".repeat(32))).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND, "{}", stranger.text);
    assert_eq!(never.status, StatusCode::NOT_FOUND);
    let malformed = app.get("/v1/Alerts/AE0").await;
    assert_eq!(
        malformed.status,
        StatusCode::NOT_FOUND,
        "{}",
        malformed.text
    );
    let anonymous = app.send(app.raw(reqwest::Method::GET, "/v1/Alerts")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// The wire form of an alert, of the list, and of a missing alert, as the SDKs read them.
#[tokio::test]
async fn alert_bodies() {
    let app = TestApp::spawn().await;
    let s = runtime_store(&app).await;
    let call = ringing(&AccountSid::parse(SID).unwrap(), MARCH_1, "sip:bob@x");
    s.save_call(&call).await.unwrap();
    for at in [MARCH_1, MARCH_1 + 1] {
        s.add_notification(&notification(&call, at)).await.unwrap();
    }
    let listed = app.get("/v1/Alerts?PageSize=1").await;
    insta::assert_snapshot!("alert_list", app.redact(&listed));
    let sid = listed.json()["alerts"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let fetched = app.get(&format!("/v1/Alerts/{sid}")).await;
    insta::assert_snapshot!("alert_fetch", app.redact(&fetched));
    let missing = app.get(&format!("/v1/Alerts/NO{}", "0".repeat(32))).await;
    insta::assert_snapshot!("alert_fetch_missing", app.redact(&missing));
}

/// An aggregated alert (the SIP edge's refusals) as `put_alerts` writes it.
fn counted(account: &AccountSid, sid: &NotificationSid, count: u32, at_ms: i64) -> Alert {
    Alert {
        sid: sid.clone(),
        account_sid: account.clone(),
        error_code: 32201,
        log_level: "error".into(),
        alert_text: format!("Source IP address not in ACL: {count} requests"),
        api_version: "2010-04-01".into(),
        request_method: None,
        request_url: None,
        request_variables: Some(format!("Count={count}")),
        resource_sid: None,
        generated_ms: at_ms,
        created_ms: at_ms,
    }
}

async fn a_batch_of_alerts_inserts_new_ones_and_rewrites_known_ones(db: &TestDb) {
    let clock = Arc::new(FixedClock::at_millis(MARCH_1));
    let retention = AlertRetention {
        max_age_secs: 0,
        per_account: 2,
    };
    let s = open(db, clock, retention).await;
    let (a, b) = (account(&s, None).await, account(&s, None).await);
    let (first, second, third) = (
        NotificationSid::generate_at(MARCH_1),
        NotificationSid::generate_at(MARCH_1 + 1),
        NotificationSid::generate_at(MARCH_1 + 2),
    );
    s.put_alerts(vec![
        counted(&a, &first, 1, MARCH_1),
        counted(&b, &second, 7, MARCH_1),
    ])
    .await
    .unwrap();
    s.put_alerts(vec![counted(&a, &first, 1000, MARCH_1)])
        .await
        .unwrap();
    let got = alerts(&s, &a, &AlertFilter::default()).await;
    assert_eq!(
        got,
        [counted(&a, &first, 1000, MARCH_1)],
        "rewritten, not added"
    );
    // Another account's SID rewrites nothing of it, and adds nothing.
    s.put_alerts(vec![counted(&a, &second, 5, MARCH_1)])
        .await
        .unwrap();
    let theirs = alerts(&s, &b, &AlertFilter::default()).await;
    assert_eq!(theirs, [counted(&b, &second, 7, MARCH_1)]);
    assert_eq!(alerts(&s, &a, &AlertFilter::default()).await.len(), 1);
    // The count bound holds for batches too: a's third alert makes room.
    let fourth = NotificationSid::generate_at(MARCH_1 + 3);
    s.put_alerts(vec![
        counted(&a, &third, 1, MARCH_1),
        counted(&a, &fourth, 1, MARCH_1),
    ])
    .await
    .unwrap();
    let kept: Vec<NotificationSid> = alerts(&s, &a, &AlertFilter::default())
        .await
        .into_iter()
        .map(|x| x.sid)
        .collect();
    assert_eq!(kept, [third, fourth]);
}
