//! Startup: open storage, make sure an account exists, load the TLS certificate, bind the
//! listeners, serve until told to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth_token::AuthToken;
use crate::call_runtime::{
    CallLog, CallRuntime, Cluster, RuntimeLimits, RuntimeParts, StoreLog, StoreTokens, StoreTrunks,
    new_node_id,
};
use crate::domain::{Destination, NewAccount};
use crate::http::server::{self, HttpLimits, Listener};
use crate::http::throttle::AuthThrottle;
use crate::http::{AppContext, AppState, router};
use crate::monitor::RefusalAlerts;
use crate::sid::AccountSid;
use crate::sip::edge::digest::Algorithm;
use crate::sip::edge::record::{Decisions, RecordSettings};
use crate::sip::edge::{Authenticator, ThrottleSettings};
use crate::sip::metrics::Metrics;
use crate::sip::{ProbeSettings, SipLimits, SipServer};
use crate::sip_syntax::{SipUri, Wire};
use crate::store::{self, Store, StoreOptions};
use crate::tls::{CertFiles, ServerCerts};
use crate::voice::webhook::{WebhookClient, WebhookConfig};

/// What `sipmap serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Plain HTTP listen address (port 0 picks a free port); none: no plain HTTP listener.
    pub listen: Option<String>,
    /// HTTPS listen address (HTTP/1.1 and HTTP/2 by ALPN); needs [`ServeConfig::tls`].
    pub https_listen: Option<String>,
    /// The server's certificate and key (PEM), for every TLS listener.
    pub tls: Option<CertFiles>,
    /// CA certificates (PEM) trusted by outbound TLS besides the system's roots (webhooks, and
    /// the SIP edge's TLS targets and upstream).
    pub tls_ca: Option<PathBuf>,
    /// `sqlite://PATH`.
    pub database_url: String,
    /// Base of absolute URLs in responses; defaults to `http://` + the plain listener's address,
    /// or `https://` + the HTTPS listener's when there is no plain one.
    pub public_url: Option<String>,
    /// SIP domain names must end with `.{domain_suffix}`.
    pub domain_suffix: String,
    /// Address for the SIP edge (UDP and TCP); none means no SIP edge.
    pub sip_listen: Option<String>,
    /// Where recognised SIP requests are forwarded (`HOST:PORT`, or a `sip:`/`sips:` URI).
    pub sip_upstream: Option<String>,
    /// Address for the SIP edge's TLS listener; needs [`ServeConfig::tls`].
    pub sip_tls_listen: Option<String>,
    /// The digest algorithms the SIP edge offers, in the order of its challenges (empty: the
    /// defaults, SHA-256 then MD5).
    pub sip_digest_algorithms: Vec<Algorithm>,
    /// Storage options (size limit, change-log retention).
    pub store: StoreOptions,
    /// Limits of the HTTP listener.
    pub http_limits: HttpLimits,
    /// Limits of the SIP edge's TCP transport.
    pub sip_limits: SipLimits,
    /// How the SIP edge probes the targets of connection policies.
    pub sip_probes: ProbeSettings,
    /// Most new ports of one target address the SIP edge forwards to per second.
    pub sip_new_ports_per_ip: u32,
    /// When the SIP edge stops checking the credentials of a source that keeps failing.
    pub sip_auth_throttle: ThrottleSettings,
    /// The bounds on calls to domains with a voice application.
    pub call_limits: RuntimeLimits,
    /// Where calls, their events and notifications are stored (none: in storage).
    pub call_log: Option<Arc<dyn CallLog>>,
    /// How many of the SIP edge's recent decisions this node keeps.
    pub decisions: RecordSettings,
}

/// File descriptors kept out of every connection budget: database connections, sockets,
/// log files, and room to accept and refuse a connection over a cap.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The configured connection caps, lowered where the open-file limit could not honour them:
/// half of the descriptor budget goes to HTTP connections, half to SIP over TCP. One HTTP client
/// may hold at most a quarter of the HTTP connections, one SIP source a quarter of the SIP ones.
fn fit_to_descriptors(http: &HttpLimits, sip: &SipLimits) -> (HttpLimits, SipLimits) {
    let (mut http, mut sip) = (http.clone(), *sip);
    if let Some(budget) = descriptor_budget() {
        let share = usize::try_from(budget / 2).unwrap_or(usize::MAX).max(1);
        for (what, cap) in [
            ("HTTP", &mut http.max_connections),
            ("SIP TCP", &mut sip.max_connections),
        ] {
            if *cap > share {
                tracing::warn!(
                    configured = *cap,
                    allowed = share,
                    "the open-file limit caps {what} connections below the configured number"
                );
                *cap = share;
            }
        }
    }
    http.max_connections_per_client = http
        .max_connections_per_client
        .min((http.max_connections / 4).max(1));
    sip.max_connections_per_source = sip
        .max_connections_per_source
        .min((sip.max_connections / 4).max(1));
    (http, sip)
}

