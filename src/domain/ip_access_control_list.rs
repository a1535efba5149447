//! SIP IP Access Control Lists (`AL…`) and their IP Addresses (`IP…`): the networks a SIP
//! domain accepts calls from without a password.

use std::net::Ipv4Addr;

use super::sip_list::{ListName, SipList};
use super::{
    Invalid, Limits, Network, Params, Refusal, friendly_name, ipv4, prefix_length, required,
};
use crate::sid::{AccountSid, AclAddressSid, AclSid};

/// An IP access control list as stored.
pub type IpAccessControlList = SipList<AclSid>;

/// The friendly name of a list's create or update: required, at most 255 characters.
pub type AclName = ListName<255>;

pub use super::sip_list::may_create_list;

/// An IP address (a network) of an access control list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddress {
    /// Its SID.
    pub sid: AclAddressSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// The list it belongs to.
    pub list_sid: AclSid,
    /// Required, at most 255 characters.
    pub friendly_name: String,
    /// The address as the client gave it.
    pub ip_address: Ipv4Addr,
    /// 1 to 32.
    pub cidr_prefix_length: u8,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

impl IpAddress {
    /// The network this address lets in.
    pub fn network(&self) -> Network {
        Network::new(self.ip_address, self.cidr_prefix_length)
    }
}

/// The validated parameters of an address's create (`friendly_name` and `ip_address` present)
/// or update (each field `Some` when sent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAddressPatch {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `IpAddress`.
    pub ip_address: Option<Ipv4Addr>,
    /// `CidrPrefixLength`.
    pub cidr_prefix_length: Option<u8>,
}

impl IpAddressPatch {
    /// Validates `FriendlyName` (at most 255 characters), `IpAddress` (IPv4, dotted decimal) and
    /// `CidrPrefixLength` (1 to 32). `FriendlyName` and `IpAddress` are required when `creating`.
    pub fn parse(p: &dyn Params, creating: bool) -> Result<Self, Invalid> {
        if creating {
            required(p, "FriendlyName")?;
            required(p, "IpAddress")?;
        }
        let ip_address = ipv4(p, "IpAddress")?;
        let cidr_prefix_length = prefix_length(p, "CidrPrefixLength")?;
        Ok(Self {
            friendly_name: friendly_name(p, "FriendlyName", 255)?,
            ip_address,
            cidr_prefix_length,
        })
    }

    /// The address a create makes, with the SID and time storage minted for it; the prefix
    /// defaults to the whole address.
    pub fn into_address(
        self,
        sid: AclAddressSid,
        list: &IpAccessControlList,
        now: i64,
    ) -> IpAddress {
        IpAddress {
            sid,
            account_sid: list.account_sid.clone(),
            list_sid: list.sid.clone(),
            friendly_name: self.friendly_name.unwrap_or_default(),
            ip_address: self.ip_address.unwrap_or(Ipv4Addr::UNSPECIFIED),
            cidr_prefix_length: self.cidr_prefix_length.unwrap_or(32),
            date_created: now,
            date_updated: now,
        }
    }

    /// Applies the sent fields to `a`.
    pub fn apply(self, a: &mut IpAddress, now: i64) {
        let before = a.clone();
        if let Some(name) = self.friendly_name {
            a.friendly_name = name;
        }
        if let Some(ip) = self.ip_address {
            a.ip_address = ip;
        }
        if let Some(prefix) = self.cidr_prefix_length {
            a.cidr_prefix_length = prefix;
        }
        if *a != before {
            a.date_updated = now;
        }
    }
}

/// Whether a list holding `held` addresses may take another.
pub fn may_add_address(held: u64, limits: &Limits) -> Result<(), Refusal> {
    limits.check(super::Limited::AddressesPerList, held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn p<'a>(pairs: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn lists_need_a_name_of_at_most_255_characters() {
        assert_eq!(
            AclName::parse(&p(&[])),
            Err(Invalid::Missing("FriendlyName"))
        );
        assert!(AclName::parse(&p(&[("FriendlyName", &"x".repeat(256))])).is_err());
        assert_eq!(
            AclName::parse(&p(&[("FriendlyName", "office")])).unwrap(),
            ListName::<255>("office".into())
        );
    }

    #[test]
    fn addresses_validate_and_default_to_the_whole_address() {
        let create = IpAddressPatch::parse(
            &p(&[("FriendlyName", "pbx"), ("IpAddress", "192.0.2.10")]),
            true,
        )
        .unwrap();
        let list =
            ListName::<255>("l".into()).into_list(AclSid::generate(), AccountSid::generate(), 5);
        let a = create.into_address(AclAddressSid::generate(), &list, 5);
        assert_eq!(a.cidr_prefix_length, 32);
        assert_eq!(a.network().to_string(), "192.0.2.10/32");
        assert_eq!(
            IpAddressPatch::parse(&p(&[("IpAddress", "192.0.2.1")]), true),
            Err(Invalid::Missing("FriendlyName"))
        );
        assert_eq!(
            IpAddressPatch::parse(&p(&[("FriendlyName", "x")]), true),
            Err(Invalid::Missing("IpAddress"))
        );
        for bad in ["::1", "10.0.0", "256.0.0.1", "x"] {
            assert!(IpAddressPatch::parse(&p(&[("IpAddress", bad)]), false).is_err());
        }
        for bad in ["0", "33", "-1", "x"] {
            assert!(IpAddressPatch::parse(&p(&[("CidrPrefixLength", bad)]), false).is_err());
        }
    }

    #[test]
    fn updates_change_what_was_sent_and_keep_the_rest() {
        let list =
            ListName::<255>("l".into()).into_list(AclSid::generate(), AccountSid::generate(), 5);
        let mut a = IpAddressPatch::parse(
            &p(&[
                ("FriendlyName", "pbx"),
                ("IpAddress", "192.0.2.10"),
                ("CidrPrefixLength", "24"),
            ]),
            true,
        )
        .unwrap()
        .into_address(AclAddressSid::generate(), &list, 5);
        IpAddressPatch::parse(&p(&[("IpAddress", "198.51.100.7")]), false)
            .unwrap()
            .apply(&mut a, 9);
        assert_eq!(a.network().to_string(), "198.51.100.0/24");
        assert_eq!((a.friendly_name.as_str(), a.date_updated), ("pbx", 9));
        IpAddressPatch::default().apply(&mut a, 11);
        assert_eq!(a.date_updated, 9, "an empty update changes nothing");
    }
}
