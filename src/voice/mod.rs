//! Voice applications: the pieces a call to a SIP domain with a `VoiceUrl` is run with, as on
//! Twilio. The call engine that runs them is [`calls`](crate::calls).
//!
//! - [`twiml`]: the TwiML a voice URL answers with, read by a real XML parser (bounded) into a
//!   typed [`twiml::Document`], with Twilio's error and warning codes.
//! - [`signature`]: the `X-Twilio-Signature` every webhook carries.
//! - [`webhook`]: the one HTTP client for webhooks (HTTP and HTTPS, Twilio's timeouts, size
//!   bound and headers, the outbound destination policy applied to every address it connects
//!   to), its outcome classified into Twilio's codes; [`webhook::fallback`] decides when the
//!   `VoiceFallbackUrl` is requested.
//! - [`code`]: [`Code`], the Twilio error and warning codes these report.

pub mod code;
pub mod signature;
pub mod twiml;
pub mod webhook;

pub use code::Code;
