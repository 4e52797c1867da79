//! The database port natively: tokio-postgres through a pool, converting values exactly as
//! Spin's Postgres host does (spin `factor-outbound-pg`), so a query that fails under Spin
//! (a `timestamptz` column, a text parameter for a uuid) fails here too.

use std::error::Error as _;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use spincat::ports::db::{
    strip_row_marker, with_row_marker, Connection, Database, DbError, DbValue, Param, RowSet,
};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};
use tokio_postgres::Row;

#[derive(Clone)]
pub struct NativeDatabase {
    pool: Pool,
}

impl NativeDatabase {
    pub fn connect_lazily(url: &str, max_connections: usize) -> anyhow::Result<Self> {
        let (config, tls) = crate::pg_tls::connection(url)?;
        // A handler that bailed out mid-transaction must not hand its open transaction to the
        // next request: every client is rolled back when it returns to the pool.
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Custom("ROLLBACK".into()),
            },
        );
        // Bounded waits, so an unreachable or saturated database is an answer (503), not a hang.
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()?;
        Ok(Self { pool })
    }
}

#[async_trait::async_trait]
impl Database for NativeDatabase {
    async fn connect(&self) -> Result<Box<dyn Connection>, DbError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| DbError::ConnectionFailed(e.to_string()))?;
        Ok(Box::new(NativeConnection(client)))
    }
}

struct NativeConnection(deadpool_postgres::Object);

#[async_trait::async_trait]
impl Connection for NativeConnection {
    async fn query(&self, sql: &str, params: &[Param]) -> Result<RowSet, DbError> {
        let params = to_sql(params);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        // Prepared once per pooled client and reused: same statements, half the round trips.
        // The same SQL as the Spin adapter sends (see `with_row_marker`).
        let statement = self
            .0
            .prepare_cached(&with_row_marker(sql))
            .await
            .map_err(query_failed)?;
        let rows = self
            .0
            .query(&statement, &refs)
            .await
            .map_err(streamed_failure)?;
        let columns = rows.first().map_or_else(Vec::new, |row| {
            row.columns().iter().map(|c| c.name().to_owned()).collect()
        });
        let rows = rows
            .iter()
            .map(|row| (0..row.len()).map(|i| convert(row, i)).collect())
            .collect::<Result<_, _>>()?;
        strip_row_marker(RowSet { columns, rows })
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        let params = to_sql(params);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        let statement = self.0.prepare_cached(sql).await.map_err(query_failed)?;
        self.0
            .execute(&statement, &refs)
            .await
            .map_err(query_failed)
    }
}

/// How long a request may wait for a pooled client, a new connection or a recycled one.
const POOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A query that failed once it ran, as Spin's host reports it: an error met while a query's rows
/// stream in comes back as text, without its SQLSTATE or constraint (a FATAL one still means
/// the connection failed). `execute` and a failed `prepare` keep both, under Spin too.
fn streamed_failure(error: tokio_postgres::Error) -> DbError {
    match query_failed(error) {
        DbError::QueryFailed { code, message, .. }
            if !code
                .as_deref()
                .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
        {
            DbError::QueryFailed {
                code: None,
                constraint: None,
                message: format!("db error: ERROR: {message}"),
            }
        }
        other => other,
    }
}

fn query_failed(error: tokio_postgres::Error) -> DbError {
    // The connection went away under the statement: the database, not the statement, failed.
    if error.is_closed() || error.source().is_some_and(|s| s.is::<std::io::Error>()) {
        return DbError::ConnectionFailed(error.to_string());
    }
    match error.as_db_error() {
        Some(db) => DbError::QueryFailed {
            code: Some(db.code().code().to_owned()),
            constraint: db.constraint().map(str::to_owned),
            message: db.message().to_owned(),
        },
        None => DbError::QueryFailed {
            code: None,
            constraint: None,
            message: match error.source() {
                Some(source) => format!("{error}: {source}"),
                None => error.to_string(),
            },
        },
    }
}

fn to_sql(params: &[Param]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|param| -> Box<dyn ToSql + Sync + Send> {
            match param {
                Param::Null => Box::new(PgNull),
                Param::Bool(v) => Box::new(*v),
                Param::Int32(v) => Box::new(*v),
                Param::Int64(v) => Box::new(*v),
                Param::Str(v) => Box::new(v.clone()),
                Param::Binary(v) => Box::new(v.clone()),
                Param::Date(v) => Box::new(*v),
                Param::Datetime(v) => Box::new(*v),
                Param::Uuid(v) => Box::new(*v),
                Param::Jsonb(v) => Box::new(
                    serde_json::from_slice::<serde_json::Value>(v)
                        .unwrap_or(serde_json::Value::Null),
                ),
                Param::ArrayStr(v) => Box::new(v.clone()),
            }
        })
        .collect()
}

fn convert(row: &Row, index: usize) -> Result<DbValue, DbError> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        index: usize,
        wrap: impl Fn(T) -> DbValue,
    ) -> Result<DbValue, DbError> {
        let value: Option<T> = row
            .try_get(index)
            .map_err(|e| DbError::ValueConversionFailed(format!("{e}")))?;
        Ok(value.map_or(DbValue::Null, wrap))
    }
    let column_type = row.columns()[index].type_();
    match *column_type {
        Type::BOOL => get(row, index, DbValue::Bool),
        Type::BYTEA => get(row, index, DbValue::Binary),
        Type::FLOAT4 => get(row, index, DbValue::Float32),
        Type::FLOAT8 => get(row, index, DbValue::Float64),
        Type::INT2 => get(row, index, DbValue::Int16),
        Type::INT4 => get(row, index, DbValue::Int32),
        Type::INT8 => get(row, index, DbValue::Int64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, index, DbValue::Str),
        // As under Spin, `timestamptz` is read as a naive timestamp, which fails.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, index, DbValue::Datetime),
        Type::DATE => get(row, index, DbValue::Date),
        Type::UUID => get(row, index, |v: uuid::Uuid| DbValue::Uuid(v.to_string())),
        Type::JSONB => get(row, index, |v: serde_json::Value| {
            DbValue::Jsonb(v.to_string().into_bytes())
        }),
        Type::NUMERIC => get(row, index, |v: rust_decimal::Decimal| {
            DbValue::Decimal(v.to_string())
        }),
        Type::INT4_ARRAY => get(row, index, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get(row, index, DbValue::ArrayInt64),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, index, DbValue::ArrayStr)
        }
        _ => get(row, index, |v: Raw| DbValue::Unsupported(v.0)),
    }
}

/// NULL for a parameter of any type, as Spin's `db-null`.
#[derive(Debug)]
struct PgNull;

impl ToSql for PgNull {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The raw bytes of a column type Spin has no value for.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
