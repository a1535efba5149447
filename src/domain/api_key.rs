//! API keys (`SK…`): credentials an account makes for its applications. A key authenticates as
//! the account that owns it, with the same rights as the account's auth token; its secret is
//! shown once, when the key is created, and only a salted hash of it is stored.

use super::{Invalid, Limited, Limits, Params, Refusal, friendly_name};
use crate::auth_token::TokenHash;
use crate::sid::{AccountSid, ApiKeySid};

/// An API key as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Its SID, the user name of HTTP Basic authentication.
    pub sid: ApiKeySid,
    /// The account it authenticates as.
    pub account_sid: AccountSid,
    /// Free text, at most 64 characters; `None` when never given.
    pub friendly_name: Option<String>,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

/// The `FriendlyName` a create or update sends (at most 64 characters, as on Twilio); `None`
/// when it was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(pub Option<String>);

impl KeyName {
    /// Reads `FriendlyName`.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        friendly_name(p, "FriendlyName", 64).map(Self)
    }
}

/// What creating a key needs: its name and the salted hash of the secret made for it.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// `FriendlyName`.
    pub name: KeyName,
    /// The salted hash of its secret.
    pub secret: TokenHash,
}

impl NewApiKey {
    /// The key this creates, with the SID and time storage minted for it, and its secret's hash.
    pub fn into_key(
        self,
        sid: ApiKeySid,
        account_sid: AccountSid,
        now: i64,
    ) -> (ApiKey, TokenHash) {
        let key = ApiKey {
            sid,
            account_sid,
            friendly_name: self.name.0,
            date_created: now,
            date_updated: now,
        };
        (key, self.secret)
    }
}

impl ApiKey {
    /// Whether an account holding `held` keys may make one more: it must take writes (not be
    /// closed) and stay within the limit.
    pub fn may_create(owner: &super::Account, held: u64, limits: &Limits) -> Result<(), Refusal> {
        owner.accepts_writes()?;
        limits.check(Limited::KeysPerAccount, held)
    }

    /// Applies an update: a sent `FriendlyName` replaces the name (and dates the change).
    pub fn rename(&mut self, name: KeyName, now: i64) {
        if let Some(name) = name.0
            && self.friendly_name.as_deref() != Some(name.as_str())
        {
            self.friendly_name = Some(name);
            self.date_updated = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Account, AccountStatus};

    struct P(Vec<(&'static str, &'static str)>);
    impl Params for P {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        }
    }

    fn owner(status: AccountStatus) -> Account {
        Account::fixture(1, None, status)
    }

    #[test]
    fn names_are_at_most_64_characters() {
        let long = "é".repeat(64);
        let ok = P(vec![("FriendlyName", long.leak())]);
        assert!(KeyName::parse(&ok).is_ok());
        let too_long = "x".repeat(65);
        let bad = P(vec![("FriendlyName", too_long.leak())]);
        assert!(KeyName::parse(&bad).is_err());
        assert_eq!(KeyName::parse(&P(vec![])), Ok(KeyName(None)));
    }

    #[test]
    fn keys_are_bounded_per_account_and_closed_accounts_make_none() {
        let limits = Limits {
            keys_per_account: 2,
            ..Limits::default()
        };
        let active = owner(AccountStatus::Active);
        assert!(ApiKey::may_create(&active, 1, &limits).is_ok());
        assert!(matches!(
            ApiKey::may_create(&active, 2, &limits),
            Err(Refusal::LimitReached {
                what: Limited::KeysPerAccount,
                limit: 2
            })
        ));
        let closed = owner(AccountStatus::Closed);
        assert!(matches!(
            ApiKey::may_create(&closed, 0, &limits),
            Err(Refusal::AccountNotActive(_))
        ));
    }

    #[test]
    fn renaming_dates_only_a_real_change() {
        let sid = ApiKeySid::parse("SK00000000000000000000000000000001").unwrap();
        let new = NewApiKey {
            name: KeyName(Some("a".into())),
            secret: TokenHash::dummy(),
        };
        let (mut key, _) = new.into_key(sid, owner(AccountStatus::Active).sid, 10);
        key.rename(KeyName(None), 20);
        assert_eq!(
            (key.friendly_name.as_deref(), key.date_updated),
            (Some("a"), 10)
        );
        key.rename(KeyName(Some("a".into())), 30);
        assert_eq!(key.date_updated, 10);
        key.rename(KeyName(Some("b".into())), 40);
        assert_eq!(
            (key.friendly_name.as_deref(), key.date_updated),
            (Some("b"), 40)
        );
    }
}
