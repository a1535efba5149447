//! One PostgreSQL connection (or transaction) as a [`Tx`]: binding [`Value`]s by each
//! parameter's declared type, reading rows, row locks and advisory locks, classifying errors.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use async_trait::async_trait;
use bytes::BytesMut;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::super::backend::{Each, Lock, Serial, Tx};
use super::super::value::{Params, Row, Value};
use super::super::{Result, StoreError};

/// The advisory lock that serialises every new mapping across the cluster, so that the check for
/// overlapping networks and the insert act as one (the schema's trigger takes it too).
const MAPPINGS_LOCK: i64 = 5_938_012_657_234_001;
/// The advisory lock that serialises every new SIP domain name across the cluster, so that the
/// check for names under or above another family's and the write act as one (the schema's
/// trigger takes it too).
const DOMAIN_NAMES_LOCK: i64 = 5_938_012_657_234_002;
/// The advisory lock that serialises migrations and first-start bootstraps across nodes.
pub const BOOTSTRAP_LOCK: i64 = 0x5349_504d_4150; // "SIPMAP"

/// An error and every cause under it, on one line: a connection error's own text ("error
/// connecting to server") says nothing without its cause ("Connection refused").
pub fn with_causes(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(d) = e.as_db_error() else {
            return StoreError::Unavailable(with_causes(&e));
        };
        let class = &d.code().code()[..2];
        match class {
            // Integrity constraints (unique, foreign key, check, exclusion): another writer
            // got there first; the engine decides the write again.
            "23" => StoreError::Violation(d.constraint().unwrap_or(d.message()).to_owned()),
            // Insufficient resources (disk full, out of memory) and system errors (I/O): the
            // database is there but cannot write.
            "53" | "58" => StoreError::Exhausted(with_causes(&e)),
            _ => StoreError::Internal(with_causes(&e)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(with_causes(&other)),
        }
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Value::Text(s) => s.to_sql(ty, out),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn value(row: &tokio_postgres::Row, i: usize) -> Result<Value> {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }
    let ty = row.columns()[i].type_();
    Ok(match *ty {
        Type::INT2 => opt(row.try_get::<_, Option<i16>>(i)?, |n| Value::Int(n.into())),
        Type::INT4 => opt(row.try_get::<_, Option<i32>>(i)?, |n| Value::Int(n.into())),
        Type::INT8 => opt(row.try_get::<_, Option<i64>>(i)?, Value::Int),
        Type::BOOL => opt(row.try_get::<_, Option<bool>>(i)?, Value::Bool),
        Type::BYTEA => opt(row.try_get::<_, Option<Vec<u8>>>(i)?, Value::Blob),
        _ => opt(row.try_get::<_, Option<String>>(i)?, Value::Text),
    })
}

/// A row in storage's neutral form.
pub fn row(r: &tokio_postgres::Row) -> Result<Row> {
    (0..r.len())
        .map(|i| value(r, i))
        .collect::<Result<_>>()
        .map(Row)
}

fn refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// What one pipelined request answers.
enum Answer {
    Count(u64),
    Rows(Vec<tokio_postgres::Row>),
}

/// One request of a pipeline, borrowing the client.
type Pending<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<Answer, tokio_postgres::Error>> + Send + 'a>>;

/// Polls `requests` together until every one is answered, each first polled in the order
/// given: tokio-postgres sends a request when its future is first polled, so they go out in
/// that order, all before any answer is awaited, and the server runs them in that order.
async fn in_order<T>(mut requests: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut answers: Vec<Option<T>> = requests.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (request, answer) in requests.iter_mut().zip(answers.iter_mut()) {
            if answer.is_none() {
                match request.as_mut().poll(cx) {
                    Poll::Ready(a) => *answer = Some(a),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    answers.into_iter().flatten().collect()
}

/// A client or transaction, borrowed for one procedure.
pub struct PgTx<'c, C> {
    /// Where statements run.
    pub client: &'c C,
}

#[async_trait]
impl<C: GenericClient + Sync> Tx for PgTx<'_, C> {
    async fn query_each(&mut self, sql: &str, args: Params, each: &mut Each<'_>) -> Result<()> {
        let stmt = self.client.prepare_cached(sql).await?;
        for r in self.client.query(&stmt, &refs(&args)).await? {
            each(row(&r)?)?;
        }
        Ok(())
    }

    async fn execute(&mut self, sql: &str, params: Params) -> Result<u64> {
        let stmt = self.client.prepare_cached(sql).await?;
        Ok(self.client.execute(&stmt, &refs(&params)).await?)
    }

    async fn execute_then_query(
        &mut self,
        statements: Vec<(&'static str, Params)>,
        query: (&'static str, Params),
    ) -> Result<(Vec<u64>, Vec<Row>)> {
        let client = self.client;
        let mut prepared = Vec::with_capacity(statements.len() + 1);
        for (sql, _) in statements.iter().chain([&query]) {
            prepared.push(client.prepare_cached(sql).await?);
        }
        let args: Vec<Vec<&(dyn ToSql + Sync)>> = statements
            .iter()
            .chain([&query])
            .map(|(_, p)| refs(p))
            .collect();
        let mut sent: Vec<Pending<'_>> = Vec::with_capacity(prepared.len());
        let (last, first) = prepared.split_last().expect("the query is there");
        for (statement, a) in first.iter().zip(&args) {
            sent.push(Box::pin(async move {
                client.execute(statement, a).await.map(Answer::Count)
            }));
        }
        let query_args = args.last().expect("the query is there");
        sent.push(Box::pin(async move {
            client.query(last, query_args).await.map(Answer::Rows)
        }));
        let mut counts = Vec::with_capacity(statements.len());
        let mut rows = Vec::new();
        // In order: after a failed statement the rest fail as "transaction aborted", so the
        // first error is the one that explains.
        for answer in in_order(sent).await {
            match answer? {
                Answer::Count(n) => counts.push(n),
                Answer::Rows(found) => {
                    rows = found.iter().map(row).collect::<Result<_>>()?;
                }
            }
        }
        Ok((counts, rows))
    }

    async fn query_locked(&mut self, sql: &str, params: Params, lock: Lock) -> Result<Vec<Row>> {
        let sql = match lock {
            Lock::None => sql.to_owned(),
            Lock::Share => format!("{sql} FOR SHARE"),
            Lock::Update => format!("{sql} FOR UPDATE"),
        };
        self.query(&sql, params).await
    }

    async fn notify(&mut self, channel: &str, payload: &str) -> Result<()> {
        self.client
            .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
            .await?;
        Ok(())
    }

    async fn serialize(&mut self, what: Serial) -> Result<()> {
        let key = match what {
            Serial::Mappings => MAPPINGS_LOCK,
            Serial::DomainNames => DOMAIN_NAMES_LOCK,
            Serial::Bootstrap => BOOTSTRAP_LOCK,
        };
        self.client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
            .await?;
        Ok(())
    }
}
