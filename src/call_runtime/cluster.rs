//! Calls across the nodes of a cluster: [`Cluster`], the [`Control`] the API gives updates to.
//!
//! Each process is a node with a random id ([`new_node_id`]); the call runtime stores every new
//! call naming its node (`call_holders`, while it lasts). An update reaching a node that does
//! not hold the call is written to the database for the holding node (a `call_commands` row,
//! announced by `NOTIFY sipmap_call_commands` in the same transaction); the holding node, on the
//! change feed's connection (and polling every second, should a notification be lost), claims
//! it, gives it to the call and records the outcome, which wakes the writer. The writer waits at
//! most [`TAKE_WITHIN`]; a command still unclaimed then is marked expired (it will never act) and
//! the API answers 503. So an update is either taken by the call or refused, never reported
//! taken without being so.
//!
//! On PostgreSQL every node running calls beats (`call_nodes`) every [`BEAT`]. Live calls that
//! no runtime will end any more are ended ([`crate::domain::Call::abandon`]: `completed` once
//! answered, `failed` before): on SQLite (one node) at start, every live call of another
//! process; on PostgreSQL, by any node, the live calls of a node silent for [`SILENT`].

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

use super::CallRuntime;
use super::metrics::inc;
use crate::calls::{Command, Control, Delivery};
use crate::sid::{AccountSid, CallSid};
use crate::store::Store;
use crate::store::resources::call_nodes::{CommandOutcome, PendingCommand};
use crate::voice::twiml::Method;

/// How often a node running calls records its heartbeat.
pub const BEAT: Duration = Duration::from_secs(5);
/// After how long without a heartbeat a node's live calls are ended by the others.
pub const SILENT: Duration = Duration::from_secs(30);
/// How long the node an update reached waits for the holding node to take it.
pub const TAKE_WITHIN: Duration = Duration::from_secs(2);
/// How often the holding node looks for commands without being notified.
const POLL: Duration = Duration::from_secs(1);
/// How often the writer of a command reads its outcome without being notified.
const OUTCOME_POLL: Duration = Duration::from_millis(25);

/// A new node id: 32 random hex digits.
pub fn new_node_id() -> String {
    crate::sid::random_hex32()
}

/// A command as `call_commands` stores it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Wire {
    Complete,
    Cancel,
    Redirect { url: String, method: String },
    Twiml(String),
}

fn encode(command: &Command) -> String {
    let wire = match command {
        Command::Complete => Wire::Complete,
        Command::Cancel => Wire::Cancel,
        Command::Redirect(url, method) => Wire::Redirect {
            url: url.to_string(),
            method: match method {
                Method::Get => "GET",
                Method::Post => "POST",
            }
            .to_owned(),
        },
        Command::Twiml(text) => Wire::Twiml(text.clone()),
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

fn decode(text: &str) -> Option<Command> {
    Some(match serde_json::from_str(text).ok()? {
        Wire::Complete => Command::Complete,
        Wire::Cancel => Command::Cancel,
        Wire::Redirect { url, method } => Command::Redirect(
            Url::parse(&url).ok()?,
            if method == "GET" {
                Method::Get
            } else {
                Method::Post
            },
        ),
        Wire::Twiml(text) => Command::Twiml(text),
    })
}

struct Inner {
    store: Arc<Store>,
    node: String,
    local: Option<CallRuntime>,
}

/// This node's part in the cluster's calls: see the module documentation.
#[derive(Clone)]
pub struct Cluster(Arc<Inner>);

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.0.node)
            .finish_non_exhaustive()
    }
}

/// Waits for a notification on `signal` or `after`, whichever comes first.
async fn wake(signal: &mut Option<watch::Receiver<u64>>, after: Duration) {
    match signal {
        Some(rx) => {
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { *signal = None },
                () = tokio::time::sleep(after) => {}
            }
        }
        None => tokio::time::sleep(after).await,
    }
}

impl Cluster {
    /// Node `node` over `store`, holding the calls of `local` (none: a node without a SIP
    /// edge, which only passes updates on).
    pub fn new(store: Arc<Store>, node: String, local: Option<CallRuntime>) -> Self {
        Self(Arc::new(Inner { store, node, local }))
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.0.node
    }

    /// Starts the node: ends the live calls left by stopped nodes (on SQLite, all but this
    /// node's), and, when it runs calls on PostgreSQL, records its heartbeat and follows the
    /// commands written for it for as long as the cluster value lives.
    ///
    /// # Errors
    ///
    /// When storage cannot be written.
    pub async fn start(&self) -> anyhow::Result<()> {
        // On SQLite there is one node: no heartbeat, no command from another node to follow.
        let follows = self.0.local.is_some() && self.0.store.is_shared();
        if follows {
            self.0.store.beat_call_node(&self.0.node).await?;
        }
        self.end_abandoned().await?;
        if follows {
            tokio::spawn(follow(Arc::downgrade(&self.0)));
        }
        Ok(())
    }

