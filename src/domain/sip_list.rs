//! What IP access control lists (`AL…`) and credential lists (`CL…`) share: a named list that
//! belongs to an account, with a required friendly name of bounded length.

use super::{Invalid, Limits, Params, Refusal, friendly_name, required};
use crate::sid::AccountSid;

/// A list as stored; `S` is its kind of SID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipList<S> {
    /// Its SID.
    pub sid: S,
    /// The owning account.
    pub account_sid: AccountSid,
    /// Required, at most `MAX` characters of its [`ListName`].
    pub friendly_name: String,
    /// Unix seconds.
    pub date_created: i64,
    /// Unix seconds.
    pub date_updated: i64,
}

/// The friendly name of a list's create or update: required on both, at most `MAX` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListName<const MAX: usize>(pub String);

impl<const MAX: usize> ListName<MAX> {
    /// Validates `FriendlyName`.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        required(p, "FriendlyName")?;
        Ok(Self(
            friendly_name(p, "FriendlyName", MAX)?.unwrap_or_default(),
        ))
    }

    /// The list this creates, with the SID and time storage minted for it.
    pub fn into_list<S>(self, sid: S, account_sid: AccountSid, now: i64) -> SipList<S> {
        SipList {
            sid,
            account_sid,
            friendly_name: self.0,
            date_created: now,
            date_updated: now,
        }
    }

    /// Renames `list`; a name that changes nothing leaves it as it is.
    pub fn apply<S>(self, list: &mut SipList<S>, now: i64) {
        if list.friendly_name != self.0 {
            list.friendly_name = self.0;
            list.date_updated = now;
        }
    }
}

/// Whether an account holding `held` lists of one kind may create another.
pub fn may_create_list(held: u64, limits: &Limits) -> Result<(), Refusal> {
    limits.check(super::Limited::ListsPerAccount, held)
}
