//! sipmap: a self-hosted, Twilio-compatible implementation of Twilio Voice's Source IP Mappings.
//!
//! # Layout
//! - [`cli`]: the `sipmap` command line; [`app`]: startup, listeners and shutdown.
//! - [`http`]: the HTTP API (routes, handlers, extractors, paging, response conventions).
//! - [`error`]: [`error::ApiError`], the only way errors reach clients (the error catalogue).
//! - [`domain`]: the resources, their validation and every rule, free of HTTP and SQL.
//! - [`store`]: the storage interface, implemented once over the SQLite and PostgreSQL back ends.
//! - [`recognition`]: the in-memory table that maps Request-URI hosts and source addresses to SIP
//!   domains, kept in step with storage by the storage writer.
//! - [`sip`]: the SIP edge (UDP and TCP) that applies recognition to live traffic;
//!   [`sip_syntax`]: the SIP URI and the character classes every SIP reader shares, below them all.
//! - [`sid`], [`auth_token`], [`timefmt`], [`clock`]: SIDs, credentials, the two date formats,
//!   the injected clock; [`secret`]: the server key; [`limit_log`]: logging limits that bite.
//! - [`tls`]: certificates (loaded, checked, reloaded) and the TLS configurations of listeners
//!   and clients.
//! - [`voice`]: voice applications: TwiML, the webhook signature and the webhook client;
//!   [`calls`]: the sans-IO call engine; [`call_runtime`]: what runs its calls (tasks, timers,
//!   webhooks, the hand-off from the SIP edge).

pub mod app;
pub mod auth_token;
pub mod call_runtime;
pub mod calls;
pub mod cli;
pub mod clock;
pub mod domain;
pub mod error;
pub mod http;
pub mod limit_log;
pub mod monitor;
pub mod recognition;
pub mod secret;
pub mod sid;
pub mod sip;
pub mod sip_syntax;
pub mod store;
pub mod timefmt;
pub mod tls;
pub mod voice;
