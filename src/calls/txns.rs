//! The SIP transactions of one call, both legs ([`Txns`]): each numbered, keyed (by
//! [`TxnKey`]) when messages must find it, and tagged with what it is for ([`Role`]); and the
//! one place where the UA core's [`Outputs`] become the call's [`Out`]s ([`Txns::absorb`]).

use crate::sip::ua::{
    Answer, Flow, InviteClient, InviteServer, Millis, NonInviteClient, NonInviteServer, Output,
    Outputs, Timer, TxnKey,
};

use super::{CallTimer, Out};

/// One of the UA core's state machines.
#[derive(Debug)]
pub(super) enum Machine {
    /// An INVITE server transaction.
    Ist(InviteServer),
    /// An INVITE client transaction.
    Ict(InviteClient),
    /// A non-INVITE server transaction.
    Nist(NonInviteServer),
    /// A non-INVITE client transaction.
    Nict(NonInviteClient),
    /// A 2xx resent until its ACK.
    Answer(Answer),
}

impl Machine {
    /// Where the machine's messages go (`None` for an [`Answer`], which goes where its
    /// INVITE's transaction does).
    pub fn flow(&self) -> Option<Flow> {
        match self {
            Machine::Ist(t) => Some(t.flow()),
            Machine::Ict(t) => Some(t.flow()),
            Machine::Nist(t) => Some(t.flow()),
            Machine::Nict(t) => Some(t.flow()),
            Machine::Answer(_) => None,
        }
    }

    /// A send over its flow failed.
    pub fn on_transport_error(&mut self) -> Outputs {
        match self {
            Machine::Ist(t) => t.on_transport_error(),
            Machine::Ict(t) => t.on_transport_error(),
            Machine::Nist(t) => t.on_transport_error(),
            Machine::Nict(t) => t.on_transport_error(),
            Machine::Answer(_) => Outputs::new(),
        }
    }

    /// A timer of the machine fired.
    pub fn on_timer(&mut self, timer: Timer, now: Millis) -> Outputs {
        match self {
            Machine::Ist(t) => t.on_timer(timer, now),
            Machine::Ict(t) => t.on_timer(timer, now),
            Machine::Nist(t) => t.on_timer(timer, now),
            Machine::Nict(t) => t.on_timer(timer, now),
            Machine::Answer(t) => t.on_timer(timer, now),
        }
    }
}

/// What a transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The caller's INVITE.
    CallerInvite,
    /// sipmap's 2xx to the caller, waiting for its ACK.
    CallerAnswer,
    /// The child's INVITE.
    ChildInvite,
    /// A request that only needs its own answer (BYE, CANCEL, one sipmap answered itself).
    Plain,
    /// A request relayed from the other leg: `peer` is the transaction it came in on.
    Relay {
        /// The incoming transaction's number.
        peer: u32,
        /// Whether it carried no offer (its 2xx's ACK waits for the other leg's).
        offerless: bool,
    },
    /// An incoming request waiting for the relayed request's answer (`peer`).
    Relayed {
        /// The outgoing transaction's number.
        peer: u32,
    },
}

/// A transaction of the call.
#[derive(Debug)]
pub(super) struct Txn {
    /// Its number within the call (timers name it).
    pub id: u32,
    /// Its key, if messages must find it.
    pub key: Option<TxnKey>,
    /// Whether it is on the child's leg (else the caller's).
    pub child: bool,
    /// What it is for.
    pub role: Role,
    /// The state machine.
    pub machine: Machine,
}

/// What a transaction's outputs said besides what to send and arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Signals {
    /// The message goes to the TU.
    pub pass: bool,
    /// The transaction timed out.
    pub timeout: bool,
    /// A send failed and ended it.
    pub transport_error: bool,
    /// It ended (and is gone).
    pub terminated: bool,
}

/// The transactions of one call.
#[derive(Debug, Default)]
pub(super) struct Txns {
    items: Vec<Txn>,
}

impl Txns {
    /// Adds `txn`, whose first outputs are `outputs`.
    pub fn add(&mut self, txn: Txn, outputs: Outputs, out: &mut Vec<Out>) -> Signals {
        let id = txn.id;
        self.items.push(txn);
        self.absorb(id, outputs, out)
    }

    /// The transaction with `key`.
    pub fn by_key(&mut self, key: &TxnKey) -> Option<&mut Txn> {
        self.items.iter_mut().find(|t| t.key.as_ref() == Some(key))
    }

    /// The transaction numbered `id`.
    pub fn get(&mut self, id: u32) -> Option<&mut Txn> {
        self.items.iter_mut().find(|t| t.id == id)
    }

    /// The numbers of a leg's transactions that match `keep`.
    pub fn ids(&self, keep: impl Fn(&Txn) -> bool) -> Vec<u32> {
        self.items
            .iter()
            .filter(|t| keep(t))
            .map(|t| t.id)
            .collect()
    }

    /// Feeds transaction `id` with `event` and absorbs its outputs; nothing if it is gone.
    pub fn feed(
        &mut self,
        id: u32,
        event: impl FnOnce(&mut Machine) -> Outputs,
        out: &mut Vec<Out>,
    ) -> Signals {
        match self.get(id) {
            Some(t) => {
                let outputs = event(&mut t.machine);
                self.absorb(id, outputs, out)
            }
            None => Signals::default(),
        }
    }

    /// Turns transaction `id`'s outputs into [`Out`]s; a terminated transaction is dropped.
    pub fn absorb(&mut self, id: u32, outputs: Outputs, out: &mut Vec<Out>) -> Signals {
        let mut s = Signals::default();
        for o in outputs {
            match o {
                Output::Send { to, via, bytes } => out.push(Out::Send { to, via, bytes }),
                Output::Arm { timer, at } => out.push(Out::Arm {
                    timer: CallTimer::Sip { txn: id, timer },
                    at,
                }),
                Output::Pass => s.pass = true,
                Output::Timeout => s.timeout = true,
                Output::TransportError => s.transport_error = true,
                Output::Terminated => s.terminated = true,
            }
        }
        if s.terminated {
            self.items.retain(|t| t.id != id);
        }
        s
    }

    /// Forgets transaction `id`.
    pub fn remove(&mut self, id: u32) {
        self.items.retain(|t| t.id != id);
    }

    /// How many transactions are live.
    pub fn len(&self) -> usize {
        self.items.len()
    }
}
