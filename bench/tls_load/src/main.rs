//! tls_load: the SIP over TLS load generator of bench/sip_tls.sh (Debian's SIPp has no TLS).
//!
//! One process, one thread (a current-thread tokio runtime), so that `taskset` can keep it on a
//! core of its own. It drives any SIP server's TLS listener with `OPTIONS` and counts the
//! answers; the same binary, certificate and settings drive sipmap and Kamailio.
//!
//! Modes (`--mode`):
//! - `handshake`: `--workers` tasks, each in a loop: connect, a full TLS handshake (session
//!   resumption off, no tickets, no session cache), one `OPTIONS`, read the answer, close (a
//!   `close_notify`, then an abortive close so that the client's side keeps no TIME_WAIT socket
//!   and the run cannot run out of ports). Runs `--duration` seconds.
//! - `established`: `--conns` connections opened (and handshaken) first, then on each, in a loop,
//!   `--depth` `OPTIONS` written back to back and their answers read, for `--duration` seconds.
//! - `idle`: `--conns` connections opened, one `OPTIONS` answered on each, then held open for
//!   `--hold` seconds; `READY` is printed on stdout once they are all open (the script reads the
//!   server's memory then).
//!
//! Connections are spread over `--sources` loopback source addresses (127.0.1.1, 127.0.1.2, ...)
//! so that per-source caps of the server (sipmap: 64 connections and 8 handshakes in progress from
//! one address) do not bite: each source gets at most `ceil(workers / sources)` workers.
//!
//! The server certificate is not verified unless `--verify` is given (with `--ca FILE`): checking
//! an ECDSA signature costs the client about twice what making it costs the server, and the client
//! must not be the limit. The handshake itself (key exchange, the server's signature, Finished)
//! is complete either way.
//!
//! Key exchange: `--group x25519` (the default) offers X25519 only, so that every server does the
//! same key exchange in one round trip (Kamailio's OpenSSL prefers secp384r1 and, offered rustls'
//! usual list, answers with a HelloRetryRequest for it); `--group any` offers rustls' list.
//!
//! Output: one JSON object on stdout at the end (and `READY` before it in `idle` mode). Every
//! loop is bounded by the duration; every network operation by `--timeout`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

struct Args {
    mode: String,
    addr: SocketAddr,
    uri_host: String,
    workers: usize,
    conns: usize,
    depth: usize,
    duration: Duration,
    hold: Duration,
    sources: usize,
    timeout: Duration,
    verify: bool,
    ca: Option<String>,
    group: String,
}

fn usage() -> ! {
    eprintln!(
        "usage: tls_load --mode handshake|established|idle --addr IP:PORT [--uri-host HOST] \
         [--workers N] [--conns N] [--depth N] [--duration S] [--hold S] [--sources N] \
         [--timeout S] [--group x25519|p256|any] [--verify --ca FILE]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        mode: String::new(),
        addr: "127.0.0.1:5061".parse().unwrap(),
        uri_host: "127.0.0.1".into(),
        workers: 16,
        conns: 50,
        depth: 1,
        duration: Duration::from_secs(10),
        hold: Duration::from_secs(10),
        sources: 8,
        timeout: Duration::from_secs(5),
        verify: false,
        ca: None,
        group: "x25519".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--verify" {
            a.verify = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| usage());
        let num = |v: &str| v.parse::<f64>().unwrap_or_else(|_| usage());
        match k.as_str() {
            "--mode" => a.mode = v,
            "--addr" => a.addr = v.parse().unwrap_or_else(|_| usage()),
            "--uri-host" => a.uri_host = v,
            "--workers" => a.workers = num(&v) as usize,
            "--conns" => a.conns = num(&v) as usize,
            "--depth" => a.depth = num(&v) as usize,
            "--duration" => a.duration = Duration::from_secs_f64(num(&v)),
            "--hold" => a.hold = Duration::from_secs_f64(num(&v)),
            "--sources" => a.sources = num(&v) as usize,
            "--timeout" => a.timeout = Duration::from_secs_f64(num(&v)),
            "--ca" => a.ca = Some(v),
            "--group" => a.group = v,
            _ => usage(),
        }
    }
    if !matches!(a.mode.as_str(), "handshake" | "established" | "idle")
        || a.workers == 0
        || a.conns == 0
        || a.depth == 0
        || a.sources == 0
        || a.sources > 250
        || (a.verify && a.ca.is_none())
        || !matches!(a.group.as_str(), "x25519" | "p256" | "any")
    {
        usage()
    }
    a
}

