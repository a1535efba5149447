//! Calls, their events and notifications: the storage rules on both back ends (the status rule,
//! deletion of ended calls only, Twilio's list filters, per-account scoping, the retention),
//! and the API's answers (views, refusals, 404s that say nothing of other accounts). Calls are
//! made by the call runtime, so tests store them with `Store::save_call`.

use reqwest::{Method as HttpMethod, StatusCode};
use sipmap::calls::{Command, Control, Delivery};
use sipmap::domain::{
    Call, CallEvent, CallFilter, CallRefusal, CallRetention, CallStatus, Direction, Limits,
    LogLevel, Notification, NotificationFilter, Refusal,
};
use sipmap::sid::{AccountSid, CallSid, NotificationSid, SipDomainSid};
use sipmap::store::{Cursor, Missing, PageQuery, Role, Store, StoreError, StoreOptions};
use sipmap::voice::twiml::Method;

use crate::helpers::{SID, TestApp};
use crate::on_both_backends;
use crate::storage::{P, TestDb, account};

/// 2024-03-01T00:00:00Z, in Unix milliseconds.
pub const MARCH_1: i64 = 1_709_251_200_000;
const DAY: i64 = 86_400_000;

/// A ringing inbound call of `account`, created at `at_ms`.
pub fn ringing(account: &AccountSid, at_ms: i64, to: &str) -> Call {
    Call::ringing(
        CallSid::generate_at(at_ms),
        account.clone(),
        SipDomainSid::generate_at(at_ms),
        Direction::Inbound,
        ("sip:alice@192.0.2.10".into(), to.into()),
        format!("{at_ms}@192.0.2.10"),
        at_ms,
    )
}

/// `call` answered at `+2 s` and completed at `+62.5 s`.
pub fn completed(mut call: Call) -> Call {
    let at = call.created_ms;
    call.set_status(CallStatus::InProgress, at + 2_000).unwrap();
    call.set_status(CallStatus::Completed, at + 62_500).unwrap();
    call
}

/// An event of `call`: its voice URL's webhook, answered 200 with a document.
pub fn event(call: &Call, at_ms: i64) -> CallEvent {
    CallEvent {
        call_sid: call.sid.clone(),
        account_sid: call.account_sid.clone(),
        method: "POST".into(),
        url: "https://app.example.com/voice".into(),
        parameters: vec![
            ("CallSid".into(), call.sid.to_string()),
            ("CallStatus".into(), "ringing".into()),
        ],
        started_ms: at_ms,
        duration_ms: 42,
        response_status: Some(200),
        response_headers: vec![("content-type".into(), "text/xml".into())],
        response_body: "<Response><Hangup/></Response>".into(),
        error_code: None,
    }
}

/// A warning of `call`.
pub fn notification(call: &Call, at_ms: i64) -> Notification {
    Notification {
        sid: NotificationSid::generate_at(at_ms),
        account_sid: call.account_sid.clone(),
        call_sid: call.sid.clone(),
        error_code: 12200,
        log: LogLevel::Warning,
        message_text: "Unknown attribute \"foo\" of <Hangup> was ignored".into(),
        request_url: Some("https://app.example.com/voice".into()),
        request_method: Some("POST".into()),
        request_variables: format!("CallSid={}&CallStatus=ringing", call.sid),
        created_ms: at_ms,
    }
}

/// A store that keeps every call (the tests' calls ended long ago, by the clock).
async fn keeping_all(db: &TestDb) -> std::sync::Arc<Store> {
    db.open_with(&StoreOptions {
        limits: keep_all(),
        ..StoreOptions::default()
    })
    .await
}

fn keep_all() -> Limits {
    Limits {
        calls: CallRetention {
            max_age_secs: 0,
            per_account: 0,
        },
        ..Limits::default()
    }
}

/// A list's query parameters.
type Query<'a> = Vec<(&'static str, &'a str)>;

fn none() -> NotificationFilter {
    NotificationFilter::default()
}

fn all() -> PageQuery {
    PageQuery {
        limit: 100,
        cursor: Cursor::Offset(0),
    }
}

