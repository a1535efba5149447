//! The cluster's change feed: how every node's recognition table follows every node's writes.
//!
//! A write that changes what recognition knows takes the next number from `change_counter` (its
//! row lock makes numbers follow commit order), records its changes in `recognition_changes`
//! under that number, each as one serialised [`Change`] (the value the writer applied to its own
//! table; see `recognition::change` for the form), and sends `NOTIFY sipmap_changes`. Each node
//! listens on a dedicated connection and applies the log in order; it also polls the counter every
//! second, so a lost notification or a lost connection is caught up by itself. Change numbers have
//! no gaps, so a node that reads the counter and the log in one snapshot knows when entries it
//! needs are missing (pruned), and then reloads its whole table instead; so it does when an entry
//! is in a form it cannot read (a kind written by a newer version). Every node prunes entries
//! older than the retention. The same connection listens on `sipmap_call_commands`
//! ([`CALL_COMMANDS_CHANNEL`]): a command for a live call held by another node was written or
//! settled (`resources::call_nodes`); each such notification bumps a counter the call runtime
//! watches. It also listens on [`credentials::CHANNEL`]: a write that may change what
//! authentication decides committed somewhere, and the node's credential cache is emptied as
//! the notification arrives. The cache serves only while this connection listens and answers
//! (it is pinged every [`POLL`], with the store's deadline): from the moment the connection fails or a ping goes
//! unanswered the node reads credentials from the database again, and its cache starts empty
//! once it listens again (see `store::credentials`).
//!
//! **Upgrading a cluster across migration 0008**, which replaced the per-kind columns of
//! `change_log` with `recognition_changes`: the first upgraded node's migration leaves
//! `change_log` as it is but refuses any new row in it (SQLSTATE 58000). A node not yet upgraded
//! therefore cannot commit a write that changes recognition: it answers 503 (as for storage that
//! cannot write) and logs the trigger's message, "this sipmap is older than its database; upgrade
//! it"; its other writes and its reads go on. So it never logs a change an upgraded node would
//! miss. It still follows the cluster: the entries it can read stop at the migration, so from
//! then on its log has a gap and it reloads its table in full whenever another node changes it
//! (about half a second per million mappings). Upgraded nodes never read old entries: each loads
//! in full at start, after the migration. Upgrade the remaining nodes promptly. (Tried with the
//! binaries before and after: the old node's domain create got 503, its IP record create 201,
//! and it recognised the new node's domain after a reload.)

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls};

use super::super::Result;
use super::super::backend::{CALL_COMMANDS_CHANNEL, Tx};
use super::super::credentials::{self, CredentialCache};
use super::super::reads;
use super::super::value::Row;
use super::conn::PgTx;
use super::{DEADLINE, Inner, deadline};
use crate::recognition::Change;

/// The notification channel.
pub const CHANNEL: &str = "sipmap_changes";
/// How often each node compares its table with the change counter.
const POLL: Duration = Duration::from_secs(1);
/// How often each node prunes the change log at most (more often with a short retention).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Logs `changes` under the next change number and announces it, inside the write's
/// transaction; returns the number. Each change is logged serialised ([`Change::encode`]):
/// secrets as storage holds them, sealed.
pub async fn log<C: GenericClient + Sync>(tx: &C, changes: &[Change]) -> Result<i64> {
    let seq: i64 = tx
        .query_one("UPDATE change_counter SET seq = seq + 1 RETURNING seq", &[])
        .await?
        .get(0);
    let ord: Vec<i32> = (0..changes.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    let encoded: Vec<String> = changes.iter().map(Change::encode).collect();
    tx.execute(
        "INSERT INTO recognition_changes (seq, ord, change) \
         SELECT $1, * FROM unnest($2::INT[], $3::TEXT[])",
        &[&seq, &ord, &encoded],
    )
    .await?;
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])
        .await?;
    Ok(seq)
}

/// What the log holds after the last change applied, read in one snapshot with the counter.
enum Logged {
    /// Every change up to `last`, in order.
    Changes {
        /// The changes.
        changes: Vec<Change>,
        /// The number of the last one (`None`: nothing new).
        last: Option<i64>,
    },
    /// The log cannot bring the table up to date: entries it needs were pruned, or were written
    /// in a form this version cannot read (by a newer version, or in the change log that
    /// `recognition_changes` replaced). The table must be reloaded.
    Reload(String),
}

