//! [`Dialog`]: a dialog's state (RFC 3261 §12): its identifiers, local and remote URIs, remote
//! target, route set and sequence numbers; how it is made on either side (§12.1), how requests
//! in it are written (§12.2.1.1) and how incoming ones are checked (§12.2.2). [`DialogKey`] finds
//! the dialog a message belongs to.

use std::net::SocketAddr;

use bytes::Bytes;

use super::build::{self, Reply, contact_value, cseq, freeze, via_value};
use super::output::Flow;
use super::packed::Packed;
use super::txn::InviteServer;
use crate::sip::message::name_addr::is_loose_router;
use crate::sip::message::{Message, NameAddr, Writer, split_header_values};
use crate::sip_syntax::SipUri;

// The strings a dialog keeps, in one allocation.
const CALL_ID: usize = 0;
const LOCAL_TAG: usize = 1;
const REMOTE_TAG: usize = 2;
const LOCAL_URI: usize = 3;
const REMOTE_URI: usize = 4;
const TARGET: usize = 5;
/// The route set: Route values (name-addrs as written) separated by `\n`, which no header value
/// holds.
const ROUTES: usize = 6;

/// Why a message cannot make a dialog; answer the request with [`DialogError::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header the dialog needs is missing or unreadable.
    #[error("the {0} header is missing or unreadable")]
    Header(&'static str),
    /// A request that already has a To tag, or a response that cannot make a dialog (100, a
    /// final non-2xx, a provisional without a To tag).
    #[error("this message does not create a dialog")]
    NotInitial,
    /// The dialog's headers together exceed 64 KiB.
    #[error("the dialog's headers are too large")]
    TooLarge,
}

impl DialogError {
    /// The status for a request that could not make a dialog: 400.
    pub fn status(self) -> u16 {
        400
    }
}

/// One dialog, either side. Early until a 2xx (sent as UAS, received as UAC) confirms it.
#[derive(Debug, Clone)]
pub struct Dialog {
    text: Packed<7>,
    /// The CSeq of the last request sent in the dialog; empty for a UAS until it sends one.
    local_seq: Option<u32>,
    /// The CSeq of the last request received; empty for a UAC until it receives one.
    remote_seq: Option<u32>,
    /// Where the dialog's messages to the peer go: as the UAS, the address and connection the
    /// INVITE came from (as for its responses); as the UAC, where the INVITE went.
    flow: Flow,
    confirmed: bool,
}

impl Dialog {
    /// The dialog sipmap makes as the UAS of `invite` (RFC 3261 §12.1.1), with `local_tag` as
    /// its To tag, its messages going over `flow`: route set from Record-Route (in order),
    /// remote target from Contact, remote sequence number from CSeq. Early until
    /// [`Dialog::invite_response`] writes a 2xx.
    ///
    /// # Errors
    ///
    /// [`DialogError`] when a needed header (Call-ID, From, To, Contact, CSeq, Record-Route) is
    /// missing or unreadable, or the To already has a tag.
    pub fn uas(invite: &Message<'_>, local_tag: &str, flow: Flow) -> Result<Self, DialogError> {
        let call_id = header(invite, "Call-ID")?;
        let from = name_addr(invite, "From")?;
        let to = name_addr(invite, "To")?;
        if to.tag().is_some() || invite.method() != Some("INVITE") {
            return Err(DialogError::NotInitial);
        }
        let target = contact_uri(invite).ok_or(DialogError::Header("Contact"))?;
        let (remote_seq, _) = cseq(invite).ok_or(DialogError::Header("CSeq"))?;
        let routes = record_route(invite, false)?;
        let text = Packed::new([
            call_id,
            local_tag,
            from.tag().unwrap_or(""),
            &to.without_tag(),
            &from.without_tag(),
            target,
            &routes,
        ])
        .ok_or(DialogError::TooLarge)?;
        Ok(Self {
            text,
            local_seq: None,
            remote_seq: Some(remote_seq),
            flow,
            confirmed: false,
        })
    }

