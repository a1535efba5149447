//! Monitor Events, the audit log: what one change the API made looks like ([`Audit`], named by
//! a write procedure from the values before and after), who made it ([`Actor`]), the stored
//! [`Event`] the write path makes of the two, the list's [`EventFilter`] and the
//! [`EventRetention`].
//!
//! What a resource shows of itself in an event is its [`Audited`] impl, all of them in this
//! file: the fields a client can set, under their wire names, with every secret (a credential's
//! password, an account's auth token) as [`Field::Secret`], which an event only ever says was
//! set or changed, never its value nor its sealed form.

use serde_json::{Map, Value};

use super::{
    Account, ApiKey, AuthMapping, ByocTrunk, Call, CallUpdate, ConnectionPolicy, Credential,
    Invalid, IpAddress, IpRecord, Mapping, Params, PolicyTarget, Reason, SipDomain, SipList,
    TimeRange,
};
use crate::sid::{AccountSid, EventSid, Sid};

/// One field's value, as an event shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Text.
    Text(String),
    /// A number.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// No value.
    Null,
    /// A secret, compared by its stored (sealed) bytes and never shown: an event says
    /// `"[redacted]"` when one is set and `"changed"` when an update replaced it.
    Secret(Vec<u8>),
}

impl Field {
    fn shown(&self) -> Value {
        match self {
            Self::Text(s) => Value::String(s.clone()),
            Self::Int(n) => Value::from(*n),
            Self::Bool(b) => Value::Bool(*b),
            Self::Null => Value::Null,
            Self::Secret(_) => Value::String(REDACTED.into()),
        }
    }
}

impl From<&str> for Field {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<Option<&str>> for Field {
    fn from(s: Option<&str>) -> Self {
        s.map_or(Self::Null, Self::from)
    }
}

impl From<bool> for Field {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for Field {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

/// What an event shows in place of a secret that is set.
pub const REDACTED: &str = "[redacted]";
/// What an update's event shows in place of a secret it replaced.
pub const CHANGED: &str = "changed";

/// A resource as the audit log shows it.
pub trait Audited {
    /// Its type in `resource_type` and `event_type` (Twilio's style: `sip-domain`).
    fn audit_type(&self) -> &'static str;
    /// The account whose log holds its events.
    fn audit_account(&self) -> &AccountSid;
    /// Its SID (for an auth mapping, the mapped list's).
    fn audit_sid(&self) -> &str;
    /// The fields an event shows, under their wire names.
    fn fields(&self) -> Vec<(&'static str, Field)>;
    /// The field naming the resource it belongs to (a credential's list), which every event
    /// about it shows, an update's too, so that its path can be told.
    fn parent(&self) -> Option<(&'static str, &str)> {
        None
    }
}

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It was created.
    Created,
    /// Some of its fields changed.
    Updated,
    /// It was deleted.
    Deleted,
}

impl Action {
    /// The wire form, the end of an `event_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

/// One change a write made, named by its procedure; the write path stores it as an [`Event`]
/// in the same transaction when the write was the API's.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// The account whose log holds it.
    pub account_sid: AccountSid,
    /// The resource's type.
    pub resource_type: &'static str,
    /// The resource's SID.
    pub resource_sid: String,
    /// What happened.
    pub action: Action,
    /// `event_data`: the fields of a new or deleted resource; for an update, each changed
    /// field's `previous` and `updated` values (a secret: `"changed"`).
    pub data: Map<String, Value>,
}

impl Audit {
    fn of<R: Audited>(r: &R, action: Action, data: Map<String, Value>) -> Self {
        Self {
            account_sid: r.audit_account().clone(),
            resource_type: r.audit_type(),
            resource_sid: r.audit_sid().to_owned(),
            action,
            data,
        }
    }

    /// `r` was created.
    pub fn created<R: Audited>(r: &R) -> Self {
        Self::of(r, Action::Created, shown(r))
    }

    /// `r` was deleted.
    pub fn deleted<R: Audited>(r: &R) -> Self {
        Self::of(r, Action::Deleted, shown(r))
    }

