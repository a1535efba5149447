//! [`TxnKey`]: which transaction a message belongs to (RFC 3261 §17.1.3 for responses, §17.2.3
//! for requests), as one string a registry can hash.
//!
//! - A server transaction is keyed by the top Via's branch, its sent-by (host in lower case, and
//!   port as written) and the method, an `ACK` counting as the `INVITE` it acknowledges. A
//!   `CANCEL` has a transaction of its own (same branch, method `CANCEL`); the `INVITE` it
//!   cancels is [`TxnKey::cancelled`]. A branch without the magic cookie `z9hG4bK` (RFC 2543
//!   peers) is replaced by what identifies such a request: Request-URI, `From` tag, `Call-ID`,
//!   `CSeq` number and the whole top Via (§17.2.3); the `To` tag is left out so that the `ACK`
//!   of a non-2xx response, which carries one, still finds its `INVITE`.
//! - A client transaction is keyed by the branch it put in its Via and its method; a response
//!   matches by its top Via's branch and its `CSeq` method.
//!
//! Server and client keys never equal each other, so one registry may hold both.

use super::super::build::{cseq, top_via, top_via_value};
use crate::sip::message::Message;
use crate::sip::message::header_tag;

/// The RFC 3261 magic cookie that starts every compliant branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The key of a transaction: compare and hash it, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxnKey(Box<str>);

impl TxnKey {
    /// The key of the server transaction a request belongs to: a new request's, a
    /// retransmission's, or, for an `ACK`, the `INVITE`'s. `None` for a response or a request
    /// without a readable top Via (or, for RFC 2543 peers, without `Call-ID` or `CSeq`).
    pub fn server(req: &Message<'_>) -> Option<Self> {
        let method = req.method()?;
        let method = if method == "ACK" { "INVITE" } else { method };
        Self::server_for(req, method)
    }

    /// The key of the `INVITE` server transaction a `CANCEL` cancels (RFC 3261 §9.2).
    pub fn cancelled(cancel: &Message<'_>) -> Option<Self> {
        (cancel.method()? == "CANCEL")
            .then(|| Self::server_for(cancel, "INVITE"))
            .flatten()
    }

    /// The key of the client transaction a response belongs to.
    pub fn client_response(resp: &Message<'_>) -> Option<Self> {
        resp.status()?;
        let branch = top_via(resp)?.param("branch")??;
        let (_, method) = cseq(resp)?;
        Some(Self::client(branch, method))
    }

    /// The key of a client transaction sending a `method` request with `branch`.
    pub fn client(branch: &str, method: &str) -> Self {
        let mut key = String::with_capacity(3 + branch.len() + method.len());
        key.push_str("c\n");
        key.push_str(branch);
        key.push('\n');
        key.push_str(method);
        Self(key.into_boxed_str())
    }

    fn server_for(req: &Message<'_>, method: &str) -> Option<Self> {
        let via = top_via(req)?;
        let mut key = String::with_capacity(96);
        match via.param("branch").flatten() {
            Some(branch) if branch.starts_with(MAGIC_COOKIE) => {
                key.push_str("s\n");
                key.push_str(branch);
                key.push('\n');
                key.push_str(&via.host.to_ascii_lowercase());
                if let Some(port) = via.port {
                    key.push(':');
                    key.push_str(&port.to_string());
                }
            }
            _ => {
                // RFC 2543: what identifies the request, without the To tag.
                let from_tag = req.header("From").and_then(header_tag).unwrap_or("");
                let (number, _) = cseq(req)?;
                key.push_str("s2543\n");
                for part in [req.uri()?, from_tag, req.header("Call-ID")?] {
                    key.push_str(part);
                    key.push('\n');
                }
                key.push_str(&number.to_string());
                key.push('\n');
                key.push_str(top_via_value(req)?);
            }
        }
        key.push('\n');
        key.push_str(method);
        Some(Self(key.into_boxed_str()))
    }

    /// The key as text (for logs).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
