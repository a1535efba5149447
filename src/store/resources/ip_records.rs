//! Writes of IP records.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::{ip_records, mappings};
use super::super::{Missing, Result, StoreError};
use super::some_mapping;
use crate::domain::{Audit, IpRecord, IpRecordPatch};
use crate::sid::{AccountSid, IpRecordSid};

/// Creates `record`.
pub async fn create(tx: &mut dyn Tx, record: IpRecord) -> Result<Written<IpRecord>> {
    tx.execute(ip_records::INSERT, ip_records::insert(&record))
        .await?;
    let audit = Audit::created(&record);
    Ok(Written::quiet(record).audited([audit]))
}

async fn locked(tx: &mut dyn Tx, account: &AccountSid, sid: &IpRecordSid) -> Result<IpRecord> {
    let rows = tx
        .query_locked(
            ip_records::BY_SID,
            ip_records::by_sid(account, sid),
            Lock::Update,
        )
        .await?;
    match rows.into_iter().next() {
        Some(r) => ip_records::record(r),
        None => Err(StoreError::NotFound(Missing::IpRecord(sid.clone()))),
    }
}

/// Applies `patch` to a record of `account`.
pub async fn update(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &IpRecordSid,
    patch: IpRecordPatch,
    now: i64,
) -> Result<Written<IpRecord>> {
    let mut record = locked(tx, account, sid).await?;
    let before = record.clone();
    patch.apply(&mut record, now);
    if record != before {
        tx.execute(ip_records::UPDATE, ip_records::update(&record))
            .await?;
    }
    let audit = Audit::updated(&before, &record);
    Ok(Written::quiet(record).audited(audit))
}

/// Deletes a record of `account` that no mapping references.
pub async fn delete(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &IpRecordSid,
) -> Result<Written<()>> {
    let record = locked(tx, account, sid).await?;
    let mapped_by = some_mapping(tx, mappings::OF_RECORD, vec![sid.as_str().into()]).await?;
    record.may_delete(mapped_by)?;
    tx.execute(ip_records::DELETE, vec![sid.as_str().into()])
        .await?;
    Ok(Written::quiet(()).audited([Audit::deleted(&record)]))
}

/// The store's operations on IP records.
mod operations {
    use crate::domain::{IpRecord, IpRecordPatch, NewIpRecord};
    use crate::sid::{AccountSid, IpRecordSid};
    use crate::store::engine::run_write;
    use crate::store::queries::ip_records;
    use crate::store::{PageQuery, Result, Store};

    impl Store {
        /// Creates an IP record.
        pub async fn create_ip_record(
            &self,
            account: &AccountSid,
            new: NewIpRecord,
        ) -> Result<IpRecord> {
            let (now, millis) = self.now();
            let record = new.into_record(IpRecordSid::generate_at(millis), account.clone(), now);
            run_write!(self, (record), |tx| super::create(tx, record))
        }

        /// One IP record.
        pub async fn get_ip_record(
            &self,
            account: &AccountSid,
            sid: &IpRecordSid,
        ) -> Result<Option<IpRecord>> {
            let params = ip_records::by_sid(account, sid);
            self.read_one(ip_records::BY_SID, params, ip_records::record)
                .await
        }

        /// A page of IP records.
        pub async fn list_ip_records(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<IpRecord>> {
            self.read_all(ip_records::list(account, page), ip_records::record)
                .await
        }

        /// Updates an IP record's friendly name.
        pub async fn update_ip_record(
            &self,
            account: &AccountSid,
            sid: &IpRecordSid,
            patch: IpRecordPatch,
        ) -> Result<IpRecord> {
            let (now, _) = self.now();
            run_write!(self, (account, sid, patch), |tx| super::update(
                tx, &account, &sid, patch, now
            ))
        }

        /// Deletes an IP record that no mapping references.
        pub async fn delete_ip_record(
            &self,
            account: &AccountSid,
            sid: &IpRecordSid,
        ) -> Result<()> {
            run_write!(self, (account, sid), |tx| super::delete(tx, &account, &sid))
        }
    }
}
