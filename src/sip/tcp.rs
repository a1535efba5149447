//! The TCP side: connections are admitted within the caps of [`SipLimits`], and each is a tokio
//! task that frames messages by `Content-Length`, hands them to the edge, and writes what comes
//! back, within the deadlines of [`SipLimits`].
//!
//! A stream that cannot be framed (a message over the size limit, or without one valid
//! `Content-Length`) is answered when the edge can read the request (`513` or `400`, see
//! `edge::refuse`), then closed: the write side first, and what the client still sends is read
//! and thrown away (at most [`LINGER_BYTES`], for at most [`LINGER`]), so that the close does
//! not reset the connection before the client has read the answer.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::{Instant, error::Elapsed};

use super::admission::{Admission, Refusals};
use super::edge::{Action, Transport};
use super::message::Framer;
use super::{Io, SipLimits, SipServer, message, perform};

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
    pub(super) async fn accept_tcp(&self, shutdown: impl Future<Output = ()>) {
        let limits = &self.io.limits;
        let admission = Admission::new(limits);
        let mut refusals = Refusals::default();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.tcp.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "SIP TCP accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            };
            let slot = match admission.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(cap) => {
                    refusals.note(cap, peer, limits);
                    // Dropping the stream closes it.
                    continue;
                }
            };
            let io = self.io.clone();
            tokio::spawn(async move {
                let _slot = slot;
                serve_tcp(stream, peer, &io).await;
            });
        }
    }
}

/// One TCP connection being served: what it needs to answer, and its write half.
struct Connection<'a> {
    /// Its id among the open connections.
    id: u64,
    peer: SocketAddr,
    writer: OwnedWriteHalf,
    /// The edge, and the way to everything it sends elsewhere.
    io: &'a Arc<Io>,
    limits: SipLimits,
    /// Where the message under way stands.
    framer: Framer,
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

/// Serves one accepted TCP connection from `peer` until it closes, fails, or misses a deadline.
async fn serve_tcp(stream: TcpStream, peer: SocketAddr, io: &Arc<Io>) {
    let (id, rx) = io.conns.register();
    serve_registered(stream, peer, id, rx, io).await;
    io.conns.remove(id);
}

/// Serves a TCP connection with `peer`, registered as `id` with the queue `rx` of what to write
/// to it, until it closes, fails, or misses a deadline (the caller then removes it).
pub(super) async fn serve_registered(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    mut rx: mpsc::Receiver<Vec<u8>>,
    io: &Arc<Io>,
) {
    let limits = io.limits;
    let (mut reader, writer) = stream.into_split();
    let mut conn = Connection {
        id,
        peer,
        writer,
        io,
        limits,
        framer: Framer::default(),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    // The connection is closed if nothing more arrives by then: `idle` after the last complete
    // message while nothing is buffered, else `message` after the first byte of the message under
    // way. Reads within a message do not move it.
    let mut deadline = Instant::now() + limits.idle;
    loop {
        tokio::select! {
            read = tokio::time::timeout_at(deadline, reader.read(&mut chunk)) => {
                let Ok(n) = conn.bytes_read(read, buf.len()) else { break };
                let was_empty = buf.is_empty();
                buf.extend_from_slice(&chunk[..n]);
                let framed = match conn.handle_frames(&mut buf).await {
                    Ok(framed) => framed,
                    Err(Stop::Close) => break,
                    Err(Stop::Answered) => {
                        conn.linger(&mut reader, &mut chunk).await;
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
        }
    }
}

impl Connection<'_> {
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
                tracing::debug!(%peer, "SIP TCP connection idle; closing");
                Err(Close)
            }
            Err(_) => {
                tracing::debug!(
                    %peer,
                    buffered,
                    "SIP TCP message not complete by its deadline; closing"
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
                    tracing::debug!(peer = %self.peer, error = %e, "bad SIP TCP framing; closing");
                    return Err(self.refuse(buf, e).await);
                }
            };
            framed = true;
            let frame: Vec<u8> = buf.drain(..len).collect();
            let trimmed = frame.iter().position(|b| *b != b'\r' && *b != b'\n');
            let Some(start) = trimmed else { continue };
            match self
                .io
                .edge
                .handle(&frame[start..], self.peer, Transport::Tcp(self.id))
            {
                Action::Send {
                    via: Transport::Tcp(to),
                    bytes,
                    ..
                } if to == self.id => self.write(&bytes).await?,
                other => perform(other, self.io),
            }
        }
    }

    /// Answers the request at the start of `buf`, which cannot be framed for `error`, if the
    /// edge can read it: [`Stop::Answered`] once the answer is written, else [`Stop::Close`].
    async fn refuse(&mut self, buf: &[u8], error: message::ParseError) -> Stop {
        let transport = Transport::Tcp(self.id);
        match self.io.edge.refuse(buf, error, self.peer, transport) {
            Action::Send {
                via: Transport::Tcp(to),
                bytes,
                ..
            } if to == self.id => match self.write(&bytes).await {
                Ok(()) => Stop::Answered,
                Err(Close) => Stop::Close,
            },
            _ => Stop::Close,
        }
    }

    /// Before closing a connection whose last request was answered but not read whole: closes
    /// the write side, then reads and drops what the client still sends (see [`LINGER`]).
    async fn linger(&mut self, reader: &mut OwnedReadHalf, chunk: &mut [u8]) {
        let deadline = Instant::now() + LINGER;
        if tokio::time::timeout_at(deadline, self.writer.shutdown())
            .await
            .is_err()
        {
            return;
        }
        let mut left = LINGER_BYTES;
        while left > 0 {
            match tokio::time::timeout_at(deadline, reader.read(chunk)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => return,
            }
        }
    }

    /// Writes `bytes` within the write limit: see [`write_within`].
    async fn write(&mut self, bytes: &[u8]) -> Result<(), Close> {
        if write_within(&mut self.writer, bytes, self.limits.write, self.peer).await {
            Ok(())
        } else {
            Err(Close)
        }
    }
}

/// Writes `bytes` to a TCP connection within `limit`. False if the connection must be closed:
/// the write failed, or did not complete in time because the peer does not read, in which case
/// the connection is set to be reset on close rather than have the kernel keep trying to deliver
/// what it holds for it.
async fn write_within(
    writer: &mut OwnedWriteHalf,
    bytes: &[u8],
    limit: Duration,
    peer: SocketAddr,
) -> bool {
    match tokio::time::timeout(limit, writer.write_all(bytes)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::debug!(%peer, ?limit, "SIP TCP write not done in time; resetting");
            let stream: &TcpStream = writer.as_ref();
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
            false
        }
    }
}
