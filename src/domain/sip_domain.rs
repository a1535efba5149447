//! SIP Domains (`SD…`): the FQDNs that SIP traffic is addressed to.

use super::{
    Account, Conflict, Invalid, Params, Reason, Refusal, boolean, friendly_name, method, required,
    sid_field, text, url,
};
use crate::sid::{AccountSid, ByocTrunkSid, MappingSid, PhoneNumberSid, Sid, SipDomainSid};

/// A domain's voice application as the SIP edge hands it to the call runtime: its `VoiceUrl`
/// and siblings, each URL with its method (`GET` or `POST`). A domain has one when it has a
/// `VoiceUrl`; recognition carries it in the domain's [`Target`](crate::recognition::Target),
/// and a domain without one is forwarded as before (operator mode).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoiceApp {
    /// `VoiceUrl` and `VoiceMethod`.
    pub voice: (String, String),
    /// `VoiceFallbackUrl` and `VoiceFallbackMethod`.
    pub fallback: Option<(String, String)>,
    /// `VoiceStatusCallbackUrl` and `VoiceStatusCallbackMethod`.
    pub status_callback: Option<(String, String)>,
}

impl VoiceApp {
    /// The application of a domain with these `VoiceUrl`, `VoiceFallbackUrl` and
    /// `VoiceStatusCallbackUrl` (each with its method); none without a `VoiceUrl`.
    pub fn of(
        voice: (Option<&str>, &str),
        fallback: (Option<&str>, &str),
        status_callback: (Option<&str>, &str),
    ) -> Option<Self> {
        let pair = |(url, method): (Option<&str>, &str)| {
            url.filter(|u| !u.is_empty())
                .map(|u| (u.to_owned(), method.to_owned()))
        };
        Some(Self {
            voice: pair(voice)?,
            fallback: pair(fallback),
            status_callback: pair(status_callback),
        })
    }
}

/// A SIP domain as stored, with every field of the API 2010 resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipDomain {
    /// Its SID.
    pub sid: SipDomainSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// The FQDN, as given; unique across all accounts, case-insensitively.
    pub domain_name: String,
    /// Free text, at most 64 characters.
    pub friendly_name: Option<String>,
    /// `VoiceUrl`.
    pub voice_url: Option<String>,
    /// `VoiceMethod`, `GET` or `POST`.
    pub voice_method: String,
    /// `VoiceFallbackUrl`.
    pub voice_fallback_url: Option<String>,
    /// `VoiceFallbackMethod`.
    pub voice_fallback_method: String,
    /// `VoiceStatusCallbackUrl`.
    pub voice_status_callback_url: Option<String>,
    /// `VoiceStatusCallbackMethod`.
    pub voice_status_callback_method: String,
    /// `SipRegistration`.
    pub sip_registration: bool,
    /// `EmergencyCallingEnabled`.
    pub emergency_calling_enabled: bool,
    /// `Secure`.
    pub secure: bool,
    /// `ByocTrunkSid` (`BY…`).
    pub byoc_trunk_sid: Option<String>,
    /// `EmergencyCallerSid` (`PN…`).
    pub emergency_caller_sid: Option<String>,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
    /// What is mapped to it for calls (read with it, never written with it).
    pub calls_auth: CallsAuth,
}

/// What is mapped to a domain for calls; its `auth_type` follows from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallsAuth {
    /// An IP access control list is mapped.
    pub acl: bool,
    /// A credential list is mapped.
    pub credentials: bool,
}

impl CallsAuth {
    /// The domain's `auth_type`: `IP_ACL`, `CREDENTIAL_LIST`, both comma-separated, or none.
    pub fn auth_type(self) -> Option<&'static str> {
        super::auth_mapping::auth_type(self.acl, self.credentials)
    }
}

/// The validated parameters of a create or an update. `None` means "not sent"; for nullable
/// fields `Some(None)` means "sent empty", which clears the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipDomainPatch {
    /// `DomainName` (required on create).
    pub domain_name: Option<String>,
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
    /// `VoiceStatusCallbackUrl`.
    pub voice_status_callback_url: Option<Option<String>>,
    /// `VoiceStatusCallbackMethod`.
    pub voice_status_callback_method: Option<String>,
    /// `SipRegistration`.
    pub sip_registration: Option<bool>,
    /// `EmergencyCallingEnabled`.
    pub emergency_calling_enabled: Option<bool>,
    /// `Secure`.
    pub secure: Option<bool>,
    /// `ByocTrunkSid`.
    pub byoc_trunk_sid: Option<Option<String>>,
    /// `EmergencyCallerSid`.
    pub emergency_caller_sid: Option<Option<String>>,
}

