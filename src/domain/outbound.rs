//! Where sipmap may send on a tenant's behalf: the operator's outbound policy, one rule for every
//! destination a tenant chooses (a target's address, and so its probes and the requests routed
//! to it; later the webhooks and status callbacks of a trunk). Whoever contacts a destination
//! chosen by a tenant asks [`OutboundPolicy::check`] first.
//!
//! The rules are networks that allow or deny. The most specific network containing an address
//! decides (of two equal ones, the operator's over a built-in one, then deny over allow). Built
//! in: link-local addresses are denied (`169.254.0.0/16`, where cloud metadata services answer,
//! and `fe80::/10`), and, unless the operator names networks to allow (`--outbound-allow`),
//! everything else is allowed (`0.0.0.0/0`, `::/0`), so a target on 127.0.0.1 works out of the
//! box. With `--outbound-allow`, only its networks are allowed (minus `--outbound-deny` and the
//! link-local ones it does not name). An IPv4-mapped IPv6 address is judged as its IPv4 address,
//! and a network written in that form (`::ffff:10.0.0.0/104`) as the IPv4 network it maps.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address with its host bits cleared, and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network of `addr` (IPv4-mapped addresses as IPv4) with `prefix` bits; `None` if the
    /// prefix is longer than the family's.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() && prefix >= 96 => {
                (IpAddr::V4(v6.to_ipv4_mapped()?), prefix - 96)
            }
            other => (other, prefix),
        };
        let addr = match addr {
            IpAddr::V4(v4) if prefix <= 32 => {
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix)))
            }
            IpAddr::V6(v6) if prefix <= 128 => {
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix)))
            }
            _ => return None,
        };
        Some(Self { addr, prefix })
    }

    /// Whether `ip` (IPv4-mapped or not) is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDRESS/PREFIX`, or an address alone (the network of that one address).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP network (e.g. 10.0.0.0/8 or fd00::/8)"))?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => full,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= full)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {full}"))?,
        };
        Self::new(addr, prefix).ok_or_else(|| format!("{s:?} is not an IP network"))
    }
}

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    /// sipmap's own.
    BuiltIn,
    /// The operator's `--outbound-allow` or `--outbound-deny`.
    Operator,
}

/// One rule: a network that is allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    net: Cidr,
    allow: bool,
    origin: Origin,
}

/// The link-local networks, denied unless the operator allows them.
const LINK_LOCAL: [(IpAddr, u8); 2] = [
    (IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16),
    (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10),
];

/// The operator's outbound policy (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Most specific first; of equal ones, the operator's first, then denials.
    rules: Vec<Rule>,
    /// Whether the operator named networks to allow (then nothing else is).
    allow_list: bool,
}

impl Default for OutboundPolicy {
    /// Everything but link-local addresses.
    fn default() -> Self {
        Self::new(&[], &[])
    }
}

/// Why an address is refused: the rule that refuses it, or none (outside every allowed network).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    /// The address.
    pub ip: IpAddr,
    rule: Option<Rule>,
}

/// Which rule refuses an address (worded for clients by the error catalogue, `error.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyingRule {
    /// A built-in link-local network the operator did not allow.
    LinkLocal(Cidr),
    /// A network of `--outbound-deny`.
    Denied(Cidr),
    /// None: the address is outside every network of `--outbound-allow`.
    OutsideAllowList,
}

impl Denied {
    /// The rule that refuses the address.
    pub fn rule(&self) -> DenyingRule {
        match self.rule {
            Some(Rule {
                net,
                origin: Origin::BuiltIn,
                ..
            }) => DenyingRule::LinkLocal(net),
            Some(Rule { net, .. }) => DenyingRule::Denied(net),
            None => DenyingRule::OutsideAllowList,
        }
    }
}

impl OutboundPolicy {
    /// The policy of the operator's `allow` and `deny` networks, with the built-in rules.
    pub fn new(allow: &[Cidr], deny: &[Cidr]) -> Self {
        let operator = |nets: &[Cidr], allow: bool| {
            nets.iter()
                .map(move |net| Rule {
                    net: *net,
                    allow,
                    origin: Origin::Operator,
                })
                .collect::<Vec<_>>()
        };
        let mut rules = operator(allow, true);
        rules.extend(operator(deny, false));
        rules.extend(LINK_LOCAL.iter().filter_map(|(addr, prefix)| {
            Some(Rule {
                net: Cidr::new(*addr, *prefix)?,
                allow: false,
                origin: Origin::BuiltIn,
            })
        }));
        if allow.is_empty() {
            for any in [
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ] {
                rules.extend(Cidr::new(any, 0).map(|net| Rule {
                    net,
                    allow: true,
                    origin: Origin::BuiltIn,
                }));
            }
        }
        rules.sort_by_key(|r| {
            (
                std::cmp::Reverse(r.net.prefix),
                std::cmp::Reverse(r.origin),
                r.allow,
            )
        });
        Self {
            rules,
            allow_list: !allow.is_empty(),
        }
    }

