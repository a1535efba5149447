//! What a database back end provides: a way to run SQL ([`Tx`]), a durable write transaction
//! and a read ([`Backend`]), and its health. Nothing else: no rule, no wording, no statement text
//! of its own beyond its dialect's locks. Every statement lives in [`super::queries`], every
//! procedure in [`super::reads`] and [`super::resources`], written once for both back ends.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use super::Result;
use super::value::{Params, Row};
use crate::domain::Audit;
use crate::recognition::{Change, Recognition};

/// Row locks a read inside a write transaction may take (PostgreSQL; SQLite has one writer and
/// needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// No lock.
    None,
    /// `FOR SHARE`: the row cannot change until this transaction ends.
    Share,
    /// `FOR UPDATE`: this transaction will change the row; others wait.
    Update,
}

/// Things that must happen one at a time across a whole cluster, in a write transaction
/// (PostgreSQL advisory locks; nothing to do on SQLite, which has one writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serial {
    /// Creating mappings: the overlap check and the insert act as one.
    Mappings,
    /// Naming SIP domains: the check for names under or above another family's and the write
    /// act as one.
    DomainNames,
    /// Creating the first account of an empty database.
    Bootstrap,
}

/// The channel of [`Tx::notify`] that wakes the nodes when a command for a call held by
/// another node is written or settled (`resources::call_nodes`).
pub const CALL_COMMANDS_CHANNEL: &str = "sipmap_call_commands";

/// What receives the rows of [`Tx::query_each`], one at a time.
pub type Each<'a> = dyn FnMut(Row) -> Result<()> + Send + 'a;

/// SQL on one connection, inside a write transaction or for a read.
#[async_trait]
pub trait Tx: Send {
    /// Runs a query and returns its rows.
    async fn query(&mut self, sql: &str, params: Params) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        self.query_each(sql, params, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .await?;
        Ok(rows)
    }

    /// Runs a query and hands each row to `each` as it is read (for large results).
    async fn query_each(&mut self, sql: &str, args: Params, each: &mut Each<'_>) -> Result<()>;

    /// Runs a statement; returns how many rows it changed.
    async fn execute(&mut self, sql: &str, params: Params) -> Result<u64>;

    /// Runs `statements` in order, then `query`: how many rows each statement changed, and the
    /// query's rows. PostgreSQL gets them all at once (pipelined: one round trip instead of one
    /// each; they still run in order); SQLite runs them one after another.
    async fn execute_then_query(
        &mut self,
        statements: Vec<(&'static str, Params)>,
        query: (&'static str, Params),
    ) -> Result<(Vec<u64>, Vec<Row>)> {
        let mut counts = Vec::with_capacity(statements.len());
        for (sql, params) in statements {
            counts.push(self.execute(sql, params).await?);
        }
        Ok((counts, self.query(query.0, query.1).await?))
    }

    /// Runs a query that reads rows this transaction depends on, locking them as `lock` says.
    async fn query_locked(&mut self, sql: &str, params: Params, lock: Lock) -> Result<Vec<Row>> {
        let _ = lock;
        self.query(sql, params).await
    }

    /// Announces `payload` on `channel` to every node following the database once this
    /// transaction commits (PostgreSQL's `NOTIFY`; nothing on SQLite, which has one node).
    async fn notify(&mut self, channel: &str, payload: &str) -> Result<()> {
        let _ = (channel, payload);
        Ok(())
    }

    /// Waits until no other transaction in the cluster is doing `what`.
    async fn serialize(&mut self, what: Serial) -> Result<()> {
        let _ = what;
        Ok(())
    }
}

/// The result of a write: its value, what it changed in recognition, and what it changed that
/// the audit log records.
#[derive(Debug)]
pub struct Written<T> {
    /// What the caller gets.
    pub value: T,
    /// The recognition changes the commit makes.
    pub changes: Vec<Change>,
    /// The changes of resources the write made, which the store records as Monitor Events in
    /// the same transaction when the API made the write ([`super::Store::acting`]).
    pub audit: Vec<Audit>,
}

impl<T> Written<T> {
    /// A write that makes `change` when its account is `recognised` (an account suspended or
    /// closed is out of the table, so its writes change nothing there).
    pub fn recognised_if(value: T, recognised: bool, change: Change) -> Self {
        Self {
            value,
            changes: if recognised { vec![change] } else { Vec::new() },
            audit: Vec::new(),
        }
    }

    /// A write that changes `changes` in recognition.
    pub fn changing(value: T, changes: Vec<Change>) -> Self {
        Self {
            value,
            changes,
            audit: Vec::new(),
        }
    }

    /// The same write, recording `audit` too (an update that changed nothing an event shows
    /// records nothing).
    pub fn audited(mut self, audit: impl IntoIterator<Item = Audit>) -> Self {
        self.audit.extend(audit);
        self
    }

    /// A write that changes nothing recognition knows.
    pub fn quiet(value: T) -> Self {
        Self {
            value,
            changes: Vec::new(),
            audit: Vec::new(),
        }
    }
}

/// A boxed future that can move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A write procedure, ready to run on a transaction.
pub type WriteFn<T> =
    Box<dyn for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<Written<T>>> + Send>;

/// A read procedure, ready to run on a connection.
pub type ReadFn<T> =
    Box<dyn for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<T>> + Send>;

/// A database back end.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs `work` in one transaction and commits it durably; its recognition changes reach the
    /// table (and, in a cluster, every node's) before this returns. Nothing is kept if `work`
    /// fails.
    async fn write<T: Send + 'static>(&self, work: WriteFn<T>) -> Result<T>;

    /// Runs `work` on a connection outside any write transaction.
    async fn read<T: Send + 'static>(&self, work: ReadFn<T>) -> Result<T>;

    /// A read handle on the recognition table this back end keeps current (empty unless the
    /// store was opened to serve).
    fn recognition(&self) -> Recognition;

    /// Whether the database is reachable, can write, and the table is being kept current. After
    /// a write failed for lack of space or an I/O error, this tries a probe write that needs
    /// room, so that the answer changes back by itself once storage can take writes again.
    async fn health(&self) -> Result<()>;
}
