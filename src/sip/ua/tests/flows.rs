//! A whole back-to-back call driven through the UA core, as the call engine will drive it:
//! caller's INVITE, child leg, early media, answer, ACKs, retransmissions and BYE; with what the
//! call holds at its peak.

use super::*;
use crate::sip::ua::build::{Reply, cseq};
use crate::sip::ua::dialog::DialogKey;

const CALLEE: &str = "192.0.2.7:5070";

/// The callee's response `code` to the child INVITE `invite`, with an SDP body when `sdp`.
fn callee_response(invite: &[u8], code: u16, sdp: bool) -> Vec<u8> {
    let m = parse(invite);
    let body = if sdp {
        "v=0\no=bob 2 2 IN IP4 192.0.2.7\n"
    } else {
        ""
    };
    let content_type = if sdp {
        "Content-Type: application/sdp\n"
    } else {
        ""
    };
    wire(&format!(
        "SIP/2.0 {code} {}\nVia: {};received=192.0.2.1;rport=5060\nFrom: {}\nTo: {};tag=bob1\n\
         Call-ID: {}\nCSeq: {}\nContact: <sip:bob@192.0.2.7:5070>\n{content_type}\n{body}",
        build::reason_phrase(code),
        m.header("Via").unwrap(),
        m.header("From").unwrap(),
        m.header("To").unwrap(),
        m.header("Call-ID").unwrap(),
        m.header("CSeq").unwrap(),
    ))
}

/// Everything the call engine holds for one call, and what the test keeps beside it.
struct Call {
    caller_ist: InviteServer,
    caller: Dialog,
    callee_ict: InviteClient,
    callee: Option<Dialog>,
    answer: Option<Answer>,
    keys: Vec<TxnKey>,
    /// The child INVITE and its identifiers (the test's, to write the callee's responses).
    child: bytes::Bytes,
    ids: Ids,
}

impl Call {
    /// What the call holds: the structures and the heap bytes behind them (messages held,
    /// dialog text, keys).
    fn held(&self) -> usize {
        use std::mem::size_of;
        let dialogs = [Some(&self.caller), self.callee.as_ref()];
        size_of::<InviteServer>()
            + size_of::<InviteClient>()
            + 2 * size_of::<Dialog>()
            + size_of::<Answer>()
            + self.keys.len() * size_of::<TxnKey>()
            + self.caller_ist.last_response().len()
            + self.callee_ict.request().len()
            + dialogs
                .iter()
                .flatten()
                .map(|d| d.text_len())
                .sum::<usize>()
            + self.keys.iter().map(|k| k.as_str().len()).sum::<usize>()
    }

    /// The caller's INVITE (100 at once, passed once, its retransmission absorbed) and the
    /// child leg's INVITE with the caller's SDP.
    fn start() -> Self {
        let invite = invite();
        let msg = parse(&invite);
        let caller_key = TxnKey::server(&msg).unwrap();
        let (mut caller_ist, out) =
            InviteServer::new(&msg, addr(CALLER), Transport::Udp, Timers::default()).unwrap();
        assert_eq!(sent(&out), ["SIP/2.0 100 Trying"]);
        let caller = Dialog::uas(&msg, &Ids::tag(), caller_ist.flow()).unwrap();
        let ids = Ids::random();
        let child = NewInvite {
            target: &format!("sip:bob@{CALLEE}?X-Call=1"),
            from_user: "alice",
            from_host: "acme.sip.example.com",
            display_name: None,
            local: addr(LOCAL),
            body: Some(("application/sdp", msg.body)),
            headers: &[],
        }
        .build(&ids)
        .unwrap();
        let flow = Flow {
            to: child.destination.unwrap().addr,
            via: Transport::Udp,
        };
        let (callee_ict, out) =
            InviteClient::start(child.bytes.clone(), flow, Timers::default(), Millis(0));
        assert_eq!(sent(&out), [format!("INVITE sip:bob@{CALLEE} SIP/2.0")]);
        assert_eq!(parse(&child.bytes).body, msg.body);
        // The caller retransmits its INVITE: absorbed, 100 again, nothing for the TU.
        let again = parse(&invite);
        assert_eq!(TxnKey::server(&again).as_ref(), Some(&caller_key));
        let out = caller_ist.on_request(&again, Millis(500));
        assert_eq!(sent(&out), ["SIP/2.0 100 Trying"]);
        assert!(!out.iter().any(|o| *o == Output::Pass));
        Self {
            caller_ist,
            caller,
            callee_ict,
            callee: None,
            answer: None,
            keys: vec![caller_key, TxnKey::client(&ids.branch, "INVITE")],
            child: child.bytes,
            ids,
        }
    }

    /// 183 with SDP from the callee: an early dialog, relayed to the caller with the SDP.
    fn early_media(&mut self, now: Millis) {
        let progress = callee_response(&self.child, 183, true);
        let progress = parse(&progress);
        assert_eq!(
            TxnKey::client_response(&progress).as_ref(),
            Some(&self.keys[1])
        );
        let out = self.callee_ict.on_response(&progress, now);
        assert_eq!(out, Outputs::from([Output::Pass]));
        let flow = self.callee_ict.flow();
        self.callee = Some(Dialog::uac(&parse(&self.child), &progress, flow).unwrap());
        let sdp_type = [("Content-Type", "application/sdp")];
        let relay = Reply::new(183).headers(&sdp_type).body(progress.body);
        let early = self
            .caller
            .invite_response(&self.caller_ist, addr(LOCAL), &relay)
            .unwrap();
        let out = self.caller_ist.respond(early, now);
        assert_eq!(sent(&out), ["SIP/2.0 183 Session Progress"]);
        let early = out.sent().next().unwrap();
        assert_eq!(parse(early).body, progress.body);
        round_trips(early);
    }

