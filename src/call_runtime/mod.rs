//! The call runtime (issue 17): what makes a call to a SIP domain with a `VoiceUrl` run. It
//! owns what the sans-IO call engine ([`crate::calls`]) does not: one tokio task per call with
//! an inbox, the registry of live calls shared with the SIP transports, the clock and timers,
//! the webhook client, the accounts' auth tokens, the call log, and the limits.
//!
//! - **The hand-off.** [`CallRuntime`] implements the SIP side's [`CallHandoff`]: the edge
//!   gives it every admitted INVITE without To tag for a domain with an application
//!   ([`CallHandoff::start`]) instead of forwarding it, and, while any call is live, first
//!   offers it every message ([`CallHandoff::offer`]): a response whose top Via branch is the
//!   call engine's (`z9hG4bK-sm-c-`), or a request whose [`RouteKey`] (Call-ID and a tag) a
//!   live call registered (its caller's dialog, its child's, retransmitted INVITEs) goes to
//!   that call's inbox; anything else goes on through the stateless edge. No call live: one
//!   atomic load per message.
//! - **A call** starts on the thread that received its INVITE ([`Call::start`] is pure and
//!   quick) and is registered under its keys before the next datagram from that source is
//!   read, so a retransmitted INVITE finds it and never starts a second call or webhook. Its
//!   task (`actor`) performs every [`Out`](crate::calls::Out) in order: sends through the SIP
//!   server's [`SipSender`], timers in a sorted map, webhooks signed with the account's auth
//!   token ([`Tokens`], never logged) and sent with [`WebhookClient`] under the operator's
//!   outbound policy, status callbacks without waiting, persists through [`CallLog`] (awaited),
//!   routes (`resolve`), registrations; `Ended` drops its keys.
//! - **Limits**, each logged through `limit_log` when it bites: live calls in all and per
//!   account ([`RuntimeLimits::calls`], [`RuntimeLimits::calls_per_account`]: past them the
//!   INVITE gets `503` with `Retry-After`), webhooks in flight ([`RuntimeLimits::webhooks`]:
//!   more wait for a slot; status callbacks past it are dropped), and each call's inbox
//!   ([`INBOX`] events: a message for a full inbox is dropped, as the network could drop it,
//!   and its sender retransmits).
//! - **Commands** from the API: [`CallRuntime::command`] for a call live here; [`Cluster`] (the
//!   [`Control`] the API holds) passes an update of a call another node holds to that node
//!   through the database, and ends the live calls of stopped nodes.
//! - **A bound on a call's life** ([`RuntimeLimits::max_call`]): past it the runtime ends the
//!   call itself.
//!
//! The files, each using only those before it: `event` (what an inbox carries), `registry`
//! (inboxes by key and SID, counts),
//! `metrics`, `log` ([`CallLog`], [`MemoryLog`]), `resolve` (where a `<Dial>` goes), `actor`
//! (one call's task), `cluster` (updates across nodes, stopped nodes' calls).

mod actor;
mod cluster;
mod event;
mod log;
mod metrics;
mod registry;
mod resolve;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, mpsc, oneshot};
use url::Url;

pub use cluster::{BEAT, Cluster, SILENT, TAKE_WITHIN, new_node_id};
pub use log::{CallLog, MemoryLog, StoreLog};
pub use metrics::CallMetrics;

use actor::{Actor, now};
use event::{Event, Incoming};
use metrics::inc;
use registry::{Full, Inbox, Registry};

use crate::auth_token::AuthToken;
use crate::calls::{Call, Command, Control, Delivery, Inbound, Out, RouteKey, Settings};
use crate::domain::{OutboundPolicy, VoiceApp};
use crate::limit_log::LimitLog;
use crate::recognition::{DomainRoute, RouteTarget};
use crate::sid::{AccountSid, ByocTrunkSid, CallSid};
use crate::sip::SipSender;
use crate::sip::edge::{CallHandoff, NewCall, Refused, Transport};
use crate::sip::message::Message;
use crate::sip::ua::{CALL_BRANCH_PREFIX, Timers};
use crate::store::{Cursor, PageQuery, Store};
use crate::voice::twiml::Method;
use crate::voice::webhook::{WebhookClient, WebhookConfig};

/// `Retry-After` (seconds) of the `503` an INVITE gets past a limit on calls.
pub const RETRY_AFTER: u32 = 5;

/// Events one call's inbox holds; a message for a full inbox is dropped.
pub const INBOX: usize = 64;

/// INVITEs refused for the limits on concurrent calls.
static CALLS_LIMIT: LimitLog = LimitLog::new("concurrent calls");
/// Messages dropped for a full inbox.
static INBOX_LIMIT: LimitLog = LimitLog::new("call inbox");

