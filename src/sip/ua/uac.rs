//! What sipmap writes as the UAC of a B2BUA's child leg: the new INVITE towards a `<Dial><Sip>`
//! target ([`NewInvite`]), and the same INVITE again with digest credentials after a 401 or 407
//! ([`with_credentials`], RFC 3261 §22.2, RFC 7616 with the edge's [`digest`] code).

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;

use super::build::{contact_value, cseq, freeze, top_via_value, via_value};
use super::ids::Ids;
use crate::recognition::Destination;
use crate::sip::edge::digest::{self, Algorithm, Credentials, Parsed, ResponseInput};
use crate::sip::message::{Message, Writer, canonical_name};
use crate::sip_syntax::SipUri;
use crate::sip_syntax::Wire;

/// The methods sipmap's legs accept, announced in `Allow`.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// Why a request could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UacError {
    /// The target is not a `sip:` URI (`sips:` included: sipmap has no TLS).
    #[error("the target {0:?} is not a sip: URI")]
    BadTarget(String),
    /// A header in the target's query is not a token name with a printable value.
    #[error("the target's header {0:?} is malformed")]
    BadHeader(String),
    /// The response is not a 401 or 407 with a digest challenge sipmap can answer (SHA-256 or
    /// MD5, `qop=auth` or none).
    #[error("no digest challenge sipmap can answer")]
    NoChallenge,
    /// The INVITE to retry is unreadable (it is sipmap's own; this is a bug).
    #[error("the INVITE to retry is unreadable")]
    BadInvite,
}

/// A new INVITE towards a `<Sip>` target: the B2BUA's child leg.
#[derive(Debug, Clone, Copy)]
pub struct NewInvite<'a> {
    /// The `<Sip>` URI as written, e.g. `sip:bob@192.0.2.7:5070;transport=tcp?X-Foo=bar`: the
    /// Request-URI and To without the `?…` part, whose `X-` headers (percent-decoded) become
    /// headers of the INVITE; other headers there are ignored.
    pub target: &'a str,
    /// The From user: `<Dial callerId>`, else the user of the parent call's From (escaped
    /// here as a SIP user part needs).
    pub from_user: &'a str,
    /// The From host: the SIP domain's name, or sipmap's address.
    pub from_host: &'a str,
    /// The From display name, if any.
    pub display_name: Option<&'a str>,
    /// sipmap's address: the Via's sent-by and the Contact.
    pub local: SocketAddr,
    /// The body and its `Content-Type`: the caller's SDP, passed through.
    pub body: Option<(&'a str, &'a [u8])>,
    /// More headers, after the others.
    pub headers: &'a [(&'a str, &'a str)],
}

/// A request written for a new leg, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The INVITE.
    pub bytes: Bytes,
    /// Its Request-URI.
    pub uri: String,
    /// Where to send it when the target's host is an IP address (`None` for a host name: resolve
    /// it first).
    pub destination: Option<Destination>,
    /// UDP, or TCP for `;transport=tcp`, as its Via says.
    pub wire: Wire,
}

impl NewInvite<'_> {
    /// The INVITE with `ids` (From tag, Call-ID, branch): CSeq 1, Max-Forwards 70, sipmap's
    /// Contact and `Allow`.
    ///
    /// # Errors
    ///
    /// [`UacError::BadTarget`] or [`UacError::BadHeader`] for a target that cannot be called.
    pub fn build(&self, ids: &Ids) -> Result<Outgoing, UacError> {
        let bad = || UacError::BadTarget(self.target.to_owned());
        let (uri, query) = self.target.split_once('?').unwrap_or((self.target, ""));
        let parsed = SipUri::parse(uri).map_err(|_| bad())?;
        if !parsed.scheme.eq_ignore_ascii_case("sip") {
            return Err(bad());
        }
        let wire = Wire::of_uri_param(parsed.param("transport"));
        let x_headers = uri_headers(query)?;
        let mut w = Writer::request("INVITE", uri);
        w.header("Via", &via_value(self.local, wire, &ids.branch));
        w.header("Max-Forwards", "70");
        w.header("From", &self.from(&ids.tag));
        w.header("To", &format!("<{uri}>"));
        w.header("Call-ID", &ids.call_id);
        w.header("CSeq", "1 INVITE");
        w.header("Contact", &contact_value(self.local, wire));
        w.header("Allow", ALLOW);
        for (name, value) in &x_headers {
            w.header(name, value);
        }
        for (name, value) in self.headers {
            w.header(name, value);
        }
        let body = match self.body {
            Some((content_type, body)) => {
                w.header("Content-Type", content_type);
                body
            }
            None => b"",
        };
        Ok(Outgoing {
            bytes: freeze(w.finish(body)),
            uri: uri.to_owned(),
            destination: Destination::from_uri(uri),
            wire,
        })
    }

    /// The From value: `"display" <sip:user@host>;tag=…`.
    fn from(&self, tag: &str) -> String {
        let mut out = String::with_capacity(64);
        if let Some(name) = self.display_name.filter(|n| !n.is_empty()) {
            push_quoted(&mut out, name);
            out.push(' ');
        }
        out.push_str("<sip:");
        for b in self.from_user.bytes() {
            if is_user_byte(b) {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        let _ = write!(out, "@{}>;tag={tag}", self.from_host);
        out
    }
}

/// Bytes a SIP user part holds unescaped (RFC 3261 §25.1: unreserved and user-unreserved).
fn is_user_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b)
}

