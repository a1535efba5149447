//! Random event sequences for whole calls: the caller's requests (retransmissions, CANCEL,
//! ACK, BYE, re-INVITE, garbage), documents of every kind, the callee's responses and BYE, API
//! commands, failed sends and time. Whatever happens, nothing panics, the call never hangs (once
//! its webhooks are answered and its timers fire, it ends and says so once, its status final),
//! nothing comes out of the event that ended it after [`Out::Ended`], and every final status a
//! status callback reports was persisted before it.

use proptest::prelude::*;

use super::*;
use crate::recognition::Destination;
use crate::sip_syntax::Wire;

const DOCUMENTS: [&str; 10] = [
    r#"<Response><Reject reason="busy"/></Response>"#,
    "<Response><Reject/></Response>",
    "<Response><Hangup/></Response>",
    "<Response><Redirect>/again</Redirect></Response>",
    r#"<Response><Dial action="/after" timeout="5" timeLimit="20"><Sip>sip:bob@192.0.2.7:5070</Sip></Dial></Response>"#,
    r#"<Response><Dial timeout="5"><Sip username="u" password="p">sip:bob@192.0.2.7:5070</Sip></Dial><Reject/></Response>"#,
    r#"<Response><Dial><Number byoc="BY0123456789abcdef0123456789abcdef">+14155550100</Number></Dial></Response>"#,
    "<Response><Say>hi</Say></Response>",
    "not xml",
    "",
];

#[derive(Debug, Clone)]
enum Event {
    /// Time passes (ms), firing the timers due.
    Wait(u32),
    /// The caller: its INVITE again, CANCEL, ACK of the last final response (with an SDP
    /// answer), BYE, re-INVITE with and without offer, garbage.
    Caller(usize),
    /// The webhook in flight gets a document (by index, the last ones failing).
    Document(usize),
    /// The callee answers the last INVITE sent to it with this code.
    Callee(u16),
    /// The callee hangs up.
    CalleeBye,
    /// The route request in flight gets no destination or one.
    Route(bool),
    /// An API command.
    Command(usize),
    /// Sends to the callee fail.
    SendFailed,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u32..40_000).prop_map(Event::Wait),
        (0usize..7).prop_map(Event::Caller),
        (0usize..DOCUMENTS.len() + 1).prop_map(Event::Document),
        prop::sample::select(vec![100u16, 180, 183, 200, 407, 486, 487, 503, 603])
            .prop_map(Event::Callee),
        Just(Event::CalleeBye),
        any::<bool>().prop_map(Event::Route),
        (0usize..4).prop_map(Event::Command),
        Just(Event::SendFailed),
    ]
}

/// The call and what the test remembers of its outputs.
struct Harness {
    call: Call,
    now: u64,
    timers: Vec<(CallTimer, Millis)>,
    webhooks: Vec<(u32, Url)>,
    routes: Vec<u32>,
    to_callee: Option<Bytes>,
    final_to_caller: Option<Bytes>,
    ended: usize,
    after_end: usize,
    /// The statuses persisted so far, per call.
    persisted: Vec<(crate::sid::CallSid, CallStatus)>,
    /// Status callbacks that reported a status not persisted before them.
    unpersisted: usize,
}

impl Harness {
    fn take(&mut self, out: Vec<Out>) {
        for o in out {
            if self.ended > 0 {
                self.after_end += 1;
            }
            match o {
                Out::Arm { timer, at } => self.timers.push((timer, at)),
                Out::Webhook { id, request } => self.webhooks.push((id, request.url)),
                Out::Route { id, .. } => self.routes.push(id),
                Out::Send { to, bytes, .. }
                    if to == addr(CALLEE) && first_line(&bytes).starts_with("INVITE") =>
                {
                    self.to_callee = Some(bytes);
                }
                Out::Send { to, .. } if to == addr(CALLEE) => {}
                Out::Send { bytes, .. } => {
                    let line = first_line(&bytes);
                    if line.starts_with("SIP/2.0 ") && !line.starts_with("SIP/2.0 1") {
                        self.final_to_caller = Some(bytes);
                    }
                }
                Out::Ended => self.ended += 1,
                Out::Persist(Persist::Call(c)) => self.persisted.push((c.sid.clone(), c.status)),
                Out::Callback { call_sid, request } => {
                    let reported = param(&request.params, "CallStatus")
                        .and_then(CallStatus::parse)
                        .filter(|s| s.is_final());
                    if reported.is_some_and(|s| !self.persisted.contains(&(call_sid, s))) {
                        self.unpersisted += 1;
                    }
                }
                _ => {}
            }
        }
    }

    fn wait(&mut self, ms: u64) {
        self.now += ms;
        while let Some(i) = self.timers.iter().position(|(_, at)| at.0 <= T0 + self.now) {
            let (timer, at) = self.timers.remove(i);
            let out = self.call.on_timer(timer, at);
            self.take(out);
        }
    }

    fn caller(&mut self, which: usize) {
        let tag = self.call.caller.dialog.local_tag().to_owned();
        let bytes = match which {
            0 => invite(),
            1 => sibling("CANCEL", "<sip:+15551234567@acme.sip.example.com>"),
            2 => match &self.final_to_caller {
                Some(f) if first_line(f).starts_with("SIP/2.0 2") => {
                    let n = header_of(f, "CSeq").and_then(|c| c.split(' ').next()?.parse().ok());
                    in_dialog("ACK", n.unwrap_or(314159), &tag, SDP)
                }
                Some(f) => sibling("ACK", &header_of(f, "To").unwrap()),
                None => return,
            },
            3 => in_dialog("BYE", 314160 + self.now as u32, &tag, ""),
            4 => in_dialog("INVITE", 314160 + self.now as u32, &tag, SDP),
            5 => in_dialog("INVITE", 314160 + self.now as u32, &tag, ""),
            _ => b"garbage\r\n\r\n".to_vec(),
        };
        let out = self
            .call
            .on_message(&bytes, addr(CALLER), Transport::Udp, at(self.now));
        self.take(out);
    }

