use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};
use spin_sdk::pg4::{self, DbValue as SpinValue, ParameterValue};

use crate::ports::db::{
    strip_row_marker, with_row_marker, Connection, Database, DbError, DbValue, Param, RowSet,
};

/// Connects with the `database_url` variable; Spin pools the underlying clients.
pub struct SpinDatabase;

struct SpinConnection(pg4::Connection);

#[async_trait::async_trait(?Send)]
impl Database for SpinDatabase {
    async fn connect(&self) -> Result<Box<dyn Connection>, DbError> {
        let url = spin_sdk::variables::get("database_url")
            .map_err(|e| DbError::ConnectionFailed(format!("database_url: {e}")))?;
        let connection = pg4::Connection::open(&url).map_err(error)?;
        Ok(Box::new(SpinConnection(connection)))
    }
}

#[async_trait::async_trait(?Send)]
impl Connection for SpinConnection {
    async fn query(&self, sql: &str, params: &[Param]) -> Result<RowSet, DbError> {
        let params: Vec<ParameterValue> = params.iter().map(parameter).collect();
        let rows = self
            .0
            .query(&with_row_marker(sql), &params)
            .map_err(error)?;
        strip_row_marker(RowSet {
            columns: rows.columns.into_iter().map(|c| c.name).collect(),
            rows: rows
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(value).collect::<Result<_, _>>())
                .collect::<Result<_, _>>()?,
        })
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        let params: Vec<ParameterValue> = params.iter().map(parameter).collect();
        self.0.execute(sql, &params).map_err(error)
    }
}

fn error(e: pg4::PgError) -> DbError {
    match e {
        pg4::PgError::ConnectionFailed(m) => DbError::ConnectionFailed(m),
        pg4::PgError::BadParameter(m) => DbError::BadParameter(m),
        pg4::PgError::QueryFailed(pg4::QueryError::DbError(db)) => DbError::QueryFailed {
            code: Some(db.code),
            // Spin's host passes tokio-postgres's optional fields on as named extras.
            constraint: db
                .extras
                .into_iter()
                .find_map(|(name, value)| (name == "constraint").then_some(value)),
            message: db.message,
        },
        pg4::PgError::QueryFailed(pg4::QueryError::Text(m)) if lost_connection(&m) => {
            DbError::ConnectionFailed(m)
        }
        pg4::PgError::QueryFailed(pg4::QueryError::Text(m)) => DbError::QueryFailed {
            code: None,
            constraint: None,
            message: m,
        },
        pg4::PgError::ValueConversionFailed(m) => DbError::ValueConversionFailed(m),
        pg4::PgError::Other(m) => DbError::Other(m),
    }
}

/// Spin's host reports a client-side failure as the Debug text of tokio-postgres's error
/// (`Error { kind: Closed, .. }`), and an error met while rows stream in as text too, without
/// its SQLSTATE: `db error: FATAL: terminating connection ...` on Spin 3.6,
/// `... parsed_severity: Some(Fatal) ...` on Spin 4.0. These mean the connection, not the
/// statement, failed (a FATAL error always ends the session), as the native adapter classifies
/// them.
fn lost_connection(text: &str) -> bool {
    [
        "kind: Closed",
        "kind: Io",
        "kind: Connect",
        "db error: FATAL",
        "Some(Fatal)",
    ]
    .iter()
    .any(|sign| text.contains(sign))
}

fn parameter(param: &Param) -> ParameterValue {
    match param {
        Param::Null => ParameterValue::DbNull,
        Param::Bool(v) => ParameterValue::Boolean(*v),
        Param::Int32(v) => ParameterValue::Int32(*v),
        Param::Int64(v) => ParameterValue::Int64(*v),
        Param::Str(v) => ParameterValue::Str(v.clone()),
        Param::Binary(v) => ParameterValue::Binary(v.clone()),
        Param::Date(d) => ParameterValue::Date((d.year(), d.month() as u8, d.day() as u8)),
        Param::Datetime(t) => ParameterValue::Datetime((
            t.year(),
            t.month() as u8,
            t.day() as u8,
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond(),
        )),
        Param::Uuid(v) => ParameterValue::Uuid(v.to_string()),
        Param::Jsonb(v) => ParameterValue::Jsonb(v.clone()),
        Param::ArrayStr(v) => ParameterValue::ArrayStr(v.clone()),
    }
}

fn value(value: SpinValue) -> Result<DbValue, DbError> {
    let bad = |what: &str| DbError::ValueConversionFailed(format!("invalid {what} from host"));
    Ok(match value {
        SpinValue::DbNull => DbValue::Null,
        SpinValue::Boolean(v) => DbValue::Bool(v),
        SpinValue::Int8(v) => DbValue::Int16(v.into()),
        SpinValue::Int16(v) => DbValue::Int16(v),
        SpinValue::Int32(v) => DbValue::Int32(v),
        SpinValue::Int64(v) => DbValue::Int64(v),
        SpinValue::Floating32(v) => DbValue::Float32(v),
        SpinValue::Floating64(v) => DbValue::Float64(v),
        SpinValue::Str(v) => DbValue::Str(v),
        SpinValue::Binary(v) => DbValue::Binary(v),
        SpinValue::Date((y, m, d)) => DbValue::Date(
            NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| bad("date"))?,
        ),
        SpinValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            let date =
                NaiveDate::from_ymd_opt(y, mo.into(), d.into()).ok_or_else(|| bad("date"))?;
            let time = NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns)
                .ok_or_else(|| bad("time"))?;
            DbValue::Datetime(date.and_time(time))
        }
        SpinValue::Uuid(v) => DbValue::Uuid(v),
        SpinValue::Jsonb(v) => DbValue::Jsonb(v),
        SpinValue::Decimal(v) => DbValue::Decimal(v),
        SpinValue::ArrayInt32(v) => DbValue::ArrayInt32(v),
        SpinValue::ArrayInt64(v) => DbValue::ArrayInt64(v),
        SpinValue::ArrayStr(v) => DbValue::ArrayStr(v),
        SpinValue::Unsupported(v) => DbValue::Unsupported(v),
        other => DbValue::Unsupported(format!("{other:?}").into_bytes()),
    })
}
