//! Twilio-style resource identifiers: a two-letter prefix and 32 lowercase hex digits.
//!
//! Each resource has its own newtype (`AccountSid`, `IpRecordSid`, …) so that a SID of one kind can
//! never be passed where another is expected. New SIDs start with the creation time in milliseconds
//! (12 hex digits) followed by 80 random bits, so ordering rows by SID orders them by creation; that
//! order is what list paging walks. NEVER CHANGE THE PREFIXES: they are part of the wire format.

use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of every SID: two prefix letters and 32 hex digits.
pub const SID_LEN: usize = 34;

/// Returns true when `s` is `prefix` followed by exactly 32 hex digits (either case, as Twilio's
/// patterns `^XX[0-9a-fA-F]{32}$` allow).
pub fn is_valid(prefix: &str, s: &str) -> bool {
    let Some(digits) = s
        .as_bytes()
        .get(2..)
        .and_then(|d| <&[u8; 32]>::try_from(d).ok())
    else {
        return false;
    };
    // Every digit checked without a branch, so that the 32 checks run side by side (storage
    // parses a SID per row when the recognition table is loaded: there may be millions).
    s.starts_with(prefix) && digits.iter().fold(true, |ok, b| ok & b.is_ascii_hexdigit())
}

/// Generates the 32 hex digits of a new SID: 48 bits of `millis` (since the epoch), then 80
/// random bits. Within one millisecond the random part is kept increasing so that SIDs made by this
/// process are strictly ordered.
fn new_body(millis: i64) -> String {
    static LAST: Mutex<u128> = Mutex::new(0);
    let millis = u128::try_from(millis).unwrap_or(0) & ((1u128 << 48) - 1);
    let random: u128 = rand::random::<u128>() & ((1u128 << 80) - 1);
    let mut value = (millis << 80) | random;
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if value <= *last {
        value = *last + 1;
    }
    *last = value;
    format!("{value:032x}")
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// 32 random lowercase hex digits, for auth tokens and request IDs.
pub fn random_hex32() -> String {
    format!("{:032x}", rand::random::<u128>())
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The two-letter prefix of this kind of SID.
            pub const PREFIX: &'static str = $prefix;

            /// A new, unique SID of this kind, made now.
            pub fn generate() -> Self {
                Self::generate_at(now_millis())
            }

            /// A new, unique SID of this kind whose time part is `millis` since the epoch.
            pub fn generate_at(millis: i64) -> Self {
                Self(format!("{}{}", $prefix, new_body(millis)))
            }

            /// Parses a SID, accepting only this kind's prefix followed by 32 hex digits.
            pub fn parse(s: &str) -> Option<Self> {
                is_valid($prefix, s).then(|| Self(s.to_owned()))
            }

            /// [`Self::parse`] of a string already owned, kept without a copy.
            pub fn parse_owned(s: String) -> Option<Self> {
                is_valid($prefix, &s).then(|| Self(s))
            }

            /// The SID as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse_owned(s).ok_or_else(|| {
                    serde::de::Error::custom(concat!("not a SID starting with ", $prefix))
                })
            }
        }

        impl Sid for $name {
            const PREFIX: &'static str = $prefix;

            fn parse(s: &str) -> Option<Self> {
                $name::parse(s)
            }

            fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// What every kind of SID can do, for code that handles any kind.
pub trait Sid: Sized + Clone + fmt::Display + Send + Sync + 'static {
    /// The two-letter prefix of this kind of SID.
    const PREFIX: &'static str;
    /// Parses a SID of this kind.
    fn parse(s: &str) -> Option<Self>;
    /// The SID as a string.
    fn as_str(&self) -> &str;
}

sid_type!(
    /// An account (`AC…`).
    AccountSid,
    "AC"
);
sid_type!(
    /// A Voice v1 IP Record (`IL…`).
    IpRecordSid,
    "IL"
);
sid_type!(
    /// A Voice v1 Source IP Mapping (`IB…`).
    MappingSid,
    "IB"
);
sid_type!(
    /// An API 2010 SIP Domain (`SD…`).
    SipDomainSid,
    "SD"
);
sid_type!(
    /// An API 2010 SIP IP Access Control List (`AL…`).
    AclSid,
    "AL"
);
sid_type!(
    /// An API 2010 SIP IP Address of an access control list (`IP…`).
    AclAddressSid,
    "IP"
);
sid_type!(
    /// An API 2010 SIP Credential List (`CL…`).
    CredentialListSid,
    "CL"
);
sid_type!(
    /// An API 2010 SIP Credential of a credential list (`CR…`).
    CredentialSid,
    "CR"
);
sid_type!(
    /// A Voice v1 BYOC Trunk (`BY…`).
    ByocTrunkSid,
    "BY"
);
sid_type!(
    /// A Voice v1 Connection Policy (`NY…`).
    ConnectionPolicySid,
    "NY"
);
sid_type!(
    /// A Voice v1 Connection Policy Target (`NE…`).
    PolicyTargetSid,
    "NE"
);
sid_type!(
    /// An API 2010 Incoming Phone Number (`PN…`), which a SIP domain may name as its emergency
    /// caller.
    PhoneNumberSid,
    "PN"
);
sid_type!(
    /// An API 2010 API key (`SK…`), which authenticates as the account that owns it.
    ApiKeySid,
    "SK"
);
sid_type!(
    /// An API 2010 Call (`CA…`): a call to a SIP domain's application, or the child call of
    /// its `<Dial>`.
    CallSid,
    "CA"
);
sid_type!(
    /// A Monitor Event (`AE…`): one change the API made, in the audit log.
    EventSid,
    "AE"
);
sid_type!(
    /// An API 2010 Notification of a call (`NO…`): an error or warning with Twilio's code.
    NotificationSid,
    "NO"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sids_parse_and_sort_by_creation() {
        let a = IpRecordSid::generate();
        let b = IpRecordSid::generate();
        assert_eq!(a.as_str().len(), SID_LEN);
        assert!(a.as_str().starts_with("IL"));
        assert_eq!(IpRecordSid::parse(a.as_str()), Some(a.clone()));
        assert!(a < b, "{a} should sort before {b}");
    }

    #[test]
    fn parse_rejects_wrong_prefix_length_and_digits() {
        let good = "IL0123456789abcdef0123456789ABCDEF";
        assert!(IpRecordSid::parse(good).is_some());
        assert!(MappingSid::parse(good).is_none());
        assert!(IpRecordSid::parse(&good[..33]).is_none());
        assert!(IpRecordSid::parse(&format!("{good}0")).is_none());
        assert!(IpRecordSid::parse("IL0123456789abcdef0123456789abcdeg").is_none());
        assert!(IpRecordSid::parse("").is_none());
        assert!(IpRecordSid::parse("ILé123456789abcdef0123456789abcde").is_none());
    }

    #[test]
    fn sids_deserialize_only_when_they_parse() {
        let good = "\"IL0123456789abcdef0123456789abcdef\"";
        let sid: IpRecordSid = serde_json::from_str(good).unwrap();
        assert_eq!(serde_json::to_string(&sid).unwrap(), good);
        assert!(serde_json::from_str::<MappingSid>(good).is_err());
        assert!(serde_json::from_str::<IpRecordSid>("\"IL01\"").is_err());
        assert!(serde_json::from_str::<IpRecordSid>("7").is_err());
    }
}
