//! What a committed write changes in recognition, as one value: the storage writer names it, the
//! table applies it ([`super::RecognitionWriter::apply`]), the initial load is built from it (every
//! stored row read as the change that would have put it there), and the cluster's change log
//! stores it serialised ([`Change::encode`], [`Change::decode`]).
//!
//! The serialised form is JSON, as serde writes the enum: `{"mapping_set":["10.0.0.0/8","SD…"]}`,
//! the kind in `snake_case`, SIDs and networks as text, a sealed secret as base64 of its sealed
//! bytes (never opened: the log holds it exactly as the table does). It is the log's format, so
//! it stays readable across versions: a kind is never renamed and its fields are never reordered;
//! a new field of `Target` or `RouteTarget` comes with a default (serde ignores fields it does
//! not know, so an older node reads a newer node's struct); a kind whose payload must change is a
//! new kind. A node that meets a kind it does not know (written by a newer version) reloads its
//! table from the database instead (`store::postgres::feed`).

use serde::{Deserialize, Serialize};

use super::{RouteTarget, Secret, Target};
use crate::domain::{AuthKind, MappedList, Network};
use crate::sid::{
    AclSid, ByocTrunkSid, ConnectionPolicySid, CredentialListSid, PolicyTargetSid, SipDomainSid,
};

/// A change to what recognition knows, produced by a committed write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A domain was created or renamed.
    DomainSet(Target),
    /// A domain was deleted.
    DomainRemoved(SipDomainSid),
    /// A network was mapped (or re-pointed) to a domain.
    MappingSet(Network, SipDomainSid),
    /// A network's mapping was deleted.
    MappingRemoved(Network),
    /// A network was added to an IP access control list.
    AclNetworkAdded(AclSid, Network),
    /// A network was removed from an IP access control list.
    AclNetworkRemoved(AclSid, Network),
    /// A credential (list, username, sealed password) was created or given a new password.
    CredentialSet(CredentialListSid, String, Secret),
    /// A credential was removed from a credential list.
    CredentialRemoved(CredentialListSid, String),
    /// A list was mapped to a domain.
    AuthMapped(SipDomainSid, AuthKind, MappedList),
    /// A list was unmapped from a domain.
    AuthUnmapped(SipDomainSid, AuthKind, MappedList),
    /// A BYOC trunk was created or changed: the connection policy it names, if any.
    TrunkSet(ByocTrunkSid, Option<ConnectionPolicySid>),
    /// A BYOC trunk was deleted.
    TrunkRemoved(ByocTrunkSid),
    /// A target of a connection policy was created or changed.
    RouteTargetSet(ConnectionPolicySid, RouteTarget),
    /// A target was deleted from a connection policy.
    RouteTargetRemoved(ConnectionPolicySid, PolicyTargetSid),
}

impl Change {
    /// The serialised form (see the module's documentation).
    pub fn encode(&self) -> String {
        // Every field serialises to a string, a number, a boolean or a sequence of them, so this
        // cannot fail; an empty string would be refused by `decode`.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A change from its serialised form; `Err` for a kind or a value this version does not
    /// know.
    pub fn decode(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::AccountSid;

    fn sid<T>(parse: fn(&str) -> Option<T>, prefix: &str) -> T {
        parse(&format!("{prefix}{:032x}", 7)).unwrap()
    }

    /// One change of every kind.
    fn every_kind() -> Vec<Change> {
        let domain = sid(SipDomainSid::parse, "SD");
        let acl = sid(AclSid::parse, "AL");
        let cl = sid(CredentialListSid::parse, "CL");
        let trunk = sid(ByocTrunkSid::parse, "BY");
        let policy = sid(ConnectionPolicySid::parse, "NY");
        let net = Network::new("10.1.0.0".parse().unwrap(), 16);
        let target = Target {
            domain_sid: domain.clone(),
            account_sid: sid(AccountSid::parse, "AC"),
            domain_name: "a.sip.twilio.com".into(),
            sip_registration: true,
            secure: false,
            byoc_trunk_sid: Some(trunk.clone()),
            voice: None,
        };
        let route = RouteTarget {
            sid: sid(PolicyTargetSid::parse, "NE"),
            uri: "sip:192.0.2.1;transport=tcp".into(),
            priority: 10,
            weight: 20,
            enabled: false,
        };
        vec![
            Change::DomainSet(target),
            Change::DomainRemoved(domain.clone()),
            Change::MappingSet(net, domain.clone()),
            Change::MappingRemoved(net),
            Change::AclNetworkAdded(acl.clone(), net),
            Change::AclNetworkRemoved(acl.clone(), net),
            Change::CredentialSet(
                cl.clone(),
                "alice".into(),
                Secret::sealed(&[0, 1, 254, 255]),
            ),
            Change::CredentialRemoved(cl.clone(), "alice".into()),
            Change::AuthMapped(domain.clone(), AuthKind::CallsAcl, MappedList::Acl(acl)),
            Change::AuthUnmapped(
                domain,
                AuthKind::RegistrationCredentials,
                MappedList::Credentials(cl),
            ),
            Change::TrunkSet(trunk.clone(), Some(policy.clone())),
            Change::TrunkSet(trunk.clone(), None),
            Change::TrunkRemoved(trunk),
            Change::RouteTargetSet(policy.clone(), route),
            Change::RouteTargetRemoved(policy, sid(PolicyTargetSid::parse, "NE")),
        ]
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        for change in every_kind() {
            let text = change.encode();
            assert_eq!(Change::decode(&text).unwrap(), change, "{text}");
        }
    }

    #[test]
    fn the_serialised_form_is_stable() {
        let net = Network::new("10.1.0.0".parse().unwrap(), 16);
        let domain = sid(SipDomainSid::parse, "SD");
        assert_eq!(
            Change::MappingSet(net, domain).encode(),
            format!(r#"{{"mapping_set":["10.1.0.0/16","SD{:032x}"]}}"#, 7)
        );
        let sealed = Change::CredentialSet(
            sid(CredentialListSid::parse, "CL"),
            "alice".into(),
            Secret::sealed(b"sealed"),
        );
        // The password stays sealed: the log holds the sealed bytes, never the password.
        assert!(
            sealed.encode().ends_with(r#""alice","c2VhbGVk"]}"#),
            "{}",
            sealed.encode()
        );
        // A newer version's field of a known struct is ignored; an unknown kind is refused.
        let mut text = every_kind()[0].encode();
        text.insert_str(text.len() - 2, r#","sip_edge_region":"eu""#);
        assert_eq!(Change::decode(&text).unwrap(), every_kind()[0]);
        assert!(Change::decode(r#"{"call_set":["CA1"]}"#).is_err());
    }

    #[test]
    fn values_that_do_not_parse_are_refused() {
        for text in [
            r#"{"mapping_removed":"10.1.0.1/16"}"#,
            r#"{"mapping_removed":"10.1.0.0/33"}"#,
            r#"{"domain_removed":"AC00000000000000000000000000000007"}"#,
            r#"{"auth_mapped":["SD00000000000000000000000000000007","calls_acl","SD00000000000000000000000000000007"]}"#,
            r#"{"credential_set":["CL00000000000000000000000000000007","alice","not base64!"]}"#,
            "",
            "[]",
        ] {
            assert!(Change::decode(text).is_err(), "{text}");
        }
    }
}
