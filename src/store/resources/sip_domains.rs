//! Writes of SIP domains.

use super::super::backend::{Lock, Serial, Tx, Written};
use super::super::queries::{mappings, sip_domains};
use super::super::value::Params;
use super::super::{Missing, Result, StoreError};
use super::byoc::{check_domain_trunk, trunk_from_domain};
use super::{locked_account, some_mapping};
use crate::domain::sip_domain::{NameFacts, domain_key};
use crate::domain::{Account, Audit, SipDomain, SipDomainPatch};
use crate::recognition::{Change, Target};
use crate::sid::{AccountSid, ByocTrunkSid, SipDomainSid};

/// The recognition view of a domain.
pub fn target(d: &SipDomain) -> Target {
    Target {
        domain_sid: d.sid.clone(),
        account_sid: d.account_sid.clone(),
        domain_name: d.domain_name.clone(),
        sip_registration: d.sip_registration,
        secure: d.secure,
        byoc_trunk_sid: d.byoc_trunk_sid.as_deref().and_then(ByocTrunkSid::parse),
        voice: d.voice_app().map(std::sync::Arc::new),
    }
}

/// The owners of the domains a query about the names around a name finds.
async fn owners(
    tx: &mut dyn Tx,
    sql: &str,
    params: Params,
) -> Result<Vec<(AccountSid, Option<AccountSid>)>> {
    let rows = tx.query(sql, params).await?;
    rows.into_iter().map(sip_domains::owner).collect()
}

/// Fails unless `d`, a domain of `owner`, may have its name: the name is free, and no domain of
/// another family holds a name it lies under or above. From here until commit no other node
/// gives a domain a name, so the facts hold.
async fn check_name(tx: &mut dyn Tx, owner: &Account, d: &SipDomain) -> Result<()> {
    tx.serialize(Serial::DomainNames).await?;
    let holder = tx
        .query(sip_domains::NAMED, vec![domain_key(&d.domain_name).into()])
        .await?;
    let holder = holder
        .first()
        .map(|r| r.sid(0, SipDomainSid::parse))
        .transpose()?;
    let above = match sip_domains::owners_above(&d.domain_name, owner) {
        Some((sql, params)) => owners(tx, sql, params).await?,
        None => Vec::new(),
    };
    let below = owners(
        tx,
        sip_domains::OWNERS_BELOW,
        sip_domains::owners_below(&d.domain_name, owner),
    )
    .await?;
    let facts = NameFacts {
        holder,
        above,
        below,
    };
    Ok(d.may_take_name(owner, &facts)?)
}

/// Creates `domain` (its name must be free across all accounts, and lie under or above no name
/// of another family).
pub async fn create(tx: &mut dyn Tx, domain: SipDomain) -> Result<Written<SipDomain>> {
    let owner = locked_account(tx, &domain.account_sid, Lock::Share).await?;
    let recognised = owner.accepts_writes()?;
    check_name(tx, &owner, &domain).await?;
    check_domain_trunk(tx, &domain.account_sid, domain.byoc_trunk_sid.as_deref()).await?;
    tx.execute(sip_domains::INSERT, sip_domains::values(&domain))
        .await?;
    let audit = Audit::created(&domain);
    Ok(named(domain, recognised).audited([audit]))
}

/// The write of a domain whose name is new: recognition learns the name if its account is
/// recognised.
fn named(domain: SipDomain, recognised: bool) -> Written<SipDomain> {
    let change = Change::DomainSet(target(&domain));
    Written::recognised_if(domain, recognised, change)
}

async fn locked(tx: &mut dyn Tx, account: &AccountSid, sid: &SipDomainSid) -> Result<SipDomain> {
    let rows = tx
        .query_locked(
            sip_domains::BY_SID,
            sip_domains::by_sid(account, sid),
            Lock::Update,
        )
        .await?;
    match rows.into_iter().next() {
        Some(r) => sip_domains::domain(r),
        None => Err(StoreError::NotFound(Missing::SipDomain(
            account.clone(),
            sid.clone(),
        ))),
    }
}

