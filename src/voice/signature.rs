//! The `X-Twilio-Signature` header sipmap puts on every webhook, computed exactly as Twilio's
//! SDKs check it (twilio-python `RequestValidator.compute_signature`, twilio-node
//! `getExpectedTwilioSignature`).
//!
//! The string signed is the full URL requested, then, for each parameter name in sorted order
//! (each name once), each of its values in sorted order (each value once), the name followed by
//! the value, all concatenated with no separator. The signature is the base64 of the HMAC-SHA1
//! of that string (UTF-8) keyed with the account's auth token (UTF-8). A GET request carries its
//! parameters in the URL's query, so it signs the URL with an empty parameter set.
//!
//! Sorting is by Unicode code point, as Python sorts strings (Rust orders `str` by UTF-8 bytes,
//! which is the same order). JavaScript sorts by UTF-16 code units, which differs only for names
//! or values that mix characters above U+FFFF with characters from U+E000 to U+FFFF.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The request header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The signature of a request to `url` with the form parameters `params` (empty for GET), under
/// the auth token `token`.
pub fn sign<'a, I>(token: &str, url: &str, params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut sorted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        sorted.entry(name).or_default().insert(value);
    }
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (name, values) in &sorted {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests;
