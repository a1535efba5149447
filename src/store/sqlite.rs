//! The SQLite back end: one writer thread with group commit, and a pool of reader connections.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a commit returns only
//! after the WAL is fsynced. Every write runs on the single writer thread. The thread takes every
//! job that is waiting, runs each inside its own SAVEPOINT (a failing job rolls back alone), and
//! commits them all with one fsync; only then does each caller get its answer. Concurrent writes
//! therefore share fsyncs instead of queueing one fsync each.
//!
//! Reads run on a small pool of read-only connections. A point read takes microseconds, so it runs
//! in place on the async worker rather than hopping to a blocking thread.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use tokio::sync::oneshot;

use super::{AccountFilter, Cursor, Missing, PageQuery, Result, Store, StoreError};
use crate::auth_token::TokenHash;
use crate::domain::Network;
use crate::domain::mapping::{MappingFacts, may_map};
use crate::domain::sip_domain::domain_key;
use crate::domain::{
    Account, AccountStatus, IpRecord, IpRecordPatch, Mapping, NewAccount, NewIpRecord, SipDomain,
    SipDomainPatch, StatusChange,
};
use crate::recognition::{
    AccountRows, Change, Recognition, RecognitionWriter, State, StateBuilder, Target,
    account_changes,
};
use crate::sid::{AccountSid, IpRecordSid, MappingSid, SipDomainSid};
use crate::timefmt;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_tenancy.sql"),
];

/// How many jobs one commit may carry at most.
const MAX_BATCH: usize = 512;

/// How many reader connections to keep.
const READERS: usize = 4;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, msg) => match f.code {
                // The disk is full (or the database hit its size limit), or the file cannot be
                // written: the write is rolled back and the API answers 503.
                ErrorCode::DiskFull | ErrorCode::SystemIoFailure => {
                    StoreError::Exhausted(e.to_string())
                }
                // A constraint or a rule trigger refused the write; a trigger names its rule.
                ErrorCode::ConstraintViolation => {
                    StoreError::Violation(msg.clone().unwrap_or_else(|| e.to_string()))
                }
                _ => StoreError::Internal(e.to_string()),
            },
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

/// How a batch's commit ended, shared by every job of the batch.
#[derive(Debug, Clone)]
enum Commit {
    /// Committed durably.
    Done,
    /// Not committed because storage is full or failing.
    Exhausted(String),
    /// Not committed for another reason.
    Failed(String),
}

impl Commit {
    fn from_error(e: rusqlite::Error) -> Self {
        match StoreError::from(e) {
            StoreError::Exhausted(m) => Self::Exhausted(m),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// A write job as the writer thread sees it.
trait WriteJob: Send {
    /// Runs the job inside its savepoint, adding the recognition changes it makes to `changes`
    /// when it succeeds.
    fn run(&mut self, conn: &Connection, changes: &mut Vec<Change>) -> JobRun;
    /// Delivers the job's result once the batch's commit is known.
    fn finish(self: Box<Self>, commit: &Commit);
}

/// How one job ended inside its savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobRun {
    /// It succeeded; its changes join the batch.
    Succeeded,
    /// Storage was full or failing.
    Exhausted,
    /// A rule or another error refused it.
    Refused,
}

struct Job<T, F> {
    work: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteJob for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection, &mut Vec<Change>) -> Result<T> + Send,
{
    fn run(&mut self, conn: &Connection, changes: &mut Vec<Change>) -> JobRun {
        let mut mine = Vec::new();
        let result = match self.work.take() {
            Some(work) => work(conn, &mut mine),
            None => Err(StoreError::Internal("write job ran twice".into())),
        };
        let run = match &result {
            Ok(_) => {
                changes.append(&mut mine);
                JobRun::Succeeded
            }
            Err(StoreError::Exhausted(_)) => JobRun::Exhausted,
            Err(_) => JobRun::Refused,
        };
        self.result = Some(result);
        run
    }

    fn finish(self: Box<Self>, commit: &Commit) {
        let answer = match commit {
            Commit::Done => self
                .result
                .unwrap_or_else(|| Err(StoreError::Internal("write job never ran".into()))),
            Commit::Exhausted(e) => Err(StoreError::Exhausted(format!("commit failed: {e}"))),
            Commit::Failed(e) => Err(StoreError::Internal(format!("commit failed: {e}"))),
        };
        let _ = self.reply.send(answer);
    }
}

/// The SQLite store.
pub struct SqliteStore {
    writer: Mutex<mpsc::Sender<Box<dyn WriteJob>>>,
    recognition: Recognition,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Set when a write failed because storage is full or failing; cleared by the next write
    /// that commits. While set, the store reports itself unhealthy.
    failing: Arc<AtomicBool>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `path`, and starts its writer,
    /// which applies every committed change to `recognizer` before answering.
    pub fn open(
        path: &Path,
        recognizer: RecognitionWriter,
        max_bytes: Option<u64>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open SQLite database {}", path.display()))?;
        configure(&conn)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        anyhow::ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "SQLite refused WAL mode (got {mode})"
        );
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&conn).context("cannot migrate the SQLite schema")?;
        if let Some(bytes) = max_bytes {
            let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages = (bytes / page_size.max(512) as u64).max(1);
            conn.pragma_update(None, "max_page_count", pages as i64)?;
        }

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            configure(&r)?;
            readers.push(Mutex::new(r));
        }

