//! The verbs of a `<Response>`: which names are verbs, and `<Reject>`, `<Redirect>` and
//! `<Hangup>` (`<Dial>` is in [`super::dial`]).

use roxmltree::Node;

use super::dial;
use super::model::{Redirect, RejectReason, Verb};
use super::reader::{Reader, Schema, text};
use crate::voice::code::Code;

/// Twilio's voice verbs that sipmap recognises but does not run: each needs media (speech,
/// audio, recording, digits) or a feature sipmap has not (queues, payments, streams, REFER).
const UNSUPPORTED_VERBS: &[&str] = &[
    "Connect", "Echo", "Enqueue", "Gather", "Leave", "Pause", "Pay", "Play", "Prompt", "Record",
    "Refer", "Say", "Sms", "Start", "Stop",
];

/// Every verb of `root`, in order; text and unknown elements draw a 12200 warning.
pub(super) fn read_all(r: &mut Reader, root: Node) -> Vec<Verb> {
    let mut verbs = Vec::new();
    for child in root.children() {
        if child.is_text() {
            if !child.text().unwrap_or_default().trim().is_empty() {
                r.warn(
                    Code::SCHEMA_VALIDATION_WARNING,
                    "<Response> cannot contain text outside a verb; it is ignored".to_owned(),
                );
            }
            continue;
        }
        if !child.is_element() {
            continue;
        }
        match child.tag_name().name() {
            "Reject" => verbs.push(reject(r, child)),
            "Redirect" => verbs.push(redirect(r, child)),
            "Hangup" => verbs.push(hangup(r, child)),
            "Dial" => verbs.push(dial::read(r, child)),
            name if UNSUPPORTED_VERBS.contains(&name) => {
                verbs.push(Verb::Unsupported(name.to_owned()));
            }
            name => r.warn(
                Code::SCHEMA_VALIDATION_WARNING,
                format!("<{name}> is not a TwiML verb; it is ignored"),
            ),
        }
    }
    verbs
}

const REJECT: Schema = Schema {
    element: "Reject",
    acted: &["reason"],
    ignored: &[],
    shared: None,
};

fn reject(r: &mut Reader, node: Node) -> Verb {
    r.attributes(node, &REJECT);
    r.children(node, "Reject", &[]);
    let reason = match node.attribute("reason").map(str::trim) {
        None | Some("rejected") => RejectReason::Rejected,
        Some("busy") => RejectReason::Busy,
        Some(other) => {
            r.warn(
                Code::SCHEMA_VALIDATION_WARNING,
                format!("<Reject reason=\"{other}\"> must be rejected or busy; rejected is used"),
            );
            RejectReason::Rejected
        }
    };
    Verb::Reject(reason)
}

const REDIRECT: Schema = Schema {
    element: "Redirect",
    acted: &["method"],
    ignored: &[],
    shared: None,
};

fn redirect(r: &mut Reader, node: Node) -> Verb {
    r.attributes(node, &REDIRECT);
    r.children(node, "Redirect", &[]);
    let method = r.method(node, "Redirect", "method", Code::REDIRECT_INVALID_METHOD);
    let body = text(node);
    match r.url(&body) {
        Some(url) => Verb::Redirect(Redirect { method, url }),
        None => Verb::Invalid {
            verb: "Redirect".to_owned(),
            code: Code::INVALID_URL,
            message: format!("<Redirect> needs an http or https URL, not \"{body}\""),
        },
    }
}

const HANGUP: Schema = Schema {
    element: "Hangup",
    acted: &[],
    ignored: &[],
    shared: None,
};

fn hangup(r: &mut Reader, node: Node) -> Verb {
    r.attributes(node, &HANGUP);
    // `<Parameter>` children are custom parameters for a Twilio Client; they change nothing
    // for a SIP call.
    r.children(node, "Hangup", &["Parameter"]);
    Verb::Hangup
}
