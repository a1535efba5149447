//! [`Reader`]: what reading one document needs beside the XML: the URL relative URLs resolve
//! against, the warnings so far, and the helpers every verb and noun reads its attributes with.

use roxmltree::Node;
use url::Url;

use super::model::{Method, Warning};
use crate::voice::code::Code;

/// The attributes an element may carry: those sipmap acts on, and those Twilio knows but
/// sipmap ignores. Anything else draws a 12200 warning.
pub(super) struct Schema {
    /// The element's name, for messages.
    pub element: &'static str,
    /// Attributes read.
    pub acted: &'static [&'static str],
    /// Attributes Twilio knows that sipmap does not act on.
    pub ignored: &'static [&'static str],
    /// Attributes it has in common with other elements, read and ignored alike.
    pub shared: Option<&'static Schema>,
}

impl Schema {
    /// Whether Twilio knows attribute `name` and sipmap does not act on it.
    fn ignores(&self, name: &str) -> bool {
        self.ignored.contains(&name) || self.shared.is_some_and(|s| s.ignores(name))
    }

    /// Whether sipmap reads attribute `name`.
    fn acts_on(&self, name: &str) -> bool {
        self.acted.contains(&name) || self.shared.is_some_and(|s| s.acts_on(name))
    }
}

/// The state of reading one document.
pub(super) struct Reader<'b> {
    base: &'b Url,
    warnings: Vec<Warning>,
}

impl<'b> Reader<'b> {
    pub fn new(base: &'b Url) -> Self {
        Self {
            base,
            warnings: Vec::new(),
        }
    }

    pub fn into_warnings(self) -> Vec<Warning> {
        self.warnings
    }

    /// Records a warning.
    pub fn warn(&mut self, code: Code, message: String) {
        self.warnings.push(Warning { code, message });
    }

    /// Warns (12200) about each attribute `schema` does not know, and returns the known ones
    /// sipmap ignores, as written.
    pub fn attributes(&mut self, node: Node, schema: &Schema) -> Vec<String> {
        let mut ignored = Vec::new();
        for attr in node.attributes() {
            if attr.namespace().is_some() {
                continue;
            }
            let name = attr.name();
            if schema.ignores(name) {
                ignored.push(name.to_owned());
            } else if !schema.acts_on(name) {
                self.warn(
                    Code::SCHEMA_VALIDATION_WARNING,
                    format!(
                        "<{}> has no attribute '{name}'; it is ignored",
                        schema.element
                    ),
                );
            }
        }
        ignored
    }

    /// The method named by `attr` (`GET` or `POST`, any case), `POST` when absent; an invalid
    /// value warns with `code` and gives `POST`.
    pub fn method(&mut self, node: Node, element: &str, attr: &str, code: Code) -> Method {
        match node.attribute(attr).map(str::trim) {
            None => Method::Post,
            Some(v) if v.eq_ignore_ascii_case("POST") => Method::Post,
            Some(v) if v.eq_ignore_ascii_case("GET") => Method::Get,
            Some(v) => {
                self.warn(
                    code,
                    format!("<{element} {attr}=\"{v}\"> must be GET or POST; POST is used"),
                );
                Method::Post
            }
        }
    }

    /// `text` resolved against the document's URL, if that gives an `http` or `https` URL
    /// with a host.
    pub fn url(&self, text: &str) -> Option<Url> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let url = self.base.join(text).ok()?;
        (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then_some(url)
    }

    /// The URL in attribute `attr`, if present and valid; an invalid one warns (12200) and
    /// gives `None`.
    pub fn optional_url(&mut self, node: Node, element: &str, attr: &str) -> Option<Url> {
        let text = node.attribute(attr)?;
        let url = self.url(text);
        if url.is_none() {
            self.warn(
                Code::SCHEMA_VALIDATION_WARNING,
                format!("<{element} {attr}=\"{text}\"> is not a valid URL; it is ignored"),
            );
        }
        url
    }

    /// Warns (12200) about each child element of `node` that is not in `allowed`, and returns
    /// the allowed ones.
    pub fn children<'a, 'i>(
        &mut self,
        node: Node<'a, 'i>,
        element: &str,
        allowed: &[&str],
    ) -> Vec<Node<'a, 'i>> {
        let mut out = Vec::new();
        for child in node.children().filter(Node::is_element) {
            let name = child.tag_name().name();
            if allowed.contains(&name) {
                out.push(child);
            } else {
                self.warn(
                    Code::SCHEMA_VALIDATION_WARNING,
                    format!("<{element}> cannot contain <{name}>; it is ignored"),
                );
            }
        }
        out
    }
}

/// The text directly inside `node` (not inside its child elements), trimmed.
pub(super) fn text(node: Node) -> String {
    let mut out = String::new();
    for child in node.children().filter(Node::is_text) {
        out.push_str(child.text().unwrap_or_default());
    }
    out.trim().to_owned()
}

/// At most the first 80 characters of `s`, for a message.
pub(super) fn excerpt(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