        // The table is built before the writer starts; from then on only the writer changes it.
        recognizer.load(recognition_rows(&conn)?);
        let recognition = recognizer.reader();
        let (tx, rx) = mpsc::channel::<Box<dyn WriteJob>>();
        let failing = Arc::new(AtomicBool::new(false));
        let flag = failing.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(&conn, &rx, &recognizer, &flag))?;
        Ok(Self {
            writer: Mutex::new(tx),
            recognition,
            readers,
            next_reader: AtomicUsize::new(0),
            failing,
        })
    }

    /// Runs `work` on the writer thread inside a transaction and waits for its durable commit.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Vec<Change>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            work: Some(work),
            result: None,
            reply,
        });
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the SQLite writer dropped a job".into()))?
    }

    /// Runs `work` on a reader connection.
    fn read<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Ok(conn) = self.readers[(start + i) % n].try_lock() {
                return work(&conn);
            }
        }
        let conn = self.readers[start]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        work(&conn)
    }
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let done = usize::try_from(done).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// The writer loop: take every waiting job, run them in one transaction, commit once, apply
/// the committed changes to the recognition table, then answer each job. `failing` follows
/// whether storage can write: set when a job or a commit fails for lack of space or an I/O
/// error, cleared when a batch with a successful job commits.
fn run_writer(
    conn: &Connection,
    jobs: &mpsc::Receiver<Box<dyn WriteJob>>,
    sink: &RecognitionWriter,
    failing: &AtomicBool,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut changes = Vec::new();
        let mut outcome = BatchOutcome::default();
        let commit = match run_batch(conn, &mut batch, &mut changes, &mut outcome) {
            Ok(()) => Commit::Done,
            Err(failed) => failed,
        };
        match &commit {
            Commit::Done => {
                sink.apply(&changes);
                if outcome.succeeded > 0 {
                    failing.store(false, Ordering::Relaxed);
                } else if outcome.exhausted > 0 {
                    failing.store(true, Ordering::Relaxed);
                }
            }
            Commit::Exhausted(e) | Commit::Failed(e) => {
                tracing::error!(error.cause = %e, "SQLite commit failed; the batch is rolled back");
                let _ = conn.execute_batch("ROLLBACK");
                if matches!(commit, Commit::Exhausted(_)) {
                    failing.store(true, Ordering::Relaxed);
                }
            }
        }
        for job in batch {
            job.finish(&commit);
        }
    }
}

/// How the jobs of one batch fared before the commit.
#[derive(Debug, Default)]
struct BatchOutcome {
    succeeded: usize,
    exhausted: usize,
}

fn run_batch(
    conn: &Connection,
    batch: &mut [Box<dyn WriteJob>],
    changes: &mut Vec<Change>,
    outcome: &mut BatchOutcome,
) -> std::result::Result<(), Commit> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(Commit::from_error)?;
    for job in batch.iter_mut() {
        conn.execute_batch("SAVEPOINT job")
            .map_err(Commit::from_error)?;
        let run = job.run(conn, changes);
        match run {
            JobRun::Succeeded => outcome.succeeded += 1,
            JobRun::Exhausted => outcome.exhausted += 1,
            JobRun::Refused => {}
        }
        let undo = if run == JobRun::Succeeded {
            Ok(())
        } else {
            conn.execute_batch("ROLLBACK TO job")
        };
        // SQLite may have rolled the whole transaction back after a full disk or an I/O error,
        // taking the savepoint with it: the batch then fails as a whole, for that reason.
        undo.and_then(|()| conn.execute_batch("RELEASE job"))
            .map_err(|e| match (Commit::from_error(e), outcome.exhausted) {
                (Commit::Failed(m), 1..) => Commit::Exhausted(m),
                (other, _) => other,
            })?;
    }
    conn.execute_batch("COMMIT").map_err(Commit::from_error)
}

// ---------------------------------------------------------------------------------------------
// Row mapping

const ACCOUNT_COLS: &str =
    "sid, owner_sid, friendly_name, status, date_created, date_updated, token_salt, token_hash";

fn account_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    let sid: String = r.get(0)?;
    let owner: Option<String> = r.get(1)?;
    let status: String = r.get(3)?;
    Ok(Account {
        sid: AccountSid::parse(&sid).ok_or_else(|| bad_value(0, "account sid"))?,
        owner_sid: owner.as_deref().and_then(AccountSid::parse),
        friendly_name: r.get(2)?,
        status: AccountStatus::parse(&status).ok_or_else(|| bad_value(3, "status"))?,
        date_created: r.get(4)?,
        date_updated: r.get(5)?,
    })
}

fn credential_row(r: &Row<'_>) -> rusqlite::Result<(Account, TokenHash)> {
    let salt: Vec<u8> = r.get(6)?;
    let hash: Vec<u8> = r.get(7)?;
    Ok((
        account_row(r)?,
        TokenHash {
            salt: salt.try_into().map_err(|_| bad_value(6, "token salt"))?,
            hash: hash.try_into().map_err(|_| bad_value(7, "token hash"))?,
        },
    ))
}