async fn listed(s: &Store, account: &AccountSid, query: &[(&'static str, &str)]) -> Vec<CallSid> {
    let p = P(query.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
    let filter = CallFilter::parse(&p).expect("filter parses");
    let calls = s.list_calls(account, &filter, &all()).await.expect("list");
    calls.into_iter().map(|c| c.sid).collect()
}

async fn save_and_fetch_within_the_account(db: &TestDb) {
    let s = keeping_all(db).await;
    let (a, b) = (account(&s, None).await, account(&s, None).await);
    let call = ringing(&a, MARCH_1, "sip:bob@acme.sip.twilio.com");
    assert_eq!(s.save_call(&call).await.unwrap(), call);
    assert_eq!(s.get_call(&a, &call.sid).await.unwrap(), Some(call.clone()));
    assert_eq!(s.get_call(&b, &call.sid).await.unwrap(), None);
    let done = completed(call.clone());
    s.save_call(&done).await.unwrap();
    assert_eq!(s.get_call(&a, &call.sid).await.unwrap(), Some(done));
}

async fn a_call_record_never_goes_backwards(db: &TestDb) {
    let s = keeping_all(db).await;
    let a = account(&s, None).await;
    let call = ringing(&a, MARCH_1, "sip:bob@x");
    s.save_call(&call).await.unwrap();
    let done = completed(call.clone());
    s.save_call(&done).await.unwrap();
    let refused = s.save_call(&call).await.unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::Refused(Refusal::Call(CallRefusal::Backwards(_)))
        ),
        "{refused:?}"
    );
    assert_eq!(s.get_call(&a, &call.sid).await.unwrap(), Some(done));
}

async fn only_an_ended_call_is_deleted_with_what_it_recorded(db: &TestDb) {
    let s = keeping_all(db).await;
    let a = account(&s, None).await;
    let call = ringing(&a, MARCH_1, "sip:bob@x");
    s.save_call(&call).await.unwrap();
    s.add_call_event(&call.sid, &event(&call, MARCH_1))
        .await
        .unwrap();
    s.add_notification(&notification(&call, MARCH_1))
        .await
        .unwrap();
    let refused = s.delete_call(&a, &call.sid).await.unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::Refused(Refusal::Call(CallRefusal::Live))
        ),
        "{refused:?}"
    );
    let other = account(&s, None).await;
    assert!(matches!(
        s.delete_call(&other, &call.sid).await,
        Err(StoreError::NotFound(Missing::Call(..)))
    ));
    s.save_call(&completed(call.clone())).await.unwrap();
    s.delete_call(&a, &call.sid).await.unwrap();
    assert_eq!(s.get_call(&a, &call.sid).await.unwrap(), None);
    assert!(
        s.list_notifications(&a, &none(), &all())
            .await
            .unwrap()
            .is_empty()
    );
    // A call saved again under the same SID starts with no events.
    s.save_call(&call).await.unwrap();
    assert!(
        s.list_call_events(&a, &call.sid, &all())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn events_and_notifications_stay_in_their_account(db: &TestDb) {
    let s = keeping_all(db).await;
    let (a, b) = (account(&s, None).await, account(&s, None).await);
    let call = ringing(&a, MARCH_1, "sip:bob@x");
    s.save_call(&call).await.unwrap();
    for i in 0..3 {
        s.add_call_event(&call.sid, &event(&call, MARCH_1 + i))
            .await
            .unwrap();
    }
    let note = notification(&call, MARCH_1);
    s.add_notification(&note).await.unwrap();
    let events = s.list_call_events(&a, &call.sid, &all()).await.unwrap();
    let starts: Vec<i64> = events.iter().map(|(_, e)| e.started_ms).collect();
    assert_eq!(starts, vec![MARCH_1, MARCH_1 + 1, MARCH_1 + 2]);
    assert_eq!(events[0].1, event(&call, MARCH_1));
    let page = PageQuery {
        limit: 1,
        cursor: Cursor::After(events[0].0.clone()),
    };
    let next = s.list_call_events(&a, &call.sid, &page).await.unwrap();
    assert_eq!(next[0].1.started_ms, MARCH_1 + 1);
    for missing in [
        s.list_call_events(&b, &call.sid, &all()).await.map(|_| ()),
        s.list_call_notifications(&b, &call.sid, &none(), &all())
            .await
            .map(|_| ()),
        s.add_call_event(&call.sid, &event(&ringing(&b, MARCH_1, "x"), MARCH_1))
            .await,
    ] {
        assert!(
            matches!(missing, Err(StoreError::NotFound(Missing::Call(..)))),
            "{missing:?}"
        );
    }
    let of_call = s
        .list_call_notifications(&a, &call.sid, &none(), &all())
        .await;
    assert_eq!(of_call.unwrap(), vec![note.clone()]);
    assert_eq!(
        s.list_notifications(&a, &none(), &all()).await.unwrap(),
        vec![note.clone()]
    );
    assert!(
        s.list_notifications(&b, &none(), &all())
            .await
            .unwrap()
            .is_empty()
    );
    let fetched = s.get_notification(&a, Some(&call.sid), &note.sid).await;
    assert_eq!(fetched.unwrap(), Some(note.clone()));
    assert_eq!(s.get_notification(&b, None, &note.sid).await.unwrap(), None);
    let elsewhere = CallSid::generate();
    let wrong_call = s.get_notification(&a, Some(&elsewhere), &note.sid).await;
    assert_eq!(wrong_call.unwrap(), None);
}

async fn calls_are_listed_with_twilios_filters(db: &TestDb) {
    let s = keeping_all(db).await;
    let a = account(&s, None).await;
    let first = completed(ringing(&a, MARCH_1 + 1_000, "+14155550100"));
    let mut child = ringing(&a, MARCH_1 + 3_000, "sip:carol@x");
    child.parent_call_sid = Some(first.sid.clone());
    child.direction = Direction::OutboundDial;
    child.from = "+14155550199".into();
    let next_day = ringing(&a, MARCH_1 + DAY + 5_000, "+14155550100");
    for c in [&first, &child, &next_day] {
        s.save_call(c).await.unwrap();
    }
    let day = "2024-03-01";
    let cases: Vec<(Query, Vec<&Call>)> = vec![
        (vec![], vec![&first, &child, &next_day]),
        (vec![("To", "+14155550100")], vec![&first, &next_day]),
        (vec![("From", "+14155550199")], vec![&child]),
        (vec![("ParentCallSid", first.sid.as_str())], vec![&child]),
        (vec![("Status", "completed")], vec![&first]),
        (vec![("Status", "ringing")], vec![&child, &next_day]),
        (vec![("StartTime", day)], vec![&first, &child]),
        (vec![("StartTime>", "2024-03-02")], vec![&next_day]),
        (vec![("StartTime<", day)], vec![&first, &child]),
        (
            vec![("StartTime>", "2024-03-01T00:00:02Z")],
            vec![&child, &next_day],
        ),
        (vec![("StartTime", "2024-03-01T00:00:01Z")], vec![&first]),
        (vec![("EndTime", day)], vec![&first]),
        (vec![("EndTime>", "2024-03-02")], vec![]),
        (
            vec![("EndTime<", day), ("To", "+14155550100")],
            vec![&first],
        ),
        (
            vec![("StartTime>", day), ("StartTime<", day)],
            vec![&first, &child],
        ),
    ];
    for (query, want) in cases {
        let want: Vec<CallSid> = want.into_iter().map(|c| c.sid.clone()).collect();
        assert_eq!(listed(&s, &a, &query).await, want, "{query:?}");
    }
    let other = account(&s, None).await;
    assert!(listed(&s, &other, &[]).await.is_empty());
    let page = PageQuery {
        limit: 1,
        cursor: Cursor::After(first.sid.to_string()),
    };
    let after = s
        .list_calls(&a, &CallFilter::default(), &page)
        .await
        .unwrap();
    assert_eq!(after, vec![child.clone()]);
}

async fn the_retention_prunes_ended_calls_only(db: &TestDb) {
    let limits = Limits {
        calls: CallRetention {
            max_age_secs: 0,
            per_account: 2,
        },
        ..Limits::default()
    };
    let s = db
        .open_with(&StoreOptions {
            limits,
            ..StoreOptions::default()
        })
        .await;
    let a = account(&s, None).await;
    let live = ringing(&a, MARCH_1, "x");
    let ended = completed(ringing(&a, MARCH_1 + 1, "x"));
    s.save_call(&live).await.unwrap();
    s.save_call(&ended).await.unwrap();
    s.add_call_event(&ended.sid, &event(&ended, MARCH_1))
        .await
        .unwrap();
    let third = ringing(&a, MARCH_1 + 2, "x");
    s.save_call(&third).await.unwrap();
    assert_eq!(
        listed(&s, &a, &[]).await,
        vec![live.sid.clone(), third.sid.clone()]
    );
    // Only live calls left: nothing is pruned, the new call is stored all the same.
    let fourth = ringing(&a, MARCH_1 + 3, "x");
    s.save_call(&fourth).await.unwrap();
    assert_eq!(listed(&s, &a, &[]).await.len(), 3);
    // Another account's calls are not its to prune.
    let b = account(&s, None).await;
    s.save_call(&completed(ringing(&b, MARCH_1, "x")))
        .await
        .unwrap();
    assert_eq!(listed(&s, &a, &[]).await.len(), 3);
}

async fn the_retention_prunes_calls_that_ended_long_ago(db: &TestDb) {
    let limits = Limits {
        calls: CallRetention {
            max_age_secs: 3_600,
            per_account: 0,
        },
        ..Limits::default()
    };
    let s = db
        .open_with(&StoreOptions {
            limits,
            ..StoreOptions::default()
        })
        .await;
    let a = account(&s, None).await;
    let now = sipmap::clock::Clock::now_millis(&sipmap::clock::SystemClock);
    let old = completed(ringing(&a, now - 3 * 3_600_000, "x"));
    let recent = completed(ringing(&a, now - 60_000, "x"));
    let old_live = ringing(&a, now - 5 * 3_600_000, "x");
    for c in [&old_live, &old, &recent] {
        s.save_call(c).await.unwrap();
    }
    s.save_call(&ringing(&a, now, "x")).await.unwrap();
    let left = listed(&s, &a, &[]).await;
    assert!(!left.contains(&old.sid), "{left:?}");
    assert!(left.contains(&recent.sid) && left.contains(&old_live.sid));
}

async fn notifications_are_listed_with_twilios_filters(db: &TestDb) {
    let s = keeping_all(db).await;
    let a = account(&s, None).await;
    let call = ringing(&a, MARCH_1, "x");
    let other = ringing(&a, MARCH_1 + 1, "x");
    s.save_call(&call).await.unwrap();
    s.save_call(&other).await.unwrap();
    let warning = notification(&call, MARCH_1);
    let mut error = notification(&call, MARCH_1 + DAY);
    error.log = LogLevel::Error;
    error.error_code = 11200;
    let elsewhere = notification(&other, MARCH_1 + 2);
    for n in [&warning, &error, &elsewhere] {
        s.add_notification(n).await.unwrap();
    }
    let cases: Vec<(Query, Vec<&Notification>)> = vec![
        (vec![], vec![&warning, &error]),
        (vec![("Log", "0")], vec![&error]),
        (vec![("Log", "1")], vec![&warning]),
        (vec![("MessageDate", "2024-03-01")], vec![&warning]),
        (vec![("MessageDate>", "2024-03-02")], vec![&error]),
        (vec![("MessageDate<", "2024-03-01"), ("Log", "0")], vec![]),
    ];
    for (query, want) in cases {
        let p = P(query.iter().map(|(k, v)| (*k, (*v).to_owned())).collect());
        let filter = NotificationFilter::parse(&p).expect("filter parses");
        let got = s
            .list_call_notifications(&a, &call.sid, &filter, &all())
            .await;
        let want: Vec<Notification> = want.into_iter().cloned().collect();
        assert_eq!(got.unwrap(), want, "{query:?}");
    }
    let p = P(vec![("Log", "1".to_owned())]);
    let warnings = NotificationFilter::parse(&p).unwrap();
    let of_account = s.list_notifications(&a, &warnings, &all()).await.unwrap();
    assert_eq!(of_account, vec![warning, elsewhere]);
}

/// The call runtime's batch: a parent's and its child's records, an event and a notification
/// in one write, stored in order (the child's event after the child's insert); a batch with
/// one refused write stores nothing of it.
async fn a_call_log_batch_is_stored_whole_or_not_at_all(db: &TestDb) {
    use sipmap::store::resources::calls::Logged;
    let s = keeping_all(db).await;
    let a = account(&s, None).await;
    let parent = ringing(&a, MARCH_1, "sip:bob@x");
    let mut child = ringing(&a, MARCH_1 + 1, "sip:carol@x");
    child.parent_call_sid = Some(parent.sid.clone());
    let note = notification(&parent, MARCH_1);
    let batch = vec![
        Logged::Call(parent.clone()),
        Logged::Call(child.clone()),
        Logged::Event(event(&child, MARCH_1)),
        Logged::Notification(note.clone()),
        Logged::Call(completed(child.clone())),
    ];
    s.save_call_log(batch, Some("node-1")).await.unwrap();
    assert_eq!(
        s.get_call(&a, &parent.sid).await.unwrap(),
        Some(parent.clone())
    );
    let stored = s.get_call(&a, &child.sid).await.unwrap().unwrap();
    assert_eq!(stored.status, CallStatus::Completed);
    let events = s.list_call_events(&a, &child.sid, &all()).await.unwrap();
    assert_eq!(events.len(), 1);
    let notes = s
        .list_call_notifications(&a, &parent.sid, &none(), &all())
        .await;
    assert_eq!(notes.unwrap(), vec![note]);
    // The child's record going backwards is refused, and the event before it goes too.
    let done = completed(parent.clone());
    let refused = s
        .save_call_log(
            vec![
                Logged::Call(done),
                Logged::Event(event(&parent, MARCH_1 + 5)),
                Logged::Call(child.clone()),
            ],
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::Refused(Refusal::Call(CallRefusal::Backwards(_)))
        ),
        "{refused:?}"
    );
    assert_eq!(
        s.get_call(&a, &parent.sid).await.unwrap(),
        Some(parent.clone())
    );
    assert!(
        s.list_call_events(&a, &parent.sid, &all())
            .await
            .unwrap()
            .is_empty()
    );
    // The runtime's log stores such a batch one by one: only the refused write is lost.
    use sipmap::call_runtime::{CallLog, StoreLog};
    use sipmap::calls::Persist;
    let log = StoreLog(s.clone(), None);
    let failed = log
        .persist_all(&[
            Persist::Call(Box::new(completed(parent.clone()))),
            Persist::Event(Box::new(event(&parent, MARCH_1 + 5))),
            Persist::Call(Box::new(child.clone())),
        ])
        .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    let stored = s.get_call(&a, &parent.sid).await.unwrap().unwrap();
    assert_eq!(stored.status, CallStatus::Completed);
    assert_eq!(
        s.list_call_events(&a, &parent.sid, &all())
            .await
            .unwrap()
            .len(),
        1
    );
}

