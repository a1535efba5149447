//! The resources and their rules, free of HTTP and SQL.
//!
//! Each submodule holds one resource: its stored form, the values a client may send, and the
//! validation that turns raw form parameters into those values ("parse, don't validate").
//!
//! An empty value (`Name=`) is read by one rule per kind of field, on every resource, as Twilio
//! does: a URL (`VoiceUrl`, …) or an optional reference (`ByocTrunkSid`, …) sent empty clears the
//! field, which becomes `null` ([`url`], [`sid_field`]); any other parameter (text such as
//! `FriendlyName`, `DomainName`, `Target`, `IpAddress` or `Password`, and numbers, booleans and
//! methods) sent empty counts as not sent ([`text`]): an update leaves the field as it is, a
//! create takes the default, and a required one is missing.

pub mod account;
pub mod alert;
pub mod api_key;
pub mod auth_mapping;
pub mod byoc;
pub mod call;
pub mod credential_list;
pub mod destination;
pub mod event;
pub mod ip_access_control_list;
pub mod ip_record;
pub mod mapping;
pub mod outbound;
pub mod sip_domain;
pub mod sip_list;

pub use account::{Account, AccountPatch, AccountStatus, NewAccount, StatusChange};
pub use alert::{Alert, AlertFilter, AlertRetention};
pub use api_key::{ApiKey, KeyName, NewApiKey};

use crate::sid::{
    AccountSid, ByocTrunkSid, ConnectionPolicySid, CredentialListSid, CredentialSid, IpRecordSid,
    MappingSid, SipDomainSid,
};
pub use auth_mapping::{AuthKind, AuthMapping, MappedList};
pub use byoc::{
    ByocTrunk, ByocTrunkPatch, ConnectionPolicy, PolicyName, PolicyTarget, TargetPatch,
};
pub use call::{
    BadTransition, Call, CallEvent, CallFilter, CallRefusal, CallRetention, CallStatus, CallUpdate,
    Direction, LogLevel, Notification, NotificationFilter, TimeRange,
};
pub use credential_list::{
    Credential, CredentialList, CredentialListName, CredentialPatch, NewCredential,
};
pub use destination::Destination;
pub use event::{
    Action, Actor, Audit, Audited, Event, EventFilter, EventRetention, MonitorRetention,
};
pub use ip_access_control_list::{AclName, IpAccessControlList, IpAddress, IpAddressPatch};
pub use ip_record::{IpRecord, IpRecordPatch, Network, NewIpRecord};
pub use mapping::Mapping;
pub use outbound::{Cidr, Denied, DenyingRule, OutboundPolicy};
pub use sip_domain::{SipDomain, SipDomainPatch, VoiceApp};
pub use sip_list::{ListName, SipList};

/// Read access to the request's form parameters, by their Twilio (PascalCase) names.
pub trait Params {
    /// The first value of `name`, if present.
    fn get(&self, name: &str) -> Option<&str>;
}

/// Why client input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A required parameter is absent or empty.
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// A parameter's value is not allowed.
    #[error("invalid parameter {0}: {1}")]
    Value(&'static str, Reason),
    /// A SIP domain name is not acceptable ([`Reason::NotUnder`] or [`Reason::BadLabels`]).
    #[error("invalid domain: {0}")]
    Domain(Reason),
}

