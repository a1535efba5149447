//! The cluster's change feed: how every node's recognition table follows every node's writes.
//!
//! A write that changes what recognition knows takes the next number from `change_counter` (its
//! row lock makes numbers follow commit order), records its changes in `change_log` under that
//! number and sends `NOTIFY sipmap_changes`. Each node listens on a dedicated connection and
//! applies the log in order; it also polls the counter every second, so a lost notification or a
//! lost connection is caught up by itself. Change numbers have no gaps, so a node that reads the
//! counter and the log in one snapshot knows when entries it needs were pruned, and then reloads
//! its whole table instead. Every node prunes entries older than the retention.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::{AsyncMessage, IsolationLevel, NoTls};

use super::super::backend::Tx;
use super::super::reads;
use super::super::value::Row;
use super::super::{Result, StoreError};
use super::conn::PgTx;
use super::{DEADLINE, Inner, deadline};
use crate::domain::Network;
use crate::recognition::{AuthKind, Change, RouteTarget, Secret, Target};
use crate::sid::{AccountSid, SipDomainSid};

/// The notification channel.
pub const CHANNEL: &str = "sipmap_changes";
/// How often each node compares its table with the change counter.
const POLL: Duration = Duration::from_secs(1);
/// How often each node prunes the change log at most (more often with a short retention).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Logs `changes` under the next change number and announces it, inside the write's
/// transaction; returns the number.
pub async fn log<C: GenericClient + Sync>(tx: &C, changes: &[Change]) -> Result<i64> {
    let seq: i64 = tx
        .query_one("UPDATE change_counter SET seq = seq + 1 RETURNING seq", &[])
        .await?
        .get(0);
    let mut cols = LogColumns::default();
    for (ord, change) in changes.iter().enumerate() {
        cols.push(ord, change);
    }
    tx.execute(
        "INSERT INTO change_log (seq, ord, kind, network, prefix, domain_sid, account_sid, \
         domain_name, sip_registration, list_sid, auth_kind, username, secret, trunk_sid, \
         policy_sid, target_sid, target_uri, priority, weight, enabled) \
         SELECT $1, * FROM unnest($2::INT[], $3::TEXT[], $4::BIGINT[], $5::SMALLINT[], \
         $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BOOLEAN[], $10::TEXT[], $11::TEXT[], \
         $12::TEXT[], $13::BYTEA[], $14::TEXT[], $15::TEXT[], $16::TEXT[], $17::TEXT[], \
         $18::INT[], $19::INT[], $20::BOOLEAN[])",
        &[
            &seq,
            &cols.ord,
            &cols.kind,
            &cols.network,
            &cols.prefix,
            &cols.domain,
            &cols.account,
            &cols.name,
            &cols.sip_registration,
            &cols.list,
            &cols.auth_kind,
            &cols.username,
            &cols.secret,
            &cols.trunk,
            &cols.policy,
            &cols.target_sid,
            &cols.target_uri,
            &cols.priority,
            &cols.weight,
            &cols.enabled,
        ],
    )
    .await?;
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])
        .await?;
    Ok(seq)
}

/// A batch of changes as columns, for one `INSERT … SELECT … FROM unnest(…)`. Secrets are
/// logged as storage holds them: sealed.
#[derive(Default)]
struct LogColumns {
    ord: Vec<i32>,
    kind: Vec<&'static str>,
    network: Vec<Option<i64>>,
    prefix: Vec<Option<i16>>,
    domain: Vec<Option<String>>,
    account: Vec<Option<String>>,
    name: Vec<Option<String>>,
    sip_registration: Vec<Option<bool>>,
    list: Vec<Option<String>>,
    auth_kind: Vec<Option<&'static str>>,
    username: Vec<Option<String>>,
    secret: Vec<Option<Vec<u8>>>,
    trunk: Vec<Option<String>>,
    policy: Vec<Option<String>>,
    target_sid: Vec<Option<String>>,
    target_uri: Vec<Option<String>>,
    priority: Vec<Option<i32>>,
    weight: Vec<Option<i32>>,
    enabled: Vec<Option<bool>>,
}

/// One change as a row of the log; columns a change does not use stay `NULL`.
#[derive(Default)]
struct LogRow<'a> {
    network: Option<Network>,
    domain: Option<&'a SipDomainSid>,
    target: Option<&'a Target>,
    list: Option<&'a str>,
    auth_kind: Option<AuthKind>,
    username: Option<&'a str>,
    secret: Option<&'a Secret>,
    trunk: Option<&'a str>,
    policy: Option<&'a str>,
    route: Option<&'a RouteTarget>,
    target_sid: Option<&'a str>,
}