/// Applies `patch` to a domain of `account`.
pub async fn update(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &SipDomainSid,
    patch: SipDomainPatch,
    now: i64,
) -> Result<Written<SipDomain>> {
    let owner = locked_account(tx, account, Lock::Share).await?;
    let recognised = owner.accepts_writes()?;
    let mut domain = locked(tx, account, sid).await?;
    let before = domain.clone();
    let old_name = domain.domain_name.clone();
    let old_target = target(&domain);
    patch.apply(&mut domain, now);
    if domain.domain_name != old_name {
        check_name(tx, &owner, &domain).await?;
    }
    if target(&domain).byoc_trunk_sid != old_target.byoc_trunk_sid {
        check_domain_trunk(tx, account, domain.byoc_trunk_sid.as_deref()).await?;
    }
    tx.execute(sip_domains::UPDATE, sip_domains::values(&domain))
        .await?;
    // Only a new name, registration setting, trunk or voice application changes what
    // recognition knows.
    let changed = target(&domain) != old_target;
    let audit = Audit::updated(&before, &domain);
    Ok(named(domain, recognised && changed).audited(audit))
}

/// Deletes a domain of `account` that no source IP mapping references and no BYOC trunk names as
/// its From domain; its authentication mappings go with it.
pub async fn delete(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &SipDomainSid,
) -> Result<Written<()>> {
    let domain = locked(tx, account, sid).await?;
    let mapped_by = some_mapping(tx, mappings::OF_DOMAIN, vec![sid.as_str().into()]).await?;
    let from_of = trunk_from_domain(tx, sid).await?;
    domain.may_delete(mapped_by, from_of)?;
    tx.execute(sip_domains::DELETE, vec![sid.as_str().into()])
        .await?;
    let change = Change::DomainRemoved(sid.clone());
    Ok(Written::changing((), vec![change]).audited([Audit::deleted(&domain)]))
}

/// The store's operations on SIP domains.
mod operations {
    use crate::domain::{SipDomain, SipDomainPatch};
    use crate::sid::{AccountSid, SipDomainSid};
    use crate::store::engine::run_write;
    use crate::store::queries::sip_domains;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// Creates a SIP domain from a create's parameters (its name must be free across all
        /// accounts).
        pub async fn create_sip_domain(
            &self,
            account: &AccountSid,
            new: SipDomainPatch,
        ) -> Result<SipDomain> {
            let (now, millis) = self.now();
            let domain = new.into_new(SipDomainSid::generate_at(millis), account.clone(), now);
            run_write!(self, (domain), |tx| super::create(tx, domain))
        }

        /// One SIP domain.
        pub async fn get_sip_domain(
            &self,
            account: &AccountSid,
            sid: &SipDomainSid,
        ) -> Result<Option<SipDomain>> {
            let params = sip_domains::by_sid(account, sid);
            self.read_one(sip_domains::BY_SID, params, sip_domains::domain)
                .await
        }

        /// A page of SIP domains.
        pub async fn list_sip_domains(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<SipDomain>> {
            self.read_all(sip_domains::list(account, page), sip_domains::domain)
                .await
        }

        /// Updates a SIP domain.
        pub async fn update_sip_domain(
            &self,
            account: &AccountSid,
            sid: &SipDomainSid,
            patch: SipDomainPatch,
        ) -> Result<SipDomain> {
            let (now, _) = self.now();
            run_write!(self, (account, sid, patch), |tx| super::update(
                tx, &account, &sid, patch, now
            ))
        }

        /// Deletes a SIP domain that no mapping references.
        pub async fn delete_sip_domain(
            &self,
            account: &AccountSid,
            sid: &SipDomainSid,
        ) -> Result<()> {
            run_write!(self, (account, sid), |tx| super::delete(tx, &account, &sid))
        }
    }
}
