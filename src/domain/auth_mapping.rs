//! A SIP domain's authentication mappings: the IP access control lists and credential lists it
//! accepts calls and registrations with. A mapping has no SID of its own; it is named by the
//! list's (`AL…` or `CL…`), and shows the list's friendly name.

use super::{Conflict, Refusal};
use crate::sid::{AccountSid, AclSid, CredentialListSid, SipDomainSid};

/// What a list is mapped to a domain for (serialised as its stored form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AuthKind {
    /// An IP access control list, for calls (and every other request but REGISTER).
    #[serde(rename = "calls_acl")]
    CallsAcl,
    /// A credential list, for calls.
    #[serde(rename = "calls_credentials")]
    CallsCredentials,
    /// A credential list, for REGISTER.
    #[serde(rename = "registrations_credentials")]
    RegistrationCredentials,
}

impl AuthKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallsAcl => "calls_acl",
            Self::CallsCredentials => "calls_credentials",
            Self::RegistrationCredentials => "registrations_credentials",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::CallsAcl,
            Self::CallsCredentials,
            Self::RegistrationCredentials,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The list a mapping names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MappedList {
    /// An IP access control list.
    Acl(AclSid),
    /// A credential list.
    Credentials(CredentialListSid),
}

impl MappedList {
    /// The list's SID.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Acl(s) => s.as_str(),
            Self::Credentials(s) => s.as_str(),
        }
    }
}

/// A mapped list is serialised as its SID, whose prefix tells which kind of list it is.
impl serde::Serialize for MappedList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for MappedList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let sid = String::deserialize(d)?;
        match AclSid::parse(&sid) {
            Some(acl) => Ok(Self::Acl(acl)),
            None => CredentialListSid::parse_owned(sid)
                .map(Self::Credentials)
                .ok_or_else(|| serde::de::Error::custom("not a list's SID (AL… or CL…)")),
        }
    }
}

impl std::fmt::Display for MappedList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A list mapped to a domain, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthMapping {
    /// The domain.
    pub domain_sid: SipDomainSid,
    /// What the list is mapped for.
    pub kind: AuthKind,
    /// The list; its SID is the mapping's SID.
    pub list: MappedList,
    /// The owning account (of the domain and the list alike).
    pub account_sid: AccountSid,
    /// The list's friendly name.
    pub friendly_name: String,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

/// Whether `list` may be mapped to `domain` for a kind of authentication: not twice (Twilio's
/// 21231). Domain and list were found under the caller's account, so both are its own.
pub fn may_map(
    domain: &SipDomainSid,
    list: &MappedList,
    already_mapped: bool,
) -> Result<(), Refusal> {
    if already_mapped {
        return Err(Refusal::AlreadyMapped {
            list: list.clone(),
            domain: domain.clone(),
        });
    }
    Ok(())
}

/// Whether a list may be deleted: not while a domain maps it (the domain named is one of the
/// caller's, as lists map only to their own account's domains).
pub fn may_delete_list(list: &MappedList, mapped_to: Option<SipDomainSid>) -> Result<(), Refusal> {
    match mapped_to {
        None => Ok(()),
        Some(domain) => Err(Conflict::ListInUse {
            list: list.clone(),
            domain,
        }
        .into()),
    }
}

/// The domain's `auth_type`: `IP_ACL`, `CREDENTIAL_LIST`, both comma-separated, or none, from
/// whether access control lists and credential lists are mapped for calls.
pub fn auth_type(acl: bool, credentials: bool) -> Option<&'static str> {
    match (acl, credentials) {
        (true, true) => Some("IP_ACL,CREDENTIAL_LIST"),
        (true, false) => Some("IP_ACL"),
        (false, true) => Some("CREDENTIAL_LIST"),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_maps_once_and_blocks_its_deletion_while_mapped() {
        let domain = SipDomainSid::generate();
        let list = MappedList::Acl(AclSid::generate());
        assert!(may_map(&domain, &list, false).is_ok());
        assert!(matches!(
            may_map(&domain, &list, true),
            Err(Refusal::AlreadyMapped { .. })
        ));
        assert!(may_delete_list(&list, None).is_ok());
        assert!(matches!(
            may_delete_list(&list, Some(domain)),
            Err(Refusal::Conflict(Conflict::ListInUse { .. }))
        ));
    }

    #[test]
    fn auth_type_names_what_is_mapped_for_calls() {
        assert_eq!(auth_type(true, true), Some("IP_ACL,CREDENTIAL_LIST"));
        assert_eq!(auth_type(true, false), Some("IP_ACL"));
        assert_eq!(auth_type(false, true), Some("CREDENTIAL_LIST"));
        assert_eq!(auth_type(false, false), None);
    }
}
