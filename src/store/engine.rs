//! [`Store`]: storage as the API uses it, over either back end. What every operation shares is
//! here, once: the clock every new SID and timestamp is minted from, the sealing of secrets with
//! the server key, running a read or a write on the back end, and, when a constraint refused a
//! write because another node got there first, running the write again: the second time the
//! facts include the other node's row, so the rule gives the same typed refusal a single node
//! gives.
//!
//! The operations themselves are `impl Store` blocks beside each resource's procedures, in
//! [`super::resources`] (one file per resource or family); they call `run_read!` and
//! `run_write!` (or `Store::read_one` and `Store::read_all`).

use std::sync::Arc;

use super::backend::{Backend, BoxFuture, ReadFn, Tx, WriteFn, Written};
use super::credentials::{Credential, CredentialCache};
use super::postgres::PgBackend;
use super::sqlite::SqliteBackend;
use super::value::{Params, Row};
use super::{Result, StoreError, audit, reads};
use crate::auth_token::{AuthToken, TokenHash};
use crate::clock::Clock;
use crate::domain::{Account, Actor, Limits, OutboundPolicy};
use crate::recognition::Recognition;
use crate::secret::{AUTH_TOKEN, CREDENTIAL_PASSWORD, Sealer, ServerKey};

/// How often a write is tried when constraints keep refusing it (each refusal means another
/// node committed a conflicting row in between, so a second try sees it).
const ATTEMPTS: u32 = 3;

/// A write procedure, boxed for the back end (the closure's type states the borrow of the
/// transaction that the future keeps).
pub fn write_fn<T, F>(f: F) -> WriteFn<T>
where
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<Written<T>>> + Send + 'static,
{
    Box::new(f)
}

/// A read procedure, boxed for the back end.
pub fn read_fn<T, F>(f: F) -> ReadFn<T>
where
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    Box::new(f)
}

/// A read of one call to a procedure, with owned copies of the arguments named (moved into the
/// read).
macro_rules! run_read {
    ($store:expr, |$tx:ident| $body:expr) => {
        run_read!($store, (), |$tx| $body)
    };
    ($store:expr, ($($arg:ident),*), |$tx:ident| $body:expr) => {{
        $(let $arg = $arg.clone();)*
        $store
            .read($crate::store::engine::read_fn(move |$tx| {
                Box::pin(async move { $body.await })
            }))
            .await
    }};
}
pub(crate) use run_read;

/// A write of one call to a procedure of [`super::resources`], with owned copies of the arguments
/// named made for each attempt.
macro_rules! run_write {
    ($store:expr, ($($arg:ident),*), |$tx:ident| $body:expr) => {
        $store
            .write(|| {
                $(let $arg = $arg.clone();)*
                $crate::store::engine::write_fn(move |$tx| Box::pin(async move { $body.await }))
            })
            .await
    };
}
pub(crate) use run_write;

/// What a server key rotation reseals from (the sealers of credential passwords and of auth
/// tokens) and to (the same under the new key, and its check value).
pub type Rotation = ((Sealer, Sealer), (Sealer, Sealer, [u8; 32]));

/// The back end a store runs on.
pub enum Db {
    /// One node's SQLite file.
    Sqlite(SqliteBackend),
    /// A PostgreSQL database, shared by the nodes of a cluster.
    Postgres(PgBackend),
}

impl From<SqliteBackend> for Db {
    fn from(b: SqliteBackend) -> Self {
        Self::Sqlite(b)
    }
}

impl From<PgBackend> for Db {
    fn from(b: PgBackend) -> Self {
        Self::Postgres(b)
    }
}

/// Storage: a back end, the clock that dates what it stores, what seals credential passwords
/// and auth tokens, and the limits on what an account may store. Every operation is scoped by
/// account where the resource has one: a resource of another account is reported exactly like
/// a missing one. New SIDs and timestamps are minted here, from the store's clock.
///
/// A `Store` is cheap to clone (its parts are shared); [`Store::acting`] gives the same storage
/// acting for an API caller, whose writes also store the Monitor Events of what they changed
/// ([`Written::audit`]) in their own transaction.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    /// Who acts, when the API writes; `None` for the SIP side, the call runtime and commands.
    actor: Option<Actor>,
}

/// What every handle on one store shares.
pub struct Shared {
    db: Db,
    clock: Arc<dyn Clock>,
    key: Option<ServerKey>,
    sealer: Option<Sealer>,
    token_sealer: Option<Sealer>,
    /// What one account may store.
    pub(super) limits: Limits,
    /// Where sipmap may send for a tenant: targets must be inside it.
    pub(super) outbound: Arc<OutboundPolicy>,
    /// What authentication read (see [`super::credentials`]).
    credentials: Arc<CredentialCache>,
}

