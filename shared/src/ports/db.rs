//! The database port, shaped like Spin's `postgres@4` interface: positional parameters, a row set
//! of values, no transaction API (a `BEGIN` ... `COMMIT` on one connection is a transaction, as it
//! is under Spin, where a connection holds one pooled client for its lifetime).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use uuid::Uuid;

use super::MaybeSend;

/// A query parameter: the subset of Spin's `parameter-value` that Spincat uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Bool(bool),
    Int32(i32),
    Int64(i64),
    Str(String),
    Binary(Vec<u8>),
    Date(NaiveDate),
    /// A `timestamp` (without time zone) holding UTC, as Spin binds `datetime`.
    Datetime(NaiveDateTime),
    Uuid(Uuid),
    Jsonb(Vec<u8>),
    ArrayStr(Vec<Option<String>>),
}

/// A value read from a row: Spin's `db-value`, with the variants Spincat may meet.
#[derive(Debug, Clone, PartialEq)]
pub enum DbValue {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    Str(String),
    Binary(Vec<u8>),
    Date(NaiveDate),
    Datetime(NaiveDateTime),
    Uuid(String),
    Jsonb(Vec<u8>),
    /// `numeric`, as the decimal string Spin gives.
    Decimal(String),
    ArrayInt32(Vec<Option<i32>>),
    ArrayInt64(Vec<Option<i64>>),
    ArrayStr(Vec<Option<String>>),
    /// A column type Spin cannot represent; the raw bytes.
    Unsupported(Vec<u8>),
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    #[error("connection failed: {0}")]
    ConnectionFailed(String),
    #[error("bad parameter: {0}")]
    BadParameter(String),
    #[error("query failed: {message}")]
    QueryFailed {
        /// The SQLSTATE, when Postgres gave one (`23505` unique violation, ...).
        code: Option<String>,
        /// The constraint a violation broke, by name, when Postgres named one.
        constraint: Option<String>,
        message: String,
    },
    #[error("value conversion failed: {0}")]
    ValueConversionFailed(String),
    #[error("{0}")]
    Other(String),
}

impl DbError {
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::QueryFailed { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The constraint this statement violated, when it broke a named one.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            DbError::QueryFailed { constraint, .. } => constraint.as_deref(),
            _ => None,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.sqlstate() == Some("23505")
    }

    pub fn is_check_violation(&self) -> bool {
        self.sqlstate() == Some("23514")
    }

    /// The database cannot be reached or is going away, rather than refusing this statement:
    /// no connection, a connection lost, or PostgreSQL shutting down, starting up or full. Worth
    /// a retry later; no fault of the request.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::ConnectionFailed(_) => true,
            DbError::QueryFailed {
                code: Some(code), ..
            } => {
                code.starts_with("08")
                    || matches!(code.as_str(), "57P01" | "57P02" | "57P03" | "53300")
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RowSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<DbValue>>,
}

impl RowSet {
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |values| Row {
            columns: &self.columns,
            values,
        })
    }

    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [DbValue],
}

impl Row<'_> {
    /// The named column decoded as `T`. A missing column or a type mismatch is an error, as it
    /// would be under Spin.
    pub fn get<T: FromDb>(&self, column: &str) -> Result<T, DbError> {
        let index = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| DbError::ValueConversionFailed(format!("no column `{column}`")))?;
        T::from_db(&self.values[index]).map_err(|reason| {
            DbError::ValueConversionFailed(format!("column `{column}`: {reason}"))
        })
    }
}