/// Accepts any certificate and signature: see the module's doc for why.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// ring's default provider (deprecated for its lack of post-quantum key exchange): the same one
// sipmap's listener uses, so both sides agree on X25519 as with OpenSSL.
#[allow(deprecated)]
fn client_config(a: &Args) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    let keep = match a.group.as_str() {
        "x25519" => Some(rustls::NamedGroup::X25519),
        "p256" => Some(rustls::NamedGroup::secp256r1),
        _ => None,
    };
    if let Some(keep) = keep {
        provider.kx_groups.retain(|g| g.name() == keep);
    }
    let provider = Arc::new(provider);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let mut cfg = if a.verify {
        let mut roots = RootCertStore::empty();
        let pem = std::fs::read(a.ca.as_ref().unwrap()).expect("read --ca");
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            roots.add(cert.expect("PEM certificate")).expect("CA");
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    };
    cfg.resumption = Resumption::disabled(); // every connection a full handshake
    cfg.enable_sni = false;
    Arc::new(cfg)
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    other_status: AtomicU64,
    connect_err: AtomicU64,
    handshake_err: AtomicU64,
    io_err: AtomicU64,
    timeouts: AtomicU64,
    seq: AtomicU64,
}

/// A run's failure, counted where it happened.
#[derive(Debug)]
struct Failed;

/// Counts one event; returns [`Failed`] for the error paths that count one.
fn bump(c: &AtomicU64) -> Failed {
    c.fetch_add(1, Ordering::Relaxed);
    Failed
}

struct Ctx {
    args: Args,
    connector: TlsConnector,
    counters: Counters,
    version: std::sync::Mutex<Option<String>>,
}

fn source(i: usize, sources: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, (1 + i % sources) as u8))
}

fn options(ctx: &Ctx, local: SocketAddr) -> Vec<u8> {
    let n = ctx.counters.seq.fetch_add(1, Ordering::Relaxed);
    format!(
        "OPTIONS sip:ping@{host} SIP/2.0\r\n\
         Via: SIP/2.0/TLS {local};branch=z9hG4bK-tl{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:load@{lip}>;tag=tl{n}\r\n\
         To: <sip:ping@{host}>\r\n\
         Call-ID: tl-{n}@{lip}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:load@{local};transport=tls>\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n",
        host = ctx.args.uri_host,
        lip = local.ip(),
    )
    .into_bytes()
}

/// Takes the whole SIP responses at the front of `buf`; returns their status codes.
fn take_responses(buf: &mut Vec<u8>, out: &mut Vec<u16>) -> Result<(), String> {
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if buf.len() > 65536 {
                return Err("header section over 64 KB".into());
            }
            return Ok(());
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut len = 0usize;
        for line in head.split("\r\n").skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" || name == "l" {
                    len = value.trim().parse().map_err(|_| "bad Content-Length")?;
                }
            }
        }
        if buf.len() < end + 4 + len {
            return Ok(());
        }
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|_| head.starts_with("SIP/2.0 "))
            .ok_or_else(|| format!("not a response: {:?}", head.lines().next()))?;
        out.push(status);
        buf.drain(..end + 4 + len);
    }
}

