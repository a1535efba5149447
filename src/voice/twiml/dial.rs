//! `<Dial>` and its nouns: `<Number>` (and a bare number), `<Sip>`, and the nouns sipmap does
//! not dial.

use roxmltree::Node;

use super::model::{
    Dial, DialTarget, Events, Method, NumberTarget, Screening, SipTarget, StatusCallback, Verb,
};
use super::reader::{Reader, Schema, excerpt, text};
use super::sip_uri;
use crate::sid::ByocTrunkSid;
use crate::voice::code::Code;

/// The most parties one `<Dial>` calls at once (Twilio: "up to ten").
pub const MAX_TARGETS: usize = 10;
/// `timeout` when absent or invalid.
const DEFAULT_TIMEOUT_SECS: u32 = 30;
/// The longest `timeout` (the Calls API's maximum ring time); longer values are cut to it.
const MAX_TIMEOUT_SECS: u32 = 600;
/// `timeLimit` when absent or invalid (4 hours).
const DEFAULT_TIME_LIMIT_SECS: u32 = 14_400;
/// The longest `timeLimit` (Twilio's 24-hour call limit); longer values are cut to it.
const MAX_TIME_LIMIT_SECS: u32 = 86_400;

/// The nouns a `<Dial>` may hold; those other than `Number` and `Sip` are not dialled.
const NOUNS: &[&str] = &[
    "Number",
    "Sip",
    "Client",
    "Conference",
    "Queue",
    "Sim",
    "Application",
    "WhatsApp",
];

const DIAL: Schema = Schema {
    element: "Dial",
    acted: &[
        "action",
        "method",
        "timeout",
        "timeLimit",
        "callerId",
        "answerOnBridge",
    ],
    ignored: &[
        "hangupOnStar",
        "record",
        "trim",
        "recordingStatusCallback",
        "recordingConfigurationId",
        "recordingStatusCallbackMethod",
        "recordingStatusCallbackEvent",
        "recordingTrack",
        "ringTone",
        "sequential",
        "referUrl",
        "referMethod",
        "events",
        "passports",
        "callReason",
        "callerDisplayName",
    ],
    shared: None,
};

/// Reads a `<Dial>`.
pub(super) fn read(r: &mut Reader, node: Node) -> Verb {
    let ignored_attributes = r.attributes(node, &DIAL);
    let method = r.method(node, "Dial", "method", Code::DIAL_INVALID_METHOD);
    let action = match node.attribute("action") {
        None => None,
        Some(text) => match r.url(text) {
            Some(url) => Some(url),
            None => {
                return Verb::Invalid {
                    verb: "Dial".to_owned(),
                    code: Code::INVALID_URL,
                    message: format!("<Dial action=\"{}\"> is not a valid URL", excerpt(text)),
                };
            }
        },
    };
    let timeout_secs = seconds(r, node, "timeout", DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS);
    let time_limit_secs = seconds(
        r,
        node,
        "timeLimit",
        DEFAULT_TIME_LIMIT_SECS,
        MAX_TIME_LIMIT_SECS,
    );
    let caller_id = node
        .attribute("callerId")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let answer_on_bridge = match node.attribute("answerOnBridge").map(str::trim) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            r.warn(
                Code::DIAL_INVALID_ANSWER_ON_BRIDGE,
                format!(
                    "<Dial answerOnBridge=\"{}\"> must be true or false; false is used",
                    excerpt(v)
                ),
            );
            false
        }
    };
    Verb::Dial(Dial {
        action,
        method,
        timeout_secs,
        time_limit_secs,
        caller_id,
        answer_on_bridge,
        targets: targets(r, node),
        ignored_attributes,
    })
}

/// A positive whole number of seconds in `attr`, at most `max`; absent gives `default`, and so
/// does an invalid value, with the attribute's warning (13212 for `timeout`, 13216 for
/// `timeLimit`).
fn seconds(r: &mut Reader, node: Node, attr: &str, default: u32, max: u32) -> u32 {
    let Some(raw) = node.attribute(attr) else {
        return default;
    };
    let v = raw.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let n = v.parse::<u64>().unwrap_or(u64::MAX);
        if n > 0 {
            return u32::try_from(n.min(u64::from(max))).unwrap_or(max);
        }
    }
    let code = if attr == "timeout" {
        Code::DIAL_INVALID_TIMEOUT
    } else {
        Code::DIAL_INVALID_TIME_LIMIT
    };
    r.warn(
        code,
        format!(
            "<Dial {attr}=\"{}\"> must be a positive whole number of seconds; {default} is used",
            excerpt(raw)
        ),
    );
    default
}

