//! List paging: `PageSize`, `Page` and `PageToken`, and the two list envelopes.
//!
//! `PageToken` is a keyset cursor: `PA<sid>` continues after the last row of a page, `PB<sid>`
//! returns the rows before the first one. Rows are ordered by SID, which is creation order
//! (see `crate::sid`), so pages stay stable while rows come and go.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::extract::Query;
use crate::domain::{Params, Reason};
use crate::error::ApiError;
use crate::store::{Cursor, PageQuery};

/// Default `PageSize`.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Larger `PageSize` values are treated as this.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// The largest `Page` accepted (the largest signed 32-bit integer, which every SDK can hold);
/// larger values are refused rather than wrapping the page number of `next_page_url`.
pub const MAX_PAGE: u64 = i32::MAX as u64;

/// A validated page request.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Rows per page.
    pub size: u32,
    /// The client's page number, echoed back.
    pub page: u64,
    /// The token as sent, echoed into `url`/`uri`.
    pub token: Option<String>,
    /// Where the rows start.
    pub cursor: Cursor,
}

impl PageRequest {
    /// Reads `PageSize`, `Page` and `PageToken`; `sid_prefix` is the prefix of the listed SIDs.
    pub fn parse(q: &Query, sid_prefix: &str) -> Result<Self, ApiError> {
        let size = match q.get("PageSize") {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(v) => match v.parse::<u64>() {
                Ok(0) | Err(_) => {
                    return Err(ApiError::invalid("PageSize", Reason::integer(v, 1, None)));
                }
                Ok(n) => n.min(u64::from(MAX_PAGE_SIZE)) as u32,
            },
        };
        let page = match q.get("Page") {
            None | Some("") => 0,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= MAX_PAGE => n,
                _ => {
                    let reason = Reason::integer(v, 0, Some(MAX_PAGE));
                    return Err(ApiError::invalid("Page", reason));
                }
            },
        };
        let token = q.get("PageToken").filter(|t| !t.is_empty());
        let cursor = match token {
            None => Cursor::Offset(page.saturating_mul(u64::from(size))),
            Some(t) => {
                let sid = t.get(2..).unwrap_or("");
                match t.get(..2) {
                    Some("PA") if crate::sid::is_valid(sid_prefix, sid) => {
                        Cursor::After(sid.to_owned())
                    }
                    Some("PB") if crate::sid::is_valid(sid_prefix, sid) => {
                        Cursor::Before(sid.to_owned())
                    }
                    _ => {
                        let reason = Reason::NotPageToken(t.to_owned());
                        return Err(ApiError::invalid("PageToken", reason));
                    }
                }
            }
        };
        Ok(Self {
            size,
            page,
            token: token.map(str::to_owned),
            cursor,
        })
    }

    /// The storage query: one row more than the page, to learn whether another page follows.
    pub fn query(&self) -> PageQuery {
        PageQuery {
            limit: self.size + 1,
            cursor: self.cursor.clone(),
        }
    }

    /// Turns the rows a store returned for [`Self::query`] into a page.
    pub fn finish<T>(&self, mut rows: Vec<T>, sid_of: impl Fn(&T) -> &str) -> Page<T> {
        let size = self.size as usize;
        let more = rows.len() > size;
        rows.truncate(size);
        let (next, previous) = if let Cursor::Before(_) = self.cursor {
            rows.reverse();
            (!rows.is_empty(), more)
        } else {
            (more, self.page > 0 && !rows.is_empty())
        };
        let next_token = next
            .then(|| rows.last().map(|r| format!("PA{}", sid_of(r))))
            .flatten();
        let previous_token = previous
            .then(|| rows.first().map(|r| format!("PB{}", sid_of(r))))
            .flatten();
        Page {
            rows,
            request: self.clone(),
            next_token,
            previous_token,
        }
    }
}

