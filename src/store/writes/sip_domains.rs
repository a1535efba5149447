//! Writes of SIP domains.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::{mappings, sip_domains};
use super::super::{Missing, Result, StoreError};
use super::byoc::{check_domain_trunk, trunk_from_domain};
use super::{owner_accepts_writes, some_mapping};
use crate::domain::sip_domain::domain_key;
use crate::domain::{SipDomain, SipDomainPatch};
use crate::recognition::{Change, Target};
use crate::sid::{AccountSid, SipDomainSid};

/// The recognition view of a domain.
pub fn target(d: &SipDomain) -> Target {
    Target {
        domain_sid: d.sid.clone(),
        account_sid: d.account_sid.clone(),
        domain_name: d.domain_name.clone(),
        sip_registration: d.sip_registration,
        byoc_trunk_sid: d.byoc_trunk_sid.clone(),
    }
}

/// Fails unless `d` may have its name.
async fn check_name(tx: &mut dyn Tx, d: &SipDomain) -> Result<()> {
    let holder = tx
        .query(sip_domains::NAMED, vec![domain_key(&d.domain_name).into()])
        .await?;
    let holder = holder
        .first()
        .map(|r| r.sid(0, SipDomainSid::parse))
        .transpose()?;
    Ok(d.may_take_name(holder.as_ref())?)
}

/// Creates `domain` (its name must be free across all accounts).
pub async fn create(tx: &mut dyn Tx, domain: SipDomain) -> Result<Written<SipDomain>> {
    let recognised = owner_accepts_writes(tx, &domain.account_sid).await?;
    check_name(tx, &domain).await?;
    check_domain_trunk(tx, &domain.account_sid, domain.byoc_trunk_sid.as_deref()).await?;
    tx.execute(sip_domains::INSERT, sip_domains::values(&domain))
        .await?;
    Ok(named(domain, recognised))
}

/// The write of a domain whose name is new: recognition learns the name if its account is
/// recognised.
fn named(domain: SipDomain, recognised: bool) -> Written<SipDomain> {
    let changes = match recognised {
        true => vec![Change::DomainSet(target(&domain))],
        false => vec![],
    };
    Written {
        value: domain,
        changes,
    }
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
    let recognised = owner_accepts_writes(tx, account).await?;
    let mut domain = locked(tx, account, sid).await?;
    let old_name = domain.domain_name.clone();
    let old_target = target(&domain);
    patch.apply(&mut domain, now);
    if domain.domain_name != old_name {
        check_name(tx, &domain).await?;
    }
    if domain.byoc_trunk_sid != old_target.byoc_trunk_sid {
        check_domain_trunk(tx, account, domain.byoc_trunk_sid.as_deref()).await?;
    }
    tx.execute(sip_domains::UPDATE, sip_domains::values(&domain))
        .await?;
    // Only a new name or registration setting changes what recognition knows.
    let changed = target(&domain) != old_target;
    Ok(named(domain, recognised && changed))
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
    Ok(Written {
        value: (),
        changes: vec![Change::DomainRemoved(sid.clone())],
    })
}