    /// The dialog sipmap makes as the UAC of `invite` (which it sent over `flow`) from
    /// `response`, a 2xx (confirmed) or a 101-199 with a To tag (early) (RFC 3261 §12.1.2): route
    /// set from the response's Record-Route in reverse order, remote target from its Contact (a
    /// provisional response without one leaves the Request-URI), local sequence number from the
    /// INVITE's CSeq.
    ///
    /// # Errors
    ///
    /// [`DialogError::NotInitial`] for any other response; [`DialogError::Header`] for a needed
    /// header missing or unreadable (a 2xx must have a Contact).
    pub fn uac(
        invite: &Message<'_>,
        response: &Message<'_>,
        flow: Flow,
    ) -> Result<Self, DialogError> {
        let code = response.status().ok_or(DialogError::NotInitial)?;
        let to = name_addr(response, "To")?;
        let (Some(remote_tag), 101..=299) = (to.tag(), code) else {
            return Err(DialogError::NotInitial);
        };
        let from = name_addr(invite, "From")?;
        let local_tag = from.tag().ok_or(DialogError::Header("From"))?;
        let target = match (contact_uri(response), code) {
            (Some(uri), _) => uri,
            (None, 101..=199) => invite.uri().ok_or(DialogError::NotInitial)?,
            (None, _) => return Err(DialogError::Header("Contact")),
        };
        let (local_seq, _) = cseq(invite).ok_or(DialogError::Header("CSeq"))?;
        let routes = record_route(response, true)?;
        let text = Packed::new([
            header(invite, "Call-ID")?,
            local_tag,
            remote_tag,
            &from.without_tag(),
            &to.without_tag(),
            target,
            &routes,
        ])
        .ok_or(DialogError::TooLarge)?;
        Ok(Self {
            text,
            local_seq: Some(local_seq),
            remote_seq: None,
            flow,
            confirmed: code >= 200,
        })
    }

    /// A 2xx for the INVITE of this early UAC dialog: the dialog is confirmed, and its route set
    /// and remote target are taken again from the 2xx (RFC 3261 §13.2.2.4). A confirmed dialog
    /// is left as it is (a retransmitted 2xx).
    ///
    /// # Errors
    ///
    /// [`DialogError`] if `ok` is not a 2xx with a Contact and readable Record-Route; the dialog
    /// is then unchanged.
    pub fn confirm(&mut self, ok: &Message<'_>) -> Result<(), DialogError> {
        if self.confirmed {
            return Ok(());
        }
        if !ok.status().is_some_and(|c| (200..300).contains(&c)) {
            return Err(DialogError::NotInitial);
        }
        let target = contact_uri(ok).ok_or(DialogError::Header("Contact"))?;
        let routes = record_route(ok, true)?;
        let mut parts = self.text.parts();
        parts[TARGET] = target;
        parts[ROUTES] = &routes;
        self.text = Packed::new(parts).ok_or(DialogError::TooLarge)?;
        self.confirmed = true;
        Ok(())
    }

    /// A target refresh (a re-INVITE or UPDATE received and accepted, or a 2xx to one sent):
    /// the remote target becomes its Contact, if it has a readable one (RFC 3261 §12.2).
    pub fn refresh_target(&mut self, msg: &Message<'_>) {
        if let Some(text) = contact_uri(msg).and_then(|t| self.text.with(TARGET, t)) {
            self.text = text;
        }
    }

    /// Checks a request received in this dialog (RFC 3261 §12.2.2): a CSeq lower than the last
    /// one received gets 500, an unreadable one 400; otherwise it becomes the remote sequence
    /// number. An ACK or CANCEL (which repeat their INVITE's CSeq) is not checked.
    ///
    /// # Errors
    ///
    /// The status to answer with: 400 or 500.
    pub fn check_request(&mut self, req: &Message<'_>) -> Result<(), u16> {
        if matches!(req.method(), Some("ACK" | "CANCEL")) {
            return Ok(());
        }
        let (n, _) = cseq(req).ok_or(400u16)?;
        if self.remote_seq.is_some_and(|r| n < r) {
            return Err(500);
        }
        self.remote_seq = Some(n);
        Ok(())
    }

