//! The command line: `sipmap serve`, `sipmap accounts create`, `sipmap keys create`,
//! `sipmap secrets rotate`, `sipmap resolve` and `sipmap health`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{App, InitialAccount, ServeConfig, ensure_initial_account, shutdown_signal};
use crate::auth_token::AuthToken;
use crate::call_runtime::RuntimeLimits;
use crate::domain::{
    AlertRetention, CallRetention, Cidr, EventRetention, Limits, NewAccount, OutboundPolicy,
};
use crate::http::server::HttpLimits;
use crate::secret::{KeySource, ServerKey, key_file_beside};
use crate::sid::AccountSid;
use crate::sip::edge::ThrottleSettings;
use crate::sip::edge::digest::Algorithm;
use crate::sip::edge::record::RecordSettings;

mod trace;
use crate::sip::{ProbeSettings, SipLimits};
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::store::{self, Role, StoreOptions};
use crate::tls::CertFiles;

/// A self-hosted, Twilio-compatible Source IP Mappings service.
#[derive(Debug, Parser)]
#[command(name = "sipmap", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (Voice v1 IpRecords and SourceIpMappings, API 2010 SIP Domains and
    /// Accounts) and, with --sip-listen, the SIP edge that applies the mappings.
    Serve(Box<ServeArgs>),
    /// Manage accounts directly in the database.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage API keys directly in the database.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Ask a running server which SIP domain of your account a source address (and optionally a
    /// Request-URI) resolves to, and what the SIP edge would decide for the request: let in by an
    /// IP access control list, challenged for credentials, or refused. Uses TWILIO_ACCOUNT_SID
    /// and TWILIO_AUTH_TOKEN.
    Resolve(ResolveArgs),
    /// Show the SIP edge's recent decisions on a running server (this node's), step by step:
    /// why a request was let in, challenged or refused, and where it went; with --follow, new
    /// ones as they come, until Ctrl-C. Uses TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.
    Trace(trace::TraceArgs),
    /// Manage the server key that seals credential passwords and auth tokens.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Ask a running server whether it is alive (`GET /livez`, no credentials) and exit 0 if it
    /// answers 200, 1 otherwise: the container image's HEALTHCHECK, which has no curl.
    Health(HealthArgs),
}

/// Options of `sipmap health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The URL to ask: `http://` or `https://` (the server's certificate verified against the
    /// system's roots and --tls-ca).
    #[arg(
        long,
        env = "SIPMAP_HEALTH_URL",
        default_value = "http://127.0.0.1:8080/livez"
    )]
    pub url: String,
    #[command(flatten)]
    pub tls_ca: TlsCaArgs,
}

/// The `secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Reseal every credential password and auth token under a new server key, in one
    /// transaction, and record
    /// the new key's check value. Stop every server of the database first; start them again
    /// with the new key. The current key is found as `serve` finds it (SIPMAP_SECRET_KEY,
    /// --secret-key-file, or the key file beside a SQLite database, which is then replaced by
    /// the new key).
    Rotate {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The current key's file (else SIPMAP_SECRET_KEY, else the key file beside a SQLite
        /// database).
        #[arg(long, env = "SIPMAP_SECRET_KEY_FILE", value_name = "PATH")]
        secret_key_file: Option<std::path::PathBuf>,
        /// A file holding the new key (64 hex digits, e.g. from `openssl rand -hex 32`).
        #[arg(long, value_name = "PATH")]
        new_key_file: std::path::PathBuf,
    },
}

/// Options of `sipmap resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The source address of the SIP request.
    pub ip: String,
    /// The Request-URI of the SIP request (e.g. `sip:alice@acme.sip.twilio.com`).
    #[arg(long)]
    pub uri: Option<String>,
    /// The SIP method of the request (`INVITE` when not given; `REGISTER` follows the
    /// registration settings).
    #[arg(long)]
    pub method: Option<String>,
    /// The request's Call-ID: among targets of equal priority, it picks the target.
    #[arg(long)]
    pub call_id: Option<String>,
    /// How the request arrives: `udp` (when not given), `tcp` or `tls` (a `secure` domain
    /// refuses all but `tls`).
    #[arg(long)]
    pub transport: Option<String>,
    /// What an INVITE's SDP offers: `rtp`, `srtp` or `both` (a `secure` domain needs SRTP,
    /// another refuses SRTP only).
    #[arg(long)]
    pub media: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How a command reaches a running server's API (`resolve`, `trace`).
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Base URL of the running server's HTTP API: `http://` or `https://` (the server's
    /// certificate verified against the system's roots and --tls-ca).
    #[arg(long, env = "SIPMAP_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[command(flatten)]
    pub tls_ca: TlsCaArgs,
    /// Account SID to authenticate with.
    #[arg(long, env = "TWILIO_ACCOUNT_SID", hide_env_values = true)]
    pub account_sid: String,
    /// Its auth token.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: String,
}

/// Extra roots for outbound TLS.
#[derive(Debug, Args)]
pub struct TlsCaArgs {
    /// CA certificates (PEM) trusted besides the system's roots by outbound TLS: webhooks and
    /// status callbacks of `serve`, the server's certificate for `resolve`.
    #[arg(long = "tls-ca", env = "SIPMAP_TLS_CA", value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
}

/// Where the database is.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER:PASS@HOST/DB` (a
    /// cluster's shared store); migrated at start.
    #[arg(long, env = "SIPMAP_DATABASE_URL")]
    #[arg(default_value = "sqlite://sipmap.db")]
    pub database_url: String,
}

