//! A call as Twilio's API 2010 `Calls` resource shows it ([`Call`]), the HTTP requests sipmap
//! made for it (`Calls/{CallSid}/Events`: [`CallEvent`]) and its errors and warnings
//! (`Calls/{CallSid}/Notifications`: [`Notification`]); with the one rule a call's life follows,
//! which status may follow which ([`CallStatus::may_become`]).
//!
//! Times are Unix milliseconds: the call engine's clock is the wall clock, and a call's
//! `duration` is counted from its answer to its end. The HTTP layer formats them as Twilio's
//! RFC 2822 dates (whole seconds).

use super::{Invalid, Params, Reason};
use crate::sid::{AccountSid, CallSid, NotificationSid, SipDomainSid};

/// A call's status (Twilio's values, `call_enum_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    /// Not yet started (sipmap's calls never stay here: a child call starts ringing at once).
    Queued,
    /// Ringing: an inbound call until it is answered or refused; a child call until its
    /// callee answers.
    Ringing,
    /// Answered and not yet ended.
    InProgress,
    /// Answered, then ended (or ended by `<Hangup>`).
    Completed,
    /// Refused as busy (`<Reject reason="busy">`, a callee's 486/600).
    Busy,
    /// Could not be set up: the application failed, or the callee answered with an error.
    Failed,
    /// Not answered: `<Reject>`, or a callee that rang past `<Dial timeout>`.
    NoAnswer,
    /// Ended by its caller (CANCEL) or the API before it was answered.
    Canceled,
}

impl CallStatus {
    /// Every status, in Twilio's order.
    pub const ALL: [CallStatus; 8] = [
        CallStatus::Queued,
        CallStatus::Ringing,
        CallStatus::InProgress,
        CallStatus::Completed,
        CallStatus::Busy,
        CallStatus::Failed,
        CallStatus::NoAnswer,
        CallStatus::Canceled,
    ];

    /// The status as Twilio writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in-progress",
            CallStatus::Completed => "completed",
            CallStatus::Busy => "busy",
            CallStatus::Failed => "failed",
            CallStatus::NoAnswer => "no-answer",
            CallStatus::Canceled => "canceled",
        }
    }

    /// The status Twilio writes as `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the call has ended: nothing follows this status.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            CallStatus::Queued | CallStatus::Ringing | CallStatus::InProgress
        )
    }

    /// Whether a call in this status may move to `next` (the rule of a call's life): forward
    /// only, queued → ringing → in-progress; a call not yet answered may end in any final
    /// status but `completed` only through `<Hangup>` or the API; an answered call only ends
    /// `completed`; a final status is final.
    pub fn may_become(self, next: CallStatus) -> bool {
        use CallStatus::*;
        match (self, next) {
            (Queued, Ringing | InProgress) => true,
            (Queued | Ringing, n) if n.is_final() => true,
            (Ringing, InProgress) => true,
            (InProgress, Completed) => true,
            _ => false,
        }
    }
}

/// Which way a call goes (Twilio's `call_enum_direction`; sipmap starts no `outbound-api` call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A call that reached a SIP domain.
    Inbound,
    /// The child call a `<Dial>` makes.
    OutboundDial,
}

impl Direction {
    /// The direction as Twilio writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::OutboundDial => "outbound-dial",
        }
    }

    /// The direction Twilio writes as `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Direction::Inbound, Direction::OutboundDial]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// Why a status change was refused: the call is in `from`, which may not become `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} call cannot become {to:?}")]
pub struct BadTransition {
    /// The call's status.
    pub from: CallStatus,
    /// The status asked for.
    pub to: CallStatus,
}

