//! Each transaction's states and transitions, over UDP and TCP, and the keys that match messages
//! to transactions.

use super::*;
use crate::sip::edge::Transport;
use crate::sip::ua::build::Reply;
use crate::sip::ua::tests::{
    CALLER, addr, armed, first_line, header_of, invite, invite_with, ist, parse, round_trips, sent,
    sibling, tcp, udp, wire,
};
use crate::sip::ua::{Millis, Output, Outputs, Timer, Timers};

const TRYING: &str = "SIP/2.0 100 Trying";

fn at(ms: u64) -> Millis {
    Millis(ms)
}

// ---------------------------------------------------------------------------------------------
// INVITE server transaction.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_new_invite_gets_100_trying_at_once_and_goes_to_the_tu_once() {
    let (txn, out) = ist();
    assert_eq!(sent(&out), [TRYING]);
    assert_eq!(out.iter().filter(|o| **o == Output::Pass).count(), 1);
    assert_eq!(txn.state(), State::Proceeding);
    // rport: back to the source address and port.
    assert_eq!(txn.flow().to, addr(CALLER));
    let trying = out.sent().next().unwrap();
    round_trips(trying);
    assert_eq!(
        header_of(trying, "Via").unwrap(),
        "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds;received=192.0.2.10;rport=5062"
    );
    let m = parse(trying);
    assert_eq!(m.headers_named("Via").count(), 2);
    assert_eq!(
        m.header("To"),
        Some("<sip:+15551234567@acme.sip.example.com>")
    );
    assert_eq!(m.header("Timestamp"), Some("54"));
    assert_eq!(m.header("CSeq"), Some("314159 INVITE"));
    assert_eq!(m.header("Content-Length"), Some("0"));
    assert_eq!(m.header("Contact"), None);
}

#[test]
fn without_rport_responses_go_to_the_via_port_and_tcp_ones_to_the_connection() {
    let bytes = wire(
        "INVITE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKx\n\
         From: <sip:c@d>;tag=1\nTo: <sip:a@b>\nCall-ID: x\nCSeq: 1 INVITE\n\n",
    );
    let m = parse(&bytes);
    let (txn, _) = InviteServer::new(&m, addr(CALLER), Transport::Udp, Timers::default()).unwrap();
    assert_eq!(txn.flow().to, addr("192.0.2.10:5070"));
    let (txn, _) =
        InviteServer::new(&m, addr(CALLER), Transport::Tcp(9), Timers::default()).unwrap();
    assert_eq!(txn.flow().to, addr(CALLER));
    assert_eq!(txn.flow().via, Transport::Tcp(9));
    // Not an INVITE, or no Via: no transaction.
    let bye = sibling("BYE", "<sip:a@b>;tag=2");
    assert!(
        InviteServer::new(
            &parse(&bye),
            addr(CALLER),
            Transport::Udp,
            Timers::default()
        )
        .is_none()
    );
}

#[test]
fn a_retransmitted_invite_gets_the_last_provisional_response_again_and_is_not_passed() {
    let (mut txn, _) = ist();
    let again = invite();
    let out = txn.on_request(&parse(&again), at(100));
    assert_eq!(sent(&out), [TRYING]);
    let ringing = txn.response(&Reply::new(180).tag("as83kd9bs")).unwrap();
    round_trips(&ringing);
    assert_eq!(
        header_of(&ringing, "To").unwrap(),
        "<sip:+15551234567@acme.sip.example.com>;tag=as83kd9bs"
    );
    // A 180 copies no Timestamp (only a 100 does).
    assert_eq!(header_of(&ringing, "Timestamp"), None);
    let out = txn.respond(ringing.clone(), at(200));
    assert_eq!(sent(&out), ["SIP/2.0 180 Ringing"]);
    assert!(armed(&out).is_empty());
    let out = txn.on_request(&parse(&again), at(300));
    assert_eq!(out.sent().collect::<Vec<_>>(), [&ringing]);
    assert!(!out.iter().any(|o| *o == Output::Pass));
    assert_eq!(txn.state(), State::Proceeding);
}