/// [`sid_field`] of kind `S`, kept as text: the stored domain holds these SIDs as text.
fn sid_text<S: Sid>(p: &dyn Params, name: &'static str) -> Result<Option<Option<String>>, Invalid> {
    Ok(sid_field::<S>(p, name)?.map(|sid| sid.map(|s| s.as_str().to_owned())))
}

impl SipDomainPatch {
    /// Validates every SIP domain parameter. `DomainName` is required when `creating`, and must
    /// end with `.{suffix}`.
    pub fn parse(p: &dyn Params, suffix: &str, creating: bool) -> Result<Self, Invalid> {
        let domain_name = if creating {
            Some(required(p, "DomainName")?)
        } else {
            text(p, "DomainName")
        };
        Ok(Self {
            domain_name: domain_name
                .map(|d| validate_domain_name(d, suffix))
                .transpose()?,
            friendly_name: friendly_name(p, "FriendlyName", 64)?,
            voice_url: url(p, "VoiceUrl")?,
            voice_method: method(p, "VoiceMethod")?,
            voice_fallback_url: url(p, "VoiceFallbackUrl")?,
            voice_fallback_method: method(p, "VoiceFallbackMethod")?,
            voice_status_callback_url: url(p, "VoiceStatusCallbackUrl")?,
            voice_status_callback_method: method(p, "VoiceStatusCallbackMethod")?,
            sip_registration: boolean(p, "SipRegistration")?,
            emergency_calling_enabled: boolean(p, "EmergencyCallingEnabled")?,
            secure: boolean(p, "Secure")?,
            byoc_trunk_sid: sid_text::<ByocTrunkSid>(p, "ByocTrunkSid")?,
            emergency_caller_sid: sid_text::<PhoneNumberSid>(p, "EmergencyCallerSid")?,
        })
    }

    /// A new domain from a create's parameters, with Twilio's defaults for what was not sent.
    pub fn into_new(self, sid: SipDomainSid, account_sid: AccountSid, now: i64) -> SipDomain {
        let mut d = SipDomain {
            sid,
            account_sid,
            domain_name: String::new(),
            friendly_name: None,
            voice_url: None,
            voice_method: "POST".into(),
            voice_fallback_url: None,
            voice_fallback_method: "POST".into(),
            voice_status_callback_url: None,
            voice_status_callback_method: "POST".into(),
            sip_registration: false,
            emergency_calling_enabled: false,
            secure: false,
            byoc_trunk_sid: None,
            emergency_caller_sid: None,
            date_created: now,
            date_updated: now,
            calls_auth: CallsAuth::default(),
        };
        self.apply(&mut d, now);
        d
    }

    /// Applies the sent fields to `d`.
    pub fn apply(self, d: &mut SipDomain, now: i64) {
        fn set<T>(field: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *field = v;
            }
        }
        set(&mut d.domain_name, self.domain_name);
        if let Some(f) = self.friendly_name {
            d.friendly_name = Some(f);
        }
        set(&mut d.voice_url, self.voice_url);
        set(&mut d.voice_method, self.voice_method);
        set(&mut d.voice_fallback_url, self.voice_fallback_url);
        set(&mut d.voice_fallback_method, self.voice_fallback_method);
        set(
            &mut d.voice_status_callback_url,
            self.voice_status_callback_url,
        );
        set(
            &mut d.voice_status_callback_method,
            self.voice_status_callback_method,
        );
        set(&mut d.sip_registration, self.sip_registration);
        set(
            &mut d.emergency_calling_enabled,
            self.emergency_calling_enabled,
        );
        set(&mut d.secure, self.secure);
        set(&mut d.byoc_trunk_sid, self.byoc_trunk_sid);
        set(&mut d.emergency_caller_sid, self.emergency_caller_sid);
        d.date_updated = now;
    }
}

