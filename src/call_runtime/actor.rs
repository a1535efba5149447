//! One tokio task per call: it owns the [`Call`], reads its inbox (SIP messages, webhook
//! outcomes, resolved routes, commands) and its timers, and performs every [`Out`] in order:
//! a [`Persist`](crate::calls::Persist) is awaited before the next output, webhooks and route
//! look-ups run in tasks of their own and come back through the inbox, status callbacks are
//! sent without waiting (at most so many at once, then dropped and logged). A call that
//! outlives `--max-call-secs` is ended by the runtime (`Actor::past_bound`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use super::Inner;
use super::event::Event;
use super::metrics::inc;
use super::registry::Inbox;
use crate::calls::{Call, CallTimer, Command, Out, Persist, RouteKey, RouteRequest, event_of};
use crate::limit_log::LimitLog;
use crate::sid::CallSid;
use crate::sip::ua::Millis;
use crate::voice::webhook::WebhookRequest;

/// Webhooks waiting because `--max-webhooks` are in flight.
static WEBHOOK_LIMIT: LimitLog = LimitLog::new("concurrent webhooks");
/// Status callbacks dropped because as many are in flight.
static CALLBACK_LIMIT: LimitLog = LimitLog::new("concurrent status callbacks");
/// Calls ended for outliving `--max-call-secs`.
static CALL_BOUND: LimitLog = LimitLog::new("call duration");
/// Persistence failures.
static PERSIST_FAILED: LimitLog = LimitLog::new("call log writes");

/// The time now, as the call engine counts it.
pub(super) fn now() -> Millis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Millis(ms)
}

/// A running call.
pub(super) struct Actor {
    pub(super) call: Call,
    pub(super) rt: Arc<Inner>,
    /// Its own inbox, for the tasks it spawns to answer through.
    pub(super) inbox: Inbox,
    pub(super) rx: mpsc::Receiver<Event>,
    /// The keys it is registered under.
    pub(super) keys: Vec<RouteKey>,
    /// Armed timers, by instant and arming order.
    timers: BTreeMap<(u64, u64), CallTimer>,
    armed: u64,
    gone: bool,
    /// Writes not yet stored: kept until the next output seen outside (a message, a webhook,
    /// a callback, the end) or until the current step's outputs are all performed, then
    /// stored in one batch.
    pending: Vec<Persist>,
    /// The API's commands taken in this step, answered (whether the call took each) once the
    /// step's outputs are performed and so its writes stored: the API's reply then reads the
    /// record as the command left it.
    answers: Vec<(oneshot::Sender<bool>, bool)>,
}

impl Actor {
    /// A call registered under `keys` with inbox `inbox` (`rx`).
    pub(super) fn new(
        call: Call,
        rt: Arc<Inner>,
        (inbox, rx): (Inbox, mpsc::Receiver<Event>),
        keys: Vec<RouteKey>,
    ) -> Self {
        Self {
            call,
            rt,
            inbox,
            rx,
            keys,
            timers: BTreeMap::new(),
            armed: 0,
            gone: false,
            pending: Vec::new(),
            answers: Vec::new(),
        }
    }

    /// Performs `first`, then every event's outputs, until the call is over; then forgets it.
    #[allow(clippy::manual_async_fn)] // written out on purpose: see the first comment
    pub(super) fn run(mut self, first: Vec<Out>) -> impl Future<Output = ()> + Send {
        // An `async` block rather than an `async fn`: the actor is held once in the task, not
        // once as the argument and again as the local it is moved into (about 1 KiB a call).
        async move {
            let mut queue: VecDeque<Out> = first.into();
            let bound = tokio::time::Instant::now() + self.rt.limits.max_call;
            loop {
                // Boxed here and below: what performing awaits (storage, sends) lives only while it
                // runs, so the task of an idle call is no bigger than its state.
                Box::pin(self.perform(&mut queue)).await;
                // Between events a call holds no buffer: its queue's and answers' go (the next
                // event's outputs come as a vector the queue takes over without copying).
                queue = VecDeque::new();
                for (reply, took) in std::mem::take(&mut self.answers) {
                    let _ = reply.send(took);
                }
                if self.gone {
                    break;
                }
                let next = self.timers.keys().next().map(|(at, _)| *at);
                let wake = next.map_or(bound, |at| until(at).min(bound));
                let event = tokio::select! {
                    ev = self.rx.recv() => Some(ev),
                    () = tokio::time::sleep_until(wake) => None,
                };
                let now = now();
                let outs = match event {
                    Some(Some(ev)) => self.on_event(ev, now),
                    // Cannot happen while the actor holds a sender of its own inbox.
                    Some(None) => break,
                    None if tokio::time::Instant::now() >= bound => {
                        self.past_bound(&mut queue).await;
                        break;
                    }
                    None => self.due_timers(now),
                };
                queue = outs.into();
            }
            self.finish();
        }
    }

