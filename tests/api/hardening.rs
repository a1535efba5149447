//! Regression tests for what an attacker or a careless client found: malformed parameters,
//! absurd page numbers, a full disk, a database file other users could read.

use reqwest::{Method, StatusCode};

use crate::helpers::{SID, TestApp};

#[tokio::test]
async fn nul_bytes_and_invalid_utf8_are_refused_exactly() {
    let app = TestApp::spawn().await;
    for body in [
        "IpAddress=10.0.0.1&FriendlyName=a%00b",
        "IpAddress=10.0.0.1%00",
        "IpAddress=10.0.0.1&Friendly%00Name=x",
        // A literal U+FFFD elsewhere in the body must not hide an invalid %FF.
        "IpAddress=10.0.0.1&FriendlyName=%FF&X=\u{fffd}",
        "FriendlyName=\u{fffd}&IpAddress=10.0.0.1&Y=%C3%28",
    ] {
        let r = app.post("/v1/IpRecords", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.text);
        assert_eq!(r.json()["code"], 20001, "{body:?}");
    }
    let r = app.get("/v1/IpRecords?PageSize=5&X=%00").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // A literal U+FFFD on its own is a value like any other.
    let r = app
        .post("/v1/IpRecords", "IpAddress=10.0.0.1&FriendlyName=%EF%BF%BD")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["friendly_name"], "\u{fffd}");
}

#[tokio::test]
async fn page_numbers_near_the_integer_limit_are_refused() {
    let app = TestApp::spawn().await;
    app.ip_record("IpAddress=10.0.0.1").await;
    for page in [
        u64::MAX.to_string(),
        (u64::MAX - 1).to_string(),
        "2147483648".into(),
    ] {
        for path in [
            format!("/v1/IpRecords?Page={page}"),
            format!("/2010-04-01/Accounts/{SID}/SIP/Domains.json?Page={page}"),
        ] {
            let r = app.get(&path).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
            assert_eq!(r.json()["code"], 20001);
        }
    }
    let r = app.get("/v1/IpRecords?Page=2147483647&PageSize=1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["meta"]["page"], 2147483647u64);
}

/// A database that cannot grow (here: its size limit; the same error as a full disk) answers
/// writes with a 503 that says so, reports unhealthy until a write succeeds, keeps everything it
/// acknowledged, and recovers by itself once there is room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_answers_503_and_recovers() {
    // Room for the schema (migration 12 added the audit log's tables and indexes) and some rows.
    // The audit log keeps one event, so that the records alone fill the database.
    let app = TestApp::spawn_with(|c| {
        c.store.max_database_bytes = Some(640 * 1024);
        c.store.limits.events.per_account = 1;
    })
    .await;
    let name = "n".repeat(255);
    let mut stored = Vec::new();
    let mut full = None;
    for i in 0..5000u32 {
        let r = app
            .post(
                "/v1/IpRecords",
                &format!("IpAddress=10.{}.{}.1&FriendlyName={name}", i / 256, i % 256),
            )
            .await;
        if r.status == StatusCode::CREATED {
            stored.push(r.field("sid"));
            continue;
        }
        full = Some(r);
        break;
    }
    let full = full.expect("the database filled up");
    assert_eq!(
        full.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        full.text
    );
    assert_eq!(full.json()["code"], 20503);
    let message = full.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("storage is full or failing"), "{message}");
    assert!(stored.len() > 10, "only {} records fit", stored.len());

    for path in ["/healthz", "/readyz"] {
        let h = app.raw(Method::GET, path).send().await.unwrap();
        assert_eq!(h.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let body: serde_json::Value = serde_json::from_str(&h.text().await.unwrap()).unwrap();
        assert!(
            body["reason"].as_str().unwrap().contains("storage is full"),
            "{body}"
        );
    }
    // Everything acknowledged is still there.
    for sid in &stored {
        assert_eq!(
            app.get(&format!("/v1/IpRecords/{sid}")).await.status,
            StatusCode::OK
        );
    }
    // Room again (the operator deletes rows without the API, as a full disk is given room; an
    // API delete needs room for its event too): the next health check's probe write succeeds,
    // and so do writes.
    let options = sipmap::store::StoreOptions {
        role: sipmap::store::Role::Admin,
        ..sipmap::store::StoreOptions::default()
    };
    let url = format!("sqlite://{}", app.db_path.display());
    let operator = sipmap::store::connect_with(&url, &options).await.unwrap();
    let account = sipmap::sid::AccountSid::parse(crate::helpers::SID).unwrap();
    for sid in stored.iter().take(stored.len() / 2) {
        let sid = sipmap::sid::IpRecordSid::parse(sid).unwrap();
        operator.delete_ip_record(&account, &sid).await.unwrap();
    }
    let h = app.raw(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(h.status(), StatusCode::OK);
    app.ip_record("IpAddress=10.250.0.1").await;
}

/// A `sipmap serve` process started under `umask` on the SQLite database `db`, until it says it
/// listens. It is killed when dropped.
#[cfg(unix)]
struct Served(crate::helpers::Process);

#[cfg(unix)]
impl Served {
    fn start(db: &std::path::Path, umask: &str) -> Self {
        use std::io::BufRead;
        let mut command = std::process::Command::new("/bin/sh");
        command
            .args(["-c", "umask \"$1\" && exec \"$0\" serve --listen 127.0.0.1:0 --database-url \"sqlite://$2\""])
            .arg(env!("CARGO_BIN_EXE_sipmap"))
            .arg(umask)
            .arg(db)
            .env_clear()
            .env("TWILIO_ACCOUNT_SID", SID)
            .env("TWILIO_AUTH_TOKEN", "umask-token")
            .env("RUST_LOG", "warn");
        let (process, out) = crate::helpers::Process::start(command);
        let listening = out
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("sipmap: HTTP API listening on"));
        assert!(listening, "sipmap exited before listening");
        Self(process)
    }

    /// Kills it (SQLite's -wal and -shm files stay, as after a crash); what it logged.
    fn kill(mut self) -> String {
        self.0.child.kill().unwrap();
        self.0.child.wait().unwrap();
        self.0.logged()
    }
}

/// The database and SQLite's `-wal` and `-shm` files (and the key file beside them) are
/// readable by their owner only whatever the umask: they hold password hashes, sealed secrets
/// and every tenant's configuration. Files left open to others (by an older sipmap, or by hand)
/// are made owner-only at the next start, which says so.
#[cfg(unix)]
#[test]
fn the_database_files_are_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sipmap.db");
    let files = ["", "-wal", "-shm", ".key"].map(|s| dir.path().join(format!("sipmap.db{s}")));
    let mode = |p: &std::path::Path| {
        let m = std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777;
        format!("{m:04o}")
    };
    for umask in ["000", "022"] {
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        let served = Served::start(&db, umask);
        for f in &files {
            assert_eq!(mode(f), "0600", "umask {umask}: {}", f.display());
        }
        served.kill();
    }
    for f in &files[..3] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let log = Served::start(&db, "022").kill();
    for f in &files {
        assert_eq!(mode(f), "0600", "tightened: {}", f.display());
    }
    assert!(log.contains("it is now owner-only"), "{log}");
}
