//! The PostgreSQL back end: the shared store of a sipmap cluster.
//!
//! Any number of `sipmap serve` processes on one database form a cluster. Every rule of the API
//! (one mapping per IP record, one mapping per network, unique domain names, references that
//! block deletes) is a constraint in the schema, so when two nodes take conflicting writes at the
//! same moment exactly one commits and the other gets the same error a single node gives.
//!
//! Keeping every node's recognition table current: a write that changes what recognition knows
//! takes the next number from `change_counter` (its row lock makes numbers follow commit order),
//! records its changes in `change_log` under that number and sends `NOTIFY sipmap_changes`. Each
//! node listens on a dedicated connection and applies the log in order; it also polls the counter
//! every second, so a lost notification or a lost connection is caught up by itself. The node
//! that made a write applies the log up to its own number before it answers (read-your-writes).
//!
//! Every database call has a deadline: a node that cannot reach the database answers API calls
//! with 503 (`StoreError::Unavailable`) instead of hanging, reports unhealthy, and its SIP edge
//! keeps recognising traffic from the last table it had.

use std::future::Future;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls, Row};

use super::{AccountFilter, Cursor, Missing, PageQuery, Result, Store, StoreError};
use crate::auth_token::TokenHash;
use crate::domain::mapping::{MappingFacts, may_map};
use crate::domain::sip_domain::domain_key;
use crate::domain::{
    Account, AccountStatus, Conflict, Invalid, IpRecord, IpRecordPatch, Mapping, Network,
    NewAccount, NewIpRecord, SipDomain, SipDomainPatch, StatusChange,
};
use crate::recognition::{
    AccountRows, Change, Recognition, RecognitionWriter, State, StateBuilder, Target,
    account_changes,
};
use crate::sid::{AccountSid, IpRecordSid, MappingSid, SipDomainSid};
use crate::timefmt;

/// Schema migrations, applied in order under an advisory lock.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_tenancy.sql"),
];
/// Advisory lock key that serialises migrations across nodes starting together.
const MIGRATION_LOCK: i64 = 0x5349_504d_4150; // "SIPMAP"
/// The notification channel.
const CHANNEL: &str = "sipmap_changes";
/// Deadline of any one database operation.
const DEADLINE: Duration = Duration::from_secs(5);
/// How often each node compares its table with the change counter.
const POLL: Duration = Duration::from_secs(1);
/// How long the change log keeps an entry unless told otherwise. A node that was away (cut off
/// from the database, or stopped) for less than this catches up from the log; a node away for
/// longer finds entries it needs pruned and reloads its whole table instead.
pub const DEFAULT_CHANGE_LOG_RETENTION: Duration = Duration::from_secs(600);
/// How often each node prunes the change log at most (more often with a short retention).
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// The advisory lock that serialises every new mapping across the cluster, so that the check for
/// overlapping networks and the insert act as one (the schema's trigger takes it too).
const FAMILY_LOCK: i64 = 5_938_012_657_234_001;

/// The PostgreSQL store.
pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    recognizer: RecognitionWriter,
    /// The last change number applied to `recognizer`.
    applied: tokio::sync::Mutex<i64>,
    healthy: AtomicBool,
    /// Set when a write failed because the database server is out of disk or failing; cleared
    /// by the next write that commits.
    failing: AtomicBool,
    retention: Duration,
}

/// An error and every cause under it, on one line: a connection error's own text ("error
/// connecting to server") says nothing without its cause ("Connection refused").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Where a configuration points (hosts, port, database, user), without its password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}:{port}/{} as {}",
        if hosts.is_empty() {
            "localhost".to_owned()
        } else {
            hosts.join(",")
        },
        config.get_dbname().unwrap_or("(default database)"),
        config.get_user().unwrap_or("(default user)"),
    )
}

fn db(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        // Class 53 (insufficient resources: disk full, out of memory) and 58 (system errors:
        // I/O): the database is there but cannot write.
        Some(d) if d.code().code().starts_with("53") || d.code().code().starts_with("58") => {
            StoreError::Exhausted(with_causes(&e))
        }
        Some(_) => StoreError::Internal(with_causes(&e)),
        None => StoreError::Unavailable(with_causes(&e)),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        db(e)
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => db(e),
            other => StoreError::Unavailable(with_causes(&other)),
        }
    }
}

/// The SQLSTATE and constraint name of a failed statement.
fn constraint_of(e: &tokio_postgres::Error) -> Option<(SqlState, String)> {
    let db = e.as_db_error()?;
    Some((
        db.code().clone(),
        db.constraint().unwrap_or_default().to_owned(),
    ))
}

/// Every SIP domain and every mapped network, as recognition needs them.
async fn recognition_rows<C: GenericClient>(c: &C) -> Result<State> {
    // Only active accounts are recognised; the builder leaves out every mapping whose domain is
    // not listed, so suspended accounts' mappings drop out with their domains.
    let domains = c
        .query(
            "SELECT d.sid, d.account_sid, d.domain_name FROM sip_domains d \
             JOIN accounts a ON a.sid = d.account_sid WHERE a.status = 'active'",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Target {
                domain_sid: parse_sid(r.get(0), SipDomainSid::parse)?,
                account_sid: parse_sid(r.get(1), AccountSid::parse)?,
                domain_name: r.get(2),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut state = StateBuilder::new(domains);
    let rows = c
        .query(
            "SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings",
            &[],
        )
        .await?;
    for r in &rows {
        state.mapping(network(r.get(0), r.get(1)), r.get(2));
    }
    Ok(state.finish())
}

/// Runs `fut` with the store's deadline.
async fn deadline<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Unavailable(
            "the database did not answer in time".into(),
        )),
    }
}

