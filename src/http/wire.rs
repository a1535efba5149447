//! Each resource's wire identity, in one place: its route patterns, the URL or URI a view
//! shows, the path a list's envelope names, and the path a 404 names ([`missing_path`], which
//! is how a storage failure becomes an [`ApiError`]). The router, the views and the errors all
//! spell paths through these definitions.

use std::fmt::Display;

use crate::domain::AuthKind;
use crate::error::ApiError;
use crate::store::{Missing, StoreError};

/// A Voice v1 resource: `/v1/{collection}` and `/v1/{collection}/{Sid}`, belonging to the
/// account of the credentials. Views show absolute URLs; a 404 names the path relative to the
/// version (`/IpRecords/IL…`), as Twilio's product APIs do.
#[derive(Debug, Clone, Copy)]
pub struct V1Resource {
    /// The collection's path segment (`IpRecords`).
    pub collection: &'static str,
    /// The list envelope's key (`ip_records`).
    pub key: &'static str,
}

impl V1Resource {
    /// A resource at `/v1/{collection}` listed under `key`.
    pub const fn new(collection: &'static str, key: &'static str) -> Self {
        Self { collection, key }
    }

    /// The route of the collection.
    pub fn list_route(&self) -> String {
        format!("/v1/{}", self.collection)
    }

    /// The route of an instance (`{sid}` is the path parameter).
    pub fn instance_route(&self) -> String {
        format!("/v1/{}/{{sid}}", self.collection)
    }

    /// The absolute URL of the collection on `public_url`.
    pub fn list_url(&self, public_url: &str) -> String {
        format!("{public_url}/v1/{}", self.collection)
    }

    /// The absolute URL of an instance on `public_url`.
    pub fn url(&self, public_url: &str, sid: &impl Display) -> String {
        format!("{public_url}/v1/{}/{sid}", self.collection)
    }

    /// The path a 404 for an instance names.
    pub fn missing(&self, sid: &impl Display) -> String {
        format!("/{}/{sid}", self.collection)
    }
}

/// A Voice v1 resource under an instance of another: `/v1/{parent}/{ParentSid}/{collection}`
/// and `…/{collection}/{Sid}`. In routes the parent's SID is `{sid}` and the child's `{child}`.
#[derive(Debug, Clone, Copy)]
pub struct V1Child {
    /// The parent resource.
    pub parent: V1Resource,
    /// The collection's path segment below a parent instance (`Targets`).
    pub collection: &'static str,
    /// The list envelope's key (`targets`).
    pub key: &'static str,
}

impl V1Child {
    /// A resource at `{parent instance}/{collection}` listed under `key`.
    pub const fn new(parent: V1Resource, collection: &'static str, key: &'static str) -> Self {
        Self {
            parent,
            collection,
            key,
        }
    }

    /// The route of the collection.
    pub fn list_route(&self) -> String {
        format!("/v1/{}/{{sid}}/{}", self.parent.collection, self.collection)
    }

    /// The route of an instance.
    pub fn instance_route(&self) -> String {
        format!(
            "/v1/{}/{{sid}}/{}/{{child}}",
            self.parent.collection, self.collection
        )
    }

    /// The absolute URL of a parent's collection on `public_url`.
    pub fn list_url(&self, public_url: &str, parent: &impl Display) -> String {
        format!(
            "{}/{}",
            self.parent.url(public_url, parent),
            self.collection
        )
    }

    /// The absolute URL of an instance on `public_url`.
    pub fn url(&self, public_url: &str, parent: &impl Display, sid: &impl Display) -> String {
        format!("{}/{sid}", self.list_url(public_url, parent))
    }

    /// The path a 404 for an instance names, relative to the version.
    pub fn missing(&self, parent: &impl Display, sid: &impl Display) -> String {
        format!("{}/{}/{sid}", self.parent.missing(parent), self.collection)
    }

    /// The path a 404 for a parent's collection names.
    pub fn missing_list(&self, parent: &impl Display) -> String {
        format!("{}/{}", self.parent.missing(parent), self.collection)
    }
}

/// An API 2010 resource under an account:
/// `/2010-04-01/Accounts/{AccountSid}/{collection}.json` and `…/{collection}/{Sid}.json`. Views
/// and 404s name relative URIs with `.json`.
#[derive(Debug, Clone, Copy)]
pub struct V2010Resource {
    /// The collection's path below the account (`SIP/Domains`).
    pub collection: &'static str,
    /// The list envelope's key (`domains`).
    pub key: &'static str,
}

