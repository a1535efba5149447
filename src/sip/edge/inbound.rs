//! [`Inbound`]: one received request as the edge answers or forwards it (the message, its top
//! Via, where and how it came), and which requests it will not answer at all. The bottom of the
//! request path: `branch`, `reply`, `auth`, `forward` and `request` build on it.

use std::net::SocketAddr;

use super::vias::{first_via_value, response_target};
use super::{Edge, Transport};
use crate::sip::message::{Message, Via};

/// One received request: the message, its top Via, and how it came. What a response generated
/// here is built from, and (with `forward::Forwarding`) the request forwarded.
#[derive(Debug)]
pub(super) struct Inbound<'a> {
    /// The request.
    pub(super) msg: &'a Message<'a>,
    /// Its method, as written.
    pub(super) method: &'a str,
    /// Its top Via, parsed.
    pub(super) top: &'a Via<'a>,
    /// Its top Via value as written.
    pub(super) top_value: &'a str,
    /// The address it came from.
    pub(super) source: SocketAddr,
    /// How it came.
    pub(super) transport: Transport,
    /// The request as received (what a call starts from).
    pub(super) raw: &'a [u8],
}

impl Edge {
    /// The request `msg` with `method` and top Via `top` from `source`, to be answered or
    /// forwarded; `None` (dropped) when it comes over UDP from the edge's own address or its
    /// answer would go there (spoofed, or built to make the edge answer itself).
    pub(super) fn inbound<'a>(
        &self,
        msg: &'a Message<'a>,
        method: &'a str,
        top: &'a Via<'a>,
        (source, transport, raw): (SocketAddr, Transport, &'a [u8]),
    ) -> Option<Inbound<'a>> {
        if transport == Transport::Udp
            && (self.is_own_address(source) || self.is_own_address(response_target(top, source)))
        {
            tracing::debug!(%source, "SIP request whose answer would reach the edge dropped");
            return None;
        }
        Some(Inbound {
            msg,
            method,
            top,
            top_value: first_via_value(msg).unwrap_or_default(),
            source,
            transport,
            raw,
        })
    }
}
