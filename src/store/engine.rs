//! [`Engine`]: the one implementation of [`Store`], over any [`Backend`]. It mints every new
//! SID and timestamp from its [`Clock`], runs the procedures of [`super::reads`] and
//! [`super::writes`], and, when a constraint refused a write because another node got there
//! first, runs the write again: the second time the facts include the other node's row, so the
//! rule gives the same typed refusal a single node gives.

use std::sync::Arc;

use async_trait::async_trait;

use super::backend::{Backend, BoxFuture, ReadFn, Tx, WriteFn, Written};
use super::{AccountFilter, PageQuery, Result, Store, StoreError, reads, writes};
use crate::auth_token::TokenHash;
use crate::clock::Clock;
use crate::domain::{
    Account, AccountPatch, IpRecord, IpRecordPatch, Mapping, NewAccount, NewIpRecord, SipDomain,
    SipDomainPatch,
};
use crate::recognition::{Recognition, State};
use crate::sid::{AccountSid, IpRecordSid, MappingSid, SipDomainSid};

/// How often a write is tried when constraints keep refusing it (each refusal means another
/// node committed a conflicting row in between, so a second try sees it).
const ATTEMPTS: u32 = 3;

/// A write procedure, boxed for the back end (the closure's type states the borrow of the
/// transaction that the future keeps).
fn write_fn<T, F>(f: F) -> WriteFn<T>
where
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<Written<T>>> + Send + 'static,
{
    Box::new(f)
}

/// A read procedure, boxed for the back end.
fn read_fn<T, F>(f: F) -> ReadFn<T>
where
    F: for<'t> FnOnce(&'t mut (dyn Tx + 't)) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    Box::new(f)
}

/// Storage: a back end, and the clock that dates what it stores.
pub struct Engine<B> {
    backend: B,
    clock: Arc<dyn Clock>,
}

impl<B: Backend> Engine<B> {
    /// An engine over `backend`, dating rows with `clock`.
    pub fn new(backend: B, clock: Arc<dyn Clock>) -> Self {
        Self { backend, clock }
    }

    /// Runs the write `make` builds, again when a constraint refused it (see the module doc).
    async fn write<T, F>(&self, make: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn() -> WriteFn<T> + Send + Sync,
    {
        let mut attempt = 1;
        loop {
            match self.backend.write(make()).await {
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

    /// The time now, and a moment in milliseconds for new SIDs, from one reading of the clock.
    fn now(&self) -> (i64, i64) {
        let millis = self.clock.now_millis();
        (millis.div_euclid(1000), millis)
    }
}

/// A read of one call to a procedure of [`reads`] with owned arguments.
macro_rules! run_read {
    ($engine:expr, |$tx:ident| $body:expr) => {
        $engine
            .backend
            .read(read_fn(move |$tx| Box::pin(async move { $body.await })))
            .await
    };
}

/// A write of one call to a procedure of [`writes`] whose arguments are cloned per attempt.
macro_rules! run_write {
    ($engine:expr, ($($arg:ident),*), |$tx:ident| $body:expr) => {
        $engine
            .write(|| {
                $(let $arg = $arg.clone();)*
                write_fn(move |$tx| Box::pin(async move { $body.await }))
            })
            .await
    };
}

#[async_trait]
impl<B: Backend> Store for Engine<B> {
    fn recognition(&self) -> Recognition {
        self.backend.recognition()
    }

    async fn recognition_state(&self) -> Result<State> {
        run_read!(self, |tx| reads::recognition_state(tx))
    }

    async fn check_health(&self) -> Result<()> {
        self.backend.health().await
    }

    async fn account_credentials(&self, sid: &AccountSid) -> Result<Option<(Account, TokenHash)>> {
        let sid = sid.clone();
        run_read!(self, |tx| reads::credentials(tx, &sid))
    }

    async fn get_account(&self, sid: &AccountSid) -> Result<Option<Account>> {
        let sid = sid.clone();
        run_read!(self, |tx| reads::account(tx, &sid))
    }

    async fn count_accounts(&self) -> Result<u64> {
        run_read!(self, |tx| reads::count_accounts(tx))
    }

    async fn create_account(&self, new: NewAccount) -> Result<Account> {
        let (now, millis) = self.now();
        let credential = new.credential.clone();
        let account = new.into_account(AccountSid::generate_at(millis), now);
        run_write!(self, (account, credential), |tx| writes::accounts::create(
            tx, account, credential
        ))
    }

    async fn ensure_account(
        &self,
        sid: &AccountSid,
        friendly_name: &str,
        credential: TokenHash,
    ) -> Result<Account> {
        let (now, _) = self.now();
        let new = NewAccount {
            owner_sid: None,
            friendly_name: Some(friendly_name.to_owned()),
            credential: credential.clone(),
        };
        let account = new.into_account(sid.clone(), now);
        run_write!(self, (account, credential), |tx| writes::accounts::ensure(
            tx, account, credential
        ))
    }

    async fn create_first_account(&self, new: NewAccount) -> Result<Option<Account>> {
        let (now, millis) = self.now();
        let credential = new.credential.clone();
        let account = new.into_account(AccountSid::generate_at(millis), now);
        run_write!(self, (account, credential), |tx| {
            writes::accounts::create_first(tx, account, credential)
        })
    }

    async fn list_accounts(
        &self,
        caller: &AccountSid,
        filter: &AccountFilter,
        page: &PageQuery,
    ) -> Result<Vec<Account>> {
        let (caller, filter, page) = (caller.clone(), filter.clone(), page.clone());
        run_read!(self, |tx| reads::list_accounts(tx, &caller, &filter, &page))
    }

    async fn update_account(&self, sid: &AccountSid, patch: AccountPatch) -> Result<Account> {
        let (now, _) = self.now();
        let sid = sid.clone();
        run_write!(self, (sid, patch), |tx| writes::accounts::update(
            tx, &sid, patch, now
        ))
    }

    async fn create_ip_record(&self, account: &AccountSid, new: NewIpRecord) -> Result<IpRecord> {
        let (now, millis) = self.now();
        let record = new.into_record(IpRecordSid::generate_at(millis), account.clone(), now);
        run_write!(self, (record), |tx| writes::ip_records::create(tx, record))
    }

    async fn get_ip_record(
        &self,
        account: &AccountSid,
        sid: &IpRecordSid,
    ) -> Result<Option<IpRecord>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::ip_record(tx, &account, &sid))
    }

    async fn list_ip_records(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<IpRecord>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_ip_records(tx, &account, &page))
    }

    async fn update_ip_record(
        &self,
        account: &AccountSid,
        sid: &IpRecordSid,
        patch: IpRecordPatch,
    ) -> Result<IpRecord> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(
            self,
            (account, sid, patch),
            |tx| writes::ip_records::update(tx, &account, &sid, patch, now)
        )
    }

