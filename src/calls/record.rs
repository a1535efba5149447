//! What a call stores and reports: its status changes (persisted, then reported to the
//! domain's `VoiceStatusCallbackUrl` when final), the events of its HTTP requests
//! ([`event_of`]) and its notifications.

use std::time::UNIX_EPOCH;

use url::Url;

use super::params::{self, Params};
use super::{Call, Out, Persist};
use crate::domain::call::{Call as CallRecord, CallEvent, CallStatus, LogLevel, Notification};
use crate::sid::{CallSid, NotificationSid};
use crate::sip::ua::Millis;
use crate::voice::Code;
use crate::voice::twiml::Method;
use crate::voice::webhook::{Exchange, WebhookRequest};

/// The event of one HTTP request made for `record`'s call: what was sent, what came back.
pub fn event_of(record: &CallRecord, exchange: &Exchange) -> CallEvent {
    let started_ms = exchange
        .started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let response = exchange.response.as_ref();
    CallEvent {
        call_sid: record.sid.clone(),
        account_sid: record.account_sid.clone(),
        method: exchange.method.as_str().to_owned(),
        url: exchange.url.clone(),
        parameters: exchange.params.clone(),
        started_ms,
        duration_ms: u64::try_from(exchange.duration.as_millis()).unwrap_or(u64::MAX),
        response_status: response.map(|r| r.status),
        response_headers: response.map(|r| r.headers.clone()).unwrap_or_default(),
        response_body: response.map_or_else(String::new, |r| CallEvent::excerpt(&r.body)),
        error_code: exchange.result.as_ref().err().map(|f| f.code.number()),
    }
}

/// A webhook request to `url` with `method` and `params`.
pub(super) fn request(url: &Url, method: Method, params: Params) -> WebhookRequest {
    WebhookRequest {
        url: url.clone(),
        method,
        params,
    }
}

/// Unix milliseconds of an instant.
pub(super) fn unix_ms(now: Millis) -> i64 {
    i64::try_from(now.0).unwrap_or(i64::MAX)
}

impl Call {
    /// Moves the call to `status` (if the rule allows it) and persists it; a final status is
    /// then reported to the domain's status callback.
    pub(super) fn set_status(&mut self, status: CallStatus, now: Millis) {
        if self.record.set_status(status, unix_ms(now)).is_err() {
            return;
        }
        self.out
            .push(Out::Persist(Persist::Call(Box::new(self.record.clone()))));
        if status.is_final() {
            self.report_end();
        }
    }

    /// The domain's status callback for the call's end.
    fn report_end(&mut self) {
        let Some((url, method)) = self.app.status_callback.clone() else {
            return;
        };
        self.sequence += 1;
        let params = params::progress(
            &self.params,
            &self.record,
            self.record.status.as_str(),
            self.sequence - 1,
        );
        self.out.push(Out::Callback {
            call_sid: self.record.sid.clone(),
            request: request(&url, method, params),
        });
    }

    /// Persists the event of a webhook of the call.
    pub(super) fn persist_event(&mut self, exchange: &Exchange) {
        let event = event_of(&self.record, exchange);
        self.out.push(Out::Persist(Persist::Event(Box::new(event))));
    }

    /// Persists a notification of the call: `code` (an error unless it is a warning code),
    /// `message`, and the request involved.
    pub(super) fn notify(
        &mut self,
        code: Code,
        message: String,
        request: Option<&WebhookRequest>,
        now: Millis,
    ) {
        let log = if code.is_warning() {
            LogLevel::Warning
        } else {
            LogLevel::Error
        };
        self.note((code, log), message, request, now);
    }

    /// Persists a notification of the call at level `log`, whatever its code (an error that
    /// Twilio's catalogue only has a warning code for: a verb sipmap cannot run).
    pub(super) fn note(
        &mut self,
        (code, log): (Code, LogLevel),
        message: String,
        request: Option<&WebhookRequest>,
        now: Millis,
    ) {
        let variables = request.map_or_else(String::new, |r| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(r.params.iter())
                .finish()
        });
        let notification = Notification {
            sid: NotificationSid::generate_at(unix_ms(now)),
            account_sid: self.record.account_sid.clone(),
            call_sid: self.record.sid.clone(),
            error_code: code.number(),
            log,
            message_text: message,
            request_url: request.map(|r| r.url.to_string()),
            request_method: request.map(|r| r.method.as_str().to_owned()),
            request_variables: variables,
            created_ms: unix_ms(now),
        };
        self.out
            .push(Out::Persist(Persist::Notification(Box::new(notification))));
    }

    /// Persists a child call's record.
    pub(super) fn persist_record(&mut self, record: &CallRecord) {
        self.out
            .push(Out::Persist(Persist::Call(Box::new(record.clone()))));
    }

    /// A status callback about `call_sid`.
    pub(super) fn callback(&mut self, call_sid: &CallSid, request: WebhookRequest) {
        self.out.push(Out::Callback {
            call_sid: call_sid.clone(),
            request,
        });
    }
}