    /// A new request in the dialog (RFC 3261 §12.2.1.1): `method` (not ACK, see
    /// [`Dialog::ack`], nor CANCEL, see [`InviteClient::cancel`](super::InviteClient::cancel);
    /// `None` for those) with the next local CSeq, sipmap's Via at `local` with `branch`,
    /// Request-URI and Route from the remote target and route set, From and To with the
    /// dialog's tags, a Contact for INVITE and UPDATE, then `headers` and `body`.
    pub fn request(
        &mut self,
        method: &str,
        local: SocketAddr,
        branch: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<Bytes> {
        if matches!(method, "ACK" | "CANCEL") {
            return None;
        }
        let n = self.local_seq.map_or(1, |n| n.wrapping_add(1));
        self.local_seq = Some(n);
        Some(self.write(method, n, local, branch, headers, body))
    }

    /// The ACK of a 2xx to the INVITE with CSeq number `invite_cseq` (RFC 3261 §13.2.2.4):
    /// written like any request in the dialog, with that number; send it as it is (an ACK has no
    /// transaction), and again for each retransmission of the 2xx (with the same `branch`,
    /// see [`Ids::ack_branch`](super::Ids::ack_branch), it is the same ACK).
    pub fn ack(
        &self,
        invite_cseq: u32,
        local: SocketAddr,
        branch: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Bytes {
        self.write("ACK", invite_cseq, local, branch, headers, body)
    }

    fn write(
        &self,
        method: &str,
        n: u32,
        local: SocketAddr,
        branch: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Bytes {
        let [
            call_id,
            local_tag,
            remote_tag,
            local_uri,
            remote_uri,
            target,
            _,
        ] = self.text.parts();
        let mut routes: Vec<&str> = self.routes().collect();
        let strict = routes.first().and_then(|r| NameAddr::parse(r));
        let (uri, last_route) = match strict {
            Some(first) if !is_loose_router(first.uri) => {
                // A strict router (RFC 3261 §12.2.1.1): it takes the Request-URI, the remote
                // target goes last in the Route.
                routes.remove(0);
                (first.uri, Some(format!("<{target}>")))
            }
            _ => (target, None),
        };
        let mut w = Writer::request(method, uri);
        w.header("Via", &via_value(local, self.flow.wire(), branch));
        w.header("Max-Forwards", "70");
        w.header("From", &format!("{local_uri};tag={local_tag}"));
        w.header("To", &tagged(remote_uri, remote_tag));
        w.header("Call-ID", call_id);
        w.header("CSeq", &format!("{n} {method}"));
        for route in routes.iter().copied().chain(last_route.as_deref()) {
            w.header("Route", route);
        }
        if matches!(method, "INVITE" | "UPDATE") {
            w.header("Contact", &contact_value(local, self.flow.wire()));
        }
        for (name, value) in headers {
            w.header(name, value);
        }
        freeze(w.finish(body))
    }

    /// A response to the INVITE of `ist` (the initial one, or a re-INVITE) from this dialog:
    /// written by [`InviteServer::response`] with the dialog's tag and, before the dialog is
    /// confirmed, its Record-Route values (RFC 3261 §12.1.1); a 101-299 also gets sipmap's
    /// Contact at `local`; then `reply`'s headers and body. A 2xx confirms the dialog. `None`
    /// once `ist` has terminated.
    pub fn invite_response(
        &mut self,
        ist: &InviteServer,
        local: SocketAddr,
        reply: &Reply<'_>,
    ) -> Option<Bytes> {
        let contact = contact_value(local, self.flow.wire());
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(reply.headers.len() + 4);
        if !self.confirmed {
            headers.extend(self.routes().map(|r| ("Record-Route", r)));
        }
        if (101..300).contains(&reply.code) {
            headers.push(("Contact", &contact));
        }
        headers.extend_from_slice(reply.headers);
        let bytes = ist.response(&Reply {
            to_tag: Some(self.text.get(LOCAL_TAG)),
            headers: &headers,
            ..*reply
        })?;
        if (200..300).contains(&reply.code) {
            self.confirmed = true;
        }
        Some(bytes)
    }

    /// The key of this dialog.
    pub fn key(&self) -> DialogKey {
        DialogKey::new(
            self.text.get(CALL_ID),
            self.text.get(LOCAL_TAG),
            self.text.get(REMOTE_TAG),
        )
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        self.text.get(CALL_ID)
    }

    /// sipmap's tag.
    pub fn local_tag(&self) -> &str {
        self.text.get(LOCAL_TAG)
    }

    /// The peer's tag (empty for an RFC 2543 peer that sent none).
    pub fn remote_tag(&self) -> &str {
        self.text.get(REMOTE_TAG)
    }

    /// sipmap's side as From (UAC) or To (UAS) shows it, without the tag.
    pub fn local_uri(&self) -> &str {
        self.text.get(LOCAL_URI)
    }

    /// The peer's side as From (UAS) or To (UAC) shows it, without the tag.
    pub fn remote_uri(&self) -> &str {
        self.text.get(REMOTE_URI)
    }

    /// The remote target: where requests in the dialog are addressed.
    pub fn remote_target(&self) -> &str {
        self.text.get(TARGET)
    }

    /// The route set, in the order requests carry it.
    pub fn routes(&self) -> impl Iterator<Item = &str> {
        self.text.get(ROUTES).split('\n').filter(|r| !r.is_empty())
    }

    /// The URI of the next hop of a request in the dialog: the first route's, else the remote
    /// target (resolve it with [`Destination::from_uri`](crate::recognition::Destination), or
    /// use [`Dialog::flow`]).
    pub fn next_hop(&self) -> &str {
        self.routes()
            .next()
            .and_then(|r| NameAddr::parse(r).map(|n| n.uri))
            .unwrap_or_else(|| self.remote_target())
    }

    /// Where the dialog's messages to the peer have gone so far.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// The CSeq of the last request sent in the dialog.
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The CSeq of the last request received in the dialog.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// The bytes of text the dialog holds on the heap.
    #[cfg(test)]
    pub(super) fn text_len(&self) -> usize {
        self.text.parts().iter().map(|p| p.len()).sum()
    }

    /// Whether a 2xx confirmed the dialog.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }
}

/// Which dialog a message belongs to: Call-ID, local tag and remote tag (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogKey(Box<str>);

impl DialogKey {
    fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> Self {
        let mut key = String::with_capacity(call_id.len() + local_tag.len() + remote_tag.len() + 2);
        for (i, part) in [call_id, local_tag, remote_tag].into_iter().enumerate() {
            if i > 0 {
                key.push('\n');
            }
            key.push_str(part);
        }
        Self(key.into_boxed_str())
    }

    /// The dialog of a request sipmap received: its To tag is sipmap's, its From tag the peer's.
    /// `None` without a To tag (a request outside any dialog) or a Call-ID.
    pub fn incoming(req: &Message<'_>) -> Option<Self> {
        let local = NameAddr::parse(req.header("To")?)?.tag()?;
        let remote = req.header("From").and_then(NameAddr::parse)?;
        Some(Self::new(
            req.header("Call-ID")?,
            local,
            remote.tag().unwrap_or(""),
        ))
    }

    /// The dialog of a response to a request sipmap sent: its From tag is sipmap's, its To tag
    /// the peer's. `None` without a To tag or a Call-ID.
    pub fn of_response(resp: &Message<'_>) -> Option<Self> {
        let local = NameAddr::parse(resp.header("From")?)?.tag()?;
        let remote = NameAddr::parse(resp.header("To")?)?.tag()?;
        Some(Self::new(resp.header("Call-ID")?, local, remote))
    }
}

/// The answer to a request with a To tag that matches no dialog (RFC 3261 §12.2.2): 481 (send it
/// through the request's server transaction). `None` for an ACK, which is never answered.
pub fn unknown_dialog(req: &Message<'_>, source: SocketAddr) -> Option<Bytes> {
    (req.method()? != "ACK").then(|| build::response(req, Some(source), &Reply::new(481)))
}

fn header<'m>(msg: &'m Message<'_>, name: &'static str) -> Result<&'m str, DialogError> {
    msg.header(name)
        .filter(|v| !v.is_empty())
        .ok_or(DialogError::Header(name))
}

fn name_addr<'m>(msg: &'m Message<'_>, name: &'static str) -> Result<NameAddr<'m>, DialogError> {
    NameAddr::parse(header(msg, name)?).ok_or(DialogError::Header(name))
}

