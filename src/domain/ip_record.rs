//! IP Records (`IL…`): an IPv4 address and prefix length that traffic may come from.

use std::net::Ipv4Addr;

use super::{Conflict, Invalid, Params, Refusal, friendly_name, ipv4, prefix_length, required};
use crate::sid::{AccountSid, IpRecordSid, MappingSid};

/// An IPv4 network: the masked address and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    /// The address with host bits cleared.
    pub addr: u32,
    /// 1 to 32.
    pub prefix: u8,
}

impl Network {
    /// The network of `addr` with `prefix` bits (host bits cleared).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Self {
        Self {
            addr: u32::from(addr) & mask(prefix),
            prefix,
        }
    }
}

impl Network {
    /// The last address inside the network.
    pub fn last(&self) -> u32 {
        self.addr | !mask(self.prefix)
    }

    /// Whether the two networks share an address: for CIDR blocks, one contains the other.
    pub fn overlaps(&self, other: &Network) -> bool {
        self.addr <= other.last() && other.addr <= self.last()
    }

    /// Every strictly larger network that contains this one (prefix lengths 1 to `prefix - 1`).
    /// With the networks whose first address lies inside this one, they are all the networks
    /// that overlap it; storage looks both up by index.
    pub fn supernets(&self) -> impl Iterator<Item = Network> + '_ {
        (1..self.prefix).map(|p| Network {
            addr: self.addr & mask(p),
            prefix: p,
        })
    }
}

/// The netmask of a prefix length.
fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

/// A network's serialised form is its text, `10.0.0.0/8` (in recognition's change log).
impl serde::Serialize for Network {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Only a network as [`Network`]'s `Display` writes it: an address with its host bits clear and
/// a prefix length from 0 to 32.
impl<'de> serde::Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = text.split_once('/').and_then(|(addr, prefix)| {
            let addr: Ipv4Addr = addr.parse().ok()?;
            let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
            let net = Network::new(addr, prefix);
            (net.addr == u32::from(addr)).then_some(net)
        });
        parsed.ok_or_else(|| serde::de::Error::custom(format!("not a network: {text:?}")))
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.prefix)
    }
}

/// An IP record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRecord {
    /// Its SID.
    pub sid: IpRecordSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// Free text, at most 255 characters.
    pub friendly_name: Option<String>,
    /// The address as the client gave it.
    pub ip_address: Ipv4Addr,
    /// 1 to 32.
    pub cidr_prefix_length: u8,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

impl IpRecord {
    /// The network this record covers.
    pub fn network(&self) -> Network {
        Network::new(self.ip_address, self.cidr_prefix_length)
    }

    /// Whether the record may be deleted: not while a mapping references it.
    pub fn may_delete(&self, mapped_by: Option<MappingSid>) -> Result<(), Refusal> {
        match mapped_by {
            None => Ok(()),
            Some(mapping) => Err(Conflict::RecordInUse {
                record: self.sid.clone(),
                mapping,
            }
            .into()),
        }
    }
}

impl NewIpRecord {
    /// The record this creates, with the SID and time storage minted for it.
    pub fn into_record(self, sid: IpRecordSid, account_sid: AccountSid, now: i64) -> IpRecord {
        IpRecord {
            sid,
            account_sid,
            friendly_name: self.friendly_name,
            ip_address: self.ip_address,
            cidr_prefix_length: self.cidr_prefix_length,
            date_created: now,
            date_updated: now,
        }
    }
}

impl IpRecordPatch {
    /// Applies the sent fields to `r`; a patch that changes nothing leaves it as it is.
    pub fn apply(self, r: &mut IpRecord, now: i64) {
        if let Some(name) = self.friendly_name {
            r.friendly_name = Some(name);
            r.date_updated = now;
        }
    }
}

/// The validated parameters of a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIpRecord {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `IpAddress`.
    pub ip_address: Ipv4Addr,
    /// `CidrPrefixLength`, 32 when omitted.
    pub cidr_prefix_length: u8,
}