/// One page of rows and the tokens around it.
#[derive(Debug)]
pub struct Page<T> {
    /// The rows, in list order.
    pub rows: Vec<T>,
    /// The request that produced it.
    pub request: PageRequest,
    /// `PA…` when a next page exists.
    pub next_token: Option<String>,
    /// `PB…` when a previous page exists.
    pub previous_token: Option<String>,
}

impl<T> Page<T> {
    fn link(&self, base: &str, filters: &str, page: u64, token: Option<&str>) -> String {
        let mut s = format!("{base}?{filters}PageSize={}&Page={page}", self.request.size);
        if let Some(t) = token {
            s.push_str("&PageToken=");
            s.extend(form_urlencoded::byte_serialize(t.as_bytes()));
        }
        s
    }

    /// The Voice v1 envelope: the rows under `key` plus `meta` with absolute URLs on `base`
    /// (public URL + path).
    pub fn v1_envelope(&self, key: &str, base: &str, view: impl Fn(&T) -> RowJson) -> Envelope {
        self.v1_envelope_filtered(key, base, "", view)
    }

    /// [`Self::v1_envelope`] of a filtered list: `filters` are the query parameters every page
    /// URL repeats (already encoded, each ending in `&`).
    pub fn v1_envelope_filtered(
        &self,
        key: &str,
        base: &str,
        filters: &str,
        view: impl Fn(&T) -> RowJson,
    ) -> Envelope {
        let r = &self.request;
        let meta = serde_json::json!({
            "page": r.page,
            "page_size": r.size,
            "first_page_url": self.link(base, filters, 0, None),
            "previous_page_url": self.previous_token.as_deref()
                .map(|t| self.link(base, filters, r.page.saturating_sub(1), Some(t))),
            "url": self.link(base, filters, r.page, r.token.as_deref()),
            "next_page_url": self.next_token.as_deref()
                .map(|t| self.link(base, filters, r.page.saturating_add(1), Some(t))),
            "key": key,
        });
        let mut out = Map::new();
        out.insert("meta".into(), meta);
        Envelope::new(key, self.rows.iter().map(view).collect(), out)
    }

    /// The API 2010 envelope: the rows under `key` beside flat paging fields with relative URIs
    /// on `path`. `filters` are extra query parameters (already encoded, each ending in `&`).
    pub fn v2010_envelope(
        &self,
        key: &str,
        path: &str,
        filters: &str,
        view: impl Fn(&T) -> RowJson,
    ) -> Envelope {
        let r = &self.request;
        let start = r.page.saturating_mul(u64::from(r.size));
        let end = (start.saturating_add(self.rows.len() as u64))
            .saturating_sub(1)
            .max(start);
        let mut out = Map::new();
        out.insert("start".into(), start.into());
        out.insert("end".into(), end.into());
        out.insert("page".into(), r.page.into());
        out.insert("page_size".into(), r.size.into());
        out.insert(
            "first_page_uri".into(),
            self.link(path, filters, 0, None).into(),
        );
        out.insert(
            "previous_page_uri".into(),
            self.previous_token
                .as_deref()
                .map(|t| self.link(path, filters, r.page.saturating_sub(1), Some(t)))
                .into(),
        );
        out.insert(
            "uri".into(),
            self.link(path, filters, r.page, r.token.as_deref()).into(),
        );
        out.insert(
            "next_page_uri".into(),
            self.next_token
                .as_deref()
                .map(|t| self.link(path, filters, r.page.saturating_add(1), Some(t)))
                .into(),
        );
        Envelope::new(key, self.rows.iter().map(view).collect(), out)
    }
}

/// A row's view, serialised once, straight to JSON text (no intermediate tree).
pub type RowJson = Box<RawValue>;

/// A row's view as JSON text, for the envelopes.
pub fn to_value<S: Serialize>(view: &S) -> RowJson {
    serde_json::value::to_raw_value(view)
        .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"))
}

/// A list body: the rows under their key beside the paging fields, all in key order (the
/// order a JSON object of them would have).
#[derive(Debug)]
pub struct Envelope {
    key: String,
    rows: Vec<RowJson>,
    fields: Map<String, Value>,
}