impl PgStore {
    /// Connects, migrates, loads the recognition table and starts following the change feed;
    /// `retention` is how long the change log keeps entries.
    pub async fn open(
        url: &str,
        recognizer: RecognitionWriter,
        retention: Duration,
    ) -> anyhow::Result<Arc<Self>> {
        use anyhow::Context;
        let mut config = tokio_postgres::Config::from_str(url)
            .context("the PostgreSQL database URL is not valid")?;
        config.connect_timeout(DEADLINE);
        let options = config.get_options().unwrap_or_default().to_owned();
        // Notices (such as "already exists, skipping" while migrating) are not worth a log line.
        config.options(
            format!("{options} -c statement_timeout=5000 -c client_min_messages=warning").trim(),
        );
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(DEADLINE))
            .create_timeout(Some(DEADLINE))
            .recycle_timeout(Some(DEADLINE))
            .build()
            .context("cannot build the PostgreSQL pool")?;
        let store = Arc::new(Self {
            pool,
            config,
            recognizer,
            applied: tokio::sync::Mutex::new(0),
            healthy: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            retention,
        });
        let target = describe_target(&store.config);
        store.migrate().await.map_err(|e| {
            anyhow::anyhow!("cannot migrate the PostgreSQL database at {target}: {e}")
        })?;
        store
            .reload()
            .await
            .map_err(|e| anyhow::anyhow!("cannot load the recognition table from {target}: {e}"))?;
        tokio::spawn(follow(Arc::downgrade(&store)));
        tokio::spawn(prune(Arc::downgrade(&store)));
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS sipmap_schema_version (version INTEGER NOT NULL)",
        )
        .await?;
        let done: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0)::BIGINT FROM sipmap_schema_version",
                &[],
            )
            .await?
            .get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO sipmap_schema_version (version) VALUES ($1)",
                &[&(i as i32 + 1)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rebuilds the recognition table from a consistent snapshot of the database.
    async fn reload(&self) -> Result<()> {
        let mut applied = self.applied.lock().await;
        self.reload_locked(&mut applied).await
    }

    async fn reload_locked(&self, applied: &mut i64) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let seq: i64 = tx
            .query_one("SELECT seq FROM change_counter", &[])
            .await?
            .get(0);
        let state = recognition_rows(&tx).await?;
        tx.commit().await?;
        self.recognizer.load(state);
        *applied = seq;
        Ok(())
    }

    /// Applies every logged change after the last one applied, up to at least `at_least`. If
    /// entries this node needs were pruned from the log already (it was away longer than the
    /// retention), it reloads its whole table instead, so it never misses a change.
    async fn catch_up(&self, at_least: i64) -> Result<()> {
        let mut applied = self.applied.lock().await;
        if *applied >= at_least && at_least > 0 {
            return Ok(());
        }
        let mut client = self.pool.get().await?;
        // One snapshot for the counter and the log: change numbers are consecutive, so a log
        // that does not continue right after `applied` has been pruned past it.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let counter: i64 = tx
            .query_one("SELECT seq FROM change_counter", &[])
            .await?
            .get(0);
        let rows = tx
            .query(
                "SELECT seq, kind, network, prefix, domain_sid, account_sid, domain_name \
                 FROM change_log WHERE seq > $1 ORDER BY seq, ord",
                &[&*applied],
            )
            .await?;
        tx.commit().await?;
        let first = rows.first().map(|r| r.get::<_, i64>(0));
        if counter > *applied && first != Some(*applied + 1) {
            tracing::warn!(
                applied = *applied,
                counter,
                "changes this node missed were pruned from the change log; reloading the \
                 recognition table in full"
            );
            drop(client);
            return self.reload_locked(&mut applied).await;
        }
        let mut changes = Vec::with_capacity(rows.len());
        let mut last = *applied;
        for r in &rows {
            last = last.max(r.get::<_, i64>(0));
            changes.push(change_from_row(r)?);
        }
        self.recognizer.apply(&changes);
        *applied = last;
        Ok(())
    }

    /// Deletes change-log entries older than the retention, by the database's clock.
    async fn prune_change_log(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        let retention = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        let n = client
            .execute(
                "DELETE FROM change_log \
                 WHERE logged_at < extract(epoch FROM now())::BIGINT - $1",
                &[&retention],
            )
            .await?;
        Ok(n)
    }

    /// One poll: compare the counter with what is applied and catch up.
    async fn poll(&self) -> Result<()> {
        let client = self.pool.get().await?;
        let seq: i64 = client
            .query_one("SELECT seq FROM change_counter", &[])
            .await?
            .get(0);
        drop(client);
        let applied = *self.applied.lock().await;
        if seq > applied {
            self.catch_up(seq).await?;
        }
        Ok(())
    }

    fn note<T>(&self, r: &Result<T>) {
        match r {
            Err(StoreError::Unavailable(_)) => self.healthy.store(false, Ordering::Relaxed),
            Ok(_) => self.healthy.store(true, Ordering::Relaxed),
            Err(_) => {}
        }
    }

    /// [`Self::note`] for a write: also follows whether the database can write.
    fn note_write<T>(&self, r: &Result<T>) {
        self.note(r);
        match r {
            Err(StoreError::Exhausted(_)) => self.failing.store(true, Ordering::Relaxed),
            Ok(_) => self.failing.store(false, Ordering::Relaxed),
            Err(_) => {}
        }
    }

    /// Runs a write transaction; `work` returns its result and the recognition changes it made,
    /// which are logged and announced in the same transaction and applied locally after commit.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send,
        F: for<'t> FnOnce(&'t deadpool_postgres::Transaction<'t>) -> WriteFuture<'t, T> + Send,
    {
        let result = deadline(async {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let (value, changes) = work(&tx).await?;
            let mut seq = 0;
            if !changes.is_empty() {
                seq = tx
                    .query_one("UPDATE change_counter SET seq = seq + 1 RETURNING seq", &[])
                    .await?
                    .get(0);
                for (ord, change) in changes.iter().enumerate() {
                    log_change(&tx, seq, ord as i32, change).await?;
                }
                tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])
                    .await?;
            }
            tx.commit().await?;
            Ok((value, seq))
        })
        .await;
        self.note_write(&result);
        let (value, seq) = result?;
        if seq > 0 {
            // Read-your-writes: the table includes this write before the API answers. The write
            // is committed either way; if catching up fails, the poller will finish it.
            if let Err(e) = deadline(self.catch_up(seq)).await {
                tracing::warn!(error = %e, "could not apply a committed change yet");
            }
        }
        Ok(value)
    }

    /// Runs a read with the store's deadline.
    async fn read<T, F, Fut>(&self, work: F) -> Result<T>
    where
        F: FnOnce(deadpool_postgres::Object) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let r = deadline(async {
            let client = self.pool.get().await?;
            work(client).await
        })
        .await;
        self.note(&r);
        r
    }
}

/// The boxed future a write closure returns.
type WriteFuture<'t, T> =
    std::pin::Pin<Box<dyn Future<Output = Result<(T, Vec<Change>)>> + Send + 't>>;

