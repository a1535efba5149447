//! In-dialog requests between the bridged legs: a re-INVITE from either side is sent on the
//! other leg's dialog with its SDP, and the final response comes back the same way (a 2xx is
//! ACKed by sipmap on the leg that sent it and resent on the other until its ACK). OPTIONS is
//! answered 200 by sipmap; any other method (INFO, UPDATE, REFER…) 405, as sipmap's `Allow`
//! names only INVITE, ACK, CANCEL, BYE and OPTIONS.

use std::net::SocketAddr;

use super::Call;
use super::child::Phase;
use super::txns::{Machine, Role, Txn};
use crate::sip::edge::Transport;
use crate::sip::message::Message;
use crate::sip::ua::build::{Reply, cseq, top_via};
use crate::sip::ua::{Answer, Ids, InviteServer, Millis, TxnKey};

impl Call {
    /// A request in a dialog that is not BYE, ACK or CANCEL, from the child's leg when
    /// `from_child`.
    pub(super) fn relay_request(
        &mut self,
        req: &Message<'_>,
        from_child: bool,
        src: (SocketAddr, Transport),
        now: Millis,
    ) {
        let bridged = self
            .child
            .as_ref()
            .is_some_and(|c| c.phase == Phase::Answered && c.dialog.is_some());
        match req.method() {
            Some("OPTIONS") => {
                self.serve(req, src, from_child, Some(200), now);
            }
            Some("INVITE") if bridged => self.relay_reinvite(req, from_child, src, now),
            Some("INVITE") => self.refuse_reinvite(req, from_child, src, now),
            _ => {
                self.serve(req, src, from_child, Some(405), now);
            }
        }
    }

    /// A server transaction for the re-INVITE `req`, added to the call's with `role`: its id,
    /// or `None` for a request no transaction can take.
    fn add_ist(
        &mut self,
        req: &Message<'_>,
        from_child: bool,
        (source, transport): (SocketAddr, Transport),
        role: Role,
    ) -> Option<u32> {
        let key = TxnKey::server(req)?;
        let (ist, outputs) = InviteServer::new(req, source, transport, self.timers)?;
        let id = self.id();
        let txn = Txn {
            id,
            key: Some(key),
            child: from_child,
            role,
            machine: Machine::Ist(ist),
        };
        self.txns.add(txn, outputs, &mut self.out);
        Some(id)
    }

    /// A re-INVITE when nothing is bridged: 488, through its own transaction.
    fn refuse_reinvite(
        &mut self,
        req: &Message<'_>,
        from_child: bool,
        (source, transport): (SocketAddr, Transport),
        now: Millis,
    ) {
        let Some(id) = self.add_ist(req, from_child, (source, transport), Role::Plain) else {
            return;
        };
        let refusal = self.txns.get(id).and_then(|t| match &t.machine {
            Machine::Ist(ist) => ist.response(&Reply::new(488)),
            _ => None,
        });
        if let Some(refusal) = refusal {
            self.txns.feed(
                id,
                |m| match m {
                    Machine::Ist(ist) => ist.respond(refusal, now),
                    _ => Default::default(),
                },
                &mut self.out,
            );
        }
    }

    /// A re-INVITE on a bridged call: its transaction here, the same offer on the other leg.
    fn relay_reinvite(
        &mut self,
        req: &Message<'_>,
        from_child: bool,
        (source, transport): (SocketAddr, Transport),
        now: Millis,
    ) {
        let relayed = Role::Relayed { peer: 0 };
        let Some(in_id) = self.add_ist(req, from_child, (source, transport), relayed) else {
            return;
        };
        let branch = Ids::branch();
        let local = self.local;
        let headers: Vec<(&str, &str)> = req
            .header("Content-Type")
            .map(|t| ("Content-Type", t))
            .into_iter()
            .collect();
        let written = if from_child {
            let flow = self.caller.dialog.flow();
            let bytes = self
                .caller
                .dialog
                .request("INVITE", local, &branch, &headers, req.body);
            bytes.map(|b| (b, flow))
        } else {
            self.child.as_mut().and_then(|c| {
                let flow = c.flow;
                let d = c.dialog.as_mut()?;
                d.request("INVITE", local, &branch, &headers, req.body)
                    .map(|b| (b, flow))
            })
        };
        let Some((bytes, flow)) = written else {
            return self.answer_relayed(in_id, 500, None, now);
        };
        let role = Role::Relay {
            peer: in_id,
            offerless: req.body.is_empty(),
        };
        let out_id = self.send_in_dialog((!from_child, flow), bytes, &branch, "INVITE", role, now);
        if let Some(t) = self.txns.get(in_id) {
            t.role = Role::Relayed { peer: out_id };
        }
    }

