//! The TCP side: connections are admitted within the caps of [`SipLimits`], and each is a tokio
//! task that frames messages by `Content-Length`, hands them to the edge, and writes what comes
//! back, within the deadlines of [`SipLimits`]. A connection is served over any [`SipStream`]:
//! a TCP stream, or a TLS one (`handshake` makes them, `outbound` opens them), by the same code.
//!
//! A stream that cannot be framed (a message over the size limit, or without one valid
//! `Content-Length`) is answered when the edge can read the request (`513` or `400`, see
//! `edge::refuse`), then closed: the write side first, and what the client still sends is read
//! and thrown away (at most [`LINGER_BYTES`], for at most [`LINGER`]), so that the close does
//! not reset the connection before the client has read the answer.
//!
//! Each connection counts the transactions open on it from the messages that cross it
//! ([`Pending`]); once the server drains (`SipServer::run`), a connection closes as soon as none
//! is open and no message is under way, so that what was in progress finishes and nothing waits
//! for an idle peer.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, error::Elapsed};

use super::admission::{Admission, Refusals, Slot};
use super::edge::{Action, Transport, carries_probe_branch};
use super::message::Framer;
use super::{Io, SipLimits, SipServer, message, perform};
use crate::sip_syntax::Wire;

/// A stream SIP messages are framed on: TCP, or TLS over TCP.
pub(super) trait SipStream: AsyncRead + AsyncWrite + Unpin + Send {
    /// The protocol it is (TCP or TLS).
    const WIRE: Wire;
    /// The TCP socket under it (to reset it when a write does not complete in time).
    fn socket(&self) -> &TcpStream;
}

impl SipStream for TcpStream {
    const WIRE: Wire = Wire::Tcp;
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl SipStream for tokio_rustls::server::TlsStream<TcpStream> {
    const WIRE: Wire = Wire::Tls;
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }
}

impl SipStream for tokio_rustls::client::TlsStream<TcpStream> {
    const WIRE: Wire = Wire::Tls;
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// How long to wait after a failed accept before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// After answering a stream that cannot be framed: how long what the client still sends is read
/// (and thrown away) before the connection is closed.
const LINGER: Duration = Duration::from_secs(2);
/// The same, in bytes.
const LINGER_BYTES: usize = 2 * message::MAX_MESSAGE_BYTES;

impl SipServer {
    /// Accepts TCP connections within the caps of [`SipLimits`] and serves each in a task of its
    /// own, until `shutdown` completes.
    pub(super) async fn accept_tcp(
        &self,
        admission: &Arc<Admission>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut refusals = Refusals::default();
        tokio::pin!(shutdown);
        let limits = &self.io.limits;
        while let Some((stream, peer, slot)) =
            admitted(&self.tcp, admission, &mut refusals, limits, &mut shutdown).await
        {
            let io = self.io.clone();
            tokio::spawn(async move {
                let _slot = slot;
                serve_tcp(stream, peer, &io).await;
            });
        }
    }
}

/// The next connection `listener` accepts that `admission` admits (one it refuses is noted in
/// `refusals` and closed), with no Nagle: a response written while an earlier one (or, over
/// TLS, the handshake's last flight) is unacknowledged goes at once, not behind the peer's
/// delayed ACK (~40 ms). `None` once `shutdown` completes.
pub(super) async fn admitted<F: Future<Output = ()>>(
    listener: &TcpListener,
    admission: &Arc<Admission>,
    refusals: &mut Refusals,
    limits: &SipLimits,
    shutdown: &mut std::pin::Pin<&mut F>,
) -> Option<(TcpStream, SocketAddr, Slot)> {
    loop {
        let accepted = tokio::select! {
            () = shutdown.as_mut() => return None,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        match admission.admit(peer.ip()) {
            Ok(slot) => {
                let _ = stream.set_nodelay(true);
                return Some((stream, peer, slot));
            }
            // Dropping the stream closes it.
            Err(cap) => refusals.note(cap, peer, limits),
        }
    }
}

/// The transactions open on one connection, counted from the messages that cross it: a request
/// read (other than `ACK`, which has no response) opens one that a final response written ends,
/// and a request written (the edge's to a target) opens one that a final response read ends;
/// the edge's probes and their answers count for nothing (the probes stop when the edge
/// drains). The count is loose (a stateless edge keeps no transaction state): a request never answered
/// keeps it above zero, which only holds a draining connection until the drain's deadline.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Pending {
    inbound: usize,
    outbound: usize,
    /// The edge's probes written and not yet answered: only while there are any is a final
    /// response read looked at for a probe's branch (a client's connection never has any).
    probes: usize,
}

/// What a message is, for [`Pending`].
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A request with a response to come.
    Request,
    /// A final response (2xx–6xx).
    Final,
    /// A provisional response, an `ACK`.
    Other,
}