/// Options of `sipmap serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for the HTTP API over plain HTTP (port 0 picks a free port), or `off` for none
    /// (then --https-listen is needed).
    #[arg(long, env = "SIPMAP_LISTEN", default_value = "127.0.0.1:8080")]
    #[arg(value_name = "ADDR|off")]
    pub listen: String,
    /// Address for the HTTP API over HTTPS (HTTP/1.1 and HTTP/2 by ALPN; port 0 picks a free
    /// port), with the certificate of --tls-cert and --tls-key.
    #[arg(long, env = "SIPMAP_HTTPS_LISTEN", value_name = "ADDR")]
    #[arg(requires_all = ["tls_cert", "tls_key"])]
    pub https_listen: Option<String>,
    /// The server's certificate chain (PEM, its own certificate first), for every TLS listener;
    /// reloaded on SIGHUP and when the file changes.
    #[arg(
        long,
        env = "SIPMAP_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); reloaded with it.
    #[arg(
        long,
        env = "SIPMAP_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub tls_ca: TlsCaArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Base of the absolute URLs in responses (e.g. `https://sipmap.example.com`); defaults to
    /// `http://` and the listen address.
    #[arg(long, env = "SIPMAP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// SIP domain names must end with `.` and this suffix.
    #[arg(long, env = "SIPMAP_DOMAIN_SUFFIX", default_value = "sip.twilio.com")]
    pub domain_suffix: String,
    /// Address for the SIP edge, UDP and TCP (e.g. `127.0.0.1:5060`); without it there is no
    /// SIP edge.
    #[arg(long, env = "SIPMAP_SIP_LISTEN")]
    pub sip_listen: Option<String>,
    /// Where recognised SIP requests other than OPTIONS are forwarded: `HOST:PORT` (over UDP),
    /// or a URI, `sip:HOST[:PORT][;transport=tcp|tls]` or `sips:HOST[:PORT]` (over TLS, the
    /// certificate checked for HOST); without it they are answered `480 Temporarily
    /// Unavailable`.
    #[arg(long, env = "SIPMAP_SIP_UPSTREAM", requires = "sip_listen")]
    pub sip_upstream: Option<String>,
    /// Address for the SIP edge's TLS listener (SIP over TLS, 5061 by convention, e.g.
    /// `0.0.0.0:5061`), with the certificate of --tls-cert and --tls-key; needs --sip-listen.
    #[arg(long, env = "SIPMAP_SIP_TLS_LISTEN", requires = "sip_listen")]
    pub sip_tls_listen: Option<String>,
    /// The digest algorithms the SIP edge offers in its challenges, in order, comma-separated:
    /// `SHA-256`, `MD5`. Only the algorithms offered are accepted. Clients that read only the
    /// first challenge and know only MD5 (SIPp 3.6, some older phones) need `MD5` first.
    #[arg(long, env = "SIPMAP_SIP_DIGEST_ALGORITHMS")]
    #[arg(value_delimiter = ',', default_value = "SHA-256,MD5")]
    pub sip_digest_algorithms: Vec<Algorithm>,
    /// How often the SIP edge sends an `OPTIONS` probe to each target of the connection
    /// policies (`10s`, `500ms`, or seconds as a bare number).
    #[arg(long, env = "SIPMAP_SIP_PROBE_INTERVAL")]
    #[arg(value_parser = parse_duration, default_value = "10s")]
    pub sip_probe_interval: Duration,
    /// Unanswered probes in a row after which a target is taken out of routing; any SIP
    /// response to a probe puts it back.
    #[arg(long, env = "SIPMAP_SIP_PROBE_FAILURES")]
    #[arg(default_value_t = 3)]
    #[arg(value_parser = clap::value_parser!(u32).range(1..))]
    pub sip_probe_failures: u32,
    /// Most target destinations probed (those some domain routes to first); the others are never
    /// taken out of routing (a warning says so when this bites).
    #[arg(long, env = "SIPMAP_SIP_PROBE_MAX_DESTINATIONS")]
    #[arg(default_value_t = 1024)]
    pub sip_probe_max_destinations: usize,
    /// Most probes per second to one destination IP address, however many targets name it (on
    /// as many ports): an address with more destinations than fit in one interval has them
    /// probed in turn, over several intervals.
    #[arg(long, env = "SIPMAP_SIP_PROBE_RATE_PER_IP")]
    #[arg(default_value_t = 10)]
    #[arg(value_parser = clap::value_parser!(u32).range(1..=100))]
    pub sip_probe_rate_per_ip: u32,
    /// Most new ports of one target IP address the SIP edge forwards requests to in one second
    /// (ports it forwarded to in the last 10 s go on regardless; at most 64 of them). A request
    /// past it is answered `503 Service Unavailable` with `Retry-After: 1`: an account cannot make
    /// the edge sweep a host's ports. `--sip-upstream` is not bounded.
    #[arg(long, env = "SIPMAP_SIP_NEW_PORTS_PER_IP")]
    #[arg(default_value_t = crate::sip::edge::ports::DEFAULT_NEW_PER_SECOND)]
    #[arg(value_parser = clap::value_parser!(u32).range(1..=64))]
    pub sip_new_ports_per_ip: u32,
    /// The SIP edge's recent decisions this node keeps per account, in memory (what
    /// `/sipmap/v1/Decisions` and `sipmap trace` show); the oldest goes first. 0: none kept.
    #[arg(long, env = "SIPMAP_DECISIONS_PER_ACCOUNT")]
    #[arg(default_value_t = 1000)]
    #[arg(value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub decisions_per_account: u32,
    /// Most accounts whose decisions this node keeps; past it, a new account's are not kept.
    #[arg(long, env = "SIPMAP_DECISIONS_MAX_ACCOUNTS")]
    #[arg(default_value_t = 1000)]
    #[arg(value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub decisions_max_accounts: u32,
    /// Most decisions this node keeps in all (about 0.5 KB each); past it, an account's new
    /// decision replaces its own oldest.
    #[arg(long, env = "SIPMAP_DECISIONS_MAX_TOTAL")]
    #[arg(default_value_t = 200_000)]
    #[arg(value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub decisions_max_total: u32,
    /// Most calls to SIP domains with a voice application live at once on this node; an
    /// INVITE past it is answered `503 Service Unavailable` with `Retry-After: 5`.
    #[arg(long, env = "SIPMAP_MAX_CALLS")]
    #[arg(default_value_t = RuntimeLimits::default().calls)]
    #[arg(value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_calls: usize,
    /// Most such calls of one account live at once on this node (503 past it, as above).
    #[arg(long, env = "SIPMAP_MAX_CALLS_PER_ACCOUNT")]
    #[arg(default_value_t = RuntimeLimits::default().calls_per_account)]
    #[arg(value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub max_calls_per_account: usize,
    /// Most webhooks of calls in flight at once (more wait for a slot), and as many status
    /// callbacks (more are dropped, logged).
    #[arg(long, env = "SIPMAP_MAX_WEBHOOKS")]
    #[arg(default_value_t = RuntimeLimits::default().webhooks)]
    #[arg(value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub max_webhooks: usize,
    /// Longest a call may live, in seconds: past it the call runtime ends it (BYE or a final
    /// response, as for Status=completed), stores its final status and forgets it, logged. A
    /// safety bound above <Dial timeLimit>'s default of 4 h.
    #[arg(long, env = "SIPMAP_MAX_CALL_SECS")]
    #[arg(default_value_t = RuntimeLimits::default().max_call.as_secs())]
    #[arg(value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub max_call_secs: u64,
    /// Failed digest authentications from one source address (an IPv6 source: its /64), any
    /// username, within --sip-auth-failure-window, after which the SIP edge stops checking that
    /// source's credentials for --sip-auth-block and answers 503 with Retry-After.
    #[arg(long, env = "SIPMAP_SIP_AUTH_FAILURES_PER_SOURCE")]
    #[arg(default_value_t = 20)]
    #[arg(value_parser = clap::value_parser!(u32).range(1..))]
    pub sip_auth_failures_per_source: u32,
    /// Failed digest authentications for one username from one source within
    /// --sip-auth-failure-window, after which that username's credentials from that source are
    /// not checked for --sip-auth-block (other sources are not affected).
    #[arg(long, env = "SIPMAP_SIP_AUTH_FAILURES_PER_USER")]
    #[arg(default_value_t = 10)]
    #[arg(value_parser = clap::value_parser!(u32).range(1..))]
    pub sip_auth_failures_per_user: u32,
    /// How long failed digest authentications count, from the first (`60s`, `500ms`, or
    /// seconds).
    #[arg(long, env = "SIPMAP_SIP_AUTH_FAILURE_WINDOW")]
    #[arg(value_parser = parse_duration, default_value = "60s")]
    pub sip_auth_failure_window: Duration,
    /// How long a source (or a source and username) that failed too often is blocked.
    #[arg(long, env = "SIPMAP_SIP_AUTH_BLOCK")]
    #[arg(value_parser = parse_duration, default_value = "60s")]
    pub sip_auth_block: Duration,
    /// Most HTTP connections open at once (lowered to fit the open-file limit); more are
    /// answered 503 and closed.
    #[arg(long, env = "SIPMAP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Most HTTP connections open at once from one client address (at most a quarter of
    /// --max-connections); more are answered 429 and closed.
    #[arg(long, env = "SIPMAP_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,
    /// Most web console sessions this node keeps at once; a sign-in past it is answered 503.
    #[arg(long, env = "SIPMAP_CONSOLE_SESSIONS", default_value_t = crate::http::console_session::DEFAULT_MAX)]
    pub console_sessions: usize,
    /// At SIGTERM or SIGINT, how long in-flight HTTP requests and the SIP edge's TCP and TLS
    /// connections may take to finish (the listeners close at once); then the process exits.
    #[arg(long, env = "SIPMAP_DRAIN_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub drain_timeout_secs: u64,
    /// SQLite only: the largest size in bytes the database file may grow to. Writes beyond it
    /// are refused with 503 (as on a full disk) and `/healthz` reports it; reads go on.
    #[arg(long, env = "SIPMAP_MAX_DATABASE_BYTES", value_name = "BYTES")]
    pub max_database_bytes: Option<u64>,
    /// PostgreSQL only: how long the cluster's change log keeps an entry. A node cut off for
    /// less than this catches up from the log; one away for longer reloads its table in full.
    #[arg(long, env = "SIPMAP_CHANGE_LOG_RETENTION_SECS")]
    #[arg(value_name = "SECONDS", default_value_t = 600)]
    pub change_log_retention_secs: u64,
    /// A file holding the server key (64 hex digits) that seals credential passwords and signs
    /// SIP digest nonces. The key itself may instead be given in `SIPMAP_SECRET_KEY`. Without
    /// either, a server on SQLite uses `<database>.key` beside its database (created on first
    /// start); cluster nodes on PostgreSQL must all be given the same key.
    #[arg(long, env = "SIPMAP_SECRET_KEY_FILE", value_name = "PATH")]
    pub secret_key_file: Option<std::path::PathBuf>,
    /// Most IP access control lists, credential lists, BYOC trunks and connection policies (of
    /// each kind) one account may hold.
    #[arg(long, env = "SIPMAP_MAX_LISTS_PER_ACCOUNT", default_value_t = 1000)]
    pub max_lists_per_account: u64,
    /// Most IP addresses one access control list may hold (Twilio documents 100).
    #[arg(long, env = "SIPMAP_MAX_IP_ADDRESSES_PER_LIST", default_value_t = 100)]
    pub max_ip_addresses_per_list: u64,
    /// Most credentials one credential list may hold.
    #[arg(long, env = "SIPMAP_MAX_CREDENTIALS_PER_LIST", default_value_t = 1000)]
    pub max_credentials_per_list: u64,
    /// Networks sipmap may send to on a tenant's behalf (targets, their probes, the requests
    /// routed to them), comma-separated or repeated, e.g. `203.0.113.0/24,2001:db8::/32`. With
    /// any given, only these are allowed (minus --outbound-deny); without, every address but
    /// link-local ones. A link-local network (169.254.0.0/16, fe80::/10) is allowed only if named
    /// here. Not applied to --sip-upstream, the operator's own.
    #[arg(long, env = "SIPMAP_OUTBOUND_ALLOW")]
    #[arg(value_delimiter = ',', value_name = "CIDR")]
    pub outbound_allow: Vec<Cidr>,
    /// Networks sipmap never sends to on a tenant's behalf, comma-separated or repeated, e.g.
    /// `127.0.0.0/8,10.0.0.0/8,::1/128`. The most specific network that holds an address
    /// decides; of an allowed and a denied network alike, the denial.
    #[arg(long, env = "SIPMAP_OUTBOUND_DENY")]
    #[arg(value_delimiter = ',', value_name = "CIDR")]
    pub outbound_deny: Vec<Cidr>,
    /// Most targets one connection policy may hold.
    #[arg(long, env = "SIPMAP_MAX_TARGETS_PER_POLICY", default_value_t = 100)]
    pub max_targets_per_policy: u64,
    /// Most targets one account may hold, all its connection policies together (every target is
    /// a destination the SIP edge probes and may send to).
    #[arg(long, env = "SIPMAP_MAX_TARGETS_PER_ACCOUNT", default_value_t = 1000)]
    pub max_targets_per_account: u64,
    /// Most API keys one account may hold.
    #[arg(long, env = "SIPMAP_MAX_KEYS_PER_ACCOUNT", default_value_t = 100)]
    pub max_keys_per_account: u64,
    /// How long an ended call's record (with its events and notifications) is kept, in
    /// seconds after it ended; 0 keeps records whatever their age. Pruned as new calls are
    /// stored.
    #[arg(long, env = "SIPMAP_CALL_RETENTION_SECS", value_name = "SECONDS")]
    #[arg(default_value_t = 30 * 86_400)]
    pub call_retention_secs: u64,
    /// Most call records one account keeps: past it, storing a new call deletes the account's
    /// oldest ended calls (a call that has not ended is never deleted); 0 for no bound.
    #[arg(
        long,
        env = "SIPMAP_MAX_CALL_RECORDS_PER_ACCOUNT",
        default_value_t = 10_000
    )]
    pub max_call_records_per_account: u64,
    /// How long the audit log (Monitor Events) keeps an event, in seconds; 0 keeps events
    /// whatever their age. Pruned as the API writes new ones.
    #[arg(long, env = "SIPMAP_EVENT_RETENTION_SECS", value_name = "SECONDS")]
    #[arg(default_value_t = 30 * 86_400)]
    pub event_retention_secs: u64,
    /// Most events the audit log keeps per account: past it, a write deletes the account's
    /// oldest events; 0 for no bound.
    #[arg(long, env = "SIPMAP_MAX_EVENTS_PER_ACCOUNT", default_value_t = 100_000)]
    pub max_events_per_account: u64,
    /// How long Monitor Alerts (the errors and warnings of calls) are kept, in seconds; 0
    /// keeps them whatever their age. Pruned as new ones are written.
    #[arg(long, env = "SIPMAP_ALERT_RETENTION_SECS", value_name = "SECONDS")]
    #[arg(default_value_t = 30 * 86_400)]
    pub alert_retention_secs: u64,
    /// Most alerts kept per account: past it, a new alert deletes the account's oldest; 0 for
    /// no bound.
    #[arg(long, env = "SIPMAP_MAX_ALERTS_PER_ACCOUNT", default_value_t = 100_000)]
    pub max_alerts_per_account: u64,
    /// Make this account exist (with `TWILIO_AUTH_TOKEN` as its token).
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    #[arg(hide_env_values = true, requires = "auth_token")]
    pub account_sid: Option<String>,
    /// The auth token of `TWILIO_ACCOUNT_SID`; stored as a salted hash and sealed with the
    /// server key (so that fetching the account shows it), never in plain text.
    #[arg(long, env = "TWILIO_AUTH_TOKEN")]
    #[arg(hide_env_values = true, requires = "account_sid")]
    pub auth_token: Option<String>,
}