/// Raises the soft limit on open files as far as the hard limit allows (up to 65,536) and
/// returns how many descriptors connections may use, or `None` where there is no such limit.
fn descriptor_budget() -> Option<u64> {
    match rlimit::increase_nofile_limit(65_536) {
        Ok(soft) => Some(soft.saturating_sub(RESERVED_DESCRIPTORS)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            None
        }
    }
}

/// The call runtime of a server with a SIP edge: calls stored in `store` (unless the
/// configuration gives another log), tokens read from it, the edge's `metrics` for health.
fn call_runtime(
    config: &ServeConfig,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    node: &str,
) -> anyhow::Result<CallRuntime> {
    let parts = RuntimeParts {
        trunks: Arc::new(StoreTrunks(store.clone())),
        sip_metrics: metrics.clone(),
        outbound: config.store.outbound.clone(),
        tokens: Arc::new(StoreTokens(store.clone())),
        log: config
            .call_log
            .clone()
            .unwrap_or_else(|| Arc::new(StoreLog(store.clone(), Some(node.to_owned())))),
        limits: config.call_limits,
    };
    let Some(ca) = &config.tls_ca else {
        return Ok(CallRuntime::new(parts));
    };
    // Webhooks trust the system's roots plus --tls-ca.
    let roots = crate::tls::client_roots(Some(ca))?;
    let outbound = config.store.outbound.clone();
    let policy = Arc::new(move |ip| outbound.allows(ip));
    let client = WebhookClient::with_roots(WebhookConfig::default(), policy, roots);
    Ok(CallRuntime::with_client(parts, client))
}

/// The API's listeners, bound: plain HTTP and HTTPS, as configured.
async fn bind_listeners(
    config: &ServeConfig,
    certs: Option<&ServerCerts>,
) -> anyhow::Result<Vec<Listener>> {
    let mut listeners = Vec::new();
    if let Some(addr) = &config.listen {
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        listeners.push(Listener::Plain(l));
    }
    if let Some(addr) = &config.https_listen {
        let certs =
            certs.context("--https-listen needs a certificate: --tls-cert and --tls-key")?;
        let l = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        listeners.push(Listener::Tls(l, certs.clone()));
    }
    Ok(listeners)
}

/// The base of absolute URLs: `--public-url`, else the first listener's scheme and address.
fn public_url(config: &ServeConfig, first: &Listener) -> anyhow::Result<String> {
    let scheme = match first {
        Listener::Plain(_) => "http",
        Listener::Tls(..) => "https",
    };
    let addr = first.local_addr()?;
    Ok(config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"))
        .trim_end_matches('/')
        .to_owned())
}

/// The certificate pair, loaded and checked, when one is configured. A configuration that
/// cannot serve (no API listener, HTTPS without a certificate) is refused here, before storage
/// is touched.
fn load_certs(config: &ServeConfig) -> anyhow::Result<Option<ServerCerts>> {
    anyhow::ensure!(
        config.listen.is_some() || config.https_listen.is_some(),
        "no API listener: give --listen or --https-listen (or both)"
    );
    let Some(files) = &config.tls else {
        anyhow::ensure!(
            config.https_listen.is_none(),
            "--https-listen needs a certificate: --tls-cert and --tls-key"
        );
        return Ok(None);
    };
    let certs = ServerCerts::load(files.clone()).context("cannot use the TLS certificate")?;
    tracing::info!(
        cert = %files.cert.display(),
        not_after = %crate::timefmt::iso8601(certs.not_after()),
        "TLS certificate loaded"
    );
    Ok(Some(certs))
}