    /// The call outlived `--max-call-secs`: it is told to end as `Status=completed` would end
    /// it (a final response or BYEs), what that asks is performed, then whatever record is not
    /// final yet is ended ([`crate::domain::Call::abandon`]) and stored, and the call is
    /// forgotten without waiting for its last transactions.
    async fn past_bound(&mut self, queue: &mut VecDeque<Out>) {
        inc(&self.rt.metrics.past_bound);
        CALL_BOUND.hit(&format_args!(
            "call {} lived {} s (--max-call-secs); ending it",
            self.call.sid(),
            self.rt.limits.max_call.as_secs()
        ));
        queue.extend(self.call.on_command(Command::Complete, now()));
        self.perform(queue).await;
        let mut records = vec![self.call.record().clone()];
        records.extend(self.call.child_record().cloned());
        for mut record in records {
            if record.abandon(now().0.try_into().unwrap_or(i64::MAX))
                && let Err(e) = self.rt.log.save_call(&record).await
            {
                PERSIST_FAILED.hit(&format_args!("a call's record was not stored: {e}"));
            }
        }
    }

    /// The call's outputs for `event`.
    fn on_event(&mut self, event: Event, now: Millis) -> Vec<Out> {
        match event {
            Event::Message(m) => self.call.on_message(&m.bytes, m.source, m.transport, now),
            Event::Webhook(id, exchange) => self.call.on_webhook(id, &exchange, now),
            Event::Resolved(found) => {
                let (id, destinations) = *found;
                self.call.on_resolved(id, destinations, now)
            }
            Event::Command(command) => {
                let (command, reply) = *command;
                let took = !self.call.is_ended();
                let outs = self.call.on_command(command, now);
                self.answers.push((reply, took));
                outs
            }
        }
    }