/// Why a parameter's value is refused, with the values a client is told. The domain (and the
/// HTTP layer, for the parameters it reads itself) names the reason; the error catalogue
/// (`error.rs`) words it, so that every sentence a client reads is written in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Longer than `max` characters.
    TooLong {
        /// The most characters allowed.
        max: usize,
    },
    /// Shorter than `min` characters.
    TooShort {
        /// The fewest characters allowed.
        min: usize,
    },
    /// Not an absolute `http` or `https` URL.
    NotUrl(String),
    /// Not one of the values listed (as the client reads them: `GET, POST`).
    NotOneOf(String, &'static str),
    /// Not `true` or `false`.
    NotBoolean(String),
    /// Not an integer from `min` to `max` (at least `min`, without a `max`).
    NotInteger {
        /// The value sent.
        value: String,
        /// The smallest allowed.
        min: u64,
        /// The largest allowed, if any.
        max: Option<u64>,
    },
    /// Not a SID with `prefix`; `explained` says what one looks like.
    NotSid {
        /// The value sent.
        value: String,
        /// The SID prefix wanted.
        prefix: &'static str,
        /// Whether to add "(`prefix` followed by 32 hex digits)".
        explained: bool,
    },
    /// Not an IPv4 address in dotted decimal notation.
    NotIpv4(String),
    /// Not an IP address.
    NotIp(String),
    /// Not a SIP method (a token).
    NotSipMethod(String),
    /// Not a `sip:` or `sips:` URI (a Request-URI).
    NotSipUri(String),
    /// Not a `sip:` URI with a host (a target).
    NotTargetUri(String),
    /// A `sips:` target, which the edge cannot send to.
    SipsTarget(String),
    /// A target whose address the operator's outbound policy refuses.
    NotSendable {
        /// The target as sent.
        target: String,
        /// The rule that refuses it.
        denied: Denied,
    },
    /// Not a page token this list issued.
    NotPageToken(String),
    /// A password with a control character.
    ControlCharacters,
    /// A password without a digit.
    NoDigit,
    /// A password without both an upper-case and a lower-case letter.
    NotMixedCase,
    /// A username that is not 1 to `max` visible ASCII characters without `"`, `\` or `:`.
    BadUsername {
        /// The most characters allowed.
        max: usize,
    },
    /// A status change asked of a top-level account.
    TopLevelStatus,
    /// A closed account asked to reopen.
    Reopening,
    /// A SIP domain name that does not end with `.{suffix}`.
    NotUnder {
        /// The name sent.
        name: String,
        /// The suffix every name must end with.
        suffix: String,
    },
    /// A SIP domain name with a label that is not letters, digits and inner `-`.
    BadLabels(String),
    /// Not a date (`YYYY-MM-DD`) nor a date and time (`YYYY-MM-DDTHH:MM:SSZ`).
    NotDate(String),
}

impl Reason {
    /// [`Reason::NotInteger`] for the value `v`.
    pub fn integer(v: &str, min: u64, max: Option<u64>) -> Self {
        Self::NotInteger {
            value: v.to_owned(),
            min,
            max,
        }
    }
}

/// A write refused because it would break a uniqueness, reference or tenancy rule (409). SIDs
/// named here belong to the caller; another account's resources are never named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Deleting an IP record that a mapping references.
    #[error("IP record {record} is referenced by mapping {mapping}")]
    RecordInUse {
        /// The record.
        record: IpRecordSid,
        /// The mapping that references it.
        mapping: MappingSid,
    },
    /// Deleting a SIP domain that a mapping references.
    #[error("SIP domain {domain} is referenced by mapping {mapping}")]
    DomainInUse {
        /// The domain.
        domain: SipDomainSid,
        /// The mapping that references it.
        mapping: MappingSid,
    },
    /// Mapping an IP record that is mapped already.
    #[error("IP record {record} is mapped by {mapping}")]
    RecordMapped {
        /// The record.
        record: IpRecordSid,
        /// The mapping that maps it.
        mapping: MappingSid,
    },
    /// Mapping a network that is mapped already (by any account).
    #[error("network {network} of {record} is mapped")]
    NetworkMapped {
        /// The network.
        network: Network,
        /// The caller's record that covers it.
        record: IpRecordSid,
    },
    /// Mapping a network that overlaps one mapped by an account outside the caller's family.
    #[error("network {network} of {record} overlaps another account's network")]
    NetworkOverlaps {
        /// The network.
        network: Network,
        /// The caller's record that covers it.
        record: IpRecordSid,
    },
    /// Deleting an access control list or a credential list that a domain still maps.
    #[error("list {list} is mapped to SIP domain {domain}")]
    ListInUse {
        /// The list.
        list: MappedList,
        /// A domain that maps it.
        domain: SipDomainSid,
    },
    /// Deleting a connection policy that a BYOC trunk names.
    #[error("connection policy {policy} is used by trunk {trunk}")]
    PolicyInUse {
        /// The policy.
        policy: ConnectionPolicySid,
        /// A trunk that names it.
        trunk: ByocTrunkSid,
    },
    /// Deleting a BYOC trunk that a SIP domain names.
    #[error("trunk {trunk} is used by SIP domain {domain}")]
    TrunkInUse {
        /// The trunk.
        trunk: ByocTrunkSid,
        /// A domain that names it.
        domain: SipDomainSid,
    },
    /// Deleting a SIP domain that a BYOC trunk names as its From domain.
    #[error("SIP domain {domain} is the From domain of trunk {trunk}")]
    DomainIsFromDomain {
        /// The domain.
        domain: SipDomainSid,
        /// A trunk that names it.
        trunk: ByocTrunkSid,
    },
    /// Creating a credential whose username its list holds already.
    #[error("username {username} is taken in {list} by {credential}")]
    UsernameTaken {
        /// The list.
        list: CredentialListSid,
        /// The username.
        username: String,
        /// The credential that holds it.
        credential: CredentialSid,
    },
}

