//! Writes of source IP mappings.

use super::super::backend::{Lock, Serial, Tx, Written};
use super::super::queries::mappings;
use super::super::{Missing, Result, StoreError};
use super::{locked_account, owner_accepts_writes, require_domain, some_mapping};
use crate::domain::mapping::{MappingFacts, may_create, may_map};
use crate::domain::{Audit, Mapping, Network};
use crate::recognition::Change;
use crate::sid::{AccountSid, MappingSid, SipDomainSid};

/// Creates `mapping` (account, record and domain as given; SID and times minted).
pub async fn create(tx: &mut dyn Tx, mapping: Mapping) -> Result<Written<Mapping>> {
    let account = &mapping.account_sid;
    let caller = locked_account(tx, account, Lock::Share).await?;
    may_create(&caller)?;
    let record = super::super::reads::ip_record(tx, account, &mapping.ip_record_sid)
        .await?
        .ok_or_else(|| StoreError::NotFound(Missing::IpRecord(mapping.ip_record_sid.clone())))?;
    require_domain(tx, account, &mapping.sip_domain_sid).await?;
    // From here until commit no other node adds a mapping, so the facts below hold.
    tx.serialize(Serial::Mappings).await?;
    let network = record.network();
    let (overlap_sql, overlap_params) = mappings::overlapping_owners(network, &caller);
    let owners = tx.query(overlap_sql, overlap_params).await?;
    let facts = MappingFacts {
        record_mapped_by: some_mapping(tx, mappings::OF_RECORD, vec![record.sid.as_str().into()])
            .await?,
        network_taken: !tx
            .query(mappings::NETWORK_TAKEN, mappings::network(network))
            .await?
            .is_empty(),
        overlapping_owners: owners
            .into_iter()
            .map(mappings::owner)
            .collect::<Result<_>>()?,
    };
    may_map(&caller, &record, &facts)?;
    tx.execute(mappings::INSERT, mappings::insert(&mapping, network))
        .await?;
    let change = Change::MappingSet(network, mapping.sip_domain_sid.clone());
    let audit = Audit::created(&mapping);
    Ok(Written::changing(mapping, vec![change]).audited([audit]))
}

async fn locked(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &MappingSid,
) -> Result<(Mapping, Network)> {
    let rows = tx
        .query_locked(
            mappings::BY_SID,
            mappings::by_sid(account, sid),
            Lock::Update,
        )
        .await?;
    match rows.into_iter().next() {
        Some(r) => mappings::mapping_and_network(r),
        None => Err(StoreError::NotFound(Missing::Mapping(sid.clone()))),
    }
}

/// Points a mapping of `account` at another of its SIP domains.
pub async fn update(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &MappingSid,
    domain: &SipDomainSid,
    now: i64,
) -> Result<Written<Mapping>> {
    let recognised = owner_accepts_writes(tx, account).await?;
    let (mut mapping, network) = locked(tx, account, sid).await?;
    require_domain(tx, account, domain).await?;
    let before = mapping.clone();
    mapping.sip_domain_sid = domain.clone();
    mapping.date_updated = now;
    tx.execute(mappings::UPDATE, mappings::update(&mapping))
        .await?;
    let change = Change::MappingSet(network, domain.clone());
    let audit = Audit::updated(&before, &mapping);
    Ok(Written::recognised_if(mapping, recognised, change).audited(audit))
}

/// Deletes a mapping of `account`, freeing its network.
pub async fn delete(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &MappingSid,
) -> Result<Written<()>> {
    let (mapping, network) = locked(tx, account, sid).await?;
    tx.execute(mappings::DELETE, vec![sid.as_str().into()])
        .await?;
    let change = Change::MappingRemoved(network);
    Ok(Written::changing((), vec![change]).audited([Audit::deleted(&mapping)]))
}

/// The store's operations on mappings.
mod operations {
    use crate::domain::Mapping;
    use crate::sid::{AccountSid, IpRecordSid, MappingSid, SipDomainSid};
    use crate::store::engine::run_write;
    use crate::store::queries::mappings;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// Maps an IP record to a SIP domain, both of `account`.
        pub async fn create_mapping(
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
            run_write!(self, (mapping), |tx| super::create(tx, mapping))
        }

        /// One mapping.
        pub async fn get_mapping(
            &self,
            account: &AccountSid,
            sid: &MappingSid,
        ) -> Result<Option<Mapping>> {
            let params = mappings::by_sid(account, sid);
            self.read_one(mappings::BY_SID, params, mappings::mapping)
                .await
        }

        /// The mapping of `account`'s `domain` whose network holds `ip`, if any (the most
        /// specific): its SID and its IP record's. What a decision recognised by source names.
        pub async fn mapping_holding(
            &self,
            account: &AccountSid,
            domain: &SipDomainSid,
            ip: std::net::Ipv4Addr,
        ) -> Result<Option<(MappingSid, IpRecordSid)>> {
            let params = vec![
                account.as_str().into(),
                domain.as_str().into(),
                i64::from(u32::from(ip)).into(),
            ];
            self.read_one(mappings::HOLDING, params, |r| {
                Ok((r.sid(0, MappingSid::parse)?, r.sid(1, IpRecordSid::parse)?))
            })
            .await
        }

        /// A page of mappings.
        pub async fn list_mappings(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<Mapping>> {
            self.read_all(mappings::list(account, page), mappings::mapping)
                .await
        }

        /// Points a mapping at another SIP domain of the same account.
        pub async fn update_mapping(
            &self,
            account: &AccountSid,
            sid: &MappingSid,
            sip_domain_sid: &SipDomainSid,
        ) -> Result<Mapping> {
            let (now, _) = self.now();
            let domain = sip_domain_sid;
            run_write!(self, (account, sid, domain), |tx| super::update(
                tx, &account, &sid, &domain, now
            ))
        }

        /// Deletes a mapping.
        pub async fn delete_mapping(&self, account: &AccountSid, sid: &MappingSid) -> Result<()> {
            run_write!(self, (account, sid), |tx| super::delete(tx, &account, &sid))
        }
    }
}
