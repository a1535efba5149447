//! [`NameAddr`]: a `From`, `To`, `Contact`, `Route` or `Record-Route` value taken apart (RFC 3261
//! §20.10, §25.1): the address (`"Bob" <sip:bob@host>` or a bare `sip:bob@host`), its URI, and
//! the header parameters after it (`;tag=…`).
//!
//! Total over what a peer sends: anything unreadable gives `None`. [`header_tag`] reads only the
//! `tag` of a value, leniently: what the edge and the UA core both need of `From` and `To`.

/// One name-addr or addr-spec value with its header parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The address as written, display name and angle brackets included, without the header
    /// parameters.
    pub addr: &'a str,
    /// The URI (inside the angle brackets, if any).
    pub uri: &'a str,
    /// The header parameters as written: empty, or starting with `;`.
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    /// Takes apart one value. Without angle brackets the URI ends at the first `;`: what follows
    /// are header parameters (RFC 3261 §20.10). `None` for an empty URI, an unclosed quote or
    /// bracket, whitespace inside the URI, or text after it that is not parameters.
    pub fn parse(value: &'a str) -> Option<Self> {
        let v = value.trim_matches([' ', '\t']);
        let (addr, uri, rest) = match open_angle(v)? {
            Some(open) => {
                let close = open + v[open..].find('>')?;
                (&v[..=close], v[open + 1..close].trim(), &v[close + 1..])
            }
            None => {
                let end = v.find(';').unwrap_or(v.len());
                (v[..end].trim_end(), v[..end].trim_end(), &v[end..])
            }
        };
        let params = rest.trim_start_matches([' ', '\t']);
        if uri.is_empty()
            || uri.bytes().any(|b| b.is_ascii_whitespace())
            || !(params.is_empty() || params.starts_with(';'))
        {
            return None;
        }
        Some(Self { addr, uri, params })
    }

    /// The header parameter `name` (case-insensitive): `None` if absent, `Some(None)` without a
    /// value, `Some(Some(value))` otherwise (a quoted value keeps its quotes).
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        params(self.params).find_map(|(n, v)| n.eq_ignore_ascii_case(name).then_some(v))
    }

    /// The `tag` parameter, if it has a value.
    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").flatten().filter(|t| !t.is_empty())
    }

    /// The value without its `tag` parameter (what a dialog keeps as its local or remote URI).
    pub fn without_tag(&self) -> String {
        let mut out = String::with_capacity(self.addr.len() + self.params.len());
        out.push_str(self.addr);
        for (name, value) in params(self.params) {
            if name.eq_ignore_ascii_case("tag") {
                continue;
            }
            out.push(';');
            out.push_str(name);
            if let Some(v) = value {
                out.push('=');
                out.push_str(v);
            }
        }
        out
    }
}

/// The `tag` parameter of a `From` or `To` value as written, empty or not: among the header
/// parameters after the address (after its `>`, or for a bare addr-spec after its URI), quotes
/// respected. Unlike [`NameAddr::parse`] it does not ask the address to be well-formed, so a
/// request with an odd `To` is still answered with the tag it carries. `None` without a valued
/// `tag`, with an unclosed quote or an unclosed `<`.
pub fn header_tag(value: &str) -> Option<&str> {
    let params_at = match open_angle(value)? {
        Some(open) => open + value[open..].find('>')? + 1,
        None => value.find(';').unwrap_or(value.len()),
    };
    params(&value[params_at..])
        .find_map(|(name, v)| name.eq_ignore_ascii_case("tag").then_some(v))
        .flatten()
}

/// Where the `<` of a name-addr is, outside any quoted display name: `Some(None)` if there is
/// none, `None` if a quote does not close.
fn open_angle(v: &str) -> Option<Option<usize>> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in v.bytes().enumerate() {
        if quoted {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b'<' {
            return Some(Some(i));
        }
    }
    (!quoted).then_some(None)
}