/// A 486 over UDP: timer G from T1 doubling up to T2, timer H at 64*T1, the response sent again
/// each time G fires and for each retransmitted INVITE.
#[test]
fn a_final_response_is_retransmitted_by_timer_g_doubling_to_t2() {
    let (mut txn, _) = ist();
    let busy = txn.response(&Reply::new(486).tag("t")).unwrap();
    let out = txn.respond(busy.clone(), at(1_000));
    assert_eq!(sent(&out), ["SIP/2.0 486 Busy Here"]);
    assert_eq!(armed(&out), [(Timer::G, 1_500), (Timer::H, 33_000)]);
    assert_eq!(txn.state(), State::Completed);
    let mut now = 1_500;
    let mut intervals = Vec::new();
    for _ in 0..6 {
        let out = txn.on_timer(Timer::G, at(now));
        assert_eq!(out.sent().collect::<Vec<_>>(), [&busy]);
        let [(Timer::G, next)] = armed(&out)[..] else {
            panic!("{out:?}")
        };
        intervals.push(next - now);
        now = next;
    }
    assert_eq!(intervals, [1_000, 2_000, 4_000, 4_000, 4_000, 4_000]);
    // A retransmitted INVITE gets the 486 again.
    let again = invite();
    assert_eq!(
        sent(&txn.on_request(&parse(&again), at(now))),
        ["SIP/2.0 486 Busy Here"]
    );
}

#[test]
fn timer_h_without_an_ack_times_out_and_terminates() {
    let (mut txn, _) = ist();
    let busy = txn.response(&Reply::new(486).tag("t")).unwrap();
    txn.respond(busy, at(0));
    // Early deliveries do nothing.
    assert!(txn.on_timer(Timer::H, at(31_999)).is_empty());
    assert!(txn.on_timer(Timer::G, at(499)).is_empty());
    let out = txn.on_timer(Timer::H, at(32_000));
    assert_eq!(out, Outputs::from([Output::Timeout, Output::Terminated]));
    assert_eq!(txn.state(), State::Terminated);
    // Nothing comes out any more.
    let again = invite();
    assert!(txn.on_request(&parse(&again), at(32_001)).is_empty());
    assert!(txn.on_timer(Timer::G, at(40_000)).is_empty());
    assert!(txn.on_transport_error().is_empty());
    assert!(txn.response(&Reply::new(500)).is_none());
}

#[test]
fn the_ack_of_a_final_response_confirms_then_timer_i_terminates() {
    let (mut txn, _) = ist();
    let busy = txn.response(&Reply::new(486).tag("t")).unwrap();
    txn.respond(busy, at(0));
    let ack = sibling("ACK", "<sip:+15551234567@acme.sip.example.com>;tag=t");
    let out = txn.on_request(&parse(&ack), at(700));
    assert_eq!(armed(&out), [(Timer::I, 5_700)]);
    assert_eq!(out.len(), 1, "the ACK is absorbed, not passed");
    assert_eq!(txn.state(), State::Confirmed);
    // Retransmitted ACKs and INVITEs are absorbed; G and H no longer fire.
    assert!(txn.on_request(&parse(&ack), at(800)).is_empty());
    let again = invite();
    assert!(txn.on_request(&parse(&again), at(900)).is_empty());
    assert!(txn.on_timer(Timer::G, at(10_000)).is_empty());
    assert!(txn.on_timer(Timer::H, at(40_000)).is_empty());
    assert_eq!(
        txn.on_timer(Timer::I, at(5_700)),
        Outputs::from([Output::Terminated])
    );
}

