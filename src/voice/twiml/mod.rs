//! TwiML for voice: the document a voice URL answers with, read by a real XML parser
//! (`roxmltree`) into a typed [`Document`].
//!
//! What is read, as Twilio reads it (twilio.com/docs/voice/twiml):
//! - the root must be `<Response>` (else 12102); a document that is not well-formed XML, not
//!   UTF-8, or declares a DTD is a parse failure (12100): no entity is ever expanded beyond the
//!   five XML ones, so a "billion laughs" document is refused before it costs anything;
//! - `<Reject>`, `<Redirect>`, `<Hangup>` and `<Dial>` (with `<Sip>` and `<Number>`) are read
//!   into their types; every other Twilio voice verb is recognised by name as
//!   [`Verb::Unsupported`], and every other Dial noun as [`DialTarget::Unsupported`];
//! - an unknown element or attribute is ignored with a 12200 warning, as Twilio does; an
//!   attribute Twilio knows but sipmap does not act on (`record`, `sendDigits`…) is listed in
//!   the verb's or noun's `ignored_attributes`;
//! - an invalid attribute value takes its default with the attribute's own warning code
//!   (13210, 13212, 13216, 13219, 13221, 13710), or 12200 where Twilio documents none;
//! - URLs (a `<Redirect>` body, `action`, `url`, `statusCallback`) are resolved against the
//!   URL the document came from and must be `http` or `https`.
//!
//! Bounds: at most [`MAX_DOCUMENT_BYTES`] (Twilio's 64 kB, else 11750) and [`MAX_NODES`] XML
//! nodes (else 12100), checked before and while parsing; the reader never recurses deeper
//! than a noun of a verb.

mod dial;
mod model;
mod reader;
mod sip_uri;
mod verbs;

pub use model::{
    Dial, DialTarget, Document, Events, Method, NumberTarget, Redirect, RejectReason, Screening,
    SipTarget, StatusCallback, Transport, Verb, Warning,
};

use url::Url;

use crate::voice::code::Code;

/// The largest document read (Twilio's limit on a TwiML response body, error 11750).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The most XML nodes (elements, text, comments…) a document may have; no real TwiML comes
/// close, and the bound keeps a 64 kB document of empty elements from costing much.
pub const MAX_NODES: u32 = 4096;

/// Why a document could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Larger than [`MAX_DOCUMENT_BYTES`].
    #[error("the document is {0} bytes, more than the 65536 allowed")]
    TooLarge(usize),
    /// Not UTF-8, not well-formed XML, a DTD, or more than [`MAX_NODES`] nodes.
    #[error("the document is not well-formed XML: {0}")]
    Malformed(String),
    /// Well-formed, but the root element is not `<Response>`.
    #[error("the root element must be Response, not {0}")]
    NotResponse(String),
}

impl ParseError {
    /// Twilio's code for the failure.
    pub fn code(&self) -> Code {
        match self {
            ParseError::TooLarge(_) => Code::RESPONSE_TOO_LARGE,
            ParseError::Malformed(_) => Code::DOCUMENT_PARSE_FAILURE,
            ParseError::NotResponse(_) => Code::ROOT_NOT_RESPONSE,
        }
    }
}

/// Reads the TwiML `body` fetched from `base` (the URL relative URLs resolve against).
///
/// # Errors
///
/// A [`ParseError`] when the document cannot be read at all; anything less is a warning in the
/// returned [`Document`].
pub fn parse(body: &[u8], base: &Url) -> Result<Document, ParseError> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(ParseError::TooLarge(body.len()));
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body)
        .map_err(|e| ParseError::Malformed(format!("the document is not UTF-8 ({e})")))?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let xml = roxmltree::Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => {
            ParseError::Malformed(format!("the document has more than {MAX_NODES} XML nodes"))
        }
        e => ParseError::Malformed(e.to_string()),
    })?;
    let root = xml.root_element();
    if root.tag_name().name() != "Response" {
        return Err(ParseError::NotResponse(root.tag_name().name().to_owned()));
    }
    let mut reader = reader::Reader::new(base);
    let verbs = verbs::read_all(&mut reader, root);
    Ok(Document {
        verbs,
        warnings: reader.into_warnings(),
    })
}

#[cfg(test)]
mod tests;