fn kind(message: &[u8]) -> Kind {
    match message.get(..8) {
        Some(version) if version.eq_ignore_ascii_case(b"SIP/2.0 ") => match message.get(8) {
            Some(b'2'..=b'6') => Kind::Final,
            _ => Kind::Other,
        },
        _ if message.starts_with(b"ACK ") => Kind::Other,
        _ => Kind::Request,
    }
}

impl Pending {
    /// `message` was read from the connection.
    fn read(&mut self, message: &[u8]) {
        match kind(message) {
            Kind::Request => self.inbound += 1,
            Kind::Final if self.probes > 0 && carries_probe_branch(message) => self.probes -= 1,
            Kind::Final => self.outbound = self.outbound.saturating_sub(1),
            Kind::Other => {}
        }
    }

    /// `message` was written to the connection.
    fn written(&mut self, message: &[u8]) {
        match kind(message) {
            Kind::Request if message.starts_with(b"OPTIONS ") && carries_probe_branch(message) => {
                self.probes += 1;
            }
            Kind::Request => self.outbound += 1,
            Kind::Final => self.inbound = self.inbound.saturating_sub(1),
            Kind::Other => {}
        }
    }

    /// No transaction is open.
    fn none(self) -> bool {
        self.inbound == 0 && self.outbound == 0
    }
}

/// One TCP or TLS connection being served: what it needs to answer, and its stream.
struct Connection<'a, S> {
    /// Its id among the open connections.
    id: u64,
    peer: SocketAddr,
    stream: S,
    /// The edge, and the way to everything it sends elsewhere.
    io: &'a Arc<Io>,
    limits: SipLimits,
    /// Where the message under way stands.
    framer: Framer,
    /// The transactions open on it.
    pending: Pending,
}

/// The connection is to be closed.
struct Close;

/// Why the frames read stop: the connection is to be closed, or the stream could not be framed
/// and was answered, so it is to be closed after lingering.
enum Stop {
    Close,
    Answered,
}

impl From<Close> for Stop {
    fn from(_: Close) -> Self {
        Self::Close
    }
}

/// Serves one accepted TCP or TLS connection from `peer` until it closes, fails, or misses a
/// deadline.
pub(super) async fn serve_tcp<S: SipStream>(stream: S, peer: SocketAddr, io: &Arc<Io>) {
    let (id, rx) = io.conns.register();
    serve_registered(stream, peer, id, rx, io).await;
    io.conns.remove(id);
}