/// Reading a whole row into a Rust type, column by column.
pub trait FromRow: Sized {
    fn from_row(row: Row<'_>) -> Result<Self, DbError>;
}

/// Decoding a read value into a Rust type; strict like Spin's `Decode`.
pub trait FromDb: Sized {
    fn from_db(value: &DbValue) -> Result<Self, String>;
}

fn mismatch<T>(wanted: &str, got: &DbValue) -> Result<T, String> {
    Err(format!("expected {wanted}, got {got:?}"))
}

macro_rules! from_db {
    ($ty:ty, $wanted:literal, $($pat:pat => $val:expr),+) => {
        impl FromDb for $ty {
            fn from_db(value: &DbValue) -> Result<Self, String> {
                match value {
                    $($pat => Ok($val),)+
                    other => mismatch($wanted, other),
                }
            }
        }
    };
}

from_db!(bool, "boolean", DbValue::Bool(v) => *v);
from_db!(i16, "int2", DbValue::Int16(v) => *v);
from_db!(i32, "int4", DbValue::Int32(v) => *v);
from_db!(i64, "int8", DbValue::Int64(v) => *v);
from_db!(String, "text", DbValue::Str(v) => v.clone());
from_db!(Vec<u8>, "bytea", DbValue::Binary(v) => v.clone());
from_db!(NaiveDate, "date", DbValue::Date(v) => *v);
from_db!(NaiveDateTime, "timestamp", DbValue::Datetime(v) => *v);
from_db!(DateTime<Utc>, "timestamp", DbValue::Datetime(v) => v.and_utc());
from_db!(Vec<Option<String>>, "text[]", DbValue::ArrayStr(v) => v.clone());

impl FromDb for Vec<String> {
    fn from_db(value: &DbValue) -> Result<Self, String> {
        match value {
            DbValue::ArrayStr(v) => Ok(v.iter().flatten().cloned().collect()),
            other => mismatch("text[]", other),
        }
    }
}

impl FromDb for Uuid {
    fn from_db(value: &DbValue) -> Result<Self, String> {
        match value {
            DbValue::Uuid(s) => Uuid::parse_str(s).map_err(|e| e.to_string()),
            other => mismatch("uuid", other),
        }
    }
}

impl FromDb for serde_json::Value {
    fn from_db(value: &DbValue) -> Result<Self, String> {
        match value {
            DbValue::Jsonb(bytes) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            other => mismatch("jsonb", other),
        }
    }
}

impl<T: FromDb> FromDb for Option<T> {
    fn from_db(value: &DbValue) -> Result<Self, String> {
        match value {
            DbValue::Null => Ok(None),
            other => T::from_db(other).map(Some),
        }
    }
}

macro_rules! into_param {
    ($ty:ty, $v:ident => $val:expr) => {
        impl From<$ty> for Param {
            fn from($v: $ty) -> Self {
                $val
            }
        }
    };
}

into_param!(bool, v => Param::Bool(v));
into_param!(i32, v => Param::Int32(v));
into_param!(i64, v => Param::Int64(v));
into_param!(&str, v => Param::Str(v.to_owned()));
into_param!(String, v => Param::Str(v));
into_param!(&String, v => Param::Str(v.clone()));
into_param!(Uuid, v => Param::Uuid(v));
into_param!(NaiveDate, v => Param::Date(v));
into_param!(NaiveDateTime, v => Param::Datetime(v));
into_param!(DateTime<Utc>, v => Param::Datetime(v.naive_utc()));
into_param!(&serde_json::Value, v => Param::Jsonb(v.to_string().into_bytes()));
into_param!(Vec<String>, v => Param::ArrayStr(v.into_iter().map(Some).collect()));

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

/// Builds a parameter list from values of mixed types: `params![user_id, amount, now]`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::ports::db::Param::from($value)),*][..]
    };
}

/// The first column of every query as the adapters send it (see `with_row_marker`).
const ROW_MARKER: &str = "spincat_row";

/// A query rewritten to yield at least one row. Spin 4.0.0 to 4.0.2's synchronous `query` never
/// returns when a statement yields no row (upstream issue 3671), and a host call cannot be
/// abandoned; so every query leads with a marker column, and the one row whose marker is NULL
/// stands for "no rows" (`strip_row_marker` takes both away). Both adapters send the same SQL,
/// so a statement this cannot wrap fails natively too, not only under Spin.
///
/// A statement with its own `WITH` keeps it at the top level, the marker's query joining its
/// list, because PostgreSQL refuses a data-modifying `WITH` nested inside another.
pub fn with_row_marker(sql: &str) -> String {
    let sql = sql.trim().trim_end_matches(';');
    let (with, sql) = match split_with(sql) {
        Some((ctes, main)) => (format!("WITH {ctes},"), main),
        None => ("WITH".to_owned(), sql),
    };
    format!(
        "{with} spincat_rows AS ({sql})
         SELECT marked.* FROM (VALUES (0)) AS spincat_one (n)
         LEFT JOIN (SELECT row_number() OVER () AS {ROW_MARKER}, spincat_rows.* FROM spincat_rows)
             AS marked ON true
         ORDER BY marked.{ROW_MARKER}"
    )
}

/// A statement that begins `WITH <ctes> <main>`, as its CTE list and its main statement: the
/// main one is the first statement keyword outside parentheses and quotes.
fn split_with(sql: &str) -> Option<(&str, &str)> {
    let keyword = |at: usize, word: &str| {
        sql.get(at..at + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
            && !sql[at + word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    };
    if !keyword(0, "WITH") {
        return None;
    }
    let (mut depth, mut quote, mut previous) = (0usize, None, ' ');
    for (at, c) in sql.char_indices().skip("WITH".len()) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, _)
                if depth == 0
                    && !(previous.is_ascii_alphanumeric() || previous == '_')
                    && ["SELECT", "INSERT", "UPDATE", "DELETE", "VALUES"]
                        .iter()
                        .any(|word| keyword(at, word)) =>
            {
                let ctes = sql["WITH".len()..at].trim();
                return Some((ctes, &sql[at..]));
            }
            _ => {}
        }
        previous = c;
    }
    None
}