    /// The outputs of every timer due at `now`.
    fn due_timers(&mut self, now: Millis) -> Vec<Out> {
        let mut outs = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now.0 {
                break;
            }
            let timer = entry.remove();
            outs.extend(self.call.on_timer(timer, now));
        }
        outs
    }

    /// Performs `queue` in order (a failed send adds the call's answer to it at the end).
    ///
    /// The [`Out::Persist`]s are gathered and stored together, in one write (one transaction),
    /// before the next output that anybody outside sees (a SIP message, a webhook, a status
    /// callback, the end of the call) and before the call waits for its next event: each is
    /// durable before anything after it is reported, as if stored one by one, and the writes
    /// of one step cost one commit.
    async fn perform(&mut self, queue: &mut VecDeque<Out>) {
        while let Some(out) = queue.pop_front() {
            if !matches!(
                out,
                Out::Persist(_) | Out::Arm { .. } | Out::Register(_) | Out::Route { .. }
            ) {
                self.store_pending().await;
            }
            match out {
                Out::Send { to, via, bytes } => {
                    let sent = self
                        .rt
                        .sender
                        .get()
                        .is_some_and(|s| s.send(to, via, bytes.to_vec()));
                    if !sent {
                        queue.extend(self.call.on_send_failed(to, now()));
                    }
                }
                Out::Arm { timer, at } => {
                    self.armed += 1;
                    self.timers.insert((at.0, self.armed), timer);
                }
                Out::Webhook { id, request } => self.webhook(id, request),
                Out::Callback { call_sid, request } => self.callback(&call_sid, request),
                Out::Persist(what) => self.pending.push(what),
                Out::Route { id, request } => self.route(id, request),
                Out::Register(key) => {
                    if self.rt.registry.add_key(key.clone(), &self.inbox) {
                        self.keys.push(key);
                    }
                }
                Out::Ended => self.gone = true,
            }
        }
        self.store_pending().await;
    }

    /// Stores the pending writes, in one batch.
    async fn store_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        for e in self.rt.log.persist_all(&batch).await {
            PERSIST_FAILED.hit(&format_args!("a call's record was not stored: {e}"));
        }
    }

    /// Sends webhook `id` in a task of its own (waiting for a slot when `--max-webhooks` are
    /// in flight); its exchange comes back through the inbox.
    fn webhook(&self, id: u32, request: WebhookRequest) {
        let (rt, inbox) = (self.rt.clone(), self.inbox.clone());
        let account = self.call.record().account_sid.clone();
        tokio::spawn(async move {
            let slots = rt.webhook_slots.clone();
            let permit = match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    WEBHOOK_LIMIT.hit(&format_args!("{} in flight; waiting", rt.limits.webhooks));
                    match slots.acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => return,
                    }
                }
            };
            let token = rt.tokens.token(&account).await;
            let token = token.as_ref().map_or("", |t| t.expose());
            let exchange = rt.webhooks.send(token, &request).await;
            drop(permit);
            inc(if exchange.result.is_ok() {
                &rt.metrics.webhooks_ok
            } else {
                &rt.metrics.webhooks_failed
            });
            let _ = inbox.send(Event::Webhook(id, Box::new(exchange))).await;
        });
    }

    /// Sends a status callback about `call_sid` without waiting for it, and stores its event;
    /// dropped (and logged) when as many as the webhooks' bound are in flight.
    fn callback(&self, call_sid: &CallSid, request: WebhookRequest) {
        let record = if call_sid == self.call.sid() {
            Some(self.call.record().clone())
        } else {
            self.call.child_record().cloned()
        };
        let Some(record) = record else { return };
        let Ok(permit) = self.rt.callback_slots.clone().try_acquire_owned() else {
            inc(&self.rt.metrics.callbacks_dropped);
            CALLBACK_LIMIT.hit(&format_args!(
                "{} in flight; a status callback of {call_sid} dropped",
                self.rt.limits.webhooks
            ));
            return;
        };
        let rt = self.rt.clone();
        tokio::spawn(async move {
            let token = rt.tokens.token(&record.account_sid).await;
            let token = token.as_ref().map_or("", |t| t.expose());
            let exchange = rt.webhooks.send(token, &request).await;
            drop(permit);
            inc(&rt.metrics.callbacks_sent);
            if let Err(e) = rt.log.add_event(&event_of(&record, &exchange)).await {
                PERSIST_FAILED.hit(&format_args!(
                    "a status callback's event was not stored: {e}"
                ));
            }
        });
    }

    /// Resolves route request `id` in a task of its own; the destinations come back through
    /// the inbox.
    fn route(&self, id: u32, request: RouteRequest) {
        let (rt, inbox) = (self.rt.clone(), self.inbox.clone());
        let account = self.call.record().account_sid.clone();
        tokio::spawn(async move {
            let found = rt.resolver.resolve(&account, &request).await;
            let _ = inbox.send(Event::Resolved(Box::new((id, found)))).await;
        });
    }

    /// The call is over: its keys go, its count is released, its status counted.
    fn finish(&self) {
        let record = self.call.record();
        self.rt.registry.unregister(&record.sid, &self.keys);
        self.rt.registry.release(&record.account_sid);
        self.rt.metrics.ended(record.status);
    }
}

/// The tokio instant of the engine's time `at` (now, if it is past).
fn until(at: u64) -> tokio::time::Instant {
    let ahead = at.saturating_sub(now().0);
    tokio::time::Instant::now() + Duration::from_millis(ahead)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the value `f` returns.
    fn returned<A, B, F>(_: impl Fn(A, B) -> F) -> usize {
        size_of::<F>()
    }

    #[test]
    fn a_calls_task_holds_its_actor_once() {
        // Each live call is one task of this size: an `async fn` taking the actor by value held
        // it twice (2,688 bytes when the actor was 976).
        let task = returned(Actor::run);
        assert!(task < size_of::<Actor>() + 1024, "{task} bytes");
    }
}