/// The runtime's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeLimits {
    /// Live calls on this node (`--max-calls`).
    pub calls: usize,
    /// Live calls of one account on this node (`--max-calls-per-account`).
    pub calls_per_account: usize,
    /// Webhooks in flight, and status callbacks in flight (`--max-webhooks`, each).
    pub webhooks: usize,
    /// Longest a call lives (`--max-call-secs`): then the runtime ends it (`actor`).
    pub max_call: Duration,
}

/// The default of [`RuntimeLimits::max_call`]: `<Dial timeLimit>`'s default (4 h) and a minute.
pub const MAX_CALL: Duration = Duration::from_secs(4 * 3600 + 60);

impl Default for RuntimeLimits {
    fn default() -> Self {
        Self {
            calls: 10_000,
            calls_per_account: 1_000,
            webhooks: 512,
            max_call: MAX_CALL,
        }
    }
}

/// The accounts' auth tokens, which sign webhooks.
#[async_trait]
pub trait Tokens: Send + Sync + std::fmt::Debug {
    /// The auth token of `account`, if it has one that can be read.
    async fn token(&self, account: &AccountSid) -> Option<AuthToken>;
}

/// Tokens read from storage, at each webhook (so a new token applies to the next one).
#[derive(Clone)]
pub struct StoreTokens(pub Arc<Store>);

impl std::fmt::Debug for StoreTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreTokens")
    }
}

#[async_trait]
impl Tokens for StoreTokens {
    async fn token(&self, account: &AccountSid) -> Option<AuthToken> {
        let found = self.0.get_account(account).await.ok().flatten()?;
        self.0.reveal_token(&found).ok().flatten()
    }
}

/// How many targets of one connection policy a `<Number byoc>` reads (an account holds at most
/// `--max-targets-per-account`, 1,000 by default; Twilio's own bound per policy is 10).
const MAX_DIAL_TARGETS: u32 = 1_000;

/// The route of an account's BYOC trunk, for `<Number byoc>`: its connection policy's targets.
#[async_trait]
pub trait TrunkRoutes: Send + Sync + std::fmt::Debug {
    /// The route of `trunk` when it is `account`'s and names a policy with targets, their
    /// addresses checked against `outbound`.
    async fn route(
        &self,
        account: &AccountSid,
        trunk: &ByocTrunkSid,
        outbound: &OutboundPolicy,
    ) -> Option<DomainRoute>;
}

/// Trunk routes read from storage at each `<Dial>`, scoped to the call's account (a trunk of
/// another account is not found), whether or not a domain names the trunk.
#[derive(Clone)]
pub struct StoreTrunks(pub Arc<Store>);

impl std::fmt::Debug for StoreTrunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreTrunks")
    }
}

#[async_trait]
impl TrunkRoutes for StoreTrunks {
    async fn route(
        &self,
        account: &AccountSid,
        trunk: &ByocTrunkSid,
        outbound: &OutboundPolicy,
    ) -> Option<DomainRoute> {
        let trunk = self.0.get_byoc_trunk(account, trunk).await.ok().flatten()?;
        let policy = trunk.connection_policy_sid?;
        let page = PageQuery {
            limit: MAX_DIAL_TARGETS,
            cursor: Cursor::Offset(0),
        };
        let targets = self
            .0
            .list_policy_targets(account, &policy, &page)
            .await
            .ok()?;
        let targets: Vec<RouteTarget> = targets
            .into_iter()
            .map(|t| RouteTarget {
                sid: t.sid,
                uri: t.target,
                priority: t.priority,
                weight: t.weight,
                enabled: t.enabled,
            })
            .collect();
        (!targets.is_empty()).then(|| DomainRoute::new(policy, targets, outbound))
    }
}

/// What the runtime is built from.
#[derive(Debug)]
pub struct RuntimeParts {
    /// The BYOC trunks' routes (`<Number byoc>`).
    pub trunks: Arc<dyn TrunkRoutes>,
    /// The SIP edge's counters and target health.
    pub sip_metrics: Arc<crate::sip::metrics::Metrics>,
    /// Where sipmap may send for a tenant (webhooks, callbacks, `<Sip>` host names).
    pub outbound: Arc<OutboundPolicy>,
    /// The auth tokens.
    pub tokens: Arc<dyn Tokens>,
    /// Where calls are stored.
    pub log: Arc<dyn CallLog>,
    /// The bounds.
    pub limits: RuntimeLimits,
}

