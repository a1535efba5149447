//! The SQLite writer thread: group commit.
//!
//! Every write runs on this one thread. It takes every job that is waiting, runs each inside its
//! own SAVEPOINT (a failing job rolls back alone), and commits them all with one fsync (WAL,
//! `synchronous=FULL`); only then does it apply the batch's recognition changes and answer each
//! job. Concurrent writes therefore share fsyncs instead of queueing one fsync each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::super::backend::WriteFn;
use super::super::{Result, StoreError};
use super::conn::{SqliteTx, finish_now};
use crate::recognition::{Change, RecognitionWriter};

/// How many jobs one commit may carry at most.
const MAX_BATCH: usize = 512;

/// How a batch's commit ended, shared by every job of the batch.
#[derive(Debug, Clone)]
pub enum Commit {
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

/// How one job ended inside its savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRun {
    /// It succeeded; its changes join the batch.
    Succeeded,
    /// Storage was full or failing.
    Exhausted,
    /// A rule or another error refused it.
    Refused,
}

/// A write job as the writer thread sees it.
pub trait WriteJob: Send {
    /// Runs the job inside its savepoint, adding the recognition changes it makes to `changes`
    /// when it succeeds.
    fn run(&mut self, conn: &mut Connection, changes: &mut Vec<Change>) -> JobRun;
    /// Delivers the job's result once the batch's commit is known.
    fn finish(self: Box<Self>, commit: &Commit);
}

/// A procedure and where its answer goes.
pub struct Job<T> {
    work: Option<WriteFn<T>>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T> Job<T> {
    /// A job for `work`, answering on `reply`.
    pub fn new(work: WriteFn<T>, reply: oneshot::Sender<Result<T>>) -> Self {
        Self {
            work: Some(work),
            result: None,
            reply,
        }
    }
}

impl<T: Send> WriteJob for Job<T> {
    fn run(&mut self, conn: &mut Connection, changes: &mut Vec<Change>) -> JobRun {
        let result = match self.work.take() {
            Some(work) => {
                let mut tx = SqliteTx { conn };
                finish_now(work(&mut tx))
            }
            None => Err(StoreError::Internal("write job ran twice".into())),
        };
        let (run, result) = match result {
            Ok(written) => {
                changes.extend(written.changes);
                (JobRun::Succeeded, Ok(written.value))
            }
            Err(e @ StoreError::Exhausted(_)) => (JobRun::Exhausted, Err(e)),
            Err(e) => (JobRun::Refused, Err(e)),
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

/// How the jobs of one batch fared before the commit.
#[derive(Debug, Default)]
struct BatchOutcome {
    succeeded: usize,
    exhausted: usize,
}

/// The writer loop (see the module doc). `failing` follows whether storage can write: set when a
/// job or a commit fails for lack of space or an I/O error, cleared when a batch with a
/// successful job commits.
pub fn run(
    mut conn: Connection,
    jobs: &mpsc::Receiver<Box<dyn WriteJob>>,
    table: &RecognitionWriter,
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
        let commit = match run_batch(&mut conn, &mut batch, &mut changes, &mut outcome) {
            Ok(()) => Commit::Done,
            Err(failed) => failed,
        };
        match &commit {
            Commit::Done => {
                table.apply(&changes);
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

fn run_batch(
    conn: &mut Connection,
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