/// Reads the entries after `applied`, as `counter` (read in the same snapshot) says there are.
/// Change numbers have no gaps and each has at least one entry, so the entries must number
/// `applied + 1` to `counter` exactly.
fn logged(rows: Vec<Row>, applied: i64, counter: i64) -> Result<Logged> {
    let mut changes = Vec::with_capacity(rows.len());
    let mut last = applied;
    for r in rows {
        let seq = r.int(0)?;
        if seq != last && seq != last + 1 {
            return Ok(Logged::Reload(format!(
                "change {} is missing from the change log",
                last + 1
            )));
        }
        last = seq;
        match Change::decode(r.str(1)?) {
            Ok(change) => changes.push(change),
            Err(e) => {
                return Ok(Logged::Reload(format!(
                    "change {seq} cannot be read by this version ({e})"
                )));
            }
        }
    }
    if last < counter {
        return Ok(Logged::Reload(format!(
            "changes {} to {counter} are missing from the change log",
            last + 1
        )));
    }
    let last = (last > applied).then_some(last);
    Ok(Logged::Changes { changes, last })
}

/// A read-only transaction that sees one snapshot of the database throughout.
async fn snapshot(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

/// The number of the last change logged.
async fn counter<C: GenericClient + Sync>(c: &C) -> Result<i64> {
    Ok(c.query_one("SELECT seq FROM change_counter", &[])
        .await?
        .get(0))
}

impl Inner {
    /// Rebuilds the recognition table from one consistent snapshot of the database.
    pub async fn reload(&self) -> Result<()> {
        let mut applied = self.applied.lock().await;
        self.reload_locked(&mut applied).await
    }

    async fn reload_locked(&self, applied: &mut i64) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = snapshot(&mut client).await?;
        let seq = counter(&tx).await?;
        let mut loading = self.table.loading();
        reads::recognition_changes(&mut PgTx { client: &tx }, &mut |c| loading.apply(&c)).await?;
        tx.commit().await?;
        self.table.publish(loading);
        *applied = seq;
        Ok(())
    }

    /// Applies every logged change after the last one applied, up to at least `at_least`, or
    /// reloads the table when entries it needs were pruned already.
    pub async fn catch_up(&self, at_least: i64) -> Result<()> {
        let mut applied = self.applied.lock().await;
        if *applied >= at_least && at_least > 0 {
            return Ok(());
        }
        let mut client = self.pool.get().await?;
        // One snapshot for the counter and the log: change numbers are consecutive, so a log
        // that does not run from right after `applied` to the counter has lost entries.
        let tx = snapshot(&mut client).await?;
        let counter = counter(&tx).await?;
        let rows = PgTx { client: &tx }
            .query(
                "SELECT seq, change FROM recognition_changes WHERE seq > $1 ORDER BY seq, ord",
                vec![(*applied).into()],
            )
            .await?;
        tx.commit().await?;
        match logged(rows, *applied, counter)? {
            Logged::Changes { changes, last } => {
                self.table.apply(&changes);
                if let Some(last) = last {
                    *applied = last;
                }
                Ok(())
            }
            Logged::Reload(why) => {
                tracing::warn!(
                    applied = *applied,
                    counter,
                    "{why}; reloading the recognition table in full"
                );
                drop(client);
                self.reload_locked(&mut applied).await
            }
        }
    }

    /// One poll: compare the counter with what is applied and catch up.
    async fn poll(&self) -> Result<()> {
        let client = self.pool.get().await?;
        let seq = counter(&client).await?;
        drop(client);
        let applied = *self.applied.lock().await;
        if seq > applied {
            self.catch_up(seq).await?;
        }
        Ok(())
    }

    /// Deletes change-log entries older than the retention, by the database's clock.
    async fn prune(&self) -> Result<u64> {
        let client = self.pool.get().await?;
        let retention = i64::try_from(self.retention.as_secs()).unwrap_or(i64::MAX);
        Ok(client
            .execute(
                "DELETE FROM recognition_changes \
                 WHERE logged_at < extract(epoch FROM now())::BIGINT - $1",
                &[&retention],
            )
            .await?)
    }
}

