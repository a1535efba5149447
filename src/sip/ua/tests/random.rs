//! Random event sequences: no state machine panics, none emits anything after it terminated, and
//! the sizes the module documents hold.

use super::*;
use crate::sip::ua::build::Reply;

/// One event for a state machine.
#[derive(Debug, Clone)]
enum Event {
    /// Time passes (ms).
    Wait(u32),
    /// A timer fires now (index into `TIMERS`).
    Fire(usize),
    /// A matching request: INVITE, ACK, BYE or CANCEL (servers) .
    Request(usize),
    /// The TU sends a response with this code (servers).
    Respond(u16),
    /// A response with this code arrives (clients).
    Response(u16),
    /// A send failed.
    TransportError,
    /// The TU cancels (INVITE client).
    Cancel,
}

const TIMERS: [Timer; 15] = [
    Timer::A,
    Timer::B,
    Timer::D,
    Timer::E,
    Timer::F,
    Timer::G,
    Timer::H,
    Timer::I,
    Timer::J,
    Timer::K,
    Timer::L,
    Timer::M,
    Timer::CancelGuard,
    Timer::Answer,
    Timer::AnswerTimeout,
];

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u32..70_000).prop_map(Event::Wait),
        (0usize..TIMERS.len()).prop_map(Event::Fire),
        (0usize..4).prop_map(Event::Request),
        prop::sample::select(vec![100u16, 180, 183, 200, 202, 302, 401, 486, 487, 603])
            .prop_map(Event::Respond),
        prop::sample::select(vec![100u16, 180, 183, 200, 202, 302, 407, 486, 487, 603])
            .prop_map(Event::Response),
        Just(Event::TransportError),
        Just(Event::Cancel),
    ]
}

/// The machines under test, behind one face.
enum Machine {
    Ist(InviteServer),
    Ict(InviteClient),
    Nist(NonInviteServer),
    Nict(NonInviteClient),
    Answer(Answer),
}

/// Requests a server may see, and responses a client may see (code substituted).
fn requests() -> [Vec<u8>; 4] {
    [
        invite(),
        sibling("ACK", "<sip:x@y>;tag=t"),
        sibling("BYE", "<sip:x@y>;tag=t"),
        sibling("CANCEL", "<sip:x@y>"),
    ]
}

fn response(code: u16) -> Vec<u8> {
    wire(&format!(
        "SIP/2.0 {code} X\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-sm-c-1\n\
         From: <sip:a@b>;tag=1\nTo: <sip:c@d>;tag=2\nCall-ID: x\nCSeq: 1 INVITE\n\
         Contact: <sip:c@192.0.2.7>\n\n"
    ))
}

impl Machine {
    fn step(&mut self, event: &Event, now: Millis) -> Outputs {
        let requests = requests();
        match (self, event) {
            (_, Event::Wait(_)) => Outputs::new(),
            (Machine::Ist(m), Event::Fire(i)) => m.on_timer(TIMERS[*i], now),
            (Machine::Ict(m), Event::Fire(i)) => m.on_timer(TIMERS[*i], now),
            (Machine::Nist(m), Event::Fire(i)) => m.on_timer(TIMERS[*i], now),
            (Machine::Nict(m), Event::Fire(i)) => m.on_timer(TIMERS[*i], now),
            (Machine::Answer(m), Event::Fire(i)) => m.on_timer(TIMERS[*i], now),
            (Machine::Ist(m), Event::Request(i)) => m.on_request(&parse(&requests[*i]), now),
            (Machine::Nist(m), Event::Request(i)) => m.on_request(&parse(&requests[*i]), now),
            (Machine::Answer(m), Event::Request(i)) => m.on_ack(&parse(&requests[*i])),
            (Machine::Ist(m), Event::Respond(code)) => {
                match m.response(&Reply::new(*code).tag("t")) {
                    Some(bytes) => m.respond(bytes, now),
                    None => Outputs::new(),
                }
            }
            (Machine::Nist(m), Event::Respond(code)) => {
                let req = parse(&requests[2]);
                m.respond(build::response(&req, None, &Reply::new(*code)), now)
            }
            (Machine::Ict(m), Event::Response(code)) => {
                m.on_response(&parse(&response(*code)), now)
            }
            (Machine::Nict(m), Event::Response(code)) => {
                m.on_response(&parse(&response(*code)), now)
            }
            (Machine::Ist(m), Event::TransportError) => m.on_transport_error(),
            (Machine::Ict(m), Event::TransportError) => m.on_transport_error(),
            (Machine::Nist(m), Event::TransportError) => m.on_transport_error(),
            (Machine::Nict(m), Event::TransportError) => m.on_transport_error(),
            (Machine::Ict(m), Event::Cancel) => m.cancel(now).1,
            _ => Outputs::new(),
        }
    }