/// A call, as stored and as `Calls` shows it. `answered_by`, `price` and `price_unit`,
/// `phone_number_sid`, `group_sid`, `queue_time` and `trunk_sid` are always `null` (or
/// Twilio's constant) on sipmap's calls and are not held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `CA…`.
    pub sid: CallSid,
    /// The account of the SIP domain.
    pub account_sid: AccountSid,
    /// The call whose `<Dial>` made this one (child calls only).
    pub parent_call_sid: Option<CallSid>,
    /// The SIP domain the call reached (the parent's, for a child call).
    pub domain_sid: SipDomainSid,
    /// `from`: the caller (the From URI of an inbound call; the callerId or the parent's
    /// caller for a child call).
    pub from: String,
    /// `to`: the Request-URI of an inbound call; the `<Sip>` URI or `<Number>` dialled.
    pub to: String,
    /// The status.
    pub status: CallStatus,
    /// Inbound, or outbound-dial.
    pub direction: Direction,
    /// The SIP Call-ID of the call's leg.
    pub sip_call_id: String,
    /// When the call was created (Unix ms): `date_created` and `start_time`.
    pub created_ms: i64,
    /// When it last changed (Unix ms): `date_updated`.
    pub updated_ms: i64,
    /// When it was answered, if it was (Unix ms).
    pub answered_ms: Option<i64>,
    /// When it ended (Unix ms): `end_time`.
    pub ended_ms: Option<i64>,
}

impl Call {
    /// A new call, `ringing` since `now_ms`.
    pub fn ringing(
        sid: CallSid,
        account_sid: AccountSid,
        domain_sid: SipDomainSid,
        direction: Direction,
        (from, to): (String, String),
        sip_call_id: String,
        now_ms: i64,
    ) -> Self {
        Self {
            sid,
            account_sid,
            parent_call_sid: None,
            domain_sid,
            from,
            to,
            status: CallStatus::Ringing,
            direction,
            sip_call_id,
            created_ms: now_ms,
            updated_ms: now_ms,
            answered_ms: None,
            ended_ms: None,
        }
    }

    /// Moves the call to `next` at `now_ms`: `in-progress` records the answer, a final status
    /// the end.
    ///
    /// # Errors
    ///
    /// [`BadTransition`] when the rule ([`CallStatus::may_become`]) forbids it; the call is
    /// then unchanged.
    pub fn set_status(&mut self, next: CallStatus, now_ms: i64) -> Result<(), BadTransition> {
        if !self.status.may_become(next) {
            return Err(BadTransition {
                from: self.status,
                to: next,
            });
        }
        self.status = next;
        self.updated_ms = now_ms;
        if next == CallStatus::InProgress {
            self.answered_ms = Some(now_ms);
        }
        if next.is_final() {
            self.ended_ms = Some(now_ms);
        }
        Ok(())
    }

    /// Ends a call that no runtime will end any more (its node stopped, or the runtime's bound
    /// on a call's life bit): `completed` once answered, `failed` before, at `now_ms`. A call
    /// that has ended already is left as it is; false then.
    pub fn abandon(&mut self, now_ms: i64) -> bool {
        if self.status.is_final() {
            return false;
        }
        let last = if self.status == CallStatus::InProgress {
            CallStatus::Completed
        } else {
            CallStatus::Failed
        };
        self.set_status(last, now_ms.max(self.updated_ms)).is_ok()
    }

    /// `duration`, in whole seconds: from the answer to the end (0 for a call never answered);
    /// `None` while the call lasts.
    pub fn duration_secs(&self) -> Option<u64> {
        let end = self.ended_ms?;
        let from = self.answered_ms.unwrap_or(end);
        Some(u64::try_from(end.saturating_sub(from)).unwrap_or(0) / 1000)
    }

    /// `to_formatted`.
    pub fn to_formatted(&self) -> String {
        formatted(&self.to)
    }

    /// `from_formatted`.
    pub fn from_formatted(&self) -> String {
        formatted(&self.from)
    }
}

/// A party as Twilio's `*_formatted` fields show it: a North American E.164 number as
/// `(NXX) NXX-XXXX`, anything else (other numbers, SIP URIs) as it is.
pub fn formatted(party: &str) -> String {
    let digits = party
        .strip_prefix("+1")
        .filter(|d| d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit()));
    match digits {
        Some(d) => format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
        None => party.to_owned(),
    }
}

/// The most bytes of a response body a [`CallEvent`] keeps.
pub const EVENT_BODY_BYTES: usize = 4096;

/// One HTTP request sipmap made for a call (a webhook, a fallback, an action, a status
/// callback) and what came back, as `Calls/{CallSid}/Events` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// The call it was made for.
    pub call_sid: CallSid,
    /// The call's account.
    pub account_sid: AccountSid,
    /// `GET` or `POST`.
    pub method: String,
    /// The URL requested (a `GET`'s parameters in its query; no credentials).
    pub url: String,
    /// The parameters sent.
    pub parameters: Vec<(String, String)>,
    /// When the request was made (Unix ms).
    pub started_ms: i64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// The response's status, if one came.
    pub response_status: Option<u16>,
    /// The response's headers (names in lower case).
    pub response_headers: Vec<(String, String)>,
    /// The start of the response's body, at most [`EVENT_BODY_BYTES`] (cut at a character).
    pub response_body: String,
    /// The Twilio error code the request ended with, if it failed.
    pub error_code: Option<u32>,
}