    fn document(&mut self, which: usize) {
        let Some((id, url)) = self.webhooks.pop() else {
            return;
        };
        let exchange = match DOCUMENTS.get(which) {
            Some(doc) => answered(&url, 200, doc),
            None => answered(&url, 500, ""),
        };
        let out = self.call.on_webhook(id, &exchange, at(self.now));
        self.take(out);
    }

    fn callee(&mut self, code: u16) {
        let Some(invite) = self.to_callee.clone() else {
            return;
        };
        let challenge = if code == 407 {
            "Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"n\", qop=\"auth\"\n"
        } else {
            ""
        };
        let body = if matches!(code, 183 | 200) {
            CALLEE_SDP
        } else {
            ""
        };
        let resp = callee_response(&invite, code, body, challenge);
        let out = self
            .call
            .on_message(&resp, addr(CALLEE), Transport::Udp, at(self.now));
        self.take(out);
    }

    fn callee_bye(&mut self) {
        let Some(invite) = self.to_callee.clone() else {
            return;
        };
        let inv = parse(&invite);
        let bye = wire(&format!(
            "BYE sip:sipmap@192.0.2.1:5060 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bKb{}\n\
             From: <sip:bob@192.0.2.7:5070>;tag=bob1\nTo: {}\nCall-ID: {}\nCSeq: {} BYE\n\n",
            self.now,
            inv.header("From").unwrap(),
            inv.header("Call-ID").unwrap(),
            10 + self.now,
        ));
        let out = self
            .call
            .on_message(&bye, addr(CALLEE), Transport::Udp, at(self.now));
        self.take(out);
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Wait(ms) => self.wait(u64::from(ms)),
            Event::Caller(n) => self.caller(n),
            Event::Document(n) => self.document(n),
            Event::Callee(code) => self.callee(code),
            Event::CalleeBye => self.callee_bye(),
            Event::Route(some) => {
                if let Some(id) = self.routes.pop() {
                    let dest = Destination {
                        addr: addr(CALLEE),
                        wire: Wire::Udp,
                    };
                    let out = self.call.on_resolved(
                        id,
                        some.then_some(dest).into_iter().collect(),
                        at(self.now),
                    );
                    self.take(out);
                }
            }
            Event::Command(n) => {
                let url = Url::parse("https://app.example.com/api").unwrap();
                let command = [
                    Command::Complete,
                    Command::Cancel,
                    Command::Redirect(url, Method::Post),
                    Command::Twiml("<Response><Hangup/></Response>".into()),
                ][n]
                    .clone();
                let out = self.call.on_command(command, at(self.now));
                self.take(out);
            }
            Event::SendFailed => {
                let out = self.call.on_send_failed(addr(CALLEE), at(self.now));
                self.take(out);
            }
        }
    }

    /// Answers every webhook with a hang-up and every route with nothing, and lets time run
    /// (five hours, past any `timeLimit`), until the call is over.
    fn drain(&mut self) {
        for _ in 0..200 {
            if self.ended > 0 {
                return;
            }
            if let Some((id, url)) = self.webhooks.pop() {
                let exchange = answered(&url, 200, "<Response><Hangup/></Response>");
                let out = self.call.on_webhook(id, &exchange, at(self.now));
                self.take(out);
            } else if let Some(id) = self.routes.pop() {
                let out = self.call.on_resolved(id, Vec::new(), at(self.now));
                self.take(out);
            } else {
                self.wait(60_000);
            }
        }
    }
}

impl Harness {
    fn new(call: Call, out: Vec<Out>, now: u64) -> Self {
        let mut h = Harness {
            call,
            now,
            timers: Vec::new(),
            webhooks: Vec::new(),
            routes: Vec::new(),
            to_callee: None,
            final_to_caller: None,
            ended: 0,
            after_end: 0,
            persisted: Vec::new(),
            unpersisted: 0,
        };
        h.take(out);
        h
    }

    /// Runs `events` (until the call ends), then drains it, and checks that it ended well.
    fn check(mut self, events: Vec<Event>) -> Result<(), TestCaseError> {
        for e in events {
            // The runtime drops a call once it ended: nothing reaches it any more.
            if self.ended > 0 {
                break;
            }
            self.apply(e);
        }
        self.drain();
        let h = self;
        prop_assert_eq!(
            h.ended,
            1,
            "the call never ended: {:?}",
            h.call.record().status
        );
        prop_assert_eq!(h.after_end, 0);
        prop_assert_eq!(
            h.unpersisted,
            0,
            "a final status was reported before it was stored"
        );
        prop_assert!(h.call.record().status.is_final());
        prop_assert!(h.call.is_ended());
        if let Some(child) = h.call.child_record() {
            prop_assert!(child.status.is_final(), "child {:?}", child.status);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_call_ends_whatever_happens(events in prop::collection::vec(event(), 0..30)) {
        let (call, out) = started(false, None);
        Harness::new(call, out, 0).check(events)?;
    }

    #[test]
    fn a_bridged_call_ends_whatever_happens(events in prop::collection::vec(event(), 0..30)) {
        let mut d = super::dial::dialled(DOCUMENTS[4].trim_start_matches("<Response>").trim_end_matches("</Response>"));
        let mut out = std::mem::take(&mut d.out);
        out.extend(d.bridge());
        let mut h = Harness::new(d.call, out, 1_100);
        h.to_callee = Some(d.invite);
        h.check(events)?;
    }
}
