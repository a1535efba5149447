//! The credential cache: what authentication read from storage for a Basic user name (an
//! Account SID or an API key's SID): the account and the salted hash its password must match,
//! kept in memory so that an authenticated request does not read storage for them.
//!
//! It holds what the database holds, no more: hashes and sealed tokens, never a plaintext
//! secret; the caller still verifies the password against the hash in constant time
//! ([`TokenHash::verify`]). Misses are not kept (an unknown user name costs a read each time,
//! as before), so a key or an account created by any node or command is found at once.
//!
//! **Invalidation.** Every write that can change what authentication decides (an account's
//! token, status or name; a deleted key) empties the cache on the node that wrote, after its
//! commit and before the write is acknowledged ([`CredentialCache::invalidate`]), so the very
//! next request there reads storage. In a cluster the same writes send a notification
//! ([`CHANNEL`], in their transaction, so at commit) that every node's change-feed connection
//! receives and answers by emptying its cache: other nodes follow within the feed's delay. A
//! node serves from its cache only while that connection is listening
//! ([`CredentialCache::set_live`]): while it is down the node reads storage at every request,
//! and when it is back the cache starts empty, since notifications may have been missed.
//!
//! **Races.** A read that started before an invalidation must not put what it read back after
//! it. Every invalidation advances a generation; a reader notes the generation before it reads
//! storage and stores its result only if the generation has not moved, both under the cache's
//! lock. So once an invalidation returns, no entry older than it can be served.
//!
//! **Bound.** At most [`MAX_ENTRIES`] user names; a full cache is emptied (logged through
//! [`LimitLog`]), so memory stays bounded whatever the callers send.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::auth_token::TokenHash;
use crate::domain::Account;
use crate::limit_log::LimitLog;

/// The notification channel of credential changes in a cluster (PostgreSQL `NOTIFY`).
pub const CHANNEL: &str = "sipmap_credentials";

/// How many user names the cache keeps at most.
pub const MAX_ENTRIES: usize = 10_000;

static FULL: LimitLog = LimitLog::new("credential cache size");

/// An account and the hash a password must match.
pub type Credential = (Account, TokenHash);

/// What authentication read, by Basic user name. See the module doc.
#[derive(Debug)]
pub struct CredentialCache {
    entries: RwLock<HashMap<Box<str>, Credential>>,
    /// Advanced by every invalidation.
    generation: AtomicU64,
    /// Whether entries may be served and kept (always on a single node; on a cluster node,
    /// while its change-feed connection listens).
    live: AtomicBool,
}

impl CredentialCache {
    /// An empty cache; `live` says whether it serves from the start.
    pub fn new(live: bool) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(live),
        }
    }

    /// The cached credential of `user`, if any.
    pub fn get(&self, user: &str) -> Option<Credential> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(user).cloned()
    }

    /// The generation to note before reading storage for [`Self::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps what storage answered for `user`, read after [`Self::generation`] gave `seen`;
    /// nothing when an invalidation came in between or the cache is not live.
    pub fn put(&self, user: &str, credential: &Credential, seen: u64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != seen || !self.live.load(Ordering::Acquire) {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(user) {
            FULL.hit(&format_args!(
                "{MAX_ENTRIES} user names cached; emptying the cache"
            ));
            entries.clear();
        }
        entries.insert(user.into(), credential.clone());
    }

    /// Forgets everything: a credential may have changed.
    pub fn invalidate(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Starts or stops serving from the cache; either way it starts again empty.
    pub fn set_live(&self, live: bool) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        self.live.store(live, Ordering::Release);
    }

    /// How many user names are cached.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth_token::AuthToken;
    use crate::domain::AccountStatus;
    use crate::sid::AccountSid;

    fn credential(name: &str) -> Credential {
        let account = Account {
            sid: AccountSid::parse(&format!("AC{}", "a".repeat(32))).unwrap(),
            owner_sid: None,
            friendly_name: name.into(),
            status: AccountStatus::Active,
            date_created: 0,
            date_updated: 0,
            sealed_token: None,
        };
        (account, AuthToken::generate().hash())
    }

    #[test]
    fn serves_what_was_put_until_invalidated() {
        let cache = CredentialCache::new(true);
        let user = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert!(cache.get(user).is_none());
        let seen = cache.generation();
        cache.put(user, &credential("one"), seen);
        assert_eq!(cache.get(user).unwrap().0.friendly_name, "one");
        cache.invalidate();
        assert!(cache.get(user).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_read_that_overlapped_an_invalidation_is_not_kept() {
        let cache = CredentialCache::new(true);
        let seen = cache.generation();
        // storage is read here; meanwhile a write commits and invalidates
        cache.invalidate();
        cache.put("SKx", &credential("stale"), seen);
        assert!(cache.get("SKx").is_none());
        let seen = cache.generation();
        cache.put("SKx", &credential("fresh"), seen);
        assert_eq!(cache.get("SKx").unwrap().0.friendly_name, "fresh");
    }

    #[test]
    fn a_cache_that_is_not_live_serves_and_keeps_nothing() {
        let cache = CredentialCache::new(false);
        let seen = cache.generation();
        cache.put("ACx", &credential("x"), seen);
        assert!(cache.get("ACx").is_none());
        cache.set_live(true);
        let seen = cache.generation();
        cache.put("ACx", &credential("x"), seen);
        assert!(cache.get("ACx").is_some());
        // losing the feed empties it: notifications may be missed from then on
        cache.set_live(false);
        assert!(cache.get("ACx").is_none());
        cache.set_live(true);
        assert!(cache.get("ACx").is_none(), "back live, but empty");
    }

    #[test]
    fn never_holds_more_than_the_bound() {
        let cache = CredentialCache::new(true);
        for i in 0..MAX_ENTRIES + 10 {
            let seen = cache.generation();
            cache.put(&format!("SK{i:032}"), &credential("k"), seen);
        }
        assert!(cache.len() <= MAX_ENTRIES);
        assert!(FULL.total() >= 1);
    }
}
