//! Writes survive restarts, and concurrent writes are all acknowledged and all kept.

use reqwest::StatusCode;

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_are_all_acknowledged_and_survive_a_restart() {
    let app = TestApp::spawn().await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let r = app
                .post(
                    "/v1/IpRecords",
                    &format!("IpAddress=10.{}.{}.1", i / 256, i % 256),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            r.field("sid")
        }));
    }
    let mut sids = Vec::new();
    for t in tasks {
        sids.push(t.await.unwrap());
    }
    let mut unique = sids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 200);

    let app = std::sync::Arc::into_inner(app).expect("no other owner");
    let (db, dir) = app.stop().await;
    let app = TestApp::start(db).await;
    for sid in &sids {
        assert_eq!(
            app.get(&format!("/v1/IpRecords/{sid}")).await.status,
            StatusCode::OK
        );
    }
    drop(dir);
}