impl CallEvent {
    /// `body` as an event keeps it: lossy UTF-8, at most [`EVENT_BODY_BYTES`] bytes, cut at a
    /// character boundary.
    pub fn excerpt(body: &[u8]) -> String {
        let head = &body[..body.len().min(EVENT_BODY_BYTES)];
        let mut text = String::from_utf8_lossy(head).into_owned();
        while text.len() > EVENT_BODY_BYTES {
            text.pop();
        }
        text
    }
}

/// A notification's level (Twilio's `log`: `0` error, `1` warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// An error: the call could not go on as the application asked.
    Error,
    /// A warning: something was ignored or replaced by its default.
    Warning,
}

impl LogLevel {
    /// Twilio's `log` value.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "0",
            LogLevel::Warning => "1",
        }
    }

    /// The level Twilio writes as `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [LogLevel::Error, LogLevel::Warning]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// An error or warning of a call, as `Calls/{CallSid}/Notifications` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `NO…`.
    pub sid: NotificationSid,
    /// The call's account.
    pub account_sid: AccountSid,
    /// The call.
    pub call_sid: CallSid,
    /// Twilio's code (11200, 12100, 13212…).
    pub error_code: u32,
    /// Error or warning.
    pub log: LogLevel,
    /// What happened, in sipmap's words.
    pub message_text: String,
    /// The URL of the request involved, if any.
    pub request_url: Option<String>,
    /// Its method.
    pub request_method: Option<String>,
    /// Its parameters, form-encoded (`request_variables`).
    pub request_variables: String,
    /// When it happened (Unix ms): `message_date` and `date_created`.
    pub created_ms: i64,
}

/// Why a write or an update of a call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallRefusal {
    /// The call has ended: the API can no longer change it.
    #[error("the call has ended")]
    NotLive,
    /// The call has not ended: its record cannot be deleted yet.
    #[error("the call has not ended")]
    Live,
    /// A record that would take the call's status backwards (a runtime's fault).
    #[error(transparent)]
    Backwards(#[from] BadTransition),
}

impl Call {
    /// Whether the API may update the call (end it, redirect it): only while it lasts.
    ///
    /// # Errors
    ///
    /// [`CallRefusal::NotLive`] once it has ended.
    pub fn may_update(&self) -> Result<(), CallRefusal> {
        if self.status.is_final() {
            return Err(CallRefusal::NotLive);
        }
        Ok(())
    }

    /// Whether the call's record may be deleted: only once it has ended.
    ///
    /// # Errors
    ///
    /// [`CallRefusal::Live`] while it lasts.
    pub fn may_delete(&self) -> Result<(), CallRefusal> {
        if !self.status.is_final() {
            return Err(CallRefusal::Live);
        }
        Ok(())
    }

    /// Whether `next`, a newer record of this call, may replace this one: the same status
    /// (other fields changed), or one [`CallStatus::may_become`] allows.
    ///
    /// # Errors
    ///
    /// [`CallRefusal::Backwards`] for any other status.
    pub fn may_become(&self, next: &Call) -> Result<(), CallRefusal> {
        if self.status == next.status || self.status.may_become(next.status) {
            return Ok(());
        }
        Err(BadTransition {
            from: self.status,
            to: next.status,
        }
        .into())
    }
}

/// What an update of a live call through the API asks for (`Status`, then `Twiml`, then
/// `Url` and `Method`: the first given wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallUpdate {
    /// `Status=completed` or `Status=canceled`.
    End(CallStatus),
    /// `Twiml`: run this document instead.
    Twiml(String),
    /// `Url` and `Method` (`POST` unless given): fetch that document and run it instead.
    Redirect {
        /// The absolute `http`/`https` URL.
        url: String,
        /// `GET` or `POST`.
        method: String,
    },
    /// Nothing the call could act on was sent: the call is shown as it is.
    Nothing,
}