/// Serves a TCP or TLS connection with `peer`, registered as `id` with the queue `rx` of what to
/// write to it, until it closes, fails, or misses a deadline (the caller then removes it).
///
/// One task owns the stream: it reads, or writes what the edge answers and what `rx` brings,
/// never both at once (a read given up for a write loses nothing: TCP's and rustls's reads keep
/// what they have read in the stream).
pub(super) async fn serve_registered<S: SipStream>(
    stream: S,
    peer: SocketAddr,
    id: u64,
    mut rx: mpsc::Receiver<Vec<u8>>,
    io: &Arc<Io>,
) {
    let limits = io.limits;
    let mut conn = Connection {
        id,
        peer,
        stream,
        io,
        limits,
        framer: Framer::default(),
        pending: Pending::default(),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    // The connection is closed if nothing more arrives by then: `idle` after the last complete
    // message while nothing is buffered, else `message` after the first byte of the message under
    // way. Reads within a message do not move it.
    let mut deadline = Instant::now() + limits.idle;
    let mut draining = io.draining.subscribe();
    loop {
        let drain = *draining.borrow_and_update();
        if drain && buf.is_empty() && conn.pending.none() {
            tracing::debug!(%peer, transport = S::WIRE.label(), "SIP connection drained; closing");
            let _ = tokio::time::timeout(limits.write, conn.stream.shutdown()).await;
            break;
        }
        tokio::select! {
            read = tokio::time::timeout_at(deadline, conn.stream.read(&mut chunk)) => {
                let Ok(n) = conn.bytes_read(read, buf.len()) else { break };
                let was_empty = buf.is_empty();
                buf.extend_from_slice(&chunk[..n]);
                let framed = match conn.handle_frames(&mut buf).await {
                    Ok(framed) => framed,
                    Err(Stop::Close) => break,
                    Err(Stop::Answered) => {
                        conn.linger(&mut chunk).await;
                        break;
                    }
                };
                if buf.is_empty() {
                    deadline = Instant::now() + limits.idle;
                } else if was_empty || framed {
                    // The first bytes of a new message: its deadline starts now.
                    deadline = Instant::now() + limits.message;
                }
            }
            out = rx.recv() => {
                let Some(bytes) = out else { break };
                if conn.write(&bytes).await.is_err() {
                    break;
                }
            }
            changed = draining.changed(), if !drain => {
                // The server is gone without draining: nothing more to wait for.
                if changed.is_err() {
                    break;
                }
            }
        }
    }
}

impl<S: SipStream> Connection<'_, S> {
    /// How many bytes a read within the deadline gave, with `buffered` bytes of a message under
    /// way; [`Close`] if the peer closed, the read failed, or the deadline passed.
    fn bytes_read(
        &self,
        read: Result<std::io::Result<usize>, Elapsed>,
        buffered: usize,
    ) -> Result<usize, Close> {
        let peer = self.peer;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => Err(Close),
            Ok(Ok(n)) => Ok(n),
            Err(_) if buffered == 0 => {
                tracing::debug!(%peer, transport = S::WIRE.label(), "SIP connection idle; closing");
                Err(Close)
            }
            Err(_) => {
                tracing::debug!(
                    %peer,
                    buffered,
                    transport = S::WIRE.label(),
                    "SIP message not complete by its deadline; closing"
                );
                Err(Close)
            }
        }
    }

    /// Hands each whole message at the start of `buf` to the edge, draining it, and carries out
    /// what the edge returns (an answer for this connection is written before the next message).
    /// Gives whether there was any; [`Stop::Answered`] if the stream cannot be framed and its
    /// request was answered, [`Stop::Close`] if it could not be answered or a write failed.
    async fn handle_frames(&mut self, buf: &mut Vec<u8>) -> Result<bool, Stop> {
        let mut framed = false;
        loop {
            let len = match self.framer.next(buf) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(framed),
                Err(e) => {
                    tracing::debug!(peer = %self.peer, error = %e, "bad SIP stream framing; closing");
                    return Err(self.refuse(buf, e).await);
                }
            };
            framed = true;
            let frame: Vec<u8> = buf.drain(..len).collect();
            let trimmed = frame.iter().position(|b| *b != b'\r' && *b != b'\n');
            let Some(start) = trimmed else { continue };
            self.pending.read(&frame[start..]);
            match self
                .io
                .edge
                .handle(&frame[start..], self.peer, self.transport())
            {
                Action::Send { via, bytes, .. } if via == self.transport() => {
                    self.write(&bytes).await?;
                }
                other => perform(other, self.io),
            }
        }
    }

    /// Answers the request at the start of `buf`, which cannot be framed for `error`, if the
    /// edge can read it: [`Stop::Answered`] once the answer is written, else [`Stop::Close`].
    async fn refuse(&mut self, buf: &[u8], error: message::ParseError) -> Stop {
        let transport = self.transport();
        match self.io.edge.refuse(buf, error, self.peer, transport) {
            Action::Send { via, bytes, .. } if via == transport => match self.write(&bytes).await {
                Ok(()) => Stop::Answered,
                Err(Close) => Stop::Close,
            },
            _ => Stop::Close,
        }
    }

    /// How messages on this connection arrived, for the edge.
    fn transport(&self) -> Transport {
        Transport::connection(S::WIRE, self.id)
    }

    /// Before closing a connection whose last request was answered but not read whole: closes
    /// the write side (for TLS, with its `close_notify`), then reads and drops what the client
    /// still sends (see [`LINGER`]).
    async fn linger(&mut self, chunk: &mut [u8]) {
        let deadline = Instant::now() + LINGER;
        if tokio::time::timeout_at(deadline, self.stream.shutdown())
            .await
            .is_err()
        {
            return;
        }
        let mut left = LINGER_BYTES;
        while left > 0 {
            match tokio::time::timeout_at(deadline, self.stream.read(chunk)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => return,
            }
        }
    }

    /// Writes `bytes` within the write limit: see [`write_within`].
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Close> {
        if write_within(&mut self.stream, bytes, self.limits.write, self.peer).await {
            self.pending.written(bytes);
            Ok(())
        } else {
            Err(Close)
        }
    }
}