/// The `accounts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create a top-level account and print its SID and auth token as JSON. The token is sealed
    /// with the server key (found as `serve` finds it: SIPMAP_SECRET_KEY, --secret-key-file, or
    /// the key file beside a SQLite database), so fetching the account shows it later.
    Create {
        /// A name for the account.
        #[arg(long, default_value = "sipmap")]
        friendly_name: String,
        #[command(flatten)]
        database: DatabaseArgs,
        /// The server key's file (else SIPMAP_SECRET_KEY, else the key file beside a SQLite
        /// database).
        #[arg(long, env = "SIPMAP_SECRET_KEY_FILE", value_name = "PATH")]
        secret_key_file: Option<std::path::PathBuf>,
    },
}

/// The `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key of an account and print it as JSON: `{"sid", "friendly_name",
    /// "date_created", "date_updated", "secret", "account_sid"}` (the secret is shown only this
    /// once). Use the key SID and secret as the SDKs' username and password, with the account's
    /// SID.
    Create {
        /// The account the key authenticates as.
        #[arg(long, value_name = "AC…")]
        account_sid: String,
        /// A name for the key (at most 64 characters).
        #[arg(long)]
        friendly_name: Option<String>,
        #[command(flatten)]
        database: DatabaseArgs,
        /// Most API keys one account may hold (as `serve` reads it).
        #[arg(long, env = "SIPMAP_MAX_KEYS_PER_ACCOUNT", default_value_t = 100)]
        max_keys_per_account: u64,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Health(args) => health(args).await,
        Command::Accounts(AccountsCommand::Create {
            friendly_name,
            database,
            secret_key_file,
        }) => create_account(&database.database_url, friendly_name, secret_key_file).await,
        Command::Keys(KeysCommand::Create {
            account_sid,
            friendly_name,
            database,
            max_keys_per_account,
        }) => {
            let limits = Limits {
                keys_per_account: max_keys_per_account,
                ..Limits::default()
            };
            create_key(&database.database_url, &account_sid, friendly_name, limits).await
        }
        Command::Resolve(args) => resolve(args).await,
        Command::Trace(args) => trace::run(args).await,
        Command::Secrets(SecretsCommand::Rotate {
            database,
            secret_key_file,
            new_key_file,
        }) => rotate_key(&database.database_url, secret_key_file, &new_key_file).await,
    }
}

