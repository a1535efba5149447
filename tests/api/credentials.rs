//! The credential cache never trades correctness: on SQLite and on PostgreSQL, a deleted key,
//! a changed auth token, a suspended or a closed account is refused at the very next request on
//! the node that wrote, and on the other nodes of a cluster once the change feed has told them
//! (within its delay, waited for here without any timing assertion).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sipmap::auth_token::AuthToken;
use sipmap::domain::NewAccount;
use sipmap::sid::AccountSid;
use sipmap::store::Store;

use crate::helpers::{Reply, SID, TestApp};
use crate::storage::TestDb;

/// A server on `db` (SQLite or a PostgreSQL schema), with the key every test node shares.
async fn node(db: &TestDb) -> TestApp {
    TestApp::spawn_with(|c| {
        c.database_url = db.url.clone();
        c.store.key = Some(crate::storage::test_key());
        c.sip_listen = None;
    })
    .await
}

/// A request to a Voice v1 list as `user`:`password`.
async fn as_user(app: &TestApp, user: &str, password: &str) -> Reply {
    app.call_as(user, password, Method::GET, "/v1/IpRecords", None)
        .await
}

fn refused(r: &Reply) -> bool {
    r.status == StatusCode::UNAUTHORIZED && r.json()["code"].as_u64() == Some(20003)
}

/// Waits, for at most 20 s, until `user` is refused on `app`.
async fn refused_soon(app: &TestApp, user: &str, password: &str) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r = as_user(app, user, password).await;
        if refused(&r) {
            return;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(Instant::now() < until, "{user} still accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn new_key(app: &TestApp, account: &str) -> (String, String) {
    let r = app
        .post(
            &format!("/2010-04-01/Accounts/{account}/Keys.json"),
            "FriendlyName=k",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (r.field("sid"), r.field("secret"))
}

async fn set_status(app: &TestApp, account: &str, status: &str) {
    let path = format!("/2010-04-01/Accounts/{account}.json");
    let r = app.post(&path, &format!("Status={status}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Used twice, so that the second use comes from the cache where there is one.
async fn accepted(app: &TestApp, user: &str, password: &str) {
    for _ in 0..2 {
        let r = as_user(app, user, password).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
}

crate::on_both_backends!(
    the_next_request_after_a_credential_change_is_refused_where_it_was_written,
    a_changed_auth_token_applies_to_the_next_check,
);

async fn the_next_request_after_a_credential_change_is_refused_where_it_was_written(db: &TestDb) {
    let app = node(db).await;
    // A deleted key.
    let (key, secret) = new_key(&app, SID).await;
    accepted(&app, &key, &secret).await;
    let path = format!("/2010-04-01/Accounts/{SID}/Keys/{key}.json");
    assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert!(refused(&as_user(&app, &key, &secret).await));
    // A wrong secret for a cached key, and a wrong token for a cached account.
    let (key, secret) = new_key(&app, SID).await;
    accepted(&app, &key, &secret).await;
    assert!(refused(&as_user(&app, &key, "not-the-secret").await));
    let (sub, token) = app.subaccount("child").await;
    let (sub_key, sub_secret) = new_key(&app, &sub).await;
    accepted(&app, &sub, &token).await;
    accepted(&app, &sub_key, &sub_secret).await;
    assert!(refused(&as_user(&app, &sub, "not-the-token").await));
    // A suspended account, and its keys; then active again; then closed.
    set_status(&app, &sub, "suspended").await;
    assert!(refused(&as_user(&app, &sub, &token).await));
    assert!(refused(&as_user(&app, &sub_key, &sub_secret).await));
    set_status(&app, &sub, "active").await;
    accepted(&app, &sub, &token).await;
    accepted(&app, &sub_key, &sub_secret).await;
    set_status(&app, &sub, "closed").await;
    assert!(refused(&as_user(&app, &sub, &token).await));
    assert!(refused(&as_user(&app, &sub_key, &sub_secret).await));
    // The other key is untouched by all of it.
    accepted(&app, &key, &secret).await;
    drop(app);
}

/// An account's auth token as storage's authentication sees it: whether `token` is it.
async fn token_is(store: &Store, sid: &AccountSid, token: &AuthToken) -> bool {
    let (_, hash) = store
        .account_credentials(sid)
        .await
        .expect("read")
        .expect("the account exists");
    hash.verify(token.expose().as_bytes())
}

async fn a_changed_auth_token_applies_to_the_next_check(db: &TestDb) {
    let store = db.open().await;
    let first = AuthToken::generate();
    let new = NewAccount {
        owner_sid: None,
        friendly_name: Some("rotating".into()),
        token: first.clone(),
    };
    let sid = store.create_account(new).await.expect("create").sid;
    // A second node, on PostgreSQL (SQLite has one).
    let other = match store.is_shared() {
        true => Some(db.open().await),
        false => None,
    };
    for s in std::iter::once(&store).chain(other.as_ref()) {
        assert!(token_is(s, &sid, &first).await);
        assert!(token_is(s, &sid, &first).await, "cached");
    }
    // A node started with another TWILIO_AUTH_TOKEN sets it.
    let second = AuthToken::generate();
    store
        .ensure_account(&sid, "rotating", &second)
        .await
        .expect("ensure");
    assert!(token_is(&store, &sid, &second).await);
    assert!(!token_is(&store, &sid, &first).await);
    if let Some(other) = &other {
        let until = Instant::now() + Duration::from_secs(20);
        while !token_is(other, &sid, &second).await {
            assert!(Instant::now() < until, "the other node keeps the old token");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!token_is(other, &sid, &first).await);
    }
}

/// A cluster of two nodes: what one writes is refused on it at once, and on the other once the
/// change feed tells it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_credential_change_reaches_the_other_nodes_of_a_cluster() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (one, two) = (node(&db).await, node(&db).await);
    let (key, secret) = new_key(&one, SID).await;
    let (sub, token) = one.subaccount("child").await;
    for app in [&one, &two] {
        accepted(app, &key, &secret).await;
        accepted(app, &sub, &token).await;
    }
    let path = format!("/2010-04-01/Accounts/{SID}/Keys/{key}.json");
    assert_eq!(one.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert!(refused(&as_user(&one, &key, &secret).await));
    refused_soon(&two, &key, &secret).await;
    // Closed on the second node this time.
    set_status(&two, &sub, "closed").await;
    assert!(refused(&as_user(&two, &sub, &token).await));
    refused_soon(&one, &sub, &token).await;
    drop((one, two));
    db.drop_schema().await;
}