/// A change's kind and columns.
fn log_row(change: &Change) -> (&'static str, LogRow<'_>) {
    let row = LogRow::default();
    match change {
        Change::DomainSet(t) => (
            "domain_set",
            LogRow {
                domain: Some(&t.domain_sid),
                target: Some(t),
                ..row
            },
        ),
        Change::DomainRemoved(sid) => (
            "domain_removed",
            LogRow {
                domain: Some(sid),
                ..row
            },
        ),
        Change::MappingSet(n, sid) => (
            "mapping_set",
            LogRow {
                network: Some(*n),
                domain: Some(sid),
                ..row
            },
        ),
        Change::MappingRemoved(n) => (
            "mapping_removed",
            LogRow {
                network: Some(*n),
                ..row
            },
        ),
        Change::AclNetworkAdded(list, n) => ("acl_network_added", acl_row(list, *n)),
        Change::AclNetworkRemoved(list, n) => ("acl_network_removed", acl_row(list, *n)),
        Change::CredentialSet(list, user, secret) => (
            "credential_set",
            LogRow {
                secret: Some(secret),
                ..credential_row(list, user)
            },
        ),
        Change::CredentialRemoved(list, user) => ("credential_removed", credential_row(list, user)),
        Change::AuthMapped(domain, k, list) => ("auth_mapped", auth_row(domain, *k, list)),
        Change::AuthUnmapped(domain, k, list) => ("auth_unmapped", auth_row(domain, *k, list)),
        Change::TrunkSet(trunk, policy) => (
            "trunk_set",
            LogRow {
                trunk: Some(trunk),
                policy: policy.as_deref(),
                ..row
            },
        ),
        Change::TrunkRemoved(trunk) => (
            "trunk_removed",
            LogRow {
                trunk: Some(trunk),
                ..row
            },
        ),
        Change::RouteTargetSet(policy, target) => (
            "route_target_set",
            LogRow {
                route: Some(target),
                ..target_row(policy, &target.sid)
            },
        ),
        Change::RouteTargetRemoved(policy, target) => {
            ("route_target_removed", target_row(policy, target))
        }
    }
}

fn acl_row(list: &str, network: Network) -> LogRow<'_> {
    LogRow {
        network: Some(network),
        list: Some(list),
        ..LogRow::default()
    }
}

fn credential_row<'a>(list: &'a str, user: &'a str) -> LogRow<'a> {
    LogRow {
        list: Some(list),
        username: Some(user),
        ..LogRow::default()
    }
}

fn auth_row<'a>(domain: &'a SipDomainSid, kind: AuthKind, list: &'a str) -> LogRow<'a> {
    LogRow {
        domain: Some(domain),
        list: Some(list),
        auth_kind: Some(kind),
        ..LogRow::default()
    }
}

fn target_row<'a>(policy: &'a str, target: &'a str) -> LogRow<'a> {
    LogRow {
        policy: Some(policy),
        target_sid: Some(target),
        ..LogRow::default()
    }
}

impl LogColumns {
    fn push(&mut self, ord: usize, change: &Change) {
        let (kind, row) = log_row(change);
        self.ord.push(i32::try_from(ord).unwrap_or(i32::MAX));
        self.kind.push(kind);
        self.network.push(row.network.map(|n| i64::from(n.addr)));
        self.prefix.push(row.network.map(|n| i16::from(n.prefix)));
        self.domain.push(row.domain.map(SipDomainSid::to_string));
        self.account
            .push(row.target.map(|t| t.account_sid.to_string()));
        self.name.push(row.target.map(|t| t.domain_name.clone()));
        self.sip_registration
            .push(row.target.map(|t| t.sip_registration));
        self.list.push(row.list.map(str::to_owned));
        self.auth_kind.push(row.auth_kind.map(AuthKind::as_str));
        self.username.push(row.username.map(str::to_owned));
        self.secret.push(row.secret.map(|s| s.as_sealed().to_vec()));
        // A domain's trunk goes in the trunk column too.
        let trunk = row
            .trunk
            .or_else(|| row.target.and_then(|t| t.byoc_trunk_sid.as_deref()));
        self.trunk.push(trunk.map(str::to_owned));
        self.policy.push(row.policy.map(str::to_owned));
        self.target_sid.push(row.target_sid.map(str::to_owned));
        self.target_uri.push(row.route.map(|t| t.uri.clone()));
        self.priority.push(row.route.map(|t| i32::from(t.priority)));
        self.weight.push(row.route.map(|t| i32::from(t.weight)));
        self.enabled.push(row.route.map(|t| t.enabled));
    }
}

