//! Source IP Mappings (`IB…`): an IP record pointed at a SIP domain.

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
