//! The SQLite back end: one writer thread with group commit (`writer`), and a pool of reader
//! connections.
//!
//! Durability: the database runs in WAL mode with `synchronous=FULL`, so a commit returns only
//! after the WAL is fsynced. Reads run on a small pool of read-only connections; a point read
//! takes microseconds, so it runs in place on the async worker rather than hopping to a blocking
//! thread.

mod conn;
mod files;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::backend::{Backend, ReadFn, WriteFn, Written};
use super::queries::recognition;
use super::value::Row;
use super::{Result, Role, StoreError};
use crate::domain::OutboundPolicy;
use crate::recognition::{Recognition, RecognitionWriter};
use conn::{SqliteTx, configure, finish_now, migrate, query_each};
use writer::{Job, WriteJob};

/// How many reader connections to keep.
const READERS: usize = 4;

/// The SQLite back end.
pub struct SqliteBackend {
    writer: Mutex<mpsc::Sender<Box<dyn WriteJob>>>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    recognition: Recognition,
    /// Set when a write failed because storage is full or failing; cleared by the next write
    /// that commits. While set, the store reports itself unhealthy.
    failing: Arc<AtomicBool>,
}

/// Builds `table` from what `conn` holds, row by row, each row applied as the change that
/// would have put it there.
fn load_table(conn: &Connection, table: &RecognitionWriter) -> Result<()> {
    let mut loading = table.loading();
    for (sql, change) in recognition::LOAD {
        query_each(conn, sql, &vec![], &mut |r: Row| {
            loading.apply(&change(r)?);
            Ok(())
        })?;
    }
    table.publish(loading);
    Ok(())
}

impl SqliteBackend {
    /// Opens (creating if missing) and migrates the database at `path`, its files owner-only
    /// (`files`), builds the recognition table (targets checked against `outbound`) when the
    /// store is to serve, and starts the writer, which applies every committed change to the
    /// table before answering. `max_bytes` caps the database's size.
    pub fn open(
        path: &Path,
        role: Role,
        max_bytes: Option<u64>,
        outbound: Arc<OutboundPolicy>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        files::make_private(path)
            .with_context(|| format!("cannot create SQLite database {}", path.display()))?;
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
        let table = crate::recognition::table_with(outbound);
        if role == Role::Serve {
            load_table(&conn, &table).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let recognition = table.reader();
        let (tx, rx) = mpsc::channel::<Box<dyn WriteJob>>();
        let failing = Arc::new(AtomicBool::new(false));
        let flag = failing.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer::run(conn, &rx, &table, &flag))?;
        Ok(Self {
            writer: Mutex::new(tx),
            readers,
            next_reader: AtomicUsize::new(0),
            recognition,
            failing,
        })
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn write<T: Send + 'static>(&self, work: WriteFn<T>) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(Job::new(work, reply));
        self.writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the SQLite writer dropped a job".into()))?
    }

    async fn read<T: Send + 'static>(&self, work: ReadFn<T>) -> Result<T> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        let mut guard = (0..n)
            .find_map(|i| self.readers[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.readers[start]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
            });
        let mut tx = SqliteTx { conn: &mut guard };
        finish_now(work(&mut tx))
    }

    fn recognition(&self) -> Recognition {
        self.recognition.clone()
    }

    async fn health(&self) -> Result<()> {
        if !self.failing.load(Ordering::Relaxed) {
            return Ok(());
        }
        // A probe that needs room for 64 KiB (stored, then deleted, and committed).
        self.write(Box::new(|tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO health_probe (id, pad) VALUES (1, zeroblob(65536))",
                    vec![],
                )
                .await?;
                tx.execute("DELETE FROM health_probe", vec![]).await?;
                Ok(Written::quiet(()))
            })
        }))
        .await
    }
}