/// The rows of a query sent through `with_row_marker`, without the marker.
pub fn strip_row_marker(mut rows: RowSet) -> Result<RowSet, DbError> {
    if rows.columns.first().map(String::as_str) != Some(ROW_MARKER) {
        return Err(DbError::Other(
            "a query came back without its row marker".into(),
        ));
    }
    rows.columns.remove(0);
    rows.rows
        .retain(|row| !matches!(row.first(), Some(DbValue::Null)));
    for row in &mut rows.rows {
        row.remove(0);
    }
    Ok(rows)
}

/// `%text%` for `ILIKE`, with LIKE's wildcards in `text` taken literally.
pub fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Database: MaybeSend {
    async fn connect(&self) -> Result<Box<dyn Connection>, DbError>;
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Connection: MaybeSend {
    async fn query(&self, sql: &str, params: &[Param]) -> Result<RowSet, DbError>;
    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, DbError>;
}

/// Runs a block inside one transaction on `conn`, committing when it returns `Ok` and rolling
/// back otherwise: `transaction!(conn, |tx| -> Result<T, E> { ... }).await`. The block owns
/// what it uses (it is an `async move` block), and `tx` is the connection inside it.
#[macro_export]
macro_rules! transaction {
    ($conn:expr, |$tx:ident| -> $result:ty $body:block) => {
        $conn.transaction(|$tx| -> $crate::ports::BoxFuture<'_, $result> {
            Box::pin(async move $body)
        })
    };
}

impl dyn Connection + '_ {
    /// Every row, read as `T`.
    pub async fn fetch_all<T: FromRow>(
        &self,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<T>, DbError> {
        self.query(sql, params)
            .await?
            .iter()
            .map(T::from_row)
            .collect()
    }

    /// The first row read as `T`, if there is one.
    pub async fn fetch_optional<T: FromRow>(
        &self,
        sql: &str,
        params: &[Param],
    ) -> Result<Option<T>, DbError> {
        self.query(sql, params)
            .await?
            .first()
            .map(T::from_row)
            .transpose()
    }

    /// The one value a query yields (a `count(*)`, a `sum`): its first row's first column.
    pub async fn scalar<T: FromDb>(&self, sql: &str, params: &[Param]) -> Result<T, DbError> {
        let rows = self.query(sql, params).await?;
        let value = rows
            .rows
            .first()
            .and_then(|row| row.first())
            .ok_or_else(|| DbError::Other("a one-value query yielded no value".into()))?;
        T::from_db(value).map_err(DbError::ValueConversionFailed)
    }

    /// Runs `body` inside `BEGIN` ... `COMMIT`, rolling back when it fails; `transaction!` is
    /// how callers write it.
    ///
    /// The body returns a boxed future for exactly the connection's borrow `'c`: with an async
    /// closure (a higher-ranked bound), the compiler cannot prove the caller's future `Send`.
    pub async fn transaction<'c, T, E>(
        &'c self,
        body: impl FnOnce(&'c Self) -> super::BoxFuture<'c, Result<T, E>>,
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        self.execute("BEGIN", &[]).await?;
        match body(self).await {
            Ok(value) => {
                self.execute("COMMIT", &[]).await?;
                Ok(value)
            }
            Err(error) => {
                if let Err(rollback) = self.execute("ROLLBACK", &[]).await {
                    tracing::error!(error = %rollback, "rollback failed");
                }
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_with_its_own_ctes_keeps_them_at_the_top_level() {
        let wrapped = with_row_marker(
            "WITH moved AS (UPDATE t SET a = ')' WHERE b = (SELECT 1) RETURNING a),
                  \"select\" AS (SELECT a FROM moved)
             SELECT a FROM \"select\";",
        );
        let (ctes, rest) = wrapped.split_once(" spincat_rows AS (").unwrap();
        assert_eq!(
            ctes,
            "WITH moved AS (UPDATE t SET a = ')' WHERE b = (SELECT 1) RETURNING a),
                  \"select\" AS (SELECT a FROM moved),"
        );
        assert!(rest.starts_with("SELECT a FROM \"select\")"), "{rest}");
        assert_eq!(wrapped.matches("WITH").count(), 1, "{wrapped}");
    }

    #[test]
    fn a_plain_statement_is_wrapped_whole() {
        let wrapped = with_row_marker("SELECT withheld FROM t");
        assert!(wrapped.starts_with("WITH spincat_rows AS (SELECT withheld FROM t)"));
        assert_eq!(split_with("WITHOUT x"), None);
    }
}