#[test]
fn over_tcp_there_is_no_timer_g_and_the_ack_terminates_at_once() {
    let bytes = invite_with("z9hG4bKtcp", "TCP");
    let (mut txn, out) = InviteServer::new(
        &parse(&bytes),
        addr(CALLER),
        Transport::Tcp(4),
        Timers::default(),
    )
    .unwrap();
    assert_eq!(sent(&out), [TRYING]);
    let busy = txn.response(&Reply::new(603).tag("t")).unwrap();
    let out = txn.respond(busy, at(0));
    assert_eq!(armed(&out), [(Timer::H, 32_000)]);
    let ack = sibling("ACK", "<sip:x@y>;tag=t");
    assert_eq!(
        txn.on_request(&parse(&ack), at(10)),
        Outputs::from([Output::Terminated])
    );
}

/// RFC 6026: after a 2xx the transaction absorbs retransmitted INVITEs (none reaches the TU as
/// a new call, and the transaction does not resend the 2xx: the TU core does), passes an ACK
/// that matched it to the TU, and ends at timer L.
#[test]
fn a_2xx_moves_to_accepted_which_absorbs_invites_until_timer_l() {
    for (transport, reliable) in [(Transport::Udp, false), (Transport::Tcp(1), true)] {
        let bytes = invite();
        let (mut txn, _) =
            InviteServer::new(&parse(&bytes), addr(CALLER), transport, Timers::default()).unwrap();
        let ok = txn.response(&Reply::new(200).tag("t")).unwrap();
        let out = txn.respond(ok, at(0));
        assert_eq!(sent(&out), ["SIP/2.0 200 OK"]);
        assert_eq!(armed(&out), [(Timer::L, 32_000)], "reliable: {reliable}");
        assert_eq!(txn.state(), State::Accepted);
        assert!(txn.final_sent());
        assert!(txn.on_request(&parse(&bytes), at(500)).is_empty());
        let ack = sibling("ACK", "<sip:x@y>;tag=t");
        assert_eq!(
            txn.on_request(&parse(&ack), at(600)),
            Outputs::from([Output::Pass])
        );
        // A second final response is refused; only L ends it.
        let busy = txn.response(&Reply::new(486)).unwrap();
        assert!(txn.respond(busy, at(700)).is_empty());
        assert!(txn.on_timer(Timer::H, at(40_000)).is_empty());
        assert_eq!(
            txn.on_timer(Timer::L, at(32_000)),
            Outputs::from([Output::Terminated])
        );
    }
}

#[test]
fn a_transport_error_is_reported_and_terminates() {
    let (mut txn, _) = ist();
    assert_eq!(
        txn.on_transport_error(),
        Outputs::from([Output::TransportError, Output::Terminated])
    );
    assert!(txn.on_transport_error().is_empty());
    // Bytes that show no status are not sent.
    let (mut txn, _) = ist();
    assert!(
        txn.respond(bytes::Bytes::from_static(b"garbage"), at(0))
            .is_empty()
    );
    assert_eq!(txn.state(), State::Proceeding);
}

// ---------------------------------------------------------------------------------------------
// INVITE client transaction.
// ---------------------------------------------------------------------------------------------

/// sipmap's INVITE to the callee.
fn our_invite() -> bytes::Bytes {
    bytes::Bytes::from(wire(
        "INVITE sip:bob@192.0.2.7:5070 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123;rport\n\
         Max-Forwards: 70\n\
         From: <sip:alice@acme.sip.example.com>;tag=ours\n\
         To: <sip:bob@192.0.2.7:5070>\n\
         Call-ID: leg2\n\
         CSeq: 1 INVITE\n\
         Route: <sip:edge.example.net;lr>\n\
         Contact: <sip:sipmap@192.0.2.1:5060>\n\
         Content-Type: application/sdp\n\
         \nv=0\n",
    ))
}

/// The callee's response `code` to [`our_invite`], with `to_tag`.
fn callee(code: u16, to_tag: &str) -> Vec<u8> {
    let reason = crate::sip::ua::build::reason_phrase(code);
    wire(&format!(
        "SIP/2.0 {code} {reason}\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123;rport=5060\n\
         From: <sip:alice@acme.sip.example.com>;tag=ours\n\
         To: <sip:bob@192.0.2.7:5070>;tag={to_tag}\n\
         Call-ID: leg2\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:bob@192.0.2.7:5070>\n\
         \n"
    ))
}