/// `sipmap secrets rotate`.
async fn rotate_key(
    database_url: &str,
    secret_key_file: Option<std::path::PathBuf>,
    new_key_file: &std::path::Path,
) -> anyhow::Result<()> {
    let beside = store::sqlite_path(database_url).map(|p| key_file_beside(&p));
    if let Some(path) = store::sqlite_path(database_url) {
        anyhow::ensure!(
            path.exists(),
            "there is no database at {}",
            describe_database(database_url)
        );
    }
    let given = given_key(secret_key_file)?;
    let uses_beside = given.is_none();
    let old = match given {
        Some(key) => key,
        None => match &beside {
            Some(file) if file.exists() => ServerKey::load(&KeySource {
                file: Some(file.clone()),
                ..KeySource::default()
            })?,
            _ => anyhow::bail!(
                "no current server key: set SIPMAP_SECRET_KEY or --secret-key-file (a SQLite \
                 database's own key file was not found either)"
            ),
        },
    };
    let new = ServerKey::load(&KeySource {
        file: Some(new_key_file.to_path_buf()),
        ..KeySource::default()
    })?;
    let options = StoreOptions {
        role: Role::Admin,
        key: Some(old),
        ..StoreOptions::default()
    };
    let store = store::connect_with(database_url, &options).await?;
    let resealed = store.rotate_server_key(&new).await?;
    if let (true, Some(file)) = (uses_beside, &beside) {
        crate::secret::replace_key_file(file, &new).with_context(|| {
            format!(
                "the database now uses the new key, but {} could not be replaced; copy {} over it",
                file.display(),
                new_key_file.display()
            )
        })?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "resealed {} credential password(s) and {} auth token(s) under the new key of {}; start \
         every server with the new key",
        resealed.passwords,
        resealed.tokens,
        describe_database(database_url)
    )?;
    Ok(())
}

