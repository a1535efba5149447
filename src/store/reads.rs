//! Every read, written once over [`Tx`]: fetch rows, map them. No rule lives here; scoping is
//! in the statements (another account's row is simply not found).

use super::Result;
use super::backend::Tx;
use super::queries::{accounts, ip_records, mappings, recognition, sip_domains};
use super::value::Params;
use super::{AccountFilter, PageQuery};
use crate::auth_token::TokenHash;
use crate::domain::{Account, IpRecord, Mapping, Network, SipDomain};
use crate::recognition::{State, StateBuilder};
use crate::sid::{AccountSid, IpRecordSid, MappingSid, SipDomainSid};

/// The first row of a query, mapped.
pub async fn one<T>(
    tx: &mut dyn Tx,
    sql: &str,
    params: Params,
    map: fn(&super::value::Row) -> Result<T>,
) -> Result<Option<T>> {
    tx.query(sql, params).await?.first().map(map).transpose()
}

/// Every row of a query, mapped.
pub async fn all<T>(
    tx: &mut dyn Tx,
    (sql, params): (String, Params),
    map: fn(&super::value::Row) -> Result<T>,
) -> Result<Vec<T>> {
    tx.query(&sql, params).await?.iter().map(map).collect()
}

/// An account and its credential.
pub async fn credentials(
    tx: &mut dyn Tx,
    sid: &AccountSid,
) -> Result<Option<(Account, TokenHash)>> {
    one(
        tx,
        accounts::BY_SID,
        vec![sid.as_str().into()],
        accounts::credential,
    )
    .await
}

/// An account.
pub async fn account(tx: &mut dyn Tx, sid: &AccountSid) -> Result<Option<Account>> {
    one(
        tx,
        accounts::BY_SID,
        vec![sid.as_str().into()],
        accounts::account,
    )
    .await
}

/// How many accounts exist.
pub async fn count_accounts(tx: &mut dyn Tx) -> Result<u64> {
    let n = one(tx, accounts::COUNT, vec![], |r| r.int(0)).await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// A page of `caller` and its subaccounts.
pub async fn list_accounts(
    tx: &mut dyn Tx,
    caller: &AccountSid,
    filter: &AccountFilter,
    page: &PageQuery,
) -> Result<Vec<Account>> {
    all(tx, accounts::list(caller, filter, page), accounts::account).await
}

/// An IP record of an account.
pub async fn ip_record(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &IpRecordSid,
) -> Result<Option<IpRecord>> {
    one(
        tx,
        ip_records::BY_SID,
        ip_records::by_sid(account, sid),
        ip_records::record,
    )
    .await
}

/// A page of an account's IP records.
pub async fn list_ip_records(
    tx: &mut dyn Tx,
    account: &AccountSid,
    page: &PageQuery,
) -> Result<Vec<IpRecord>> {
    all(tx, ip_records::list(account, page), ip_records::record).await
}

/// A SIP domain of an account.
pub async fn sip_domain(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &SipDomainSid,
) -> Result<Option<SipDomain>> {
    one(
        tx,
        sip_domains::BY_SID,
        sip_domains::by_sid(account, sid),
        sip_domains::domain,
    )
    .await
}

/// A page of an account's SIP domains.
pub async fn list_sip_domains(
    tx: &mut dyn Tx,
    account: &AccountSid,
    page: &PageQuery,
) -> Result<Vec<SipDomain>> {
    all(tx, sip_domains::list(account, page), sip_domains::domain).await
}

/// A mapping of an account.
pub async fn mapping(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &MappingSid,
) -> Result<Option<Mapping>> {
    let found = one(
        tx,
        mappings::BY_SID,
        mappings::by_sid(account, sid),
        mappings::mapping,
    );
    found.await
}

/// A page of an account's mappings.
pub async fn list_mappings(
    tx: &mut dyn Tx,
    account: &AccountSid,
    page: &PageQuery,
) -> Result<Vec<Mapping>> {
    all(tx, mappings::list(account, page), mappings::mapping).await
}

/// Everything recognition needs, read row by row (a table may hold a million mappings).
pub async fn recognition_state(tx: &mut dyn Tx) -> Result<State> {
    let domains = tx.query(recognition::ACTIVE_DOMAINS, vec![]).await?;
    let domains = domains
        .iter()
        .map(recognition::target)
        .collect::<Result<Vec<_>>>()?;
    let mut builder = StateBuilder::new(domains);
    let mut add = |r: super::value::Row| -> Result<()> {
        let (net, domain): (Network, &str) = recognition::mapped(&r)?;
        builder.mapping(net, domain);
        Ok(())
    };
    tx.query_each(recognition::ALL_MAPPINGS, vec![], &mut add)
        .await?;
    Ok(builder.finish())
}
