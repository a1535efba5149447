//! The PostgreSQL back end: the shared store of a sipmap cluster.
//!
//! Any number of `sipmap serve` processes on one database form a cluster. Every rule the write
//! procedures check is also a constraint or trigger in the schema, so when two nodes take
//! conflicting writes at the same moment exactly one commits; the other's constraint violation
//! makes the engine decide its write again, and the rule explains the loss as a single node
//! would. Every node's recognition table follows the cluster's writes through `feed`.
//!
//! Every database call has a deadline: a node that cannot reach the database answers API calls
//! with 503 (`StoreError::Unavailable`) instead of hanging, reports unhealthy, and its SIP edge
//! keeps recognising traffic from the last table it had.

mod conn;
mod feed;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::backend::{Backend, ReadFn, WriteFn, Written};
use super::credentials::CredentialCache;
use super::{Result, Role, StoreError};
use crate::domain::OutboundPolicy;
use crate::recognition::{Recognition, RecognitionWriter};
use conn::{BOOTSTRAP_LOCK, PgTx};

/// Schema migrations, every `migrations/postgres/NNNN_name.sql` in order (listed by `build.rs`),
/// applied under an advisory lock.
const MIGRATIONS: &[&str] = include!(concat!(env!("OUT_DIR"), "/postgres_migrations.rs"));
/// Deadline of any one database operation.
const DEADLINE: Duration = Duration::from_secs(5);
/// How long the change log keeps an entry unless told otherwise. A node that was away (cut off
/// from the database, or stopped) for less than this catches up from the log; a node away for
/// longer finds entries it needs pruned and reloads its whole table instead.
pub const DEFAULT_CHANGE_LOG_RETENTION: Duration = Duration::from_secs(600);

/// Runs `fut` with the store's deadline.
async fn deadline<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Unavailable(
            "the database did not answer in time".into(),
        )),
    }
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
    let hosts = if hosts.is_empty() {
        "localhost".to_owned()
    } else {
        hosts.join(",")
    };
    format!(
        "{hosts}:{port}/{} as {}",
        config.get_dbname().unwrap_or("(default database)"),
        config.get_user().unwrap_or("(default user)"),
    )
}

/// What the back end and its feed tasks share.
pub struct Inner {
    pool: Pool,
    config: tokio_postgres::Config,
    table: RecognitionWriter,
    /// The last change number applied to `table`.
    applied: tokio::sync::Mutex<i64>,
    healthy: AtomicBool,
    /// Set when a write failed because the database server is out of disk or failing; cleared
    /// by the next write that commits.
    failing: AtomicBool,
    retention: Duration,
    role: Role,
    /// Counts the notifications on `sipmap_call_commands` this node received: commands for
    /// calls written or settled by some node.
    commands: tokio::sync::watch::Sender<u64>,
    /// What authentication read: live while the feed's connection listens, emptied by every
    /// notification on [`super::credentials::CHANNEL`].
    credentials: Arc<CredentialCache>,
}

impl Inner {
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
}

/// The PostgreSQL back end.
pub struct PgBackend {
    inner: Arc<Inner>,
}

fn pool(config: &tokio_postgres::Config) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(16)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(DEADLINE))
        .create_timeout(Some(DEADLINE))
        .recycle_timeout(Some(DEADLINE))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the PostgreSQL pool: {e}"))
}

