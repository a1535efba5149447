//! One SQLite connection as a [`Tx`]: binding [`Value`]s, reading rows, classifying errors, and
//! the schema migrations.

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode};

use super::super::backend::{Each, Tx};
use super::super::value::{Params, Row, Value, sqlite_placeholders};
use super::super::{Result, StoreError};

/// Schema migrations, every `migrations/sqlite/NNNN_name.sql` in order (listed by `build.rs`);
/// `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = include!(concat!(env!("OUT_DIR"), "/sqlite_migrations.rs"));

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
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

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(f) => Value::Int(f as i64),
        ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Opens the pragmas every connection needs.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every statement sipmap runs stays prepared (the default keeps only 16).
    conn.set_prepared_statement_cache_capacity(256);
    Ok(())
}

/// Applies the migrations not applied yet, each in its own transaction.
pub fn migrate(conn: &Connection) -> rusqlite::Result<()> {
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

/// Runs a query on `conn`, handing each row to `each`.
pub fn query_each(
    conn: &Connection,
    sql: &str,
    params: &Params,
    each: &mut dyn FnMut(Row) -> Result<()>,
) -> Result<()> {
    let mut st = conn.prepare_cached(&sqlite_placeholders(sql))?;
    let columns = st.column_count();
    let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
    while let Some(r) = rows.next()? {
        let row = (0..columns)
            .map(|i| r.get_ref(i).map(value))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        each(Row(row))?;
    }
    Ok(())
}

/// A connection, borrowed for one procedure (a write job's savepoint, or a read).
pub struct SqliteTx<'c> {
    /// The connection; exclusive while the procedure runs.
    pub conn: &'c mut Connection,
}

#[async_trait]
impl Tx for SqliteTx<'_> {
    async fn query_each(&mut self, sql: &str, args: Params, each: &mut Each<'_>) -> Result<()> {
        query_each(self.conn, sql, &args, each)
    }

    async fn execute(&mut self, sql: &str, params: Params) -> Result<u64> {
        let n = self
            .conn
            .prepare_cached(&sqlite_placeholders(sql))?
            .execute(rusqlite::params_from_iter(params.iter()))?;
        Ok(n as u64)
    }
}

/// Runs a procedure's future to its end on this thread. A SQLite procedure never waits (every
/// statement runs in place), so one poll finishes it; if one ever did wait, that is a bug,
/// reported as an internal error rather than a hang.
pub fn finish_now<T>(
    fut: std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + '_>>,
) -> Result<T> {
    let mut fut = fut;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r,
        std::task::Poll::Pending => Err(StoreError::Internal(
            "a SQLite procedure waited, which it never should".into(),
        )),
    }
}