impl Envelope {
    fn new(key: &str, rows: Vec<RowJson>, fields: Map<String, Value>) -> Self {
        Self {
            key: key.to_owned(),
            rows,
            fields,
        }
    }
}

impl Serialize for Envelope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.fields.len() + 1))?;
        let mut rows = Some(&self.rows);
        for (name, value) in &self.fields {
            if let Some(r) = rows.filter(|_| self.key.as_str() < name.as_str()) {
                map.serialize_entry(&self.key, r)?;
                rows = None;
            }
            map.serialize_entry(name, value)?;
        }
        if let Some(r) = rows {
            map.serialize_entry(&self.key, r)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        Query(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn page_size_defaults_clamps_and_rejects() {
        assert_eq!(PageRequest::parse(&q(&[]), "IL").unwrap().size, 50);
        assert_eq!(
            PageRequest::parse(&q(&[("PageSize", "5000")]), "IL")
                .unwrap()
                .size,
            1000
        );
        for bad in ["0", "-1", "x"] {
            assert!(PageRequest::parse(&q(&[("PageSize", bad)]), "IL").is_err());
        }
        assert!(PageRequest::parse(&q(&[("Page", "-1")]), "IL").is_err());
        let max = MAX_PAGE.to_string();
        assert_eq!(
            PageRequest::parse(&q(&[("Page", &max)]), "IL")
                .unwrap()
                .page,
            MAX_PAGE
        );
        for huge in [
            (MAX_PAGE + 1).to_string(),
            u64::MAX.to_string(),
            "18446744073709551616".into(),
        ] {
            assert!(
                PageRequest::parse(&q(&[("Page", &huge)]), "IL").is_err(),
                "{huge}"
            );
        }
    }

    #[test]
    fn tokens_are_keyset_cursors_of_the_right_kind() {
        let sid = "IL0123456789abcdef0123456789abcdef";
        let r = PageRequest::parse(&q(&[("PageToken", &format!("PA{sid}"))]), "IL").unwrap();
        assert_eq!(r.cursor, Cursor::After(sid.into()));
        let r = PageRequest::parse(&q(&[("PageToken", &format!("PB{sid}"))]), "IL").unwrap();
        assert_eq!(r.cursor, Cursor::Before(sid.into()));
        assert!(PageRequest::parse(&q(&[("PageToken", &format!("PA{sid}"))]), "IB").is_err());
        assert!(PageRequest::parse(&q(&[("PageToken", "PX")]), "IL").is_err());
        assert!(PageRequest::parse(&q(&[("PageToken", "é")]), "IL").is_err());
        assert!(PageRequest::parse(&q(&[("PageToken", "aé")]), "IL").is_err());
        let r = PageRequest::parse(&q(&[("Page", "2"), ("PageSize", "10")]), "IL").unwrap();
        assert_eq!(r.cursor, Cursor::Offset(20));
    }

    #[test]
    fn finish_sets_next_and_previous() {
        let r = PageRequest::parse(&q(&[("PageSize", "2")]), "IL").unwrap();
        let p = r.finish(vec!["a", "b", "c"], |s| s);
        assert_eq!(p.rows, vec!["a", "b"]);
        assert_eq!(p.next_token.as_deref(), Some("PAb"));
        assert_eq!(p.previous_token, None);
        let sid = "IL0123456789abcdef0123456789abcdef";
        let r = PageRequest::parse(
            &q(&[
                ("PageSize", "2"),
                ("Page", "1"),
                ("PageToken", &format!("PB{sid}")),
            ]),
            "IL",
        )
        .unwrap();
        let p = r.finish(vec!["d", "c", "b"], |s| s);
        assert_eq!(p.rows, vec!["c", "d"]);
        assert_eq!(p.next_token.as_deref(), Some("PAd"));
        assert_eq!(p.previous_token.as_deref(), Some("PBc"));
    }
}
