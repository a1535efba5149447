//! Digest authentication as SIP uses it (RFC 3261 §22, RFC 7616, RFC 8760): the algorithms the
//! edge offers, a client's `Digest` credentials taken apart, and the response they must carry.
//!
//! Everything here reads what a peer sent, so it is total: any input gives an answer, never a
//! panic. A credentials value is `Digest` followed by comma-separated `name=value` pairs, each
//! value a token or a quoted string (`\` escapes the next character); at most [`MAX_PARAMS`]
//! pairs, each name once.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::sip_syntax::is_token_byte;

/// A digest algorithm (RFC 8760 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `SHA-256` (RFC 7616).
    Sha256,
    /// `MD5` (RFC 2617; what most SIP clients still use).
    Md5,
}

impl Algorithm {
    /// What the edge offers by default, in the order of its challenges: the preferred first
    /// (RFC 8760 §2.4).
    pub const DEFAULT: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

    /// The name in challenges and credentials.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Md5 => "MD5",
        }
    }

    /// The algorithm named `name` (any case), if the edge knows it.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Sha256, Self::Md5]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }

    /// The hash of `parts` joined by `:`, as lowercase hex.
    fn hex_digest(self, parts: &[&[u8]]) -> String {
        fn run<D: sha2::Digest>(mut d: D, parts: &[&[u8]]) -> String {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(part);
            }
            hex(&d.finalize())
        }
        match self {
            Self::Sha256 => run(Sha256::new(), parts),
            Self::Md5 => run(Md5::new(), parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.trim())
            .ok_or_else(|| format!("{s:?} is not a digest algorithm: use SHA-256 or MD5"))
    }
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Most auth-params accepted in one credentials value.
pub const MAX_PARAMS: usize = 24;

/// A `Proxy-Authorization` or `Authorization` value, taken apart.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// `Digest` credentials.
    Digest(Credentials<'a>),
    /// Credentials of another scheme (`Basic`, …): not the edge's.
    OtherScheme,
    /// Not credentials at all.
    Malformed,
}

/// `Digest` credentials: the auth-params as written, quoted values unquoted.
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials<'a> {
    params: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Credentials<'a> {
    /// Reads one credentials value (RFC 3261 §25.1 `credentials`).
    pub fn parse(value: &'a str) -> Parsed<'a> {
        let value = value.trim_matches([' ', '\t']);
        let scheme_len = value.bytes().take_while(|b| is_token_byte(*b)).count();
        let (scheme, rest) = value.split_at(scheme_len);
        if scheme.is_empty() {
            return Parsed::Malformed;
        }
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Parsed::OtherScheme;
        }
        if !rest.starts_with([' ', '\t']) {
            return Parsed::Malformed;
        }
        match parse_params(rest) {
            Some(params) => Parsed::Digest(Self { params }),
            None => Parsed::Malformed,
        }
    }

    /// The value of the auth-param `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }
}

/// `name=value` pairs separated by commas, with optional whitespace around `=` and `,`.
fn parse_params(s: &str) -> Option<Vec<(&str, Cow<'_, str>)>> {
    let mut params: Vec<(&str, Cow<'_, str>)> = Vec::new();
    let mut rest = s;
    loop {
        rest = skip_wsp(rest);
        let name_len = rest.bytes().take_while(|b| is_token_byte(*b)).count();
        if name_len == 0 {
            return None;
        }
        let (name, after) = rest.split_at(name_len);
        let after = skip_wsp(after).strip_prefix('=')?;
        let after = skip_wsp(after);
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            quoted_string(quoted)?
        } else {
            let len = after.bytes().take_while(|b| is_token_byte(*b)).count();
            if len == 0 {
                return None;
            }
            (Cow::Borrowed(&after[..len]), &after[len..])
        };
        if params.len() == MAX_PARAMS || params.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            return None;
        }
        params.push((name, value));
        rest = skip_wsp(after);
        if rest.is_empty() {
            return Some(params);
        }
        rest = rest.strip_prefix(',')?;
    }
}

fn skip_wsp(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// The rest of a quoted string whose opening quote is consumed: its unescaped text and what
/// follows the closing quote; `None` if it does not close.
fn quoted_string(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let mut escaped: Option<String> = None;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let text = escaped.map_or(Cow::Borrowed(&s[..i]), Cow::Owned);
                return Some((text, &s[i + 1..]));
            }
            '\\' => {
                let (_, next) = chars.next()?;
                escaped.get_or_insert_with(|| s[..i].to_owned()).push(next);
            }
            _ => {
                if let Some(text) = escaped.as_mut() {
                    text.push(c);
                }
            }
        }
    }
    None
}

/// What a digest response is computed from (RFC 7616 §3.4.1, with `qop=auth`; RFC 2069
/// without `qop`).
#[derive(Debug, Clone, Copy)]
pub struct ResponseInput<'a> {
    /// The hash.
    pub algorithm: Algorithm,
    /// `username`, as the client sent it.
    pub username: &'a str,
    /// The realm.
    pub realm: &'a str,
    /// The password.
    pub password: &'a [u8],
    /// The request's method.
    pub method: &'a str,
    /// The `uri` parameter.
    pub uri: &'a str,
    /// The nonce.
    pub nonce: &'a str,
    /// `nc` and `cnonce` with `qop=auth`; `None` without `qop`.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// The response a client with the right password sends, as lowercase hex.
