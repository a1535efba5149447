//! Monitor Alerts (Twilio's Debugger): the errors and warnings of an account's calls, kept
//! apart from the calls so that they outlive a call's record. Each [`Notification`] a call
//! records is also an [`Alert`] with the same `NO…` SID ([`Alert::of_notification`]), written in
//! the notification's transaction. Here: the stored [`Alert`], the list's [`AlertFilter`]
//! (Twilio's `LogLevel`, `StartDate`, `EndDate`) and the [`AlertRetention`].

use super::call::{LogLevel, Notification, TimeRange};
use super::{Invalid, Params, Reason};
use crate::sid::{AccountSid, NotificationSid};

/// The API version an alert of a call names (the calls' API).
pub const CALLS_API_VERSION: &str = "2010-04-01";

/// The levels Twilio documents for `LogLevel`; sipmap records the first two.
const LEVELS: [&str; 4] = ["error", "warning", "notice", "debug"];

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// `NO…`: the SID of the notification it is.
    pub sid: NotificationSid,
    /// The account whose debugger shows it.
    pub account_sid: AccountSid,
    /// Twilio's code (11200, 12100, 12300…).
    pub error_code: u32,
    /// `error` or `warning`.
    pub log_level: String,
    /// What happened, in sipmap's words.
    pub alert_text: String,
    /// The API whose resource it concerns (`2010-04-01` for calls).
    pub api_version: String,
    /// The method of the request involved, if any.
    pub request_method: Option<String>,
    /// The URL of the request involved, if any.
    pub request_url: Option<String>,
    /// Its parameters, form-encoded.
    pub request_variables: Option<String>,
    /// The resource it concerns (the call's `CA…`).
    pub resource_sid: Option<String>,
    /// When it happened (Unix ms): `date_generated`.
    pub generated_ms: i64,
    /// When it was stored (Unix ms): `date_created` and `date_updated`.
    pub created_ms: i64,
}

impl LogLevel {
    /// The Monitor API's word for the level (`log_level`).
    pub fn word(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
        }
    }
}

impl Alert {
    /// The alert a call's notification is, stored at `now_ms`: its SID, code, level, text and
    /// request, the call as its resource. A notification holds no secret (its request's
    /// variables are those sent to the application, never a token or a password).
    pub fn of_notification(n: &Notification, now_ms: i64) -> Self {
        Self {
            sid: n.sid.clone(),
            account_sid: n.account_sid.clone(),
            error_code: n.error_code,
            log_level: n.log.word().to_owned(),
            alert_text: n.message_text.clone(),
            api_version: CALLS_API_VERSION.to_owned(),
            request_method: n.request_method.clone(),
            request_url: n.request_url.clone(),
            request_variables: Some(n.request_variables.clone()),
            resource_sid: Some(n.call_sid.as_str().to_owned()),
            generated_ms: n.created_ms,
            created_ms: now_ms,
        }
    }
}

/// The filters of the Alerts list (Twilio's): each given one must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// `LogLevel`: `error`, `warning`, `notice` or `debug`.
    pub log_level: Option<String>,
    /// `StartDate` (on or after) and `EndDate` (on or before), on `date_created`.
    pub date: TimeRange,
}

impl AlertFilter {
    /// The query parameters the filters are read from, in the order list URLs repeat them.
    pub const NAMES: [&'static str; 3] = ["LogLevel", "StartDate", "EndDate"];

    /// Reads the filters (a parameter sent empty is not sent).
    ///
    /// # Errors
    ///
    /// A `LogLevel` Twilio does not document, a `StartDate` or `EndDate` that is not a date or
    /// a date and time.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        let log_level = match super::text(p, "LogLevel") {
            None => None,
            Some(v) if LEVELS.contains(&v) => Some(v.to_owned()),
            Some(v) => {
                return Err(Invalid::Value(
                    "LogLevel",
                    Reason::NotOneOf(v.to_owned(), "error, warning, notice, debug"),
                ));
            }
        };
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
        Ok(Self { log_level, date })
    }
}

/// How long, and how many, alerts an account keeps (Twilio keeps 30 days).
pub type AlertRetention = super::event::MonitorRetention;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::CallSid;

    struct P<'a>(&'a [(&'a str, &'a str)]);
    impl Params for P<'_> {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
        }
    }

    #[test]
    fn a_notification_becomes_an_alert_with_its_sid_code_request_and_call() {
        let n = Notification {
            sid: NotificationSid::generate_at(1_000),
            account_sid: AccountSid::generate(),
            call_sid: CallSid::generate(),
            error_code: 11200,
            log: LogLevel::Error,
            message_text: "HTTP retrieval failure".into(),
            request_url: Some("https://app.example/voice".into()),
            request_method: Some("POST".into()),
            request_variables: "CallSid=CA1".into(),
            created_ms: 1_000,
        };
        let a = Alert::of_notification(&n, 2_000);
        assert_eq!(a.sid, n.sid);
        assert_eq!(a.account_sid, n.account_sid);
        assert_eq!((a.error_code, a.log_level.as_str()), (11200, "error"));
        assert_eq!(a.resource_sid.as_deref(), Some(n.call_sid.as_str()));
        assert_eq!(a.request_url, n.request_url);
        assert_eq!((a.generated_ms, a.created_ms), (1_000, 2_000));
        let w = Notification {
            log: LogLevel::Warning,
            ..n
        };
        assert_eq!(Alert::of_notification(&w, 0).log_level, "warning");
    }

    #[test]
    fn filters_read_twilio_levels_and_dates_and_refuse_others() {
        let f = AlertFilter::parse(&P(&[
            ("LogLevel", "warning"),
            ("StartDate", "2026-03-01"),
            ("EndDate", "2026-03-01"),
        ]))
        .unwrap();
        assert_eq!(f.log_level.as_deref(), Some("warning"));
        let (from, until) = (f.date.from_ms.unwrap(), f.date.until_ms.unwrap());
        assert_eq!(until - from, 86_400_000);
        assert!(AlertFilter::parse(&P(&[("LogLevel", "fatal")])).is_err());
        assert!(AlertFilter::parse(&P(&[("EndDate", "soon")])).is_err());
        assert_eq!(
            AlertFilter::parse(&P(&[("LogLevel", "")])).unwrap(),
            AlertFilter::default()
        );
    }

    #[test]
    fn retention_bounds_age_and_count_and_zero_means_none() {
        let r = AlertRetention {
            max_age_secs: 10,
            per_account: 3,
        };
        assert_eq!(r.older_than(60_000), Some(50_000));
        assert_eq!((r.excess(5), r.excess(3), r.excess(1)), (2, 0, 0));
        let none = AlertRetention {
            max_age_secs: 0,
            per_account: 0,
        };
        assert_eq!((none.older_than(60_000), none.excess(9)), (None, 0));
    }
}