/// The server key given in `SIPMAP_SECRET_KEY` or `--secret-key-file`, if any.
fn given_key(file: Option<std::path::PathBuf>) -> anyhow::Result<Option<ServerKey>> {
    let text = std::env::var("SIPMAP_SECRET_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    if text.is_none() && file.is_none() {
        return Ok(None);
    }
    let source = KeySource {
        text,
        file,
        create_at: None,
    };
    ServerKey::load(&source).map(Some)
}

/// What one account may store, from `serve`'s options.
fn limits(args: &ServeArgs) -> Limits {
    Limits {
        lists_per_account: args.max_lists_per_account,
        addresses_per_list: args.max_ip_addresses_per_list,
        credentials_per_list: args.max_credentials_per_list,
        targets_per_policy: args.max_targets_per_policy,
        targets_per_account: args.max_targets_per_account,
        keys_per_account: args.max_keys_per_account,
        calls: CallRetention {
            max_age_secs: args.call_retention_secs,
            per_account: args.max_call_records_per_account,
        },
        events: EventRetention {
            max_age_secs: args.event_retention_secs,
            per_account: args.max_events_per_account,
        },
        alerts: AlertRetention {
            max_age_secs: args.alert_retention_secs,
            per_account: args.max_alerts_per_account,
        },
    }
}

/// Where sipmap may send for tenants, from `serve`'s options (logged when not the default).
fn outbound_policy(args: &ServeArgs) -> Arc<OutboundPolicy> {
    let outbound = OutboundPolicy::new(&args.outbound_allow, &args.outbound_deny);
    if !outbound.is_default() {
        tracing::info!(policy = %outbound.describe(), "outbound policy for tenants' destinations");
    }
    Arc::new(outbound)
}