    /// The callee answers: ACK it, answer the caller with its SDP, wait for the caller's ACK.
    /// Returns the callee's 200 and sipmap's ACK to it.
    fn answered(&mut self, now: Millis) -> (Vec<u8>, bytes::Bytes) {
        let ok_bytes = callee_response(&self.child, 200, true);
        let ok = parse(&ok_bytes);
        let out = self.callee_ict.on_response(&ok, now);
        assert!(out.iter().any(|o| *o == Output::Pass));
        let callee = self.callee.as_mut().unwrap();
        callee.confirm(&ok).unwrap();
        assert_eq!(DialogKey::of_response(&ok), Some(callee.key()));
        let ack = self.ack_to_callee();
        round_trips(&ack);
        let sdp_type = [("Content-Type", "application/sdp")];
        let reply = Reply::new(200).headers(&sdp_type).body(ok.body);
        let answered = self
            .caller
            .invite_response(&self.caller_ist, addr(LOCAL), &reply)
            .unwrap();
        let out = self.caller_ist.respond(answered.clone(), now);
        assert_eq!(sent(&out), ["SIP/2.0 200 OK"]);
        let flow = self.caller_ist.flow();
        let (answer, _) = Answer::start(answered, 314159, flow, Timers::default(), now);
        self.answer = Some(answer);
        (ok_bytes, ack)
    }

    /// sipmap's ACK to the callee's 2xx.
    fn ack_to_callee(&self) -> bytes::Bytes {
        let (invite_cseq, _) = cseq(&parse(&self.child)).unwrap();
        let branch = Ids::ack_branch(&self.ids.branch);
        let callee = self.callee.as_ref().unwrap();
        callee.ack(invite_cseq, addr(LOCAL), &branch, &[], b"")
    }

    /// A request from the caller in its dialog, with a branch of its own.
    fn caller_request(&self, method: &str, cseq: u32) -> Vec<u8> {
        wire(&format!(
            "{method} sip:sipmap@192.0.2.1:5060 SIP/2.0\n\
             Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{method}{cseq};rport\n\
             From: \"Alice\" <sip:alice@192.0.2.10>;tag=1928301774\n\
             To: <sip:+15551234567@acme.sip.example.com>;tag={}\n\
             Call-ID: a84b4c76e66710@192.0.2.10\nCSeq: {cseq} {method}\n\n",
            self.caller.local_tag()
        ))
    }

    /// The caller hangs up: 200 to its BYE, and a BYE to the callee.
    fn hang_up(&mut self, now: Millis) {
        let bye = self.caller_request("BYE", 314160);
        let bye = parse(&bye);
        assert_eq!(DialogKey::incoming(&bye), Some(self.caller.key()));
        assert_eq!(self.caller.check_request(&bye), Ok(()));
        let (mut server, out) =
            NonInviteServer::new(&bye, addr(CALLER), Transport::Udp, Timers::default()).unwrap();
        assert_eq!(out, Outputs::from([Output::Pass]));
        let ok = build::response(&bye, Some(addr(CALLER)), &Reply::new(200));
        assert_eq!(sent(&server.respond(ok, now)), ["SIP/2.0 200 OK"]);
        let callee = self.callee.as_mut().unwrap();
        let their_bye = callee
            .request("BYE", addr(LOCAL), &Ids::branch(), &[], b"")
            .unwrap();
        assert_eq!(first_line(&their_bye), "BYE sip:bob@192.0.2.7:5070 SIP/2.0");
        assert_eq!(header_of(&their_bye, "CSeq").unwrap(), "2 BYE");
        let (_, out) = NonInviteClient::start(their_bye, callee.flow(), Timers::default(), now);
        assert_eq!(sent(&out), ["BYE sip:bob@192.0.2.7:5070 SIP/2.0"]);
    }
}

#[test]
fn a_back_to_back_call_from_invite_to_bye() {
    let mut call = Call::start();
    call.early_media(Millis(500));
    let now = Millis(3_500);
    let (ok, ack_to_callee) = call.answered(now);
    let peak = call.held();
    assert!(peak < 4 * 1024, "a call holds {peak} bytes at its peak");

    // The callee retransmits its 200: passed again, and ACKed with the very same ACK.
    let out = call.callee_ict.on_response(&parse(&ok), now.after(500));
    assert_eq!(out, Outputs::from([Output::Pass]));
    assert_eq!(call.ack_to_callee(), ack_to_callee);

    // The caller's ACK has a branch of its own: no transaction, found by its dialog.
    let ack = call.caller_request("ACK", 314159);
    let ack = parse(&ack);
    assert_ne!(TxnKey::server(&ack).as_ref(), Some(&call.keys[0]));
    assert_eq!(DialogKey::incoming(&ack), Some(call.caller.key()));
    assert_eq!(call.caller.check_request(&ack), Ok(()));
    let answer = call.answer.as_mut().unwrap();
    assert_eq!(answer.on_ack(&ack), Outputs::from([Output::Terminated]));

    // Both INVITE transactions end at L and M; the call then holds less.
    let later = now.after(32_000);
    assert!(call.caller_ist.on_timer(Timer::L, later).terminated());
    assert!(call.callee_ict.on_timer(Timer::M, later).terminated());
    assert!(call.held() < peak);
    call.hang_up(later);
}