/// The parties of a `<Dial>`: its nouns, or else its text as a phone number.
fn targets(r: &mut Reader, node: Node) -> Vec<DialTarget> {
    let nouns = r.children(node, "Dial", NOUNS);
    let body = text(node);
    let mut targets = Vec::new();
    if nouns.is_empty() {
        if body.is_empty() {
            r.warn(
                Code::DIAL_INVALID_PHONE_NUMBER,
                "<Dial> has no number and no noun to dial".to_owned(),
            );
        } else if let Some(number) = phone_number(&body) {
            targets.push(DialTarget::Number(NumberTarget {
                number,
                byoc: None,
                screening: None,
                status_callback: None,
                ignored_attributes: Vec::new(),
            }));
        } else {
            r.warn(Code::DIAL_INVALID_PHONE_NUMBER, not_a_number(&body));
        }
    } else {
        if !body.is_empty() {
            r.warn(
                Code::SCHEMA_VALIDATION_WARNING,
                "<Dial> has both text and nouns; the text is ignored".to_owned(),
            );
        }
        for noun in nouns {
            let target = match noun.tag_name().name() {
                "Number" => number(r, noun),
                "Sip" => sip(r, noun),
                other => Some(DialTarget::Unsupported(other.to_owned())),
            };
            targets.extend(target);
        }
    }
    if targets.len() > MAX_TARGETS {
        r.warn(
            Code::SCHEMA_VALIDATION_WARNING,
            format!(
                "<Dial> has {} nouns; only the first {MAX_TARGETS} are dialled",
                targets.len()
            ),
        );
        targets.truncate(MAX_TARGETS);
    }
    targets
}

fn not_a_number(text: &str) -> String {
    format!(
        "\"{}\" is not a phone number in E.164 format; it is not dialled",
        excerpt(text)
    )
}

/// `text` as an E.164 number: `+` and 1 to 15 digits, or a US number written without its
/// country code (10 digits) or with it (11, starting with 1), as Twilio accepts them. Spaces,
/// `-`, `.` and parentheses between digits are dropped.
pub(super) fn phone_number(text: &str) -> Option<String> {
    let (plus, rest) = match text.trim().strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text.trim()),
    };
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let nanp = |d: &str| d.len() == 10 && matches!(d.as_bytes()[0], b'2'..=b'9');
    if plus {
        let ok = (1..=15).contains(&digits.len()) && !digits.starts_with('0');
        ok.then(|| format!("+{digits}"))
    } else if nanp(&digits) {
        Some(format!("+1{digits}"))
    } else if digits.len() == 11 && digits.starts_with('1') && nanp(&digits[1..]) {
        Some(format!("+{digits}"))
    } else {
        None
    }
}

/// What the nouns of `<Dial>` that place a call (`<Number>`, `<Sip>`) have in common: the
/// screening TwiML (`url`, `method`) and the status callbacks, which sipmap reads, and
/// answering machine detection, which it does not.
const CALLED_NOUN: Schema = Schema {
    element: "",
    acted: &[
        "url",
        "method",
        "statusCallback",
        "statusCallbackEvent",
        "statusCallbackMethod",
    ],
    ignored: &[
        "machineDetection",
        "machineDetectionTimeout",
        "machineDetectionSpeechThreshold",
        "machineDetectionSpeechEndThreshold",
        "machineDetectionSilenceTimeout",
        "amdStatusCallback",
        "amdStatusCallbackMethod",
    ],
    shared: None,
};

const NUMBER: Schema = Schema {
    element: "Number",
    acted: &["byoc"],
    ignored: &["sendDigits"],
    shared: Some(&CALLED_NOUN),
};

