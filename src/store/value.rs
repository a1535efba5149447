//! What the back ends exchange with the rest of storage: parameters as [`Value`]s and result rows
//! as `Vec<Value>`, so that every statement and every row mapping is written once (in
//! [`super::queries`]) and each back end only binds, runs and reads.

use std::net::Ipv4Addr;

use super::{Result, StoreError};
use crate::domain::Network;

/// One SQL value, in either direction.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `NULL`.
    Null,
    /// An integer column of any width (the back end narrows it to the column's type).
    Int(i64),
    /// A text column.
    Text(String),
    /// A boolean column (SQLite stores it as 0 or 1).
    Bool(bool),
    /// A byte-string column.
    Blob(Vec<u8>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<u8> for Value {
    fn from(n: u8) -> Self {
        Self::Int(i64::from(n))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Self::Int(i64::from(n))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Self::Blob(b.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Parameters of one statement, in `$1`, `$2`, … order.
pub type Params = Vec<Value>;

/// A result row, read column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

fn malformed(i: usize, what: &str) -> StoreError {
    StoreError::Internal(format!("stored column {i} is not {what}"))
}

impl Row {
    fn at(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    /// An integer column.
    pub fn int(&self, i: usize) -> Result<i64> {
        match self.at(i) {
            Value::Int(n) => Ok(*n),
            Value::Bool(b) => Ok(i64::from(*b)),
            _ => Err(malformed(i, "an integer")),
        }
    }

    /// An integer column that may be `NULL`.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i) {
            Value::Null => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    /// A text column that may be `NULL`, borrowed.
    pub fn opt_str(&self, i: usize) -> Result<Option<&str>> {
        match self.at(i) {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            _ => Err(malformed(i, "text")),
        }
    }

    /// A text column, borrowed.
    pub fn str(&self, i: usize) -> Result<&str> {
        self.opt_str(i)?.ok_or_else(|| malformed(i, "text"))
    }

    /// A text column that may be `NULL`, moved out of the row (a row is mapped once).
    pub fn opt_text(&mut self, i: usize) -> Result<Option<String>> {
        match self.0.get_mut(i) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Text(s)) => Ok(Some(std::mem::take(s))),
            Some(_) => Err(malformed(i, "text")),
        }
    }

    /// A text column, moved out of the row.
    pub fn text(&mut self, i: usize) -> Result<String> {
        self.opt_text(i)?.ok_or_else(|| malformed(i, "text"))
    }

    /// A boolean column (also 0/1 as SQLite stores it).
    pub fn bool(&self, i: usize) -> Result<bool> {
        match self.at(i) {
            Value::Bool(b) => Ok(*b),
            Value::Int(n) => Ok(*n != 0),
            _ => Err(malformed(i, "a boolean")),
        }
    }

    /// A byte-string column of exactly `N` bytes.
    pub fn bytes<const N: usize>(&self, i: usize) -> Result<[u8; N]> {
        match self.at(i) {
            Value::Blob(b) => b.as_slice().try_into().map_err(|_| malformed(i, "sized")),
            _ => Err(malformed(i, "bytes")),
        }
    }

    /// A byte-string column of any length, moved out of the row.
    pub fn take_blob(&mut self, i: usize) -> Result<Vec<u8>> {
        match self.0.get_mut(i) {
            Some(Value::Blob(b)) => Ok(std::mem::take(b)),
            _ => Err(malformed(i, "bytes")),
        }
    }

    /// A nullable byte-string column of any length, moved out of the row.
    pub fn take_opt_blob(&mut self, i: usize) -> Result<Option<Vec<u8>>> {
        match self.0.get_mut(i) {
            Some(Value::Null) | None => Ok(None),
            Some(Value::Blob(b)) => Ok(Some(std::mem::take(b))),
            _ => Err(malformed(i, "bytes or NULL")),
        }
    }

    /// A byte-string column of any length.
    pub fn blob(&self, i: usize) -> Result<&[u8]> {
        match self.at(i) {
            Value::Blob(b) => Ok(b),
            _ => Err(malformed(i, "bytes")),
        }
    }

    /// A SID column of the kind `parse` accepts.
    pub fn sid<T>(&self, i: usize, parse: fn(&str) -> Option<T>) -> Result<T> {
        let s = self.str(i)?;
        parse(s).ok_or_else(|| StoreError::Internal(format!("stored SID {s:?} is malformed")))
    }

    /// A SID column that may be `NULL`.
    pub fn opt_sid<T>(&self, i: usize, parse: fn(&str) -> Option<T>) -> Result<Option<T>> {
        match self.opt_str(i)? {
            None => Ok(None),
            Some(s) => parse(s)
                .map(Some)
                .ok_or_else(|| StoreError::Internal(format!("stored SID {s:?} is malformed"))),
        }
    }

    /// A network stored as two integer columns, address then prefix length.
    pub fn network(&self, i: usize) -> Result<Network> {
        let addr = u32::try_from(self.int(i)?).map_err(|_| malformed(i, "an IPv4 address"))?;
        let prefix = u8::try_from(self.int(i + 1)?).map_err(|_| malformed(i + 1, "a prefix"))?;
        Ok(Network { addr, prefix })
    }

    /// An IPv4 address stored as text.
    pub fn ipv4(&self, i: usize) -> Result<Ipv4Addr> {
        self.str(i)?
            .parse()
            .map_err(|_| malformed(i, "an IPv4 address"))
    }
}

/// Turns `$1`, `$2`, … into SQLite's `?1`, `?2`, … (the statements are written once, with
/// PostgreSQL's placeholders; neither dialect uses `$` otherwise in them).
pub fn sqlite_placeholders(sql: &str) -> String {
    // Only the `$`s are visited (found with memchr): this runs for every statement executed.
    let mut out = sql.to_owned();
    let bytes = sql.as_bytes();
    for (i, _) in sql.match_indices('$') {
        if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            // One ASCII character for another: the text stays valid UTF-8, every index too.
            out.replace_range(i..=i, "?");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_what_each_back_end_returns() {
        let mut row = Row(vec![
            Value::Int(167_772_160),
            Value::Int(8),
            Value::Text("x".into()),
            Value::Null,
            Value::Int(1),
            Value::Bool(false),
            Value::Blob(vec![1, 2]),
        ]);
        assert_eq!(row.network(0).unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(row.text(2).unwrap(), "x");
        assert_eq!(row.opt_text(3).unwrap(), None);
        assert!(row.text(3).is_err());
        assert!(row.bool(4).unwrap() && !row.bool(5).unwrap());
        assert_eq!(row.bytes::<2>(6).unwrap(), [1, 2]);
        assert!(row.bytes::<3>(6).is_err());
        assert!(row.int(99).is_err());
    }

    #[test]
    fn placeholders_become_numbered_question_marks() {
        assert_eq!(
            sqlite_placeholders("SELECT a FROM t WHERE b = $1 AND c IN ($2, $10)"),
            "SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?10)"
        );
    }
}
