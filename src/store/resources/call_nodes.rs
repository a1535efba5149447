//! The nodes that run calls and the commands sent between them (migration 0010): each node's
//! heartbeat (`call_nodes`), the node holding a call (`call_holders`), and the API's updates
//! of a live call written for the node that holds it (`call_commands`), with the outcome that
//! node records. Writing or settling a command announces it on
//! [`CALL_COMMANDS_CHANNEL`] (PostgreSQL's `NOTIFY`), which every node listens to.

use super::super::backend::{CALL_COMMANDS_CHANNEL, Tx, Written};
use super::super::value::Params;
use super::super::{Result, StoreError};
use crate::sid::{AccountSid, CallSid};

/// How long a command's row is kept (the writer waits far less for its outcome).
pub const COMMAND_KEPT_MS: i64 = 60_000;
/// How long a silent node's heartbeat row is kept.
pub const NODE_KEPT_MS: i64 = 86_400_000;

/// What became of a command written for another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// The holding node is giving it to the call.
    Claimed,
    /// The call took it.
    Taken,
    /// The holding node does not hold the call (it ended, or the node restarted).
    NotLive,
    /// The writer stopped waiting before the holding node claimed it; it will not be given.
    Expired,
}

impl CommandOutcome {
    /// Its stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Taken => "taken",
            Self::NotLive => "not-live",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Claimed, Self::Taken, Self::NotLive, Self::Expired]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A command waiting for the node that holds its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCommand {
    /// Its id.
    pub id: String,
    /// The call's account.
    pub account: AccountSid,
    /// The call.
    pub call: CallSid,
    /// The command, as its writer encoded it.
    pub command: String,
}

mod sql {
    /// A node's heartbeat: `$1` node, `$2` Unix ms.
    pub const BEAT: &str = "INSERT INTO call_nodes (node_id, beat_ms) VALUES ($1, $2) \
         ON CONFLICT (node_id) DO UPDATE SET beat_ms = excluded.beat_ms";
    /// Forgets the nodes silent since before `$1`.
    pub const FORGET_NODES: &str = "DELETE FROM call_nodes WHERE beat_ms < $1";
    /// The node holding call `$1` of account `$2`.
    pub const HOLDER: &str = "SELECT h.node_id FROM call_holders h \
         JOIN calls c ON c.sid = h.call_sid WHERE c.sid = $1 AND c.account_sid = $2";
    /// A new command.
    pub const INSERT: &str = "INSERT INTO call_commands \
         (id, node_id, account_sid, call_sid, command, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)";
    /// Forgets the commands written before `$1`.
    pub const FORGET_COMMANDS: &str = "DELETE FROM call_commands WHERE created_ms < $1";
    /// The commands node `$1` has not claimed, oldest first.
    pub const PENDING: &str = "SELECT id, account_sid, call_sid, command FROM call_commands \
         WHERE node_id = $1 AND outcome IS NULL ORDER BY created_ms, id";
    /// Sets command `$1`'s outcome to `$2` if it has none yet.
    pub const SETTLE_NEW: &str =
        "UPDATE call_commands SET outcome = $2 WHERE id = $1 AND outcome IS NULL";
    /// Sets command `$1`'s outcome to `$2` if it is `$3`.
    pub const SETTLE: &str = "UPDATE call_commands SET outcome = $2 WHERE id = $1 AND outcome = $3";
    /// Command `$1`'s outcome.
    pub const OUTCOME: &str = "SELECT outcome FROM call_commands WHERE id = $1";
}

/// Records `node`'s heartbeat at `now_ms`, and forgets nodes silent for a day.
async fn beat(tx: &mut dyn Tx, node: String, now_ms: i64) -> Result<Written<()>> {
    tx.execute(sql::BEAT, vec![node.into(), now_ms.into()])
        .await?;
    let before = now_ms.saturating_sub(NODE_KEPT_MS);
    tx.execute(sql::FORGET_NODES, vec![before.into()]).await?;
    Ok(Written::quiet(()))
}

