//! Monitor Events, the audit log: each API write records its changes as events in its own
//! transaction (both back ends), a refused write records none, writes outside the API record
//! none, the list's filters and paging, tenancy, the retention; and over HTTP, the wire form,
//! the caller's identity and address, secrets never shown, and 404s for other accounts' events.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;
use sipmap::clock::FixedClock;
use sipmap::domain::{
    Actor, Event, EventFilter, EventRetention, IpRecordPatch, Limits, SipDomainPatch,
};
use sipmap::sid::{AccountSid, EventSid};
use sipmap::store::{Cursor, PageQuery, Store, StoreOptions};

use crate::helpers::{SID, TOKEN, TestApp};
use crate::storage::{P, TestDb, account, domain, record};

fn all() -> PageQuery {
    PageQuery {
        limit: 1000,
        cursor: Cursor::Offset(0),
    }
}

fn as_caller(s: &Store, account: &AccountSid) -> Store {
    s.acting(Actor {
        sid: account.as_str().to_owned(),
        ip: Some("192.0.2.7".into()),
    })
}

async fn events(s: &Store, account: &AccountSid, filter: &EventFilter) -> Vec<Event> {
    s.list_events(account, filter, &all())
        .await
        .expect("listed")
}

fn data(e: &Event) -> Value {
    serde_json::from_str(&e.event_data).expect("event data is JSON")
}

crate::on_both_backends!(
    the_api_records_who_changed_what_and_never_a_secret,
    each_write_records_what_it_changed,
    a_refused_write_and_a_write_outside_the_api_record_nothing,
    events_are_filtered_paged_and_kept_in_their_account,
    the_retention_bounds_each_accounts_log,
);

async fn each_write_records_what_it_changed(db: &TestDb) {
    let store = db.open().await;
    let a = account(store.as_ref(), None).await;
    let s = as_caller(&store, &a);
    let d = domain(&s, &a, "audit.sip.twilio.com").await.unwrap();
    let patch = SipDomainPatch::parse(
        &P(vec![("FriendlyName", "front door".into())]),
        "sip.twilio.com",
        false,
    )
    .unwrap();
    s.update_sip_domain(&a, &d, patch).await.unwrap();
    s.delete_sip_domain(&a, &d).await.unwrap();
    let got = events(&s, &a, &EventFilter::default()).await;
    let types: Vec<&str> = got.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "sip-domain.created",
            "sip-domain.updated",
            "sip-domain.deleted"
        ]
    );
    for e in &got {
        assert_eq!(e.resource_sid, d.as_str());
        assert_eq!(e.resource_type, "sip-domain");
        assert_eq!(e.account_sid, a);
        assert_eq!(e.actor_sid.as_deref(), Some(a.as_str()));
        assert_eq!(e.actor_type.as_deref(), Some("account"));
        assert_eq!(e.source, "api");
        assert_eq!(e.source_ip_address.as_deref(), Some("192.0.2.7"));
    }
    assert_eq!(data(&got[0])["domain_name"], "audit.sip.twilio.com");
    assert_eq!(
        data(&got[1]),
        serde_json::json!({"friendly_name": {"previous": null, "updated": "front door"}}),
        "an update shows only what changed"
    );
    let fetched = s.get_event(&a, &got[1].sid).await.unwrap();
    assert_eq!(fetched.as_ref(), Some(&got[1]));
}

async fn a_refused_write_and_a_write_outside_the_api_record_nothing(db: &TestDb) {
    let store = db.open().await;
    let a = account(store.as_ref(), None).await;
    let s = as_caller(&store, &a);
    domain(&s, &a, "taken.sip.twilio.com").await.unwrap();
    let before = events(&s, &a, &EventFilter::default()).await.len();
    assert!(domain(&s, &a, "TAKEN.sip.twilio.com").await.is_err());
    let missing = sipmap::sid::IpRecordSid::generate();
    let rename = IpRecordPatch {
        friendly_name: Some("x".into()),
    };
    assert!(s.update_ip_record(&a, &missing, rename).await.is_err());
    assert_eq!(
        events(&s, &a, &EventFilter::default()).await.len(),
        before,
        "a refused write leaves no event"
    );
    // The same store, acting for no one (the SIP side, the call runtime, commands).
    store
        .create_ip_record(&a, record("192.0.2.0", 24))
        .await
        .unwrap();
    assert_eq!(events(&s, &a, &EventFilter::default()).await.len(), before);
}

