//! The storage conformance suite: one story per rule, run against SQLite always and against
//! PostgreSQL when `SIPMAP_TEST_POSTGRES_URL` names a database (each test then works in a schema
//! of its own, dropped at the end).

use std::sync::Arc;

use sipmap::auth_token::AuthToken;
use sipmap::domain::sip_domain::SipDomainPatch;
use sipmap::domain::{AccountStatus, IpRecordPatch, NewAccount, NewIpRecord, Params};
use sipmap::sid::{AccountSid, IpRecordSid, SipDomainSid};
use sipmap::store::{self, AccountFilter, Cursor, PageQuery, Store, StoreError};

/// A database for one test.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        Self {
            url,
            _dir: Some(dir),
            schema: None,
        }
    }

    /// A fresh schema on the PostgreSQL server named by the environment, if any. When
    /// `SIPMAP_REQUIRE_POSTGRES` is set (as `scripts/test.sh` does), a missing server fails the
    /// test instead of skipping it.
    pub async fn postgres() -> Option<Self> {
        let Ok(base) = std::env::var("SIPMAP_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("SIPMAP_REQUIRE_POSTGRES").is_none(),
                "SIPMAP_REQUIRE_POSTGRES is set but SIPMAP_TEST_POSTGRES_URL is not"
            );
            return None;
        };
        let schema = format!("sipmap_t_{}", sipmap::sid::random_hex32());
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .expect("SIPMAP_TEST_POSTGRES_URL is reachable");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Some(Self {
            url,
            _dir: None,
            schema: Some((base, schema)),
        })
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        store::connect(&self.url).await.expect("store opens")
    }

    /// Opens the store with options.
    pub async fn open_with(&self, options: &store::StoreOptions) -> Arc<dyn Store> {
        store::connect_with(&self.url, options)
            .await
            .expect("store opens")
    }

    /// A direct connection to this test's PostgreSQL schema, for looking under the hood.
    pub async fn pg_client(&self) -> Option<tokio_postgres::Client> {
        let (base, schema) = self.schema.as_ref()?;
        let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("SET search_path = {schema}"))
            .await
            .expect("search_path");
        Some(client)
    }

    pub async fn drop_schema(self) {
        if let Some((base, schema)) = self.schema {
            let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
                .await
                .expect("reconnect");
            tokio::spawn(conn);
            client
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await
                .expect("drop schema");
        }
    }
}

