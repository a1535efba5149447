//! The caller's leg: responses to its INVITE (provisional, final, the 2xx resent until its
//! ACK), the BYE sipmap sends it, and answers to the requests it sends in its dialog.

use std::net::SocketAddr;

use bytes::Bytes;

use super::Call;
use super::txns::{Machine, Role, Txn};
use crate::sip::edge::Transport;
use crate::sip::message::Message;
use crate::sip::ua::build::{self, Reply};
use crate::sip::ua::{
    Answer, Flow, Ids, InviteClient, Millis, NonInviteClient, NonInviteServer, TxnKey,
};

impl Call {
    /// A response to the caller's INVITE from its dialog: `code`, `reason` (the usual phrase
    /// when `None`), and a body of `content_type`. A 2xx starts the wait for its ACK. Nothing
    /// once a final response went out.
    pub(super) fn respond_caller(
        &mut self,
        code: u16,
        reason: Option<&str>,
        body: Option<(&str, &[u8])>,
        now: Millis,
    ) {
        if self.caller.ended || self.caller.answered {
            return;
        }
        let ist_id = self.caller.ist;
        let headers: Vec<(&str, &str)> = body.iter().map(|(t, _)| ("Content-Type", *t)).collect();
        let reply = Reply {
            reason,
            headers: &headers,
            body: body.map_or(b"", |(_, b)| b),
            ..Reply::new(code)
        };
        let Some(Txn {
            machine: Machine::Ist(ist),
            ..
        }) = self.txns.get(ist_id)
        else {
            return;
        };
        let Some(bytes) = self.caller.dialog.invite_response(ist, self.local, &reply) else {
            return;
        };
        let flow = ist.flow();
        let sent = bytes.clone();
        self.txns.feed(
            ist_id,
            |m| match m {
                Machine::Ist(ist) => ist.respond(bytes, now),
                _ => Default::default(),
            },
            &mut self.out,
        );
        match code {
            200..=299 => {
                self.caller.answered = true;
                let (answer, outputs) =
                    Answer::start(sent, self.caller.cseq, flow, self.timers, now);
                let id = self.id();
                let txn = Txn {
                    id,
                    key: None,
                    child: false,
                    role: Role::CallerAnswer,
                    machine: Machine::Answer(answer),
                };
                self.txns.add(txn, outputs, &mut self.out);
            }
            300.. => self.caller.ended = true,
            _ => {}
        }
    }

    /// Ends the caller's side: a final `code` (with `reason`) if it is not answered yet, a BYE
    /// if it is. Nothing if it already ended.
    pub(super) fn end_caller(&mut self, code: u16, reason: Option<&str>, now: Millis) {
        if self.caller.ended {
            return;
        }
        if self.caller.answered {
            self.bye_caller(now);
        } else {
            self.respond_caller(code, reason, None, now);
        }
        self.caller.ended = true;
    }

    /// A BYE to the caller in its dialog.
    fn bye_caller(&mut self, now: Millis) {
        let branch = Ids::branch();
        let Some(bye) = self
            .caller
            .dialog
            .request("BYE", self.local, &branch, &[], b"")
        else {
            return;
        };
        let flow = self.caller.dialog.flow();
        self.send_in_dialog((false, flow), bye, &branch, "BYE", Role::Plain, now);
    }

    /// Sends `request` (`method`, with `branch`) on a leg (the child's when `child`) over
    /// `flow`, in a new client transaction with `role`; gives its number.
    pub(super) fn send_in_dialog(
        &mut self,
        (child, flow): (bool, Flow),
        request: Bytes,
        branch: &str,
        method: &str,
        role: Role,
        now: Millis,
    ) -> u32 {
        let id = self.id();
        let (machine, outputs) = if method == "INVITE" {
            let (t, o) = InviteClient::start(request, flow, self.timers, now);
            (Machine::Ict(t), o)
        } else {
            let (t, o) = NonInviteClient::start(request, flow, self.timers, now);
            (Machine::Nict(t), o)
        };
        let txn = Txn {
            id,
            key: Some(TxnKey::client(branch, method)),
            child,
            role,
            machine,
        };
        self.txns.add(txn, outputs, &mut self.out);
        id
    }

    /// A new server transaction for `req` (not an INVITE), received from `source` over
    /// `transport` on a leg, answered with `code` at once when given; gives its number.
    pub(super) fn serve(
        &mut self,
        req: &Message<'_>,
        (source, transport): (SocketAddr, Transport),
        child: bool,
        code: Option<u16>,
        now: Millis,
    ) -> Option<u32> {
        let key = TxnKey::server(req)?;
        let (server, _) = NonInviteServer::new(req, source, transport, self.timers)?;
        let id = self.id();
        let mut machine = server;
        let outputs = match code {
            Some(code) => {
                machine.respond(build::response(req, Some(source), &Reply::new(code)), now)
            }
            None => Default::default(),
        };
        let txn = Txn {
            id,
            key: Some(key),
            child,
            role: Role::Plain,
            machine: Machine::Nist(machine),
        };
        self.txns.add(txn, outputs, &mut self.out);
        Some(id)
    }
}
