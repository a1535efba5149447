//! The application: fetching documents (the voice URL, its fallback, redirects, dial actions,
//! each a webhook), and running their verbs in order until one waits or ends the call.

use std::collections::VecDeque;

use url::Url;

use super::child::{DialEnd, Spec, Target};
use super::params::{self, DialOutcome, Params};
use super::record::request;
use super::{Call, MAX_DOCUMENTS, Out, Pending, Purpose};
use crate::domain::call::{CallStatus, LogLevel};
use crate::sip::ua::Millis;
use crate::voice::Code;
use crate::voice::twiml::{self, Dial, DialTarget, Document, Method, RejectReason, Verb};
use crate::voice::webhook::fallback::{Failed, fallback};
use crate::voice::webhook::{Exchange, Failure};

/// The final response for an application that failed.
const APPLICATION_ERROR: u16 = 500;
/// The final response for a verb that needs media.
const NEEDS_MEDIA: u16 = 501;
/// The final response when the document ends (or hangs up) before the call was answered.
const HANGUP_UNANSWERED: u16 = 603;

impl Call {
    /// The parameters of a request about the call now: its own and its status.
    pub(super) fn current_params(&self) -> Params {
        params::with_status(&self.params, self.record.status.as_str())
    }

    /// Requests a document with `params`, for `purpose`; past [`MAX_DOCUMENTS`] the call
    /// fails with 11215 instead.
    pub(super) fn fetch(
        &mut self,
        (url, method): (&Url, Method),
        params: Params,
        purpose: Purpose,
        now: Millis,
    ) {
        let req = request(url, method, params);
        if self.documents >= MAX_DOCUMENTS {
            let text = format!("more than {MAX_DOCUMENTS} documents were requested for this call");
            self.notify(Code::HTTP_TOO_MANY_REDIRECTS, text, Some(&req), now);
            self.application_error(now);
            return;
        }
        self.documents += 1;
        let id = self.id();
        self.out.push(Out::Webhook {
            id,
            request: req.clone(),
        });
        self.pending = Some(Pending {
            id,
            purpose,
            request: req,
        });
    }

    /// The webhook `id` came back: its event, then its document runs, or its failure goes
    /// to the fallback or fails the call.
    pub(super) fn webhook_done(&mut self, id: u32, exchange: &Exchange, now: Millis) {
        let Some(pending) = self.pending.take_if(|p| p.id == id) else {
            return;
        };
        self.persist_event(exchange);
        if self.caller.ended {
            // The caller hung up while the action was requested: its document is not run.
            self.finish();
            return;
        }
        match exchange.twiml() {
            Ok(doc) => self.run_document(doc, pending, now),
            Err(failure) => self.fetch_failed(&pending, &failure, &exchange.url, now),
        }
    }

    /// Runs `doc`, after reporting its warnings.
    pub(super) fn run_document(&mut self, doc: Document, pending: Pending, now: Millis) {
        for w in doc.warnings {
            self.notify(w.code, w.message, Some(&pending.request), now);
        }
        self.verbs = VecDeque::from(doc.verbs);
        self.current = Some(pending);
        self.run(now);
    }

    /// A document could not be had: the notification, then the fallback if it applies (the
    /// voice URL's failure, once), else the call fails.
    fn fetch_failed(&mut self, pending: &Pending, failure: &Failure, url: &str, now: Millis) {
        self.notify(
            failure.code,
            failure.message.clone(),
            Some(&pending.request),
            now,
        );
        self.try_fallback(pending, failure.code, url, now);
    }

    /// The fallback for the voice URL's failure `code` at `url`, else an application error.
    fn try_fallback(&mut self, pending: &Pending, code: Code, url: &str, now: Millis) {
        let failed = Failed {
            code,
            url,
            was_fallback: pending.purpose != Purpose::Voice,
            params: &pending.request.params,
        };
        match fallback(failed, self.app.fallback.as_ref().map(|(u, m)| (u, *m))) {
            Some(req) => self.fetch((&req.url, req.method), req.params, Purpose::Fallback, now),
            None => self.application_error(now),
        }
    }

