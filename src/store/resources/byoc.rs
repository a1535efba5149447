//! Writes of BYOC trunks, connection policies and their targets. A trunk's references are
//! checked (and share-locked) in the transaction; a policy or trunk that something names cannot
//! be deleted. Trunks and targets reach recognition, which routes the domains that use them.

use super::super::backend::{Lock, Tx, Written};
use super::super::queries::byoc;
use super::super::{Missing, Result, StoreError};
use super::{count, locked_account, owner_accepts_writes, require_domain};
use crate::domain::byoc::{may_delete_policy, may_delete_trunk};
use crate::domain::{
    Audit, ByocTrunk, ByocTrunkPatch, ConnectionPolicy, Limited, Limits, PolicyName, PolicyTarget,
    TargetPatch,
};
use crate::recognition::{Change, RouteTarget};
use crate::sid::{AccountSid, ByocTrunkSid, ConnectionPolicySid, PolicyTargetSid, SipDomainSid};

/// Fails with the policy's 404 unless `sid` is a policy of `account`; locks it as `lock` says.
async fn locked_policy(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ConnectionPolicySid,
    lock: Lock,
) -> Result<ConnectionPolicy> {
    let rows = tx
        .query_locked(byoc::POLICY_BY_SID, byoc::policy_by_sid(account, sid), lock)
        .await?;
    match rows.into_iter().next() {
        Some(r) => byoc::policy(r),
        None => Err(StoreError::NotFound(Missing::ConnectionPolicy(sid.clone()))),
    }
}

/// Fails with the trunk's 404 unless `sid` is a trunk of `account`; locks it as `lock` says.
pub async fn locked_trunk(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ByocTrunkSid,
    lock: Lock,
) -> Result<ByocTrunk> {
    let rows = tx
        .query_locked(byoc::TRUNK_BY_SID, byoc::trunk_by_sid(account, sid), lock)
        .await?;
    match rows.into_iter().next() {
        Some(r) => byoc::trunk(r),
        None => Err(StoreError::NotFound(Missing::ByocTrunk(sid.clone()))),
    }
}

