//! How an update of a live call through the API reaches the call: [`Control`], the seam
//! between the HTTP layer (which holds an `Arc<dyn Control>`) and the call runtime (which holds
//! the live calls and implements it, feeding the [`Command`] to [`Call::on_command`]). Until a
//! runtime is wired, [`NoRuntime`] stands in: no call is live on this node.
//!
//! In a cluster a call lives on the node whose SIP edge holds it; the runtime's implementation
//! (`call_runtime::Cluster`) passes an update to that node through the database, and
//! [`Delivery::NotLive`] says that no node took it (see ARCHITECTURE.md, "Calls in a cluster").
//!
//! [`Call::on_command`]: super::Call::on_command

use async_trait::async_trait;

use super::Command;
use crate::sid::{AccountSid, CallSid};

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The call is live on this node and took the command.
    Taken,
    /// No node took it: the call is not live (here, or on the node its record names), or
    /// that node did not take it in time.
    NotLive,
    /// The call is live on this node, but its inbox is full (it is handling a burst of SIP
    /// messages): the command was not given, and may be retried in a moment.
    Busy,
}

/// Delivers the API's commands to live calls.
#[async_trait]
pub trait Control: Send + Sync {
    /// Gives `command` to the call `call` of `account`, if it is live here.
    async fn command(&self, account: &AccountSid, call: &CallSid, command: Command) -> Delivery;
}

/// The control of a node that runs no calls: every call is [`Delivery::NotLive`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRuntime;

#[async_trait]
impl Control for NoRuntime {
    async fn command(&self, account: &AccountSid, call: &CallSid, command: Command) -> Delivery {
        tracing::debug!(%account, %call, ?command, "no call runtime: the call is not live here");
        Delivery::NotLive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_runtime_no_call_is_live() {
        let control: std::sync::Arc<dyn Control> = std::sync::Arc::new(NoRuntime);
        let delivery = control
            .command(
                &AccountSid::generate(),
                &CallSid::generate(),
                Command::Complete,
            )
            .await;
        assert_eq!(delivery, Delivery::NotLive);
    }
}
