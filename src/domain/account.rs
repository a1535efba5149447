//! Accounts: who owns resources and who may call the API.

use super::{Invalid, Reason, Refusal};
use crate::sid::AccountSid;

/// Whether an account may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    /// Normal.
    Active,
    /// Temporarily disabled; its credentials are refused.
    Suspended,
    /// Permanently disabled; cannot be reopened.
    Closed,
}

impl AccountStatus {
    /// The wire and storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Closed => "closed",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// An account as stored, without its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its SID.
    pub sid: AccountSid,
    /// The parent of a subaccount; `None` for a top-level account.
    pub owner_sid: Option<AccountSid>,
    /// Free text, at most 64 characters.
    pub friendly_name: String,
    /// Active, suspended or closed.
    pub status: AccountStatus,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
    /// Its auth token sealed with the server key, so that it can be shown; `None` for accounts
    /// whose token was stored as a hash only (created before tokens were sealed) until the token
    /// is set again.
    pub sealed_token: Option<Vec<u8>>,
}

impl Account {
    /// Whether `caller` may act on this account through API 2010 paths: itself or its parent.
    pub fn is_reachable_by(&self, caller: &AccountSid) -> bool {
        &self.sid == caller || self.owner_sid.as_ref() == Some(caller)
    }
}

/// What a status change does to an account's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Nothing changes status (no status sent, or the same one).
    Unchanged,
    /// Active to suspended: its SIP domains and mappings leave recognition, and stay stored.
    Suspend,
    /// Suspended to active: its SIP domains and mappings are recognised again.
    Reactivate,
    /// To closed, which is final: its mappings and SIP domains are deleted, which frees their
    /// networks and domain names for other accounts. `was_active` says whether they were
    /// recognised until now.
    Close {
        /// Whether the account was active (and so recognised) before.
        was_active: bool,
    },
}

impl Account {
    /// Decides a requested status change. Only a subaccount's status can change, and a closed
    /// account stays closed.
    pub fn status_change(&self, requested: Option<AccountStatus>) -> Result<StatusChange, Invalid> {
        use AccountStatus::{Active, Closed, Suspended};
        let Some(to) = requested else {
            return Ok(StatusChange::Unchanged);
        };
        if self.owner_sid.is_none() && to != self.status {
            return Err(Invalid::Value("Status", Reason::TopLevelStatus));
        }
        Ok(match (self.status, to) {
            (from, to) if from == to => StatusChange::Unchanged,
            (Closed, _) => {
                return Err(Invalid::Value("Status", Reason::Reopening));
            }
            (Active, Suspended) => StatusChange::Suspend,
            (Suspended, Active) => StatusChange::Reactivate,
            (from, Closed) => StatusChange::Close {
                was_active: from == Active,
            },
            (Active, Active) | (Suspended, Suspended) => StatusChange::Unchanged,
        })
    }

    /// Whether writes may be made for this account, and if so whether they are recognised: a
    /// closed account takes none; a suspended one's are stored but stay out of recognition until
    /// it is reactivated.
    pub fn accepts_writes(&self) -> Result<bool, Refusal> {
        match self.status {
            AccountStatus::Closed => Err(Refusal::AccountNotActive(self.sid.clone())),
            status => Ok(status == AccountStatus::Active),
        }
    }

    /// Whether `other` is in this account's family: itself, its parent or one of its
    /// subaccounts. Networks may overlap only within a family.
    pub fn is_family_of(&self, other: &AccountSid, other_owner: Option<&AccountSid>) -> bool {
        other == &self.sid
            || self.owner_sid.as_ref() == Some(other)
            || other_owner == Some(&self.sid)
    }
}

/// What is needed to create an account. Storage keeps a salted hash of the token, which requests
/// are checked against, and the token sealed with the server key, which fetches show.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Its parent, for a subaccount.
    pub owner_sid: Option<AccountSid>,
    /// Free text; a subaccount created without one gets Twilio's default name.
    pub friendly_name: Option<String>,
    /// Its auth token.
    pub token: crate::auth_token::AuthToken,
}

impl NewAccount {
    /// The account this creates, with the SID and time storage minted for it and its token as
    /// sealed by storage.
    pub fn into_account(self, sid: AccountSid, now: i64, sealed_token: Option<Vec<u8>>) -> Account {
        let friendly_name = self
            .friendly_name
            .unwrap_or_else(|| default_subaccount_name(now));
        Account {
            sid,
            owner_sid: self.owner_sid,
            friendly_name,
            status: AccountStatus::Active,
            date_created: now,
            date_updated: now,
            sealed_token,
        }
    }
}