/// The first SID a query about one SID finds, if any.
async fn first_sid<T>(
    tx: &mut dyn Tx,
    sql: &str,
    sid: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>> {
    let rows = tx.query(sql, vec![sid.into()]).await?;
    rows.first().map(|r| r.sid(0, parse)).transpose()
}

/// Checks (and share-locks) what a trunk names: its policy and From domain must be `account`'s.
async fn check_references(tx: &mut dyn Tx, t: &ByocTrunk) -> Result<()> {
    if let Some(policy) = &t.connection_policy_sid {
        locked_policy(tx, &t.account_sid, policy, Lock::Share).await?;
    }
    if let Some(domain) = &t.from_domain_sid {
        require_domain(tx, &t.account_sid, domain).await?;
    }
    Ok(())
}

/// Creates `trunk`, unless its account holds as many as it may.
pub async fn create_trunk(
    tx: &mut dyn Tx,
    trunk: ByocTrunk,
    limits: Limits,
) -> Result<Written<ByocTrunk>> {
    locked_account(tx, &trunk.account_sid, Lock::Update)
        .await?
        .accepts_writes()?;
    let held = count(tx, byoc::TRUNK_COUNT_OF_ACCOUNT, trunk.account_sid.as_str()).await?;
    limits.check(Limited::ListsPerAccount, held)?;
    check_references(tx, &trunk).await?;
    tx.execute(byoc::TRUNK_INSERT, byoc::trunk_values(&trunk))
        .await?;
    let change = trunk_set(&trunk);
    let audit = Audit::created(&trunk);
    Ok(Written::changing(trunk, vec![change]).audited([audit]))
}

fn trunk_set(t: &ByocTrunk) -> Change {
    Change::TrunkSet(t.sid.clone(), t.connection_policy_sid.clone())
}

/// Applies `patch` to a trunk of `account`.
pub async fn update_trunk(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ByocTrunkSid,
    patch: ByocTrunkPatch,
    now: i64,
) -> Result<Written<ByocTrunk>> {
    owner_accepts_writes(tx, account).await?;
    let mut trunk = locked_trunk(tx, account, sid, Lock::Update).await?;
    let before = trunk.clone();
    patch.apply(&mut trunk, now);
    if trunk == before {
        return Ok(Written::quiet(trunk));
    }
    check_references(tx, &trunk).await?;
    tx.execute(byoc::TRUNK_UPDATE, byoc::trunk_values(&trunk))
        .await?;
    let changes = match trunk.connection_policy_sid == before.connection_policy_sid {
        true => vec![],
        false => vec![trunk_set(&trunk)],
    };
    let audit = Audit::updated(&before, &trunk);
    Ok(Written::changing(trunk, changes).audited(audit))
}

/// Deletes a trunk of `account` that no SIP domain names.
pub async fn delete_trunk(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ByocTrunkSid,
) -> Result<Written<()>> {
    let trunk = locked_trunk(tx, account, sid, Lock::Update).await?;
    let used_by = first_sid(tx, byoc::DOMAIN_OF_TRUNK, sid.as_str(), SipDomainSid::parse).await?;
    may_delete_trunk(sid, used_by)?;
    tx.execute(byoc::TRUNK_DELETE, vec![sid.as_str().into()])
        .await?;
    let change = Change::TrunkRemoved(sid.clone());
    Ok(Written::changing((), vec![change]).audited([Audit::deleted(&trunk)]))
}

/// Creates `policy`, unless its account holds as many as it may.
pub async fn create_policy(
    tx: &mut dyn Tx,
    policy: ConnectionPolicy,
    limits: Limits,
) -> Result<Written<ConnectionPolicy>> {
    locked_account(tx, &policy.account_sid, Lock::Update)
        .await?
        .accepts_writes()?;
    let held = count(
        tx,
        byoc::POLICY_COUNT_OF_ACCOUNT,
        policy.account_sid.as_str(),
    )
    .await?;
    limits.check(Limited::ListsPerAccount, held)?;
    tx.execute(byoc::POLICY_INSERT, byoc::policy_insert(&policy))
        .await?;
    let audit = Audit::created(&policy);
    Ok(Written::quiet(policy).audited([audit]))
}

/// Renames a policy of `account`.
pub async fn update_policy(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ConnectionPolicySid,
    name: PolicyName,
    now: i64,
) -> Result<Written<ConnectionPolicy>> {
    owner_accepts_writes(tx, account).await?;
    let mut policy = locked_policy(tx, account, sid, Lock::Update).await?;
    let before = policy.clone();
    name.apply(&mut policy, now);
    if policy != before {
        tx.execute(byoc::POLICY_UPDATE, byoc::policy_update(&policy))
            .await?;
    }
    let audit = Audit::updated(&before, &policy);
    Ok(Written::quiet(policy).audited(audit))
}

/// Deletes a policy of `account` that no trunk names, with its targets.
pub async fn delete_policy(
    tx: &mut dyn Tx,
    account: &AccountSid,
    sid: &ConnectionPolicySid,
) -> Result<Written<()>> {
    let policy = locked_policy(tx, account, sid, Lock::Update).await?;
    let used_by = first_sid(tx, byoc::TRUNK_OF_POLICY, sid.as_str(), ByocTrunkSid::parse).await?;
    may_delete_policy(sid, used_by)?;
    let targets = tx
        .query(byoc::TARGETS_OF_POLICY, vec![sid.as_str().into()])
        .await?;
    let changes = targets
        .into_iter()
        .map(|r| {
            Ok(Change::RouteTargetRemoved(
                sid.clone(),
                r.sid(0, PolicyTargetSid::parse)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    tx.execute(byoc::POLICY_DELETE, vec![sid.as_str().into()])
        .await?;
    Ok(Written::changing((), changes).audited([Audit::deleted(&policy)]))
}

fn target_set(t: &PolicyTarget) -> Change {
    Change::RouteTargetSet(
        t.policy_sid.clone(),
        RouteTarget {
            sid: t.sid.clone(),
            uri: t.target.clone(),
            priority: t.priority,
            weight: t.weight,
            enabled: t.enabled,
        },
    )
}

/// Adds a target to a policy of `account`, unless the policy or the account holds as many as it
/// may. The account row is locked for update first, so two creates for one account (on any
/// nodes) count one after the other.
pub async fn create_target(
    tx: &mut dyn Tx,
    account: &AccountSid,
    policy: &ConnectionPolicySid,
    new: TargetPatch,
    sid: PolicyTargetSid,
    now: i64,
    limits: Limits,
) -> Result<Written<PolicyTarget>> {
    locked_account(tx, account, Lock::Update)
        .await?
        .accepts_writes()?;
    let policy = locked_policy(tx, account, policy, Lock::Update).await?;
    let held = count(tx, byoc::TARGET_COUNT, policy.sid.as_str()).await?;
    limits.check(Limited::TargetsPerPolicy, held)?;
    let held = count(tx, byoc::TARGET_COUNT_OF_ACCOUNT, account.as_str()).await?;
    limits.check(Limited::TargetsPerAccount, held)?;
    let target = new.into_target(sid, &policy, now);
    tx.execute(byoc::TARGET_INSERT, byoc::target_insert(&target))
        .await?;
    let change = target_set(&target);
    let audit = Audit::created(&target);
    Ok(Written::changing(target, vec![change]).audited([audit]))
}

async fn locked_target(
    tx: &mut dyn Tx,
    account: &AccountSid,
    policy: &ConnectionPolicySid,
    sid: &PolicyTargetSid,
) -> Result<PolicyTarget> {
    let params = byoc::target_by_sid(account, policy, sid);
    let rows = tx
        .query_locked(byoc::TARGET_BY_SID, params, Lock::Update)
        .await?;
    match rows.into_iter().next() {
        Some(r) => byoc::target(r),
        None => Err(StoreError::NotFound(Missing::PolicyTarget(
            policy.clone(),
            sid.clone(),
        ))),
    }
}

/// Applies `patch` to a target of a policy of `account`.
pub async fn update_target(
    tx: &mut dyn Tx,
    account: &AccountSid,
    policy: &ConnectionPolicySid,
    sid: &PolicyTargetSid,
    patch: TargetPatch,
    now: i64,
) -> Result<Written<PolicyTarget>> {
    owner_accepts_writes(tx, account).await?;
    let mut target = locked_target(tx, account, policy, sid).await?;
    let before = target.clone();
    patch.apply(&mut target, now);
    if target == before {
        return Ok(Written::quiet(target));
    }
    tx.execute(byoc::TARGET_UPDATE, byoc::target_update(&target))
        .await?;
    let change = target_set(&target);
    let audit = Audit::updated(&before, &target);
    Ok(Written::changing(target, vec![change]).audited(audit))
}

/// Deletes a target of a policy of `account`.
pub async fn delete_target(
    tx: &mut dyn Tx,
    account: &AccountSid,
    policy: &ConnectionPolicySid,
    sid: &PolicyTargetSid,
) -> Result<Written<()>> {
    let target = locked_target(tx, account, policy, sid).await?;
    tx.execute(byoc::TARGET_DELETE, vec![sid.as_str().into()])
        .await?;
    let change = Change::RouteTargetRemoved(policy.clone(), sid.clone());
    Ok(Written::changing((), vec![change]).audited([Audit::deleted(&target)]))
}

/// A SIP domain of `account` may name only a trunk of `account` (which is then share-locked).
pub async fn check_domain_trunk(
    tx: &mut dyn Tx,
    account: &AccountSid,
    trunk: Option<&str>,
) -> Result<()> {
    let Some(raw) = trunk else { return Ok(()) };
    let sid = ByocTrunkSid::parse(raw)
        .ok_or_else(|| StoreError::Internal(format!("stored trunk SID {raw:?} is malformed")))?;
    locked_trunk(tx, account, &sid, Lock::Share)
        .await
        .map(|_| ())
}

/// A trunk that names the SIP domain `domain` as its From domain, if any.
pub async fn trunk_from_domain(
    tx: &mut dyn Tx,
    domain: &SipDomainSid,
) -> Result<Option<ByocTrunkSid>> {
    first_sid(
        tx,
        byoc::TRUNK_OF_FROM_DOMAIN,
        domain.as_str(),
        ByocTrunkSid::parse,
    )
    .await
}

/// The store's operations on BYOC trunks, connection policies and their targets.
mod operations {
    use crate::domain::{
        ByocTrunk, ByocTrunkPatch, ConnectionPolicy, PolicyName, PolicyTarget, TargetPatch,
    };
    use crate::sid::{AccountSid, ByocTrunkSid, ConnectionPolicySid, PolicyTargetSid};
    use crate::store::backend::Tx;
    use crate::store::engine::{run_read, run_write};
    use crate::store::queries::byoc;
    use crate::store::{Missing, PageQuery, Result, Store, StoreError, reads};

    /// A page of the targets of a policy of `account`; 404 when the policy is not the
    /// account's.
    async fn targets(
        tx: &mut dyn Tx,
        (account, policy, page): (AccountSid, ConnectionPolicySid, PageQuery),
    ) -> Result<Vec<PolicyTarget>> {
        let params = byoc::policy_by_sid(&account, &policy);
        if reads::one(tx, byoc::POLICY_BY_SID, params, byoc::policy)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound(Missing::ConnectionPolicy(policy)));
        }
        reads::all(tx, byoc::target_list(&policy, &page), byoc::target).await
    }

    impl Store {
        /// Creates a BYOC trunk (its policy and From domain must be the account's).
        pub async fn create_byoc_trunk(
            &self,
            account: &AccountSid,
            new: ByocTrunkPatch,
        ) -> Result<ByocTrunk> {
            let (now, millis) = self.now();
            let trunk = new.into_trunk(ByocTrunkSid::generate_at(millis), account.clone(), now);
            let limits = &self.limits;
            run_write!(self, (trunk, limits), |tx| super::create_trunk(
                tx, trunk, limits
            ))
        }

        /// One BYOC trunk.
        pub async fn get_byoc_trunk(
            &self,
            account: &AccountSid,
            sid: &ByocTrunkSid,
        ) -> Result<Option<ByocTrunk>> {
            let params = byoc::trunk_by_sid(account, sid);
            self.read_one(byoc::TRUNK_BY_SID, params, byoc::trunk).await
        }

        /// A page of BYOC trunks.
        pub async fn list_byoc_trunks(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<ByocTrunk>> {
            self.read_all(byoc::trunk_list(account, page), byoc::trunk)
                .await
        }

        /// Updates a BYOC trunk.
        pub async fn update_byoc_trunk(
            &self,
            account: &AccountSid,
            sid: &ByocTrunkSid,
            patch: ByocTrunkPatch,
        ) -> Result<ByocTrunk> {
            let (now, _) = self.now();
            run_write!(self, (account, sid, patch), |tx| {
                super::update_trunk(tx, &account, &sid, patch, now)
            })
        }

        /// Deletes a BYOC trunk that no SIP domain names.
        pub async fn delete_byoc_trunk(
            &self,
            account: &AccountSid,
            sid: &ByocTrunkSid,
        ) -> Result<()> {
            run_write!(self, (account, sid), |tx| super::delete_trunk(
                tx, &account, &sid
            ))
        }

        /// Creates a connection policy.
        pub async fn create_connection_policy(
            &self,
            account: &AccountSid,
            name: PolicyName,
        ) -> Result<ConnectionPolicy> {
            let (now, millis) = self.now();
            let sid = ConnectionPolicySid::generate_at(millis);
            let policy = name.into_policy(sid, account.clone(), now);
            let limits = &self.limits;
            run_write!(self, (policy, limits), |tx| super::create_policy(
                tx, policy, limits
            ))
        }

        /// One connection policy.
        pub async fn get_connection_policy(
            &self,
            account: &AccountSid,
            sid: &ConnectionPolicySid,
        ) -> Result<Option<ConnectionPolicy>> {
            let params = byoc::policy_by_sid(account, sid);
            self.read_one(byoc::POLICY_BY_SID, params, byoc::policy)
                .await
        }

        /// A page of connection policies.
        pub async fn list_connection_policies(
            &self,
            account: &AccountSid,
            page: &PageQuery,
        ) -> Result<Vec<ConnectionPolicy>> {
            self.read_all(byoc::policy_list(account, page), byoc::policy)
                .await
        }

        /// Renames a connection policy.
        pub async fn update_connection_policy(
            &self,
            account: &AccountSid,
            sid: &ConnectionPolicySid,
            name: PolicyName,
        ) -> Result<ConnectionPolicy> {
            let (now, _) = self.now();
            run_write!(self, (account, sid, name), |tx| {
                super::update_policy(tx, &account, &sid, name, now)
            })
        }

        /// Deletes a connection policy that no trunk names, with its targets.
        pub async fn delete_connection_policy(
            &self,
            account: &AccountSid,
            sid: &ConnectionPolicySid,
        ) -> Result<()> {
            run_write!(self, (account, sid), |tx| super::delete_policy(
                tx, &account, &sid
            ))
        }

        /// Adds a target to a connection policy.
        pub async fn create_policy_target(
            &self,
            account: &AccountSid,
            policy: &ConnectionPolicySid,
            new: TargetPatch,
        ) -> Result<PolicyTarget> {
            new.check_outbound(&self.outbound)?;
            let (now, millis) = self.now();
            let sid = PolicyTargetSid::generate_at(millis);
            let limits = &self.limits;
            run_write!(self, (account, policy, new, sid, limits), |tx| {
                super::create_target(tx, &account, &policy, new, sid, now, limits)
            })
        }

        /// One target of a policy.
        pub async fn get_policy_target(
            &self,
            account: &AccountSid,
            policy: &ConnectionPolicySid,
            sid: &PolicyTargetSid,
        ) -> Result<Option<PolicyTarget>> {
            let params = byoc::target_by_sid(account, policy, sid);
            self.read_one(byoc::TARGET_BY_SID, params, byoc::target)
                .await
        }

        /// A page of a policy's targets; 404 when the policy is not the account's.
        pub async fn list_policy_targets(
            &self,
            account: &AccountSid,
            policy: &ConnectionPolicySid,
            page: &PageQuery,
        ) -> Result<Vec<PolicyTarget>> {
            let key = (account.clone(), policy.clone(), page.clone());
            run_read!(self, |tx| targets(tx, key))
        }

        /// Updates a target of a policy.
        pub async fn update_policy_target(
            &self,
            account: &AccountSid,
            policy: &ConnectionPolicySid,
            sid: &PolicyTargetSid,
            patch: TargetPatch,
        ) -> Result<PolicyTarget> {
            patch.check_outbound(&self.outbound)?;
            let (now, _) = self.now();
            run_write!(self, (account, policy, sid, patch), |tx| {
                super::update_target(tx, &account, &policy, &sid, patch, now)
            })
        }

        /// Deletes a target of a policy.
        pub async fn delete_policy_target(
            &self,
            account: &AccountSid,
            policy: &ConnectionPolicySid,
            sid: &PolicyTargetSid,
        ) -> Result<()> {
            run_write!(self, (account, policy, sid), |tx| {
                super::delete_target(tx, &account, &policy, &sid)
            })
        }
    }
}