async fn events_are_filtered_paged_and_kept_in_their_account(db: &TestDb) {
    let store = db.open().await;
    let (a, b) = (
        account(store.as_ref(), None).await,
        account(store.as_ref(), None).await,
    );
    let s = as_caller(&store, &a);
    let r1 = s
        .create_ip_record(&a, record("192.0.2.0", 24))
        .await
        .unwrap();
    let r2 = s
        .create_ip_record(&a, record("198.51.100.0", 24))
        .await
        .unwrap();
    s.delete_ip_record(&a, &r1.sid).await.unwrap();
    let key = s.acting(Actor {
        sid: format!("SK{}", "0".repeat(32)),
        ip: Some("203.0.113.9".into()),
    });
    key.delete_ip_record(&a, &r2.sid).await.unwrap();
    as_caller(&store, &b)
        .create_ip_record(&b, record("192.0.2.0", 24))
        .await
        .unwrap();
    let of = |pairs: Vec<(&'static str, String)>| EventFilter::parse(&P(pairs)).unwrap();
    let every = events(&s, &a, &EventFilter::default()).await;
    assert_eq!(every.len(), 4, "b's event is not a's");
    let by_resource = events(&s, &a, &of(vec![("ResourceSid", r1.sid.to_string())])).await;
    assert_eq!(by_resource.len(), 2);
    let deleted = of(vec![("EventType", "ip-record.deleted".into())]);
    assert_eq!(events(&s, &a, &deleted).await.len(), 2);
    let by_key = of(vec![("ActorSid", format!("SK{}", "0".repeat(32)))]);
    let keyed = events(&s, &a, &by_key).await;
    assert_eq!(keyed.len(), 1);
    assert_eq!(keyed[0].actor_type.as_deref(), Some("api-key"));
    let by_ip = of(vec![("SourceIpAddress", "203.0.113.9".into())]);
    assert_eq!(events(&s, &a, &by_ip).await, keyed);
    let future = of(vec![("StartDate", "2999-01-01".into())]);
    assert!(events(&s, &a, &future).await.is_empty());
    let past = of(vec![("EndDate", "2000-01-01".into())]);
    assert!(events(&s, &a, &past).await.is_empty());
    let first = PageQuery {
        limit: 2,
        cursor: Cursor::Offset(0),
    };
    let page = s.list_events(&a, &EventFilter::default(), &first).await;
    let page = page.unwrap();
    let after = PageQuery {
        limit: 10,
        cursor: Cursor::After(page[1].sid.to_string()),
    };
    let rest = s.list_events(&a, &EventFilter::default(), &after).await;
    let walked: Vec<_> = page.into_iter().chain(rest.unwrap()).collect();
    assert_eq!(walked, every, "pages walk the log in order");
    let bs = events(&s, &b, &EventFilter::default()).await;
    assert_eq!(s.get_event(&a, &bs[0].sid).await.unwrap(), None);
    let unknown = EventSid::generate();
    assert_eq!(s.get_event(&a, &unknown).await.unwrap(), None);
}

async fn the_retention_bounds_each_accounts_log(db: &TestDb) {
    let clock = Arc::new(FixedClock::at_millis(1_700_000_000_000));
    let options = StoreOptions {
        clock: clock.clone(),
        limits: Limits {
            events: EventRetention {
                max_age_secs: 60,
                per_account: 3,
            },
            ..Limits::default()
        },
        ..StoreOptions::default()
    };
    let store = db.open_with(&options).await;
    let a = account(store.as_ref(), None).await;
    let s = as_caller(&store, &a);
    let mut records = Vec::new();
    for i in 0..5u8 {
        clock.set_millis(1_700_000_000_000 + i64::from(i));
        let r = s.create_ip_record(&a, record(&format!("10.0.{i}.0"), 24));
        records.push(r.await.unwrap().sid);
    }
    let kept = events(&s, &a, &EventFilter::default()).await;
    let kept: Vec<&str> = kept.iter().map(|e| e.resource_sid.as_str()).collect();
    let newest: Vec<&str> = records[2..].iter().map(|r| r.as_str()).collect();
    assert_eq!(kept, newest, "the newest three are kept");
    clock.set_millis(1_700_000_000_000 + 61_000);
    s.delete_ip_record(&a, &records[4]).await.unwrap();
    let kept = events(&s, &a, &EventFilter::default()).await;
    assert_eq!(kept.len(), 1, "the older ones are past the age bound");
    assert_eq!(kept[0].event_type, "ip-record.deleted");
}

/// The test server on `db` (the tests' server key, which PostgreSQL needs).
async fn server(db: &TestDb) -> TestApp {
    let url = db.url.clone();
    TestApp::spawn_with(move |c| {
        c.database_url = url;
        c.store.key = Some(crate::storage::test_key());
    })
    .await
}

async fn the_api_records_who_changed_what_and_never_a_secret(db: &TestDb) {
    let app = server(db).await;
    let lists = format!("/2010-04-01/Accounts/{SID}/SIP/CredentialLists.json");
    let list = app.post(&lists, "FriendlyName=staff").await.field("sid");
    let creds = format!("/2010-04-01/Accounts/{SID}/SIP/CredentialLists/{list}/Credentials");
    let password = "Sup3rSecretPassw0rd";
    let made = app
        .post(
            &format!("{creds}.json"),
            &format!("Username=alice&Password={password}"),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let cred = made.field("sid");
    let changed = app
        .post(
            &format!("{creds}/{cred}.json"),
            "Password=An0therSecretPassw0rd",
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let listed = app.get(&format!("/v1/Events?ResourceSid={cred}")).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert!(!listed.text.contains(password), "{}", listed.text);
    assert!(!listed.text.contains("An0therSecret"), "{}", listed.text);
    let body = listed.json();
    let got = body["events"].as_array().expect("events").clone();
    assert_eq!(got.len(), 2, "{}", listed.text);
    let (created, updated) = (&got[0], &got[1]);
    assert_eq!(created["event_type"], "sip-credential.created");
    assert_eq!(created["event_data"]["username"], "alice");
    assert_eq!(created["event_data"]["password"], "[redacted]");
    assert_eq!(updated["event_type"], "sip-credential.updated");
    assert_eq!(
        updated["event_data"],
        serde_json::json!({"password": "changed", "credential_list_sid": list})
    );
    for e in [created, updated] {
        assert_eq!(e["account_sid"], SID);
        assert_eq!(e["actor_sid"], SID);
        assert_eq!(e["actor_type"], "account");
        assert_eq!(e["resource_type"], "sip-credential");
        assert_eq!(e["source"], "api");
        assert_eq!(e["source_ip_address"], "127.0.0.1");
        let resource = e["links"]["resource"].as_str().unwrap();
        assert!(
            resource.ends_with(&format!("{creds}/{cred}.json")),
            "{resource}"
        );
        let sid = e["sid"].as_str().unwrap();
        assert!(
            e["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/v1/Events/{sid}"))
        );
        let fetched = app.get(&format!("/v1/Events/{sid}")).await;
        assert_eq!(&fetched.json(), e);
    }
    assert!(
        body["meta"]["url"]
            .as_str()
            .unwrap()
            .contains(&format!("ResourceSid={cred}&")),
        "page URLs repeat the filters: {}",
        body["meta"]
    );
    // An API key acts as itself; a subaccount sees its own log only, and another account's
    // event is its 404.
    let keys = format!("/2010-04-01/Accounts/{SID}/Keys.json");
    let key = app.post(&keys, "FriendlyName=ci").await;
    let (key_sid, secret) = (key.field("sid"), key.field("secret"));
    let domains = format!("/2010-04-01/Accounts/{SID}/SIP/Domains.json");
    let r = app
        .call_as(
            &key_sid,
            &secret,
            reqwest::Method::POST,
            &domains,
            Some("DomainName=keyed.sip.twilio.com"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let by_key = app
        .get(&format!("/v1/Events?ActorSid={key_sid}"))
        .await
        .json();
    let by_key = by_key["events"].as_array().unwrap().clone();
    assert_eq!(by_key.len(), 1);
    assert_eq!(by_key[0]["actor_type"], "api-key");
    assert_eq!(by_key[0]["event_type"], "sip-domain.created");
    let (sub, sub_token) = app.subaccount("tenant").await;
    let own = app
        .call_as(&sub, &sub_token, reqwest::Method::GET, "/v1/Events", None)
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(
        own.json()["events"].as_array().unwrap().len(),
        0,
        "{}",
        own.text
    );
    let theirs = by_key[0]["sid"].as_str().unwrap();
    let stranger = app
        .call_as(
            &sub,
            &sub_token,
            reqwest::Method::GET,
            &format!("/v1/Events/{theirs}"),
            None,
        )
        .await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND, "{}", stranger.text);
    let created_sub = app.get("/v1/Events?EventType=account.created").await.json();
    assert_eq!(created_sub["events"][0]["resource_sid"], sub.as_str());
    let bad = app.get("/v1/Events?StartDate=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let anonymous = app.send(app.raw(reqwest::Method::GET, "/v1/Events")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let _ = TOKEN;
}

/// The wire form of an event and of the list, as the SDKs read them.
#[tokio::test]
async fn event_bodies() {
    let app = TestApp::spawn().await;
    let made = app
        .post("/v1/IpRecords", "IpAddress=192.0.2.0&CidrPrefixLength=24")
        .await;
    let sid = made.field("sid");
    app.post(&format!("/v1/IpRecords/{sid}"), "FriendlyName=office")
        .await;
    let listed = app.get("/v1/Events?PageSize=1").await;
    insta::assert_snapshot!("event_list", app.redact(&listed));
    let next = listed.json()["meta"]["next_page_url"]
        .as_str()
        .expect("a second page")
        .replace(&app.base, "");
    let second = app.get(&next).await;
    let event = second.json()["events"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let fetched = app.get(&format!("/v1/Events/{event}")).await;
    insta::assert_snapshot!("event_fetch_update", app.redact(&fetched));
    let missing = app.get(&format!("/v1/Events/AE{}", "0".repeat(32))).await;
    insta::assert_snapshot!("event_fetch_missing", app.redact(&missing));
}