/// Follows the change feed for as long as the store exists: LISTEN on a dedicated connection,
/// catch up on every notification and at least every [`POLL`], reconnect after failures.
async fn follow(store: std::sync::Weak<PgStore>) {
    loop {
        let Some(s) = store.upgrade() else { return };
        let config = s.config.clone();
        drop(s);
        let connected = tokio::time::timeout(DEADLINE, config.connect(NoTls)).await;
        let (client, mut connection) = match connected {
            Ok(Ok(pair)) => pair,
            _ => {
                if let Some(s) = store.upgrade() {
                    s.healthy.store(false, Ordering::Relaxed);
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let conn_task = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
        });
        if tokio::time::timeout(DEADLINE, client.batch_execute(&format!("LISTEN {CHANNEL}")))
            .await
            .map_or(true, |r| r.is_err())
        {
            conn_task.abort();
            tokio::time::sleep(POLL).await;
            continue;
        }
        // After (re)connecting, catch up on whatever was missed.
        loop {
            let Some(s) = store.upgrade() else {
                conn_task.abort();
                return;
            };
            let r = deadline(s.poll()).await;
            s.note(&r);
            if let Err(e) = &r {
                tracing::debug!(error = %e, "change feed poll failed");
            }
            drop(s);
            if conn_task.is_finished() {
                break;
            }
            tokio::select! {
                got = rx.recv() => if got.is_none() { break },
                () = tokio::time::sleep(POLL) => {}
            }
        }
        conn_task.abort();
        if let Some(s) = store.upgrade() {
            s.healthy.store(false, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prunes the change log every [`PRUNE_EVERY`] for as long as the store exists. Every node does
/// it; deleting what another node deleted already is harmless.
async fn prune(store: std::sync::Weak<PgStore>) {
    loop {
        let every = match store.upgrade() {
            Some(s) => (s.retention / 2).clamp(Duration::from_secs(1), PRUNE_EVERY),
            None => return,
        };
        tokio::time::sleep(every).await;
        let Some(s) = store.upgrade() else { return };
        match deadline(s.prune_change_log()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(entries = n, "pruned the change log"),
            Err(e) => tracing::debug!(error = %e, "could not prune the change log"),
        }
    }
}

async fn log_change(
    tx: &deadpool_postgres::Transaction<'_>,
    seq: i64,
    ord: i32,
    change: &Change,
) -> Result<()> {
    let sql = "INSERT INTO change_log (seq, ord, kind, network, prefix, domain_sid, account_sid, \
               domain_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    let none: Option<&str> = None;
    match change {
        Change::DomainSet(t) => {
            tx.execute(
                sql,
                &[
                    &seq,
                    &ord,
                    &"domain_set",
                    &None::<i64>,
                    &None::<i16>,
                    &t.domain_sid.as_str(),
                    &t.account_sid.as_str(),
                    &t.domain_name,
                ],
            )
            .await?
        }
        Change::DomainRemoved(sid) => {
            tx.execute(
                sql,
                &[
                    &seq,
                    &ord,
                    &"domain_removed",
                    &None::<i64>,
                    &None::<i16>,
                    &sid.as_str(),
                    &none,
                    &none,
                ],
            )
            .await?
        }
        Change::MappingSet(net, sid) => {
            tx.execute(
                sql,
                &[
                    &seq,
                    &ord,
                    &"mapping_set",
                    &i64::from(net.addr),
                    &i16::from(net.prefix),
                    &sid.as_str(),
                    &none,
                    &none,
                ],
            )
            .await?
        }
        Change::MappingRemoved(net) => {
            tx.execute(
                sql,
                &[
                    &seq,
                    &ord,
                    &"mapping_removed",
                    &i64::from(net.addr),
                    &i16::from(net.prefix),
                    &none,
                    &none,
                    &none,
                ],
            )
            .await?
        }
    };
    Ok(())
}

fn change_from_row(r: &Row) -> Result<Change> {
    let kind: &str = r.get(1);
    let net = || -> Result<Network> {
        let addr: Option<i64> = r.get(2);
        let prefix: Option<i16> = r.get(3);
        match (addr, prefix) {
            (Some(a), Some(p)) => Ok(network(a, p)),
            _ => Err(StoreError::Internal(
                "change_log row lacks its network".into(),
            )),
        }
    };
    let domain = || {
        parse_sid(
            r.get::<_, Option<&str>>(4).unwrap_or(""),
            SipDomainSid::parse,
        )
    };
    Ok(match kind {
        "domain_set" => Change::DomainSet(Target {
            domain_sid: domain()?,
            account_sid: parse_sid(r.get::<_, Option<&str>>(5).unwrap_or(""), AccountSid::parse)?,
            domain_name: r.get::<_, Option<String>>(6).unwrap_or_default(),
        }),
        "domain_removed" => Change::DomainRemoved(domain()?),
        "mapping_set" => Change::MappingSet(net()?, domain()?),
        "mapping_removed" => Change::MappingRemoved(net()?),
        other => {
            return Err(StoreError::Internal(format!(
                "unknown change_log kind {other:?}"
            )));
        }
    })
}

fn network(addr: i64, prefix: i16) -> Network {
    Network {
        addr: addr as u32,
        prefix: prefix as u8,
    }
}

fn parse_sid<T>(s: &str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(s).ok_or_else(|| StoreError::Internal(format!("stored SID {s:?} is malformed")))
}

const ACCOUNT_COLS: &str =
    "sid, owner_sid, friendly_name, status, date_created, date_updated, token_salt, token_hash";

fn account_row(r: &Row) -> Result<Account> {
    let owner: Option<&str> = r.get(1);
    Ok(Account {
        sid: parse_sid(r.get(0), AccountSid::parse)?,
        owner_sid: owner.and_then(AccountSid::parse),
        friendly_name: r.get(2),
        status: AccountStatus::parse(r.get(3))
            .ok_or_else(|| StoreError::Internal("stored account status is malformed".into()))?,
        date_created: r.get(4),
        date_updated: r.get(5),
    })
}

fn credential_row(r: &Row) -> Result<(Account, TokenHash)> {
    let salt: Vec<u8> = r.get(6);
    let hash: Vec<u8> = r.get(7);
    let bad = || StoreError::Internal("stored credential is malformed".into());
    Ok((
        account_row(r)?,
        TokenHash {
            salt: salt.try_into().map_err(|_| bad())?,
            hash: hash.try_into().map_err(|_| bad())?,
        },
    ))
}

const IP_RECORD_COLS: &str =
    "sid, account_sid, friendly_name, ip_address, cidr_prefix_length, date_created, date_updated";

fn ip_record_row(r: &Row) -> Result<IpRecord> {
    let ip: &str = r.get(3);
    let prefix: i16 = r.get(4);
    Ok(IpRecord {
        sid: parse_sid(r.get(0), IpRecordSid::parse)?,
        account_sid: parse_sid(r.get(1), AccountSid::parse)?,
        friendly_name: r.get(2),
        ip_address: ip
            .parse::<Ipv4Addr>()
            .map_err(|_| StoreError::Internal("stored IP address is malformed".into()))?,
        cidr_prefix_length: prefix as u8,
        date_created: r.get(5),
        date_updated: r.get(6),
    })
}

const SIP_DOMAIN_COLS: &str = "sid, account_sid, domain_name, friendly_name, voice_url, \
    voice_method, voice_fallback_url, voice_fallback_method, voice_status_callback_url, \
    voice_status_callback_method, sip_registration, emergency_calling_enabled, secure, \
    byoc_trunk_sid, emergency_caller_sid, date_created, date_updated";

fn sip_domain_row(r: &Row) -> Result<SipDomain> {
    Ok(SipDomain {
        sid: parse_sid(r.get(0), SipDomainSid::parse)?,
        account_sid: parse_sid(r.get(1), AccountSid::parse)?,
        domain_name: r.get(2),
        friendly_name: r.get(3),
        voice_url: r.get(4),
        voice_method: r.get(5),
        voice_fallback_url: r.get(6),
        voice_fallback_method: r.get(7),
        voice_status_callback_url: r.get(8),
        voice_status_callback_method: r.get(9),
        sip_registration: r.get(10),
        emergency_calling_enabled: r.get(11),
        secure: r.get(12),
        byoc_trunk_sid: r.get(13),
        emergency_caller_sid: r.get(14),
        date_created: r.get(15),
        date_updated: r.get(16),
    })
}

const MAPPING_COLS: &str =
    "sid, account_sid, ip_record_sid, sip_domain_sid, date_created, date_updated";

fn mapping_row(r: &Row) -> Result<Mapping> {
    Ok(Mapping {
        sid: parse_sid(r.get(0), MappingSid::parse)?,
        account_sid: parse_sid(r.get(1), AccountSid::parse)?,
        ip_record_sid: parse_sid(r.get(2), IpRecordSid::parse)?,
        sip_domain_sid: parse_sid(r.get(3), SipDomainSid::parse)?,
        date_created: r.get(4),
        date_updated: r.get(5),
    })
}

/// One row of `table` by SID within `account`.
async fn get_one<C: GenericClient, T>(
    c: &C,
    table: &str,
    cols: &str,
    account: &str,
    sid: &str,
    map: fn(&Row) -> Result<T>,
) -> Result<Option<T>> {
    let sql = format!("SELECT {cols} FROM {table} WHERE sid = $1 AND account_sid = $2");
    let stmt = c.prepare_cached(&sql).await?;
    c.query_opt(&stmt, &[&sid, &account])
        .await?
        .as_ref()
        .map(map)
        .transpose()
}

/// [`get_one`], locking the row until the transaction ends, so that a read-modify-write is
/// atomic against every other node.
async fn get_one_for_update<C: GenericClient, T>(
    c: &C,
    table: &str,
    cols: &str,
    account: &str,
    sid: &str,
    map: fn(&Row) -> Result<T>,
) -> Result<Option<T>> {
    let sql = format!("SELECT {cols} FROM {table} WHERE sid = $1 AND account_sid = $2 FOR UPDATE");
    let stmt = c.prepare_cached(&sql).await?;
    c.query_opt(&stmt, &[&sid, &account])
        .await?
        .as_ref()
        .map(map)
        .transpose()
}

/// An account, with its row locked (`FOR UPDATE` to change it, `FOR SHARE` to depend on its
/// status until the transaction ends).
async fn load_account_locked<C: GenericClient>(
    c: &C,
    sid: &AccountSid,
    lock: &'static str,
) -> Result<Option<Account>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE sid = $1 {lock}"
        ))
        .await?;
    c.query_opt(&stmt, &[&sid.as_str()])
        .await?
        .as_ref()
        .map(account_row)
        .transpose()
}

/// Whether `account` is recognised (active) after checking that it may be written to at all: a
/// closed account's resources cannot change; a suspended account's can, but stay out of
/// recognition until it is reactivated. The account's row stays share-locked, so its status
/// cannot change before this transaction ends.
async fn owner_may_write<C: GenericClient>(c: &C, account: &AccountSid) -> Result<bool> {
    match load_account_locked(c, account, "FOR SHARE").await? {
        None => Err(StoreError::NotFound(Missing::Account(account.clone()))),
        Some(a) if a.status == AccountStatus::Closed => {
            Err(StoreError::AccountNotActive(account.clone()))
        }
        Some(a) => Ok(a.status == AccountStatus::Active),
    }
}

/// The owners (account and parent) of the mapped networks that overlap `network`, other than
/// `caller` itself and its parent (always family): those starting inside it, and those
/// containing it. The caller's own networks are skipped in the index, so a wide network over
/// many of its own costs little.
async fn overlapping_owners<C: GenericClient>(
    c: &C,
    network: Network,
    caller: &Account,
) -> Result<Vec<(AccountSid, Option<AccountSid>)>> {
    let (addrs, prefixes): (Vec<i64>, Vec<i16>) = network
        .supernets()
        .map(|n| (i64::from(n.addr), i16::from(n.prefix)))
        .unzip();
    let stmt = c
        .prepare_cached(
            "SELECT m.account_sid, a.owner_sid FROM source_ip_mappings m \
             JOIN accounts a ON a.sid = m.account_sid \
             WHERE m.network BETWEEN $1 AND $2 AND m.account_sid <> $3 \
             AND m.account_sid IS DISTINCT FROM $4 \
             UNION \
             SELECT m.account_sid, a.owner_sid FROM unnest($5::BIGINT[], $6::SMALLINT[]) AS s(n, p) \
             JOIN source_ip_mappings m ON m.network = s.n AND m.prefix_length = s.p \
             JOIN accounts a ON a.sid = m.account_sid \
             WHERE m.account_sid <> $3 AND m.account_sid IS DISTINCT FROM $4",
        )
        .await?;
    c.query(
        &stmt,
        &[
            &i64::from(network.addr),
            &i64::from(network.last()),
            &caller.sid.as_str(),
            &caller.owner_sid.as_ref().map(AccountSid::as_str),
            &addrs,
            &prefixes,
        ],
    )
    .await?
    .iter()
    .map(|r| {
        let owner: Option<&str> = r.get(1);
        Ok((
            parse_sid(r.get(0), AccountSid::parse)?,
            owner.and_then(AccountSid::parse),
        ))
    })
    .collect()
}

/// Every SIP domain and mapped network of `account`, as recognition knows them.
async fn account_recognition_rows<C: GenericClient>(
    c: &C,
    account: &AccountSid,
) -> Result<AccountRows> {
    let domains = c
        .query(
            "SELECT sid, account_sid, domain_name FROM sip_domains WHERE account_sid = $1",
            &[&account.as_str()],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Target {
                domain_sid: parse_sid(r.get(0), SipDomainSid::parse)?,
                account_sid: parse_sid(r.get(1), AccountSid::parse)?,
                domain_name: r.get(2),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mappings = c
        .query(
            "SELECT network, prefix_length, sip_domain_sid FROM source_ip_mappings \
             WHERE account_sid = $1",
            &[&account.as_str()],
        )
        .await?
        .iter()
        .map(|r| {
            Ok((
                network(r.get(0), r.get(1)),
                parse_sid(r.get(2), SipDomainSid::parse)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(AccountRows { domains, mappings })
}

/// One page of `table` within `account`, in walking order.
async fn page_of<C: GenericClient, T>(
    c: &C,
    table: &str,
    cols: &str,
    account: &str,
    page: &PageQuery,
    map: fn(&Row) -> Result<T>,
) -> Result<Vec<T>> {
    let base = format!("SELECT {cols} FROM {table} WHERE account_sid = $1");
    let limit = i64::from(page.limit);
    let rows = match &page.cursor {
        Cursor::Offset(n) => {
            let stmt = c
                .prepare_cached(&format!("{base} ORDER BY sid LIMIT $2 OFFSET $3"))
                .await?;
            let offset = i64::try_from(*n).unwrap_or(i64::MAX);
            c.query(&stmt, &[&account, &limit, &offset]).await?
        }
        Cursor::After(sid) => {
            let stmt = c
                .prepare_cached(&format!("{base} AND sid > $3 ORDER BY sid LIMIT $2"))
                .await?;
            c.query(&stmt, &[&account, &limit, sid]).await?
        }
        Cursor::Before(sid) => {
            let stmt = c
                .prepare_cached(&format!("{base} AND sid < $3 ORDER BY sid DESC LIMIT $2"))
                .await?;
            c.query(&stmt, &[&account, &limit, sid]).await?
        }
    };
    rows.iter().map(map).collect()
}

/// The mapping that references `column = sid`, if any.
async fn referencing_mapping<C: GenericClient>(
    c: &C,
    column: &str,
    sid: &str,
) -> Result<Option<String>> {
    let sql = format!("SELECT sid FROM source_ip_mappings WHERE {column} = $1 LIMIT 1");
    Ok(c.query_opt(&sql, &[&sid]).await?.map(|r| r.get(0)))
}

async fn load_account<C: GenericClient>(c: &C, sid: &AccountSid) -> Result<Option<Account>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE sid = $1"
        ))
        .await?;
    c.query_opt(&stmt, &[&sid.as_str()])
        .await?
        .as_ref()
        .map(account_row)
        .transpose()
}

async fn insert_account<C: GenericClient>(c: &C, new: &NewAccount, now: i64) -> Result<Account> {
    c.execute(
        "INSERT INTO accounts (sid, owner_sid, friendly_name, status, token_salt, token_hash, \
         date_created, date_updated) VALUES ($1, $2, $3, 'active', $4, $5, $6, $6)",
        &[
            &new.sid.as_str(),
            &new.owner_sid.as_ref().map(AccountSid::as_str),
            &new.friendly_name,
            &&new.credential.salt[..],
            &&new.credential.hash[..],
            &now,
        ],
    )
    .await?;
    Ok(Account {
        sid: new.sid.clone(),
        owner_sid: new.owner_sid.clone(),
        friendly_name: new.friendly_name.clone(),
        status: AccountStatus::Active,
        date_created: now,
        date_updated: now,
    })
}

/// The recognition view of a domain.
fn target_of(d: &SipDomain) -> Target {
    Target {
        domain_sid: d.sid.clone(),
        account_sid: d.account_sid.clone(),
        domain_name: d.domain_name.clone(),
    }
}

/// Inserts or rewrites a SIP domain; a name taken by another domain is [`StoreError::DomainTaken`],
/// also when another node takes it at the same moment (the unique constraint decides).
async fn save_domain<C: GenericClient>(c: &C, d: &SipDomain, insert: bool) -> Result<()> {
    let key = domain_key(&d.domain_name);
    let owner: Option<String> = c
        .query_opt("SELECT sid FROM sip_domains WHERE domain_key = $1", &[&key])
        .await?
        .map(|r| r.get(0));
    if owner.is_some_and(|s| s != d.sid.as_str()) {
        return Err(StoreError::DomainTaken(d.domain_name.clone()));
    }
    let sql = if insert {
        "INSERT INTO sip_domains (sid, account_sid, domain_name, domain_key, friendly_name, \
         voice_url, voice_method, voice_fallback_url, voice_fallback_method, \
         voice_status_callback_url, voice_status_callback_method, sip_registration, \
         emergency_calling_enabled, secure, byoc_trunk_sid, emergency_caller_sid, date_created, \
         date_updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18)"
    } else {
        "UPDATE sip_domains SET account_sid = $2, domain_name = $3, domain_key = $4, \
         friendly_name = $5, voice_url = $6, voice_method = $7, voice_fallback_url = $8, \
         voice_fallback_method = $9, voice_status_callback_url = $10, \
         voice_status_callback_method = $11, sip_registration = $12, \
         emergency_calling_enabled = $13, secure = $14, byoc_trunk_sid = $15, \
         emergency_caller_sid = $16, date_created = $17, date_updated = $18 WHERE sid = $1"
    };
    let r = c
        .execute(
            sql,
            &[
                &d.sid.as_str(),
                &d.account_sid.as_str(),
                &d.domain_name,
                &key,
                &d.friendly_name,
                &d.voice_url,
                &d.voice_method,
                &d.voice_fallback_url,
                &d.voice_fallback_method,
                &d.voice_status_callback_url,
                &d.voice_status_callback_method,
                &d.sip_registration,
                &d.emergency_calling_enabled,
                &d.secure,
                &d.byoc_trunk_sid,
                &d.emergency_caller_sid,
                &d.date_created,
                &d.date_updated,
            ],
        )
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if constraint_of(&e).is_some_and(|(_, c)| c == "sip_domains_domain_key") => {
            Err(StoreError::DomainTaken(d.domain_name.clone()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Fails with the domain's 404 unless `sid` is a SIP domain of `account`.
async fn require_domain<C: GenericClient>(
    c: &C,
    account: &AccountSid,
    sid: &SipDomainSid,
) -> Result<()> {
    get_one(
        c,
        "sip_domains",
        "sid",
        account.as_str(),
        sid.as_str(),
        |_| Ok(()),
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(Missing::SipDomain(account.clone(), sid.to_string())))
}

/// A resource that mappings reference, and so cannot be deleted while they do.
#[derive(Debug, Clone, Copy)]
enum Referenced {
    IpRecord,
    SipDomain,
}

impl Referenced {
    fn table(self) -> &'static str {
        match self {
            Self::IpRecord => "ip_records",
            Self::SipDomain => "sip_domains",
        }
    }

    /// The column of `source_ip_mappings` that points at it.
    fn column(self) -> &'static str {
        match self {
            Self::IpRecord => "ip_record_sid",
            Self::SipDomain => "sip_domain_sid",
        }
    }

    fn in_use(self, sid: &str, mapping: &str) -> StoreError {
        match self {
            Self::IpRecord => StoreError::record_in_use(sid, mapping),
            Self::SipDomain => StoreError::domain_in_use(sid, mapping),
        }
    }
}

impl PgStore {
    /// Deletes `sid` of `account` unless a mapping references it; `missing` is the error when it
    /// does not exist. When another node maps it between the check and the delete, the foreign
    /// key refuses the delete and the answer is the same 409 as if the mapping had been seen.
    async fn delete_unreferenced(
        &self,
        kind: Referenced,
        missing: Missing,
        account: &AccountSid,
        sid: &str,
    ) -> Result<()> {
        let (account, owned) = (account.clone(), sid.to_owned());
        let result = self
            .write(move |tx| {
                Box::pin(async move {
                    let sid = owned;
                    if get_one(tx, kind.table(), "sid", account.as_str(), &sid, |_| Ok(()))
                        .await?
                        .is_none()
                    {
                        return Err(StoreError::NotFound(missing));
                    }
                    if let Some(mapping) = referencing_mapping(tx, kind.column(), &sid).await? {
                        return Err(kind.in_use(&sid, &mapping));
                    }
                    tx.execute(
                        &format!("DELETE FROM {} WHERE sid = $1", kind.table()),
                        &[&sid],
                    )
                    .await
                    .map_err(violation)?;
                    let changes = match kind {
                        Referenced::SipDomain => {
                            vec![Change::DomainRemoved(parse_sid(&sid, SipDomainSid::parse)?)]
                        }
                        Referenced::IpRecord => vec![],
                    };
                    Ok(((), changes))
                })
            })
            .await;
        if !matches!(result, Err(StoreError::Violation(_))) {
            return result;
        }
        let mapping = self
            .read(|c| async move { referencing_mapping(&c, kind.column(), sid).await })
            .await?
            .unwrap_or_default();
        Err(kind.in_use(sid, &mapping))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn recognition_state(&self) -> Result<State> {
        // The table is loaded (and kept) by the change feed; this answers from the database.
        self.read(|c| async move { recognition_rows(&c).await })
            .await
    }

    fn recognition(&self) -> Recognition {
        self.recognizer.reader()
    }

    async fn check_health(&self) -> Result<()> {
        let r = self
            .read(|c| async move {
                c.query_one("SELECT 1", &[]).await?;
                Ok(())
            })
            .await;
        r?;
        if !self.healthy.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "the change feed is not connected".into(),
            ));
        }
        if self.failing.load(Ordering::Relaxed) {
            // A write failed for lack of space or an I/O error: one tiny write tells whether the
            // database can write again (and, when it commits, clears the flag).
            self.write(|tx| {
                Box::pin(async move {
                    tx.execute(
                        "INSERT INTO health_probe (id, at) \
                         VALUES (TRUE, extract(epoch FROM now())::BIGINT) \
                         ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
                        &[],
                    )
                    .await?;
                    Ok(((), vec![]))
                })
            })
            .await?;
        }
        Ok(())
    }

    async fn account_credentials(&self, sid: &AccountSid) -> Result<Option<(Account, TokenHash)>> {
        self.read(|c| async move {
            let stmt = c
                .prepare_cached(&format!(
                    "SELECT {ACCOUNT_COLS} FROM accounts WHERE sid = $1"
                ))
                .await?;
            c.query_opt(&stmt, &[&sid.as_str()])
                .await?
                .as_ref()
                .map(credential_row)
                .transpose()
        })
        .await
    }

    async fn get_account(&self, sid: &AccountSid) -> Result<Option<Account>> {
        self.read(|c| async move { load_account(&c, sid).await })
            .await
    }

    async fn count_accounts(&self) -> Result<u64> {
        self.read(|c| async move {
            let n: i64 = c
                .query_one("SELECT count(*) FROM accounts", &[])
                .await?
                .get(0);
            Ok(n.max(0) as u64)
        })
        .await
    }

    async fn create_account(&self, new: NewAccount) -> Result<Account> {
        self.write(move |tx| {
            Box::pin(async move {
                if let Some(owner) = &new.owner_sid
                    && load_account(tx, owner).await?.is_none()
                {
                    return Err(StoreError::NotFound(Missing::Account(owner.clone())));
                }
                Ok((insert_account(tx, &new, timefmt::now()).await?, vec![]))
            })
        })
        .await
    }

    async fn ensure_account(&self, new: NewAccount) -> Result<Account> {
        self.write(move |tx| {
            Box::pin(async move {
                let now = timefmt::now();
                // Several nodes may start with the same operator account at once.
                tx.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))",
                    &[&new.sid.as_str()],
                )
                .await?;
                let account = match load_account(tx, &new.sid).await? {
                    None => insert_account(tx, &new, now).await?,
                    Some(existing) => {
                        tx.execute(
                            "UPDATE accounts SET token_salt = $2, token_hash = $3 WHERE sid = $1",
                            &[
                                &new.sid.as_str(),
                                &&new.credential.salt[..],
                                &&new.credential.hash[..],
                            ],
                        )
                        .await?;
                        existing
                    }
                };
                Ok((account, vec![]))
            })
        })
        .await
    }

    async fn create_first_account(&self, new: NewAccount) -> Result<Option<Account>> {
        self.write(move |tx| {
            Box::pin(async move {
                // Nodes starting together on an empty database: one creates, the others see it.
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                    .await?;
                let n: i64 = tx
                    .query_one("SELECT count(*) FROM accounts", &[])
                    .await?
                    .get(0);
                if n > 0 {
                    return Ok((None, vec![]));
                }
                let account = insert_account(tx, &new, timefmt::now()).await?;
                Ok((Some(account), vec![]))
            })
        })
        .await
    }

    async fn list_accounts(
        &self,
        caller: &AccountSid,
        filter: &AccountFilter,
        page: &PageQuery,
    ) -> Result<Vec<Account>> {
        self.read(|c| async move {
            let base = format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE (sid = $1 OR owner_sid = $1) \
                 AND ($2::TEXT IS NULL OR friendly_name = $2) AND ($3::TEXT IS NULL OR status = $3)"
            );
            let limit = i64::from(page.limit);
            let status = filter.status.map(AccountStatus::as_str);
            let rows = match &page.cursor {
                Cursor::Offset(n) => {
                    let offset = i64::try_from(*n).unwrap_or(i64::MAX);
                    c.query(
                        &format!("{base} ORDER BY sid LIMIT $4 OFFSET $5"),
                        &[
                            &caller.as_str(),
                            &filter.friendly_name,
                            &status,
                            &limit,
                            &offset,
                        ],
                    )
                    .await?
                }
                Cursor::After(s) => {
                    c.query(
                        &format!("{base} AND sid > $5 ORDER BY sid LIMIT $4"),
                        &[&caller.as_str(), &filter.friendly_name, &status, &limit, s],
                    )
                    .await?
                }
                Cursor::Before(s) => {
                    c.query(
                        &format!("{base} AND sid < $5 ORDER BY sid DESC LIMIT $4"),
                        &[&caller.as_str(), &filter.friendly_name, &status, &limit, s],
                    )
                    .await?
                }
            };
            rows.iter().map(account_row).collect()
        })
        .await
    }

    async fn update_account(
        &self,
        sid: &AccountSid,
        friendly_name: Option<String>,
        status: Option<AccountStatus>,
    ) -> Result<Account> {
        let sid = sid.clone();
        let result = self
            .write(move |tx| {
                Box::pin(async move {
                    // The row lock orders this against every other change of the account and
                    // against writes that check its status (they share-lock it).
                    let mut account = load_account_locked(tx, &sid, "FOR UPDATE")
                        .await?
                        .ok_or_else(|| StoreError::NotFound(Missing::Account(sid.clone())))?;
                    let change = account.status_change(status)?;
                    let mut changes = Vec::new();
                    match change {
                        StatusChange::Unchanged => {}
                        StatusChange::Suspend | StatusChange::Reactivate => {
                            let rows = account_recognition_rows(tx, &sid).await?;
                            let recognised = change == StatusChange::Reactivate;
                            changes = account_changes(rows, recognised);
                        }
                        StatusChange::Close { was_active } => {
                            if was_active {
                                let rows = account_recognition_rows(tx, &sid).await?;
                                changes = account_changes(rows, false);
                            }
                            // Closing frees the account's networks and domain names here.
                            tx.execute(
                                "DELETE FROM source_ip_mappings WHERE account_sid = $1",
                                &[&sid.as_str()],
                            )
                            .await?;
                            tx.execute(
                                "DELETE FROM sip_domains WHERE account_sid = $1",
                                &[&sid.as_str()],
                            )
                            .await?;
                        }
                    }
                    if let Some(new_status) = status {
                        account.status = new_status;
                    }
                    if let Some(name) = friendly_name {
                        account.friendly_name = name;
                    }
                    account.date_updated = timefmt::now();
                    tx.execute(
                        "UPDATE accounts SET friendly_name = $2, status = $3, date_updated = $4 \
                         WHERE sid = $1",
                        &[
                            &sid.as_str(),
                            &account.friendly_name,
                            &account.status.as_str(),
                            &account.date_updated,
                        ],
                    )
                    .await
                    .map_err(violation)?;
                    Ok((account, changes))
                })
            })
            .await;
        match result {
            // The schema's backstop: a closed account stays closed.
            Err(StoreError::Violation(c)) if c == "accounts_closed_is_final" => {
                Err(Invalid::Value("Status", "a closed account cannot be reopened".into()).into())
            }
            other => other,
        }
    }

    async fn create_ip_record(&self, account: &AccountSid, new: NewIpRecord) -> Result<IpRecord> {
        let now = timefmt::now();
        let record = IpRecord {
            sid: IpRecordSid::generate(),
            account_sid: account.clone(),
            friendly_name: new.friendly_name,
            ip_address: new.ip_address,
            cidr_prefix_length: new.cidr_prefix_length,
            date_created: now,
            date_updated: now,
        };
        let r = deadline(async {
            let client = self.pool.get().await?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO ip_records (sid, account_sid, friendly_name, ip_address, \
                     cidr_prefix_length, date_created, date_updated) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .await?;
            client
                .execute(
                    &stmt,
                    &[
                        &record.sid.as_str(),
                        &record.account_sid.as_str(),
                        &record.friendly_name,
                        &record.ip_address.to_string(),
                        &i16::from(record.cidr_prefix_length),
                        &record.date_created,
                        &record.date_updated,
                    ],
                )
                .await?;
            Ok(())
        })
        .await;
        self.note_write(&r);
        r?;
        Ok(record)
    }

    async fn get_ip_record(&self, account: &AccountSid, sid: &str) -> Result<Option<IpRecord>> {
        self.read(|c| async move {
            get_one(
                &c,
                "ip_records",
                IP_RECORD_COLS,
                account.as_str(),
                sid,
                ip_record_row,
            )
            .await
        })
        .await
    }

    async fn list_ip_records(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<IpRecord>> {
        self.read(|c| async move {
            page_of(
                &c,
                "ip_records",
                IP_RECORD_COLS,
                account.as_str(),
                page,
                ip_record_row,
            )
            .await
        })
        .await
    }

    async fn update_ip_record(
        &self,
        account: &AccountSid,
        sid: &str,
        patch: IpRecordPatch,
    ) -> Result<IpRecord> {
        let (account, sid) = (account.clone(), sid.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let mut record = get_one_for_update(
                    tx,
                    "ip_records",
                    IP_RECORD_COLS,
                    account.as_str(),
                    &sid,
                    ip_record_row,
                )
                .await?
                .ok_or_else(|| StoreError::NotFound(Missing::IpRecord(sid.clone())))?;
                if let Some(name) = patch.friendly_name {
                    record.friendly_name = Some(name);
                    record.date_updated = timefmt::now();
                    tx.execute(
                        "UPDATE ip_records SET friendly_name = $2, date_updated = $3 WHERE sid = $1",
                        &[&sid, &record.friendly_name, &record.date_updated],
                    )
                    .await?;
                }
                Ok((record, vec![]))
            })
        })
        .await
    }

    async fn delete_ip_record(&self, account: &AccountSid, sid: &str) -> Result<()> {
        self.delete_unreferenced(
            Referenced::IpRecord,
            Missing::IpRecord(sid.to_owned()),
            account,
            sid,
        )
        .await
    }

    async fn create_sip_domain(&self, domain: SipDomain) -> Result<SipDomain> {
        self.write(move |tx| {
            Box::pin(async move {
                let recognised = owner_may_write(tx, &domain.account_sid).await?;
                save_domain(tx, &domain, true).await?;
                let changes = if recognised {
                    vec![Change::DomainSet(target_of(&domain))]
                } else {
                    vec![]
                };
                Ok((domain, changes))
            })
        })
        .await
    }

    async fn get_sip_domain(&self, account: &AccountSid, sid: &str) -> Result<Option<SipDomain>> {
        self.read(|c| async move {
            get_one(
                &c,
                "sip_domains",
                SIP_DOMAIN_COLS,
                account.as_str(),
                sid,
                sip_domain_row,
            )
            .await
        })
        .await
    }

    async fn list_sip_domains(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<SipDomain>> {
        self.read(|c| async move {
            page_of(
                &c,
                "sip_domains",
                SIP_DOMAIN_COLS,
                account.as_str(),
                page,
                sip_domain_row,
            )
            .await
        })
        .await
    }

    async fn update_sip_domain(
        &self,
        account: &AccountSid,
        sid: &str,
        patch: SipDomainPatch,
    ) -> Result<SipDomain> {
        let (account, sid) = (account.clone(), sid.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let recognised = owner_may_write(tx, &account).await?;
                // The row lock makes this read-modify-write atomic against other nodes.
                let mut domain = get_one_for_update(
                    tx,
                    "sip_domains",
                    SIP_DOMAIN_COLS,
                    account.as_str(),
                    &sid,
                    sip_domain_row,
                )
                .await?
                .ok_or_else(|| {
                    StoreError::NotFound(Missing::SipDomain(account.clone(), sid.clone()))
                })?;
                let old_name = domain.domain_name.clone();
                patch.apply(&mut domain, timefmt::now());
                save_domain(tx, &domain, false).await?;
                // Only a new name changes what recognition knows.
                let changes = if recognised && domain.domain_name != old_name {
                    vec![Change::DomainSet(target_of(&domain))]
                } else {
                    vec![]
                };
                Ok((domain, changes))
            })
        })
        .await
    }

    async fn delete_sip_domain(&self, account: &AccountSid, sid: &str) -> Result<()> {
        self.delete_unreferenced(
            Referenced::SipDomain,
            Missing::SipDomain(account.clone(), sid.to_owned()),
            account,
            sid,
        )
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
        let attempt = mapping.clone();
        let result = self
            .write(move |tx| {
                Box::pin(async move {
                    let m = attempt;
                    let caller = load_account_locked(tx, &m.account_sid, "FOR SHARE")
                        .await?
                        .ok_or_else(|| {
                            StoreError::NotFound(Missing::Account(m.account_sid.clone()))
                        })?;
                    if caller.status != AccountStatus::Active {
                        return Err(StoreError::AccountNotActive(m.account_sid.clone()));
                    }
                    let record_sid = m.ip_record_sid.as_str();
                    let record = get_one(
                        tx,
                        "ip_records",
                        IP_RECORD_COLS,
                        m.account_sid.as_str(),
                        record_sid,
                        ip_record_row,
                    )
                    .await?
                    .ok_or_else(|| {
                        StoreError::NotFound(Missing::IpRecord(record_sid.to_owned()))
                    })?;
                    require_domain(tx, &m.account_sid, &m.sip_domain_sid).await?;
                    // From here until commit no other node can add a mapping, so the facts hold.
                    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FAMILY_LOCK])
                        .await?;
                    let net = record.network();
                    let facts = MappingFacts {
                        record_mapped_by: referencing_mapping(tx, "ip_record_sid", record_sid)
                            .await?,
                        network_taken: tx
                            .query_opt(
                                "SELECT 1 FROM source_ip_mappings \
                                 WHERE network = $1 AND prefix_length = $2",
                                &[&i64::from(net.addr), &i16::from(net.prefix)],
                            )
                            .await?
                            .is_some(),
                        overlapping_owners: overlapping_owners(tx, net, &caller).await?,
                    };
                    may_map(&caller, &record, &facts)?;
                    tx.execute(
                        "INSERT INTO source_ip_mappings (sid, account_sid, ip_record_sid, \
                         sip_domain_sid, network, prefix_length, date_created, date_updated) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                        &[
                            &m.sid.as_str(),
                            &m.account_sid.as_str(),
                            &record_sid,
                            &m.sip_domain_sid.as_str(),
                            &i64::from(net.addr),
                            &i16::from(net.prefix),
                            &m.date_created,
                        ],
                    )
                    .await
                    .map_err(violation)?;
                    let change = Change::MappingSet(net, m.sip_domain_sid.clone());
                    Ok((m, vec![change]))
                })
            })
            .await;
        // Lost a race with another node: the constraint that refused the insert says which rule.
        let (account, record, domain) = (
            account.clone(),
            ip_record_sid.clone(),
            sip_domain_sid.clone(),
        );
        let constraint = match result {
            Err(StoreError::Violation(name)) => name,
            other => return other,
        };
        let err = self
            .read(|c| async move {
                let network_of =
                    |rec: Option<IpRecord>, conflict: fn(Network, String) -> Conflict| match rec {
                        Some(r) => StoreError::Conflict(conflict(r.network(), record.to_string())),
                        None => StoreError::NotFound(Missing::IpRecord(record.to_string())),
                    };
                Ok(match constraint.as_str() {
                    "source_ip_mappings_one_per_record" => {
                        let existing =
                            referencing_mapping(&c, "ip_record_sid", record.as_str()).await?;
                        StoreError::record_mapped(record.as_str(), &existing.unwrap_or_default())
                    }
                    "source_ip_mappings_one_per_network" | "source_ip_mappings_family_overlap" => {
                        let rec = get_one(
                            &c,
                            "ip_records",
                            IP_RECORD_COLS,
                            account.as_str(),
                            record.as_str(),
                            ip_record_row,
                        )
                        .await?;
                        if constraint == "source_ip_mappings_one_per_network" {
                            network_of(rec, |network, record| Conflict::NetworkMapped {
                                network,
                                record,
                            })
                        } else {
                            network_of(rec, |network, record| Conflict::NetworkOverlaps {
                                network,
                                record,
                            })
                        }
                    }
                    "source_ip_mappings_record_fk" => {
                        StoreError::NotFound(Missing::IpRecord(record.to_string()))
                    }
                    _ => StoreError::NotFound(Missing::SipDomain(account, domain.to_string())),
                })
            })
            .await?;
        Err(err)
    }

    async fn get_mapping(&self, account: &AccountSid, sid: &str) -> Result<Option<Mapping>> {
        self.read(|c| async move {
            get_one(
                &c,
                "source_ip_mappings",
                MAPPING_COLS,
                account.as_str(),
                sid,
                mapping_row,
            )
            .await
        })
        .await
    }

    async fn list_mappings(&self, account: &AccountSid, page: &PageQuery) -> Result<Vec<Mapping>> {
        self.read(|c| async move {
            page_of(
                &c,
                "source_ip_mappings",
                MAPPING_COLS,
                account.as_str(),
                page,
                mapping_row,
            )
            .await
        })
        .await
    }

    async fn update_mapping(
        &self,
        account: &AccountSid,
        sid: &str,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping> {
        let (account, sid, domain) = (account.clone(), sid.to_owned(), sip_domain_sid.clone());
        let missing_domain =
            StoreError::NotFound(Missing::SipDomain(account.clone(), domain.to_string()));
        let result = self
            .write(move |tx| {
                Box::pin(async move {
                    let recognised = owner_may_write(tx, &account).await?;
                    let mut mapping = get_one_for_update(
                        tx,
                        "source_ip_mappings",
                        MAPPING_COLS,
                        account.as_str(),
                        &sid,
                        mapping_row,
                    )
                    .await?
                    .ok_or_else(|| StoreError::NotFound(Missing::Mapping(sid.clone())))?;
                    require_domain(tx, &account, &domain).await?;
                    mapping.sip_domain_sid = domain;
                    mapping.date_updated = timefmt::now();
                    let row = tx
                        .query_one(
                            "UPDATE source_ip_mappings SET sip_domain_sid = $2, date_updated = $3 \
                             WHERE sid = $1 RETURNING network, prefix_length",
                            &[
                                &sid,
                                &mapping.sip_domain_sid.as_str(),
                                &mapping.date_updated,
                            ],
                        )
                        .await
                        .map_err(violation)?;
                    let changes = if recognised {
                        vec![Change::MappingSet(
                            network(row.get(0), row.get(1)),
                            mapping.sip_domain_sid.clone(),
                        )]
                    } else {
                        vec![]
                    };
                    Ok((mapping, changes))
                })
            })
            .await;
        // The domain was deleted by another node between the check and the update.
        match result {
            Err(StoreError::Violation(_)) => Err(missing_domain),
            other => other,
        }
    }

    async fn delete_mapping(&self, account: &AccountSid, sid: &str) -> Result<()> {
        let (account, sid) = (account.clone(), sid.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let row = tx
                    .query_opt(
                        "DELETE FROM source_ip_mappings WHERE sid = $1 AND account_sid = $2 \
                         RETURNING network, prefix_length",
                        &[&sid, &account.as_str()],
                    )
                    .await?
                    .ok_or_else(|| StoreError::NotFound(Missing::Mapping(sid.clone())))?;
                let change = Change::MappingRemoved(network(row.get(0), row.get(1)));
                Ok(((), vec![change]))
            })
        })
        .await
    }
}

/// A failed statement, with a unique or foreign-key violation kept apart (by constraint name) so
/// that the caller can explain it with the same error a single node gives.
fn violation(e: tokio_postgres::Error) -> StoreError {
    match constraint_of(&e) {
        Some((code, name))
            if code == SqlState::UNIQUE_VIOLATION
                || code == SqlState::FOREIGN_KEY_VIOLATION
                || code == SqlState::EXCLUSION_VIOLATION
                || code == SqlState::CHECK_VIOLATION =>
        {
            StoreError::Violation(name)
        }
        _ => db(e),
    }
}