/// The columns [`change`] reads, in its order.
const LOG_COLUMNS: &str = "seq, kind, network, prefix, domain_sid, account_sid, domain_name, \
    sip_registration, list_sid, auth_kind, username, secret, trunk_sid, policy_sid, target_sid, \
    target_uri, priority, weight, enabled";

/// A change from a row of the log, read as [`LOG_COLUMNS`] says.
fn change(mut r: Row) -> Result<Change> {
    let kind = r.text(1)?;
    let domain = |r: &Row| r.sid(4, SipDomainSid::parse);
    let list = |r: &mut Row| r.text(8);
    let auth_kind = |r: &Row| {
        let k = r.str(9)?;
        AuthKind::parse(k)
            .ok_or_else(|| StoreError::Internal(format!("unknown change_log auth kind {k:?}")))
    };
    Ok(match kind.as_str() {
        "domain_set" => Change::DomainSet(Target {
            domain_sid: domain(&r)?,
            account_sid: r.sid(5, AccountSid::parse)?,
            domain_name: r.text(6)?,
            sip_registration: r.bool(7).unwrap_or(false),
            byoc_trunk_sid: r.opt_text(12)?,
        }),
        "domain_removed" => Change::DomainRemoved(domain(&r)?),
        "mapping_set" => Change::MappingSet(r.network(2)?, domain(&r)?),
        "mapping_removed" => Change::MappingRemoved(r.network(2)?),
        "acl_network_added" => Change::AclNetworkAdded(list(&mut r)?, r.network(2)?),
        "acl_network_removed" => Change::AclNetworkRemoved(list(&mut r)?, r.network(2)?),
        "credential_set" => {
            Change::CredentialSet(list(&mut r)?, r.text(10)?, Secret::sealed(r.blob(11)?))
        }
        "credential_removed" => Change::CredentialRemoved(list(&mut r)?, r.text(10)?),
        "trunk_set" => Change::TrunkSet(r.text(12)?, r.opt_text(13)?),
        "trunk_removed" => Change::TrunkRemoved(r.text(12)?),
        "route_target_set" => {
            let small = |n: i64| u16::try_from(n).unwrap_or(u16::MAX);
            let target = RouteTarget {
                sid: r.text(14)?,
                uri: r.text(15)?,
                priority: small(r.int(16)?),
                weight: small(r.int(17)?),
                enabled: r.bool(18)?,
            };
            Change::RouteTargetSet(r.text(13)?, target)
        }
        "route_target_removed" => Change::RouteTargetRemoved(r.text(13)?, r.text(14)?),
        "auth_mapped" => Change::AuthMapped(domain(&r)?, auth_kind(&r)?, list(&mut r)?),
        "auth_unmapped" => Change::AuthUnmapped(domain(&r)?, auth_kind(&r)?, list(&mut r)?),
        other => {
            return Err(StoreError::Internal(format!(
                "unknown change_log kind {other:?}"
            )));
        }
    })
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
        let state = reads::recognition_state(&mut PgTx { client: &tx }).await?;
        tx.commit().await?;
        self.table.load(state);
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
        // that does not continue right after `applied` has been pruned past it.
        let tx = snapshot(&mut client).await?;
        let counter = counter(&tx).await?;
        let rows = PgTx { client: &tx }
            .query(
                &format!("SELECT {LOG_COLUMNS} FROM change_log WHERE seq > $1 ORDER BY seq, ord"),
                vec![(*applied).into()],
            )
            .await?;
        tx.commit().await?;
        let first = rows.first().map(|r| r.int(0)).transpose()?;
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
        let last = rows.last().map(|r| r.int(0)).transpose()?;
        let changes = rows.into_iter().map(change).collect::<Result<Vec<_>>>()?;
        self.table.apply(&changes);
        if let Some(last) = last {
            *applied = (*applied).max(last);
        }
        Ok(())
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
                "DELETE FROM change_log \
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
        let listening =
            tokio::time::timeout(DEADLINE, client.batch_execute(&format!("LISTEN {CHANNEL}")))
                .await;
        if !matches!(listening, Ok(Ok(()))) {
            conn_task.abort();
            tokio::time::sleep(POLL).await;
            continue;
        }
        if !listen(&store, &conn_task, &mut rx).await {
            conn_task.abort();
            return;
        }
        conn_task.abort();
        if let Some(s) = store.upgrade() {
            s.healthy.store(false, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Catches up after every notification and every [`POLL`] until the listening connection ends;
/// `false` when the store is gone.
async fn listen(
    store: &Weak<Inner>,
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