/// The SIP edge, when `--sip-listen` is given, with what counts its refusals of requests to
/// recognised domains into Monitor Alerts (minutes by the store's clock).
async fn sip_edge(
    config: &ServeConfig,
    store: &Arc<Store>,
    metrics: &Arc<Metrics>,
    limits: SipLimits,
    upstream: Option<&(Destination, String)>,
    (calls, decisions): (Option<&CallRuntime>, &Arc<Decisions>),
) -> anyhow::Result<(Option<SipServer>, Option<Arc<RefusalAlerts>>)> {
    let Some(addr) = &config.sip_listen else {
        return Ok((None, None));
    };
    let addr = resolve_one(addr).with_context(|| format!("bad --sip-listen {addr}"))?;
    let key = store.server_key().context(
        "the SIP edge needs the server key (it signs digest nonces and opens credential \
         passwords), but the store was opened without one",
    )?;
    let digest = Authenticator::new(key, &config.sip_digest_algorithms)
        .with_throttle(config.sip_auth_throttle);
    let alerts = RefusalAlerts::start(store.clone(), config.store.clock.clone());
    let server = SipServer::bind(
        addr,
        upstream.map(|u| u.0.addr),
        store.recognition(),
        metrics.clone(),
        limits,
        digest,
        calls.map(|c| Arc::new(c.clone()) as Arc<dyn crate::sip::edge::CallHandoff>),
    )
    .await?
    .with_upstream_transport(upstream.map(|u| (u.0.wire, u.1.clone())))
    .with_probes(config.sip_probes)
    .with_drain(config.http_limits.shutdown_grace)
    .with_new_ports_per_ip(config.sip_new_ports_per_ip)
    .with_refusals(alerts.clone())
    .with_decisions(decisions.clone());
    Ok((Some(server), Some(alerts)))
}

/// A bound, ready server.
pub struct App {
    listeners: Vec<Listener>,
    certs: Option<ServerCerts>,
    state: AppState,
    sip: Option<SipServer>,
    /// The SIP edge's refusals counted into Monitor Alerts, written at shutdown too.
    alerts: Option<Arc<RefusalAlerts>>,
}