    /// `before` became `after`; `None` when no field an event shows changed.
    pub fn updated<R: Audited>(before: &R, after: &R) -> Option<Self> {
        let old = before.fields();
        let mut data = Map::new();
        for (name, new) in after.fields() {
            let Some((_, was)) = old.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            if *was == new {
                continue;
            }
            let value = match new {
                Field::Secret(_) => Value::String(CHANGED.into()),
                new => serde_json::json!({ "previous": was.shown(), "updated": new.shown() }),
            };
            data.insert(name.to_owned(), value);
        }
        if data.is_empty() {
            return None;
        }
        if let Some((name, sid)) = after.parent() {
            data.insert(name.to_owned(), Value::String(sid.to_owned()));
        }
        Some(Self::of(after, Action::Updated, data))
    }

    /// The API asked a live call to change (`Status`, `Twiml`, `Url`): what it asked, as the
    /// call took it (the runtime, not the API, stores the call's record as it changes).
    pub fn call_updated(call: &Call, update: &CallUpdate) -> Option<Self> {
        let data = match update {
            CallUpdate::End(status) => serde_json::json!({
                "status": {"previous": call.status.as_str(), "updated": status.as_str()}
            }),
            CallUpdate::Twiml(twiml) => serde_json::json!({ "twiml": twiml }),
            CallUpdate::Redirect { url, method } => {
                serde_json::json!({ "url": url, "method": method })
            }
            CallUpdate::Nothing => return None,
        };
        let Value::Object(data) = data else {
            return None;
        };
        Some(Self::of(call, Action::Updated, data))
    }

    /// `resource_type.action`, as Twilio names event types (`sip-domain.created`).
    pub fn event_type(&self) -> String {
        format!("{}.{}", self.resource_type, self.action.as_str())
    }

    /// The stored event of this change, made by `actor` at `now_ms`.
    pub fn into_event(self, sid: EventSid, actor: &Actor, now_ms: i64) -> Event {
        Event {
            sid,
            event_type: self.event_type(),
            description: Some(format!(
                "{} {} {}",
                self.resource_type,
                self.resource_sid,
                self.action.as_str()
            )),
            account_sid: self.account_sid,
            actor_sid: Some(actor.sid.clone()),
            actor_type: Some(actor.actor_type().to_owned()),
            event_data: Value::Object(self.data).to_string(),
            event_ms: now_ms,
            resource_sid: self.resource_sid,
            resource_type: self.resource_type.to_owned(),
            source: SOURCE_API.to_owned(),
            source_ip_address: actor.ip.clone(),
        }
    }
}

/// Every field `r` shows, with secrets redacted.
fn shown<R: Audited>(r: &R) -> Map<String, Value> {
    r.fields()
        .into_iter()
        .map(|(name, f)| (name.to_owned(), f.shown()))
        .collect()
}

/// `source` of the events the API's requests make.
pub const SOURCE_API: &str = "api";

/// Who made a change through the API: the account, or the API key (`SK…`) that authenticated
/// as it, and the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `AC…` or `SK…`.
    pub sid: String,
    /// The HTTP client's address.
    pub ip: Option<String>,
}

impl Actor {
    /// `actor_type`: `account` or `api-key`.
    pub fn actor_type(&self) -> &'static str {
        if self.sid.starts_with("SK") {
            "api-key"
        } else {
            "account"
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `AE…`.
    pub sid: EventSid,
    /// The account whose log holds it.
    pub account_sid: AccountSid,
    /// Who acted.
    pub actor_sid: Option<String>,
    /// `account` or `api-key`.
    pub actor_type: Option<String>,
    /// A short description.
    pub description: Option<String>,
    /// `event_data`, as JSON text (an object).
    pub event_data: String,
    /// When (Unix ms).
    pub event_ms: i64,
    /// `resource_type.action`.
    pub event_type: String,
    /// The resource's SID.
    pub resource_sid: String,
    /// The resource's type.
    pub resource_type: String,
    /// `api`.
    pub source: String,
    /// The client's address.
    pub source_ip_address: Option<String>,
}

/// The filters of the Events list (Twilio's): each given one must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// `ActorSid`.
    pub actor_sid: Option<String>,
    /// `EventType`.
    pub event_type: Option<String>,
    /// `ResourceSid`.
    pub resource_sid: Option<String>,
    /// `SourceIpAddress`.
    pub source_ip_address: Option<String>,
    /// `StartDate` (on or after) and `EndDate` (on or before).
    pub date: TimeRange,
}

impl EventFilter {
    /// The query parameters the filters are read from, in the order list URLs repeat them.
    pub const NAMES: [&'static str; 6] = [
        "ActorSid",
        "EventType",
        "ResourceSid",
        "SourceIpAddress",
        "StartDate",
        "EndDate",
    ];