#[test]
fn timer_a_doubles_without_limit_until_timer_b_times_out() {
    let (mut txn, out) = InviteClient::start(our_invite(), udp(), Timers::default(), at(0));
    assert_eq!(sent(&out), ["INVITE sip:bob@192.0.2.7:5070 SIP/2.0"]);
    assert_eq!(armed(&out), [(Timer::A, 500), (Timer::B, 32_000)]);
    assert_eq!(txn.state(), State::Calling);
    let mut now = 500;
    let mut intervals = Vec::new();
    while now < 32_000 {
        let out = txn.on_timer(Timer::A, at(now));
        assert_eq!(out.sent().collect::<Vec<_>>(), [&our_invite()]);
        let [(Timer::A, next)] = armed(&out)[..] else {
            panic!("{out:?}")
        };
        intervals.push(next - now);
        now = next;
    }
    assert_eq!(intervals, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000]);
    assert!(txn.on_timer(Timer::B, at(31_999)).is_empty());
    assert_eq!(
        txn.on_timer(Timer::B, at(32_000)),
        Outputs::from([Output::Timeout, Output::Terminated])
    );
    assert!(txn.on_timer(Timer::A, at(64_000)).is_empty());
}

#[test]
fn over_tcp_the_invite_is_not_retransmitted() {
    let (mut txn, out) = InviteClient::start(our_invite(), tcp(), Timers::default(), at(0));
    assert_eq!(armed(&out), [(Timer::B, 32_000)]);
    assert!(txn.on_timer(Timer::A, at(500)).is_empty());
}

#[test]
fn provisional_responses_go_to_the_tu_and_stop_timers_a_and_b() {
    let (mut txn, _) = InviteClient::start(our_invite(), udp(), Timers::default(), at(0));
    let ringing = callee(180, "b1");
    for _ in 0..2 {
        assert_eq!(
            txn.on_response(&parse(&ringing), at(100)),
            Outputs::from([Output::Pass])
        );
    }
    assert_eq!(txn.state(), State::Proceeding);
    assert!(txn.on_timer(Timer::A, at(500)).is_empty());
    assert!(txn.on_timer(Timer::B, at(32_000)).is_empty());
}

/// §17.1.1.3: the transaction ACKs a non-2xx final response itself, with the INVITE's branch,
/// and sends the same ACK for each retransmission of the response until timer D.
#[test]
fn a_non_2xx_final_response_is_acked_with_the_invites_branch() {
    let (mut txn, _) = InviteClient::start(our_invite(), udp(), Timers::default(), at(0));
    let busy = callee(486, "b1");
    let out = txn.on_response(&parse(&busy), at(1_000));
    assert_eq!(sent(&out), ["ACK sip:bob@192.0.2.7:5070 SIP/2.0"]);
    assert!(out.iter().any(|o| *o == Output::Pass));
    assert_eq!(armed(&out), [(Timer::D, 33_000)]);
    assert_eq!(txn.state(), State::Completed);
    let ack = out.sent().next().unwrap().clone();
    round_trips(&ack);
    let m = parse(&ack);
    let vias: Vec<_> = m.headers_named("Via").collect();
    assert_eq!(vias.len(), 1);
    assert_eq!(
        &*vias[0].value,
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123;rport"
    );
    assert_eq!(m.header("To"), Some("<sip:bob@192.0.2.7:5070>;tag=b1"));
    assert_eq!(
        m.header("From"),
        Some("<sip:alice@acme.sip.example.com>;tag=ours")
    );
    assert_eq!(m.header("CSeq"), Some("1 ACK"));
    assert_eq!(m.header("Route"), Some("<sip:edge.example.net;lr>"));
    assert_eq!(m.header("Call-ID"), Some("leg2"));
    assert!(m.body.is_empty());
    // The retransmitted 486 gets the same ACK, and is not passed again.
    let out = txn.on_response(&parse(&busy), at(2_000));
    assert_eq!(out.sent().collect::<Vec<_>>(), [&ack]);
    assert_eq!(out.len(), 1);
    assert_eq!(
        txn.on_timer(Timer::D, at(33_000)),
        Outputs::from([Output::Terminated])
    );
}

