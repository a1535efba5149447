//! Every read, written once over [`Tx`]: fetch rows, map them. No rule lives here; scoping is
//! in the statements (another account's row is simply not found).

use super::Result;
use super::backend::Tx;
use super::queries::sip_lists::{self, ListKind};
use super::queries::{
    accounts, api_keys, auth_mappings, byoc, credential_lists, ip_access_control_lists as acls,
    ip_records, mappings, recognition, sip_domains,
};
use super::value::Params;
use super::{AccountFilter, Missing, PageQuery, StoreError};
use crate::auth_token::TokenHash;
use crate::domain::{
    Account, ApiKey, AuthMapping, ByocTrunk, ConnectionPolicy, Credential, IpAddress, IpRecord,
    MappedList, Mapping, PolicyTarget, SipDomain, SipList,
};
use crate::recognition::{AuthKind, Change, State};
use crate::sid::{
    AccountSid, AclAddressSid, AclSid, ApiKeySid, ByocTrunkSid, ConnectionPolicySid,
    CredentialListSid, CredentialSid, IpRecordSid, MappingSid, PolicyTargetSid, SipDomainSid,
};

/// The first row of a query, mapped.
pub async fn one<T>(
    tx: &mut dyn Tx,
    sql: &str,
    params: Params,
    map: fn(super::value::Row) -> Result<T>,
) -> Result<Option<T>> {
    tx.query(sql, params)
        .await?
        .into_iter()
        .next()
        .map(map)
        .transpose()
}

