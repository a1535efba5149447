//! Reaching a webhook's server: resolve its host, keep only the addresses the destination
//! policy allows, connect to one of those (the very address checked, so a DNS answer that
//! changes between the check and the connection changes nothing), and for `https` do the TLS
//! handshake against the configured roots. Every failure is a [`Failure`] with Twilio's code.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::{Host, Url};

use super::{Failure, POLICY_DENIALS, Resolver};
use crate::voice::code::Code;

/// A connected stream, plain or TLS.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How to reach servers: the resolver, the policy, the connect bounds and the TLS settings.
pub(super) struct Connector {
    pub resolver: Resolver,
    pub policy: super::DestinationPolicy,
    pub connect_timeout: Duration,
    pub connect_attempts: u32,
    pub tls: TlsConnector,
}

impl Connector {
    /// A stream to `url`'s server, ready for HTTP.
    pub async fn connect(&self, url: &Url) -> Result<Box<dyn Io>, Failure> {
        let host = url
            .host()
            .ok_or_else(|| Failure::new(Code::INVALID_URL, "the URL has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Failure::new(Code::INVALID_URL, "the URL has no port"))?;
        let candidates = self.addresses(&host, port).await?;
        let allowed: Vec<SocketAddr> = candidates
            .iter()
            .copied()
            .filter(|a| (self.policy)(a.ip()))
            .collect();
        if allowed.is_empty() {
            let list = candidates
                .iter()
                .map(|a| a.ip().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            POLICY_DENIALS.hit(&format_args!("{host} ({list})"));
            return Err(Failure::new(
                Code::HTTP_CONNECTION_FAILURE,
                format!("sipmap may not connect to {host} ({list}): the outbound policy denies it"),
            ));
        }
        let tcp = self.tcp(&allowed).await?;
        if url.scheme() == "https" {
            Ok(Box::new(self.handshake(&host, tcp).await?))
        } else {
            Ok(Box::new(tcp))
        }
    }

    /// Every address `host` stands for (an IP literal stands for itself).
    async fn addresses(&self, host: &Host<&str>, port: u16) -> Result<Vec<SocketAddr>, Failure> {
        let name = match host {
            Host::Ipv4(ip) => return Ok(vec![SocketAddr::new(IpAddr::V4(*ip), port)]),
            Host::Ipv6(ip) => return Ok(vec![SocketAddr::new(IpAddr::V6(*ip), port)]),
            Host::Domain(name) => *name,
        };
        let bad_host = |why: String| {
            Failure::new(
                Code::HTTP_BAD_HOST_NAME,
                format!("the host name {name} does not resolve ({why})"),
            )
        };
        match (self.resolver)(name.to_owned(), port).await {
            Ok(addrs) if addrs.is_empty() => Err(bad_host("no address".to_owned())),
            Ok(addrs) => Ok(addrs),
            Err(e) => Err(bad_host(e.to_string())),
        }
    }

    /// A TCP connection to one of `addrs`, tried in order, each within the connect timeout;
    /// the whole list is tried `connect_attempts` times.
    async fn tcp(&self, addrs: &[SocketAddr]) -> Result<TcpStream, Failure> {
        let mut last = String::new();
        for _ in 0..self.connect_attempts.max(1) {
            for addr in addrs {
                match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(stream);
                    }
                    Ok(Err(e)) => last = format!("{addr}: {e}"),
                    Err(_) => {
                        last = format!(
                            "{addr}: no connection within {} ms",
                            self.connect_timeout.as_millis()
                        )
                    }
                }
            }
        }
        Err(Failure::new(
            Code::HTTP_CONNECTION_FAILURE,
            format!("could not connect ({last})"),
        ))
    }

    /// The TLS handshake, the certificate checked for `host` against the configured roots.
    async fn handshake(
        &self,
        host: &Host<&str>,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
        let name = match host {
            Host::Domain(name) => ServerName::try_from(name.to_string()),
            Host::Ipv4(ip) => Ok(ServerName::IpAddress(IpAddr::V4(*ip).into())),
            Host::Ipv6(ip) => Ok(ServerName::IpAddress(IpAddr::V6(*ip).into())),
        }
        .map_err(|_| Failure::new(Code::INVALID_URL, format!("{host} is not a valid TLS name")))?;
        self.tls
            .connect(name, tcp)
            .await
            .map_err(|e| tls_failure(&e))
    }
}

/// A TLS handshake error as Twilio reports it.
fn tls_failure(e: &io::Error) -> Failure {
    use rustls::CertificateError as C;
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let code = match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                Code::CERTIFICATE_DOMAIN_MISMATCH
            }
            C::Expired | C::ExpiredContext { .. } => Code::CERTIFICATE_EXPIRED,
            C::UnknownIssuer => Code::CERTIFICATE_UNTRUSTED,
            _ => Code::TLS_HANDSHAKE_ERROR,
        },
        _ => Code::TLS_HANDSHAKE_ERROR,
    };
    Failure::new(code, format!("the TLS handshake failed: {e}"))
}

/// Resolves with the operating system's resolver (`getaddrinfo`, on a blocking thread).
pub(super) fn system_resolver() -> Resolver {
    Arc::new(|name: String, port: u16| {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name.as_str(), port)).await?;
            Ok(addrs.collect())
        }) as Pin<Box<dyn std::future::Future<Output = io::Result<Vec<SocketAddr>>> + Send>>
    })
}