on_both_backends!(
    a_call_log_batch_is_stored_whole_or_not_at_all,
    save_and_fetch_within_the_account,
    a_call_record_never_goes_backwards,
    only_an_ended_call_is_deleted_with_what_it_recorded,
    events_and_notifications_stay_in_their_account,
    calls_are_listed_with_twilios_filters,
    notifications_are_listed_with_twilios_filters,
    the_retention_prunes_ended_calls_only,
    the_retention_prunes_calls_that_ended_long_ago,
);

/// A store on a running test server's database, as a call runtime would write to it (keeping
/// every call: the tests' calls ended long ago, by the clock).
pub async fn runtime_store(app: &TestApp) -> std::sync::Arc<Store> {
    let url = format!("sqlite://{}", app.db_path.display());
    let options = StoreOptions {
        role: Role::Admin,
        limits: keep_all(),
        ..StoreOptions::default()
    };
    sipmap::store::connect_with(&url, &options)
        .await
        .expect("store opens")
}

fn test_account() -> AccountSid {
    AccountSid::parse(SID).unwrap()
}

fn calls_path(account: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/Calls")
}

#[tokio::test]
async fn another_accounts_call_is_a_404_like_a_random_sid() {
    let app = TestApp::spawn().await;
    let s = runtime_store(&app).await;
    let (sub, _) = app.subaccount("other").await;
    let sub = AccountSid::parse(&sub).unwrap();
    let theirs = completed(ringing(&sub, MARCH_1, "x"));
    s.save_call(&theirs).await.unwrap();
    s.add_call_event(&theirs.sid, &event(&theirs, MARCH_1))
        .await
        .unwrap();
    let note = notification(&theirs, MARCH_1);
    s.add_notification(&note).await.unwrap();
    let random = CallSid::generate();
    let mine = calls_path(SID);
    for (method, tail) in [
        (HttpMethod::GET, ".json"),
        (HttpMethod::POST, ".json"),
        (HttpMethod::DELETE, ".json"),
        (HttpMethod::GET, "/Events.json"),
        (HttpMethod::GET, "/Notifications.json"),
    ] {
        let body = (tail == ".json" && method == HttpMethod::POST).then_some("Status=completed");
        let a = app
            .call(
                method.clone(),
                &format!("{mine}/{}{tail}", theirs.sid),
                body,
            )
            .await;
        let b = app
            .call(method.clone(), &format!("{mine}/{random}{tail}"), body)
            .await;
        assert_eq!(
            a.status,
            StatusCode::NOT_FOUND,
            "{method} {tail}: {}",
            a.text
        );
        let same = a.text.replace(theirs.sid.as_str(), "CA");
        assert_eq!(
            same,
            b.text.replace(random.as_str(), "CA"),
            "{method} {tail}"
        );
    }
    let at_account = format!("/2010-04-01/Accounts/{SID}/Notifications/{}.json", note.sid);
    assert_eq!(app.get(&at_account).await.status, StatusCode::NOT_FOUND);
    let listed = app
        .get(&format!("/2010-04-01/Accounts/{SID}/Notifications.json"))
        .await;
    assert_eq!(listed.json()["notifications"], serde_json::json!([]));
    // The subaccount's own path (which its parent may use) shows them.
    let theirs_path = format!("{}/{}/Events.json", calls_path(sub.as_str()), theirs.sid);
    let events = app.get(&theirs_path).await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    assert_eq!(events.json()["events"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn updates_and_deletes_follow_the_calls_state() {
    let app = TestApp::spawn().await;
    let s = runtime_store(&app).await;
    let live = ringing(&test_account(), MARCH_1, "x");
    let ended = completed(ringing(&test_account(), MARCH_1 + 1, "x"));
    s.save_call(&live).await.unwrap();
    s.save_call(&ended).await.unwrap();
    let (live_path, ended_path) = (
        format!("{}/{}.json", calls_path(SID), live.sid),
        format!("{}/{}.json", calls_path(SID), ended.sid),
    );
    for body in [
        "Status=completed",
        "Twiml=%3CResponse%2F%3E",
        "Url=https%3A%2F%2Fa.example%2F",
    ] {
        let r = app.post(&ended_path, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.json()["code"], 21220);
        assert_eq!(
            r.json()["message"],
            "Call is not in-progress. Cannot redirect."
        );
    }
    let bad = app.post(&live_path, "Status=busy").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json()["code"], 20001);
    let bad_url = app.post(&live_path, "Url=ftp%3A%2F%2Fx").await;
    assert_eq!(bad_url.json()["code"], 20001, "{}", bad_url.text);
    // No runtime runs calls on the test server: a live call is not held by this node.
    let elsewhere = app.post(&live_path, "Status=completed").await;
    assert_eq!(
        elsewhere.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        elsewhere.text
    );
    // Nothing to do: the call as it is.
    let same = app.post(&live_path, "").await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(same.text, app.get(&live_path).await.text);
    let refused = app.delete(&live_path).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(refused.json()["code"], 21220);
    assert_eq!(app.delete(&ended_path).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&ended_path).await.status, StatusCode::NOT_FOUND);
    // Calls are not created through the API: the list path serves GET only.
    let create = app
        .post(&format!("{}.json", calls_path(SID)), "To=x&From=y")
        .await;
    assert_eq!(create.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(create.json()["code"], 20004);
}

#[tokio::test]
async fn the_list_refuses_bad_filters_and_repeats_good_ones() {
    let app = TestApp::spawn().await;
    let s = runtime_store(&app).await;
    for i in 0..3 {
        s.save_call(&ringing(&test_account(), MARCH_1 + i, "+14155550100"))
            .await
            .unwrap();
    }
    let list = format!("{}.json", calls_path(SID));
    for query in [
        "Status=answered",
        "StartTime=2024-02-30",
        "EndTime%3E=tomorrow",
        "ParentCallSid=CA1",
    ] {
        let r = app.get(&format!("{list}?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        assert_eq!(r.json()["code"], 20001);
    }
    let page = app
        .get(&format!(
            "{list}?To=%2B14155550100&StartTime%3E=2024-03-01&PageSize=2"
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let body = page.json();
    assert_eq!(body["calls"].as_array().map(Vec::len), Some(2));
    let next = body["next_page_uri"].as_str().expect("a next page");
    assert!(
        next.starts_with(&format!(
            "{list}?To=%2B14155550100&StartTime%3E=2024-03-01&PageSize=2&Page=1&PageToken=PA"
        )),
        "{next}"
    );
    let rest = app.get(next).await.json();
    assert_eq!(rest["calls"].as_array().map(Vec::len), Some(1));
}

/// A call runtime as the API sees it: the calls it holds take commands (recorded); `Complete`
/// ends the call and stores its record, as a runtime would before reporting it.
struct FakeRuntime {
    live: Vec<CallSid>,
    store: tokio::sync::OnceCell<std::sync::Arc<Store>>,
    taken: std::sync::Mutex<Vec<Command>>,
}

#[async_trait::async_trait]
impl Control for FakeRuntime {
    async fn command(&self, account: &AccountSid, call: &CallSid, command: Command) -> Delivery {
        if !self.live.contains(call) {
            return Delivery::NotLive;
        }
        if command == Command::Complete {
            let store = self.store.get().expect("the test gave the store");
            let mut record = store.get_call(account, call).await.unwrap().unwrap();
            record
                .set_status(CallStatus::Canceled, MARCH_1 + 9_000)
                .unwrap();
            store.save_call(&record).await.unwrap();
        }
        self.taken.lock().unwrap().push(command);
        Delivery::Taken
    }
}

#[tokio::test]
async fn an_update_reaches_the_runtime_that_holds_the_call() {
    let held = ringing(&test_account(), MARCH_1, "x");
    let runtime = std::sync::Arc::new(FakeRuntime {
        live: vec![held.sid.clone()],
        store: tokio::sync::OnceCell::new(),
        taken: std::sync::Mutex::new(Vec::new()),
    });
    let app = TestApp::spawn_with_calls(runtime.clone()).await;
    let s = runtime_store(&app).await;
    runtime.store.set(s.clone()).ok();
    let not_held = ringing(&test_account(), MARCH_1 + 1, "x");
    s.save_call(&held).await.unwrap();
    s.save_call(&not_held).await.unwrap();
    let path = format!("{}/{}.json", calls_path(SID), held.sid);
    for body in [
        "Twiml=%3CResponse%3E%3CHangup%2F%3E%3C%2FResponse%3E",
        "Url=https%3A%2F%2Fapp.example.com%2Fnext&Method=GET",
        "Url=https%3A%2F%2Fapp.example.com%2Fnext",
        "Status=canceled",
    ] {
        let r = app.post(&path, body).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.text);
        assert_eq!(r.json()["status"], "ringing");
    }
    let ended = app.post(&path, "Status=completed").await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    assert_eq!(ended.json()["status"], "canceled");
    let url = url::Url::parse("https://app.example.com/next").unwrap();
    assert_eq!(
        *runtime.taken.lock().unwrap(),
        vec![
            Command::Twiml("<Response><Hangup/></Response>".into()),
            Command::Redirect(url.clone(), Method::Get),
            Command::Redirect(url, Method::Post),
            Command::Cancel,
            Command::Complete,
        ]
    );
    let after = app.post(&path, "Status=completed").await;
    assert_eq!(after.json()["code"], 21220, "{}", after.text);
    let elsewhere = format!("{}/{}.json", calls_path(SID), not_held.sid);
    let r = app.post(&elsewhere, "Status=completed").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(runtime.taken.lock().unwrap().len(), 5);
    // Each update the call took is in the audit log, as it was asked; the refused ones are not.
    let log = app
        .get(&format!("/v1/Events?ResourceSid={}", held.sid))
        .await;
    let log = log.json();
    let data: Vec<&serde_json::Value> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["event_type"], "call.updated");
            &e["event_data"]
        })
        .collect();
    assert_eq!(data.len(), 5, "{log}");
    assert_eq!(data[0]["twiml"], "<Response><Hangup/></Response>");
    assert_eq!(data[1]["method"], "GET");
    assert_eq!(data[3]["status"]["updated"], "canceled");
    assert_eq!(data[4]["status"]["updated"], "completed");
    let none = app
        .get(&format!("/v1/Events?ResourceSid={}", not_held.sid))
        .await;
    assert_eq!(none.json()["events"].as_array().unwrap().len(), 0);
}
