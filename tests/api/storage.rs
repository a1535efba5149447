//! The storage conformance suite: one test per rule, each run against SQLite and against
//! PostgreSQL (when `SIPMAP_TEST_POSTGRES_URL` names a database, each test in a schema of its
//! own, dropped at the end; with `SIPMAP_REQUIRE_POSTGRES` set a missing server fails instead of
//! skipping). `tenancy.rs` holds the rules that keep tenants apart.

use std::sync::Arc;

use sipmap::auth_token::AuthToken;
use sipmap::clock::FixedClock;
use sipmap::domain::sip_domain::SipDomainPatch;
use sipmap::domain::{
    AccountPatch, AccountStatus, Conflict, IpRecordPatch, NewAccount, NewIpRecord, Params, Refusal,
};
use sipmap::sid::{AccountSid, IpRecordSid, SipDomainSid};
use sipmap::store::{self, AccountFilter, Cursor, PageQuery, Store, StoreError, StoreOptions};

/// A database for one test.
/// The server key of every test store (the nodes of a test cluster must share one).
pub fn test_key() -> sipmap::secret::ServerKey {
    sipmap::secret::ServerKey::from_bytes([7; 32])
}

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

    pub async fn open(&self) -> Arc<Store> {
        self.open_with(&StoreOptions::default()).await
    }

    /// Opens the store with options (and the tests' server key unless they name one: every
    /// node of a test cluster shares it).
    pub async fn open_with(&self, options: &StoreOptions) -> Arc<Store> {
        let mut options = options.clone();
        if options.key.is_none() {
            options.key = Some(test_key());
        }
        store::connect_with(&self.url, &options)
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

/// Runs each named test against SQLite and, when configured, PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = $crate::storage::TestDb::sqlite();
                super::$name(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(db) = $crate::storage::TestDb::postgres().await else { return };
                super::$name(&db).await;
                db.drop_schema().await;
            }
        })*
    };
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

pub async fn account(s: &Store, owner: Option<&AccountSid>) -> AccountSid {
    s.create_account(NewAccount {
        owner_sid: owner.cloned(),
        friendly_name: Some("t".into()),
        token: AuthToken::generate(),
    })
    .await
    .expect("account")
    .sid
}

pub fn record(ip: &str, prefix: u8) -> NewIpRecord {
    NewIpRecord {
        friendly_name: None,
        ip_address: ip.parse().unwrap(),
        cidr_prefix_length: prefix,
    }
}

pub async fn domain(s: &Store, acct: &AccountSid, name: &str) -> Result<SipDomainSid, StoreError> {
    let new = SipDomainPatch::parse(
        &P(vec![("DomainName", name.into())]),
        "sip.twilio.com",
        true,
    )
    .expect("valid");
    s.create_sip_domain(acct, new).await.map(|d| d.sid)
}

fn page(limit: u32, cursor: Cursor) -> PageQuery {
    PageQuery { limit, cursor }
}

pub fn status(status: AccountStatus) -> AccountPatch {
    AccountPatch {
        friendly_name: None,
        status: Some(status),
    }
}

fn is_conflict(r: &Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(r, Err(StoreError::Refused(Refusal::Conflict(_))))
}

on_both_backends!(
    a_token_can_be_replaced_and_is_checked,
    an_account_lists_itself_and_its_subaccounts,
    a_closed_account_cannot_be_reopened,
    ip_records_are_scoped_and_paged_by_sid,
    domain_names_are_unique_ignoring_case,
    an_ip_record_is_mapped_once,
    a_network_is_mapped_once_across_accounts,
    references_block_deletes,
    mapping_changes_reach_recognition_before_the_call_returns,
    concurrent_conflicting_creates_leave_one_winner,
    the_stored_recognition_state_matches_the_table,
    new_rows_are_dated_and_named_from_the_clock,
);

async fn a_token_can_be_replaced_and_is_checked(db: &TestDb) {
    let s = db.open().await;
    let a = account(s.as_ref(), None).await;
    let token = AuthToken::from_string("secret".into());
    s.ensure_account(&a, "t", &token).await.unwrap();
    let (acct, hash) = s.account_credentials(&a).await.unwrap().unwrap();
    assert!(hash.verify(b"secret") && !hash.verify(b"other"));
    assert_eq!(acct.status, AccountStatus::Active);
    let fresh = AccountSid::generate();
    let made = s.ensure_account(&fresh, "op", &token).await.unwrap();
    assert_eq!((made.sid, made.friendly_name.as_str()), (fresh, "op"));
}

async fn an_account_lists_itself_and_its_subaccounts(db: &TestDb) {
    let s = db.open().await;
    let a = account(s.as_ref(), None).await;
    account(s.as_ref(), None).await;
    account(s.as_ref(), Some(&a)).await;
    let listed = s
        .list_accounts(&a, &AccountFilter::default(), &page(10, Cursor::Offset(0)))
        .await
        .unwrap();
    assert_eq!(listed.len(), 2, "the account and its subaccount");
}

