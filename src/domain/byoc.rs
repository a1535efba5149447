//! BYOC ("Bring Your Own Carrier") trunks (`BY…`), connection policies (`NY…`) and their targets
//! (`NE…`): a SIP domain names a trunk, a trunk names a policy, and the policy's targets are
//! where the SIP edge sends the domain's traffic.

use super::{
    Conflict, Invalid, Params, Reason, Refusal, boolean, friendly_name, method, required,
    sid_field, text, url,
};
use super::{Destination, OutboundPolicy};
use crate::sid::{AccountSid, ByocTrunkSid, ConnectionPolicySid, PolicyTargetSid, SipDomainSid};
use crate::sip_syntax::SipUri;

/// A BYOC trunk as stored, with every field of the Voice v1 resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByocTrunk {
    /// Its SID.
    pub sid: ByocTrunkSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// At most 255 characters.
    pub friendly_name: Option<String>,
    /// `VoiceUrl`.
    pub voice_url: Option<String>,
    /// `VoiceMethod`.
    pub voice_method: String,
    /// `VoiceFallbackUrl`.
    pub voice_fallback_url: Option<String>,
    /// `VoiceFallbackMethod`.
    pub voice_fallback_method: String,
    /// `StatusCallbackUrl`.
    pub status_callback_url: Option<String>,
    /// `StatusCallbackMethod`.
    pub status_callback_method: String,
    /// `CnamLookupEnabled`.
    pub cnam_lookup_enabled: bool,
    /// `ConnectionPolicySid`: a policy of the same account.
    pub connection_policy_sid: Option<ConnectionPolicySid>,
    /// `FromDomainSid`: a SIP domain of the same account.
    pub from_domain_sid: Option<SipDomainSid>,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

/// The validated parameters of a trunk's create or update: `None` means "not sent", and for
/// nullable fields `Some(None)` means "sent empty", which clears the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ByocTrunkPatch {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `VoiceUrl`.
    pub voice_url: Option<Option<String>>,
    /// `VoiceMethod`.
    pub voice_method: Option<String>,
    /// `VoiceFallbackUrl`.
    pub voice_fallback_url: Option<Option<String>>,
    /// `VoiceFallbackMethod`.
    pub voice_fallback_method: Option<String>,
    /// `StatusCallbackUrl`.
    pub status_callback_url: Option<Option<String>>,
    /// `StatusCallbackMethod`.
    pub status_callback_method: Option<String>,
    /// `CnamLookupEnabled`.
    pub cnam_lookup_enabled: Option<bool>,
    /// `ConnectionPolicySid`.
    pub connection_policy_sid: Option<Option<ConnectionPolicySid>>,
    /// `FromDomainSid`.
    pub from_domain_sid: Option<Option<SipDomainSid>>,
}

impl ByocTrunkPatch {
    /// Validates every trunk parameter (all optional, on create as on update).
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        Ok(Self {
            friendly_name: friendly_name(p, "FriendlyName", 255)?,
            voice_url: url(p, "VoiceUrl")?,
            voice_method: method(p, "VoiceMethod")?,
            voice_fallback_url: url(p, "VoiceFallbackUrl")?,
            voice_fallback_method: method(p, "VoiceFallbackMethod")?,
            status_callback_url: url(p, "StatusCallbackUrl")?,
            status_callback_method: method(p, "StatusCallbackMethod")?,
            cnam_lookup_enabled: boolean(p, "CnamLookupEnabled")?,
            connection_policy_sid: sid_field(p, "ConnectionPolicySid")?,
            from_domain_sid: sid_field(p, "FromDomainSid")?,
        })
    }

    /// A new trunk from a create's parameters, with Twilio's defaults for what was not sent.
    pub fn into_trunk(self, sid: ByocTrunkSid, account_sid: AccountSid, now: i64) -> ByocTrunk {
        let mut t = ByocTrunk {
            sid,
            account_sid,
            friendly_name: None,
            voice_url: None,
            voice_method: "POST".into(),
            voice_fallback_url: None,
            voice_fallback_method: "POST".into(),
            status_callback_url: None,
            status_callback_method: "POST".into(),
            cnam_lookup_enabled: false,
            connection_policy_sid: None,
            from_domain_sid: None,
            date_created: now,
            date_updated: now,
        };
        self.apply(&mut t, now);
        t.date_updated = now;
        t
    }

    /// Applies the sent fields to `t`; a patch that changes nothing leaves it as it is.
    pub fn apply(self, t: &mut ByocTrunk, now: i64) {
        fn set<T>(field: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *field = v;
            }
        }
        let before = t.clone();
        if let Some(name) = self.friendly_name {
            t.friendly_name = Some(name);
        }
        set(&mut t.voice_url, self.voice_url);
        set(&mut t.voice_method, self.voice_method);
        set(&mut t.voice_fallback_url, self.voice_fallback_url);
        set(&mut t.voice_fallback_method, self.voice_fallback_method);
        set(&mut t.status_callback_url, self.status_callback_url);
        set(&mut t.status_callback_method, self.status_callback_method);
        set(&mut t.cnam_lookup_enabled, self.cnam_lookup_enabled);
        set(&mut t.connection_policy_sid, self.connection_policy_sid);
        set(&mut t.from_domain_sid, self.from_domain_sid);
        if *t != before {
            t.date_updated = now;
        }
    }
}