impl App {
    /// Loads the certificate, opens storage and binds the API's listeners.
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        let certs = load_certs(config)?;
        let store = store::connect_with(&config.database_url, &config.store).await?;
        let listeners = bind_listeners(config, certs.as_ref()).await?;
        let public_url = public_url(config, &listeners[0])?;
        let metrics = Arc::new(Metrics::default());
        let (limits, sip_limits) = fit_to_descriptors(&config.http_limits, &config.sip_limits);
        let sip_upstream = match (&config.sip_listen, &config.sip_upstream) {
            (Some(_), Some(u)) => Some(upstream_of(u)?),
            _ => None,
        };
        let node = new_node_id();
        let decisions = Arc::new(Decisions::new(config.decisions, config.store.clock.clone()));
        let calls = config
            .sip_listen
            .is_some()
            .then(|| call_runtime(config, &store, &metrics, &node))
            .transpose()?;
        let cluster = Cluster::new(store.clone(), node, calls.clone());
        cluster
            .start()
            .await
            .context("cannot end the calls a stopped node left live")?;
        let (sip, alerts) = sip_edge(
            config,
            &store,
            &metrics,
            sip_limits,
            sip_upstream.as_ref(),
            (calls.as_ref(), &decisions),
        )
        .await?;
        let sip = sip_tls(sip, config, certs.as_ref()).await?;
        if let (Some(calls), Some(sip)) = (&calls, &sip) {
            calls.attach(sip.sender());
        }
        let state = AppState(Arc::new(AppContext {
            store,
            public_url,
            domain_suffix: config.domain_suffix.trim_matches('.').to_owned(),
            metrics,
            sip_upstream: sip_upstream.map(|u| u.0),
            limits,
            throttle: AuthThrottle::default(),
            sessions: crate::http::console_session::Sessions::new(
                config.http_limits.console_sessions,
            ),
            calls: Arc::new(cluster),
            runtime: calls,
            decisions,
        }));
        Ok(Self {
            listeners,
            certs,
            state,
            sip,
            alerts,
        })
    }

    /// The same server, with updates of live calls going to `control` (a call runtime) instead
    /// of [`crate::calls::NoRuntime`].
    ///
    /// # Errors
    ///
    /// When the server's state is already shared (it never is before [`App::run`]).
    pub fn with_call_control(
        mut self,
        control: Arc<dyn crate::calls::Control>,
    ) -> anyhow::Result<Self> {
        let context = Arc::get_mut(&mut self.state.0)
            .context("the server's state is shared already: set the call control before running")?;
        context.calls = control;
        Ok(self)
    }

    /// The bound SIP address (UDP and TCP), when the SIP edge is on.
    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.sip.as_ref().map(SipServer::local_addr)
    }

    /// The bound SIP TLS address, when the SIP edge listens for TLS.
    pub fn sip_tls_addr(&self) -> Option<SocketAddr> {
        self.sip.as_ref().and_then(SipServer::tls_addr)
    }

    /// The bound plain HTTP address, when that listener is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.listeners.iter().find_map(|l| match l {
            Listener::Plain(l) => l.local_addr().ok(),
            Listener::Tls(..) => None,
        })
    }

    /// The bound HTTPS address, when that listener is on.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.listeners.iter().find_map(|l| match l {
            Listener::Tls(l, _) => l.local_addr().ok(),
            Listener::Plain(_) => None,
        })
    }

    /// The certificate pair every TLS listener presents (reloaded on SIGHUP and file changes
    /// while the server runs), when one is configured.
    pub fn certs(&self) -> Option<&ServerCerts> {
        self.certs.as_ref()
    }

    /// The calls of voice applications, when the SIP edge is on.
    pub fn calls(&self) -> Option<&CallRuntime> {
        self.state.runtime.as_ref()
    }

    /// The storage the server uses.
    pub fn store(&self) -> Arc<Store> {
        self.state.store.clone()
    }

    /// Serves until `shutdown` completes, then drains: the HTTP listeners close and in-flight
    /// requests finish, the SIP edge's listeners close and its connections finish their
    /// transactions (both within [`HttpLimits::shutdown_grace`], at once), UDP stops, the
    /// refusals counted for Monitor Alerts are written, and storage's queued writes are
    /// committed ([`Store::flush`]).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        if let Some(certs) = &self.certs {
            crate::tls::spawn_reloader(vec![certs.clone()], stopped(stop_rx.clone()));
        }
        let limits = self.state.limits.clone();
        let store = self.state.store.clone();
        let http = server::serve_all(
            self.listeners,
            router(self.state),
            limits,
            stopped(stop_rx.clone()),
        );
        match self.sip {
            None => http.await.context("the HTTP server failed")?,
            Some(sip) => {
                let (h, s) = tokio::join!(http, sip.run(stopped(stop_rx)));
                h.context("the HTTP server failed")?;
                s.context("the SIP edge failed")?;
            }
        }
        if let Some(alerts) = &self.alerts {
            alerts.flush().await;
        }
        store
            .flush()
            .await
            .context("storage could not commit its queued writes")?;
        tracing::info!("storage flushed; stopped");
        Ok(())
    }
}

/// What [`ensure_initial_account`] did.
#[derive(Debug)]
pub enum InitialAccount {
    /// The operator's account (from `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`) exists with that token.
    FromEnvironment(AccountSid),
    /// No account existed, so one was created; its token is shown once.
    Created(AccountSid, AuthToken),
    /// Accounts exist already; nothing changed.
    Existing,
}

/// Makes the operator's account exist with the given token, or, when none is given and the
/// database has no account at all, creates one.
pub async fn ensure_initial_account(
    store: &Store,
    from_env: Option<(AccountSid, AuthToken)>,
) -> anyhow::Result<InitialAccount> {
    if let Some((sid, token)) = from_env {
        store.ensure_account(&sid, "sipmap", &token).await?;
        return Ok(InitialAccount::FromEnvironment(sid));
    }
    if store.count_accounts().await? > 0 {
        return Ok(InitialAccount::Existing);
    }
    let token = AuthToken::generate();
    // Atomic: of several nodes starting together on an empty database, exactly one creates it.
    let created = store
        .create_first_account(NewAccount {
            owner_sid: None,
            friendly_name: Some("sipmap".into()),
            token: token.clone(),
        })
        .await?;
    Ok(match created {
        Some(account) => InitialAccount::Created(account.sid, token),
        None => InitialAccount::Existing,
    })
}

/// Completes on SIGINT or SIGTERM (either starts the drain of [`App::run`]).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let signal = tokio::select! {
        () = ctrl_c => "SIGINT",
        () = terminate => "SIGTERM",
    };
    tracing::info!(signal, "shutting down: draining");
}

