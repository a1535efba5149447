//! The statements that several files of storage run (another resource's procedures, the shared
//! reads, recognition's load), and the mapping between rows and resources, written once for
//! both back ends; a statement only one resource's file runs is in that file's `sql` module.
//! Statements use PostgreSQL's `$1` placeholders (the SQLite back end rewrites them to `?1`) and
//! only SQL both dialects share; where they differ (row locks, advisory locks), the back end's
//! [`super::backend::Tx`] adds its own.

pub mod accounts;
pub mod auth_mappings;
pub mod byoc;
pub mod credential_lists;
pub mod events;
pub mod ip_access_control_lists;
pub mod ip_records;
pub mod mappings;
pub mod recognition;
pub mod sip_domains;
pub mod sip_lists;

use super::value::{Params, Value};
use super::{Cursor, PageQuery};

/// A page of rows: `base` (a `SELECT … WHERE …` whose parameters are `params`) with the
/// cursor's condition, order and limit added. Rows come in walking order: ascending SIDs, or
/// descending for [`Cursor::Before`].
pub fn page(base: &str, mut params: Params, page: &PageQuery) -> (String, Params) {
    let limit = params.len() + 1;
    let key = params.len() + 2;
    params.push(Value::Int(i64::from(page.limit)));
    let sql = match &page.cursor {
        Cursor::Offset(n) => {
            params.push(Value::Int(i64::try_from(*n).unwrap_or(i64::MAX)));
            format!("{base} ORDER BY sid LIMIT ${limit} OFFSET ${key}")
        }
        Cursor::After(sid) => {
            params.push(Value::Text(sid.clone()));
            format!("{base} AND sid > ${key} ORDER BY sid LIMIT ${limit}")
        }
        Cursor::Before(sid) => {
            params.push(Value::Text(sid.clone()));
            format!("{base} AND sid < ${key} ORDER BY sid DESC LIMIT ${limit}")
        }
    };
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_add_their_parameters_after_the_base_ones() {
        let q = |cursor| PageQuery { limit: 3, cursor };
        let (sql, params) = page(
            "SELECT sid FROM t WHERE a = $1",
            vec!["x".into()],
            &q(Cursor::Offset(6)),
        );
        assert_eq!(
            sql,
            "SELECT sid FROM t WHERE a = $1 ORDER BY sid LIMIT $2 OFFSET $3"
        );
        assert_eq!(params, vec!["x".into(), Value::Int(3), Value::Int(6)]);
        let (sql, _) = page("B", vec![], &q(Cursor::Before("IL1".into())));
        assert_eq!(sql, "B AND sid < $2 ORDER BY sid DESC LIMIT $1");
    }
}