/// What an update may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPatch {
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `Status`.
    pub status: Option<AccountStatus>,
}

/// The default name Twilio gives a subaccount: `SubAccount Created at 2026-11-23 03:04 pm`.
pub fn default_subaccount_name(now: i64) -> String {
    let iso = crate::timefmt::iso8601(now);
    let (date, time) = (&iso[..10], &iso[11..16]);
    let hour: u32 = time[..2].parse().unwrap_or(0);
    let (h12, meridian) = match hour {
        0 => (12, "am"),
        1..=11 => (hour, "am"),
        12 => (12, "pm"),
        _ => (hour - 12, "pm"),
    };
    format!(
        "SubAccount Created at {date} {h12:02}:{} {meridian}",
        &time[3..5]
    )
}

#[cfg(test)]
impl Account {
    /// An account for the domain's unit tests: SID `AC` and `n` in 32 hex digits, a subaccount of
    /// account `owner` when given, unnamed, created at 0, without a token.
    pub(crate) fn fixture(n: u8, owner: Option<u8>, status: AccountStatus) -> Self {
        let sid = |n: u8| AccountSid::parse(&format!("AC{n:032x}")).unwrap();
        Self {
            sid: sid(n),
            owner_sid: owner.map(sid),
            friendly_name: String::new(),
            status,
            date_created: 0,
            date_updated: 0,
            sealed_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u8, owner: Option<u8>, status: AccountStatus) -> Account {
        Account::fixture(n, owner, status)
    }

    #[test]
    fn closed_is_final_and_top_level_accounts_keep_their_status() {
        use AccountStatus::*;
        let sub = |s| account(2, Some(1), s);
        assert_eq!(sub(Active).status_change(None), Ok(StatusChange::Unchanged));
        assert_eq!(
            sub(Active).status_change(Some(Suspended)),
            Ok(StatusChange::Suspend)
        );
        assert_eq!(
            sub(Suspended).status_change(Some(Active)),
            Ok(StatusChange::Reactivate)
        );
        assert_eq!(
            sub(Active).status_change(Some(Closed)),
            Ok(StatusChange::Close { was_active: true })
        );
        assert_eq!(
            sub(Suspended).status_change(Some(Closed)),
            Ok(StatusChange::Close { was_active: false })
        );
        assert_eq!(
            sub(Closed).status_change(Some(Closed)),
            Ok(StatusChange::Unchanged)
        );
        for to in [Active, Suspended] {
            assert!(sub(Closed).status_change(Some(to)).is_err());
        }
        let top = account(1, None, Active);
        assert!(top.status_change(Some(Suspended)).is_err());
        assert!(top.status_change(Some(Closed)).is_err());
        assert_eq!(top.status_change(Some(Active)), Ok(StatusChange::Unchanged));
    }

    #[test]
    fn default_name_uses_a_twelve_hour_clock() {
        // 2015-07-30T20:00:00Z
        assert_eq!(
            default_subaccount_name(1_438_286_400),
            "SubAccount Created at 2015-07-30 08:00 pm"
        );
        assert_eq!(
            default_subaccount_name(1_438_214_400),
            "SubAccount Created at 2015-07-30 12:00 am"
        );
    }

    #[test]
    fn closed_accounts_take_no_writes_and_suspended_ones_are_not_recognised() {
        use AccountStatus::*;
        assert_eq!(account(2, Some(1), Active).accepts_writes(), Ok(true));
        assert_eq!(account(2, Some(1), Suspended).accepts_writes(), Ok(false));
        assert!(account(2, Some(1), Closed).accepts_writes().is_err());
    }

    #[test]
    fn a_family_is_the_account_its_parent_and_its_subaccounts() {
        let parent = account(1, None, AccountStatus::Active);
        let sub = account(2, Some(1), AccountStatus::Active);
        let sibling = account(3, Some(1), AccountStatus::Active);
        let stranger = account(4, None, AccountStatus::Active);
        assert!(parent.is_family_of(&sub.sid, sub.owner_sid.as_ref()));
        assert!(sub.is_family_of(&parent.sid, None));
        assert!(sub.is_family_of(&sub.sid, sub.owner_sid.as_ref()));
        assert!(!sub.is_family_of(&sibling.sid, sibling.owner_sid.as_ref()));
        assert!(!parent.is_family_of(&stranger.sid, None));
        assert!(!stranger.is_family_of(&sub.sid, sub.owner_sid.as_ref()));
    }
}