/// Writes `bytes` to a TCP or TLS connection within `limit` (for TLS, flushed: rustls holds
/// what it encrypted until then). False if the connection must be closed: the write failed, or
/// did not complete in time because the peer does not read, in which case the connection is set
/// to be reset on close rather than have the kernel keep trying to deliver what it holds for it.
async fn write_within<S: SipStream>(
    stream: &mut S,
    bytes: &[u8],
    limit: Duration,
    peer: SocketAddr,
) -> bool {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            let transport = S::WIRE.label();
            tracing::debug!(%peer, ?limit, transport, "SIP write not done in time; resetting");
            let _ = socket2::SockRef::from(stream.socket()).set_linger(Some(Duration::ZERO));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_open_with_requests_and_end_with_final_responses_either_way() {
        let mut p = Pending::default();
        p.read(b"INVITE sip:a@b SIP/2.0\r\n\r\n");
        p.written(b"SIP/2.0 100 Trying\r\n\r\n");
        assert!(!p.none(), "a provisional response ends nothing");
        p.written(b"SIP/2.0 200 OK\r\n\r\n");
        assert!(p.none());
        p.read(b"ACK sip:a@b SIP/2.0\r\n\r\n");
        assert!(p.none(), "an ACK opens no transaction");
        p.written(b"OPTIONS sip:t SIP/2.0\r\n\r\n");
        p.read(b"sip/2.0 180 Ringing\r\n\r\n");
        assert!(!p.none());
        p.read(b"SIP/2.0 486 Busy Here\r\n\r\n");
        assert!(p.none());
        p.written(b"SIP/2.0 404 Not Found\r\n\r\n");
        assert!(p.none(), "an unmatched answer counts no lower than zero");
        p.written(b"OPTIONS sip:t SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-sm-p00\r\n\r\n");
        assert!(p.none(), "a probe is not waited for");
        p.written(b"INVITE sip:t SIP/2.0\r\n\r\n");
        p.read(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-sm-p00\r\n\r\n");
        assert!(!p.none(), "a probe's answer ends no transaction");
        p.read(b"SIP/2.0 200 OK\r\n\r\n");
        assert!(p.none());
        p.read(b"garbage");
        assert!(!p.none(), "what is not a response is taken for a request");
    }
}
