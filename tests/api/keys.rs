//! API keys (`SK…`), readable auth tokens and Twilio's 401/20003 for account paths the caller
//! may not act on: wire bodies, authentication with keys on Voice v1 and API 2010 (on every
//! node of a PostgreSQL cluster; deletion is in `credentials.rs`), and the migration
//! of databases whose tokens were stored as hashes only.

use insta::assert_snapshot;
use reqwest::{Method, StatusCode};
use sipmap::sid::AccountSid;
use sipmap::store::{Role, StoreOptions};

use crate::helpers::{Reply, SID, TOKEN, TestApp};

const KEYS: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001/Keys.json";

fn keys_of(account: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/Keys.json")
}

fn key_of(account: &str, key: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/Keys/{key}.json")
}

/// Creates a key under `account`'s path with the test account's credentials; its SID and
/// secret.
async fn new_key(app: &TestApp, account: &str, name: &str) -> (String, String) {
    let r = app
        .post(&keys_of(account), &format!("FriendlyName={name}"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    (r.field("sid"), r.field("secret"))
}

/// `reply` with `secret` replaced, for snapshots.
fn without(reply: &Reply, secret: &str) -> Reply {
    Reply {
        status: reply.status,
        headers: reply.headers.clone(),
        text: reply.text.replace(secret, "[secret]"),
    }
}

/// A top-level account unrelated to the test account, made in its database directly.
async fn unrelated_account(app: &TestApp) -> AccountSid {
    let options = StoreOptions {
        role: Role::Admin,
        ..StoreOptions::default()
    };
    let url = format!("sqlite://{}", app.db_path.display());
    let store = sipmap::store::connect_with(&url, &options).await.unwrap();
    let new = sipmap::domain::NewAccount {
        owner_sid: None,
        friendly_name: Some("stranger".into()),
        token: sipmap::auth_token::AuthToken::generate(),
    };
    store.create_account(new).await.unwrap().sid
}

#[tokio::test]
async fn key_bodies_and_the_secret_shown_once() {
    let app = TestApp::spawn().await;
    let created = app.post(KEYS, "FriendlyName=ci").await;
    let (sid, secret) = (created.field("sid"), created.field("secret"));
    assert_eq!(secret.len(), 32);
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_snapshot!("key_create", app.redact(&without(&created, &secret)));
    let fetched = app.get(&key_of(SID, &sid)).await;
    assert_snapshot!("key_fetch", app.redact(&fetched));
    let updated = app.post(&key_of(SID, &sid), "FriendlyName=deploy").await;
    assert_snapshot!("key_update", app.redact(&updated));
    let listed = app.get(&format!("{KEYS}?PageSize=1")).await;
    assert_snapshot!("key_list", app.redact(&listed));
    for r in [&fetched, &updated, &listed] {
        assert!(!r.text.contains(&secret), "the secret is shown only once");
        assert!(!r.text.contains("secret"), "{}", r.text);
    }
    let unnamed = app.post(KEYS, "").await;
    assert_eq!(unnamed.status, StatusCode::CREATED);
    assert!(unnamed.json()["friendly_name"].is_null());
    let long = app
        .post(KEYS, &format!("FriendlyName={}", "x".repeat(65)))
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert_eq!(long.json()["code"], 20001);
    let deleted = app.delete(&key_of(SID, &sid)).await;
    assert_eq!(
        (deleted.status, deleted.text.as_str()),
        (StatusCode::NO_CONTENT, "")
    );
    let gone = app.get(&key_of(SID, &sid)).await;
    assert_snapshot!("key_missing", app.redact(&gone));
}

#[tokio::test]
async fn a_key_authenticates_as_its_account_on_v1_and_2010() {
    let app = TestApp::spawn().await;
    let (key, secret) = new_key(&app, SID, "app").await;
    let as_key =
        async |m: Method, p: &str, b: Option<&str>| app.call_as(&key, &secret, m, p, b).await;
    let record = as_key(Method::POST, "/v1/IpRecords", Some("IpAddress=10.1.2.3")).await;
    assert_eq!(record.status, StatusCode::CREATED, "{}", record.text);
    let domains = format!("/2010-04-01/Accounts/{SID}/SIP/Domains.json");
    let domain = as_key(Method::POST, &domains, Some("DomainName=k.sip.twilio.com")).await;
    assert_eq!(domain.status, StatusCode::CREATED, "{}", domain.text);
    assert_eq!(domain.field("account_sid"), SID);
    // What the key made is the account's: its token sees it.
    let r = app
        .get(&format!("/v1/IpRecords/{}", record.field("sid")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A wrong secret, a key that does not exist, and a secret given with the account SID fail.
    for (user, password) in [
        (key.as_str(), "x".repeat(32)),
        ("SK00000000000000000000000000000009", secret.clone()),
        (SID, secret.clone()),
    ] {
        let r = app
            .call_as(user, &password, Method::GET, "/v1/IpRecords", None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(r.json()["code"], 20003);
    }
    // A parent's key reaches its subaccounts' 2010 resources, as the parent's token does.
    let (sub, _) = app.subaccount("child").await;
    let r = as_key(
        Method::GET,
        &format!("/2010-04-01/Accounts/{sub}/SIP/Domains.json"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // A deleted key fails at the very next request.
    assert_eq!(
        app.delete(&key_of(SID, &key)).await.status,
        StatusCode::NO_CONTENT
    );
    let r = as_key(Method::GET, "/v1/IpRecords", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], 20003);
}

#[tokio::test]
async fn a_subaccounts_key_reaches_only_its_own_account() {
    let app = TestApp::spawn().await;
    let (sub, sub_token) = app.subaccount("child").await;
    // The parent makes a key for its subaccount on the subaccount's path.
    let (key, secret) = new_key(&app, &sub, "sub-key").await;
    let as_key = async |m: Method, p: &str| app.call_as(&key, &secret, m, p, None).await;
    assert_eq!(
        as_key(Method::GET, &keys_of(&sub)).await.status,
        StatusCode::OK
    );
    let parents = as_key(Method::GET, &keys_of(SID)).await;
    assert_eq!(parents.status, StatusCode::UNAUTHORIZED);
    // The parent's key list does not hold the subaccount's key, and the subaccount cannot
    // see the parent's keys by SID through its own path.
    let listed = app.get(KEYS).await;
    assert!(!listed.text.contains(&key));
    let (parent_key, _) = new_key(&app, SID, "parent").await;
    let r = app
        .call_as(
            &sub,
            &sub_token,
            Method::GET,
            &key_of(&sub, &parent_key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], 20404);
    // Suspending the subaccount locks its keys out too.
    let path = format!("/2010-04-01/Accounts/{sub}.json");
    assert_eq!(
        app.post(&path, "Status=suspended").await.status,
        StatusCode::OK
    );
    assert_eq!(
        as_key(Method::GET, &keys_of(&sub)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn keys_per_account_are_bounded() {
    let app = TestApp::spawn_with(|c| c.store.limits.keys_per_account = 2).await;
    new_key(&app, SID, "a").await;
    new_key(&app, SID, "b").await;
    let third = app.post(KEYS, "FriendlyName=c").await;
    assert_eq!(third.status, StatusCode::BAD_REQUEST);
    assert_snapshot!("key_limit", app.redact(&third));
}

#[tokio::test]
async fn account_views_show_a_working_auth_token() {
    let app = TestApp::spawn().await;
    let (sub, token) = app.subaccount("child").await;
    let fetched = app.get(&format!("/2010-04-01/Accounts/{sub}.json")).await;
    assert_eq!(fetched.field("auth_token"), token);
    let listed = app.get("/2010-04-01/Accounts.json").await.json();
    let tokens: Vec<(&str, &str)> = listed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["sid"].as_str().unwrap(),
                a["auth_token"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(tokens, vec![(SID, TOKEN), (sub.as_str(), token.as_str())]);
    let own = app
        .call_as(
            &sub,
            &token,
            Method::GET,
            &format!("/2010-04-01/Accounts/{sub}.json"),
            None,
        )
        .await;
    assert_eq!(own.field("auth_token"), token);
    // The database holds the token sealed, never in plain text.
    let bytes = std::fs::read(&app.db_path).unwrap();
    let wal = std::fs::read(app.db_path.with_extension("db-wal")).unwrap_or_default();
    for file in [bytes, wal] {
        assert!(!file.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

#[tokio::test]
async fn account_paths_the_caller_may_not_act_on_answer_401_20003() {
    let app = TestApp::spawn().await;
    let (sub, token) = app.subaccount("child").await;
    let (sibling, _) = app.subaccount("sibling").await;
    let stranger = unrelated_account(&app).await;
    let missing = "AC0000000000000000000000000000dead";
    let mut bodies = Vec::new();
    for account in [
        SID,
        sibling.as_str(),
        stranger.as_str(),
        missing,
        "not-a-sid",
    ] {
        for path in [
            format!("/2010-04-01/Accounts/{account}.json"),
            format!("/2010-04-01/Accounts/{account}/SIP/Domains.json"),
            keys_of(account),
        ] {
            let r = app.call_as(&sub, &token, Method::GET, &path, None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
            bodies.push(r.text);
        }
        let post = app
            .call_as(
                &sub,
                &token,
                Method::POST,
                &keys_of(account),
                Some("FriendlyName=x"),
            )
            .await;
        assert_eq!(post.status, StatusCode::UNAUTHORIZED);
        bodies.push(post.text);
    }
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        1,
        "one answer whether or not the account exists"
    );
    // The parent acting on a stranger's path gets the same.
    let r = app
        .get(&format!("/2010-04-01/Accounts/{stranger}/SIP/Domains.json"))
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (StatusCode::UNAUTHORIZED, bodies[0].as_str())
    );
    assert_snapshot!("account_path_refused", app.redact(&r));
    // A Voice v1 resource of another account, and an unknown SID on an allowed path, stay 404.
    let record = app.ip_record("IpAddress=10.9.9.9").await;
    let r = app
        .call_as(
            &sub,
            &token,
            Method::GET,
            &format!("/v1/IpRecords/{record}"),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(20404))
    );
    let r = app
        .get(&key_of(SID, "SK00000000000000000000000000000009"))
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(20404))
    );
}

/// A database made by an earlier sipmap: schema version 4, tokens stored as hashes only.
fn hash_only_database(path: &std::path::Path, sub: &str, sub_token: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    for sql in [
        include_str!("../../migrations/sqlite/0001_init.sql"),
        include_str!("../../migrations/sqlite/0002_tenancy.sql"),
        include_str!("../../migrations/sqlite/0003_sip_security.sql"),
        include_str!("../../migrations/sqlite/0004_byoc.sql"),
    ] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", 4).unwrap();
    let insert = "INSERT INTO accounts (sid, owner_sid, friendly_name, status, token_salt, \
                  token_hash, date_created, date_updated) VALUES (?1, ?2, ?3, 'active', ?4, ?5, 1, 1)";
    for (sid, owner, token) in [(SID, None, "old-token"), (sub, Some(SID), sub_token)] {
        let hash = sipmap::auth_token::AuthToken::from_string(token.into()).hash();
        let params = rusqlite::params![sid, owner, "old", hash.salt.to_vec(), hash.hash.to_vec()];
        conn.execute(insert, params).unwrap();
    }
}

#[tokio::test]
async fn a_database_with_hash_only_tokens_migrates_to_null_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sipmap.db");
    let sub = "AC00000000000000000000000000000002";
    hash_only_database(&db, sub, "sub-token");
    // The server starts with TWILIO_AUTH_TOKEN for the bootstrap account, which sets it again.
    let app = TestApp::start(db).await;
    let parent = app.get(&format!("/2010-04-01/Accounts/{SID}.json")).await;
    assert_eq!(parent.field("auth_token"), TOKEN);
    // The subaccount's token exists only as a hash: it still authenticates, and reads null.
    let fetched = app.get(&format!("/2010-04-01/Accounts/{sub}.json")).await;
    assert!(fetched.json()["auth_token"].is_null(), "{}", fetched.text);
    let own = app
        .call_as(
            sub,
            "sub-token",
            Method::GET,
            &format!("/2010-04-01/Accounts/{sub}.json"),
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.json()["auth_token"].is_null());
    let listed = app.get("/2010-04-01/Accounts.json").await.json();
    let nulls = listed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["auth_token"].is_null())
        .count();
    assert_eq!(nulls, 1);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_and_a_token_work_on_every_node_of_a_cluster() {
    let Some(db) = crate::storage::TestDb::postgres().await else {
        return;
    };
    let node = async || {
        TestApp::spawn_with(|c| {
            c.database_url = db.url.clone();
            c.store.key = Some(crate::storage::test_key());
            c.sip_listen = None;
        })
        .await
    };
    let (one, two) = (node().await, node().await);
    let (key, secret) = new_key(&one, SID, "cluster").await;
    let r = two
        .call_as(&key, &secret, Method::GET, "/v1/IpRecords", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A token set on one node is shown by the other.
    let (sub, token) = one.subaccount("child").await;
    let r = two.get(&format!("/2010-04-01/Accounts/{sub}.json")).await;
    assert_eq!(r.field("auth_token"), token);
    // A deleted key: `credentials::a_credential_change_reaches_the_other_nodes_of_a_cluster`.
    drop((one, two));
    db.drop_schema().await;
}