/// Writes `pending` for `node` and announces it; forgets commands older than a minute.
async fn put(
    tx: &mut dyn Tx,
    node: String,
    pending: PendingCommand,
    now_ms: i64,
) -> Result<Written<()>> {
    let before = now_ms.saturating_sub(COMMAND_KEPT_MS);
    tx.execute(sql::FORGET_COMMANDS, vec![before.into()])
        .await?;
    let params: Params = vec![
        pending.id.into(),
        node.clone().into(),
        pending.account.as_str().into(),
        pending.call.as_str().into(),
        pending.command.into(),
        now_ms.into(),
    ];
    tx.execute(sql::INSERT, params).await?;
    tx.notify(CALL_COMMANDS_CHANNEL, &node).await?;
    Ok(Written::quiet(()))
}

/// Moves command `id` from `from` (none: no outcome yet) to `to`, and announces it; false when
/// its outcome was not `from`.
async fn settle(
    tx: &mut dyn Tx,
    id: String,
    from: Option<CommandOutcome>,
    to: CommandOutcome,
) -> Result<Written<bool>> {
    let changed = match from {
        None => {
            let params = vec![id.into(), to.as_str().into()];
            tx.execute(sql::SETTLE_NEW, params).await?
        }
        Some(from) => {
            let params = vec![id.into(), to.as_str().into(), from.as_str().into()];
            tx.execute(sql::SETTLE, params).await?
        }
    };
    if changed > 0 {
        tx.notify(CALL_COMMANDS_CHANNEL, to.as_str()).await?;
    }
    Ok(Written::quiet(changed > 0))
}

fn pending_row(mut r: super::super::value::Row) -> Result<PendingCommand> {
    Ok(PendingCommand {
        id: r.text(0)?,
        account: r.sid(1, AccountSid::parse)?,
        call: r.sid(2, CallSid::parse)?,
        command: r.text(3)?,
    })
}

fn outcome_row(mut r: super::super::value::Row) -> Result<Option<CommandOutcome>> {
    match r.opt_text(0)? {
        None => Ok(None),
        Some(s) => CommandOutcome::parse(&s)
            .map(Some)
            .ok_or_else(|| StoreError::Internal(format!("stored command outcome {s:?}"))),
    }
}

/// The store's operations on nodes and their commands.
mod operations {
    use super::{CommandOutcome, PendingCommand, sql};
    use crate::sid::{AccountSid, CallSid};
    use crate::store::engine::run_write;
    use crate::store::{Result, Store};

    impl Store {
        /// Records that node `node` is alive now.
        pub async fn beat_call_node(&self, node: &str) -> Result<()> {
            let (_, now_ms) = self.now();
            let node = node.to_owned();
            run_write!(self, (node), |tx| super::beat(tx, node, now_ms))
        }

        /// The node holding call `sid` of `account` (none for a call stored before nodes were
        /// named, or a missing call).
        pub async fn call_node(
            &self,
            account: &AccountSid,
            sid: &CallSid,
        ) -> Result<Option<String>> {
            let params = vec![sid.as_str().into(), account.as_str().into()];
            let found = self
                .read_one(sql::HOLDER, params, |mut r| r.opt_text(0))
                .await?;
            Ok(found.flatten())
        }

        /// Writes `command` for node `node`, which holds its call, and announces it.
        pub async fn put_call_command(&self, node: &str, command: &PendingCommand) -> Result<()> {
            let (_, now_ms) = self.now();
            let (node, command) = (node.to_owned(), command.clone());
            run_write!(self, (node, command), |tx| super::put(
                tx, node, command, now_ms
            ))
        }

        /// The commands written for node `node` that it has not claimed, oldest first.
        pub async fn pending_call_commands(&self, node: &str) -> Result<Vec<PendingCommand>> {
            let query = (sql::PENDING.to_owned(), vec![node.into()]);
            self.read_all(query, super::pending_row).await
        }

        /// Moves command `id`'s outcome from `from` (none: no outcome yet) to `to`; false when
        /// it was not `from` (another node or the writer settled it first).
        pub async fn settle_call_command(
            &self,
            id: &str,
            from: Option<CommandOutcome>,
            to: CommandOutcome,
        ) -> Result<bool> {
            let id = id.to_owned();
            run_write!(self, (id), |tx| super::settle(tx, id, from, to))
        }

        /// Command `id`'s outcome so far (none: not claimed yet, or no such command).
        pub async fn call_command_outcome(&self, id: &str) -> Result<Option<CommandOutcome>> {
            let params = vec![id.into()];
            let found = self
                .read_one(sql::OUTCOME, params, super::outcome_row)
                .await?;
            Ok(found.flatten())
        }
    }
}