pub struct P(pub Vec<(&'static str, String)>);
impl Params for P {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub async fn account(s: &dyn Store, owner: Option<&AccountSid>) -> AccountSid {
    let sid = AccountSid::generate();
    s.create_account(NewAccount {
        sid: sid.clone(),
        owner_sid: owner.cloned(),
        friendly_name: "t".into(),
        credential: AuthToken::generate().hash(),
    })
    .await
    .expect("account");
    sid
}

pub fn record(ip: &str, prefix: u8) -> NewIpRecord {
    NewIpRecord {
        friendly_name: None,
        ip_address: ip.parse().unwrap(),
        cidr_prefix_length: prefix,
    }
}

pub async fn domain(
    s: &dyn Store,
    acct: &AccountSid,
    name: &str,
) -> Result<SipDomainSid, StoreError> {
    let patch = SipDomainPatch::parse(
        &P(vec![("DomainName", name.into())]),
        "sip.twilio.com",
        true,
    )
    .expect("valid");
    let d = patch.into_new(SipDomainSid::generate(), acct.clone(), 1);
    s.create_sip_domain(d).await.map(|d| d.sid)
}

fn page(limit: u32, cursor: Cursor) -> PageQuery {
    PageQuery { limit, cursor }
}

/// Every rule, in one story.
async fn story(store: Arc<dyn Store>) {
    let s = store.as_ref();
    // Accounts and credentials.
    let a = account(s, None).await;
    let b = account(s, None).await;
    let sub = account(s, Some(&a)).await;
    let token = AuthToken::from_string("secret".into());
    s.ensure_account(NewAccount {
        sid: a.clone(),
        owner_sid: None,
        friendly_name: "t".into(),
        credential: token.hash(),
    })
    .await
    .unwrap();
    let (acct, hash) = s.account_credentials(&a).await.unwrap().unwrap();
    assert!(hash.verify(b"secret") && !hash.verify(b"other"));
    assert_eq!(acct.status, AccountStatus::Active);
    let listed = s
        .list_accounts(&a, &AccountFilter::default(), &page(10, Cursor::Offset(0)))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "the account and its subaccount");
    s.update_account(&sub, None, Some(AccountStatus::Closed))
        .await
        .unwrap();
    assert!(matches!(
        s.update_account(&sub, None, Some(AccountStatus::Active))
            .await,
        Err(StoreError::Invalid(_))
    ));

    // IP records: CRUD, scoping, keyset paging.
    let mut sids = Vec::new();
    for i in 0..5 {
        sids.push(
            s.create_ip_record(&a, record(&format!("10.9.0.{i}"), 32))
                .await
                .unwrap()
                .sid,
        );
    }
    assert!(
        s.get_ip_record(&b, sids[0].as_str())
            .await
            .unwrap()
            .is_none()
    );
    let first = s
        .list_ip_records(&a, &page(2, Cursor::Offset(0)))
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|r| &r.sid).collect::<Vec<_>>(),
        vec![&sids[0], &sids[1]]
    );
    let next = s
        .list_ip_records(&a, &page(2, Cursor::After(sids[1].to_string())))
        .await
        .unwrap();
    assert_eq!(next[0].sid, sids[2]);
    let before = s
        .list_ip_records(&a, &page(2, Cursor::Before(sids[2].to_string())))
        .await
        .unwrap();
    assert_eq!(before[0].sid, sids[1], "walking backwards, nearest first");
    let updated = s
        .update_ip_record(
            &a,
            sids[0].as_str(),
            IpRecordPatch {
                friendly_name: Some("n".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.friendly_name.as_deref(), Some("n"));
    assert!(matches!(
        s.update_ip_record(
            &b,
            sids[0].as_str(),
            IpRecordPatch {
                friendly_name: None
            }
        )
        .await,
        Err(StoreError::NotFound(_))
    ));

    // SIP domains: names unique across accounts, ignoring case.
    let d1 = domain(s, &a, "one.sip.twilio.com").await.unwrap();
    let d2 = domain(s, &a, "two.sip.twilio.com").await.unwrap();
    assert!(matches!(
        domain(s, &b, "ONE.sip.twilio.com").await,
        Err(StoreError::DomainTaken(_))
    ));
    let rename = SipDomainPatch::parse(
        &P(vec![("DomainName", "TWO.sip.twilio.com".into())]),
        "sip.twilio.com",
        false,
    )
    .unwrap();
    assert!(matches!(
        s.update_sip_domain(&a, d1.as_str(), rename).await,
        Err(StoreError::DomainTaken(_))
    ));

    // Mappings: one per record, one per network across accounts, references block deletes,
    // and every change reaches the recognition table before the call returns.
    let net_a = s
        .create_ip_record(&a, record("10.1.0.1", 24))
        .await
        .unwrap()
        .sid;
    let net_a2 = s
        .create_ip_record(&a, record("10.1.0.9", 24))
        .await
        .unwrap()
        .sid;
    let net_b = s
        .create_ip_record(&b, record("10.1.0.200", 24))
        .await
        .unwrap()
        .sid;
    let db_ = domain(s, &b, "b.sip.twilio.com").await.unwrap();
    let m = s.create_mapping(&a, &net_a, &d1).await.unwrap();
    let snap = s.recognition().snapshot();
    let hit = snap
        .by_source("10.1.0.77".parse().unwrap())
        .expect("recognised");
    assert_eq!(hit.domain_sid, d1);
    assert!(matches!(
        s.create_mapping(&a, &net_a, &d2).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.create_mapping(&a, &net_a2, &d2).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.create_mapping(&b, &net_b, &db_).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        matches!(
            s.create_mapping(&b, &net_a2, &db_).await,
            Err(StoreError::NotFound(_))
        ),
        "another account's record is not found"
    );
    assert!(matches!(
        s.delete_ip_record(&a, net_a.as_str()).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.delete_sip_domain(&a, d1.as_str()).await,
        Err(StoreError::Conflict(_))
    ));
    s.update_mapping(&a, m.sid.as_str(), &d2).await.unwrap();
    let hit = s.recognition().snapshot();
    assert_eq!(
        hit.by_source("10.1.0.5".parse().unwrap())
            .unwrap()
            .domain_sid,
        d2
    );
    s.delete_mapping(&a, m.sid.as_str()).await.unwrap();
    assert!(
        s.recognition()
            .snapshot()
            .by_source("10.1.0.5".parse().unwrap())
            .is_none()
    );
    s.delete_ip_record(&a, net_a.as_str()).await.unwrap();
    s.delete_sip_domain(&a, d1.as_str()).await.unwrap();
    assert!(
        s.recognition()
            .snapshot()
            .by_host("one.sip.twilio.com")
            .is_none()
    );

    // Concurrent conflicting writes: exactly one wins.
    let mut records = Vec::new();
    for i in 0..8 {
        records.push(
            s.create_ip_record(&a, record(&format!("172.20.0.{i}"), 28))
                .await
                .unwrap()
                .sid,
        );
    }
    let results = concurrently(&store, &a, &records, &d2).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict(_))))
    );

    // Recognition state as storage sees it matches the table.
    let state = s.recognition_state().await.unwrap();
    assert!(state.domains.iter().any(|t| t.domain_sid == d2));
    assert_eq!(state.mappings.len(), 1);
}

/// Maps every record to `d` at the same moment, each from its own task.
async fn concurrently(
    s: &Arc<dyn Store>,
    a: &AccountSid,
    records: &[IpRecordSid],
    d: &SipDomainSid,
) -> Vec<Result<(), StoreError>> {
    let tasks: Vec<_> = records
        .iter()
        .map(|r| {
            let (s, a, r, d) = (s.clone(), a.clone(), r.clone(), d.clone());
            tokio::spawn(async move { s.create_mapping(&a, &r, &d).await.map(|_| ()) })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conformance() {
    let db = TestDb::sqlite();
    story(db.open().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_conformance() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("SIPMAP_TEST_POSTGRES_URL is not set: PostgreSQL conformance not run");
        return;
    };
    story(db.open().await).await;
    db.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_share_one_table() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let n1 = db.open().await;
    let n2 = db.open().await;
    let a = account(n1.as_ref(), None).await;
    let d = domain(n1.as_ref(), &a, "shared.sip.twilio.com")
        .await
        .unwrap();
    let r = n1
        .create_ip_record(&a, record("192.0.2.0", 24))
        .await
        .unwrap()
        .sid;
    n1.create_mapping(&a, &r, &d).await.unwrap();
    // Node 2 learns of the write through the change feed within a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if n2
            .recognition()
            .snapshot()
            .by_source("192.0.2.9".parse().unwrap())
            .is_some()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2 never saw the mapping"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A third node starting now builds the same table.
    let n3 = db.open().await;
    assert!(
        n3.recognition()
            .snapshot()
            .by_source("192.0.2.9".parse().unwrap())
            .is_some()
    );
    drop((n1, n2, n3));
    db.drop_schema().await;
}