impl CallUpdate {
    /// Reads `Status`, `Twiml`, `Url` and `Method`.
    ///
    /// # Errors
    ///
    /// A `Status` other than `completed` or `canceled`, a `Url` that is not an absolute
    /// `http`/`https` URL, a `Method` other than `GET` or `POST`.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        let method = super::method(p, "Method")?;
        let url = super::url(p, "Url")?.flatten();
        if let Some(v) = super::text(p, "Status") {
            return match CallStatus::parse(v) {
                Some(s @ (CallStatus::Completed | CallStatus::Canceled)) => Ok(Self::End(s)),
                _ => Err(Invalid::Value(
                    "Status",
                    Reason::NotOneOf(v.to_owned(), "canceled, completed"),
                )),
            };
        }
        if let Some(twiml) = super::text(p, "Twiml") {
            return Ok(Self::Twiml(twiml.to_owned()));
        }
        Ok(match url {
            Some(url) => Self::Redirect {
                url,
                method: method.unwrap_or_else(|| "POST".into()),
            },
            None => Self::Nothing,
        })
    }
}

/// A span of time a list filter asks for: from `from_ms` (inclusive) until `until_ms`
/// (exclusive), each open when `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// The earliest instant (Unix ms), inclusive.
    pub from_ms: Option<i64>,
    /// The first instant past the range (Unix ms).
    pub until_ms: Option<i64>,
}

impl TimeRange {
    /// `name`, `name>` (on or after) and `name<` (on or before), as Twilio reads them: a date
    /// (`2009-07-06`) stands for its whole day (UTC), a date and time (`2009-07-06T12:00:00Z`)
    /// for its second. The SDKs send `StartTime>` for `start_time_after` (and a query string
    /// `StartTime>=2009-07-06` reads the same).
    pub fn parse(p: &dyn Params, names: [&'static str; 3]) -> Result<Self, Invalid> {
        let [on, after, before] = names;
        let read = |name: &'static str| match super::text(p, name) {
            None => Ok(None),
            Some(v) => span_of(v)
                .map(Some)
                .ok_or_else(|| Invalid::Value(name, Reason::NotDate(v.to_owned()))),
        };
        let mut range = Self::default();
        if let Some((start, end)) = read(on)? {
            range.narrow(Some(start), Some(end));
        }
        if let Some((start, _)) = read(after)? {
            range.narrow(Some(start), None);
        }
        if let Some((_, end)) = read(before)? {
            range.narrow(None, Some(end));
        }
        Ok(range)
    }

    fn narrow(&mut self, from: Option<i64>, until: Option<i64>) {
        if let Some(f) = from {
            self.from_ms = Some(self.from_ms.map_or(f, |x| x.max(f)));
        }
        if let Some(u) = until {
            self.until_ms = Some(self.until_ms.map_or(u, |x| x.min(u)));
        }
    }

    /// Whether the range is open at both ends (no filter).
    pub fn is_open(&self) -> bool {
        self.from_ms.is_none() && self.until_ms.is_none()
    }
}

/// The span (Unix ms, end exclusive) a filter's date or date and time stands for.
pub(crate) fn span_of(v: &str) -> Option<(i64, i64)> {
    const DAY_MS: i64 = 86_400_000;
    if !v.is_ascii() {
        return None;
    }
    let (date, time) = match v.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (v, None),
    };
    let day = days_of(date)? * DAY_MS;
    let Some(time) = time else {
        return Some((day, day + DAY_MS));
    };
    let time = time
        .strip_suffix('Z')
        .or_else(|| time.strip_suffix("+00:00"))?;
    let b = time.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let h = two_digits(&time[0..2]).filter(|h| *h < 24)?;
    let m = two_digits(&time[3..5]).filter(|m| *m < 60)?;
    let s = two_digits(&time[6..8]).filter(|s| *s < 60)?;
    let at = day + ((h * 60 + m) * 60 + s) * 1000;
    Some((at, at + 1000))
}

