//! CANCEL at the UAS (RFC 3261 §9.2), including its race with a 2xx, and the UAS core's 2xx
//! retransmission until the ACK (§13.3.1.4).

use super::*;
use crate::sip::ua::build::Reply;

const TO: &str = "<sip:+15551234567@acme.sip.example.com>";

fn cancel() -> Vec<u8> {
    sibling("CANCEL", TO)
}

fn answer(ist: Option<&mut InviteServer>, now: u64) -> CancelAnswer {
    let bytes = cancel();
    answer_cancel(
        &parse(&bytes),
        addr(CALLER),
        Transport::Udp,
        ist,
        "t1",
        Timers::default(),
        Millis(now),
    )
    .unwrap()
}

#[test]
fn a_cancel_before_the_final_response_gets_200_and_the_invite_487() {
    let (mut ist, _) = ist();
    let a = answer(Some(&mut ist), 100);
    assert_eq!(a.effect, CancelEffect::Cancelled);
    assert_eq!(sent(&a.outputs), ["SIP/2.0 200 OK"]);
    assert_eq!(sent(&a.invite_outputs), ["SIP/2.0 487 Request Terminated"]);
    let ok = a.outputs.sent().next().unwrap();
    let terminated = a.invite_outputs.sent().next().unwrap();
    round_trips(ok);
    round_trips(terminated);
    // §9.2: the same To tag on both; each answers its own request.
    let tagged = format!("{TO};tag=t1");
    assert_eq!(header_of(ok, "To").unwrap(), tagged);
    assert_eq!(header_of(terminated, "To").unwrap(), tagged);
    assert_eq!(header_of(ok, "CSeq").unwrap(), "314159 CANCEL");
    assert_eq!(header_of(terminated, "CSeq").unwrap(), "314159 INVITE");
    // The 487 is retransmitted until its ACK, like any final response.
    assert_eq!(ist.state(), txn::State::Completed);
    assert_eq!(
        armed(&a.invite_outputs),
        [(Timer::G, 600), (Timer::H, 32_100)]
    );
    // A retransmitted CANCEL gets the same 200 from the CANCEL's transaction.
    let mut server = a.server;
    let again = cancel();
    assert_eq!(
        server
            .on_request(&parse(&again), Millis(200))
            .sent()
            .collect::<Vec<_>>(),
        [ok]
    );
}

/// The race: the 200 to the INVITE went out before the CANCEL arrived. The CANCEL gets its 200
/// and changes nothing: no 487, the INVITE stays answered.
#[test]
fn a_cancel_after_the_200_gets_200_and_no_487() {
    let (mut ist, _) = ist();
    let ok = ist.response(&Reply::new(200).tag("t1")).unwrap();
    ist.respond(ok, Millis(50));
    let a = answer(Some(&mut ist), 100);
    assert_eq!(a.effect, CancelEffect::TooLate);
    assert_eq!(sent(&a.outputs), ["SIP/2.0 200 OK"]);
    assert!(a.invite_outputs.is_empty());
    assert_eq!(ist.state(), txn::State::Accepted);
    // The same after a non-2xx final response.
    let (mut ist, _) = self::ist();
    let busy = ist.response(&Reply::new(486).tag("t1")).unwrap();
    ist.respond(busy, Millis(50));
    let a = answer(Some(&mut ist), 100);
    assert_eq!(a.effect, CancelEffect::TooLate);
    assert!(a.invite_outputs.is_empty());
}

#[test]
fn a_cancel_without_its_invite_gets_481() {
    let a = answer(None, 0);
    assert_eq!(a.effect, CancelEffect::NoTransaction);
    assert_eq!(
        sent(&a.outputs),
        ["SIP/2.0 481 Call/Transaction Does Not Exist"]
    );
    // Not a CANCEL: nothing to answer here.
    let inv = invite();
    assert!(
        answer_cancel(
            &parse(&inv),
            addr(CALLER),
            Transport::Udp,
            None,
            "t",
            Timers::default(),
            Millis(0)
        )
        .is_none()
    );
}

fn ack(cseq: u32) -> Vec<u8> {
    wire(&format!(
        "ACK sip:sipmap@192.0.2.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKnewack;rport\n\
         From: \"Alice\" <sip:alice@192.0.2.10>;tag=1928301774\n\
         To: {TO};tag=t1\n\
         Call-ID: a84b4c76e66710@192.0.2.10\n\
         CSeq: {cseq} ACK\n\n"
    ))
}

/// §13.3.1.4: over UDP the 2xx goes again at T1, 2*T1, … up to T2 apart until the ACK.
#[test]
fn a_2xx_is_retransmitted_doubling_to_t2_until_its_ack() {
    let (mut ist, _) = ist();
    let ok = ist.response(&Reply::new(200).tag("t1")).unwrap();
    ist.respond(ok.clone(), Millis(0));
    let (mut answer, out) =
        Answer::start(ok.clone(), 314159, ist.flow(), Timers::default(), Millis(0));
    assert_eq!(
        armed(&out),
        [(Timer::Answer, 500), (Timer::AnswerTimeout, 32_000)]
    );
    assert!(
        out.sent().next().is_none(),
        "the transaction sent the first copy"
    );
    let mut now = 500;
    let mut intervals = Vec::new();
    for _ in 0..5 {
        let out = answer.on_timer(Timer::Answer, Millis(now));
        assert_eq!(out.sent().collect::<Vec<_>>(), [&ok]);
        let [(Timer::Answer, next)] = armed(&out)[..] else {
            panic!("{out:?}")
        };
        intervals.push(next - now);
        now = next;
    }
    assert_eq!(intervals, [1_000, 2_000, 4_000, 4_000, 4_000]);
    // An ACK for another CSeq (an older INVITE) does not stop it; the right one does.
    let other = ack(1);
    assert!(answer.on_ack(&parse(&other)).is_empty());
    let right = ack(314159);
    assert_eq!(
        answer.on_ack(&parse(&right)),
        Outputs::from([Output::Terminated])
    );
    assert!(answer.is_terminated());
    assert!(answer.on_timer(Timer::Answer, Millis(now)).is_empty());
    assert!(
        answer
            .on_timer(Timer::AnswerTimeout, Millis(32_000))
            .is_empty()
    );
    assert!(answer.on_ack(&parse(&right)).is_empty());
}

/// 64*T1 without the ACK: a timeout, so that the call engine sends a BYE.
#[test]
fn a_2xx_never_acked_times_out_and_over_tcp_is_not_resent() {
    let ok = bytes::Bytes::from_static(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    let (mut answer, out) = Answer::start(ok.clone(), 1, tcp(), Timers::default(), Millis(10));
    assert_eq!(armed(&out), [(Timer::AnswerTimeout, 32_010)]);
    assert!(answer.on_timer(Timer::Answer, Millis(510)).is_empty());
    assert!(
        answer
            .on_timer(Timer::AnswerTimeout, Millis(32_009))
            .is_empty()
    );
    assert_eq!(
        answer.on_timer(Timer::AnswerTimeout, Millis(32_010)),
        Outputs::from([Output::Timeout, Output::Terminated])
    );
    let (mut answer, _) = Answer::start(ok, 1, udp(), Timers::default(), Millis(0));
    answer.on_timer(Timer::Answer, Millis(500));
    assert_eq!(
        answer.on_timer(Timer::AnswerTimeout, Millis(32_000)),
        Outputs::from([Output::Timeout, Output::Terminated])
    );
}