/// The failed-authentication throttle and the bounds on calls, from `serve`'s options.
fn throttle_and_calls(args: &ServeArgs) -> (ThrottleSettings, RuntimeLimits) {
    let throttle = ThrottleSettings {
        failures_per_source: args.sip_auth_failures_per_source,
        failures_per_user: args.sip_auth_failures_per_user,
        window: args.sip_auth_failure_window,
        block: args.sip_auth_block,
    };
    let calls = RuntimeLimits {
        calls: args.max_calls,
        calls_per_account: args.max_calls_per_account,
        webhooks: args.max_webhooks,
        max_call: std::time::Duration::from_secs(args.max_call_secs),
    };
    (throttle, calls)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let sip_probes = probe_settings(&args);
    let (sip_auth_throttle, call_limits) = throttle_and_calls(&args);
    let store_limits = limits(&args);
    let outbound = outbound_policy(&args);
    let from_env = account_from_env(args.account_sid, args.auth_token)?;
    let config = ServeConfig {
        listen: (args.listen != "off").then_some(args.listen),
        https_listen: args.https_listen,
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert, key)| CertFiles { cert, key }),
        tls_ca: args.tls_ca.file,
        database_url: args.database.database_url,
        public_url: args.public_url,
        domain_suffix: args.domain_suffix,
        sip_listen: args.sip_listen,
        sip_upstream: args.sip_upstream,
        sip_tls_listen: args.sip_tls_listen,
        sip_digest_algorithms: args.sip_digest_algorithms,
        store: StoreOptions {
            role: Role::Serve,
            clock: Arc::new(SystemClock),
            max_database_bytes: args.max_database_bytes,
            change_log_retention: Some(std::time::Duration::from_secs(
                args.change_log_retention_secs,
            )),
            key: given_key(args.secret_key_file)?,
            limits: store_limits,
            outbound,
        },
        http_limits: HttpLimits {
            max_connections: args.max_connections,
            max_connections_per_client: args.max_connections_per_client,
            console_sessions: args.console_sessions,
            shutdown_grace: Duration::from_secs(args.drain_timeout_secs),
            ..HttpLimits::default()
        },
        sip_limits: SipLimits::default(),
        sip_probes,
        sip_new_ports_per_ip: args.sip_new_ports_per_ip,
        sip_auth_throttle,
        call_limits,
        call_log: None,
        decisions: RecordSettings {
            per_account: args.decisions_per_account as usize,
            max_accounts: args.decisions_max_accounts as usize,
            max_total: args.decisions_max_total as usize,
        },
    };
    let app = App::build(&config).await?;
    let initial = ensure_initial_account(app.store().as_ref(), from_env).await?;
    announce(&app, &config.database_url, initial)?;
    app.run(shutdown_signal()).await
}

/// Says on standard output what `serve` made (the initial account's credentials when it created
/// one, the database, the listeners), and logs that it is serving.
fn announce(app: &App, database_url: &str, initial: InitialAccount) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match initial {
        InitialAccount::FromEnvironment(sid) => {
            tracing::info!(account.sid = %sid, "account from TWILIO_ACCOUNT_SID is ready");
        }
        InitialAccount::Created(sid, token) => {
            writeln!(
                out,
                "sipmap: the database had no account, so one was created. Its credentials \
                 (fetching the account shows the token again):\nexport \
                 TWILIO_ACCOUNT_SID={sid}\nexport TWILIO_AUTH_TOKEN={}",
                token.expose()
            )?;
        }
        InitialAccount::Existing => {}
    }
    writeln!(out, "sipmap: database {}", describe_database(database_url))?;
    for (scheme, addr) in [("http", app.http_addr()), ("https", app.https_addr())] {
        if let Some(addr) = addr {
            writeln!(out, "sipmap: HTTP API listening on {scheme}://{addr}")?;
        }
    }
    if let Some(sip) = app.sip_addr() {
        writeln!(out, "sipmap: SIP edge listening on {sip} (UDP and TCP)")?;
    }
    if let Some(tls) = app.sip_tls_addr() {
        writeln!(out, "sipmap: SIP edge listening on {tls} (TLS)")?;
    }
    out.flush()?;
    drop(out);
    tracing::info!(
        http.addr = ?app.http_addr(),
        https.addr = ?app.https_addr(),
        database = %store::redact_url(database_url),
        "sipmap is serving"
    );
    Ok(())
}

/// `database_url` with a SQLite path made absolute, so that a message can say exactly which
/// file is meant.
fn describe_database(database_url: &str) -> String {
    match store::sqlite_path(database_url) {
        Some(path) => {
            let abs = std::path::absolute(&path).unwrap_or(path);
            format!("sqlite://{}", abs.display())
        }
        None => store::redact_url(database_url),
    }
}

/// Fails, saying what to do, unless the SQLite database a one-off command is about exists:
/// a missing file means the command runs in another folder than the server (or with another
/// --database-url), and a new database would hold what the server never sees.
fn require_database(database_url: &str) -> anyhow::Result<()> {
    if let Some(path) = store::sqlite_path(database_url) {
        anyhow::ensure!(
            path.exists(),
            "there is no database at {}; `sipmap serve` creates it on first start. Run this \
             command in the folder the server runs in, or give it the server's --database-url \
             (or SIPMAP_DATABASE_URL)",
            describe_database(database_url)
        );
    }
    Ok(())
}

/// The server key a one-off command seals with: SIPMAP_SECRET_KEY or `file`, else the key file
/// beside a SQLite database.
fn admin_key(database_url: &str, file: Option<std::path::PathBuf>) -> anyhow::Result<ServerKey> {
    if let Some(key) = given_key(file)? {
        return Ok(key);
    }
    match store::sqlite_path(database_url).map(|p| key_file_beside(&p)) {
        Some(beside) if beside.exists() => ServerKey::load(&KeySource {
            file: Some(beside),
            ..KeySource::default()
        }),
        _ => anyhow::bail!(
            "no server key to seal the new auth token with: set SIPMAP_SECRET_KEY or \
             --secret-key-file to the key the servers use"
        ),
    }
}