impl NewIpRecord {
    /// Validates `IpAddress`, `CidrPrefixLength` and `FriendlyName`.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        required(p, "IpAddress")?;
        let ip_address = ipv4(p, "IpAddress")?.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let cidr_prefix_length = prefix_length(p, "CidrPrefixLength")?.unwrap_or(32);
        Ok(Self {
            friendly_name: friendly_name(p, "FriendlyName", 255)?,
            ip_address,
            cidr_prefix_length,
        })
    }
}

/// The validated parameters of an update: only the friendly name can change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRecordPatch {
    /// `Some` when `FriendlyName` was sent.
    pub friendly_name: Option<String>,
}

impl IpRecordPatch {
    /// Validates `FriendlyName`.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        Ok(Self {
            friendly_name: friendly_name(p, "FriendlyName", 255)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    impl Params for HashMap<&str, &str> {
        fn get(&self, name: &str) -> Option<&str> {
            HashMap::get(self, name).copied()
        }
    }

    #[test]
    fn network_masks_host_bits() {
        let n = Network::new("10.2.3.4".parse().unwrap(), 30);
        assert_eq!(n.to_string(), "10.2.3.4/30");
        let n = Network::new("10.2.3.7".parse().unwrap(), 30);
        assert_eq!(n.to_string(), "10.2.3.4/30");
        let n = Network::new("255.255.255.255".parse().unwrap(), 1);
        assert_eq!(n.to_string(), "128.0.0.0/1");
    }

    #[test]
    fn overlap_is_containment_and_supernets_are_every_container() {
        let net = |s: &str, p| Network::new(s.parse().unwrap(), p);
        let a = net("10.1.2.0", 24);
        assert_eq!(
            a.last(),
            u32::from("10.1.2.255".parse::<Ipv4Addr>().unwrap())
        );
        assert!(a.overlaps(&net("10.1.2.7", 32)));
        assert!(a.overlaps(&net("10.0.0.0", 8)));
        assert!(net("0.0.0.0", 1).overlaps(&a));
        assert!(!a.overlaps(&net("10.1.3.0", 24)));
        assert!(!net("128.0.0.0", 1).overlaps(&a));
        let sup: Vec<Network> = net("10.1.2.0", 24).supernets().collect();
        assert_eq!(sup.len(), 23);
        assert_eq!(sup[0], net("0.0.0.0", 1));
        assert_eq!(sup[7], net("10.0.0.0", 8));
        assert!(sup.iter().all(|s| s.overlaps(&a) && s.prefix < 24));
        assert_eq!(net("1.2.3.4", 32).last(), net("1.2.3.4", 32).addr);
        assert_eq!(net("0.0.0.0", 1).last(), 0x7fff_ffff);
    }

    #[test]
    fn parse_applies_defaults_and_limits() {
        let p = HashMap::from([("IpAddress", "10.2.3.4")]);
        let r = NewIpRecord::parse(&p).unwrap();
        assert_eq!(r.cidr_prefix_length, 32);
        assert_eq!(r.friendly_name, None);
        for bad in [
            "10.0.0",
            "::1",
            "abc",
            "256.1.1.1",
            "010.1.1.1",
            " 10.1.1.1",
        ] {
            let p = HashMap::from([("IpAddress", bad)]);
            assert!(matches!(
                NewIpRecord::parse(&p),
                Err(Invalid::Value("IpAddress", _))
            ));
        }
        for bad in ["0", "33", "x", "-1", "1.5"] {
            let p = HashMap::from([("IpAddress", "10.0.0.1"), ("CidrPrefixLength", bad)]);
            assert!(matches!(
                NewIpRecord::parse(&p),
                Err(Invalid::Value("CidrPrefixLength", _))
            ));
        }
        let p = HashMap::from([("CidrPrefixLength", "8")]);
        assert_eq!(NewIpRecord::parse(&p), Err(Invalid::Missing("IpAddress")));
        let long = "x".repeat(256);
        let p = HashMap::from([("IpAddress", "10.0.0.1"), ("FriendlyName", long.as_str())]);
        assert!(NewIpRecord::parse(&p).is_err());
    }
}