    fn terminated(&self) -> bool {
        match self {
            Machine::Ist(m) => m.state() == txn::State::Terminated,
            Machine::Ict(m) => m.state() == txn::State::Terminated,
            Machine::Nist(m) => m.state() == txn::State::Terminated,
            Machine::Nict(m) => m.state() == txn::State::Terminated,
            Machine::Answer(m) => m.is_terminated(),
        }
    }
}

/// A fresh machine of kind `kind` (0-4) over UDP or TCP, with its first outputs.
fn machine(kind: usize, reliable: bool) -> (Machine, Outputs) {
    let transport = if reliable {
        Transport::Tcp(1)
    } else {
        Transport::Udp
    };
    let flow = if reliable { tcp() } else { udp() };
    let t = Timers::default();
    let now = Millis(0);
    let requests = requests();
    let request = bytes::Bytes::from(requests[0].clone());
    match kind {
        0 => {
            let (m, out) =
                InviteServer::new(&parse(&requests[0]), addr(CALLER), transport, t).unwrap();
            (Machine::Ist(m), out)
        }
        1 => {
            let (m, out) = InviteClient::start(request, flow, t, now);
            (Machine::Ict(m), out)
        }
        2 => {
            let (m, out) =
                NonInviteServer::new(&parse(&requests[2]), addr(CALLER), transport, t).unwrap();
            (Machine::Nist(m), out)
        }
        3 => {
            let (m, out) = NonInviteClient::start(request, flow, t, now);
            (Machine::Nict(m), out)
        }
        _ => {
            let (m, out) = Answer::start(request, 314159, flow, t, now);
            (Machine::Answer(m), out)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever happens, in whatever order: no panic, at most one Terminated, nothing after it,
    /// and timers are armed for now or later.
    #[test]
    fn random_events_never_panic_nor_emit_after_terminated(
        kind in 0usize..5,
        reliable in any::<bool>(),
        events in prop::collection::vec(event(), 0..60),
    ) {
        let (mut m, first) = machine(kind, reliable);
        prop_assert!(!first.terminated());
        let mut now = Millis(0);
        let mut ended = false;
        for event in &events {
            if let Event::Wait(ms) = event {
                now = now.after(*ms);
            }
            let out = m.step(event, now);
            if ended {
                prop_assert!(out.is_empty(), "{event:?} after Terminated gave {out:?}");
                continue;
            }
            prop_assert!(out.iter().filter(|o| **o == Output::Terminated).count() <= 1);
            for o in out.iter() {
                if let Output::Arm { at, .. } = o {
                    prop_assert!(*at >= now);
                }
            }
            ended = out.terminated();
            prop_assert_eq!(ended, m.terminated());
        }
    }
}

/// The sizes the module documents (beyond the messages held), as upper bounds on 64-bit
/// targets.
#[test]
fn footprint() {
    use std::mem::size_of;
    assert!(size_of::<InviteServer>() <= 128);
    assert!(size_of::<InviteClient>() <= 144);
    assert!(size_of::<NonInviteServer>() <= 112);
    assert!(size_of::<NonInviteClient>() <= 136);
    assert!(size_of::<Answer>() <= 136);
    assert!(size_of::<TxnKey>() <= 16);
    assert!(size_of::<Dialog>() <= 104);
}