const IP_RECORD_COLS: &str =
    "sid, account_sid, friendly_name, ip_address, cidr_prefix_length, date_created, date_updated";

fn ip_record_row(r: &Row<'_>) -> rusqlite::Result<IpRecord> {
    let sid: String = r.get(0)?;
    let account: String = r.get(1)?;
    let ip: String = r.get(3)?;
    Ok(IpRecord {
        sid: IpRecordSid::parse(&sid).ok_or_else(|| bad_value(0, "ip record sid"))?,
        account_sid: AccountSid::parse(&account).ok_or_else(|| bad_value(1, "account sid"))?,
        friendly_name: r.get(2)?,
        ip_address: ip
            .parse::<Ipv4Addr>()
            .map_err(|_| bad_value(3, "ip address"))?,
        cidr_prefix_length: r.get(4)?,
        date_created: r.get(5)?,
        date_updated: r.get(6)?,
    })
}

const SIP_DOMAIN_COLS: &str = "sid, account_sid, domain_name, friendly_name, voice_url, \
    voice_method, voice_fallback_url, voice_fallback_method, voice_status_callback_url, \
    voice_status_callback_method, sip_registration, emergency_calling_enabled, secure, \
    byoc_trunk_sid, emergency_caller_sid, date_created, date_updated";

fn sip_domain_row(r: &Row<'_>) -> rusqlite::Result<SipDomain> {
    let sid: String = r.get(0)?;
    let account: String = r.get(1)?;
    Ok(SipDomain {
        sid: SipDomainSid::parse(&sid).ok_or_else(|| bad_value(0, "sip domain sid"))?,
        account_sid: AccountSid::parse(&account).ok_or_else(|| bad_value(1, "account sid"))?,
        domain_name: r.get(2)?,
        friendly_name: r.get(3)?,
        voice_url: r.get(4)?,
        voice_method: r.get(5)?,
        voice_fallback_url: r.get(6)?,
        voice_fallback_method: r.get(7)?,
        voice_status_callback_url: r.get(8)?,
        voice_status_callback_method: r.get(9)?,
        sip_registration: r.get(10)?,
        emergency_calling_enabled: r.get(11)?,
        secure: r.get(12)?,
        byoc_trunk_sid: r.get(13)?,
        emergency_caller_sid: r.get(14)?,
        date_created: r.get(15)?,
        date_updated: r.get(16)?,
    })
}

const MAPPING_COLS: &str =
    "sid, account_sid, ip_record_sid, sip_domain_sid, date_created, date_updated";

fn mapping_row(r: &Row<'_>) -> rusqlite::Result<Mapping> {
    let sid: String = r.get(0)?;
    let account: String = r.get(1)?;
    let record: String = r.get(2)?;
    let domain: String = r.get(3)?;
    Ok(Mapping {
        sid: MappingSid::parse(&sid).ok_or_else(|| bad_value(0, "mapping sid"))?,
        account_sid: AccountSid::parse(&account).ok_or_else(|| bad_value(1, "account sid"))?,
        ip_record_sid: IpRecordSid::parse(&record).ok_or_else(|| bad_value(2, "ip record sid"))?,
        sip_domain_sid: SipDomainSid::parse(&domain)
            .ok_or_else(|| bad_value(3, "sip domain sid"))?,
        date_created: r.get(4)?,
        date_updated: r.get(5)?,
    })
}

fn bad_value(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("stored {what} is malformed").into(),
    )
}

/// One row of `table` by SID within `account`.
fn get_one<T>(
    conn: &Connection,
    table: &str,
    cols: &str,
    account: &AccountSid,
    sid: &str,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    let sql = format!("SELECT {cols} FROM {table} WHERE sid = ?1 AND account_sid = ?2");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![sid, account.as_str()], map)
        .optional()?)
}

