//! sipmap: a self-hosted, Twilio-compatible implementation of Twilio Voice's Source IP Mappings.
//!
//! # Layout
//! - [`cli`]: the `sipmap` command line; [`app`]: startup, listeners and shutdown.
//! - [`http`]: the HTTP API (routes, handlers, extractors, paging, response conventions).
//! - [`error`]: [`error::ApiError`], the only way errors reach clients (the error catalogue).
//! - [`domain`]: the resources and their validation rules, free of HTTP and SQL.
//! - [`store`]: the storage interface and its back ends (SQLite today).
//! - [`recognition`]: the in-memory table that maps Request-URI hosts and source addresses to SIP
//!   domains, kept in step with storage by the storage writer.
//! - [`sip`]: the SIP edge (UDP and TCP) that applies recognition to live traffic.
//! - [`sid`], [`auth_token`], [`timefmt`]: SIDs, credentials and the two date formats.

/// Startup, listeners and shutdown.
pub mod app;
/// Auth tokens: generation, salted hashes, constant-time checks.
pub mod auth_token;
/// The command line.
pub mod cli;
/// Where time comes from.
pub mod clock;
/// Resources and validation.
pub mod domain;
/// The error catalogue.
pub mod error;
/// The HTTP API.
pub mod http;
/// Rate-limited log lines for limits that bite.
pub mod limit_log;
/// Which SIP domain a request belongs to.
pub mod recognition;
/// The server key and the secrets sealed with it.
pub mod secret;
/// Twilio-style SIDs.
pub mod sid;
/// The SIP edge.
pub mod sip;
/// Storage.
pub mod store;
/// Date formats.
pub mod timefmt;