async fn create_account(
    database_url: &str,
    friendly_name: String,
    secret_key_file: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        friendly_name.chars().count() <= 64,
        "--friendly-name must be at most 64 characters long"
    );
    require_database(database_url)?;
    // A one-off command: no recognition table, no change feed; the key seals the token (and
    // is checked against the one the database was sealed with).
    let options = StoreOptions {
        role: Role::Admin,
        key: Some(admin_key(database_url, secret_key_file)?),
        ..StoreOptions::default()
    };
    let store = store::connect_with(database_url, &options).await?;
    let token = AuthToken::generate();
    let account = store
        .create_account(NewAccount {
            owner_sid: None,
            friendly_name: Some(friendly_name),
            token: token.clone(),
        })
        .await?;
    let body = serde_json::json!({
        "sid": account.sid,
        "auth_token": token.expose(),
        "friendly_name": account.friendly_name,
    });
    println!("{body}");
    let described = describe_database(database_url);
    eprintln!("sipmap: account {} created in {described}", account.sid);
    Ok(())
}

/// `sipmap keys create`: a key of an existing account, its secret printed this once.
async fn create_key(
    database_url: &str,
    account_sid: &str,
    friendly_name: Option<String>,
    limits: Limits,
) -> anyhow::Result<()> {
    let account = AccountSid::parse(account_sid).with_context(|| {
        format!("--account-sid {account_sid:?} is not AC followed by 32 hex digits")
    })?;
    let name = friendly_name.map(|n| vec![("FriendlyName".to_owned(), n)]);
    let name = crate::domain::KeyName::parse(&crate::http::extract::Form(name.unwrap_or_default()))
        .map_err(|e| anyhow::anyhow!("--friendly-name: {e}"))?;
    require_database(database_url)?;
    let options = StoreOptions {
        role: Role::Admin,
        limits,
        ..StoreOptions::default()
    };
    let store = store::connect_with(database_url, &options).await?;
    anyhow::ensure!(
        store.get_account(&account).await?.is_some(),
        "there is no account {account} in {}",
        describe_database(database_url)
    );
    let secret = crate::auth_token::KeySecret::generate();
    let new = crate::domain::NewApiKey {
        name,
        secret: secret.hash(),
    };
    // A refusal (the limit, a closed account) in the API's words.
    let key = store
        .create_api_key(&account, new)
        .await
        .map_err(|e| match e {
            store::StoreError::Refused(r) => anyhow::anyhow!("{}", crate::error::ApiError::from(r)),
            e => e.into(),
        })?;
    let body = serde_json::json!({
        "sid": key.sid,
        "friendly_name": key.friendly_name,
        "date_created": crate::timefmt::V2010Date(key.date_created),
        "date_updated": crate::timefmt::V2010Date(key.date_updated),
        "secret": secret.expose(),
        "account_sid": key.account_sid,
    });
    println!("{body}");
    eprintln!(
        "sipmap: API key {} of account {account} created in {}",
        key.sid,
        describe_database(database_url)
    );
    Ok(())
}

/// `sipmap resolve`: one authenticated GET to the running server, printed as it comes.
async fn resolve(args: ResolveArgs) -> anyhow::Result<()> {
    use crate::http::wire::RESOLVE;

    let mut query = String::from("IpAddress=");
    query.extend(form_urlencoded::byte_serialize(args.ip.as_bytes()));
    if let Some(uri) = &args.uri {
        query.push_str("&RequestUri=");
        query.extend(form_urlencoded::byte_serialize(uri.as_bytes()));
    }
    for (name, value) in [
        ("Method", &args.method),
        ("CallId", &args.call_id),
        ("Transport", &args.transport),
        ("Media", &args.media),
    ] {
        if let Some(value) = value {
            query.push_str(&format!("&{name}="));
            query.extend(form_urlencoded::byte_serialize(value.as_bytes()));
        }
    }
    let (status, body) = api_get(&args.server, &format!("{RESOLVE}?{query}")).await?;
    println!("{body}");
    anyhow::ensure!(status == 200, "the server answered {status}");
    Ok(())
}

/// One authenticated GET of `path_and_query` (an API path) to the server `server` names: the
/// answer's status and body.
async fn api_get(server: &ServerArgs, path_and_query: &str) -> anyhow::Result<(u16, String)> {
    use base64::Engine;

    let base = url::Url::parse(&server.url).context("--url is not a URL")?;
    let endpoint = Endpoint::of(&base, &server.tls_ca)?;
    let prefix = base.path().trim_end_matches('/');
    let path = format!("{prefix}{path_and_query}");
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", server.account_sid, server.auth_token));
    endpoint
        .get(
            &path,
            &format!("Authorization: Basic {credentials}\r\nAccept: application/json\r\n"),
        )
        .await
}

/// `sipmap health`: one GET of `--url`; succeeds on a 200.
async fn health(args: HealthArgs) -> anyhow::Result<()> {
    let url = url::Url::parse(&args.url).context("--url is not a URL")?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let (status, _) = Endpoint::of(&url, &args.tls_ca)?.get(&path, "").await?;
    anyhow::ensure!(status == 200, "{url} answered {status}");
    println!("{url}: {status}");
    Ok(())
}