/// What storage knows, inside the write's transaction, about the names around the name a domain
/// would take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFacts {
    /// The domain that holds the very same name (ignoring case), if any.
    pub holder: Option<SipDomainSid>,
    /// The owner (and the owner's parent) of every domain whose name the new one lies under
    /// (`acme.sip.twilio.com` for `x.acme.sip.twilio.com`).
    pub above: Vec<(AccountSid, Option<AccountSid>)>,
    /// The owner (and the owner's parent) of every domain whose name lies under the new one.
    pub below: Vec<(AccountSid, Option<AccountSid>)>,
}

/// How a name meets a name held outside its account's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// It lies under the other name (it is a subdomain of it).
    Under,
    /// The other name lies under it.
    Above,
}

impl SipDomain {
    /// Its voice application, when it has a `VoiceUrl`.
    pub fn voice_app(&self) -> Option<VoiceApp> {
        VoiceApp::of(
            (self.voice_url.as_deref(), &self.voice_method),
            (
                self.voice_fallback_url.as_deref(),
                &self.voice_fallback_method,
            ),
            (
                self.voice_status_callback_url.as_deref(),
                &self.voice_status_callback_method,
            ),
        )
    }

    /// Whether this domain, of `owner`, may have its name: names are unique across all
    /// accounts, ignoring case, and a name may lie under, or above, another domain's name only
    /// when both belong to one family (the account, its parent, its subaccounts), so that no
    /// tenant takes a subdomain of a domain it does not control (Twilio's 21232).
    pub fn may_take_name(&self, owner: &Account, facts: &NameFacts) -> Result<(), Refusal> {
        if let Some(other) = &facts.holder
            && other != &self.sid
        {
            return Err(Refusal::DomainTaken(self.domain_name.clone()));
        }
        let foreign = |owners: &[(AccountSid, Option<AccountSid>)]| {
            owners
                .iter()
                .any(|(o, parent)| !owner.is_family_of(o, parent.as_ref()))
        };
        for (owners, nesting) in [
            (&facts.above, Nesting::Under),
            (&facts.below, Nesting::Above),
        ] {
            if foreign(owners) {
                return Err(Refusal::DomainNested {
                    name: self.domain_name.clone(),
                    nesting,
                });
            }
        }
        Ok(())
    }

    /// Whether the domain may be deleted: not while a source IP mapping references it, nor
    /// while a BYOC trunk names it as its From domain.
    pub fn may_delete(
        &self,
        mapped_by: Option<MappingSid>,
        from_domain_of: Option<ByocTrunkSid>,
    ) -> Result<(), Refusal> {
        if let Some(mapping) = mapped_by {
            return Err(Conflict::DomainInUse {
                domain: self.sid.clone(),
                mapping,
            }
            .into());
        }
        if let Some(trunk) = from_domain_of {
            return Err(Conflict::DomainIsFromDomain {
                domain: self.sid.clone(),
                trunk,
            }
            .into());
        }
        Ok(())
    }
}

/// The key under which domain names are unique: lower case.
pub fn domain_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The names a name (a lower-cased key) lies under, each a label-boundary suffix of it: for
/// `x.acme.sip.twilio.com`, `acme.sip.twilio.com`, `sip.twilio.com`, `twilio.com` and `com`.
/// A valid name has at most 126 of them.
pub fn names_above(key: &str) -> Vec<&str> {
    key.match_indices('.').map(|(i, _)| &key[i + 1..]).collect()
}

/// A name's key reversed, character by character (names are ASCII): the names under a name
/// are then the keys whose reversal starts with its reversal and a dot, one index range.
pub fn reversed_key(name: &str) -> String {
    domain_key(name).chars().rev().collect()
}

