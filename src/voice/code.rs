//! [`Code`]: the Twilio error and warning codes a voice application's notifications carry
//! (twilio.com/docs/api/errors), the ones sipmap reports, in one place.

use std::fmt;

/// A Twilio error or warning code, as a call's notifications and the debugger report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(u32);

impl Code {
    /// 11100: a URL in TwiML (a `<Redirect>` body, an `action`) is not a valid absolute or
    /// relative `http`/`https` URL.
    pub const INVALID_URL: Code = Code(11100);
    /// 11200: the webhook was answered, but not with a usable 2xx response.
    pub const HTTP_RETRIEVAL_FAILURE: Code = Code(11200);
    /// 11205: no connection could be made, or the response did not come in time.
    pub const HTTP_CONNECTION_FAILURE: Code = Code(11205);
    /// 11206: the server's answer was not HTTP.
    pub const HTTP_PROTOCOL_VIOLATION: Code = Code(11206);
    /// 11210: the host name does not resolve.
    pub const HTTP_BAD_HOST_NAME: Code = Code(11210);
    /// 11215: the server redirected more times than allowed.
    pub const HTTP_TOO_MANY_REDIRECTS: Code = Code(11215);
    /// 11216: a 3xx answer that is not a redirect sipmap follows (301, 302, 303, 307).
    pub const HTTP_INVALID_REDIRECT: Code = Code(11216);
    /// 11220: the TLS handshake failed.
    pub const TLS_HANDSHAKE_ERROR: Code = Code(11220);
    /// 11235: the server's certificate is not valid for the host name.
    pub const CERTIFICATE_DOMAIN_MISMATCH: Code = Code(11235);
    /// 11236: the server's certificate has expired.
    pub const CERTIFICATE_EXPIRED: Code = Code(11236);
    /// 11237: the server's certificate does not chain to a trusted root.
    pub const CERTIFICATE_UNTRUSTED: Code = Code(11237);
    /// 11750: the response body is larger than 64 kB.
    pub const RESPONSE_TOO_LARGE: Code = Code(11750);
    /// 12100: the document is not well-formed XML (or not UTF-8, or too complex).
    pub const DOCUMENT_PARSE_FAILURE: Code = Code(12100);
    /// 12102: the root element is not `<Response>`.
    pub const ROOT_NOT_RESPONSE: Code = Code(12102);
    /// 12200 (warning): the document does not follow the TwiML schema (an unknown verb,
    /// attribute or nested element); the offending part is ignored.
    pub const SCHEMA_VALIDATION_WARNING: Code = Code(12200);
    /// 12300: the response's `Content-Type` is not one TwiML is served with.
    pub const INVALID_CONTENT_TYPE: Code = Code(12300);
    /// 13210 (warning): `<Dial method>` is neither `GET` nor `POST`; `POST` is used.
    pub const DIAL_INVALID_METHOD: Code = Code(13210);
    /// 13212 (warning): `<Dial timeout>` is not a positive integer; 30 is used.
    pub const DIAL_INVALID_TIMEOUT: Code = Code(13212);
    /// 13216 (warning): `<Dial timeLimit>` is not a positive integer; 14400 is used.
    pub const DIAL_INVALID_TIME_LIMIT: Code = Code(13216);
    /// 13219 (warning): `<Dial answerOnBridge>` is neither `true` nor `false`; `false` is used.
    pub const DIAL_INVALID_ANSWER_ON_BRIDGE: Code = Code(13219);
    /// 13221 (warning): `<Number method>` is neither `GET` nor `POST`; `POST` is used.
    pub const NUMBER_INVALID_METHOD: Code = Code(13221);
    /// 13223 (warning): a number to dial is not a phone number (E.164, or a US number Twilio
    /// accepts unformatted), or `<Dial>` has nothing to dial.
    pub const DIAL_INVALID_PHONE_NUMBER: Code = Code(13223);
    /// 13243 (warning): a `<Sip>` URI is not a SIP URI (or is 255 characters or longer).
    pub const SIP_INVALID_URI: Code = Code(13243);
    /// 13710 (warning): `<Redirect method>` is neither `GET` nor `POST`; `POST` is used.
    pub const REDIRECT_INVALID_METHOD: Code = Code(13710);
    /// 32110 (warning): parts of a `<Sip>` URI (a parameter or header) are invalid and ignored.
    pub const SIP_URI_PART_IGNORED: Code = Code(32110);

    /// The code as a number.
    pub const fn number(self) -> u32 {
        self.0
    }

    /// Whether the code is a warning (the document still runs) rather than an error.
    pub const fn is_warning(self) -> bool {
        matches!(
            self.0,
            12200 | 13210 | 13212 | 13216 | 13219 | 13221 | 13223 | 13243 | 13710 | 32110
        )
    }

    /// The page that explains the code, as Twilio's notifications link it.
    pub fn more_info(self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.0)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
