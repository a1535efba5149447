//! The TCP side: each connection is a tokio task that frames messages by `Content-Length`, hands
//! them to the edge, and writes what comes back, within the deadlines of [`SipLimits`].

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use super::connections::Connections;
use super::edge::{Action, Edge, Transport};
use super::{SipLimits, message, perform};

pub(super) async fn serve_tcp(
    stream: TcpStream,
    peer: SocketAddr,
    edge: &Edge,
    conns: &Connections,
    udp: &UdpSocket,
    limits: SipLimits,
) {
    let (id, mut rx) = conns.register();
    let (mut reader, mut writer) = stream.into_split();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    // The connection is closed if nothing more arrives by then: `idle` after the last complete
    // message while nothing is buffered, else `message` after the first byte of the message under
    // way. Reads within a message do not move it.
    let mut deadline = tokio::time::Instant::now() + limits.idle;
    'conn: loop {
        tokio::select! {
            read = tokio::time::timeout_at(deadline, reader.read(&mut chunk)) => {
                let n = match read {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => n,
                    Err(_) if buf.is_empty() => {
                        tracing::debug!(%peer, "SIP TCP connection idle; closing");
                        break;
                    }
                    Err(_) => {
                        tracing::debug!(
                            %peer,
                            buffered = buf.len(),
                            "SIP TCP message not complete by its deadline; closing"
                        );
                        break;
                    }
                };
                let was_empty = buf.is_empty();
                buf.extend_from_slice(&chunk[..n]);
                let mut framed = false;
                loop {
                    match message::frame_len(&buf) {
                        Ok(Some(len)) => {
                            framed = true;
                            let frame: Vec<u8> = buf.drain(..len).collect();
                            let trimmed = frame.iter().position(|b| *b != b'\r' && *b != b'\n');
                            let Some(start) = trimmed else { continue };
                            match edge.handle(&frame[start..], peer, Transport::Tcp(id)) {
                                Action::Send { via: Transport::Tcp(to), bytes, .. } if to == id => {
                                    let written =
                                        write_within(&mut writer, &bytes, limits.write, peer).await;
                                    if !written {
                                        break 'conn;
                                    }
                                }
                                other => perform(other, udp, conns),
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "bad SIP TCP framing; closing");
                            break 'conn;
                        }
                    }
                }
                if buf.is_empty() {
                    deadline = tokio::time::Instant::now() + limits.idle;
                } else if was_empty || framed {
                    // The first bytes of a new message: its deadline starts now.
                    deadline = tokio::time::Instant::now() + limits.message;
                }
            }
            out = rx.recv() => {
                match out {
                    Some(bytes) => {
                        if !write_within(&mut writer, &bytes, limits.write, peer).await {
                            break;
                        }
                    }
                    None => break,
                }
            }
        }
    }
    conns.remove(id);
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