/// The URI of the first Contact value, if it is a SIP or SIPS URI.
fn contact_uri<'m>(msg: &'m Message<'_>) -> Option<&'m str> {
    let first = split_header_values(msg.header("Contact")?)
        .into_iter()
        .next()?;
    let uri = NameAddr::parse(first)?.uri;
    SipUri::parse(uri).ok().map(|_| uri)
}

/// The Record-Route values of `msg`, in order (reversed when `reverse`: a UAC's route set),
/// joined by `\n`; each must be a name-addr with a SIP or SIPS URI.
fn record_route(msg: &Message<'_>, reverse: bool) -> Result<String, DialogError> {
    let bad = DialogError::Header("Record-Route");
    let mut values = Vec::new();
    for h in msg.headers_named("Record-Route") {
        for v in split_header_values(&h.value) {
            let n = NameAddr::parse(v).ok_or(bad)?;
            SipUri::parse(n.uri).map_err(|_| bad)?;
            values.push(v);
        }
    }
    if reverse {
        values.reverse();
    }
    Ok(values.join("\n"))
}

/// A From or To value with `;tag=tag`, or as it is when the tag is empty.
fn tagged(value: &str, tag: &str) -> String {
    if tag.is_empty() {
        value.to_owned()
    } else {
        format!("{value};tag={tag}")
    }
}

#[cfg(test)]
mod tests;