/// What a limit bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// IP access control lists, or credential lists, of one account.
    ListsPerAccount,
    /// IP addresses of one access control list.
    AddressesPerList,
    /// Credentials of one credential list.
    CredentialsPerList,
    /// Targets of one connection policy.
    TargetsPerPolicy,
    /// Targets of all the connection policies of one account.
    TargetsPerAccount,
    /// API keys of one account.
    KeysPerAccount,
}

/// How much one account may store of the resources the recognition table holds (the SIP security
/// family, BYOC trunks and connection policies), and of its API keys, so that no client can grow
/// them without bound.
/// Twilio documents 100 addresses per access control list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Access control lists, credential lists, BYOC trunks and connection policies per account
    /// (each).
    pub lists_per_account: u64,
    /// IP addresses per access control list.
    pub addresses_per_list: u64,
    /// Credentials per credential list.
    pub credentials_per_list: u64,
    /// Targets per connection policy.
    pub targets_per_policy: u64,
    /// Targets per account, all its connection policies together.
    pub targets_per_account: u64,
    /// API keys per account.
    pub keys_per_account: u64,
    /// How long, and how many, ended calls an account keeps.
    pub calls: CallRetention,
    /// How long, and how many, events (the audit log) an account keeps.
    pub events: EventRetention,
    /// How long, and how many, alerts (Monitor Alerts) an account keeps.
    pub alerts: AlertRetention,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            lists_per_account: 1000,
            addresses_per_list: 100,
            credentials_per_list: 1000,
            targets_per_policy: 100,
            targets_per_account: 1000,
            keys_per_account: 100,
            calls: CallRetention::default(),
            events: EventRetention::default(),
            alerts: AlertRetention::default(),
        }
    }
}

impl Limits {
    /// Whether one more may join the `held` already there.
    pub fn check(&self, what: Limited, held: u64) -> Result<(), Refusal> {
        let limit = match what {
            Limited::ListsPerAccount => self.lists_per_account,
            Limited::AddressesPerList => self.addresses_per_list,
            Limited::CredentialsPerList => self.credentials_per_list,
            Limited::TargetsPerPolicy => self.targets_per_policy,
            Limited::TargetsPerAccount => self.targets_per_account,
            Limited::KeysPerAccount => self.keys_per_account,
        };
        if held >= limit {
            tracing::warn!(?what, limit, "a write was refused at a configured limit");
            return Err(Refusal::LimitReached { what, limit });
        }
        Ok(())
    }
}

/// Why a rule refused a write: every typed refusal the domain can give. `error.rs` alone turns
/// them into Twilio's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A parameter's value is not allowed in the resource's current state.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A uniqueness, reference or tenancy rule.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The account the write belongs to is suspended or closed.
    #[error("account {0} is not active")]
    AccountNotActive(AccountSid),
    /// The SIP domain name is held by another domain (of any account).
    #[error("domain name {0} is taken")]
    DomainTaken(String),
    /// The SIP domain name lies under (or above) a name held by an account outside the owner's
    /// family.
    #[error("domain name {name} is {nesting:?} a name another family holds")]
    DomainNested {
        /// The name.
        name: String,
        /// How it meets the other family's name.
        nesting: sip_domain::Nesting,
    },
    /// The list is mapped to the domain already, for the same kind of authentication.
    #[error("{list} is mapped to {domain} already")]
    AlreadyMapped {
        /// The list.
        list: MappedList,
        /// The domain.
        domain: SipDomainSid,
    },
    /// One more would pass a configured limit.
    #[error("limit reached: {what:?} at most {limit}")]
    LimitReached {
        /// What is limited.
        what: Limited,
        /// The limit.
        limit: u64,
    },
    /// A call's state does not allow the write.
    #[error(transparent)]
    Call(#[from] call::CallRefusal),
}

/// A parameter's value when it was sent non-empty; an empty value counts as not sent.
pub fn text<'a>(p: &'a dyn Params, name: &str) -> Option<&'a str> {
    p.get(name).filter(|v| !v.is_empty())
}

/// A required, non-empty parameter.
pub fn required<'a>(p: &'a dyn Params, name: &'static str) -> Result<&'a str, Invalid> {
    text(p, name).ok_or(Invalid::Missing(name))
}

