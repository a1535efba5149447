//! Source IP Mappings (`IB…`): an IP record pointed at a SIP domain.

use super::{Account, AccountStatus, Conflict, IpRecord, Refusal};
use crate::sid::{AccountSid, IpRecordSid, MappingSid, SipDomainSid};

/// A mapping as stored. The account is kept for scoping but never shown on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Its SID.
    pub sid: MappingSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// The mapped IP record; cannot change.
    pub ip_record_sid: IpRecordSid,
    /// The SIP domain that traffic from the record's network belongs to.
    pub sip_domain_sid: SipDomainSid,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

/// What storage knows, inside the write's transaction, about the table a new mapping would join.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingFacts {
    /// The mapping that maps the IP record already, if any.
    pub record_mapped_by: Option<MappingSid>,
    /// Whether the very same network is mapped already, by any account.
    pub network_taken: bool,
    /// The owner (and the owner's parent) of every mapped network that overlaps the new one.
    pub overlapping_owners: Vec<(AccountSid, Option<AccountSid>)>,
}

/// Whether `caller` may create mappings at all: only an active account may (asked before
/// anything else, so a closed account learns nothing about what it names).
pub fn may_create(caller: &Account) -> Result<(), Refusal> {
    if caller.status != AccountStatus::Active {
        return Err(Refusal::AccountNotActive(caller.sid.clone()));
    }
    Ok(())
}

/// Whether `caller` may map `record`: an active caller, one mapping per IP record, one per
/// network, and no overlap with a network mapped outside the caller's family (the account, its
/// parent, its subaccounts). Within a family networks may nest, and the most specific one wins.
pub fn may_map(caller: &Account, record: &IpRecord, facts: &MappingFacts) -> Result<(), Refusal> {
    may_create(caller)?;
    if let Some(mapping) = &facts.record_mapped_by {
        return Err(Conflict::RecordMapped {
            record: record.sid.clone(),
            mapping: mapping.clone(),
        }
        .into());
    }
    if facts.network_taken {
        return Err(Conflict::NetworkMapped {
            network: record.network(),
            record: record.sid.clone(),
        }
        .into());
    }
    let foreign = facts
        .overlapping_owners
        .iter()
        .any(|(owner, parent)| !caller.is_family_of(owner, parent.as_ref()));
    if foreign {
        return Err(Conflict::NetworkOverlaps {
            network: record.network(),
            record: record.sid.clone(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccountStatus;

    fn sid(n: u8) -> AccountSid {
        AccountSid::parse(&format!("AC{n:032x}")).unwrap()
    }

    fn account(n: u8, owner: Option<u8>) -> Account {
        Account::fixture(n, owner, AccountStatus::Active)
    }

    fn record(owner: u8) -> IpRecord {
        IpRecord {
            sid: IpRecordSid::parse("IL0000000000000000000000000000000a").unwrap(),
            account_sid: sid(owner),
            friendly_name: None,
            ip_address: "10.0.0.7".parse().unwrap(),
            cidr_prefix_length: 32,
            date_created: 0,
            date_updated: 0,
        }
    }

    #[test]
    fn overlap_is_allowed_only_within_the_family() {
        let sub = account(2, Some(1));
        let facts = |owners: Vec<(u8, Option<u8>)>| MappingFacts {
            overlapping_owners: owners
                .into_iter()
                .map(|(o, p)| (sid(o), p.map(sid)))
                .collect(),
            ..MappingFacts::default()
        };
        assert_eq!(may_map(&sub, &record(2), &facts(vec![])), Ok(()));
        assert_eq!(
            may_map(&sub, &record(2), &facts(vec![(1, None), (2, Some(1))])),
            Ok(()),
            "its parent's and its own networks may contain it"
        );
        for stranger in [(3, Some(1)), (4, None), (5, Some(4))] {
            assert!(
                matches!(
                    may_map(&sub, &record(2), &facts(vec![(1, None), stranger])),
                    Err(Refusal::Conflict(Conflict::NetworkOverlaps { .. }))
                ),
                "{stranger:?} is outside the family"
            );
        }
        let parent = account(1, None);
        assert_eq!(
            may_map(&parent, &record(1), &facts(vec![(2, Some(1))])),
            Ok(())
        );
    }

    #[test]
    fn one_mapping_per_record_and_per_network_come_first() {
        let a = account(1, None);
        let taken = MappingFacts {
            record_mapped_by: MappingSid::parse("IB0000000000000000000000000000000a"),
            network_taken: true,
            overlapping_owners: vec![(sid(9), None)],
        };
        assert!(matches!(
            may_map(&a, &record(1), &taken),
            Err(Refusal::Conflict(Conflict::RecordMapped { .. }))
        ));
        let taken = MappingFacts {
            record_mapped_by: None,
            ..taken
        };
        assert!(matches!(
            may_map(&a, &record(1), &taken),
            Err(Refusal::Conflict(Conflict::NetworkMapped { .. }))
        ));
        let mut closed = a.clone();
        closed.status = AccountStatus::Closed;
        assert!(matches!(
            may_map(&closed, &record(1), &MappingFacts::default()),
            Err(Refusal::AccountNotActive(_))
        ));
    }
}
