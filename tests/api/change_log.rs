//! The cluster's change log on PostgreSQL: a node reloads its table when the log cannot bring it
//! up to date (an entry in a form it cannot read), and the change log of the per-kind columns,
//! retired by migration 0008, takes no new row from a node older than the schema.

use std::time::{Duration, Instant};

use crate::storage::{TestDb, account, domain};

/// Waits up to 5 s for `done`.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reloads_when_an_entry_is_in_a_form_it_cannot_read() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let n1 = db.open().await;
    let a = account(n1.as_ref(), None).await;
    let d = domain(n1.as_ref(), &a, "before.sip.twilio.com")
        .await
        .unwrap();
    let n2 = db.open().await;
    let named = |host: &str| n2.recognition().snapshot().by_host(host).is_some();
    assert!(named("before.sip.twilio.com"));
    // A newer version renames the domain and logs a kind of change this one does not know.
    let pg = db.pg_client().await.unwrap();
    pg.batch_execute(&format!(
        "BEGIN; \
         UPDATE sip_domains SET domain_name = 'after.sip.twilio.com', \
         domain_key = 'after.sip.twilio.com', domain_rkey = reverse('after.sip.twilio.com') \
         WHERE sid = '{d}'; \
         WITH next AS (UPDATE change_counter SET seq = seq + 1 RETURNING seq) \
         INSERT INTO recognition_changes (seq, ord, change) \
         SELECT seq, 0, '{{\"domain_renamed\":[\"{d}\",\"after.sip.twilio.com\"]}}' \
         FROM next; \
         SELECT pg_notify('sipmap_changes', 'x'); \
         COMMIT;"
    ))
    .await
    .unwrap();
    eventually("node 2 never reloaded", || {
        named("after.sip.twilio.com") && !named("before.sip.twilio.com")
    })
    .await;
    // And it follows the log again from there.
    domain(n1.as_ref(), &a, "next.sip.twilio.com")
        .await
        .unwrap();
    eventually("node 2 stopped following", || named("next.sip.twilio.com")).await;
    drop((n1, n2));
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retired_change_log_takes_no_row() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let n1 = db.open().await;
    let pg = db.pg_client().await.unwrap();
    // What a node from before migration 0008 writes: refused as storage that cannot write
    // (class 58), which such a node answers with 503.
    let err = pg
        .batch_execute(
            "INSERT INTO change_log (seq, ord, kind, network, prefix) \
             VALUES (1, 0, 'mapping_removed', 167772160, 8)",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("58000"), "{err}");
    drop(n1);
    db.drop_schema().await;
}
