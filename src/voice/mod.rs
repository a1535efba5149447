//! Voice applications: the pieces a call to a SIP domain with a `VoiceUrl` is run with, as on
//! Twilio.
//!
//! - [`twiml`]: the TwiML a voice URL answers with, read by a real XML parser (bounded) into a
//!   typed [`twiml::Document`], with Twilio's error and warning codes.
//! - [`signature`]: the `X-Twilio-Signature` every webhook carries.
//! - [`code`]: [`Code`], the Twilio error and warning codes these report.

pub mod code;
pub mod signature;
pub mod twiml;

pub use code::Code;