/// The parameters of `;a=b;c;d="x;y"` as `(name, value)`, names and values trimmed, skipping
/// empty ones; a quoted value may hold `;`.
fn params(text: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            rest = rest.trim_start_matches([' ', '\t', ';']);
            if rest.is_empty() {
                return None;
            }
            let end = param_end(rest);
            let (one, after) = rest.split_at(end);
            rest = after;
            let (name, value) = match one.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (one.trim(), None),
            };
            if !name.is_empty() {
                return Some((name, value));
            }
        }
    })
}

/// Where the parameter at the start of `s` ends: the first `;` outside quotes.
fn param_end(s: &str) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b';' if !quoted => return i,
            _ => {}
        }
    }
    s.len()
}

/// Whether a URI has the `lr` parameter (a loose router, RFC 3261 §19.1.1).
pub fn is_loose_router(uri: &str) -> bool {
    let uri = uri.split('?').next().unwrap_or(uri);
    uri.split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("lr")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn name_addrs_and_addr_specs_are_taken_apart() {
        let n = NameAddr::parse(r#""Bob \"B<>\"" <sip:bob@example.com;transport=tcp> ;tag=a1;x"#)
            .unwrap();
        assert_eq!(
            n.addr,
            r#""Bob \"B<>\"" <sip:bob@example.com;transport=tcp>"#
        );
        assert_eq!(n.uri, "sip:bob@example.com;transport=tcp");
        assert_eq!(n.tag(), Some("a1"));
        assert_eq!(n.param("X"), Some(None));
        assert_eq!(
            n.without_tag(),
            r#""Bob \"B<>\"" <sip:bob@example.com;transport=tcp>;x"#
        );

        let bare = NameAddr::parse("sip:alice@atlanta.com;tag=88sja8x").unwrap();
        assert_eq!(bare.uri, "sip:alice@atlanta.com");
        assert_eq!(bare.tag(), Some("88sja8x"));
        assert_eq!(bare.without_tag(), "sip:alice@atlanta.com");

        let quoted = NameAddr::parse(r#"<sip:a@b>;p="x;tag=no";tag=yes"#).unwrap();
        assert_eq!(quoted.tag(), Some("yes"));
        assert_eq!(quoted.param("p"), Some(Some(r#""x;tag=no""#)));
        assert_eq!(NameAddr::parse("<sip:a@b>;tag=").unwrap().tag(), None);

        for bad in [
            "",
            "<>",
            "\"open <sip:a@b>",
            "<sip:a@b",
            "<sip:a@b> junk",
            "sip:a b@c",
        ] {
            assert_eq!(NameAddr::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_tag_is_read_from_any_from_or_to_that_carries_one() {
        assert_eq!(header_tag("<sip:a@b>;tag=1"), Some("1"));
        assert_eq!(header_tag("\"x>y\" <sip:a@b;tag=no> ; TAG = 2 "), Some("2"));
        assert_eq!(header_tag("sip:a@b;tag=3"), Some("3"));
        assert_eq!(header_tag(r#"<sip:a@b>;p="x;tag=no";tag=yes"#), Some("yes"));
        // Read even where NameAddr refuses the address, and empty when sent empty: the edge
        // answers such a request with the tag it carries rather than adding a second one.
        assert_eq!(header_tag("<sip:a b@c>;tag=4"), Some("4"));
        assert_eq!(header_tag("<sip:a@b>;tag="), Some(""));
        for none in [
            "<sip:a@b>",
            "sip:a@b;transport=tcp",
            "<sip:a@b;tag=5>",
            "\"open <sip:a@b>;tag=6",
        ] {
            assert_eq!(header_tag(none), None, "{none:?}");
        }
    }

    #[test]
    fn loose_routers_are_recognised() {
        assert!(is_loose_router("sip:p1.example.com;lr"));
        assert!(is_loose_router("sip:p1.example.com;transport=tcp;LR=on"));
        assert!(!is_loose_router("sip:p1.example.com"));
        assert!(!is_loose_router("sip:p1.example.com;transport=tcp?lr"));
    }

    proptest! {
        #[test]
        fn any_value_is_taken_apart_or_refused_without_panic(v in ".{0,80}") {
            if let Some(n) = NameAddr::parse(&v) {
                let _ = n.tag();
                let _ = n.without_tag();
            }
        }
    }
}