/// One page of `table` within `account`, in walking order.
fn page_of<T>(
    conn: &Connection,
    table: &str,
    cols: &str,
    account: &AccountSid,
    page: &PageQuery,
    map: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let base = format!("SELECT {cols} FROM {table} WHERE account_sid = ?1");
    let limit = i64::from(page.limit);
    let rows = match &page.cursor {
        Cursor::Offset(n) => {
            let sql = format!("{base} ORDER BY sid LIMIT ?2 OFFSET ?3");
            let offset = i64::try_from(*n).unwrap_or(i64::MAX);
            let mut st = conn.prepare_cached(&sql)?;
            st.query_map(params![account.as_str(), limit, offset], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
        Cursor::After(sid) => {
            let sql = format!("{base} AND sid > ?3 ORDER BY sid LIMIT ?2");
            let mut st = conn.prepare_cached(&sql)?;
            st.query_map(params![account.as_str(), limit, sid], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
        Cursor::Before(sid) => {
            let sql = format!("{base} AND sid < ?3 ORDER BY sid DESC LIMIT ?2");
            let mut st = conn.prepare_cached(&sql)?;
            st.query_map(params![account.as_str(), limit, sid], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    Ok(rows)
}

/// The mapping that references `column = sid`, if any.
fn referencing_mapping(conn: &Connection, column: &str, sid: &str) -> Result<Option<String>> {
    let sql = format!("SELECT sid FROM source_ip_mappings WHERE {column} = ?1 LIMIT 1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([sid], |r| r.get(0))
        .optional()?)
}

fn insert_account(conn: &Connection, new: &NewAccount, now: i64) -> Result<Account> {
    conn.prepare_cached(
        "INSERT INTO accounts (sid, owner_sid, friendly_name, status, token_salt, token_hash, \
         date_created, date_updated) VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?6, ?6)",
    )?
    .execute(params![
        new.sid.as_str(),
        new.owner_sid.as_ref().map(AccountSid::as_str),
        new.friendly_name,
        &new.credential.salt[..],
        &new.credential.hash[..],
        now
    ])?;
    Ok(Account {
        sid: new.sid.clone(),
        owner_sid: new.owner_sid.clone(),
        friendly_name: new.friendly_name.clone(),
        status: AccountStatus::Active,
        date_created: now,
        date_updated: now,
    })
}

fn load_account(conn: &Connection, sid: &AccountSid) -> Result<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE sid = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([sid.as_str()], account_row)
        .optional()?)
}

/// Every recognised SIP domain and mapped network. Only active accounts are recognised; the
/// builder leaves out every mapping whose domain is not listed, so suspended accounts' mappings
/// drop out with their domains.
fn recognition_rows(conn: &Connection) -> Result<State> {
    let mut domains = Vec::new();
    let mut st = conn.prepare(
        "SELECT d.sid, d.account_sid, d.domain_name FROM sip_domains d \
         JOIN accounts a ON a.sid = d.account_sid WHERE a.status = 'active'",
    )?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let (sid, account): (String, String) = (r.get(0)?, r.get(1)?);
        domains.push(Target {
            domain_sid: SipDomainSid::parse(&sid).ok_or_else(|| bad_value(0, "sip domain sid"))?,
            account_sid: AccountSid::parse(&account).ok_or_else(|| bad_value(1, "account sid"))?,
            domain_name: r.get(2)?,
        });
    }
    let mut state = StateBuilder::new(domains);
    let mut st =
        conn.prepare("SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let net = Network {
            addr: r.get(0)?,
            prefix: r.get(1)?,
        };
        state.mapping(net, r.get_ref(2)?.as_str().unwrap_or_default());
    }
    Ok(state.finish())
}

#[async_trait]
impl Store for SqliteStore {
    async fn recognition_state(&self) -> Result<State> {
        self.read(recognition_rows)
    }

    fn recognition(&self) -> Recognition {
        self.recognition.clone()
    }

    async fn check_health(&self) -> Result<()> {
        if !self.failing.load(Ordering::Relaxed) {
            return Ok(());
        }
        // A write failed for lack of space or an I/O error: a probe that needs room for 64 KiB
        // (stored, then deleted, and committed) tells whether storage can take writes again,
        // and clears the flag when it does.
        self.write(|conn, _changes| {
            conn.execute_batch(
                "INSERT INTO health_probe (id, pad) VALUES (1, zeroblob(65536)); \
                 DELETE FROM health_probe;",
            )?;
            Ok(())
        })
        .await
    }

    async fn account_credentials(&self, sid: &AccountSid) -> Result<Option<(Account, TokenHash)>> {
        self.read(|conn| {
            let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE sid = ?1");
            Ok(conn
                .prepare_cached(&sql)?
                .query_row([sid.as_str()], credential_row)
                .optional()?)
        })
    }

    async fn get_account(&self, sid: &AccountSid) -> Result<Option<Account>> {
        self.read(|conn| load_account(conn, sid))
    }

    async fn count_accounts(&self) -> Result<u64> {
        self.read(|conn| {
            let n: i64 = conn
                .prepare_cached("SELECT count(*) FROM accounts")?
                .query_row([], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    async fn create_account(&self, new: NewAccount) -> Result<Account> {
        self.write(move |conn, _changes| {
            if let Some(owner) = &new.owner_sid
                && load_account(conn, owner)?.is_none()
            {
                return Err(StoreError::NotFound(Missing::Account(owner.clone())));
            }
            insert_account(conn, &new, timefmt::now())
        })
        .await
    }

    async fn ensure_account(&self, new: NewAccount) -> Result<Account> {
        self.write(move |conn, _changes| {
            let now = timefmt::now();
            match load_account(conn, &new.sid)? {
                None => insert_account(conn, &new, now),
                Some(existing) => {
                    conn.prepare_cached(
                        "UPDATE accounts SET token_salt = ?2, token_hash = ?3 WHERE sid = ?1",
                    )?
                    .execute(params![
                        new.sid.as_str(),
                        &new.credential.salt[..],
                        &new.credential.hash[..]
                    ])?;
                    Ok(existing)
                }
            }
        })
        .await
    }

    async fn create_first_account(&self, new: NewAccount) -> Result<Option<Account>> {
        self.write(move |conn, _changes| {
            let n: i64 = conn
                .prepare_cached("SELECT count(*) FROM accounts")?
                .query_row([], |r| r.get(0))?;
            if n > 0 {
                return Ok(None);
            }
            insert_account(conn, &new, timefmt::now()).map(Some)
        })
        .await
    }

    async fn list_accounts(
        &self,
        caller: &AccountSid,
        filter: &AccountFilter,
        page: &PageQuery,
    ) -> Result<Vec<Account>> {
        self.read(|conn| {
            let base = format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE (sid = ?1 OR owner_sid = ?1) \
                 AND (?2 IS NULL OR friendly_name = ?2) AND (?3 IS NULL OR status = ?3)"
            );
            let (clause, key): (&str, Option<String>) = match &page.cursor {
                Cursor::Offset(_) => ("ORDER BY sid LIMIT ?4 OFFSET ?5", None),
                Cursor::After(s) => ("AND sid > ?5 ORDER BY sid LIMIT ?4", Some(s.clone())),
                Cursor::Before(s) => ("AND sid < ?5 ORDER BY sid DESC LIMIT ?4", Some(s.clone())),
            };
            let offset = match &page.cursor {
                Cursor::Offset(n) => {
                    rusqlite::types::Value::Integer(i64::try_from(*n).unwrap_or(i64::MAX))
                }
                _ => rusqlite::types::Value::Text(key.unwrap_or_default()),
            };
            let sql = format!("{base} {clause}");
            let mut st = conn.prepare_cached(&sql)?;
            let rows = st
                .query_map(
                    params![
                        caller.as_str(),
                        filter.friendly_name,
                        filter.status.map(AccountStatus::as_str),
                        i64::from(page.limit),
                        offset
                    ],
                    account_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    async fn update_account(
        &self,
        sid: &AccountSid,
        friendly_name: Option<String>,
        status: Option<AccountStatus>,
    ) -> Result<Account> {
        let sid = sid.clone();
        self.write(move |conn, changes| {
            let mut account = load_account(conn, &sid)?
                .ok_or_else(|| StoreError::NotFound(Missing::Account(sid.clone())))?;
            let change = account.status_change(status)?;
            match change {
                StatusChange::Unchanged => {}
                StatusChange::Suspend | StatusChange::Reactivate => {
                    let rows = account_recognition_rows(conn, &sid)?;
                    let recognised = change == StatusChange::Reactivate;
                    changes.extend(account_changes(rows, recognised));
                }
                StatusChange::Close { was_active } => {
                    if was_active {
                        let rows = account_recognition_rows(conn, &sid)?;
                        changes.extend(account_changes(rows, false));
                    }
                    // Closing frees the account's networks and domain names in this transaction.
                    conn.prepare_cached("DELETE FROM source_ip_mappings WHERE account_sid = ?1")?
                        .execute([sid.as_str()])?;
                    conn.prepare_cached("DELETE FROM sip_domains WHERE account_sid = ?1")?
                        .execute([sid.as_str()])?;
                }
            }
            if let Some(new_status) = status {
                account.status = new_status;
            }
            if let Some(name) = friendly_name {
                account.friendly_name = name;
            }
            account.date_updated = timefmt::now();
            conn.prepare_cached(
                "UPDATE accounts SET friendly_name = ?2, status = ?3, date_updated = ?4 WHERE sid = ?1",
            )?
            .execute(params![
                sid.as_str(),
                account.friendly_name,
                account.status.as_str(),
                account.date_updated
            ])?;
            Ok(account)
        })
        .await
    }

    async fn create_ip_record(&self, account: &AccountSid, new: NewIpRecord) -> Result<IpRecord> {
        let record = IpRecord {
            sid: IpRecordSid::generate(),
            account_sid: account.clone(),
            friendly_name: new.friendly_name,
            ip_address: new.ip_address,
            cidr_prefix_length: new.cidr_prefix_length,
            date_created: timefmt::now(),
            date_updated: timefmt::now(),
        };
        self.write(move |conn, _changes| {
            conn.prepare_cached(
                "INSERT INTO ip_records (sid, account_sid, friendly_name, ip_address, \
                 cidr_prefix_length, date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                record.sid.as_str(),
                record.account_sid.as_str(),
                record.friendly_name,
                record.ip_address.to_string(),
                record.cidr_prefix_length,
                record.date_created,
                record.date_updated
            ])?;
            Ok(record)
        })
        .await
    }

    async fn get_ip_record(&self, account: &AccountSid, sid: &str) -> Result<Option<IpRecord>> {
        self.read(|conn| {
            get_one(
                conn,
                "ip_records",
                IP_RECORD_COLS,
                account,
                sid,
                ip_record_row,
            )
        })
    }

    async fn list_ip_records(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<IpRecord>> {
        self.read(|conn| {
            page_of(
                conn,
                "ip_records",
                IP_RECORD_COLS,
                account,
                page,
                ip_record_row,
            )
        })
    }

    async fn update_ip_record(
        &self,
        account: &AccountSid,
        sid: &str,
        patch: IpRecordPatch,
    ) -> Result<IpRecord> {
        let (account, sid) = (account.clone(), sid.to_owned());
        self.write(move |conn, _changes| {
            let mut record = get_one(
                conn,
                "ip_records",
                IP_RECORD_COLS,
                &account,
                &sid,
                ip_record_row,
            )?
            .ok_or_else(|| StoreError::NotFound(Missing::IpRecord(sid.clone())))?;
            if let Some(name) = patch.friendly_name {
                record.friendly_name = Some(name);
                record.date_updated = timefmt::now();
                conn.prepare_cached(
                    "UPDATE ip_records SET friendly_name = ?2, date_updated = ?3 WHERE sid = ?1",
                )?
                .execute(params![
                    sid,
                    record.friendly_name,
                    record.date_updated
                ])?;
            }
            Ok(record)
        })
        .await
    }

    async fn delete_ip_record(&self, account: &AccountSid, sid: &str) -> Result<()> {
        let (account, sid) = (account.clone(), sid.to_owned());
        self.write(move |conn, _changes| {
            if get_one(conn, "ip_records", "sid", &account, &sid, |r| {
                r.get::<_, String>(0)
            })?
            .is_none()
            {
                return Err(StoreError::NotFound(Missing::IpRecord(sid)));
            }
            if let Some(mapping) = referencing_mapping(conn, "ip_record_sid", &sid)? {
                return Err(StoreError::record_in_use(&sid, &mapping));
            }
            conn.prepare_cached("DELETE FROM ip_records WHERE sid = ?1")?
                .execute([&sid])?;
            Ok(())
        })
        .await
    }

    async fn create_sip_domain(&self, domain: SipDomain) -> Result<SipDomain> {
        self.write(move |conn, changes| {
            let recognised = owner_may_write(conn, &domain.account_sid)?;
            insert_or_update_domain(conn, &domain, true)?;
            if recognised {
                changes.push(Change::DomainSet(target_of(&domain)));
            }
            Ok(domain)
        })
        .await
    }

    async fn get_sip_domain(&self, account: &AccountSid, sid: &str) -> Result<Option<SipDomain>> {
        self.read(|conn| {
            get_one(
                conn,
                "sip_domains",
                SIP_DOMAIN_COLS,
                account,
                sid,
                sip_domain_row,
            )
        })
    }

    async fn list_sip_domains(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<SipDomain>> {
        self.read(|conn| {
            page_of(
                conn,
                "sip_domains",
                SIP_DOMAIN_COLS,
                account,
                page,
                sip_domain_row,
            )
        })
    }

    async fn update_sip_domain(
        &self,
        account: &AccountSid,
        sid: &str,
        patch: SipDomainPatch,
    ) -> Result<SipDomain> {
        let (account, sid) = (account.clone(), sid.to_owned());
        self.write(move |conn, changes| {
            let mut domain = get_one(
                conn,
                "sip_domains",
                SIP_DOMAIN_COLS,
                &account,
                &sid,
                sip_domain_row,
            )?
            .ok_or_else(|| {
                StoreError::NotFound(Missing::SipDomain(account.clone(), sid.clone()))
            })?;
            let recognised = owner_may_write(conn, &account)?;
            let old_name = domain.domain_name.clone();
            patch.apply(&mut domain, timefmt::now());
            insert_or_update_domain(conn, &domain, false)?;
            // Only a new name changes what recognition knows.
            if recognised && domain.domain_name != old_name {
                changes.push(Change::DomainSet(target_of(&domain)));
            }
            Ok(domain)
        })
        .await
    }

    async fn delete_sip_domain(&self, account: &AccountSid, sid: &str) -> Result<()> {
        let (account, sid) = (account.clone(), sid.to_owned());
        self.write(move |conn, changes| {
            if get_one(conn, "sip_domains", "sid", &account, &sid, |r| {
                r.get::<_, String>(0)
            })?
            .is_none()
            {
                return Err(StoreError::NotFound(Missing::SipDomain(account, sid)));
            }
            if let Some(mapping) = referencing_mapping(conn, "sip_domain_sid", &sid)? {
                return Err(StoreError::domain_in_use(&sid, &mapping));
            }
            conn.prepare_cached("DELETE FROM sip_domains WHERE sid = ?1")?
                .execute([&sid])?;
            if let Some(sid) = SipDomainSid::parse(&sid) {
                changes.push(Change::DomainRemoved(sid));
            }
            Ok(())
        })
        .await
    }

    async fn create_mapping(
        &self,
        account: &AccountSid,
        ip_record_sid: &IpRecordSid,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping> {
        let now = timefmt::now();
        let mapping = Mapping {
            sid: MappingSid::generate(),
            account_sid: account.clone(),
            ip_record_sid: ip_record_sid.clone(),
            sip_domain_sid: sip_domain_sid.clone(),
            date_created: now,
            date_updated: now,
        };
        self.write(move |conn, changes| {
            let account = &mapping.account_sid;
            let caller = load_account(conn, account)?
                .ok_or_else(|| StoreError::NotFound(Missing::Account(account.clone())))?;
            if caller.status != AccountStatus::Active {
                return Err(StoreError::AccountNotActive(account.clone()));
            }
            let record_sid = mapping.ip_record_sid.as_str();
            let record = get_one(
                conn,
                "ip_records",
                IP_RECORD_COLS,
                account,
                record_sid,
                ip_record_row,
            )?
            .ok_or_else(|| StoreError::NotFound(Missing::IpRecord(record_sid.to_owned())))?;
            require_domain(conn, account, &mapping.sip_domain_sid)?;
            let network = record.network();
            let facts = MappingFacts {
                record_mapped_by: referencing_mapping(conn, "ip_record_sid", record_sid)?,
                network_taken: conn
                    .prepare_cached(
                        "SELECT 1 FROM source_ip_mappings WHERE network = ?1 AND prefix_length = ?2",
                    )?
                    .exists(params![network.addr, network.prefix])?,
                overlapping_owners: overlapping_owners(conn, network, &caller)?,
            };
            may_map(&caller, &record, &facts)?;
            conn.prepare_cached(
                "INSERT INTO source_ip_mappings (sid, account_sid, ip_record_sid, sip_domain_sid, \
                 network, prefix_length, date_created, date_updated) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?
            .execute(params![
                mapping.sid.as_str(),
                account.as_str(),
                record_sid,
                mapping.sip_domain_sid.as_str(),
                network.addr,
                network.prefix,
                mapping.date_created
            ])?;
            changes.push(Change::MappingSet(network, mapping.sip_domain_sid.clone()));
            Ok(mapping)
        })
        .await
    }

    async fn get_mapping(&self, account: &AccountSid, sid: &str) -> Result<Option<Mapping>> {
        self.read(|conn| {
            get_one(
                conn,
                "source_ip_mappings",
                MAPPING_COLS,
                account,
                sid,
                mapping_row,
            )
        })
    }

    async fn list_mappings(&self, account: &AccountSid, page: &PageQuery) -> Result<Vec<Mapping>> {
        self.read(|conn| {
            page_of(
                conn,
                "source_ip_mappings",
                MAPPING_COLS,
                account,
                page,
                mapping_row,
            )
        })
    }

    async fn update_mapping(
        &self,
        account: &AccountSid,
        sid: &str,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping> {
        let (account, sid, domain) = (account.clone(), sid.to_owned(), sip_domain_sid.clone());
        self.write(move |conn, changes| {
            let mut mapping =
                get_one(conn, "source_ip_mappings", MAPPING_COLS, &account, &sid, mapping_row)?
                    .ok_or_else(|| StoreError::NotFound(Missing::Mapping(sid.clone())))?;
            require_domain(conn, &account, &domain)?;
            mapping.sip_domain_sid = domain;
            mapping.date_updated = timefmt::now();
            conn.prepare_cached(
                "UPDATE source_ip_mappings SET sip_domain_sid = ?2, date_updated = ?3 WHERE sid = ?1",
            )?
            .execute(params![sid, mapping.sip_domain_sid.as_str(), mapping.date_updated])?;
            if owner_may_write(conn, &account)? {
                changes.push(Change::MappingSet(
                    mapping_network(conn, &sid)?,
                    mapping.sip_domain_sid.clone(),
                ));
            }
            Ok(mapping)
        })
        .await
    }

    async fn delete_mapping(&self, account: &AccountSid, sid: &str) -> Result<()> {
        let (account, sid) = (account.clone(), sid.to_owned());
        self.write(move |conn, changes| {
            let Some(network) = get_one(
                conn,
                "source_ip_mappings",
                "network, prefix_length",
                &account,
                &sid,
                |r| {
                    Ok(Network {
                        addr: r.get(0)?,
                        prefix: r.get(1)?,
                    })
                },
            )?
            else {
                return Err(StoreError::NotFound(Missing::Mapping(sid)));
            };
            conn.prepare_cached("DELETE FROM source_ip_mappings WHERE sid = ?1")?
                .execute([&sid])?;
            changes.push(Change::MappingRemoved(network));
            Ok(())
        })
        .await
    }
}

/// Whether `account` is recognised (active) after checking that it may be written to at all: a
/// closed account's resources cannot change; a suspended account's can, but stay out of
/// recognition until it is reactivated.
fn owner_may_write(conn: &Connection, account: &AccountSid) -> Result<bool> {
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM accounts WHERE sid = ?1")?
        .query_row([account.as_str()], |r| r.get(0))
        .optional()?;
    match status.as_deref().and_then(AccountStatus::parse) {
        None => Err(StoreError::NotFound(Missing::Account(account.clone()))),
        Some(AccountStatus::Closed) => Err(StoreError::AccountNotActive(account.clone())),
        Some(status) => Ok(status == AccountStatus::Active),
    }
}

/// The owners (account and parent) of the mapped networks that overlap `network`, other than
/// `caller` itself and its parent (always family): those starting inside it, and those
/// containing it. The caller's own networks are skipped in the index, so a wide network over
/// many of its own costs little.
fn overlapping_owners(
    conn: &Connection,
    network: Network,
    caller: &Account,
) -> Result<Vec<(AccountSid, Option<AccountSid>)>> {
    let row =
        |r: &Row<'_>| -> rusqlite::Result<(String, Option<String>)> { Ok((r.get(0)?, r.get(1)?)) };
    let (me, parent) = (
        caller.sid.as_str(),
        caller.owner_sid.as_ref().map(AccountSid::as_str),
    );
    let mut raw = conn
        .prepare_cached(
            "SELECT DISTINCT m.account_sid, a.owner_sid \
             FROM source_ip_mappings m INDEXED BY source_ip_mappings_by_network \
             JOIN accounts a ON a.sid = m.account_sid \
             WHERE m.network BETWEEN ?1 AND ?2 AND m.account_sid <> ?3 \
             AND m.account_sid IS NOT ?4",
        )?
        .query_map(params![network.addr, network.last(), me, parent], row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut containing = conn.prepare_cached(
        "SELECT m.account_sid, a.owner_sid FROM source_ip_mappings m \
         JOIN accounts a ON a.sid = m.account_sid \
         WHERE m.network = ?1 AND m.prefix_length = ?2 AND m.account_sid <> ?3 \
         AND m.account_sid IS NOT ?4",
    )?;
    for sup in network.supernets() {
        if let Some(owner) = containing
            .query_row(params![sup.addr, sup.prefix, me, parent], row)
            .optional()?
        {
            raw.push(owner);
        }
    }
    raw.into_iter()
        .map(|(owner, parent)| {
            let owner = AccountSid::parse(&owner).ok_or_else(|| bad_value(0, "account sid"))?;
            Ok((owner, parent.as_deref().and_then(AccountSid::parse)))
        })
        .collect()
}

/// Every SIP domain and mapped network of `account`, as recognition knows them.
fn account_recognition_rows(conn: &Connection, account: &AccountSid) -> Result<AccountRows> {
    let domains = conn
        .prepare_cached(&format!(
            "SELECT {SIP_DOMAIN_COLS} FROM sip_domains WHERE account_sid = ?1"
        ))?
        .query_map([account.as_str()], sip_domain_row)?
        .map(|d| d.map(|d| target_of(&d)))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mappings = conn
        .prepare_cached(
            "SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings \
             WHERE account_sid = ?1",
        )?
        .query_map([account.as_str()], |r| {
            let domain: String = r.get(2)?;
            Ok((
                Network {
                    addr: r.get(0)?,
                    prefix: r.get(1)?,
                },
                SipDomainSid::parse(&domain).ok_or_else(|| bad_value(2, "sip domain sid"))?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(AccountRows { domains, mappings })
}

/// Fails with the domain's 404 unless `sid` is a SIP domain of `account`.
fn require_domain(conn: &Connection, account: &AccountSid, sid: &SipDomainSid) -> Result<()> {
    get_one(conn, "sip_domains", "sid", account, sid.as_str(), |r| {
        r.get::<_, String>(0)
    })?
    .map(|_| ())
    .ok_or_else(|| StoreError::NotFound(Missing::SipDomain(account.clone(), sid.to_string())))
}

/// Inserts or rewrites a SIP domain, turning a taken name into [`StoreError::DomainTaken`].
fn insert_or_update_domain(conn: &Connection, d: &SipDomain, insert: bool) -> Result<()> {
    let key = domain_key(&d.domain_name);
    let owner: Option<String> = conn
        .prepare_cached("SELECT sid FROM sip_domains WHERE domain_key = ?1")?
        .query_row([&key], |r| r.get(0))
        .optional()?;
    if owner.is_some_and(|s| s != d.sid.as_str()) {
        return Err(StoreError::DomainTaken(d.domain_name.clone()));
    }
    let sql = if insert {
        "INSERT INTO sip_domains (sid, account_sid, domain_name, domain_key, friendly_name, \
         voice_url, voice_method, voice_fallback_url, voice_fallback_method, \
         voice_status_callback_url, voice_status_callback_method, sip_registration, \
         emergency_calling_enabled, secure, byoc_trunk_sid, emergency_caller_sid, date_created, \
         date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
         ?16, ?17, ?18)"
    } else {
        "UPDATE sip_domains SET account_sid = ?2, domain_name = ?3, domain_key = ?4, \
         friendly_name = ?5, voice_url = ?6, voice_method = ?7, voice_fallback_url = ?8, \
         voice_fallback_method = ?9, voice_status_callback_url = ?10, \
         voice_status_callback_method = ?11, sip_registration = ?12, \
         emergency_calling_enabled = ?13, secure = ?14, byoc_trunk_sid = ?15, \
         emergency_caller_sid = ?16, date_created = ?17, date_updated = ?18 WHERE sid = ?1"
    };
    conn.prepare_cached(sql)?.execute(params![
        d.sid.as_str(),
        d.account_sid.as_str(),
        d.domain_name,
        key,
        d.friendly_name,
        d.voice_url,
        d.voice_method,
        d.voice_fallback_url,
        d.voice_fallback_method,
        d.voice_status_callback_url,
        d.voice_status_callback_method,
        d.sip_registration,
        d.emergency_calling_enabled,
        d.secure,
        d.byoc_trunk_sid,
        d.emergency_caller_sid,
        d.date_created,
        d.date_updated
    ])?;
    Ok(())
}

/// The recognition view of a domain.
fn target_of(d: &SipDomain) -> Target {
    Target {
        domain_sid: d.sid.clone(),
        account_sid: d.account_sid.clone(),
        domain_name: d.domain_name.clone(),
    }
}

/// The network a mapping covers.
fn mapping_network(conn: &Connection, sid: &str) -> Result<Network> {
    let (addr, prefix): (u32, u8) = conn
        .prepare_cached("SELECT network, prefix_length FROM source_ip_mappings WHERE sid = ?1")?
        .query_row([sid], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Network { addr, prefix })
}