impl V2010Resource {
    /// A resource at `/2010-04-01/Accounts/{AccountSid}/{collection}.json` listed under `key`.
    pub const fn new(collection: &'static str, key: &'static str) -> Self {
        Self { collection, key }
    }

    /// The route of the collection (`{account}` is the path parameter).
    pub fn list_route(&self) -> String {
        format!("/2010-04-01/Accounts/{{account}}/{}.json", self.collection)
    }

    /// The route of an instance (`{account}` and `{sid}` with its `.json` are the parameters).
    pub fn instance_route(&self) -> String {
        format!(
            "/2010-04-01/Accounts/{{account}}/{}/{{sid}}",
            self.collection
        )
    }

    /// The URI of an account's collection.
    pub fn list_uri(&self, account: &impl Display) -> String {
        format!("/2010-04-01/Accounts/{account}/{}.json", self.collection)
    }

    /// The URI of an instance without `.json`, the base of its sub-resources' URIs.
    pub fn base(&self, account: &impl Display, sid: &impl Display) -> String {
        format!("/2010-04-01/Accounts/{account}/{}/{sid}", self.collection)
    }

    /// The URI of an instance.
    pub fn uri(&self, account: &impl Display, sid: &impl Display) -> String {
        format!("{}.json", self.base(account, sid))
    }
}

/// An API 2010 resource under an instance of another:
/// `…/{parent collection}/{ParentSid}/{collection}.json` and `…/{collection}/{Sid}.json`. In
/// routes the parent's SID is `{sid}` (as in the parent's own instance route, which the router
/// requires) and the child's is `{child}`, with its `.json`.
#[derive(Debug, Clone, Copy)]
pub struct V2010Child {
    /// The parent resource.
    pub parent: V2010Resource,
    /// The collection's path below a parent instance (`IpAddresses`,
    /// `Auth/Calls/CredentialListMappings`).
    pub collection: &'static str,
    /// The list envelope's key.
    pub key: &'static str,
}

impl V2010Child {
    /// A resource at `{parent instance}/{collection}.json` listed under `key`.
    pub const fn new(parent: V2010Resource, collection: &'static str, key: &'static str) -> Self {
        Self {
            parent,
            collection,
            key,
        }
    }

    /// The route of the collection.
    pub fn list_route(&self) -> String {
        format!(
            "/2010-04-01/Accounts/{{account}}/{}/{{sid}}/{}.json",
            self.parent.collection, self.collection
        )
    }

    /// The route of an instance.
    pub fn instance_route(&self) -> String {
        format!(
            "/2010-04-01/Accounts/{{account}}/{}/{{sid}}/{}/{{child}}",
            self.parent.collection, self.collection
        )
    }

    /// The URI of a parent's collection.
    pub fn list_uri(&self, account: &impl Display, parent: &impl Display) -> String {
        format!(
            "{}/{}.json",
            self.parent.base(account, parent),
            self.collection
        )
    }

    /// The URI of an instance.
    pub fn uri(&self, account: &impl Display, parent: &impl Display, sid: &impl Display) -> String {
        format!(
            "{}/{}/{sid}.json",
            self.parent.base(account, parent),
            self.collection
        )
    }
}

/// sipmap's own operator endpoint: which SIP domain a source address and Request-URI resolve
/// to (`http::ops`), as the router serves it and `sipmap resolve` asks for it.
pub const RESOLVE: &str = "/sipmap/v1/Resolve";

/// sipmap's own operator endpoint: a connection policy's targets' health over the last hour
/// (`http::target_health`).
pub const TARGET_HEALTH: &str = "/sipmap/v1/TargetHealth";

/// The SIP edge's recent decisions on this node (`http::decisions`), as the router serves them
/// and `sipmap trace` asks for them.
pub const DECISIONS: &str = "/sipmap/v1/Decisions";

/// Requests and refusals per domain per minute on this node (`http::decisions`).
pub const TRAFFIC: &str = "/sipmap/v1/Traffic";

/// Accounts themselves: `/2010-04-01/Accounts.json` and `/2010-04-01/Accounts/{Sid}.json`.
#[derive(Debug, Clone, Copy)]
pub struct AccountsResource;