/// The server a command asks over HTTP: where to connect, its `Host`, and TLS for `https`.
struct Endpoint {
    host: String,
    port: u16,
    authority: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Endpoint {
    /// The server of `url` (`http://` or `https://`, trusting the system's roots and
    /// `--tls-ca`).
    fn of(url: &url::Url, tls_ca: &TlsCaArgs) -> anyhow::Result<Self> {
        let tls = match url.scheme() {
            "http" => None,
            "https" => Some(crate::tls::client_config(tls_ca.file.as_deref())?),
            _ => anyhow::bail!("--url must be an http:// or https:// URL"),
        };
        let host = url.host_str().context("--url has no host")?.to_owned();
        let port = url.port_or_known_default().context("--url has no port")?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        Ok(Self {
            host,
            port,
            authority,
            tls,
        })
    }

    /// `GET path` with `headers` (each line ending in CRLF): the status and the body.
    async fn get(self, path: &str, headers: &str) -> anyhow::Result<(u16, String)> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{headers}Connection: close\r\n\r\n",
            self.authority
        );
        let response = exchange(&self.host, self.port, self.tls, request.as_bytes()).await?;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("the server's answer is not HTTP")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .context("the server's answer has no status")?;
        Ok((status, body.to_owned()))
    }
}

/// Sends `request` to `host`:`port` (over TLS with `tls`, the certificate verified for `host`)
/// and reads the answer until the server closes, each step within 10 s.
async fn exchange(
    host: &str,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    request: &[u8],
) -> anyhow::Result<Vec<u8>> {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    async fn send<S: AsyncRead + AsyncWrite + Unpin>(
        mut stream: S,
        request: &[u8],
        limit: Duration,
    ) -> anyhow::Result<Vec<u8>> {
        stream.write_all(request).await?;
        let mut response = Vec::new();
        match tokio::time::timeout(limit, stream.read_to_end(&mut response)).await {
            Err(_) => anyhow::bail!("timed out waiting for the server"),
            // A server that closes without TLS's close_notify still said all it had to.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
            }
            Ok(r) => {
                r?;
            }
        }
        Ok(response)
    }
    let limit = Duration::from_secs(10);
    // A bracketed IPv6 literal connects without its brackets.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::time::timeout(limit, tokio::net::TcpStream::connect((bare, port)))
        .await
        .context("timed out connecting to the server")?
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    let Some(config) = tls else {
        return send(stream, request, limit).await;
    };
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from(bare.to_owned())
        .with_context(|| format!("{host} is not a host name for TLS"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::time::timeout(limit, connector.connect(name, stream))
        .await
        .context("timed out in the TLS handshake")?
        .with_context(|| format!("TLS with {host}:{port} failed"))?;
    send(stream, request, limit).await
}

/// The operator's account from `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`, when both are set.
fn account_from_env(
    sid: Option<String>,
    token: Option<String>,
) -> anyhow::Result<Option<(AccountSid, AuthToken)>> {
    let (Some(sid), Some(token)) = (sid, token) else {
        return Ok(None);
    };
    let sid = AccountSid::parse(&sid).with_context(|| {
        format!("TWILIO_ACCOUNT_SID {sid:?} is not AC followed by 32 hex digits")
    })?;
    anyhow::ensure!(!token.is_empty(), "TWILIO_AUTH_TOKEN is empty");
    Ok(Some((sid, AuthToken::from_string(token))))
}

/// How the SIP edge probes targets, from the command line.
fn probe_settings(args: &ServeArgs) -> ProbeSettings {
    ProbeSettings {
        interval: args.sip_probe_interval,
        failures: args.sip_probe_failures,
        max_destinations: args.sip_probe_max_destinations,
        rate_per_ip: args.sip_probe_rate_per_ip,
    }
}

/// A duration: `500ms`, `10s`, or a bare number of seconds; at least 10 ms.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else {
        (s.strip_suffix('s').unwrap_or(s), 1000.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 10s or 500ms)"))?;
    let ms = value * unit_ms;
    if !(10.0..=86_400_000.0).contains(&ms) {
        return Err(format!("{s:?} is not between 10ms and 24 hours"));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::{Cli, parse_duration};
    use clap::CommandFactory;
    use std::time::Duration;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn outbound_networks_are_repeated_or_comma_separated() {
        use super::{Command, Parser};
        let cli = Cli::try_parse_from([
            "sipmap",
            "serve",
            "--outbound-allow",
            "10.0.0.0/8,192.0.2.0/24",
            "--outbound-allow",
            "fd00::/8",
            "--outbound-deny",
            "10.1.0.0/16",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        assert_eq!(args.outbound_allow.len(), 3);
        assert_eq!(args.outbound_deny[0].to_string(), "10.1.0.0/16");
        for bad in ["10.0.0.0/33", "example.com", "10.0.0.0/8,,"] {
            assert!(
                Cli::try_parse_from(["sipmap", "serve", "--outbound-deny", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn https_needs_a_certificate_and_a_key() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["sipmap", "serve"][..], args].concat()).map(|_| ())
        };
        use super::Parser;
        assert!(parse(&["--https-listen", "127.0.0.1:8443"]).is_err());
        assert!(parse(&["--https-listen", "127.0.0.1:8443", "--tls-cert", "c.pem"]).is_err());
        assert!(parse(&["--tls-key", "k.pem"]).is_err());
        let both = ["--tls-cert", "c.pem", "--tls-key", "k.pem"];
        assert!(parse(&[&["--https-listen", "127.0.0.1:8443"][..], &both].concat()).is_ok());
        assert!(
            parse(&[&["--listen", "off", "--https-listen", ":8443"][..], &both].concat()).is_ok()
        );
        assert!(parse(&["--tls-ca", "ca.pem"]).is_ok());
    }

    #[test]
    fn durations_read_seconds_and_milliseconds() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0.25s"), Ok(Duration::from_millis(250)));
        for bad in ["", "ms", "5ms", "-1s", "1e9", "NaN", "ten"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