    /// Whether sipmap may send to `ip` for a tenant, and if not, why.
    pub fn check(&self, ip: IpAddr) -> Result<(), Denied> {
        let ip = ip.to_canonical();
        match self.rules.iter().find(|r| r.net.contains(ip)) {
            Some(r) if r.allow => Ok(()),
            rule => Err(Denied {
                ip,
                rule: rule.copied(),
            }),
        }
    }

    /// Whether sipmap may send to `ip` for a tenant.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.check(ip).is_ok()
    }

    /// Whether this is the default policy (nothing but link-local denied).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The operator's rules, for a log line: `allow 10.0.0.0/8, deny 10.1.0.0/16`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .rules
            .iter()
            .filter(|r| r.origin == Origin::Operator)
            .map(|r| format!("{} {}", if r.allow { "allow" } else { "deny" }, r.net))
            .collect();
        if !self.allow_list {
            parts.push("allow the rest".into());
        }
        parts.push("deny link-local unless allowed".into());
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ok(p: &OutboundPolicy, ip: &str) -> bool {
        p.allows(ip.parse().unwrap())
    }

    #[test]
    fn by_default_everything_but_link_local_in_any_spelling() {
        let p = OutboundPolicy::default();
        for allowed in ["127.0.0.1", "10.1.2.3", "203.0.113.9", "::1", "2001:db8::1"] {
            assert!(ok(&p, allowed), "{allowed}");
        }
        for denied in [
            "169.254.169.254",
            "169.254.0.1",
            "::ffff:169.254.169.254",
            "::ffff:a9fe:a9fe",
            "fe80::1",
            "febf::1",
        ] {
            assert!(!ok(&p, denied), "{denied}");
        }
        let why = p
            .check("::ffff:169.254.169.254".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            why.to_string(),
            "169.254.169.254 is link-local (169.254.0.0/16), refused unless the operator allows \
             it (--outbound-allow)"
        );
        assert!(p.is_default());
    }

    #[test]
    fn the_most_specific_rule_decides() {
        let p = OutboundPolicy::new(&[], &nets(&["10.0.0.0/8", "127.0.0.0/8"]));
        assert!(!ok(&p, "10.9.9.9") && !ok(&p, "127.0.0.1") && !ok(&p, "::ffff:10.0.0.1"));
        assert!(ok(&p, "192.0.2.1") && ok(&p, "::1"));
        assert_eq!(
            p.check("10.9.9.9".parse().unwrap())
                .unwrap_err()
                .to_string(),
            "10.9.9.9 is in 10.0.0.0/8 (--outbound-deny)"
        );
        // An allow list: only its networks, minus what is denied inside them.
        let p = OutboundPolicy::new(
            &nets(&["10.0.0.0/8", "169.254.169.0/24", "2001:db8::/32"]),
            &nets(&["10.1.0.0/16"]),
        );
        assert!(ok(&p, "10.2.3.4") && ok(&p, "169.254.169.254") && ok(&p, "2001:db8::5"));
        assert!(!ok(&p, "10.1.2.3") && !ok(&p, "169.254.1.1") && !ok(&p, "192.0.2.1"));
        assert!(!ok(&p, "::1"));
        assert_eq!(
            p.check("192.0.2.1".parse().unwrap())
                .unwrap_err()
                .to_string(),
            "192.0.2.1 is outside every --outbound-allow network"
        );
        // Allowing exactly the link-local network overrides the built-in denial; denying and
        // allowing one network denies it.
        let p = OutboundPolicy::new(&nets(&["169.254.0.0/16", "fe80::/10", "0.0.0.0/0"]), &[]);
        assert!(ok(&p, "169.254.169.254") && ok(&p, "fe80::1") && ok(&p, "8.8.8.8"));
        let p = OutboundPolicy::new(&nets(&["10.0.0.0/8"]), &nets(&["10.0.0.0/8"]));
        assert!(!ok(&p, "10.0.0.1"));
    }

    #[test]
    fn networks_parse_in_every_spelling() {
        let c = |s: &str| s.parse::<Cidr>().map(|c| c.to_string());
        assert_eq!(c("10.1.2.3/8"), Ok("10.0.0.0/8".into()));
        assert_eq!(c("10.1.2.3"), Ok("10.1.2.3/32".into()));
        assert_eq!(c("::ffff:169.254.0.0/112"), Ok("169.254.0.0/16".into()));
        assert_eq!(c(" fd00::1/8 "), Ok("fd00::/8".into()));
        assert_eq!(c("0.0.0.0/0"), Ok("0.0.0.0/0".into()));
        for bad in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/-1",
            "example.com/8",
            "10/8",
        ] {
            assert!(c(bad).is_err(), "{bad}");
        }
        let p = OutboundPolicy::new(&nets(&["::ffff:10.0.0.0/104"]), &[]);
        assert!(ok(&p, "10.1.1.1") && !ok(&p, "11.0.0.1"));
        assert_eq!(
            p.describe(),
            "allow 10.0.0.0/8, deny link-local unless allowed"
        );
    }
}