    /// Reads the filters (a parameter sent empty is not sent).
    ///
    /// # Errors
    ///
    /// A `StartDate` or `EndDate` that is not a date or a date and time.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        let text = |name| super::text(p, name).map(str::to_owned);
        let mut date = TimeRange::default();
        for (name, start) in [("StartDate", true), ("EndDate", false)] {
            if let Some(v) = super::text(p, name) {
                let (from, until) = super::call::span_of(v)
                    .ok_or_else(|| Invalid::Value(name, Reason::NotDate(v.to_owned())))?;
                if start {
                    date.from_ms = Some(from);
                } else {
                    date.until_ms = Some(until);
                }
            }
        }
        Ok(Self {
            actor_sid: text("ActorSid"),
            event_type: text("EventType"),
            resource_sid: text("ResourceSid"),
            source_ip_address: text("SourceIpAddress"),
            date,
        })
    }
}

/// How long, and how many, events an account keeps (Twilio keeps 30 days).
pub type EventRetention = MonitorRetention;

/// How long, and how many, of a kind of Monitor record (events, alerts) an account keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorRetention {
    /// Events older than this many seconds are deleted; 0 keeps them whatever their age.
    pub max_age_secs: u64,
    /// At most this many events per account: past it, its oldest are deleted; 0 for no bound.
    pub per_account: u64,
}

impl Default for MonitorRetention {
    fn default() -> Self {
        Self {
            max_age_secs: 30 * 86_400,
            per_account: 100_000,
        }
    }
}

impl MonitorRetention {
    /// The time (Unix ms) before which records go, at `now_ms`; `None` to keep them.
    pub fn older_than(&self, now_ms: i64) -> Option<i64> {
        let age = i64::try_from(self.max_age_secs).ok()?.checked_mul(1000)?;
        (age > 0).then(|| now_ms.saturating_sub(age))
    }

    /// How many of its oldest records an account holding `held` deletes (after adding its
    /// new ones, so that it holds at most [`Self::per_account`]).
    pub fn excess(&self, held: u64) -> u64 {
        if self.per_account == 0 {
            return 0;
        }
        held.saturating_sub(self.per_account)
    }
}

fn opt<S: Sid>(s: Option<&S>) -> Field {
    s.map(S::as_str).into()
}

impl Audited for SipDomain {
    fn audit_type(&self) -> &'static str {
        "sip-domain"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("domain_name", self.domain_name.as_str().into()),
            ("friendly_name", self.friendly_name.as_deref().into()),
            ("voice_url", self.voice_url.as_deref().into()),
            ("voice_method", self.voice_method.as_str().into()),
            (
                "voice_fallback_url",
                self.voice_fallback_url.as_deref().into(),
            ),
            (
                "voice_fallback_method",
                self.voice_fallback_method.as_str().into(),
            ),
            (
                "voice_status_callback_url",
                self.voice_status_callback_url.as_deref().into(),
            ),
            (
                "voice_status_callback_method",
                self.voice_status_callback_method.as_str().into(),
            ),
            ("sip_registration", self.sip_registration.into()),
            (
                "emergency_calling_enabled",
                self.emergency_calling_enabled.into(),
            ),
            ("secure", self.secure.into()),
            ("byoc_trunk_sid", self.byoc_trunk_sid.as_deref().into()),
            (
                "emergency_caller_sid",
                self.emergency_caller_sid.as_deref().into(),
            ),
        ]
    }
}

impl Audited for IpRecord {
    fn audit_type(&self) -> &'static str {
        "ip-record"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("friendly_name", self.friendly_name.as_deref().into()),
            ("ip_address", self.ip_address.to_string().as_str().into()),
            (
                "cidr_prefix_length",
                i64::from(self.cidr_prefix_length).into(),
            ),
        ]
    }
}

impl Audited for Mapping {
    fn audit_type(&self) -> &'static str {
        "source-ip-mapping"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("ip_record_sid", self.ip_record_sid.as_str().into()),
            ("sip_domain_sid", self.sip_domain_sid.as_str().into()),
        ]
    }
}