/// Appends `text` as a quoted string: `"` and `\` escaped, control characters left out.
fn push_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars().filter(|c| !c.is_control()) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The `X-` headers of a URI's query (`X-Foo=bar&X-Other=1`), percent-decoded.
fn uri_headers(query: &str) -> Result<Vec<(String, String)>, UacError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let bad = || UacError::BadHeader(pair.to_owned());
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name).ok_or_else(bad)?;
        let value = percent_decode(value).ok_or_else(bad)?;
        let is_token = !name.is_empty() && name.bytes().all(crate::sip_syntax::is_token_byte);
        if !is_token || value.chars().any(char::is_control) {
            return Err(bad());
        }
        if name.len() > 2 && name[..2].eq_ignore_ascii_case("X-") {
            out.push((name, value));
        }
    }
    Ok(out)
}

/// `%HH` escapes decoded; `None` for a broken escape or text that is not UTF-8 once decoded.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An INVITE answered with digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The INVITE to send in a new [`InviteClient`](super::InviteClient).
    pub request: Bytes,
    /// Whether the challenge said `stale=true` (the credentials were right, the nonce old): only
    /// then is a second challenge for the same realm worth answering again.
    pub stale: bool,
}

/// The INVITE `invite` (as sent) again after `challenge`, its 401 or 407, with credentials for
/// `username` and `password` (RFC 3261 §22.2): CSeq one higher, a new `branch`, and an
/// `Authorization` (401) or `Proxy-Authorization` (407) answering the first digest challenge
/// sipmap can answer (SHA-256 or MD5, `qop=auth` with nc 1 and `cnonce`, or no qop), replacing
/// any earlier credentials for the same realm.
///
/// # Errors
///
/// [`UacError::NoChallenge`] if `challenge` has none sipmap can answer;
/// [`UacError::BadInvite`] if `invite` does not parse.
pub fn with_credentials(
    invite: &[u8],
    challenge: &Message<'_>,
    username: &str,
    password: &str,
    branch: &str,
    cnonce: &str,
) -> Result<Authorized, UacError> {
    let (asks, answers) = match challenge.status() {
        Some(401) => ("WWW-Authenticate", "Authorization"),
        Some(407) => ("Proxy-Authenticate", "Proxy-Authorization"),
        _ => return Err(UacError::NoChallenge),
    };
    let invite = Message::parse(invite).map_err(|_| UacError::BadInvite)?;
    let (uri, (n, method)) = invite.uri().zip(cseq(&invite)).ok_or(UacError::BadInvite)?;
    let offer = challenge
        .headers_named(asks)
        .find_map(|h| Offer::read(&h.value))
        .ok_or(UacError::NoChallenge)?;
    let credentials = offer.answer(username, password, method, uri, cnonce);
    let old_branch = top_via_value(&invite)
        .and_then(|v| crate::sip::message::Via::parse(v).ok())
        .and_then(|v| v.param("branch").flatten())
        .ok_or(UacError::BadInvite)?;
    let mut w = Writer::request(method, uri);
    for h in &invite.headers {
        let name = canonical_name(h.name);
        if name.eq_ignore_ascii_case("Via") {
            w.header("Via", &h.value.replacen(old_branch, branch, 1));
        } else if name.eq_ignore_ascii_case("CSeq") {
            w.header("CSeq", &format!("{} {method}", n.wrapping_add(1)));
        } else if !(name.eq_ignore_ascii_case(answers)
            && realm_of(&h.value) == Some(offer.realm.clone()))
        {
            w.header(name, &h.value);
        }
    }
    w.header(answers, &credentials);
    Ok(Authorized {
        request: freeze(w.finish(invite.body)),
        stale: offer.stale,
    })
}

/// The realm of credentials or a challenge, unquoted.
fn realm_of(value: &str) -> Option<String> {
    match Credentials::parse(value) {
        Parsed::Digest(c) => c.get("realm").map(str::to_owned),
        _ => None,
    }
}

/// One digest challenge sipmap can answer.
struct Offer {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: Algorithm,
    qop_auth: bool,
    stale: bool,
}

impl Offer {
    /// The challenge in `value`, if sipmap can answer it.
    fn read(value: &str) -> Option<Self> {
        let Parsed::Digest(c) = Credentials::parse(value) else {
            return None;
        };
        let algorithm = match c.get("algorithm") {
            None => Algorithm::Md5,
            Some(name) => Algorithm::parse(name)?,
        };
        let qop_auth = match c.get("qop") {
            None => false,
            Some(list) => {
                if !list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
                {
                    return None;
                }
                true
            }
        };
        Some(Self {
            realm: realm_of(value)?,
            nonce: c.get("nonce")?.to_owned(),
            opaque: c.get("opaque").map(str::to_owned),
            algorithm,
            qop_auth,
            stale: c
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The credentials answering this challenge for a `method` request to `uri`.
    fn answer(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let nc = "00000001";
        let response = digest::response(&ResponseInput {
            algorithm: self.algorithm,
            username,
            realm: &self.realm,
            password: password.as_bytes(),
            method,
            uri,
            nonce: &self.nonce,
            qop_auth: self.qop_auth.then_some((nc, cnonce)),
        });
        let mut out = String::with_capacity(256);
        out.push_str("Digest username=");
        push_quoted(&mut out, username);
        let _ = write!(out, ", realm=");
        push_quoted(&mut out, &self.realm);
        let _ = write!(out, ", nonce=");
        push_quoted(&mut out, &self.nonce);
        let _ = write!(out, ", uri=");
        push_quoted(&mut out, uri);
        let _ = write!(
            out,
            ", response=\"{response}\", algorithm={}",
            self.algorithm
        );
        if self.qop_auth {
            let _ = write!(out, ", qop=auth, nc={nc}, cnonce=");
            push_quoted(&mut out, cnonce);
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, opaque);
        }
        out
    }
}

#[cfg(test)]
mod tests;