impl AccountsResource {
    /// The list envelope's key.
    pub const KEY: &'static str = "accounts";
    /// The route and URI of the collection.
    pub const LIST: &'static str = "/2010-04-01/Accounts.json";
    /// The route of an instance (`{account}` with its `.json` is the parameter).
    pub const INSTANCE_ROUTE: &'static str = "/2010-04-01/Accounts/{account}";

    /// The URI of an account without `.json`, the base of its sub-resources' URIs.
    pub fn base(sid: &impl Display) -> String {
        format!("/2010-04-01/Accounts/{sid}")
    }

    /// The URI of an account.
    pub fn uri(sid: &impl Display) -> String {
        format!("{}.json", Self::base(sid))
    }
}

/// Voice v1 IP Records.
pub const IP_RECORDS: V1Resource = V1Resource::new("IpRecords", "ip_records");

/// Voice v1 Source IP Mappings.
pub const SOURCE_IP_MAPPINGS: V1Resource =
    V1Resource::new("SourceIpMappings", "source_ip_mappings");

/// Voice v1 BYOC Trunks.
pub const BYOC_TRUNKS: V1Resource = V1Resource::new("ByocTrunks", "byoc_trunks");

/// Monitor v1 Alerts (the errors and warnings of calls): `/v1/Alerts`, the path the SDKs call
/// on `monitor.twilio.com`.
pub const ALERTS: V1Resource = V1Resource::new("Alerts", "alerts");

/// Monitor v1 Events (the audit log): `/v1/Events`, the path the SDKs call on
/// `monitor.twilio.com`, served on the same listener as the rest.
pub const EVENTS: V1Resource = V1Resource::new("Events", "events");

/// Voice v1 Connection Policies.
pub const CONNECTION_POLICIES: V1Resource =
    V1Resource::new("ConnectionPolicies", "connection_policies");

/// Voice v1 Targets of a connection policy.
pub const POLICY_TARGETS: V1Child = V1Child::new(CONNECTION_POLICIES, "Targets", "targets");

/// API 2010 Keys (API keys).
pub const KEYS: V2010Resource = V2010Resource::new("Keys", "keys");

/// API 2010 Calls.
pub const CALLS: V2010Resource = V2010Resource::new("Calls", "calls");

/// API 2010 Events of a call (the HTTP requests made for it).
pub const CALL_EVENTS: V2010Child = V2010Child::new(CALLS, "Events", "events");

/// API 2010 Notifications of a call.
pub const CALL_NOTIFICATIONS: V2010Child = V2010Child::new(CALLS, "Notifications", "notifications");

/// API 2010 Notifications of an account (of all its calls).
pub const NOTIFICATIONS: V2010Resource = V2010Resource::new("Notifications", "notifications");

/// API 2010 SIP Domains.
pub const SIP_DOMAINS: V2010Resource = V2010Resource::new("SIP/Domains", "domains");

/// API 2010 SIP IP Access Control Lists.
pub const SIP_IP_ACCESS_CONTROL_LISTS: V2010Resource =
    V2010Resource::new("SIP/IpAccessControlLists", "ip_access_control_lists");

/// API 2010 SIP IP Addresses of an access control list.
pub const SIP_IP_ADDRESSES: V2010Child =
    V2010Child::new(SIP_IP_ACCESS_CONTROL_LISTS, "IpAddresses", "ip_addresses");

/// API 2010 SIP Credential Lists.
pub const SIP_CREDENTIAL_LISTS: V2010Resource =
    V2010Resource::new("SIP/CredentialLists", "credential_lists");

/// API 2010 SIP Credentials of a credential list.
pub const SIP_CREDENTIALS: V2010Child =
    V2010Child::new(SIP_CREDENTIAL_LISTS, "Credentials", "credentials");

/// A domain's access control lists mapped for calls, by the older path.
pub const SIP_DOMAIN_ACL_MAPPINGS: V2010Child = V2010Child::new(
    SIP_DOMAINS,
    "IpAccessControlListMappings",
    "ip_access_control_list_mappings",
);

/// A domain's credential lists mapped for calls, by the older path.
pub const SIP_DOMAIN_CREDENTIAL_LIST_MAPPINGS: V2010Child = V2010Child::new(
    SIP_DOMAINS,
    "CredentialListMappings",
    "credential_list_mappings",
);