#[test]
fn over_tcp_a_non_2xx_final_response_terminates_after_its_ack() {
    let (mut txn, _) = InviteClient::start(our_invite(), tcp(), Timers::default(), at(0));
    let out = txn.on_response(&parse(&callee(404, "b1")), at(10));
    assert_eq!(sent(&out), ["ACK sip:bob@192.0.2.7:5070 SIP/2.0"]);
    assert!(out.terminated());
    assert_eq!(out.len(), 3);
}

/// RFC 6026: a 2xx moves to Accepted; every 2xx (retransmissions, other forks) goes to the TU,
/// which ACKs them; the transaction sends no ACK itself. Timer M ends it.
#[test]
fn a_2xx_is_passed_to_the_tu_each_time_until_timer_m() {
    let (mut txn, _) = InviteClient::start(our_invite(), udp(), Timers::default(), at(0));
    let ok = callee(200, "b1");
    let out = txn.on_response(&parse(&ok), at(100));
    assert_eq!(
        out,
        Outputs::from([
            Output::Pass,
            Output::Arm {
                timer: Timer::M,
                at: at(32_100)
            }
        ])
    );
    assert_eq!(txn.state(), State::Accepted);
    assert_eq!(
        txn.on_response(&parse(&ok), at(600)),
        Outputs::from([Output::Pass])
    );
    assert!(
        txn.on_response(&parse(&callee(486, "b2")), at(700))
            .is_empty()
    );
    assert!(txn.on_transport_error().is_empty());
    assert_eq!(
        txn.on_timer(Timer::M, at(32_100)),
        Outputs::from([Output::Terminated])
    );
}

/// §9.1: no CANCEL before a provisional response; then one with the INVITE's branch, and the
/// INVITE is given up 64*T1 later if no final response comes.
#[test]
fn a_cancel_waits_for_a_provisional_response_and_guards_the_invite() {
    let (mut txn, _) = InviteClient::start(our_invite(), udp(), Timers::default(), at(0));
    let (answer, out) = txn.cancel(at(10));
    assert_eq!(answer, Cancel::AfterProvisional);
    assert!(out.is_empty());
    txn.on_response(&parse(&callee(180, "b1")), at(20));
    let (Cancel::Send(cancel), out) = txn.cancel(at(1_000)) else {
        panic!("no CANCEL")
    };
    assert_eq!(armed(&out), [(Timer::CancelGuard, 33_000)]);
    let (again, out) = txn.cancel(at(2_000));
    assert_eq!((again, out), (Cancel::AlreadySent, Outputs::new()));
    round_trips(&cancel);
    assert_eq!(first_line(&cancel), "CANCEL sip:bob@192.0.2.7:5070 SIP/2.0");
    let m = parse(&cancel);
    assert_eq!(m.headers_named("Via").count(), 1);
    assert_eq!(
        m.header("Via"),
        Some("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-0123;rport")
    );
    assert_eq!(m.header("To"), Some("<sip:bob@192.0.2.7:5070>"));
    assert_eq!(m.header("CSeq"), Some("1 CANCEL"));
    assert_eq!(m.header("Route"), Some("<sip:edge.example.net;lr>"));
    assert!(m.body.is_empty());
    // Its key is the CANCEL's own, not the INVITE's.
    let key = TxnKey::client("z9hG4bK-sm-c-0123", "CANCEL");
    assert_ne!(key, TxnKey::client("z9hG4bK-sm-c-0123", "INVITE"));
    assert_eq!(
        txn.on_timer(Timer::CancelGuard, at(33_000)),
        Outputs::from([Output::Timeout, Output::Terminated])
    );
    assert_eq!(txn.cancel(at(34_000)).0, Cancel::TooLate);
}