/// What every call's task shares.
struct Inner {
    registry: Registry,
    sender: OnceLock<SipSender>,
    webhooks: WebhookClient,
    tokens: Arc<dyn Tokens>,
    log: Arc<dyn CallLog>,
    resolver: resolve::Resolver,
    webhook_slots: Arc<Semaphore>,
    callback_slots: Arc<Semaphore>,
    limits: RuntimeLimits,
    timers: Timers,
    metrics: CallMetrics,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRuntime")
            .field("live", &self.registry.live())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The calls of this node: see the module documentation.
#[derive(Debug, Clone)]
pub struct CallRuntime(Arc<Inner>);

/// A command could not reach its call: its inbox is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call is too busy to take a command now")]
pub struct Busy;

impl CallRuntime {
    /// A runtime of `parts`, its tasks on the current tokio runtime, its webhooks sent by a
    /// client that sends only where `parts.outbound` allows.
    pub fn new(parts: RuntimeParts) -> Self {
        let outbound = parts.outbound.clone();
        let policy = Arc::new(move |ip| outbound.allows(ip));
        Self::with_client(parts, WebhookClient::new(WebhookConfig::default(), policy))
    }

    /// A runtime sending webhooks with `webhooks` (tests give one with its own resolver).
    pub fn with_client(parts: RuntimeParts, webhooks: WebhookClient) -> Self {
        let limits = parts.limits;
        Self(Arc::new(Inner {
            registry: Registry::default(),
            sender: OnceLock::new(),
            webhooks,
            tokens: parts.tokens,
            log: parts.log,
            resolver: resolve::Resolver {
                trunks: parts.trunks,
                health: parts.sip_metrics,
                outbound: parts.outbound,
            },
            webhook_slots: Arc::new(Semaphore::new(limits.webhooks.max(1))),
            callback_slots: Arc::new(Semaphore::new(limits.webhooks.max(1))),
            limits,
            timers: Timers::default(),
            metrics: CallMetrics::default(),
            handle: tokio::runtime::Handle::current(),
        }))
    }

    /// Sends the calls' SIP messages with `sender` (the bound SIP server's); until then a
    /// call cannot start.
    pub fn attach(&self, sender: SipSender) {
        let _ = self.0.sender.set(sender);
    }

    /// How many calls are live on this node.
    pub fn live(&self) -> usize {
        self.0.registry.live()
    }

    /// Appends the runtime's metrics to `out` (Prometheus text).
    pub fn render_metrics(&self, out: &mut String) {
        self.0.metrics.render(self.live(), out);
    }

    /// Gives `command` to call `sid` of `account`: `Ok(true)` if the call is live on this node
    /// and took it, `Ok(false)` if it is not live here (or ended meanwhile).
    ///
    /// # Errors
    ///
    /// [`Busy`] when the call's inbox is full.
    pub async fn command(
        &self,
        account: &AccountSid,
        sid: &CallSid,
        command: Command,
    ) -> Result<bool, Busy> {
        give(self.0.registry.by_sid(account, sid), command).await
    }

    /// Sends `bytes` as the SIP server would; false if it could not.
    fn send(&self, to: SocketAddr, via: Transport, bytes: Vec<u8>) -> bool {
        self.0.sender.get().is_some_and(|s| s.send(to, via, bytes))
    }

    /// Starts `call` for `account` (counted already), or answers it; the count is released
    /// when no call runs.
    fn launch(&self, call: &NewCall, app: Arc<Settings>) {
        let account = app.account_sid.clone();
        let inbound = Inbound {
            invite: &call.invite,
            source: call.source,
            transport: call.transport,
            local: call.local,
            sip_username: call.sip_username.as_deref(),
        };
        let (engine, first) = match Call::start(inbound, app, self.0.timers, now()) {
            Ok(started) => started,
            Err(answer) => {
                self.0.registry.release(&account);
                for out in answer {
                    if let Out::Send { to, via, bytes } = out {
                        self.send(to, via, bytes.to_vec());
                    }
                }
                return;
            }
        };
        let keys = engine.keys();
        let (inbox, rx) = mpsc::channel(INBOX);
        if !self
            .0
            .registry
            .register((&account, engine.sid()), &keys, &inbox)
        {
            // A call with this Call-ID and tag started meanwhile (on another connection).
            self.0.registry.release(&account);
            return;
        }
        inc(&self.0.metrics.started);
        let actor = Actor::new(engine, self.0.clone(), (inbox, rx), keys);
        self.0.handle.spawn(actor.run(first));
    }
}

/// A domain's application as the call engine reads it, under the operator's `outbound` policy;
/// `None` if a URL does not parse (the API checked them when they were written).
fn settings(
    target: &crate::recognition::Target,
    app: &VoiceApp,
    outbound: &Arc<OutboundPolicy>,
) -> Option<Settings> {
    let pair = |(url, method): &(String, String)| -> Option<(Url, Method)> {
        let method = if method.eq_ignore_ascii_case("GET") {
            Method::Get
        } else {
            Method::Post
        };
        Some((Url::parse(url).ok()?, method))
    };
    Some(Settings {
        account_sid: target.account_sid.clone(),
        domain_sid: target.domain_sid.clone(),
        domain_name: target.domain_name.clone(),
        voice: pair(&app.voice)?,
        fallback: app.fallback.as_ref().and_then(pair),
        status_callback: app.status_callback.as_ref().and_then(pair),
        outbound: outbound.clone(),
    })
}

#[async_trait]
impl Control for CallRuntime {
    async fn command(&self, account: &AccountSid, call: &CallSid, command: Command) -> Delivery {
        match CallRuntime::command(self, account, call, command).await {
            Ok(true) => Delivery::Taken,
            Ok(false) => Delivery::NotLive,
            Err(Busy) => {
                tracing::debug!(%call, "a command for a call whose inbox is full");
                Delivery::Busy
            }
        }
    }
}

/// Gives `command` to the call whose inbox is `inbox`: whether the call took it (false when
/// there is no such call or it ended meanwhile), or [`Busy`] when its inbox is full, so that
/// the API can say "retry" rather than "not here".
async fn give(inbox: Option<Inbox>, command: Command) -> Result<bool, Busy> {
    let Some(inbox) = inbox else {
        return Ok(false);
    };
    let (reply, answer) = oneshot::channel();
    match inbox.try_send(Event::Command(Box::new((command, reply)))) {
        Ok(()) => Ok(answer.await.unwrap_or(false)),
        Err(mpsc::error::TrySendError::Full(_)) => Err(Busy),
        Err(mpsc::error::TrySendError::Closed(_)) => Ok(false),
    }
}

impl CallHandoff for CallRuntime {
    fn live(&self) -> bool {
        self.0.registry.live() > 0
    }