    /// Runs the next verb: each one waits (a fetch, a dial) or ends the call, and the end of
    /// the document ends it. A dial without `action` runs the verbs after it when it ends.
    fn run(&mut self, now: Millis) {
        match self.verbs.pop_front() {
            None | Some(Verb::Hangup) => self.hang_up(now),
            Some(Verb::Reject(reason)) => self.reject(reason, now),
            Some(Verb::Redirect(r)) => {
                let params = self.current_params();
                self.fetch((&r.url, r.method), params, Purpose::Redirect, now);
            }
            Some(Verb::Dial(dial)) => self.dial(dial, now),
            Some(Verb::Unsupported(name)) => self.needs_media(&name, now),
            Some(Verb::Invalid {
                verb,
                code,
                message,
            }) => self.invalid(&verb, code, message, now),
        }
    }

    /// A verb that cannot run: its notification, then the fallback (a voice URL's document,
    /// before the answer) or an application error.
    fn invalid(&mut self, verb: &str, code: Code, message: String, now: Millis) {
        let Some(current) = self.current.clone() else {
            return self.application_error(now);
        };
        self.notify(
            code,
            format!("<{verb}>: {message}"),
            Some(&current.request),
            now,
        );
        if current.purpose == Purpose::Voice && !self.caller.answered {
            let url = current.request.url.to_string();
            return self.try_fallback(&current, code, &url, now);
        }
        self.application_error(now);
    }

    /// `<Reject>`: 486 (busy) or 404 (rejected), before the answer; after it, a hang-up.
    fn reject(&mut self, reason: RejectReason, now: Millis) {
        let (code, status) = match reason {
            RejectReason::Busy => (486, CallStatus::Busy),
            RejectReason::Rejected => (404, CallStatus::NoAnswer),
        };
        if self.caller.answered {
            return self.hang_up(now);
        }
        self.end_call(status, code, None, now);
    }

    /// `<Hangup>`, or the end of the document: BYE after the answer, 603 before it.
    fn hang_up(&mut self, now: Millis) {
        self.end_call(CallStatus::Completed, HANGUP_UNANSWERED, None, now);
    }

    /// A verb that needs media: 501, a notification naming it, `failed`.
    fn needs_media(&mut self, verb: &str, now: Millis) {
        let text = format!(
            "<{verb}> needs media, which sipmap does not handle (it relays signalling only); \
             the call ends"
        );
        let req = self.pending_request();
        let level = (Code::SCHEMA_VALIDATION_WARNING, LogLevel::Error);
        self.note(level, text, req.as_ref(), now);
        let reason = format!("Not Implemented: <{verb}>");
        self.end_call(CallStatus::Failed, NEEDS_MEDIA, Some(&reason), now);
    }

    /// The call fails: 500 before the answer (BYE after it), `failed`.
    pub(super) fn application_error(&mut self, now: Millis) {
        self.end_call(CallStatus::Failed, APPLICATION_ERROR, None, now);
    }

    /// Ends the call with `status` (or `completed` once answered): the caller's side ended with
    /// `code`, any child leg dropped.
    pub(super) fn end_call(
        &mut self,
        status: CallStatus,
        code: u16,
        reason: Option<&str>,
        now: Millis,
    ) {
        let _ = self.drop_child(now);
        let status = if self.caller.answered {
            CallStatus::Completed
        } else {
            status
        };
        self.end_caller(code, reason, now);
        self.set_status(status, now);
        self.finish();
    }

    /// The call is over: nothing more runs (transactions still finish; see `settle`).
    pub(super) fn finish(&mut self) {
        self.ended = true;
        self.verbs.clear();
        self.pending = None;
    }

    /// The request the current document came from (for notifications), if known.
    fn pending_request(&self) -> Option<crate::voice::webhook::WebhookRequest> {
        self.current.as_ref().map(|p| p.request.clone())
    }