fn two_digits(s: &str) -> Option<i64> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Days since the Unix epoch of `YYYY-MM-DD` (a real calendar date).
fn days_of(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| {
        let s = &date[r];
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > days_in[(m - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The filters of the `Calls` list (Twilio's): each given one must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// `To`, exactly.
    pub to: Option<String>,
    /// `From`, exactly.
    pub from: Option<String>,
    /// `ParentCallSid`.
    pub parent: Option<CallSid>,
    /// `Status`.
    pub status: Option<CallStatus>,
    /// `StartTime`, `StartTime>`, `StartTime<`: when the call started.
    pub start: TimeRange,
    /// `EndTime`, `EndTime>`, `EndTime<`: when it ended (a call that has not ended matches
    /// none of them).
    pub end: TimeRange,
}

impl CallFilter {
    /// The query parameters the filters are read from, in the order list URIs repeat them.
    pub const NAMES: [&'static str; 10] = [
        "To",
        "From",
        "ParentCallSid",
        "Status",
        "StartTime",
        "StartTime>",
        "StartTime<",
        "EndTime",
        "EndTime>",
        "EndTime<",
    ];

    /// Reads the filters (a parameter sent empty is not sent).
    ///
    /// # Errors
    ///
    /// A `ParentCallSid` that is not a call's SID, a `Status` that is not one of Twilio's, a
    /// time that is not a date or a date and time.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        let status = match super::text(p, "Status") {
            None => None,
            Some(v) => Some(CallStatus::parse(v).ok_or_else(|| {
                Invalid::Value("Status", Reason::NotOneOf(v.to_owned(), STATUSES))
            })?),
        };
        Ok(Self {
            to: super::text(p, "To").map(str::to_owned),
            from: super::text(p, "From").map(str::to_owned),
            parent: super::sid_field(p, "ParentCallSid")?.flatten(),
            status,
            start: TimeRange::parse(p, ["StartTime", "StartTime>", "StartTime<"])?,
            end: TimeRange::parse(p, ["EndTime", "EndTime>", "EndTime<"])?,
        })
    }
}

/// The filters of the `Notifications` lists (Twilio's): each given one must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationFilter {
    /// `Log`: errors (`0`) or warnings (`1`).
    pub log: Option<LogLevel>,
    /// `MessageDate`, `MessageDate>`, `MessageDate<`: when it happened.
    pub date: TimeRange,
}

impl NotificationFilter {
    /// The query parameters the filters are read from, in the order list URIs repeat them.
    pub const NAMES: [&'static str; 4] = ["Log", "MessageDate", "MessageDate>", "MessageDate<"];

    /// Reads the filters (a parameter sent empty is not sent).
    ///
    /// # Errors
    ///
    /// A `Log` other than `0` or `1`, a date that is not a date or a date and time.
    pub fn parse(p: &dyn Params) -> Result<Self, Invalid> {
        let log = match super::text(p, "Log") {
            None => None,
            Some(v) => Some(
                LogLevel::parse(v)
                    .ok_or_else(|| Invalid::Value("Log", Reason::NotOneOf(v.to_owned(), "0, 1")))?,
            ),
        };
        let names = ["MessageDate", "MessageDate>", "MessageDate<"];
        Ok(Self {
            log,
            date: TimeRange::parse(p, names)?,
        })
    }
}

/// Every status, as a client reads the list.
const STATUSES: &str = "queued, ringing, in-progress, completed, busy, failed, no-answer, canceled";

/// How long, and how many, ended calls an account keeps (their events and notifications go
/// with them); a call that has not ended is never pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRetention {
    /// Ended calls older than this many seconds (since they ended) are deleted; 0 keeps them
    /// whatever their age.
    pub max_age_secs: u64,
    /// At most this many calls per account: past it, its oldest ended calls are deleted; 0 for
    /// no bound.
    pub per_account: u64,
}

impl Default for CallRetention {
    fn default() -> Self {
        Self {
            max_age_secs: 30 * 86_400,
            per_account: 10_000,
        }
    }
}

impl CallRetention {
    /// The end time (Unix ms) before which ended calls go, at `now_ms`; `None` to keep them.
    pub fn ended_before(&self, now_ms: i64) -> Option<i64> {
        let age = i64::try_from(self.max_age_secs).ok()?.checked_mul(1000)?;
        (age > 0).then(|| now_ms.saturating_sub(age))
    }

    /// How many ended calls to delete from an account holding `held`, to make room for one
    /// more.
    pub fn excess(&self, held: u64) -> u64 {
        if self.per_account == 0 {
            return 0;
        }
        (held + 1).saturating_sub(self.per_account)
    }
}

#[cfg(test)]
mod tests;