impl std::ops::Deref for Store {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl Store {
    /// A store over `db`, dating rows with `clock`, sealing passwords with `key` (`None` for
    /// one-off commands, which store none), refusing writes past `limits` and targets outside
    /// `outbound`.
    pub fn new(
        db: impl Into<Db>,
        clock: Arc<dyn Clock>,
        key: Option<ServerKey>,
        limits: Limits,
        outbound: Arc<OutboundPolicy>,
    ) -> Self {
        let sealer = key.as_ref().map(|k| k.sealer(CREDENTIAL_PASSWORD));
        let token_sealer = key.as_ref().map(|k| k.sealer(AUTH_TOKEN));
        let db = db.into();
        // One node writes a SQLite file, so its cache is always live; a PostgreSQL node's
        // follows its change feed.
        let credentials = match &db {
            Db::Sqlite(_) => Arc::new(CredentialCache::new(true)),
            Db::Postgres(b) => b.credentials(),
        };
        let shared = Shared {
            db,
            credentials,
            clock,
            key,
            sealer,
            token_sealer,
            limits,
            outbound,
        };
        Self {
            shared: Arc::new(shared),
            actor: None,
        }
    }

    /// The same storage, acting for `actor`: each of its writes also stores the Monitor Events
    /// of what it changed, in the same transaction.
    pub fn acting(&self, actor: Actor) -> Self {
        Self {
            shared: self.shared.clone(),
            actor: Some(actor),
        }
    }

    /// A read handle on the recognition table this store keeps current (empty unless the store
    /// was opened to serve).
    pub fn recognition(&self) -> Recognition {
        match &self.db {
            Db::Sqlite(b) => b.recognition(),
            Db::Postgres(b) => b.recognition(),
        }
    }

    /// Whether nodes other than this one may share the database (PostgreSQL); SQLite has one
    /// node.
    pub fn is_shared(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Changes whenever some node writes or settles a command for a call held by another node
    /// (PostgreSQL's notifications); `None` on SQLite, where no other node writes one.
    pub fn call_commands_signal(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match &self.db {
            Db::Sqlite(_) => None,
            Db::Postgres(b) => Some(b.call_commands()),
        }
    }

    /// Whether the database is reachable, can write, and the recognition table is being kept
    /// current.
    pub async fn check_health(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite(b) => b.health().await,
            Db::Postgres(b) => b.health().await,
        }
    }

    /// Waits until every write queued before this call is committed: an empty write goes
    /// through the writer's queue behind them (SQLite's writer runs its jobs in order, each
    /// commit fsynced), so what any caller was told is stored is on disk when it returns. The
    /// shutdown's last step.
    pub async fn flush(&self) -> Result<()> {
        let barrier = || write_fn(|_tx| Box::pin(async { Ok(Written::quiet(())) }));
        match &self.db {
            Db::Sqlite(b) => b.write(barrier()).await,
            Db::Postgres(b) => b.write(barrier()).await,
        }
    }

    /// The server key the store seals secrets with (`None` for a one-off command's store); the
    /// SIP edge opens credential passwords and signs nonces with it.
    pub fn server_key(&self) -> Option<&ServerKey> {
        self.key.as_ref()
    }

    /// An account's auth token, opened with the server key; `None` when only its hash is stored
    /// (an account from before tokens were sealed, until its token is set again).
    pub fn reveal_token(&self, account: &Account) -> Result<Option<AuthToken>> {
        let Some(sealed) = &account.sealed_token else {
            return Ok(None);
        };
        let opened = self.token_sealer()?.open(sealed).map_err(|_| {
            StoreError::Internal(format!(
                "account {}'s auth token cannot be opened with the server key",
                account.sid
            ))
        })?;
        let token = String::from_utf8(opened).map_err(|_| {
            StoreError::Internal(format!("account {}'s auth token is not text", account.sid))
        })?;
        Ok(Some(AuthToken::from_string(token)))
    }

    /// The sealer of auth tokens, which a store opened without the server key lacks.
    fn token_sealer(&self) -> Result<&Sealer> {
        self.token_sealer.as_ref().ok_or_else(without_key)
    }

    /// The old and new sealers of a rotation from this store's key to `new`, and `new`'s check
    /// value.
    pub(super) fn rotation(&self, new: &ServerKey) -> Result<Rotation> {
        let old = self.key.as_ref().ok_or_else(without_key)?;
        let old = (old.sealer(CREDENTIAL_PASSWORD), old.sealer(AUTH_TOKEN));
        let new = (
            new.sealer(CREDENTIAL_PASSWORD),
            new.sealer(AUTH_TOKEN),
            new.check_value(),
        );
        Ok((old, new))
    }