async fn connect(
    ctx: &Ctx,
    src: IpAddr,
) -> Result<(TlsStream<tokio::net::TcpStream>, SocketAddr), Failed> {
    let sock = TcpSocket::new_v4().map_err(|_| bump(&ctx.counters.connect_err))?;
    sock.bind(SocketAddr::new(src, 0))
        .map_err(|_| bump(&ctx.counters.connect_err))?;
    let tcp = match tokio::time::timeout(ctx.args.timeout, sock.connect(ctx.args.addr)).await {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => return Err(bump(&ctx.counters.connect_err)),
        Err(_) => return Err(bump(&ctx.counters.timeouts)),
    };
    let _ = tcp.set_nodelay(true);
    let local = tcp
        .local_addr()
        .map_err(|_| bump(&ctx.counters.connect_err))?;
    let name = ServerName::IpAddress(ctx.args.addr.ip().into());
    let tls = match tokio::time::timeout(ctx.args.timeout, ctx.connector.connect(name, tcp)).await {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => return Err(bump(&ctx.counters.handshake_err)),
        Err(_) => return Err(bump(&ctx.counters.timeouts)),
    };
    let mut v = ctx.version.lock().unwrap();
    if v.is_none() {
        let (_, c) = tls.get_ref();
        *v = Some(format!(
            "{:?} {:?} {:?}",
            c.protocol_version(),
            c.negotiated_cipher_suite().map(|s| s.suite()),
            c.negotiated_key_exchange_group().map(|g| g.name())
        ));
    }
    Ok((tls, local))
}

/// Writes `n` OPTIONS and reads `n` answers, counting them. Err: the connection is unusable.
async fn exchange(
    ctx: &Ctx,
    tls: &mut TlsStream<tokio::net::TcpStream>,
    local: SocketAddr,
    n: usize,
    buf: &mut Vec<u8>,
) -> Result<(), Failed> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend_from_slice(&options(ctx, local));
    }
    let t = ctx.args.timeout;
    let r = tokio::time::timeout(t, async {
        tls.write_all(&out).await.map_err(|_| ())?;
        tls.flush().await.map_err(|_| ())?;
        let mut got = Vec::new();
        let mut chunk = [0u8; 16384];
        while got.len() < n {
            let k = tls.read(&mut chunk).await.map_err(|_| ())?;
            if k == 0 {
                return Err(());
            }
            buf.extend_from_slice(&chunk[..k]);
            take_responses(buf, &mut got).map_err(|e| eprintln!("tls_load: {e}"))?;
        }
        Ok(got)
    })
    .await;
    match r {
        Ok(Ok(codes)) => {
            for c in codes {
                let _ = bump(if c == 200 {
                    &ctx.counters.ok
                } else {
                    &ctx.counters.other_status
                });
            }
            Ok(())
        }
        Ok(Err(())) => Err(bump(&ctx.counters.io_err)),
        Err(_) => Err(bump(&ctx.counters.timeouts)),
    }
}

async fn close(mut tls: TlsStream<tokio::net::TcpStream>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), tls.shutdown()).await; // close_notify
    let (tcp, _) = tls.into_inner();
    // RST: no TIME_WAIT on the client's ports (deprecated because a non-zero linger blocks on
    // drop; zero does not)
    #[allow(deprecated)]
    let _ = tcp.set_linger(Some(Duration::ZERO));
}

async fn handshake_worker(ctx: Arc<Ctx>, i: usize, until: Instant) {
    let src = source(i, ctx.args.sources);
    let mut buf = Vec::new();
    while Instant::now() < until {
        let Ok((mut tls, local)) = connect(&ctx, src).await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        buf.clear();
        let _ = exchange(&ctx, &mut tls, local, 1, &mut buf).await;
        close(tls).await;
    }
}

