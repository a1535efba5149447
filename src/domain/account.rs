//! Accounts: who owns resources and who may call the API.

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
}

impl Account {
    /// Whether `caller` may act on this account through API 2010 paths: itself or its parent.
    pub fn is_reachable_by(&self, caller: &AccountSid) -> bool {
        &self.sid == caller || self.owner_sid.as_ref() == Some(caller)
    }
}

/// What is needed to create an account. The token itself is never stored, only its hash.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The SID to give it (generated, or from `TWILIO_ACCOUNT_SID`).
    pub sid: AccountSid,
    /// Its parent, for a subaccount.
    pub owner_sid: Option<AccountSid>,
    /// Free text.
    pub friendly_name: String,
    /// The salted hash of its auth token.
    pub credential: crate::auth_token::TokenHash,
}