    /// A password, sealed.
    pub(super) fn seal(&self, password: &str) -> Result<Vec<u8>> {
        match &self.sealer {
            Some(sealer) => Ok(sealer.seal(password.as_bytes())),
            None => Err(without_key()),
        }
    }

    /// An auth token's hash, and the token sealed when the store has the server key (a store
    /// opened without it, for a one-off command, stores the hash alone: the token then reads
    /// as `null`).
    pub(super) fn token_credential(&self, token: &AuthToken) -> (TokenHash, Option<Vec<u8>>) {
        let sealed = self
            .token_sealer
            .as_ref()
            .map(|s| s.seal(token.expose().as_bytes()));
        (token.hash(), sealed)
    }

    /// The time now, and a moment in milliseconds for new SIDs, from one reading of the clock.
    pub(super) fn now(&self) -> (i64, i64) {
        let millis = self.clock.now_millis();
        (millis.div_euclid(1000), millis)
    }

    /// The account the Basic user name `user` authenticates as and the hash its password must
    /// match, read by `sql` (`$1`: `user`) and mapped by `map` unless the credential cache has
    /// them.
    pub(super) async fn credential(
        &self,
        user: &str,
        sql: &'static str,
        map: fn(Row) -> Result<Credential>,
    ) -> Result<Option<Credential>> {
        if let Some(found) = self.credentials.get(user) {
            return Ok(Some(found));
        }
        let seen = self.credentials.generation();
        let found = self.read_one(sql, vec![user.into()], map).await?;
        if let Some(credential) = &found {
            self.credentials.put(user, credential, seen);
        }
        Ok(found)
    }

    /// Empties the credential cache: a write that may change what authentication decides (an
    /// account's token, status or name, a deleted key) is over, committed or not (a failed
    /// commit may have committed). Called before the write's caller learns of it.
    pub(super) fn forget_credentials(&self) {
        self.credentials.invalidate();
    }

    /// Runs `work` on a connection outside any write transaction.
    pub(super) async fn read<T: Send + 'static>(&self, work: ReadFn<T>) -> Result<T> {
        match &self.db {
            Db::Sqlite(b) => b.read(work).await,
            Db::Postgres(b) => b.read(work).await,
        }
    }

    /// The first row `sql` finds, mapped by `map`.
    pub(super) async fn read_one<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: Params,
        map: impl FnOnce(Row) -> Result<T> + Send + 'static,
    ) -> Result<Option<T>> {
        run_read!(self, |tx| reads::one(tx, sql, params, map))
    }

    /// Every row of `query`, mapped by `map`.
    pub(super) async fn read_all<T: Send + 'static>(
        &self,
        query: (String, Params),
        map: impl FnMut(Row) -> Result<T> + Send + 'static,
    ) -> Result<Vec<T>> {
        run_read!(self, |tx| reads::all(tx, query, map))
    }

    /// Runs the write `make` builds in one transaction, again when a constraint refused it (see
    /// the module doc).
    pub(super) async fn write<T, F>(&self, make: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn() -> WriteFn<T> + Send + Sync,
    {
        let mut attempt = 1;
        loop {
            let result = match &self.db {
                Db::Sqlite(b) => b.write(self.audited(make())).await,
                Db::Postgres(b) => b.write(self.audited(make())).await,
            };
            match result {
                Err(StoreError::Violation(constraint)) if attempt < ATTEMPTS => {
                    tracing::debug!(
                        constraint,
                        attempt,
                        "a concurrent write won; deciding again"
                    );
                    attempt += 1;
                }
                Err(StoreError::Violation(constraint)) => {
                    return Err(StoreError::Internal(format!(
                        "constraint {constraint} refused {ATTEMPTS} attempts"
                    )));
                }
                other => return other,
            }
        }
    }
}

impl Store {
    /// `work`, followed in its transaction by the recording of the events of what it changed
    /// when this store acts for an API caller (see [`super::audit`]); `work` itself otherwise.
    fn audited<T: Send + 'static>(&self, work: WriteFn<T>) -> WriteFn<T> {
        let Some(actor) = self.actor.clone() else {
            return work;
        };
        let (_, now_ms) = self.now();
        let retention = self.limits.events;
        write_fn(move |tx| {
            Box::pin(async move {
                let written = work(&mut *tx).await?;
                audit::record(tx, &actor, &written.audit, now_ms, retention).await?;
                Ok(written)
            })
        })
    }
}

/// What an operation that needs the server key answers on a store opened without it.
fn without_key() -> StoreError {
    StoreError::Internal("this store was opened without the server key".into())
}