async fn a_closed_account_cannot_be_reopened(db: &TestDb) {
    let s = db.open().await;
    let a = account(s.as_ref(), None).await;
    let sub = account(s.as_ref(), Some(&a)).await;
    s.update_account(&sub, status(AccountStatus::Closed))
        .await
        .unwrap();
    assert!(matches!(
        s.update_account(&sub, status(AccountStatus::Active)).await,
        Err(StoreError::Refused(Refusal::Invalid(_)))
    ));
}

async fn ip_records_are_scoped_and_paged_by_sid(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let (a, b) = (account(s, None).await, account(s, None).await);
    let mut sids: Vec<IpRecordSid> = Vec::new();
    for i in 0..5 {
        let r = s.create_ip_record(&a, record(&format!("10.9.0.{i}"), 32));
        sids.push(r.await.unwrap().sid);
    }
    assert!(s.get_ip_record(&b, &sids[0]).await.unwrap().is_none());
    let first = s
        .list_ip_records(&a, &page(2, Cursor::Offset(0)))
        .await
        .unwrap();
    let firsts: Vec<&IpRecordSid> = first.iter().map(|r| &r.sid).collect();
    assert_eq!(firsts, vec![&sids[0], &sids[1]]);
    let after = Cursor::After(sids[1].to_string());
    assert_eq!(
        s.list_ip_records(&a, &page(2, after)).await.unwrap()[0].sid,
        sids[2]
    );
    let before = Cursor::Before(sids[2].to_string());
    let back = s.list_ip_records(&a, &page(2, before)).await.unwrap();
    assert_eq!(back[0].sid, sids[1], "walking backwards, nearest first");
    let named = IpRecordPatch {
        friendly_name: Some("n".into()),
    };
    let updated = s.update_ip_record(&a, &sids[0], named).await.unwrap();
    assert_eq!(updated.friendly_name.as_deref(), Some("n"));
    let nothing = IpRecordPatch {
        friendly_name: None,
    };
    assert!(matches!(
        s.update_ip_record(&b, &sids[0], nothing).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn domain_names_are_unique_ignoring_case(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let (a, b) = (account(s, None).await, account(s, None).await);
    let d1 = domain(s, &a, "one.sip.twilio.com").await.unwrap();
    domain(s, &a, "two.sip.twilio.com").await.unwrap();
    assert!(matches!(
        domain(s, &b, "ONE.sip.twilio.com").await,
        Err(StoreError::Refused(Refusal::DomainTaken(_)))
    ));
    let rename = SipDomainPatch::parse(
        &P(vec![("DomainName", "TWO.sip.twilio.com".into())]),
        "sip.twilio.com",
        false,
    )
    .unwrap();
    assert!(matches!(
        s.update_sip_domain(&a, &d1, rename).await,
        Err(StoreError::Refused(Refusal::DomainTaken(_)))
    ));
}

async fn an_ip_record_is_mapped_once(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let (d1, d2) = (
        domain(s, &a, "one.sip.twilio.com").await.unwrap(),
        domain(s, &a, "two.sip.twilio.com").await.unwrap(),
    );
    let r = s
        .create_ip_record(&a, record("10.1.0.1", 24))
        .await
        .unwrap()
        .sid;
    let m = s.create_mapping(&a, &r, &d1).await.unwrap();
    let again = s.create_mapping(&a, &r, &d2).await;
    assert!(
        matches!(&again, Err(StoreError::Refused(Refusal::Conflict(Conflict::RecordMapped { mapping, .. }))) if *mapping == m.sid),
        "{again:?}"
    );
}

async fn a_network_is_mapped_once_across_accounts(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let (a, b) = (account(s, None).await, account(s, None).await);
    let da = domain(s, &a, "one.sip.twilio.com").await.unwrap();
    let db_ = domain(s, &b, "b.sip.twilio.com").await.unwrap();
    let r1 = s
        .create_ip_record(&a, record("10.1.0.1", 24))
        .await
        .unwrap()
        .sid;
    let r2 = s
        .create_ip_record(&a, record("10.1.0.9", 24))
        .await
        .unwrap()
        .sid;
    let rb = s
        .create_ip_record(&b, record("10.1.0.200", 24))
        .await
        .unwrap()
        .sid;
    s.create_mapping(&a, &r1, &da).await.unwrap();
    assert!(
        is_conflict(&s.create_mapping(&a, &r2, &da).await),
        "same network, same account"
    );
    assert!(
        is_conflict(&s.create_mapping(&b, &rb, &db_).await),
        "same network, another account"
    );
    assert!(
        matches!(
            s.create_mapping(&b, &r2, &db_).await,
            Err(StoreError::NotFound(_))
        ),
        "another account's record is not found"
    );
}

async fn references_block_deletes(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let d = domain(s, &a, "one.sip.twilio.com").await.unwrap();
    let r = s
        .create_ip_record(&a, record("10.1.0.1", 24))
        .await
        .unwrap()
        .sid;
    let m = s.create_mapping(&a, &r, &d).await.unwrap();
    assert!(is_conflict(&s.delete_ip_record(&a, &r).await));
    assert!(is_conflict(&s.delete_sip_domain(&a, &d).await));
    s.delete_mapping(&a, &m.sid).await.unwrap();
    s.delete_ip_record(&a, &r).await.unwrap();
    s.delete_sip_domain(&a, &d).await.unwrap();
}

async fn mapping_changes_reach_recognition_before_the_call_returns(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let (d1, d2) = (
        domain(s, &a, "one.sip.twilio.com").await.unwrap(),
        domain(s, &a, "two.sip.twilio.com").await.unwrap(),
    );
    let seen = |ip: &str| {
        s.recognition()
            .snapshot()
            .by_source(ip.parse().unwrap())
            .map(|t| t.domain_sid.clone())
    };
    let r = s
        .create_ip_record(&a, record("10.1.0.1", 24))
        .await
        .unwrap()
        .sid;
    let m = s.create_mapping(&a, &r, &d1).await.unwrap();
    assert_eq!(seen("10.1.0.77"), Some(d1.clone()));
    s.update_mapping(&a, &m.sid, &d2).await.unwrap();
    assert_eq!(seen("10.1.0.5"), Some(d2));
    s.delete_mapping(&a, &m.sid).await.unwrap();
    assert_eq!(seen("10.1.0.5"), None);
    s.delete_sip_domain(&a, &d1).await.unwrap();
    assert!(
        s.recognition()
            .snapshot()
            .by_host("one.sip.twilio.com")
            .is_none()
    );
}

async fn concurrent_conflicting_creates_leave_one_winner(db: &TestDb) {
    let store = db.open().await;
    let a = account(store.as_ref(), None).await;
    let d = domain(store.as_ref(), &a, "two.sip.twilio.com")
        .await
        .unwrap();
    let mut records = Vec::new();
    for i in 0..8 {
        let r = store.create_ip_record(&a, record(&format!("172.20.0.{i}"), 28));
        records.push(r.await.unwrap().sid);
    }
    let tasks: Vec<_> = records
        .iter()
        .map(|r| {
            let (s, a, r, d) = (store.clone(), a.clone(), r.clone(), d.clone());
            tokio::spawn(async move { s.create_mapping(&a, &r, &d).await.map(|_| ()) })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|r| r.is_ok() || is_conflict(r)),
        "{results:?}"
    );
}

async fn the_stored_recognition_state_matches_the_table(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let d = domain(s, &a, "two.sip.twilio.com").await.unwrap();
    let r = s
        .create_ip_record(&a, record("172.20.0.1", 28))
        .await
        .unwrap()
        .sid;
    s.create_mapping(&a, &r, &d).await.unwrap();
    let state = s.recognition_state().await.unwrap();
    assert!(state.domains.iter().any(|t| t.domain_sid == d));
    assert_eq!(state.mappings.len(), 1);
}

async fn new_rows_are_dated_and_named_from_the_clock(db: &TestDb) {
    // A time after any real one, so that the process's guard that keeps SIDs increasing never
    // has to step past it.
    let clock = Arc::new(FixedClock::at_millis(32_503_680_000_500));
    let options = StoreOptions {
        clock: clock.clone(),
        ..StoreOptions::default()
    };
    let store = db.open_with(&options).await;
    let s = store.as_ref();
    let a = account(s, None).await;
    // The SID's time part is the clock's (other tests with such clocks may have moved the
    // process's increasing-SID guard up to a minute past it).
    let minted = u64::from_str_radix(&a.as_str()[2..14], 16).unwrap();
    assert!(
        (32_503_680_000_500..32_503_680_120_000).contains(&minted),
        "{minted}"
    );
    let r = s
        .create_ip_record(&a, record("10.0.0.1", 32))
        .await
        .unwrap();
    assert_eq!(
        (r.date_created, r.date_updated),
        (32_503_680_000, 32_503_680_000)
    );
    clock.set_millis(32_503_680_060_000);
    let named = IpRecordPatch {
        friendly_name: Some("n".into()),
    };
    let r = s.update_ip_record(&a, &r.sid, named).await.unwrap();
    assert_eq!(
        (r.date_created, r.date_updated),
        (32_503_680_000, 32_503_680_060)
    );
    let sub = s
        .create_account(NewAccount {
            owner_sid: Some(a.clone()),
            friendly_name: None,
            token: AuthToken::generate(),
        })
        .await
        .unwrap();
    assert_eq!(
        sub.friendly_name,
        "SubAccount Created at 3000-01-01 12:01 am"
    );
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
