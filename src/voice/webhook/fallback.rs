//! When a voice URL failed, whether the `VoiceFallbackUrl` is requested, and with what
//! (twilio.com/docs/voice/api/sip-domain-resource: the fallback is requested "when an error
//! occurs retrieving or executing the TwiML requested by `voice_url`").
//!
//! The fallback is requested once, for an error (a warning never triggers it), when one is
//! configured and the request that failed was not itself the fallback's; it carries the
//! parameters the failed request carried, plus `ErrorCode` (the code's number) and `ErrorUrl`
//! (the URL that failed, without credentials), as Twilio adds them.

use url::Url;

use super::WebhookRequest;
use crate::voice::code::Code;
use crate::voice::twiml::Method;

/// What went wrong with a voice URL.
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    /// The error's code: a failure to fetch (11xxx, 12300), to read (12100, 12102) or to run
    /// (11100) the document.
    pub code: Code,
    /// The URL whose request or document failed (as the exchange recorded it).
    pub url: &'a str,
    /// Whether that request was already the fallback's.
    pub was_fallback: bool,
    /// The parameters that request carried.
    pub params: &'a [(String, String)],
}

/// The fallback request to send after `failed`, if any: `fallback` is the domain's
/// `VoiceFallbackUrl` and `VoiceFallbackMethod`.
pub fn fallback(failed: Failed<'_>, fallback: Option<(&Url, Method)>) -> Option<WebhookRequest> {
    let (url, method) = fallback?;
    if failed.was_fallback || failed.code.is_warning() {
        return None;
    }
    let mut params: Vec<(String, String)> = failed
        .params
        .iter()
        .filter(|(name, _)| name != "ErrorCode" && name != "ErrorUrl")
        .cloned()
        .collect();
    params.push(("ErrorCode".to_owned(), failed.code.number().to_string()));
    params.push(("ErrorUrl".to_owned(), failed.url.to_owned()));
    Some(WebhookRequest {
        url: url.clone(),
        method,
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        vec![
            ("CallSid".to_owned(), "CA1".to_owned()),
            ("CallStatus".to_owned(), "ringing".to_owned()),
        ]
    }

    fn failed(code: Code, params: &[(String, String)]) -> Failed<'_> {
        Failed {
            code,
            url: "https://app.example.com/voice",
            was_fallback: false,
            params,
        }
    }

    #[test]
    fn an_error_goes_to_the_fallback_with_error_code_and_url() {
        let fb = Url::parse("https://backup.example.com/voice").unwrap();
        let p = params();
        for code in [
            Code::HTTP_RETRIEVAL_FAILURE,
            Code::HTTP_CONNECTION_FAILURE,
            Code::HTTP_BAD_HOST_NAME,
            Code::INVALID_CONTENT_TYPE,
            Code::DOCUMENT_PARSE_FAILURE,
            Code::ROOT_NOT_RESPONSE,
            Code::RESPONSE_TOO_LARGE,
            Code::INVALID_URL,
        ] {
            let req = fallback(failed(code, &p), Some((&fb, Method::Get))).expect("a fallback");
            assert_eq!(req.url, fb);
            assert_eq!(req.method, Method::Get);
            let mut want = params();
            want.push(("ErrorCode".to_owned(), code.number().to_string()));
            want.push((
                "ErrorUrl".to_owned(),
                "https://app.example.com/voice".to_owned(),
            ));
            assert_eq!(req.params, want);
        }
    }

    #[test]
    fn no_fallback_without_a_url_for_a_warning_or_after_the_fallback() {
        let fb = Url::parse("https://backup.example.com/voice").unwrap();
        let p = params();
        assert_eq!(
            fallback(failed(Code::HTTP_RETRIEVAL_FAILURE, &p), None),
            None
        );
        for warning in [Code::SCHEMA_VALIDATION_WARNING, Code::DIAL_INVALID_TIMEOUT] {
            assert_eq!(
                fallback(failed(warning, &p), Some((&fb, Method::Post))),
                None
            );
        }
        let again = Failed {
            was_fallback: true,
            ..failed(Code::HTTP_RETRIEVAL_FAILURE, &p)
        };
        assert_eq!(fallback(again, Some((&fb, Method::Post))), None);
    }

    #[test]
    fn error_parameters_are_replaced_not_repeated() {
        let fb = Url::parse("https://backup.example.com/voice").unwrap();
        let mut p = params();
        p.push(("ErrorCode".to_owned(), "11200".to_owned()));
        let req = fallback(
            failed(Code::DOCUMENT_PARSE_FAILURE, &p),
            Some((&fb, Method::Post)),
        )
        .unwrap();
        let codes: Vec<&str> = req
            .params
            .iter()
            .filter(|(n, _)| n == "ErrorCode")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(codes, ["12100"]);
    }
}