/// A `<Number>`; `None` (with a warning) when it cannot be dialled.
fn number(r: &mut Reader, node: Node) -> Option<DialTarget> {
    let ignored_attributes = r.attributes(node, &NUMBER);
    r.children(node, "Number", &[]);
    let body = text(node);
    let Some(number) = phone_number(&body) else {
        r.warn(Code::DIAL_INVALID_PHONE_NUMBER, not_a_number(&body));
        return None;
    };
    let byoc = match node.attribute("byoc").map(str::trim) {
        None | Some("") => None,
        Some(text) => match ByocTrunkSid::parse(text) {
            Some(sid) => Some(sid),
            None => {
                r.warn(
                    Code::SCHEMA_VALIDATION_WARNING,
                    format!(
                        "<Number byoc=\"{}\"> is not a BYOC trunk SID; {number} is not dialled",
                        excerpt(text)
                    ),
                );
                return None;
            }
        },
    };
    Some(DialTarget::Number(NumberTarget {
        number,
        byoc,
        screening: screening(r, node, "Number", Code::NUMBER_INVALID_METHOD),
        status_callback: status_callback(r, node, "Number"),
        ignored_attributes,
    }))
}

const SIP: Schema = Schema {
    element: "Sip",
    acted: &["username", "password"],
    ignored: &[],
    shared: Some(&CALLED_NOUN),
};

/// A `<Sip>`; `None` (with a warning) when its URI is not a SIP URI.
fn sip(r: &mut Reader, node: Node) -> Option<DialTarget> {
    let ignored_attributes = r.attributes(node, &SIP);
    r.children(node, "Sip", &[]);
    let body = text(node);
    let split = match sip_uri::split(&body) {
        Ok(split) => split,
        Err(why) => {
            r.warn(
                Code::SIP_INVALID_URI,
                format!(
                    "<Sip>{}</Sip>: {why}, so it is not a valid SIP URI; it is not dialled",
                    excerpt(&body)
                ),
            );
            return None;
        }
    };
    for dropped in split.dropped {
        r.warn(
            Code::SIP_URI_PART_IGNORED,
            format!("<Sip>: {}", excerpt(&dropped)),
        );
    }
    let nonempty = |attr: &str| {
        node.attribute(attr)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Some(DialTarget::Sip(SipTarget {
        uri: split.uri,
        transport: split.transport,
        headers: split.headers,
        username: nonempty("username"),
        password: nonempty("password"),
        screening: screening(r, node, "Sip", Code::SCHEMA_VALIDATION_WARNING),
        status_callback: status_callback(r, node, "Sip"),
        ignored_attributes,
    }))
}

/// A noun's `url` and `method`.
fn screening(r: &mut Reader, node: Node, element: &str, method_code: Code) -> Option<Screening> {
    let method = r.method(node, element, "method", method_code);
    let url = r.optional_url(node, element, "url")?;
    Some(Screening { url, method })
}

/// A noun's `statusCallback`, `statusCallbackMethod` and `statusCallbackEvent`.
fn status_callback(r: &mut Reader, node: Node, element: &str) -> Option<StatusCallback> {
    let method: Method = r.method(
        node,
        element,
        "statusCallbackMethod",
        Code::SCHEMA_VALIDATION_WARNING,
    );
    let events = events(r, node, element);
    let url = r.optional_url(node, element, "statusCallback")?;
    Some(StatusCallback {
        url,
        method,
        events,
    })
}

/// `statusCallbackEvent`: event names separated by spaces (or commas); unknown names warn
/// (12200) and are skipped; none at all means `completed`.
fn events(r: &mut Reader, node: Node, element: &str) -> Events {
    let Some(list) = node.attribute("statusCallbackEvent") else {
        return Events::COMPLETED;
    };
    let mut set = Events::NONE;
    for name in list
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
    {
        match Events::named(name) {
            Some(event) => set = set.with(event),
            None => r.warn(
                Code::SCHEMA_VALIDATION_WARNING,
                format!(
                    "<{element} statusCallbackEvent> has no event '{}'; it is ignored",
                    excerpt(name)
                ),
            ),
        }
    }
    if set.is_empty() {
        Events::COMPLETED
    } else {
        set
    }
}