/// A connection policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPolicy {
    /// Its SID.
    pub sid: ConnectionPolicySid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// At most 255 characters.
    pub friendly_name: Option<String>,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

/// The friendly name of a policy's create or update (optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyName(pub Option<String>);

impl PolicyName {
    /// Validates `FriendlyName`: at most 255 characters.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        Ok(Self(friendly_name(p, "FriendlyName", 255)?))
    }

    /// The policy a create makes.
    pub fn into_policy(
        self,
        sid: ConnectionPolicySid,
        account_sid: AccountSid,
        now: i64,
    ) -> ConnectionPolicy {
        ConnectionPolicy {
            sid,
            account_sid,
            friendly_name: self.0,
            date_created: now,
            date_updated: now,
        }
    }

    /// Renames `policy`, if a name was sent and differs.
    pub fn apply(self, policy: &mut ConnectionPolicy, now: i64) {
        if let Some(name) = self.0
            && policy.friendly_name.as_deref() != Some(name.as_str())
        {
            policy.friendly_name = Some(name);
            policy.date_updated = now;
        }
    }
}

/// A target of a connection policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTarget {
    /// Its SID.
    pub sid: PolicyTargetSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// The policy it belongs to.
    pub policy_sid: ConnectionPolicySid,
    /// At most 255 characters.
    pub friendly_name: Option<String>,
    /// A `sip:` URI.
    pub target: String,
    /// 0 to 65535; lower is tried first.
    pub priority: u16,
    /// 1 to 65535; the share among targets of equal priority.
    pub weight: u16,
    /// A disabled target is never chosen.
    pub enabled: bool,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

/// The validated parameters of a target's create (`target` present) or update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPatch {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `Target`.
    pub target: Option<String>,
    /// `Priority`.
    pub priority: Option<u16>,
    /// `Weight`.
    pub weight: Option<u16>,
    /// `Enabled`.
    pub enabled: Option<bool>,
}

/// The longest target URI accepted.
pub const MAX_TARGET_LEN: usize = 1024;

/// Checks a target: a `sip:` URI (`sips:` is refused, as Twilio does) with a host, as the SIP
/// edge can send to.
pub fn parse_target(raw: &str) -> Result<String, Invalid> {
    let bad = |why: fn(String) -> Reason| Invalid::Value("Target", why(raw.to_owned()));
    if raw.len() > MAX_TARGET_LEN || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(Reason::NotTargetUri));
    }
    let uri = SipUri::parse(raw).map_err(|_| bad(Reason::NotTargetUri))?;
    if !uri.scheme.eq_ignore_ascii_case("sip") {
        return Err(bad(Reason::SipsTarget));
    }
    Ok(raw.to_owned())
}

fn integer(p: &dyn Params, name: &'static str, min: u16) -> Result<Option<u16>, Invalid> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => match v.parse::<u16>() {
            Ok(n) if n >= min => Ok(Some(n)),
            _ => Err(Invalid::Value(
                name,
                Reason::integer(v, min.into(), Some(65535)),
            )),
        },
    }
}

impl TargetPatch {
    /// Validates `Target` (required when `creating`), `FriendlyName`, `Priority` (0–65535),
    /// `Weight` (1–65535) and `Enabled`.
    pub fn parse(p: &dyn Params, creating: bool) -> Result<Self, Invalid> {
        let target = if creating {
            Some(required(p, "Target")?)
        } else {
            text(p, "Target")
        };
        Ok(Self {
            friendly_name: friendly_name(p, "FriendlyName", 255)?,
            target: target.map(parse_target).transpose()?,
            priority: integer(p, "Priority", 0)?,
            weight: integer(p, "Weight", 1)?,
            enabled: boolean(p, "Enabled")?,
        })
    }

    /// Whether the sent `Target`, when its host is an IP address, is one the operator's outbound
    /// `policy` lets sipmap send to (the SIP edge never resolves a host name, so one is never
    /// contacted and is not refused here).
    pub fn check_outbound(&self, policy: &OutboundPolicy) -> Result<(), Invalid> {
        let Some(raw) = self.target.as_deref() else {
            return Ok(());
        };
        let Some(dest) = Destination::from_uri(raw) else {
            return Ok(());
        };
        policy.check(dest.addr.ip()).map_err(|denied| {
            Invalid::Value(
                "Target",
                Reason::NotSendable {
                    target: raw.to_owned(),
                    denied,
                },
            )
        })
    }

    /// The target a create makes, with Twilio's defaults (priority 10, weight 10, enabled).
    pub fn into_target(
        self,
        sid: PolicyTargetSid,
        policy: &ConnectionPolicy,
        now: i64,
    ) -> PolicyTarget {
        PolicyTarget {
            sid,
            account_sid: policy.account_sid.clone(),
            policy_sid: policy.sid.clone(),
            friendly_name: self.friendly_name,
            target: self.target.unwrap_or_default(),
            priority: self.priority.unwrap_or(10),
            weight: self.weight.unwrap_or(10),
            enabled: self.enabled.unwrap_or(true),
            date_created: now,
            date_updated: now,
        }
    }