async fn open_many(
    ctx: &Arc<Ctx>,
    n: usize,
) -> Vec<(TlsStream<tokio::net::TcpStream>, SocketAddr)> {
    // one opener per source, each opening its share one after another
    let sources = ctx.args.sources.min(n);
    let mut tasks = Vec::new();
    for s in 0..sources {
        let share = n / sources + usize::from(s < n % sources);
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut conns = Vec::new();
            let mut buf = Vec::new();
            for _ in 0..share {
                if let Ok((mut tls, local)) = connect(&ctx, source(s, ctx.args.sources)).await {
                    buf.clear();
                    if exchange(&ctx, &mut tls, local, 1, &mut buf).await.is_ok() {
                        conns.push((tls, local));
                    }
                }
            }
            conns
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let connector = TlsConnector::from(client_config(&args));
    let ctx = Arc::new(Ctx {
        args,
        connector,
        counters: Counters::default(),
        version: Default::default(),
    });
    let c = &ctx.counters;
    let mode = ctx.args.mode.clone();
    let mut extra = String::new();
    let cpu0 = cpu_seconds();
    let (elapsed, opened) = rt.block_on(async {
        match mode.as_str() {
            "handshake" => {
                let start = Instant::now();
                let until = start + ctx.args.duration;
                let tasks: Vec<_> = (0..ctx.args.workers)
                    .map(|i| tokio::spawn(handshake_worker(ctx.clone(), i, until)))
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
                (start.elapsed(), 0)
            }
            "established" => {
                let conns = open_many(&ctx, ctx.args.conns).await;
                let opened = conns.len();
                c.ok.store(0, Ordering::Relaxed); // the opening OPTIONS are not counted
                let start = Instant::now();
                let until = start + ctx.args.duration;
                let tasks: Vec<_> = conns
                    .into_iter()
                    .map(|(mut tls, local)| {
                        let ctx = ctx.clone();
                        tokio::spawn(async move {
                            let mut buf = Vec::new();
                            while Instant::now() < until {
                                if exchange(&ctx, &mut tls, local, ctx.args.depth, &mut buf)
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                            close(tls).await;
                        })
                    })
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
                (start.elapsed(), opened)
            }
            _ => {
                let start = Instant::now();
                let conns = open_many(&ctx, ctx.args.conns).await;
                let opened = conns.len();
                extra = format!(", \"open_s\": {:.3}", start.elapsed().as_secs_f64());
                println!("READY {opened}");
                let _ = std::io::stdout().flush();
                tokio::time::sleep(ctx.args.hold).await;
                for (tls, _) in conns {
                    close(tls).await;
                }
                (start.elapsed(), opened)
            }
        }
    });
    let cpu = cpu_seconds() - cpu0;
    let secs = elapsed.as_secs_f64();
    let ok = c.ok.load(Ordering::Relaxed);
    let version = ctx.version.lock().unwrap().clone().unwrap_or_default();
    println!(
        "{{\"mode\": \"{mode}\", \"seconds\": {secs:.3}, \"ok\": {ok}, \"per_s\": {:.1}, \
         \"other_status\": {}, \"connect_err\": {}, \"handshake_err\": {}, \"io_err\": {}, \
         \"timeouts\": {}, \"opened\": {opened}, \"workers\": {}, \"conns\": {}, \"depth\": {}, \
         \"sources\": {}, \"client_cpu_s\": {cpu:.3}, \"tls\": \"{}\"{extra}}}",
        ok as f64 / secs,
        c.other_status.load(Ordering::Relaxed),
        c.connect_err.load(Ordering::Relaxed),
        c.handshake_err.load(Ordering::Relaxed),
        c.io_err.load(Ordering::Relaxed),
        c.timeouts.load(Ordering::Relaxed),
        ctx.args.workers,
        ctx.args.conns,
        ctx.args.depth,
        ctx.args.sources,
        version.replace('"', "'"),
    );
}

/// This process's CPU time (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = 100.0; // USER_HZ on Linux
    let u: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let k: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (u + k) / tick
}