/// Resolves `HOST:PORT` to one socket address.
/// The SIP edge's TLS: the client its connections to `transport=tls` targets (and a TLS upstream)
/// verify with (the system's roots plus `--tls-ca`), and its TLS listener when
/// `--sip-tls-listen` is given, presenting `certs` (the pair every TLS listener shares, reloaded
/// while serving).
async fn sip_tls(
    sip: Option<SipServer>,
    config: &ServeConfig,
    certs: Option<&ServerCerts>,
) -> anyhow::Result<Option<SipServer>> {
    let Some(sip) = sip else {
        return Ok(None);
    };
    let client = crate::tls::client_config(config.tls_ca.as_deref())
        .context("cannot use --tls-ca for the SIP edge's TLS connections")?;
    let sip = sip.with_tls_client(client);
    let Some(addr) = &config.sip_tls_listen else {
        return Ok(Some(sip));
    };
    let certs = certs.context("--sip-tls-listen needs a certificate: --tls-cert and --tls-key")?;
    let addr = resolve_one(addr).with_context(|| format!("bad --sip-tls-listen {addr}"))?;
    let sip = sip
        .with_tls_listener(addr, certs.server_config(&[]))
        .await?;
    Ok(Some(sip))
}

/// The `--sip-upstream` address and protocol, and the host its certificate must name when the
/// protocol is TLS: `HOST:PORT` (UDP), or a URI, `sip:HOST[:PORT][;transport=tcp|tls]` or
/// `sips:HOST[:PORT]` (TLS; RFC 5630), whose port is 5060, or 5061 for TLS, when it names none.
fn upstream_of(value: &str) -> anyhow::Result<(Destination, String)> {
    upstream_parts(value).with_context(|| format!("bad --sip-upstream {value}"))
}

/// [`upstream_of`], without the context.
fn upstream_parts(value: &str) -> anyhow::Result<(Destination, String)> {
    let is_uri = value
        .get(..4)
        .is_some_and(|s| s.eq_ignore_ascii_case("sip:"))
        || value
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("sips:"));
    if !is_uri {
        let addr = resolve_one(value)?;
        let host = addr.ip().to_string();
        return Ok((
            Destination {
                addr,
                wire: Wire::Udp,
            },
            host,
        ));
    }
    let uri = SipUri::parse(value).map_err(|e| anyhow::anyhow!("{e}"))?;
    let wire = if uri.scheme.eq_ignore_ascii_case("sips") {
        Wire::Tls
    } else {
        Wire::of_uri_param(uri.param("transport"))
    };
    let host = uri.host.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port
        .unwrap_or(if wire == Wire::Tls { 5061 } else { 5060 });
    let addr = resolve_one(&format!("{}:{port}", bracketed(host)))?;
    Ok((Destination { addr, wire }, host.to_owned()))
}

/// `host` as it goes before `:port`: an IPv6 address in brackets.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn resolve_one(addr: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()?
        .next()
        .with_context(|| format!("{addr} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_is_an_address_or_a_uri_naming_its_transport() {
        let cases = [
            ("127.0.0.1:5080", "127.0.0.1:5080", Wire::Udp, "127.0.0.1"),
            (
                "sip:127.0.0.1:5080",
                "127.0.0.1:5080",
                Wire::Udp,
                "127.0.0.1",
            ),
            (
                "sip:127.0.0.1;transport=TCP",
                "127.0.0.1:5060",
                Wire::Tcp,
                "127.0.0.1",
            ),
            (
                "sip:127.0.0.1;transport=tls",
                "127.0.0.1:5061",
                Wire::Tls,
                "127.0.0.1",
            ),
            ("sips:127.0.0.1", "127.0.0.1:5061", Wire::Tls, "127.0.0.1"),
            ("SIPS:[::1]:5071", "[::1]:5071", Wire::Tls, "::1"),
        ];
        for (value, addr, wire, host) in cases {
            let (dest, name) = upstream_of(value).unwrap();
            assert_eq!(dest.addr, addr.parse().unwrap(), "{value}");
            assert_eq!((dest.wire, name.as_str()), (wire, host), "{value}");
        }
        for bad in ["sip:", "sips:[::1", "tel:+15550100", "127.0.0.1"] {
            let e = upstream_of(bad).unwrap_err();
            assert!(
                format!("{e:#}").contains("bad --sip-upstream"),
                "{bad}: {e:#}"
            );
        }
    }
}
