//! SIP Credential Lists (`CL…`) and their Credentials (`CR…`): the usernames and passwords a
//! SIP domain accepts in digest authentication.
//!
//! A password reaches this module only to be checked against Twilio's rules; storage seals it
//! with the server key before it is written, and no view ever shows it.

use super::sip_list::{ListName, SipList};
use super::{Invalid, Limits, Params, Reason, Refusal, required};
use crate::sid::{AccountSid, CredentialListSid, CredentialSid};

/// A credential list as stored.
pub type CredentialList = SipList<CredentialListSid>;

/// The friendly name of a list's create or update: required, at most 64 characters.
pub type CredentialListName = ListName<64>;

/// A credential as stored: its password sealed, never in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Its SID.
    pub sid: CredentialSid,
    /// The owning account.
    pub account_sid: AccountSid,
    /// The list it belongs to.
    pub list_sid: CredentialListSid,
    /// Unique within its list; at most 32 visible ASCII characters.
    pub username: String,
    /// The password, sealed with the server key.
    pub password_sealed: Vec<u8>,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("sid", &self.sid)
            .field("list_sid", &self.list_sid)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A password that meets the rules. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The shortest password accepted (Twilio's rule).
pub const MIN_PASSWORD_LEN: usize = 12;
/// The longest password accepted.
pub const MAX_PASSWORD_LEN: usize = 128;
/// The longest username accepted (Twilio: "up to 32 characters").
pub const MAX_USERNAME_LEN: usize = 32;

impl Password {
    /// Checks Twilio's rules: at least 12 characters, a digit, an upper-case and a lower-case
    /// letter; and at most [`MAX_PASSWORD_LEN`] characters, none of them control characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = |why: Reason| Invalid::Value("Password", why);
        let len = raw.chars().count();
        if len < MIN_PASSWORD_LEN {
            return Err(bad(Reason::TooShort {
                min: MIN_PASSWORD_LEN,
            }));
        }
        if len > MAX_PASSWORD_LEN {
            return Err(bad(Reason::TooLong {
                max: MAX_PASSWORD_LEN,
            }));
        }
        if raw.chars().any(char::is_control) {
            return Err(bad(Reason::ControlCharacters));
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            return Err(bad(Reason::NoDigit));
        }
        if !raw.chars().any(char::is_uppercase) || !raw.chars().any(char::is_lowercase) {
            return Err(bad(Reason::NotMixedCase));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for sealing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A username that SIP can carry: 1 to 32 visible ASCII characters, without `"`, `\` or `:`
/// (which a digest username cannot hold unescaped, or which would make the realm ambiguous).
pub fn parse_username(raw: &str) -> Result<String, Invalid> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_USERNAME_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b':'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Invalid::Value(
            "Username",
            Reason::BadUsername {
                max: MAX_USERNAME_LEN,
            },
        ))
    }
}

/// The validated parameters of a credential's create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// `Username`.
    pub username: String,
    /// `Password`.
    pub password: Password,
}

impl NewCredential {
    /// Validates `Username` and `Password`, both required.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        let username = parse_username(required(p, "Username")?)?;
        let password = Password::parse(required(p, "Password")?)?;
        Ok(Self { username, password })
    }
}

/// The validated parameters of a credential's update: a new password, if sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialPatch {
    /// `Password`.
    pub password: Option<Password>,
}

impl CredentialPatch {
    /// Validates `Password`, if sent.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        Ok(Self {
            password: super::text(p, "Password")
                .map(Password::parse)
                .transpose()?,
        })
    }
}

pub use super::sip_list::may_create_list;

/// Whether `list`, holding `held` credentials, may take one named `username`, which `taken_by`
/// holds already if any.
pub fn may_add_credential(
    list: &CredentialList,
    username: &str,
    taken_by: Option<CredentialSid>,
    held: u64,
    limits: &Limits,
) -> Result<(), Refusal> {
    if let Some(credential) = taken_by {
        return Err(super::Conflict::UsernameTaken {
            list: list.sid.clone(),
            username: username.to_owned(),
            credential,
        }
        .into());
    }
    limits.check(super::Limited::CredentialsPerList, held)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn passwords_follow_twilios_rules() {
        assert!(Password::parse("IWasAtSignal2018").is_ok());
        for (bad, why) in [
            ("Short1a", "at least 12"),
            ("nouppercase123", "mixed case"),
            ("NOLOWERCASE123", "mixed case"),
            ("NoDigitsAtAllHere", "digit"),
            ("Tab\tInside12345", "control"),
        ] {
            match Password::parse(bad) {
                Err(Invalid::Value("Password", reason)) => {
                    assert!(reason.to_string().contains(why), "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert!(Password::parse(&format!("Aa1{}", "x".repeat(MAX_PASSWORD_LEN))).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("IWasAtSignal2018").unwrap()),
            "Password(<redacted>)"
        );
    }

    #[test]
    fn usernames_are_short_visible_and_quotable() {
        assert!(parse_username("alice").is_ok());
        assert!(parse_username("alice+pbx@example.com").is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "a:b", "é", &"x".repeat(33)] {
            assert!(parse_username(bad).is_err(), "{bad:?}");
        }
        let p = HashMap::from([("Username", "alice")]);
        assert_eq!(NewCredential::parse(&p), Err(Invalid::Missing("Password")));
    }

    #[test]
    fn a_list_refuses_a_second_credential_with_one_username() {
        let list = ListName::<64>("l".into()).into_list(
            CredentialListSid::generate(),
            AccountSid::generate(),
            1,
        );
        let limits = Limits::default();
        assert!(may_add_credential(&list, "alice", None, 0, &limits).is_ok());
        let taken = may_add_credential(&list, "alice", Some(CredentialSid::generate()), 1, &limits);
        assert!(matches!(
            taken,
            Err(Refusal::Conflict(
                super::super::Conflict::UsernameTaken { .. }
            ))
        ));
        let full = may_add_credential(&list, "bob", None, limits.credentials_per_list, &limits);
        assert!(matches!(full, Err(Refusal::LimitReached { .. })));
    }
}