/// Checks a domain name: labels of letters, digits and `-` (not at either end of a label), at most
/// 253 characters, ending with `.{suffix}` (compared case-insensitively).
pub fn validate_domain_name(name: &str, suffix: &str) -> Result<String, Invalid> {
    let lower = name.to_ascii_lowercase();
    let tail = format!(".{}", suffix.to_ascii_lowercase());
    if !lower.ends_with(&tail) || lower.len() == tail.len() {
        return Err(Invalid::Domain(Reason::NotUnder {
            name: name.to_owned(),
            suffix: suffix.to_owned(),
        }));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(Invalid::Domain(Reason::BadLabels(name.to_owned())));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_need_the_suffix_and_clean_labels() {
        let s = "sip.twilio.com";
        assert!(validate_domain_name("acme.sip.twilio.com", s).is_ok());
        assert!(validate_domain_name("ACME-1.Sip.Twilio.com", s).is_ok());
        for bad in [
            "sip.twilio.com",
            "acme.example.com",
            "acmesip.twilio.com",
            "ac_me.sip.twilio.com",
            "-acme.sip.twilio.com",
            "a..b.sip.twilio.com",
            "acme .sip.twilio.com",
        ] {
            assert!(validate_domain_name(bad, s).is_err(), "{bad}");
        }
        assert!(validate_domain_name("a.example.test", "example.test").is_ok());
    }

    #[test]
    fn names_above_are_label_boundary_suffixes() {
        assert_eq!(
            names_above("x.scranton.sip.twilio.com"),
            [
                "scranton.sip.twilio.com",
                "sip.twilio.com",
                "twilio.com",
                "com"
            ]
        );
        assert!(!names_above("xscranton.sip.twilio.com").contains(&"scranton.sip.twilio.com"));
        // The longest name a client may give has at most 126 names above it.
        let longest = format!("{}.sip.twilio.com", ["a"; 119].join("."));
        assert!(longest.len() <= 253 && validate_domain_name(&longest, "sip.twilio.com").is_ok());
        assert_eq!(names_above(&longest).len(), 121);
        assert_eq!(reversed_key("Acme.SIP.twilio.com"), "moc.oiliwt.pis.emca");
    }

    fn account(n: u8, owner: Option<u8>) -> Account {
        Account::fixture(n, owner, crate::domain::AccountStatus::Active)
    }

    fn named(n: u8, name: &str) -> SipDomain {
        let patch = SipDomainPatch {
            domain_name: Some(name.into()),
            ..SipDomainPatch::default()
        };
        let sid = SipDomainSid::parse(&format!("SD{n:032x}")).unwrap();
        patch.into_new(sid, account(n, None).sid, 0)
    }

    #[test]
    fn a_name_nests_only_within_its_family() {
        let owners = |list: &[(u8, Option<u8>)]| {
            list.iter()
                .map(|(o, p)| {
                    let a = account(*o, *p);
                    (a.sid, a.owner_sid)
                })
                .collect::<Vec<_>>()
        };
        let sub = account(2, Some(1));
        let d = named(2, "x.scranton.sip.twilio.com");
        let facts = |above: &[(u8, Option<u8>)], below: &[(u8, Option<u8>)]| NameFacts {
            holder: None,
            above: owners(above),
            below: owners(below),
        };
        assert_eq!(d.may_take_name(&sub, &facts(&[], &[])), Ok(()));
        assert_eq!(
            d.may_take_name(&sub, &facts(&[(1, None), (2, Some(1))], &[(2, Some(1))])),
            Ok(()),
            "its parent's and its own names"
        );
        let parent = account(1, None);
        assert_eq!(
            d.may_take_name(&parent, &facts(&[], &[(2, Some(1))])),
            Ok(()),
            "a parent may hold a name above its subaccount's"
        );
        for stranger in [(3, Some(1)), (4, None), (5, Some(4))] {
            assert_eq!(
                d.may_take_name(&sub, &facts(&[stranger], &[])),
                Err(Refusal::DomainNested {
                    name: d.domain_name.clone(),
                    nesting: Nesting::Under
                }),
                "{stranger:?} is outside the family"
            );
            assert_eq!(
                d.may_take_name(&sub, &facts(&[], &[stranger])),
                Err(Refusal::DomainNested {
                    name: d.domain_name.clone(),
                    nesting: Nesting::Above
                }),
            );
        }
        // A taken name says so first; the domain's own name is no obstacle.
        let taken = NameFacts {
            holder: Some(named(9, "y.sip.twilio.com").sid),
            ..facts(&[(4, None)], &[])
        };
        assert!(matches!(
            d.may_take_name(&sub, &taken),
            Err(Refusal::DomainTaken(_))
        ));
        let own = NameFacts {
            holder: Some(d.sid.clone()),
            ..NameFacts::default()
        };
        assert_eq!(d.may_take_name(&sub, &own), Ok(()));
    }
}