/// Both kinds of list, told apart by their SIDs' prefix.
impl<S: Sid> Audited for SipList<S> {
    fn audit_type(&self) -> &'static str {
        if S::PREFIX == crate::sid::AclSid::PREFIX {
            "sip-ip-access-control-list"
        } else {
            "sip-credential-list"
        }
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![("friendly_name", self.friendly_name.as_str().into())]
    }
}

impl Audited for IpAddress {
    fn audit_type(&self) -> &'static str {
        "sip-ip-address"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn parent(&self) -> Option<(&'static str, &str)> {
        Some(("ip_access_control_list_sid", self.list_sid.as_str()))
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("ip_access_control_list_sid", self.list_sid.as_str().into()),
            ("friendly_name", self.friendly_name.as_str().into()),
            ("ip_address", self.ip_address.to_string().as_str().into()),
            (
                "cidr_prefix_length",
                i64::from(self.cidr_prefix_length).into(),
            ),
        ]
    }
}

impl Audited for Credential {
    fn audit_type(&self) -> &'static str {
        "sip-credential"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn parent(&self) -> Option<(&'static str, &str)> {
        Some(("credential_list_sid", self.list_sid.as_str()))
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("credential_list_sid", self.list_sid.as_str().into()),
            ("username", self.username.as_str().into()),
            ("password", Field::Secret(self.password_sealed.clone())),
        ]
    }
}

impl Audited for AuthMapping {
    fn audit_type(&self) -> &'static str {
        "sip-domain-auth-mapping"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.list.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("domain_sid", self.domain_sid.as_str().into()),
            ("kind", self.kind.as_str().into()),
            ("friendly_name", self.friendly_name.as_str().into()),
        ]
    }
}

impl Audited for ByocTrunk {
    fn audit_type(&self) -> &'static str {
        "byoc-trunk"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("friendly_name", self.friendly_name.as_deref().into()),
            ("voice_url", self.voice_url.as_deref().into()),
            ("voice_method", self.voice_method.as_str().into()),
            (
                "voice_fallback_url",
                self.voice_fallback_url.as_deref().into(),
            ),
            (
                "voice_fallback_method",
                self.voice_fallback_method.as_str().into(),
            ),
            (
                "status_callback_url",
                self.status_callback_url.as_deref().into(),
            ),
            (
                "status_callback_method",
                self.status_callback_method.as_str().into(),
            ),
            ("cnam_lookup_enabled", self.cnam_lookup_enabled.into()),
            (
                "connection_policy_sid",
                opt(self.connection_policy_sid.as_ref()),
            ),
            ("from_domain_sid", opt(self.from_domain_sid.as_ref())),
        ]
    }
}

impl Audited for ConnectionPolicy {
    fn audit_type(&self) -> &'static str {
        "connection-policy"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![("friendly_name", self.friendly_name.as_deref().into())]
    }
}

impl Audited for PolicyTarget {
    fn audit_type(&self) -> &'static str {
        "connection-policy-target"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn parent(&self) -> Option<(&'static str, &str)> {
        Some(("connection_policy_sid", self.policy_sid.as_str()))
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("connection_policy_sid", self.policy_sid.as_str().into()),
            ("friendly_name", self.friendly_name.as_deref().into()),
            ("target", self.target.as_str().into()),
            ("priority", i64::from(self.priority).into()),
            ("weight", i64::from(self.weight).into()),
            ("enabled", self.enabled.into()),
        ]
    }
}

/// An account's events are in its owner's log when it has one (the parent that manages it),
/// else in its own.
impl Audited for Account {
    fn audit_type(&self) -> &'static str {
        "account"
    }
    fn audit_account(&self) -> &AccountSid {
        self.owner_sid.as_ref().unwrap_or(&self.sid)
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        let token = self.sealed_token.clone().map_or(Field::Null, Field::Secret);
        vec![
            ("friendly_name", self.friendly_name.as_str().into()),
            ("status", self.status.as_str().into()),
            ("owner_account_sid", opt(self.owner_sid.as_ref())),
            ("auth_token", token),
        ]
    }
}

impl Audited for ApiKey {
    fn audit_type(&self) -> &'static str {
        "api-key"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![("friendly_name", self.friendly_name.as_deref().into())]
    }
}

