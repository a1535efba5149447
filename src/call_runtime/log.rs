//! Where a call's records, events and notifications are stored: [`CallLog`], the seam between
//! the runtime and storage; [`StoreLog`], storage's (what the `Calls` API reads); and
//! [`MemoryLog`], a bounded implementation in memory, for tests.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::calls::Persist;
use crate::domain::call::{Call as CallRecord, CallEvent, Notification};
use crate::sid::CallSid;
use crate::store::Store;
use crate::store::resources::calls::Logged;

/// Durable storage of calls, their events and notifications. Each method returns once what it
/// was given is stored: the runtime awaits it before it performs the next output of the call.
#[async_trait]
pub trait CallLog: Send + Sync + std::fmt::Debug {
    /// Stores a call's record as it now is (created or updated).
    async fn save_call(&self, call: &CallRecord) -> anyhow::Result<()>;
    /// Stores an HTTP request made for a call.
    async fn add_event(&self, event: &CallEvent) -> anyhow::Result<()>;
    /// Stores an error or warning of a call.
    async fn add_notification(&self, notification: &Notification) -> anyhow::Result<()>;
    /// Stores `batch` in order, each as [`persist`] would: by default one at a time; a log
    /// that can store them together (one transaction) does. Returns the errors of those not
    /// stored (none: all are).
    async fn persist_all(&self, batch: &[Persist]) -> Vec<anyhow::Error> {
        one_by_one(self, batch).await
    }
}

/// Stores each of `batch` with [`persist`], in order; the errors of those not stored.
async fn one_by_one<L: CallLog + ?Sized>(log: &L, batch: &[Persist]) -> Vec<anyhow::Error> {
    let mut failed = Vec::new();
    for what in batch {
        if let Err(e) = persist(log, what).await {
            failed.push(e);
        }
    }
    failed
}

/// The calls stored in storage (the `Calls` API reads them there), each new record naming the
/// node that holds the call (the second field; none for a log used outside a node).
#[derive(Clone)]
pub struct StoreLog(pub Arc<Store>, pub Option<String>);

impl std::fmt::Debug for StoreLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreLog")
    }
}

#[async_trait]
impl CallLog for StoreLog {
    async fn save_call(&self, call: &CallRecord) -> anyhow::Result<()> {
        self.0.save_held_call(call, self.1.as_deref()).await?;
        Ok(())
    }

    async fn add_event(&self, event: &CallEvent) -> anyhow::Result<()> {
        Ok(self.0.add_call_event(&event.call_sid, event).await?)
    }

    async fn add_notification(&self, notification: &Notification) -> anyhow::Result<()> {
        Ok(self.0.add_notification(notification).await?)
    }

    /// One transaction for the whole batch (a single write: the call runtime's cost per call
    /// is mostly its durable writes); when it fails, each is stored on its own, so that one
    /// refused write (a status that would go backwards) does not lose the others.
    async fn persist_all(&self, batch: &[Persist]) -> Vec<anyhow::Error> {
        if batch.len() > 1 {
            let writes = batch.iter().map(logged).collect();
            if self
                .0
                .save_call_log(writes, self.1.as_deref())
                .await
                .is_ok()
            {
                return Vec::new();
            }
        }
        one_by_one(self, batch).await
    }
}

/// Storage's form of `what`.
fn logged(what: &Persist) -> Logged {
    match what {
        Persist::Call(call) => Logged::Call((**call).clone()),
        Persist::Event(event) => Logged::Event((**event).clone()),
        Persist::Notification(n) => Logged::Notification((**n).clone()),
    }
}

/// Stores `what` in `log`.
///
/// # Errors
///
/// What the log says.
pub async fn persist<L: CallLog + ?Sized>(log: &L, what: &Persist) -> anyhow::Result<()> {
    match what {
        Persist::Call(call) => log.save_call(call).await,
        Persist::Event(event) => log.add_event(event).await,
        Persist::Notification(n) => log.add_notification(n).await,
    }
}

/// A [`CallLog`] in memory, holding the records, events and notifications of the last
/// `capacity` calls (older calls are forgotten as new ones come): for tests.
#[derive(Debug)]
pub struct MemoryLog {
    capacity: usize,
    inner: Mutex<Calls>,
}

#[derive(Debug, Default)]
struct Calls {
    /// Call SIDs, oldest first.
    order: VecDeque<CallSid>,
    calls: HashMap<CallSid, Kept>,
}

#[derive(Debug, Clone)]
struct Kept {
    record: CallRecord,
    events: Vec<CallEvent>,
    notifications: Vec<Notification>,
}

impl MemoryLog {
    /// A log keeping at most `capacity` calls (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// A call's record as last saved.
    pub fn call(&self, sid: &CallSid) -> Option<CallRecord> {
        self.lock().calls.get(sid).map(|k| k.record.clone())
    }

    /// Every call's record, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter_map(|s| inner.calls.get(s).map(|k| k.record.clone()))
            .collect()
    }

    /// A call's events, in the order they were stored.
    pub fn events(&self, sid: &CallSid) -> Vec<CallEvent> {
        self.lock()
            .calls
            .get(sid)
            .map_or_else(Vec::new, |k| k.events.clone())
    }

    /// A call's notifications, in the order they were stored.
    pub fn notifications(&self, sid: &CallSid) -> Vec<Notification> {
        self.lock()
            .calls
            .get(sid)
            .map_or_else(Vec::new, |k| k.notifications.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl CallLog for MemoryLog {
    async fn save_call(&self, call: &CallRecord) -> anyhow::Result<()> {
        let mut inner = self.lock();
        if let Some(kept) = inner.calls.get_mut(&call.sid) {
            kept.record = call.clone();
            return Ok(());
        }
        if inner.order.len() >= self.capacity
            && let Some(old) = inner.order.pop_front()
        {
            inner.calls.remove(&old);
        }
        inner.order.push_back(call.sid.clone());
        let kept = Kept {
            record: call.clone(),
            events: Vec::new(),
            notifications: Vec::new(),
        };
        inner.calls.insert(call.sid.clone(), kept);
        Ok(())
    }

    async fn add_event(&self, event: &CallEvent) -> anyhow::Result<()> {
        if let Some(kept) = self.lock().calls.get_mut(&event.call_sid) {
            kept.events.push(event.clone());
        }
        Ok(())
    }

    async fn add_notification(&self, notification: &Notification) -> anyhow::Result<()> {
        if let Some(kept) = self.lock().calls.get_mut(&notification.call_sid) {
            kept.notifications.push(notification.clone());
        }
        Ok(())
    }
}