#[test]
fn a_cancelled_invite_ends_with_487_and_a_cancel_after_a_final_response_is_too_late() {
    let (mut txn, _) = InviteClient::start(our_invite(), udp(), Timers::default(), at(0));
    txn.on_response(&parse(&callee(183, "b1")), at(20));
    assert!(matches!(txn.cancel(at(30)).0, Cancel::Send(_)));
    let out = txn.on_response(&parse(&callee(487, "b1")), at(40));
    assert_eq!(sent(&out), ["ACK sip:bob@192.0.2.7:5070 SIP/2.0"]);
    assert!(txn.on_timer(Timer::CancelGuard, at(40_000)).is_empty());
    assert_eq!(txn.cancel(at(50)).0, Cancel::TooLate);
}

#[test]
fn a_failed_send_of_the_invite_is_reported() {
    let (mut txn, _) = InviteClient::start(our_invite(), udp(), Timers::default(), at(0));
    assert_eq!(
        txn.on_transport_error(),
        Outputs::from([Output::TransportError, Output::Terminated])
    );
    assert!(
        txn.on_response(&parse(&callee(200, "b1")), at(5))
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Non-INVITE client transaction.
// ---------------------------------------------------------------------------------------------

fn bye() -> bytes::Bytes {
    bytes::Bytes::from(wire(
        "BYE sip:bob@192.0.2.7:5070 SIP/2.0\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-bye;rport\n\
         From: <sip:alice@acme.sip.example.com>;tag=ours\n\
         To: <sip:bob@192.0.2.7:5070>;tag=b1\n\
         Call-ID: leg2\n\
         CSeq: 2 BYE\n\n",
    ))
}

fn bye_response(code: u16) -> Vec<u8> {
    wire(&format!(
        "SIP/2.0 {code} X\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-bye;rport=5060\n\
         From: <sip:alice@acme.sip.example.com>;tag=ours\n\
         To: <sip:bob@192.0.2.7:5070>;tag=b1\n\
         Call-ID: leg2\n\
         CSeq: 2 BYE\n\n"
    ))
}

/// Timer E from T1 doubling up to T2 while Trying; timer F times out at 64*T1.
#[test]
fn timer_e_doubles_to_t2_and_timer_f_times_out() {
    let (mut txn, out) = NonInviteClient::start(bye(), udp(), Timers::default(), at(0));
    assert_eq!(armed(&out), [(Timer::E, 500), (Timer::F, 32_000)]);
    assert_eq!(txn.state(), State::Trying);
    let mut now = 500;
    let mut intervals = Vec::new();
    for _ in 0..5 {
        let out = txn.on_timer(Timer::E, at(now));
        assert_eq!(out.sent().collect::<Vec<_>>(), [&bye()]);
        let [(Timer::E, next)] = armed(&out)[..] else {
            panic!("{out:?}")
        };
        intervals.push(next - now);
        now = next;
    }
    assert_eq!(intervals, [1_000, 2_000, 4_000, 4_000, 4_000]);
    assert_eq!(
        txn.on_timer(Timer::F, at(32_000)),
        Outputs::from([Output::Timeout, Output::Terminated])
    );
}

#[test]
fn after_a_provisional_response_timer_e_fires_every_t2() {
    let (mut txn, _) = NonInviteClient::start(bye(), udp(), Timers::default(), at(0));
    assert_eq!(
        txn.on_response(&parse(&bye_response(100)), at(100)),
        Outputs::from([Output::Pass])
    );
    assert_eq!(txn.state(), State::Proceeding);
    let out = txn.on_timer(Timer::E, at(500));
    assert_eq!(armed(&out), [(Timer::E, 4_500)]);
    let out = txn.on_timer(Timer::E, at(4_500));
    assert_eq!(armed(&out), [(Timer::E, 8_500)]);
}

#[test]
fn a_final_response_completes_then_timer_k_terminates() {
    let (mut txn, _) = NonInviteClient::start(bye(), udp(), Timers::default(), at(0));
    let ok = bye_response(200);
    let out = txn.on_response(&parse(&ok), at(100));
    assert_eq!(
        out,
        Outputs::from([
            Output::Pass,
            Output::Arm {
                timer: Timer::K,
                at: at(5_100)
            }
        ])
    );
    assert_eq!(txn.state(), State::Completed);
    assert!(txn.on_response(&parse(&ok), at(200)).is_empty());
    assert!(txn.on_timer(Timer::E, at(500)).is_empty());
    assert!(txn.on_timer(Timer::F, at(32_000)).is_empty());
    assert_eq!(
        txn.on_timer(Timer::K, at(5_100)),
        Outputs::from([Output::Terminated])
    );
    // Over TCP: no E, and K is zero.
    let (mut txn, out) = NonInviteClient::start(bye(), tcp(), Timers::default(), at(0));
    assert_eq!(armed(&out), [(Timer::F, 32_000)]);
    assert_eq!(
        txn.on_response(&parse(&ok), at(100)),
        Outputs::from([Output::Pass, Output::Terminated])
    );
}

// ---------------------------------------------------------------------------------------------
// Non-INVITE server transaction.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_non_invite_request_is_passed_once_and_answered_again_until_timer_j() {
    let bye = sibling("BYE", "<sip:x@y>;tag=t");
    let m = parse(&bye);
    let (mut txn, out) =
        NonInviteServer::new(&m, addr(CALLER), Transport::Udp, Timers::default()).unwrap();
    assert_eq!(out, Outputs::from([Output::Pass]));
    assert_eq!(txn.state(), State::Trying);
    assert!(txn.on_request(&m, at(10)).is_empty());
    let ok = crate::sip::ua::build::response(&m, Some(addr(CALLER)), &Reply::new(200));
    round_trips(&ok);
    let out = txn.respond(ok.clone(), at(20));
    assert_eq!(sent(&out), ["SIP/2.0 200 OK"]);
    assert_eq!(armed(&out), [(Timer::J, 32_020)]);
    assert_eq!(txn.on_request(&m, at(30)).sent().collect::<Vec<_>>(), [&ok]);
    assert!(txn.respond(ok.clone(), at(40)).is_empty());
    assert_eq!(
        txn.on_timer(Timer::J, at(32_020)),
        Outputs::from([Output::Terminated])
    );
    assert!(txn.on_request(&m, at(40_000)).is_empty());
}

#[test]
fn a_provisional_answer_is_resent_and_tcp_terminates_at_the_final_one() {
    let bye = sibling("BYE", "<sip:x@y>;tag=t");
    let m = parse(&bye);
    let (mut txn, _) =
        NonInviteServer::new(&m, addr(CALLER), Transport::Tcp(3), Timers::default()).unwrap();
    let trying = crate::sip::ua::build::response(&m, None, &Reply::new(100));
    txn.respond(trying, at(0));
    assert_eq!(txn.state(), State::Proceeding);
    assert_eq!(sent(&txn.on_request(&m, at(1))), [TRYING]);
    let ok = crate::sip::ua::build::response(&m, None, &Reply::new(200));
    let out = txn.respond(ok, at(2));
    assert_eq!(sent(&out), ["SIP/2.0 200 OK"]);
    assert!(out.terminated());
    // INVITE and ACK have no non-INVITE server transaction.
    let inv = invite();
    let ack = sibling("ACK", "<sip:x@y>;tag=t");
    for bytes in [&inv, &ack] {
        assert!(
            NonInviteServer::new(
                &parse(bytes),
                addr(CALLER),
                Transport::Udp,
                Timers::default()
            )
            .is_none()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Keys.
// ---------------------------------------------------------------------------------------------

#[test]
fn server_keys_match_retransmissions_acks_and_cancels_as_rfc_3261_says() {
    let inv = invite();
    let key = TxnKey::server(&parse(&inv)).unwrap();
    assert_eq!(TxnKey::server(&parse(&invite())).unwrap(), key);
    // The ACK of a non-2xx response has the INVITE's branch and a To tag: same transaction.
    let ack = sibling("ACK", "<sip:x@y>;tag=t");
    assert_eq!(TxnKey::server(&parse(&ack)).unwrap(), key);
    // A CANCEL is a transaction of its own, and names the INVITE's.
    let cancel = sibling("CANCEL", "<sip:x@y>");
    let cancel_key = TxnKey::server(&parse(&cancel)).unwrap();
    assert_ne!(cancel_key, key);
    assert_eq!(TxnKey::cancelled(&parse(&cancel)).unwrap(), key);
    assert!(TxnKey::cancelled(&parse(&inv)).is_none());
    // Same branch, other sent-by: another transaction. Host case does not matter.
    let other = String::from_utf8(inv.clone())
        .unwrap()
        .replace("192.0.2.10:5062;branch", "192.0.2.11:5062;branch");
    assert_ne!(TxnKey::server(&parse(other.as_bytes())).unwrap(), key);
    let named = |host: &str| {
        wire(&format!(
            "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP {host};branch=z9hG4bKq\n\
             From: <sip:c@d>;tag=1\nTo: <sip:a@b>\nCall-ID: x\nCSeq: 1 OPTIONS\n\n"
        ))
    };
    let (upper, lower) = (named("PC33.Example.COM"), named("pc33.example.com"));
    assert_eq!(
        TxnKey::server(&parse(&upper)),
        TxnKey::server(&parse(&lower))
    );
    // Client and server keys never meet.
    assert_ne!(key, TxnKey::client("z9hG4bK776asdhds", "INVITE"));
}

/// RFC 2543 peers (no magic cookie): the request's identity, To tag left out, so the ACK of a
/// non-2xx response still finds its INVITE; another CSeq is another transaction.
#[test]
fn rfc_2543_requests_are_matched_by_their_identity() {
    let request = |method: &str, to: &str, cseq: u32| {
        wire(&format!(
            "{method} sip:bob@biloxi.example.com SIP/2.0\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=old1\n\
             From: <sip:alice@atlanta.example.com>;tag=9\n\
             To: {to}\nCall-ID: c1\nCSeq: {cseq} {method}\n\n"
        ))
    };
    let inv = request("INVITE", "<sip:bob@biloxi.example.com>", 1);
    let key = TxnKey::server(&parse(&inv)).unwrap();
    let ack = request("ACK", "<sip:bob@biloxi.example.com>;tag=x", 1);
    assert_eq!(TxnKey::server(&parse(&ack)).unwrap(), key);
    let cancel = request("CANCEL", "<sip:bob@biloxi.example.com>", 1);
    assert_eq!(TxnKey::cancelled(&parse(&cancel)).unwrap(), key);
    let later = request("INVITE", "<sip:bob@biloxi.example.com>", 2);
    assert_ne!(TxnKey::server(&parse(&later)).unwrap(), key);
}

#[test]
fn client_keys_match_responses_by_branch_and_cseq_method() {
    let ok = callee(200, "b1");
    assert_eq!(
        TxnKey::client_response(&parse(&ok)).unwrap(),
        TxnKey::client("z9hG4bK-sm-c-0123", "INVITE")
    );
    let cancel_ok = String::from_utf8(ok)
        .unwrap()
        .replace("1 INVITE", "1 CANCEL");
    assert_eq!(
        TxnKey::client_response(&parse(cancel_ok.as_bytes())).unwrap(),
        TxnKey::client("z9hG4bK-sm-c-0123", "CANCEL")
    );
    // A request is not a response.
    assert!(TxnKey::client_response(&parse(&invite())).is_none());
}
