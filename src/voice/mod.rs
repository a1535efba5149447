//! Voice applications: the pieces a call to a SIP domain with a `VoiceUrl` is run with, as on
//! Twilio.
//!
//! - [`signature`]: the `X-Twilio-Signature` every webhook carries.

pub mod signature;