impl Audited for Call {
    fn audit_type(&self) -> &'static str {
        "call"
    }
    fn audit_account(&self) -> &AccountSid {
        &self.account_sid
    }
    fn audit_sid(&self) -> &str {
        self.sid.as_str()
    }
    fn fields(&self) -> Vec<(&'static str, Field)> {
        vec![
            ("from", self.from.as_str().into()),
            ("to", self.to.as_str().into()),
            ("status", self.status.as_str().into()),
            ("direction", self.direction.as_str().into()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::{ApiKeySid, CredentialListSid, CredentialSid};

    fn credential(password: &[u8]) -> Credential {
        Credential {
            sid: CredentialSid::generate(),
            account_sid: AccountSid::generate(),
            list_sid: CredentialListSid::generate(),
            username: "alice".into(),
            password_sealed: password.to_vec(),
            date_created: 1,
            date_updated: 1,
        }
    }

    #[test]
    fn a_secret_is_never_shown_only_said_to_change() {
        let before = credential(b"sealed-one");
        let created = Audit::created(&before);
        assert_eq!(created.data["password"], REDACTED);
        assert_eq!(created.data["username"], "alice");
        let mut after = before.clone();
        after.password_sealed = b"sealed-two".to_vec();
        let updated = Audit::updated(&before, &after).expect("the password changed");
        assert_eq!(updated.data.len(), 2, "the password, and the list it is in");
        assert_eq!(updated.data["password"], CHANGED);
        assert_eq!(
            updated.data["credential_list_sid"],
            before.list_sid.as_str()
        );
        assert_eq!(updated.event_type(), "sip-credential.updated");
        let text = Value::Object(updated.data).to_string();
        assert!(!text.contains("sealed"), "{text}");
    }

    #[test]
    fn an_update_shows_what_changed_and_nothing_when_nothing_did() {
        let before = ApiKey {
            sid: ApiKeySid::generate(),
            account_sid: AccountSid::generate(),
            friendly_name: Some("old".into()),
            date_created: 1,
            date_updated: 1,
        };
        assert_eq!(Audit::updated(&before, &before), None);
        let mut after = before.clone();
        after.friendly_name = None;
        after.date_updated = 2;
        let audit = Audit::updated(&before, &after).expect("the name changed");
        assert_eq!(
            Value::Object(audit.data),
            serde_json::json!({"friendly_name": {"previous": "old", "updated": null}})
        );
        assert_eq!(audit.action, Action::Updated);
    }

    #[test]
    fn an_event_names_its_actor_and_source() {
        let key = ApiKeySid::generate();
        let actor = Actor {
            sid: key.as_str().to_owned(),
            ip: Some("127.0.0.1".into()),
        };
        let c = credential(b"x");
        let event = Audit::deleted(&c).into_event(EventSid::generate_at(5), &actor, 5);
        assert_eq!(event.actor_type.as_deref(), Some("api-key"));
        assert_eq!(event.event_type, "sip-credential.deleted");
        assert_eq!(event.resource_sid, c.sid.as_str());
        assert_eq!(event.source, "api");
        assert_eq!(event.source_ip_address.as_deref(), Some("127.0.0.1"));
        let account = Actor {
            sid: c.account_sid.as_str().to_owned(),
            ip: None,
        };
        assert_eq!(account.actor_type(), "account");
    }

    #[test]
    fn the_retention_bounds_age_and_count() {
        let r = EventRetention {
            max_age_secs: 10,
            per_account: 3,
        };
        assert_eq!(r.older_than(60_000), Some(50_000));
        assert_eq!(r.excess(2), 0);
        assert_eq!(r.excess(5), 2);
        let unbounded = EventRetention {
            max_age_secs: 0,
            per_account: 0,
        };
        assert_eq!(unbounded.older_than(60_000), None);
        assert_eq!(unbounded.excess(1_000_000), 0);
    }

    #[test]
    fn dates_filter_whole_days_and_bad_ones_are_refused() {
        struct P(&'static [(&'static str, &'static str)]);
        impl Params for P {
            fn get(&self, name: &str) -> Option<&str> {
                self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
            }
        }
        let f = EventFilter::parse(&P(&[
            ("StartDate", "1970-01-02"),
            ("EndDate", "1970-01-02"),
            ("EventType", "sip-domain.created"),
        ]))
        .expect("parses");
        assert_eq!(f.date.from_ms, Some(86_400_000));
        assert_eq!(f.date.until_ms, Some(2 * 86_400_000));
        assert_eq!(f.event_type.as_deref(), Some("sip-domain.created"));
        assert!(EventFilter::parse(&P(&[("StartDate", "yesterday")])).is_err());
    }
}