/// An optional friendly name of at most `max` characters (sent empty: not sent).
pub fn friendly_name(
    p: &dyn Params,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, Invalid> {
    match text(p, name) {
        None => Ok(None),
        Some(v) if v.chars().count() > max => Err(Invalid::Value(name, Reason::TooLong { max })),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// An optional absolute `http`/`https` URL; sent empty, it clears the field (`Some(None)`).
pub fn url(p: &dyn Params, name: &'static str) -> Result<Option<Option<String>>, Invalid> {
    match p.get(name) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(v) => {
            let rest = v
                .strip_prefix("https://")
                .or_else(|| v.strip_prefix("http://"));
            match rest {
                Some(r)
                    if !r.is_empty()
                        && !r.starts_with('/')
                        && v.len() <= 2048
                        && !v.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                {
                    Ok(Some(Some(v.to_owned())))
                }
                _ => Err(Invalid::Value(name, Reason::NotUrl(v.to_owned()))),
            }
        }
    }
}

/// An optional HTTP method, `GET` or `POST` (any case).
pub fn method(p: &dyn Params, name: &'static str) -> Result<Option<String>, Invalid> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("GET") => Ok(Some("GET".into())),
        Some(v) if v.eq_ignore_ascii_case("POST") => Ok(Some("POST".into())),
        Some(v) => Err(Invalid::Value(
            name,
            Reason::NotOneOf(v.to_owned(), "GET, POST"),
        )),
    }
}

/// An optional `true` or `false` (any case).
pub fn boolean(p: &dyn Params, name: &'static str) -> Result<Option<bool>, Invalid> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(Invalid::Value(name, Reason::NotBoolean(v.to_owned()))),
    }
}

/// An optional SID of kind `S` (checked by its parse, refused with its prefix); sent empty, it
/// clears the field (`Some(None)`).
pub fn sid_field<S: crate::sid::Sid>(
    p: &dyn Params,
    name: &'static str,
) -> Result<Option<Option<S>>, Invalid> {
    match p.get(name) {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(v) => match S::parse(v) {
            Some(sid) => Ok(Some(Some(sid))),
            None => Err(Invalid::Value(
                name,
                Reason::NotSid {
                    value: v.to_owned(),
                    prefix: S::PREFIX,
                    explained: true,
                },
            )),
        },
    }
}

/// An optional IPv4 address in dotted decimal notation (sent empty: not sent).
pub fn ipv4(p: &dyn Params, name: &'static str) -> Result<Option<std::net::Ipv4Addr>, Invalid> {
    match text(p, name) {
        None => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| Invalid::Value(name, Reason::NotIpv4(raw.to_owned()))),
    }
}

/// An optional CIDR prefix length, 1 to 32 (sent empty, not sent).
pub fn prefix_length(p: &dyn Params, name: &'static str) -> Result<Option<u8>, Invalid> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<u8>() {
            Ok(n @ 1..=32) => Ok(Some(n)),
            _ => Err(Invalid::Value(name, Reason::integer(v, 1, Some(32)))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P(&'static [(&'static str, &'static str)]);
    impl Params for P {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        }
    }

    #[test]
    fn an_empty_value_is_not_sent_unless_it_clears_a_url_or_a_reference() {
        let empty = P(&[
            ("FriendlyName", ""),
            ("IpAddress", ""),
            ("VoiceUrl", ""),
            ("ByocTrunkSid", ""),
            ("CidrPrefixLength", ""),
            ("VoiceMethod", ""),
            ("Secure", ""),
        ]);
        assert_eq!(text(&empty, "FriendlyName"), None);
        assert_eq!(friendly_name(&empty, "FriendlyName", 64), Ok(None));
        assert_eq!(ipv4(&empty, "IpAddress"), Ok(None));
        assert_eq!(prefix_length(&empty, "CidrPrefixLength"), Ok(None));
        assert_eq!(method(&empty, "VoiceMethod"), Ok(None));
        assert_eq!(boolean(&empty, "Secure"), Ok(None));
        assert_eq!(
            required(&empty, "FriendlyName"),
            Err(Invalid::Missing("FriendlyName"))
        );
        assert_eq!(url(&empty, "VoiceUrl"), Ok(Some(None)), "cleared");
        assert_eq!(
            sid_field::<crate::sid::ByocTrunkSid>(&empty, "ByocTrunkSid"),
            Ok(Some(None))
        );
        let absent = P(&[]);
        assert_eq!(url(&absent, "VoiceUrl"), Ok(None), "not sent");
        let sent = P(&[("FriendlyName", " "), ("IpAddress", "10.0.0.1")]);
        assert_eq!(text(&sent, "FriendlyName"), Some(" "));
        assert_eq!(
            friendly_name(&sent, "FriendlyName", 64),
            Ok(Some(" ".into()))
        );
        assert!(ipv4(&sent, "IpAddress").unwrap().is_some());
    }
}