    async fn delete_ip_record(&self, account: &AccountSid, sid: &IpRecordSid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::ip_records::delete(
            tx, &account, &sid
        ))
    }

    async fn create_sip_domain(
        &self,
        account: &AccountSid,
        new: SipDomainPatch,
    ) -> Result<SipDomain> {
        let (now, millis) = self.now();
        let domain = new.into_new(SipDomainSid::generate_at(millis), account.clone(), now);
        run_write!(self, (domain), |tx| writes::sip_domains::create(tx, domain))
    }

    async fn get_sip_domain(
        &self,
        account: &AccountSid,
        sid: &SipDomainSid,
    ) -> Result<Option<SipDomain>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::sip_domain(tx, &account, &sid))
    }

    async fn list_sip_domains(
        &self,
        account: &AccountSid,
        page: &PageQuery,
    ) -> Result<Vec<SipDomain>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_sip_domains(tx, &account, &page))
    }

    async fn update_sip_domain(
        &self,
        account: &AccountSid,
        sid: &SipDomainSid,
        patch: SipDomainPatch,
    ) -> Result<SipDomain> {
        let (now, _) = self.now();
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid, patch), |tx| {
            writes::sip_domains::update(tx, &account, &sid, patch, now)
        })
    }

    async fn delete_sip_domain(&self, account: &AccountSid, sid: &SipDomainSid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::sip_domains::delete(
            tx, &account, &sid
        ))
    }

    async fn create_mapping(
        &self,
        account: &AccountSid,
        ip_record_sid: &IpRecordSid,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping> {
        let (now, millis) = self.now();
        let mapping = Mapping {
            sid: MappingSid::generate_at(millis),
            account_sid: account.clone(),
            ip_record_sid: ip_record_sid.clone(),
            sip_domain_sid: sip_domain_sid.clone(),
            date_created: now,
            date_updated: now,
        };
        run_write!(self, (mapping), |tx| writes::mappings::create(tx, mapping))
    }

    async fn get_mapping(&self, account: &AccountSid, sid: &MappingSid) -> Result<Option<Mapping>> {
        let (account, sid) = (account.clone(), sid.clone());
        run_read!(self, |tx| reads::mapping(tx, &account, &sid))
    }

    async fn list_mappings(&self, account: &AccountSid, page: &PageQuery) -> Result<Vec<Mapping>> {
        let (account, page) = (account.clone(), page.clone());
        run_read!(self, |tx| reads::list_mappings(tx, &account, &page))
    }

    async fn update_mapping(
        &self,
        account: &AccountSid,
        sid: &MappingSid,
        sip_domain_sid: &SipDomainSid,
    ) -> Result<Mapping> {
        let (now, _) = self.now();
        let (account, sid, domain) = (account.clone(), sid.clone(), sip_domain_sid.clone());
        run_write!(self, (account, sid, domain), |tx| writes::mappings::update(
            tx, &account, &sid, &domain, now
        ))
    }

    async fn delete_mapping(&self, account: &AccountSid, sid: &MappingSid) -> Result<()> {
        let (account, sid) = (account.clone(), sid.clone());
        run_write!(self, (account, sid), |tx| writes::mappings::delete(
            tx, &account, &sid
        ))
    }
}