/// A domain's access control lists mapped for calls.
pub const AUTH_CALLS_ACL_MAPPINGS: V2010Child = V2010Child::new(
    SIP_DOMAINS,
    "Auth/Calls/IpAccessControlListMappings",
    "contents",
);

/// A domain's credential lists mapped for calls.
pub const AUTH_CALLS_CREDENTIAL_LIST_MAPPINGS: V2010Child =
    V2010Child::new(SIP_DOMAINS, "Auth/Calls/CredentialListMappings", "contents");

/// A domain's credential lists mapped for registrations.
pub const AUTH_REGISTRATIONS_CREDENTIAL_LIST_MAPPINGS: V2010Child = V2010Child::new(
    SIP_DOMAINS,
    "Auth/Registrations/CredentialListMappings",
    "contents",
);

/// The `Auth/…` resource of the mappings of `kind` (the one a 404 names).
pub fn auth_mappings(kind: AuthKind) -> &'static V2010Child {
    match kind {
        AuthKind::CallsAcl => &AUTH_CALLS_ACL_MAPPINGS,
        AuthKind::CallsCredentials => &AUTH_CALLS_CREDENTIAL_LIST_MAPPINGS,
        AuthKind::RegistrationCredentials => &AUTH_REGISTRATIONS_CREDENTIAL_LIST_MAPPINGS,
    }
}

/// The instance SID in an API 2010 path segment (`SD….json`), if it is one.
pub fn json_sid<T>(segment: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    segment.strip_suffix(".json").and_then(parse)
}

/// A storage failure as the client sees it: a missing resource is a 404 naming its path.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::from_store(e, missing_path)
    }
}

/// The path a 404 names for a missing resource: relative to the version for Voice v1 (as Twilio's
/// product APIs do), the full `.json` path for API 2010.
pub fn missing_path(missing: &Missing) -> String {
    match missing {
        Missing::Account(sid) => AccountsResource::uri(sid),
        Missing::IpRecord(sid) => IP_RECORDS.missing(sid),
        Missing::SipDomain(account, sid) => SIP_DOMAINS.uri(account, sid),
        Missing::Mapping(sid) => SOURCE_IP_MAPPINGS.missing(sid),
        Missing::Acl(account, sid) => SIP_IP_ACCESS_CONTROL_LISTS.uri(account, sid),
        Missing::AclAddress(account, list, sid) => SIP_IP_ADDRESSES.uri(account, list, sid),
        Missing::CredentialList(account, sid) => SIP_CREDENTIAL_LISTS.uri(account, sid),
        Missing::Credential(account, list, sid) => SIP_CREDENTIALS.uri(account, list, sid),
        Missing::AuthMapping(account, domain, kind, list) => {
            auth_mappings(*kind).uri(account, domain, list)
        }
        Missing::ByocTrunk(sid) => BYOC_TRUNKS.missing(sid),
        Missing::ConnectionPolicy(sid) => CONNECTION_POLICIES.missing(sid),
        Missing::PolicyTarget(policy, sid) => POLICY_TARGETS.missing(policy, sid),
        Missing::ApiKey(account, sid) => KEYS.uri(account, sid),
        Missing::Call(account, sid) => CALLS.uri(account, sid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_spelled_as_twilio_does() {
        assert_eq!(IP_RECORDS.instance_route(), "/v1/IpRecords/{sid}");
        assert_eq!(
            IP_RECORDS.url("http://h", &"IL1"),
            "http://h/v1/IpRecords/IL1"
        );
        assert_eq!(IP_RECORDS.missing(&"IL1"), "/IpRecords/IL1");
        assert_eq!(
            SIP_DOMAINS.list_route(),
            "/2010-04-01/Accounts/{account}/SIP/Domains.json"
        );
        assert_eq!(
            SIP_DOMAINS.uri(&"AC1", &"SD1"),
            "/2010-04-01/Accounts/AC1/SIP/Domains/SD1.json"
        );
        assert_eq!(
            AccountsResource::uri(&"AC1"),
            "/2010-04-01/Accounts/AC1.json"
        );
        assert_eq!(
            json_sid("SD1.json", |s| Some(s.to_owned())),
            Some("SD1".into())
        );
        assert_eq!(json_sid("SD1", |s| Some(s.to_owned())), None);
    }
}