    /// `<Dial>`: its first party is called; without one, the dial fails at once.
    fn dial(&mut self, dial: Dial, now: Millis) {
        if self.caller.answered {
            let text = "a <Dial> after the caller was answered cannot renegotiate its media; \
                        the call ends"
                .to_owned();
            let req = self.pending_request();
            let level = (Code::SCHEMA_VALIDATION_WARNING, LogLevel::Error);
            self.note(level, text, req.as_ref(), now);
            return self.hang_up(now);
        }
        match self.spec_of(dial, now) {
            Ok(spec) => {
                if let Some(end) = self.begin_dial(spec, now) {
                    self.dial_ended(end, now);
                }
            }
            Err(action) => {
                let outcome = DialOutcome {
                    status: CallStatus::Failed.as_str(),
                    ..DialOutcome::default()
                };
                self.dial_ended(DialEnd { outcome, action }, now);
            }
        }
    }

    /// What a `<Dial>` calls; `Err` with its action when it has nothing sipmap can call.
    fn spec_of(&mut self, dial: Dial, now: Millis) -> Result<Spec, Option<(Url, Method)>> {
        let action = dial.action.clone().map(|u| (u, dial.method));
        if dial.targets.len() > 1 {
            let text = format!(
                "<Dial> has {} parties; sipmap calls only the first",
                dial.targets.len()
            );
            self.warn(text, now);
        }
        self.ignored("Dial", &dial.ignored_attributes, now);
        let (target, callback, screening) = match dial.targets.into_iter().next() {
            Some(DialTarget::Sip(s)) => {
                self.ignored("Sip", &s.ignored_attributes, now);
                let target = Target::Sip {
                    uri: s.uri,
                    headers: s.headers,
                    credentials: s.username.zip(s.password),
                };
                (target, s.status_callback, s.screening.is_some())
            }
            Some(DialTarget::Number(n)) => {
                self.ignored("Number", &n.ignored_attributes, now);
                let target = Target::Number {
                    number: n.number,
                    byoc: n.byoc,
                };
                (target, n.status_callback, n.screening.is_some())
            }
            Some(DialTarget::Unsupported(noun)) => {
                let text = format!("<Dial><{noun}> is not supported by sipmap");
                let req = self.pending_request();
                let level = (Code::SCHEMA_VALIDATION_WARNING, LogLevel::Error);
                self.note(level, text, req.as_ref(), now);
                return Err(action);
            }
            None => return Err(action),
        };
        if screening {
            let text = "a party's url (a document for the called party) needs media; ignored";
            self.warn(text.to_owned(), now);
        }
        Ok(Spec {
            target,
            action,
            timeout_secs: dial.timeout_secs,
            time_limit_secs: dial.time_limit_secs,
            caller_id: dial.caller_id,
            callback,
        })
    }

    /// A 12200 warning about the running document.
    fn warn(&mut self, text: String, now: Millis) {
        let req = self.pending_request();
        self.notify(Code::SCHEMA_VALIDATION_WARNING, text, req.as_ref(), now);
    }

    /// A warning naming the attributes of `<element>` that Twilio knows and sipmap ignores.
    fn ignored(&mut self, element: &str, attributes: &[String], now: Millis) {
        if !attributes.is_empty() {
            let text = format!(
                "<{element}> attributes sipmap does not act on were ignored: {}",
                attributes.join(", ")
            );
            self.warn(text, now);
        }
    }

    /// A dial ended: its `action` is requested with the outcome (its document continues the
    /// call), or the verbs after the `<Dial>` run. Once the caller has hung up, the action is
    /// still requested, but nothing more runs.
    pub(super) fn dial_ended(&mut self, end: DialEnd, now: Millis) {
        let status = self.record.status.as_str();
        match end.action {
            Some((url, method)) => {
                let params = params::dial_action(&self.params, status, &end.outcome);
                self.fetch((&url, method), params, Purpose::Action, now);
            }
            None if self.caller.ended => self.finish(),
            None => self.run(now),
        }
    }

    /// A document given by the API (`Twiml`), read against the voice URL.
    pub(super) fn run_twiml(&mut self, text: &str, now: Millis) {
        let base = self.app.voice.0.clone();
        let pending = Pending {
            id: 0,
            purpose: Purpose::Redirect,
            request: request(&base, Method::Post, Params::new()),
        };
        match twiml::parse(text.as_bytes(), &base) {
            Ok(doc) => self.run_document(doc, pending, now),
            Err(e) => {
                self.notify(e.code(), e.to_string(), None, now);
                self.application_error(now);
            }
        }
    }
}