/// Every row of a query, mapped.
pub async fn all<T>(
    tx: &mut dyn Tx,
    (sql, params): (String, Params),
    map: fn(super::value::Row) -> Result<T>,
) -> Result<Vec<T>> {
    tx.query(&sql, params).await?.into_iter().map(map).collect()
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

/// The account an API key authenticates as, and the key's secret hash.
pub async fn key_credentials(
    tx: &mut dyn Tx,
    sid: &ApiKeySid,
) -> Result<Option<(Account, TokenHash)>> {
    one(
        tx,
        accounts::BY_KEY,
        vec![sid.as_str().into()],
        accounts::credential,
    )
    .await
}

/// An API key of an account.
pub async fn api_key(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ApiKeySid,
) -> Result<Option<ApiKey>> {
    one(
        tx,
        api_keys::BY_SID,
        api_keys::by_sid(account, sid),
        api_keys::key,
    )
    .await
}

/// A page of an account's API keys.
pub async fn list_api_keys(
    tx: &mut dyn Tx,
    account: &AccountSid,
    page: &PageQuery,
) -> Result<Vec<ApiKey>> {
    all(tx, api_keys::list(account, page), api_keys::key).await
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

/// Everything recognition is built from, each row handed to `each` as the change that would have
/// put it there, as it is read (a table may hold a million mappings).
pub async fn recognition_changes(
    tx: &mut dyn Tx,
    each: &mut (dyn FnMut(Change) + Send),
) -> Result<()> {
    for (sql, change) in recognition::LOAD {
        tx.query_each(sql, vec![], &mut |r| {
            each(change(r)?);
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Everything recognition is built from, gathered by kind.
pub async fn recognition_state(tx: &mut dyn Tx) -> Result<State> {
    let mut changes = Vec::new();
    recognition_changes(tx, &mut |c| changes.push(c)).await?;
    Ok(State::gather(changes))
}

/// A list of an account (an IP access control list or a credential list, by `S`).
pub async fn sip_list<S: ListKind>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &S,
) -> Result<Option<SipList<S>>> {
    let params = sip_lists::by_sid(account, sid);
    one(tx, S::TABLE.by_sid, params, sip_lists::list).await
}

/// A list of an account; 404 when it is not the account's.
pub async fn existing_list<S: ListKind>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &S,
) -> Result<SipList<S>> {
    sip_list(tx, account, sid)
        .await?
        .ok_or_else(|| StoreError::NotFound(S::missing(account, sid)))
}

/// A page of an account's lists of one kind.
pub async fn list_sip_lists<S: ListKind>(
    tx: &mut dyn Tx,
    account: &AccountSid,
    page: &PageQuery,
) -> Result<Vec<SipList<S>>> {
    all(tx, S::TABLE.page(account, page), sip_lists::list).await
}

/// An IP address of a list of an account.
pub async fn ip_address(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &AclSid,
    sid: &AclAddressSid,
) -> Result<Option<IpAddress>> {
    let params = acls::address_by_sid(account, list, sid);
    one(tx, acls::ADDRESS_BY_SID, params, acls::address).await
}

/// A page of the IP addresses of a list of an account; 404 when the list is not the account's.
pub async fn list_ip_addresses(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &AclSid,
    page: &PageQuery,
) -> Result<Vec<IpAddress>> {
    existing_list(tx, account, list).await?;
    all(tx, acls::address_list(list, page), acls::address).await
}

/// A credential of a list of an account.
pub async fn credential(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &CredentialListSid,
    sid: &CredentialSid,
) -> Result<Option<Credential>> {
    let params = credential_lists::credential_by_sid(account, list, sid);
    let sql = credential_lists::CREDENTIAL_BY_SID;
    one(tx, sql, params, credential_lists::credential).await
}

/// A page of the credentials of a list of an account; 404 when the list is not the account's.
pub async fn list_credentials(
    tx: &mut dyn Tx,
    account: &AccountSid,
    list: &CredentialListSid,
    page: &PageQuery,
) -> Result<Vec<Credential>> {
    existing_list(tx, account, list).await?;
    let query = credential_lists::credential_page(list, page);
    all(tx, query, credential_lists::credential).await
}

/// A SIP domain of an account; 404 when it is not the account's.
pub async fn existing_sip_domain(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &SipDomainSid,
) -> Result<SipDomain> {
    sip_domain(tx, account, sid)
        .await?
        .ok_or_else(|| StoreError::NotFound(Missing::SipDomain(account.clone(), sid.clone())))
}

/// A list mapped to a domain of an account for `kind`; 404 when the domain is not the
/// account's.
pub async fn auth_mapping(
    tx: &mut dyn Tx,
    account: &AccountSid,
    domain: &SipDomainSid,
    kind: AuthKind,
    list: &MappedList,
) -> Result<Option<AuthMapping>> {
    existing_sip_domain(tx, account, domain).await?;
    let sql = auth_mappings::statements(kind).by_sid;
    let params = auth_mappings::by_sid(account, domain, kind, list);
    one(tx, sql, params, auth_mappings::mapping).await
}

/// A page of the lists mapped to a domain of an account for `kind`; 404 when the domain is not
/// the account's.
pub async fn list_auth_mappings(
    tx: &mut dyn Tx,
    account: &AccountSid,
    domain: &SipDomainSid,
    kind: AuthKind,
    page: &PageQuery,
) -> Result<Vec<AuthMapping>> {
    existing_sip_domain(tx, account, domain).await?;
    all(
        tx,
        auth_mappings::list(domain, kind, page),
        auth_mappings::mapping,
    )
    .await
}

/// A BYOC trunk of an account.
pub async fn byoc_trunk(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ByocTrunkSid,
) -> Result<Option<ByocTrunk>> {
    let params = byoc::trunk_by_sid(account, sid);
    one(tx, byoc::TRUNK_BY_SID, params, byoc::trunk).await
}

/// A page of an account's BYOC trunks.
pub async fn list_byoc_trunks(
    tx: &mut dyn Tx,
    account: &AccountSid,
    page: &PageQuery,
) -> Result<Vec<ByocTrunk>> {
    all(tx, byoc::trunk_list(account, page), byoc::trunk).await
}

/// A connection policy of an account.
pub async fn connection_policy(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ConnectionPolicySid,
) -> Result<Option<ConnectionPolicy>> {
    let params = byoc::policy_by_sid(account, sid);
    one(tx, byoc::POLICY_BY_SID, params, byoc::policy).await
}

/// A page of an account's connection policies.
pub async fn list_connection_policies(
    tx: &mut dyn Tx,
    account: &AccountSid,
    page: &PageQuery,
) -> Result<Vec<ConnectionPolicy>> {
    all(tx, byoc::policy_list(account, page), byoc::policy).await
}

/// A target of a policy of an account.
pub async fn policy_target(
    tx: &mut dyn Tx,
    account: &AccountSid,
    policy: &ConnectionPolicySid,
    sid: &PolicyTargetSid,
) -> Result<Option<PolicyTarget>> {
    let params = byoc::target_by_sid(account, policy, sid);
    one(tx, byoc::TARGET_BY_SID, params, byoc::target).await
}

/// A page of the targets of a policy of an account; 404 when the policy is not the account's.
pub async fn list_policy_targets(
    tx: &mut dyn Tx,
    account: &AccountSid,
    policy: &ConnectionPolicySid,
    page: &PageQuery,
) -> Result<Vec<PolicyTarget>> {
    if connection_policy(tx, account, policy).await?.is_none() {
        return Err(StoreError::NotFound(Missing::ConnectionPolicy(
            policy.clone(),
        )));
    }
    all(tx, byoc::target_list(policy, page), byoc::target).await
}