    /// Ends the live calls no runtime will end any more, and logs them.
    async fn end_abandoned(&self) -> anyhow::Result<()> {
        let store = &self.0.store;
        let silent = store
            .is_shared()
            .then(|| i64::try_from(SILENT.as_millis()).unwrap_or(i64::MAX));
        let ended = store.end_abandoned_calls(&self.0.node, silent).await?;
        if !ended.is_empty() {
            tracing::warn!(
                calls = ended.len(),
                "ended the live calls of a node that stopped (completed if answered, else failed)"
            );
            if let Some(local) = &self.0.local {
                for _ in &ended {
                    inc(&local.0.metrics.abandoned);
                }
            }
        }
        Ok(())
    }

    /// Gives the commands written for this node to its calls.
    async fn take_pending(&self) {
        let (store, node) = (&self.0.store, &self.0.node);
        let Some(local) = &self.0.local else { return };
        let Ok(pending) = store.pending_call_commands(node).await else {
            return;
        };
        for p in pending {
            let claimed = store
                .settle_call_command(&p.id, None, CommandOutcome::Claimed)
                .await;
            if !matches!(claimed, Ok(true)) {
                continue;
            }
            let taken = match decode(&p.command) {
                Some(command) => local.command(&p.account, &p.call, command).await == Ok(true),
                None => false,
            };
            let outcome = if taken {
                CommandOutcome::Taken
            } else {
                CommandOutcome::NotLive
            };
            let settled = store
                .settle_call_command(&p.id, Some(CommandOutcome::Claimed), outcome)
                .await;
            if let Err(e) = settled {
                tracing::warn!(error = %e, call = %p.call, "a command's outcome was not stored");
            }
        }
    }

    /// Writes `command` for node `node` and waits for its outcome (see the module doc).
    async fn remote(
        &self,
        node: &str,
        (account, call): (&AccountSid, &CallSid),
        command: &Command,
    ) -> Delivery {
        let store = &self.0.store;
        let pending = PendingCommand {
            id: crate::sid::random_hex32(),
            account: account.clone(),
            call: call.clone(),
            command: encode(command),
        };
        let mut signal = store.call_commands_signal();
        if let Err(e) = store.put_call_command(node, &pending).await {
            tracing::warn!(error = %e, %call, "a command for another node was not written");
            return Delivery::NotLive;
        }
        let started = Instant::now();
        let mut expired_tried = false;
        loop {
            match store.call_command_outcome(&pending.id).await {
                Ok(Some(CommandOutcome::Taken)) => return Delivery::Taken,
                Ok(Some(CommandOutcome::NotLive | CommandOutcome::Expired)) => {
                    return Delivery::NotLive;
                }
                _ => {}
            }
            if started.elapsed() >= TAKE_WITHIN && !expired_tried {
                expired_tried = true;
                let expired = store
                    .settle_call_command(&pending.id, None, CommandOutcome::Expired)
                    .await;
                if matches!(expired, Ok(true)) {
                    tracing::warn!(%call, node, "the node holding a call did not take an update in time");
                    return Delivery::NotLive;
                }
            }
            if started.elapsed() >= TAKE_WITHIN * 2 {
                // Claimed, but no outcome: the holding node stopped meanwhile.
                return Delivery::NotLive;
            }
            wake(&mut signal, OUTCOME_POLL).await;
        }
    }
}

/// Beats, ends silent nodes' calls, and takes this node's commands, until the cluster is gone.
async fn follow(cluster: Weak<Inner>) {
    let mut signal = cluster
        .upgrade()
        .and_then(|c| c.store.call_commands_signal());
    let mut last_beat = Instant::now();
    loop {
        let Some(inner) = cluster.upgrade() else {
            return;
        };
        let this = Cluster(inner);
        if last_beat.elapsed() >= BEAT {
            last_beat = Instant::now();
            if let Err(e) = this.0.store.beat_call_node(&this.0.node).await {
                tracing::debug!(error = %e, "no heartbeat stored");
            }
            if let Err(e) = this.end_abandoned().await {
                tracing::debug!(error = %e, "silent nodes' calls not ended");
            }
        }
        this.take_pending().await;
        drop(this);
        wake(&mut signal, POLL).await;
    }
}

#[async_trait]
impl Control for Cluster {
    async fn command(&self, account: &AccountSid, call: &CallSid, command: Command) -> Delivery {
        if let Some(local) = &self.0.local {
            match local.command(account, call, command.clone()).await {
                Ok(true) => return Delivery::Taken,
                Ok(false) => {}
                Err(super::Busy) => return Delivery::Busy,
            }
        }
        match self.0.store.call_node(account, call).await {
            Ok(Some(node)) if node != self.0.node => {
                self.remote(&node, (account, call), &command).await
            }
            _ => Delivery::NotLive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_back_as_written() {
        let url = Url::parse("https://example.com/next?x=1").unwrap();
        for command in [
            Command::Complete,
            Command::Cancel,
            Command::Redirect(url.clone(), Method::Get),
            Command::Redirect(url, Method::Post),
            Command::Twiml("<Response><Hangup/></Response>".into()),
        ] {
            assert_eq!(decode(&encode(&command)), Some(command));
        }
        assert_eq!(decode("{\"unknown\":1}"), None);
        assert_eq!(decode("not json"), None);
    }
}