pub fn response(input: &ResponseInput<'_>) -> String {
    let h = |parts: &[&[u8]]| input.algorithm.hex_digest(parts);
    let ha1 = h(&[
        input.username.as_bytes(),
        input.realm.as_bytes(),
        input.password,
    ]);
    let ha2 = h(&[input.method.as_bytes(), input.uri.as_bytes()]);
    match input.qop_auth {
        Some((nc, cnonce)) => h(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => h(&[ha1.as_bytes(), input.nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// A challenge (`Proxy-Authenticate` or `WWW-Authenticate` value) for `realm` with `nonce`.
pub fn challenge(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let mut out = String::with_capacity(realm.len() + nonce.len() + 64);
    out.push_str("Digest realm=");
    push_quoted(&mut out, realm);
    out.push_str(", nonce=\"");
    out.push_str(nonce);
    out.push_str("\", algorithm=");
    out.push_str(algorithm.as_str());
    out.push_str(", qop=\"auth\"");
    if stale {
        out.push_str(", stale=true");
    }
    out
}

/// Appends `text` as a quoted string, escaping `"` and `\`.
fn push_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 7616 §3.9.1: the example request, and the responses it gives for both algorithms.
    #[test]
    fn responses_match_the_rfc_7616_example() {
        let input = |algorithm| ResponseInput {
            algorithm,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: b"Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        };
        assert_eq!(
            response(&input(Algorithm::Md5)),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        assert_eq!(
            response(&input(Algorithm::Sha256)),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    /// Without `qop` (RFC 2069): the inputs of RFC 2069's example, with the response computed
    /// independently (Python's `hashlib`), since the one printed in RFC 2069 is known to be wrong.
    #[test]
    fn responses_without_qop_follow_rfc_2069() {
        let input = ResponseInput {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: b"CircleOfLife",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: None,
        };
        assert_eq!(response(&input), "1949323746fe6a43ef61f9606e7febea");
    }

    #[test]
    fn credentials_are_taken_apart() {
        let v = r#"Digest username="alice", realm="acme.sip.twilio.com",nonce="abc",
            uri="sip:bob@acme.sip.twilio.com;transport=tcp", response="0f", algorithm=SHA-256,
            qop=auth, nc=00000001, cnonce="a\"b\\c", opaque="""#
            .replace('\n', "");
        let Parsed::Digest(c) = Credentials::parse(&v) else {
            panic!("not parsed: {v}");
        };
        assert_eq!(c.get("USERNAME"), Some("alice"));
        assert_eq!(
            c.get("uri"),
            Some("sip:bob@acme.sip.twilio.com;transport=tcp")
        );
        assert_eq!(c.get("algorithm"), Some("SHA-256"));
        assert_eq!(c.get("cnonce"), Some("a\"b\\c"));
        assert_eq!(c.get("opaque"), Some(""));
        assert_eq!(c.get("stale"), None);
        assert_eq!(
            Credentials::parse("Basic QWxhZGRpbg=="),
            Parsed::OtherScheme
        );
        for bad in [
            "",
            "Digest",
            "Digest username",
            "Digest username=",
            "Digest username=\"a",
            "Digest username=\"a\\",
            "Digest username=a,,realm=b",
            "Digest username=a, username=b",
            "Digest username=a realm=b",
            "Digest username=a,",
            "\"Digest\" username=a",
        ] {
            assert_eq!(Credentials::parse(bad), Parsed::Malformed, "{bad:?}");
        }
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        let too_many = format!("Digest {}", many.join(","));
        assert_eq!(Credentials::parse(&too_many), Parsed::Malformed);
    }

    #[test]
    fn challenges_quote_the_realm_and_say_stale_when_asked() {
        assert_eq!(
            challenge("acme.sip.twilio.com", "n1", Algorithm::Sha256, false),
            "Digest realm=\"acme.sip.twilio.com\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\""
        );
        assert_eq!(
            challenge("a\"b", "n1", Algorithm::Md5, true),
            "Digest realm=\"a\\\"b\", nonce=\"n1\", algorithm=MD5, qop=\"auth\", stale=true"
        );
        assert_eq!("md5".parse::<Algorithm>(), Ok(Algorithm::Md5));
        assert_eq!(" SHA-256".parse::<Algorithm>(), Ok(Algorithm::Sha256));
        assert!("SHA-512-256".parse::<Algorithm>().is_err());
    }

    proptest! {
        /// Any header value, and any mix of the characters credentials are made of, is taken
        /// apart or refused without a panic; whatever parses has at most MAX_PARAMS params.
        #[test]
        fn parsing_arbitrary_values_never_panics(
            text in ".{0,300}",
            pieces in prop::collection::vec(
                prop::sample::select(vec![
                    "Digest", " ", ",", "=", "\"", "\\", "username", "realm", "a", "\t", "é", "\u{0}",
                ]),
                0..60,
            ),
        ) {
            let _ = Credentials::parse(&text);
            let joined: String = pieces.concat();
            if let Parsed::Digest(c) = Credentials::parse(&joined) {
                prop_assert!(c.params.len() <= MAX_PARAMS);
            }
            let prefixed = format!("Digest {text}");
            let _ = Credentials::parse(&prefixed);
        }
    }
}