    fn offer(
        &self,
        msg: &Message<'_>,
        bytes: &[u8],
        source: SocketAddr,
        transport: Transport,
    ) -> bool {
        let ours = !msg.is_request()
            && msg.vias().ok().is_some_and(|v| {
                v.first()
                    .and_then(|top| top.param("branch").flatten())
                    .is_some_and(|b| b.starts_with(CALL_BRANCH_PREFIX))
            });
        let Some(inbox) = self.0.registry.find(&RouteKey::of(msg)) else {
            // A response to a call that is over is dropped; anything else is the edge's.
            return ours;
        };
        let event = Event::Message(Box::new(Incoming {
            bytes: bytes.to_vec(),
            source,
            transport,
        }));
        if inbox.try_send(event).is_err() {
            inc(&self.0.metrics.inbox_full);
            INBOX_LIMIT.hit(&format_args!(
                "{INBOX} events waiting; a SIP message dropped"
            ));
        }
        true
    }

    fn start(&self, call: &NewCall) -> Result<(), Refused> {
        let settings = call
            .target
            .voice
            .as_deref()
            .and_then(|app| settings(&call.target, app, &self.0.resolver.outbound));
        let Some(settings) = settings else {
            tracing::warn!(domain = %call.target.domain_name, "a domain's VoiceUrl does not parse");
            return Err(Refused {
                code: 500,
                retry_after: None,
            });
        };
        let limits = self.0.limits;
        let account = &call.target.account_sid;
        match self
            .0
            .registry
            .reserve(account, limits.calls, limits.calls_per_account)
        {
            Ok(()) => {
                self.launch(call, Arc::new(settings));
                Ok(())
            }
            Err(full) => {
                let (counter, what) = match full {
                    Full::Global => (&self.0.metrics.refused_global, "--max-calls"),
                    Full::Account => (&self.0.metrics.refused_account, "--max-calls-per-account"),
                };
                inc(counter);
                CALLS_LIMIT.hit(&format_args!("{what} reached; an INVITE answered 503"));
                Err(Refused {
                    code: 503,
                    retry_after: Some(RETRY_AFTER),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_for_a_full_inbox_is_busy_not_absent() {
        assert_eq!(give(None, Command::Complete).await, Ok(false));
        let (inbox, rx) = mpsc::channel(1);
        inbox
            .try_send(Event::Command(Box::new((
                Command::Cancel,
                oneshot::channel().0,
            ))))
            .unwrap();
        assert_eq!(
            give(Some(inbox.clone()), Command::Complete).await,
            Err(Busy)
        );
        drop(rx);
        assert_eq!(give(Some(inbox), Command::Complete).await, Ok(false));
    }

    #[tokio::test]
    async fn a_command_taken_by_the_call_is_answered_with_its_word() {
        let (inbox, mut rx) = mpsc::channel(1);
        let call = tokio::spawn(async move {
            if let Some(Event::Command(command)) = rx.recv().await {
                let _ = command.1.send(true);
            }
        });
        assert_eq!(give(Some(inbox), Command::Complete).await, Ok(true));
        call.await.unwrap();
    }
}
