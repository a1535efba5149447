//! Which live call each message and command goes to: the call's inbox by [`RouteKey`] and by
//! call SID, and the counts the limits on concurrent calls are checked against. One mutex,
//! held for a few map operations; a count of live calls read with one atomic load, so the
//! SIP edge asks nothing more while no call is live.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;

use super::event::Event;
use crate::calls::RouteKey;
use crate::sid::{AccountSid, CallSid};

/// A live call's inbox.
pub(super) type Inbox = mpsc::Sender<Event>;

/// Why a new call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    /// `--max-calls` live calls.
    Global,
    /// `--max-calls-per-account` live calls of its account.
    Account,
}

/// The live calls.
#[derive(Debug, Default)]
pub(super) struct Registry {
    live: AtomicUsize,
    inner: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    keys: HashMap<RouteKey, Inbox>,
    sids: HashMap<CallSid, (AccountSid, Inbox)>,
    per_account: HashMap<AccountSid, usize>,
    /// Calls counted but not yet registered, or registered: what the limits count.
    counted: usize,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many calls are live.
    pub(super) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The inbox of the call registered under any of `keys`.
    pub(super) fn find(&self, keys: &[RouteKey]) -> Option<Inbox> {
        let maps = self.lock();
        keys.iter().find_map(|k| maps.keys.get(k).cloned())
    }

    /// The inbox of call `sid` of `account`.
    pub(super) fn by_sid(&self, account: &AccountSid, sid: &CallSid) -> Option<Inbox> {
        let maps = self.lock();
        let (owner, inbox) = maps.sids.get(sid)?;
        (owner == account).then(|| inbox.clone())
    }

    /// Counts a new call of `account`, within `max` calls in all and `per_account` of one
    /// account; [`Registry::release`] uncounts it.
    pub(super) fn reserve(
        &self,
        account: &AccountSid,
        max: usize,
        per_account: usize,
    ) -> Result<(), Full> {
        let mut maps = self.lock();
        if maps.counted >= max {
            return Err(Full::Global);
        }
        let n = maps.per_account.get(account).copied().unwrap_or(0);
        if n >= per_account {
            return Err(Full::Account);
        }
        maps.counted += 1;
        maps.per_account.insert(account.clone(), n + 1);
        Ok(())
    }

    /// Registers a counted call: its SID and its keys go to `inbox`. False (nothing
    /// registered) when a key is another live call's already.
    pub(super) fn register(
        &self,
        (account, sid): (&AccountSid, &CallSid),
        keys: &[RouteKey],
        inbox: &Inbox,
    ) -> bool {
        let mut maps = self.lock();
        if keys.iter().any(|k| maps.keys.contains_key(k)) {
            return false;
        }
        for k in keys {
            maps.keys.insert(k.clone(), inbox.clone());
        }
        maps.sids
            .insert(sid.clone(), (account.clone(), inbox.clone()));
        self.live.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Routes `key` to `inbox` too (a child leg's), unless it is another call's.
    pub(super) fn add_key(&self, key: RouteKey, inbox: &Inbox) -> bool {
        let mut maps = self.lock();
        if maps.keys.contains_key(&key) {
            return false;
        }
        maps.keys.insert(key, inbox.clone());
        true
    }

    /// A registered call is over: its keys and SID go.
    pub(super) fn unregister(&self, sid: &CallSid, keys: &[RouteKey]) {
        let mut maps = self.lock();
        for k in keys {
            maps.keys.remove(k);
        }
        if maps.sids.remove(sid).is_some() {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Uncounts a call of `account` (registered or not).
    pub(super) fn release(&self, account: &AccountSid) {
        let mut maps = self.lock();
        maps.counted = maps.counted.saturating_sub(1);
        if let Some(n) = maps.per_account.get_mut(account) {
            *n -= 1;
            if *n == 0 {
                maps.per_account.remove(account);
            }
        }
    }
}