    /// A response to a relayed re-INVITE, received on the leg `out_child` names: a 2xx is
    /// ACKed there (with the other leg's answer when the re-INVITE carried no offer); the
    /// final response goes back on the other leg, once.
    pub(super) fn relay_response(
        &mut self,
        resp: &Message<'_>,
        (out_child, offerless): (bool, bool),
        peer: u32,
        now: Millis,
    ) {
        let Some(code) = resp.status().filter(|c| *c >= 200) else {
            return;
        };
        if code < 300 {
            if offerless {
                self.defer_relayed_ack(resp, out_child);
            } else {
                self.ack_relayed(resp, out_child);
            }
        }
        let answered = match self.txns.get(peer) {
            Some(Txn {
                machine: Machine::Ist(ist),
                ..
            }) => ist.final_sent(),
            _ => true,
        };
        if answered {
            return;
        }
        let body = resp
            .header("Content-Type")
            .filter(|_| !resp.body.is_empty())
            .map(|t| (t, resp.body));
        self.answer_relayed(peer, code, body, now);
    }

    /// The ACK of a 2xx to an offerless re-INVITE: it waits for the other leg's ACK (see
    /// `dispatch`); a retransmitted 2xx gets it again once sent.
    fn defer_relayed_ack(&mut self, resp: &Message<'_>, out_child: bool) {
        let Some(((n, _), branch)) = cseq(resp)
            .zip(top_via(resp).and_then(|v| v.param("branch").flatten().map(Ids::ack_branch)))
        else {
            return;
        };
        match &self.deferred_ack {
            Some(d) if d.to_child == out_child && d.cseq == n && d.branch == branch => {
                let flow = if out_child {
                    self.child.as_ref().map(|c| c.flow)
                } else {
                    Some(self.caller.dialog.flow())
                };
                if let (Some(bytes), Some(flow)) = (d.sent.clone(), flow) {
                    self.out.push(super::Out::Send {
                        to: flow.to,
                        via: flow.via,
                        bytes,
                    });
                }
            }
            _ => {
                self.deferred_ack = Some(Box::new(super::DeferredAck {
                    to_child: out_child,
                    cseq: n,
                    branch,
                    sent: None,
                }));
            }
        }
    }

    /// The ACK of a 2xx to a re-INVITE sipmap relayed onto a leg.
    fn ack_relayed(&mut self, resp: &Message<'_>, out_child: bool) {
        let local = self.local;
        let Some(((n, _), branch)) = cseq(resp)
            .zip(top_via(resp).and_then(|v| v.param("branch").flatten().map(Ids::ack_branch)))
        else {
            return;
        };
        let dialog = if out_child {
            self.child.as_mut().and_then(|c| c.dialog.as_mut())
        } else {
            Some(&mut self.caller.dialog)
        };
        let Some(dialog) = dialog else {
            return;
        };
        dialog.refresh_target(resp);
        let flow = dialog.flow();
        let ack = dialog.ack(n, local, &branch, &[], b"");
        self.out.push(super::Out::Send {
            to: flow.to,
            via: flow.via,
            bytes: ack,
        });
    }

    /// Answers the relayed re-INVITE `peer` with `code` (and `body`); a 2xx waits for its ACK.
    pub(super) fn answer_relayed(
        &mut self,
        peer: u32,
        code: u16,
        body: Option<(&str, &[u8])>,
        now: Millis,
    ) {
        let local = self.local;
        let Some(Txn {
            machine: Machine::Ist(ist),
            child,
            ..
        }) = self.txns.get(peer)
        else {
            return;
        };
        let child = *child;
        let headers: Vec<(&str, &str)> = body.iter().map(|(t, _)| ("Content-Type", *t)).collect();
        let reply = Reply {
            headers: &headers,
            body: body.map_or(b"", |(_, b)| b),
            ..Reply::new(code)
        };
        let dialog = if child {
            self.child.as_mut().and_then(|c| c.dialog.as_mut())
        } else {
            Some(&mut self.caller.dialog)
        };
        let Some(bytes) = dialog.and_then(|d| d.invite_response(ist, local, &reply)) else {
            return;
        };
        let (flow, sent) = (ist.flow(), bytes.clone());
        let outputs = ist.respond(bytes, now);
        self.txns.absorb(peer, outputs, &mut self.out);
        if (200..300).contains(&code) {
            let n = Message::parse(&sent)
                .ok()
                .and_then(|m| cseq(&m).map(|(n, _)| n));
            let (answer, outputs) = Answer::start(sent, n.unwrap_or(0), flow, self.timers, now);
            let id = self.id();
            let txn = Txn {
                id,
                key: None,
                child,
                role: Role::Plain,
                machine: Machine::Answer(answer),
            };
            self.txns.add(txn, outputs, &mut self.out);
        }
    }

    /// The call ended with relays still waiting: each incoming re-INVITE gets 487 and each
    /// outgoing one is forgotten (the leg it went to is over), so nothing keeps the call.
    pub(super) fn close_relays(&mut self, now: Millis) {
        for id in self.txns.ids(|t| matches!(t.role, Role::Relayed { .. })) {
            self.answer_relayed(id, 487, None, now);
        }
        for id in self.txns.ids(|t| matches!(t.role, Role::Relay { .. })) {
            self.txns.remove(id);
        }
    }
}