impl PgBackend {
    /// Connects and migrates; to serve, also loads the recognition table and starts following
    /// and pruning the change feed (`retention`: how long the log keeps entries).
    pub async fn open(
        url: &str,
        role: Role,
        retention: Duration,
        outbound: Arc<OutboundPolicy>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let mut config = tokio_postgres::Config::from_str(url)
            .context("the PostgreSQL database URL is not valid")?;
        config.connect_timeout(DEADLINE);
        let options = config.get_options().unwrap_or_default().to_owned();
        // Notices (such as "already exists, skipping" while migrating) are not worth a log line.
        config.options(
            format!("{options} -c statement_timeout=5000 -c client_min_messages=warning").trim(),
        );
        let table = crate::recognition::table_with(outbound);
        let inner = Arc::new(Inner {
            pool: pool(&config)?,
            config,
            table,
            applied: tokio::sync::Mutex::new(0),
            healthy: AtomicBool::new(role == Role::Admin),
            failing: AtomicBool::new(false),
            retention,
            role,
            commands: tokio::sync::watch::Sender::new(0),
            credentials: Arc::new(CredentialCache::new(false)),
        });
        let target = describe_target(&inner.config);
        migrate(&inner.pool).await.map_err(|e| {
            anyhow::anyhow!("cannot migrate the PostgreSQL database at {target}: {e}")
        })?;
        if role == Role::Serve {
            inner.reload().await.map_err(|e| {
                anyhow::anyhow!("cannot load the recognition table from {target}: {e}")
            })?;
            tokio::spawn(feed::follow(Arc::downgrade(&inner)));
            tokio::spawn(feed::prune(Arc::downgrade(&inner)));
        }
        Ok(Self { inner })
    }

    /// Changes whenever a command for a call is written or settled by any node (a
    /// notification on `sipmap_call_commands`).
    pub fn call_commands(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.commands.subscribe()
    }

    /// The node's credential cache, which the change feed keeps (see
    /// [`super::credentials`]): it serves only while the feed's connection listens.
    pub fn credentials(&self) -> Arc<CredentialCache> {
        self.inner.credentials.clone()
    }
}

async fn migrate(pool: &Pool) -> Result<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BOOTSTRAP_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS sipmap_schema_version (version INTEGER NOT NULL)")
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

#[async_trait]
impl Backend for PgBackend {
    async fn write<T: Send + 'static>(&self, work: WriteFn<T>) -> Result<T> {
        let inner = &self.inner;
        let result = deadline(async {
            let mut client = inner.pool.get().await?;
            let tx = client.transaction().await?;
            let written = work(&mut PgTx { client: &tx }).await?;
            let seq = match written.changes.is_empty() {
                true => 0,
                false => feed::log(&tx, &written.changes).await?,
            };
            tx.commit().await?;
            Ok((written.value, seq))
        })
        .await;
        inner.note_write(&result);
        let (value, seq) = result?;
        if seq > 0 && inner.role == Role::Serve {
            // Read-your-writes: the table includes this write before the API answers. The write
            // is committed either way; if catching up fails, the poller will finish it.
            if let Err(e) = deadline(inner.catch_up(seq)).await {
                tracing::warn!(error = %e, "could not apply a committed change yet");
            }
        }
        Ok(value)
    }

    async fn read<T: Send + 'static>(&self, work: ReadFn<T>) -> Result<T> {
        let inner = &self.inner;
        let r = deadline(async {
            let client = inner.pool.get().await?;
            work(&mut PgTx { client: &client }).await
        })
        .await;
        inner.note(&r);
        r
    }

    fn recognition(&self) -> Recognition {
        self.inner.table.reader()
    }

    async fn health(&self) -> Result<()> {
        self.read(Box::new(|tx| {
            Box::pin(async move { tx.query("SELECT 1", vec![]).await.map(drop) })
        }))
        .await?;
        if !self.inner.healthy.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "the change feed is not connected".into(),
            ));
        }
        if self.inner.failing.load(Ordering::Relaxed) {
            // A write failed for lack of space or an I/O error: one small write tells whether
            // the database can write again (and, when it commits, clears the flag).
            self.write(Box::new(|tx| {
                Box::pin(async move {
                    tx.execute(
                        "INSERT INTO health_probe (id, at) \
                         VALUES (TRUE, extract(epoch FROM now())::BIGINT) \
                         ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
                        vec![],
                    )
                    .await?;
                    Ok(Written::quiet(()))
                })
            }))
            .await?;
        }
        Ok(())
    }
}