/// Follows the change feed for as long as the store exists: LISTEN on a dedicated connection,
/// catch up on every notification and at least every [`POLL`], reconnect after failures.
pub async fn follow(store: Weak<Inner>) {
    loop {
        let Some(s) = store.upgrade() else { return };
        let config = s.config.clone();
        drop(s);
        let connected = tokio::time::timeout(DEADLINE, config.connect(NoTls)).await;
        let Ok(Ok((client, mut connection))) = connected else {
            if let Some(s) = store.upgrade() {
                s.healthy.store(false, Ordering::Relaxed);
            }
            tokio::time::sleep(POLL).await;
            continue;
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let commands = command_counter(&store);
        let Some(cache) = store.upgrade().map(|s| s.credentials.clone()) else {
            return;
        };
        let conn_cache = cache.clone();
        let conn_task = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n)))
                        if n.channel() == CALL_COMMANDS_CHANNEL =>
                    {
                        if let Some(c) = &commands {
                            c.send_modify(|n| *n = n.wrapping_add(1));
                        }
                    }
                    Some(Ok(AsyncMessage::Notification(n)))
                        if n.channel() == credentials::CHANNEL =>
                    {
                        conn_cache.invalidate();
                    }
                    Some(Ok(AsyncMessage::Notification(_))) => {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        // Notifications may be lost from now on.
                        conn_cache.set_live(false);
                        return;
                    }
                }
            }
        });
        let listen_sql = format!(
            "LISTEN {CHANNEL}; LISTEN {CALL_COMMANDS_CHANNEL}; LISTEN {}",
            credentials::CHANNEL
        );
        let listening = tokio::time::timeout(DEADLINE, client.batch_execute(&listen_sql)).await;
        if !matches!(listening, Ok(Ok(()))) {
            conn_task.abort();
            tokio::time::sleep(POLL).await;
            continue;
        }
        // From here on every credential change reaches this connection; what was cached
        // before may have missed some, so the cache starts empty.
        cache.set_live(true);
        let carry_on = listen(&store, &client, &cache, &conn_task, &mut rx).await;
        cache.set_live(false);
        conn_task.abort();
        if !carry_on {
            return;
        }
        if let Some(s) = store.upgrade() {
            s.healthy.store(false, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sender of the store's call-command notifications, while the store exists.
fn command_counter(store: &Weak<Inner>) -> Option<tokio::sync::watch::Sender<u64>> {
    store.upgrade().map(|s| s.commands.clone())
}

/// Catches up after every notification and every [`POLL`] until the listening connection ends
/// or stops answering; `false` when the store is gone. Each round pings the listening
/// connection itself (`client`): the server sends a session the notifications committed before
/// its query ahead of the answer, so after an answered ping the credential cache has seen every
/// change committed before it; an unanswered one ends the connection (and the cache's serving).
async fn listen(
    store: &Weak<Inner>,
    client: &tokio_postgres::Client,
    cache: &CredentialCache,
    conn_task: &tokio::task::JoinHandle<()>,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
) -> bool {
    loop {
        let Some(s) = store.upgrade() else {
            return false;
        };
        let r = deadline(s.poll()).await;
        s.note(&r);
        if let Err(e) = &r {
            tracing::debug!(error = %e, "change feed poll failed");
        }
        drop(s);
        if conn_task.is_finished() {
            return true;
        }
        let ping = tokio::time::timeout(DEADLINE, client.simple_query("SELECT 1")).await;
        if !matches!(ping, Ok(Ok(_))) {
            tracing::debug!("the change feed's connection did not answer its ping");
            cache.set_live(false);
            return true;
        }
        tokio::select! {
            got = rx.recv() => if got.is_none() { return true },
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Prunes the change log regularly for as long as the store exists. Every node does it;
/// deleting what another node deleted already is harmless.
pub async fn prune(store: Weak<Inner>) {
    loop {
        let every = match store.upgrade() {
            Some(s) => (s.retention / 2).clamp(Duration::from_secs(1), PRUNE_EVERY),
            None => return,
        };
        tokio::time::sleep(every).await;
        let Some(s) = store.upgrade() else { return };
        match deadline(s.prune()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(entries = n, "pruned the change log"),
            Err(e) => tracing::debug!(error = %e, "could not prune the change log"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::value::Value;
    use super::*;
    use crate::domain::Network;

    fn entry(seq: i64, change: &str) -> Row {
        Row(vec![Value::Int(seq), Value::Text(change.into())])
    }

    fn removed(last_octet: u8) -> String {
        let net = Network::new(std::net::Ipv4Addr::new(10, 0, 0, last_octet), 32);
        Change::MappingRemoved(net).encode()
    }

    fn applied(l: Logged) -> (usize, Option<i64>) {
        match l {
            Logged::Changes { changes, last } => (changes.len(), last),
            Logged::Reload(why) => panic!("reload: {why}"),
        }
    }

    fn reloads(l: Logged) -> bool {
        matches!(l, Logged::Reload(_))
    }

    #[test]
    fn entries_apply_only_when_they_run_from_the_last_applied_to_the_counter() {
        let run = || {
            vec![
                entry(5, &removed(1)),
                entry(5, &removed(2)),
                entry(6, &removed(3)),
            ]
        };
        assert_eq!(applied(logged(run(), 4, 6).unwrap()), (3, Some(6)));
        assert_eq!(applied(logged(vec![], 6, 6).unwrap()), (0, None));
        // The first entries pruned, one in the middle missing, the last ones not there.
        assert!(reloads(logged(run(), 3, 6).unwrap()));
        let gap = vec![entry(5, &removed(1)), entry(7, &removed(3))];
        assert!(reloads(logged(gap, 4, 7).unwrap()));
        assert!(reloads(logged(run(), 4, 7).unwrap()));
        assert!(reloads(logged(vec![], 4, 5).unwrap()));
    }

    #[test]
    fn an_entry_this_version_cannot_read_means_a_reload() {
        let newer = vec![entry(5, &removed(1)), entry(6, r#"{"call_set":["CA1"]}"#)];
        assert!(reloads(logged(newer, 4, 6).unwrap()));
    }
}