    /// Applies the sent fields to `t`.
    pub fn apply(self, t: &mut PolicyTarget, now: i64) {
        let before = t.clone();
        if let Some(name) = self.friendly_name {
            t.friendly_name = Some(name);
        }
        if let Some(target) = self.target {
            t.target = target;
        }
        if let Some(p) = self.priority {
            t.priority = p;
        }
        if let Some(w) = self.weight {
            t.weight = w;
        }
        if let Some(e) = self.enabled {
            t.enabled = e;
        }
        if *t != before {
            t.date_updated = now;
        }
    }
}

/// Whether a policy may be deleted: not while a trunk names it.
pub fn may_delete_policy(
    policy: &ConnectionPolicySid,
    used_by: Option<ByocTrunkSid>,
) -> Result<(), Refusal> {
    match used_by {
        None => Ok(()),
        Some(trunk) => Err(Conflict::PolicyInUse {
            policy: policy.clone(),
            trunk,
        }
        .into()),
    }
}

/// Whether a trunk may be deleted: not while a SIP domain names it.
pub fn may_delete_trunk(
    trunk: &ByocTrunkSid,
    used_by: Option<SipDomainSid>,
) -> Result<(), Refusal> {
    match used_by {
        None => Ok(()),
        Some(domain) => Err(Conflict::TrunkInUse {
            trunk: trunk.clone(),
            domain,
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn p<'a>(pairs: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn targets_are_sip_uris_with_bounded_priority_and_weight() {
        let t = TargetPatch::parse(
            &p(&[("Target", "sip:pbx.example.com:5070;transport=tcp")]),
            true,
        )
        .unwrap();
        let policy = PolicyName::default().into_policy(
            ConnectionPolicySid::generate(),
            AccountSid::generate(),
            1,
        );
        let t = t.into_target(PolicyTargetSid::generate(), &policy, 1);
        assert_eq!((t.priority, t.weight, t.enabled), (10, 10, true));
        assert_eq!(
            TargetPatch::parse(&p(&[]), true),
            Err(Invalid::Missing("Target"))
        );
        for bad in [
            "sips:pbx.example.com",
            "http://x",
            "pbx.example.com",
            "sip:",
            "sip:a b",
        ] {
            assert!(
                TargetPatch::parse(&p(&[("Target", bad)]), true).is_err(),
                "{bad}"
            );
        }
        for (name, bad) in [
            ("Priority", "65536"),
            ("Priority", "-1"),
            ("Weight", "0"),
            ("Weight", "x"),
        ] {
            assert!(
                TargetPatch::parse(&p(&[(name, bad)]), false).is_err(),
                "{name}={bad}"
            );
        }
        let edge =
            TargetPatch::parse(&p(&[("Priority", "0"), ("Weight", "65535")]), false).unwrap();
        assert_eq!((edge.priority, edge.weight), (Some(0), Some(65535)));
    }

    #[test]
    fn trunks_take_defaults_and_clear_references_when_sent_empty() {
        let policy = ConnectionPolicySid::generate();
        let create =
            ByocTrunkPatch::parse(&p(&[("ConnectionPolicySid", policy.as_str())])).unwrap();
        let mut t = create.into_trunk(ByocTrunkSid::generate(), AccountSid::generate(), 5);
        assert_eq!(t.connection_policy_sid.as_ref(), Some(&policy));
        assert_eq!(
            (t.voice_method.as_str(), t.cnam_lookup_enabled),
            ("POST", false)
        );
        ByocTrunkPatch::parse(&p(&[("ConnectionPolicySid", "")]))
            .unwrap()
            .apply(&mut t, 9);
        assert_eq!((t.connection_policy_sid.clone(), t.date_updated), (None, 9));
        assert!(ByocTrunkPatch::parse(&p(&[("ConnectionPolicySid", "NY123")])).is_err());
        assert!(ByocTrunkPatch::parse(&p(&[("VoiceMethod", "PUT")])).is_err());
    }

    #[test]
    fn targets_are_checked_against_the_outbound_policy_when_sent() {
        let policy = OutboundPolicy::new(&[], &["10.0.0.0/8".parse().unwrap()]);
        let check = |pairs: &[(&str, &str)]| {
            TargetPatch::parse(&p(pairs), false)
                .unwrap()
                .check_outbound(&policy)
        };
        assert!(check(&[("Target", "sip:10.0.0.1")]).is_err());
        assert!(check(&[("Target", "sip:[::ffff:10.0.0.1]:5080;transport=tcp")]).is_err());
        assert!(check(&[("Target", "sip:169.254.169.254")]).is_err());
        assert!(check(&[("Target", "sip:192.0.2.1")]).is_ok());
        assert!(
            check(&[("Target", "sip:carrier.example.com")]).is_ok(),
            "never looked up"
        );
        assert!(check(&[("Priority", "1")]).is_ok(), "no Target sent");
    }
}
