//! The typed TwiML document: the verbs of a `<Response>` in order, and what they say.

use url::Url;

use crate::sid::ByocTrunkSid;
use crate::voice::code::Code;

/// A parsed `<Response>`: its verbs in document order, and the warnings parsing it raised.
///
/// The verbs are all the document holds, in order; running them is the call engine's job,
/// which stops at the first `<Reject>`, `<Redirect>` or `<Hangup>` (Twilio never reaches the
/// verbs after those) and at a `<Dial>` with an `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The verbs, in document order.
    pub verbs: Vec<Verb>,
    /// Schema warnings (12200 and the attribute-specific 13xxx and 32xxx codes): each names
    /// what was ignored or replaced by its default.
    pub warnings: Vec<Warning>,
}

/// A warning raised while reading a document; the part it names was ignored or defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Twilio's code for it.
    pub code: Code,
    /// What was wrong, naming the element and attribute.
    pub message: String,
}

/// One verb of a `<Response>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// `<Reject>`: refuse the call (before answering, if it comes first).
    Reject(RejectReason),
    /// `<Redirect>`: fetch the TwiML at another URL and run it instead.
    Redirect(Redirect),
    /// `<Hangup>`: end the call.
    Hangup,
    /// `<Dial>`: call another party and bridge the two.
    Dial(Dial),
    /// A Twilio verb sipmap does not run (one that needs media: `<Say>`, `<Play>`,
    /// `<Gather>`…); the call engine ends the call with a notification naming it.
    Unsupported(String),
    /// A verb that cannot run as written (a `<Redirect>` or `<Dial action>` with an invalid
    /// URL): reaching it is an error of the document, reported with this code.
    Invalid {
        /// The verb's name.
        verb: String,
        /// Twilio's code for the error.
        code: Code,
        /// What is wrong.
        message: String,
    },
}

/// `<Reject reason>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// `rejected` (the default): SIP `404 Not Found` on a SIP domain's call.
    Rejected,
    /// `busy`: SIP `486 Busy Here`.
    Busy,
}

/// An HTTP method a TwiML attribute may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// `GET`: the parameters go in the URL's query.
    Get,
    /// `POST` (every default): the parameters go in a form-encoded body.
    #[default]
    Post,
}

impl Method {
    /// The method's name, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// `<Redirect>`: where to fetch the next document, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// `method` (default `POST`).
    pub method: Method,
    /// The body's URL, resolved against the document's URL.
    pub url: Url,
}

/// `<Dial>`, with the attributes sipmap acts on and the parties to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// `action`: where to send the outcome (resolved); `None` continues with the next verb.
    pub action: Option<Url>,
    /// `method` for `action` (default `POST`).
    pub method: Method,
    /// `timeout`: seconds to let the parties ring (default 30, at most 600).
    pub timeout_secs: u32,
    /// `timeLimit`: the longest the bridged call may last, in seconds (default 14400, at most
    /// 86400).
    pub time_limit_secs: u32,
    /// `callerId`, as written (trimmed).
    pub caller_id: Option<String>,
    /// `answerOnBridge` (default `false`): answer the caller only once a party answers.
    pub answer_on_bridge: bool,
    /// The parties to call at once (at most 10); empty when nothing valid was given.
    pub targets: Vec<DialTarget>,
    /// Attributes Twilio knows that sipmap does not act on (`record`, `ringTone`,
    /// `hangupOnStar`…), as written, for a notification.
    pub ignored_attributes: Vec<String>,
}

/// One party of a `<Dial>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    /// `<Sip>`: a SIP URI.
    Sip(SipTarget),
    /// `<Number>`, or a `<Dial>`'s bare text: a phone number.
    Number(NumberTarget),
    /// A noun sipmap does not dial (`<Client>`, `<Conference>`, `<Queue>`…), by name.
    Unsupported(String),
}

/// A SIP transport named by a `<Sip>` URI's `transport` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `udp`.
    Udp,
    /// `tcp`.
    Tcp,
    /// `tls`.
    Tls,
}

/// `<Sip>`: the URI to send the INVITE to, and the noun's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipTarget {
    /// The URI without its `?headers` part (its parameters kept, `transport` too).
    pub uri: String,
    /// The `transport` parameter, if given and valid.
    pub transport: Option<Transport>,
    /// The headers from the URI's query (`X-…` and `User-to-User`), %-decoded, in order.
    pub headers: Vec<(String, String)>,
    /// `username`, for digest authentication towards the target.
    pub username: Option<String>,
    /// `password`, for digest authentication towards the target.
    pub password: Option<String>,
    /// `url` and `method`: TwiML run on the called party before bridging.
    pub screening: Option<Screening>,
    /// `statusCallback`, `statusCallbackEvent`, `statusCallbackMethod`.
    pub status_callback: Option<StatusCallback>,
    /// Attributes Twilio knows that sipmap does not act on (`machineDetection`…).
    pub ignored_attributes: Vec<String>,
}

/// `<Number>`: the number to call and the noun's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberTarget {
    /// The number in E.164 (`+` and up to 15 digits).
    pub number: String,
    /// `byoc`: the BYOC trunk whose connection policy routes the call.
    pub byoc: Option<ByocTrunkSid>,
    /// `url` and `method`: TwiML run on the called party before bridging.
    pub screening: Option<Screening>,
    /// `statusCallback`, `statusCallbackEvent`, `statusCallbackMethod`.
    pub status_callback: Option<StatusCallback>,
    /// Attributes Twilio knows that sipmap does not act on (`sendDigits`,
    /// `machineDetection`…).
    pub ignored_attributes: Vec<String>,
}

/// A noun's `url` and `method`: a document run on the called party once it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screening {
    /// `url`, resolved against the document's URL.
    pub url: Url,
    /// `method` (default `POST`).
    pub method: Method,
}

/// A noun's status callback: where call progress events go, which, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    /// `statusCallback`, resolved against the document's URL.
    pub url: Url,
    /// `statusCallbackMethod` (default `POST`).
    pub method: Method,
    /// `statusCallbackEvent` (default `completed` only).
    pub events: Events,
}

/// A set of call progress events (`statusCallbackEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Events(u8);

impl Events {
    /// `initiated`.
    pub const INITIATED: Events = Events(1);
    /// `ringing`.
    pub const RINGING: Events = Events(2);
    /// `answered`.
    pub const ANSWERED: Events = Events(4);
    /// `completed`.
    pub const COMPLETED: Events = Events(8);
    /// No event.
    pub const NONE: Events = Events(0);

    /// The event named `name` (case-sensitive, as Twilio writes them).
    pub fn named(name: &str) -> Option<Events> {
        match name {
            "initiated" => Some(Self::INITIATED),
            "ringing" => Some(Self::RINGING),
            "answered" => Some(Self::ANSWERED),
            "completed" => Some(Self::COMPLETED),
            _ => None,
        }
    }

    /// This set with `other`'s events added.
    pub const fn with(self, other: Events) -> Events {
        Events(self.0 | other.0)
    }

    /// Whether every event of `other` is in this set.
    pub const fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}
